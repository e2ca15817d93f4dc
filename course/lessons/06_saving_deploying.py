# %% [markdown]
# # Lesson 06: Saving, loading and deploying a model
#
# A trained network is only useful if it outlives the Python session that trained it. In this
# lesson you save a model so that training can be resumed after an interruption, load it back
# safely, and export it to files that a Fortran or C++ program can run without Python: the
# route by which a network becomes, for example, a parameterisation inside a climate model
# through [FTorch](https://github.com/Cambridge-ICCS/FTorch).
#
# **By the end you will be able to**
#
# - say what a `state_dict` holds, and save a checkpoint that can resume training (weights,
#   optimiser, scheduler, epoch) plus what is needed to rebuild the model;
# - load a checkpoint with `weights_only=True`, and explain why loading with it switched off can
#   run someone else's code on your machine;
# - resume an interrupted `fit` and get the same result as an uninterrupted run;
# - export a model to TorchScript for FTorch and LibTorch, and to ONNX, and verify the exported
#   file in a fresh process;
# - hand arrays between Fortran (column-major) and PyTorch (row-major) without scrambling them.
#
# **Time:** about 45 minutes for the core sections; about 60 minutes with the optional ones.
# Every training run here takes a second or two.
#
# **You should know:** how to train a classifier with `fit` (lesson 02), and a little about
# the penguin data.

# %% [markdown]
# ## Setup
#
# Everything this lesson writes goes into a fresh temporary folder, `workdir`; set it to a
# folder of your own if you want to keep the files and look at them afterwards.
#
# TorchScript, the format FTorch reads, is deprecated upstream, and `practicaltorch` says so
# once with a `TorchScriptDeprecationWarning`. Section 7 explains why we use it anyway; the
# `filterwarnings` line keeps the notebook quiet about it.

# %%
import json
import pickle
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from practicaltorch import MLP, TensorBatches, configure_threads, fit, pick_device, seed_everything
from practicaltorch.checks import lesson06 as check
from practicaltorch.data.penguins import Penguins
from practicaltorch.export import (
    TorchScriptDeprecationWarning,
    export_onnx,
    export_run,
    max_relative_error,
    verify,
)
from practicaltorch.models import load_model
from practicaltorch.recipes.physical import penguin_scaling
from practicaltorch.training import Callback, Checkpoint, FitState, save_checkpoint

warnings.filterwarnings("ignore", category=TorchScriptDeprecationWarning)
seed_everything(0)
device = pick_device()
configure_threads()
workdir = Path(tempfile.mkdtemp(prefix="lesson06-"))
print(f"computing on {device}; files go to {workdir}")

# %% [markdown]
# ## 1. A model worth saving (core)
#
# We train the penguin species classifier of lesson 02, with one change: a little *dropout*
# (each hidden unit is switched off at random with probability 0.1 while training). Dropout
# makes the difference between training mode and evaluation mode visible, which matters when
# we load the model back.
#
# `make_model` and `make_training` build everything a run needs, so we can build identical
# fresh copies later, as a new Python process would.

# %%
train_set = Penguins(train=True)
valid_set = Penguins(train=False)
valid_batches = TensorBatches(*valid_set.tensors(), batch_size=256)
loss_fn = nn.CrossEntropyLoss()
epochs = 20


def make_model() -> MLP:
    """Build a fresh, untrained species classifier."""
    return MLP(len(train_set.feature_names), len(train_set.classes), hidden=(32, 32), dropout=0.1)


def make_training(
    model: nn.Module,
) -> tuple[TensorBatches, torch.optim.Optimizer, torch.optim.lr_scheduler.OneCycleLR]:
    """Shuffled training batches, an optimiser and a one-cycle schedule for `model`."""
    batches = TensorBatches(*train_set.tensors(), batch_size=32, shuffle=True, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=1e-2, total_steps=epochs * len(batches)
    )
    return batches, optimizer, scheduler


