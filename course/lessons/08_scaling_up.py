# %% [markdown]
# # Lesson 08: Scaling up: GPUs, mixed precision and several processes
#
# So far every model fitted on a laptop CPU. Real research models need more: a GPU, then
# several GPUs, then several machines. The good news is that the training code hardly changes.
# This lesson shows what does change, why, and how to check that the bigger run still computes
# what the small one did.
#
# **By the end you will be able to**
#
# - choose a device and move models and data to it, with pinned memory and non-blocking copies;
# - train in bfloat16 mixed precision, use the `channels_last` memory layout for CNNs, and
#   judge when `torch.compile` is worth its start-up cost;
# - turn a training script into one that runs on several processes with `torchrun` and
#   DistributedDataParallel, launch it on two CPU processes, and check it against one process;
# - read and adapt a SLURM batch script for one node with several GPUs, or several nodes.
#
# **Time:** about 40 minutes for the core sections; about 60 minutes with the optional ones.
# The notebook runs in a minute or two on a laptop CPU. The cells that need a GPU say so and
# skip themselves when there is none.
#
# **You should know:** `fit` and `TensorBatches` (lesson 02), the MNIST CNN (lesson 04), and
# checkpoints and `resume` (lesson 06).

# %% [markdown]
# ## Setup

# %%
import json
import runpy
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from practicaltorch import TensorBatches, configure_threads, fit, pick_device, seed_everything
from practicaltorch.checks import lesson08 as check
from practicaltorch.data.mnist import download_mnist, load_mnist_tensors
from practicaltorch.devices import available_devices
from practicaltorch.models import DigitCNN

seed_everything(0)
device = pick_device()
configure_threads()
workdir = Path(tempfile.mkdtemp(prefix="lesson08-"))
print(f"devices here: {available_devices()}; computing on {device}")

# %% [markdown]
# ## 1. From CPU to GPU (core)
#
# `pick_device()` returns the best device PyTorch can use: a CUDA GPU, then an Apple-silicon
# GPU (`mps`), then the CPU. A tensor lives on one device, and an operation needs all its
# inputs on the same one, so two things move: the model, once, with `model.to(device)`, and
# every batch, with `inputs.to(device)`. Everything else (`fit`, the loss, the metrics) follows
# from that. Pass `device` around explicitly rather than hiding it in a global, and the same
# code runs everywhere.
#
# Why is a GPU so much faster for training? Deep learning is mostly large matrix
# multiplications and element-wise operations on large tensors, and a GPU is built for exactly
# that:
#
# - **Parallelism.** A GPU has thousands of simple arithmetic units, grouped into
#   streaming multiprocessors, that apply the same operation to different elements at once; a
#   CPU has a few dozen complex cores at most.
# - **Memory bandwidth.** Its memory delivers terabytes per second, several times to tens of
#   times what a CPU's memory delivers, and most layers are limited by how fast their
#   tensors can be read.
# - **Latency hiding.** Each memory access still takes long. A GPU keeps many more threads in
#   flight than it has units, and while some wait for data the others compute, so the wait is
#   hidden instead of stalling the chip.
# - **Registers and the memory hierarchy.** Each multiprocessor has a large, very fast
#   register file and on-chip shared memory and caches. A matrix multiplication is split into
#   tiles that are loaded once from main memory and reused many times from these fast levels,
#   so the arithmetic units are kept fed.
#
# The same facts explain when a GPU does *not* help: a tiny model or a batch of a few samples
# leaves most units idle, and data that must first cross from the CPU (section 2) can leave the
# GPU waiting.
#
# The [CUDA semantics](https://pytorch.org/docs/stable/notes/cuda.html) page of the PyTorch
# documentation is the reference for what follows.

# %%
if device.type == "cuda":
    properties = torch.cuda.get_device_properties(device)
    print(
        f"{properties.name}: {properties.total_memory / 2**30:.0f} GiB, bf16 supported: "
        f"{torch.cuda.is_bf16_supported()}"
    )
else:
    print(f"no CUDA GPU here ({device}): the GPU-only cells below will skip themselves")

# %% [markdown]
# ## 2. Feeding a GPU: pinned memory and non-blocking copies (core)
#
# A GPU is fast enough that it often waits for data. Copies from the CPU's memory to the GPU go
# through *page-locked* ("pinned") memory that the GPU can read directly. An ordinary tensor is
# first copied into a pinned staging buffer, then sent; a tensor that already lives in pinned
# memory skips the first step, and its copy can run *asynchronously*
# (`x.to(device, non_blocking=True)`): the CPU queues the copy and goes on preparing the next
# batch while the GPU works.
#
# - `DataLoader(..., pin_memory=True)` puts each batch in pinned memory;
# - `.to(device, non_blocking=True)` then lets the copy overlap with computation.
#
# Both do nothing useful on a CPU-only machine. On a GPU, measure the difference for a batch of
# 1,024 MNIST-sized images:

