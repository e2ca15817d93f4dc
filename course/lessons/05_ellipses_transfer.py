# %% [markdown]
# # Lesson 05: Where is the ellipse? Regression from images
#
# Each image in this lesson shows one filled ellipse on a plain background, both in random
# colours. The task is to read off four numbers: the row and column of the centre, and the two
# radii. It is a *regression* from an image, like measuring an object in a microscope picture
# or locating a storm in a satellite image, and unlike MNIST the data are *generated*, so there
# is no limit to how many images we can have.
#
# You know the whole workflow by now, so this lesson gives less guidance: the tasks say what
# to build, and you decide how, with the documentation and lessons 02-04 at hand. You will try
# two approaches: adapting a large network pretrained on photographs (*transfer learning*), and
# a small network designed for the problem.
#
# **By the end you will be able to**
#
# - generate a synthetic image dataset, state its target precisely, and explain why the targets
#   are normalised;
# - adapt a pretrained torchvision network to a new task by replacing its head, and fall back to
#   random weights when the pretrained ones cannot be downloaded;
# - explain why convolutions struggle to report positions, and how coordinate channels and the
#   difference from the background colour help;
# - train a regression CNN on fresh images every epoch with a loss measured in pixels;
# - report the error in pixels and draw the predictions over the images.
#
# **Time:** about 90 minutes, all of it core.
#
# **You should know:** lesson 04 (images as tensors, CNNs, `TensorBatches`, `fit`) and lesson 03
# (regression losses and errors in physical units).

# %% [markdown]
# ## Setup

# %%
import matplotlib.pyplot as plt
import torch
from torch import nn

from practicaltorch import TensorBatches, configure_threads, fit, pick_device, seed_everything
from practicaltorch.checks import check_metric
from practicaltorch.checks import lesson05 as check
from practicaltorch.data import (
    DataNotFoundError,
    DownloadError,
    EllipseBatches,
    Ellipses,
    ellipse_tensors,
)
from practicaltorch.models import EllipseCNN, transfer_model
from practicaltorch.models.coordconv import background_difference
from practicaltorch.plots import plot_ellipses, plot_history
from practicaltorch.training import PrintLog, regression_metrics

seed_everything(0)
device = pick_device()
configure_threads()
print(f"computing on {device} with {torch.get_num_threads()} thread(s)")

SIZE = 128  # image height and width in pixels
TRAIN_SEED = 0

# %% [markdown]
# ## 1. The data (core)
#
# `Ellipses` is a map-style `Dataset` with the torchvision signature (`transform`,
# `target_transform`). Item `i` is drawn on request from the seed and `i` alone, so it is the
# same every time it is read, in every process, and nothing is stored.
#
# A pixel at row *i* and column *j* is inside the ellipse when its centre is:
#
# $$\left(\frac{i + 0.5 - r_c}{a}\right)^2 + \left(\frac{j + 0.5 - c_c}{b}\right)^2 \le 1,$$
#
# where $(r_c, c_c)$ is the centre and $a$, $b$ the radii along the rows and the columns, all in
# pixels. The ellipses are axis-aligned, each radius is between 1/16 and 3/8 of the image size
# (8 to 48 pixels here), and the whole ellipse lies inside the image. The ellipse and background
# colours are each drawn uniformly from $[0, 255]^3$, so the colour says nothing about the
# answer, and sometimes the two colours are almost the same.
#
# The target is $(r_c, c_c, a, b)$ **divided by the image size**: four numbers between 0 and 1.

# %%
data = Ellipses(length=10_000, size=SIZE, seed=TRAIN_SEED)
image, target = data[0]
print(f"image: {tuple(image.shape)} {image.dtype}, values {image.min()}..{image.max()}")
print(f"target: {target.tolist()}  (in pixels: {(target * SIZE).tolist()})")

first = torch.stack([data[i][0] for i in range(8)])
first_targets = torch.stack([data[i][1] for i in range(8)])
fig = plot_ellipses(first, first_targets)  # outlines drawn from the targets
plt.show()

