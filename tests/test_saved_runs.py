"""Saved runs: load instead of retrain, and shipped weights checked by SHA-256."""

import hashlib
import json
import urllib.error

import pytest
import torch
from torch import nn

from course_utils import results
from course_utils.checkpoints import load_checkpoint, save_checkpoint
from course_utils.saved_runs import (
    fetch_weights,
    load_run,
    run_file,
    sha256_of,
    tensorboard_command,
    tensorboard_dir,
    train_or_load,
    write_release_manifest,
)
from course_utils.training import History


@pytest.fixture(autouse=True)
def cpu_profile(monkeypatch):
    """A cpu-profile run with seed 1, no forced retraining, no recorded data sources."""
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    monkeypatch.setenv("COURSE_SEED", "1")
    for name in ("COURSE_RETRAIN", "COURSE_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(results, "_DATA_SOURCES", {})


class Trainer:
    """A fake training: sets every weight to ``value``, counts its calls, returns a History."""

    def __init__(self, model, value=0.5, stopped=None):
        self.model, self.value, self.stopped, self.calls = model, value, stopped, 0

    def __call__(self):
        self.calls += 1
        with torch.no_grad():
            for p in self.model.parameters():
                p.fill_(self.value)
        records = [{"epoch": 1, "train_loss": 0.9, "train_acc": 0.5},
                   {"epoch": 2, "train_loss": 0.4, "train_acc": 0.8, "val_acc": 0.75}]
        return History(records=records, stopped=self.stopped)


def make_model(act=nn.ReLU, width=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, width), act(), nn.Linear(width, 2))


SETTINGS = {"data": "cifar10", "epochs": 2, "lr": 0.1, "aug": ["crop", "flip"],
            "recipe": {"wd": 5e-4, "nesterov": True, "clip": None}}


def train_twice(tmp_path, model_factory=make_model, settings=SETTINGS):
    """Train once in a model, then call again with a fresh model; return (trainer2, model2)."""
    first = model_factory()
    train_or_load("Net", first, settings, Trainer(first), runs_dir=tmp_path)
    second = model_factory()
    trainer = Trainer(second, value=-1.0)
    history = train_or_load("Net", second, settings, trainer, runs_dir=tmp_path)
    return trainer, second, history


def test_second_call_loads_weights_and_history_without_training(tmp_path, capsys):
    model = make_model()
    trainer = Trainer(model)
    first = train_or_load("ResNet-56", model, SETTINGS, trainer, runs_dir=tmp_path)
    assert trainer.calls == 1
    assert "saved ResNet-56" in capsys.readouterr().out

    fresh = make_model()
    again = Trainer(fresh)
    loaded = train_or_load("ResNet-56", fresh, SETTINGS, again, runs_dir=tmp_path)
    assert again.calls == 0
    assert all(torch.equal(p, torch.full_like(p, 0.5)) for p in fresh.parameters())
    assert not fresh.training
    assert loaded.records == first.records and loaded.stopped is None
    assert loaded.last("val_acc") == 0.75
    out = capsys.readouterr().out.strip()
    assert "\n" not in out
    assert out.startswith("loaded ResNet-56 trained ")
    assert "in the cpu profile (seed 1)" in out and "COURSE_RETRAIN=1" in out


