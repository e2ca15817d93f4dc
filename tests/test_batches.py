import pytest
import torch

from practicaltorch.data import TensorBatches


def test_every_sample_once_per_epoch_in_shuffled_order() -> None:
    x = torch.arange(103).float().unsqueeze(1)
    y = torch.arange(103)
    batches = TensorBatches(x, y, batch_size=10, shuffle=True, seed=1)
    assert len(batches) == 11
    epoch1 = torch.cat([yb for _, yb in batches])
    epoch2 = torch.cat([yb for _, yb in batches])
    assert sorted(epoch1.tolist()) == list(range(103))
    assert not torch.equal(epoch1, epoch2), "a new order every epoch"
    assert not torch.equal(epoch1, y), "shuffled"
    for xb, yb in batches:
        assert torch.equal(xb.squeeze(1).long(), yb), "inputs stay paired with targets"


def test_same_seed_same_batches_and_drop_last() -> None:
    x, y = torch.randn(50, 3), torch.arange(50)
    a = [yb for _, yb in TensorBatches(x, y, 16, shuffle=True, seed=7, drop_last=True)]
    b = [yb for _, yb in TensorBatches(x, y, 16, shuffle=True, seed=7, drop_last=True)]
    assert len(a) == 3 and all(len(t) == 16 for t in a)
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_state_dict_resumes_the_shuffle() -> None:
    x, y = torch.randn(40, 2), torch.arange(40)
    batches = TensorBatches(x, y, 8, shuffle=True, seed=3)
    list(batches)
    state = batches.state_dict()
    expected = [yb for _, yb in batches]
    again = TensorBatches(x, y, 8, shuffle=True, seed=99)
    again.load_state_dict(state)
    assert all(torch.equal(p, q) for p, q in zip(expected, (yb for _, yb in again)))


def test_channels_last_and_validation() -> None:
    x, y = torch.randn(6, 3, 4, 4), torch.zeros(6)
    xb, _ = next(iter(TensorBatches(x, y, 4, memory_format=torch.channels_last)))
    assert xb.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="differ in length"):
        TensorBatches(x, torch.zeros(5), 2)
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatches(x, y, 0)
