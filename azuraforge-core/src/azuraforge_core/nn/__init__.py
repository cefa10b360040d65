"""Layers and models: Module, Parameter and the standard layers with PyTorch's names and layouts."""

from azuraforge_core.nn import init
from azuraforge_core.nn.conv import AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2D, MaxPool2D
from azuraforge_core.nn.layers import (
    GELU,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from azuraforge_core.nn.module import Module, ModuleDict, ModuleList, Parameter, Sequential
from azuraforge_core.nn.normalization import BatchNorm1d, BatchNorm2d
from azuraforge_core.nn.recurrent import GRU, LSTM
from azuraforge_core.nn.transformer import MultiheadAttention, TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "GELU",
    "GRU",
    "LSTM",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "Linear",
    "MaxPool2D",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MultiheadAttention",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "init",
]