model = make_model().to(device)
train_batches, optimizer, scheduler = make_training(model)
fit(
    model,
    train_batches,
    valid_batches,
    loss_fn,
    optimizer,
    epochs=epochs,
    device=device,
    scheduler=scheduler,
)
model.eval()
with torch.no_grad():
    predicted = model(valid_set.features.to(device)).argmax(dim=1).cpu()
print(f"validation accuracy {100 * (predicted == valid_set.targets).float().mean():.1f}%")

# %% [markdown]
# ## 2. What is in a `state_dict`? (core)
#
# A model's [`state_dict()`](https://pytorch.org/tutorials/beginner/saving_loading_models.html)
# is an ordered dictionary from names to tensors: every learnable weight and bias, plus
# *buffers* such as batch norm's running statistics. It holds numbers only. There is no code in
# it and no record of the class, so to use it again you must build the same architecture first
# and then pour the numbers in.

# %%
for name, tensor in model.state_dict().items():
    print(f"{name:<20} {tuple(tensor.shape)!s:<10} {tensor.dtype}")

# %% [markdown]
# The optimiser has a `state_dict` too. AdamW keeps two running averages for every parameter
# (of the gradient and of its square), and the scheduler knows how far through its schedule it
# is. To *resume* training, rather than start again from good weights, you need all of it:
# restarting Adam with empty averages, or a one-cycle schedule from its warm-up, gives a jolt
# and a different run.

# %%
optimizer_state = optimizer.state_dict()
print("optimizer:", list(optimizer_state), "| parameter 0:", list(optimizer_state["state"][0]))
print(f"scheduler: {scheduler.state_dict()['last_epoch']} of {scheduler.total_steps} steps taken")

# %% [markdown]
# ## 3. Save a checkpoint (core)
#
# [`torch.save`](https://pytorch.org/docs/stable/generated/torch.save.html) writes any
# dictionary of tensors and plain Python values to a file. A useful checkpoint holds:
#
# - `"model"`: `model.state_dict()`;
# - `"optimizer"` and `"scheduler"`: their `state_dict()`s, to resume training;
# - `"epoch"`: how many epochs are done;
# - `"config"`: the settings that rebuild the architecture (`MLP` keeps them in `model.config`);
# - `"metadata"`: what inference needs beside the weights: feature names and order, class
#   names, the standardisation statistics (`train_set.metadata()` gives them as plain lists).
#
# Save the `state_dict`, not the model object: `torch.save(model, ...)` pickles the object
# itself, which ties the file to your code and, as section 5 shows, cannot be loaded safely.
#
# **Task.** Build the dictionary `checkpoint` with these six keys and save it to
# `checkpoint_path`.

# %%
checkpoint_path = workdir / "penguins.pt"
### BEGIN SOLUTION
checkpoint = {
    "model": model.state_dict(),
    "optimizer": optimizer.state_dict(),
    "scheduler": scheduler.state_dict(),
    "epoch": epochs,
    "config": dict(model.config),
    "metadata": train_set.metadata(),
}
torch.save(checkpoint, checkpoint_path)
### END SOLUTION

# %%
check.checkpoint(checkpoint_path, model=model, epochs=epochs)

# %% [markdown]
# `practicaltorch.training.save_checkpoint(path, **contents)` does the same, but writes to a
# temporary file first and renames it at the end. A job killed halfway through writing then
# leaves the previous checkpoint intact instead of a truncated one.
#
# ## 4. Load it back (core)
#
# Loading reverses the steps: read the file with
# [`torch.load`](https://pytorch.org/docs/stable/generated/torch.load.html), build the
# architecture from the saved configuration, copy the weights in with
# [`load_state_dict`](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.load_state_dict)
# (it complains if a name or shape does not fit, which catches the wrong architecture), and call
# `eval()` before predicting. `map_location="cpu"` lets a checkpoint written on a GPU load on a
# machine without one.
#
# **Task.** Complete `load_penguin_model(path)`: load with `weights_only=True`, rebuild the
# `MLP` from `contents["config"]`, load the weights, switch to evaluation mode and return it,
# on the CPU (the next cells feed it CPU tensors). The check also hands your function a file
# that only `weights_only=False` can open, to see whether it refuses.


