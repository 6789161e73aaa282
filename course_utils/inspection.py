"""Look inside models: parameters, per-layer summaries, FLOPs, output sizes, comparison tables.

Usage::

    from course_utils import count_parameters, count_flops, model_summary, conv_output_size
    print(count_parameters(model), count_flops(model, (1, 28, 28)))
    model_summary(model, (1, 28, 28))
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn

from .device import synchronize
from .training import _autocast, _model_device

if TYPE_CHECKING:
    from torchinfo import ModelStatistics


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (``trainable_only=True``: only those with ``requires_grad``).

    Usage: ``count_parameters(model)``
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_summary(model: nn.Module, input_size: Sequence[int], depth: int = 3,
                  **kwargs: Any) -> ModelStatistics:
    """A per-layer table of output shapes and parameter counts (torchinfo), for one sample.

    ``input_size`` excludes the batch dimension, e.g. ``(3, 32, 32)``.

    Usage: ``print(model_summary(model, (3, 32, 32)))``
    """
    from torchinfo import summary

    kwargs.setdefault("col_names", ("output_size", "num_params"))
    kwargs.setdefault("row_settings", ("var_names",))
    kwargs.setdefault("verbose", 0)
    device = _model_device(model)
    return summary(model, input_size=(1, *input_size), depth=depth, device=device, **kwargs)


def _flop_mode(model: nn.Module, input_size: Sequence[int]):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, *input_size, device=_model_device(model))
    was_training = model.training
    model.eval()
    mode = FlopCounterMode(display=False)
    with torch.no_grad(), mode:
        model(x)
    model.train(was_training)
    return mode


def count_flops(model: nn.Module, input_size: Sequence[int]) -> int:
    """Floating-point operations of one forward pass on one sample (a multiply-add = 2 FLOPs).

    Counted by ``torch.utils.flop_counter`` (convolutions and matrix products).

    Usage: ``count_flops(model, (3, 32, 32)) / 1e6  # MFLOPs``
    """
    return int(_flop_mode(model, input_size).get_total_flops())


def flops_by_module(model: nn.Module, input_size: Sequence[int]) -> dict[str, int]:
    """FLOPs of one forward pass per sub-module, keyed like ``model.named_modules()``.

    Every level of nesting is included; the key ``""`` is the whole model.

    Usage: ``flops_by_module(model, (3, 224, 224))["features.0"]``
    """
    counts = _flop_mode(model, input_size).get_flop_counts()
    root = type(model).__name__
    result = {}
    for name, ops in counts.items():
        if name == "Global":
            continue
        key = "" if name == root else name.removeprefix(root + ".")
        result[key] = int(sum(ops.values()))
    return result


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one dimension.

    ``floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1``, which for
    ``dilation=1`` is the familiar ``floor((W - F + 2P) / S) + 1``.

    Usage: ``conv_output_size(5, 3, stride=2)  # 2``
    """
    for name, value in (("size", size), ("kernel_size", kernel_size), ("stride", stride),
                        ("dilation", dilation)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    out = (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(f"a kernel of effective size {dilation * (kernel_size - 1) + 1} does "
                         f"not fit an input of {size} with padding {padding}; pad more or use a "
                         "smaller kernel.")
    return out


@torch.no_grad()
def _time_forward(model: nn.Module, x: torch.Tensor, steps: int) -> float:
    for _ in range(2):
        model(x)
    synchronize(x.device)
    start = time.perf_counter()
    for _ in range(steps):
        model(x)
    synchronize(x.device)  # GPU calls return early: wait for the work before stopping the clock
    return time.perf_counter() - start


def measure_throughput(model: nn.Module, input_size: Sequence[int], batch_size: int = 256,
                       steps: int = 10, device: torch.device | None = None) -> float:
    """Inference images per second of ``model`` on random input (after a warm-up), in the same
    mixed precision as ``fit`` on CUDA.

    Usage: ``measure_throughput(model, (3, 32, 32), device=device)``
    """
    device = device or _model_device(model)
    was_training = model.training
    model.eval().to(device)
    x = torch.randn(batch_size, *input_size, device=device)
    with _autocast(device, amp=True):
        seconds = _time_forward(model, x, steps)
    model.train(was_training)
    return batch_size * steps / seconds


def in_notebook() -> bool:
    """True inside a Jupyter kernel, Colab's included (then source code renders highlighted).

    Usage: ``if in_notebook(): display(figure)``
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    # Colab's shell is a subclass of ZMQInteractiveShell, so look along the class hierarchy.
    return shell is not None and any(cls.__name__ == "ZMQInteractiveShell"
                                     for cls in type(shell).__mro__)


class Table(str):
    """A text table (GitHub markdown style) that Jupyter and Colab display as HTML.

    ``print(table)`` shows the text; a cell that ends with ``table`` shows the HTML version.

    Usage: ``table = Table(text, html); print(table)``
    """

    html: str

    def __new__(cls, text: str, html: str) -> Table:
        table = super().__new__(cls, text)
        table.html = html
        return table

    def __getnewargs__(self) -> tuple[str, str]:  # copy and pickle rebuild it from both forms
        return str(self), self.html

    def _repr_html_(self) -> str:
        return self.html

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # text-only frontends
        printer.text(str(self))


def results_table(rows: Sequence[Mapping[str, Any]], floatfmt: str = ",.4g",
                  tablefmt: str | None = None, disable_numparse: bool = False) -> str:
    """A table of dict rows made with tabulate.

    By default a ``Table``: text when printed, HTML when it ends a notebook cell. ``tablefmt``
    (any tabulate format, e.g. ``"latex"``) returns that format as a plain string instead.

    Usage: ``results_table([{"model": "LeNet", "params": 61706}])``
    """
    from tabulate import tabulate

    if not rows:
        raise ValueError("results_table needs at least one row")
    headers = list(dict.fromkeys(k for row in rows for k in row))
    body = [[row.get(h, "") for h in headers] for row in rows]

    def render(fmt: str) -> str:
        return tabulate(body, headers=headers, floatfmt=floatfmt, intfmt=",", tablefmt=fmt,
                        disable_numparse=disable_numparse)

    if tablefmt is not None:
        return render(tablefmt)
    return Table(render("github"), str(render("html")))


def compare_models(models: Mapping[str, nn.Module], input_size: Sequence[int],
                   tablefmt: str | None = None) -> str:
    """Parameters and forward FLOPs of several models side by side, as a table.

    Usage: ``compare_models({"lenet": lenet, "vgg11": vgg11}, (3, 32, 32))``
    """
    rows = [{"model": name, "parameters": count_parameters(m),
             "MFLOPs": round(count_flops(m, input_size) / 1e6, 2)} for name, m in models.items()]
    return results_table(rows, tablefmt=tablefmt)


def show_source(obj: Any) -> Any:
    """Show the source code of a function or class, syntax-highlighted in a notebook.

    Usage: ``show_source(course_utils.models.BasicBlock)``
    """
    import inspect

    source = inspect.getsource(obj)
    if in_notebook():
        from IPython.display import Code

        return Code(source, language="python")
    print(source)
    return None
