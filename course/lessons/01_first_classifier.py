# %% [markdown]
# # Lesson 01: A first classifier
#
# In lesson 00 you fitted two numbers to three points. Now we train a model on real data:
# 569 breast tumours, each described by 30 measurements taken from a microscope image, and
# labelled benign or malignant. Along the way you will write, line by line, the training
# loop that every PyTorch project uses, and see why neural networks need non-linear
# activation functions.
#
# **By the end you will be able to**
#
# - serve a dataset in shuffled mini-batches with `Dataset` and `DataLoader`, and read the
#   shapes of a batch;
# - build a linear classifier and train it with `nn.BCEWithLogitsLoss` and Adam, writing
#   the six steps of the training loop yourself;
# - follow training with learning curves, and judge the model on held-out data with the
#   ROC-AUC;
# - explain why stacking layers only helps with an activation function between them, and
#   show it on data a straight line cannot separate;
# - choose the output layer and loss for a binary or a multi-class problem;
# - do all of the above in one call with the library's `fit`.
#
# **Time:** about 75 minutes for the core sections; about 90 minutes with the optional ones.
#
# **You should know:** lesson 00 (tensors, `backward()`, an optimiser's `zero_grad()` and
# `step()`).

# %% [markdown]
# ## Setup
#
# As in lesson 00: fixed seeds, an explicitly chosen device, a sensible number of CPU
# threads, and the self-checks.

# %%
import time
from collections.abc import Iterable

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import make_moons
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split
from torchmetrics.functional.classification import binary_accuracy, binary_auroc, binary_roc

from practicaltorch import MLP, TensorBatches, configure_threads, fit, pick_device, seed_everything
from practicaltorch.checks import check_metric
from practicaltorch.checks import lesson01 as check
from practicaltorch.data.cancer import BreastCancer
from practicaltorch.plots import plot_history
from practicaltorch.training import binary_inputs, binary_metrics

seed_everything(0)
device = pick_device()
configure_threads()
print(f"PyTorch {torch.__version__}, computing on {device}")

# %% [markdown]
# ## 1. The data: a `Dataset` (core)
#
# PyTorch separates *what the data are* from *how they are served to the model*. A
# [`Dataset`](https://docs.pytorch.org/docs/stable/data.html#torch.utils.data.Dataset)
# answers two questions: how many samples are there (`len(dataset)`), and what is sample
# number `i` (`dataset[i]`, which returns the features and the target).
#
# `BreastCancer` is such a dataset, built on the copy of the Wisconsin breast cancer data that
# ships with scikit-learn. Its target is 1.0 for a malignant tumour and 0.0 for a benign one.

# %%
train_set = BreastCancer(train=True)
valid_set = BreastCancer(train=False)
features, target = train_set[0]
print(f"{len(train_set)} training tumours, {len(valid_set)} validation tumours")
print(f"one sample: features of shape {tuple(features.shape)}, target {target}")
print("the first five features:", train_set.feature_names[:5])
for name, dataset in [("training", train_set), ("validation", valid_set)]:
    print(f"malignant in the {name} split: {dataset.targets.mean().item():.1%}")

# %% [markdown]
# ### Training and validation data
#
# A model that has memorised its training data can look perfect on it and still be useless
# on the next patient. So we judge it on **validation** data it never trains on.
# `BreastCancer` has already made that split for you:
#
# - 20% of the tumours are held out (`train=False`), chosen at random with a fixed seed, so
#   everyone in the class gets the same split;
# - the split is *stratified*: both parts have the same share of malignant tumours (37%), so
#   neither is easier by chance;
# - every feature is *standardised* to mean 0 and standard deviation 1, using the mean and
#   standard deviation of the **training** tumours only (`train_set.mean`, `train_set.std`).
#   The measurements span very different ranges (areas in the hundreds, smoothness around
#   0.1), and gradient descent works best when the inputs have similar scales.
#
# Here are two of the 30 features. Malignant tumours tend to be larger and more irregular.

# %%
radius, texture = (train_set.feature_names.index(n) for n in ("worst radius", "worst texture"))
fig, axes = plt.subplots(figsize=(5, 4))
for label, colour in [(0, "tab:blue"), (1, "tab:red")]:
    chosen = train_set.targets[:, 0] == label
    axes.scatter(
        train_set.features[chosen, radius],
        train_set.features[chosen, texture],
        s=8,
        alpha=0.6,
        color=colour,
        label=train_set.classes[label],
    )
