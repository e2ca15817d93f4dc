"""The machinery every self-check shares: a result, a hint, and the ``check`` decorator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

import torch
from torch import Tensor, nn

PASS_MARK = "\u2705"  # green tick
FAIL_MARK = "\u274c"  # red cross
P = ParamSpec("P")
_STUB = "replace the `# YOUR CODE HERE` stub and run the cell"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: truthy when it passed."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"{PASS_MARK if self.passed else FAIL_MARK} {self.message}"

    def _ipython_display_(self) -> None:
        """Show nothing in Jupyter: the check already printed its line."""


class Hint(Exception):  # noqa: N818 - a hint for the learner, not an error of the check
    """Raised by a check's rules: the message names the likely mistake."""


def passed(message: str) -> CheckResult:
    """Print and return a passing result."""
    print(f"{PASS_MARK} {message}")
    return CheckResult(True, message)


def fail(message: str) -> CheckResult:
    """Print and return a failing result with a hint."""
    print(f"{FAIL_MARK} {message}")
    return CheckResult(False, message)


def check(*names: str) -> Callable[[Callable[P, CheckResult | str]], Callable[P, CheckResult]]:
    """Make a function of rules into a check that prints one line and returns its result.

    ``names`` name the first arguments (formatted with the call's arguments, ``"{name}"``);
    one that is ``None`` or ``...`` is not done yet. Another check's result is passed on.
    """

    def decorate(rules: Callable[P, CheckResult | str]) -> Callable[P, CheckResult]:
        signature = inspect.signature(rules)

        @functools.wraps(rules)
        def run(*args: P.args, **kwargs: P.kwargs) -> CheckResult:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for value, name in zip(bound.arguments.values(), names):
                if value is None or value is Ellipsis:
                    return fail(f"`{name.format(**bound.arguments)}` has no value yet: {_STUB}")
            try:
                outcome = rules(*args, **kwargs)
            except Hint as hint:
                return fail(str(hint))
            return outcome if isinstance(outcome, CheckResult) else passed(outcome)

        return run

    return decorate


def call(function: Any, name: str, *args: Any) -> Any:
    """Call the learner's ``function``; raise a :class:`Hint` for a stub or an exception."""
    try:
        return function(*args)
    except NotImplementedError as error:
        if not str(error):  # the stub's bare `raise NotImplementedError()`, not torch's
            raise Hint(f"`{name}` still raises NotImplementedError: {_STUB}") from None
        raise Hint(f"`{name}` raised NotImplementedError: {error}") from None
    except Exception as error:  # the learner's code can raise anything
        raise Hint(f"`{name}` raised {type(error).__name__}: {error}") from None


def model_output(model: Any, name: str, example: Tensor, *, n_features: int = 0) -> Tensor:
    """Return ``model(example)`` in eval mode on the CPU; ``n_features`` is the input width."""
    if isinstance(model, type):
        raise Hint(f"`{name}` is a class: create an instance, e.g. `{model.__name__}(...)`")
    if not isinstance(model, nn.Module):
        raise Hint(f"`{name}` is a {type(model).__name__}, not a torch.nn.Module")
    parameter = next(model.parameters(), None)
    if parameter is not None:
        example = example.to(parameter.device)
    was_training = model.training
    try:
        with torch.no_grad():
            output = call(model.eval(), name, example)
    except Hint as hint:
        if n_features and "mat1 and mat2" in str(hint):
            raise Hint(f"{hint}. The first layer's in_features must be {n_features}") from None
        raise
    finally:
        model.train(was_training)
    if not isinstance(output, Tensor):
        raise Hint(f"`{name}(inputs)` returned a {type(output).__name__}, not a tensor")
    return output.cpu()


def eval_outputs(model: Any, name: str, inputs: Tensor, *, batch: int = 250) -> Tensor:
    """Return :func:`model_output` on ``inputs`` in chunks of ``batch``, as float32."""
    chunks = [inputs[i : i + batch] for i in range(0, len(inputs), batch)]
    return torch.cat([model_output(model, name, chunk) for chunk in chunks]).float()


def as_number(value: Any) -> float:
    """Convert a number or one-element tensor to a float, without autograd warnings."""
    return float(value.detach() if isinstance(value, Tensor) else value)


def number(value: Any, name: str) -> float:
    """Return ``value`` (a number, 0-d tensor or array) as a float, or raise a :class:`Hint`."""
    try:
        return as_number(value)
    except (TypeError, ValueError, RuntimeError):
        raise Hint(f"`{name}` should be one number, got {type(value).__name__}") from None
