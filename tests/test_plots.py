"""Plots: each returns a figure that shows what it promises (lines, marks, labels)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import course_utils as cu  # noqa: E402


def history(accs):
    h = cu.History()
    h.records = [{"epoch": i + 1, "train_loss": 1 - a, "train_acc": a, "val_loss": 1.1 - a,
                  "val_acc": a - 0.1} for i, a in enumerate(accs)]
    return h


def teardown_function():
    plt.close("all")


def test_plot_history_overlays_runs_and_can_show_error():
    fig = cu.plot_history({"a": history([0.5, 0.7, 0.9]), "b": history([0.4, 0.6])},
                          metrics=("acc",), error=True)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a train", "a val", "b train", "b val"]
    assert lines[0].get_ydata().tolist() == pytest.approx([0.5, 0.3, 0.1])  # 1 - accuracy
    assert lines[1].get_linestyle() == "--" and fig.axes[0].get_ylabel() == "error"


def test_show_images_marks_wrong_predictions_in_red():
    images = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    fig = cu.show_images(images, torch.tensor([0, 1, 2]), preds=torch.tensor([0, 2, 2]),
                         classes=["zero", "one", "two"])
    titles = [ax.title for ax in fig.axes[:3]]
    assert [t.get_text() for t in titles] == ["zero\n→ zero", "one\n→ two", "two\n→ two"]
    assert [t.get_color() for t in titles] == ["black", "red", "black"]


def test_confusion_matrix_heatmap_is_row_normalised():
    fig = cu.plot_confusion_matrix(torch.tensor([[3, 1], [0, 4]]), ["cat", "dog"])
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.75", "0.25", "0.00", "1.00"]


def test_bars_and_scatter_label_every_item():
    fig = cu.plot_bars({"LeNet": 0.99, "MLP": 0.97}, "test accuracy")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["LeNet", "MLP"]
    points = {f"model {i}": (float(i), 80.0 + i) for i in range(12)}  # more than 10 colours
    fig = cu.plot_scatter(points, "time (s)", "accuracy (%)", sizes={k: 1.0 for k in points})
    assert [t.get_text() for t in fig.axes[0].texts] == list(points)
    assert len(fig.axes[0].collections) == 12
    fig = cu.plot_scatter({"a": (1.0, 2.0), "b": (2.0, 3.0)}, "x", "y", sizes={"a": 0, "b": 0})
    assert len(fig.axes[0].collections) == 2  # all-zero sizes still draw every point
    with pytest.raises(ValueError, match=">= 0"):
        cu.plot_scatter({"a": (1.0, 2.0)}, "x", "y", sizes={"a": -1.0})
    with pytest.raises(ValueError, match=r"missing \['model 11'\]"):
        cu.plot_scatter(points, "x", "y", sizes={f"model {i}": 1.0 for i in range(11)})


def test_filters_and_feature_maps_show_one_panel_each():
    fig = cu.plot_filters(torch.randn(6, 1, 5, 5), ncols=3)
    assert sum(len(ax.images) > 0 for ax in fig.axes) == 6
    fig = cu.plot_feature_maps(torch.randn(1, 5, 4, 4), ncols=4)
    assert sum(len(ax.images) > 0 for ax in fig.axes) == 5
