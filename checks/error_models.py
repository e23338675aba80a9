"""BRIDGE (temporary): which error model a spec follows, until the algorithm record lands.

The record will carry its model in a field named ``error_model`` (a reference.spec.ErrorModel);
then ``error_model_for(name)`` becomes ``record.error_model`` and this module goes. It is the
only place that maps algorithm names to error models: every check asks it.
"""

from __future__ import annotations

from optcheck.reference.adam import ADAM_ERROR_MODEL, ADAMW_ERROR_MODEL
from optcheck.reference.sgd import SGD_ERROR_MODEL
from optcheck.reference.spec import ErrorModel

_BRIDGE: dict[str, ErrorModel] = {
    "SGD": SGD_ERROR_MODEL,
    "Adam": ADAM_ERROR_MODEL,
    "AdamW": ADAMW_ERROR_MODEL,
}


def error_model_for(spec_name: str) -> ErrorModel | None:
    return _BRIDGE.get(spec_name)
