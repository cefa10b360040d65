# Function.apply returns Any: a Tensor or a tuple of them.
# mypy: disable-error-code="no-any-return"
"""Fused layers, activations and losses: each one Function with a hand-written backward.

Fusing keeps the graph small (one node instead of five for a softmax cross-entropy) and lets the
forward and backward use the numerically stable forms (log-sum-exp, log1p(exp(-|x|))).
Conventionally imported as `from azuraforge_core import functional as F`.
"""

from __future__ import annotations

import math
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
        # The column sums as a matrix-vector product: BLAS reads g2 once, numpy's reduce over axis 0 is slower.
        db = np.ones(g2.shape[0], dtype=g2.dtype) @ g2 if db_needed else None
        return dx, dw, db


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, weight shaped (out_features, in_features) as in PyTorch."""
    return Linear.apply(x, weight, bias)


class LayerNorm(Function):
    """Normalise over the trailing `ndim` axes, then scale and shift (either may be None).

    The work happens on a (rows, features) view; the per-row means are matrix-vector products and the
    per-row dot products einsums, both far faster than numpy's reduce over short rows.
    """

    @staticmethod
    def forward(ctx: Any, x: Array, weight: Array | None, bias: Array | None, ndim: int, eps: float) -> Array:
        features = math.prod(x.shape[x.ndim - ndim :])
        x2 = x.reshape(-1, features)
        averaging = np.full(features, 1 / features, dtype=x.dtype)
        centred = x2 - (x2 @ averaging)[:, None]
        inv_std = 1 / np.sqrt(np.einsum("ij,ij->i", centred, centred) / features + eps)
        normed = np.multiply(centred, inv_std[:, None], out=centred)
        ctx.normed, ctx.inv_std, ctx.averaging, ctx.weight = normed, inv_std, averaging, weight
        ctx.x_shape, ctx.features, ctx.normalized_shape = x.shape, features, x.shape[x.ndim - ndim :]
        # A new array in every case: normed stays private to backward, which overwrites it.
        if weight is not None:
            out = normed * weight.reshape(-1)
            if bias is not None:
                out += bias.reshape(-1)
        elif bias is not None:
            out = normed + bias.reshape(-1)
        else:
            out = normed.copy()
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        normed, inv_std, weight = ctx.normed, ctx.inv_std, ctx.weight
        dx_needed, dw_needed, db_needed = ctx.needs_input_grad[:3]
        g2 = g.reshape(-1, ctx.features)
        dw = np.einsum("ij,ij->j", g2, normed).reshape(ctx.normalized_shape) if dw_needed else None
        db = g2.sum(axis=0).reshape(ctx.normalized_shape) if db_needed else None
        dx = None
        if dx_needed:
            dx = g2.copy() if weight is None else g2 * weight.reshape(-1)  # the gradient w.r.t. normed
            mean_g = dx @ ctx.averaging
            mean_g_normed = np.einsum("ij,ij->i", dx, normed) / ctx.features
            dx -= mean_g[:, None]
            dx -= np.multiply(normed, mean_g_normed[:, None], out=normed)  # normed is not needed any more
            dx *= inv_std[:, None]
            dx = dx.reshape(ctx.x_shape)
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


class BatchNorm(Function):
    """Normalise each channel (axis 1) over every other axis, then scale and shift (either may be None).

    While training, or without running statistics, the batch's mean and variance normalise; while training,
    `running` (mean, var) also moves towards them in place by `momentum`, with the unbiased variance as
    PyTorch does. In eval the running statistics normalise, and the gradient has no batch-statistics term.
    The work happens on x's own layout (a convolution's output is a strided view that a reshape would
    copy), every per-channel sum is an einsum (several times faster than numpy's reduce over axes
    (0, 2, 3)), and each pass is one numpy call: the output is the centred input times one per-channel
    factor (inv_std * weight) plus the bias, and backward works from the centred input, which it then
    overwrites, instead of keeping a normalised copy.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Array,
        weight: Array | None,
        bias: Array | None,
        running: tuple[Array, Array] | None,
        training: bool,
        momentum: float,
        eps: float,
    ) -> Array:
        axes = list(range(x.ndim))
        channels = (slice(None),) + (None,) * (x.ndim - 2)  # indexes a (C,) array to broadcast over axis 1
        count = x.size // x.shape[1]
        use_batch_stats = training or running is None
        if training or running is None:  # use_batch_stats, spelled out so that mypy knows `running` below
            if count < 2:
                raise ValueError(
                    f"batch norm over a batch needs more than one value per channel, got input of shape {x.shape}"
                )
            mean = np.einsum(x, axes, [1]) / count
            centred = x - mean[channels]
            var = np.einsum(centred, axes, centred, axes, [1]) / count
            if training and running is not None:
                running_mean, running_var = running
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += momentum * var * (count / (count - 1))
        else:
            running_mean, var = running
            centred = x - running_mean.astype(x.dtype, copy=False)[channels]
        inv_std = (1 / np.sqrt(var + eps)).astype(x.dtype)
        scale = inv_std if weight is None else inv_std * weight
        out = np.multiply(centred, scale[channels])
        if bias is not None:
            out += bias[channels]
        ctx.centred, ctx.inv_std, ctx.scale, ctx.count = centred, inv_std, scale, count
        ctx.channels, ctx.use_batch_stats = channels, use_batch_stats
        return out

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        centred, inv_std, scale, count, channels = ctx.centred, ctx.inv_std, ctx.scale, ctx.count, ctx.channels
        dx_needed, dw_needed, db_needed = ctx.needs_input_grad[:3]
        axes = list(range(g.ndim))
        d_bias = np.einsum(g, axes, [1])
        d_weight = np.einsum(g, axes, centred, axes, [1]) * inv_std  # sum of g * normed
        dx = None
        if dx_needed:
            dx = np.multiply(g, scale[channels])
            if ctx.use_batch_stats:
                # x's gradient also flows through the batch mean and variance: subtract their share,
                # scale * (mean(g) + normed * mean(g * normed)), built in place of the centred input.
                centred *= (scale * inv_std * d_weight / count)[channels]
                centred += (scale * d_bias / count)[channels]
                dx -= centred
        return dx, d_weight if dw_needed else None, d_bias if db_needed else None


