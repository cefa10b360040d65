"""What the Learner trains on: a pair of arrays (inputs, targets) or any Dataset that hands out batches."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]


@runtime_checkable
class Dataset(Protocol):
    """Samples addressed by index: `dataset[indices]` returns (inputs, targets) for those samples."""

    def __len__(self) -> int: ...

    def __getitem__(self, indices: NDArray[np.intp]) -> tuple[Array, Array]: ...


class ArrayDataset:
    """Inputs and targets held in memory; floating-point data is used as float32, the core's working dtype."""

    def __init__(self, inputs: Array, targets: Array) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"inputs have {len(inputs)} samples but targets have {len(targets)}; they must match")
        self.inputs = _working_dtype(np.asarray(inputs))
        self.targets = _working_dtype(np.asarray(targets))

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, indices: NDArray[np.intp]) -> tuple[Array, Array]:
        return self.inputs[indices], self.targets[indices]


def _working_dtype(array: Array) -> Array:
    return array.astype(np.float32, copy=False) if array.dtype.kind == "f" else array


Data = tuple[Array, Array] | Dataset


def as_dataset(data: Data) -> Dataset:
    if isinstance(data, tuple):
        return ArrayDataset(*data)
    if isinstance(data, Dataset) and not isinstance(data, np.ndarray | list):
        return data
    raise TypeError(f"expected a tuple (inputs, targets) of arrays or a Dataset, got {type(data).__name__}")
