# %% [markdown]
# # Lesson 07: Overfitting, and how to improve a model
#
# A network with enough weights can memorise its training data: the training loss keeps
# falling while the answers on new data get worse. This is *overfitting*, and most of the
# craft of training is about noticing it and holding it off. In this lesson you provoke it on
# purpose, with a large network and only 1,000 handwritten digits, and then try the standard
# remedies one at a time, each with its learning curves, so you can see what each one does.
#
# **By the end you will be able to**
#
# - recognise overfitting in learning curves and find the epoch where it starts;
# - stop training at the right time with early stopping, and get the best epoch's weights back;
# - choose a learning-rate schedule (constant, step decay, one-cycle) and step it correctly;
# - write a data augmentation that is random per image, and see how it reduces overfitting;
# - reason about model size, and combine the remedies into a model that generalises better.
#
# **Time:** about 45 minutes for the core sections; about 60 minutes with the optional one.
# The training in this notebook takes less than half a minute on a laptop.
#
# **You should know:** `fit`, learning curves and validation (lesson 02); the MNIST digits
# (lesson 04).

# %% [markdown]
# ## Setup

# %%
from collections.abc import Callable, Iterator, Sequence

import matplotlib.pyplot as plt
import torch
from torch import nn

from practicaltorch import (
    MLP,
    EarlyStopping,
    TensorBatches,
    configure_threads,
    fit,
    pick_device,
    plots,
    seed_everything,
)
from practicaltorch.checks import lesson07 as check
from practicaltorch.data.mnist import MNIST_MEAN, MNIST_STD, download_mnist, load_mnist_tensors
from practicaltorch.training import History, multiclass_metrics

seed_everything(0)
device = pick_device()
configure_threads()
print(f"computing on {device} with {torch.get_num_threads()} thread(s)")

# %% [markdown]
# ## 1. A small dataset (core)
#
# `download_mnist` fetches the digits once (or, if they are already in the data directory,
# only checks them), and `load_mnist_tensors` gives them as standardised tensors. We take a
# seeded random 1,000 training images, and 1,000 *other* images for validation. Small data
# is where overfitting bites, and it keeps every run here to a few seconds.
#
# After standardisation, the black background of an image (grey level 0) is not 0 but
# `-MNIST_MEAN / MNIST_STD`, about -0.42. Keep that number in mind for section 5.

# %%
download_mnist()
images, labels = load_mnist_tensors(train=True)
order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
train_x, train_y = images[order[:1000]], labels[order[:1000]]
valid_x, valid_y = images[order[1000:2000]], labels[order[1000:2000]]
valid_batches = TensorBatches(valid_x, valid_y, batch_size=1000, device=device)
background = -MNIST_MEAN / MNIST_STD
print(f"{len(train_x)} training and {len(valid_x)} validation digits; background {background:.3f}")

# %% [markdown]
# Two helpers keep the experiments short. `network` builds a fully-connected network on the
# flattened 28x28 images, seeded so that every experiment starts from comparable weights.
# `train` runs `fit` with AdamW and returns the history; its options are the remedies we will
# try. As in lesson 04, the optimiser is created with `fused=True`, which updates each weight
# tensor in one kernel instead of many small operations: for these networks that takes about a
# third off each training epoch on a CPU. We use plain fully-connected networks rather than a
# CNN because they overfit small image datasets readily and train in a fraction of a second per
# epoch.


# %%
def network(hidden: Sequence[int], dropout: float = 0.0) -> nn.Module:
    """Build a seeded MLP classifier for flattened 28x28 images."""
    seed_everything(0)
    return nn.Sequential(nn.Flatten(), MLP(28 * 28, 10, hidden=hidden, dropout=dropout)).to(device)


def train(
    model: nn.Module,
    epochs: int,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    augment: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor] | None = None,
    early_stopping: EarlyStopping | None = None,
) -> History:
    """Train `model` on the 1,000 digits and return its history."""
    batches = TensorBatches(train_x, train_y, batch_size=64, shuffle=True, seed=0, device=device)
    if augment is not None:
        batches = Augmented(batches, augment)
    # fused=True: one kernel per weight tensor for the whole update (lesson 04)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    scheduler = None
    if schedule != "constant":
        scheduler = make_scheduler(schedule, optimizer, epochs, len(batches))
    return fit(
        model,
        batches,
        valid_batches,
        nn.CrossEntropyLoss(),
        optimizer,
        epochs=epochs,
        device=device,
        metrics=multiclass_metrics(10),
        scheduler=scheduler,
        callbacks=[] if early_stopping is None else [early_stopping],
    )


