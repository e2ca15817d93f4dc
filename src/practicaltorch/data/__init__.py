"""Datasets for the course, with torchvision-style signatures, and fast batching."""

from practicaltorch.data.batches import TensorBatches

__all__ = ["TensorBatches"]