axes.set(xlabel="worst radius (standardised)", ylabel="worst texture (standardised)")
axes.legend()
fig.tight_layout()

# %% [markdown]
# ### Splitting a dataset yourself: `random_split` (core)
#
# Most data do not arrive already split. PyTorch's
# [`random_split`](https://docs.pytorch.org/docs/stable/data.html#torch.utils.data.random_split)
# divides any `Dataset` into parts of the sizes (or fractions) you give. Each part is a
# `Subset`: it copies nothing, only remembers which indices of the original it holds. Pass it a
# `torch.Generator` with a fixed seed, so the split is the same every time the notebook runs;
# without one, every run judges the model on different samples.
#
# Here it splits the training tumours once more, as you would to set aside data for choosing
# settings. Two things `BreastCancer` did for us are now your job. `random_split` does not
# stratify: nothing keeps the share of malignant tumours equal in the parts (with this seed
# they happen to come out close; try another). And any statistics used for standardising
# must come from the training part alone, computed after the split. The rest of the lesson
# uses the fixed `train_set` and `valid_set`.

# %%
split_generator = torch.Generator().manual_seed(0)
first_part, second_part = random_split(train_set, [0.8, 0.2], generator=split_generator)
print(f"{len(first_part)} + {len(second_part)} = {len(train_set)} tumours")
for name, part in [("first", first_part), ("second", second_part)]:
    share = train_set.targets[list(part.indices)].mean().item()
    print(f"malignant in the {name} part: {share:.1%}")
again = random_split(train_set, [0.8, 0.2], generator=torch.Generator().manual_seed(0))
print("the same seed gives the same split:", list(again[1].indices) == list(second_part.indices))

# %% [markdown]
# ## 2. Mini-batches: a `DataLoader` (core)
#
# Models are trained on **mini-batches**: a few dozen samples at a time. Each batch gives a
# noisy but cheap estimate of the gradient, so the model takes many small steps per pass over
# the data (an **epoch**) instead of one expensive step.
# [`DataLoader`](https://docs.pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader)
# does the batching: it asks the dataset for `batch_size` samples and stacks them into one
# tensor. With `shuffle=True` it draws a new random order every epoch, so the batches differ
# from epoch to epoch; validation data need no shuffling.
#
# ### Task 1: batches
#
# Create two `DataLoader`s: `train_loader` over `train_set` (batches of 32, shuffled) and
# `valid_loader` over `valid_set` (batches of 256, in order). Then take the first batch of
# `train_loader` into the tensors `features_batch` and `targets_batch`: a loader is
# iterable, so `next(iter(train_loader))` gives one batch.

# %%
### BEGIN SOLUTION
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
valid_loader = DataLoader(valid_set, batch_size=256)
features_batch, targets_batch = next(iter(train_loader))
### END SOLUTION
print("features:", tuple(features_batch.shape), " targets:", tuple(targets_batch.shape))

# %%
check.batch(features_batch, targets_batch, train_loader, valid_loader)

# %% [markdown]
# The first axis of every batch is the batch: 32 tumours with 30 features, and 32 targets,
# each a vector of length 1 (one number per tumour, matching a model with one output).
#
# ### A faster path for small data (optional)
#
# A `DataLoader` fetches samples one at a time and then stacks them. When the whole dataset
# already sits in memory as two tensors, slicing them with a shuffled index gives the same
# batches in a single operation per batch. The library's `TensorBatches` does exactly that:


# %%
def ms_per_epoch(loader: Iterable[object], repeats: int = 5) -> float:
    """Milliseconds to draw every batch of `loader` once, averaged over `repeats` epochs."""
    start = time.perf_counter()
    for _ in range(repeats):
        for _ in loader:
            pass
    return (time.perf_counter() - start) / repeats * 1000


fast_loader = TensorBatches(*train_set.tensors(), batch_size=32, shuffle=True)
print(f"   DataLoader: {ms_per_epoch(train_loader):.1f} ms per epoch")
print(f"TensorBatches: {ms_per_epoch(fast_loader):.1f} ms per epoch")

