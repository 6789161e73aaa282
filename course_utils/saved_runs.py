"""Load instead of retrain: every training is saved under ``runs/``, keyed by its settings.

``train_or_load`` trains a model once and saves its weights and history in
``runs/<name>-<key>.pt``; the next Run-All loads that file in seconds and says so in one line::

    loaded ResNet-56 trained 2026-11-28 14:02 (3.1 min) in the cpu profile (seed 1) from
    runs/ResNet-56-3f2a9c1b7e.pt; set COURSE_RETRAIN=1 to train again

The key is a hash of everything that decides what the training learns: the ``settings`` you pass
(data, recipe: put every number that matters in them), the profile, ``COURSE_SEED``, the model's
structure (its ``repr``: swapping ReLU for GELU is a new run) and whether the data was real or
the offline fallback. Change any of them and that one training runs again; the others still
load. ``COURSE_RETRAIN=1`` trains everything again. The ``smoke`` profile (CI) always trains and
saves nothing: it checks that the training code runs.

TensorBoard logs of a run belong in ``tensorboard_dir(...)`` = ``runs/tensorboard/<name>-<key>``;
``tensorboard_command()`` is the one command that opens them all.

Shipped weights (e.g. the ``full`` profile's, published as GitHub release files):
``fetch_weights(url, sha256)`` downloads a file once into the data folder and checks its SHA-256
before anything reads it; ``load_run(path, model)`` then loads it safely (``weights_only=True``).
``write_release_manifest`` records the names, sizes and SHA-256 of the files to publish.

Usage::

    from course_utils.saved_runs import train_or_load
    model = cu.models.cifar_resnet(56).to(device)
    settings = {"notebook": "04", "data": "cifar10", "epochs": EPOCHS, "lr": 0.1}
    history = train_or_load("ResNet-56", model, settings,
                            lambda: cu.fit(model, train_loader, epochs=EPOCHS, optimizer=opt))
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .checkpoints import load_checkpoint, save_checkpoint
from .data import data_dir
from .profiles import course_seed, get_profile
from .results import data_sources
from .training import History

RETRAIN_ENV = "COURSE_RETRAIN"
_DOWNLOAD_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------------------------
# Load instead of retrain
# --------------------------------------------------------------------------------------------

def train_or_load(name: str, model: nn.Module, settings: dict[str, Any],
                  train: Callable[[], History], runs_dir: str | Path = "runs",
                  extras: dict[str, Any] | None = None) -> History:
    """Train ``model`` with ``train()`` and save it, or load it if this exact run was saved.

    ``settings`` holds everything that decides the result (numbers, strings, bools, None, lists
    and dicts: e.g. ``{"data": "cifar10", "epochs": 6, "optimizer": repr(optimizer)}``); with
    the profile, ``COURSE_SEED``, the model's structure and the data source (real or fallback)
    it gives the file ``runs/<name>-<key>.pt`` (see ``run_file``). ``train`` is a function
    without arguments that trains ``model`` in place and returns its ``History`` (``cu.fit``'s).

    * Saved and loadable: the weights go into ``model`` (on the device it is on: build it on
      ``device``), the model is left in ``eval()`` mode, one line says so, ``train`` is not called.
    * ``COURSE_RETRAIN=1``, a new key, or the ``smoke`` profile: ``train()`` runs.
    * A training that stopped early (``history.stopped``: Ctrl-C or a NaN loss) is not saved,
      so the next run trains it again.
    * A file that cannot be loaded (damaged, or weights that do not fit the model) is moved
      aside as ``<file>.bad``, one line says why, and the model trains again.
    * ``extras``: a dict that ``train`` may fill (numbers, strings, lists, dicts, tensors, e.g.
      a test accuracy); it is saved with the weights and filled from the file when loading.

    Usage: ``history = train_or_load("LeNet-5", model, {"epochs": 3}, lambda: cu.fit(...))``
    """
    path = run_file(name, model, settings, runs_dir)  # checks the settings before training
    if get_profile() == "smoke":
        return _checked(train())  # CI checks that the training runs: never load, never save
    if _truthy(os.environ.get(RETRAIN_ENV)):
        if path.exists():
            print(f"{RETRAIN_ENV}=1: training {name} again (its saved run {path} is replaced "
                  "when the training finishes).")
    elif path.exists():
        try:
            history, state = _read_run(path, model, extras)
        except _Unloadable as reason:
            bad = path.with_name(path.name + ".bad")
            os.replace(path, bad)
            print(f"{path} could not be loaded ({reason}); training again (the file is kept as "
                  f"{bad}).")
        else:
            print(_loaded_message(name, path, state))
            return history
    _set_aside_old_logs(tensorboard_dir(name, model, settings, runs_dir))
    started = time.time()
    history = _checked(train())
    if history.stopped is not None:
        after = (f"the earlier saved run {path} stays, and the next run loads it unless "
                 f"{RETRAIN_ENV}=1" if path.exists() else "so the next run trains it again")
        print(f"{name} stopped early ({history.stopped}): not saved as finished; {after}.")
        return history
    try:
        save_checkpoint(path, model=model.state_dict(), history=history.records,
                        stopped=history.stopped, name=name,
                        settings=json.dumps(settings, sort_keys=True),
                        trained_at=datetime.now().strftime("%Y-%m-%d %H:%M"),
                        train_seconds=round(time.time() - started, 1), profile=get_profile(),
                        seed=course_seed(), data=_data_sources(), torch=str(torch.__version__),
                        extras=dict(extras or {}))
    except TypeError as err:
        print(f"{name} trained but was not saved, so the next run trains it again: {err}")
        return history
    print(f"saved {name} to {path}: the next run loads it instead of training.")
    return history


def load_run(path: str | Path, model: nn.Module,
             extras: dict[str, Any] | None = None) -> History:
    """Load a run saved by ``train_or_load`` (or fetched with ``fetch_weights``) into ``model``.

    Reads with ``load_checkpoint`` (``weights_only=True``: no arbitrary objects are unpickled),
    checks that the weights fit ``model`` before loading them, fills ``extras`` if given, and
    returns the run's ``History`` (plot it with ``cu.plot_history``). Raises ``RuntimeError``
    with the reason if the file cannot be loaded.

    Usage: ``history = load_run(fetch_weights(URL, SHA256), model)``
    """
    try:
        history, _ = _read_run(Path(path), model, extras)
    except _Unloadable as reason:
        raise RuntimeError(f"{path} could not be loaded ({reason}).") from None
    return history


def run_file(name: str, model: nn.Module, settings: dict[str, Any],
             runs_dir: str | Path = "runs") -> Path:
    """The file in which ``train_or_load`` keeps this run: ``<runs_dir>/<name>-<key>.pt``.

    Raises ``TypeError`` (naming the setting and the fix) for a setting that is not a number,
    string, bool, None, list or dict.

    Usage: ``print(run_file("ResNet-56", model, settings))``
    """
    return Path(runs_dir) / f"{_slug(name)}-{run_key(model, settings)}.pt"


def tensorboard_dir(name: str, model: nn.Module, settings: dict[str, Any],
                    runs_dir: str | Path = "runs") -> Path:
    """This run's TensorBoard folder, ``<runs_dir>/tensorboard/<name>-<key>``, next to its file.

    Pass it to ``cu.TensorBoard`` inside ``train``; ``train_or_load`` moves older logs of the
    same run aside (``<folder>.previous``) before training it again, so the curves are one run's.
    ``tensorboard_command()`` opens every run's logs.

    Usage: ``cu.fit(..., hooks=[cu.TensorBoard(tensorboard_dir("ResNet-56", model, settings))])``
    """
    return Path(runs_dir) / "tensorboard" / f"{_slug(name)}-{run_key(model, settings)}"


def tensorboard_command() -> str:
    """The one command that shows every run's TensorBoard logs, from the repository root.

    In a notebook (its folder is ``notebooks/``) the same is two lines:
    ``%load_ext tensorboard`` and ``%tensorboard --logdir runs/tensorboard``.

    Usage: ``print(tensorboard_command())``
    """
    return "tensorboard --logdir notebooks/runs/tensorboard"


def run_key(model: nn.Module, settings: dict[str, Any]) -> str:
    """Ten hex digits that change whenever the settings, the profile, ``COURSE_SEED``, the
    model's structure (``repr(model)``) or the data source (real or fallback) change.

    Usage: ``run_key(model, {"epochs": 6})  # e.g. '3f2a9c1b7e'``
    """
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict such as {{'epochs': 6, 'lr': 0.1}}, got "
                        f"{type(settings).__name__}.")
    _check_setting(settings, "settings")
    described = {"settings": settings, "profile": get_profile(), "seed": course_seed(),
                 "model": hashlib.sha256(repr(model).encode()).hexdigest(),
                 "data": _data_sources()}
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


class _Unloadable(Exception):
    """Why a saved run cannot be loaded, in a few words."""


def _read_run(path: Path, model: nn.Module,
              extras: dict[str, Any] | None) -> tuple[History, dict[str, Any]]:
    try:
        state = load_checkpoint(path)
    except Exception as err:
        raise _Unloadable("it holds objects that a safe load refuses" if "refuses" in str(err)
                          else "the file is damaged or cut short") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict) \
            or not isinstance(state.get("history"), list):
        raise _Unloadable("it is not a saved run: no 'model' and 'history' entries")
    problem = _misfit(model, state["model"])
    if problem is not None:
        raise _Unloadable(problem)
    try:
        model.load_state_dict(state["model"])
    except Exception as err:
        raise _Unloadable(f"its weights do not fit this model: {str(err).splitlines()[0]}")\
            from None
    model.eval()
    if extras is not None:
        extras.update(state.get("extras") or {})
    return History(records=list(state["history"]), stopped=state.get("stopped")), state


def _misfit(model: nn.Module, weights: dict[str, Any]) -> str | None:
    """What keeps ``weights`` from loading into ``model`` (checked before anything is copied)."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    reshaped = [k for k in own if k in weights and torch.is_tensor(own[k])
                and (not torch.is_tensor(weights[k]) or weights[k].shape != own[k].shape)]
    if not (missing or unexpected or reshaped):
        return None
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if reshaped:
        k = reshaped[0]
        saved = tuple(weights[k].shape) if torch.is_tensor(weights[k]) else type(weights[k])
        parts.append(f"{len(reshaped)} of another shape (e.g. {k}: saved {saved}, model "
                     f"{tuple(own[k].shape)})")
    return "its weights do not fit this model: " + ", ".join(parts)


