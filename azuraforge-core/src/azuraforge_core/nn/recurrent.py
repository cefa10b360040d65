"""LSTM and GRU: each layer runs its whole sequence as one Function with a hand-written backward (BPTT).

Parameters, their names, shapes, gate orders and initialisation are PyTorch's, so state_dicts move
between the two unchanged. What the kernels do differently, for speed:

- Feature-major layout: a step's gates are a (gates*H, batch) block, so each gate is a contiguous
  slab and every elementwise op runs over one flat array.
- One stacked input buffer per layer, (T+1, H+1+D+1, B): at step t it holds [h_{t-1}; 1; x_t; 1].
  The input projection `[W_ih | b_ih] @ [x; 1]` of every timestep is one batched matmul before the
  loop; each step adds `[W_hh | b_hh] @ [h; 1]`; and backward gets every weight and bias gradient
  from one matmul of the pre-activation gradients with this buffer.
- The sigmoid is three in-place calls over the sigmoid gates, which are one contiguous block (the
  LSTM's rows are reordered to o, i, f, g) whose weight rows are pre-scaled, in whichever of two forms
  numpy computes faster on the CPU (see `_sigmoid_by_tanh`): 0.5 * tanh(x / 2) + 0.5 (rows halved) or
  1 / (1 + exp(-x)) (rows negated; for x < -88, exp(-x) overflows to inf and the sigmoid is exactly 0,
  the warning silenced).
- The time loops do a few in-place numpy calls per step on arrays small enough to stay in cache;
  the large per-sequence arrays come from the kernels' buffer pool (see `nn.buffers`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from azuraforge_core.nn import init
from azuraforge_core.nn.buffers import buffer_pool
from azuraforge_core.nn.module import Module, Parameter
from azuraforge_core.tensor import Array, Function, Tensor, concatenate


def _stacked_inputs(x: Array, h0: Array | None, hidden: int, batch_first: bool, dtype: np.dtype[Any]) -> Array:
    """The (T+1, H+1+D+1, B) buffer [h_{t-1}; 1; x_t; 1] with h_{-1} = h0 filled in."""
    xs = _batch_major_inverse(x, batch_first)  # (T, D, B)
    T, D, B = xs.shape
    H = hidden
    stacked = np.empty((T + 1, H + D + 2, B), dtype=dtype)
    stacked[:, H] = 1
    stacked[:T, H + 1 : H + 1 + D] = xs
    stacked[T, H + 1 :] = 0
    stacked[:, H + 1 + D] = 1
    stacked[0, :H] = 0 if h0 is None else h0.reshape(B, H).T
    return stacked


def _with_bias(weight: Array, bias: Array, row_scale: Array) -> Array:
    """[weight | bias] with each row multiplied by `row_scale`, contiguous for the matmuls."""
    return np.concatenate([weight, bias[:, None]], axis=1) * row_scale[:, None]


def _batch_major(time_major: Array, batch_first: bool) -> Array:
    """(T, F, B) -> (B, T, F) if batch_first else (T, B, F), as views."""
    return time_major.transpose(2, 0, 1) if batch_first else time_major.transpose(0, 2, 1)


def _batch_major_inverse(batch_major: Array, batch_first: bool) -> Array:
    """(B, T, F) if batch_first else (T, B, F) -> (T, F, B), as views."""
    return batch_major.transpose(1, 2, 0) if batch_first else batch_major.transpose(0, 2, 1)


def _output_grads(d_output: Array, batch_first: bool) -> tuple[Array, Array]:
    """The output gradient as a (T, H, B) view, and which steps have any nonzero entry.

    Often only some steps get an output gradient (e.g. only the last one feeds a head), and the
    others can be skipped.
    """
    d_out = _batch_major_inverse(d_output, batch_first)
    return d_out, np.asarray(d_out.any(axis=(1, 2)))


def _weight_grads(d_pre: Array, inputs: Array) -> Array:
    """Σ_t d_pre[t] @ inputs[t].T for pre-activation gradients (T, G, B) and inputs (T, K, B).

    One matmul over time-and-batch columns, after copying both operands into that layout.
    """
    T, G, B = d_pre.shape
    K = inputs.shape[1]
    d_columns, input_columns = buffer_pool.take((G, T, B), d_pre.dtype), buffer_pool.take((K, T, B), inputs.dtype)
    np.copyto(d_columns, d_pre.transpose(1, 0, 2))
    np.copyto(input_columns, inputs.transpose(1, 0, 2))
    grads: Array = d_columns.reshape(G, T * B) @ input_columns.reshape(K, T * B).T
    buffer_pool.give(d_columns, input_columns)
    return grads


def _split_grads(grads: Array, hidden: int) -> tuple[Array, Array, Array, Array]:
    """(d W_ih, d W_hh, d b_ih, d b_hh) from the gradient of [W_hh | b_hh | W_ih | b_ih]."""
    H = hidden
    return grads[:, H + 1 : -1], grads[:, :H], grads[:, -1], grads[:, H]


@functools.cache
def _sigmoid_by_tanh() -> bool:
    """Whether the gates' sigmoid is 0.5 * tanh(x / 2) + 0.5 rather than 1 / (1 + exp(-x)).

    Chosen by the SIMD target numpy dispatches float32 tanh to, so a machine always computes the same numbers.
    With AVX-512 (X86_V4, AVX512_SKX) numpy's tanh costs about what its exp does (0.44 against 0.49 ns an element
    on an AMD EPYC) and a multiply and an add after it cost less than an add and a division after exp: the three
    sigmoid gates of a 256-wide step, 14.4 against 17.9 µs. With AVX2, tanh costs 1.8 times exp (4.3 against 2.4 ns).
    """
    try:
        from numpy.lib.introspect import opt_func_info

        target = str(opt_func_info(func_name="^tanh$", signature="float32")["tanh"]["ff"]["current"])
    except (ImportError, KeyError, TypeError):  # numpy before 2.1, or a build without dispatch
        return False
    return "X86_V4" in target or "AVX512" in target


def _sigmoid_row_scale() -> float:
    """What the kernels multiply the sigmoid gates' weight rows by, for `_in_place_sigmoid`."""
    return 0.5 if _sigmoid_by_tanh() else -1.0


