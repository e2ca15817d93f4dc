from pathlib import Path

import pytest
import torch
from torch import nn

from practicaltorch.data import TensorBatches
from practicaltorch.models import MLP
from practicaltorch.training import (
    EarlyStopping,
    NonFiniteLossError,
    evaluate,
    fit,
    load_checkpoint,
    multiclass_metrics,
    regression_metrics,
    save_checkpoint,
)

CPU = torch.device("cpu")


def blobs(n: int = 300, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three well-separated Gaussian blobs in 2-D: an easy classification problem."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    return centres[y] + 0.5 * torch.randn(n, 2, generator=g), y


def setup(
    seed: int = 0, lr: float = 0.05
) -> tuple[nn.Module, TensorBatches, TensorBatches, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    x, y = blobs()
    model = MLP(2, 3, hidden=(16,))
    train = TensorBatches(x[:240], y[:240], 32, shuffle=True, seed=seed)
    valid = TensorBatches(x[240:], y[240:], 64)
    return model, train, valid, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def test_fit_learns_and_records_history() -> None:
    model, train, valid, opt = setup()
    history = fit(
        model,
        train,
        valid,
        nn.CrossEntropyLoss(),
        opt,
        epochs=5,
        device=CPU,
        metrics=multiclass_metrics(3),
    )
    assert len(history) == 5
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history.last["valid_accuracy"] >= 0.95
    assert {"epoch", "lr", "train_loss", "valid_loss", "valid_f1", "seconds"} <= set(history.keys())
    with pytest.raises(KeyError, match="recorded"):
        history["valid_typo"]


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


def test_resume_after_interruption_gives_identical_weights(tmp_path: Path) -> None:
    model, train, valid, opt = setup(seed=4)
    fit(model, train, valid, nn.CrossEntropyLoss(), opt, epochs=4, device=CPU)
    straight = {k: v.clone() for k, v in model.state_dict().items()}

    model, train, valid, opt = setup(seed=4)
    fit(
        model,
        train,
        valid,
        nn.CrossEntropyLoss(),
        opt,
        epochs=2,
        device=CPU,
        checkpoint_dir=tmp_path,
    )
    # A new process would rebuild everything from scratch, with other random state:
    torch.manual_seed(999)
    model, train, valid, opt = setup(seed=77)
    history = fit(
        model,
        train,
        valid,
        nn.CrossEntropyLoss(),
        opt,
        epochs=4,
        device=CPU,
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert history["epoch"] == [1.0, 2.0, 3.0, 4.0]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, straight[key], rtol=0, atol=0)


def test_early_stopping_restores_best_weights(tmp_path: Path) -> None:
    model, train, valid, opt = setup()
    stopper = EarlyStopping(monitor="valid_loss", patience=2, min_delta=0.01)
    history = fit(
        model,
        train,
        valid,
        nn.CrossEntropyLoss(),
        opt,
        epochs=60,
        device=CPU,
        early_stopping=stopper,
        checkpoint_dir=tmp_path,
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


def test_early_stopping_unknown_monitor_is_clear() -> None:
    model, train, valid, opt = setup()
    with pytest.raises(KeyError, match="valid_acc"):
        fit(
            model,
            train,
            valid,
            nn.CrossEntropyLoss(),
            opt,
            epochs=2,
            device=CPU,
            early_stopping=EarlyStopping(monitor="valid_acc", mode="max"),
        )


def test_checkpoints_are_atomic_and_weights_only(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", model=nn.Linear(2, 1).state_dict(), note="hi", n=3)
    assert not list(tmp_path.glob("*.partial"))
    assert load_checkpoint(path)["note"] == "hi"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_mixed_precision_trains() -> None:
    model, train, valid, opt = setup()
    history = fit(
        model,
        train,
        valid,
        nn.CrossEntropyLoss(),
        opt,
        epochs=3,
        device=CPU,
        amp=True,
        metrics=multiclass_metrics(3),
    )
    assert history.last["valid_accuracy"] >= 0.9