def batch_norm(
    x: Tensor,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over channel axis 1, as torch.nn.functional.batch_norm.

    While training, the running statistics (when given) are updated in place.
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C, ...), got shape {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm needs both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm without training needs running_mean and running_var")
    running = None if running_mean is None or running_var is None else (running_mean, running_var)
    return BatchNorm.apply(x, weight, bias, running=running, training=training, momentum=momentum, eps=eps)


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


def pad(x: Tensor, pad: tuple[int, ...], mode: Literal["constant"] = "constant", value: float = 0.0) -> Tensor:
    """Constant padding as torch.nn.functional.pad: `pad` lists (before, after) pairs from the last axis backwards.

    pad=(1, 2) pads the last axis with 1 value before and 2 after; (1, 2, 0, 3) also pads the axis before it.
    """
    if mode != "constant":
        raise ValueError(f'pad supports mode="constant" only, got {mode!r}')
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(
            f"pad needs an even number of widths, two per padded axis (at most {x.ndim} axes), got {len(pad)}"
        )
    if any(width < 0 for width in pad):
        raise ValueError(f"pad widths must be >= 0 (slice the tensor to crop it), got {pad}")
    pairs = [(pad[i], pad[i + 1]) for i in range(0, len(pad), 2)]
    widths = ((0, 0),) * (x.ndim - len(pairs)) + tuple(reversed(pairs))
    return ops.Pad.apply(x, widths=widths, value=value)


def one_hot(indices: Tensor | Array, num_classes: int = -1) -> Tensor:
    """int64 rows with a 1 at each index, shape (*indices.shape, num_classes); -1 means max index + 1."""
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot needs integer indices, got dtype {idx.dtype}")
    classes = int(idx.max()) + 1 if num_classes == -1 and idx.size else max(num_classes, 0)
    if idx.size and (idx.min() < 0 or idx.max() >= classes):
        raise ValueError(f"one_hot indices must lie in [0, {classes - 1}] for num_classes={classes}")
    out = np.zeros((*idx.shape, classes), dtype=np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.intp), 1, axis=-1)
    return Tensor(out)


# Attention works through its (…, S, L) score arrays in chunks along the leading (batch) axis of about
# this many elements (1 MiB of float32): each chunk's softmax passes then run in the CPU cache instead of
# streaming the whole score array through memory once per pass.
_ATTENTION_CHUNK_ELEMENTS = 1 << 18


def _matmul_into(a: Array, b: Array, out: Array) -> Array:
    """a @ b written into `out`, which may be larger than the product when a mask broadcasts the batch axes."""
    if np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) == out.shape[:-2]:
        return np.matmul(a, b, out=out)
    out[...] = np.matmul(a, b)
    return out


