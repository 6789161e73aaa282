"""Opt-in extras of ``fit``, each a small ``Hook``: checkpoint and resume, keep the best epoch,
TensorBoard logging.

Usage::

    from course_utils import Checkpoint, KeepBest, TensorBoard, fit
    history = fit(model, train_loader, val_loader, epochs=10, optimizer=optimizer,
                  hooks=[Checkpoint("runs/resnet.pt", resume=True), KeepBest(),
                         TensorBoard("runs/tensorboard/resnet")])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .checkpoints import load_checkpoint, save_checkpoint
from .training import Hook, Run


class Checkpoint(Hook):
    """Write model, optimizer, scheduler and history to ``path`` after every epoch, atomically.

    ``resume=True`` continues from the file (the same ``epochs`` and batches per epoch: a
    schedule plans the whole run). Without ``resume`` an existing file is kept as
    ``<name>.previous`` at the first save, never silently lost; a run stopped during its first
    epoch leaves the old file where it was.

    Usage: ``fit(..., hooks=[Checkpoint("runs/resnet20.pt", resume=True)])``
    """

    def __init__(self, path: str | Path, resume: bool = False) -> None:
        self.path, self.resume = Path(path), resume
        self.backup_pending = False

    def on_fit_start(self, run: Run) -> None:
        self.backup_pending = not self.resume and self.path.exists()
        if not self.resume:
            return
        if not self.path.exists():
            print(f"No checkpoint at {self.path} yet: starting a new run.")
            return
        state = load_checkpoint(self.path, map_location=run.device)
        if run.scheduler is not None:  # checked before anything is loaded into the model
            _check_same_plan(self.path, state, run.epochs, run.steps_per_epoch)
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        for obj, key in self._stateful(run):
            if obj is not None and key in state:
                obj.load_state_dict(state[key])
        run.history.records = list(state.get("history", []))
        run.start_epoch = int(state.get("epoch", 0))
        print(f"Resumed from {self.path} at epoch {run.start_epoch}.")

    def on_epoch_end(self, run: Run, record: dict[str, float]) -> None:
        if self.backup_pending:
            backup = self.path.with_name(self.path.name + ".previous")
            os.replace(self.path, backup)
            self.backup_pending = False
            print(f"{self.path} existed and resume=False: this new run replaces it; "
                  f"the old one is kept as {backup}.")
        extra = {key: _state_without_functions(obj) for obj, key in self._stateful(run)
                 if obj is not None}
        save_checkpoint(self.path, model=run.model.state_dict(),
                        optimizer=run.optimizer.state_dict(), epoch=record["epoch"],
                        epochs=run.epochs, steps_per_epoch=run.steps_per_epoch,
                        history=[*run.history.records, record], **extra)

    def on_fit_end(self, run: Run) -> None:
        if not run.history.records or run.history.stopped is None:
            return
        if run.history.stopped == "interrupted":
            print(f"Epoch {len(run.history)} is saved in {self.path}: run the same fit(...) with "
                  f"Checkpoint({str(self.path)!r}, resume=True) to continue.")
        else:
            print(f"The weights are now broken too; the last good ones are in {self.path}: "
                  f"cu.load_checkpoint({str(self.path)!r}, model).")

    @staticmethod
    def _stateful(run: Run) -> list[tuple[Any, str]]:
        return [(run.scheduler, "scheduler"),
                (run.scaler if run.scaler.is_enabled() else None, "grad_scaler")]


def _state_without_functions(obj: Any) -> dict[str, Any]:
    """``obj.state_dict()`` without functions (PyTorch < 2.4 stores OneCycleLR's anneal_func,
    which a safe load refuses; the scheduler rebuilds it from its arguments anyway)."""
    state = obj.state_dict()
    state.pop("anneal_func", None)
    return state


def _check_same_plan(path: Path, state: dict[str, Any], epochs: int,
                     steps_per_epoch: int) -> None:
    """A schedule is planned for the whole run: resuming must keep that plan."""
    planned = state.get("epochs")
    if planned is not None and planned != epochs:
        raise ValueError(f"{path} was trained with a schedule planned for {planned} epochs, and "
                         f"that schedule cannot be stretched: resume with epochs={planned}, or "
                         "start a new run without resume=True.")
    steps = state.get("steps_per_epoch")
    if steps is not None and steps != steps_per_epoch:
        raise ValueError(f"{path} was trained with {steps} batches per epoch, this loader has "
                         f"{steps_per_epoch}: resume with the same data and batch size, or "
                         "start a new run without resume=True.")


class KeepBest(Hook):
    """Keep the weights of the epoch with the best ``metric`` and put them back at the end.

    Model selection on validation data (notebook 02 §5): pass a validation loader to ``fit``,
    never the test set. The copy lives in memory on the model's device; after Ctrl-C the best
    epoch so far is restored too. ``best_epoch`` and ``best`` say which epoch won.

    Usage: ``keep = KeepBest(); fit(model, train_loader, val_loader, ..., hooks=[keep])``
    """

    def __init__(self, metric: str = "val_acc", mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' (accuracy) or 'min' (loss), got {mode!r}")
        self.metric, self.mode = metric, mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._state: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, run: Run, record: dict[str, float]) -> None:
        if self.metric not in record:
            raise ValueError(f"KeepBest watches {self.metric!r}, which this run does not "
                             f"record (it has {sorted(record)}): pass a validation loader, "
                             "fit(model, train_loader, val_loader, ...).")
        value = record[self.metric]
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best, self.best_epoch = value, int(record["epoch"])
            self._state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}

    def on_fit_end(self, run: Run) -> None:
        if self._state is None:
            return
        last = int(run.history.records[-1]["epoch"]) if run.history.records else None
        if self.best_epoch == last and run.history.stopped is None:
            return  # the model already holds the best weights
        run.model.load_state_dict(self._state)
        later = ("the epochs after it were worse" if run.history.stopped is None
                 else f"training {run.history.stopped}")
        print(f"KeepBest: restored epoch {self.best_epoch}'s weights "
              f"({self.metric} {self.best:.4f}; {later}).")


class TensorBoard(Hook):
    """Log every number of each epoch's record to TensorBoard, in ``logdir``.

    Without the ``tensorboard`` package it says so once and training goes on unlogged.
    Open the logs with ``tensorboard --logdir runs/tensorboard`` (or ``%tensorboard`` in a
    notebook after ``%load_ext tensorboard``).

    Usage: ``fit(..., hooks=[TensorBoard("runs/tensorboard/lenet")])``
    """

    def __init__(self, logdir: str | Path) -> None:
        self.logdir = Path(logdir)
        self.writer: Any = None

    def on_fit_start(self, run: Run) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("TensorBoard is not installed: skipping logging (pip install tensorboard).")
            return
        self.writer = SummaryWriter(str(self.logdir))

    def on_epoch_end(self, run: Run, record: dict[str, float]) -> None:
        if self.writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    self.writer.add_scalar(key, value, record["epoch"])

    def on_fit_end(self, run: Run) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
