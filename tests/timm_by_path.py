"""timm's schedulers and optimizers, importable without timm/__init__, which imports
torchvision: torchvision 0.28.0 (the one matching torch 2.13.0) is a CUDA build whose ops fail
to register on the CPU torch (RuntimeError at import). timm.scheduler and timm.optim's
optimizer files need only torch: ``timm``, ``timm.scheduler`` and ``timm.optim`` are entered
as bare packages over the installed files, so their modules (relative and absolute imports
alike) load from them unchanged. For the realworld tests and ``optcheck validate
timm_by_path:CosineLRScheduler --like TimmCosine``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

_found = importlib.util.find_spec("timm")
if _found is None or not _found.submodule_search_locations:
    raise ImportError("timm is not installed (nox -s realworld installs timm==1.0.31)")
_root = Path(next(iter(_found.submodule_search_locations)))
for _name, _path in (
    ("timm", _root),
    ("timm.scheduler", _root / "scheduler"),
    ("timm.optim", _root / "optim"),
):
    if _name not in sys.modules:
        _package = types.ModuleType(_name)
        _package.__path__ = [str(_path)]
        sys.modules[_name] = _package

CosineLRScheduler = importlib.import_module("timm.scheduler.cosine_lr").CosineLRScheduler
PolyLRScheduler = importlib.import_module("timm.scheduler.poly_lr").PolyLRScheduler
TanhLRScheduler = importlib.import_module("timm.scheduler.tanh_lr").TanhLRScheduler
StepLRScheduler = importlib.import_module("timm.scheduler.step_lr").StepLRScheduler
MultiStepLRScheduler = importlib.import_module("timm.scheduler.multistep_lr").MultiStepLRScheduler
PlateauLRScheduler = importlib.import_module("timm.scheduler.plateau_lr").PlateauLRScheduler

Lion = importlib.import_module("timm.optim.lion").Lion
Lamb = importlib.import_module("timm.optim.lamb").Lamb
Adan = importlib.import_module("timm.optim.adan").Adan
AdaBelief = importlib.import_module("timm.optim.adabelief").AdaBelief
AdamWLegacy = importlib.import_module("timm.optim.adamw").AdamWLegacy
NAdamLegacy = importlib.import_module("timm.optim.nadam").NAdamLegacy
NAdamW = importlib.import_module("timm.optim.nadamw").NAdamW
RAdamLegacy = importlib.import_module("timm.optim.radam").RAdamLegacy