# %%
if device.type == "cuda":
    pageable = torch.randn(1024, 1, 28, 28)
    pinned = pageable.pin_memory()
    for label, batch in [("pageable", pageable), ("pinned", pinned)]:
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(50):
            batch.to(device, non_blocking=True)
        torch.cuda.synchronize()  # GPU work is asynchronous: wait before reading the clock
        print(f"{label:>9}: {1e6 * (time.perf_counter() - start) / 50:.0f} us per copy")
else:
    print("skipped: pinned memory only matters for copies to a GPU")

# %% [markdown]
# Note the `torch.cuda.synchronize()`: GPU calls return before the work is done, so timing GPU
# code without synchronising measures only how fast the work was *queued*.
#
# ## 3. Mixed precision (core)
#
# Most of a network's arithmetic does not need 32-bit floats. In *mixed precision*, matrix
# products and convolutions run in a 16-bit type while sensitive operations (reductions,
# softmax, the loss) stay in float32, under
# [`torch.autocast`](https://pytorch.org/docs/stable/amp.html). Modern GPUs run 16-bit
# arithmetic several times faster and the activations take half the memory.
#
# Use **bfloat16**: it has float32's range (8 exponent bits) with fewer digits, so gradients do
# not underflow and no loss scaling is needed. float16 has a narrow range and needs a
# `GradScaler`; keep it for GPUs without bfloat16 (before NVIDIA's Ampere generation).
#
# **Task.** Complete `train_step`: move the batch with `non_blocking=True`, clear the
# gradients, compute the outputs and the loss under
# `torch.autocast(device_type=device.type, dtype=torch.bfloat16)`, then call `backward` and
# `step` *outside* the autocast block, and return the loss as a Python number. A common mistake
# that the check cannot see on a CPU is to leave the batch where it was: on a GPU the forward
# pass then stops with an error naming two devices.


