"""Training loop: history, determinism, checkpoints, interrupts, NaN stop, metrics."""

import builtins
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import course_utils as cu


def tiny_data(n=256, seed=0):
    """A small linearly separable 2-class problem shaped like 1x8x8 images."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    return [(x[i:i + 32], y[i:i + 32]) for i in range(0, n, 32)]


def tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 2))


def test_fit_returns_history_and_learns():
    cu.seed_everything(0)
    model = tiny_model()
    data = tiny_data()
    history = cu.fit(model, data, data, epochs=5, optimizer="adam", lr=1e-2)
    assert len(history) == 5 and history.stopped is None
    assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
            "images_per_s"} <= history.keys()
    assert history.last("val_acc") > 0.9
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert not model.training  # left in eval mode


def test_same_seed_same_metrics():
    runs = []
    for _ in range(2):
        cu.seed_everything(7)
        h = cu.fit(tiny_model(), tiny_data(), tiny_data(seed=1), epochs=2)
        runs.append([(r["train_loss"], r["val_acc"]) for r in h.records])
    assert runs[0] == runs[1]


def test_smoke_fit_on_real_loader_is_deterministic():
    results = []
    for _ in range(2):
        cu.seed_everything(0)
        train = cu.load_dataset("mnist", "train", limit=256)
        stats = cu.channel_stats(train)
        loader = cu.make_loader(train, stats, batch_size=64, train=True)
        h = cu.fit(cu.models.LeNet5(), loader, cu.make_loader(train, stats), epochs=1)
        results.append(h.records[0]["val_loss"])
    assert results[0] == results[1]


def test_checkpoint_round_trip(tmp_path):
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 1, 8, 8)).sum().backward()
    opt.step()
    path = cu.save_checkpoint(tmp_path / "ck" / "m.pt", model=model.state_dict(),
                              optimizer=opt.state_dict(), epoch=3, history=[{"a": 1.0}])
    fresh = tiny_model()
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    state = cu.load_checkpoint(path, fresh, fresh_opt)
    assert state["epoch"] == 3 and state["history"] == [{"a": 1.0}]
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(fresh(x), model(x))
    assert fresh_opt.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
    assert not list(tmp_path.glob("ck/*.tmp"))


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    path = cu.save_checkpoint(tmp_path / "m.pt", value=torch.tensor(1))

    def broken_save(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        cu.save_checkpoint(path, value=torch.tensor(2))
    monkeypatch.undo()
    assert cu.load_checkpoint(path)["value"].item() == 1  # the old checkpoint survives


def test_load_checkpoint_is_weights_only(tmp_path, monkeypatch):
    # Make torch.load's *default* unsafe, so only an explicit weights_only=True can refuse.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": os.system}, path)  # a pickled callable
    with pytest.raises(RuntimeError, match="safe load .* refuses.*it contains"):
        cu.load_checkpoint(path)


def test_damaged_checkpoint_says_delete_it(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="damaged.*delete it and train again"):
        cu.load_checkpoint(path)


def test_save_checkpoint_refuses_what_it_could_not_load(tmp_path):
    np = pytest.importorskip("numpy")
    path = cu.save_checkpoint(tmp_path / "m.pt", acc=0.5)
    with pytest.raises(TypeError, match=r"float\(x\) for a NumPy number"):
        cu.save_checkpoint(path, acc=np.float64(0.9))
    assert cu.load_checkpoint(path)["acc"] == 0.5  # the old checkpoint is untouched
    assert not list(tmp_path.glob("*.tmp"))
    # "path" and "optimizer" are ordinary keys: a string under "optimizer" is not loaded
    # into an optimizer.
    cu.save_checkpoint(path, model=tiny_model().state_dict(), path="x", optimizer="adam")
    model = tiny_model()
    opt = torch.optim.Adam(model.parameters())
    assert cu.load_checkpoint(path, model, opt)["path"] == "x"


def test_missing_checkpoint_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="train first"):
        cu.load_checkpoint(tmp_path / "nope.pt")


def test_resume_continues_where_it_stopped(tmp_path):
    ck = tmp_path / "run.pt"
    cu.seed_everything(0)
    model = tiny_model()
    cu.fit(model, tiny_data(), epochs=2, checkpoint=ck, schedule="constant")
    h = cu.fit(model, tiny_data(), epochs=4, checkpoint=ck, resume=True, schedule="constant")
    assert h["epoch"] == [1, 2, 3, 4]
    assert cu.load_checkpoint(ck)["epoch"] == 4


def test_resume_with_onecycle_matches_an_uninterrupted_run(tmp_path):
    ck = tmp_path / "run.pt"
    cu.seed_everything(0)
    full = cu.fit(tiny_model(), tiny_data(), epochs=4, lr=0.1)
    cu.seed_everything(0)
    model = InterruptAfter(n=8 * 2 + 1)  # 8 batches per epoch: Ctrl-C at the start of epoch 3
    assert len(cu.fit(model, tiny_data(), epochs=4, lr=0.1, checkpoint=ck)) == 2
    model.n = -1  # no more interrupts
    resumed = cu.fit(model, tiny_data(), epochs=4, lr=0.1, checkpoint=ck, resume=True)
    assert resumed["epoch"] == [1, 2, 3, 4]
    assert resumed["lr"] == pytest.approx(full["lr"])  # the schedule went on where it stopped
    fresh = tiny_model()
    before = [p.detach().clone() for p in fresh.parameters()]
    with pytest.raises(ValueError, match="resume with epochs=4"):
        cu.fit(fresh, tiny_data(), epochs=6, lr=0.1, checkpoint=ck, resume=True)
    with pytest.raises(ValueError, match="8 batches per epoch, this loader has 4"):
        cu.fit(fresh, tiny_data(n=128), epochs=4, lr=0.1, checkpoint=ck, resume=True)
    for p, p0 in zip(fresh.parameters(), before):  # a refused resume loads nothing
        assert torch.equal(p, p0)


def test_a_fresh_run_stopped_in_its_first_epoch_leaves_the_old_checkpoint_in_place(tmp_path):
    ck = tmp_path / "run.pt"
    cu.fit(tiny_model(), tiny_data(), epochs=1, checkpoint=ck)
    h = cu.fit(InterruptAfter(n=3), tiny_data(), epochs=2, checkpoint=ck)  # no resume=True
    assert h.stopped == "interrupted"
    assert cu.load_checkpoint(ck)["epoch"] == 1 and not (tmp_path / "run.pt.previous").exists()


def test_an_interrupt_while_saving_never_claims_an_unsaved_epoch(tmp_path, monkeypatch):
    import course_utils.training as training

    ck = tmp_path / "run.pt"
    real_save, calls = training.save_checkpoint, []

    def save_then_interrupt(path, /, **state):
        calls.append(state["epoch"])
        if len(calls) == 2:  # Ctrl-C while epoch 2 is being written
            open(str(path) + ".tmp", "wb").write(b"partial")
            raise KeyboardInterrupt
        return real_save(path, **state)

    monkeypatch.setattr(training, "save_checkpoint", save_then_interrupt)
    h = cu.fit(tiny_model(), tiny_data(), epochs=3, checkpoint=ck)
    assert h.stopped == "interrupted" and len(h) == 1 == cu.load_checkpoint(ck)["epoch"]


def test_save_checkpoint_leaves_no_temporary_file_when_interrupted(tmp_path, monkeypatch):
    real_load = torch.load

    def interrupted_load(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "load", interrupted_load)
    with pytest.raises(KeyboardInterrupt):
        cu.save_checkpoint(tmp_path / "m.pt", value=torch.tensor(1))
    monkeypatch.setattr(torch, "load", real_load)
    assert list(tmp_path.iterdir()) == []


def test_fresh_run_keeps_the_old_checkpoint(tmp_path, capsys):
    ck = tmp_path / "run.pt"
    cu.fit(tiny_model(), tiny_data(), epochs=1, checkpoint=ck)
    first = cu.load_checkpoint(ck)["model"]
    cu.fit(tiny_model(), tiny_data(), epochs=1, checkpoint=ck)  # no resume=True
    assert "kept as" in capsys.readouterr().out
    kept = cu.load_checkpoint(tmp_path / "run.pt.previous")["model"]
    for key in first:
        torch.testing.assert_close(kept[key], first[key])


class InterruptAfter(nn.Module):
    """Raises KeyboardInterrupt (like Ctrl-C) on the n-th forward pass in training mode."""

    def __init__(self, n):
        super().__init__()
        self.net, self.calls, self.n = tiny_model(), 0, n

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
        return self.net(x)


def test_interrupt_returns_history_and_keeps_checkpoint(tmp_path, capsys):
    ck = tmp_path / "run.pt"
    model = InterruptAfter(n=8 * 2 + 3)  # 8 batches per epoch: stop inside epoch 3
    h = cu.fit(model, tiny_data(), epochs=5, checkpoint=ck)
    assert h.stopped == "interrupted" and len(h) == 2
    out = capsys.readouterr().out
    assert "interrupted after 2 complete epoch(s)" in out and str(ck) in out
    assert "resume=True" in out
    assert cu.load_checkpoint(ck)["epoch"] == 2


def test_nan_stop_points_to_the_last_good_checkpoint(tmp_path, capsys):
    ck = tmp_path / "run.pt"
    model = tiny_model()

    def poison(module, args):  # from epoch 2 on, the weights turn NaN
        if module.training and poison.calls == 8:
            with torch.no_grad():
                module.weight.fill_(float("nan"))
        poison.calls += module.training

    poison.calls = 0
    model[1].register_forward_pre_hook(poison)
    h = cu.fit(model, tiny_data(), epochs=3, checkpoint=ck)
    assert h.stopped == "non-finite loss" and len(h) == 1
    assert "cu.load_checkpoint" in capsys.readouterr().out
    cu.load_checkpoint(ck, model)  # the advice works: the epoch-1 weights are finite
    assert torch.isfinite(model[1].weight).all()


def test_nan_loss_stops_with_a_hint(capsys):
    model = tiny_model()
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    h = cu.fit(model, tiny_data(), epochs=3)
    assert h.stopped == "non-finite loss" and len(h) == 0
    assert "lower learning rate" in capsys.readouterr().out


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="'sgd', 'adam', 'adamw'"):
        cu.fit(tiny_model(), tiny_data(), epochs=1, optimizer="lion")
    with pytest.raises(ValueError, match="'onecycle', 'cosine', 'constant'"):
        cu.fit(tiny_model(), tiny_data(), epochs=1, schedule="wavy")
    frozen = tiny_model().requires_grad_(False)
    with pytest.raises(ValueError, match="freeze everything"):
        cu.fit(frozen, tiny_data(), epochs=1)


def test_epoch_scheduler_instance_is_stepped_per_epoch():
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1], gamma=0.1)
    h = cu.fit(model, tiny_data(), epochs=2, optimizer=opt, schedule=sched)
    assert h["lr"] == pytest.approx([0.1, 0.01])


def test_predict_evaluate_and_metrics():
    cu.seed_everything(0)
    model = tiny_model()
    data = tiny_data()
    cu.fit(model, data, epochs=3, optimizer="adam", lr=1e-2)
    probs, labels = cu.predict(model, data)
    assert probs.shape == (256, 2) and torch.allclose(probs.sum(1), torch.ones(256))
    acc = cu.evaluate(model, data)["acc"]
    assert acc == pytest.approx((probs.argmax(1) == labels).float().mean().item())
    cm = cu.confusion_matrix(labels, probs.argmax(1), 2)
    assert cm.sum() == 256 and cm.trace() == round(acc * 256)
    per_class = cu.per_class_accuracy(labels, probs.argmax(1), 2)
    assert per_class.shape == (2,)


def test_confusion_matrix_by_hand():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 2, 0, 2])
    assert cu.confusion_matrix(labels, preds, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cu.per_class_accuracy(labels, preds, 3).tolist() == pytest.approx([0.5, 1, 2 / 3])
    with pytest.raises(ValueError, match="differ"):
        cu.confusion_matrix(labels, preds[:3], 3)


def test_tensorboard_logging_and_clean_skip(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboard")
    cu.fit(tiny_model(), tiny_data(), epochs=1, tensorboard_dir=tmp_path / "tb")
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    h = cu.fit(tiny_model(), tiny_data(), epochs=1, tensorboard_dir=tmp_path / "tb2")
    assert len(h) == 1 and "TensorBoard is not installed" in capsys.readouterr().out


def test_compile_only_on_cuda_with_triton(monkeypatch, capsys):
    import torch.utils._triton as triton_check

    from course_utils.training import compiled_runner

    model = nn.Linear(2, 2)
    assert compiled_runner(model, torch.device("cpu")) is model  # CPU: nothing to gain
    monkeypatch.setattr(triton_check, "has_triton", lambda: False)
    assert compiled_runner(model, torch.device("cuda")) is model  # no Triton: eager, with a hint
    assert "pip install triton" in capsys.readouterr().out
    monkeypatch.setattr(triton_check, "has_triton", lambda: True)
    runner = compiled_runner(model, torch.device("cuda"))  # compiles lazily, on the first call
    assert runner is not model and runner._orig_mod is model


def test_mixed_precision_type_follows_the_gpu(monkeypatch):
    assert cu.amp_dtype(torch.device("cpu")) is None  # full precision off CUDA
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert cu.amp_dtype(torch.device("cuda")) == torch.float16  # T4: no bfloat16 tensor cores
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert cu.amp_dtype(torch.device("cuda")) == torch.bfloat16  # H100


class CountingScaler:
    """A CPU GradScaler that counts how often the loss was scaled."""

    def __init__(self):
        self.inner, self.calls = torch.amp.GradScaler("cpu", init_scale=2.0**10), 0

    def scale(self, loss):
        self.calls += 1
        return self.inner.scale(loss)

    def __getattr__(self, name):
        return getattr(self.inner, name)


needs_cpu_scaler = pytest.mark.skipif(not hasattr(torch.amp, "GradScaler"),
                                      reason="torch.amp.GradScaler('cpu') needs PyTorch >= 2.3")


@needs_cpu_scaler
def test_fit_scales_the_loss_when_training_in_float16(monkeypatch, tmp_path):
    import contextlib

    import course_utils.training as training

    scaler = CountingScaler()
    monkeypatch.setattr(training, "amp_dtype", lambda device: torch.float16)  # as on a T4
    monkeypatch.setattr(training, "_autocast", lambda device, amp: contextlib.nullcontext())
    monkeypatch.setattr(training, "_grad_scaler", lambda enabled=True: scaler)
    h = cu.fit(tiny_model(), tiny_data(), epochs=1, checkpoint=tmp_path / "run.pt")
    assert len(h) == 1 and scaler.calls == 8  # every one of the 8 steps went through the scaler
    assert "grad_scaler" in cu.load_checkpoint(tmp_path / "run.pt")


@needs_cpu_scaler
@pytest.mark.parametrize("grad_clip", [None, 0.5])
def test_loss_scaling_path_trains_exactly_like_the_plain_one(grad_clip):
    # The float16 path scales the loss by a power of two and unscales the gradients: in float32
    # (here on the CPU) that is exact, so both paths must give the same weights.
    from course_utils.training import train_one_epoch

    weights = []
    scalers = (None, CountingScaler())
    for scaler in scalers:
        cu.seed_everything(0)
        model = tiny_model()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        record = train_one_epoch(model, tiny_data(), opt, None, torch.device("cpu"), False,
                                  False, 0.0, grad_clip, False, scaler)
        assert record is not None and record["train_acc"] > 0.5
        weights.append([p.detach().clone() for p in model.parameters()])
    assert scalers[1].calls == 8  # the scaled path was really taken
    for plain, scaled in zip(*weights):
        torch.testing.assert_close(scaled, plain, rtol=0, atol=0)


def test_one_interrupt_stops_a_loop_of_trainings_in_the_same_cell(monkeypatch, capsys):
    import course_utils.training as training

    cell = [5]  # stands in for IPython's execution count of the running cell
    monkeypatch.setattr(training, "_notebook_cell", lambda: cell[0])
    monkeypatch.setattr(training, "_interrupted_cell", [None])
    h = cu.fit(InterruptAfter(n=3), tiny_data(), epochs=2)
    assert h.stopped == "interrupted"
    with pytest.raises(KeyboardInterrupt, match="earlier in this cell"):
        cu.fit(tiny_model(), tiny_data(), epochs=1)  # the next training of the same loop
    cell[0] = 6  # the student runs a cell again: it trains
    assert len(cu.fit(tiny_model(), tiny_data(), epochs=1)) == 1


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_make_optimizer_uses_the_values_passed(name):
    model = nn.Linear(3, 2)
    opt = cu.make_optimizer(model, name, lr=0.0123, weight_decay=0.0)
    assert opt.param_groups[0]["lr"] == 0.0123
    assert opt.param_groups[0]["weight_decay"] == 0.0
    default = cu.make_optimizer(model, name)
    assert default.param_groups[0]["lr"] == (0.05 if name == "sgd" else 1e-3)


def test_fit_trains_exactly_like_a_plain_loop_over_a_dataloader():
    """Notebook 02's equivalence: same seed and batch order -> the same epoch, to rounding.

    A progress bar that calls iter(loader) an extra time would advance the DataLoader's
    shuffling generator and train on a different batch order.
    """
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(96, 1, 8, 8), torch.randint(0, 3, (96,)))
    order = torch.Generator()
    loader = DataLoader(data, batch_size=16, shuffle=True, generator=order)

    def fresh():
        torch.manual_seed(1)
        order.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))
        return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    model_a, opt_a = fresh()
    model_a.train()
    total = 0.0
    for x, y in loader:
        loss = F.cross_entropy(model_a(x), y)
        opt_a.zero_grad()
        loss.backward()
        opt_a.step()
        total += loss.item() * len(y)
    model_b, opt_b = fresh()
    history = cu.fit(model_b, loader, epochs=1, optimizer=opt_b, schedule="constant",
                     device=torch.device("cpu"), progress=True, verbose=False)
    assert history.last("train_loss") == pytest.approx(total / 96, rel=1e-6)
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
