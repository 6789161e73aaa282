"""Notebook 04 (ResNet and the degradation problem): the models it teaches are the right ones.

* The ImageNet ResNet-18 / ResNet-50 of ``course_utils.models`` have torchvision's exact
  ``state_dict`` layout (keys, order, shapes) and compute the same function.
* The CIFAR-10 family of He et al. section 4.2 has the paper's parameter counts, plain and
  residual twins are identical in size, and option B costs 2,752 extra parameters.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

import course_utils as cu
from course_utils.models import (
    BasicBlock,
    Bottleneck,
    PreActBlock,
    ShortcutA,
    cifar_resnet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)


def _layout(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


@pytest.mark.parametrize("name, ours", [("resnet18", resnet18), ("resnet50", resnet50)])
def test_imagenet_state_dict_matches_torchvision(name, ours):
    theirs = getattr(torchvision.models, name)(weights=None)  # weights=None: no download
    assert _layout(ours()) == _layout(theirs)


def test_resnet18_loads_torchvision_weights_and_matches_outputs():
    torch.manual_seed(0)
    ours, theirs = resnet18().eval(), torchvision.models.resnet18(weights=None).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)


@pytest.mark.parametrize("make, params", [(resnet18, 11_689_512), (resnet34, 21_797_672),
                                          (resnet50, 25_557_032), (resnet101, 44_549_160),
                                          (resnet152, 60_192_808)])
def test_imagenet_parameter_counts(make, params):
    with torch.device("meta"):
        assert cu.count_parameters(make()) == params


def test_cifar_stem_resnet18():
    model = resnet18(stem="cifar", num_classes=10)
    assert cu.count_parameters(model) == 11_173_962
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("depth, params", [(20, 269_722), (56, 853_018)])
def test_cifar_resnet_counts(depth, params):
    res, plain = cifar_resnet(depth), cifar_resnet(depth, residual=False)
    assert cu.count_parameters(res) == cu.count_parameters(plain) == params
    assert cu.count_parameters(cifar_resnet(depth, shortcut="B")) == params + 2_752
    assert res(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cifar_resnet_depth_and_shapes():
    model = cifar_resnet(56)
    layers = [n for n, m in model.named_modules()
              if isinstance(m, (nn.Conv2d, nn.Linear)) and "downsample" not in n]
    assert len(layers) == 56
    x = model.relu(model.bn1(model.conv1(torch.randn(1, 3, 32, 32))))
    shapes = []
    for stage in model.layers:
        x = stage(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8)]


def test_blocks():
    assert cu.count_parameters(BasicBlock(16, 16)) == 4_672
    assert cu.count_parameters(PreActBlock(16, 16)) == 4_672
    assert cu.count_parameters(Bottleneck(256, 64)) == 70_400
    x = torch.randn(2, 16, 32, 32)
    y = ShortcutA(16, 32)(x)
    assert y.shape == (2, 32, 16, 16) and torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, :8]) == 0 and torch.count_nonzero(y[:, 24:]) == 0


def test_resnet50_v15_stride_on_3x3():
    model = resnet50()
    for stage in (model.layer2, model.layer3, model.layer4):
        assert stage[0].conv1.stride == (1, 1) and stage[0].conv2.stride == (2, 2)
    with torch.device("meta"):
        assert cu.count_flops(resnet50(), (3, 224, 224)) == 8_178_368_512
