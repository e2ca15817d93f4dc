"""Self-checks for lesson 08: devices, mixed precision, channels_last and torchrun."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from practicaltorch.checks._core import Hint, call, check, number
from practicaltorch.checks.probes import probe_batches


class _Probe(nn.Module):
    """A linear model that records whether autocast was on in its forward and backward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.forwards: list[tuple[bool, torch.dtype, bool]] = []
        self.backwards: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        cpu = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
        self.forwards.append((*cpu, torch.is_autocast_enabled("cuda")))
        out: Tensor = self.linear(x)
        if out.requires_grad:
            out.register_hook(lambda _: self.backwards.append(torch.is_autocast_enabled("cpu")))
        return out


def _reference(start: _Probe, batches: list[tuple[Tensor, Tensor]], *, clear: bool) -> Tensor:
    """Return the weight after correct bfloat16 steps on ``batches`` (without clearing if asked)."""
    model = copy.deepcopy(start)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in batches:
        if clear:
            optimizer.zero_grad()
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(model.linear(inputs), targets)
        loss.backward()
        optimizer.step()
    return model.linear.weight.detach()


def _expect_autocast(probe: _Probe) -> None:
    if not probe.forwards:
        raise Hint("`train_step` never ran the model")
    enabled, dtype, on_cuda = probe.forwards[-1]
    if not enabled and on_cuda:
        raise Hint("autocast is on for 'cuda', not the model's CPU: use device_type=device.type")
    if not enabled:
        raise Hint("no autocast: wrap forward and loss in torch.autocast(device_type=device.type)")
    if dtype != torch.bfloat16:
        raise Hint(f"autocast used {dtype}: use torch.bfloat16, which needs no gradient scaling")
    if any(probe.backwards):
        raise Hint("loss.backward() ran inside the autocast block: call it after the with block")


