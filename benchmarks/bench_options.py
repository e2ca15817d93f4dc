"""When do mixed precision, channels_last and torch.compile help? Side-by-side ratios.

For the MNIST CNN (``DigitCNN``, batch 256) and the penguin MLP (batch 32), a fixed
number of training steps is timed for each option and compared with plain eager
float32 on the same machine in the same process. Options are alternated over
several rounds and each keeps its fastest round, which damps the noise of a
shared machine. ``torch.compile``'s one-off compilation time is reported
separately from its per-step speed.

    python benchmarks/bench_options.py [--device cpu|cuda] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from practicaltorch.data.mnist import load_mnist_tensors
from practicaltorch.data.penguins import Penguins
from practicaltorch.devices import pick_device
from practicaltorch.models import MLP, DigitCNN
from practicaltorch.recipes import mnist as mnist_recipe

Option = dict[str, Any]
OPTIONS: dict[str, Option] = {
    "eager fp32 (baseline)": {},
    "channels_last": {"channels_last": True},
    "bf16 autocast": {"amp": True},
    "torch.compile": {"compile": True},
}


def make_step(model: nn.Module, device: torch.device, amp: bool) -> Callable[[Any, Any], None]:
    """Return one training step (forward, loss, backward, update) for ``model``."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        context = (
            torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()
        )
        with context:
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def run_steps(
    step: Callable[[Any, Any], None],
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    batch: int,
    device: torch.device,
) -> float:
    """Time ``steps`` steps over consecutive slices; return seconds."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for k in range(steps):
        i = (k * batch) % (len(x) - batch)
        step(x[i : i + batch], y[i : i + batch])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(
    name: str,
    build: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    batch: int,
    rounds: int,
    device: torch.device,
) -> dict[str, Any]:
    """Time every option for one model; return seconds, ratios and compile time."""
    best: dict[str, float] = {}
    compile_seconds = 0.0
    prepared: dict[str, tuple[Callable[[Any, Any], None], torch.Tensor]] = {}
    for option, settings in OPTIONS.items():
        if settings.get("channels_last") and x.ndim != 4:
            continue
        torch.manual_seed(0)
        model = build().to(device)
        data = x
        if settings.get("channels_last"):
            model = model.to(memory_format=torch.channels_last)
            data = x.contiguous(memory_format=torch.channels_last)
        if settings.get("compile"):
            model = torch.compile(model)  # type: ignore[assignment]
        step = make_step(model, device, bool(settings.get("amp")))
        warm = time.perf_counter()
        run_steps(step, data, y, 3, batch, device)  # warm up (and compile)
        if settings.get("compile"):
            compile_seconds = time.perf_counter() - warm
        prepared[option] = (step, data)
    for _ in range(rounds):
        for option, (step, data) in prepared.items():
            seconds = run_steps(step, data, y, steps, batch, device)
            best[option] = min(best.get(option, float("inf")), seconds)
    baseline = best["eager fp32 (baseline)"]
    return {
        "model": name,
        "steps": steps,
        "batch_size": batch,
        "seconds": best,
        "speedup": {k: baseline / v for k, v in best.items()},
        "compile_seconds": compile_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--root", default=None, help="data directory holding MNIST/raw")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    images, labels = load_mnist_tensors(args.root, train=True)
    images, labels = images[:20_000].to(device), labels[:20_000].to(device)
    config = mnist_recipe.model_config(mnist_recipe.Config())
    penguins = Penguins()
    px, py = (t.to(device) for t in penguins.tensors())
    results = [
        bench(
            "DigitCNN (MNIST)",
            lambda: DigitCNN(**config),
            images,
            labels,
            steps=args.steps,
            batch=256,
            rounds=args.rounds,
            device=device,
        ),
        bench(
            "MLP (penguins)",
            lambda: MLP(px.shape[1], 3, (32, 32)),
            px,
            py,
            steps=args.steps * 10,
            batch=32,
            rounds=args.rounds,
            device=device,
        ),
    ]
    print(f"device {device}, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    for result in results:
        print(f"\n{result['model']}: {result['steps']} steps of batch {result['batch_size']}")
        for option, seconds in result["seconds"].items():
            print(f"  {option:<24} {seconds:8.3f} s   {result['speedup'][option]:5.2f}x")
        print(f"  (torch.compile took {result['compile_seconds']:.1f} s to compile)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {"device": str(device), "threads": args.threads, "results": results}, out, indent=2
            )


if __name__ == "__main__":
    main()
