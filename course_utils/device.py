"""Device selection and seeding.

Usage::

    from course_utils import get_device, seed_everything
    device = get_device()      # prints e.g. "Device: cuda (NVIDIA H100, 79.1 GiB)"
    seed_everything(0)
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .profiles import course_seed


def describe_device(device: torch.device) -> str:
    """One human-readable line describing ``device``.

    Usage: ``print(describe_device(torch.device("cpu")))``
    """
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"Device: cuda ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "Device: mps (Apple GPU)"
    threads = torch.get_num_threads()
    return f"Device: cpu ({threads} threads) -- no GPU found, training will be slower"


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def synchronize(device: torch.device) -> None:
    """Wait until the GPU (CUDA or Apple MPS) has finished its queued work; a no-op on the CPU.

    GPU calls return before the work is done, so time a GPU only after synchronising.

    Usage: ``synchronize(device); start = time.perf_counter()``
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def get_device(prefer: str | None = None, verbose: bool = True) -> torch.device:
    """Pick CUDA, then Apple MPS, then CPU, and print one line saying which.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) forces a device such as ``"cpu"``.

    Usage: ``device = get_device()``
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("CUDA was requested but torch.cuda.is_available() is False; "
                             "use 'cpu'.")
        if device.type == "mps" and not _mps_available():
            raise ValueError("MPS (Apple GPU) was requested but torch.backends.mps.is_available() "
                             "is False; use 'cpu'.")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif _mps_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(describe_device(device))
    return device


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so runs repeat.

    The seed used is ``seed + COURSE_SEED`` (see ``course_seed``), so one environment variable
    reruns a whole notebook with other random numbers.

    Usage: ``seed_everything(42)``
    """
    seed = seed + course_seed()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
