"""Run profiles and the course seed: one switch decides how much work every notebook does.

Four profiles exist:

* ``smoke`` -- CI and the test suite: tiny fixed subsets, about one epoch, seconds, offline data.
* ``cpu``   -- a 2-core laptop: each notebook in at most 10 minutes, every lesson visible.
* ``gpu``   -- a free Colab GPU (T4): each notebook in at most 15 minutes.
* ``full``  -- opt-in (``COURSE_PROFILE=full``): the paper and reference reproductions, hours.

The profile is chosen in this order:

1. the environment variable ``COURSE_PROFILE`` (``smoke``, ``cpu``, ``gpu`` or ``full``);
2. ``SMOKE_TEST=1`` (set by the test suite's ``conftest.py``) selects ``smoke``;
3. otherwise ``gpu`` when CUDA is available, else ``cpu``.

``COURSE_SEED=N`` (default 0) shifts every seed the course sets (weights, data order, subsets),
so a rerun with another N shows how much results move from run to run.

Usage::

    from course_utils import by_profile, get_profile
    EPOCHS = by_profile(smoke=1, cpu=6, gpu=30, full=150)
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

PROFILES = ("smoke", "cpu", "gpu", "full")
T = TypeVar("T")
_UNSET: object = object()


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def get_profile() -> str:
    """Return the active profile name: ``"smoke"``, ``"cpu"``, ``"gpu"`` or ``"full"``.

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


def by_profile(smoke: T, cpu: T, gpu: T, full: T = _UNSET) -> T:  # type: ignore[assignment]
    """Pick the value for the active profile; ``full`` defaults to the ``gpu`` value.

    Usage: ``EPOCHS = by_profile(smoke=1, cpu=6, gpu=30, full=150)``
    """
    values = {"smoke": smoke, "cpu": cpu, "gpu": gpu, "full": gpu if full is _UNSET else full}
    return values[get_profile()]


def is_smoke() -> bool:
    """True in the ``smoke`` profile (CI): use it to keep a cell quiet or tiny.

    Usage: ``show_progress = not is_smoke()``
    """
    return get_profile() == "smoke"


def course_seed() -> int:
    """The run's seed offset from ``COURSE_SEED`` (default 0), added to every seed the course sets.

    Usage: ``torch.manual_seed(42 + course_seed())``
    """
    raw = os.environ.get("COURSE_SEED", "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"COURSE_SEED={raw!r} is not a whole number; set e.g. COURSE_SEED=1 "
                         "(or unset it for the default seed 0).") from None


def describe_profile() -> str:
    """One line saying which profile and seed are active and how to change them.

    Usage: ``print(describe_profile())``
    """
    profile = get_profile()
    meaning = {
        "smoke": "tiny offline data, ~1 epoch: checks that the notebook runs, not what it learns",
        "cpu": "models and schedules scaled so the notebook runs in about 10 minutes on a laptop",
        "gpu": "scaled for a free Colab GPU: the notebook runs in about 15 minutes",
        "full": "the reference reproductions: long runs, full-size models",
    }[profile]
    return (f"Profile: {profile} ({meaning}); seed offset COURSE_SEED={course_seed()}. "
            "Change them with COURSE_PROFILE=smoke|cpu|gpu|full and COURSE_SEED=N.")
