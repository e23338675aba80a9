"""NAdam's ``nesterov-adamw`` variant (timm's NAdamW): a port passes the cross-validation
against it and a copy without the Nesterov mix (plain AdamW) is caught (tests/zoo/nadamw.py);
the real class is reproduced by hand in tests/test_realworld_timm.py."""

from __future__ import annotations

import pytest
from recordcheck import prepared, run

# The broken copy on pinned keywords (β1 > 0, where the mix shows, and decay on): its shrink
# then stays on the problem; 3 cases each keep the pair near 0.5 s of CPU.
PINNED = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}


@pytest.mark.thorough  # 0.6 s of CPU: past this change's 2 s share of the default run
@pytest.mark.parametrize(
    ("port", "hp", "verdict"),
    [("NesterovAdamW", None, "pass"), ("NesterovAdamWWithoutMix", PINNED, "violation")],
)
def test_nesterov_adamw_variant_passes_its_port_and_catches_a_lost_mix(port, hp, verdict):
    ctx = prepared(f"zoo.nadamw:{port}", "NAdam:nesterov-adamw", hp)
    ctx.settings.max_examples = 3
    assert run(ctx, "crossval.trajectory").verdict == verdict
