# %% [markdown]
# # Lesson 04: Handwritten digits with a convolutional network
#
# MNIST is a collection of 70,000 handwritten digits, each a 28x28 grey-scale image, collected
# from American census workers and school pupils. Telling the ten digits apart was once a
# research problem; today a small network does it in seconds on a laptop, which makes MNIST the
# right place to learn how PyTorch handles images. You will turn pictures into tensors, build a
# convolutional network (CNN) from its layers, train it, make it fast, measure it properly, and
# finally ask it about a digit you draw yourself.
#
# **By the end you will be able to**
#
# - describe an image as a tensor: its shape `(channels, height, width)`, dtype and value range;
# - load a torchvision dataset and prepare it with transforms (`ToTensor`, `Normalize`), and
#   augment it with small random shifts;
# - explain what kernel size, stride and padding do, and compute a layer's output size by hand;
# - build a CNN from `Conv2d`, `MaxPool2d` and `Linear` layers and train it with a `DataLoader`;
# - speed training up with in-memory tensors and the `channels_last` memory layout, and
#   *measure* the gain;
# - report precision, recall and F1 per class, and read a confusion matrix;
# - predict the digit in a picture you made, with the right shape, dtype, scaling and device.
#
# **Time:** about 90 minutes for the core sections; about 2 hours with the optional ones.
#
# **You should know:** lessons 00 and 02 (tensors, `Dataset`, `DataLoader`, the training loop,
# cross-entropy for classes).

# %% [markdown]
# ## Setup
#
# The usual start: fixed random seeds, the device, a deliberate number of CPU threads, and this
# lesson's self-checks. MNIST is read from the practicaltorch data directory (the
# `PRACTICALTORCH_DATA` environment variable, or a per-user cache folder). If the next cell
# says MNIST is missing, run `practicaltorch fetch` once in a terminal while online.
#
# On Colab, choose a GPU under *Runtime > Change runtime type*: this lesson then runs
# several times faster.

# %%
import time
from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision import transforms

from practicaltorch import TensorBatches, configure_threads, fit, pick_device, seed_everything
from practicaltorch.checks import check_metric
from practicaltorch.checks import lesson04 as check
from practicaltorch.data import MNIST, load_mnist_tensors
from practicaltorch.data.mnist import MNIST_CLASSES, MNIST_MEAN, MNIST_STD
from practicaltorch.models import DigitCNN
from practicaltorch.plots import plot_confusion_matrix, plot_digits, plot_history
from practicaltorch.training import PrintLog, confusion_matrix, multiclass_metrics

seed_everything(0)
device = pick_device()
configure_threads()
print(f"computing on {device} with {torch.get_num_threads()} thread(s)")

# download=True fetches the files of both splits once (about 11 MB) and checks them; later
# runs reuse them.
raw_train = MNIST(train=True, download=True)
raw_test = MNIST(train=False)
print(f"{len(raw_train)} training and {len(raw_test)} test digits")

# %% [markdown]
# ## 1. An image is a tensor (core)
#
# [torchvision](https://pytorch.org/vision/stable/index.html) is PyTorch's library for images:
# datasets, transforms and pretrained models. It is one of several *domain libraries* with the
# same design, each for one kind of data:
# [torchaudio](https://pytorch.org/audio/stable/index.html) for sound and speech,
# [torchtext](https://pytorch.org/text/stable/index.html) for text (no longer developed;
# most text work now uses other libraries), and
# [torchrec](https://pytorch.org/torchrec/) for recommendation systems. What you learn here
# about datasets and transforms carries over to them.
#
# `practicaltorch.data.MNIST` is
# [`torchvision.datasets.MNIST`](https://pytorch.org/vision/stable/generated/torchvision.datasets.MNIST.html)
# with a default folder and clearer errors, so it takes the arguments every torchvision dataset
# takes: `root`, `train`, `transform`, `target_transform` and `download`. Without a transform,
# an item is a pair: a [PIL](https://pillow.readthedocs.io/) image and its label, a Python `int`.

# %%
image, label = raw_train[0]
print(type(image).__name__, image.size, image.mode, "label:", label)
pixels = np.array(image)
print(f"as an array: shape {pixels.shape}, dtype {pixels.dtype}")
print(f"values from {pixels.min()} to {pixels.max()}")

# %% [markdown]
# The picture is 28 by 28 pixels of 8-bit grey levels: 0 is black (the background), 255 is
# white (the ink). A network wants something else: a `float32` tensor, with small values, and
# with the *channels* as a separate dimension. PyTorch stores images **channels first**:
# `(channels, height, width)`, so a grey image has shape `(1, 28, 28)` and a colour one
# `(3, H, W)`. A batch adds a dimension in front: `(batch, channels, height, width)`, or
# `(N, C, H, W)`.
#
# [`transforms.ToTensor()`](https://pytorch.org/vision/stable/generated/torchvision.transforms.ToTensor.html)
# does all three: it converts a PIL image (or an `(H, W, C)` NumPy array) to a `float32` tensor
# of shape `(C, H, W)` and divides by 255, so the values lie in `[0, 1]`.
#
# **Task.** Create `to_tensor`, a `ToTensor` transform, and use it to convert `image` into
# `image_tensor`.

