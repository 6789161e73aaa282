"""course_utils: the small shared toolbox of the CNN course.

Usage::

    from course_utils import setup, by_profile, load_dataset, make_loader, fit
    device = setup()   # prints device and profile, seeds everything
"""

from __future__ import annotations

import torch

from . import models  # noqa: F401  (cu.models.LeNet5 etc.)
from .checkpoints import load_checkpoint, save_checkpoint
from .checks import (
    check_conv_flops,
    check_conv_output_size,
    check_conv_params,
    check_feature_map_sizes,
    check_flops,
    check_linear_params,
    check_padding,
    check_parameter_count,
    check_parameter_difference,
    check_receptive_field,
    check_shape,
)
from .data import (
    CIFAR10_CLASSES,
    BatchTransform,
    ImageDataset,
    TensorLoader,
    channel_stats,
    data_dir,
    image_folder,
    load_dataset,
    make_loader,
    make_synthetic_cifar10,
    write_image_folder,
)
from .device import describe_device, get_device, seed_everything
from .hooks import Checkpoint, KeepBest, TensorBoard
from .inspection import (
    compare_models,
    conv_output_size,
    count_flops,
    count_parameters,
    flops_by_module,
    measure_throughput,
    model_summary,
    results_table,
    show_source,
)
from .plots import (
    plot_bars,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_scatter,
    show_images,
)
from .profiles import by_profile, course_seed, describe_profile, get_profile, is_smoke
from .results import Results, mark_start
from .saved_runs import (
    fetch_weights,
    load_run,
    sha256_of,
    tensorboard_command,
    tensorboard_dir,
    train_or_load,
    write_release_manifest,
)
from .training import (
    Extras,
    History,
    Hook,
    Run,
    amp_dtype,
    confusion_matrix,
    evaluate,
    fit,
    one_cycle,
    per_class_accuracy,
    predict,
    train_one_epoch,
)

__version__ = "0.1.0"


def setup(seed: int = 0) -> torch.device:
    """Start a notebook: start its clock, print device and profile, seed everything.

    Seeds are ``seed + COURSE_SEED`` (see ``course_seed``).

    Usage: ``device = setup()``
    """
    mark_start()
    device = get_device()
    print(describe_profile())
    seed_everything(seed)
    return device


__all__ = [
    "CIFAR10_CLASSES", "BatchTransform", "Checkpoint", "Extras", "History", "Hook", "KeepBest",
    "Run", "TensorBoard", "fetch_weights", "load_run", "sha256_of", "tensorboard_command",
    "tensorboard_dir", "train_or_load", "write_release_manifest", "ImageDataset", "TensorLoader",
    "amp_dtype", "check_conv_flops", "check_conv_output_size", "check_conv_params",
    "check_feature_map_sizes", "check_flops", "check_linear_params", "check_padding",
    "check_parameter_count", "check_parameter_difference", "check_receptive_field", "check_shape",
    "Results", "by_profile", "course_seed",
    "channel_stats", "compare_models", "confusion_matrix", "conv_output_size", "count_flops",
    "count_parameters", "data_dir", "describe_device", "describe_profile", "evaluate", "fit",
    "flops_by_module", "get_device", "get_profile", "is_smoke", "load_checkpoint",
    "load_dataset", "make_loader", "make_synthetic_cifar10", "one_cycle",
    "measure_throughput", "model_summary", "per_class_accuracy", "plot_bars",
    "plot_confusion_matrix", "plot_feature_maps", "plot_filters", "plot_history", "plot_scatter",
    "predict",
    "results_table", "save_checkpoint", "seed_everything", "setup", "show_images",
    "show_source", "train_one_epoch", "image_folder", "write_image_folder",
]