# %%
def train_step(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    """One optimisation step in bfloat16 mixed precision; return the loss."""
    ### BEGIN SOLUTION
    inputs = inputs.to(device, non_blocking=True)
    targets = targets.to(device, non_blocking=True)
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


toy = nn.Linear(4, 3).to(device)
toy_optimizer = torch.optim.SGD(toy.parameters(), lr=0.1)
toy_loss = train_step(
    toy, torch.randn(8, 4), torch.randint(0, 3, (8,)), nn.CrossEntropyLoss(), toy_optimizer, device
)
print(f"one step on a toy batch: loss {toy_loss:.3f}")

# %%
check.train_step(train_step)

# %% [markdown]
# `fit(..., amp=True)` does exactly this. Compare one epoch on 1,024 digits with and without it.
# On a GPU with bfloat16 units, mixed precision is faster. On a laptop CPU it is often *slower*:
# most CPUs have no fast bfloat16 arithmetic, so autocast adds conversions and saves nothing.
# Measure before you assume. (One epoch of 1,024 digits is only 8 steps, far too few for a good
# network: these runs compare times, and check that both ways end with about the same loss.)

# %%
download_mnist()
images, labels = load_mnist_tensors(train=True)
order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
train_x, train_y = images[order[:1024]], labels[order[:1024]]
valid_x, valid_y = images[order[1024:2048]], labels[order[1024:2048]]


# %%
def one_epoch(
    amp: bool = False, memory_format: torch.memory_format = torch.contiguous_format
) -> tuple[float, float]:
    """Train a fresh CNN for one epoch; return (seconds, validation loss)."""
    seed_everything(0)
    model = DigitCNN().to(device).to(memory_format=memory_format)
    batches = TensorBatches(
        train_x, train_y, 128, shuffle=True, device=device, memory_format=memory_format
    )
    valid = TensorBatches(valid_x, valid_y, 1024, device=device, memory_format=memory_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3)
    history = fit(
        model,
        batches,
        valid,
        nn.CrossEntropyLoss(),
        optimizer,
        epochs=1,
        device=device,
        amp=amp,
    )
    return history.last["seconds"], history.last["valid_loss"]


by_amp = {amp: one_epoch(amp=amp) for amp in (False, True)}
for amp, (seconds, loss) in by_amp.items():
    print(f"amp={amp!s:>5}: {seconds:.2f} s, validation loss {loss:.3f}")

# %% [markdown]
# ## 4. `channels_last` (optional)
#
# An image batch of shape `(N, C, H, W)` is normally stored with each channel's whole image
# contiguous ("channels first"). Convolution kernels on CPUs (and GPU tensor cores) are faster
# when the `C` values of each pixel sit together instead: the
# [`channels_last`](https://pytorch.org/tutorials/intermediate/memory_format_tutorial.html)
# memory format. The shape does not change, only the order in memory (the *strides*), so no
# other code changes. Convert both the model and the inputs; a mismatch makes PyTorch convert
# back and forth on every call.
#
# **Task.** Complete `to_channels_last(model, images)`: return the model and the images, both
# converted to `torch.channels_last` (`.to(memory_format=...)` for the model,
# `.contiguous(memory_format=...)` for the tensor).


# %%
def to_channels_last(model: nn.Module, images: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """Return `model` and `images` in the channels_last memory format."""
    ### BEGIN SOLUTION
    return model.to(memory_format=torch.channels_last), images.contiguous(
        memory_format=torch.channels_last
    )
    ### END SOLUTION


# %%
check.channels_last(to_channels_last)

# %% [markdown]
# Time one training epoch each way (on a small CPU we measured channels_last about 1.8x faster
# for this network; your machine will differ). The channels-first epoch is the `amp=False` run
# of section 3, the same training, so we reuse it instead of training it again:

# %%
by_layout = {
    "channels first": by_amp[False],
    "channels_last": one_epoch(memory_format=torch.channels_last),
}
for label, (seconds, loss) in by_layout.items():
    print(f"{label:>14}: {seconds:.2f} s, validation loss {loss:.3f}")

# %% [markdown]
# ## 5. `torch.compile` (optional)
#
# [`torch.compile`](https://pytorch.org/docs/stable/generated/torch.compile.html) traces the
# model's Python code into a graph and generates fused kernels for it (C++ on CPUs, Triton on
# GPUs). The first call pays for the compilation, seconds to minutes; later calls can be much
# faster. Whether it pays off depends on how many calls follow: for a long training run on a
# GPU it usually does; for a notebook experiment of a few seconds on a small CPU it rarely does.
# It needs a working C++ compiler on CPUs, so the next cell is guarded.

# %%
seed_everything(0)
eager = DigitCNN().eval()
batch = valid_x[:256]
try:
    start = time.perf_counter()
    compiled = torch.compile(eager)
    with torch.no_grad():
        compiled(batch)
    compile_seconds = time.perf_counter() - start
except Exception as error:  # no compiler, unsupported platform, ...
    print(f"torch.compile is not available here ({type(error).__name__}); skipping")
else:
    timings = {}
    with torch.no_grad():
        functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
            "eager": eager,
            "compiled": compiled,
        }
        for label, function in functions.items():
            start = time.perf_counter()
            for _ in range(5):
                function(batch)
            timings[label] = (time.perf_counter() - start) / 5
    saving = timings["eager"] - timings["compiled"]
    print(
        f"compiling took {compile_seconds:.1f} s; per batch: eager {1e3 * timings['eager']:.1f} "
        f"ms, compiled {1e3 * timings['compiled']:.1f} ms"
    )
    if saving > 0:
        print(f"it pays for itself after about {compile_seconds / saving:,.0f} batches")
    else:
        print("here the compiled model is no faster: compiling does not pay")

# %% [markdown]
# ## 6. Several processes: DistributedDataParallel (core)
#
# One GPU is not always enough. *Data parallelism* is the simplest way to use several: every
# process holds a full copy of the model and takes its own share of each batch; after the
# backward pass the gradients are averaged across processes, so every copy makes the same
# update and the copies stay identical. With two processes, each handling half of a batch of
# 128, the averaged gradient is that of the whole batch: mathematically the same training as
# one process, in (ideally) half the time.
#
# [`torchrun`](https://pytorch.org/docs/stable/elastic/run.html) starts the processes and tells
# each one, through environment variables, its `RANK` (0, 1, ...), the `WORLD_SIZE` (how many)
# and where to meet the others. Every process runs the *whole script*. `practicaltorch` makes
# the script changes small:
#
# 1. `device = distributed.init_from_env()` joins the process group (NCCL between GPUs, gloo on
#    CPUs) and gives each process its own GPU (`LOCAL_RANK`);
# 2. `model = distributed.wrap_model(model, device)` wraps the network in
#    [`DistributedDataParallel`](https://pytorch.org/docs/stable/notes/ddp.html), which averages
#    gradients during `backward`;
# 3. `TensorBatches` shards each batch by rank (with a `DataLoader`, use a
#    `DistributedSampler`), and `fit` averages losses and metrics over processes;
# 4. only the main process (rank 0) prints and writes files: `distributed.is_main_process()`.
#
# Without `torchrun` all four are no-ops, so one script serves a laptop and a cluster. Here is
# the course's script, `course/scripts/train_ddp.py`; the lines marked `[DDP n]` are the four
# changes. (On Colab, or anywhere without the repository, the cell downloads it.)

# %%
script = Path("../scripts/train_ddp.py").resolve()
if not script.is_file():
    script = workdir / "train_ddp.py"
    url = (
        "https://raw.githubusercontent.com/practicaltorch/practicaltorch/main/"
        "course/scripts/train_ddp.py"
    )
    urllib.request.urlretrieve(url, script)
source = script.read_text().splitlines()
for number, line in enumerate(source, start=1):
    if "# [DDP" in line or "def main" in line:
        print(f"{number:4d}  {line}")

# %% [markdown]
# A point the script handles for you: batch normalisation computes its statistics per process,
# over that process's half of the batch, so with batch norm the two runs would differ slightly.
# The script's CNN leaves batch norm out so that the comparison below is exact; in real runs
# either accept the difference or use `nn.SyncBatchNorm.convert_sync_batchnorm(model)`, which
# averages the statistics across GPUs.
#
# The script trains on 2,048 digits for two epochs by default: enough to compare two runs, not
# to make a good model (the SLURM example below passes the full training set). Its CNN and
# batches use the `channels_last` layout of section 4.
#
# First the reference: the same script as one ordinary process. From a shell that would be
# `python train_ddp.py --out one-process`; here it runs inside this notebook's own process,
# which saves starting Python and importing torch again. `runpy.run_path` executes the file and
# returns its functions, and the script's `main` takes the command-line arguments as a list.

# %%
one_dir = workdir / "one-process"
runpy.run_path(str(script))["main"](["--out", str(one_dir)])
one = json.loads((one_dir / "result.json").read_text())

# %% [markdown]
# **Task.** Build `command`, the list of arguments (as `subprocess.run` takes them) that
# launches the script on two processes: `sys.executable`, `-m`, `torch.distributed.run` (the
# module behind the `torchrun` command, run with this notebook's Python), `--standalone` (all
# processes on this machine, no separate rendezvous server), `--nproc-per-node` and `2`, then
# the script and its own argument `--out` with the folder `two_dir`.

# %%
two_dir = workdir / "two-processes"
### BEGIN SOLUTION
command = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc-per-node",
    "2",
    str(script),
    "--out",
    str(two_dir),
]
### END SOLUTION

