"""Optimizers, gradient clipping and learning-rate schedulers with PyTorch's names and numerics."""

from azuraforge_core.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from azuraforge_core.optim.optimizers import SGD, Adam, AdamW, Optimizer, clip_grad_norm_

__all__ = ["SGD", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "Optimizer", "StepLR", "clip_grad_norm_"]
