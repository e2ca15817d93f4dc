# %% [markdown]
# # Lesson 02: Penguin species with a fully-connected network
#
# Three species of penguin breed on the Palmer Archipelago in Antarctica: Adelie, Chinstrap
# and Gentoo. Researchers there measured hundreds of birds. In this lesson you teach a small
# neural network to tell the species apart from a bird's measurements, and on the way you
# write every piece of a PyTorch training program yourself.
#
# **By the end you will be able to**
#
# - explore a table of data and choose input features, avoiding ones that bias the model;
# - write a `Dataset` class, add a transform, and batch it with a `DataLoader`;
# - explain why `nn.CrossEntropyLoss` takes class indices rather than one-hot vectors;
# - build the same network three ways: as your own `nn.Module`, with `nn.Sequential`, and with
#   the configurable `practicaltorch.models.MLP`;
# - write the training and validation loops, read the learning curves and a confusion matrix;
# - predict the species of a new bird from its raw measurements, with probabilities.
#
# **Time:** about 75 minutes for the core sections; about 90 minutes with the optional one.
#
# **You should know:** Python and a little pandas; tensors, autograd and an optimiser's
# `zero_grad` / `backward` / `step` (lesson 00).

# %% [markdown]
# ## Setup
#
# `seed_everything` fixes every random number generator, so your numbers match the worked
# solution. `pick_device` chooses where to compute (a CUDA GPU, then an Apple-silicon GPU,
# then the CPU). `configure_threads` uses one CPU thread on small machines, where more threads
# are often slower. `check` holds this lesson's self-checks: run the check cell after each task.

# %%
import time
from collections.abc import Callable, Iterable
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.lines import Line2D
from torch import nn
from torch.utils.data import DataLoader, Dataset

from practicaltorch import (
    MLP,
    TensorBatches,
    configure_threads,
    fit,
    pick_device,
    plots,
    seed_everything,
)
from practicaltorch.checks import check_metric
from practicaltorch.checks import lesson02 as check
from practicaltorch.data.penguins import SPECIES, Penguins, load_penguin_table, split_penguins
from practicaltorch.training import confusion_matrix, multiclass_metrics

seed_everything(0)
device = pick_device()
configure_threads()
print(f"computing on {device} with {torch.get_num_threads()} thread(s)")

# %% [markdown]
# ## 1. Look at the data (core)
#
# The table ships with the `palmerpenguins` package, so nothing is downloaded. Rows with a
# missing value are dropped, which leaves 333 birds. Each row is one bird: its species, the
# island where it was caught, three measurements of bill and flipper in millimetres, its body
# mass in grams, its sex and the year it was measured.

# %%
table = load_penguin_table()
table.head()

# %%
table.describe()

# %% [markdown]
# A *pair plot* draws every measurement against every other, one small scatter plot per pair,
# with histograms on the diagonal. Colour the points by species and look for a pair of
# measurements where the three colours fall into separate clouds: those are the features that
# will make the network's job easy. (Libraries such as seaborn draw this in one call; pandas
# and matplotlib are enough.)

# %%
measurements = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
colours = dict(zip(SPECIES, ["tab:orange", "tab:purple", "tab:green"]))
axes = pd.plotting.scatter_matrix(
    table[measurements],
    c=table["species"].map(colours),
    figsize=(9, 9),
    alpha=0.6,
    diagonal="hist",
    hist_kwds={"color": "grey"},
)
handles = [Line2D([], [], marker="o", ls="", color=c, label=s) for s, c in colours.items()]
axes[0, -1].legend(handles=handles, loc="upper right")
plt.show()

# %% [markdown]
# Gentoo birds stand apart on flipper length and body mass. Adelie and Chinstrap overlap on
# those, but bill length separates them. No single measurement separates all three, but a
# combination does: a job for a small network.
#
# Now look at where the birds were caught:

# %%
pd.crosstab(table["species"], table["island"])

# %% [markdown]
# ### Question 1
#
# Island predicts species almost perfectly here: every Gentoo in the table lives on Biscoe,
# every Chinstrap on Dream. Why should we still leave `island` out of the inputs? And `year`?
#
# ### BEGIN SOLUTION
# Island is a fact about *where the researchers went*, not about the bird. A network given the
# island would learn "Biscoe means Gentoo" because it is the easiest rule in this table, and it
# would be wrong as soon as it met a bird from another colony (Adelies live on Biscoe too, and
# on islands not in the survey). Year is worse: it only tells the network how many birds of
# each species happened to be measured that season. Features like these make a model look good
# on data collected the same way and fail on anything new. This is *bias* from the way the data
# were gathered. Keep to properties of the bird itself: its measurements and its sex.
# ### END SOLUTION