def test_saved_file_is_weights_only_and_complete(tmp_path):
    model = make_model()
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    path = run_file("Net", model, SETTINGS, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("Net-") and path.suffix == ".pt"
    state = torch.load(path, weights_only=True)
    assert set(state["model"]) == set(model.state_dict())
    assert json.loads(state["settings"]) == json.loads(json.dumps(SETTINGS))
    assert state["profile"] == "cpu" and state["seed"] == 1 and state["stopped"] is None
    assert state["torch"] == torch.__version__ and len(state["trained_at"]) == 16
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_a_changed_setting_retrains_only_that_run(tmp_path):
    model = make_model()
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    other = make_model()
    changed = Trainer(other)
    train_or_load("Net", other, {**SETTINGS, "lr": 0.05}, changed, runs_dir=tmp_path)
    assert changed.calls == 1
    unchanged = Trainer(make_model())
    train_or_load("Net", unchanged.model, SETTINGS, unchanged, runs_dir=tmp_path)
    assert unchanged.calls == 0
    assert len(list(tmp_path.glob("Net-*.pt"))) == 2


@pytest.mark.parametrize("env", [("COURSE_SEED", "2"), ("COURSE_PROFILE", "gpu")])
def test_another_seed_or_profile_retrains(tmp_path, monkeypatch, env):
    model = make_model()
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    monkeypatch.setenv(*env)
    trainer = Trainer(make_model())
    train_or_load("Net", trainer.model, SETTINGS, trainer, runs_dir=tmp_path)
    assert trainer.calls == 1


def test_another_model_structure_or_data_source_retrains(tmp_path, monkeypatch):
    model = make_model()
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    gelu = Trainer(make_model(act=nn.GELU))  # same weights' shapes, another network
    train_or_load("Net", gelu.model, SETTINGS, gelu, runs_dir=tmp_path)
    assert gelu.calls == 1
    monkeypatch.setattr(results, "_DATA_SOURCES", {"cifar10": "fallback"})
    stand_in = Trainer(make_model())
    train_or_load("Net", stand_in.model, SETTINGS, stand_in, runs_dir=tmp_path)
    assert stand_in.calls == 1


def test_course_retrain_forces_training_and_replaces_the_file(tmp_path, monkeypatch, capsys):
    model = make_model()
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    monkeypatch.setenv("COURSE_RETRAIN", "1")
    trainer = Trainer(make_model(), value=0.25)
    train_or_load("Net", trainer.model, SETTINGS, trainer, runs_dir=tmp_path)
    assert trainer.calls == 1
    assert "COURSE_RETRAIN=1: training Net again" in capsys.readouterr().out
    monkeypatch.delenv("COURSE_RETRAIN")
    trainer, loaded, _ = train_twice(tmp_path)
    assert trainer.calls == 0
    assert all(torch.equal(p, torch.full_like(p, 0.25)) for p in loaded.parameters())


def test_corrupt_file_says_so_keeps_it_as_bad_and_retrains(tmp_path, capsys):
    model = make_model()
    path = run_file("Net", model, SETTINGS, tmp_path)
    path.write_bytes(b"not a checkpoint at all")
    trainer = Trainer(model)
    history = train_or_load("Net", model, SETTINGS, trainer, runs_dir=tmp_path)
    assert trainer.calls == 1 and len(history) == 2
    out = capsys.readouterr().out
    assert f"{path} could not be loaded (the file is damaged or cut short); training again" in out
    assert path.with_name(path.name + ".bad").read_bytes() == b"not a checkpoint at all"
    trainer, _, _ = train_twice(tmp_path)  # the new file is good
    assert trainer.calls == 0


def test_untrusted_pickle_is_never_unpickled(tmp_path, capsys):
    model = make_model()
    path = run_file("Net", model, SETTINGS, tmp_path)
    torch.save({"model": model.state_dict(), "history": [], "payload": Payload()}, path)
    trainer = Trainer(model)
    train_or_load("Net", model, SETTINGS, trainer, runs_dir=tmp_path)
    assert not Payload.ran
    assert trainer.calls == 1
    assert "could not be loaded (it holds objects that a safe load refuses)" in \
        capsys.readouterr().out


class Payload:
    """Pickles into a call of ``_run``: a weights-only load must refuse it."""

    ran = False

    def __reduce__(self):
        return (_run, ())


def _run():
    Payload.ran = True


def test_weights_that_do_not_fit_the_model_say_so_and_retrain(tmp_path, capsys):
    model = make_model()
    path = run_file("Net", model, SETTINGS, tmp_path)
    wide = make_model(width=5)
    save_checkpoint(path, model=wide.state_dict(), history=[])
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(model)

    def train():  # nothing of the saved weights was copied into the model
        assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
        return trainer()

    train_or_load("Net", model, SETTINGS, train, runs_dir=tmp_path)
    assert trainer.calls == 1
    out = capsys.readouterr().out
    assert "could not be loaded (its weights do not fit this model:" in out
    assert "0.weight: saved (5, 4), model (3, 4)" in out and "training again" in out
    assert path.with_name(path.name + ".bad").exists()


@pytest.mark.parametrize("stopped", ["interrupted", "non-finite loss"])
def test_stopped_training_is_not_saved(tmp_path, capsys, stopped):
    model = make_model()
    history = train_or_load("Net", model, SETTINGS, Trainer(model, stopped=stopped),
                            runs_dir=tmp_path)
    assert history.stopped == stopped
    assert not list(tmp_path.glob("*.pt"))
    assert f"Net stopped early ({stopped}): not saved as finished" in capsys.readouterr().out
    trainer = Trainer(make_model())
    train_or_load("Net", trainer.model, SETTINGS, trainer, runs_dir=tmp_path)
    assert trainer.calls == 1


def test_retraining_that_stops_early_keeps_the_earlier_run(tmp_path, monkeypatch, capsys):
    model = make_model()
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    monkeypatch.setenv("COURSE_RETRAIN", "1")
    stopped = Trainer(make_model(), value=9.0, stopped="interrupted")
    train_or_load("Net", stopped.model, SETTINGS, stopped, runs_dir=tmp_path)
    assert "the earlier saved run" in capsys.readouterr().out
    monkeypatch.delenv("COURSE_RETRAIN")
    trainer, loaded, _ = train_twice(tmp_path)
    assert trainer.calls == 0
    assert all(torch.equal(p, torch.full_like(p, 0.5)) for p in loaded.parameters())


@pytest.mark.parametrize("settings, named, fix", [
    ({"optimizer": torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)},
     "settings['optimizer']", "repr"),
    ({"recipe": {"loss": nn.functional.cross_entropy}}, "settings['recipe']['loss']",
     "'cross_entropy'"),
    ({"sizes": [1, torch.tensor(2)]}, "settings['sizes'][1]", "x.item()"),
    ({"scheduler": object()}, "settings['scheduler']", "name and arguments"),
])
def test_settings_of_other_types_are_refused_before_training(tmp_path, settings, named, fix):
    trainer = Trainer(make_model())
    with pytest.raises(TypeError) as err:
        train_or_load("Net", trainer.model, settings, trainer, runs_dir=tmp_path)
    assert named in str(err.value) and fix in str(err.value)
    assert trainer.calls == 0