# %% [markdown]
# Both are correct; for data that fit in memory the fast path is many times quicker. We use
# the `DataLoader` while learning, because it is what you will meet everywhere (and the only
# option when the data do not fit in memory).
#
# ## 3. A linear classifier (core)
#
# Our first model computes one number per tumour, a weighted sum of the 30 features plus a
# bias: `nn.Linear(30, 1)`, the same layer as lesson 00's line with 30 inputs instead of one.
# That number is a **logit**, a score on the whole real line: positive leans malignant,
# negative leans benign. The sigmoid function σ(z) = 1 / (1 + e^(-z)) turns a logit into a
# probability between 0 and 1.
#
# ### Task 2: the model
#
# Create `model`, a linear layer from 30 features to one logit, and move it to `device`. See
# [`nn.Linear`](https://docs.pytorch.org/docs/stable/generated/torch.nn.Linear.html). Do not
# add a sigmoid: the loss function below applies it. A common mistake here is leaving out
# `.to(device)`: on a computer without a GPU nothing fails, but on a GPU the next cell does.

# %%
### BEGIN SOLUTION
model = nn.Linear(30, 1).to(device)
### END SOLUTION
print(model)

# %%
check.classifier(model)

# %% [markdown]
# ## 4. The loss (core)
#
# For a tumour with target t (1 or 0) and predicted probability p = σ(z), the **binary
# cross-entropy** is -[t log p + (1 - t) log(1 - p)]: near 0 when the model is confidently
# right, and very large when it is confidently wrong.
# [`nn.BCEWithLogitsLoss`](https://docs.pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html)
# takes the raw logits and applies the sigmoid inside the loss, where it can compute
# log σ(z) without rounding σ(z) to exactly 0 or 1 first. That is why the model has no
# sigmoid at its end.
#
# ### Task 3: the loss of one batch
#
# Compute `logits`, the model's output on `features_batch`, and `loss`, the loss of those
# logits against `targets_batch`. Move the batch to `device` first (`.to(device)`).

# %%
loss_fn = nn.BCEWithLogitsLoss()
### BEGIN SOLUTION
logits = model(features_batch.to(device))
loss = loss_fn(logits, targets_batch.to(device))
### END SOLUTION
print("loss:", loss)

# %%
check.first_loss(loss, logits, targets_batch)

# %% [markdown]
# ## 5. The training loop (core)
#
# Every training step in PyTorch is the same six moves:
#
# 1. take a batch and move it to the device;
# 2. clear the gradients left over from the previous step: `optimizer.zero_grad()`;
# 3. forward pass: `outputs = model(inputs)`;
# 4. the loss: `loss = loss_fn(outputs, targets)`;
# 5. backward pass: `loss.backward()` computes the gradient of every parameter;
# 6. update: `optimizer.step()` moves every parameter against its gradient.
#
# The optimiser will be [Adam](https://docs.pytorch.org/docs/stable/generated/torch.optim.Adam.html),
# the usual first choice. It is gradient descent with two refinements: it smooths the
# gradient over recent steps (momentum), and it scales each parameter's step by the typical
# size of that parameter's gradients, so that steep and flat directions both make progress.
#
# Evaluation runs the model without training it: `model.eval()` switches layers such as
# dropout to their evaluation behaviour, and
# [`torch.no_grad()`](https://docs.pytorch.org/docs/stable/generated/torch.no_grad.html)
# stops autograd from recording, which saves time and memory.
#
# ### Task 4: one epoch of training, and an evaluation
#
# Write the bodies of the two functions below.
#
# - `train_one_epoch` calls `model.train()`, does the six steps for every batch of the
#   loader, and returns the mean of the batch losses (use `loss.item()`).
# - `evaluate` calls `model.eval()` and, under `torch.no_grad()`, collects the model's logits
#   and the targets of every batch, joins each into one tensor with
#   [`torch.cat`](https://docs.pytorch.org/docs/stable/generated/torch.cat.html), and returns
#   `(loss, logits, targets)` with the loss of all the logits as a Python float.


# %%
def train_one_epoch(
    model: nn.Module,
    loader: DataLoader | TensorBatches,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    """Train `model` for one pass over `loader`; return the mean batch loss."""
    ### BEGIN SOLUTION
    model.train()
    total = 0.0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)
    ### END SOLUTION


