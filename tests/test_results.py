"""The results file every training notebook writes: schema, verdicts, data sources, timing."""

import json

import pytest
import torch

import course_utils as cu
from course_utils import results


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_SEED", raising=False)
    results.mark_start()
    return tmp_path


def read(r):
    return json.loads(r.path.read_text(encoding="utf-8"))


def test_file_has_the_documented_schema(fresh, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    monkeypatch.setenv("COURSE_SEED", "3")
    r = cu.Results("99_demo", folder=fresh / "runs" / "99_demo", device="cpu")
    assert r.path == fresh / "runs" / "99_demo" / "results.json"
    with r.training("tiny"):
        pass
    r.metric("test_acc/tiny", torch.tensor(61.234567))
    r.check("tiny beats chance", True, acc=61.2, chance=10.0)
    data = read(r)
    assert set(data) >= {"profile", "seed", "data", "device", "torch", "seconds", "trainings",
                         "metrics", "checks"}
    assert data["profile"] == "cpu" and data["seed"] == 3 and data["device"] == "cpu"
    assert data["torch"] == torch.__version__
    assert "tiny" in data["trainings"] and data["seconds"] >= 0
    assert "tiny" in data["trainings_cpu_seconds"] and data["cpu_seconds"] >= 0
    assert data["metrics"]["test_acc/tiny"] == pytest.approx(61.2346)
    assert data["checks"] == [{"claim": "tiny beats chance",
                               "values": {"acc": 61.2, "chance": 10.0},
                               "passed": True, "judged": True}]


def test_a_failed_check_prints_a_cross_and_never_raises(fresh, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    r = cu.Results("99_demo", folder=fresh)
    # returns None: a cell that ends with a check shows no stray True/False
    assert r.check("deep beats shallow", False, deep=40.0, shallow=45.0) is None
    out = capsys.readouterr().out
    assert out.startswith("✗ deep beats shallow: deep 40.0, shallow 45.0")
    assert "did not show it" in out
    assert read(r)["checks"][0]["passed"] is False


def test_smoke_checks_are_printed_but_not_judged(fresh, capsys):
    r = cu.Results("99_demo", folder=fresh)
    r.check("deep beats shallow", True, deep=50.0)
    assert "not judged" in capsys.readouterr().out
    assert read(r)["checks"][0]["judged"] is False


def test_training_time_is_saved_even_when_interrupted(fresh):
    r = cu.Results("99_demo", folder=fresh)
    with pytest.raises(KeyboardInterrupt):
        with r.training("stopped"):
            raise KeyboardInterrupt
    assert "stopped" in read(r)["trainings"]


def test_data_sources_come_from_load_dataset(fresh):
    r = cu.Results("99_demo", folder=fresh)
    cu.load_dataset("cifar10", "test", limit=20, verbose=False)  # smoke: the generated stand-in
    r.save()
    assert read(r)["data"] == {"cifar10": "fallback"}
    results.note_data("cifar10", "real")  # one fallback split keeps the run a fallback run
    assert r.as_dict()["data"]["cifar10"] == "fallback"
    results.mark_start()
    results.note_data("mnist", "real")
    assert r.as_dict()["data"] == {"mnist": "real"}


def test_file_is_written_atomically_with_a_copy_per_profile_and_seed(fresh, monkeypatch):
    r = cu.Results("99_demo", folder=fresh)
    r.metric("x", 1.0)
    monkeypatch.setenv("COURSE_SEED", "2")
    r.metric("y", 2.0)
    assert sorted(p.name for p in fresh.iterdir()) == ["results.json", "smoke-seed0.json",
                                                      "smoke-seed2.json"]
    assert json.loads((fresh / "smoke-seed2.json").read_text())["metrics"] == {"x": 1.0, "y": 2.0}
