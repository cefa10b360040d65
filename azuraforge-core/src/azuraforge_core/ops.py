# Numpy's stubs type many array results as Any.
# mypy: disable-error-code="no-any-return"
"""The primitive ops: one small Function per operation, read as a table of derivatives.

Each `backward` returns the gradient of every input as if no broadcasting had happened; the backward
walk in tensor.py sums broadcast gradients back to each input's shape and dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from azuraforge_core.tensor import DEFAULT_DTYPE, Array, Axis, Function

Grads = tuple[Array | None, ...]


def _kept_shape(shape: tuple[int, ...], axis: Axis) -> tuple[int, ...]:
    """The shape a reduction over `axis` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    axes = {ax % len(shape) for ax in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else size for i, size in enumerate(shape))


# ----- binary arithmetic --------------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> Array:
        return a + b

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> Array:
        return a - b

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        return g, -g if ctx.needs_input_grad[1] else None


class Mul(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> Array:
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        da, db = ctx.needs_input_grad
        return g * ctx.b if da else None, g * ctx.a if db else None


class Div(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> Array:
        out = a / b
        ctx.b, ctx.out = b, out
        return out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        da, db = ctx.needs_input_grad
        g_over_b = g / ctx.b
        return g_over_b if da else None, -g_over_b * ctx.out if db else None


class Pow(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> Array:
        out = np.power(a, b)
        ctx.a, ctx.b, ctx.out = a, b, out
        return out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        a, b, out = ctx.a, ctx.b, ctx.out
        da = db = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                # As PyTorch: a zero exponent has a zero derivative even where a ** -1 is infinite.
                da = np.where(b == 0, np.zeros((), g.dtype), g * b * np.power(a, b - 1))
            if ctx.needs_input_grad[1]:
                # d(a^b)/db = a^b log a, taken as 0 at a = 0 (for b >= 0) as PyTorch does.
                db = np.where((a == 0) & (b >= 0), np.zeros((), g.dtype), g * out * np.log(a))
        return da, db


class MatMul(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> Array:
        ctx.a, ctx.b = a, b
        try:
            return np.matmul(a, b)
        except ValueError:
            if a.ndim == 0 or b.ndim == 0:
                raise ValueError(
                    f"matmul needs tensors of at least 1 dimension, got shapes {a.shape} and {b.shape}"
                ) from None
            inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
            raise ValueError(
                f"matmul shapes {a.shape} @ {b.shape} do not match: the last axis of the left ({a.shape[-1]}) "
                f"must equal the {'only' if b.ndim == 1 else 'second-to-last'} axis of the right ({inner_b}), "
                "and the leading (batch) axes must broadcast"
            ) from None

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        a, b = ctx.a, ctx.b
        if a.ndim == 1 and b.ndim == 1:  # a dot product
            return g * b, g * a
        # A 1-D operand acts as a row (left) or column (right) matrix; its gradient is summed back.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        da = np.matmul(g, np.swapaxes(b2, -1, -2)) if ctx.needs_input_grad[0] else None
        db = np.matmul(np.swapaxes(a2, -1, -2), g) if ctx.needs_input_grad[1] else None
        if da is not None and a.ndim == 1:
            da = da.reshape(-1, a.shape[0]).sum(axis=0)
        if db is not None and b.ndim == 1:
            db = db.reshape(-1, b.shape[0]).sum(axis=0)
        return da, db


# ----- unary elementwise ----------------------------------------------------------------------------
class Neg(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        return -a

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return -g


class Exp(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        ctx.out = np.exp(a)
        return ctx.out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return g * ctx.out


class Log(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        ctx.a = a
        return np.log(a)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return g / ctx.a


class Sqrt(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        ctx.out = np.sqrt(a)
        return ctx.out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        with np.errstate(divide="ignore"):
            return g / (2 * ctx.out)


class Tanh(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        ctx.out = np.tanh(a)
        return ctx.out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        out = ctx.out
        return g * (1 - out * out)


def sigmoid(a: Array) -> Array:
    """1 / (1 + exp(-a)) without overflow: s = sigmoid(-|a|) = e / (1 + e) from e = exp(-|a|), which stays
    finite, and 1 - s where a >= 0, taken as s + (a >= 0) * (1 - 2s) so that s is exact where a < 0.

    Arithmetic on the mask: numpy's masked ops (np.where, a ufunc's where=) branch per element and took
    five times as long as the whole sigmoid on random signs.
    """
    s = np.exp(-np.abs(a))
    np.divide(s, 1 + s, out=s)
    out = 1 - 2 * s
    out *= a >= 0
    out += s
    return out


class Sigmoid(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        ctx.out = sigmoid(a)
        return ctx.out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        out = ctx.out
        return g * out * (1 - out)


# numpy (2.4) runs np.maximum against a scalar in a scalar loop, 2-3 times slower than against an array: ReLU
# takes the max with zeros spanning the input's trailing axes, up to this many elements, broadcast over the rest.
# Longer spans mean fewer, longer inner loops: on (32, 32, 32, 32) and (32, 64, 16, 16) activations the max took
# 189 and 82 µs with up to 65536 zeros, 351 and 133 µs with up to 4096 (AVX-512 EPYC; the zeros' allocation included).
_RELU_ZEROS_ELEMENTS = 65536


class Relu(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        axis, size = a.ndim, 1
        while axis > 0 and size * a.shape[axis - 1] <= _RELU_ZEROS_ELEMENTS:
            axis -= 1
            size *= a.shape[axis]
        ctx.out = np.maximum(a, np.zeros(a.shape[min(axis, a.ndim - 1) :], dtype=a.dtype))
        return ctx.out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        # relu'(0) = 0 and a NaN passes the gradient on, as in PyTorch; out is positive, zero or NaN.
        return g * (ctx.out != 0)


class Abs(Function):
    @staticmethod
    def forward(ctx: Any, a: Array) -> Array:
        ctx.a = a
        return np.abs(a)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return g * np.sign(ctx.a)  # abs'(0) = 0, as PyTorch


class Clip(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, low: float | None, high: float | None) -> Array:
        ctx.a, ctx.low, ctx.high = a, low, high
        return np.clip(a, low, high)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        # The gradient passes where the input lies inside [low, high], bounds included, as torch.clamp.
        inside = np.ones(ctx.a.shape, dtype=bool)
        if ctx.low is not None:
            inside &= ctx.a >= ctx.low
        if ctx.high is not None:
            inside &= ctx.a <= ctx.high
        return g * inside


class Cast(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, dtype: np.dtype[Any]) -> Array:
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return g  # the backward walk converts it to the input's dtype


# ----- reductions ------------------------------------------------------------------------------------
class Sum(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, axis: Axis, keepdims: bool) -> Array:
        ctx.shape, ctx.axis = a.shape, axis
        return np.sum(a, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return np.broadcast_to(g.reshape(_kept_shape(ctx.shape, ctx.axis)), ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, axis: Axis, keepdims: bool) -> Array:
        ctx.shape, ctx.axis = a.shape, axis
        dtype = a.dtype if a.dtype.kind == "f" else DEFAULT_DTYPE
        out = np.mean(a, axis=axis, keepdims=keepdims, dtype=dtype)
        ctx.count = a.size // max(out.size, 1)
        return out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return np.broadcast_to(g.reshape(_kept_shape(ctx.shape, ctx.axis)) / ctx.count, ctx.shape)


class Max(Function):
    """Maximum over axes; tied maxima share the gradient equally, as torch.amax."""

    reduce: ClassVar[Callable[..., Array]] = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx: Any, a: Array, axis: Axis, keepdims: bool) -> Array:
        if a.size == 0:
            raise ValueError(f"{cls.__name__.lower()}() of an empty tensor (shape {a.shape}) is undefined")
        out = cls.reduce(a, axis=axis, keepdims=keepdims)
        ctx.a, ctx.out, ctx.axis = a, out, axis
        return out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        kept = _kept_shape(ctx.a.shape, ctx.axis)
        winners = ctx.a == ctx.out.reshape(kept)
        count = winners.sum(axis=ctx.axis, keepdims=True, dtype=g.dtype)
        return winners * (g.reshape(kept) / count)


class Min(Max):
    """Minimum over axes; tied minima share the gradient equally, as torch.amin."""

    reduce: ClassVar[Callable[..., Array]] = staticmethod(np.min)


# ----- shape -----------------------------------------------------------------------------------------
class Reshape(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, shape: tuple[int, ...]) -> Array:
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) into {shape}") from None

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return g.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, axes: tuple[int, ...]) -> Array:
        if sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
            raise ValueError(f"permute needs each of the {a.ndim} axes of shape {a.shape} exactly once, got {axes}")
        ctx.axes = axes
        return np.transpose(a, axes)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return np.transpose(g, np.argsort(ctx.axes))


def _is_basic_index(index: Any) -> bool:
    """Integers, slices, None and Ellipsis select each element at most once (no repeated indices)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(part is None or part is Ellipsis or isinstance(part, int | slice | np.integer) for part in parts)


class GetItem(Function):
    @staticmethod
    def forward(ctx: Any, a: Array, index: Any) -> Array:
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return a[index]

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        grad = np.zeros(ctx.shape, dtype=ctx.dtype)
        if _is_basic_index(ctx.index):
            grad[ctx.index] = g
        else:
            np.add.at(grad, ctx.index, g)  # repeated indices accumulate
        return grad


class Concatenate(Function):
    @staticmethod
    def forward(ctx: Any, *arrays: Array, axis: int) -> Array:
        ctx.axis = axis
        ctx.boundaries = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        try:
            return np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = [a.shape for a in arrays]
            raise ValueError(
                f"concatenate along axis {axis} needs equal sizes on every other axis, got shapes {shapes}"
            ) from None

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        return tuple(np.split(g, ctx.boundaries, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx: Any, *arrays: Array, axis: int) -> Array:
        ctx.axis = axis
        try:
            return np.stack(arrays, axis=axis)
        except ValueError:
            raise ValueError(f"stack needs tensors of one shape, got shapes {[a.shape for a in arrays]}") from None

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        return tuple(np.moveaxis(g, ctx.axis, 0))


class Unbind(Function):
    """The slices along `axis` as separate outputs: one node, whose backward stacks their gradients once."""

    @staticmethod
    def forward(ctx: Any, a: Array, axis: int) -> tuple[Array, ...]:
        ctx.axis = axis
        return tuple(np.moveaxis(a, axis, 0))

    @staticmethod
    def backward(ctx: Any, *grads: Array) -> Array:
        return np.stack(grads, axis=ctx.axis)


class Pad(Function):
    """Constant padding; `widths` holds a (before, after) pair for every axis, as np.pad takes them."""

    @staticmethod
    def forward(ctx: Any, a: Array, widths: tuple[tuple[int, int], ...], value: float) -> Array:
        ctx.inside = tuple(slice(before, before + size) for (before, _), size in zip(widths, a.shape, strict=True))
        return np.pad(a, widths, constant_values=value)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return g[ctx.inside]


class Where(Function):
    @staticmethod
    def forward(ctx: Any, condition: Array, x: Array, y: Array) -> Array:
        ctx.condition = condition
        return np.where(condition, x, y)

    @staticmethod
    def backward(ctx: Any, g: Array) -> Grads:
        zero = np.zeros((), g.dtype)
        _, dx, dy = ctx.needs_input_grad
        return (
            None,
            np.where(ctx.condition, g, zero) if dx else None,
            np.where(ctx.condition, zero, g) if dy else None,
        )
