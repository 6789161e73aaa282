"""Self-checks for the exercises: work out an answer on paper, then let a check confirm it.

Every check prints one line: ``✓`` when the answer is right, or ``✗`` with a hint that names the
formula or the mistake the answer looks like (the bias forgotten, the padding left out, the
floor rounded up, groups that do not divide the weights, multiply-adds counted instead of
FLOPs, ...). A hint never prints the right answer. Every check also returns ``True`` or
``False``, and a malformed answer (text, ``...``) raises one error that says how to write it.

Two kinds of checks: formula checks take the numbers of one layer
(``check_conv_output_size``, ``check_padding``, ``check_conv_params``, ``check_linear_params``,
``check_conv_flops``); model checks compare with what PyTorch computes for a model
(``check_feature_map_sizes``, ``check_shape``, ``check_receptive_field``,
``check_parameter_count``, ``check_parameter_difference``, ``check_flops``).

Usage::

    from course_utils.checks import check_conv_output_size, check_conv_params
    check_conv_output_size(answer=14, size=28, kernel=5, padding=2)   # ✗ and a hint
    check_conv_params(answer=156, in_channels=1, out_channels=6, kernel=5)  # ✓
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import Any, Callable

import torch
import torch.nn as nn

from .inspection import conv_output_size, count_flops, count_parameters

__all__ = [
    "check_conv_flops", "check_conv_output_size", "check_conv_params", "check_feature_map_sizes",
    "check_flops", "check_linear_params", "check_padding", "check_parameter_count",
    "check_parameter_difference", "check_receptive_field", "check_shape",
]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm2d,
          nn.InstanceNorm3d, nn.LayerNorm, nn.GroupNorm)
_WEIGHTED = (*_CONVS, nn.Linear)

# The general formulas, in symbols only: the fallback hints when a concrete one would show a
# number equal to the right answer.
_SIZE_RULE = ("output size = ⌊(W + 2P − D·(K − 1) − 1)/S⌋ + 1 (input W, kernel K, stride S, "
              "padding P, dilation D); for D = 1 that is ⌊(W − K + 2P)/S⌋ + 1.")
_CONV_PARAMS_RULE = ("parameters = C_out·(C_in/g·k_h·k_w + 1) with a bias, C_out·C_in/g·k_h·k_w "
                     "without; stride, padding and dilation do not change it.")
_CONV_FLOPS_RULE = ("FLOPs = 2·H'·W'·C_out·(C_in/g)·k_h·k_w: every output value is a dot "
                    "product of C_in/g·k_h·k_w multiply-adds, and a multiply-add is 2 FLOPs.")
_RF_RULE = ("r_l = r_(l−1) + (K_l − 1)·j_(l−1) with r_0 = 1, where the jump j_(l−1) is the "
            "product of the strides of the layers before l, and a dilated kernel counts as "
            "D·(K − 1) + 1; padding does not change the receptive field.")


# ---------------------------------------------------------------------------------------------
# reading answers and arguments
# ---------------------------------------------------------------------------------------------

def _number(value: Any, name: str = "answer") -> int | float:
    """A plain int, or a float that is not a whole number (the caller reports it as a mistake)."""
    if value is Ellipsis or value is None:
        raise TypeError(f"{name} is still {value!r}: replace it with your number, e.g. {name}=156")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"{name} must be one number, got a tensor of shape "
                            f"{tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, not {value}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        as_float = float(value)
        if not math.isfinite(as_float):
            raise ValueError(f"{name} must be a finite number, got {as_float}")
        return int(as_float) if as_float.is_integer() else as_float
    if isinstance(value, str):
        text = value.strip()
        example = text.replace(",", "_") if re.fullmatch(r"[\d][\d,_]*", text) else "156"
        raise TypeError(f"{name} must be a number, not the text {value!r}: write it without "
                        f"quotes, e.g. {name}={example} (use _ rather than , to group digits)")
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(v, numbers.Integral) for v in value):
        raise TypeError(f"{name} must be one number, got {value!r}. In Python 1,516 is the "
                        "tuple (1, 516): write 1516 or 1_516")
    raise TypeError(f"{name} must be a number, got a {type(value).__name__}")


def _whole(value: Any, name: str) -> int:
    """An argument that must be a whole number (a setting of the question, not the answer)."""
    number = _number(value, name)
    if not isinstance(number, int):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    return number


def _pair(value: Any, name: str) -> tuple[int, int]:
    """A kernel size, stride, ... given as ``k`` or ``(k_h, k_w)``."""
    if isinstance(value, (tuple, list, torch.Size)):
        if len(value) != 2:
            raise ValueError(f"{name} must be one number or a (height, width) pair, got {value!r}")
        return _whole(value[0], name), _whole(value[1], name)
    number = _whole(value, name)
    return number, number


def _shape(value: Any, name: str = "answer") -> tuple[int, ...]:
    """A shape given as a tuple, list or ``torch.Size`` of whole numbers (one number: 1-D)."""
    if isinstance(value, str):
        raise TypeError(f"{name} must be a shape such as (16, 14, 14), not the text {value!r}")
    if isinstance(value, (tuple, list, torch.Size)):
        if not value:
            raise ValueError(f"{name} is empty: give a shape such as (16, 14, 14)")
        numbers_ = [_number(v, name) for v in value]
        if not all(isinstance(v, int) for v in numbers_):
            raise TypeError(f"every entry of {name} must be a whole number, got {value!r}")
        return tuple(int(v) for v in numbers_)
    number = _number(value, name)
    if not isinstance(number, int):
        raise TypeError(f"{name} must be a shape of whole numbers, got {value!r}")
    return (number,)


def _input_shape(input_shape: Any) -> tuple[int, ...]:
    shape = _shape(input_shape, "input_shape")
    if any(v < 1 for v in shape):
        raise ValueError(f"input_shape must hold positive sizes, got {shape}")
    return shape


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, (tuple, list)) else int(value)


def _fmt(value: int | float | tuple) -> str:
    if isinstance(value, tuple):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:g}"


def _times(*factors: Any) -> str:
    return "·".join(str(f) for f in factors)


# ---------------------------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------------------------

def _report(ok: bool, message: str, hint: str = "") -> bool:
    """Print the ✓ or ✗ line (a ✗ line ends with its hint) and return ``ok``."""
    print(f"✓ {message}" if ok else f"✗ {message}" + (f" Hint: {hint}" if hint else ""))
    return ok


def _diagnose(answer: int | float, correct: Any, mistakes: Sequence[tuple[Any, str]],
              fallback: str, same: Callable[[Any, Any], bool] = lambda a, b: a == b) -> str:
    """The hint of the first mistake whose result equals the answer, else the fallback."""
    for result, hint in mistakes:
        if same(answer, result) and not same(result, correct):
            return hint
    return fallback


def _concrete(hint: str, general: str, correct: Any, shown: Sequence[Any]) -> str:
    """``hint`` with its numbers, unless one of the numbers it shows equals the right answer."""
    values = correct if isinstance(correct, tuple) else (correct,)
    return general if any(v in shown for v in values) else hint


def _too(answer: int | float, correct: int | float) -> str:
    return "too high" if answer > correct else "too low"


def _scale_hint(answer: int | float, correct: int, unit: str) -> str | None:
    """A hint when the answer looks like the right number in thousands, millions or billions."""
    if answer <= 0 or correct <= 0:
        return None
    for factor, word, example in ((1e3, "thousands", "1_500"), (1e6, "millions", "1.5e6"),
                                  (1e9, "billions", "1.5e9")):
        if correct >= 0.1 * factor and abs(answer * factor - correct) <= 0.01 * correct:
            return (f"that looks like the count in {word}; give the plain number of {unit}, "
                    f"e.g. {example} rather than 1.5.")
    return None


# ---------------------------------------------------------------------------------------------
# output sizes
# ---------------------------------------------------------------------------------------------

def _size_mistakes(w: int, k: int, s: int, p: int, d: int) -> list[tuple[int, str]]:
    """What the output size comes out as under each classic mistake, with its hint."""
    span = d * (k - 1) + 1
    body = w + 2 * p - span
    mistakes = []
    if p:
        mistakes += [
            ((w - span) // s + 1, "it looks like you left out the padding: P zeros are added "
                                  "on each side before the kernel slides (W + 2P)."),
            ((w + p - span) // s + 1, "you added the padding once; it goes on both sides, so the "
                                      "input grows by 2P."),
            ((w - 2 * p - span) // s + 1, "padding makes the input bigger: + 2P, not − 2P."),
        ]
    if d > 1:
        mistakes.append(((w + 2 * p - k) // s + 1,
                         "you forgot the dilation: a kernel of size K with dilation D spans "
                         "D·(K − 1) + 1 pixels, so use that instead of K."))
    if s > 1:
        mistakes += [
            (body + 1, "you forgot to divide by the stride: the window moves S pixels per step. "
                       "(For pooling layers PyTorch's stride defaults to the kernel size.)"),
            (-(-body // s) + 1, "you rounded up; the formula takes the floor ⌊·⌋: a window "
                                "position that would reach past the padded input is dropped."),
        ]
    mistakes.append((body // s, "you forgot the + 1 (it comes after the division): the first "
                                "window position counts too."))
    if s != k:
        mistakes.append((body // k + 1,
                         "you used the kernel size as the stride. That is PyTorch's default for "
                         "pooling layers only; use the stride this layer has."))
    mistakes.append((w, "the size stays W only at stride 1 with 'same' padding, "
                        "P = D·(K − 1)/2; otherwise use ⌊(W + 2P − D·(K − 1) − 1)/S⌋ + 1."))
    return mistakes


def _size_hint(answer: int | float, correct: int, w: int, k: int, s: int, p: int,
               d: int) -> str:
    if not isinstance(answer, int):
        return ("output sizes are whole numbers: the formula takes the floor ⌊·⌋ of the "
                "division (the last window that does not fit is dropped).")
    concrete = f"{_SIZE_RULE} Here W={w}, K={k}, S={s}, P={p}, D={d}."
    fallback = _concrete(concrete, _SIZE_RULE, correct, (w, k, s, p, d))
    if answer < 1:
        fallback = "an output size is at least 1. " + fallback
    return _diagnose(answer, correct, _size_mistakes(w, k, s, p, d), fallback)


def check_conv_output_size(answer: Any, size: int | tuple[int, int], kernel: int | tuple[int, int],
                           stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                           dilation: int | tuple[int, int] = 1) -> bool:
    """Check the output size of a convolution or pooling layer (one side, or (height, width)).

    ``size`` is the input size. Pooling layers obey the same formula; give their stride
    explicitly (in PyTorch it defaults to the kernel size). Pass pairs for non-square inputs or
    kernels; the answer is then an (height, width) pair.

    Usage: ``check_conv_output_size(answer=28, size=28, kernel=5, padding=2)``
    """
    settings = [_pair(v, n) for v, n in ((size, "size"), (kernel, "kernel"), (stride, "stride"),
                                          (padding, "padding"), (dilation, "dilation"))]
    dims = [tuple(v[i] for v in settings) for i in (0, 1)]
    correct = tuple(conv_output_size(*dim) for dim in dims)
    square = dims[0] == dims[1]
    if isinstance(answer, (tuple, list, torch.Size)):
        answers = tuple(_number(a) for a in answer)
        if len(answers) != 2:
            raise ValueError(f"answer must be one size or a (height, width) pair, got {answer!r}")
    elif square:
        answers = (_number(answer),) * 2
    else:
        raise TypeError("this input or kernel is not square: give the answer as a "
                        "(height, width) pair, e.g. answer=(12, 30)")
    shown = _fmt(answers[0]) if square and not isinstance(answer, (tuple, list)) else str(answers)
    what = "the output size of this layer"
    if answers == correct:
        return _report(True, f"{shown} is {what}.")
    side = next(i for i in (0, 1) if answers[i] != correct[i])
    hint = _size_hint(answers[side], correct[side], *dims[side])
    if not square:
        hint = f"the {('height', 'width')[side]} is off: " + hint
    return _report(False, f"{shown} is not {what}.", hint)


def check_padding(answer: Any, size: int, kernel: int, target: int, stride: int = 1,
                  dilation: int = 1) -> bool:
    """Check a padding that turns an input of ``size`` into an output of ``target``.

    Any padding that gives ``target`` counts as right (the usual choice is the smallest).

    Usage: ``check_padding(answer=2, size=224, kernel=11, stride=4, target=55)``
    """
    size, kernel, target = _whole(size, "size"), _whole(kernel, "kernel"), _whole(target, "target")
    stride, dilation = _whole(stride, "stride"), _whole(dilation, "dilation")
    span = dilation * (kernel - 1) + 1
    valid = [p for p in range((target * stride + span) // 2 + 2) if span <= size + 2 * p
             and conv_output_size(size, kernel, stride, p, dilation) == target]
    if not valid:
        raise ValueError(f"no padding turns {size} into {target} with kernel {kernel}, stride "
                         f"{stride} and dilation {dilation}: check the numbers of the question")
    pad = _number(answer)
    if not isinstance(pad, int):
        return _report(False, f"{_fmt(pad)} is not a padding that gives {target}.",
                       "padding is a whole number of zero rows added on each side.")
    if pad in valid:
        extra = " (A smaller padding works too; the usual choice is the smallest.)" \
            if pad != valid[0] else ""
        return _report(True, f"padding {pad} gives an output of {target}.{extra}")
    if pad < 0:
        return _report(False, f"{pad} is not a padding that gives {target}.",
                       "padding adds zeros on each side, it cannot be negative.")
    general = ("solve ⌊(W + 2P − D·(K − 1) − 1)/S⌋ + 1 = target for P, the number of zeros "
               "added on each side.")
    if span > size + 2 * pad:
        return _report(False, f"with padding {pad} the kernel does not even fit the input.",
                       general)
    got = conv_output_size(size, kernel, stride, pad, dilation)
    hint = f"with padding {pad} the output would be {got}, {_too(got, target)}; {general}"
    if pad % 2 == 0 and pad // 2 in valid:
        hint = "P is the padding on each side: the input grows by 2P, not by P. Then " + general
    elif stride > 1 and pad == (kernel - 1) // 2:
        hint = "P = (K − 1)/2 keeps the size only at stride 1; " + hint
    return _report(False, f"{pad} is not a padding that gives {target}.", hint)


def _record_layers(model: nn.Module, input_shape: Any,
                   types: tuple[type[nn.Module], ...]) -> tuple[Any, list[tuple]]:
    """Run one zero sample through ``model``; (output, [(module, input shape, output shape)])."""
    records: list[tuple] = []

    def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        if isinstance(output, torch.Tensor) and inputs and isinstance(inputs[0], torch.Tensor):
            records.append((module, tuple(inputs[0].shape), tuple(output.shape)))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, types)]
    try:
        output = _run(model, input_shape)
    finally:
        for handle in handles:
            handle.remove()
    return output, records


def _run(model: nn.Module, input_shape: Any) -> Any:
    """The output of ``model`` (in eval mode, without gradients) for one all-zero sample."""
    shape = _input_shape(input_shape)
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(torch.zeros(1, *shape, device=device, dtype=dtype))
    except Exception as err:
        raise RuntimeError(
            f"{type(model).__name__} fails on one sample of shape {shape}: {err}\n"
            "input_shape is one sample without the batch dimension, e.g. (3, 32, 32). If the "
            "model itself breaks (that may be the point of the exercise), check the part that "
            "works, e.g. model[:6].") from err
    finally:
        model.train(was_training)


def check_feature_map_sizes(answer: Any, model: nn.Module, input_shape: Sequence[int]) -> bool:
    """Check the spatial size after every conv and pooling layer of ``model``, in order.

    ``answer`` lists one size per ``Conv``/``MaxPool``/``AvgPool`` layer as they run (adaptive
    pooling is skipped), each a number for square maps or an (height, width) pair.
    ``input_shape`` is one sample without the batch dimension.

    Usage: ``check_feature_map_sizes(answer=[28, 14, 10, 5], model=net, input_shape=(1, 28, 28))``
    """
    if not isinstance(answer, (list, tuple)) or not answer:
        raise TypeError("answer must be a list of sizes, one per conv/pooling layer in order, "
                        "e.g. answer=[28, 14, 10, 5]")
    _, records = _record_layers(model, input_shape, (*_CONVS, *_POOLS))
    if not records:
        raise ValueError(f"{type(model).__name__} has no conv or pooling layer to check")
    given = []
    for entry in answer:
        if isinstance(entry, (tuple, list, torch.Size)):
            given.append(tuple(_number(v) for v in entry))
        else:
            given.append(_number(entry))
    n = len(records)
    if len(given) != n:
        kinds = ", ".join(type(m).__name__ for m, _, _ in records)
        return _report(False, f"{len(given)} sizes for a model with {n} conv/pooling layers "
                              f"({kinds}).",
                       "give one size per conv and pooling layer, in the order they run; "
                       "pooling layers count too.")
    for i, (entry, (module, before, after)) in enumerate(zip(given, records)):
        out = after[2:]
        if isinstance(entry, tuple):
            if entry == out:
                continue
            side = next((j for j in range(min(len(entry), len(out))) if entry[j] != out[j]),
                        None)
            if len(entry) != len(out) or side is None:
                raise ValueError(f"entry {i + 1} of answer has {len(entry)} sides, the maps "
                                 f"have {len(out)}")
            value = entry[side]
        elif len(set(out)) > 1:
            raise TypeError(f"the map after layer {i + 1} is not square: give its size as an "
                            "(height, width) pair")
        elif entry == out[0]:
            continue
        else:
            side, value = 0, entry
        hint = _layer_size_hint(module, value, before[2 + side], out[side], side)
        ok_before = " (the sizes before it are right)" if i else ""
        return _report(False, f"size {i + 1} of {n} (after conv/pooling layer {i + 1}, a "
                              f"{type(module).__name__}) is not right{ok_before}.", hint)
    return _report(True, f"all {n} feature map sizes of {type(model).__name__} are right.")


def _layer_size_hint(module: nn.Module, answer: int | float, size: int, correct: int,
                     side: int) -> str:
    padding = getattr(module, "padding", 0)
    if isinstance(padding, str):
        return (f"this conv has padding={padding!r}: 'same' keeps the size (stride 1), "
                "'valid' means no padding.")
    settings = [getattr(module, name, 1) for name in ("kernel_size", "stride", "dilation")]
    k, s, d = (v[side] if isinstance(v, (tuple, list)) else v for v in settings)
    p = padding[side] if isinstance(padding, (tuple, list)) else padding
    if getattr(module, "ceil_mode", False):
        return "this pooling layer has ceil_mode=True: it rounds the division up, not down."
    return _size_hint(answer, correct, size, int(k), int(s), int(p), int(d))


def check_shape(answer: Any, model: nn.Module, input_shape: Sequence[int]) -> bool:
    """Check the output shape of ``model`` (or of a part of it, e.g. ``model[:4]``) for one sample.

    ``answer`` is the shape of one sample's output, e.g. ``(16, 14, 14)``, or with any leading
    batch size, ``(8, 16, 14, 14)``; after a ``Flatten`` a single number is fine.
    ``input_shape`` is one sample without the batch dimension.

    Usage: ``check_shape(answer=(6, 14, 14), model=LeNet5().features[:3], input_shape=(1, 28, 28))``
    """
    given = _shape(answer)
    output = _run(model, input_shape)
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"{type(model).__name__} returns a {type(output).__name__}, not a "
                        "tensor: check the part of it that returns the tensor you mean")
    correct = tuple(output.shape[1:])
    if len(given) == len(correct) + 1:
        given = given[1:]  # a batch dimension of any size
    shown = str(given[0]) if len(given) == 1 else str(given)
    what = f"the output shape of {type(model).__name__} for one sample"
    if given == correct:
        return _report(True, f"{shown} is {what}.")
    size = math.prod(correct)
    if len(given) != len(correct):
        hint = (f"one sample's output has {len(correct)} dimension"
                f"{'s' if len(correct) > 1 else ''}, your shape has {len(given)}.")
        if math.prod(given) == size:
            hint += " The number of elements is right: did you flatten, or forget to?"
    elif sorted(given) == sorted(correct):
        hint = ("right numbers, wrong order: PyTorch is channels-first, a sample is "
                "(C, H, W) and a batch (N, C, H, W).")
    elif len(correct) >= 2 and given[0] == correct[0]:
        hint = ("the channels are right, the spatial size is not: follow it layer by layer with "
                "⌊(W − K + 2P)/S⌋ + 1 (a pooling layer's stride defaults to its kernel size), "
                "or check every size with check_feature_map_sizes.")
    elif len(correct) >= 2 and given[1:] == correct[1:]:
        hint = ("the spatial size is right, the channels are not: a conv outputs out_channels "
                "channels, pooling and activations keep them, torch.cat along dim 1 adds them.")
    elif len(correct) == 1:
        hint = ("a Linear layer outputs out_features numbers; after Flatten the length is "
                "C·H·W of the last feature map.")
    else:
        hint = ("push a shape through the model layer by layer: channels come from the conv "
                "layers, sizes from ⌊(W − K + 2P)/S⌋ + 1.")
    return _report(False, f"{shown} is not {what}.", hint)


# ---------------------------------------------------------------------------------------------
# parameters of one layer
# ---------------------------------------------------------------------------------------------

def check_conv_params(answer: Any, in_channels: int, out_channels: int,
                      kernel: int | tuple[int, int], groups: int = 1, bias: bool = True) -> bool:
    """Check the parameter count of ``nn.Conv2d(in_channels, out_channels, kernel, groups, bias)``.

    Usage: ``check_conv_params(answer=2_416, in_channels=6, out_channels=16, kernel=5)``
    """
    c_in, c_out = _whole(in_channels, "in_channels"), _whole(out_channels, "out_channels")
    g = _whole(groups, "groups")
    kh, kw = _pair(kernel, "kernel")
    if g < 1 or c_in % g or c_out % g:
        raise ValueError(f"groups={g} must divide in_channels={c_in} and out_channels={c_out}")
    n = _number(answer)
    depth = c_in // g
    weights = c_out * depth * kh * kw
    b = c_out if bias else 0
    correct = weights + b
    layer = (f"Conv2d({c_in}, {c_out}, kernel_size={kh if kh == kw else (kh, kw)}"
             f"{f', groups={g}' if g > 1 else ''}{'' if bias else ', bias=False'})")
    if n == correct:
        return _report(True, f"{_fmt(n)} is the parameter count of {layer}.")
    if not isinstance(n, int):
        return _report(False, f"{_fmt(n)} is not the parameter count of {layer}.",
                       "a parameter count is a whole number.")
    depth_txt = str(c_in) if g == 1 else f"({c_in}/{g})"
    w_txt = f"{_times(kh, kw, depth_txt, c_out)} weights"
    shown = (kh, kw, c_in, c_out, g, depth)
    mistakes: list[tuple[Any, str]] = []
    if bias:
        mistakes.append((weights, f"you may have forgotten the bias: this conv has {w_txt} plus "
                                  f"{c_out} biases, one per output channel."))
        mistakes.append((weights + c_in, f"there is one bias per output channel ({c_out}), not "
                                         "per input channel."))
        mistakes.append((weights + c_out * depth, "there is one bias per output channel, not "
                                                  "one per (output, input) channel pair."))
    else:
        mistakes.append((weights + c_out, "this conv has bias=False (a BatchNorm follows it), "
                                          "so it has weights only."))
    if g > 1:
        mistakes += [
            (c_out * c_in * kh * kw + b, f"you forgot that groups divide the weights: with "
                                         f"groups={g} each filter sees only C_in/g = {c_in}/{g} "
                                         "input channels."),
            (weights // g + b, f"you counted one group: there are {g} groups side by side, "
                               f"each with C_out/g filters of depth C_in/g."),
        ]
    mistakes.append((c_out * kh * kw + b, f"you forgot the kernel's depth: each filter spans all "
                                          f"{depth_txt} input channels, so it has "
                                          f"{_times(kh, kw, depth_txt)} weights."))
    mistakes.append((c_out * kh * kw, "you forgot the kernel's depth (a filter spans the input "
                                      "channels) and the biases."))
    if kh == kw > 1:
        mistakes.append((c_out * depth * kh + b, f"a {kh}×{kw} kernel has {kh}·{kw} weights per "
                                                 "input channel, not "
                                                 f"{kh}."))
    fallback = _concrete(f"{_CONV_PARAMS_RULE} Here C_in={c_in}, C_out={c_out}, "
                         f"k_h×k_w={kh}×{kw}, g={g}, bias={bias}.", _CONV_PARAMS_RULE,
                         correct, shown)
    hint = _diagnose(n, correct, mistakes, fallback)
    hint = _concrete(hint, _CONV_PARAMS_RULE, correct, shown)
    return _report(False, f"{_fmt(n)} is not the parameter count of {layer}.", hint)


def check_linear_params(answer: Any, in_features: int, out_features: int,
                        bias: bool = True) -> bool:
    """Check the number of parameters of ``nn.Linear(in_features, out_features, bias=...)``.

    Usage: ``check_linear_params(answer=48_120, in_features=400, out_features=120)``
    """
    n_in, n_out = _whole(in_features, "in_features"), _whole(out_features, "out_features")
    n = _number(answer)
    weights = n_in * n_out
    correct = weights + (n_out if bias else 0)
    layer = f"Linear({n_in}, {n_out}{'' if bias else ', bias=False'})"
    if n == correct:
        return _report(True, f"{_fmt(n)} is the parameter count of {layer}.")
    general = ("a Linear layer has n_in·n_out weights (every input to every output) plus "
               "n_out biases when bias=True.")
    mistakes: list[tuple[Any, str]] = []
    if bias:
        mistakes += [
            (weights, f"you may have forgotten the bias: {_times(n_in, n_out)} weights plus "
                      f"{n_out} biases, one per output feature."),
            (weights + n_in, f"there is one bias per output feature ({n_out}), not per input."),
        ]
    else:
        mistakes.append((weights + n_out, "this layer has bias=False: weights only."))
    mistakes += [
        (n_in + n_out, "a Linear layer connects every input to every output: multiply, don't add."),
        (n_in + 2 * n_out, "a Linear layer connects every input to every output: multiply, "
                           "don't add."),
    ]
    concrete = f"{general} Here n_in={n_in}, n_out={n_out}, bias={bias}."
    hint = _diagnose(n, correct, mistakes, _concrete(concrete, general, correct, (n_in, n_out)))
    hint = _concrete(hint, general, correct, (n_in, n_out))
    return _report(False, f"{_fmt(n)} is not the parameter count of {layer}.", hint)


def check_conv_flops(answer: Any, in_channels: int, out_channels: int,
                     kernel: int | tuple[int, int], output_size: int | tuple[int, int],
                     groups: int = 1, rel_tol: float = 0.0) -> bool:
    """Check the forward FLOPs of one conv layer for one image (a multiply-add = 2 FLOPs).

    ``output_size`` is the size of the layer's *output* map (H' or (H', W')). Biases are not
    counted, as in ``count_flops``. ``rel_tol=0.01`` accepts answers within 1%.

    Usage: ``check_conv_flops(235_200, in_channels=1, out_channels=6, kernel=5, output_size=28)``
    """
    c_in, c_out = _whole(in_channels, "in_channels"), _whole(out_channels, "out_channels")
    g = _whole(groups, "groups")
    kh, kw = _pair(kernel, "kernel")
    oh, ow = _pair(output_size, "output_size")
    if g < 1 or c_in % g or c_out % g:
        raise ValueError(f"groups={g} must divide in_channels={c_in} and out_channels={c_out}")
    n = _number(answer)
    macs = oh * ow * c_out * (c_in // g) * kh * kw
    correct = 2 * macs

    def same(a: Any, b: Any) -> bool:
        return abs(a - b) <= rel_tol * abs(b)

    what = "the FLOPs of this conv for one image"
    if same(n, correct):
        return _report(True, f"{_fmt(n)} is {what}.")
    mistakes: list[tuple[Any, str]] = [
        (macs, "you counted multiply-adds (MACs); a multiply-add is 2 FLOPs (a multiply and an "
               "add), which is how torch.utils.flop_counter and cu.count_flops count."),
        (correct + oh * ow * c_out, "the bias additions are not counted (count_flops counts "
                                    "only the multiply-adds of convolutions and matrix products)."),
        (2 * c_out * (c_in // g) * kh * kw, "the kernels are applied at every output position: "
                                            "multiply by H'·W'."),
        (correct // ow if oh == ow else correct, "multiply by both H' and W' (the output map is "
                                                 "H'×W')."),
    ]
    if g > 1:
        mistakes += [
            (correct * g, f"groups divide the FLOPs as they divide the weights: each output "
                          f"channel reads only C_in/g = {c_in}/{g} input channels."),
            (macs * g, "groups divide the FLOPs, and a multiply-add is 2 FLOPs."),
        ]
    if kh == kw > 1:
        mistakes.append((correct // kw, f"a {kh}×{kw} kernel has {kh}·{kw} taps per input "
                                        "channel."))
    shown = (c_in, c_out, kh, kw, oh, ow, g)
    concrete = (f"{_CONV_FLOPS_RULE} Here H'×W'={oh}×{ow}, C_in={c_in}, C_out={c_out}, "
                f"k_h×k_w={kh}×{kw}, g={g}.")
    fallback = _scale_hint(n, correct, "FLOPs") or _concrete(concrete, _CONV_FLOPS_RULE, correct,
                                                               shown)
    hint = _concrete(_diagnose(n, correct, mistakes, fallback, same), _CONV_FLOPS_RULE, correct,
                     shown)
    return _report(False, f"{_fmt(n)} is not {what}.", hint)


# ---------------------------------------------------------------------------------------------
# receptive fields
# ---------------------------------------------------------------------------------------------

def _rf_layers(layers: Any) -> list[tuple[str, int, int, int]]:
    """(kind, kernel, stride, dilation) of each conv/pooling layer (first dimension if 2-D)."""
    if isinstance(layers, nn.Module):
        found = [(type(m).__name__, _first(m.kernel_size), _first(m.stride),
                  _first(getattr(m, "dilation", 1)))
                 for m in layers.modules() if isinstance(m, (*_CONVS, *_POOLS))]
        if not found:
            raise ValueError(f"{type(layers).__name__} has no conv or pooling layer")
        return found
    if isinstance(layers, (list, tuple)) and layers:
        found = []
        for item in layers:
            if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
                raise TypeError("layers must be a model or a list of (kernel, stride) or "
                                f"(kernel, stride, dilation) tuples, got the item {item!r}")
            k, s, d = (*(_whole(v, "layers") for v in item), 1)[:3]
            found.append(("layer", k, s, d))
        return found
    raise TypeError("layers must be an nn.Sequential (or a model whose conv/pooling layers are "
                    "registered in the order they run) or a list of (kernel, stride) tuples")


def _fields(layers: list[tuple[str, int, int, int]], variant: str = "right") -> list[int]:
    """The receptive field after each layer, computed right or with one classic mistake."""
    r, jump, fields = (0 if variant == "no_start" else 1), 1, []
    for kind, k, s, d in layers:
        span = k if variant == "no_dilation" else d * (k - 1) + 1
        if variant == "convs_only" and "Pool" in kind:
            fields.append(r)
            continue
        if variant == "own_stride":
            jump *= s
        step = jump if variant not in ("no_strides", "sum_kernels") else 1
        r += (span if variant in ("kernel_not_minus_one", "sum_kernels") else span - 1) * step
        if variant != "own_stride":
            jump *= s
        fields.append(r)
    if variant == "sum_kernels":
        fields = [f - 1 for f in fields]  # Σk, without the starting pixel
    return fields


_RF_MISTAKES = {
    "own_stride": "you included each layer's own stride in its jump: the jump before layer l "
                  "is the product of the strides of the layers *before* it.",
    "no_strides": "you ignored the strides: after a layer with stride s, neighbouring units are "
                  "s input pixels apart, so each later kernel tap reaches s times further "
                  "(multiply K − 1 by the jump).",
    "no_dilation": "a dilated kernel spans D·(K − 1) + 1 pixels; use that instead of K.",
    "sum_kernels": "the windows overlap: each layer adds (K − 1)·jump to the field, not K.",
    "kernel_not_minus_one": "each layer adds (K − 1)·jump, not K·jump: a K-wide window reaches "
                            "K − 1 pixels beyond the one it starts from.",
    "no_start": "start from r_0 = 1: before any layer a unit sees one pixel.",
    "convs_only": "pooling layers count too: a pooling window widens the field like a conv "
                  "kernel, and its stride multiplies the jump.",
}


def check_receptive_field(answer: Any, layers: Any) -> bool:
    """Check the receptive field after a stack of conv/pooling layers (one side, in pixels).

    ``layers`` is a plain stack without branches (its ``Conv``/``MaxPool``/``AvgPool`` layers
    in registration order, e.g. an ``nn.Sequential``) or a list of ``(kernel, stride)`` /
    ``(kernel, stride, dilation)`` tuples; for 2-D kernels the first side is used. ``answer``
    is the field after the last layer, or a list with the field after each conv/pooling layer
    (the table of notebook 01).

    Usage: ``check_receptive_field(answer=22, layers=make_cnn())``
    """
    spec = _rf_layers(layers)
    correct = _fields(spec)
    variants = {name: _fields(spec, name) for name in _RF_MISTAKES}
    if not any(d > 1 for _, _, _, d in spec):
        variants.pop("no_dilation")
    if not any("Pool" in kind for kind, _, _, _ in spec):
        variants.pop("convs_only")
    if isinstance(answer, (list, tuple)):
        given = [_number(a) for a in answer]
        if len(given) != len(spec):
            raise ValueError(f"answer has {len(given)} entries; give one receptive field per "
                             f"conv/pooling layer ({len(spec)}), in order")
        wrong = next((i for i in range(len(spec)) if given[i] != correct[i]), None)
        if wrong is None:
            return _report(True, f"all {len(spec)} receptive fields are right.")
        n, right, index = given[wrong], correct[wrong], wrong
        kind = "" if spec[wrong][0] == "layer" else f", a {spec[wrong][0]}"
        message = (f"entry {wrong + 1} of {len(spec)} (after conv/pooling layer {wrong + 1}"
                   f"{kind}) is not the receptive field there"
                   f"{' (the entries before it are right)' if wrong else ''}.")
    else:
        n, right, index = _number(answer), correct[-1], len(spec) - 1
        if n == right:
            return _report(True, f"{_fmt(n)} is the receptive field after the last layer.")
        message = f"{_fmt(n)} is not the receptive field after the last layer."
    if not isinstance(n, int):
        hint = "a receptive field is a whole number of pixels."
    else:
        mistakes = [(fields[index], _RF_MISTAKES[name]) for name, fields in variants.items()]
        hint = _diagnose(n, right, mistakes, _RF_RULE)
    return _report(False, message, hint)


# ---------------------------------------------------------------------------------------------
# whole models: parameters and FLOPs
# ---------------------------------------------------------------------------------------------

def _parameter_variants(model: nn.Module, trainable_only: bool) -> dict[str, int]:
    """The parameter count of ``model`` and what it comes out as under each classic mistake."""
    seen: set[int] = set()
    bias = norm = grouped = 0
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen or (trainable_only and not p.requires_grad):
                continue
            seen.add(id(p))
            if isinstance(module, _NORMS):
                norm += p.numel()
            elif name == "bias" and isinstance(module, _WEIGHTED):
                bias += p.numel()
            elif name == "weight" and isinstance(module, _CONVS) and module.groups > 1:
                grouped += p.numel() * (module.groups - 1)
    total = count_parameters(model, trainable_only)
    stats = sum(b.numel() for n, b in model.named_buffers()
                if n.rsplit(".", 1)[-1] in ("running_mean", "running_var"))
    tracked = sum(b.numel() for n, b in model.named_buffers()
                  if n.endswith("num_batches_tracked"))
    repeated = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False)
                   if p.requires_grad or not trainable_only)
    return {"total": total, "no_bias": total - bias, "no_norm": total - norm,
            "weights_only": total - bias - norm, "buffers": total + stats,
            "buffers_tracked": total + stats + tracked, "ungrouped": total + grouped,
            "repeated": repeated, "other_kind": count_parameters(model, not trainable_only),
            "biases": bias}


_PARAM_MISTAKES = {
    "no_bias": "you may have forgotten the biases: every Conv/Linear layer with bias=True has "
               "one bias per output channel (or output feature).",
    "no_norm": "you may have left out the normalisation layers: a BatchNorm (or LayerNorm) has "
               "a learned scale γ and shift β, 2 parameters per channel.",
    "weights_only": "you may have counted only the weights: add the biases and the "
                    "normalisation layers' γ and β.",
    "buffers": "BatchNorm's running_mean and running_var are buffers (statistics, not "
               "learned), not parameters.",
    "buffers_tracked": "BatchNorm's running_mean, running_var and num_batches_tracked are "
                       "buffers, not parameters.",
    "ungrouped": "you may have forgotten that groups divide the weights: a conv with groups=g "
                 "has filters of depth C_in/g, a weight of shape (C_out, C_in/g, k, k).",
    "repeated": "a parameter shared by two layers (tied weights) counts once.",
}


def _count_hint(n: int | float, correct: int, variants: dict[str, int],
                trainable_only: bool, fallback: str) -> str:
    if not isinstance(n, int):
        return _scale_hint(n, correct, "parameters") or "a parameter count is a whole number."
    mistakes = [(variants[key], hint) for key, hint in _PARAM_MISTAKES.items()]
    if trainable_only:
        mistakes.append((variants["other_kind"], "you counted the frozen parameters too: only "
                                                 "those with requires_grad=True train."))
    else:
        mistakes.append((variants["other_kind"], "this asks for all parameters, the frozen ones "
                                                 "(requires_grad=False) included."))
    return _diagnose(n, correct, mistakes,
                     _scale_hint(n, correct, "parameters")
                     or f"your answer is {_too(n, correct)}. {fallback}")


def check_parameter_count(answer: Any, model: nn.Module, trainable_only: bool = False) -> bool:
    """Check the number of parameters of ``model``, as ``count_parameters`` counts them.

    ``trainable_only=True``: only the parameters with ``requires_grad`` (what trains after
    freezing).

    Usage: ``check_parameter_count(answer=61_706, model=LeNet5())``
    """
    n = _number(answer)
    correct = count_parameters(model, trainable_only)
    what = f"the {'trainable ' if trainable_only else ''}parameter count of {type(model).__name__}"
    if n == correct:
        return _report(True, f"{_fmt(n)} is {what}.")
    fallback = ("Count layer by layer: conv C_out·(C_in/g·k_h·k_w + 1), linear (n_in + 1)·n_out, "
                "BatchNorm 2·C; activations, pooling, dropout and the running statistics have "
                "none.")
    hint = _count_hint(n, correct, _parameter_variants(model, trainable_only), trainable_only,
                       fallback)
    return _report(False, f"{_fmt(n)} is not {what}.", hint)


def check_parameter_difference(answer: Any, model_a: nn.Module, model_b: nn.Module,
                               trainable_only: bool = False) -> bool:
    """Check how many parameters two models differ by (saved, lost or added by a change).

    The sign does not matter: ``answer`` is compared with
    ``|count_parameters(model_a) − count_parameters(model_b)|``.

    Usage: ``check_parameter_difference(answer=4_224, model_a=with_bias, model_b=without_bias)``
    """
    n = _number(answer)
    a, b = (_parameter_variants(m, trainable_only) for m in (model_a, model_b))
    correct = abs(a["total"] - b["total"])
    what = "the difference between the two models' parameter counts"
    if isinstance(n, int) and abs(n) == correct:
        return _report(True, f"{_fmt(abs(n))} is {what}.")
    if not isinstance(n, int):
        return _report(False, f"{_fmt(n)} is not {what}.",
                       _scale_hint(abs(n), correct, "parameters")
                       or "a number of parameters is a whole number.")
    mistakes = [(abs(a[key] - b[key]), hint) for key, hint in _PARAM_MISTAKES.items()]
    mistakes += [
        (a["total"], "that is the whole count of model_a; the question asks for the difference "
                     "between the two models."),
        (b["total"], "that is the whole count of model_b; the question asks for the difference "
                     "between the two models."),
        (max(a["biases"], b["biases"]), "you counted every bias of the network; only the layers "
                                        "that changed count."),
    ]
    fallback = ("count only what changed, layer by layer (conv C_out·(C_in/g·k_h·k_w + 1), "
                "linear (n_in + 1)·n_out, BatchNorm 2·C) and subtract what replaced it.")
    hint = _diagnose(abs(n), correct, mistakes,
                     _scale_hint(abs(n), correct, "parameters") or fallback)
    return _report(False, f"{_fmt(n)} is not {what}.", hint)


def _flop_variants(model: nn.Module, input_shape: Any, correct: int) -> dict[str, int]:
    """What the FLOP count comes out as under each classic mistake."""
    _, records = _record_layers(model, input_shape, _WEIGHTED)
    bias_adds = once = ungrouped = 0
    for module, _, out in records:
        positions = math.prod(out[1:])
        if module.bias is not None:
            bias_adds += positions
        once += 2 * module.weight.numel()
        if isinstance(module, _CONVS) and module.groups > 1:
            per_out = module.weight[0].numel()  # C_in/g · k_h · k_w
            ungrouped += 2 * positions * per_out * (module.groups - 1)
    return {"macs": correct // 2, "bias": correct + bias_adds, "once": once,
            "ungrouped": correct + ungrouped, "double": correct * 2}


_FLOP_MISTAKES = {
    "macs": "you counted multiply-adds (MACs); a multiply-add is 2 FLOPs (a multiply and an "
            "add), which is how torch.utils.flop_counter and cu.count_flops count.",
    "bias": "count_flops counts only the multiply-adds of convolutions and matrix products, not "
            "the bias additions.",
    "once": "a conv uses each of its weights at every output position: its FLOPs are "
            "2·H'·W'·(its weights), not 2·(its weights).",
    "ungrouped": "groups divide the FLOPs as they divide the weights: each output channel reads "
                 "only C_in/g input channels.",
    "double": "a multiply-add is 2 FLOPs, counted once; you may have doubled twice.",
}


def check_flops(answer: Any, model: nn.Module, input_shape: Sequence[int],
                rel_tol: float = 0.0) -> bool:
    """Check the forward FLOPs of ``model`` for one sample, as ``count_flops`` counts them.

    Convolutions and matrix products only, a multiply-add = 2 FLOPs (``FlopCounterMode``).
    ``input_shape`` excludes the batch dimension. ``rel_tol=0.01`` accepts answers within 1%
    (handy for hand counts of big models).

    Usage: ``check_flops(answer=833_040, model=LeNet5(), input_shape=(1, 28, 28))``
    """
    n = _number(answer)
    shape = _input_shape(input_shape)
    was_training = model.training
    try:
        correct = count_flops(model, shape)
    except Exception:
        model.train(was_training)
        _run(model, shape)  # raises the error that names the fix
        raise

    def same(x: Any, y: Any) -> bool:
        return abs(x - y) <= rel_tol * abs(y)

    what = f"the FLOPs of {type(model).__name__} for one sample"
    if same(n, correct):
        return _report(True, f"{_fmt(n)} is {what}.")
    variants = _flop_variants(model, shape, correct)
    fallback = (f"your answer is {_too(n, correct)}. Only convolutions and matrix products "
                "count, 2 FLOPs per multiply-add: a conv costs 2·H'·W'·C_out·(C_in/g)·k_h·k_w "
                "(H'×W' its output), a linear layer 2·n_in·n_out; pooling, BatchNorm, "
                "activations and additions are not counted.")
    mistakes = [(variants[key], hint) for key, hint in _FLOP_MISTAKES.items()]
    hint = _diagnose(n, correct, mistakes, _scale_hint(n, correct, "FLOPs") or fallback, same)
    return _report(False, f"{_fmt(n)} is not {what}.", hint)
