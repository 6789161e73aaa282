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


def train(model, data, val=None, *, epochs, lr=0.05, adam=False, onecycle=True, hooks=(),
          **extras):
    """fit with the course's usual recipe: SGD (or Adam) and a one-cycle schedule."""
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if adam else
           torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                           weight_decay=5e-4))
    sched = cu.one_cycle(opt, epochs * len(data)) if onecycle else None
    return cu.fit(model, data, val, epochs=epochs, optimizer=opt, scheduler=sched,
                  extras=cu.Extras(**extras), hooks=hooks)


def test_fit_returns_history_and_learns():
    cu.seed_everything(0)
    model = tiny_model()
    data = tiny_data()
    history = train(model, data, data, epochs=5, adam=True, lr=1e-2)
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
        h = train(tiny_model(), tiny_data(), tiny_data(seed=1), epochs=2)
        runs.append([(r["train_loss"], r["val_acc"]) for r in h.records])
    assert runs[0] == runs[1]


def test_smoke_fit_on_real_loader_is_deterministic():
    results = []
    for _ in range(2):
        cu.seed_everything(0)
        mnist = cu.load_dataset("mnist", "train", limit=256)
        stats = cu.channel_stats(mnist)
        loader = cu.make_loader(mnist, stats, batch_size=64, train=True)
        h = train(cu.models.LeNet5(), loader, cu.make_loader(mnist, stats), epochs=1)
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
    train(model, tiny_data(), epochs=2, onecycle=False, hooks=[cu.Checkpoint(ck)])
    h = train(model, tiny_data(), epochs=4, onecycle=False, hooks=[cu.Checkpoint(ck, resume=True)])
    assert h["epoch"] == [1, 2, 3, 4]
    assert cu.load_checkpoint(ck)["epoch"] == 4


def test_resume_with_onecycle_matches_an_uninterrupted_run(tmp_path):
    ck = tmp_path / "run.pt"
    cu.seed_everything(0)
    full = train(tiny_model(), tiny_data(), epochs=4, lr=0.1)
    cu.seed_everything(0)
    model = InterruptAfter(n=8 * 2 + 1)  # 8 batches per epoch: Ctrl-C at the start of epoch 3
    assert len(train(model, tiny_data(), epochs=4, lr=0.1, hooks=[cu.Checkpoint(ck)])) == 2
    model.n = -1  # no more interrupts
    resumed = train(model, tiny_data(), epochs=4, lr=0.1, hooks=[cu.Checkpoint(ck, resume=True)])
    assert resumed["epoch"] == [1, 2, 3, 4]
    assert resumed["lr"] == pytest.approx(full["lr"])  # the schedule went on where it stopped
    fresh = tiny_model()
    before = [p.detach().clone() for p in fresh.parameters()]
    with pytest.raises(ValueError, match="resume with epochs=4"):
        train(fresh, tiny_data(), epochs=6, lr=0.1, hooks=[cu.Checkpoint(ck, resume=True)])
    with pytest.raises(ValueError, match="8 batches per epoch, this loader has 4"):
        train(fresh, tiny_data(n=128), epochs=4, lr=0.1, hooks=[cu.Checkpoint(ck, resume=True)])
    for p, p0 in zip(fresh.parameters(), before):  # a refused resume loads nothing
        assert torch.equal(p, p0)


def test_a_fresh_run_stopped_in_its_first_epoch_leaves_the_old_checkpoint_in_place(tmp_path):
    ck = tmp_path / "run.pt"
    train(tiny_model(), tiny_data(), epochs=1, hooks=[cu.Checkpoint(ck)])
    h = train(InterruptAfter(n=3), tiny_data(), epochs=2, hooks=[cu.Checkpoint(ck)])  # no resume
    assert h.stopped == "interrupted"
    assert cu.load_checkpoint(ck)["epoch"] == 1 and not (tmp_path / "run.pt.previous").exists()


