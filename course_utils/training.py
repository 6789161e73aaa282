"""Training loop, evaluation and checkpoints.

Usage::

    from course_utils import fit, evaluate
    history = fit(model, train_loader, test_loader, epochs=10, optimizer="sgd", lr=0.05)
    print(history.last("val_acc"))
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .device import synchronize
from .profiles import is_smoke


@dataclass
class History:
    """Per-epoch records of a training run.

    Each record has ``epoch``, ``train_loss``, ``train_acc``, ``lr``, ``seconds``,
    ``images_per_s`` and, with validation data, ``val_loss`` and ``val_acc``. ``stopped``
    is ``None`` for a complete run, else ``"interrupted"`` or ``"non-finite loss"``.

    Usage: ``history["val_acc"]`` (a list), ``history.last("val_acc")``
    """

    records: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records if key in r]

    def last(self, key: str) -> float:
        """The latest value of ``key``. Usage: ``history.last("val_acc")``"""
        values = self[key]
        if not values:
            raise KeyError(f"no {key!r} recorded yet; available: {sorted(self.keys())}")
        return values[-1]

    def keys(self) -> set[str]:
        """Every key recorded in any epoch. Usage: ``"val_acc" in history.keys()``"""
        return {k for r in self.records for k in r}

    @property
    def total_seconds(self) -> float:
        """Training time summed over the epochs (evaluation excluded).

        Usage: ``print(f"{history.total_seconds / 60:.1f} min")``
        """
        return float(sum(self["seconds"]))


def evaluate(model: nn.Module, loader: Iterable, device: torch.device | None = None,
             amp: bool = True) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy of ``model`` over ``loader``.

    Usage: ``evaluate(model, test_loader)["acc"]``
    """
    probs, labels, loss = _run_eval(model, loader, device, amp)
    return {"loss": loss, "acc": (probs.argmax(1) == labels).float().mean().item()}


def predict(model: nn.Module, loader: Iterable, device: torch.device | None = None,
            amp: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities and true labels (both on the CPU) for every sample, in loader order.

    Usage: ``probs, labels = predict(model, test_loader); preds = probs.argmax(1)``
    """
    probs, labels, _ = _run_eval(model, loader, device, amp)
    return probs, labels


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer; the CPU for a parameter-free model."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def _run_eval(model: nn.Module, loader: Iterable, device: torch.device | None,
              amp: bool) -> tuple[torch.Tensor, torch.Tensor, float]:
    device = device or _model_device(model)
    was_training = model.training
    model.eval()
    all_probs, all_labels, total_loss = [], [], 0.0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with _autocast(device, amp):
            logits = model(x)
        logits = logits.float()
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        all_probs.append(logits.softmax(1).cpu())
        all_labels.append(y.cpu())
    model.train(was_training)
    if not all_labels:
        raise ValueError("the loader yielded no batches; is the dataset empty?")
    labels = torch.cat(all_labels)
    return torch.cat(all_probs), labels, total_loss / len(labels)


def per_class_accuracy(labels: torch.Tensor, preds: torch.Tensor,
                       num_classes: int) -> torch.Tensor:
    """Accuracy of each class (recall), a float tensor of length ``num_classes``.

    Usage: ``per_class_accuracy(labels, probs.argmax(1), 10)``
    """
    cm = confusion_matrix(labels, preds, num_classes)
    return cm.diag().float() / cm.sum(1).clamp(min=1).float()


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``cm[i, j]`` = how many samples of true class ``i`` were predicted as ``j``.

    Usage: ``cm = confusion_matrix(labels, preds, 10)``
    """
    if labels.shape != preds.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and preds {tuple(preds.shape)} differ")
    idx = labels.long().cpu() * num_classes + preds.long().cpu()
    return torch.bincount(idx, minlength=num_classes**2).view(num_classes, num_classes)


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


def make_optimizer(model: nn.Module, name: str = "sgd", lr: float | None = None,
                   weight_decay: float = 5e-4, momentum: float = 0.9) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum), Adam or AdamW; ``lr=None`` means 0.05 (SGD) or 1e-3 (Adam/W).

    The values you pass are used as they are (``weight_decay=0`` means no weight decay).

    Usage: ``opt = make_optimizer(model, "adam", lr=1e-3)``
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters; did you freeze everything?")
    name = name.lower()
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.05 if lr is None else lr, momentum=momentum,
                               nesterov=momentum > 0, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3 if lr is None else lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3 if lr is None else lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; use 'sgd', 'adam', 'adamw' or pass an "
                     "optimizer instance.")