# %% [markdown]
# Reading items one by one is what a `DataLoader` would do. `ellipse_tensors(length, size,
# seed)` draws the same items as two tensors at once (`uint8` images, `float32` targets),
# vectorised, over ten thousand images a second; `EllipseBatches` uses it to give *fresh*
# training images every epoch.
#
# **Task.** Training images will come from seed `TRAIN_SEED`: every epoch draws the next
# items of that seed, 0, 1, 2 and onwards, tens of thousands of them in all. Create the
# held-out set, the tensors `valid_images, valid_targets`: 1,000 images that share none of the
# training images. Then compute `baseline_mae_px` (a float): the mean absolute error, in
# pixels, over the four numbers of the validation images, of a "model" that always predicts the
# mean target of the first 4,096 training images. Keep that mean, a tensor of four numbers, in
# `mean_target`: later cells start the networks from it. Any network must beat this baseline.

# %%
### BEGIN SOLUTION
valid_images, valid_targets = ellipse_tensors(1000, SIZE, seed=TRAIN_SEED + 1)
_, train_targets = ellipse_tensors(4096, SIZE, seed=TRAIN_SEED)
mean_target = train_targets.mean(dim=0)
baseline_mae_px = ((valid_targets - mean_target).abs() * SIZE).mean().item()
### END SOLUTION

# %%
check.validation_set(valid_images, valid_targets, train_seed=TRAIN_SEED, size=SIZE)
check.baseline(baseline_mae_px, mean_target, valid_targets, train_seed=TRAIN_SEED, size=SIZE)

# %% [markdown]
# ### Question 1
#
# Why are the targets divided by the image size instead of given in pixels? What would change
# if you trained on targets in pixels?
#
# ### BEGIN SOLUTION
# A freshly initialised network outputs numbers of order 0.1-1, because its weights are scaled
# for inputs and outputs of about that size. Targets between 0 and 1 are within easy reach;
# targets between 8 and 120 pixels would force the last layer to grow large weights first, the
# squared error at the start would be in the thousands, and the gradients with it, so training
# needs a much smaller learning rate and is fragile. Normalised targets also put the four
# numbers on one scale, so no one of them dominates the loss, and they make the model's
# outputs independent of the resolution: 0.5 is the middle of any image. We can still *measure*
# the error in pixels (multiply by the size), and even compute the loss in pixels, as below:
# scaling the loss is harmless once the outputs are in a sensible range.
# ### END SOLUTION

# %% [markdown]
# ## 2. Transfer learning: borrow a network trained on photographs (core)
#
# Networks such as ResNet-18 were trained on ImageNet, 1.2 million photographs in 1000
# classes. Their early layers detect edges, colours and textures, which are useful for almost
# any image. *Transfer learning* keeps those layers (the *backbone*) and replaces the last
# `Linear` layer (the *head*) with a new one sized for the new task, here 4 outputs. See the
# [torchvision models page](https://pytorch.org/vision/stable/models.html) for the available
# networks and their weights.
#
# `transfer_model(arch, num_outputs, pretrained=True)` builds the torchvision network, loads
# the ImageNet weights into its backbone and puts a fresh head on top. The weights are
# downloaded once (about 45 MB for ResNet-18) into the torch hub cache. Without internet access
# the download fails with `DownloadError` (or `DataNotFoundError` if you passed
# `download=False`). The fix is to fetch them beforehand, while online, in a terminal:
#
# ```bash
# practicaltorch fetch --weights resnet18
# ```
#
# Until then, the same architecture can start from random weights (`pretrained=False`). It then
# has to learn everything from our images: the architecture is the same, the head start is not.
#
# **Task.** Build `transfer_net`, a ResNet-18 with 4 outputs, pretrained if possible. Catch the
# two errors, print what happened and how to fix it, and fall back to random weights. Record
# which one you got in `pretrained` (`True` or `False`).

