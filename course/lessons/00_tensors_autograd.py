# %% [markdown]
# # Lesson 00: Tensors, autograd and gradient descent
#
# Every neural network, however large, is trained with the same few ideas: store numbers in
# *tensors*, measure how wrong the model is with a *loss*, let PyTorch work out which way to
# nudge each parameter (*autograd*), and nudge (*gradient descent*). This lesson meets all of
# them on the smallest model there is: a straight line through three points.
#
# **By the end you will be able to**
#
# - create tensors, and read and change their shape, dtype and device;
# - reorder the axes of a tensor with `permute`, and say why `reshape` is not the same thing;
# - ask PyTorch for gradients with `requires_grad=True` and `backward()`;
# - fit y = m x + c by gradient descent three ways: with gradients you derived by hand,
#   with autograd, and with `torch.optim.SGD`, and check the answer against least squares.
#
# **Time:** about 45 minutes for the core sections; about 60 minutes with the optional ones.
#
# **You should know:** Python (functions, lists, loops), a little NumPy, and what a
# derivative is. No PyTorch yet.

# %% [markdown]
# ## Setup
#
# `seed_everything` fixes every random number generator, so you get the same numbers as the
# worked solution. `pick_device` chooses where to compute: a CUDA GPU if there is one, then an
# Apple-silicon GPU (MPS), then the CPU. `configure_threads` uses one CPU thread on small
# machines, where more threads are often slower. `check` holds the self-checks: run the check
# cell after each task and it tells you at once whether your answer is right.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from practicaltorch import configure_threads, pick_device, seed_everything
from practicaltorch.checks import lesson00 as check

seed_everything(0)
device = pick_device()
configure_threads()
print(f"PyTorch {torch.__version__}, computing on {device}")

# %% [markdown]
# ## 1. Tensors (core)
#
# A tensor is PyTorch's array: a block of numbers with a **shape** (how many along each axis),
# a **dtype** (what kind of number) and a **device** (which processor's memory holds it). It
# behaves much like a NumPy array, with two additions that make deep learning possible: it can
# live on a GPU, and it can remember how it was computed so that PyTorch can differentiate
# through it.
#
# Documentation: [tensors](https://docs.pytorch.org/docs/stable/tensors.html) and
# [dtypes and devices](https://docs.pytorch.org/docs/stable/tensor_attributes.html).

# %%
whole_numbers = torch.tensor([1, 2, 3])
decimals = torch.tensor([1.0, 2.0, 3.0])
from_numpy = torch.from_numpy(np.array([1.0, 2.0, 3.0]))
for label, t in [("ints", whole_numbers), ("floats", decimals), ("from NumPy", from_numpy)]:
    print(f"{label:>10}: dtype={t.dtype}, shape={tuple(t.shape)}, device={t.device}")

# %% [markdown]
# Notice the dtypes. Python integers become `int64`, Python floats become `float32`, but a
# NumPy array keeps NumPy's default `float64`. Neural networks almost always compute in
# `float32` (GPUs are much faster at it, and the extra digits of `float64` buy nothing when
# the data are noisy), and PyTorch refuses to mix dtypes in many operations. Convert with
# `.to(torch.float32)` or `.float()`.
#
# ### Task 1: the data as a tensor
#
# Here are the three points this lesson fits a line to:
#
# | x | y |
# | --- | --- |
# | 1.0 | 2.1 |
# | 2.0 | 3.9 |
# | 3.0 | 6.2 |
#
# Create `points`, a `float32` tensor of shape `(3, 2)`: one row per point, `x` in the first
# column and `y` in the second. Use
# [`torch.tensor`](https://docs.pytorch.org/docs/stable/generated/torch.tensor.html).

# %%
### BEGIN SOLUTION
points = torch.tensor([[1.0, 2.1], [2.0, 3.9], [3.0, 6.2]], dtype=torch.float32)
### END SOLUTION

# %%
check.points(points)

