"""A small convolutional network for 28x28 single-channel digits (MNIST)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["DigitCNN"]


class DigitCNN(nn.Module):
    """A compact CNN for small grey-scale images such as MNIST digits.

    The network is a stack of stages, one per entry of ``channels``. Each stage
    is ``convs_per_stage`` times ``Conv2d(3x3) -> [BatchNorm2d] -> ReLU``, with
    2x2 max pooling straight after the stage's last convolution, so a 28x28
    image shrinks to 14x14, then 7x7, and so on. Pooling before the batch norm
    and activation (rather than after) gives an equally good network but does
    their work on a quarter of the pixels, which on a CPU is a large share of
    the training time. The feature map is flattened and classified by
    ``Linear(hidden) -> ReLU -> [Dropout] -> Linear(num_classes)``, which
    outputs logits (train with ``nn.CrossEntropyLoss``).

    The network works with either memory layout. For speed on CPUs convert it
    and its inputs to ``torch.channels_last``::

        model = model.to(memory_format=torch.channels_last)

    Parameters
    ----------
    num_classes
        Number of outputs (logits).
    in_channels
        Channels of the input images (1 for grey-scale).
    image_size
        Height and width of the (square) input images.
    channels
        Output channels of each stage. The default ``(8, 16, 32)`` reaches 99%
        on MNIST in three epochs; wider stages learn a little more, slower.
    convs_per_stage
        Convolutions in each stage before pooling.
    hidden
        Width of the hidden fully-connected layer; 0 classifies the flattened
        features directly.
    batch_norm
        Batch normalisation after each convolution.
    dropout
        Dropout probability before the output layer (0 for none).

    Examples
    --------
    >>> import torch
    >>> DigitCNN()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        channels: Sequence[int] = (8, 16, 32),
        *,
        convs_per_stage: int = 1,
        hidden: int = 128,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not channels or any(c < 1 for c in channels):
            raise ValueError(
                f"channels must be a non-empty list of positive widths, got {channels}"
            )
        if num_classes < 1 or in_channels < 1 or hidden < 0 or convs_per_stage < 1:
            raise ValueError(
                f"sizes must be positive: num_classes={num_classes}, in_channels={in_channels}, "
                f"hidden={hidden}, convs_per_stage={convs_per_stage}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        side = image_size // 2 ** len(channels)
        if side < 1:
            raise ValueError(
                f"{len(channels)} stages halve a {image_size}x{image_size} image to nothing; "
                f"use at most {image_size.bit_length() - 1} stages"
            )
        self.input_shape = (in_channels, image_size, image_size)
        """One sample's shape, without the batch dimension (exports build examples from it)."""
        self.config = {
            "num_classes": num_classes,
            "in_channels": in_channels,
            "image_size": image_size,
            "channels": list(channels),
            "convs_per_stage": convs_per_stage,
            "hidden": hidden,
            "batch_norm": batch_norm,
            "dropout": dropout,
        }
        layers: list[nn.Module] = []
        width = in_channels
        for out in channels:
            for k in range(convs_per_stage):
                layers.append(nn.Conv2d(width, out, kernel_size=3, padding=1, bias=not batch_norm))
                if k == convs_per_stage - 1:  # pool first: less work for BN and ReLU
                    layers.append(nn.MaxPool2d(2))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU(inplace=True))
                width = out
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        features = width * side * side
        if hidden > 0:
            head += [nn.Linear(features, hidden), nn.ReLU(inplace=True)]
            features = hidden
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(features, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        """Map images ``(N, in_channels, H, W)`` to logits ``(N, num_classes)``."""
        return self.classifier(self.features(x))  # type: ignore[no-any-return]