def compare(
    histories: dict[str, History], keys: Sequence[str] = ("valid_loss", "valid_accuracy")
) -> None:
    """Plot one curve per run for each key, side by side."""
    _, axes = plots.panels(len(keys))
    for ax, key in zip(axes[0], keys):
        for label, history in histories.items():
            ax.plot(history["epoch"], history[key], label=label)
        ax.set(xlabel="epoch", title=key.replace("_", " "))
        ax.legend()
    plt.show()


# %% [markdown]
# ## 2. Overfitting on purpose (core)
#
# Two hidden layers of 256 units: about 270,000 weights to fit 1,000 images, with a constant
# learning rate and no regularisation at all.

# %%
epochs = 20
overfit_model = network((256, 256))
overfit = train(overfit_model, epochs)
print(
    f"after {epochs} epochs: training loss {overfit.last['train_loss']:.4f}, "
    f"validation loss {overfit.last['valid_loss']:.3f}, "
    f"validation accuracy {100 * overfit.last['valid_accuracy']:.1f}%"
)
plots.plot_history(overfit, metrics=["accuracy"])
plt.show()

# %% [markdown]
# Read the curves. The training loss falls towards zero: the network is learning the 1,000
# training images by heart. The validation loss falls for a few epochs, reaches its minimum,
# and then climbs steadily. After that point each step makes the network *more confident* on
# the training images and more confidently wrong on some new ones. The validation accuracy
# often stalls rather than collapses: accuracy only counts whether the top class is right,
# while the loss also punishes confidence in wrong answers, so the loss shows overfitting
# earlier.
#
# **Task.** Set `best_epoch`, an `int`, to the epoch (counting from 1, as in
# `overfit["epoch"]`) with the lowest validation loss.

# %%
### BEGIN SOLUTION
valid_losses = overfit["valid_loss"]
best_epoch = int(overfit["epoch"][valid_losses.index(min(valid_losses))])
### END SOLUTION
print(f"best validation loss at epoch {best_epoch}")

# %%
check.best_epoch(best_epoch, overfit)

# %% [markdown]
# ## 3. Early stopping (core)
#
# The simplest remedy: watch the validation loss, stop when it has not improved for a while,
# and keep the weights from the best epoch. `practicaltorch.EarlyStopping` does this as a
# *callback* of `fit`, an object that `fit` calls after every epoch (`train` passes it in
# `callbacks=[...]`). `patience` is how many epochs without improvement to allow (a little
# patience rides out noisy epochs), and `restore_best=True` puts the best epoch's weights back
# at the end. (Lightning and Keras have the same callback under the same name.)
#
# **Task.** Create `stopper`, an `EarlyStopping` that watches `"valid_loss"` with a patience of
# 4 epochs and restores the best weights, and train a fresh `network((256, 256))` with it for
# at most `epochs` epochs. Keep the model in `stopped_model` and the history in `stopped`.

# %%
### BEGIN SOLUTION
stopper = EarlyStopping(monitor="valid_loss", patience=4, restore_best=True)
stopped_model = network((256, 256))
stopped = train(stopped_model, epochs, early_stopping=stopper)
### END SOLUTION
print(f"stopped after {len(stopped)} epochs; best epoch {stopper.best_epoch}")

# %%
check.early_stopping(stopper, stopped, stopped_model, valid_batches, max_epochs=epochs)

