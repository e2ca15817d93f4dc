import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from practicaltorch.data import TensorBatches
from practicaltorch.models import MLP
from practicaltorch.training import (
    Callback,
    Checkpoint,
    EarlyStopping,
    FitState,
    History,
    NonFiniteLossError,
    PrintLog,
    ProgressBar,
    evaluate,
    fit,
    load_checkpoint,
    multiclass_metrics,
    random_state,
    regression_metrics,
    save_checkpoint,
    set_random_state,
    standard_callbacks,
)

CPU = torch.device("cpu")


def blobs(n: int = 300, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three well-separated Gaussian blobs in 2-D: an easy classification problem."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    return centres[y] + 0.5 * torch.randn(n, 2, generator=g), y


def setup(
    seed: int = 0, lr: float = 0.05, dropout: float = 0.0
) -> tuple[nn.Module, TensorBatches, TensorBatches, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    x, y = blobs()
    model = MLP(2, 3, hidden=(16,), dropout=dropout)
    train = TensorBatches(x[:240], y[:240], 32, shuffle=True, seed=seed)
    valid = TensorBatches(x[240:], y[240:], 64)
    return model, train, valid, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def fit_cpu(
    model: nn.Module,
    train: TensorBatches,
    valid: TensorBatches,
    opt: torch.optim.Optimizer,
    epochs: int,
    **options: Any,
) -> History:
    """Fit with cross-entropy on the CPU: the call most of these tests make."""
    return fit(
        model, train, valid, nn.CrossEntropyLoss(), opt, epochs=epochs, device=CPU, **options
    )


def without_seconds(records: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def assert_same_weights(model: nn.Module, expected: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)


def test_fit_learns_and_records_history() -> None:
    model, train, valid, opt = setup()
    history = fit_cpu(model, train, valid, opt, 5, metrics=multiclass_metrics(3))
    assert len(history) == 5
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.last["valid_accuracy"] >= 0.95
    assert {"epoch", "lr", "train_loss", "valid_loss", "valid_f1", "seconds"} <= set(history.keys())
    assert history["seconds"] == sorted(history["seconds"])
    with pytest.raises(KeyError, match="recorded"):
        history["valid_typo"]


def test_fit_rejects_zero_epochs() -> None:
    model, train, valid, opt = setup()
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        fit_cpu(model, train, valid, opt, 0)


def test_evaluate_leaves_weights_alone_and_reports_metrics() -> None:
    model, _, valid, _ = setup()
    before = [p.clone() for p in model.parameters()]
    results = evaluate(model, valid, nn.CrossEntropyLoss(), CPU, metrics=multiclass_metrics(3))
    assert set(results) == {"loss", "accuracy", "precision", "recall", "f1"}
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_regression_metrics_in_physical_units() -> None:
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(3.0)
        model.bias.fill_(0.5)  # off by exactly 0.5 everywhere
    results = evaluate(
        model,
        TensorBatches(x, y, 16),
        nn.MSELoss(),
        CPU,
        metrics=regression_metrics(),
        metric_transform=lambda o, t: (o * 100, t * 100),
    )
    assert results["mae"] == pytest.approx(50.0, rel=1e-5)
    assert results["rmse"] == pytest.approx(50.0, rel=1e-5)
    assert results["loss"] == pytest.approx(0.25, rel=1e-5)


def test_nan_loss_stops_with_epoch_and_batch() -> None:
    model, train, valid, _ = setup()
    x, y = train.inputs.clone(), train.targets
    x[100] = float("nan")
    bad = TensorBatches(x, y, 32)  # unshuffled: the NaN is in batch 4
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, batch 4") as caught:
        fit(model, bad, valid, nn.CrossEntropyLoss(), opt, epochs=2, device=CPU)
    assert "learning rate" in str(caught.value)


def test_one_cycle_steps_every_batch_and_step_lr_every_epoch() -> None:
    model, train, valid, opt = setup()
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3 * len(train))
    fit_cpu(model, train, valid, opt, 3, scheduler=one_cycle)
    assert one_cycle.last_epoch == 3 * len(train)  # would raise past total_steps if overstepped

    model, train, valid, opt = setup()
    step = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit_cpu(model, train, valid, opt, 3, scheduler=step)
    assert history["lr"] == pytest.approx([0.05, 0.025, 0.0125])


def test_reduce_on_plateau_gets_the_validation_loss() -> None:
    seen: list[float] = []

    class Recording(torch.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics: float, epoch: int | None = None) -> None:  # type: ignore[override]
            seen.append(metrics)
            super().step(metrics)

    model, train, valid, opt = setup()
    plateau = Recording(opt, patience=0, factor=0.5)
    history = fit_cpu(model, train, valid, opt, 3, scheduler=plateau)
    assert seen == history["valid_loss"]


def interrupted_then_resumed(
    tmp_path: Path,
    epochs: int,
    stop_after: int,
    make_callbacks: Callable[[], Callback] | None = None,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train ``stop_after`` epochs with checkpoints, then resume as a new process would."""
    model, train, valid, opt = setup(seed=4, dropout=0.2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * len(train))
    extra = [make_callbacks()] if make_callbacks else []
    fit_cpu(
        model,
        train,
        valid,
        opt,
        stop_after,
        scheduler=sched,
        callbacks=[Checkpoint(tmp_path), *extra],
    )
    # A new process would rebuild everything from scratch, with other random state:
    torch.manual_seed(999)
    np.random.seed(999)
    random.seed(999)
    model, train, valid, opt = setup(seed=77, dropout=0.2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * len(train))
    extra = [make_callbacks()] if make_callbacks else []
    history = fit_cpu(
        model,
        train,
        valid,
        opt,
        epochs,
        scheduler=sched,
        callbacks=[Checkpoint(tmp_path, resume=True), *extra],
    )
    return model, history.to_list()


def straight_run(
    epochs: int, callback: Callback | None = None
) -> tuple[nn.Module, list[dict[str, float]]]:
    model, train, valid, opt = setup(seed=4, dropout=0.2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * len(train))
    history = fit_cpu(
        model, train, valid, opt, epochs, scheduler=sched, callbacks=[callback] if callback else []
    )
    return model, history.to_list()


def test_resume_after_interruption_gives_identical_weights_and_history(tmp_path: Path) -> None:
    model, history = straight_run(4)
    straight = {k: v.clone() for k, v in model.state_dict().items()}
    resumed, resumed_history = interrupted_then_resumed(tmp_path, epochs=4, stop_after=2)
    assert [r["epoch"] for r in resumed_history] == [1.0, 2.0, 3.0, 4.0]
    assert without_seconds(resumed_history) == without_seconds(history)  # exactly equal
    assert_same_weights(resumed, straight)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 4


def test_resume_keeps_early_stopping_progress(tmp_path: Path) -> None:
    def stopper() -> EarlyStopping:
        return EarlyStopping(patience=2, min_delta=0.05)

    model, history = straight_run(30, stopper())
    assert len(history) < 30, "the straight run stops early"
    resumed, resumed_history = interrupted_then_resumed(tmp_path, 30, len(history) - 1, stopper)
    assert without_seconds(resumed_history) == without_seconds(history)
    assert_same_weights(resumed, model.state_dict())  # the same best epoch restored


def test_resume_restores_numpy_python_and_dataloader_shuffling(tmp_path: Path) -> None:
    x, y = blobs()

    def run(
        epochs: int, checkpoint: Checkpoint | None, seed: int
    ) -> tuple[list[float], list[float]]:
        torch.manual_seed(seed)
        model = MLP(2, 3, hidden=(8,))
        loader = DataLoader(
            TensorDataset(x, y),
            batch_size=50,
            shuffle=True,
            generator=torch.Generator().manual_seed(seed),
        )
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        draws: list[float] = []

        class Draw(Callback):  # something in the run that uses numpy and random
            def after_epoch(self, state: FitState) -> None:
                draws.append(float(np.random.rand()) + random.random())

        history = fit(
            model,
            loader,
            None,
            nn.CrossEntropyLoss(),
            opt,
            epochs=epochs,
            device=CPU,
            callbacks=[Draw()] + ([checkpoint] if checkpoint else []),
        )
        return draws, history["train_loss"]

    np.random.seed(0)
    random.seed(0)
    straight_draws, straight_losses = run(3, None, seed=0)
    np.random.seed(0)
    random.seed(0)
    first_draws, _ = run(1, Checkpoint(tmp_path), seed=0)
    np.random.seed(5)
    random.seed(5)
    later_draws, resumed_losses = run(3, Checkpoint(tmp_path, resume=True), seed=5)
    assert first_draws + later_draws == straight_draws
    assert resumed_losses == straight_losses


def test_resume_without_a_checkpoint_starts_afresh(tmp_path: Path) -> None:
    model, train, valid, opt = setup()
    history = fit_cpu(
        model, train, valid, opt, 2, callbacks=[Checkpoint(tmp_path / "new", resume=True)]
    )
    assert len(history) == 2
    assert (tmp_path / "new" / "last.pt").is_file()


def test_resume_from_a_foreign_or_mismatched_checkpoint_is_clear(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "last.pt", model=nn.Linear(2, 3).state_dict())
    model, train, valid, opt = setup()
    with pytest.raises(ValueError, match="not a training checkpoint"):
        fit_cpu(model, train, valid, opt, 2, callbacks=[Checkpoint(tmp_path, resume=True)])
    fit_cpu(model, train, valid, opt, 1, callbacks=[])
    other = tmp_path / "other"
    fit_cpu(model, train, valid, opt, 1, callbacks=[Checkpoint(other)])
    wider = MLP(2, 3, hidden=(32,))
    with pytest.raises(ValueError, match="does not fit this model"):
        fit(
            wider,
            train,
            valid,
            nn.CrossEntropyLoss(),
            torch.optim.SGD(wider.parameters(), lr=0.1),
            epochs=2,
            device=CPU,
            callbacks=[Checkpoint(other, resume=True)],
        )


def test_random_state_round_trip() -> None:
    saved = random_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    set_random_state(saved)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


def test_cuda_random_states_are_saved_and_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA branch, with a pretend GPU: there is no GPU on the test machine."""
    generators = [torch.tensor([1, 2], dtype=torch.uint8), torch.tensor([3], dtype=torch.uint8)]
    restored: dict[int, torch.Tensor] = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: generators)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, d: restored.__setitem__(d, s))
    save_checkpoint(tmp_path / "r.pt", random=random_state())
    set_random_state(load_checkpoint(tmp_path / "r.pt")["random"])
    assert sorted(restored) == [0, 1]
    assert all(torch.equal(restored[i], generators[i]) for i in range(2))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="no GPU is available"):
        set_random_state(load_checkpoint(tmp_path / "r.pt")["random"])