# %%
### BEGIN SOLUTION
to_tensor = transforms.ToTensor()
image_tensor = to_tensor(image)
### END SOLUTION

# %%
check.image_tensor(image_tensor, image)

# %% [markdown]
# ## 2. Transforms: scale like the network expects (core)
#
# Values in `[0, 1]` are fine, but as in lesson 02, inputs centred on zero with a spread of
# about one make training faster and more reliable. The mean and standard deviation of all
# training pixels are `MNIST_MEAN` = 0.1307 and `MNIST_STD` = 0.3081.
# [`transforms.Normalize(mean, std)`](https://pytorch.org/vision/stable/generated/torchvision.transforms.Normalize.html)
# subtracts the mean and divides by the standard deviation, per channel: it takes one value
# per channel, as tuples, so `(MNIST_MEAN,)` for our single channel.
# [`transforms.Compose`](https://pytorch.org/vision/stable/generated/torchvision.transforms.Compose.html)
# chains transforms in order; a dataset applies its `transform` to every image it returns.
#
# **Task.** Build `transform`, `ToTensor` followed by `Normalize`, and create `train_set` and
# `test_set`, the training and the test split as `MNIST` datasets with that transform.

# %%
### BEGIN SOLUTION
transform = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
)
train_set = MNIST(train=True, transform=transform)
test_set = MNIST(train=False, transform=transform)
### END SOLUTION

# %%
check.normalised_dataset(train_set, test_set)

# %% [markdown]
# `plot_digits` draws a grid of images with labels above them. Here are the first 8 training
# digits with their true labels:

# %%
first = torch.stack([train_set[i][0] for i in range(8)])
fig = plot_digits(first, train_set.targets[:8])
plt.show()

# %% [markdown]
# ## 3. Augmentation: more data for free (core)
#
# People do not write a digit in exactly the middle of the box or exactly upright. If we move,
# turn or stretch each training image a little, at random, every time it is read, the network
# sees a slightly different picture every epoch and has to learn what makes a 7 a 7, rather
# than memorising pixels. This is *data augmentation*. It applies to training only: test
# images are left as they are.
#
# [`transforms.RandomAffine`](https://pytorch.org/vision/stable/generated/torchvision.transforms.RandomAffine.html)
# rotates by up to `degrees`, and shifts by up to a fraction `translate` of the width and
# height. It works on the PIL image, so it goes *before* `ToTensor`.
#
# **Task.** Build `augment`: a random affine transform with rotations up to 10 degrees and
# shifts up to 10% in each direction, then the same `ToTensor` and `Normalize` as before.
# A common mistake, which no check here can see, is to give the *test* set this transform too:
# the test score then measures the network on distorted digits, and changes from run to run.

# %%
### BEGIN SOLUTION
augment = transforms.Compose(
    [
        transforms.RandomAffine(degrees=10, translate=(0.1, 0.1)),
        transforms.ToTensor(),
        transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)),
    ]
)
### END SOLUTION

# %%
check.augmentation(augment)
fig = plot_digits(torch.stack([augment(image) for _ in range(8)]), torch.full((8,), label))
plt.show()

# %% [markdown]
# ### Question 1
#
# Flipping images left to right is a standard augmentation for photographs of cats. Why is it
# a bad idea for digits? Which other augmentation would be harmful here?
#
# ### BEGIN SOLUTION
# A mirrored digit is not the same digit: a flipped 2 looks like a badly written 5, a flipped 3
# like an epsilon, and nobody writes a mirrored 7. Augmentation must only make changes that keep
# the label true. For the same reason large rotations are harmful: turned half way round, a 6
# becomes a 9. Small shifts, small rotations, slight scaling or shearing and a little noise are
# safe, because handwriting varies in exactly those ways.
# ### END SOLUTION

# %% [markdown]
# ## 4. Convolution and pooling (core)
#
# A fully-connected layer on a 28x28 image would connect each of its neurons to all 784 pixels,
# and would have to learn separately what a stroke looks like at every position. A
# *convolution* slides one small grid of weights, the *kernel*, across the image and computes a
# weighted sum at every position: the same few weights detect the same pattern everywhere.
# A [`nn.Conv2d`](https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html) layer learns
# `out_channels` kernels, each spanning all `in_channels`, and outputs one *feature map* per
# kernel.
#
# Before learning any, look at a kernel chosen by hand. This one subtracts the pixel on the
# left from the pixel on the right, so it responds to vertical edges:
# [`nn.functional.conv2d`](https://pytorch.org/docs/stable/generated/torch.nn.functional.conv2d.html)
# applies it to the digit.