# %% [markdown]
# Early stopping saved half of the epochs and returned the best model, but it did not
# make the best model any better: it only stops before things get worse. The validation set
# now has a job (choosing when to stop), which is why a final, honest score belongs to a third
# set, the *test* set, looked at once at the very end.
#
# ## 4. Learning-rate schedules (optional)
#
# A large learning rate makes fast progress early; a small one settles into a good minimum
# late. A *schedule* changes the rate as training goes:
#
# - constant: the same rate throughout;
# - [`StepLR`](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html):
#   multiply the rate by `gamma` every `step_size` *epochs*; stepped once per epoch;
# - [`OneCycleLR`](https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html):
#   warm up to `max_lr`, then anneal to almost zero; stepped once per *batch*, so it must know
#   the total number of batches, `epochs * steps_per_epoch`. On small problems it is often the
#   fastest route to a good model.
#
# `fit` steps a `OneCycleLR` once per batch and other schedulers, such as `StepLR`, once per
# epoch.
#
# **Task.** Complete `make_scheduler(kind, optimizer, epochs, steps_per_epoch)`: return a
# `StepLR` that divides the rate by 10 every `epochs // 3` epochs for `"step"`, and a
# `OneCycleLR` with `max_lr` equal to the optimiser's current rate
# (`optimizer.param_groups[0]["lr"]`) for `"onecycle"`.


# %%
def make_scheduler(
    kind: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """Return a learning-rate scheduler of the given kind ("step" or "onecycle")."""
    ### BEGIN SOLUTION
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if kind == "onecycle":
        peak = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peak, total_steps=epochs * steps_per_epoch
        )
    raise ValueError(f"unknown schedule {kind!r}")
    ### END SOLUTION


# %%
check.schedulers(make_scheduler)

# %% [markdown]
# Now train the same moderately sized network (one hidden layer of 128 units), with a larger
# starting rate, under each schedule for 10 epochs, and compare. Each run records the learning
# rate it used in every epoch (`history["lr"]`).

# %%
scheduled = {
    kind: train(network((128,)), 10, lr=3e-3, schedule=kind)
    for kind in ("constant", "step", "onecycle")
}
for kind, history in scheduled.items():
    print(
        f"{kind:>9}: validation loss {history.last['valid_loss']:.3f}, "
        f"accuracy {100 * history.last['valid_accuracy']:.1f}%"
    )
compare(scheduled, keys=("lr", "valid_loss", "valid_accuracy"))

# %% [markdown]
# The left panel shows what each schedule does to the rate. With a constant rate the weights
# keep being kicked about to the end, and the validation loss ends above its lowest point;
# the decaying schedules take large steps early and small ones late, so their curves settle.
# Here both end with a lower validation loss than the constant rate; which of the two ends
# lowest depends on the run. The step decay's rate falls tenfold after epoch 3 and again after
# epoch 6, so the network almost stops changing before it has memorised the digits (its
# training loss stays the highest of the three), much as early stopping would. The accuracies
# end within about a percentage point of each other: the schedule changes the route more than
# the destination. A schedule makes training faster and more reliable; it does not cure
# overfitting.
#
# ## 5. Data augmentation (core)
#
# If we cannot get more data, we can make the data we have go further. *Augmentation* shows
# the network a slightly different version of each image every time it sees it: here, shifted
# by up to two pixels in each direction. A digit moved by two pixels is still the same digit,
# so the label stays valid, but the network can no longer memorise exact pixel positions.
#
# Two details decide whether an augmentation helps or hurts:
#
# - each image needs its *own* random shift; shifting the whole batch the same way teaches much
#   less (and is what batch-wise transforms do if you are not careful);
# - the pixels uncovered by the shift must be filled with the *background*, which after
#   standardisation is `background` (about -0.42), not 0. Filling with 0 draws a grey frame
#   that never occurs in real images.
#
# **Task.** Complete `shift_images(images, max_shift, generator)`: pad the batch `(N, 1, 28, 28)`
# by `max_shift` pixels on every side with the value `background`
# ([`nn.functional.pad`](https://pytorch.org/docs/stable/generated/torch.nn.functional.pad.html)
# with `value=`), then for each image cut out a 28x28 window at a random offset between 0 and
# `2 * max_shift` in each direction, drawn with `torch.randint(..., generator=generator)`.
# A Python loop over the images is fine: a batch has 64.