# %% [markdown]
# Indexing works as in NumPy: `points[:, 0]` is every row's first column.

# %%
x, y = points[:, 0], points[:, 1]
print("x =", x, " shape", tuple(x.shape))
print("y =", y, " shape", tuple(y.shape))

# %% [markdown]
# ### Devices
#
# `device` was chosen in the setup cell. `.to(device)` returns a copy in that device's memory
# (or the tensor itself if it is already there). An operation needs all its tensors on the
# same device, and NumPy and matplotlib only read CPU tensors, so `.cpu()` brings results back.
#
# For three points the CPU is the fastest place to compute, since starting work on a GPU costs
# more than the arithmetic, so this lesson stays on the CPU. Lesson 01 trains on `device`.

# %%
points_on_device = points.to(device)
print(points_on_device.device, "->", points_on_device.cpu().device)

# %% [markdown]
# ### Shapes: `reshape` and `permute`
#
# Two operations change a tensor's shape, and they do very different things:
#
# - [`reshape`](https://docs.pytorch.org/docs/stable/generated/torch.reshape.html) (and
#   `view`) keeps the numbers in the order they are stored and only regroups them into new
#   axes, as if pouring the same sequence into a differently shaped box;
# - [`permute`](https://docs.pytorch.org/docs/stable/generated/torch.permute.html) reorders
#   the axes themselves: element `[i, j]` of a matrix becomes element `[j, i]` of its
#   transpose.

# %%
grid = torch.arange(6).reshape(2, 3)
print("grid:\n", grid)
print("grid.reshape(3, 2):\n", grid.reshape(3, 2))
print("grid.permute(1, 0), the transpose:\n", grid.permute(1, 0))
print("x.unsqueeze(1) has shape", tuple(x.unsqueeze(1).shape), "(a column of 3 numbers)")

# %% [markdown]
# ### Task 2: channels first
#
# Image libraries (PIL, matplotlib) store a picture as height x width x colour channels, but
# PyTorch's convolution layers want the channels first. Below is a batch of 8 random 32x32
# colour images in the *channels-last* layout `(batch, height, width, channels)`.
#
# Make `channels_first`, the same images in the layout `(batch, channels, height, width)`.
# (Try `images.reshape(8, 3, 32, 32)` too and see what the check says.)

# %%
images = torch.rand(8, 32, 32, 3)
### BEGIN SOLUTION
channels_first = images.permute(0, 3, 1, 2)
### END SOLUTION

# %%
check.channels_first(channels_first, images)

# %% [markdown]
# ## 2. Autograd: PyTorch computes derivatives for you (core)
#
# Create a tensor with `requires_grad=True` and PyTorch records every operation that uses it,
# building a graph from the inputs to the result. Call `.backward()` on a single-number result
# and PyTorch walks that graph backwards with the chain rule, storing the derivative of the
# result with respect to each recorded input in the input's `.grad`.
#
# Documentation: [a gentle introduction to autograd](https://docs.pytorch.org/tutorials/beginner/basics/autogradqs_tutorial.html)
# and [`torch.autograd`](https://docs.pytorch.org/docs/stable/autograd.html).

# %%
w = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
print(w, "grad so far:", w.grad)

# %% [markdown]
# ### Task 3: your first gradient
#
# Compute `q`, the sum of the squares of the elements of `w`, then call `q.backward()`.
# Which values do you expect in `w.grad`? Work them out on paper first.
#
# Then run your cell a second time (without re-running the cell that creates `w`) and check
# again: the check will tell you what happened. Re-run the cell above to start afresh.

# %%
### BEGIN SOLUTION
q = (w**2).sum()
q.backward()
### END SOLUTION
print("q =", q, " w.grad =", w.grad)

# %%
check.square_gradient(w)

