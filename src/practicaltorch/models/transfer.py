"""Transfer learning: a torchvision backbone with a new output layer.

A network trained on ImageNet has learnt edges, textures and shapes that are
useful far beyond its 1000 classes. Transfer learning keeps those layers (the
*backbone*) and replaces only the last ``Linear`` layer (the *head*) with a new
one sized for the task at hand, then trains, often only the head at first.

Pretrained weights come from torchvision's weight enums and live in the torch
hub cache (``torch.hub.get_dir() / "checkpoints"``), so a file fetched once
with ``practicaltorch fetch --weights resnet18`` (or :func:`fetch_weights`) is
found by every later run, offline too. ``pretrained=False`` needs no download
at all: the same architecture starts from random weights.
"""

from __future__ import annotations

import difflib
import os
import urllib.error
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor, nn
from torchvision.models import get_model, get_model_weights, list_models

from practicaltorch.data.download import download_timeout, network_timeout
from practicaltorch.data.errors import CorruptDataError, DataNotFoundError, DownloadError

__all__ = [
    "TESTED_ARCHITECTURES",
    "TransferNet",
    "fetch_weights",
    "pretrained_transforms",
    "transfer_model",
    "weights_path",
]

TESTED_ARCHITECTURES: tuple[str, ...] = ("resnet18", "mobilenet_v3_small")
"""Backbones the course uses and the tests cover. Any torchvision classification
model whose last layer is ``nn.Linear`` (ResNets, MobileNets, EfficientNets,
ConvNeXts, VGGs, DenseNets, ViTs, ...) also works."""


def _check_arch(arch: str) -> None:
    known = list_models(module=torchvision.models)
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3)
        hint = f" did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"unknown torchvision classification model {arch!r};{hint} tested here: "
            f"{list(TESTED_ARCHITECTURES)}; all: torchvision.models.list_models()"
        )


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """Find the last ``nn.Linear`` in ``model``: its dotted name and itself."""
    found: tuple[str, nn.Linear] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            found = (str(name), module)
    if found is None:
        raise ValueError(
            f"{type(model).__name__} has no nn.Linear layer to replace; transfer_model "
            "supports models whose classifier ends in a Linear layer"
        )
    return found