# %%
def shift_images(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by its own random offset of up to `max_shift` pixels."""
    ### BEGIN SOLUTION
    size, s = images.shape[-1], max_shift
    padded = nn.functional.pad(images, (s, s, s, s), value=background)
    # Every size x size window of every padded image, as a view (nothing is copied):
    # shape (N, C, 2s + 1, 2s + 1, size, size), indexed by the offsets dy, dx.
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)
    dy, dx = torch.randint(0, 2 * s + 1, (2, len(images)), generator=generator)
    # Image i's window at (dy[i], dx[i]): the same as a loop over the images, in one step.
    return windows[torch.arange(len(images)), :, dy, dx]
    ### END SOLUTION


# %%
check.shift(shift_images, background=background)

# %% [markdown]
# `Augmented` wraps the training batches and applies the augmentation as each batch is read,
# so every epoch sees new shifts. (With a `DataLoader` you would pass a per-item `transform=`
# to the dataset instead, as torchvision datasets do.) Only the *training* data are augmented:
# validation measures the network on the images as they really are.


# %%
class Augmented:
    """Training batches with a random augmentation applied to the inputs of each batch."""

    def __init__(
        self,
        batches: TensorBatches,
        shift: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor],
        max_shift: int = 2,
        seed: int = 0,
    ) -> None:
        self.batches = batches
        self.shift = shift
        self.max_shift = max_shift
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for inputs, targets in self.batches:
            yield self.shift(inputs, self.max_shift, self.generator), targets


examples = Augmented(TensorBatches(train_x[:8], train_y[:8], 8), shift_images)
shifted = next(iter(examples))[0]
print("top row: the original digits; bottom row: the same digits, shifted")
fig = plots.plot_digits(torch.cat([train_x[:8], shifted]), torch.cat([train_y[:8], train_y[:8]]))
plt.show()

# %%
augmented_model = network((256, 256))
augmented = train(augmented_model, epochs, augment=shift_images)
print(
    f"random shifts: validation loss {augmented.last['valid_loss']:.3f}, "
    f"accuracy {100 * augmented.last['valid_accuracy']:.1f}% "
    f"(without: {overfit.last['valid_loss']:.3f}, {100 * overfit.last['valid_accuracy']:.1f}%)"
)
compare({"no augmentation": overfit, "random shifts": augmented})

# %% [markdown]
# The augmented run's validation loss no longer climbs the way the plain run's does, and its
# accuracy ends higher: the shifted copies act like extra data. The training loss also stays
# higher, because the task got harder, and that is fine: the training loss is not what we
# care about.
#
# ## 6. Model size (core)
#
# The other lever is capacity: a smaller network has fewer weights with which to memorise.
# Too small, though, and it cannot even fit the training data (*underfitting*).
#
# **Task.** Complete `count_parameters(model)`: return, as an `int`, the number of trainable
# numbers in the model, the sum of `p.numel()` over `model.parameters()`.


# %%
def count_parameters(model: nn.Module) -> int:
    """Return the number of weights and biases in `model`."""
    ### BEGIN SOLUTION
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    ### END SOLUTION


# %%
check.parameters(count_parameters)

# %% [markdown]
# Now train two smaller networks for the same `epochs` epochs and compare them with the big one.
# The big one is exactly the network of section 2, trained the same way, so we reuse its run
# instead of training it again.

# %%
sizes = {}
for hidden in [(16,), (128,)]:
    model = network(hidden)
    sizes[f"{hidden}: {count_parameters(model):,} weights"] = train(model, epochs)
sizes[f"(256, 256): {count_parameters(overfit_model):,} weights"] = overfit  # from section 2
for label, history in sizes.items():
    print(
        f"{label:>28}: training loss {history.last['train_loss']:.3f}, "
        f"best validation loss {min(history['valid_loss']):.3f}"
    )
compare(sizes, keys=("train_loss", "valid_loss"))

# %% [markdown]
# The large networks drive the training loss to nearly zero and then overfit. The smallest
# cannot even fit the training data well (its training loss stays highest) and its best
# validation loss is the worst of the three: it *underfits*. The two larger networks reach
# similar best validation losses (which is lower depends on the random seed); the biggest only
# gets there sooner and turns sooner. In practice the usual recipe is therefore not "small" but:
# take a network big enough to fit the data well, then regularise it.
#
# ## 7. Putting the remedies together (core)
#
# A regularised version of the big network: random shifts, dropout (each hidden unit dropped
# with probability 0.2 while training, so no unit can rely on another), weight decay (AdamW
# shrinks every weight a little each step, which favours simpler functions), a one-cycle
# schedule peaking at section 4's larger rate of 3e-3 (dropout and weight decay slow the
# learning down, and the higher peak makes up for it within `epochs` epochs), and early
# stopping as a safety net.
#
# All of these change the training. The remedies that change the *data* often help more:
#
# - **More data.** Every extra labelled example constrains the network a little more. Here
#   that means training on more than 1,000 of MNIST's 60,000 training digits (section 1 keeps
#   the validation digits apart from them); try it and watch the gap between training and
#   validation loss. Augmentation (section 5) is a cheap imitation of more data.
# - **Better data.** Mislabelled, duplicated or unrepresentative examples teach the wrong
#   thing, and more of them does not help. Fixing labels, removing duplicates (especially
#   between training and validation sets) and collecting the cases the model gets wrong is
#   often worth more than any change to the network.
# - **Transfer learning.** Start from a network trained on a large dataset for a related task
#   and adapt it to yours (lesson 05): it brings features learnt from millions of images, so
#   your few thousand only need to teach the last layers.

# %%
regularised_model = network((256, 256), dropout=0.2)
regularised = train(
    regularised_model,
    epochs,
    lr=3e-3,
    weight_decay=0.05,
    schedule="onecycle",
    augment=shift_images,
    early_stopping=EarlyStopping(patience=6),
)
compare({"overfit": overfit, "early stopping": stopped, "regularised": regularised})
for label, history in [("overfit", overfit), ("regularised", regularised)]:
    print(
        f"{label:>11}: final validation loss {history.last['valid_loss']:.3f}, "
        f"accuracy {100 * history.last['valid_accuracy']:.1f}%"
    )

# %% [markdown]
# ### Question 1
#
# A colleague trains for 200 epochs, picks the epoch with the best validation accuracy, and
# reports that accuracy as the model's performance. What is wrong, and what should they do?
#
# ### BEGIN SOLUTION
# The reported number was used to *choose* the model (the epoch, and probably the learning rate
# and architecture too), so it is optimistically biased: among 200 noisy scores the best is
# partly luck. On a small validation set that bias can be several percent. Keep a separate test
# set that plays no part in any decision, choose everything with the validation set (early
# stopping included), and report the test score once at the end. With very little data, use
# cross-validation for the choices and still keep a final held-out set if at all possible.
# ### END SOLUTION

# %% [markdown]
# ### Question 2
#
# Which augmentations would be wrong for these digits, and which would suit satellite images of
# clouds or a field of sea-surface temperature?
#
# ### BEGIN SOLUTION
# An augmentation must keep the label true. For digits: large rotations (a 6 becomes a 9),
# horizontal or vertical flips (mirror-image digits do not occur, and a flipped 2 or 5 is not a
# 2 or 5), and colour inversion. Small shifts, small rotations (about 10 degrees), slight
# scaling and elastic distortions are fine. For satellite cloud images, flips and 90-degree
# rotations are often fine if nothing in the task depends on north or on the Sun's direction,
# but not when it does (shadows, the Coriolis effect turning storms one way in each
# hemisphere). For physical fields, an augmentation must respect the physics: rotating a wind
# field means rotating the vectors as well as the grid, and adding noise should match the
# instrument's real noise. When in doubt, ask whether the augmented sample could have been
# measured.
# ### END SOLUTION

# %% [markdown]
# ### Question 3
#
# Your training loss and validation loss are both high and close together. Which of this
# lesson's remedies would help?
#
# ### BEGIN SOLUTION
# None of the anti-overfitting ones: this is *underfitting*. Early stopping, dropout, weight
# decay and augmentation all make fitting harder. Instead make the model more capable (wider or
# deeper, or an architecture suited to the data such as a CNN for images), train longer or with
# a better learning rate or schedule, check the inputs are scaled, and look for a bug (labels
# shuffled relative to inputs, a wrong loss). Then, once the training loss is low, fight
# overfitting if it appears.
# ### END SOLUTION

# %% [markdown]
# ## The quality bar
#
# Two things must hold for the worked solution: early stopping restored a model whose
# validation loss is within 1% of the best epoch's, and the regularised network beats the
# overfit one on validation data, in both loss and accuracy.

# %%
assert check.early_stopping(stopper, stopped, stopped_model, valid_batches, max_epochs=epochs)
assert check.improved(regularised, overfit)
