"""The machinery every self-check shares: a result, a hint, and the ``check`` decorator.

A check's body holds only its rules. It raises :class:`Hint` with the likely
mistake, or returns the pass message; :func:`check` prints the one line, reports
an untouched stub as not done yet, and :func:`call` turns the learner's
exceptions (a ``NotImplementedError`` stub included) into hints::

    @check("mse_loss")  # the first argument is the learner's `mse_loss`
    def mse_loss(function: Any) -> str:
        \"\"\"Check ``mse_loss(m, c, x, y)``, the mean squared error.\"\"\"
        got = number(call(function, "mse_loss", 0.5, -1.0, X, Y), "mse_loss(...)")
        if math.isclose(got, 3 * WANT):
            raise Hint("`mse_loss` returns the sum of squared errors: take the mean")
        if not math.isclose(got, WANT):
            raise Hint(f"`mse_loss` is {got:.4g}, expected {WANT:.4g}")
        return "`mse_loss` is right"

``mse_loss(None)`` prints "`mse_loss` has no value yet: ..." and returns a falsy
:class:`CheckResult`. Display names may use the call's arguments, for example
``@check("{name}")``. A body may also return another check's result, which is
passed on unprinted (it printed its own line).
"""

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


def _shown(result: CheckResult) -> CheckResult:
    print(repr(result))
    return result


def passed(message: str) -> CheckResult:
    """Print and return a passing result."""
    return _shown(CheckResult(True, message))


def fail(message: str) -> CheckResult:
    """Print and return a failing result with a hint."""
    return _shown(CheckResult(False, message))


def _stub_hint(name: str) -> str:
    return f"`{name}` has no value yet: replace the `# YOUR CODE HERE` stub and run the cell"


def check(*names: str) -> Callable[[Callable[P, CheckResult | str]], Callable[P, CheckResult]]:
    """Make a function of rules into a check that prints one line and returns its result.

    ``names`` are what the learner calls the first ``len(names)`` arguments, each
    formatted with the call's arguments (``"{name}"``); an argument that is ``None``
    or ``...`` is reported as not done yet.
    """

    def decorate(rules: Callable[P, CheckResult | str]) -> Callable[P, CheckResult]:
        signature = inspect.signature(rules)
        learned = list(signature.parameters)[: len(names)]

        @functools.wraps(rules)
        def run(*args: P.args, **kwargs: P.kwargs) -> CheckResult:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for parameter, name in zip(learned, names):
                if bound.arguments[parameter] is None or bound.arguments[parameter] is Ellipsis:
                    return fail(_stub_hint(name.format(**bound.arguments)))
            try:
                outcome = rules(*args, **kwargs)
            except Hint as hint:
                return fail(str(hint))
            return outcome if isinstance(outcome, CheckResult) else passed(outcome)

        return run

    return decorate


def call(function: Any, name: str, *args: Any) -> Any:
    """Call the learner's ``function``; a stub or an exception becomes a :class:`Hint`.

    Raises
    ------
    Hint
        If the function still raises ``NotImplementedError``, or raised anything else.
    """
    try:
        return function(*args)
    except NotImplementedError:
        raise Hint(
            f"`{name}` still raises NotImplementedError: replace the `# YOUR CODE HERE` "
            "stub with your code and run the cell again"
        ) from None
    except Exception as error:  # the learner's code can raise anything
        raise Hint(f"`{name}` raised {type(error).__name__}: {error}") from None


def model_output(model: Any, name: str, example: Tensor, *, n_features: int = 0) -> Tensor:
    """Return the learner's ``model`` on ``example``, in eval mode, without gradients, on the CPU.

    The model's device and training mode are kept, so checking changes nothing;
    ``n_features`` is named in the hint when the first layer does not fit. A model
    that is no module instance, raises or returns no tensor raises a :class:`Hint`.
    """
    if isinstance(model, type):
        raise Hint(f"`{name}` is a class: create an instance, e.g. `{model.__name__}(...)`")
    if not isinstance(model, nn.Module):
        raise Hint(f"`{name}` is a {type(model).__name__}, not a torch.nn.Module")
    parameter = next(model.parameters(), None)
    if parameter is not None:
        example = example.to(parameter.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = call(model, name, example)
    except Hint as hint:
        if n_features and "mat1 and mat2" in str(hint):
            raise Hint(
                f"{hint}. The first layer's in_features must be {n_features}, one per input feature"
            ) from None
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
    if isinstance(value, Tensor):
        value = value.detach()
    return float(value)


def number(value: Any, name: str) -> float:
    """Return ``value`` (a number, 0-d tensor or array) as a float, or raise a :class:`Hint`."""
    try:
        return as_number(value)
    except (TypeError, ValueError, RuntimeError):
        raise Hint(f"`{name}` should be one number, got {type(value).__name__}") from None
