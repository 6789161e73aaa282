"""Plots used across the course. Every function returns the matplotlib figure.

Usage::

    from course_utils import plot_history, show_images, plot_confusion_matrix
    plot_history({"SGD": h1, "Adam": h2})
    show_images(test.images[:16], test.labels[:16], classes=test.classes)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .training import History

plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False})


def plot_history(histories: History | Mapping[str, History],
                 metrics: Sequence[str] = ("loss", "acc"), title: str | None = None,
                 error: bool = False) -> plt.Figure:
    """Training curves, several runs overlaid; solid = train, dashed = validation.

    ``error=True`` plots error (1 - accuracy) instead of accuracy, as in the ResNet paper.

    Usage: ``plot_history({"plain-20": h20, "plain-56": h56}, metrics=("acc",), error=True)``
    """
    if isinstance(histories, History):
        histories = {"": histories}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics):
        for i, (name, hist) in enumerate(histories.items()):
            color = colors[i % len(colors)]
            epochs = hist["epoch"]
            for split, style in (("train", "-"), ("val", "--")):
                values = hist[f"{split}_{metric}"]
                if not values:
                    continue
                if error and metric == "acc":
                    values = [1 - v for v in values]
                label = f"{name} {split}".strip()
                ax.plot(epochs[:len(values)], values, style, color=color, label=label,
                        marker="o" if len(values) < 15 else None, markersize=3)
        ylabel = "error" if (error and metric == "acc") else metric
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _to_display(images: torch.Tensor, mean: Sequence[float] | None,
                std: Sequence[float] | None) -> np.ndarray:
    """uint8 or normalised float (N, C, H, W) -> float (N, H, W, C) in 0..1 for imshow."""
    x = images.detach().cpu().float()
    if images.dtype == torch.uint8:
        x = x / 255
    elif mean is not None and std is not None:
        x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def show_images(images: torch.Tensor, labels: torch.Tensor | None = None,
                preds: torch.Tensor | None = None, classes: Sequence[str] | None = None,
                probs: torch.Tensor | None = None, ncols: int = 8,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                title: str | None = None) -> plt.Figure:
    """A grid of images with their labels; with ``preds``, wrong predictions are marked in red.

    Accepts uint8 images, or normalised floats together with the ``mean``/``std`` used.

    Usage: ``show_images(x[:16], y[:16], preds=p[:16], classes=test.classes)``
    """
    pics = _to_display(images, mean, std)
    n = len(pics)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, min(ncols, n), figsize=(1.5 * min(ncols, n), 1.95 * nrows),
                             squeeze=False)

    def name(i: int) -> str:
        return classes[i] if classes is not None else str(i)

    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:n]):
        cmap = "gray" if pics.shape[-1] == 1 else None
        ax.imshow(pics[i].squeeze(-1) if cmap else pics[i], cmap=cmap)
        text, color = "", "black"
        if labels is not None:
            text = name(int(labels[i]))
        if preds is not None:
            p = int(preds[i])
            conf = f" {float(probs[i]):.0%}" if probs is not None else ""
            text = f"{text}\n→ {name(p)}{conf}" if labels is not None else f"{name(p)}{conf}"
            if labels is not None and p != int(labels[i]):
                color = "red"
        ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: torch.Tensor | np.ndarray, classes: Sequence[str],
                          normalize: bool = True, title: str = "Confusion matrix") -> plt.Figure:
    """A seaborn heatmap of a confusion matrix (rows = true class, columns = predicted).

    Usage: ``plot_confusion_matrix(confusion_matrix(labels, preds, 10), test.classes)``
    """
    import seaborn as sns

    cm = np.asarray(cm, dtype=float)
    if normalize:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.6 * len(classes) + 2.5, 0.55 * len(classes) + 1.8))
    sns.heatmap(cm, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues",
                xticklabels=classes, yticklabels=classes, cbar=False, ax=ax,
                annot_kws={"fontsize": 7})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_filters(weight: torch.Tensor, ncols: int = 8, title: str = "Filters") -> plt.Figure:
    """Show the kernels of a conv layer (``weight`` of shape (out, in, k, k)).

    3-channel kernels are shown in colour, others as the mean over input channels.

    Usage: ``plot_filters(model.conv1.weight)``
    """
    w = weight.detach().cpu().float()
    w = w if w.shape[1] == 3 else w.mean(1, keepdim=True)
    lo, hi = w.amin(dim=(1, 2, 3), keepdim=True), w.amax(dim=(1, 2, 3), keepdim=True)
    w = (w - lo) / (hi - lo).clamp(min=1e-8)
    return show_images(w, ncols=ncols, title=title)


def plot_feature_maps(maps: torch.Tensor, ncols: int = 8, title: str = "Feature maps",
                      cmap: str = "viridis") -> plt.Figure:
    """Show the channels of one feature map tensor of shape (C, H, W) (or (1, C, H, W)).

    Usage: ``plot_feature_maps(model.conv1(x[:1]))``
    """
    m = maps.detach().cpu().float()
    m = m[0] if m.dim() == 4 else m
    c = m.shape[0]
    nrows = -(-c // ncols)
    fig, axes = plt.subplots(nrows, min(ncols, c), figsize=(1.4 * min(ncols, c), 1.4 * nrows),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:c]):
        ax.imshow(m[i], cmap=cmap)
        ax.set_title(str(i), fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_bars(values: Mapping[str, float], ylabel: str, title: str | None = None,
              log: bool = False) -> plt.Figure:
    """A bar chart comparing one number across several named things.

    Usage: ``plot_bars({"LeNet": 0.99, "MLP": 0.97}, "test accuracy")``
    """
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(values) + 2), 3.5))
    bars = ax.bar(list(values), list(values.values()),
                  color=plt.rcParams["axes.prop_cycle"].by_key()["color"][:len(values)])
    ax.bar_label(bars, fmt="%.3g", fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def plot_scatter(points: Mapping[str, tuple[float, float]], xlabel: str, ylabel: str,
                 title: str | None = None, sizes: Mapping[str, float] | None = None,
                 logx: bool = False) -> plt.Figure:
    """A labelled scatter plot comparing named things on two numbers (e.g. cost vs accuracy).

    ``sizes`` (optional, same keys) scales the marker areas, e.g. by parameter count.

    Usage: ``plot_scatter({"ResNet": (150.0, 88.7), "DenseNet": (300.0, 88.8)},
    "training time (s)", "test accuracy (%)")``
    """
    if not points:
        raise ValueError("plot_scatter needs at least one point")
    if sizes is not None and set(sizes) != set(points):
        missing, extra = sorted(set(points) - set(sizes)), sorted(set(sizes) - set(points))
        raise ValueError(f"sizes must have the same names as points; missing {missing}, "
                         f"extra {extra}")
    if sizes is not None and min(sizes.values()) < 0:
        raise ValueError("sizes must be >= 0 (they scale the marker areas)")
    biggest = (max(sizes.values()) if sizes else 0) or 1.0
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (name, (x, y)) in enumerate(points.items()):  # one colour per name, however many
        area = 60.0 if sizes is None else 40.0 + 400.0 * sizes[name] / biggest
        ax.scatter(x, y, s=area, color=f"C{i % 10}", alpha=0.75, edgecolor="black")
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(8, 4), fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