# %%
def load_penguin_model(path: str | Path) -> MLP:
    """Rebuild the trained classifier from a checkpoint, ready for predictions."""
    ### BEGIN SOLUTION
    contents = torch.load(path, map_location="cpu", weights_only=True)
    restored = MLP(**contents["config"])
    restored.load_state_dict(contents["model"])
    restored.eval()
    return restored
    ### END SOLUTION


restored = load_penguin_model(checkpoint_path)

# %%
check.restored(restored, model, valid_set.features, load=load_penguin_model)

# %% [markdown]
# Why `eval()`? In training mode dropout keeps switching units off at random, so the same bird
# gets different answers on every call:

# %%
bird = valid_set.features[:1]
restored.train()
with torch.no_grad():
    print("training mode:  ", [f"{float(restored(bird)[0, 0]):.3f}" for _ in range(3)])
restored.eval()
with torch.no_grad():
    print("evaluation mode:", [f"{float(restored(bird)[0, 0]):.3f}" for _ in range(3)])

# %% [markdown]
# ## 5. Why `weights_only=True`? (core)
#
# `torch.save` is built on Python's [pickle](https://docs.python.org/3/library/pickle.html).
# A pickle is not just data: it is a small program of instructions for rebuilding objects, and
# one of those instructions is "import this function and call it with these arguments". A
# pickled file from someone else can therefore run any code on your machine the moment you load
# it: delete files, read your SSH keys, install something. Python's own documentation warns
# never to unpickle data you do not trust. Model files travel: they are downloaded from
# websites, shared on clusters, attached to e-mails.
#
# `torch.load(..., weights_only=True)` (the default since PyTorch 2.6) uses a restricted
# unpickler that rebuilds only tensors, numbers, strings, lists, tuples and dictionaries, and
# refuses everything else. A checkpoint of `state_dict`s and plain values, like yours, loads
# fine. A file holding a whole pickled model does not:

# %%
whole_model_path = workdir / "whole_model.pt"
torch.save(restored, whole_model_path)  # pickles the object: class, code references and all
try:
    torch.load(whole_model_path, weights_only=True)
except pickle.UnpicklingError as error:
    lines = str(error).splitlines()
    print("refused:", next((line for line in lines if "Unsupported global" in line), lines[0]))

# %% [markdown]
# The way out is *not* `weights_only=False` on a file you did not make yourself. Ask for a
# `state_dict` checkpoint, or, if you trust a specific class, allow exactly that class with
# [`torch.serialization.add_safe_globals`](https://pytorch.org/docs/stable/notes/serialization.html#weights-only).
# `practicaltorch.training.load_checkpoint` always loads with `weights_only=True` and says
# clearly when a file is not a readable checkpoint.
#
# ### Question 1
#
# A colleague sends you `best_model.pt` from a shared drive and writes: "it only loads with
# `weights_only=False`, just switch it off". What do you do, and why?
#
# ### BEGIN SOLUTION
# Do not switch it off for a file whose origin you cannot vouch for: loading it would execute
# whatever the pickle contains, with your permissions, before you have seen a single weight.
# The file fails the safe loader because it holds something other than tensors and plain
# values, most likely a whole pickled model (`torch.save(model)`) or an object from their
# code. Ask them to save `model.state_dict()` (and the configuration that rebuilds the
# architecture) instead, which loads safely and is not tied to their code layout. If it must be
# that file, inspect what it references (the error names the offending global), and allow only
# classes you trust with `torch.serialization.add_safe_globals`, or load it once inside an
# isolated throwaway environment and re-save the `state_dict`.
# ### END SOLUTION

# %% [markdown]
# ## 6. Resume an interrupted run (optional)
#
# Long runs get interrupted: a job hits the cluster's time limit, a laptop goes to sleep, a
# node fails. Pass `fit` a `Checkpoint(folder)` callback and it writes `folder/last.pt` after
# every epoch (model, optimiser, scheduler, shuffling and random-number state, history);
# `Checkpoint(folder, resume=True)` continues from there, so the interruption costs at most
# one epoch.
#
# A *callback* is an object whose methods `fit` calls at fixed moments: `before_fit`,
# `after_epoch` and `after_fit`. We simulate a job killed after epoch 10 with a small one of
# our own, whose `after_epoch` raises an exception. Callbacks run in increasing `order`; the
# `Checkpoint` has order 90, so `order = 100` makes ours run after `last.pt` is written.