class TransferNet(nn.Module):
    """A torchvision backbone whose last ``Linear`` layer is replaced by a new head.

    Building a ``TransferNet`` never downloads anything: the backbone starts
    with random weights. :func:`transfer_model` builds one and loads the
    pretrained ImageNet weights into its backbone; a saved, fine-tuned
    ``TransferNet`` is rebuilt from its ``config`` and ``state_dict`` alone
    (:func:`practicaltorch.models.load_model`).

    Parameters
    ----------
    arch
        A torchvision classification model name, for example ``"resnet18"``
        or ``"mobilenet_v3_small"``.
    num_outputs
        Size of the new head: classes for classification, targets for regression.

    Attributes
    ----------
    backbone : torch.nn.Module
        The torchvision model, new head included.
    head_name : str
        Where the head sits inside ``backbone``, for example ``"fc"`` or
        ``"classifier.3"``.

    Examples
    --------
    >>> net = TransferNet("resnet18", num_outputs=4)
    >>> net(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 4])
    """

    __jit_unused_properties__ = ["head"]  # noqa: RUF012 - TorchScript reads this list

    def __init__(self, arch: str = "resnet18", num_outputs: int = 1000) -> None:
        super().__init__()
        _check_arch(arch)
        if num_outputs < 1:
            raise ValueError(f"num_outputs must be at least 1, got {num_outputs}")
        self.input_shape = (3, 224, 224)
        """One sample's shape, without the batch dimension: ImageNet's size."""
        self.config: dict[str, Any] = {"arch": arch, "num_outputs": num_outputs}
        self.backbone: nn.Module = get_model(arch, weights=None)
        self.head_name, old = _last_linear(self.backbone)
        self.backbone.set_submodule(self.head_name, nn.Linear(old.in_features, num_outputs))

    @property
    def head(self) -> nn.Linear:
        """The new output layer, inside ``backbone`` at :attr:`head_name`."""
        layer = self.backbone.get_submodule(self.head_name)
        assert isinstance(layer, nn.Linear)
        return layer

    def load_backbone(self, state: dict[str, Tensor]) -> None:
        """Load pretrained weights for the original model, keeping the new head.

        Parameters
        ----------
        state
            The ``state_dict`` of the unmodified torchvision model (with its
            ImageNet head, which is dropped).
        """
        head_keys = {f"{self.head_name}.weight", f"{self.head_name}.bias"}
        kept = {k: v for k, v in state.items() if k not in head_keys}
        missing, unexpected = self.backbone.load_state_dict(kept, strict=False)
        if set(missing) != head_keys or unexpected:
            raise CorruptDataError(
                f"the pretrained weights do not fit {self.config['arch']}: missing "
                f"{sorted(set(missing) - head_keys)[:5]}, unexpected {sorted(unexpected)[:5]}"
            )

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Stop (or restart) training every layer except the head.

        Parameters
        ----------
        frozen
            ``True`` to freeze the backbone, ``False`` to unfreeze it for fine-tuning.
        """
        for parameter in self.backbone.parameters():
            parameter.requires_grad = not frozen
        for parameter in self.head.parameters():
            parameter.requires_grad = True

    def forward(self, images: Tensor) -> Tensor:
        """Map ``(N, 3, H, W)`` normalised images to ``(N, num_outputs)``."""
        return self.backbone(images)  # type: ignore[no-any-return]


def _default_weights(arch: str) -> Any:
    _check_arch(arch)
    try:
        return get_model_weights(arch).DEFAULT
    except (ValueError, AttributeError) as error:  # pragma: no cover - all have weights today
        raise ValueError(f"torchvision has no pretrained weights for {arch!r}") from error


def weights_path(arch: str) -> Path:
    """Return where the pretrained weights of ``arch`` are (or would be) cached.

    Parameters
    ----------
    arch
        A torchvision model name, for example ``"resnet18"``.

    Returns
    -------
    pathlib.Path
        ``torch.hub.get_dir()/checkpoints/<file name>``, the place torchvision
        itself looks; the file may not exist yet.
    """
    url = str(_default_weights(arch).url)
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _fetch_hint(arch: str) -> str:
    return (
        f"Fetch them once while online with `practicaltorch fetch --weights {arch}` "
        f"(or copy {os.path.basename(weights_path(arch))} into {weights_path(arch).parent}); "
        "or use pretrained=False, which works offline and trains from random weights."
    )


def fetch_weights(arch: str, *, progress: bool = False) -> Path:
    """Download the default pretrained weights of ``arch`` into the torch hub cache.

    The download goes to a temporary file and is checked against the SHA-256
    prefix in the file name (torchvision's convention) before it is moved into
    place, so a broken download never leaves a bad file in the cache. Each
    network call gives up after
    :func:`~practicaltorch.data.download.download_timeout` seconds (60 unless
    ``$PRACTICALTORCH_DOWNLOAD_TIMEOUT`` says otherwise).

    Parameters
    ----------
    arch
        A torchvision model name, for example ``"resnet18"``.
    progress
        Show a download progress bar.

    Returns
    -------
    pathlib.Path
        The cached weights file (returned at once if it is already there).

    Raises
    ------
    DownloadError
        If the host cannot be reached, does not answer in time, or the file's
        checksum is wrong.
    ValueError
        If ``$PRACTICALTORCH_DOWNLOAD_TIMEOUT`` is not a positive number.
    """
    weights = _default_weights(arch)
    path = weights_path(arch)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(path.name)
    hash_prefix = match.group(1) if match else None
    timeout = download_timeout()
    try:
        # A silent network must not hang a notebook. torch.hub writes to a temporary
        # file and moves it into place only once its hash matched.
        with network_timeout(timeout):
            torch.hub.download_url_to_file(weights.url, str(path), hash_prefix, progress=progress)
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        # torch.hub raises URLError/OSError when offline, RuntimeError on a bad hash.
        path.unlink(missing_ok=True)
        reason = f"no answer within {timeout:g} s" if _timed_out(error) else str(error)
        raise DownloadError(
            f"could not download the pretrained {arch} weights from {weights.url} "
            f"({type(error).__name__}: {reason}). Check the network connection (or a "
            f"proxy), then run `practicaltorch fetch --weights {arch}` again; "
            "pretrained=False works offline."
        ) from error
    return path


def _timed_out(error: BaseException) -> bool:
    """Whether a download error is a timeout, possibly wrapped in a URLError."""
    if isinstance(error, urllib.error.URLError):
        return isinstance(error.reason, TimeoutError)
    return isinstance(error, TimeoutError)


def pretrained_transforms(arch: str) -> Any:
    """Return the preprocessing the pretrained weights of ``arch`` expect.

    Parameters
    ----------
    arch
        A torchvision model name.

    Returns
    -------
    Callable
        torchvision's transform for those weights: resize, crop, scale to
        ``[0, 1]`` and normalise with the ImageNet mean and standard deviation.
    """
    return _default_weights(arch).transforms()


def transfer_model(
    arch: str = "resnet18",
    num_outputs: int = 1000,
    pretrained: bool = False,
    *,
    download: bool = True,
    freeze_backbone: bool = False,
    progress: bool = False,
) -> TransferNet:
    """Build a torchvision backbone with a new ``Linear`` head of ``num_outputs``.

    Parameters
    ----------
    arch
        A torchvision classification model, for example ``"resnet18"`` or
        ``"mobilenet_v3_small"``.
    num_outputs
        Size of the new head.
    pretrained
        Start the backbone from torchvision's default ImageNet weights
        (``False``: random weights, no files needed).
    download
        When the weights are not cached, try to download them; ``False``
        raises :class:`DataNotFoundError` instead.
    freeze_backbone
        Train only the new head (see :meth:`TransferNet.freeze_backbone`).
    progress
        Show a download progress bar.

    Returns
    -------
    TransferNet
        Rebuildable with ``build_model("TransferNet", net.config)``.

    Raises
    ------
    DataNotFoundError
        If ``pretrained`` and the weights are not cached and ``download`` is ``False``.
    DownloadError
        If ``pretrained`` and the weights are not cached and cannot be downloaded.
    CorruptDataError
        If the cached weights file is damaged.

    Examples
    --------
    >>> net = transfer_model("mobilenet_v3_small", num_outputs=4)
    >>> net.head
    Linear(in_features=1024, out_features=4, bias=True)
    """
    net = TransferNet(arch, num_outputs)
    if pretrained:
        path = weights_path(arch)
        if not path.is_file():
            if not download:
                raise DataNotFoundError(
                    f"the pretrained {arch} weights are not in the cache ({path}). "
                    + _fetch_hint(arch)
                )
            try:
                path = fetch_weights(arch, progress=progress)
            except DownloadError as error:
                raise DownloadError(
                    f"the pretrained {arch} weights are not in the cache ({path}) and "
                    f"could not be downloaded ({error.__cause__ or error}). " + _fetch_hint(arch)
                ) from error
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for bad files
            raise CorruptDataError(
                f"{path} is not a readable weights file ({type(error).__name__}); delete "
                f"it and run `practicaltorch fetch --weights {arch}` again"
            ) from error
        net.load_backbone(state)
    if freeze_backbone:
        net.freeze_backbone()
    return net