def test_settings_must_be_a_dict_with_string_keys(tmp_path):
    with pytest.raises(TypeError, match="settings must be a dict"):
        run_file("Net", make_model(), [("lr", 0.1)], tmp_path)
    with pytest.raises(TypeError, match="keys of settings must be strings"):
        run_file("Net", make_model(), {1: "a"}, tmp_path)


def test_train_must_return_a_history(tmp_path):
    with pytest.raises(TypeError, match="must return the History"):
        train_or_load("Net", make_model(), SETTINGS, lambda: None, runs_dir=tmp_path)


def test_extras_are_saved_and_filled_again_on_load(tmp_path):
    model = make_model()

    def train():
        extras["test_acc"] = 0.91
        extras["per_class"] = torch.arange(3)
        return Trainer(model)()

    extras = {}
    train_or_load("Net", model, SETTINGS, train, runs_dir=tmp_path, extras=extras)
    loaded = {}
    trainer = Trainer(make_model())
    train_or_load("Net", trainer.model, SETTINGS, trainer, runs_dir=tmp_path, extras=loaded)
    assert trainer.calls == 0
    assert loaded["test_acc"] == 0.91 and torch.equal(loaded["per_class"], torch.arange(3))


def test_smoke_profile_always_trains_and_saves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    for _ in range(2):
        trainer = Trainer(make_model())
        train_or_load("Net", trainer.model, SETTINGS, trainer, runs_dir=tmp_path)
        assert trainer.calls == 1
    assert not list(tmp_path.iterdir())


def test_tensorboard_folder_sits_next_to_the_run_and_old_logs_are_set_aside(tmp_path):
    model = make_model()
    logs = tensorboard_dir("Net", model, SETTINGS, tmp_path)
    assert logs.parent == tmp_path / "tensorboard"
    assert logs.name == run_file("Net", model, SETTINGS, tmp_path).stem
    (logs / "events.out.tfevents.old").parent.mkdir(parents=True)
    (logs / "events.out.tfevents.old").write_text("x")
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    assert (logs.with_name(logs.name + ".previous") / "events.out.tfevents.old").exists()
    assert tensorboard_command() == "tensorboard --logdir notebooks/runs/tensorboard"


