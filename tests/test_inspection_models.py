"""Inspection helpers and the shared architectures (against known parameter counts)."""

import itertools

import pytest
import torch
import torchvision
from torch import nn

import course_utils as cu
from course_utils import models


@pytest.mark.parametrize("size, k, s, p, d", [
    c for c in itertools.product([5, 7, 28, 32, 33], [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2])
    if c[0] + 2 * c[3] >= c[4] * (c[1] - 1) + 1
])
def test_conv_output_size_matches_conv2d(size, k, s, p, d):
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    out = conv(torch.zeros(1, 1, size, size)).shape[-1]
    assert cu.conv_output_size(size, k, s, p, d) == out


def test_conv_output_size_seed_examples_and_errors():
    assert cu.conv_output_size(5, 3, stride=1) == 3
    assert cu.conv_output_size(5, 3, stride=2) == 2
    with pytest.raises(ValueError, match="does not fit"):
        cu.conv_output_size(3, 5)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        cu.conv_output_size(5, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        cu.conv_output_size(5, 3, padding=-1)


def test_count_flops_matches_the_formula():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=False)
    assert cu.count_flops(conv, (16, 8, 8)) == 2 * 32 * 8 * 8 * 16 * 9
    by_module = cu.flops_by_module(nn.Sequential(conv, nn.Flatten(), nn.Linear(2048, 10)),
                                   (16, 8, 8))
    assert by_module["0"] == 2 * 32 * 8 * 8 * 16 * 9 and by_module["2"] == 2 * 2048 * 10


def test_parameter_counts_and_trainable():
    m = models.LeNet5()
    assert cu.count_parameters(m) == 61_706
    m.features.requires_grad_(False)
    assert cu.count_parameters(m, trainable_only=True) == 61_706 - 156 - 2_416


def test_summary_and_tables():
    text = str(cu.model_summary(models.LeNet5(), (1, 28, 28)))
    assert "61,706" in text and "[1, 16, 5, 5]" in text
    table = cu.results_table([{"model": "a", "acc": 0.5}, {"model": "b", "params": 10}])
    assert str(table).startswith("| model")  # printed: a GitHub-style text table
    assert "<table>" in table._repr_html_() and "params" in table._repr_html_()  # Jupyter/Colab
    import copy
    import pickle

    for clone in (copy.deepcopy(table), pickle.loads(pickle.dumps(table))):
        assert clone == table and clone._repr_html_() == table._repr_html_()
    assert "<table>" in cu.compare_models({"lenet": models.LeNet5()}, (1, 28, 28),
                                          tablefmt="html")
    with pytest.raises(ValueError, match="at least one row"):
        cu.results_table([])


@pytest.mark.parametrize("factory, expected, shape", [
    (lambda: models.LeNet5(), 61_706, (1, 28, 28)),
    (lambda: models.LeNet5(in_channels=3, padding=0), 62_006, (3, 32, 32)),
    (lambda: models.cifar_resnet(20), 269_722, (3, 32, 32)),
    (lambda: models.cifar_resnet(56), 853_018, (3, 32, 32)),
    (lambda: models.cifar_resnet(20, residual=False), 269_722, (3, 32, 32)),
    # option B adds a 1x1 conv + BN at each of the two downsampling blocks
    (lambda: models.cifar_resnet(20, shortcut="B"), 269_722 + (16 * 32 + 2 * 32)
     + (32 * 64 + 2 * 64), (3, 32, 32)),
    (lambda: models.small_resnet(), 272_378, (3, 32, 32)),
    (lambda: models.small_resnet(preact=True), 272_250, (3, 32, 32)),
])
def test_cifar_models_parameter_counts_and_shapes(factory, expected, shape):
    model = factory()
    assert cu.count_parameters(model) == expected
    assert model(torch.randn(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101",
                                  "resnet152", "resnext50_32x4d"])
def test_imagenet_resnets_match_torchvision_state_dicts(name):
    ours = getattr(models, name)().state_dict()
    theirs = getattr(torchvision.models, name)(weights=None).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_resnet_children_follow_torchvision_so_the_feature_extractor_idiom_works():
    theirs = torchvision.models.resnet18(weights=None).eval()
    ours = models.resnet18().eval()
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    ours.load_state_dict(theirs.state_dict())
    with torch.no_grad():
        ours.bn1.weight.uniform_(-1, 1)  # negative BN scales: relu and max-pool do not commute
    backbone = nn.Sequential(*list(ours.children())[:-2])
    x = torch.randn(2, 3, 64, 64)
    expected = ours.layer4(ours.layer3(ours.layer2(ours.layer1(
        ours.maxpool(ours.relu(ours.bn1(ours.conv1(x))))))))
    torch.testing.assert_close(backbone(x), expected)


def test_inspection_of_a_parameter_free_model():
    pool = nn.MaxPool2d(2)
    assert cu.count_flops(pool, (1, 8, 8)) == 0
    assert cu.measure_throughput(pool, (1, 8, 8), batch_size=4, steps=2) > 0


def test_torchvision_weights_load_into_our_resnet18():
    theirs = torchvision.models.resnet18(weights=None).eval()
    ours = models.resnet18().eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_bad_depth_and_shortcut():
    with pytest.raises(ValueError, match="6n\\+2"):
        models.cifar_resnet(21)
    with pytest.raises(ValueError, match="'A', 'B' or 'conv'"):
        models.cifar_resnet(20, shortcut="C")
    with pytest.raises(ValueError, match="activation must be one of"):
        models.LeNet5(activation="swish")