@check("train_step")
def train_step(function: Any) -> str:
    """Run the learner's ``train_step`` on three probe batches: autocast, gradients, update."""
    batches = probe_batches((4,), seed=0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        probe = _Probe()
    start = copy.deepcopy(probe)
    optimizer, cpu = torch.optim.SGD(probe.parameters(), lr=0.1), torch.device("cpu")
    losses = [
        call(function, "train_step", probe, x, y, nn.CrossEntropyLoss(), optimizer, cpu)
        for x, y in batches
    ]
    _expect_autocast(probe)
    weight = probe.linear.weight.detach()
    if torch.equal(weight, start.linear.weight):
        raise Hint("the weights did not change: call loss.backward() and optimizer.step()")
    if not torch.allclose(weight, _reference(start, batches, clear=True), atol=1e-4):
        if torch.allclose(weight, _reference(start, batches, clear=False), atol=1e-4):
            raise Hint("gradients add up from step to step: call optimizer.zero_grad() each step")
        raise Hint("not one SGD step per call: zero_grad, forward+loss in autocast, backward, step")
    if any(isinstance(loss, Tensor) for loss in losses):
        raise Hint("`train_step` returns a tensor: return loss.item(), a plain number")
    value = number(losses[-1], "the loss train_step returns")
    return f"`train_step` trains in bfloat16 autocast (loss {value:.3f})"


@check("to_channels_last")
def channels_last(function: Any) -> str:
    """Check ``to_channels_last(model, images)`` converts both a CNN and its input batch."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU())
    images = torch.randn(3, 2, 8, 8)
    result = call(function, "to_channels_last", model, images)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Hint("`to_channels_last` should return the pair (model, images)")
    new_model, new_images = result
    if not isinstance(new_model, nn.Module) or not isinstance(new_images, Tensor):
        raise Hint("`to_channels_last` should return (model, images), in that order")
    weight = next(p for p in new_model.parameters() if p.dim() == 4)
    if not weight.is_contiguous(memory_format=torch.channels_last):
        raise Hint("the model is not channels_last: model.to(memory_format=torch.channels_last)")
    if not new_images.is_contiguous(memory_format=torch.channels_last):
        raise Hint("the images are not channels_last: images.to(memory_format=torch.channels_last)")
    if new_images.shape != images.shape or not torch.equal(new_images, images):
        raise Hint("the images changed: channels_last changes only the memory order, not permute")
    return "model and images are channels_last; shapes and values unchanged"


def _option(command: list[str], name: str) -> str | None:
    """Return the value of ``--name value`` or ``--name=value`` (``_`` or ``-`` in the name)."""
    for index, word in enumerate(command):
        flag, equals, value = word.partition("=")
        if flag.replace("_", "-") == name:
            return value if equals else next(iter(command[index + 1 :]), "")
    return None


@check("command")
def launch_command(command: Any, script: Any, *, processes: int = 2) -> str:
    """Check a torchrun command line, a list of strings, before it is run."""
    if isinstance(command, str):
        raise Hint("`command` is one string: make it a list of strings, one per argument")
    if not isinstance(command, list | tuple) or not command:
        raise Hint(f"`command` should be a list of strings, got {type(command).__name__}")
    words = [os.fspath(w) if isinstance(w, os.PathLike) else w for w in command]
    if not all(isinstance(w, str) for w in words):
        bad = next(w for w in words if not isinstance(w, str))
        raise Hint(f"`command` holds a {type(bad).__name__} ({bad!r}): use str(...) for it")
    if "torch.distributed.run" not in words and os.path.basename(words[0]) != "torchrun":
        raise Hint("`command` lacks torchrun: use sys.executable, '-m', 'torch.distributed.run'")
    target = os.fspath(script)
    if target not in words:
        raise Hint(f"`command` does not name the script {target}: add str(script)")
    script_at = words.index(target)
    for option in ("--standalone", "--nproc-per-node", "--nproc_per_node"):
        if any(w.partition("=")[0] == option for w in words[script_at:]):
            raise Hint(f"'{option}' is torchrun's option: put it before the script, not after")
    if "--standalone" not in words:
        raise Hint("add '--standalone': without it torchrun waits for a rendezvous server")
    count = _option(words, "--nproc-per-node")
    if count is None:
        raise Hint("say how many processes: '--nproc-per-node', '2'")
    if count != str(processes):
        raise Hint(f"`command` starts {count} process(es) per node; this task wants {processes}")
    if _option(words[script_at:], "--out") is None:
        raise Hint("the script needs its own argument '--out' and the folder, after the script")
    return f"`command` launches {os.path.basename(target)} on {processes} processes"


@check("two")
def world_size(result: Any, expected: int = 2) -> str:
    """Check the script's ``result.json`` (a dict) reports ``expected`` processes."""
    if not isinstance(result, Mapping) or "world_size" not in result:
        raise Hint("the result has no 'world_size': read the script's result.json")
    size = int(result["world_size"])
    if size != expected:
        raise Hint(f"the world size was {size}, not {expected}: did torchrun get --nproc-per-node?")
    return f"the script ran as {size} processes and the main process wrote the result"


@check("two", "one")
def matches(
    result: Any, reference: Any, *, loss_rtol: float = 0.01, accuracy_atol: float = 0.005
) -> str:
    """Check a distributed run reached the single-process run's validation loss and accuracy."""
    keys = ("valid_loss", "valid_accuracy")
    if not all(isinstance(r, Mapping) and all(k in r for k in keys) for r in (result, reference)):
        raise Hint("both results need 'valid_loss' and 'valid_accuracy'")
    loss, acc, ref_loss, ref_acc = (float(r[k]) for r in (result, reference) for k in keys)
    summary = f"validation loss {loss:.4f} vs {ref_loss:.4f}, accuracy {acc:.2%} vs {ref_acc:.2%}"
    if abs(loss - ref_loss) > loss_rtol * abs(ref_loss) or abs(acc - ref_acc) > accuracy_atol:
        raise Hint(f"the runs disagree: {summary}. Same global batch size, seed and epochs?")
    return f"the distributed and single-process runs agree: {summary}"
