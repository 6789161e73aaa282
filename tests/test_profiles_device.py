"""Profiles and device selection."""

import pytest
import torch

import course_utils as cu


def test_smoke_profile_selected_by_conftest():
    assert cu.get_profile() == "smoke"
    assert cu.by_profile(smoke=1, cpu=2, gpu=3) == 1


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu"])
def test_env_variable_overrides(monkeypatch, name):
    monkeypatch.setenv("COURSE_PROFILE", name)
    assert cu.get_profile() == name
    assert cu.by_profile(smoke="s", cpu="c", gpu="g") == name[0]
    assert name in cu.describe_profile()


def test_hardware_default_without_switches(monkeypatch):
    monkeypatch.delenv("SMOKE_TEST", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert cu.get_profile() == expected


def test_bad_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
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