def test_early_stopping_restores_best_weights(tmp_path: Path) -> None:
    model, train, valid, opt = setup()
    stopper = EarlyStopping(monitor="valid_loss", patience=2, min_delta=0.01)
    lines: list[str] = []
    history = fit_cpu(
        model,
        train,
        valid,
        opt,
        60,
        callbacks=[PrintLog(lines.append), Checkpoint(tmp_path), stopper],
    )
    assert len(history) < 60, "stopped early"
    assert len(history) == stopper.best_epoch + stopper.patience
    best_loss = history["valid_loss"][stopper.best_epoch - 1]
    assert best_loss == stopper.best
    assert evaluate(model, valid, nn.CrossEntropyLoss(), CPU)["loss"] == pytest.approx(
        best_loss, rel=1e-5
    )
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == stopper.best_epoch
    assert lines[0].startswith("epoch 1/60  train_loss=")
    assert lines[-1] == (
        f"early stopping: no improvement in valid_loss for 2 epochs; best was epoch "
        f"{stopper.best_epoch}"
    )
    assert len(lines) == len(history) + 1


def test_early_stopping_unknown_monitor_is_clear() -> None:
    model, train, valid, opt = setup()
    with pytest.raises(KeyError, match="valid_acc"):
        fit_cpu(
            model, train, valid, opt, 2, callbacks=[EarlyStopping(monitor="valid_acc", mode="max")]
        )