# %%
check.launch_command(command, script)

# %% [markdown]
# Run it. Both processes print their greeting; only rank 0 prints the epochs and writes the
# results. On a two-core machine each process gets one core.

# %%
done = subprocess.run(command, capture_output=True, text=True)
print(done.stdout[-900:] or done.stderr[-2000:])
done.check_returncode()
two = json.loads((two_dir / "result.json").read_text())

# %%
check.world_size(two, 2)

# %%
for label, result in [("1 process", one), ("2 processes", two)]:
    print(
        f"{label:>11}: validation loss {result['valid_loss']:.6f}, accuracy "
        f"{100 * result['valid_accuracy']:.2f}%, {result['seconds']:.1f} s of training"
    )

# %% [markdown]
# The two runs agree closely, but not to the last digit: the processes add up the gradients in
# a different order, and floating-point addition is not associative, so tiny differences appear
# and grow a little over the steps. What matters is that the training is the same, which a
# tolerance of a fraction of a percent confirms.
#
# ### Question 1
#
# You move from one GPU with batch size 128 to 8 GPUs. Should each GPU process 128 samples or
# 16? What else might need to change?
#
# ### BEGIN SOLUTION
# Both are used. Keeping the *global* batch at 128 (16 per GPU) reproduces the single-GPU
# training exactly, as this notebook did, but each GPU gets so little work that it may idle
# waiting for communication, and the speed-up disappoints. Keeping 128 per GPU (a global batch
# of 1,024) uses the GPUs well, but then there are 8 times fewer optimisation steps per epoch,
# and the learning rate usually has to grow (a common rule of thumb: scale it with the batch
# size, with a warm-up, which one-cycle provides) and the number of epochs may need to change.
# Either way, check the validation curves against the single-GPU run, and watch batch norm,
# whose statistics are per GPU.
# ### END SOLUTION