def _in_place_sigmoid(dtype: np.dtype[Any]) -> Callable[[Array], None]:
    """The sigmoid of pre-activations whose weight rows were scaled by `_sigmoid_row_scale`, in place: three
    positional numpy calls with 0-d constants (cheaper for numpy to parse than keywords and floats)."""
    one, half = np.array(1, dtype=dtype), np.array(0.5, dtype=dtype)
    tanh, exp, multiply, add, divide = np.tanh, np.exp, np.multiply, np.add, np.divide

    def by_tanh(s: Array) -> None:
        tanh(s, s)
        multiply(s, half, s)
        add(s, half, s)

    def by_exp(s: Array) -> None:  # exp(-x) overflows to inf below x = -88: the callers silence the warning
        exp(s, s)
        add(s, one, s)
        divide(one, s, s)  # numpy vectorises division for AVX2 and AVX-512, np.reciprocal not

    return by_tanh if _sigmoid_by_tanh() else by_exp


@functools.cache
def _lstm_kernel_layout(hidden: int, dtype: np.dtype[Any]) -> tuple[Array, Array]:
    """Row order that turns PyTorch's gates i, f, g, o into the kernel's o, i, f, g, and the rows' scale.

    The three sigmoid gates (o, i, f) are one block for the forward's sigmoid, and the three gates
    whose gradient is a multiple of the cell's (i, f, g) are one block for the backward's. The
    sigmoid rows are scaled for the sigmoid's form (`_sigmoid_row_scale`). Cached, so read-only.
    """
    H = hidden
    order = np.concatenate([np.arange(3 * H, 4 * H), np.arange(3 * H)])
    scale = np.where(np.arange(4 * H) < 3 * H, _sigmoid_row_scale(), 1.0).astype(dtype)
    order.flags.writeable = scale.flags.writeable = False
    return order, scale