# %% [markdown]
# ## 2. Choose the features (core)
#
# **Task.** Set `features` to the list of columns the network will use as inputs. Use the four
# measurements and `sex`; leave out `species` (the answer), `island` and `year`.

# %%
### BEGIN SOLUTION
features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
### END SOLUTION

# %%
check.features(features)

# %% [markdown]
# ## 3. Training and validation birds (core)
#
# We hold some birds back to measure how well the network does on birds it never trained on.
# `split_penguins` keeps 10 female and 10 male birds of each species for validation (60 birds)
# and leaves 273 for training. The same call always gives the same split, so your results can
# be compared with everyone else's.

# %%
train_table, valid_table = split_penguins(table)
print(f"{len(train_table)} training birds, {len(valid_table)} validation birds")
train_table["species"].value_counts()

# %% [markdown]
# ## 4. Your own `Dataset` (core)
#
# PyTorch reads data through a
# [`Dataset`](https://pytorch.org/docs/stable/data.html#torch.utils.data.Dataset): any object
# with `__len__` (how many samples) and `__getitem__(index)` (sample number `index`, as
# tensors). Training code asks for samples by index and never needs to know about pandas.
#
# Two rules make a good dataset. First, do the slow conversion (pandas to tensors) once, in
# `__init__`; looking rows up with `table.iloc[index]` in `__getitem__` is hundreds of times
# slower. Second, `__getitem__` must depend only on `index`, so the same index always gives
# the same sample.
#
# The network's inputs must be numbers, so code `sex` as 1.0 for male and 0.0 for female. The
# target is the species as a *class index*: 0 for Adelie, 1 for Chinstrap, 2 for Gentoo (the
# order of `SPECIES`).
#
# **Task.** Complete `PenguinDataset`: in `__init__` store `self.features`, a float32 tensor of
# shape `(birds, len(features))`, and `self.targets`, an int64 (`torch.long`) tensor of shape
# `(birds,)`; make `__len__` return the number of birds; in `__getitem__` set `x` and `y`, the
# features and the target of bird number `index` (the lines after it apply any transforms).
# Hint: `table[name].to_numpy(np.float32)`, `np.stack(columns, axis=1)`, `torch.from_numpy`,
# `Series.map({"Adelie": 0, ...})` and `torch.tensor(..., dtype=torch.long)`.