# %%
class JobKilledError(Exception):
    """Stands in for a time limit or a crash."""


class KillAfter(Callback):
    """Stop the run with an error once `epoch` epochs are done."""

    order = 100  # after the Checkpoint (90) has written last.pt

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_epoch(self, state: FitState) -> None:
        """Raise `JobKilledError` at the end of epoch `epoch`."""
        if state.epoch == self.epoch:
            raise JobKilledError(f"job killed after epoch {self.epoch} of {state.epochs}")


run_dir = workdir / "resumable"
seed_everything(1)
first_try = make_model().to(device)
batches, first_optimizer, first_scheduler = make_training(first_try)
try:
    fit(
        first_try,
        batches,
        valid_batches,
        loss_fn,
        first_optimizer,
        epochs=epochs,
        device=device,
        scheduler=first_scheduler,
        callbacks=[Checkpoint(run_dir), KillAfter(10)],
    )
except JobKilledError as error:
    print(error)
print("left behind:", sorted(p.name for p in run_dir.iterdir()))

# %% [markdown]
# For comparison, the same run (same seed) without an interruption:

# %%
seed_everything(1)
uninterrupted = make_model().to(device)
batches, reference_optimizer, reference_scheduler = make_training(uninterrupted)
reference_history = fit(
    uninterrupted,
    batches,
    valid_batches,
    loss_fn,
    reference_optimizer,
    epochs=epochs,
    device=device,
    scheduler=reference_scheduler,
)

# %% [markdown]
# **Task.** Resume the killed run as a new Python process would: build a fresh model,
# batches, optimiser and scheduler with `make_model` and `make_training` (their random starting
# state does not matter: everything is overwritten from `last.pt`), then call `fit` with the
# same settings and `callbacks=[Checkpoint(run_dir, resume=True)]`. Keep its history in
# `resumed_history`. Note that `epochs` is the *total* number of epochs, including those
# already done.

# %%
### BEGIN SOLUTION
resumed_model = make_model().to(device)
batches, resumed_optimizer, resumed_scheduler = make_training(resumed_model)
resumed_history = fit(
    resumed_model,
    batches,
    valid_batches,
    loss_fn,
    resumed_optimizer,
    epochs=epochs,
    device=device,
    scheduler=resumed_scheduler,
    callbacks=[Checkpoint(run_dir, resume=True)],
)
### END SOLUTION

# %%
check.resumed(resumed_history, reference_history, killed_after=10)

# %% [markdown]
# The resumed run is not just close to the uninterrupted one: on the CPU it is the same run,
# number for number, because the checkpoint also restored the shuffling generator and the
# random state that dropout draws from.
#
# ## 7. A model file for deployment (core)
#
# For *using* a model, rather than training it further, the optimiser state is dead weight.
# The course's recipes save a smaller `model.pt`: the weights, the architecture's name, its
# configuration and the metadata. `practicaltorch.models.load_model` rebuilds the network from
# it (safely, in evaluation mode), and the exporters below start from it. The metadata also
# records, through `penguin_scaling`, how the inputs were standardised and what each input and
# output is, with its unit: the export uses that to build the scaling into the exported model.

# %%
deploy_dir = workdir / "penguins-species"
save_checkpoint(
    deploy_dir / "model.pt",
    model=restored.state_dict(),
    architecture="MLP",
    config=dict(restored.config),
    metadata={
        **train_set.metadata(),
        **penguin_scaling(train_set),
        "input_shape": [len(train_set.feature_names)],
    },
)
deployed, info = load_model(deploy_dir)
print(info["architecture"], info["config"]["hidden"], "| classes:", info["metadata"]["classes"])