# %%
edge_kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
first_digit = first[0]  # the first training digit, shape (1, 28, 28)
edges = nn.functional.conv2d(first_digit.unsqueeze(0), edge_kernel.view(1, 1, 3, 3))
fig, (left, middle, right) = plt.subplots(1, 3, figsize=(8, 2.8))
left.imshow(first_digit[0], cmap="gray_r")
left.set_title("image (28x28)")
middle.imshow(edge_kernel, cmap="coolwarm")
middle.set_title("kernel (3x3)")
right.imshow(edges[0, 0], cmap="coolwarm")
right.set_title(f"feature map ({edges.shape[-2]}x{edges.shape[-1]})")
for ax in (left, middle, right):
    ax.axis("off")
plt.show()

# %% [markdown]
# The feature map is 26x26, not 28x28: a 3x3 kernel fits in only 26 positions across 28
# pixels. Three settings decide the output size:
#
# - `kernel_size` *k*: the width of the window;
# - `stride` *s*: how far the window moves each step (2 skips every other position and halves
#   the size);
# - `padding` *p*: how many rows and columns of zeros are added on every side first
#   (`padding=1` with a 3x3 kernel keeps the size unchanged).
#
# For an input of size *n* the output has `floor((n + 2p - k) / s) + 1` rows (and columns).
# *Pooling* layers slide a window the same way but take the maximum
# ([`nn.MaxPool2d`](https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html)) or the
# mean of each window, with no weights at all; their stride equals the kernel size by default,
# so `MaxPool2d(2)` halves the height and width. Shrinking the maps makes later layers cheap and
# lets each of their outputs "see" a larger part of the digit.
#
# **Task.** Without running any code, work out the height (= width) of the output of each layer
# of this stack for a 28x28 input, and put the three numbers in `sizes_by_hand`:
#
# 1. `nn.Conv2d(1, 6, kernel_size=5)` (stride 1, no padding);
# 2. `nn.MaxPool2d(2)`;
# 3. `nn.Conv2d(6, 16, kernel_size=3, stride=2, padding=1)`.

# %%
### BEGIN SOLUTION
sizes_by_hand = [24, 12, 6]  # (28 - 5) + 1; 24 / 2; floor((12 + 2 - 3) / 2) + 1
### END SOLUTION

# %%
stack = [
    nn.Conv2d(1, 6, kernel_size=5),
    nn.MaxPool2d(2),
    nn.Conv2d(6, 16, kernel_size=3, stride=2, padding=1),
]
x = torch.zeros(1, 1, 28, 28)
sizes_by_pytorch = []
for layer in stack:
    x = layer(x)
    sizes_by_pytorch.append(x.shape[-1])
    print(f"{layer!s:<60} -> {tuple(x.shape)}")
check.sizes_by_hand(sizes_by_hand, sizes_by_pytorch)

# %% [markdown]
# **Task.** Now write the rule as a function, `conv_output_size(size, kernel_size, stride=1,
# padding=0)`, returning an `int`. You will use it to size the first fully-connected layer of
# your network. (Python's `//` divides and rounds down.)


