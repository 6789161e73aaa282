"""Profiles and device selection."""

import pytest
import torch

import course_utils as cu


def test_smoke_profile_selected_by_conftest():
    assert cu.get_profile() == "smoke"
    assert cu.by_profile(smoke=1, cpu=2, gpu=3) == 1


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", "full"])
def test_env_variable_overrides(monkeypatch, name):
    monkeypatch.setenv("COURSE_PROFILE", name)
    assert cu.get_profile() == name
    assert cu.by_profile(smoke="s", cpu="c", gpu="g", full="f") == name[0]
    assert name in cu.describe_profile()


def test_hardware_default_without_switches(monkeypatch):
    monkeypatch.delenv("SMOKE_TEST", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert cu.get_profile() == expected


def test_bad_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(ValueError, match="smoke, cpu, gpu, full"):
        cu.get_profile()


def test_get_device_prints_one_line(capsys):
    device = cu.get_device()
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Device: ")
    assert device.type in {"cpu", "cuda", "mps"}


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="use 'cpu'"):
        cu.get_device("cuda")


def test_mps_request_without_an_apple_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "mps")
    with pytest.raises(ValueError, match="MPS .* use 'cpu'"):
        cu.get_device()


def test_seed_everything_repeats_random_numbers():
    cu.seed_everything(123)
    a = torch.randn(5)
    cu.seed_everything(123)
    assert torch.equal(a, torch.randn(5))


@pytest.mark.parametrize("name,expected", [("gpu", "g"), ("full", "f")])
def test_full_profile_is_opt_in_and_has_its_own_value(monkeypatch, name, expected):
    monkeypatch.setenv("COURSE_PROFILE", name)
    assert cu.by_profile(smoke="s", cpu="c", gpu="g", full="f") == expected
    assert name in cu.describe_profile()


def test_full_profile_defaults_to_the_gpu_value(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert cu.by_profile(smoke=1, cpu=2, gpu=3) == 3


def test_hardware_never_picks_full(monkeypatch):
    monkeypatch.delenv("SMOKE_TEST", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cu.get_profile() == "gpu"


def test_course_seed_shifts_every_seed(monkeypatch):
    monkeypatch.delenv("COURSE_SEED", raising=False)
    cu.seed_everything(5)
    default = torch.randn(3)
    monkeypatch.setenv("COURSE_SEED", "2")
    assert cu.course_seed() == 2
    cu.seed_everything(3)  # 3 + 2 = 5: the same numbers as seed 5 without an offset
    assert torch.equal(default, torch.randn(3))
    cu.seed_everything(5)
    assert not torch.equal(default, torch.randn(3))
    assert "COURSE_SEED=2" in cu.describe_profile()


def test_course_seed_shifts_subsets_and_batch_order(monkeypatch):
    data = cu.ImageDataset(torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1),
                           torch.arange(100), tuple("0123456789"), "mnist", "train", "real")
    monkeypatch.delenv("COURSE_SEED", raising=False)
    base = data.subset(10).labels
    cpu = torch.device("cpu")
    order = next(iter(cu.make_loader(data, ((0.5,), (0.5,)), 10, train=True, device=cpu)))[1]
    assert torch.equal(base, data.subset(10).labels)  # deterministic without an offset
    monkeypatch.setenv("COURSE_SEED", "1")
    assert not torch.equal(base, data.subset(10).labels)
    shuffled = next(iter(cu.make_loader(data, ((0.5,), (0.5,)), 10, train=True, device=cpu)))[1]
    assert not torch.equal(order, shuffled)


def test_bad_course_seed_names_the_fix(monkeypatch):
    monkeypatch.setenv("COURSE_SEED", "one")
    with pytest.raises(ValueError, match="COURSE_SEED=1"):
        cu.course_seed()