def _make_schedule(optimizer: torch.optim.Optimizer, schedule: str | None,
                   total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step learning-rate schedule."""
    if schedule in (None, "constant", "none"):
        return None
    if schedule == "onecycle":
        max_lrs = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lrs,
                                                   total_steps=max(total_steps, 8),
                                                   pct_start=0.25, anneal_strategy="linear",
                                                   div_factor=10, final_div_factor=100)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    raise ValueError(f"unknown schedule {schedule!r}; use 'onecycle', 'cosine', 'constant' or "
                     "pass a scheduler instance (stepped once per epoch).")


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision type ``fit`` uses on ``device``, or None (full float32).

    bfloat16 on GPUs with bfloat16 tensor cores (compute capability 8.0 or newer: A100, H100,
    RTX 30xx and later); float16 on older ones (T4, V100), where bfloat16 would only be emulated;
    None off CUDA.

    Usage: ``amp_dtype(torch.device("cuda"))  # torch.bfloat16 on an H100``
    """
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def _grad_scaler(enabled: bool = True) -> Any:
    """A CUDA GradScaler (``torch.amp`` from PyTorch 2.3 on, ``torch.cuda.amp`` before).

    Disabled, it passes the loss and the optimizer step through unchanged, so the training
    loop has one path for float32, bfloat16 and float16.
    """
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """Autocast to ``amp_dtype`` on CUDA; elsewhere nothing (old PyTorch rejects it on MPS)."""
    dtype = amp_dtype(device) if amp else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _tensorboard_writer(logdir: str | Path | None):
    if logdir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("TensorBoard is not installed: skipping logging (pip install tensorboard).")
        return None
    return SummaryWriter(str(logdir))


def compiled_runner(model: nn.Module, device: torch.device) -> nn.Module:
    """``torch.compile(model, mode="reduce-overhead")`` on CUDA when Triton is installed, else
    ``model`` itself (compilation pays off only on a GPU; without Triton it would fail).

    Usage: ``runner = compiled_runner(model, torch.device("cuda"))``
    """
    if device.type != "cuda":
        return model
    from torch.utils._triton import has_triton

    if not has_triton():
        print("compile=True needs Triton, which this PyTorch installation lacks: training "
              "without torch.compile (pip install triton to enable it, or pass compile=False).")
        return model
    return torch.compile(model, mode="reduce-overhead")


def _schedule_state(scheduler: Any) -> dict[str, Any]:
    """The scheduler's state without functions (PyTorch < 2.4 stores OneCycleLR's anneal_func,
    which a safe load refuses; the scheduler rebuilds it from its arguments anyway)."""
    state = scheduler.state_dict()
    state.pop("anneal_func", None)
    return state


def _check_same_plan(checkpoint: str | Path, state: dict[str, Any], schedule: Any, epochs: int,
                     steps_per_epoch: int) -> None:
    """A per-step schedule is planned for the whole run: resuming must keep that plan."""
    planned = state.get("epochs")
    if planned is not None and planned != epochs:
        raise ValueError(f"{checkpoint} was trained with a {schedule!r} schedule planned for "
                         f"{planned} epochs, and that schedule cannot be stretched: resume with "
                         f"epochs={planned}, or start a new run without resume=True.")
    steps = state.get("steps_per_epoch")
    if steps is not None and steps != steps_per_epoch:
        raise ValueError(f"{checkpoint} was trained with {steps} batches per epoch, this loader "
                         f"has {steps_per_epoch}: resume with the same data and batch size, or "
                         "start a new run without resume=True.")


_interrupted_cell: list[int | None] = [None]  # the notebook cell in which Ctrl-C stopped fit


def _notebook_cell() -> int | None:
    """The execution count of the running notebook cell, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.execution_count


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        epochs: int, optimizer: str | torch.optim.Optimizer = "sgd", lr: float | None = None,
        weight_decay: float = 5e-4, schedule: str | Any = "onecycle",
        label_smoothing: float = 0.0, grad_clip: float | None = None,
        device: torch.device | None = None, amp: bool = True, channels_last: bool = False,
        compile: bool | None = None, checkpoint: str | Path | None = None, resume: bool = False,
        tensorboard_dir: str | Path | None = None, progress: bool | None = None,
        verbose: bool = True) -> History:
    """Train ``model`` and return its ``History``.

    * ``optimizer``: ``"sgd"`` (default lr 0.05), ``"adam"``/``"adamw"`` (1e-3), or an instance.
    * ``schedule``: ``"onecycle"`` (default), ``"cosine"``, ``"constant"`` -- stepped every
      batch -- or a scheduler instance, stepped once per epoch (e.g. ``MultiStepLR``).
    * ``amp``: mixed precision on CUDA (ignored elsewhere): bfloat16, or float16 with loss
      scaling on GPUs older than compute capability 8.0 (see ``amp_dtype``).
    * ``channels_last``: NHWC memory layout (faster convolutions on tensor cores).
    * ``compile``: on CUDA, train through ``torch.compile(mode="reduce-overhead")`` (CUDA
      graphs: 2-3x faster for small models, ~20-60 s of compilation first). Ignored elsewhere,
      and eager (with a message) where Triton is missing; see ``compiled_runner``.
      ``None`` (default) reads the environment variable ``COURSE_COMPILE`` (off unless ``1``).
    * ``device``: defaults to the loader's device (``make_loader`` picks the best one).
    * ``checkpoint``: a path written atomically after every epoch; ``resume=True`` continues
      from it (same ``epochs`` and batches per epoch: a step schedule plans the whole run). Without
      ``resume`` an existing checkpoint is kept as ``<name>.previous``, never silently lost.
      Ctrl-C (KeyboardInterrupt) stops cleanly: the model keeps what it learned and the
      history so far is returned; in a notebook, a later ``fit`` in the same cell (a loop of
      trainings) then raises KeyboardInterrupt at once, so one stop ends the loop.
      A NaN/inf loss stops training with a hint.
    * With ``schedule="onecycle"`` (PyTorch's ``OneCycleLR``) the learning rate rises from
      ``lr/10`` to ``lr`` over the first 25% of the steps, then falls linearly to ``lr/1000``;
      SGD's momentum (Adam's beta1) moves the other way, 0.95 -> 0.85 -> 0.95.

    Usage: ``history = fit(model, train_loader, test_loader, epochs=5)``
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    _stop_if_interrupted_in_this_cell()
    device = device or getattr(train_loader, "device", None) or _model_device(model)
    runner = _prepare(model, device, channels_last, compile)
    if isinstance(optimizer, str):
        optimizer = make_optimizer(model, optimizer, lr, weight_decay)
    steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
    if isinstance(schedule, str) or schedule is None:
        step_sched = _make_schedule(optimizer, schedule, epochs * steps_per_epoch)
        epoch_sched = None
    else:
        step_sched, epoch_sched = None, schedule
    # float16 gradients can underflow to 0: scale the loss up, and the gradients back down.
    scaler = _grad_scaler(enabled=amp and amp_dtype(device) == torch.float16)
    plan = {"schedule": schedule, "epochs": epochs, "steps_per_epoch": steps_per_epoch}
    saver = _EpochSaver(checkpoint, resume, model, optimizer, step_sched, epoch_sched, scaler, plan)
    history, start_epoch = saver.resume(device, verbose)
    progress = (not is_smoke()) if progress is None else progress
    writer = _tensorboard_writer(tensorboard_dir)
    from tqdm.auto import tqdm

    bar = tqdm(range(start_epoch, epochs), desc="epochs", disable=not progress)
    try:
        for epoch in bar:
            record = train_one_epoch(runner, train_loader, optimizer, step_sched, device, amp,
                                     channels_last, label_smoothing, grad_clip, progress, scaler)
            if record is None:
                history.stopped = "non-finite loss"
                print(_nan_advice(epoch, checkpoint if history.records else None))
                break
            if epoch_sched is not None:
                epoch_sched.step()
            record["epoch"] = epoch + 1
            if val_loader is not None:
                val = evaluate(model, val_loader, device, amp)
                record["val_loss"], record["val_acc"] = val["loss"], val["acc"]
            saver.save(record, history)  # first: the history never claims an unsaved epoch
            history.records.append(record)
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()
                             if k in ("train_loss", "train_acc", "val_acc")})
            _log_scalars(writer, record)
    except KeyboardInterrupt:
        history.stopped = "interrupted"
        _interrupted_cell[0] = _notebook_cell()
        print(_interrupt_message(len(history), checkpoint if history.records else None))
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    model.eval()
    if verbose and history.records and history.stopped is None:
        print(_summary(history))
    return history


