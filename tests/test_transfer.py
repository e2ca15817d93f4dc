"""Transfer learning: head replacement, rebuilding, and pretrained weights offline.

No test here touches the network: downloads are replaced by stubs and the torch
hub cache is pointed at a temporary folder.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torchvision.models import get_model

from practicaltorch.data.errors import CorruptDataError, DataNotFoundError, DownloadError
from practicaltorch.models import ARCHITECTURES, build_model
from practicaltorch.models import transfer as transfer_module
from practicaltorch.models.transfer import (
    TransferNet,
    fetch_weights,
    transfer_model,
    weights_path,
)


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and downloads that fail as if offline."""
    folder = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(folder))

    def offline(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return folder


@pytest.mark.parametrize(
    ("arch", "head_name", "in_features"),
    [("resnet18", "fc", 512), ("mobilenet_v3_small", "classifier.3", 1024)],
)
def test_head_is_replaced(arch: str, head_name: str, in_features: int) -> None:
    net = transfer_model(arch, num_outputs=4)
    assert isinstance(net.head, nn.Linear)
    assert (net.head.in_features, net.head.out_features) == (in_features, 4)
    assert net.head_name == head_name
    assert net.backbone.get_submodule(head_name) is net.head
    net.eval()
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 4)


def test_rebuild_through_build_model() -> None:
    assert ARCHITECTURES["TransferNet"] is TransferNet
    net = transfer_model("mobilenet_v3_small", num_outputs=3).eval()
    rebuilt = build_model("TransferNet", net.config)
    rebuilt.load_state_dict(net.state_dict())
    rebuilt.eval()
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(net(x), rebuilt(x))


def test_freeze_backbone_trains_only_the_head() -> None:
    net = transfer_model("resnet18", num_outputs=2, freeze_backbone=True)
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.fc.weight", "backbone.fc.bias"}
    net.freeze_backbone(False)
    assert all(p.requires_grad for p in net.parameters())


def test_offline_pretrained_says_how_to_fetch(hub_dir: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        transfer_model("resnet18", num_outputs=4, pretrained=True)
    message = str(caught.value)
    assert "practicaltorch fetch --weights resnet18" in message
    assert "pretrained=False" in message
    assert not weights_path("resnet18").exists()


def test_no_download_allowed_raises_not_found(hub_dir: Path) -> None:
    with pytest.raises(DataNotFoundError, match="fetch --weights mobilenet_v3_small"):
        transfer_model("mobilenet_v3_small", num_outputs=4, pretrained=True, download=False)


def test_fetch_weights_offline_and_bad_hash(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DownloadError, match="could not download"):
        fetch_weights("resnet18")

    def bad_hash(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        Path(dst).write_bytes(b"not weights")
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "0000")')

    monkeypatch.setattr(torch.hub, "download_url_to_file", bad_hash)
    with pytest.raises(DownloadError, match="invalid hash"):
        fetch_weights("resnet18")
    assert not weights_path("resnet18").exists()


def test_fetch_weights_checks_hash_and_returns_the_cache_path(
    hub_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def fake(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        calls.append({"url": url, "dst": dst, "hash_prefix": hash_prefix})
        Path(dst).write_bytes(b"stub")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake)
    path = fetch_weights("resnet18")
    assert path == hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    assert calls[0]["hash_prefix"] == "f37072fd"
    assert fetch_weights("resnet18") == path  # cached: no second download
    assert len(calls) == 1


def test_pretrained_loads_cached_weights_and_keeps_a_new_head(hub_dir: Path) -> None:
    torch.manual_seed(0)
    original = get_model("resnet18", weights=None)
    path = weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(original.state_dict(), path)

    net = transfer_model("resnet18", num_outputs=4, pretrained=True)
    assert torch.equal(net.backbone.conv1.weight, original.conv1.weight)
    assert torch.equal(net.backbone.layer4[1].bn2.running_var, original.layer4[1].bn2.running_var)
    assert net.head.out_features == 4


def test_corrupt_cached_weights(hub_dir: Path) -> None:
    path = weights_path("resnet18")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    with pytest.raises(CorruptDataError, match="fetch --weights resnet18"):
        transfer_model("resnet18", num_outputs=4, pretrained=True)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        transfer_model("resnet_18", num_outputs=4)
    with pytest.raises(ValueError, match="num_outputs"):
        TransferNet("resnet18", num_outputs=0)


def test_pretrained_transforms_normalise_like_imagenet() -> None:
    transforms = transfer_module.pretrained_transforms("resnet18")
    assert list(transforms.mean) == pytest.approx([0.485, 0.456, 0.406])
