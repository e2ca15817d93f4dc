import random

import numpy as np
import pytest
import torch

from practicaltorch.devices import (
    available_devices,
    configure_threads,
    pick_device,
    seed_everything,
)


def test_pick_device_prefers_best_available() -> None:
    device = pick_device()
    expected = (
        "cuda" if torch.cuda.is_available() else ("mps" if "mps" in available_devices() else "cpu")
    )
    assert device.type == expected


def test_cpu_is_always_available() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert available_devices()[-1] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_names_what_is_available() -> None:
    with pytest.raises(RuntimeError, match=r"CUDA was requested.*Available here: \[.*'cpu'\]"):
        pick_device("cuda:1")


def test_nonsense_device_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="not a device name"):
        pick_device("gpu-please")


def test_seed_everything_repeats_all_generators() -> None:
    def draw() -> tuple[float, float, float]:
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_configure_threads_explicit_and_invalid() -> None:
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1
        with pytest.raises(ValueError):
            configure_threads(0)
    finally:
        torch.set_num_threads(before)
