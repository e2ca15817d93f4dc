"""The recipe registry and the suite behind `practicaltorch run`, through the library API."""

from __future__ import annotations

from pathlib import Path

import pytest

from practicaltorch import recipes
from practicaltorch.recipes import suite
from practicaltorch.recipes.base import Settings, resolve_epochs


def test_every_registered_recipe_follows_the_protocol() -> None:
    for name in recipes.RECIPES:
        recipe = recipes.get_recipe(name)
        assert name == recipe.NAME
        config = recipe.Config()
        assert isinstance(config, Settings), f"{name}.Config shares the common settings"
        assert recipe.BAR.describe()


def test_unknown_recipe_suggests_the_closest_name() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'ellipses'\?"):
        recipes.get_recipe("elipses")
    with pytest.raises(ValueError, match=r"unknown recipe 'zzz'; choose one of"):
        recipes.get_recipe("zzz")


def test_a_module_that_is_not_a_recipe_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(recipes.RECIPES, "paths", "practicaltorch.paths")
    with pytest.raises(TypeError, match="is not a recipe: it has no NAME, BAR, Config, run"):
        recipes.get_recipe("paths")


@pytest.mark.parametrize("epochs", [0, -1, True, 2.5])
def test_resolve_epochs_refuses_what_is_not_a_count(epochs: object) -> None:
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        resolve_epochs(epochs, 3)  # type: ignore[arg-type]


def test_options_override_only_what_was_given() -> None:
    config = recipes.get_recipe("cancer").Config()
    changed = suite.Options(seed=3, device="cpu", quick=True).config_for(config)
    assert (changed.seed, changed.device, changed.quick, changed.epochs) == (3, "cpu", True, None)
    assert suite.Options(epochs=2).config_for(config).epochs == 2


def test_a_recipe_that_raises_is_summarised_and_the_rest_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from practicaltorch.data.errors import DataNotFoundError

    def missing(*args: object, **kwargs: object) -> None:
        raise DataNotFoundError("MNIST is not in /nowhere")

    cancer = recipes.get_recipe("cancer")
    monkeypatch.setattr(recipes.get_recipe("mnist"), "run", missing)
    lines: list[str] = []
    result = suite.run_suite(
        ["mnist", "cancer"], suite.Options(quick=True), tmp_path, say=lines.append
    )
    assert [o.name for o in result.failed] == ["mnist"]
    assert result.outcomes[1].report is not None and result.outcomes[1].report.name == cancer.NAME
    assert any("FAIL  mnist" in line for line in result.summary_lines())
    assert "practicaltorch fetch" in result.advice_lines()[0]
    assert (tmp_path / "summary.json").is_file()
    assert lines[0] == "-> mnist ..."


def test_a_file_where_a_recipe_folder_belongs_fails_only_that_recipe(tmp_path: Path) -> None:
    (tmp_path / "cancer").write_text("not a folder")
    lines: list[str] = []
    result = suite.run_suite(
        ["cancer", "penguins-species"], suite.Options(quick=True), tmp_path, say=lines.append
    )
    failed = result.failed
    assert [o.name for o in failed] == ["cancer"]
    assert "already exists where a folder is needed" in str(failed[0].error)
    assert result.outcomes[1].report is not None, "the next recipe still ran"