# %%
class PenguinDataset(Dataset):
    """Penguins from a table: measurements as inputs, species index as target."""

    def __init__(
        self,
        table: pd.DataFrame,
        features: list[str],
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        target_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        ### BEGIN SOLUTION
        columns = []
        for name in features:
            if name == "sex":
                columns.append((table["sex"] == "male").to_numpy(np.float32))
            else:
                columns.append(table[name].to_numpy(np.float32))
        self.features = torch.from_numpy(np.stack(columns, axis=1))
        codes = table["species"].map({name: i for i, name in enumerate(SPECIES)})
        self.targets = torch.tensor(codes.to_numpy(), dtype=torch.long)
        ### END SOLUTION
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        """Return the number of birds."""
        ### BEGIN SOLUTION
        return len(self.targets)
        ### END SOLUTION

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (features, target) of bird number `index`."""
        ### BEGIN SOLUTION
        x, y = self.features[index], self.targets[index]
        ### END SOLUTION
        if self.transform is not None:
            x = self.transform(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y


my_train = PenguinDataset(train_table, features)
my_valid = PenguinDataset(valid_table, features)

# %%
check.dataset(
    my_train,
    length=273,
    n_features=len(features),
    name="my_train",
    table=train_table,
    columns=features,
)

# %%
my_train[0]

# %% [markdown]
# ## 5. Transforms: standardise the inputs (core)
#
# The measurements live on very different scales: bill depth is around 17 mm, body mass
# around 4000 g. A network starts with small random weights, so at first the mass would drown
# everything else out, and training would be slow and fragile. The cure is to *standardise*
# each measurement: subtract its mean and divide by its standard deviation, so every input is
# a number near zero of size about one.
#
# Compute the mean and standard deviation **from the training birds only**. The validation
# birds stand for the future, and a model in use has no way to see the future's statistics.
# Using them would leak information about the validation set into training.
#
# A *transform* is a function applied to each item as it is read, the same `transform=`
# argument that [torchvision datasets](https://pytorch.org/vision/stable/transforms.html)
# take. Leave `sex` as 0 or 1: it is already small.
#
# **Task.** Compute `mean` and `std` (one value per feature; 0 and 1 for `sex`) from
# `my_train.features`, write a function `standardise(x)` that returns `(x - mean) / std`, and
# recreate `my_train` and `my_valid` with `transform=standardise`.
# Hint: `torch.where(condition, a, b)` picks `a` where the condition holds.

# %%
### BEGIN SOLUTION
continuous = torch.tensor([name != "sex" for name in features])
mean = torch.where(continuous, my_train.features.mean(dim=0), 0.0)
std = torch.where(continuous, my_train.features.std(dim=0, correction=0), 1.0)


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Scale one bird's features with the training statistics."""
    return (x - mean) / std


my_train = PenguinDataset(train_table, features, transform=standardise)
my_valid = PenguinDataset(valid_table, features, transform=standardise)
### END SOLUTION

# %%
check.standardised(my_train, my_valid, name="my_train")

# %% [markdown]
# ## 6. Class indices or one-hot vectors? (core)
#
# A classifier outputs one number per class, its *logits*: the larger, the more likely. The
# loss for this, [`nn.CrossEntropyLoss`](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html),
# turns logits into probabilities with softmax and penalises a low probability for the true
# class. It takes the target as a class index (`2`) or as a probability for every class
# (`[0., 0., 1.]`, a *one-hot* vector). Both give exactly the same loss:

# %%
logits = torch.tensor([[2.0, 0.5, -1.0]])  # one bird, three classes
index = torch.tensor([2])  # the true class is Gentoo
one_hot = nn.functional.one_hot(index, num_classes=3).float()
loss_fn = nn.CrossEntropyLoss()
print(f"one-hot {one_hot.tolist()}")
print(f"loss with a class index: {loss_fn(logits, index):.4f}")
print(f"loss with a one-hot row: {loss_fn(logits, one_hot):.4f}")

# %% [markdown]
# Class indices are the usual choice: smaller, and the form that metrics and confusion
# matrices expect. Keep one-hot (or "soft") targets for when a sample truly belongs partly to
# several classes.
#
# ### Question 2
#
# The training set holds 126 Adelie, 48 Chinstrap and 99 Gentoo birds. Does one-hot encoding
# the targets stop the network from favouring the common species? If not, what would?
#
# ### BEGIN SOLUTION
# No. As the cell above shows, a one-hot target gives exactly the same loss as the class
# index: it is a different way to write the same label, not a reweighting. Imbalance is handled
# by weighting the loss (`nn.CrossEntropyLoss(weight=...)`, for example with weights inversely
# proportional to the class counts), by sampling rare classes more often
# (`torch.utils.data.WeightedRandomSampler`), or by reporting per-class metrics so the problem
# is at least visible. Here the classes are separated so well that none of this is needed, and
# our validation set has 20 birds of each species, so accuracy is not dominated by Adelies.
# ### END SOLUTION

# %% [markdown]
# ## 7. The library's `Penguins` dataset (core)
#
# What you wrote is what `practicaltorch.data.penguins.Penguins` does: the same split, the
# same coding of `sex` and species, and standardisation with statistics from the training split
# (it stores them as `mean` and `std`, and applies them to the validation split too). It also
# keeps the whole split as two tensors, `tensors()`, and can `encode` measurements of new
# birds, which we use at the end. From here on we use it. Compare its items with yours:

# %%
train_set = Penguins(train=True, features=features)
valid_set = Penguins(train=False, features=features)
mine = torch.stack([my_train[i][0] for i in range(len(my_train))])
difference = (mine - train_set.features).abs().max()
print(f"largest difference from your dataset: {difference:.2g}")
print(f"features: {train_set.feature_names}; classes: {train_set.classes}")

# %% [markdown]
# ## 8. Batches with a `DataLoader` (core)
#
# Networks learn from *mini-batches*: a few dozen samples at a time, one optimiser step per
# batch. A [`DataLoader`](https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader)
# asks the dataset for the items of each batch and stacks them into one tensor. Shuffle the
# training data, so each epoch sees the birds in a new order (the table is sorted by species,
# and batches all of one species pull the weights back and forth). Do not bother shuffling the
# validation data: its order changes nothing.
#
# **Task.** Create `train_loader` (batches of 32, shuffled) and `valid_loader` (one batch of
# up to 256, not shuffled) over `train_set` and `valid_set`.

# %%
### BEGIN SOLUTION
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
valid_loader = DataLoader(valid_set, batch_size=256)
### END SOLUTION

# %%
check.loaders(train_loader, valid_loader, n_features=len(features))

# %% [markdown]
# 273 birds in batches of 32 make eight full batches and a last one of 17. That last, smaller
# batch is usually harmless. It is not when the network uses *batch normalisation*, which
# standardises each feature over the batch while training: a batch of one bird has no spread,
# and `nn.BatchNorm1d` refuses it. `drop_last=True` skips the incomplete batch.

# %%
with_norm = nn.Sequential(nn.Linear(len(features), 8), nn.BatchNorm1d(8))
try:
    with_norm(torch.randn(1, len(features)))
except ValueError as error:
    print(f"a batch of one: {error}")
print("last batch sizes with batch_size=34:", [len(y) for _, y in DataLoader(train_set, 34)][-2:])
print("with drop_last=True:", [len(y) for _, y in DataLoader(train_set, 34, drop_last=True)][-2:])

# %% [markdown]
# ### Question 3
#
# Which batch sizes leave a last batch of exactly one of our 273 training birds?
#
# ### BEGIN SOLUTION
# Those that divide 272 = 273 - 1, apart from 1 itself: 2, 4, 8, 16, 17, 34, 68, 136 and 272.
# A batch size you picked for speed can hit one of these by accident when the dataset grows or
# shrinks a little, so use `drop_last=True` on the training loader whenever the model has batch
# norm (the validation loader is fine: in evaluation mode batch norm uses stored statistics).
# ### END SOLUTION

# %% [markdown]
# ## 9. The network, three ways (core)
#
# A fully-connected network (a *multilayer perceptron*, MLP) is a stack of
# [`nn.Linear`](https://pytorch.org/docs/stable/generated/torch.nn.Linear.html) layers, each
# computing `x @ W.T + b`, with a non-linear *activation* between them (here
# [ReLU](https://pytorch.org/docs/stable/generated/torch.nn.ReLU.html), `max(0, x)`). Without
# the activations the stack would collapse into one linear map. Ours takes the 5 features,
# has two hidden layers of 32 units, and outputs 3 logits. No softmax at the end:
# `nn.CrossEntropyLoss` applies it itself, in a numerically safer form.
#
# First, by hand. A model is a subclass of
# [`nn.Module`](https://pytorch.org/docs/stable/generated/torch.nn.Module.html): create the
# layers in `__init__` (so PyTorch registers their weights) and say how data flow through them
# in `forward`.
#
# **Task.** Complete `SpeciesNet`: layers `n_features -> width -> width -> n_classes`, ReLU
# after each hidden layer.


# %%
class SpeciesNet(nn.Module):
    """A two-hidden-layer classifier, written out by hand."""

    def __init__(self, n_features: int, n_classes: int, width: int = 32) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.hidden1 = nn.Linear(n_features, width)
        self.hidden2 = nn.Linear(width, width)
        self.output = nn.Linear(width, n_classes)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a batch of shape (N, n_features) to logits of shape (N, n_classes)."""
        ### BEGIN SOLUTION
        x = torch.relu(self.hidden1(x))
        x = torch.relu(self.hidden2(x))
        return self.output(x)
        ### END SOLUTION


by_hand = SpeciesNet(len(features), 3)

# %%
check.model(by_hand, len(features), name="by_hand")

# %% [markdown]
# When the data flow straight through, layer after layer, writing `forward` is busywork:
# [`nn.Sequential`](https://pytorch.org/docs/stable/generated/torch.nn.Sequential.html) chains
# the layers for you. And when you want to try other widths, depths, batch norm or dropout,
# `practicaltorch.models.MLP` builds the stack from a few settings.
#
# **Task.** Build the same network as `sequential = nn.Sequential(...)`, and as
# `model = MLP(...)` with `hidden=(32, 32)`.

# %%
### BEGIN SOLUTION
sequential = nn.Sequential(
    nn.Linear(len(features), 32),
    nn.ReLU(),
    nn.Linear(32, 32),
    nn.ReLU(),
    nn.Linear(32, 3),
)
model = MLP(len(features), 3, hidden=(32, 32))
### END SOLUTION

# %%
check.model(sequential, len(features), name="sequential")
check.model(model, len(features), name="model")

# %% [markdown]
# All three have the same layers and the same number of weights. We train `model`; print it to
# see what `MLP` built, and move it to the device.

# %%
model = model.to(device)
print(model)

# %% [markdown]
# ## 10. Loss and optimiser (core)
#
# The *loss* says how wrong the outputs are; the *optimiser* changes the weights to reduce it.
# [`AdamW`](https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html) adapts the step
# size of every weight and is a robust default. A *learning-rate schedule* changes the step size
# as training goes:
# [`OneCycleLR`](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html)
# warms up to a peak and then anneals to almost zero, which trains small networks quickly and
# reliably. It is stepped after every batch, so it needs the total number of steps.
#
# **Task.** Create `loss_fn` (cross-entropy), `optimizer` (AdamW over `model.parameters()`,
# `lr=1e-2`) and `scheduler` (one-cycle, peak `1e-2`, `epochs * len(train_loader)` steps).

# %%
epochs = 30
### BEGIN SOLUTION
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=1e-2, total_steps=epochs * len(train_loader)
)
### END SOLUTION

# %%
check.loss_and_optimizer(
    loss_fn, optimizer, model, scheduler, total_steps=epochs * len(train_loader)
)

# %% [markdown]
# ## 11. The training loop (core)
#
# One *epoch* is one pass over the training batches. Every step makes the same six moves:
#
# 1. move the batch to the device;
# 2. clear the gradients left from the last step: `optimizer.zero_grad()` (PyTorch *adds* new
#    gradients to old ones, so forgetting this mixes every batch together);
# 3. forward pass: `outputs = model(inputs)`;
# 4. loss: `loss = loss_fn(outputs, targets)`;
# 5. backward pass: `loss.backward()` computes the gradient of the loss for every weight;
# 6. update: `optimizer.step()`, then `scheduler.step()` if there is a scheduler.
#
# Call `model.train()` first: layers such as dropout and batch norm behave differently while
# training. Return the mean loss over the epoch's birds; use `loss.item()` to get a plain
# number (keeping the tensor would keep its whole computation graph alive).
#
# **Task.** Complete `train_epoch`.


# %%
def train_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> float:
    """Train for one pass over `loader`; return the mean training loss."""
    ### BEGIN SOLUTION
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total += loss.item() * len(targets)
        count += len(targets)
    return total / count
    ### END SOLUTION


# %%
check.train_function(train_epoch)

# %% [markdown]
# ## 12. The validation loop (core)
#
# Validation measures the network without changing it. Two things differ from training:
#
# - `model.eval()` switches dropout off and makes batch norm use the statistics it stored
#   during training instead of the current batch's. Forgetting it gives wrong (and
#   batch-size-dependent) scores for any model with those layers.
# - [`torch.no_grad()`](https://pytorch.org/docs/stable/generated/torch.no_grad.html) tells
#   autograd not to record the computation: no gradients are needed, and it saves time and
#   memory.
# - [`torch.inference_mode()`](https://pytorch.org/docs/stable/generated/torch.autograd.grad_mode.inference_mode.html)
#   is a stricter version of `no_grad`, and slightly faster: the tensors it creates can never
#   join a computation that autograd records later. Use it where results are only read, as
#   in evaluation and prediction; either is correct here.
#
# The predicted class is the one with the largest logit, `outputs.argmax(dim=1)`.
#
# **Task.** Complete `validate`: return the mean loss and the accuracy (a fraction between
# 0 and 1) over all birds in `loader`.


# %%
def validate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module,
    device: torch.device,
) -> tuple[float, float]:
    """Return (mean loss, accuracy) of `model` over `loader`, without training."""
    ### BEGIN SOLUTION
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = model(inputs)
            total += loss_fn(outputs, targets).item() * len(targets)
            correct += (outputs.argmax(dim=1) == targets).sum().item()
            count += len(targets)
    return total / count, correct / count
    ### END SOLUTION


# %%
check.validate_function(validate)

# %% [markdown]
# ## 13. Train (core)
#
# **Task.** For each of the `epochs` epochs, train one epoch and validate; append the training
# loss to `train_losses`, and the validation loss and accuracy to `valid_losses` and
# `valid_accuracies`. It takes about a second.

# %%
train_losses, valid_losses, valid_accuracies = [], [], []
start = time.perf_counter()
### BEGIN SOLUTION
for _ in range(epochs):
    train_losses.append(train_epoch(model, train_loader, loss_fn, optimizer, device, scheduler))
    valid_loss, valid_accuracy = validate(model, valid_loader, loss_fn, device)
    valid_losses.append(valid_loss)
    valid_accuracies.append(valid_accuracy)
### END SOLUTION
loop_seconds = time.perf_counter() - start
print(f"{epochs} epochs in {loop_seconds:.1f} s")

# %%
check.training_run(train_losses, valid_losses, valid_accuracies, epochs=epochs)

# %% [markdown]
# ## 14. Learning curves (core)
#
# Plot the losses per epoch. Both should fall and flatten out. A validation loss that turns
# upwards while the training loss keeps falling is the sign of *overfitting*: the network has
# started memorising the training birds.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.plot(train_losses, label="training")
left.plot(valid_losses, label="validation")
left.set(xlabel="epoch", ylabel="cross-entropy loss", yscale="log", title="Loss")
left.legend()
right.plot([100 * a for a in valid_accuracies])
right.set(xlabel="epoch", ylabel="%", title="Validation accuracy")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 15. The fast path: batches from tensors (optional)
#
# A `DataLoader` calls `__getitem__` once per bird and then stacks the items into a batch:
# hundreds of small Python calls per epoch. When the whole dataset fits in memory as tensors,
# as here, one indexing operation with a shuffled index builds the same batch.
# `practicaltorch.TensorBatches` does that, and works anywhere a `DataLoader` does. Measure the
# difference on this machine, first for reading the batches alone, then for a whole training
# epoch:


# %%
def seconds_per_epoch(run: Callable[[], object], repeats: int = 10) -> float:
    """Median wall time of `run()` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


fast_loader = TensorBatches(*train_set.tensors(), batch_size=32, shuffle=True, device=device)
loaders: dict[str, Iterable[tuple[torch.Tensor, torch.Tensor]]] = {
    "DataLoader": train_loader,
    "TensorBatches": fast_loader,
}
timings = {}
for label, batches in loaders.items():
    scratch = MLP(len(features), 3, hidden=(32, 32)).to(device)
    scratch_optimizer = torch.optim.AdamW(scratch.parameters(), lr=1e-3)
    read = seconds_per_epoch(partial(list, batches))
    train = seconds_per_epoch(
        partial(train_epoch, scratch, batches, loss_fn, scratch_optimizer, device)
    )
    timings[label] = (read, train)
    print(f"{label:>13}: read an epoch {1e3 * read:.2f} ms, train an epoch {1e3 * train:.2f} ms")
read_ratio = timings["DataLoader"][0] / timings["TensorBatches"][0]
train_ratio = timings["DataLoader"][1] / timings["TensorBatches"][1]
print(f"TensorBatches reads {read_ratio:.0f}x faster and trains {train_ratio:.1f}x faster here")

# %% [markdown]
# Reading the batches is many times faster. A whole training epoch gains much less, because
# the network's own work (forward, backward and optimiser step) is the same either way, and
# for a tiny network each of those small calls costs PyTorch a fixed overhead that dwarfs the
# arithmetic. The data path matters most when the model is cheap and the dataset is made of
# many small items. So learn the `DataLoader` idiom: it is what you need when data do not fit
# in memory or each item needs work of its own (reading an image from disk, random
# augmentation). Use the fast path when a small dataset already sits in memory as tensors.
#
# `practicaltorch.fit` is the loop you just wrote, with validation metrics, learning-rate
# schedules, early stopping and checkpoints added. The same training with the library and the
# fast batches:

# %%
seed_everything(0)
fast_model = MLP(len(features), 3, hidden=(32, 32)).to(device)
fast_optimizer = torch.optim.AdamW(fast_model.parameters(), lr=1e-2)
history = fit(
    fast_model,
    fast_loader,
    TensorBatches(*valid_set.tensors(), batch_size=256, device=device),
    nn.CrossEntropyLoss(),
    fast_optimizer,
    epochs=epochs,
    device=device,
    metrics=multiclass_metrics(3),
    scheduler=torch.optim.lr_scheduler.OneCycleLR(
        fast_optimizer, max_lr=1e-2, total_steps=epochs * len(fast_loader)
    ),
)
print(
    f"fit with TensorBatches: {history.last['seconds']:.2f} s for {epochs} epochs "
    f"(your loop with DataLoader: {loop_seconds:.2f} s); "
    f"validation accuracy {100 * history.last['valid_accuracy']:.1f}%"
)

# %% [markdown]
# ## 16. Which birds are confused? (core)
#
# Accuracy is one number. A *confusion matrix* shows which species are mistaken for which:
# row *i*, column *j* counts birds of species *i* predicted as species *j*, so correct
# predictions lie on the diagonal.
#
# **Task.** Compute the logits of all validation birds at once (`valid_set.features`, on the
# device, in evaluation mode without gradients) and `matrix`, a 3x3 tensor of counts, with
# `confusion_matrix(logits, targets, num_classes=3)`.
#
# A common mistake here is leaving out `model.eval()`. This network has no dropout or batch
# norm, so nothing changes and no check can notice; with those layers the matrix would be
# computed in training mode and be wrong.

# %%
### BEGIN SOLUTION
model.eval()
with torch.no_grad():
    valid_logits = model(valid_set.features.to(device))
matrix = confusion_matrix(valid_logits, valid_set.targets.to(device), num_classes=3)
### END SOLUTION

# %%
check.confusion(matrix)
fig = plots.plot_confusion_matrix(matrix, valid_set.classes)
plt.show()

# %% [markdown]
# ### Question 4
#
# Which species does the network confuse, and why those two? With 60 validation birds, how
# much is one mistake worth, and could you tell a network with 98.3% accuracy from one with
# 100%?
#
# ### BEGIN SOLUTION
# Any mistake is between Adelie and Chinstrap: they overlap in flipper length, bill depth and
# body mass (see the pair plot), and only bill length separates them, not perfectly. Gentoos
# are far from both. One bird is 1/60 = 1.7 percentage points. The standard error of an
# accuracy near 98% measured on 60 birds is about sqrt(0.98 x 0.02 / 60), roughly 1.8 points,
# so 98.3% and 100% are within noise of each other: to compare two models that close you need
# more validation data, several splits (cross-validation) or several seeds.
# ### END SOLUTION

# %% [markdown]
# ## 17. A new bird (core)
#
# The point of a model is to use it. Say a field assistant measures a bird: bill 47.5 mm long
# and 15 mm deep, flippers 215 mm, 5200 g, male. The network needs the inputs exactly as in
# training: the same columns, the same coding of sex, **standardised with the training
# statistics**. `train_set.encode` does all that from raw measurements. Softmax turns the
# logits into probabilities:
# [`torch.softmax(logits, dim=1)`](https://pytorch.org/docs/stable/generated/torch.softmax.html),
# over the classes.
#
# **Task.** Encode `new_bird` and compute `probs`, a `(1, 3)` tensor of class probabilities.

# %%
new_bird = {
    "bill_length_mm": 47.5,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 215.0,
    "body_mass_g": 5200.0,
    "sex": "male",
}
### BEGIN SOLUTION
inputs = train_set.encode(new_bird).to(device)
model.eval()
with torch.no_grad():
    probs = torch.softmax(model(inputs), dim=1)
### END SOLUTION

# %%
check.probabilities(probs, model, train_set, new_bird)
for name, p in zip(train_set.classes, probs[0].tolist()):
    print(f"{name:>10}: {100 * p:5.1f}%")

# %% [markdown]
# ### Question 5
#
# The network is very sure about this bird. Does a probability of 99.9% mean it is right 999
# times in 1000? What if the "bird" had a 90 mm bill, far outside anything in the table?
#
# ### BEGIN SOLUTION
# No. Softmax outputs are scores that sum to one, not calibrated frequencies: a network trained
# to drive its loss down tends to become over-confident, and nothing in training taught it what
# to say about inputs unlike its training data. A 90 mm bill is several standard deviations
# outside the data; the ReLU network extrapolates linearly and will usually give *more*
# extreme, not less certain, probabilities there (try it: this network calls such a bird a
# Chinstrap with a probability that rounds to 1). Check that new inputs lie within the range of
# the training data before trusting a prediction, and, where probabilities matter, check their
# calibration on held-out data.
# ### END SOLUTION

# %% [markdown]
# ## The quality bar
#
# The worked solution must classify at least 59 of the 60 validation birds correctly (98.3%).

# %%
final_accuracy = (matrix.diagonal().sum() / matrix.sum()).item()
assert check_metric(final_accuracy, check.ACCURACY_BAR, name="validation accuracy", unit="%")
