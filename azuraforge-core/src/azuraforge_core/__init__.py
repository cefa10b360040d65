"""AzuraForge core: a numpy deep-learning engine with reverse-mode autograd and a PyTorch-shaped API.

from azuraforge_core import Tensor, nn, optim
from azuraforge_core import functional as F
"""

from azuraforge_core import allocator, functional, nn, optim
from azuraforge_core.random import manual_seed
from azuraforge_core.serialization import load, save
from azuraforge_core.tensor import Tensor, concatenate, is_grad_enabled, no_grad, stack, where
from azuraforge_core.threads import get_num_threads, set_num_threads

__all__ = [
    "Tensor",
    "allocator",
    "concatenate",
    "functional",
    "get_num_threads",
    "is_grad_enabled",
    "load",
    "manual_seed",
    "nn",
    "no_grad",
    "optim",
    "save",
    "set_num_threads",
    "stack",
    "where",
]
