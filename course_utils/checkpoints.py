"""Checkpoints: save atomically, load safely (``weights_only=True``).

Usage::

    from course_utils import save_checkpoint, load_checkpoint
    save_checkpoint("runs/lenet.pt", model=model.state_dict(), epoch=5)
    state = load_checkpoint("runs/lenet.pt", model)
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn


def _refused(err: Exception) -> str | None:
    """The type a weights-only load refused, from PyTorch's long error message, if any."""
    found = re.search(r"(?:GLOBAL|[Uu]nsupported class) ([\w.<>]+)", str(err))
    return f"it contains {found.group(1)}" if found else None


def save_checkpoint(path: str | Path, /, **state: Any) -> Path:
    """Save ``state`` (tensors, state_dicts, numbers, strings, lists, dicts) atomically.

    It writes a temporary file, checks that ``load_checkpoint`` (``weights_only=True``) can read
    it back, then renames it: a crash or Ctrl-C while saving never leaves a half-written
    checkpoint behind, and a value that could not be loaded again is refused now, not later.

    Usage: ``save_checkpoint("runs/lenet.pt", model=model.state_dict(), epoch=5)``
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        torch.load(tmp, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        tmp.unlink(missing_ok=True)
        raise TypeError(f"cannot save this checkpoint: a value is not a tensor, number, string, "
                        f"list or dict, so a safe load (weights_only=True) would refuse it "
                        f"({_refused(err) or err}). Convert it first, e.g. float(x) for a "
                        f"NumPy number, torch.from_numpy(a) for an array, str(p) for a "
                        f"path.") from None
    except BaseException:  # Ctrl-C or a full disk while saving: no half-written file is left
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``), optionally into ``model``/``optimizer``.

    Usage: ``state = load_checkpoint("runs/lenet.pt", model)``
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train first or check the path.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if _refused(err) is None:
            raise RuntimeError(f"could not read checkpoint {path}: the file is damaged (not a "
                               "checkpoint, or cut short): delete it and train again.") from None
        raise RuntimeError(f"{path} holds objects that a safe load (weights_only=True) refuses, "
                           f"so it was not written by save_checkpoint "
                           f"({_refused(err)}). Only if you trust where it came "
                           f"from, read it with torch.load(path, weights_only=False).") from None
    except Exception as err:
        raise RuntimeError(f"could not read checkpoint {path} ({err}); the file is damaged: "
                           "delete it and train again.") from None
    if model is not None:
        if not isinstance(state, dict) or "model" not in state:
            bare = isinstance(state, dict) and all(torch.is_tensor(v) for v in state.values())
            hint = ("it is a bare state_dict: model.load_state_dict(cu.load_checkpoint(path))"
                    if bare else "save with save_checkpoint(path, model=model.state_dict())")
            raise KeyError(f"{path} has no 'model' entry; {hint}.")
        model.load_state_dict(state["model"])
    if optimizer is not None and isinstance(state.get("optimizer"), dict):
        optimizer.load_state_dict(state["optimizer"])
    return state
