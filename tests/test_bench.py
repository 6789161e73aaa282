"""The benchmark runs in its tiny CPU form, so it cannot rot."""

from course_utils import bench


def test_tiny_benchmark_runs_both_pipelines(capsys):
    rows = bench.main(["--tiny", "--device", "cpu", "--workers", "1"])
    assert [(r["model"], r["pipeline"]) for r in rows] == [
        ("lenet", "seed-style"), ("lenet", "fast path"),
        ("resnet", "seed-style"), ("resnet", "fast path")]
    assert all(r["images/s"] > 0 and 0 <= r["test acc"] <= 1 for r in rows)
    for seed_style, fast in (rows[0:2], rows[2:4]):
        assert fast["speed-up"] == round(fast["images/s"] / seed_style["images/s"], 2)
    assert "speed-up" in capsys.readouterr().out


def test_pil_dataset_matches_torchvision_semantics():
    import torch
    from torchvision import transforms

    import course_utils as cu

    train = cu.load_dataset("cifar10", "train", limit=8)
    ds = bench.PILDataset(train, transforms.ToTensor())
    x, y = ds[3]
    assert x.shape == (3, 32, 32) and y == int(train.labels[3])
    torch.testing.assert_close(x, train.images[3].float() / 255)
