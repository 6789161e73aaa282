"""The training loop of notebook 02, epoch after epoch: ``train_one_epoch``, ``evaluate``, ``fit``.

Usage::

    import torch
    from course_utils import Extras, fit, one_cycle
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = one_cycle(optimizer, total_steps=10 * len(train_loader))
    history = fit(model, train_loader, test_loader, epochs=10, optimizer=optimizer,
                  scheduler=scheduler, extras=Extras(label_smoothing=0.1))
    print(history.last("val_acc"))
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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


def compiled_runner(model: nn.Module, device: torch.device) -> nn.Module:
    """``torch.compile(model, mode="reduce-overhead")`` on CUDA when Triton is installed, else
    ``model`` itself (compilation pays off only on a GPU; without Triton it would fail).

    Usage: ``runner = compiled_runner(model, torch.device("cuda"))``
    """
    if device.type != "cuda":
        return model
    from torch.utils._triton import has_triton

    if not has_triton():
        print("Extras(compile=True) needs Triton, which this PyTorch installation lacks: "
              "training without torch.compile (pip install triton to enable it, or use "
              "Extras(compile=False)).")
        return model
    return torch.compile(model, mode="reduce-overhead")


def one_cycle(optimizer: torch.optim.Optimizer,
              total_steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """The course's learning-rate schedule: PyTorch's ``OneCycleLR``, stepped after every batch.

    The learning rate rises from ``lr/10`` to the optimizer's ``lr`` over the first 25% of the
    steps, then falls linearly to ``lr/1000``; SGD's momentum (Adam's beta1) moves the other
    way, 0.95 -> 0.85 -> 0.95. Build it for the whole run: ``epochs * len(train_loader)`` steps.

    Usage: ``scheduler = one_cycle(optimizer, total_steps=EPOCHS * len(train_loader))``
    """
    peak_lrs = [group["lr"] for group in optimizer.param_groups]
    # OneCycleLR divides by the length of its warm-up: fewer than 8 steps (a one-batch smoke
    # test) would make that zero, so very short runs get a plan of 8 steps and end early.
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak_lrs,
                                               total_steps=max(total_steps, 8), pct_start=0.25,
                                               anneal_strategy="linear", div_factor=10,
                                               final_div_factor=100)


@dataclass
class Extras:
    """The optional parts of ``fit``'s training step, each named and off unless asked for.

    * ``amp``: mixed precision on CUDA (ignored elsewhere): bfloat16, or float16 with loss
      scaling on GPUs older than compute capability 8.0 (see ``amp_dtype``).
    * ``channels_last``: NHWC memory layout (faster convolutions on tensor cores and CPUs).
    * ``label_smoothing``: the target puts ``1 - label_smoothing`` on the true class.
    * ``grad_clip``: clip the gradients' total norm to this value before each step.
    * ``compile``: on CUDA, train through ``torch.compile`` (see ``compiled_runner``); ``None``
      reads the environment variable ``COURSE_COMPILE`` (off unless ``1``).
    * ``progress``: progress bars (``None``: on, except in the smoke profile).
    * ``verbose``: print the one-line summary after training.

    Usage: ``fit(..., extras=Extras(label_smoothing=0.1, channels_last=True))``
    """

    amp: bool = True
    channels_last: bool = False
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    compile: bool | None = None
    progress: bool | None = None
    verbose: bool = True


@dataclass
class Run:
    """What ``fit`` is training, handed to every hook (``hooks.py``): a hook may read it, and a
    ``Checkpoint`` resuming a run fills in ``history`` and ``start_epoch``.

    Usage: ``def on_epoch_end(self, run, record): print(run.optimizer.param_groups[0]["lr"])``
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    device: torch.device
    epochs: int
    steps_per_epoch: int
    history: History = field(default_factory=History)
    start_epoch: int = 0