# %% [markdown]
# ## 8. TorchScript, for Fortran (FTorch) and C++ (LibTorch) (core)
#
# A Fortran simulation cannot import a Python class. It needs the network as a file that
# describes the computation itself. [TorchScript](https://pytorch.org/docs/stable/jit.html) is
# such a file: `torch.jit.script` compiles `forward` into a graph that LibTorch, PyTorch's
# C++ library, can load and run. FTorch wraps LibTorch for Fortran through the language's
# built-in C interoperability, so a Fortran code can call the network directly, sharing its
# arrays with the tensors without a copy and without any Python at run time. That is what
# makes a neural-network parameterisation (say, of convection or gravity-wave drag) practical
# inside a large simulation.
#
# TorchScript is deprecated in PyTorch in favour of `torch.export`, but it is what LibTorch and
# FTorch load today, so for Fortran coupling it is still the right format.
#
# `practicaltorch.export.export_run(folder)` loads the `model.pt` in a folder, builds the
# recorded scaling into it (so the exported model takes millimetres and grams, not z-scores),
# compiles it, and writes, next to the model file, an example input and the output PyTorch
# computed for it (raw little-endian float32, so a Fortran or C++ test program can read them in
# a few lines) and `export.json` describing shapes, the features in order with their units, and
# versions. `verify(folder)` then starts a *fresh* Python
# process that imports only `torch` and `numpy`, loads the file, runs the example and compares.
# The fresh process matters: it proves the file stands on its own, without your classes or
# anything else left over in this notebook's memory.
#
# **Task.** Export `deploy_dir` to TorchScript with `export_run`, keep its result in
# `ts_export`, and check it in a fresh process with `verify`, keeping the result in `ts_check`.

# %%
### BEGIN SOLUTION
ts_export = export_run(deploy_dir)  # TorchScript is the default format
ts_check = verify(ts_export.out_dir)
### END SOLUTION
print(ts_export.summary())

# %%
check.verified(ts_check, "torchscript")

# %% [markdown]
# The folder holds what you would hand to the person coupling the model into their code:

# %%
for path in sorted(ts_export.out_dir.iterdir()):
    print(f"{path.name:<24} {path.stat().st_size:>8} bytes")
manifest = json.loads(ts_export.manifest_path.read_text())
print({key: manifest[key] for key in ("input", "output", "dtype", "memory_order")})

# %% [markdown]
# Load the TorchScript file here too, exactly as LibTorch would, and compare it with the
# restored model on all 60 validation birds. The exported model is fed the birds' measurements
# in millimetres and grams (undoing the standardisation of `valid_set.features`); the restored
# network gets the standardised features it was trained on. The error measure is the largest
# absolute difference divided by the largest output magnitude.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
    scripted = torch.jit.load(str(ts_export.model_path))
birds_mm_g = valid_set.features * valid_set.std + valid_set.mean  # physical units
print("first bird:", dict(zip(manifest["input"]["names"], birds_mm_g[0].tolist(), strict=True)))
with torch.no_grad():
    reference = restored(valid_set.features)
    restored_error = max_relative_error(deployed(valid_set.features), reference)
    ts_error = max_relative_error(scripted(birds_mm_g), reference)
print(f"load_model: {restored_error:.1e}   TorchScript, in mm and g: {ts_error:.1e}")