# %%
### BEGIN SOLUTION
try:
    transfer_net = transfer_model("resnet18", num_outputs=4, pretrained=True)
    pretrained = True
except (DownloadError, DataNotFoundError) as error:
    print(f"No pretrained weights: {error}")
    print("Continuing from random weights. Run `practicaltorch fetch --weights resnet18` once")
    print("while online, then run this cell again to start from the ImageNet weights.")
    transfer_net = transfer_model("resnet18", num_outputs=4, pretrained=False)
    pretrained = False
### END SOLUTION

# %%
check.transfer_net(transfer_net, pretrained)
print(f"head: {transfer_net.head}")

# %% [markdown]
# With pretrained weights, a common first step is to *freeze* the backbone and train only the
# head: few weights, so little data and little time are needed, and the useful features cannot
# be damaged by large early gradients. Compare the number of weights that would train:

# %%
transfer_net.freeze_backbone()
frozen = sum(p.numel() for p in transfer_net.parameters() if p.requires_grad)
transfer_net.freeze_backbone(False)
everything = sum(p.numel() for p in transfer_net.parameters() if p.requires_grad)
print(f"trainable weights: {frozen:,} with the backbone frozen, {everything:,} without")

# %% [markdown]
# Our task is far from ImageNet's (where an object is, not what it is), and with random weights
# a frozen backbone would only offer random features, so we fine-tune every layer.
#
# A pretrained network expects its inputs prepared the way its training photographs were:
# `float32` in `[0, 1]`, then normalised per channel with the ImageNet mean `IMAGENET_MEAN` and
# standard deviation `IMAGENET_STD` below (`practicaltorch.models.transfer.pretrained_transforms`
# shows the full recipe). ResNet-18 is also costly on a CPU at 128x128, so we halve the
# resolution first by averaging 2x2 blocks
# ([`nn.functional.avg_pool2d`](https://pytorch.org/docs/stable/generated/torch.nn.functional.avg_pool2d.html)).
#
# **Task.** Write `imagenet_inputs(images)`: `uint8` images `(N, 3, 128, 128)` in, `float32`
# `(N, 3, 64, 64)` out, scaled to `[0, 1]`, halved, and normalised with the ImageNet statistics.

# %%
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])


def imagenet_inputs(images: torch.Tensor) -> torch.Tensor:
    """Prepare uint8 images (N, 3, 128, 128) for an ImageNet network, at 64x64."""
    ### BEGIN SOLUTION
    x = nn.functional.avg_pool2d(images.float() / 255, 2)
    mean = IMAGENET_MEAN.to(x.device).view(1, 3, 1, 1)
    std = IMAGENET_STD.to(x.device).view(1, 3, 1, 1)
    return (x - mean) / std
    ### END SOLUTION


# %%
check.imagenet_inputs(imagenet_inputs, device=device)

# %% [markdown]
# A short fine-tuning run: two epochs of 256 fresh images each. The loss is the
# [Huber loss](https://pytorch.org/docs/stable/generated/torch.nn.SmoothL1Loss.html) in pixels:
# quadratic for errors under a pixel, linear above, so the large errors of the first steps do
# not dominate. The head's bias starts at the mean target, so the network's first guess is the
# baseline rather than noise.


# %%
def pixel_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Huber loss between normalised outputs and targets, measured in pixels."""
    return nn.functional.smooth_l1_loss(outputs * SIZE, targets * SIZE, beta=1.0)


def in_pixels(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert normalised outputs and targets to pixels, for the metrics."""
    return outputs * SIZE, targets * SIZE


class ImagenetInputs(nn.Module):
    """Apply `imagenet_inputs` inside the model, so it takes raw uint8 images."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Prepare the images, then run the network."""
        return self.network(imagenet_inputs(images))


seed_everything(0)
with torch.no_grad():
    transfer_net.head.bias.copy_(mean_target)