def _scaled_rows(weight: Array, bias: Array, order: Array, scale: Array, out: Array) -> None:
    """out = [weight | bias][order] with each row multiplied by `scale`, without temporaries."""
    np.multiply(weight[order], scale[:, None], out=out[:, :-1])
    np.multiply(bias[order], scale, out=out[:, -1])


def _sigmoid_slope(s: Array, out: Array) -> Array:
    """s * (1 - s), the sigmoid's derivative from its output, without temporaries."""
    np.subtract(1, s, out=out)
    out *= s
    return out


class LSTMLayerFunction(Function):
    """One LSTM layer over a whole sequence: returns (output, h_n, c_n), h_n and c_n shaped (1, B, H).

    `cells` holds at step t the gates o, i, f, g (rows 0:4H) followed by c_{t-1} (rows 4H:5H), so
    the cell update f * c_{t-1} + i * g is one multiply of the (i, f) block by the (g, c_{t-1})
    block and one add. With few input features the per-step matmul takes the whole stacked column
    [h_{t-1}; 1; x_t; 1], which saves adding a precomputed input projection at every step.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Array,
        h0: Array | None,
        c0: Array | None,
        w_ih: Array,
        w_hh: Array,
        b_ih: Array,
        b_hh: Array,
        batch_first: bool = True,
    ) -> tuple[Array, Array, Array]:
        H = w_hh.shape[1]
        dtype = np.result_type(x, w_ih)
        stacked = _stacked_inputs(x, h0, H, batch_first, dtype)
        T, B = stacked.shape[0] - 1, stacked.shape[2]
        order, scale = _lstm_kernel_layout(H, np.dtype(dtype))
        w_all = np.empty((4 * H, stacked.shape[1]), dtype=dtype)  # [W_hh | b_hh | W_ih | b_ih], as [h; 1; x; 1]
        w_h, w_x = w_all[:, : H + 1], w_all[:, H + 1 :]
        _scaled_rows(w_hh, b_hh, order, scale, out=w_h)
        _scaled_rows(w_ih, b_ih, order, scale, out=w_x)

        cells = buffer_pool.take((T + 1, 5 * H, B), dtype)
        cells[0, 4 * H :] = 0 if c0 is None else c0.reshape(B, H).T
        whole_column = w_ih.shape[1] + 1 <= H // 4
        if not whole_column:
            np.matmul(w_x, stacked[:T, H + 1 :], out=cells[:T, : 4 * H])
        tanh_c = buffer_pool.take((T, H, B), dtype)
        recurrent = np.empty((4 * H, B), dtype=dtype)
        products = np.empty((2 * H, B), dtype=dtype)
        i_times_g, f_times_c = products[:H], products[H:]
        sigmoid = _in_place_sigmoid(np.dtype(dtype))
        # The loop runs a dozen numpy calls per step on small arrays, so their overhead counts: each
        # step's views come from iterating over per-step arrays and outputs are passed positionally
        # (cheaper for numpy to parse than keywords).
        matmul, tanh, multiply, add = np.matmul, np.tanh, np.multiply, np.add
        steps = zip(
            cells[:T, : 4 * H],  # pre-activations, then the gates o, i, f, g in place
            cells[:T, : 3 * H],  # the sigmoid gates
            cells[:T, 3 * H : 4 * H],  # g
            cells[:T, H : 3 * H],  # i, f
            cells[:T, 3 * H :],  # g, c_{t-1}
            cells[:T, :H],  # o
            cells[1:, 4 * H :],  # c_t
            tanh_c,
            stacked[1:, :H],  # h_t
            stacked[:T] if whole_column else stacked[:T, : H + 1],  # [h_{t-1}; 1 (; x_t; 1)]
            strict=True,
        )
        w_step = w_all if whole_column else w_h
        with np.errstate(over="ignore"):
            for a, s, g, i_f, g_c, o, c, tanh_c_t, h_t, column in steps:
                if whole_column:
                    matmul(w_step, column, a)
                else:
                    matmul(w_step, column, recurrent)
                    add(a, recurrent, a)
                sigmoid(s)
                tanh(g, g)
                multiply(i_f, g_c, products)
                add(i_times_g, f_times_c, c)
                tanh(c, tanh_c_t)
                multiply(o, tanh_c_t, h_t)

        ctx.batch_first, ctx.stacked, ctx.cells, ctx.tanh_c = batch_first, stacked, cells, tanh_c
        ctx.w_ih, ctx.w_hh = w_ih, w_hh
        output = _batch_major(stacked[1:, :H], batch_first)
        return output, stacked[T, :H].T[None].copy(), cells[T, 4 * H :].T[None].copy()

    @staticmethod
    def backward(ctx: Any, d_output: Array, d_h_n: Array, d_c_n: Array) -> tuple[Array | None, ...]:
        cells, stacked, tanh_c = ctx.cells, ctx.stacked, ctx.tanh_c
        T, H, B = tanh_c.shape
        H4 = 4 * H
        order, _ = _lstm_kernel_layout(H, np.dtype(cells.dtype))
        gates = cells[:T, :H4]
        o, i, f, g = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
        h = stacked[1:, :H]
        # Every factor that does not depend on the incoming gradient, for all steps at once, so the
        # time loop is left with few numpy calls: the gradient w.r.t. the pre-activations is
        # coef * [dh; dc; dc; dc] (o's per unit of dh, i's, f's and g's per unit of dc): o's is
        # o(1 - o) tanh(c) = (1 - o) h, i's and f's (1 - s) s times g and c_{t-1} (one block in cells).
        d_pre = buffer_pool.take((T, H4, B), gates.dtype)
        np.subtract(1, gates[:, : 3 * H], out=d_pre[:, : 3 * H])
        d_pre[:, :H] *= h
        d_pre[:, H : 3 * H] *= gates[:, H : 3 * H]
        d_pre[:, H : 3 * H] *= cells[:T, 3 * H :]
        d_g = d_pre[:, 3 * H :]
        np.square(g, out=d_g)
        np.subtract(1, d_g, out=d_g)
        d_g *= i
        c_per_h = tanh_c  # dc gets dh * o * (1 - tanh(c)^2) = dh * (o - h * tanh(c))
        c_per_h *= h
        np.subtract(o, c_per_h, out=c_per_h)

        w_hh_T = np.ascontiguousarray(ctx.w_hh[order].T)
        d_out, has_d_out = _output_grads(d_output, ctx.batch_first)
        dh = d_h_n.reshape(B, H).T.copy()
        dc = d_c_n.reshape(B, H).T.copy()
        matmul, multiply, add = np.matmul, np.multiply, np.add  # see the forward's loop
        steps = zip(
            c_per_h[::-1],
            d_pre[::-1, :H],  # o's factor
            d_pre[::-1, H:].reshape(T, 3, H, B),  # i's, f's and g's factors
            f[::-1],
            d_pre[::-1],
            d_out[::-1],
            has_d_out[::-1].tolist(),
            strict=True,
        )
        for from_h, d_o, from_c, f_t, dz, d_out_t, has_d_out_t in steps:
            if has_d_out_t:
                add(dh, d_out_t, dh)
            multiply(from_h, dh, from_h)
            add(dc, from_h, dc)
            multiply(d_o, dh, d_o)
            multiply(from_c, dc, from_c)
            multiply(dc, f_t, dc)
            matmul(w_hh_T, dz, dh)

        dx = None
        if ctx.needs_input_grad[0]:
            dx = _batch_major(np.matmul(ctx.w_ih[order].T, d_pre), ctx.batch_first)
        grads = np.empty((H4, stacked.shape[1]), dtype=d_pre.dtype)
        grads[order] = _weight_grads(d_pre, stacked[:T])
        buffer_pool.give(d_pre, cells, tanh_c)
        d_w_ih, d_w_hh, d_b_ih, d_b_hh = _split_grads(grads, H)
        return dx, dh.T[None], dc.T[None], d_w_ih, d_w_hh, d_b_ih, d_b_hh


class GRULayerFunction(Function):
    """One GRU layer over a whole sequence: returns (output, h_n), h_n shaped (1, B, H).

    PyTorch's formula: r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Array,
        h0: Array | None,
        w_ih: Array,
        w_hh: Array,
        b_ih: Array,
        b_hh: Array,
        batch_first: bool = True,
    ) -> tuple[Array, Array]:
        H = w_hh.shape[1]
        dtype = np.result_type(x, w_ih)
        stacked = _stacked_inputs(x, h0, H, batch_first, dtype)
        T, B = stacked.shape[0] - 1, stacked.shape[2]
        scale = np.where(np.arange(3 * H) < 2 * H, _sigmoid_row_scale(), 1.0).astype(dtype)  # r, z: the sigmoid
        w_x, w_h = _with_bias(w_ih, b_ih, scale), _with_bias(w_hh, b_hh, scale)

        gates = buffer_pool.take((T, 3 * H, B), dtype)  # input projections, then r, z, n in place
        np.matmul(w_x, stacked[:T, H + 1 :], out=gates)
        recurrent = buffer_pool.take((T, 3 * H, B), dtype)  # keeps W_hn h + b_hn for backward
        h_minus_n = buffer_pool.take((T, H, B), dtype)
        rn = np.empty((H, B), dtype=dtype)
        rz, r, z, n = gates[:, : 2 * H], gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
        rec_rz, rec_n = recurrent[:, : 2 * H], recurrent[:, 2 * H :]
        h = stacked[:, :H]
        sigmoid = _in_place_sigmoid(np.dtype(dtype))
        matmul, tanh, multiply, add, subtract = np.matmul, np.tanh, np.multiply, np.add, np.subtract  # see the LSTM's
        steps = zip(
            stacked[:T, : H + 1],  # [h_{t-1}; 1]
            recurrent,
            rz,
            rec_rz,
            r,
            rec_n,
            n,
            z,
            h[:T],
            h[1:],
            h_minus_n,
            strict=True,
        )
        with np.errstate(over="ignore"):
            for column, rec, a, rec_a, r_t, rec_n_t, b, z_t, h_prev, h_t, h_minus_n_t in steps:
                matmul(w_h, column, rec)
                add(a, rec_a, a)
                sigmoid(a)
                multiply(r_t, rec_n_t, rn)
                add(b, rn, b)
                tanh(b, b)
                subtract(h_prev, b, h_minus_n_t)
                multiply(z_t, h_minus_n_t, h_t)
                add(h_t, b, h_t)

        ctx.batch_first, ctx.stacked, ctx.gates = batch_first, stacked, gates
        ctx.recurrent, ctx.h_minus_n, ctx.w_ih, ctx.w_hh = recurrent, h_minus_n, w_ih, w_hh
        return _batch_major(h[1:], batch_first), h[T].T[None].copy()

    @staticmethod
    def backward(ctx: Any, d_output: Array, d_h_n: Array) -> tuple[Array | None, ...]:
        gates, stacked = ctx.gates, ctx.stacked
        T, H3, B = gates.shape
        H = H3 // 3
        r, z, n = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
        # Per-step factors that do not depend on the incoming gradient, for all steps at once:
        # dn = dh * (1 - z) * (1 - n^2), dr = dn * hn * r(1 - r), dz = dh * (h - n) * z(1 - z).
        dn_coef, one_minus_z, dr_coef, dz_coef = (buffer_pool.take(n.shape, n.dtype) for _ in range(4))
        np.square(n, out=dn_coef)
        np.subtract(1, dn_coef, out=dn_coef)
        np.subtract(1, z, out=one_minus_z)
        dn_coef *= one_minus_z
        _sigmoid_slope(r, out=dr_coef)
        dr_coef *= ctx.recurrent[:, 2 * H :]
        _sigmoid_slope(z, out=dz_coef)
        dz_coef *= ctx.h_minus_n
        w_hh_T = np.ascontiguousarray(ctx.w_hh.T)
        d_out, has_d_out = _output_grads(d_output, ctx.batch_first)

        d_in = buffer_pool.take(gates.shape, gates.dtype)  # w.r.t. the input-side pre-activations (r, z, n)
        d_hid = buffer_pool.take(gates.shape, gates.dtype)  # w.r.t. W_hh h + b_hh (r, z, hn)
        dn, dr, dz, d_hn = d_in[:, 2 * H :], d_hid[:, :H], d_hid[:, H : 2 * H], d_hid[:, 2 * H :]
        dh = d_h_n.reshape(B, H).T.copy()
        dh_direct = np.empty((H, B), dtype=dh.dtype)
        matmul, multiply, add = np.matmul, np.multiply, np.add
        steps = zip(
            *(array[::-1] for array in (dn_coef, dn, dr_coef, dr, dz_coef, dz, r, d_hn, z, d_hid, d_out)),
            has_d_out[::-1].tolist(),
            strict=True,
        )
        for dn_coef_t, dn_t, dr_coef_t, dr_t, dz_coef_t, dz_t, r_t, d_hn_t, z_t, d_hid_t, d_out_t, has_d_out_t in steps:
            if has_d_out_t:
                add(dh, d_out_t, dh)
            multiply(dh, dn_coef_t, dn_t)
            multiply(dn_t, dr_coef_t, dr_t)
            multiply(dh, dz_coef_t, dz_t)
            multiply(dn_t, r_t, d_hn_t)
            multiply(dh, z_t, dh_direct)
            matmul(w_hh_T, d_hid_t, dh)
            add(dh, dh_direct, dh)
        d_in[:, : 2 * H] = d_hid[:, : 2 * H]

        dx = None
        if ctx.needs_input_grad[0]:
            dx = _batch_major(np.matmul(ctx.w_ih.T, d_in), ctx.batch_first)
        d_w_ih = _weight_grads(d_in, stacked[:T, H + 1 :])
        d_w_hh = _weight_grads(d_hid, stacked[:T, : H + 1])
        buffer_pool.give(d_in, d_hid, dn_coef, one_minus_z, dr_coef, dz_coef, gates, ctx.recurrent, ctx.h_minus_n)
        return dx, dh.T[None], d_w_ih[:, :-1], d_w_hh[:, :-1], d_w_ih[:, -1], d_w_hh[:, -1]


