"""Convolution and pooling: the Conv2D and MaxPool2D kernels (each one Function over NCHW arrays), and the
layers built on them (Conv1d, AvgPool2d, AdaptiveAvgPool2d).

The convolution is im2col on a "wide" grid: each padded image is flattened (a row's right padding is the
next row's left padding), and output position
(oh, g) reads the flat input at oh*stride_h*row_pitch + g*stride_w + (i*row_pitch + j) for kernel
offset (i, j). Every kernel offset is then one long 1-D strided run, so gathering the columns (a
strided view made by as_strided, copied once) and scattering their gradients back (col2im, one
slice-add per kernel offset) stream through memory instead of looping over short rows. The grid is
a little wider than the output (a few columns per row wrap around into the next row); those columns
are computed, cut off, and get zero gradient. One batched matmul with the (out, in*kh*kw) weight
matrix produces the NCHW output on the wide grid, which is copied into a contiguous array (the ops
that follow run faster on it than the copy costs). Backward skips dX when the input needs no gradient, and
scatters the column gradients back in blocks of samples small enough to stay in cache. The
columns and other work arrays come from the kernels' buffer pool (see `nn.buffers`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)
from azuraforge_core.nn import init
from azuraforge_core.nn.buffers import buffer_pool
from azuraforge_core.nn.layers import ReLU
from azuraforge_core.nn.module import Module, Parameter
from azuraforge_core.tensor import Array, Function, Tensor
from azuraforge_core.threads import get_num_threads

Pair = tuple[int, int]


@dataclass(frozen=True)
class _WideGrid:
    """Geometry of the flattened, padded input and of the wide output grid."""

    kernel: Pair
    stride: Pair
    padding: Pair
    out_h: int
    out_w: int
    pitch: int  # flat row length, a multiple of stride_w so a row step is a whole number of grid steps
    rows: int  # padded rows, enough for the last wrapped-around column to stay inside the buffer
    grid_w: int  # grid columns per output row

    @classmethod
    def of(cls, height: int, width: int, kernel: Pair, stride: Pair, padding: Pair) -> _WideGrid:
        (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
        out_h = (height + 2 * ph - kh) // sh + 1
        out_w = (width + 2 * pw - kw) // sw + 1
        # Rows share their padding: a row is its left padding and its pixels, and a window that runs past the
        # right edge reads the next row's left padding, which is zeros. That makes the grid (and every product
        # over it) pw columns narrower than with both paddings in each row: 17 instead of 18 for 16-pixel rows.
        pitch = -(-max(width + pw, out_w * sw) // sw) * sw
        grid_w = sh * pitch // sw
        last = (out_h * grid_w - 1) * sw + (kh - 1) * pitch + kw - 1
        return cls(kernel, stride, padding, out_h, out_w, pitch, last // pitch + 1, grid_w)

    def padded(self, x: Array) -> Array:
        """x (N, C, H, W) copied into a pooled (N, C, rows, pitch) buffer at the padding offset, zeros around.

        Every row's columns past pw + W (there are none when pitch = W + pw) and the rows above and below are zero.
        """
        N, C, H, W = x.shape
        ph, pw = self.padding
        buffer = buffer_pool.take((N, C, self.rows, self.pitch), x.dtype)
        buffer.fill(0)
        buffer[:, :, ph : ph + H, pw : pw + W] = x
        return buffer

    def columns(self, buffer: Array) -> Array:
        """(N, C, kh, kw, OH*grid_w) strided view of `buffer`: the input under each kernel offset."""
        N, C = buffer.shape[:2]
        (kh, kw), sw = self.kernel, self.stride[1]
        item = buffer.itemsize
        shape = (N, C, kh, kw, self.out_h * self.grid_w)
        strides = (buffer.strides[0], buffer.strides[1], self.pitch * item, item, sw * item)
        return as_strided(buffer, shape=shape, strides=strides, writeable=False)


# With several BLAS threads, one product over every sample's columns, (rows, N * grid), shares out over the cores
# far better than a product per sample, which OpenBLAS splits poorly: at 2 threads the forward product of the
# 32/64-channel layer took 2.7 against 4.3 ms, its weight gradient 2.7 against 3.4 ms; the 16/32 layer's 0.51
# against 1.05 and 0.58 against 0.72 ms. With one thread the per-sample products are as fast or faster up to a
# few hundred rows (forward and backward of the 8/16 layer's 73 rows 2.06 against 2.51 ms merged, the 16/32
# layer's 145 rows 3.09 against 3.42 ms), and slower beyond (the 32/64 layer's 289 rows 16.1 against 15.7 ms,
# a 64/128 layer's 577 rows 15.5 against 13.7 ms).
_MERGED_MIN_ROWS = 128
_MERGED_MIN_ROWS_ONE_THREAD = 256


def _merged_layout(rows: int) -> bool:
    """Whether the columns are laid out (rows, N, grid) for one product, rather than (N, rows, grid)."""
    return rows >= (_MERGED_MIN_ROWS if get_num_threads() > 1 else _MERGED_MIN_ROWS_ONE_THREAD)


class Conv2DFunction(Function):
    """2-D cross-correlation as in torch.nn.functional.conv2d: (N, C, H, W) -> (N, OC, OH, OW).

    The bias rides along the matmul as an extra row of ones in the columns, so its gradient comes
    out of the weight-gradient matmul too. The columns are one (rows, N * grid) matrix or N per-sample
    ones (see `_merged_layout`).
    """

    @staticmethod
    def forward(
        ctx: Any, x: Array, weight: Array, bias: Array | None, stride: Pair = (1, 1), padding: Pair = (0, 0)
    ) -> Array:
        N, C, H, W = x.shape
        OC, _, kh, kw = weight.shape
        grid = _WideGrid.of(H, W, (kh, kw), stride, padding)
        K = C * kh * kw
        rows, P, dtype = K + (bias is not None), grid.out_h * grid.grid_w, np.result_type(x, weight)
        merged = _merged_layout(rows)
        w2 = weight.reshape(OC, K)
        padded = grid.padded(x)
        if merged:
            cols = buffer_pool.take((rows, N, P), dtype)
            np.copyto(cols[:K].reshape(C, kh, kw, N, P), grid.columns(padded).transpose(1, 2, 3, 0, 4))
            bias_row = cols[K:]
        else:
            cols = buffer_pool.take((N, rows, P), dtype)
            np.copyto(cols[:, :K].reshape(N, C, kh, kw, P), grid.columns(padded))
            bias_row = cols[:, K:]
        buffer_pool.give(padded)
        if bias is not None:
            bias_row.fill(1)
            w2 = np.concatenate([w2, bias[:, None]], axis=1)
        # Copied out of the wide grid into a contiguous array: the ops after a convolution (BatchNorm, ReLU,
        # max-pool) run faster over contiguous data than the copy costs.
        out = np.empty((N, OC, grid.out_h, grid.out_w), dtype=dtype)
        if merged:
            wide = np.matmul(w2, cols.reshape(rows, N * P), out=buffer_pool.take((OC, N * P), dtype))
            np.copyto(out, wide.reshape(OC, N, grid.out_h, grid.grid_w)[..., : grid.out_w].transpose(1, 0, 2, 3))
        else:
            wide = np.matmul(w2, cols, out=buffer_pool.take((N, OC, P), dtype))
            np.copyto(out, wide.reshape(N, OC, grid.out_h, grid.grid_w)[..., : grid.out_w])
        buffer_pool.give(wide)
        ctx.cols, ctx.merged, ctx.weight, ctx.x_shape, ctx.grid = cols, merged, weight, x.shape, grid
        return out

    @staticmethod
    def backward(ctx: Any, d_out: Array) -> tuple[Array | None, ...]:
        cols, merged, weight, grid = ctx.cols, ctx.merged, ctx.weight, ctx.grid
        N, OC, OH, OW = d_out.shape
        K = weight[0].size
        needs = ctx.needs_input_grad
        # The output gradient on the wide grid, laid out as the columns are: (OC, N, grid) or (N, OC, grid).
        if merged:
            d_wide = buffer_pool.take((OC, N, OH, grid.grid_w), d_out.dtype)
            d_wide[..., :OW] = d_out.transpose(1, 0, 2, 3)
        else:
            d_wide = buffer_pool.take((N, OC, OH, grid.grid_w), d_out.dtype)
            d_wide[..., :OW] = d_out
        d_wide[..., OW:] = 0  # the wrapped-around grid columns are not outputs
        d_wide = d_wide.reshape(*d_wide.shape[:2], -1)
        d_weight = d_bias = None
        if needs[1] or needs[2]:
            # (K+1, OC), columns times gradient rows: OpenBLAS runs this orientation 1.2-1.6 times faster than
            # (OC, K+1) = gradient times transposed columns at these shapes.
            if merged:
                d_params = cols.reshape(len(cols), -1) @ d_wide.reshape(OC, -1).T
            else:
                d_params = np.matmul(cols, d_wide.transpose(0, 2, 1)).sum(axis=0)
            d_weight = d_params[:K].T.reshape(weight.shape)
            d_bias = d_params[K] if needs[2] else None
        dx = _input_grad(weight.reshape(OC, K), d_wide, merged, ctx.x_shape, grid) if needs[0] else None
        buffer_pool.give(d_wide, cols)
        return dx, d_weight, d_bias


# Bytes of column gradients per block of samples in the input-gradient pass: a block stays in cache
# while it is scattered back, instead of making a round trip through memory.
_COL2IM_BLOCK_BYTES = 1 << 20


def _input_grad(w2: Array, d_wide: Array, merged: bool, x_shape: tuple[int, ...], grid: _WideGrid) -> Array:
    """dX: column gradients W^T @ dY, added back onto the input positions they were read from (col2im).

    `d_wide` is (OC, N, grid) when `merged`, else (N, OC, grid)."""
    N, C, H, W = x_shape
    (kh, kw), sw, (ph, pw) = grid.kernel, grid.stride[1], grid.padding
    w_T = np.ascontiguousarray(w2.T)
    K, P = w_T.shape[0], d_wide.shape[-1]
    span = (P - 1) * sw + 1
    dx = np.zeros((N, C, grid.rows * grid.pitch), dtype=d_wide.dtype)
    block = min(N, max(1, _COL2IM_BLOCK_BYTES // (K * P * d_wide.itemsize)))
    d_cols_buffer = buffer_pool.take((block * K * P,), d_wide.dtype)
    for n in range(0, N, block):
        samples = min(block, N - n)
        if merged:  # (K, samples * grid), then each sample's (C, kh, kw, grid) as a strided view
            d_wide_block = d_wide[:, n : n + samples].reshape(len(d_wide), samples * P)
            d_cols_flat = np.matmul(w_T, d_wide_block, out=d_cols_buffer[: K * samples * P].reshape(K, -1))
            d_cols = d_cols_flat.reshape(C, kh, kw, samples, P).transpose(3, 0, 1, 2, 4)
        else:
            d_wide_block = d_wide[n : n + samples]
            out = d_cols_buffer[: K * samples * P].reshape(samples, K, P)
            d_cols = np.matmul(w_T, d_wide_block, out=out).reshape(samples, C, kh, kw, P)
        dx_block = dx[n : n + block]
        for i in range(kh):
            for j in range(kw):
                start = i * grid.pitch + j
                dx_block[:, :, start : start + span : sw] += d_cols[:, :, i, j]
    buffer_pool.give(d_cols_buffer)
    return dx.reshape(N, C, grid.rows, grid.pitch)[:, :, ph : ph + H, pw : pw + W]


class MaxPool2DFunction(Function):
    """Max over each window as in torch.nn.functional.max_pool2d; ties send the gradient to the first max.

    A knockout tournament over the kh*kw strided views of the window positions: each match is one
    np.maximum of two halves of the positions and one comparison, kept as a bool array, of which half
    won (the earlier half on a tie, so the first maximum in row-major order wins, as in PyTorch).
    Backward walks the bracket down, from the output to each position, with bool ops on output-sized
    arrays, and each position's gradient is one multiply.
    """

    @staticmethod
    def forward(ctx: Any, x: Array, kernel: Pair = (2, 2), stride: Pair = (2, 2)) -> Array:
        H, W = x.shape[2:]
        (kh, kw), (sh, sw) = kernel, stride
        OH, OW = (H - kh) // sh + 1, (W - kw) // sw + 1
        rows = [slice(i, i + sh * (OH - 1) + 1, sh) for i in range(kh)]
        columns = [slice(j, j + sw * (OW - 1) + 1, sw) for j in range(kw)]
        positions = [(r, c) for r in rows for c in columns]
        entrants = [x[:, :, r, c] for r, c in positions]
        out, bracket = _tournament(entrants)
        if bracket is not None and np.isnan(out.min()):  # min propagates NaN: one pass to find windows with one
            out, bracket = _tournament(entrants, nan_wins=True)
        ctx.bracket, ctx.positions, ctx.x_shape, ctx.kernel, ctx.stride = bracket, positions, x.shape, kernel, stride
        return out.copy() if bracket is None else out  # a 1x1 window's "max" is a view of x

    @staticmethod
    def backward(ctx: Any, d_out: Array) -> Array:
        H, W = ctx.x_shape[2:]
        (kh, kw), (sh, sw) = ctx.kernel, ctx.stride
        OH, OW = d_out.shape[2:]
        # Overlapping windows add into some elements several times; windows that tile the input write each
        # element once, so only then can dx start uninitialised (gaps between windows, or a remainder, stay 0).
        overlapping = sh < kh or sw < kw
        tiled = (sh, sw) == (kh, kw) and (OH * sh, OW * sw) == (H, W)
        dx = np.empty(ctx.x_shape, dtype=d_out.dtype) if tiled else np.zeros(ctx.x_shape, dtype=d_out.dtype)
        for (r, c), won in zip(ctx.positions, _winners(ctx.bracket, None), strict=True):
            if won is None:  # a 1x1 window
                dx[:, :, r, c] = d_out
            elif overlapping:
                dx[:, :, r, c] += d_out * won
            else:
                np.multiply(d_out, won, out=dx[:, :, r, c])
        return dx


# A tournament's bracket: None for a single entrant, else (where the right half won, left bracket, right bracket).
Bracket = tuple[Array, "Bracket", "Bracket"] | None


def _tournament(entrants: list[Array], nan_wins: bool = False) -> tuple[Array, Bracket]:
    """Elementwise max of same-shaped arrays and the bracket recording who won; np.maximum propagates NaN.

    With `nan_wins`, a NaN in the right half beats the left, so the gradient goes to the last NaN of a window, as
    PyTorch's max-pool sends it. The max is a new array unless there is a single entrant.
    """
    if len(entrants) == 1:
        return entrants[0], None
    half = len(entrants) // 2
    left, left_bracket = _tournament(entrants[:half], nan_wins)
    right, right_bracket = _tournament(entrants[half:], nan_wins)
    right_won = right > left  # strict: a tie goes to the left half, the earlier positions
    if nan_wins:
        right_won |= np.isnan(right)
    best = np.maximum(left, right, out=None if left_bracket is None else left)  # a match's max is ours to reuse
    return best, (right_won, left_bracket, right_bracket)


def _winners(bracket: Bracket, reached: Array | None) -> list[Array | None]:
    """For each entrant, in order, where it won the tournament (None: everywhere); `reached`: where this bracket won."""
    if bracket is None:
        return [reached]
    right_won, left_bracket, right_bracket = bracket
    # On bools, a > b is a and not b.
    left = np.logical_not(right_won) if reached is None else np.greater(reached, right_won)
    right = right_won if reached is None else np.logical_and(reached, right_won)
    return _winners(left_bracket, left) + _winners(right_bracket, right)


class AvgPool2DFunction(Function):
    """Mean over each window, as torch.nn.functional.avg_pool2d without padding: one strided slice per kernel offset."""

    @staticmethod
    def forward(ctx: Any, x: Array, kernel: Pair, stride: Pair) -> Array:
        H, W = x.shape[2:]
        (kh, kw), (sh, sw) = kernel, stride
        OH, OW = (H - kh) // sh + 1, (W - kw) // sw + 1
        out = np.zeros((*x.shape[:2], OH, OW), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                out += x[:, :, i : i + sh * (OH - 1) + 1 : sh, j : j + sw * (OW - 1) + 1 : sw]
        out *= out.dtype.type(1 / (kh * kw))
        ctx.x_shape, ctx.kernel, ctx.stride = x.shape, kernel, stride
        return out

    @staticmethod
    def backward(ctx: Any, d_out: Array) -> Array:
        (kh, kw), (sh, sw) = ctx.kernel, ctx.stride
        OH, OW = d_out.shape[2:]
        share = d_out * d_out.dtype.type(1 / (kh * kw))
        dx = np.zeros(ctx.x_shape, dtype=d_out.dtype)
        for i in range(kh):
            for j in range(kw):
                dx[:, :, i : i + sh * (OH - 1) + 1 : sh, j : j + sw * (OW - 1) + 1 : sw] += share
        return dx


def _pair(value: int | tuple[int, int], name: str, minimum: int) -> Pair:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < minimum for v in pair):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair[0], pair[1]


def _check_images(layer: Module, x: Tensor | Array, channels: int | None, kernel: Pair, padding: Pair) -> Tensor:
    """x as a Tensor, after checking it is (N, C, H, W) with the expected C and at least one window."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    name = type(layer).__name__
    if x.ndim != 4:
        raise ValueError(f"{name} expects input of shape (batch, channels, height, width), got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name}(in_channels={channels}) got input of shape {x.shape} with {x.shape[1]} channels; "
            f"axis 1 of (batch, channels, height, width) must be {channels}"
        )
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(f"{name} kernel {kernel} is larger than the (padded) input {padded} of input shape {x.shape}")
    return x