wrapped = ImagenetInputs(transfer_net).to(device)
transfer_epochs = 2
transfer_batches = EllipseBatches(per_epoch=256, batch_size=32, size=SIZE, seed=TRAIN_SEED)
transfer_optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-3, weight_decay=1e-4)
transfer_history = fit(
    wrapped,
    transfer_batches,
    TensorBatches(valid_images[:256], valid_targets[:256], batch_size=128),
    pixel_loss,
    transfer_optimizer,
    epochs=transfer_epochs,
    device=device,
    metrics=regression_metrics(),
    metric_transform=in_pixels,
    scheduler=torch.optim.lr_scheduler.OneCycleLR(
        transfer_optimizer, max_lr=1e-3, total_steps=transfer_epochs * len(transfer_batches)
    ),
    callbacks=[PrintLog()],
)
transfer_mae_px = transfer_history.last["valid_mae"]
print(
    f"ResNet-18 ({'pretrained' if pretrained else 'random weights'}): {transfer_mae_px:.2f} px "
    f"after {transfer_history.last['seconds']:.0f} s; always predicting the mean: "
    f"{baseline_mae_px:.2f} px"
)

# %% [markdown]
# Eleven million weights, designed to tell dogs from teapots, learn slowly from a few thousand
# images: after this short run the error is still around the baseline's, or worse. With the
# pretrained weights and a GPU, ten minutes of fine-tuning at full resolution gets to a few
# pixels (the original version of this course reported about 4 px RMSE with a pretrained
# MobileNet). Transfer learning shines when labelled data are scarce and the images look like
# photographs. Here data are free and the task is geometric, which suggests a different route.

# %% [markdown]
# ## 3. A network built for the task (core)
#
# Two observations about this problem lead to a small, fast network.
#
# **Convolutions do not know where they are.** A convolution applies the same kernel at every
# position (lesson 04), so a feature map says *what* was found, shifted along with the image,
# but nothing in the weights says *where*. Pooling throws away more position. A classifier wants
# exactly that, but our answer *is* a position. *CoordConv* (Liu et al., 2018) fixes it cheaply:
# add two input channels holding each pixel's row and column, scaled to `[-1, 1]`. Any kernel
# can then combine "ellipse edge here" with "here is row 0.3".
#
# **Colours are random, the shape is not.** The ellipse may be dark on light, light on dark, or
# nearly the background's colour. The network would have to learn, for every colour pair, which
# pixels belong to the ellipse. We can estimate the background colour from the image border
# (the median of the border pixels, per channel) and add `|image - background|` as three more
# channels: large on the ellipse, zero elsewhere, whatever the colours. It matters: trained the
# same way, a small CoordConv network on plain RGB images plateaus at about 1.4 px mean error;
# with the difference channels added it gets to about 0.6 px.
#
# **Task.** Write `add_coordinates(images)`: for a float batch `(N, C, H, W)` return
# `(N, C + 2, H, W)`, the images followed by a row channel and a column channel, each going from
# -1 at the top (or left) to +1 at the bottom (or right). Hints:
# [`torch.linspace`](https://pytorch.org/docs/stable/generated/torch.linspace.html) or
# `torch.arange`, [`torch.meshgrid`](https://pytorch.org/docs/stable/generated/torch.meshgrid.html)
# with `indexing="ij"`, `expand`, and `torch.cat` along dimension 1.


# %%
def add_coordinates(images: torch.Tensor) -> torch.Tensor:
    """Append row and column coordinate channels in [-1, 1] to a (N, C, H, W) batch."""
    ### BEGIN SOLUTION
    n, _, height, width = images.shape
    rows = torch.linspace(-1, 1, height, device=images.device, dtype=images.dtype)
    cols = torch.linspace(-1, 1, width, device=images.device, dtype=images.dtype)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))  # (2, H, W)
    return torch.cat([images, grid.expand(n, -1, -1, -1)], dim=1)
    ### END SOLUTION


