"""Tensor, the Function protocol and the reverse-mode backward walk.

Every differentiable operation is a `Function` subclass with a `forward(ctx, *arrays)` that computes
numpy results and a `backward(ctx, *grads)` that returns one gradient per input. `Function.apply`
wires the graph; `Tensor.backward` walks it. Broadcasting is undone in exactly one place
(`_unbroadcast`), so no op has to care about it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

Array = NDArray[Any]

DEFAULT_DTYPE = np.float32

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block no graph is recorded, as in `torch.no_grad()`."""
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


def _as_array(data: Any, dtype: DTypeLike | None) -> Array:
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray):
        # Arrays keep their dtype (float64 stays float64 for gradient checks); only an explicit
        # dtype converts them. Python scalars and lists become float32, as torch.tensor does.
        if dtype is not None:
            return data.astype(dtype, copy=False)
        if data.dtype.kind in "fiub":
            return data
        raise TypeError(f"Tensor data must be numeric, got numpy dtype {data.dtype}")
    array = np.asarray(data)
    if dtype is not None:
        return array.astype(dtype, copy=False)
    if array.dtype.kind == "f" or array.dtype.kind == "O":
        return array.astype(DEFAULT_DTYPE)
    if array.dtype.kind in "iub":
        return array
    raise TypeError(f"Tensor data must be numeric, got {type(data).__name__} of dtype {array.dtype}")


def _unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum a gradient that numpy broadcasting expanded back down to the input's shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class Function:
    """One node of the graph. Subclasses define `forward` and `backward` as static methods.

    `forward(ctx, *inputs, **options)` receives numpy arrays for Tensor inputs (other arguments pass
    through unchanged) and returns an array, or a tuple of arrays for several outputs.
    `backward(ctx, *grads)` receives one gradient per output and returns one gradient (or None) per
    input; `ctx.needs_input_grad[i]` says whether input i wants one, so work can be skipped.
    Save what backward needs on `ctx` as attributes; they are dropped once backward has run.
    """

    differentiable: ClassVar[bool] = True

    def __init__(self, parents: tuple[Any, ...]) -> None:
        self.parents = parents
        self.needs_input_grad = tuple(isinstance(p, Tensor) and p.requires_grad for p in parents)
        self.output_grads: list[Array | None] = []
        self.output_shapes: list[tuple[int, ...]] = []
        self.output_dtypes: list[np.dtype[Any]] = []
        self.released = False

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Any:
        ctx = cls(inputs)
        arrays = [p.data if isinstance(p, Tensor) else p for p in inputs]
        result = cls.forward(ctx, *arrays, **kwargs)
        track = cls.differentiable and is_grad_enabled() and any(ctx.needs_input_grad)
        if isinstance(result, tuple):
            outputs = tuple(Tensor._from_op(r, ctx if track else None, i) for i, r in enumerate(result))
        else:
            outputs = (Tensor._from_op(result, ctx if track else None, 0),)
        if track:
            ctx.output_grads = [None] * len(outputs)
            ctx.output_shapes = [o.shape for o in outputs]
            ctx.output_dtypes = [o.dtype for o in outputs]
        else:
            ctx.parents = ()
            ctx.__dict__.clear()
        return outputs if isinstance(result, tuple) else outputs[0]

    def _release(self) -> None:
        """Drop saved arrays and parent links so the graph's memory is freed after backward."""
        keep = {"released": True, "needs_input_grad": self.needs_input_grad}
        self.__dict__.clear()
        self.__dict__.update(keep)
        self.parents = ()
        self.output_grads = []


class Tensor:
    """An n-dimensional array that records the operations applied to it for reverse-mode autograd."""

    __array_priority__ = 1000  # so numpy_array + tensor calls Tensor.__radd__

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: DTypeLike | None = None):
        self.data: Array = _as_array(data, dtype)
        self.grad: Array | None = None
        self._ctx: Function | None = None
        self._output_index = 0
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, data: Array, ctx: Function | None, index: int) -> Tensor:
        out = cls.__new__(cls)
        out.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        out.grad = None
        out._ctx = ctx
        out._output_index = index
        out.requires_grad = ctx is not None
        return out

    # ----- plain accessors ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> Array:
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, separator=', ')}{grad})"

    # ----- backward -------------------------------------------------------------------------
    def backward(self, grad: ArrayLike | Tensor | None = None) -> None:
        """Accumulate d(self)/d(leaf) * grad into `.grad` of every leaf that requires it."""
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar output, got shape {self.shape}; "
                    "pass grad= with the same shape as the output"
                )
            seed = np.ones_like(self.data)
        else:
            seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"backward() grad has shape {seed.shape}, the output has shape {self.shape}")
        if self._ctx is None:
            self._accumulate_leaf(seed)
            return
        if self._ctx.released:
            raise RuntimeError("this graph was already backpropagated and its buffers freed; recompute the forward")
        self._ctx.output_grads[self._output_index] = seed
        for ctx in _topological_order(self._ctx):
            grads_out = [
                g if g is not None else np.zeros(shape, dtype=dtype)
                for g, shape, dtype in zip(ctx.output_grads, ctx.output_shapes, ctx.output_dtypes, strict=True)
            ]
            grads_in = type(ctx).backward(ctx, *grads_out)
            if not isinstance(grads_in, tuple):
                grads_in = (grads_in,)
            for parent, needs, g in zip(ctx.parents, ctx.needs_input_grad, grads_in, strict=False):
                if not needs or g is None:
                    continue
                g = _unbroadcast(np.asarray(g), parent.shape).astype(parent.dtype, copy=False)
                if parent._ctx is None:
                    parent._accumulate_leaf(g)
                else:
                    slot = parent._output_index
                    held = parent._ctx.output_grads[slot]
                    parent._ctx.output_grads[slot] = g if held is None else held + g
            ctx._release()

    def _accumulate_leaf(self, grad: Array) -> None:
        # A fresh copy the first time: the op may hand back a view of a buffer it reuses.
        self.grad = np.array(grad, dtype=self.dtype) if self.grad is None else self.grad + grad


def _topological_order(root: Function) -> list[Function]:
    """Nodes ordered so that each comes before every node that produced its inputs (iterative DFS)."""
    order: list[Function] = []
    visited: set[int] = {id(root)}
    stack: list[tuple[Function, Iterator[Any]]] = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            ctx = parent._ctx if isinstance(parent, Tensor) else None
            if ctx is not None and id(ctx) not in visited:
                if ctx.released:
                    raise RuntimeError(
                        "part of this graph was already backpropagated and its buffers freed; recompute the forward"
                    )
                visited.add(id(ctx))
                stack.append((ctx, iter(ctx.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order