def test_an_interrupt_while_saving_never_claims_an_unsaved_epoch(tmp_path, monkeypatch):
    import course_utils.hooks as hooks

    ck = tmp_path / "run.pt"
    real_save, calls = hooks.save_checkpoint, []

    def save_then_interrupt(path, /, **state):
        calls.append(state["epoch"])
        if len(calls) == 2:  # Ctrl-C while epoch 2 is being written
            open(str(path) + ".tmp", "wb").write(b"partial")
            raise KeyboardInterrupt
        return real_save(path, **state)

    monkeypatch.setattr(hooks, "save_checkpoint", save_then_interrupt)
    h = train(tiny_model(), tiny_data(), epochs=3, hooks=[cu.Checkpoint(ck)])
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
    train(tiny_model(), tiny_data(), epochs=1, hooks=[cu.Checkpoint(ck)])
    first = cu.load_checkpoint(ck)["model"]
    train(tiny_model(), tiny_data(), epochs=1, hooks=[cu.Checkpoint(ck)])  # no resume=True
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
    h = train(model, tiny_data(), epochs=5, hooks=[cu.Checkpoint(ck)])
    assert h.stopped == "interrupted" and len(h) == 2
    out = capsys.readouterr().out
    assert "interrupted after 2 complete epoch(s)" in out and str(ck) in out
    assert "resume=True" in out
    assert cu.load_checkpoint(ck)["epoch"] == 2


def poisoned_after(model, steps):
    """``model`` whose first Linear's weights turn NaN at training step ``steps`` + 1."""
    calls = [0]

    def poison(module, args):
        if module.training and calls[0] == steps:
            with torch.no_grad():
                module.weight.fill_(float("nan"))
        calls[0] += module.training

    model[1].register_forward_pre_hook(poison)
    return model


def test_nan_stop_points_to_the_last_good_checkpoint(tmp_path, capsys):
    ck = tmp_path / "run.pt"
    model = poisoned_after(tiny_model(), steps=8)  # from epoch 2 on, the weights turn NaN
    h = train(model, tiny_data(), epochs=3, hooks=[cu.Checkpoint(ck)])
    assert h.stopped == "non-finite loss" and len(h) == 1
    assert "cu.load_checkpoint" in capsys.readouterr().out
    cu.load_checkpoint(ck, model)  # the advice works: the epoch-1 weights are finite
    assert torch.isfinite(model[1].weight).all()


def test_nan_loss_stops_with_a_hint(capsys):
    model = tiny_model()
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    h = train(model, tiny_data(), epochs=3)
    assert h.stopped == "non-finite loss" and len(h) == 0
    assert "lower learning rate" in capsys.readouterr().out


def test_predict_evaluate_and_metrics():
    cu.seed_everything(0)
    model = tiny_model()
    data = tiny_data()
    train(model, data, epochs=3, adam=True, lr=1e-2)
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
    train(tiny_model(), tiny_data(), epochs=1, hooks=[cu.TensorBoard(tmp_path / "tb")])
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    h = train(tiny_model(), tiny_data(), epochs=1, hooks=[cu.TensorBoard(tmp_path / "tb2")])
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
    h = train(tiny_model(), tiny_data(), epochs=1, hooks=[cu.Checkpoint(tmp_path / "run.pt")])
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
        record = train_one_epoch(model, tiny_data(), opt, torch.device("cpu"),
                                 extras=cu.Extras(amp=False, grad_clip=grad_clip), scaler=scaler)
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
    h = train(InterruptAfter(n=3), tiny_data(), epochs=2)
    assert h.stopped == "interrupted"
    with pytest.raises(KeyboardInterrupt, match="earlier in this cell"):
        train(tiny_model(), tiny_data(), epochs=1)  # the next training of the same loop
    cell[0] = 6  # the student runs a cell again: it trains
    assert len(train(tiny_model(), tiny_data(), epochs=1)) == 1


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
    history = cu.fit(model_b, loader, epochs=1, optimizer=opt_b,
                     extras=cu.Extras(progress=True, verbose=False))
    assert history.last("train_loss") == pytest.approx(total / 96, rel=1e-6)
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_fit_stays_a_short_composition():
    """The issue's promise to students: fit's core fits on one screen (shown in notebook 02)."""
    import inspect

    params = inspect.signature(cu.fit).parameters
    body = inspect.getsource(cu.fit).split('"""')[2]
    assert len(params) <= 8
    assert len([line for line in body.splitlines() if line.strip()]) <= 40