# %%
check.coordinates(add_coordinates)

# %% [markdown]
# The library's `EllipseCNN` does both inside its `forward`, so the trained model takes plain
# images: it scales them to `[0, 1]`, appends the background difference, a soft mask (the
# difference summed over the channels and divided by its maximum) and the two coordinate
# channels, then averages 4x4 blocks. The averaging keeps sub-pixel information (a block on the
# ellipse's edge holds the fraction of it that is inside) while the convolutions visit sixteen
# times fewer positions. Here are the extra channels of one image:

# %%
x = valid_images[:1].float() / 255
shown = {
    "image": x[0].permute(1, 2, 0),
    "|image - background|": background_difference(x)[0].permute(1, 2, 0).clamp(0, 1),
    "row channel": add_coordinates(x)[0, 3],
    "column channel": add_coordinates(x)[0, 4],
}
fig, axes = plt.subplots(1, 4, figsize=(12, 3))
for ax, (title, picture) in zip(axes, shown.items()):
    ax.imshow(picture.numpy(), cmap="coolwarm" if picture.ndim == 2 else None)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# **Task.** Train `model = EllipseCNN(size=SIZE, channels=(16, 32, 64))` with `fit` and keep
# the result in `history`.
# Settings that work: start the output bias (`model.output.bias`) at `mean_target`;
# `EllipseBatches(per_epoch=4096, batch_size=64, size=SIZE, seed=TRAIN_SEED)` for fresh images
# every epoch, 5 epochs; validation batches from `valid_images, valid_targets`; `pixel_loss`;
# AdamW with weight decay `1e-4` under a one-cycle schedule peaking at `3e-3` with
# `pct_start=0.2`; `regression_metrics()` with `metric_transform=in_pixels`; and the model and
# its inputs in `channels_last` layout. Expect about 15 seconds on a laptop CPU.

# %%
seed_everything(0)
epochs = 5
### BEGIN SOLUTION
model = EllipseCNN(size=SIZE, channels=(16, 32, 64))
with torch.no_grad():
    model.output.bias.copy_(mean_target)
model = model.to(device).to(memory_format=torch.channels_last)
train_batches = EllipseBatches(per_epoch=4096, batch_size=64, size=SIZE, seed=TRAIN_SEED)
valid_batches = TensorBatches(valid_images, valid_targets, batch_size=250)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=3e-3, total_steps=epochs * len(train_batches), pct_start=0.2
)
history = fit(
    model,
    train_batches,
    valid_batches,
    pixel_loss,
    optimizer,
    epochs=epochs,
    device=device,
    metrics=regression_metrics(),
    metric_transform=in_pixels,
    scheduler=scheduler,
    callbacks=[PrintLog()],
)
### END SOLUTION

# %%
check.history(history)
fig = plot_history(history)
plt.show()

# %% [markdown]
# ## 4. Errors in pixels, and a look at the predictions (core)
#
# **Task.** Predict all validation images in their stored order (`predicted`, a float tensor
# of shape `(1000, 4)`, normalised like the targets, on the CPU; evaluation mode, no gradients,
# in batches). Compute `errors_px`, the absolute errors in pixels, a `(1000, 4)` tensor, and
# `mae_px`, their mean as a float.

# %%
### BEGIN SOLUTION
model.eval()
with torch.no_grad():
    predicted = torch.cat([model(images.to(device)).cpu() for images, _ in valid_batches])
errors_px = (predicted - valid_targets).abs() * SIZE
mae_px = errors_px.mean().item()
### END SOLUTION

# %%
check.pixel_errors(
    mae_px, predicted, errors_px, valid_targets, net=model, valid_images=valid_images, size=SIZE
)
names = ["centre row", "centre column", "row radius", "column radius"]
for name, error in zip(names, errors_px.mean(dim=0).tolist()):
    print(f"{name:>14}: {error:.2f} px")