def _loaded_message(name: str, path: Path, state: dict[str, Any]) -> str:
    seconds = state.get("train_seconds")
    took = ("" if not isinstance(seconds, (int, float)) else
            f" ({seconds:.0f} s)" if seconds < 90 else f" ({seconds / 60:.1f} min)")
    return (f"loaded {name} trained {state.get('trained_at', '(date unknown)')}{took} in the "
            f"{state.get('profile', '?')} profile (seed {state.get('seed', '?')}) from {path}; "
            f"set {RETRAIN_ENV}=1 to train again")


def _checked(history: Any) -> History:
    if not isinstance(history, History):
        raise TypeError(f"train() must return the History that cu.fit returns, got "
                        f"{type(history).__name__}; end it with 'return cu.fit(...)'.")
    return history


def _set_aside_old_logs(folder: Path) -> None:
    """Keep an earlier attempt's TensorBoard logs as ``<folder>.previous``, not mixed in."""
    if folder.exists():
        previous = folder.with_name(folder.name + ".previous")
        if previous.exists():
            import shutil

            shutil.rmtree(previous)
        os.replace(folder, previous)


def _data_sources() -> list[str]:
    """``["real"]``, ``["fallback"]``, both or none: what ``load_dataset`` has used so far."""
    return sorted(set(data_sources().values()))