def _stop_if_interrupted_in_this_cell() -> None:
    """A loop of trainings in one cell: one press of stop ends the loop, not one training."""
    cell = _notebook_cell()
    if cell is not None and cell == _interrupted_cell[0]:
        raise KeyboardInterrupt("training was interrupted earlier in this cell, so the cell "
                                "stops here; run the cell again to train.")


def _prepare(model: nn.Module, device: torch.device, channels_last: bool,
             compile: bool | None) -> nn.Module:
    """Move ``model`` to ``device`` (NHWC if asked); return what trains: it or its compiled form."""
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile is None:
        compile = os.environ.get("COURSE_COMPILE", "").strip().lower() in {"1", "true", "yes"}
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick fast kernels
    return compiled_runner(model, device) if compile else model


class _EpochSaver:
    """``fit``'s checkpoint: resume from it, write it atomically after every epoch.

    Without ``resume`` an existing file is set aside as ``<name>.previous`` at the first save,
    not before, so a run stopped during its first epoch leaves the old file where it was.
    """

    def __init__(self, path: str | Path | None, resume: bool, model: nn.Module,
                 optimizer: torch.optim.Optimizer, step_sched: Any, epoch_sched: Any,
                 scaler: Any, plan: dict[str, Any]) -> None:
        self.path, self.resuming, self.model, self.optimizer = path, resume, model, optimizer
        self.step_sched, self.epoch_sched = step_sched, epoch_sched
        self.scaler, self.plan = scaler, plan
        self.backup_pending = not resume and path is not None and Path(path).exists()

    def _stateful(self) -> list[tuple[Any, str]]:
        return [(self.step_sched, "step_scheduler"), (self.epoch_sched, "epoch_scheduler"),
                (self.scaler if self.scaler.is_enabled() else None, "grad_scaler")]

    def resume(self, device: torch.device, verbose: bool) -> tuple[History, int]:
        """The history and epoch to continue from (empty and 0 for a new run)."""
        history = History()
        if not self.resuming or self.path is None:
            return history, 0
        if not Path(self.path).exists():
            if verbose:
                print(f"No checkpoint at {self.path} yet: starting a new run.")
            return history, 0
        state = load_checkpoint(self.path, map_location=device)
        if self.step_sched is not None:  # checked before anything is loaded into the model
            _check_same_plan(self.path, state, self.plan["schedule"], self.plan["epochs"],
                             self.plan["steps_per_epoch"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        history.records = list(state.get("history", []))
        for obj, key in self._stateful():
            if obj is not None and key in state:
                obj.load_state_dict(state[key])
        start_epoch = int(state.get("epoch", 0))
        if verbose:
            print(f"Resumed from {self.path} at epoch {start_epoch}.")
        return history, start_epoch

    def save(self, record: dict[str, float], history: History) -> None:
        """Write model, optimizer, schedules and history including ``record``, atomically."""
        if self.path is None:
            return
        if self.backup_pending:
            backup = Path(self.path).with_name(Path(self.path).name + ".previous")
            os.replace(self.path, backup)
            self.backup_pending = False
            print(f"{self.path} existed and resume=False: this new run replaces it; "
                  f"the old one is kept as {backup}.")
        extra = {}
        for obj, key in self._stateful():
            if obj is not None:
                extra[key] = (_schedule_state(obj) if key == "step_scheduler"
                              else obj.state_dict())
        save_checkpoint(self.path, model=self.model.state_dict(),
                        optimizer=self.optimizer.state_dict(), epoch=record["epoch"],
                        epochs=self.plan["epochs"], steps_per_epoch=self.plan["steps_per_epoch"],
                        history=[*history.records, record], **extra)


def _nan_advice(epoch: int, last_good: str | Path | None) -> str:
    """What to do after a NaN/inf loss in epoch ``epoch`` (0-based)."""
    reload = (f" The weights are now broken too; the last good ones are in {last_good}: "
              f"cu.load_checkpoint({str(last_good)!r}, model)." if last_good is not None else "")
    return (f"Stopped in epoch {epoch + 1}: the loss became NaN or infinite. Try a lower learning "
            f"rate (e.g. lr/10) or gradient clipping (grad_clip=1.0).{reload}")


def _interrupt_message(epochs_done: int, checkpoint: str | Path | None) -> str:
    where = (f" Epoch {epochs_done} is saved in {checkpoint}: run the same fit(...) with "
             "resume=True to continue." if checkpoint else "")
    return (f"Training interrupted after {epochs_done} complete epoch(s). The model keeps what it "
            f"learned.{where} (During 'Run All', press stop again to stop the cells queued after "
            "this one.)")


def _log_scalars(writer: Any, record: dict[str, float]) -> None:
    """One TensorBoard scalar per metric of the epoch (nothing without a writer)."""
    if writer is not None:
        for key, value in record.items():
            if key != "epoch":
                writer.add_scalar(key, value, record["epoch"])


def _summary(history: History) -> str:
    last = history.records[-1]
    val = f", val acc {last['val_acc']:.2%}" if "val_acc" in last else ""
    epochs_done = f"{len(history)} epoch{'s' if len(history) != 1 else ''}"
    return (f"Trained {epochs_done} in {history.total_seconds:.1f}s: train acc "
            f"{last['train_acc']:.2%}{val}")


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                     scheduler: Any, device: torch.device, amp: bool, channels_last: bool,
                     label_smoothing: float, grad_clip: float | None, progress: bool,
                     scaler: Any = None) -> dict[str, float] | None:
    """One pass over ``loader``: the loop written out in notebook 02 §5, plus named extras.

    The core is notebook 02's ``train_one_epoch``: ``model.train()``, then for each batch
    forward, cross-entropy, ``zero_grad``, ``backward``, ``step``, and the running loss and
    accuracy. The extras, each optional: ``channels_last`` memory layout, mixed precision
    (``amp``, with a ``scaler`` for float16), ``label_smoothing``, gradient clipping
    (``grad_clip``), a ``scheduler`` stepped every batch, a NaN/inf check every 50 steps, a
    ``progress`` bar and the epoch's time and images/s. Returns the epoch's record
    (``train_loss``, ``train_acc``, ``lr``, ``seconds``, ``images_per_s``), or None on a
    non-finite loss. ``fit`` calls it once per epoch.

    Usage: ``train_one_epoch(model, loader, opt, None, device, False, False, 0.0, None, False)``
    """
    from tqdm.auto import tqdm

    model.train()
    start = time.perf_counter()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    lr = optimizer.param_groups[0]["lr"]
    scaler = scaler if scaler is not None else _grad_scaler(enabled=False)
    # The bar is updated by hand: tqdm.auto's bar would call iter(loader) twice, which starts
    # DataLoader workers twice and advances a shuffling generator (the batch order would no
    # longer be that of a plain loop over the same loader).
    bar = tqdm(total=len(loader) if hasattr(loader, "__len__") else None, desc="batches",
               leave=False, disable=not progress)
    try:
        for step, (x, y) in enumerate(loader):
            bar.update()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, amp):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
            if step % 50 == 0 and not torch.isfinite(loss):  # checked now and then: a sync is slow
                return None
            optimizer.zero_grad(set_to_none=True)
            # float16 (GPUs older than the A100) scales the loss so that small gradients do not
            # underflow; a disabled scaler passes loss and step through unchanged.
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)  # skipped if the scaled gradients overflowed
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
    finally:
        bar.close()
    synchronize(device)  # GPU calls return early: wait for the work before stopping the clock
    seconds = time.perf_counter() - start
    if seen == 0:
        raise ValueError("the training loader yielded no batches; is the dataset empty?")
    train_loss = total_loss.item() / seen
    if not math.isfinite(train_loss):
        return None
    return {"train_loss": train_loss, "train_acc": correct.item() / seen, "lr": lr,
            "seconds": seconds, "images_per_s": seen / seconds}
