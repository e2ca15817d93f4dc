"""The tabular reference solutions reach their quality bars on seeded runs."""

import json
from pathlib import Path

import pytest
import torch

from practicaltorch.data.penguins import Penguins
from practicaltorch.models import load_model
from practicaltorch.recipes import cancer, penguins_mass, penguins_species


@pytest.mark.parametrize("seed", [0, 1])
def test_penguin_species_reaches_bar(seed: int) -> None:
    report = penguins_species.run(penguins_species.Config(seed=seed))
    assert report.metrics["accuracy"] >= 59 / 60 - 1e-6
    assert report.passed


def test_penguin_mass_matches_least_squares_baseline(tmp_path: Path) -> None:
    report = penguins_mass.run(penguins_mass.Config(seed=0), tmp_path)
    figures = report.metrics
    assert figures["baseline_mae"] == pytest.approx(233.0, abs=0.5)  # the split is fixed
    seeds = [figures[f"mae_seed{seed}"] for seed in range(5)]
    assert figures["mae_seed0"] == figures["mae"]  # the saved network is seed 0's
    assert len(set(seeds)) == 5  # five different networks
    assert figures["mean_mae"] == pytest.approx(sum(seeds) / 5)
    assert figures["mae_ratio"] == pytest.approx(figures["mean_mae"] / figures["baseline_mae"])
    # The bar: averaged over seeds 0-4, within 2% of least squares.
    assert figures["mean_mae"] <= 1.02 * figures["baseline_mae"]
    assert report.passed and report.value == figures["mae_ratio"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for name in ("mae", "baseline_mae", "mean_mae", "mae_ratio"):
        assert saved["metrics"][name] == pytest.approx(figures[name])
    assert saved["bar_description"] == "mean validation MAE of seeds 0-4 <= 1.02 x least squares"
    # People see both figures in grams beside the ratio, on screen and in metrics.json.
    grams = f"network {figures['mean_mae']:.1f} g (mean of seeds 0-4), least squares"
    assert grams in report.summary() and grams in saved["detail"]


def test_penguin_mass_bar_rule() -> None:
    maes = {0: 236.0, 1: 238.0, 2: 240.0, 3: 234.0, 4: 237.0, 9: 500.0}
    figures = penguins_mass.bar_metrics(maes, 233.0)
    assert figures["mean_mae"] == pytest.approx(237.0)  # seed 9 is reported, not averaged
    assert figures["mae_seed9"] == 500.0
    assert penguins_mass.BAR.passed(figures["mae_ratio"])  # 237.0 <= 1.02 x 233 = 237.66
    assert not penguins_mass.BAR.passed(penguins_mass.bar_metrics(maes, 232.0)["mae_ratio"])
    with pytest.raises(ValueError, match=r"missing \[4\]"):
        penguins_mass.bar_metrics({0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}, 1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_cancer_reaches_bar(seed: int) -> None:
    report = cancer.run(cancer.Config(seed=seed))
    assert report.metrics["roc_auc"] >= 0.99
    assert report.passed


def test_saved_run_rebuilds_the_model(tmp_path: Path) -> None:
    report = penguins_species.run(penguins_species.Config(quick=True), tmp_path)
    assert {"model.pt", "metrics.json", "curves.png", "confusion_matrix.png"} <= set(report.files)
    for name in report.files:
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["name"] == "penguins-species" and saved["epochs"] == 5
    model, info = load_model(tmp_path)
    assert info["metadata"]["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    valid = Penguins(train=False)
    with torch.no_grad():
        accuracy = (model(valid.features).argmax(1) == valid.targets).float().mean().item()
    assert accuracy == pytest.approx(saved["metrics"]["accuracy"], abs=1e-6)


def test_load_model_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="practicaltorch run"):
        load_model(tmp_path)
    penguins_species.run(penguins_species.Config(quick=True), tmp_path)
    contents = torch.load(tmp_path / "model.pt", weights_only=True)
    contents["config"]["hidden"] = [8]
    torch.save(contents, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_model(tmp_path)


def test_a_finished_run_is_never_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    penguins_species.run(penguins_species.Config(quick=True), tmp_path)
    before = (tmp_path / "model.pt").read_bytes()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started although the folder holds a finished run")

    monkeypatch.setattr(penguins_species, "train_mlp", no_training)
    with pytest.raises(FileExistsError, match="finished run"):
        penguins_species.run(penguins_species.Config(quick=True), tmp_path)
    assert (tmp_path / "model.pt").read_bytes() == before


@pytest.mark.parametrize("epochs", [0, -2])
def test_bad_epochs_are_an_error_not_the_default(epochs: int) -> None:
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        cancer.run(cancer.Config(epochs=epochs))