class Conv2D(Module):
    """2-D convolution over (N, C, H, W), as torch.nn.Conv2d; weight is (out, in, kh, kw)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv2D needs positive channel counts, got in={in_channels}, out={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        self.weight = Parameter(np.zeros((out_channels, in_channels, *self.kernel_size), dtype=np.float32))
        self.bias = Parameter(np.zeros(out_channels, dtype=np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform(a=sqrt(5)) weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor | Array) -> Tensor:
        x = _check_images(self, x, self.in_channels, self.kernel_size, self.padding)
        result: Tensor = Conv2DFunction.apply(x, self.weight, self.bias, stride=self.stride, padding=self.padding)
        return result

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class MaxPool2D(Module):
    """Max pooling over (N, C, H, W), as torch.nn.MaxPool2d; stride defaults to kernel_size."""

    # max_pool(relu(x)) == relu(max_pool(x)), gradients included: a window whose maximum is positive sends its
    # gradient to the same first maximum either way, and one whose maximum is not gets none either way. Pooling
    # first leaves the ReLU a quarter of the elements (2x2 windows): the benchmark's CNN steps took 0.87-0.95 of
    # the time.
    commutes_after = (ReLU,)

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)

    def forward(self, x: Tensor | Array) -> Tensor:
        x = _check_images(self, x, None, self.kernel_size, (0, 0))
        result: Tensor = MaxPool2DFunction.apply(x, kernel=self.kernel_size, stride=self.stride)
        return result

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Conv1d(Module):
    """1-D convolution over (N, C, L), as torch.nn.Conv1d; weight is (out, in, k). Runs as Conv2D on (N, C, 1, L)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"Conv1d needs positive channel counts, got in={in_channels}, out={out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)[0]
        self.stride = _pair(stride, "stride", 1)[0]
        self.padding = _pair(padding, "padding", 0)[0]
        self.weight = Parameter(np.zeros((out_channels, in_channels, self.kernel_size), dtype=np.float32))
        self.bias = Parameter(np.zeros(out_channels, dtype=np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform(a=sqrt(5)) weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * self.kernel_size)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor | Array) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv1d(in_channels={self.in_channels}) expects input of shape (batch, {self.in_channels}, length), "
                f"got shape {x.shape}"
            )
        images = _check_images(
            self, x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]), None, (1, self.kernel_size), (0, self.padding)
        )
        weight = self.weight.reshape(self.out_channels, self.in_channels, 1, self.kernel_size)
        out: Tensor = Conv2DFunction.apply(
            images, weight, self.bias, stride=(1, self.stride), padding=(0, self.padding)
        )
        return out.reshape(out.shape[0], out.shape[1], out.shape[3])

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class AvgPool2d(Module):
    """Average pooling over (N, C, H, W), as torch.nn.AvgPool2d; zero padding counts towards each mean."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(f"AvgPool2d padding {self.padding} must be at most half of kernel_size {self.kernel_size}")

    def forward(self, x: Tensor | Array) -> Tensor:
        x = _check_images(self, x, None, self.kernel_size, self.padding)
        (ph, pw) = self.padding
        if ph or pw:
            x = F.pad(x, (pw, pw, ph, ph))
        result: Tensor = AvgPool2DFunction.apply(x, kernel=self.kernel_size, stride=self.stride)
        return result

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _adaptive_bins(size: int, out: int) -> Array:
    """(out, size) matrix averaging PyTorch's adaptive bins: bin i spans floor(i*size/out) .. ceil((i+1)*size/out)."""
    matrix = np.zeros((out, size), dtype=np.float32)
    for i in range(out):
        start, end = (i * size) // out, -(-(i + 1) * size // out)
        matrix[i, start:end] = 1 / (end - start)
    return matrix


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed (OH, OW) whatever the input size, as torch.nn.AdaptiveAvgPool2d.

    Each output averages a rectangle of inputs, so the pooling is separable: one averaging matrix over the
    rows and one over the columns, two matmuls whose gradients the autograd already has.
    """

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = _pair(output_size, "output_size", 1)

    def forward(self, x: Tensor | Array) -> Tensor:
        x = _check_images(self, x, None, (1, 1), (0, 0))
        (OH, OW), (H, W) = self.output_size, x.shape[2:]
        rows = _adaptive_bins(H, OH).astype(x.dtype)
        columns = _adaptive_bins(W, OW).T.astype(x.dtype)
        result: Tensor = rows @ x @ columns
        return result

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
