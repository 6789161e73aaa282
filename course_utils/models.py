"""Models shared by several notebooks, written in the style of torchvision's ``resnet.py``.

* ``LeNet5`` -- notebooks 02 and 03, and the benchmark.
* ``BasicBlock``, ``Bottleneck``, ``ResNet`` and ``resnet18`` ... ``resnext50_32x4d`` -- the
  ImageNet family (notebooks 04, 05, 08); state_dict keys and shapes equal torchvision's.
* ``PreActBlock``, ``ShortcutA``, ``CifarResNet``, ``cifar_resnet`` and ``small_resnet`` -- the
  CIFAR-10 family of He et al. section 4.2 (plain and residual, notebook 04) and the seed-002
  ResNet / pre-activation ResNet (notebook 06, the benchmark).

Usage::

    from course_utils.models import LeNet5, cifar_resnet, resnet50
    model = cifar_resnet(20)            # 269,722 parameters
    plain = cifar_resnet(56, residual=False)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LeNet5", "BasicBlock", "Bottleneck", "PreActBlock", "ShortcutA", "ResNet",
           "CifarResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
           "resnext50_32x4d", "cifar_resnet", "small_resnet"]


class LeNet5(nn.Module):
    """LeNet-5: conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> FC 120 -> 84 -> classes.

    ``activation``/``pool`` choose the modern (``"relu"``, ``"max"``) or the 1998 flavour
    (``"tanh"``, ``"avg"``). For 28x28 MNIST use ``padding=2`` (the default) so the flattened
    size is the classic 16*5*5 = 400; for 32x32 CIFAR-10 use ``in_channels=3, padding=0``.

    Usage: ``LeNet5()`` (61,706 parameters)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, padding: int = 2,
                 activation: str = "relu", pool: str = "max") -> None:
        super().__init__()
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
        pools = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
        if activation not in acts or pool not in pools:
            raise ValueError(f"activation must be one of {list(acts)} and pool one of "
                             f"{list(pools)}; got {activation!r}, {pool!r}")
        act, pool_cls = acts[activation], pools[pool]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding), act(),
            pool_cls(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), act(),
            pool_cls(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1,
            dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding (no bias: a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution (no bias)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm; ``out = relu(F(x) + shortcut(x))``.

    ``residual=False`` drops the shortcut: the block of a *plain* network.

    Usage: ``BasicBlock(64, 64)``
    """

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64,
                 dilation: int = 1, norm_layer: Callable[..., nn.Module] | None = None,
                 residual: bool = True) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64; "
                             "use Bottleneck for ResNeXt.")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand (x4), plus the shortcut.

    The stride sits on the 3x3 conv ("ResNet v1.5", as torchvision), not on the first 1x1.
    The 3x3 conv has ``width = int(planes * base_width / 64) * groups`` channels.

    Usage: ``Bottleneck(256, 64)`` (ResNet-50) or ``Bottleneck(256, 64, groups=32, base_width=4)``
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64,
                 dilation: int = 1, norm_layer: Callable[..., nn.Module] | None = None,
                 residual: bool = True) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class PreActBlock(nn.Module):
    """Pre-activation block (He et al. 2016): ``out = F(x) + shortcut(x)`` with
    ``F = conv(act(bn(conv(act(bn(x))))))`` -- nothing after the addition, a clean identity path.

    Usage: ``PreActBlock(16, 16)``
    """

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64,
                 dilation: int = 1, norm_layer: Callable[..., nn.Module] | None = None,
                 residual: bool = True) -> None:
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm2d
        self.bn1 = norm_layer(inplanes)
        self.relu = nn.ReLU(inplace=False)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return out


class ShortcutA(nn.Module):
    """Option A shortcut (He et al. 2015): take every other pixel and zero-pad the new channels.

    Parameter-free, so ResNet-20 keeps 269,722 parameters.

    Usage: ``ShortcutA(16, 32)(torch.zeros(1, 16, 32, 32)).shape  # (1, 32, 16, 16)``
    """

    def __init__(self, inplanes: int, planes: int, stride: int = 2) -> None:
        super().__init__()
        self.extra, self.stride = planes - inplanes, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class ResNet(nn.Module):
    """The ImageNet ResNet family (torchvision layout), optionally with a CIFAR stem.

    ``stem="imagenet"``: 7x7 stride-2 conv + 3x3 stride-2 max-pool (224x224 input).
    ``stem="cifar"``: one 3x3 stride-1 conv and no max-pool (32x32 input, seed 001).

    Usage: ``ResNet(BasicBlock, [2, 2, 2, 2])`` (ResNet-18)
    """

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: Sequence[int],
                 num_classes: int = 1000, zero_init_residual: bool = False, groups: int = 1,
                 width_per_group: int = 64, stem: str = "imagenet",
                 norm_layer: Callable[..., nn.Module] | None = None) -> None:
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self._norm_layer = norm_layer or nn.BatchNorm2d
        self.inplanes, self.dilation = 64, 1
        self.groups, self.base_width = groups, width_per_group
        # Registered in forward order, like torchvision: list(model.children())[:-2] is then
        # the feature extractor (conv1, bn1, relu, maxpool, layer1..4).
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = self._norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = (nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
                                   if stem == "imagenet" else nn.Identity())
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self, zero_init_residual)

    def _make_layer(self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int,
                    stride: int = 1) -> nn.Sequential:
        """One stage: the first block may change stride/width (projection shortcut, option B)."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       self._norm_layer(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        self.dilation, self._norm_layer)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                         dilation=self.dilation, norm_layer=self._norm_layer)
                   for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """Kaiming-normal convs, BN weight 1 / bias 0; optionally zero the last BN of each block."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.constant_(m.bn3.weight, 0)
            elif isinstance(m, BasicBlock):
                nn.init.constant_(m.bn2.weight, 0)


def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18 (11,689,512 parameters with 1000 classes). Usage: ``resnet18(num_classes=10)``"""
    return ResNet(BasicBlock, [2, 2, 2, 2], **kwargs)


def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34 (21,797,672 parameters). Usage: ``resnet34()``"""
    return ResNet(BasicBlock, [3, 4, 6, 3], **kwargs)


def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50 (25,557,032 parameters). Usage: ``resnet50()``"""
    return ResNet(Bottleneck, [3, 4, 6, 3], **kwargs)


def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101 (44,549,160 parameters). Usage: ``resnet101()``"""
    return ResNet(Bottleneck, [3, 4, 23, 3], **kwargs)


def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152 (60,192,808 parameters). Usage: ``resnet152()``"""
    return ResNet(Bottleneck, [3, 8, 36, 3], **kwargs)


def resnext50_32x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (25,028,904 parameters). Usage: ``resnext50_32x4d()``"""
    return ResNet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4, **kwargs)


class CifarResNet(nn.Module):
    """The CIFAR-10 ResNet family: a 3x3 stem, three stages on 32/16/8 maps, pool, FC.

    * ``shortcut``: how the first block of a stage matches shapes -- ``"A"`` (identity with
      zero-padding, parameter-free), ``"B"`` (1x1 conv + BN projection) or ``"conv"`` (1x1
      stride-2 conv with bias, no BN: the seed-002 ResNet).
    * ``residual=False`` removes every shortcut: the *plain* network of the same depth.
    * ``block=PreActBlock``: pre-activation ResNet (the stem is then a bare conv, and the
      downsampling shortcut is BN -> ReLU -> 1x1 conv, as seed 002).

    Usage: ``CifarResNet(BasicBlock, [3, 3, 3])`` (ResNet-20)
    """

    def __init__(self, block: type[BasicBlock | PreActBlock], layers: Sequence[int],
                 widths: Sequence[int] = (16, 32, 64), num_classes: int = 10,
                 shortcut: str = "A", residual: bool = True) -> None:
        super().__init__()
        if shortcut not in ("A", "B", "conv"):
            raise ValueError(f"shortcut must be 'A', 'B' or 'conv', got {shortcut!r}")
        if len(layers) != len(widths):
            raise ValueError(f"{len(layers)} stages but {len(widths)} widths")
        self.shortcut, self.residual = shortcut, residual
        preact = block is PreActBlock
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1: nn.Module = nn.Identity() if preact else nn.BatchNorm2d(widths[0])
        self.relu: nn.Module = nn.Identity() if preact else nn.ReLU(inplace=True)
        self.inplanes = widths[0]
        stages = [self._make_layer(block, w, n, stride=1 if i == 0 else 2)
                  for i, (w, n) in enumerate(zip(widths, layers))]
        self.layers = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1], num_classes)
        _init_weights(self)

    def _downsample(self, block: type[nn.Module], planes: int, stride: int) -> nn.Module:
        if block is PreActBlock:
            return nn.Sequential(nn.BatchNorm2d(self.inplanes), nn.ReLU(),
                                 conv1x1(self.inplanes, planes, stride))
        if self.shortcut == "A":
            return ShortcutA(self.inplanes, planes, stride)
        if self.shortcut == "B":
            return nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        return nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride)

    def _make_layer(self, block: type[nn.Module], planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if self.residual and (stride != 1 or self.inplanes != planes):
            downsample = self._downsample(block, planes, stride)
        layers = [block(self.inplanes, planes, stride, downsample, residual=self.residual)]
        self.inplanes = planes
        layers += [block(planes, planes, residual=self.residual) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def cifar_resnet(depth: int, residual: bool = True, shortcut: str = "A",
                 num_classes: int = 10, widths: Sequence[int] = (16, 32, 64)) -> CifarResNet:
    """He et al. (2015) section 4.2: depth = 6n + 2 (20, 32, 44, 56, 110).

    ``widths`` are the channels of the three stages (the paper's 16, 32, 64; halve them for a
    4x cheaper network of the same depth).

    Usage: ``cifar_resnet(56)``, ``cifar_resnet(20, residual=False)`` (plain-20)
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    n = (depth - 2) // 6
    return CifarResNet(BasicBlock, [n, n, n], widths=widths, num_classes=num_classes,
                       shortcut=shortcut, residual=residual)


def small_resnet(preact: bool = False, num_classes: int = 10,
                 widths: Sequence[int] = (16, 32, 64)) -> CifarResNet:
    """The seed-002 CIFAR-10 ResNet (272,378 parameters) or its pre-activation twin (272,250).

    Channels [16, 32, 64], 3 blocks per stage, downsampling shortcut = 1x1 stride-2 conv with
    bias and no BN (pre-activation: BN -> ReLU -> 1x1 conv without bias).

    Usage: ``small_resnet()``, ``small_resnet(preact=True)``, ``small_resnet(widths=(8, 16, 32))``
    """
    block = PreActBlock if preact else BasicBlock
    return CifarResNet(block, [3, 3, 3], widths=widths, num_classes=num_classes, shortcut="conv")
