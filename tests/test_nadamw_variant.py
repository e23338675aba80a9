"""NAdam's ``nesterov-adamw`` variant (timm's NAdamW): a port passes the cross-validation
against it and a copy without the Nesterov mix (plain AdamW) is caught (tests/zoo/nadamw.py);
the real class is reproduced by hand in tests/test_realworld_timm.py."""

from __future__ import annotations

import pytest
from recordcheck import prepared, run


@pytest.mark.parametrize(
    ("port", "verdict"), [("NesterovAdamW", "pass"), ("NesterovAdamWWithoutMix", "violation")]
)
def test_nesterov_adamw_variant_passes_its_port_and_catches_a_lost_mix(port, verdict):
    ctx = prepared(f"zoo.nadamw:{port}", "NAdam:nesterov-adamw")
    ctx.settings.max_examples = 6  # 0.3 s the pair
    assert run(ctx, "crossval.trajectory").verdict == verdict
