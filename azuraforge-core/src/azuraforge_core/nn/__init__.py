"""Layers and models: Module, Parameter and the standard layers with PyTorch's names and layouts."""

from azuraforge_core.nn import init
from azuraforge_core.nn.layers import Dropout, Embedding, Flatten, LayerNorm, Linear, ReLU, Sigmoid, Tanh
from azuraforge_core.nn.module import Module, Parameter, Sequential

__all__ = [
    "Dropout",
    "Embedding",
    "Flatten",
    "LayerNorm",
    "Linear",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "init",
]
