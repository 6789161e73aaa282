"""The exercise self-checks: ✓ for right answers, ✗ with a hint that names the mistake and never
shows the right answer, and one clear error for a malformed answer."""

import re

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.checks import (
    check_conv_flops,
    check_conv_output_size,
    check_conv_params,
    check_feature_map_sizes,
    check_flops,
    check_linear_params,
    check_padding,
    check_parameter_count,
    check_parameter_difference,
    check_receptive_field,
    check_shape,
)
from course_utils.models import LeNet5


def make_cnn(dilation=1):
    """Notebook 01's CNN (receptive fields 3, 4, 8, 10, 18, 22); dilation for the last conv."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=dilation, dilation=dilation), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def frozen_lenet():
    model = LeNet5()
    model.features.requires_grad_(False)  # 61,706 parameters, 59,134 of them trainable
    return model


def tied():
    layer = nn.Linear(8, 8)  # 72 parameters, used twice
    return nn.Sequential(layer, nn.ReLU(), layer)


def conv_bn(bias=True):
    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=bias), nn.BatchNorm2d(8))


def without_conv_biases(model):
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.bias = None
    return model


LENET, CNN, CNN_DILATED = LeNet5(), make_cnn(), make_cnn(dilation=2)
GROUPED = nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False)


def run(capsys, check, *args, **kwargs):
    """(returned value, the printed line)"""
    result = check(*args, **kwargs)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    return result, lines[0]


def hint_of(line):
    assert line.startswith("✗ ") and " Hint: " in line, line
    return line.split(" Hint: ", 1)[1]


def reveals(text, number):
    """Whether ``number`` appears in ``text`` as a number of its own (1234, 1,234 or 1_234)."""
    forms = {str(number), f"{number:,}", f"{number:_}"}
    return any(re.search(rf"(?<![\d.,_]){re.escape(f)}(?![\d_]|[.,]\d)", text) for f in forms)


# (check, keyword arguments with the right answer); every other field of the call is the question
RIGHT = {
    "conv size": (check_conv_output_size, dict(answer=28, size=32, kernel=5)),
    "conv size same padding": (check_conv_output_size, dict(answer=32, size=32, kernel=5,
                                                            padding=2)),
    "conv size stride": (check_conv_output_size, dict(answer=15, size=32, kernel=3, stride=2)),
    "conv size dilation": (check_conv_output_size, dict(answer=28, size=32, kernel=3,
                                                        dilation=2)),
    "conv size pairs": (check_conv_output_size, dict(answer=(28, 100), size=(50, 100),
                                                     kernel=(3, 5), stride=(2, 1),
                                                     padding=(4, 2))),
    "padding": (check_padding, dict(answer=3, size=28, kernel=7, target=28)),
    "padding alexnet smallest": (check_padding, dict(answer=2, size=224, kernel=11, stride=4,
                                                     target=55)),
    "padding alexnet larger": (check_padding, dict(answer=3, size=224, kernel=11, stride=4,
                                                   target=55)),
    "feature maps": (check_feature_map_sizes, dict(answer=[28, 14, 10, 5], model=LENET,
                                                   input_shape=(1, 28, 28))),
    "feature maps pairs": (check_feature_map_sizes, dict(answer=[(28, 28), 14, 10, (5, 5)],
                                                         model=LENET, input_shape=(1, 28, 28))),
    "shape": (check_shape, dict(answer=(64, 3, 3), model=CNN[:9], input_shape=(1, 28, 28))),
    "shape with batch": (check_shape, dict(answer=(8, 64, 3, 3), model=CNN[:9],
                                           input_shape=(1, 28, 28))),
    "shape flattened": (check_shape, dict(answer=576, model=CNN[:10], input_shape=(1, 28, 28))),
    "shape torch.Size": (check_shape, dict(answer=torch.Size([6, 14, 14]),
                                           model=LENET.features[:3], input_shape=(1, 28, 28))),
    "conv params": (check_conv_params, dict(answer=73_856, in_channels=64, out_channels=128,
                                            kernel=3)),
    "conv params lenet": (check_conv_params, dict(answer=2_416, in_channels=6, out_channels=16,
                                                  kernel=5)),
    "conv params grouped": (check_conv_params, dict(answer=18_560, in_channels=64,
                                                    out_channels=128, kernel=3, groups=4)),
    "conv params no bias": (check_conv_params, dict(answer=73_728, in_channels=64,
                                                    out_channels=128, kernel=3, bias=False)),
    "conv params non-square": (check_conv_params, dict(answer=7_953, in_channels=16,
                                                       out_channels=33, kernel=(3, 5))),
    "linear params": (check_linear_params, dict(answer=48_120, in_features=400,
                                                out_features=120)),
    "linear params no bias": (check_linear_params, dict(answer=48_000, in_features=400,
                                                        out_features=120, bias=False)),
    "conv flops": (check_conv_flops, dict(answer=235_200, in_channels=1, out_channels=6,
                                          kernel=5, output_size=28)),
    "conv flops grouped": (check_conv_flops, dict(answer=147_456, in_channels=8, out_channels=8,
                                                  kernel=3, output_size=16, groups=2)),
    "conv flops within tolerance": (check_conv_flops, dict(answer=2.36e5, in_channels=1,
                                                           out_channels=6, kernel=5,
                                                           output_size=28, rel_tol=0.01)),
    "receptive field": (check_receptive_field, dict(answer=22, layers=CNN)),
    "receptive field table": (check_receptive_field, dict(answer=[3, 4, 8, 10, 18, 22],
                                                          layers=CNN)),
    "receptive field dilated": (check_receptive_field, dict(answer=30, layers=CNN_DILATED)),
    "receptive field tuples": (check_receptive_field, dict(answer=[3, 4, 8],
                                                           layers=[(3, 1), (2, 2), (3, 1)])),
    "parameters": (check_parameter_count, dict(answer=61_706, model=LENET)),
    "parameters trainable": (check_parameter_count, dict(answer=59_134, model=frozen_lenet(),
                                                         trainable_only=True)),
    "parameters float": (check_parameter_count, dict(answer=61706.0, model=LENET)),
    "parameters numpy": (check_parameter_count, dict(answer=np.int64(61_706), model=LENET)),
    "parameters tensor": (check_parameter_count, dict(answer=torch.tensor(61_706), model=LENET)),
    "difference": (check_parameter_difference, dict(answer=55_124, model_a=LENET.classifier,
                                                    model_b=nn.Linear(400, 10))),
    "difference sign": (check_parameter_difference, dict(answer=-55_124, model_a=LENET.classifier,
                                                         model_b=nn.Linear(400, 10))),
    "flops": (check_flops, dict(answer=833_040, model=LENET, input_shape=(1, 28, 28))),
    "flops within tolerance": (check_flops, dict(answer=8.4e5, model=LENET,
                                                 input_shape=(1, 28, 28), rel_tol=0.01)),
}


@pytest.mark.parametrize("check, kwargs", RIGHT.values(), ids=RIGHT.keys())
def test_a_right_answer_gets_a_tick(capsys, check, kwargs):
    result, line = run(capsys, check, **kwargs)
    assert result is True
    assert line.startswith("✓ ") and "Hint" not in line


# (check, question, wrong answer, right answer, what the hint must say)
MISTAKES = {
    # output sizes
    "size: padding left out": (check_conv_output_size, dict(size=32, kernel=5, padding=2), 28,
                               32, "left out the padding"),
    "size: padding once": (check_conv_output_size, dict(size=32, kernel=5, padding=2), 30, 32,
                           "padding once"),
    "size: padding subtracted": (check_conv_output_size, dict(size=32, kernel=5, padding=2), 24,
                                 32, "not − 2P"),
    "size: dilation": (check_conv_output_size, dict(size=32, kernel=3, dilation=2), 30, 28,
                       "forgot the dilation"),
    "size: stride": (check_conv_output_size, dict(size=32, kernel=3, stride=2), 30, 15,
                     "divide by the stride"),
    "size: ceil": (check_conv_output_size, dict(size=32, kernel=3, stride=2), 16, 15,
                   "rounded up"),
    "size: + 1": (check_conv_output_size, dict(size=32, kernel=5), 27, 28, "forgot the + 1"),
    "size: pooling stride": (check_conv_output_size, dict(size=32, kernel=3), 10, 30,
                             "kernel size as the stride"),
    "size: same size": (check_conv_output_size, dict(size=32, kernel=5), 32, 28,
                        "'same' padding"),
    "size: not whole": (check_conv_output_size, dict(size=32, kernel=3, stride=2), 15.5, 15,
                        "whole numbers"),
    "size: no known mistake": (check_conv_output_size, dict(size=32, kernel=3, stride=2), 40, 15,
                               "⌊(W − K + 2P)/S⌋ + 1"),
    "size: formula without the numbers that equal the answer": (
        check_conv_output_size, dict(size=32, kernel=5, padding=2), 20, 32, "⌊(W − K + 2P)/S⌋"),
    "size: the width of a pair": (
        check_conv_output_size, dict(size=(50, 100), kernel=(3, 5), stride=(2, 1),
                                     padding=(4, 2)), (28, 96), 100, "width is off"),
    # padding
    "padding: too small": (check_padding, dict(size=28, kernel=7, target=28), 1, 3, "too low"),
    "padding: both sides": (check_padding, dict(size=28, kernel=7, target=28), 6, 3,
                            "on each side"),
    "padding: same padding at stride 4": (
        check_padding, dict(size=224, kernel=11, stride=4, target=55), 5, None,
        "only at stride 1"),  # the answer, 2, is also a constant of the formula the hint shows
    "padding: negative": (check_padding, dict(size=28, kernel=7, target=28), -3, 3,
                          "cannot be negative"),
    # feature map sizes
    "maps: padding": (check_feature_map_sizes, dict(model=LENET, input_shape=(1, 28, 28)),
                      [24, 12, 8, 4], 28, "left out the padding"),
    "maps: + 1": (check_feature_map_sizes, dict(model=LENET, input_shape=(1, 28, 28)),
                  [28, 14, 10, 4], 5, "forgot the + 1"),
    "maps: pooling stride": (check_feature_map_sizes, dict(model=LENET, input_shape=(1, 28, 28)),
                             [28, 27, 10, 5], 14, "divide by the stride"),
    "maps: layers skipped": (check_feature_map_sizes, dict(model=LENET, input_shape=(1, 28, 28)),
                             [28, 10], 14, "pooling layers count too"),
    # shapes
    "shape: channels last": (check_shape, dict(model=CNN[:9], input_shape=(1, 28, 28)),
                             (3, 3, 64), 64, "channels-first"),
    "shape: spatial": (check_shape, dict(model=CNN[:9], input_shape=(1, 28, 28)), (64, 4, 4), 3,
                       "the spatial size is not"),
    "shape: channels": (check_shape, dict(model=CNN[:9], input_shape=(1, 28, 28)), (32, 3, 3),
                        64, "the channels are not"),
    "shape: flattened": (check_shape, dict(model=CNN[:9], input_shape=(1, 28, 28)), 576, 64,
                         "did you flatten"),
    "shape: linear": (check_shape, dict(model=CNN[:10], input_shape=(1, 28, 28)), 575, 576,
                      "C·H·W"),
    # one conv layer
    "conv: bias": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3), 73_728,
                   73_856, "3·3·64·128 weights plus 128 biases"),
    "conv: bias per input": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3),
                             73_792, 73_856, "not per input channel"),
    "conv: bias per pair": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3),
                            81_920, 73_856, "(output, input) channel pair"),
    "conv: bias=False": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3,
                                                 bias=False), 73_856, 73_728, "bias=False"),
    "conv: groups": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3,
                                             groups=4), 73_856, 18_560, "groups divide"),
    "conv: one group": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3,
                                                groups=4), 4_736, 18_560, "one group"),
    "conv: depth": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3), 1_280,
                    73_856, "kernel's depth"),
    "conv: depth and bias": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3),
                             1_152, 73_856, "and the biases"),
    "conv: k not squared": (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3),
                            24_704, 73_856, "3·3 weights per input channel"),
    "conv: no known mistake": (check_conv_params, dict(in_channels=64, out_channels=128,
                                                       kernel=3), 1_000, 73_856,
                               "C_out·(C_in/g·k_h·k_w + 1)"),
    # one linear layer
    "linear: bias": (check_linear_params, dict(in_features=400, out_features=120), 48_000,
                     48_120, "400·120 weights plus 120 biases"),
    "linear: bias per input": (check_linear_params, dict(in_features=400, out_features=120),
                               48_400, 48_120, "not per input"),
    "linear: bias=False": (check_linear_params, dict(in_features=400, out_features=120,
                                                     bias=False), 48_120, 48_000, "bias=False"),
    "linear: added": (check_linear_params, dict(in_features=400, out_features=120), 520, 48_120,
                      "multiply, don't add"),
    "linear: no known mistake": (check_linear_params, dict(in_features=400, out_features=120),
                                 1_000, 48_120, "n_in·n_out weights"),
    # FLOPs of one conv
    "conv flops: MACs": (check_conv_flops, dict(in_channels=1, out_channels=6, kernel=5,
                                                output_size=28), 117_600, 235_200, "(MACs)"),
    "conv flops: bias": (check_conv_flops, dict(in_channels=1, out_channels=6, kernel=5,
                                                output_size=28), 239_904, 235_200,
                         "bias additions"),
    "conv flops: positions": (check_conv_flops, dict(in_channels=1, out_channels=6, kernel=5,
                                                     output_size=28), 300, 235_200,
                              "every output position"),
    "conv flops: one side": (check_conv_flops, dict(in_channels=1, out_channels=6, kernel=5,
                                                    output_size=28), 8_400, 235_200,
                             "both H' and W'"),
    "conv flops: groups": (check_conv_flops, dict(in_channels=8, out_channels=8, kernel=3,
                                                  output_size=16, groups=2), 294_912, 147_456,
                           "groups divide the FLOPs"),
    "conv flops: k not squared": (check_conv_flops, dict(in_channels=1, out_channels=6, kernel=5,
                                                         output_size=28), 47_040, 235_200,
                                  "5·5 taps"),
    "conv flops: millions": (check_conv_flops, dict(in_channels=1, out_channels=6, kernel=5,
                                                    output_size=28), 0.2352, 235_200,
                             "in millions"),
    # receptive fields
    "field: own stride": (check_receptive_field, dict(layers=CNN), 29, 22, "own stride"),
    "field: no strides": (check_receptive_field, dict(layers=CNN), 10, 22, "ignored the strides"),
    "field: sum of kernels": (check_receptive_field, dict(layers=CNN), 15, 22,
                              "the windows overlap"),
    "field: K instead of K − 1": (check_receptive_field, dict(layers=CNN), 36, 22,
                                  "not K·jump"),
    "field: no start": (check_receptive_field, dict(layers=CNN), 21, 22, "start from r_0 = 1"),
    "field: pooling skipped": (check_receptive_field, dict(layers=CNN), 7, 22,
                               "pooling layers count too"),
    "field: dilation": (check_receptive_field, dict(layers=CNN_DILATED), 22, 30,
                        "a dilated kernel spans"),
    "field: table entry": (check_receptive_field, dict(layers=CNN), [3, 4, 8, 11, 18, 22], 10,
                           "the entries before it are right"),
    "field: table entry mistake": (check_receptive_field, dict(layers=CNN), [3, 4, 8, 13, 21, 29],
                                   10, "own stride"),
    "field: no known mistake": (check_receptive_field, dict(layers=CNN), 40, 22,
                                "r_l = r_(l−1) + (K_l − 1)·j_(l−1)"),
    # parameters of a model
    "params: biases": (check_parameter_count, dict(model=LENET), 61_470, 61_706,
                       "forgotten the biases"),
    "params: batchnorm": (check_parameter_count, dict(model=conv_bn(bias=False)), 216, 232,
                          "normalisation layers"),
    "params: weights only": (check_parameter_count, dict(model=conv_bn()), 216, 240,
                             "only the weights"),
    "params: buffers": (check_parameter_count, dict(model=conv_bn(bias=False)), 248, 232,
                        "running_mean and running_var are buffers"),
    "params: buffers and counter": (check_parameter_count, dict(model=conv_bn(bias=False)), 249,
                                    232, "num_batches_tracked"),
    "params: groups": (check_parameter_count, dict(model=GROUPED), 576, 288, "groups divide"),
    "params: tied": (check_parameter_count, dict(model=tied()), 144, 72, "counts once"),
    "params: frozen counted": (check_parameter_count, dict(model=frozen_lenet(),
                                                           trainable_only=True), 61_706, 59_134,
                               "frozen parameters too"),
    "params: frozen left out": (check_parameter_count, dict(model=frozen_lenet()), 59_134,
                                61_706, "frozen ones"),
    "params: thousands": (check_parameter_count, dict(model=LENET), 61.7, 61_706,
                          "in thousands"),
    "params: no known mistake": (check_parameter_count, dict(model=LENET), 70_000, 61_706,
                                 "too high"),
    # parameter differences
    "difference: a model's total": (
        check_parameter_difference, dict(model_a=LENET.classifier, model_b=nn.Linear(400, 10)),
        59_134, 55_124, "whole count of model_a"),
    "difference: every bias": (
        check_parameter_difference,
        dict(model_a=nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 40)),
             model_b=without_conv_biases(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8),
                                                       nn.Linear(8, 40)))),
        48, 8, "every bias"),
    "difference: biases forgotten": (
        check_parameter_difference, dict(model_a=LeNet5(), model_b=without_conv_biases(LeNet5())),
        0, 22, "forgotten the biases"),
    "difference: no known mistake": (
        check_parameter_difference, dict(model_a=LENET.classifier, model_b=nn.Linear(400, 10)),
        1_000, 55_124, "count only what changed"),
    # FLOPs of a model
    "flops: MACs": (check_flops, dict(model=LENET, input_shape=(1, 28, 28)), 416_520, 833_040,
                    "(MACs)"),
    "flops: bias": (check_flops, dict(model=LENET, input_shape=(1, 28, 28)), 839_558, 833_040,
                    "not the bias additions"),
    "flops: positions": (check_flops, dict(model=LENET, input_shape=(1, 28, 28)), 122_940,
                         833_040, "every output position"),
    "flops: groups": (check_flops, dict(model=GROUPED, input_shape=(8, 16, 16)), 294_912,
                      147_456, "groups divide the FLOPs"),
    "flops: doubled twice": (check_flops, dict(model=LENET, input_shape=(1, 28, 28)), 1_666_080,
                             833_040, "doubled twice"),
    "flops: millions": (check_flops, dict(model=LENET, input_shape=(1, 28, 28)), 0.833, 833_040,
                        "in millions"),
    "flops: no known mistake": (check_flops, dict(model=LENET, input_shape=(1, 28, 28)), 10**6,
                                833_040, "too high"),
}


@pytest.mark.parametrize("check, question, wrong, right, says", MISTAKES.values(),
                         ids=MISTAKES.keys())
def test_a_mistake_gets_its_hint_and_not_the_answer(capsys, check, question, wrong, right, says):
    result, line = run(capsys, check, wrong, **question)
    assert result is False
    hint = hint_of(line)
    assert says in line
    assert right is None or not reveals(hint, right), hint


def test_the_whole_line_of_a_wrong_answer_hides_the_answer(capsys):
    for check, question, answer, right in [
        (check_conv_params, dict(in_channels=64, out_channels=128, kernel=3), 73_728, 73_856),
        (check_parameter_count, dict(model=LENET), 61_470, 61_706),
        (check_flops, dict(model=LENET, input_shape=(1, 28, 28)), 416_520, 833_040),
        (check_receptive_field, dict(layers=CNN), 29, 22),
        (check_padding, dict(size=28, kernel=7, target=28), 1, 3),
    ]:
        _, line = run(capsys, check, answer, **question)
        assert not reveals(line, right), line


def test_hints_keep_the_numbers_when_they_do_not_give_the_answer_away(capsys):
    _, line = run(capsys, check_conv_output_size, 40, size=32, kernel=3, stride=2)
    assert "W=32, K=3, S=2, P=0, D=1" in hint_of(line)
    _, line = run(capsys, check_conv_output_size, 20, size=32, kernel=5, padding=2)
    assert "W=" not in hint_of(line)  # 32 would be the answer: the formula alone
    _, line = run(capsys, check_conv_params, 1_000, in_channels=8, out_channels=8, kernel=1,
                  groups=8, bias=False)  # a depthwise 1x1 conv has C_out parameters
    assert not reveals(hint_of(line), 8)


@pytest.mark.parametrize("answer, message", [
    (..., "replace it with your number"),
    (None, "replace it with your number"),
    ("73856", "without quotes, e.g. answer=73856"),
    ("73,856", "answer=73_856"),
    ((73, 856), "is the tuple"),
    (True, "must be a number"),
    ([1.5, 2], "must be a number"),
    (torch.ones(2), "one number"),
])
def test_a_malformed_answer_raises_one_clear_error(answer, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        check_conv_params(answer, in_channels=64, out_channels=128, kernel=3)


def test_malformed_questions_and_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="must divide"):
        check_conv_params(1, in_channels=6, out_channels=16, kernel=3, groups=4)
    with pytest.raises(TypeError, match=r"\(height, width\) pair"):
        check_conv_output_size(24, size=(50, 100), kernel=3)
    with pytest.raises(ValueError, match="does not fit"):
        check_conv_output_size(1, size=3, kernel=5)
    with pytest.raises(ValueError, match="no padding turns"):
        check_padding(1, size=28, kernel=3, target=10)
    with pytest.raises(TypeError, match="a shape such as"):
        check_shape("(64, 3, 3)", model=CNN[:9], input_shape=(1, 28, 28))
    with pytest.raises(RuntimeError, match="without the batch dimension"):
        check_shape((64, 3, 3), model=CNN[:9], input_shape=(1, 1, 28, 28))
    with pytest.raises(RuntimeError, match="without the batch dimension"):
        check_flops(1, model=LENET, input_shape=(3, 28, 28))
    with pytest.raises(TypeError, match="a list of sizes"):
        check_feature_map_sizes(28, model=LENET, input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="one receptive field per"):
        check_receptive_field([3, 4], layers=CNN)
    with pytest.raises(TypeError, match=r"\(kernel, stride\)"):
        check_receptive_field(3, layers=[3, 1])


def test_model_checks_leave_the_model_as_they_found_it(capsys):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten())
    model.train()
    check_shape((4, 2, 2), model, (3, 4, 4))
    check_flops(1, model, (3, 4, 4))
    check_feature_map_sizes([2], model, (3, 4, 4))
    capsys.readouterr()
    assert model.training and model[1].num_batches_tracked.item() == 0
    assert all(not m._forward_hooks for m in model.modules())


def test_model_checks_work_on_the_meta_device(capsys):
    with torch.device("meta"):
        model = LeNet5()
    assert check_parameter_count(61_706, model)
    assert check_shape(10, model, (1, 28, 28))
    assert check_flops(833_040, model, (1, 28, 28))
    capsys.readouterr()