# %% [markdown]
# `q` printed with `grad_fn=<SumBackward0>`: the last operation in its recorded history.
# And, if you ran the cell twice, you saw that **gradients add up**: `backward()` adds to
# `.grad` rather than overwriting it. That is deliberate (it lets several losses contribute to
# one update), but it means a training loop must clear the gradients before every step.
#
# ## 3. Fitting a straight line by gradient descent (core)
#
# Our model is the line f(x) = m x + c, with two parameters: the slope m and the intercept
# c. To say how well it fits, we use the **mean squared error** over the n points:
#
# $$L(m, c) = \frac{1}{n}\sum_{i=1}^{n}\bigl(y_i - (m x_i + c)\bigr)^2 .$$
#
# The gradient of L, the pair (dL/dm, dL/dc), points in the direction in which the loss
# grows fastest. So to make the loss smaller we take a small step the *opposite* way:
#
# $$m \leftarrow m - \eta\,\frac{\partial L}{\partial m}, \qquad
#   c \leftarrow c - \eta\,\frac{\partial L}{\partial c},$$
#
# where the **learning rate** η sets the size of the step. Repeat, and the line slides
# towards the best fit. That is gradient descent; every optimiser in PyTorch is a variation.
#
# ### Task 4: the loss and its gradients, by hand
#
# Differentiate L with the chain rule (write r_i = y_i - (m x_i + c) for the residual), then
# write two functions:
#
# - `mse_loss(m, c, x, y)` returns L;
# - `mse_gradients(m, c, x, y)` returns the tuple `(dL/dm, dL/dc)`.
#
# Use tensor operations (`**`, `.mean()`), not a Python loop over points: they work on any
# number of points at once, and on tensors that track gradients, which you will need soon.
# Return tensors, not Python numbers (no `.item()` or `float()` inside): Task 6 calls
# `backward()` on what `mse_loss` returns.


# %%
def mse_loss(
    m: torch.Tensor | float, c: torch.Tensor | float, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Return the mean squared error of the line y = m x + c on the points (x, y)."""
    ### BEGIN SOLUTION
    residuals = y - (m * x + c)
    return (residuals**2).mean()
    ### END SOLUTION


def mse_gradients(
    m: torch.Tensor | float, c: torch.Tensor | float, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (dL/dm, dL/dc), the gradient of the mean squared error."""
    ### BEGIN SOLUTION
    residuals = y - (m * x + c)
    return -2 * (x * residuals).mean(), -2 * residuals.mean()
    ### END SOLUTION


# %%
check.mse_loss(mse_loss)
check.mse_gradients(mse_gradients)

# %% [markdown]
# ### Task 5: gradient descent by hand
#
# Starting from m = c = 0, take `steps` steps of gradient descent with the learning rate
# below. At every step, append the current loss (as a Python float, `float(loss)`) to
# `losses_by_hand`, then update m and c with your gradients.

# %%
learning_rate = 0.1
steps = 500
m, c = 0.0, 0.0
losses_by_hand = []
### BEGIN SOLUTION
for _ in range(steps):
    losses_by_hand.append(float(mse_loss(m, c, x, y)))
    grad_m, grad_c = mse_gradients(m, c, x, y)
    m = m - learning_rate * grad_m
    c = c - learning_rate * grad_c
### END SOLUTION

# %%
check.descent(m, c, losses_by_hand, name="gradient descent by hand")

# %% [markdown]
# Plot what happened. The loss axis is logarithmic, because the loss falls by many orders of
# magnitude.

# %%
fig, (loss_axes, line_axes) = plt.subplots(1, 2, figsize=(10, 3.5))
loss_axes.semilogy(losses_by_hand)
loss_axes.set(xlabel="step", ylabel="mean squared error", title="Loss during gradient descent")
line_axes.scatter(x, y, color="black", label="data", zorder=3)
x_grid = torch.linspace(0, 4, 50)
line_axes.plot(x_grid, m * x_grid + c, label=f"fit: y = {float(m):.3f} x + {float(c):.3f}")
line_axes.set(xlabel="x", ylabel="y", title="The fitted line")
line_axes.legend()
fig.tight_layout()

# %% [markdown]
# ### The exact answer
#
# A straight line fitted by mean squared error is *linear least squares*, which has a
# closed-form solution. [`torch.linalg.lstsq`](https://docs.pytorch.org/docs/stable/generated/torch.linalg.lstsq.html)
# solves it for the design matrix whose rows are (x_i, 1). Gradient descent should agree with
# it to a few decimal places; that is what the checks test against.

# %%
design = torch.stack([x, torch.ones_like(x)], dim=1)
exact_m, exact_c = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1).tolist()
hand_fit = float(m), float(c)
print(f"least squares: m = {exact_m:.4f}, c = {exact_c:.4f}")
print(f"by hand:       m = {hand_fit[0]:.4f}, c = {hand_fit[1]:.4f}")