# %% [markdown]
# ## 7. On a cluster: a SLURM batch script (optional)
#
# On an HPC cluster you do not run `torchrun` yourself on a login node: you describe the job to
# the scheduler, SLURM, in a batch script and submit it with `sbatch`. The course's example,
# `course/scripts/slurm_ddp.sh`, is below. It is not run here; adapt the partition, account and
# modules to your cluster's documentation.

# %%
slurm_script = script.with_name("slurm_ddp.sh")
if slurm_script.is_file():
    print(slurm_script.read_text())
else:
    print("slurm_ddp.sh is in course/scripts/ of the repository")

# %% [markdown]
# Line by line:
#
# - `#SBATCH` lines are instructions to SLURM, read before the script runs (a line starting
#   `##SBATCH` is switched off). `--nodes=1` asks for one machine; `--gpus-per-node=4` for four
#   GPUs on it; `--ntasks-per-node=1` for one launcher per node (torchrun then starts one worker
#   per GPU itself); `--cpus-per-task` for the CPU cores the workers share (data preparation
#   runs on them); `--time` is the wall-clock limit, after which the job is killed;
#   `--output=%x-%j.out` names the log after the job name and number. `--requeue` lets SLURM
#   restart the job if a node fails or it is pre-empted.
# - `set -euo pipefail` stops the script at the first failing command instead of ploughing on.
# - The commented `module load` and `source .../activate` lines set up the software; the
#   environment variable `PRACTICALTORCH_DATA` says where the data are (fetch them once on a
#   login node: compute nodes often have no internet).
# - `MASTER_ADDR` is the first node of the job, found with `scontrol show hostnames`; every
#   torchrun meets the others there (`--rdzv-backend=c10d --rdzv-endpoint=...`), and
#   `--rdzv-id=$SLURM_JOB_ID` keeps two jobs on the same node from joining each other.
# - `OMP_NUM_THREADS` splits the CPU cores between the workers, so they do not oversubscribe
#   the node (the same reason `configure_threads` exists).
# - `srun torchrun ...` starts one torchrun per node (`--ntasks-per-node=1`); each starts
#   `--nproc-per-node` workers, so the world size is nodes x GPUs per node.
# - **Several nodes**: change `--nodes=1` to, say, `--nodes=4`. Nothing else changes:
#   `--nnodes` follows from `SLURM_JOB_NUM_NODES`, and the rendezvous finds the first node. Data
#   parallelism across nodes needs a fast interconnect (InfiniBand or similar) to pay off.
# - The script's arguments: the full training set, `--device cuda`, `--amp` for bfloat16, a
#   larger global batch, and `--resume` with a fixed `--out` folder, so a requeued or
#   resubmitted job continues from its last checkpoint instead of starting again (lesson 06).

# %% [markdown]
# ### Question 2
#
# Your 4-GPU job runs only 1.5 times faster than the 1-GPU job. Name three possible causes and
# how you would check each.
#
# ### BEGIN SOLUTION
# - **Data loading cannot keep up**: the GPUs wait for batches. Check GPU utilisation
#   (`nvidia-smi`, or the PyTorch profiler); fix with more `DataLoader` workers (and enough
#   `--cpus-per-task`), `pin_memory=True`, faster storage, or data already on the GPU.
# - **Communication dominates**: the per-GPU batch is small or the model has many parameters,
#   so averaging gradients costs as much as computing them. Check by timing with a larger batch
#   per GPU; fix with larger per-GPU batches, bfloat16, or a better interconnect.
# - **Too little work per GPU or unequal work**: small kernels leave the GPU idle (check
#   utilisation), or one rank does extra work such as evaluation, logging or checkpointing
#   while the others wait at the next synchronisation. Keep rank-0-only work short.
# - Also: CPU threads oversubscribed (set `OMP_NUM_THREADS`), or the comparison is unfair (the
#   first epoch includes start-up and `torch.compile` time). Measure steady-state epochs.
# ### END SOLUTION

# %% [markdown]
# ## The quality bar
#
# The two-process run must reach the same validation loss (to 1% relative) and accuracy (to
# 0.5 percentage points) as the single-process run.

# %%
assert check.matches(two, one, loss_rtol=0.01, accuracy_atol=0.005)