class Attention(Function):
    """softmax(q kᵀ · scale + mask) v over the last two axes, as one node with one softmax backward.

    q is (..., L, E), k (..., S, E), v (..., S, Ev); `mask` is None or an additive float array that
    broadcasts to (..., L, S) (-inf where a query may not look). With dropout the attention weights are
    dropped before they weigh v. With `return_weights` the (dropped) weights are a second output, and a
    gradient flowing into them joins the one from v's side before the softmax backward.

    The scores are held transposed, (..., S, L): the softmax then reduces over axis -2, which numpy
    vectorises across the contiguous last axis, about three times faster than reducing over short rows;
    the matmuls read the transposed operands in place. Forward and backward run chunk by chunk along the
    leading axis (`_ATTENTION_CHUNK_ELEMENTS`), so the elementwise passes over the scores stay in cache.
    """

    @staticmethod
    def forward(
        ctx: Any,
        q: Array,
        k: Array,
        v: Array,
        mask: Array | None,
        scale: float,
        dropout_p: float,
        return_weights: bool,
    ) -> Array | tuple[Array, Array]:
        # Scaling q costs L·E multiplications, scaling the scores L·S. Written transposed in (..., E, L)
        # order: BLAS forms the (S, E) @ (E, L) products faster from a contiguous right-hand side.
        q_swapped = np.swapaxes(q, -1, -2)
        q_t = np.multiply(q_swapped, q.dtype.type(scale), out=np.empty(q_swapped.shape, q.dtype))
        # Contiguous, so the broadcast add below streams through it.
        mask_t = None
        if mask is not None:
            mask_t = np.ascontiguousarray(np.swapaxes(mask, -1, -2) if mask.ndim >= 2 else mask[..., None])
        L, S = q.shape[-2], k.shape[-2]
        lead = np.broadcast_shapes(
            q.shape[:-2], k.shape[:-2], v.shape[:-2], () if mask_t is None else mask_t.shape[:-2]
        )
        weights = np.empty((*lead, S, L), dtype=np.result_type(q, k))
        out = np.empty((*lead, L, v.shape[-1]), dtype=np.result_type(weights, v))
        chunks = _attention_chunks(weights.shape, q, k, v, mask_t)
        keep = None
        if dropout_p > 0:
            kept = generator().random(weights.shape, dtype=np.float32) >= dropout_p
            keep = kept * weights.dtype.type(1 / (1 - dropout_p))
        dropped = weights if keep is None else np.empty_like(weights)
        for chunk in chunks:
            w = _matmul_into(_rows(k, chunk), _rows(q_t, chunk), weights[chunk])
            if mask_t is not None:
                w += _rows(mask_t, chunk, weights.ndim)
            w -= w.max(axis=-2, keepdims=True)
            np.exp(w, out=w)
            # The sum over axis -2 without numpy's reduce; one reciprocal per column, not a division per weight.
            w *= (1 / np.einsum("...ij->...j", w))[..., None, :]
            if keep is not None:
                np.multiply(w, keep[chunk], out=dropped[chunk])
            _matmul_into(np.swapaxes(dropped[chunk], -1, -2), _rows(v, chunk), out[chunk])
        ctx.q, ctx.k, ctx.v, ctx.weights, ctx.dropped, ctx.keep, ctx.scale = q, k, v, weights, dropped, keep, scale
        ctx.chunks = chunks
        return (out, np.swapaxes(dropped, -1, -2)) if return_weights else out

    @staticmethod
    def backward(ctx: Any, g: Array, g_weights: Array | None = None) -> tuple[Array | None, ...]:
        q, k, v, weights, dropped, keep = ctx.q, ctx.k, ctx.v, ctx.weights, ctx.dropped, ctx.keep
        dq_needed, dk_needed, dv_needed, dmask_needed = ctx.needs_input_grad[:4]
        lead = weights.shape[:-2]
        dq = np.empty((*lead, *q.shape[-2:]), dtype=q.dtype) if dq_needed else None
        dk = np.empty((*lead, *k.shape[-2:]), dtype=k.dtype) if dk_needed else None
        dv = np.empty((*lead, *v.shape[-2:]), dtype=v.dtype) if dv_needed else None
        # The score gradients of one chunk at a time, unless the mask wants all of them.
        d_scores = np.empty_like(weights) if dmask_needed else None
        scale = weights.dtype.type(ctx.scale)
        for chunk in ctx.chunks:
            g_c = _rows(g, chunk, weights.ndim)
            if dv is not None:
                _matmul_into(dropped[chunk], g_c, dv[chunk])
            d_weights = np.matmul(_rows(v, chunk), np.swapaxes(g_c, -1, -2))
            if d_scores is not None:
                d_scores[chunk] = d_weights
                d_weights = d_scores[chunk]
            if g_weights is not None:
                d_weights += np.swapaxes(_rows(g_weights, chunk, weights.ndim), -1, -2)
            if keep is not None:
                d_weights *= keep[chunk]
            # The softmax backward, dS = P * (dP - rowsum(dP * P)); the rows of P are columns here.
            w = weights[chunk]
            d_weights -= np.einsum("...ij,...ij->...j", d_weights, w)[..., None, :]
            d_weights *= w
            if dq is not None:
                _matmul_into(np.swapaxes(d_weights, -1, -2), _rows(k, chunk), dq[chunk])
                dq[chunk] *= scale
            if dk is not None:
                _matmul_into(d_weights, _rows(q, chunk), dk[chunk])
                dk[chunk] *= scale
        return dq, dk, dv, None if d_scores is None else np.swapaxes(d_scores, -1, -2)