def test_callbacks_run_in_order_with_three_hooks() -> None:
    calls: list[str] = []

    class Spy(Callback):
        def __init__(self, name: str, order: int) -> None:
            self.name, self.order = name, order

        def before_fit(self, state: FitState) -> None:
            calls.append(f"{self.name}:before")

        def after_epoch(self, state: FitState) -> None:
            calls.append(f"{self.name}:{state.epoch}")
            if state.epoch == 2 and self.name == "stopper":
                state.stop = True

        def after_fit(self, state: FitState) -> None:
            calls.append(f"{self.name}:after")

    model, train, valid, opt = setup()
    history = fit_cpu(model, train, valid, opt, 5, callbacks=[Spy("late", 60), Spy("stopper", 5)])
    assert len(history) == 2
    assert calls == [
        "stopper:before",
        "late:before",
        "stopper:1",
        "late:1",
        "stopper:2",
        "late:2",
        "stopper:after",
        "late:after",
    ]


def test_progress_bar_can_be_forced_on(capsys: pytest.CaptureFixture[str]) -> None:
    model, train, valid, opt = setup()
    bar = ProgressBar(show=True)
    fit_cpu(model, train, valid, opt, 2, callbacks=[bar])
    assert bar.bar.n == 2
    assert "training" in capsys.readouterr().err