# %% [markdown]
# ### Task 6: the same fit with autograd
#
# Deriving gradients by hand is fine for a line and hopeless for a network with a million
# parameters. Let autograd do it. Make `m` and `c` tensors that track gradients, and in each
# step:
#
# 1. compute the loss with your `mse_loss` and append `loss.item()` to `losses_autograd`;
# 2. call `loss.backward()`, which fills in `m.grad` and `c.grad`;
# 3. update `m` and `c` in place (`m -= learning_rate * m.grad`) inside
#    [`with torch.no_grad():`](https://docs.pytorch.org/docs/stable/generated/torch.no_grad.html),
#    so that the update itself is not recorded as part of the next step's graph;
# 4. reset the gradients to zero with `m.grad.zero_()` and `c.grad.zero_()`, because they add
#    up.
#
# A common mistake here is `m = m - learning_rate * m.grad`: that makes a new tensor which no
# longer tracks gradients, so the next `backward()` fails. Update in place with `-=`.
#
# First, convince yourself that autograd agrees with your derivation:

# %%
m = torch.tensor(0.0, requires_grad=True)
c = torch.tensor(0.0, requires_grad=True)
mse_loss(m, c, x, y).backward()
print("autograd:", m.grad.item(), c.grad.item())
print("by hand: ", *(g.item() for g in mse_gradients(0.0, 0.0, x, y)))

# %%
m = torch.tensor(0.0, requires_grad=True)
c = torch.tensor(0.0, requires_grad=True)
losses_autograd = []
### BEGIN SOLUTION
for _ in range(steps):
    loss = mse_loss(m, c, x, y)
    losses_autograd.append(loss.item())
    loss.backward()
    with torch.no_grad():
        m -= learning_rate * m.grad
        c -= learning_rate * c.grad
    m.grad.zero_()
    c.grad.zero_()
### END SOLUTION

# %%
check.descent(m, c, losses_autograd, name="gradient descent with autograd")

# %% [markdown]
# ### Task 7: the same fit with `nn.Linear` and `torch.optim.SGD`
#
# PyTorch packages both halves of that loop. A layer
# [`nn.Linear(1, 1)`](https://docs.pytorch.org/docs/stable/generated/torch.nn.Linear.html)
# computes `weight * x + bias`: it *is* our line, with its parameters created for us (at
# small random values). An optimiser such as
# [`torch.optim.SGD`](https://docs.pytorch.org/docs/stable/generated/torch.optim.SGD.html)
# is handed the parameters once, then `optimizer.step()` applies the update and
# `optimizer.zero_grad()` clears the gradients. And
# [`nn.MSELoss`](https://docs.pytorch.org/docs/stable/generated/torch.nn.MSELoss.html) is
# the mean squared error.
#
# Layers take a batch of shape `(number of samples, number of features)`, so `inputs` below is
# `x` as a column of shape `(3, 1)`, and the layer's output has shape `(3, 1)` too. Make
# `targets` with the same shape, then write the loop: zero the gradients, compute the loss
# of `line(inputs)` against `targets`, call `backward()`, call `optimizer.step()`, and append
# `loss.item()` to `losses_sgd`.

