"""Run profiles: one switch decides how much work every notebook does.

Three profiles exist:

* ``smoke`` -- CI and the test suite: tiny fixed subsets, about one epoch, seconds, offline data.
* ``cpu``   -- a laptop without a GPU: reduced data and epochs, each training cell a few minutes.
* ``gpu``   -- full data and the accuracies the notebooks promise.

The profile is chosen in this order:

1. the environment variable ``COURSE_PROFILE`` (``smoke``, ``cpu`` or ``gpu``);
2. ``SMOKE_TEST=1`` (set by the test suite's ``conftest.py``) selects ``smoke``;
3. otherwise ``gpu`` when CUDA is available, else ``cpu``.

Usage::

    from course_utils import by_profile, get_profile
    EPOCHS = by_profile(smoke=1, cpu=3, gpu=30)
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

PROFILES = ("smoke", "cpu", "gpu")
T = TypeVar("T")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def get_profile() -> str:
    """Return the active profile name: ``"smoke"``, ``"cpu"`` or ``"gpu"``.

    Usage: ``if get_profile() == "gpu": ...``
    """
    requested = os.environ.get("COURSE_PROFILE", "").strip().lower()
    if requested:
        if requested not in PROFILES:
            raise ValueError(
                f"COURSE_PROFILE={requested!r} is not a profile; use one of {', '.join(PROFILES)} "
                "(or unset it to pick from the hardware)."
            )
        return requested
    if _truthy(os.environ.get("SMOKE_TEST")):
        return "smoke"
    return "gpu" if torch.cuda.is_available() else "cpu"


def by_profile(smoke: T, cpu: T, gpu: T) -> T:
    """Pick the value for the active profile.

    Usage: ``EPOCHS = by_profile(smoke=1, cpu=3, gpu=30)``
    """
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[get_profile()]


def is_smoke() -> bool:
    """True in the ``smoke`` profile (CI): use it to keep a cell quiet or tiny.

    Usage: ``show_progress = not is_smoke()``
    """
    return get_profile() == "smoke"


def describe_profile() -> str:
    """One line saying which profile is active and how to change it.

    Usage: ``print(describe_profile())``
    """
    profile = get_profile()
    meaning = {
        "smoke": "tiny offline data, ~1 epoch: checks that the notebook runs, not what it learns",
        "cpu": "reduced data and epochs so each training cell takes a few minutes on a laptop",
        "gpu": "full data and epochs: the accuracies the notebook promises",
    }[profile]
    return f"Profile: {profile} ({meaning}). Change it with COURSE_PROFILE=smoke|cpu|gpu."
