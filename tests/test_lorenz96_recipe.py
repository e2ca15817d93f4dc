"""The lorenz96 recipe: a quick smoke run writes its files; the full run reaches its bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from practicaltorch.models import load_model
from practicaltorch.recipes import RECIPES, get_recipe
from practicaltorch.recipes.lorenz96 import BAR, RATIO, Config, run


def test_registered() -> None:
    assert "lorenz96" in RECIPES
    assert get_recipe("lorenz96").NAME == "lorenz96"


def test_quick_run_writes_its_results(tmp_path: Path) -> None:
    report = run(Config(quick=True), tmp_path / "run", progress=False)
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"model.pt", "metrics.json", "forecast_rmse.png", "climate.png"} <= files
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    for model in ("none", "polynomial", "network"):
        assert metrics[f"rmse_1mtu_{model}"] > 0
        assert 0 < metrics[f"climate_{model}"] <= 1
    assert report.value == max(metrics["rmse_ratio"], metrics["climate_ratio"])
    network, info = load_model(tmp_path / "run")
    assert info["architecture"] == "LocalNet" and len(info["metadata"]["inputs"]["names"]) == 8
    assert network(torch.zeros(2, 16)).shape == (2, 16)


@pytest.mark.slow
def test_full_run_reaches_the_bar() -> None:
    report = run(Config(), progress=False)
    m = report.metrics
    assert report.passed, report.summary()
    assert BAR.threshold == RATIO
    assert m["rmse_ratio"] <= RATIO and m["climate_ratio"] <= RATIO
    # no parameterisation is clearly worse than the polynomial, in both scores
    assert m["none_rmse_ratio"] >= 2 and m["none_climate_ratio"] >= 2
    assert m["blown_up_network"] == 0