def evaluate(
    model: nn.Module,
    loader: DataLoader | TensorBatches,
    loss_fn: nn.Module,
    device: torch.device,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Return (mean loss, logits, targets) of `model` over `loader`, without training."""
    ### BEGIN SOLUTION
    model.eval()
    all_logits, all_targets = [], []
    with torch.no_grad():
        for inputs, targets in loader:
            all_logits.append(model(inputs.to(device)))
            all_targets.append(targets.to(device))
    logits, targets = torch.cat(all_logits), torch.cat(all_targets)
    return loss_fn(logits, targets).item(), logits, targets
    ### END SOLUTION


# %%
check.train_one_epoch(train_one_epoch)
check.evaluate(evaluate)

# %% [markdown]
# ### Task 5: many epochs, and learning curves
#
# Write `train_model`: for each of `epochs` epochs, train for one epoch, then evaluate on the
# validation loader, and append the two losses to `history["train_loss"]` and
# `history["valid_loss"]`. The cell after it trains a fresh linear model for 20 epochs.


# %%
def train_model(
    model: nn.Module,
    train_loader: DataLoader | TensorBatches,
    valid_loader: DataLoader | TensorBatches,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epochs: int,
) -> dict[str, list[float]]:
    """Train for `epochs` epochs; return the training and validation loss of each."""
    history = {"train_loss": [], "valid_loss": []}
    ### BEGIN SOLUTION
    for _ in range(epochs):
        history["train_loss"].append(
            train_one_epoch(model, train_loader, loss_fn, optimizer, device)
        )
        valid_loss, _, _ = evaluate(model, valid_loader, loss_fn, device)
        history["valid_loss"].append(valid_loss)
    ### END SOLUTION
    return history


# %%
check.train_model(train_model)

# %%
seed_everything(0)
model = nn.Linear(30, 1).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
history = train_model(model, train_loader, valid_loader, loss_fn, optimizer, device, epochs=20)
check.history(history)

# %% [markdown]
# The **learning curves** show the loss after every epoch. The training loss should fall
# steadily. The validation loss tells you whether that progress carries over to unseen
# tumours: if it turns upwards while the training loss keeps falling, the model has started
# memorising its training data (*overfitting*), and training longer would only make it worse.

# %%
fig, axes = plt.subplots(figsize=(5, 3.5))
epochs = range(1, len(history["train_loss"]) + 1)
axes.plot(epochs, history["train_loss"], label="training")
axes.plot(epochs, history["valid_loss"], label="validation")
axes.set(xlabel="epoch", ylabel="binary cross-entropy", title="Learning curves")
axes.legend()
fig.tight_layout()

# %% [markdown]
# ## 6. How good is it? ROC-AUC (core)
#
# The obvious measure is accuracy: predict malignant when the logit is above 0 (probability
# above 0.5) and count the hits. But 0.5 is an arbitrary threshold. A screening test might
# rather flag more tumours and miss fewer malignant ones, at the price of more false alarms.
#
# The **ROC curve** shows every possible threshold at once: for each, the share of malignant
# tumours caught (true-positive rate) against the share of benign tumours wrongly flagged
# (false-positive rate). The area under it, the **ROC-AUC**, is the probability that a
# randomly chosen malignant tumour gets a higher score than a randomly chosen benign one:
# 1.0 is a perfect ranking, 0.5 is guessing.
#
# ### Task 6: the validation ROC-AUC
#
# Use your `evaluate` to get the validation logits and targets into the tensors
# `valid_logits` and `valid_targets` (shape `(N, 1)` each; the plot below uses them), then
# compute `valid_auc`, a Python float, with torchmetrics'
# [`binary_auroc`](https://lightning.ai/docs/torchmetrics/stable/classification/auroc.html)
# (imported above). It wants flat predictions of shape `(N,)` and integer targets: use
# `.squeeze(1)` and `.long()`.

# %%
### BEGIN SOLUTION
_, valid_logits, valid_targets = evaluate(model, valid_loader, loss_fn, device)
valid_auc = binary_auroc(valid_logits.squeeze(1), valid_targets.squeeze(1).long()).item()
### END SOLUTION
print(f"validation ROC-AUC: {valid_auc:.4f}")

# %%
check.roc_auc(valid_auc, valid_logits, valid_targets)

# %%
flat_logits, flat_targets = valid_logits.squeeze(1).cpu(), valid_targets.squeeze(1).long().cpu()
false_positive_rate, true_positive_rate, _ = binary_roc(flat_logits, flat_targets)
accuracy = binary_accuracy(flat_logits, flat_targets).item()
fig, axes = plt.subplots(figsize=(4, 4))
axes.plot(false_positive_rate, true_positive_rate, label=f"linear model, AUC {valid_auc:.3f}")
axes.plot([0, 1], [0, 1], "k--", label="guessing, AUC 0.5")
axes.set(xlabel="false-positive rate", ylabel="true-positive rate", title="Validation ROC")
axes.legend()
fig.tight_layout()
print(f"validation accuracy at probability 0.5: {accuracy:.1%}")

# %% [markdown]
# ## 7. Why non-linearity matters (core)
#
# A linear model draws a flat boundary (a straight line, a plane) through feature space. For
# these tumours that is nearly enough. Many problems are not like that, and stacking more
# `nn.Linear` layers does not help by itself: a linear function of a linear function is
# still linear. What lets a network bend its boundary is an **activation function** applied
# between the layers. The three classics
# ([PyTorch's list](https://docs.pytorch.org/docs/stable/nn.html#non-linear-activations-weighted-sum-nonlinearity)):
#
# - sigmoid squashes any number into (0, 1);
# - tanh squashes into (-1, 1), centred on 0;
# - ReLU, max(0, z), keeps positive numbers and zeroes negative ones. It is cheap, and its
#   gradient does not fade for large inputs as the other two do, so it is the usual default
#   in hidden layers.

# %%
z = torch.linspace(-5, 5, 201)
fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), sharex=True)
for ax, (name, activation) in zip(
    axes, [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("ReLU", torch.relu)]
):
    ax.plot(z, activation(z))
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set(title=name, xlabel="z")
fig.tight_layout()

# %% [markdown]
# Here is a problem a straight line cannot solve: two interleaved half-moons, from
# scikit-learn's [`make_moons`](https://scikit-learn.org/stable/modules/generated/sklearn.datasets.make_moons.html).
# We wrap the tensors in a
# [`TensorDataset`](https://docs.pytorch.org/docs/stable/data.html#torch.utils.data.TensorDataset)
# so that the same `DataLoader` and your `train_model` work unchanged, then train a linear
# model on them.

# %%
points, labels = make_moons(n_samples=1000, noise=0.2, random_state=0)
moon_inputs = torch.tensor(points, dtype=torch.float32)
moon_targets = torch.tensor(labels, dtype=torch.float32).unsqueeze(1)
moon_train = TensorDataset(moon_inputs[:800], moon_targets[:800])
moon_valid = TensorDataset(moon_inputs[800:], moon_targets[800:])
moon_train_loader = DataLoader(moon_train, batch_size=64, shuffle=True)
moon_valid_loader = DataLoader(moon_valid, batch_size=256)


def moon_accuracy(model: nn.Module) -> float:
    """Return the validation accuracy of `model` on the moons."""
    _, logits, targets = evaluate(model, moon_valid_loader, loss_fn, device)
    return binary_accuracy(logits.squeeze(1), targets.squeeze(1).long()).item()


def train_on_moons(model: nn.Module, epochs: int = 30) -> float:
    """Train `model` on the moons with Adam and return its validation accuracy."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_model(model, moon_train_loader, moon_valid_loader, loss_fn, optimizer, device, epochs)
    return moon_accuracy(model)


seed_everything(0)
flat_model = nn.Linear(2, 1).to(device)
flat_accuracy = train_on_moons(flat_model)
print(f"linear model on the moons: {flat_accuracy:.1%} validation accuracy")

# %% [markdown]
# ### Task 7: a network that can bend
#
# Build `deep_model`: an
# [`nn.Sequential`](https://docs.pytorch.org/docs/stable/generated/torch.nn.Sequential.html)
# of `nn.Linear(2, 32)`, ReLU, `nn.Linear(32, 32)`, ReLU and `nn.Linear(32, 1)`, on `device`.
# (Try it without the ReLUs first and see what the check says.)

# %%
seed_everything(0)
### BEGIN SOLUTION
deep_model = nn.Sequential(
    nn.Linear(2, 32),
    nn.ReLU(),
    nn.Linear(32, 32),
    nn.ReLU(),
    nn.Linear(32, 1),
).to(device)
### END SOLUTION

# %%
check.nonlinear_model(deep_model)

# %%
deep_accuracy = train_on_moons(deep_model)
check_metric(deep_accuracy, 0.95, name="validation accuracy on the moons", unit="%")

# %% [markdown]
# The decision boundaries show the difference. The background is each model's predicted
# probability of class 1 (red) or class 0 (blue); the dots are the validation points.

# %%
grid_x, grid_y = torch.meshgrid(
    torch.linspace(-2, 3, 200), torch.linspace(-1.5, 2, 200), indexing="xy"
)
grid = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1).to(device)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, trained, accuracy_on_moons, title in [
    (axes[0], flat_model, flat_accuracy, "linear"),
    (axes[1], deep_model, deep_accuracy, "two hidden ReLU layers"),
]:
    trained.eval()
    with torch.no_grad():
        probability = torch.sigmoid(trained(grid)).reshape(grid_x.shape).cpu()
    ax.contourf(grid_x, grid_y, probability, levels=20, cmap="RdBu_r", alpha=0.6)
    ax.scatter(*moon_inputs[800:].T, c=moon_targets[800:, 0], cmap="RdBu_r", s=8, edgecolor="k")
    ax.set(title=f"{title}: {accuracy_on_moons:.1%}", xlabel="x1")