# %%
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Return the height (or width) of a convolution's or pooling's output."""
    ### BEGIN SOLUTION
    return (size + 2 * padding - kernel_size) // stride + 1
    ### END SOLUTION


# %%
check.conv_output_size(conv_output_size)

# %% [markdown]
# ## 5. Build a CNN (core)
#
# A classic small CNN alternates convolutions (with a ReLU after each) and pooling, so the maps
# get smaller and more numerous as the network goes deeper, then flattens the last maps into a
# vector ([`nn.Flatten`](https://pytorch.org/docs/stable/generated/torch.nn.Flatten.html)) for
# a fully-connected classifier that outputs one logit per class. The one number you must get
# right is the `in_features` of the first `Linear` layer: channels x height x width of the last
# feature maps.
#
# **Task.** Complete `DigitNet`:
#
# - `Conv2d(1, 8, kernel_size=3, padding=1)`, ReLU, `MaxPool2d(2)`;
# - `Conv2d(8, 16, kernel_size=3, padding=1)`, ReLU, `MaxPool2d(2)`;
# - flatten, `Linear(..., 64)`, ReLU, `Linear(64, 10)`.
#
# Use `conv_output_size` to compute the size of the last maps rather than guessing. Return the
# logits: no softmax at the end (`nn.CrossEntropyLoss` applies it).


# %%
class DigitNet(nn.Module):
    """A small CNN for 28x28 grey-scale digits."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        side = conv_output_size(conv_output_size(28, 3, padding=1), 2, stride=2)
        side = conv_output_size(conv_output_size(side, 3, padding=1), 2, stride=2)
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 64),
            nn.ReLU(),
            nn.Linear(64, num_classes),
        )
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images (N, 1, 28, 28) to logits (N, 10)."""
        ### BEGIN SOLUTION
        return self.classifier(self.features(x))
        ### END SOLUTION


my_model = DigitNet().to(device)

# %%
check.model(my_model, name="my_model")
print(my_model)

# %% [markdown]
# Count the weights: the two convolutions together have 1,248, because each kernel is reused
# at every position. A single fully-connected layer from 784 pixels to 64 neurons would
# already need over 50,000.

# %%
for name, parameter in my_model.named_parameters():
    print(f"{name:<22} {tuple(parameter.shape)!s:<16} {parameter.numel():>7}")

# %% [markdown]
# ## 6. Train with a `DataLoader` (core)
#
# The loop is the one you wrote in lesson 02; it does not care whether the inputs are penguin
# measurements or images. To keep this first run short we train on the first 3,000 training
# digits, in batches of 32, and test on the first 2,000 test digits. The training digits are
# read through `train_set`, image by image, at every epoch. The test digits never change and
# are read more than once, so the next cell converts them once and keeps them as tensors in a
# `TensorDataset` (lesson 01); a `DataLoader` batches those just the same.
#
# **Task.** Write `train_epoch(model, loader, loss_fn, optimizer, device)`, which trains for one
# pass and returns the mean loss, and `accuracy(model, loader, device)`, which returns the
# fraction of correctly classified images (evaluation mode, no gradients). Then train
# `my_model` for `epochs` epochs with `loss_fn = nn.CrossEntropyLoss()` and `optimizer`, a
# `torch.optim.Adam` created once before the loop, appending each epoch's mean loss (a float)
# to the list `losses`, and compute `quick_accuracy`, a float between 0 and 1, on
# `small_test_loader`. Use a learning rate of `6e-3`, six times Adam's default: this run makes
# under 200 updates, and with the default `1e-3` it ends about four points lower, below the
# 90% bar. A common mistake here is adding up `loss` itself rather than `loss.item()`: the
# total is then a tensor that keeps every batch's graph alive, so memory grows with each step
# although the numbers come out right. Use `.item()`.

# %%
small_train_loader = DataLoader(Subset(train_set, range(3000)), batch_size=32, shuffle=True)
small_test_set = TensorDataset(
    torch.stack([test_set[i][0] for i in range(2000)]), test_set.targets[:2000]
)
small_test_loader = DataLoader(small_test_set, batch_size=250)
epochs = 2


def train_epoch(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
) -> float:
    """Train for one pass over `loader`; return the mean training loss."""
    ### BEGIN SOLUTION
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(targets)
        count += len(targets)
    return total / count
    ### END SOLUTION


def accuracy(
    model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> float:
    """Return the fraction of images in `loader` that `model` classifies correctly."""
    ### BEGIN SOLUTION
    model.eval()
    correct, count = 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            correct += (model(inputs).argmax(dim=1) == targets).sum().item()
            count += len(targets)
    return correct / count
    ### END SOLUTION


start = time.perf_counter()
losses = []
### BEGIN SOLUTION
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(my_model.parameters(), lr=6e-3)
for _ in range(epochs):
    losses.append(train_epoch(my_model, small_train_loader, loss_fn, optimizer, device))
quick_accuracy = accuracy(my_model, small_test_loader, device)
### END SOLUTION
print(f"{epochs} epochs on 3,000 digits in {time.perf_counter() - start:.1f} s")

# %%
check.train_function(train_epoch)
check.accuracy_function(accuracy)
check.losses(losses, epochs, optimizer, len(small_train_loader))
check.quick_accuracy(quick_accuracy, my_model, small_test_loader)

# %% [markdown]
# ### Does augmentation help? A fair comparison
#
# Section 3 built `augment`, but nothing has trained with it yet. Augmentation matters most
# when training data are scarce, so the next cell trains twice on only 500 training digits, for
# 6 epochs, with the same seed and the same settings (Adam, learning rate `2e-3`): once on the
# plain images (`transform`), once through `augment`, which moves and turns every digit anew
# each time it is read. It uses your `train_epoch` and `accuracy`, and the library's
# `DigitCNN`, a network much like your `DigitNet` that is quicker on a CPU (section 8 uses it
# too). The plain digits are the same at every read, so, like the test digits, they are
# converted once and kept in a `TensorDataset`; the augmented ones must be made anew each time,
# which is the per-image work a `DataLoader` over a dataset with a `transform` does.
#
# Two test sets measure the result: the first 1,000 test digits of `small_test_set`, and one
# fixed copy of them in which each digit was moved and turned at random once, by `augment`,
# with a fixed seed. The copy is made once, from the PIL images of `raw_test`, and kept as
# tensors, so that measuring it costs nothing more. The ordinary test digits remain the
# measure of accuracy; the moved copy asks a second question: how well does the network cope
# with digits that are not centred and upright?

# %%
aug_digits, aug_epochs = 500, 6
seed_everything(1)
plain_x, test_labels = (part[:1000] for part in small_test_set.tensors)
moved_x = torch.stack([augment(raw_test[i][0]) for i in range(1000)])  # moved once, seeded
plain_test = TensorBatches(plain_x, test_labels, batch_size=500)
moved_test = TensorBatches(moved_x, test_labels, batch_size=500)

plain_digits = TensorDataset(
    torch.stack([train_set[i][0] for i in range(aug_digits)]), train_set.targets[:aug_digits]
)
augmented_digits = Subset(MNIST(train=True, transform=augment), range(aug_digits))

for name, digits in [("plain", plain_digits), ("augmented", augmented_digits)]:
    seed_everything(0)
    net = DigitCNN(channels=(8, 16, 32), first_stride=2).to(device)
    net_optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    loader = DataLoader(digits, batch_size=64, shuffle=True)
    for _ in range(aug_epochs):
        train_epoch(net, loader, nn.CrossEntropyLoss(), net_optimizer, device)
    on_test = accuracy(net, plain_test, device)
    on_moved = accuracy(net, moved_test, device)
    print(f"{name:>9} training: test digits {on_test:.1%}, moved test digits {on_moved:.1%}")

# %% [markdown]
# Read the two columns separately. On the ordinary test digits, augmentation does *not* help
# at this budget, and the plain run may even score a little higher. Over four seeds both
# average about 87-88%, and the plain run's score moves by two or three points from one seed to
# the next, so a difference of that size means nothing. On the moved digits augmentation helps
# clearly, with every seed: about 81% against 73% on average. A network trained on centred
# digits has learnt where the strokes usually are; the augmented one has seen them elsewhere.
#
# Why not more on ordinary digits? Every epoch shows the augmented network new, harder
# versions of its 500 digits, so it needs more epochs to learn them. Set `aug_epochs = 18` and
# run the cell again (three times as long): in our runs the augmented network then reaches
# about 94% on the test digits against 90% without, and about 91% against 76% on the moved
# ones. With all 60,000 digits there is less to gain, because the data already hold many
# ways of writing each digit, although the recipe's best-quality setting still adds random
# shifts. Augmentation is a remedy for too little data, and it is paid for in training time.

# %% [markdown]
# ## 7. The fast path: tensors in memory, `channels_last` (core)
#
# Each step above read its batch one image at a time: for every image the dataset decoded a PIL
# image, `ToTensor` converted it, `Normalize` scaled it, and the `DataLoader` stacked the results.
# All of MNIST is 47 MB as bytes, so it fits in memory many times over. `load_mnist_tensors`
# reads a whole split at once into a `float32` tensor of shape `(N, 1, 28, 28)`, normalised
# exactly as `transform` does, and `TensorBatches` (lesson 02) slices shuffled batches from it.
#
# A second speed-up concerns memory layout. A tensor of shape `(N, C, H, W)` is normally stored
# with the channels of one pixel far apart; in
# [`channels_last`](https://pytorch.org/tutorials/intermediate/memory_format_tutorial.html)
# layout the channels of each pixel sit next to each other, which suits the convolution
# routines of CPUs (and the tensor cores of recent GPUs). The shape stays `(N, C, H, W)`; only
# the order in memory changes. Convert the model once with
# `model.to(memory_format=torch.channels_last)`, and each batch with
# `x.contiguous(memory_format=torch.channels_last)` (`TensorBatches(..., memory_format=...)`
# does this for you). With one input channel the two layouts happen to be the same in memory;
# the gain comes from the network's weights and its 8 to 32-channel feature maps, which follow
# the layout of the weights.
#
# **Task.** Load both splits with `load_mnist_tensors` (the tensors `train_x, train_y` and
# `test_x, test_y`) and create `fast_train`, a `TensorBatches`: shuffled batches of 256
# training images, in `channels_last` layout, on `device`.

# %%
### BEGIN SOLUTION
train_x, train_y = load_mnist_tensors(train=True)
test_x, test_y = load_mnist_tensors(train=False)
fast_train = TensorBatches(
    train_x,
    train_y,
    batch_size=256,
    shuffle=True,
    device=device,
    memory_format=torch.channels_last,
)
### END SOLUTION

# %%
check.fast_batches(fast_train, test_x, test_y, device=device)

# %% [markdown]
# ### Measuring the speed-up (optional)
#
# This part only measures speed; nothing after it uses its results, so you may skip it.
#
# Now measure: first the time to *read* 3 batches of 256 images, then the time of a training
# step (batch, forward, backward, update) with each of three setups, using the library's
# `DigitCNN` as section 8 trains it, so that only the data path and the layout change. The
# numbers are measured here,
# on your machine, now: they depend on the processor, on what else it is doing, and on the
# device (on a GPU the per-image work of the `DataLoader` matters even more, and the layout
# matters less).


# %%
def seconds_to_read(batches: Iterable[object], count: int) -> float:
    """Seconds to draw `count` batches from `batches`."""
    start = time.perf_counter()
    for index, _ in enumerate(batches):
        if index + 1 == count:
            break
    return time.perf_counter() - start


def seconds_per_step(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    layout: torch.memory_format,
    steps: int = 3,
    warm_up: int = 1,
) -> float:
    """Median seconds of one training step of a fresh DigitCNN, over `steps` steps."""
    seed_everything(0)
    model = DigitCNN(channels=(8, 16, 32), first_stride=2, hidden=256)
    model = model.to(device).to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    batch_iterator = iter(batches)
    for _ in range(warm_up + steps):
        start = time.perf_counter()
        inputs, targets = next(batch_iterator)
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times[warm_up:]))


slow_loader = DataLoader(train_set, batch_size=256, shuffle=True)
plain_train = TensorBatches(train_x, train_y, batch_size=256, shuffle=True, device=device)
layout_train = TensorBatches(
    train_x, train_y, batch_size=256, shuffle=True, device=device, memory_format=torch.channels_last
)
read_slow = seconds_to_read(slow_loader, 3)
read_fast = seconds_to_read(plain_train, 3)
print(f"read 3 batches: DataLoader {read_slow:.2f} s, TensorBatches {read_fast:.3f} s")

step_times = {
    "DataLoader": seconds_per_step(slow_loader, torch.contiguous_format),
    "TensorBatches": seconds_per_step(plain_train, torch.contiguous_format),
    "TensorBatches + channels_last": seconds_per_step(layout_train, torch.channels_last),
}
for setup, seconds in step_times.items():
    speed_up = step_times["DataLoader"] / seconds
    print(f"{setup:>30}: {1000 * seconds:6.1f} ms per step ({speed_up:.1f}x)")

# %% [markdown]
# Reading batches from memory is tens to hundreds of times faster than building them image by
# image, depending on the machine. A training step gains less, because the network's arithmetic
# is the same whichever way the batch arrived; on a CPU, `channels_last` then cuts that
# arithmetic further. The `DataLoader` remains the right tool when data do not fit in memory or
# each item needs work of its own (reading a file, random augmentation): its `num_workers`
# argument then prepares batches in parallel processes, which helps on machines with cores to
# spare.

# %% [markdown]
# ## 8. Train to 99% (core)
#
# With the fast path, a full training run takes seconds per epoch. We now train the library's
# `DigitCNN` (three stages of 8, 16 and 32 channels, then a hidden layer of 256) on all 60,000
# images for 2 epochs, with AdamW and a one-cycle learning-rate schedule peaking at `8e-3`
# (lesson 02), stepped after every batch. `practicaltorch.fit` runs the loop and records the
# test loss and accuracy after every epoch. We watch the test set here only to draw the
# curves; nothing is chosen with it.
#
# Four choices, each measured, make two epochs enough, and quick on a laptop CPU:
#
# - `first_stride=2`: the first convolution steps two pixels at a time, so it halves the image
#   itself instead of computing a full 28x28 map and then max-pooling it. That saves about a
#   third of the time per epoch, at the same accuracy.
# - Batches of 256 with a peak learning rate twice that of batches of 128: half as many
#   updates, each cheaper per image, so an epoch takes about a fifth less time. A hidden layer
#   of 256 rather than 128 wins back the accuracy the fewer updates cost.
# - [Label smoothing](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
#   (`label_smoothing=0.1`): the loss asks for 91% confidence in the right digit rather than
#   100%, which keeps the logits from growing without end. With it the training loss cannot
#   fall below about 0.5, so do not compare its value with the runs above.
# - `fused=True` for AdamW: the update of every weight runs as one compiled kernel, rather
#   than about ten small operations per weight tensor. For a network this small, those small
#   operations are a good part of each step: fusing them trains it about 15% faster on a CPU.
#
# **Task.** Create `model` (on the device, `channels_last`, `first_stride=2`, `hidden=256`),
# `optimizer` and `scheduler`, and train on `train_batches` with `fit`, passing
# `metrics=multiclass_metrics(10)`, to get `history`. A common mistake here, which the check
# below cannot see, is to swap the two batch arguments: `fit` would then train on the test
# images and report a test accuracy that means nothing. The training batches come first, the
# batches it only evaluates second.

# %%
test_batches = TensorBatches(
    test_x, test_y, batch_size=1000, device=device, memory_format=torch.channels_last
)
train_batches = TensorBatches(
    train_x, train_y, batch_size=256, shuffle=True, device=device, memory_format=torch.channels_last
)
final_epochs = 2
seed_everything(0)
### BEGIN SOLUTION
model = DigitCNN(channels=(8, 16, 32), first_stride=2, hidden=256)
model = model.to(device).to(memory_format=torch.channels_last)
optimizer = torch.optim.AdamW(model.parameters(), lr=8e-3, weight_decay=1e-4, fused=True)
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=8e-3, total_steps=final_epochs * len(train_batches)
)
history = fit(
    model,
    train_batches,
    test_batches,
    nn.CrossEntropyLoss(label_smoothing=0.1),
    optimizer,
    epochs=final_epochs,
    device=device,
    metrics=multiclass_metrics(10),
    scheduler=scheduler,
    callbacks=[PrintLog()],
)
### END SOLUTION

# %%
check.history(history, epochs=final_epochs)
fig = plot_history(history, ["accuracy"])
plt.show()

# %% [markdown]
# ## 9. Precision, recall, F1 and the confusion matrix (core)
#
# Accuracy mixes all digits together. For one class, say the digit 5:
#
# - **precision** is the fraction of images *predicted* as 5 that really are 5s (how much can I
#   trust the answer "5"?);
# - **recall** is the fraction of real 5s that were predicted as 5 (how many 5s did it find?);
# - **F1** is their harmonic mean, `2 * precision * recall / (precision + recall)`, high only
#   when both are.
#
# All three come straight from the confusion matrix, whose row *i*, column *j* counts images of
# digit *i* predicted as *j*: the diagonal holds the correct predictions, a row sums to the
# number of real images of that digit, a column to the number of predictions of that digit.
#
# **Task.** Compute `test_logits`, a `(10000, 10)` tensor on the CPU, for all 10,000 test
# images in the order of `test_batches` (evaluation mode, no gradients) and
# `matrix = confusion_matrix(test_logits, test_y, 10)`. Then compute `precision`, `recall` and
# `f1`: tensors of 10 values, one per digit, from `matrix`.

# %%
### BEGIN SOLUTION
model.eval()
with torch.no_grad():
    test_logits = torch.cat([model(inputs).cpu() for inputs, _ in test_batches])
matrix = confusion_matrix(test_logits, test_y, 10)
correct = matrix.diagonal().float()
precision = correct / matrix.sum(dim=0).clamp(min=1)
recall = correct / matrix.sum(dim=1).clamp(min=1)
f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
### END SOLUTION

# %%
check.confusion(matrix, test_logits, test_y, net=model, batches=test_batches)
check.precision_recall_f1(precision, recall, f1, matrix)
for digit in range(10):
    print(
        f"digit {digit}: precision {precision[digit]:.3f}, recall {recall[digit]:.3f}, "
        f"F1 {f1[digit]:.3f}"
    )
print(f"macro averages, as `fit` reported them: F1 {history.last['valid_f1']:.4f}")
fig = plot_confusion_matrix(matrix, MNIST_CLASSES)
plt.show()

# %% [markdown]
# Look at the mistakes, not just at the counts. Here are the first 8 misclassified test
# digits; some of them would puzzle a person too:

# %%
predicted = test_logits.argmax(dim=1)
wrong = (predicted != test_y).nonzero().flatten()[:8]
fig = plot_digits(test_x[wrong], predicted[wrong], test_y[wrong])
plt.show()

# %% [markdown]
# ### Question 2
#
# Which pairs of digits does the network confuse most often? The per-digit precisions above all
# lie close to 99%; in what kind of problem would precision and recall of one class tell you far
# more than the overall accuracy?
#
# ### BEGIN SOLUTION
# The largest off-diagonal counts are usually between digits that share strokes: 4 and 9, 7 and
# 2 or 9, 3 and 5, 5 and 6. Your matrix will show the exact pairs. MNIST is balanced (about
# 1,000 test images per digit), so accuracy and the macro averages tell a similar story here.
# When one class is rare and matters most (a disease in screening, a fault in a machine, an
# extreme weather event) a model can reach 99% accuracy by never predicting it: its recall for
# that class is then zero, which only the per-class numbers reveal. Precision says how many
# false alarms to expect, recall how many cases are missed, and the right balance depends on
# what each mistake costs.
# ### END SOLUTION

# %% [markdown]
# ## 10. Your own digit (optional)
#
# A model is only useful if you can give it new data in exactly the form it was trained on.
# Three things go wrong most often:
#
# 1. **Shape.** The network takes a batch `(N, C, H, W)`. One grey 28x28 picture must become
#    `(1, 1, 28, 28)`: add the batch and channel dimensions with
#    [`unsqueeze`](https://pytorch.org/docs/stable/generated/torch.unsqueeze.html) (or
#    `x[None, None]`).
# 2. **Scaling and dtype.** `float32`, scaled to `[0, 1]` and then normalised with the *training*
#    mean and standard deviation, like every training image. A picture scaled differently is,
#    to the network, a different picture.
# 3. **Device.** The input must be on the same device as the model.
#
# Here is a digit drawn by hand, as a NumPy array: white (255) strokes on a black (0)
# background, like MNIST. Change it, or draw your own!

# %%
drawing = np.zeros((28, 28), dtype=np.uint8)
drawing[6:9, 8:21] = 255  # the top bar
for row in range(8, 24):  # the slanted stroke
    col = round(20 - (row - 8) * 8 / 15)
    drawing[row, col - 1 : col + 2] = 255
plt.figure(figsize=(2, 2))
plt.imshow(drawing, cmap="gray_r")
plt.axis("off")
plt.show()

# %% [markdown]
# **Task.** Write `prepare(array)`: it takes a 28x28 picture of values 0-255 (a NumPy array,
# or a PIL image as the dataset gives them: `np.array(...)` accepts both) and returns a tensor
# ready for `model`: shape `(1, 1, 28, 28)`, `float32`, scaled and normalised as in training,
# on `device`. Then compute `probs`, the `(1, 10)` probabilities of the ten digits for your
# drawing (`torch.softmax` over dimension 1, evaluation mode, no gradients).


# %%
def prepare(array: np.ndarray | list[list[float]] | torch.Tensor) -> torch.Tensor:
    """Turn a 28x28 array of grey levels 0-255 into a normalised (1, 1, 28, 28) batch."""
    ### BEGIN SOLUTION
    x = torch.tensor(np.array(array), dtype=torch.float32) / 255.0
    x = (x - MNIST_MEAN) / MNIST_STD
    return x.unsqueeze(0).unsqueeze(0).to(device)
    ### END SOLUTION


### BEGIN SOLUTION
model.eval()
with torch.no_grad():
    probs = torch.softmax(model(prepare(drawing)), dim=1)
### END SOLUTION

# %%
check.prepare_function(prepare, device=device)
check.probabilities(probs, net=model, prepare=prepare, picture=drawing)
print(f"the network reads your drawing as a {probs.argmax().item()}")
for digit, p in enumerate(probs[0].tolist()):
    print(f"{digit}: {'#' * round(40 * p):<40} {100 * p:5.1f}%")

# %% [markdown]
# `prepare` works on any 28x28 grey picture, for example a test image read without a transform
# (a PIL image, which `np.array` turns into an array). A prediction only reads the model, so
# this cell uses `torch.inference_mode()`, the stricter and slightly faster relative of
# `torch.no_grad()` (lesson 02):

# %%
test_image, test_label = raw_test[0]
with torch.inference_mode():
    guess = model(prepare(test_image)).argmax(dim=1).item()
print(f"test image 0 shows a {test_label}; the network says {guess}")

# %% [markdown]
# ### Question 3
#
# Draw a digit that is small and in a corner of the 28x28 box, or with thin strokes. Does the
# network still recognise it? Why might it fail, and what would you change: in the drawing, or
# in training?
#
# ### BEGIN SOLUTION
# MNIST digits were size-normalised to fit a 20x20 box and centred by their centre of mass in
# the 28x28 image, with soft, anti-aliased strokes about 2-3 pixels wide. A network trained only
# on such images has never seen a tiny digit in a corner or a one-pixel line, so its
# predictions there are unreliable (and, as in lesson 02, can still be confident). Two fixes:
# preprocess new pictures the way MNIST was made (crop to the ink, scale to 20x20, centre by
# mass, blur slightly), or widen the training data with augmentation (random shifts, scaling,
# stroke thickness) so the network learns to handle such variation. The first is cheaper; the
# second makes the model more robust to inputs you did not anticipate.
# ### END SOLUTION

# %% [markdown]
# ### Question 4
#
# Convolution layers use the same kernel at every position. What does that buy, and what does
# it cost: could a network made only of convolutions say *where* in the image a digit is?
#
# ### BEGIN SOLUTION
# Sharing the kernel buys far fewer weights (the whole convolutional part of `DigitNet` has
# 1,248) and *translation equivariance*: a stroke shifted by a few pixels gives the same
# feature, shifted, so what is learnt at one place works everywhere. Pooling then makes the
# result roughly invariant to small shifts, which is what a classifier wants. The cost is that a
# convolution does not know where it is: with padding, only the borders give it a hint. For
# tasks where position *is* the answer, such as finding the centre of an object, that is a
# handicap, and the next lesson shows a simple remedy (coordinate channels).
# ### END SOLUTION

# %% [markdown]
# ## The quality bar
#
# The worked solution must classify at least 99% of the 10,000 test digits correctly. The
# recipe's best-quality setting (wider stages, dropout, random shifts and 6 epochs:
# `practicaltorch.recipes.mnist.run(Config(best=True))`) aims at 99.3% and more.

# %%
test_accuracy = (matrix.diagonal().sum() / matrix.sum()).item()
assert check_metric(test_accuracy, check.ACCURACY_BAR, name="test accuracy", unit="%")