# %% [markdown]
# In Fortran the same model runs like this with FTorch. The lines come from
# `course/fortran/penguins/penguins.f90` in the course repository, a complete program that the
# course's tests compile against FTorch and check against Python; `docs/export.md` shows how to
# build it, and says which FTorch release the course uses.
#
# ```fortran
# ! Declared in PyTorch's order, (birds, features): FTorch's default layout makes a
# ! tensor of shape (2, 5) whose element [i, j] is x(i+1, j+1). No transpose.
# real(sp), dimension(n_birds, n_features), target :: x
# real(sp), dimension(n_birds, n_species), target :: scores
# call torch_model_load(model, trim(model_file), torch_kCPU)
# call torch_tensor_from_array(inputs(1), x, torch_kCPU)
# call torch_tensor_from_array(outputs(1), scores, torch_kCPU)
# ! bill length (mm), bill depth (mm), flipper length (mm), body mass (g), male (1 or 0)
# x(1, :) = [39.1, 18.7, 181.0, 3750.0, 1.0]
# x(2, :) = [46.5, 14.8, 217.0, 5200.0, 0.0]
# call torch_model_forward(model, inputs, outputs)
# ```
#
# Because the export carries the scaling, the Fortran side passes raw measurements in the
# order `export.json` lists them, in float32, and gets one score per species back.
#
# ## 9. Row-major and column-major (core)
#
# Python (NumPy, PyTorch) and C store a 2-D array *row by row*: in a `(birds, features)` array,
# one bird's five features sit next to each other in memory. Fortran stores arrays *column by
# column*: in `x(2, 5)` the *first* index varies fastest, so `x(1, 1), x(2, 1)` (the first
# feature of both birds) are next to each other. A tensor is a pointer plus a shape plus
# *strides* (how far to step in memory along each dimension), so FTorch wraps a Fortran array
# without a copy by choosing column-major strides: with the default layout the tensor has the
# array's shape and `tensor[i, j]` is `x(i+1, j+1)`. That is why the Fortran above declares
# `x(birds, features)`, in PyTorch's order. The same numbers sit in memory in a different order,
# though; see it with three birds:

# %%
three = valid_set.features[:3].numpy()  # (birds, features), as in PyTorch
in_c = np.frombuffer(three.tobytes(order="C"), dtype=np.float32)  # PyTorch's, NumPy's, C's
in_fortran = np.frombuffer(three.tobytes(order="F"), dtype=np.float32)  # Fortran's x(3, 5)
print("first 6 values in memory, C order:      ", np.round(in_c[:6], 2))
print("first 6 values in memory, Fortran order:", np.round(in_fortran[:6], 2))

# %% [markdown]
# The memory order matters whenever bytes cross between the languages without FTorch's help:
# a file written by NumPy read into a Fortran array, or a Fortran array's bytes handed to
# Python. Read C-order bytes straight into Fortran's `x(birds, features)` and every number is
# still there, but in the wrong place, and the network silently computes nonsense. Fill the
# array with `reshape(buffer, shape(x), order=[2, 1])` instead (last index fastest, as in C),
# or keep the C-order bytes and tell FTorch with `layout=[2, 1]`; `docs/export.md` shows both.
#
# **Task.** A Fortran code hands you the bytes of its array `x(n_features, n_samples)`
# (float32). Complete `from_fortran` to return a float32 tensor of shape
# `(n_samples, n_features)` with sample *j*'s features in row *j*. Hint: `np.frombuffer`,
# `.reshape`, `torch.from_numpy` (copy the array first: `frombuffer` gives a read-only view).


# %%
def from_fortran(buffer: bytes, n_features: int, n_samples: int) -> torch.Tensor:
    """Turn the bytes of Fortran's x(n_features, n_samples) into a (samples, features) tensor."""
    ### BEGIN SOLUTION
    values = np.frombuffer(buffer, dtype=np.float32).reshape(n_samples, n_features)
    return torch.from_numpy(values.copy())
    ### END SOLUTION


# %%
check.from_fortran(from_fortran)

# %% [markdown]
# ## 10. The `torch.export` and ONNX route (optional)
#
# [`torch.export`](https://pytorch.org/docs/stable/export.html) is PyTorch's current way to
# capture a model as a graph: it traces `forward` once with example inputs and records every
# operation, producing an `ExportedProgram`. [ONNX](https://onnx.ai) is an open file format for
# such graphs, read by ONNX Runtime and many other tools in C, C++, C#, Java and more.
# `export_onnx` goes through `torch.export` and checks the file with ONNX Runtime before it
# returns. ONNX is the route when the consumer is not LibTorch-based, or when TorchScript
# finally disappears.
#
# The capture itself, in a few lines (the printed graph is the network, operation by
# operation). The example batch has 8 birds; `dynamic_shapes` marks the first dimension as a
# batch of any size, `Dim("batch")`, so the graph is not tied to 8:

# %%
batch = torch.export.Dim("batch")
program = torch.export.export(restored, (valid_set.features[:8],), dynamic_shapes=({0: batch},))
print("\n".join(str(program.graph_module.code).strip().splitlines()[:6]))

# %% [markdown]
# The ONNX export needs the optional packages `onnx`, `onnxscript` and `onnxruntime`
# (`pip install "practicaltorch[onnx]"`). Without them the next cell says so and skips.
# `export_onnx(..., program=program)` converts the program we just captured rather than
# capturing the model a second time; the model is still needed, for the output the ONNX file
# must reproduce. The batch dimension stays dynamic, so ONNX Runtime can then run all 60
# birds at once.

# %%
onnx_error = None
try:
    import onnxruntime
except ImportError:
    print('ONNX Runtime is not installed; skipping (pip install "practicaltorch[onnx]")')
else:
    onnx_export = export_onnx(restored, valid_set.features[:8], workdir / "onnx", program=program)
    print(verify(onnx_export.out_dir).summary())
    session = onnxruntime.InferenceSession(
        str(onnx_export.model_path), providers=["CPUExecutionProvider"]
    )
    (onnx_logits,) = session.run(None, {"input": valid_set.features.numpy()})
    onnx_error = max_relative_error(onnx_logits, reference)
    print(f"ONNX Runtime on all {len(onnx_logits)} birds: max relative error {onnx_error:.1e}")

# %% [markdown]
# ### Question 2
#
# You hand the TorchScript folder to a colleague who will call the network from a Fortran
# ocean model. What, beyond the `.pt` file, must they know or do for the answers to be right?
#
# ### BEGIN SOLUTION
# - The inputs: which features, in which order, in which units, and that they must be
#   standardised with the training mean and standard deviation, unless, as here, the scaling
#   is built into the exported model (`export.json` says which); a body-mass model's output
#   must likewise be turned back into grams.
# - The outputs: logits, not probabilities, and the order of the classes.
# - Types and layout: float32 (a `real(dp)` array must be converted, or the model exported in
#   float64), and the array declared in PyTorch's order, `x(batch, features)`, with FTorch's
#   default layout, or C-order data described with `layout=[2, 1]`.
# - Run `example_input.bin` through their build and compare with `example_output.bin` to 1e-5:
#   that catches layout, scaling and version mistakes before any science is done.
# - The LibTorch version FTorch is built against should be compatible with the torch that
#   wrote the file (`export.json` records it).
# - The range of the training data: a network is only trustworthy on inputs like those it was
#   trained on, and a coupled model may wander outside them.
# ### END SOLUTION

# %% [markdown]
# ### Question 3
#
# When would you choose ONNX over TorchScript, and when a plain `state_dict` checkpoint over
# both?
#
# ### BEGIN SOLUTION
# A `state_dict` checkpoint is for Python: resuming training, fine-tuning, or inference where
# the model's code is available. It is small, safe to load and independent of how `forward` is
# written, but useless without the class. TorchScript is for LibTorch-based consumers: C++
# programs and Fortran through FTorch, which is the established route for coupling with
# simulation codes. ONNX is for everything else: ONNX Runtime in C, C#, Java or the browser,
# hardware vendors' inference engines, and as the future-proof path as TorchScript is retired.
# Its exporter is stricter about what Python it accepts, and some operations are missing in
# older opsets.
# ### END SOLUTION

# %% [markdown]
# ## The quality bar
#
# Every way of reloading the model must reproduce the original's outputs on the validation
# birds to a relative error of 1e-5 (float32 arithmetic in a different order typically gives
# differences around 1e-7), and the TorchScript file must pass `verify` in a fresh process.

# %%
errors = {"load_model": restored_error, "TorchScript": ts_error}
if onnx_error is not None:
    errors["ONNX"] = onnx_error
assert ts_check.passed, ts_check.summary()
assert check.deployment(errors, tolerance=1e-5)