def _attention_chunks(scores_shape: tuple[int, ...], q: Array, k: Array, v: Array, mask_t: Array | None) -> list[slice]:
    """Slices of the leading axis, each covering about _ATTENTION_CHUNK_ELEMENTS scores.

    One slice of everything when there is no leading axis to split, or when q, k or v broadcast along it.
    """
    rows = scores_shape[0] if len(scores_shape) > 2 else 1
    if len(scores_shape) <= 2 or any(a.ndim != len(scores_shape) or a.shape[0] != rows for a in (q, k, v)):
        return [slice(None)]
    per_row = math.prod(scores_shape[1:])
    step = max(1, _ATTENTION_CHUNK_ELEMENTS // per_row)
    return [slice(start, start + step) for start in range(0, rows, step)]


def _rows(array: Array, chunk: slice, ndim: int | None = None) -> Array:
    """The chunk of `array` along the leading axis of arrays with `ndim` axes (array's own by default).

    An array with fewer axes, or a size-1 leading axis, broadcasts along that axis and is used whole.
    """
    if array.ndim < (array.ndim if ndim is None else ndim) or array.shape[0] == 1:
        return array
    return array[chunk]


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    need_weights: bool = False,
) -> Any:
    """softmax(query keyᵀ / √E + mask) value, as torch.nn.functional.scaled_dot_product_attention.

    query is (..., L, E), key (..., S, E), value (..., S, Ev). A bool `attn_mask` marks with True where a
    query may attend; a float one is added to the scores. `is_causal` lets position i see positions <= i
    only. With `need_weights` (ours, not torch's) the result is (output, attention weights).
    """
    if query.ndim < 2 or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(
            "scaled_dot_product_attention expects query (..., L, E), key (..., S, E) and value (..., S, Ev) "
            f"of one rank, got shapes {query.shape}, {key.shape} and {value.shape}"
        )
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: query and key need one feature size E and key and value one length S, "
            f"got shapes {query.shape}, {key.shape} and {value.shape}"
        )
    if not 0 <= dropout_p < 1:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    L, S = query.shape[-2], key.shape[-2]
    mask = _additive_mask(attn_mask, query.dtype)
    if is_causal:
        if attn_mask is not None:
            raise ValueError("pass either attn_mask or is_causal=True, not both")
        mask = _additive_mask(np.tril(np.ones((L, S), dtype=bool)), query.dtype)
    return Attention.apply(
        query,
        key,
        value,
        mask,
        scale=1 / math.sqrt(query.shape[-1]) if scale is None else scale,
        dropout_p=dropout_p,
        return_weights=need_weights,
    )


def _additive_mask(mask: Tensor | Array | None, dtype: np.dtype[Any]) -> Tensor | Array | None:
    """A bool mask (True = may attend) as 0 / -inf of `dtype`; a float mask as it is (a Tensor keeps its graph)."""
    if mask is None:
        return None
    array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype == bool:
        return np.where(array, dtype.type(0), dtype.type(-np.inf))
    if array.dtype.kind != "f":
        raise TypeError(f"attention masks must be bool or float, got dtype {array.dtype}")
    return mask if isinstance(mask, Tensor) else array.astype(dtype, copy=False)


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


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
# numpy has no erf. math.erfc element by element is exact, which float64 (the gradient checks) needs,
# but takes ~100 ns an element; for float32 the Chebyshev fit of erfc below (Numerical Recipes' erfcc,
# relative error < 1.2e-7, under float32's resolution) runs at numpy's speed.
_exact_erfc = np.frompyfunc(math.erfc, 1, 1)
_ERFC_POLYNOMIAL = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip


def _normal_cdf(x: Array) -> Array:
    """Φ(x) = erfc(-x / √2) / 2, in x's dtype."""
    z = np.abs(x) * x.dtype.type(1 / math.sqrt(2))
    if x.dtype == np.float64:
        half_tail = 0.5 * np.asarray(_exact_erfc(z), dtype=np.float64)
    else:
        t = 1 / (1 + 0.5 * z)
        poly = np.full_like(t, _ERFC_POLYNOMIAL[-1])
        for coefficient in reversed(_ERFC_POLYNOMIAL[:-1]):
            poly *= t
            poly += x.dtype.type(coefficient)
        half_tail = 0.5 * t * np.exp(poly - z * z)
    # 1 - half_tail where x >= 0, as arithmetic on the mask (numpy's np.where branches per element, see ops.sigmoid)
    cdf = 1 - 2 * half_tail
    cdf *= x >= 0
    cdf += half_tail
    return cdf


class GELU(Function):
    """x * Φ(x), Φ the standard normal CDF; approximate="tanh" uses PyTorch's tanh formula instead."""

    @staticmethod
    def forward(ctx: Any, x: Array, approximate: str) -> Array:
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)  # x * x * x: np.power is ~100x slower
            t = np.tanh(inner)
            ctx.x, ctx.t = x, t
            return 0.5 * x * (1 + t)
        cdf = _normal_cdf(x)
        ctx.x, ctx.cdf = x, cdf
        return x * cdf

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        x = ctx.x
        if ctx.approximate == "tanh":
            t = ctx.t
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return g * (ctx.cdf + x * pdf)


def gelu(x: Tensor, approximate: Literal["none", "tanh"] = "none") -> Tensor:
    """Gaussian error linear unit, as torch.nn.functional.gelu (exact unless approximate="tanh")."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f'gelu approximate must be "none" or "tanh", got {approximate!r}')
    return GELU.apply(x, approximate=approximate)


class SiLU(Function):
    """x * sigmoid(x), also called swish."""

    @staticmethod
    def forward(ctx: Any, x: Array) -> Array:
        s = ops.sigmoid(x)
        ctx.x, ctx.s = x, s
        return x * s

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        s = ctx.s
        return g * s * (1 + ctx.x * (1 - s))


def silu(x: Tensor) -> Tensor:
    return SiLU.apply(x)


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


class Huber(Function):
    """scale * (0.5 d² where |d| < delta, else delta * (|d| - 0.5 delta)), d = prediction - target."""

    @staticmethod
    def forward(ctx: Any, prediction: Array, target: Array, delta: float, scale: float, reduction: str) -> Array:
        diff = prediction - target
        size = np.abs(diff)
        quadratic = size < delta
        loss = np.where(quadratic, 0.5 * diff * diff, delta * (size - 0.5 * delta))
        ctx.diff, ctx.quadratic, ctx.delta, ctx.scale, ctx.reduction = diff, quadratic, delta, scale, reduction
        return _reduce(loss * np.asarray(scale, loss.dtype), reduction)

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, ...]:
        diff = ctx.diff
        slope = np.where(ctx.quadratic, diff, ctx.delta * np.sign(diff))
        grad = slope * (ctx.scale * _reduced_grad(g, diff.size, ctx.reduction))
        return grad, -grad if ctx.needs_input_grad[1] else None


def huber_loss(prediction: Tensor, target: Tensor | Array, reduction: Reduction = "mean", delta: float = 1.0) -> Tensor:
    """Squared error below `delta`, absolute error (times delta) above it, as torch's huber_loss."""
    _check_reduction(reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss delta must be > 0, got {delta}")
    converted = _target_like("huber_loss", prediction, target)
    return Huber.apply(prediction, converted, delta=delta, scale=1.0, reduction=reduction)


def smooth_l1_loss(
    prediction: Tensor, target: Tensor | Array, reduction: Reduction = "mean", beta: float = 1.0
) -> Tensor:
    """Huber loss divided by beta, as torch's smooth_l1_loss; beta=0 is the L1 loss."""
    _check_reduction(reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(prediction, target, reduction)
    converted = _target_like("smooth_l1_loss", prediction, target)
    return Huber.apply(prediction, converted, delta=beta, scale=1.0 / beta, reduction=reduction)


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