def test_checkpoints_are_atomic_and_weights_only(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", model=nn.Linear(2, 1).state_dict(), note="hi", n=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temporary file left
    assert load_checkpoint(path)["note"] == "hi"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match=r"not a readable.*truncated"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_failed_save_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_checkpoint(tmp_path / "last.pt", epoch=1)

    def half_written(obj: object, f: object) -> None:
        f.write(b"PK\x03\x04 half")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, epoch=2)
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_concurrent_writers_use_their_own_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer B saves the same checkpoint while writer A is halfway through its own save."""
    real_save = torch.save
    path = tmp_path / "last.pt"

    def interleaved(obj: object, f: object) -> None:
        monkeypatch.setattr(torch, "save", real_save)
        save_checkpoint(path, writer="B")  # B starts and finishes inside A's save
        real_save(obj, f)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "save", interleaved)
    save_checkpoint(path, writer="A")
    assert load_checkpoint(path) == {"writer": "A"}  # A renamed last; neither was damaged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_unreadable_checkpoints_say_why(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        load_checkpoint(empty)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint at all\n")
    with pytest.raises(ValueError, match="not a readable practicaltorch checkpoint"):
        load_checkpoint(text)
    foreign = tmp_path / "whole_model.pt"
    torch.save(nn.Linear(2, 1), foreign)  # a pickled object, not a state dict
    with pytest.raises(ValueError, match="Python objects other than tensors") as caught:
        load_checkpoint(foreign)
    assert isinstance(caught.value.__cause__, pickle.UnpicklingError)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(ValueError, match="holds a list, not a checkpoint dict"):
        load_checkpoint(listed)
    with pytest.raises(ValueError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_mixed_precision_trains() -> None:
    model, train, valid, opt = setup()
    history = fit_cpu(model, train, valid, opt, 3, amp=True, metrics=multiclass_metrics(3))
    assert history.last["valid_accuracy"] >= 0.9


def test_a_checkpoint_resumes_only_into_the_same_settings(tmp_path: Path) -> None:
    model, train, valid, opt = setup()
    saving = Checkpoint(tmp_path, metadata={"config": {"lr": 0.05}})
    fit_cpu(model, train, valid, opt, 1, callbacks=[saving])
    other = Checkpoint(tmp_path, resume=True, metadata={"config": {"lr": 0.1}})
    with pytest.raises(ValueError, match="other settings"):
        fit_cpu(model, train, valid, opt, 2, callbacks=[other])


def test_recipe_callbacks_resume_only_unfinished_run_folders(tmp_path: Path) -> None:
    @dataclass
    class Config:
        seed: int = 0

    def checkpoint_of(run_dir: Path) -> Checkpoint:
        found = [
            c
            for c in standard_callbacks(False, None, run_dir, Config())
            if isinstance(c, Checkpoint)
        ]
        return found[0]

    unfinished = checkpoint_of(tmp_path)
    assert unfinished.resume and unfinished.metadata == {"config": {"seed": 0}}
    assert unfinished.folder == tmp_path / "checkpoints"
    (tmp_path / "metrics.json").write_text("{}")
    assert not checkpoint_of(tmp_path).resume, "a finished run is never continued"
    assert not any(isinstance(c, Checkpoint) for c in standard_callbacks(False, print))


def test_callbacks_that_are_not_callbacks_are_clear() -> None:
    model, train, valid, opt = setup()
    with pytest.raises(TypeError, match="takes a list"):
        fit_cpu(model, train, valid, opt, 1, callbacks=EarlyStopping())
    with pytest.raises(TypeError, match=r"subclass practicaltorch\.training\.Callback"):
        fit_cpu(model, train, valid, opt, 1, callbacks=[print])