class Hook:
    """Something ``fit`` calls at three moments; override the ones you need.

    ``on_fit_start`` before the first epoch, ``on_epoch_end`` after each epoch (before the
    history records it), ``on_fit_end`` at the end, also after Ctrl-C or a NaN stop.
    The course's hooks: ``Checkpoint``, ``KeepBest``, ``TensorBoard``.

    Usage: ``class PrintLR(Hook): def on_epoch_end(self, run, record): print(record["lr"])``
    """

    def on_fit_start(self, run: Run) -> None:
        """Called once, before the first epoch."""

    def on_epoch_end(self, run: Run, record: dict[str, float]) -> None:
        """Called after each epoch with its record (``epoch``, ``train_loss``, ``val_acc``...)."""

    def on_fit_end(self, run: Run) -> None:
        """Called once at the end, whether training finished, was interrupted or stopped."""


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                    device: torch.device, scheduler: Any = None, extras: Extras | None = None,
                    scaler: Any = None) -> dict[str, float] | None:
    """One pass over ``loader``: the loop written out in notebook 02 §5, plus named extras.

    The core is notebook 02's ``train_one_epoch(model, loader, optimizer, device)``:
    ``model.train()``, then for each batch forward, cross-entropy, ``zero_grad``, ``backward``,
    ``step``, and the running loss and accuracy. Added: a ``scheduler`` stepped after every
    batch, the ``extras`` (mixed precision with a ``scaler`` for float16, channels-last,
    label smoothing, gradient clipping, a progress bar), a NaN/inf check every 50 steps, and
    the epoch's time and images/s. Returns the epoch's record (``train_loss``, ``train_acc``,
    ``lr``, ``seconds``, ``images_per_s``), or None on a non-finite loss.

    Usage: ``record = train_one_epoch(model, train_loader, optimizer, device)``
    """
    from tqdm.auto import tqdm

    extras = extras or Extras()
    progress = (not is_smoke()) if extras.progress is None else extras.progress
    scaler = scaler if scaler is not None else _grad_scaler(enabled=False)
    model.train()
    start = time.perf_counter()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    lr = optimizer.param_groups[0]["lr"]
    # The bar is updated by hand: tqdm.auto's bar would call iter(loader) twice, which starts
    # DataLoader workers twice and advances a shuffling generator (the batch order would no
    # longer be that of a plain loop over the same loader).
    bar = tqdm(total=len(loader) if hasattr(loader, "__len__") else None, desc="batches",
               leave=False, disable=not progress)
    try:
        for step, (x, y) in enumerate(loader):
            bar.update()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if extras.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, extras.amp):
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=extras.label_smoothing)
            if step % 50 == 0 and not torch.isfinite(loss):  # checked now and then: a sync is slow
                return None
            optimizer.zero_grad(set_to_none=True)
            # float16 (GPUs older than the A100) scales the loss so that small gradients do not
            # underflow; a disabled scaler passes loss and step through unchanged.
            scaler.scale(loss).backward()
            if extras.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), extras.grad_clip)
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


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
        epochs: int, optimizer: torch.optim.Optimizer, scheduler: Any = None,
        extras: Extras | None = None, hooks: Sequence[Hook] = ()) -> History:
    """Train ``model`` for ``epochs`` epochs and return its ``History``.

    Each epoch is ``train_one_epoch`` (the ``scheduler`` steps after every batch: plan it for
    ``epochs * len(train_loader)`` steps, e.g. ``one_cycle``), then ``evaluate`` on
    ``val_loader``, then the ``hooks`` (``Checkpoint``, ``KeepBest``, ``TensorBoard``).
    It trains on the loader's device (``make_loader``), else where the model is.
    Ctrl-C stops cleanly: the model keeps what it learned and the history so far is returned
    (in a notebook, a later ``fit`` in the same cell then stops at once: one press ends a loop
    of trainings). A NaN/inf loss stops training with advice.

    Usage: ``history = fit(model, train_loader, test_loader, epochs=5, optimizer=optimizer)``
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    _stop_if_interrupted_in_this_cell()
    extras = extras or Extras()
    device = getattr(train_loader, "device", None) or _model_device(model)
    runner = _prepare(model, device, extras)  # the model, or its compiled form
    scaler = _grad_scaler(enabled=extras.amp and amp_dtype(device) == torch.float16)
    run = Run(model, optimizer, scheduler, scaler, device, epochs, len(train_loader))
    for hook in hooks:
        hook.on_fit_start(run)
    bar = _epoch_bar(range(run.start_epoch, epochs), extras)
    try:
        for epoch in bar:
            record = train_one_epoch(runner, train_loader, optimizer, device, scheduler, extras,
                                     scaler)
            if record is None:
                run.history.stopped = "non-finite loss"
                print(_nan_advice(epoch))
                break
            record["epoch"] = epoch + 1
            if val_loader is not None:
                val = evaluate(model, val_loader, device, extras.amp)
                record["val_loss"], record["val_acc"] = val["loss"], val["acc"]
            for hook in hooks:  # a Checkpoint saves before the history claims the epoch
                hook.on_epoch_end(run, record)
            run.history.records.append(record)
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items()
                             if k in ("train_loss", "train_acc", "val_acc")})
    except KeyboardInterrupt:
        run.history.stopped = "interrupted"
        _interrupted_cell[0] = _notebook_cell()
        print(_interrupt_message(len(run.history)))
    finally:
        bar.close()
        for hook in hooks:
            hook.on_fit_end(run)
    model.eval()
    if extras.verbose and run.history.records and run.history.stopped is None:
        print(_summary(run.history))
    return run.history


def _epoch_bar(epochs: range, extras: Extras) -> Any:
    """A tqdm bar over the epochs (silent in the smoke profile unless ``extras.progress``)."""
    from tqdm.auto import tqdm

    progress = (not is_smoke()) if extras.progress is None else extras.progress
    return tqdm(epochs, desc="epochs", disable=not progress)


def _prepare(model: nn.Module, device: torch.device, extras: Extras) -> nn.Module:
    """Move ``model`` to ``device`` (NHWC if asked); return what trains: it or its compiled form."""
    model.to(device)
    if extras.channels_last:
        model.to(memory_format=torch.channels_last)
    compile = extras.compile
    if compile is None:
        compile = os.environ.get("COURSE_COMPILE", "").strip().lower() in {"1", "true", "yes"}
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick fast kernels
    return compiled_runner(model, device) if compile else model


def _nan_advice(epoch: int) -> str:
    """What to do after a NaN/inf loss in epoch ``epoch`` (0-based)."""
    return (f"Stopped in epoch {epoch + 1}: the loss became NaN or infinite. Try a lower learning "
            "rate (e.g. lr/10) or gradient clipping (Extras(grad_clip=1.0)).")


def _interrupt_message(epochs_done: int) -> str:
    return (f"Training interrupted after {epochs_done} complete epoch(s). The model keeps what it "
            "learned. (During 'Run All', press stop again to stop the cells queued after this "
            "one.)")


_interrupted_cell: list[int | None] = [None]  # the notebook cell in which Ctrl-C stopped fit


def _notebook_cell() -> int | None:
    """The execution count of the running notebook cell, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.execution_count


def _stop_if_interrupted_in_this_cell() -> None:
    """A loop of trainings in one cell: one press of stop ends the loop, not one training."""
    cell = _notebook_cell()
    if cell is not None and cell == _interrupted_cell[0]:
        raise KeyboardInterrupt("training was interrupted earlier in this cell, so the cell "
                                "stops here; run the cell again to train.")


def _summary(history: History) -> str:
    last = history.records[-1]
    val = f", val acc {last['val_acc']:.2%}" if "val_acc" in last else ""
    epochs_done = f"{len(history)} epoch{'s' if len(history) != 1 else ''}"
    return (f"Trained {epochs_done} in {history.total_seconds:.1f}s: train acc "
            f"{last['train_acc']:.2%}{val}")
