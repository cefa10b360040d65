"""Layers and models: Module, Parameter and the standard layers with PyTorch's names and layouts."""

from azuraforge_core.nn import init
from azuraforge_core.nn.conv import Conv2D, MaxPool2D
from azuraforge_core.nn.layers import Dropout, Embedding, Flatten, LayerNorm, Linear, ReLU, Sigmoid, Tanh
from azuraforge_core.nn.module import Module, Parameter, Sequential
from azuraforge_core.nn.recurrent import GRU, LSTM

__all__ = [
    "GRU",
    "LSTM",
    "Conv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "LayerNorm",
    "Linear",
    "MaxPool2D",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "init",
]
