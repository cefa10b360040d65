# Function.apply returns Any: a Tensor or a tuple of them.
# mypy: disable-error-code="no-any-return"
"""Tensor, the Function protocol and the reverse-mode backward walk.

Every differentiable operation is a `Function` subclass with a `forward(ctx, *arrays)` that computes
numpy results and a `backward(ctx, *grads)` that returns one gradient per input. `Function.apply`
wires the graph; `Tensor.backward` walks it. Broadcasting is undone in exactly one place
(`_unbroadcast`), so no op has to care about it. The ops themselves live in `ops.py`.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

Array = NDArray[Any]
Axis = int | tuple[int, ...] | None

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
    Incoming gradients may be shared or read-only views: read them, never write into them.
    Save what backward needs on `ctx` as attributes; they are dropped once backward has run.
    """

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
        track = is_grad_enabled() and any(ctx.needs_input_grad)
        if isinstance(result, tuple):
            outputs = tuple(Tensor._from_op(r, ctx if track else None, i) for i, r in enumerate(result))
        else:
            outputs = (Tensor._from_op(result, ctx if track else None, 0),)
        if track:
            ctx.output_grads = [None] * len(outputs)
            ctx.output_shapes = [o.shape for o in outputs]
            ctx.output_dtypes = [o.dtype for o in outputs]
        else:
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

    # numpy defers its binary operators to ours (array + tensor calls Tensor.__radd__).
    __array_ufunc__ = None

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

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        return bool(self.data)

    def numpy(self) -> Array:
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        return Tensor(self.data)

    def argmax(self, axis: int | None = None) -> Tensor:
        """Indices of the maxima (no gradient), as int64."""
        return Tensor(np.argmax(self.data, axis=axis))

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, separator=', ')}{grad})"

    # ----- arithmetic -----------------------------------------------------------------------
    def _operand(self, other: Any) -> Tensor | Array:
        """A Tensor stays one; anything else becomes a constant array of this tensor's float dtype."""
        if isinstance(other, Tensor):
            return other
        return _as_array(other, self.dtype if self.dtype.kind == "f" else None)

    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, self._operand(other))

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(self._operand(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, self._operand(other))

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self._operand(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, self._operand(other))

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self._operand(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, self._operand(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self._operand(other), self)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.Pow.apply(self, self._operand(exponent))

    def __rpow__(self, base: Any) -> Tensor:
        return ops.Pow.apply(self._operand(base), self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, self._operand(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self._operand(other), self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    # Comparisons give plain boolean tensors that carry no gradient.
    def _compare(self, other: Any) -> Array:
        return other.data if isinstance(other, Tensor) else np.asarray(other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data == self._compare(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data != self._compare(other))

    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < self._compare(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= self._compare(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > self._compare(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= self._compare(other))

    # ----- elementwise functions ------------------------------------------------------------
    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return ops.Relu.apply(self)

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        if min is None and max is None:
            raise ValueError("clip() needs at least one of min= or max=")
        return ops.Clip.apply(self, low=min, high=max)

    def astype(self, dtype: DTypeLike) -> Tensor:
        """A copy converted to `dtype`; gradients flow back converted to this tensor's dtype."""
        return ops.Cast.apply(self, dtype=np.dtype(dtype))

    # ----- reductions -----------------------------------------------------------------------
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Maximum, like torch.amax: tied maxima share the gradient equally."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Minimum, like torch.amin: tied minima share the gradient equally."""
        return ops.Min.apply(self, axis=axis, keepdims=keepdims)

    # ----- shape ----------------------------------------------------------------------------
    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """`reshape(2, 3)` or `reshape((2, 3))`; one dimension may be -1."""
        target = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], Sequence) else shape
        return ops.Reshape.apply(self, shape=target)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        order = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], Sequence) else axes
        return ops.Permute.apply(self, axes=order)

    def transpose(self, axis0: int, axis1: int) -> Tensor:
        order = list(range(self.ndim))
        order[axis0], order[axis1] = order[axis1], order[axis0]
        return ops.Permute.apply(self, axes=tuple(order))

    @property
    def T(self) -> Tensor:  # noqa: N802 (numpy's name)
        """All axes reversed, as numpy's `.T`."""
        return ops.Permute.apply(self, axes=tuple(reversed(range(self.ndim))))

    def unbind(self, axis: int = 0) -> tuple[Tensor, ...]:
        """The slices along `axis`, as torch.unbind; cheaper than indexing each when all of them are used."""
        return ops.Unbind.apply(self, axis=axis)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=_plain_index(index))

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
            self._accumulate_leaf(seed, private=False)
            return
        if self._ctx.released:
            raise RuntimeError("this graph was already backpropagated and its buffers freed; recompute the forward")
        self._ctx.output_grads[self._output_index] = seed
        for ctx in _topological_order(self._ctx):
            grads_out = [
                g if g is not None else np.zeros(shape, dtype=dtype)
                for g, shape, dtype in zip(ctx.output_grads, ctx.output_shapes, ctx.output_dtypes, strict=True)
            ]
            returned = type(ctx).backward(ctx, *grads_out)
            # A list emptied as it is read, so that `g` below is the walk's only reference to each gradient.
            grads_in = list(returned) if isinstance(returned, tuple) else [returned]
            del returned
            for i, parent in enumerate(ctx.parents[: len(grads_in)]):
                g, grads_in[i] = grads_in[i], None
                if not ctx.needs_input_grad[i] or g is None:
                    continue
                g = _unbroadcast(np.asarray(g), parent.shape).astype(parent.dtype, copy=False)
                if parent._ctx is None:
                    # Asked before the call: as an argument of it, `g` would already be on the stack once more.
                    private = _is_private(g)
                    parent._accumulate_leaf(g, private)
                else:
                    slot = parent._output_index
                    held = parent._ctx.output_grads[slot]
                    parent._ctx.output_grads[slot] = g if held is None else held + g
            ctx._release()

    def _accumulate_leaf(self, grad: Array, private: bool) -> None:
        """Add `grad` into `.grad`; a first gradient is taken over if `private`, else copied.

        The copy is needed when anything else can reach the array (an op's saved or reused buffer, the
        same array handed to two inputs): `.grad` is written in place later (`clip_grad_norm_`).
        """
        if self.grad is not None:
            self.grad = self.grad + grad
        else:
            self.grad = grad if private else np.array(grad, dtype=self.dtype)


def _reference_counts(array: Array) -> tuple[int, int]:
    """sys.getrefcount of `array` and of its base (0 without one), as seen from a caller holding one local."""
    base = array.base
    return sys.getrefcount(array), 0 if base is None else sys.getrefcount(base)


def _sole_reference_counts() -> tuple[int, int]:
    """What `_is_private` counts for a view that nothing else references, over memory only it reaches."""
    owner = np.empty(2)
    view = owner.reshape(2, 1)
    del owner
    return _counted_like_is_private(view)


def _counted_like_is_private(array: Array) -> tuple[int, int]:
    # One call deeper than the local holding the array, as `_is_private(g)` counts its argument.
    return _reference_counts(array)


# Measured rather than assumed: what getrefcount reports for one reference depends on the interpreter.
_SOLE_COUNTS = _sole_reference_counts()


def _is_private(grad: Array) -> bool:
    """Whether the caller's one local is the only way to reach `grad`'s memory, so it may keep it.

    Every other holder (a list, a ctx attribute, another input's gradient, a tensor) and every view
    of the array or of its base holds a counted reference, so counts at the minimum rule them all out.
    Memory numpy does not own (a buffer, a broadcast or read-only view) is never private.
    """
    if not grad.flags.writeable:
        return False
    counts = _reference_counts(grad)
    if counts[0] > _SOLE_COUNTS[0]:
        return False
    base = grad.base
    if base is None:
        return True
    # A contiguous view (a reshape) of an array that nothing but this view references.
    return (
        isinstance(base, np.ndarray)
        and base.base is None
        and grad.flags.c_contiguous
        and grad.size == base.size
        and counts[1] <= _SOLE_COUNTS[1]
    )


def _plain_index(index: Any) -> Any:
    """The index with Tensors and lists turned into numpy arrays, so numpy indexes as usual."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


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


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis, as numpy.concatenate / torch.cat."""
    return ops.Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along a new axis, as numpy.stack / torch.stack."""
    return ops.Stack.apply(*tensors, axis=axis)


def where(condition: Tensor | ArrayLike, x: Tensor | ArrayLike, y: Tensor | ArrayLike) -> Tensor:
    """Elementwise `x` where `condition` holds, else `y`; gradients flow to the chosen side only."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else Tensor(x)
    return ops.Where.apply(cond.astype(bool, copy=False), like._operand(x), like._operand(y))


# ops subclasses Function from this module, so it can only be imported once the classes above exist.
from azuraforge_core import ops  # noqa: E402