axes[0].set(ylabel="x2")
fig.tight_layout()

# %% [markdown]
# ## 8. Two classes or many: output layers and losses (core)
#
# Everything so far had two classes, so one logit was enough: its sigmoid is the probability
# of class 1, and the probability of class 0 is what is left. With K classes (penguin
# species, digits) the model outputs **K logits**, one per class;
# [softmax](https://docs.pytorch.org/docs/stable/generated/torch.nn.functional.softmax.html)
# turns them into K probabilities that add up to 1, and
# [`nn.CrossEntropyLoss`](https://docs.pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
# applies it for you, just as `BCEWithLogitsLoss` applies the sigmoid.
#
# | | binary | K classes |
# | --- | --- | --- |
# | last layer | `nn.Linear(..., 1)` | `nn.Linear(..., K)` |
# | loss | `nn.BCEWithLogitsLoss()` | `nn.CrossEntropyLoss()` |
# | targets | float 0.0 or 1.0, shape `(N, 1)` | class indices, `long`, shape `(N,)` |
# | probabilities | `torch.sigmoid(logits)` | `torch.softmax(logits, dim=1)` |
# | predicted class | `logits > 0` | `logits.argmax(dim=1)` |
#
# The two are the same thing for K = 2: softmax over the logits (0, z) gives class 1 the
# probability σ(z).