# %%
line = nn.Linear(1, 1)
optimizer = torch.optim.SGD(line.parameters(), lr=learning_rate)
loss_fn = nn.MSELoss()
inputs = x.unsqueeze(1)
losses_sgd = []
### BEGIN SOLUTION
targets = y.unsqueeze(1)
for _ in range(steps):
    optimizer.zero_grad()
    loss = loss_fn(line(inputs), targets)
    loss.backward()
    optimizer.step()
    losses_sgd.append(loss.item())
### END SOLUTION

# %%
check.linear_fit(line, losses_sgd)

# %% [markdown]
# Three routes, one answer. The SGD curve starts elsewhere because `nn.Linear` starts from
# random values rather than zero.

# %%
fig, axes = plt.subplots(figsize=(5, 3.5))
for label, losses in [
    ("by hand", losses_by_hand),
    ("autograd", losses_autograd),
    ("nn.Linear + SGD", losses_sgd),
]:
    axes.semilogy(losses, label=label)
axes.set(xlabel="step", ylabel="mean squared error", title="Three ways, one descent")
axes.legend()
fig.tight_layout()
print(f"nn.Linear: m = {line.weight.item():.4f}, c = {line.bias.item():.4f}")

# %% [markdown]
# ## Discussion (optional)
#
# **1.** Set `learning_rate = 0.2` and run Task 5 again. What happens, and why?
#
# ### BEGIN SOLUTION
# The loss grows until it overflows to infinity or NaN. Each step overshoots the bottom of
# the valley and lands higher up the opposite side than it started, so the next step is
# larger still. How large a step is safe depends on how sharply the loss curves: here the
# steepest direction has a curvature of about 11, and gradient descent diverges for any
# learning rate above 2 / 11 ≈ 0.18. With 0.1 it converges.
# ### END SOLUTION
#
# **2.** The loss falls fast for the first few steps and then much more slowly. Why?
#
# ### BEGIN SOLUTION
# The loss surface is a long, narrow valley. Changing m moves every prediction by x (up to
# 3), changing c moves them all by 1, and raising m while lowering c changes the predictions
# near x = 2 hardly at all. Gradient descent quickly drops to the valley floor along the
# steep direction, then crawls along the nearly flat floor, where the gradient is small.
# Optimisers such as Adam (lesson 01) rescale each parameter's step to cope with this.
# ### END SOLUTION
#
# **3.** In Task 6, why must the update happen inside `torch.no_grad()`, and what goes wrong
# without `m.grad.zero_()`?
#
# ### BEGIN SOLUTION
# `m` is a leaf tensor that tracks gradients; changing it in place while recording is
# forbidden (PyTorch raises an error), and recording the update would make it part of the
# next step's graph. Under `no_grad` the update is plain arithmetic. Without zeroing, every
# `backward()` adds the new gradient to all the old ones, so each step follows the sum of
# every gradient seen so far rather than the current one: the fit overshoots, oscillates
# and does not settle at the least-squares line.
# ### END SOLUTION
#
# **4.** `torch.linalg.lstsq` solved the problem in one line. Why train neural networks by
# gradient descent instead?
#
# ### BEGIN SOLUTION
# The closed form exists because the model is linear in its parameters and the loss is a
# squared error. A neural network is not linear in its weights, and classifiers use other
# losses, so there is no formula to solve. Gradient descent needs only the gradient, which
# autograd provides for any model, and it works on mini-batches of data, so it scales to
# millions of parameters and samples.
# ### END SOLUTION

# %% [markdown]
# ## Quality bar
#
# All three fits must reach the least-squares line to within 0.001 in m and c.

# %%
assert check.descent(*hand_fit, losses_by_hand, name="gradient descent by hand")
assert check.descent(m, c, losses_autograd, name="gradient descent with autograd")
assert check.linear_fit(line, losses_sgd)