class _Recurrent(Module):
    """Parameters, initialisation and input checks shared by LSTM and GRU."""

    gates: int

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1 or num_layers < 1:
            raise ValueError(
                f"{type(self).__name__} needs positive sizes, got input_size={input_size}, "
                f"hidden_size={hidden_size}, num_layers={num_layers}"
            )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first = batch_first
        rows = self.gates * hidden_size
        for k in range(num_layers):
            layer_input = input_size if k == 0 else hidden_size
            setattr(self, f"weight_ih_l{k}", Parameter(np.zeros((rows, layer_input), dtype=np.float32)))
            setattr(self, f"weight_hh_l{k}", Parameter(np.zeros((rows, hidden_size), dtype=np.float32)))
            setattr(self, f"bias_ih_l{k}", Parameter(np.zeros(rows, dtype=np.float32)))
            setattr(self, f"bias_hh_l{k}", Parameter(np.zeros(rows, dtype=np.float32)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, as PyTorch."""
        bound = 1 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            init.uniform_(parameter, -bound, bound)

    def layer_parameters(self, k: int) -> tuple[Parameter, Parameter, Parameter, Parameter]:
        return (
            getattr(self, f"weight_ih_l{k}"),
            getattr(self, f"weight_hh_l{k}"),
            getattr(self, f"bias_ih_l{k}"),
            getattr(self, f"bias_hh_l{k}"),
        )

    def check_input(self, x: Tensor | Array) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        layout = "(batch, seq, features)" if self.batch_first else "(seq, batch, features)"
        name = type(self).__name__
        if x.ndim != 3:
            raise ValueError(
                f"{name} expects input of shape {layout} (batch_first={self.batch_first}), got shape {x.shape}"
            )
        if x.shape[2] != self.input_size:
            raise ValueError(
                f"{name}(input_size={self.input_size}) got input of shape {x.shape} with {x.shape[2]} features; "
                f"the last axis of {layout} must be {self.input_size}"
            )
        return x

    def check_state(self, state: Tensor | Array, name: str, batch: int) -> Tensor:
        state = state if isinstance(state, Tensor) else Tensor(state)
        expected = (self.num_layers, batch, self.hidden_size)
        if state.shape != expected:
            raise ValueError(
                f"{type(self).__name__} initial state {name} must have shape (num_layers, batch, hidden_size) "
                f"= {expected}, got {state.shape}"
            )
        return state

    def layer_state(self, state: Tensor | None, k: int) -> Tensor | None:
        if state is None or self.num_layers == 1:
            return state
        return state[k : k + 1]

    def batch_size(self, x: Tensor) -> int:
        return x.shape[0] if self.batch_first else x.shape[1]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, batch_first={self.batch_first}"


def _join_layers(states: list[Tensor]) -> Tensor:
    return states[0] if len(states) == 1 else concatenate(states, axis=0)


class LSTM(_Recurrent):
    """Multi-layer LSTM, as torch.nn.LSTM: forward(x, (h0, c0)=None) -> (output, (h_n, c_n)).

    x is (batch, seq, input_size) when batch_first (the default) else (seq, batch, input_size);
    output holds the last layer's h at every step; h0, c0, h_n and c_n are (num_layers, batch, hidden_size).
    """

    gates = 4

    def forward(
        self, x: Tensor | Array, hx: tuple[Tensor | Array, Tensor | Array] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        out = self.check_input(x)
        h0 = c0 = None
        if hx is not None:
            batch = self.batch_size(out)
            h0, c0 = self.check_state(hx[0], "h0", batch), self.check_state(hx[1], "c0", batch)
        h_n, c_n = [], []
        for k in range(self.num_layers):
            out, h, c = LSTMLayerFunction.apply(
                out,
                self.layer_state(h0, k),
                self.layer_state(c0, k),
                *self.layer_parameters(k),
                batch_first=self.batch_first,
            )
            h_n.append(h)
            c_n.append(c)
        return out, (_join_layers(h_n), _join_layers(c_n))


class GRU(_Recurrent):
    """Multi-layer GRU, as torch.nn.GRU: forward(x, h0=None) -> (output, h_n); shapes as for LSTM."""

    gates = 3

    def forward(self, x: Tensor | Array, hx: Tensor | Array | None = None) -> tuple[Tensor, Tensor]:
        out = self.check_input(x)
        h0 = None if hx is None else self.check_state(hx, "h0", self.batch_size(out))
        h_n = []
        for k in range(self.num_layers):
            out, h = GRULayerFunction.apply(
                out, self.layer_state(h0, k), *self.layer_parameters(k), batch_first=self.batch_first
            )
            h_n.append(h)
        return out, _join_layers(h_n)
