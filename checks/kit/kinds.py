"""The parameter kinds real models hold, and ``--shapes``, the words that restrict them.

Light (no torch): the CLI's and the pytest plugin's help read it before anything loads.
"""

from __future__ import annotations

# Parameter kinds real models hold, the vocabulary of --shapes (``parse_shapes``). Each is
# drawn in cross-validation (``cases(param_kinds=...)``) and probed by the contract
# (contract.param_kinds: a target that raises on one kind is told once, the rest go on).
PARAM_KINDS: dict[str, str] = {
    "0-d": "0-d tensors (a learned temperature)",
    "zero-size": "tensors with no elements (an empty embedding)",
    "non-contiguous": "2-D parameters stored transposed (a tied or transposed weight)",
    "channels-last": "4-D parameters in torch.channels_last (convolution weights)",
    "complex": "complex parameters, optimized as their view_as_real (torch's semantics)",
    "mixed-dtypes": "parameters of two dtypes in one group and across groups",
    "many-tensors": "20+ tensors in one group (foreach kernels bucket and chunk them)",
    "devices": "parameters on cpu and cuda in one group (drawn only where CUDA is present)",
}
# --shapes words beyond the kinds: "all", "plain" (no kind), "matrices" (2-D parameters only).
SHAPES_WORDS = ("all", "plain", "matrices")


def parse_shapes(text: str) -> tuple[tuple[str, ...], bool]:
    """``--shapes``: comma-separated words, read left to right from every kind: ``all``,
    ``plain`` (none), a kind (only the kinds named), ``no-KIND`` (all but it), ``matrices``
    (2-D parameters only). Returns (the kinds drawn, matrices only); ValueError on a word
    it does not know, naming the vocabulary."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if not words:
        raise ValueError("--shapes is empty")
    chosen: list[str] | None = None  # None: every kind
    matrices = False
    for w in words:
        base = w[3:] if w.startswith("no-") else w
        if w == "all":
            chosen = list(PARAM_KINDS)
        elif w == "plain":
            chosen = []
        elif w == "matrices":
            matrices = True
        elif base in PARAM_KINDS and w.startswith("no-"):
            chosen = [k for k in (PARAM_KINDS if chosen is None else chosen) if k != base]
        elif base in PARAM_KINDS:
            chosen = [*(chosen or ()), w]  # the first kind named starts from none
        else:
            known = ", ".join([*SHAPES_WORDS, *PARAM_KINDS, "no-KIND"])
            raise ValueError(f"--shapes: unknown word {w!r} (one of {known})")
    kinds = tuple(PARAM_KINDS) if chosen is None else tuple(k for k in PARAM_KINDS if k in chosen)
    return kinds, matrices


def shapes_help() -> str:
    """--shapes' help: the vocabulary, from the table above."""
    return (
        "parameter kinds drawn, comma-separated words read left to right: all (default), "
        "plain (ordinary tensors only), matrices (2-D parameters only), a kind (only the kinds "
        "named) or no-KIND (all but it); kinds: " + ", ".join(PARAM_KINDS)
    )
