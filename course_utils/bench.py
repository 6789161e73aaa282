"""Benchmark: a seed-style input pipeline against course_utils' fast path, same model and data.

(a) seed-style: a torchvision-style dataset that turns every sample into a PIL image and runs
    per-sample transforms (RandomCrop, RandomHorizontalFlip, ToTensor, Normalize), a DataLoader
    with worker processes, fp32 training.
(b) fast path: the uint8 dataset resident on the device, whole-batch augmentation there,
    mixed-precision autocast on CUDA and channels_last memory format.

Both train the same architecture from the same initial weights with the same optimizer and
schedule through ``course_utils.fit``; the table shows images/s of the last epoch (steady
state), the ratio, and the test accuracy each reached.

Usage::

    python -m course_utils.bench                        # both models, 3 epochs
    python -m course_utils.bench --models resnet --epochs 10 --workers 2
    python -m course_utils.bench --tiny                 # the seconds-long version CI runs
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
from torch import nn

from .data import ImageDataset, channel_stats, load_dataset, make_loader
from .device import get_device, seed_everything
from .inspection import results_table
from .models import LeNet5, small_resnet
from .training import Extras, evaluate, fit, one_cycle

MODELS: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "lenet": ("mnist", LeNet5),
    "resnet": ("cifar10", small_resnet),
}


class PILDataset(torch.utils.data.Dataset):
    """What torchvision's MNIST/CIFAR10 datasets do per sample: array -> PIL image -> transform.

    Usage: ``PILDataset(train, transform)[0]``
    """

    def __init__(self, data: ImageDataset, transform: Callable) -> None:
        self.images = data.images.permute(0, 2, 3, 1).numpy()  # HWC uint8, as torchvision keeps
        self.labels = data.labels.tolist()
        self.transform = transform
        self.gray = data.images.shape[1] == 1

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        array = self.images[i]
        img = Image.fromarray(array[..., 0] if self.gray else array,
                              mode="L" if self.gray else "RGB")
        return self.transform(img), self.labels[i]


def seed_style_loader(data: ImageDataset, stats: tuple, batch_size: int, workers: int,
                      train: bool, device: torch.device) -> torch.utils.data.DataLoader:
    """The classic pipeline: per-sample PIL transforms in DataLoader worker processes.

    Usage: ``seed_style_loader(train, stats, 128, workers=2, train=True, device=device)``
    """
    from torchvision import transforms

    steps = []
    if train and data.name == "cifar10":
        steps += [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    steps += [transforms.ToTensor(), transforms.Normalize(*stats)]
    return torch.utils.data.DataLoader(
        PILDataset(data, transforms.Compose(steps)), batch_size=batch_size, shuffle=train,
        drop_last=train, num_workers=workers, persistent_workers=workers > 0,
        pin_memory=device.type == "cuda")


def run(model_name: str, epochs: int, limit: int | None, batch_size: int, workers: int,
        device: torch.device, compile_model: bool = False) -> list[dict]:
    """Train one model both ways; return one result row per pipeline.

    Usage: ``run("lenet", epochs=2, limit=2000, batch_size=128, workers=2, device=device)``
    """
    dataset, factory = MODELS[model_name]
    train = load_dataset(dataset, "train", limit=limit)
    test = load_dataset(dataset, "test", limit=limit and max(limit // 5, batch_size))
    stats = channel_stats(train)
    seed_everything(0)
    initial = factory().to(device)
    fast_test = make_loader(test, stats, batch_size=512, device=device)
    setups = {
        "seed-style": dict(loader=seed_style_loader(train, stats, batch_size, workers, True,
                                                    device),
                           amp=False, channels_last=False),
        "fast path": dict(loader=make_loader(train, stats, batch_size, train=True,
                                             device=device),
                          amp=True, channels_last=device.type == "cuda"),
    }
    rows = []
    for name, setup in setups.items():
        model = copy.deepcopy(initial)
        seed_everything(1)
        start = time.perf_counter()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05 if dataset == "cifar10" else 0.02,
                                    momentum=0.9, nesterov=True, weight_decay=5e-4)
        extras = Extras(amp=setup["amp"], channels_last=setup["channels_last"], progress=False,
                        compile=compile_model and name == "fast path", verbose=False)
        history = fit(model, setup["loader"], epochs=epochs, optimizer=optimizer,
                      scheduler=one_cycle(optimizer, epochs * len(setup["loader"])),
                      extras=extras)
        wall = time.perf_counter() - start
        acc = evaluate(model, fast_test, device)["acc"]
        rows.append({"model": model_name, "data": f"{dataset} ({train.source})",
                     "pipeline": name, "workers": workers if name == "seed-style" else 0,
                     "epochs": epochs, "images/s": round(history.last("images_per_s")),
                     "wall s": round(wall, 1), "test acc": round(acc, 4)})
    rows[1]["speed-up"] = round(rows[1]["images/s"] / rows[0]["images/s"], 2)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the benchmark from the command line; returns the table's rows.

    Usage: ``python -m course_utils.bench --models lenet --epochs 2``
    """
    parser = argparse.ArgumentParser(description="Seed-style vs fast-path training throughput")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="training images to use")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2,
                        help="DataLoader workers of the seed-style loop (Colab has 2 cores)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best)")
    parser.add_argument("--compile", action="store_true",
                        help="fast path through torch.compile with CUDA graphs (CUDA only)")
    parser.add_argument("--tiny", action="store_true",
                        help="CI size: 512 images, 1 epoch, batch 64")
    args = parser.parse_args(argv)
    if args.tiny:
        args.limit, args.epochs, args.batch_size = 512, 1, 64
    device = get_device(args.device)
    rows = [row for m in args.models
            for row in run(m, args.epochs, args.limit, args.batch_size, args.workers, device,
                           args.compile)]
    print(results_table(rows, tablefmt="github"))
    return rows


if __name__ == "__main__":
    main()
