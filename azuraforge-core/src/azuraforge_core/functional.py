# Function.apply returns Any: a Tensor or a tuple of them.
# mypy: disable-error-code="no-any-return"
"""Fused layers, activations and losses: each one Function with a hand-written backward.

Fusing keeps the graph small (one node instead of five for a softmax cross-entropy) and lets the
forward and backward use the numerically stable forms (log-sum-exp, log1p(exp(-|x|))).
Conventionally imported as `from azuraforge_core import functional as F`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from azuraforge_core import ops
from azuraforge_core.random import generator
from azuraforge_core.tensor import Array, Function, Tensor

Reduction = Literal["mean", "sum", "none"]


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f'reduction must be "mean", "sum" or "none", got {reduction!r}')


def _reduce(loss: Array, reduction: str) -> Array:
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    return total / loss.size if reduction == "mean" else total


def _reduced_grad(g: Array, size: int, reduction: str) -> Array:
    """The incoming gradient of a reduced loss, as a factor for each element's local derivative."""
    return g / size if reduction == "mean" else g


# ----- layers -------------------------------------------------------------------------------------------
class Linear(Function):
    """y = x @ W.T + b over any leading shape, with the leading axes folded into one matmul."""

    @staticmethod
    def forward(ctx: Any, x: Array, weight: Array, bias: Array | None) -> Array:
        if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"Linear expects input of shape (..., {weight.shape[1]}) (in_features={weight.shape[1]}), "
                f"got shape {x.shape}"
            )
        x2 = x.reshape(-1, x.shape[-1])
        out = x2 @ weight.T
        if bias is not None:
            out += bias
        ctx.x2, ctx.weight, ctx.x_shape = x2, weight, x.shape
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        dx_needed, dw_needed, db_needed = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        dx = (g2 @ ctx.weight).reshape(ctx.x_shape) if dx_needed else None
        dw = g2.T @ ctx.x2 if dw_needed else None
        db = g2.sum(axis=0) if db_needed else None
        return dx, dw, db


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, weight shaped (out_features, in_features) as in PyTorch."""
    return Linear.apply(x, weight, bias)


class LayerNorm(Function):
    """Normalise over the trailing `ndim` axes, then scale and shift (either may be None)."""

    @staticmethod
    def forward(ctx: Any, x: Array, weight: Array | None, bias: Array | None, ndim: int, eps: float) -> Array:
        axes = tuple(range(x.ndim - ndim, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt((centred * centred).mean(axis=axes, keepdims=True) + eps)
        normed = centred * inv_std
        ctx.normed, ctx.inv_std, ctx.weight, ctx.axes = normed, inv_std, weight, axes
        out = normed if weight is None else normed * weight
        return out if bias is None else out + bias

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        normed, inv_std, weight, axes = ctx.normed, ctx.inv_std, ctx.weight, ctx.axes
        dx_needed, dw_needed, db_needed = ctx.needs_input_grad[:3]
        leading = tuple(range(g.ndim - len(axes)))
        dw = (g * normed).sum(axis=leading) if dw_needed else None
        db = g.sum(axis=leading) if db_needed else None
        dx = None
        if dx_needed:
            g_normed = g if weight is None else g * weight
            dx = inv_std * (
                g_normed
                - g_normed.mean(axis=axes, keepdims=True)
                - normed * (g_normed * normed).mean(axis=axes, keepdims=True)
            )
        return dx, dw, db


def layer_norm(
    x: Tensor,
    normalized_shape: tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation over the trailing axes given by `normalized_shape`, as torch's."""
    if x.shape[x.ndim - len(normalized_shape) :] != tuple(normalized_shape):
        expected = ", ".join(map(str, normalized_shape))
        raise ValueError(f"layer_norm expects input of shape (..., {expected}), got {x.shape}")
    return LayerNorm.apply(x, weight, bias, ndim=len(normalized_shape), eps=eps)


def embedding(indices: Tensor | Array, weight: Tensor) -> Tensor:
    """Rows of `weight` picked by integer `indices` of any shape; repeated rows accumulate gradients."""
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding indices must be integers, got dtype {idx.dtype}")
    num_embeddings = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num_embeddings):
        raise IndexError(
            f"embedding indices must lie in [0, {num_embeddings - 1}] (num_embeddings={num_embeddings}), "
            f"got values from {idx.min()} to {idx.max()}"
        )
    return weight[idx]


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p); identity when not training."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be between 0 and 1, got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0
    keep = generator().random(x.shape, dtype=np.float32) >= p
    scale = np.asarray(1 / (1 - p), dtype=x.dtype)
    return ops.Mul.apply(x, keep * scale)