# %%
z = torch.tensor([-2.0, 0.0, 3.0])
two_logits = torch.stack([torch.zeros_like(z), z], dim=1)
print("softmax, class 1:", torch.softmax(two_logits, dim=1)[:, 1])
print("sigmoid:         ", torch.sigmoid(z))

# %% [markdown]
# ### Task 8: targets for cross-entropy
#
# To treat the moons as a two-class problem with `nn.CrossEntropyLoss`, the targets must be
# class indices. From `moon_targets[:800]` (float, shape `(800, 1)`) make `class_targets`:
# dtype `torch.long`, shape `(800,)`.

# %%
### BEGIN SOLUTION
class_targets = moon_targets[:800].squeeze(1).long()
### END SOLUTION

# %%
check.class_indices(class_targets, moon_targets[:800])

# %%
two_class_model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2)).to(device)
two_class_logits = two_class_model(moon_inputs[:800].to(device))
cross_entropy = nn.CrossEntropyLoss()(two_class_logits, class_targets.to(device))
print(f"logits {tuple(two_class_logits.shape)}, targets {tuple(class_targets.shape)}")
print(f"cross-entropy of an untrained model: {cross_entropy.item():.3f} (log 2 = 0.693)")

# %% [markdown]
# ## 9. The same loop in one call: `fit` (core)
#
# You have now written the training loop that every PyTorch project contains. The library's
# `practicaltorch.fit` is that loop: open `practicaltorch/training/loop.py` and you will find
# your `train_one_epoch` and `evaluate`, called once per epoch, with what real projects add:
# metrics after every epoch, a learning-rate schedule, and a clear error if the loss becomes
# NaN. Early stopping, checkpoints and progress bars are small *callbacks* passed to `fit`
# (lessons 06 and 07). Here it trains a small network with one hidden layer of 16 ReLU units
# (the library's `MLP`) on the tumours, batched by the fast `TensorBatches`, and reports the
# binary metrics, ROC-AUC included, after every epoch. `binary_inputs` reshapes the logits and
# targets into what the metrics expect.