def test_load_run_loads_a_saved_run_or_says_why_not(tmp_path):
    model = make_model()
    train_or_load("Net", model, SETTINGS, Trainer(model), runs_dir=tmp_path)
    path = run_file("Net", model, SETTINGS, tmp_path)
    fresh = make_model()
    assert load_run(path, fresh).last("train_loss") == 0.4
    assert torch.equal(fresh[0].weight, model[0].weight)
    with pytest.raises(RuntimeError, match="could not be loaded .*do not fit"):
        load_run(path, make_model(width=5))


# ---------------------------------------------------------------- shipped weights

def weight_file(tmp_path, name="resnet56.pt"):
    """A saved run in its own folder, as an instructor would publish it; returns (path, sha)."""
    model = make_model()
    Trainer(model)()
    path = save_checkpoint(tmp_path / "release" / name, model=model.state_dict(),
                           history=[{"epoch": 1, "val_acc": 0.9}])
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_sha256_of_and_release_manifest(tmp_path):
    path, sha = weight_file(tmp_path)
    other, _ = weight_file(tmp_path, "lenet5.pt")
    assert sha256_of(path) == sha
    out = write_release_manifest([path, other], tmp_path / "release.json",
                                 base_url="https://example.org/releases/download/v1/")
    manifest = json.loads(out.read_text())
    assert [f["name"] for f in manifest["files"]] == ["lenet5.pt", "resnet56.pt"]
    entry = manifest["files"][1]
    assert entry == {"name": "resnet56.pt", "size": path.stat().st_size, "sha256": sha,
                     "url": "https://example.org/releases/download/v1/resnet56.pt"}


def test_fetch_weights_downloads_file_url_verifies_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    source, sha = weight_file(tmp_path)
    got = fetch_weights(source.as_uri(), sha.upper())
    assert got == tmp_path / "data" / "weights" / "resnet56.pt"
    assert sha256_of(got) == sha
    source.unlink()  # cached: no second download
    assert fetch_weights(source.as_uri(), sha) == got
    model = make_model(act=nn.Tanh)
    assert load_run(got, model).last("val_acc") == 0.9
    assert load_checkpoint(got)["history"] == [{"epoch": 1, "val_acc": 0.9}]


def test_fetch_weights_sha_mismatch_deletes_the_download(tmp_path):
    source, sha = weight_file(tmp_path)
    dest = tmp_path / "cache" / "w.pt"
    wrong = "0" * 64
    with pytest.raises(ValueError) as err:
        fetch_weights(source.as_uri(), wrong, dest)
    assert f"has SHA-256 {sha}, but {wrong} was expected" in str(err.value)
    assert not list((tmp_path / "cache").iterdir())


def test_fetch_weights_replaces_a_stale_cached_copy(tmp_path, capsys):
    source, sha = weight_file(tmp_path)
    dest = tmp_path / "cache" / "w.pt"
    dest.parent.mkdir()
    dest.write_bytes(b"an older release")
    assert sha256_of(fetch_weights(source.as_uri(), sha, dest)) == sha
    assert dest.with_name("w.pt.bad").read_bytes() == b"an older release"
    assert "downloaded again" in capsys.readouterr().out


def test_fetch_weights_offline_says_what_to_do(tmp_path, monkeypatch):
    dest = tmp_path / "w.pt"
    sha = "a" * 64
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(ConnectionError) as err:
        fetch_weights("https://example.org/w.pt", sha, dest)
    message = str(err.value)
    assert "Train the model locally instead" in message
    assert f"place it at {dest} (its SHA-256 must be {sha})" in message

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.delenv("COURSE_OFFLINE")
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(ConnectionError, match="name resolution.*Train the model locally"):
        fetch_weights("https://example.org/w.pt", sha, dest)
    assert not list(tmp_path.iterdir())


def test_fetch_weights_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="64 hex digits"):
        fetch_weights("https://example.org/w.pt", "abc123", tmp_path / "w.pt")
    with pytest.raises(ValueError, match="not an http"):
        fetch_weights("ftp://example.org/w.pt", "a" * 64, tmp_path / "w.pt")