def _slug(name: str) -> str:
    """``name`` as a file name: letters, digits, ``.``, ``_`` and ``-``."""
    slug = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return slug.strip("._") or "run"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _check_setting(value: Any, where: str) -> None:
    """Raise a TypeError naming ``where`` and the fix if ``value`` cannot go into a JSON key."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_setting(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}: keys of settings must be strings "
                                f"(use {str(key)!r}).")
            _check_setting(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where} is of type {type(value).__name__}, which cannot be part of a "
                    f"run's key (only numbers, strings, bools, None, lists and dicts can): "
                    f"{_fix_for(value, where)}.")


def _fix_for(value: Any, where: str) -> str:
    if isinstance(value, os.PathLike):
        return f"pass the path as a string, {where} = str(path)"
    if hasattr(value, "tolist") and hasattr(value, "shape"):  # tensors and NumPy values
        return f"pass its number(s), {where} = x.item() or x.tolist()"
    if callable(value) and hasattr(value, "__name__"):
        return f"pass its name, {where} = {value.__name__!r}"
    kind = type(value).__name__
    if isinstance(value, torch.optim.Optimizer):
        return (f"pass its repr, which lists every hyper-parameter, {where} = repr(optimizer), "
                f"or its name, {where} = {kind!r}")
    if " at 0x" in repr(value):  # a repr with a memory address changes every run
        return f"pass its name and arguments as a string, e.g. {where} = '{kind}(...)'"
    return f"pass its name or repr instead, e.g. {where} = {kind!r} or {where} = repr(x)"


# --------------------------------------------------------------------------------------------
# Shipped artefacts: weights published as release files
# --------------------------------------------------------------------------------------------

def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file as 64 hex digits, read in 1 MiB pieces.

    Usage: ``print(sha256_of("runs/ResNet-56-3f2a9c1b7e.pt"))``
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_release_manifest(paths: Iterable[str | Path], out_json: str | Path,
                           base_url: str | None = None) -> Path:
    """Write ``out_json``: name, size and SHA-256 of each weight file to publish.

    For an instructor who publishes weights (e.g. the ``full`` profile's ``runs/*.pt``) as
    GitHub release files: upload the files, and copy each URL and SHA-256 into the notebook's
    ``fetch_weights(url, sha256)``. With ``base_url`` (the release's download folder) each entry
    also gets its ``url``.

    Usage: ``write_release_manifest(Path("runs").glob("*.pt"), "release.json")``
    """
    files, names = [], set()
    for path in sorted(Path(p) for p in paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is not a file; list the weight files to publish.")
        if path.name in names:
            raise ValueError(f"two files are named {path.name}: release files share one folder, "
                             "so rename one of them.")
        names.add(path.name)
        entry: dict[str, Any] = {"name": path.name, "size": path.stat().st_size,
                                 "sha256": sha256_of(path)}
        if base_url is not None:
            entry["url"] = f"{base_url.rstrip('/')}/{urllib.parse.quote(path.name)}"
        files.append(entry)
    out = Path(out_json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"files": files}, indent=2) + "\n", encoding="utf-8")
    return out


def fetch_weights(url: str, sha256: str, dest: str | Path | None = None) -> Path:
    """Download a weight file once, check its SHA-256, and return its path.

    The file goes to ``dest`` (default ``<data dir>/weights/<file name in the url>``, see
    ``cu.data_dir``). An existing file with the right SHA-256 is used as it is. A download is
    checked *before* anything reads it: a mismatch deletes it and raises ``ValueError`` with the
    expected and the actual SHA-256. Without network (or with ``COURSE_OFFLINE=1``, and always
    in the ``smoke`` profile, except for ``file://`` URLs) it raises ``ConnectionError`` saying
    where to place the file by hand, or to train locally instead. This function never unpickles
    anything: load the file with ``load_run`` or ``load_checkpoint`` (``weights_only=True``).

    Usage: ``model_file = fetch_weights(URL, "9f86d08...")``
    """
    expected = sha256.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"sha256 must be the file's 64 hex digits, got {sha256!r}; compute it "
                         "with sha256_of(path) (or write_release_manifest).")
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"{url!r} is not an http(s):// or file:// URL.")
    if dest is None:
        file_name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
        if not file_name:
            raise ValueError(f"{url!r} names no file; pass dest=Path('...') to say where it goes.")
        dest = data_dir() / "weights" / file_name
    dest = Path(dest)
    if dest.exists():
        if sha256_of(dest) == expected:
            return dest
        bad = dest.with_name(dest.name + ".bad")
        os.replace(dest, bad)
        print(f"{dest} is not the expected file (another SHA-256: an older or partial copy); it "
              f"is kept as {bad} and downloaded again.")
    offline = get_profile() == "smoke" or _truthy(os.environ.get("COURSE_OFFLINE"))
    if offline and scheme != "file":
        raise ConnectionError(_no_download(url, dest, expected, "offline mode: COURSE_OFFLINE=1 "
                                           "or the smoke profile"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        got = _download(url, part)
    except (urllib.error.URLError, OSError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise ConnectionError(_no_download(url, dest, expected, str(reason))) from None
    except BaseException:  # Ctrl-C: no half-downloaded file is left behind
        part.unlink(missing_ok=True)
        raise
    if got != expected:
        part.unlink(missing_ok=True)
        raise ValueError(f"the file downloaded from {url} has SHA-256 {got}, but {expected} was "
                         "expected: it was deleted and nothing was loaded (the release file may "
                         "have been replaced, or the download was damaged; check the URL and the "
                         "SHA-256 in the notebook).")
    os.replace(part, dest)
    return dest


def _download(url: str, to: Path) -> str:
    """Stream ``url`` into ``to`` (short timeout, never hangs); return the SHA-256 of the bytes."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, \
            open(to, "wb") as f:
        size = response.headers.get("Content-Length")
        shown = f" ({int(size) / 1e6:.1f} MB)" if size and size.isdigit() else ""
        print(f"downloading {to.name.removesuffix('.part')}{shown} from {url}")
        for block in iter(lambda: response.read(1 << 20), b""):
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def _no_download(url: str, dest: Path, expected: str, reason: str) -> str:
    return (f"could not download {url} ({reason}). Train the model locally instead (set "
            f"{RETRAIN_ENV}=1 or use the notebook's training cell), or get the file another way "
            f"and place it at {dest} (its SHA-256 must be {expected}).")
