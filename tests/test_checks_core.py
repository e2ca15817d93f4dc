"""The shared check machinery: stub detection, hints, printing, and the training probe."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from practicaltorch.checks import CheckResult, Hint, call, check, check_close, model_output
from practicaltorch.checks.probes import check_train_epoch, probe_batches
from tests.checks_helpers import CORRECT_TRAINING, WRONG_TRAINING, output, stub


@check("{name}", "other")
def positive(value: Any, other: Any = 0, *, name: str = "value") -> str:
    if call(lambda v: v > 0, name, value):
        return f"`{name}` is positive"
    raise Hint(f"`{name}` is not positive")


def test_check_prints_one_line_and_returns_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    result = positive(2, name="count")
    assert isinstance(result, CheckResult) and result
    assert output(capsys) == "\u2705 `count` is positive\n"
    assert not positive(-1)
    assert output(capsys) == "\u274c `value` is not positive\n"


def test_none_and_ellipsis_are_not_done(capsys: pytest.CaptureFixture[str]) -> None:
    assert not positive(None, name="count")
    assert "`count` has no value yet" in output(capsys)
    assert not positive(1, ...)
    assert "`other` has no value yet" in output(capsys)


def test_call_turns_stubs_and_errors_into_hints(capsys: pytest.CaptureFixture[str]) -> None:
    assert not positive("text")
    assert "raised TypeError" in output(capsys)
    with pytest.raises(Hint, match="NotImplementedError"):
        call(stub, "f")


def test_a_returned_result_is_passed_on_unprinted(capsys: pytest.CaptureFixture[str]) -> None:
    @check()
    def delegate() -> CheckResult:
        return check_close(1.0, 1.0, name="x")

    assert delegate()
    assert output(capsys).count("\n") == 1


def test_model_output_names_the_first_layer() -> None:
    assert model_output(nn.Linear(3, 2), "m", torch.ones(4, 3)).shape == (4, 2)
    with pytest.raises(Hint, match="in_features must be 5"):
        model_output(nn.Linear(3, 2), "m", torch.ones(4, 5), n_features=5)
    with pytest.raises(Hint, match="is a class"):
        model_output(nn.Linear, "m", torch.ones(4, 5))


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))


@pytest.mark.parametrize("train", CORRECT_TRAINING)
def test_train_probe_accepts_every_correct_form(train: Any) -> None:
    assert check_train_epoch(train, _net(), probe_batches((2,), seed=0))


@pytest.mark.parametrize(("train", "hint"), WRONG_TRAINING)
def test_train_probe_names_each_mistake(
    train: Any, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not check_train_epoch(train, _net(), probe_batches((2,), seed=0))
    assert hint in output(capsys)