# %%
seed_everything(0)
mlp = MLP(30, 1, hidden=(16,)).to(device)
fit_history = fit(
    mlp,
    TensorBatches(*train_set.tensors(), batch_size=32, shuffle=True),
    TensorBatches(*valid_set.tensors(), batch_size=256),
    nn.BCEWithLogitsLoss(),
    torch.optim.Adam(mlp.parameters(), lr=1e-2),
    epochs=20,
    device=device,
    metrics=binary_metrics(),
    metric_transform=binary_inputs,
)
fit_auc = fit_history.last["valid_roc_auc"]
print(f"MLP trained by fit: validation ROC-AUC {fit_auc:.4f}")
history_figure = plot_history(fit_history, ["roc_auc", "accuracy"])

# %% [markdown]
# ## Discussion (optional)
#
# **1.** 37% of the tumours are malignant. Is that balanced? What accuracy does a "model"
# that always answers *benign* get, and what does that say about judging by accuracy?
#
# ### BEGIN SOLUTION
# Not quite balanced: about 63% benign. Always answering benign scores about 63% accuracy
# while missing every malignant tumour, the errors that matter most. So accuracy must be
# compared with that baseline, and measures such as recall (the share of malignant tumours
# caught) or the ROC-AUC, which does not depend on a threshold or on the class shares, tell
# you more. The stratified split keeps the same 37% in both splits.
# ### END SOLUTION
#
# **2.** Why are the features standardised with the mean and standard deviation of the
# training split only, not of all 569 tumours?
#
# ### BEGIN SOLUTION
# The validation tumours stand in for future patients, whom we cannot see when we train.
# Using their statistics would leak information about them into the model's inputs and make
# the validation score slightly optimistic. The same training statistics must be stored and
# applied to every new tumour later.
# ### END SOLUTION
#
# **3.** What is the difference between a validation set and a test set? We have only a
# validation set here: what should you not do with it?
#
# ### BEGIN SOLUTION
# A validation set guides choices during development: learning rate, number of epochs,
# architecture. Every choice made by looking at it fits it a little, so its score becomes
# optimistic. A test set is kept locked away and used once, at the very end, for an honest
# estimate. With only a validation set, avoid trying dozens of settings and reporting the
# best validation score as the model's expected performance.
# ### END SOLUTION
#
# **4.** Why does the model end with a plain `nn.Linear` rather than a sigmoid followed by
# `nn.BCELoss`?
#
# ### BEGIN SOLUTION
# In float32, σ(z) rounds to exactly 1.0 once z is above about 17. For a tumour labelled
# benign, log(1 - σ(z)) is then log 0: `nn.BCELoss` has to clip it (at -100), and the
# gradient through the saturated sigmoid is exactly zero, so the model learns nothing from
# its most confident mistakes. `BCEWithLogitsLoss` works from z directly, computing
# log σ(z) = -log(1 + e^(-z)) in a numerically stable way, so the loss and its gradient stay
# accurate for any z. Apply the sigmoid yourself only when you want probabilities, for
# example after training.
# ### END SOLUTION
#
# **5.** `DataLoader` works with *map-style* datasets (like `BreastCancer`: `len` and
# `dataset[i]`) and with *iterable-style* ones (which only produce a stream of samples). When
# would you need the second kind?
#
# ### BEGIN SOLUTION
# When samples cannot be looked up by index cheaply or at all: data read as a stream from a
# network or a huge compressed file, records generated on the fly, or a log that keeps
# growing. Map-style datasets are simpler and let the `DataLoader` shuffle by drawing random
# indices; an iterable dataset has to do its own shuffling (for example with a buffer) and
# its own splitting between workers.
# ### END SOLUTION

# %% [markdown]
# ## Quality bar
#
# Your training loop and the library's `fit` must both reach a validation ROC-AUC of at
# least 0.99, and the ReLU network must classify at least 95% of the validation moons.

# %%
assert check.roc_auc(valid_auc)
assert check.roc_auc(fit_auc)
assert check_metric(deep_accuracy, 0.95, name="validation accuracy on the moons", unit="%")
