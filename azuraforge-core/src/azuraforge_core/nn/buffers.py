"""A pool of large work arrays that the fused kernels (LSTM, GRU, Conv2D, MaxPool2D) reuse between calls."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from azuraforge_core.tensor import Array


class BufferPool(threading.local):
    """Large work arrays kept from one call to the next instead of allocated afresh.

    Arrays of this size freed at the end of every training step make the C allocator hand their
    pages back to the OS and fault them in again on the next step, which costs more than the
    arithmetic on them. A kernel take()s its internal arrays here and give()s them back once nothing
    can see them any more: never an array (or a view of one) that a caller received. The pool keeps
    at most `capacity` arrays and `max_bytes` in all, so memory it holds stays bounded; for arrays
    larger than that the page faults cost little next to the arithmetic anyway.
    """

    capacity = 16
    max_bytes = 256 << 20

    def __init__(self) -> None:
        self.free: list[Array] = []

    def take(self, shape: tuple[int, ...], dtype: Any) -> Array:
        size, dtype = math.prod(shape), np.dtype(dtype)
        fitting = [k for k, buffer in enumerate(self.free) if buffer.dtype == dtype and size <= buffer.size <= 2 * size]
        if not fitting:
            return np.empty(size, dtype=dtype).reshape(shape)
        smallest = min(fitting, key=lambda k: self.free[k].size)
        return self.free.pop(smallest)[:size].reshape(shape)

    def give(self, *arrays: Array) -> None:
        """Return arrays from take() (or views of them); the most recently returned are kept."""
        for array in arrays:
            self.free.append(array if array.base is None else array.base)
        del self.free[: -self.capacity]
        while sum(buffer.nbytes for buffer in self.free) > self.max_bytes:
            del self.free[0]


buffer_pool = BufferPool()
