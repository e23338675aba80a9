"""heavyball 3.2.1 with torch.compile off, by its own module switch
(``heavyball.utils.compile_mode = None``): the same update functions, run eagerly. Compiled,
a class's first step costs about 80 s and each new shape or dtype about 5 s more on 2 cores,
so one ``optcheck validate heavyball:AdamW`` took 15 minutes; eagerly it takes seconds. For
the realworld corpus (tests/realworld.toml) and ``optcheck validate heavyball_eager:AdamW
--like AdamW``; ``heavyball:AdamW`` itself stays in the corpus once, compiled, with --warmup."""

from __future__ import annotations

import heavyball
from heavyball import SGD, AdamW, LaProp, NAdam, RMSprop

heavyball.utils.compile_mode = None

__all__ = ["SGD", "AdamW", "LaProp", "NAdam", "RMSprop"]