# ----- activations --------------------------------------------------------------------------------------
class Softmax(Function):
    @staticmethod
    def forward(ctx: Any, x: Array, axis: int) -> Array:
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.out, ctx.axis = out, axis
        return out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        out = ctx.out
        return out * (g - (g * out).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx: Any, x: Array, axis: int) -> Array:
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.out, ctx.axis = out, axis
        return out

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        return g - np.exp(ctx.out) * g.sum(axis=ctx.axis, keepdims=True)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(x, axis=axis)


# ----- losses -------------------------------------------------------------------------------------------
class CrossEntropy(Function):
    """Softmax and negative log-likelihood in one node; the backward is (softmax - onehot)."""

    @staticmethod
    def forward(ctx: Any, logits: Array, targets: Array, reduction: str) -> Array:
        rows = np.arange(len(targets))
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        loss = np.log(sum_exp[:, 0]) - shifted[rows, targets]
        exp /= sum_exp
        ctx.probs, ctx.rows, ctx.targets, ctx.reduction = exp, rows, targets, reduction
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        grad = ctx.probs.copy()
        grad[ctx.rows, ctx.targets] -= 1
        scale = _reduced_grad(g, len(grad), ctx.reduction)
        grad *= scale[:, None] if ctx.reduction == "none" else scale
        return grad, None


def cross_entropy(logits: Tensor, targets: Tensor | Array, reduction: Reduction = "mean") -> Tensor:
    """Softmax cross-entropy of (N, C) logits against N integer class indices, as torch's."""
    _check_reduction(reduction)
    labels = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"cross_entropy targets must be integer class indices, got dtype {labels.dtype}; "
            "pass labels such as np.array([2, 0, 1]) rather than one-hot rows or probabilities"
        )
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"cross_entropy expects logits of shape (N, C) and targets of shape (N,), "
            f"got logits {logits.shape} and targets {labels.shape}"
        )
    classes = logits.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise IndexError(
            f"cross_entropy targets must lie in [0, {classes - 1}] for {classes} classes, "
            f"got values from {labels.min()} to {labels.max()}"
        )
    return CrossEntropy.apply(logits, labels, reduction=reduction)


def _target_like(name: str, prediction: Tensor, target: Tensor | Array) -> Tensor | Array:
    """The target as a Tensor or as an array of the prediction's dtype, checked to have its shape."""
    converted = prediction._operand(target)
    if converted.shape != prediction.shape:
        raise ValueError(
            f"{name} expects input and target of one shape, got input {prediction.shape} and target {converted.shape}"
        )
    return converted


class MSELoss(Function):
    @staticmethod
    def forward(ctx: Any, prediction: Array, target: Array, reduction: str) -> Array:
        diff = prediction - target
        ctx.diff, ctx.reduction = diff, reduction
        return _reduce(diff * diff, reduction)

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        grad = ctx.diff * (2 * _reduced_grad(g, ctx.diff.size, ctx.reduction))
        return grad, -grad if ctx.needs_input_grad[1] else None


def mse_loss(prediction: Tensor, target: Tensor | Array, reduction: Reduction = "mean") -> Tensor:
    _check_reduction(reduction)
    return MSELoss.apply(prediction, _target_like("mse_loss", prediction, target), reduction=reduction)


class L1Loss(Function):
    @staticmethod
    def forward(ctx: Any, prediction: Array, target: Array, reduction: str) -> Array:
        diff = prediction - target
        ctx.diff, ctx.reduction = diff, reduction
        return _reduce(np.abs(diff), reduction)

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        grad = np.sign(ctx.diff) * _reduced_grad(g, ctx.diff.size, ctx.reduction)
        return grad, -grad if ctx.needs_input_grad[1] else None


def l1_loss(prediction: Tensor, target: Tensor | Array, reduction: Reduction = "mean") -> Tensor:
    _check_reduction(reduction)
    return L1Loss.apply(prediction, _target_like("l1_loss", prediction, target), reduction=reduction)


class BCEWithLogits(Function):
    """Binary cross-entropy on logits: max(x, 0) - x*y + log(1 + exp(-|x|)), never overflowing."""

    @staticmethod
    def forward(ctx: Any, logits: Array, target: Array, reduction: str) -> Array:
        loss = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
        ctx.logits, ctx.target, ctx.reduction = logits, target, reduction
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        logits = ctx.logits
        scale = _reduced_grad(g, logits.size, ctx.reduction)
        d_logits = d_target = None
        if ctx.needs_input_grad[0]:
            d_logits = (ops.sigmoid(logits) - ctx.target) * scale
        if ctx.needs_input_grad[1]:
            d_target = -logits * scale
        return d_logits, d_target


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor | Array, reduction: Reduction = "mean") -> Tensor:
    _check_reduction(reduction)
    return BCEWithLogits.apply(
        logits, _target_like("binary_cross_entropy_with_logits", logits, target), reduction=reduction
    )
