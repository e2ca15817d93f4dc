"""Self-checks for lesson 08: devices, mixed precision, channels_last and torchrun.

Each function is called in the exercise notebook right after a task, prints one
line (a pass or a hint about the likely mistake) and returns a
:class:`~practicaltorch.checks.CheckResult`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks import CheckResult, call_learner, fail, not_done, passed

__all__ = ["channels_last", "launch_command", "matches", "train_step", "world_size"]

_CPU = torch.device("cpu")


class _Probe(nn.Module):
    """A linear model that records, on every call, whether autocast was on and in which type."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.calls: list[tuple[bool, torch.dtype]] = []

    def forward(self, x: Tensor) -> Tensor:
        kind = x.device.type
        self.calls.append((torch.is_autocast_enabled(kind), torch.get_autocast_dtype(kind)))
        return self.linear(x)  # type: ignore[no-any-return]


def train_step(function: Any) -> CheckResult:
    """Run the learner's ``train_step`` on a probe and check autocast, gradients and update.

    Parameters
    ----------
    function
        ``train_step(model, inputs, targets, loss_fn, optimizer, device)``
        returning the loss as a Python number.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "train_step")
    if stub is not None:
        return stub
    torch.manual_seed(0)
    probe = _Probe()
    inputs, targets = torch.randn(8, 4), torch.randint(0, 3, (8,))
    optimizer = torch.optim.SGD(probe.parameters(), lr=0.1)
    for parameter in probe.parameters():  # stale gradients that zero_grad must clear
        parameter.grad = torch.full_like(parameter, 100.0)
    before = probe.linear.weight.detach().clone()
    loss, problem = call_learner(
        function, "train_step", probe, inputs, targets, nn.CrossEntropyLoss(), optimizer, _CPU
    )
    if problem is not None:
        return problem
    if not probe.calls:
        return fail("`train_step` never ran the model")
    enabled, dtype = probe.calls[-1]
    if not enabled:
        return fail(
            "the forward pass ran without autocast: wrap the model call and the loss in "
            "`with torch.autocast(device_type=device.type, dtype=torch.bfloat16):`"
        )
    if dtype != torch.bfloat16:
        return fail(
            f"autocast used {dtype}; use dtype=torch.bfloat16, which needs no gradient scaling"
        )
    change = (before - probe.linear.weight.detach()).abs().max().item()
    if change == 0:
        return fail("the weights did not change: call loss.backward() and optimizer.step()")
    if change > 5.0:
        return fail(
            "the update is far too large: old gradients were added to the new ones. Call "
            "optimizer.zero_grad() before the backward pass"
        )
    if isinstance(loss, Tensor):
        return fail("`train_step` returns a tensor: return loss.item(), a plain number")
    if not isinstance(loss, float | int):
        return fail(f"`train_step` should return the loss as a number, got {type(loss).__name__}")
    return passed(f"`train_step` trains in bfloat16 autocast (loss {float(loss):.3f})")


def channels_last(function: Any) -> CheckResult:
    """Check ``to_channels_last`` converts both a CNN and its input batch.

    Parameters
    ----------
    function
        ``to_channels_last(model, images)`` returning ``(model, images)``.

    Returns
    -------
    CheckResult
    """
    stub = not_done(function, "to_channels_last")
    if stub is not None:
        return stub
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU())
    images = torch.randn(3, 2, 8, 8)
    result, problem = call_learner(function, "to_channels_last", model, images)
    if problem is not None:
        return problem
    if not isinstance(result, tuple) or len(result) != 2:
        return fail("`to_channels_last` should return the pair (model, images)")
    new_model, new_images = result
    if not isinstance(new_model, nn.Module) or not isinstance(new_images, Tensor):
        return fail("`to_channels_last` should return (model, images), in that order")
    weight = next(p for p in new_model.parameters() if p.dim() == 4)
    cl = torch.channels_last
    if not weight.is_contiguous(memory_format=cl):
        return fail("the model is not channels_last: model.to(memory_format=torch.channels_last)")
    if not new_images.is_contiguous(memory_format=cl):
        return fail(
            "the images are not channels_last: images.contiguous(memory_format=torch.channels_last)"
        )
    if new_images.shape != images.shape or not torch.equal(new_images, images):
        return fail(
            "the images changed shape or values: channels_last changes only the memory order, "
            "so do not permute them"
        )
    return passed("model and images are channels_last; shapes and values unchanged")


def _option(command: list[str], name: str) -> str | None:
    """Return the value of ``--name value`` or ``--name=value`` (either spelling of ``-``/``_``)."""
    spellings = {name, "--" + name.removeprefix("--").replace("-", "_")}
    for index, word in enumerate(command):
        flag, _, value = word.partition("=")
        if flag in spellings:
            if value:
                return value
            return command[index + 1] if index + 1 < len(command) else ""
    return None


def launch_command(command: Any, script: Any, *, processes: int = 2) -> CheckResult:
    """Check a torchrun command line before it is run.

    Parameters
    ----------
    command
        The learner's list of arguments for ``subprocess.run``.
    script
        The training script that should be launched.
    processes
        How many processes it should start.

    Returns
    -------
    CheckResult
    """
    stub = not_done(command, "command")
    if stub is not None:
        return stub
    if isinstance(command, str):
        return fail("`command` is one string: make it a list of strings, one per argument")
    if not isinstance(command, list | tuple) or not command:
        return fail(f"`command` should be a list of strings, got {type(command).__name__}")
    words = [os.fspath(w) if isinstance(w, os.PathLike) else w for w in command]
    if not all(isinstance(w, str) for w in words):
        bad = next(w for w in words if not isinstance(w, str))
        return fail(f"`command` holds a {type(bad).__name__} ({bad!r}): use str(...) for it")
    launcher = "torch.distributed.run" in words or os.path.basename(words[0]) == "torchrun"
    if not launcher:
        return fail(
            "`command` does not start torchrun: use sys.executable, '-m', "
            "'torch.distributed.run', ..."
        )
    if "--standalone" not in words:
        return fail(
            "add '--standalone': without it torchrun waits for a rendezvous server that does "
            "not exist"
        )
    count = _option(words, "--nproc-per-node")
    if count is None:
        return fail("say how many processes: '--nproc-per-node', '2'")
    if count != str(processes):
        return fail(f"`command` starts {count} process(es) per node; this task wants {processes}")
    target = os.fspath(script)
    if target not in words:
        return fail(f"`command` does not name the script {target}: add str(script)")
    script_at = words.index(target)
    if _option(words[script_at:], "--out") is None:
        return fail("the script needs its own argument '--out' and the folder, after the script")
    for option in ("--standalone", "--nproc-per-node", "--nproc_per_node"):
        if any(w.partition("=")[0] == option for w in words[script_at:]):
            return fail(f"'{option}' is torchrun's option: put it before the script, not after")
    return passed(f"`command` launches {os.path.basename(target)} on {processes} processes")


def world_size(result: Any, expected: int = 2) -> CheckResult:
    """Check the script's result reports the expected number of processes.

    Parameters
    ----------
    result
        The ``result.json`` the script's main process wrote, as a dict.
    expected
        The number of processes launched.

    Returns
    -------
    CheckResult
    """
    stub = not_done(result, "two")
    if stub is not None:
        return stub
    if not isinstance(result, Mapping) or "world_size" not in result:
        return fail("the result has no 'world_size': read the script's result.json")
    size = int(result["world_size"])
    if size != expected:
        return fail(
            f"the script ran with world size {size}, not {expected}: was it started through "
            "torch.distributed.run with --nproc-per-node?"
        )
    return passed(f"the script ran as {size} processes and the main process wrote the result")


def matches(
    result: Any, reference: Any, *, loss_rtol: float = 0.01, accuracy_atol: float = 0.005
) -> CheckResult:
    """Check a distributed run reached the single-process run's validation loss and accuracy.

    Parameters
    ----------
    result, reference
        ``result.json`` contents of the distributed and the single-process run.
    loss_rtol
        Allowed relative difference of the final validation loss.
    accuracy_atol
        Allowed absolute difference of the final validation accuracy (a fraction).

    Returns
    -------
    CheckResult
    """
    for value, name in ((result, "two"), (reference, "one")):
        stub = not_done(value, name)
        if stub is not None:
            return stub
    keys = ("valid_loss", "valid_accuracy")
    if not all(isinstance(r, Mapping) and all(k in r for k in keys) for r in (result, reference)):
        return fail("both results need 'valid_loss' and 'valid_accuracy'")
    loss, ref_loss = float(result["valid_loss"]), float(reference["valid_loss"])
    accuracy, ref_accuracy = float(result["valid_accuracy"]), float(reference["valid_accuracy"])
    loss_gap = abs(loss - ref_loss) / abs(ref_loss)
    accuracy_gap = abs(accuracy - ref_accuracy)
    if loss_gap > loss_rtol or accuracy_gap > accuracy_atol:
        return fail(
            f"the runs disagree: validation loss {loss:.4f} vs {ref_loss:.4f}, accuracy "
            f"{100 * accuracy:.2f}% vs {100 * ref_accuracy:.2f}%. Were both given the same "
            "global batch size, seed and epochs?"
        )
    return passed(
        f"distributed and single-process runs agree: loss {loss:.4f} vs {ref_loss:.4f} "
        f"({100 * loss_gap:.2f}%), accuracy {100 * accuracy:.2f}% vs {100 * ref_accuracy:.2f}%"
    )