def test_the_scheduler_steps_after_every_batch():
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 / (1 + step))
    h = cu.fit(model, tiny_data(), epochs=2, optimizer=opt, scheduler=sched)
    assert sched.last_epoch == 16  # 8 batches x 2 epochs
    assert h["lr"] == pytest.approx([1.0, 1 / 9])  # each epoch records the lr it started with


def test_one_cycle_warms_up_then_anneals():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    sched = cu.one_cycle(opt, total_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.01) and max(lrs) == pytest.approx(0.1, rel=1e-3)
    assert lrs.index(max(lrs)) in (24, 25) and lrs[-1] < 1e-3
    cu.one_cycle(opt, total_steps=1)  # a one-batch smoke run must not fail


class CountEpochs(cu.Hook):
    def __init__(self):
        self.events = []

    def on_fit_start(self, run):
        self.events.append(("start", run.epochs, run.steps_per_epoch))

    def on_epoch_end(self, run, record):
        self.events.append(("epoch", record["epoch"], len(run.history)))

    def on_fit_end(self, run):
        self.events.append(("end", run.history.stopped))


def test_hooks_are_called_in_order_also_after_an_interrupt():
    hook = CountEpochs()
    train(tiny_model(), tiny_data(), epochs=2, hooks=[hook])
    assert hook.events == [("start", 2, 8), ("epoch", 1, 0), ("epoch", 2, 1), ("end", None)]
    hook = CountEpochs()
    train(InterruptAfter(n=8 + 3), tiny_data(), epochs=3, hooks=[hook])
    assert hook.events[-1] == ("end", "interrupted") and len(hook.events) == 3


class ValAccuracies:
    """A validation 'loader' whose accuracy the test dictates: all correct, then all wrong."""

    def __init__(self, good_epochs):
        self.good_epochs, self.calls = good_epochs, 0

    def __iter__(self):
        self.calls += 1
        x = torch.zeros(4, 1, 8, 8)
        y = torch.full((4,), 0 if self.calls <= self.good_epochs else 1)
        return iter([(x, y)])


def test_keep_best_restores_the_best_validation_epoch(capsys):
    cu.seed_everything(0)
    model = tiny_model()
    keep = cu.KeepBest()
    val = ValAccuracies(good_epochs=2)  # epochs 1-2 score 100%, epoch 3 scores 0%
    weights = []

    class Snapshot(cu.Hook):
        def on_epoch_end(self, run, record):
            weights.append([p.detach().clone() for p in run.model.parameters()])

    h = train(model, tiny_data(), val, epochs=3, hooks=[keep, Snapshot()])
    assert h["val_acc"] == [1.0, 1.0, 0.0] and keep.best_epoch == 1  # the first of the ties
    for p, best in zip(model.parameters(), weights[0]):
        torch.testing.assert_close(p, best, rtol=0, atol=0)
    assert "restored epoch 1's weights" in capsys.readouterr().out


def test_keep_best_leaves_a_model_whose_last_epoch_was_best_alone(capsys):
    model = tiny_model()
    h = train(model, tiny_data(), ValAccuracies(good_epochs=3), epochs=1, hooks=[cu.KeepBest()])
    assert len(h) == 1 and "restored" not in capsys.readouterr().out


def test_keep_best_restores_good_weights_after_a_nan_stop():
    model = poisoned_after(tiny_model(), steps=9)  # the weights turn NaN during epoch 2
    keep = cu.KeepBest()
    h = train(model, tiny_data(), tiny_data(), epochs=3, hooks=[keep])
    assert h.stopped == "non-finite loss" and keep.best_epoch == 1
    assert torch.isfinite(model[1].weight).all()


def test_keep_best_without_validation_data_names_the_fix():
    with pytest.raises(ValueError, match="pass a validation loader"):
        train(tiny_model(), tiny_data(), epochs=1, hooks=[cu.KeepBest()])
    with pytest.raises(ValueError, match="'max'"):
        cu.KeepBest(mode="best")