print(f"EllipseCNN {mae_px:.2f} px, ResNet-18 {transfer_mae_px:.2f} px")
print(f"always predicting the mean ellipse: {baseline_mae_px:.2f} px")

# %% [markdown]
# Draw the predicted outlines (black) over the true ones (dashed white): first eight validation
# images, then the eight with the largest errors.

# %%
fig = plot_ellipses(valid_images[:8], predicted[:8], valid_targets[:8])
plt.show()
worst = errors_px.mean(dim=1).argsort(descending=True)[:8]
fig = plot_ellipses(valid_images[worst], predicted[worst], valid_targets[worst])
plt.show()

# %% [markdown]
# ### Question 2
#
# Look at the worst cases. What do they have in common, and how could you improve the model on
# them?
#
# ### BEGIN SOLUTION
# They are usually ellipses whose colour is very close to the background's, so the difference
# channels are faint and the edge is hard to see even for a person; sometimes they are very
# small or very flat ellipses, where a pixel of error is a large fraction of the radius. Ways to
# improve: train longer or on more fresh images (data are free), give the network more
# resolution (a smaller pooling factor, at more cost), weight the loss towards hard cases, or
# estimate the background more robustly. Whether it is worth it depends on what the error
# budget is: a mean of well under a pixel may already be below the noise of real measurements.
# ### END SOLUTION

# %% [markdown]
# ### Question 3
#
# Every epoch drew 4,096 images the network had never seen. What does that buy compared with
# one fixed training set of 4,096 images? Would you expect the validation error to differ much
# from the training error?
#
# ### BEGIN SOLUTION
# With fresh images the network cannot memorise: every step is on new data, so the training
# loss is itself an honest estimate of the error on new images, and overfitting in the usual
# sense cannot happen. The training and validation errors therefore stay close (the curves
# above overlap; the training loss is measured while the weights are still changing, so it
# lags a little). A fixed set of 4,096 would be reused five times and the network could start
# fitting its particular images. Generated data are a luxury: with real measurements, data are
# limited and augmentation, regularisation and early stopping do this job instead.
# ### END SOLUTION

# %% [markdown]
# ### Question 4
#
# Suppose the ellipses could also be rotated. What would you add to the targets, and why is
# predicting the angle directly a poor idea?
#
# ### BEGIN SOLUTION
# Add the orientation. An ellipse rotated by 180 degrees is the same ellipse, and the angle
# jumps from 180 back to 0 although nothing changes: a network predicting the angle directly is
# punished for nearly right answers on either side of the jump. Predict instead
# (cos 2θ, sin 2θ), which varies smoothly and is the same for θ and θ + 180°, and recover θ
# with atan2 / 2. (With rotation, the two radii also need a rule, such as "major axis first", to
# make the answer unique; a circle has no orientation at all.)
# ### END SOLUTION

# %% [markdown]
# ### Question 5
#
# When would you choose transfer learning over a small network designed for the task?
#
# ### BEGIN SOLUTION
# When labelled data are scarce and expensive (hundreds of images, not millions), the images
# resemble natural photographs, and the task depends on recognising textures, objects or
# shapes that ImageNet features capture: then a pretrained backbone with a new head can reach a
# good result with little data and little training, and freezing the backbone at first protects
# it. A small, specialised network wins when data are plentiful or cheap to generate, the
# inputs are unlike photographs (many channels, physical fields, unusual resolutions), the task
# depends on exact positions or values rather than categories, or the model must be small and
# fast, for example to run inside a simulation.
# ### END SOLUTION

# %% [markdown]
# ## The quality bar
#
# The worked solution must locate the ellipses to better than one pixel on average over the
# four numbers, on the 1,000 held-out 128x128 images. (The library's recipe,
# `practicaltorch run ellipses`, trains a wider network for longer and gets to about 0.6 px.)

# %%
assert check_metric(
    mae_px,
    check.MAE_BAR_PX,
    name="validation mean absolute error",
    higher_is_better=False,
    unit="px",
)
