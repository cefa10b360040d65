"""The backward walk itself: accumulation, no_grad, graph release, deep graphs, skipped gradients."""

from __future__ import annotations

import operator
import weakref
from typing import Any

import numpy as np
import pytest
import torch
from conftest import compare_with_torch, grad_of
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from azuraforge_core import Tensor, is_grad_enabled, nn, no_grad
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)
from azuraforge_core.optim import clip_grad_norm_
from azuraforge_core.tensor import Array, Function


def test_gradients_accumulate_across_backward_calls_until_cleared():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(grad_of(x), [3 + 2, 3 + 4])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(grad_of(x), [3, 3])


def test_reused_nodes_sum_their_gradients():
    x = Tensor(np.array([0.5, -1.5], dtype=np.float32), requires_grad=True)
    h = x * x
    (h + h * x + h.exp()).sum().backward()
    expected = 2 * x.data + 3 * x.data**2 + np.exp(x.data**2) * 2 * x.data
    np.testing.assert_allclose(grad_of(x), expected, rtol=1e-6)


def test_backward_of_a_non_scalar_needs_an_explicit_gradient():
    y = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar output, got shape \(2, 3\).*pass grad="):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), the output has shape \(2, 3\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).sum().backward()


def test_backward_seed_reaches_a_leaf_directly():
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    x.backward(np.array([0.5, 2.0]))
    assert grad_of(x).dtype == np.float32
    np.testing.assert_allclose(grad_of(x), [0.5, 2.0])


def test_no_grad_records_nothing_and_restores_the_previous_mode():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2).exp()
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert not y.requires_grad
    assert y.is_leaf
    with pytest.raises(ZeroDivisionError), no_grad():
        raise ZeroDivisionError
    assert is_grad_enabled()
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [2, 2, 2])


def test_a_chain_of_ten_thousand_ops_backpropagates():
    x = Tensor(np.array([1.0], dtype=np.float64), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), [1.0001**10_000], rtol=1e-9)


def test_graph_buffers_are_released_after_backward():
    x = Tensor(np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32), requires_grad=True)
    hidden = x.tanh()
    saved = weakref.ref(hidden.data)
    loss = (hidden * hidden).sum()
    del hidden
    assert saved() is not None  # the graph keeps what backward needs alive...
    loss.backward()
    assert saved() is None  # ...and lets go of it afterwards
    with pytest.raises(RuntimeError, match="already backpropagated"):
        loss.backward()


class _Recording(Function):
    """Multiplies its inputs; records which input gradients the walk asked for."""

    calls: list[tuple[bool, ...]] = []  # noqa: RUF012

    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> Array:
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx: Any, g: Array) -> tuple[Array | None, Array | None]:
        _Recording.calls.append(ctx.needs_input_grad)
        da, db = ctx.needs_input_grad
        return (g * ctx.b if da else None), (g * ctx.a if db else None)


def test_needs_input_grad_tells_backward_which_gradients_to_skip():
    _Recording.calls.clear()
    frozen = Tensor(np.ones(2, dtype=np.float32))
    weight = Tensor(np.full(2, 3.0, dtype=np.float32), requires_grad=True)
    _Recording.apply(frozen, weight).sum().backward()
    assert _Recording.calls == [(False, True)]
    assert frozen.grad is None
    np.testing.assert_allclose(grad_of(weight), [1.0, 1.0])
    with no_grad():
        untracked = _Recording.apply(weight, weight)
    assert not untracked.requires_grad


def test_linear_skips_the_input_gradient_when_the_input_needs_none(monkeypatch):
    computed: list[tuple[bool, ...]] = []
    original = F.Linear.backward

    def spy(ctx: Any, g: Array) -> Any:
        result = original(ctx, g)
        computed.append(tuple(part is not None for part in result))
        return result

    monkeypatch.setattr(F.Linear, "backward", staticmethod(spy))
    x = Tensor(np.ones((4, 3), dtype=np.float32))
    w = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    b = Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    F.linear(x, w, b).sum().backward()
    assert computed == [(False, True, True)]


class _SplitHalves(Function):
    """Two outputs: the sum and the product of two arrays."""

    @staticmethod
    def forward(ctx: Any, a: Array, b: Array) -> tuple[Array, Array]:
        ctx.a, ctx.b = a, b
        return a + b, a * b

    @staticmethod
    def backward(ctx: Any, g_sum: Array, g_product: Array) -> tuple[Array, Array]:
        return g_sum + g_product * ctx.b, g_sum + g_product * ctx.a


def test_functions_with_several_outputs_get_a_gradient_per_output():
    a = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    b = Tensor(np.array([3.0, 5.0], dtype=np.float32), requires_grad=True)
    total, product = _SplitHalves.apply(a, b)
    (total * 2 + product).sum().backward()
    np.testing.assert_allclose(grad_of(a), 2 + b.data)
    np.testing.assert_allclose(grad_of(b), 2 + a.data)
    a.grad = None
    _, only_product = _SplitHalves.apply(a, b)  # the unused output contributes a zero gradient
    only_product.sum().backward()
    np.testing.assert_allclose(grad_of(a), b.data)


class _Handing(Function):
    """y = 2x, whose backward hands back an array chosen by `how`, so the walk's copy-or-keep is visible."""

    kept: list[Array] = []  # noqa: RUF012
    returned: list[weakref.ref[Array]] = []  # noqa: RUF012

    @staticmethod
    def forward(ctx: Any, x: Array, how: str) -> Array:
        ctx.how, ctx.saved, ctx.larger = how, np.full(x.shape, 7.0, x.dtype), np.full(2 * x.size, 7.0, x.dtype)
        return 2 * x

    @staticmethod
    def backward(ctx: Any, g: Array) -> Array:
        fresh = 2 * g
        grad: Array = {
            "fresh": fresh,
            "reshaped fresh": fresh.reshape(-1).reshape(g.shape),
            "kept": fresh,
            "saved array": ctx.saved,
            "slice of a saved array": ctx.larger[: g.size].reshape(g.shape),
            "read-only": np.broadcast_to(np.float32(2), g.shape),
            "view of the incoming gradient": g[...],
        }[ctx.how]
        if ctx.how == "kept":
            _Handing.kept.append(grad)
        _Handing.returned.append(weakref.ref(grad))
        return grad


def test_a_first_gradient_nothing_else_can_reach_is_taken_over_without_a_copy():
    for how in ("fresh", "reshaped fresh"):
        _Handing.returned.clear()
        w = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
        _Handing.apply(w, how=how).sum().backward()
        assert grad_of(w) is _Handing.returned[0](), how
        np.testing.assert_array_equal(grad_of(w), [2, 2, 2])


@pytest.mark.parametrize(
    "how", ["kept", "slice of a saved array", "saved array", "read-only", "view of the incoming gradient"]
)
def test_a_first_gradient_something_else_can_reach_is_copied(how):
    _Handing.kept.clear()
    w = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    seed = np.full(3, 2.0, dtype=np.float32)
    out = _Handing.apply(w, how=how)
    out.backward(seed)
    grad = grad_of(w)
    expected = grad.copy()
    assert grad.flags.writeable
    for other in [seed, w.data, *_Handing.kept]:
        assert not np.shares_memory(grad, other)
    grad *= 10  # as clip_grad_norm_ does: nothing else changes
    np.testing.assert_array_equal(seed, 2.0)
    for other in _Handing.kept:
        np.testing.assert_array_equal(other, expected)


def test_one_gradient_array_reaching_several_leaves_is_not_shared_between_them():
    a = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (a + b).sum().backward()  # Add hands its one incoming gradient to both inputs
    assert not np.shares_memory(a.grad, b.grad)
    clip_grad_norm_([a, b], max_norm=1.0)  # scales each gradient in place, once
    np.testing.assert_allclose(grad_of(a), np.full(3, 1 / np.sqrt(6)), rtol=1e-5)
    np.testing.assert_allclose(grad_of(b), np.full(3, 1 / np.sqrt(6)), rtol=1e-5)
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (x + x).sum().backward()  # one leaf used twice: the second gradient adds into the first
    np.testing.assert_array_equal(grad_of(x), [2, 2, 2])
    seed = np.arange(3, dtype=np.float32)
    x.grad = None
    x.reshape(3, 1).backward(seed.reshape(3, 1))  # the gradient is a view of the caller's seed
    x.backward(seed)  # and a seed given to the leaf itself
    assert not np.shares_memory(x.grad, seed)
    np.testing.assert_array_equal(grad_of(x), 2 * seed)


@pytest.mark.parametrize("kind", ["mlp", "lstm", "transformer", "conv-bn"])
def test_after_backward_no_gradient_shares_memory_with_another_or_with_any_data(kind):
    rng = np.random.default_rng(0)
    model, x = {
        "mlp": (nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)), rng.normal(size=(4, 6))),
        "lstm": (nn.LSTM(3, 5, num_layers=2, batch_first=True), rng.normal(size=(2, 4, 3))),
        "transformer": (
            nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True),
            rng.normal(size=(2, 3, 8)),
        ),
        "conv-bn": (nn.Sequential(nn.Conv2D(1, 3, 3), nn.BatchNorm2d(3)), rng.normal(size=(2, 1, 6, 6))),
    }[kind]
    inputs = Tensor(x.astype(np.float32), requires_grad=True)
    for _ in range(2):  # a second backward accumulates into the first gradients
        out = model(inputs)
        (out[0] if isinstance(out, tuple) else out).sum().backward()
    params = list(model.parameters())
    grads = [p.grad for p in [*params, inputs]]
    arrays = [*grads, *(p.data for p in params), inputs.data]
    for i, g in enumerate(grads):
        assert g is not None
        assert not any(np.shares_memory(g, other) for j, other in enumerate(arrays) if j != i)


TORCH_REDUCTIONS = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin"}
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None)
FLOATS = st.floats(-3, 3, width=32)


@PROPERTY_SETTINGS
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
    op=st.sampled_from(["add", "sub", "mul", "div"]),
    seed=st.integers(0, 2**16),
)
def test_property_broadcast_binary_ops_match_torch(shapes, op, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(0.5, 2.0, size=shape).astype(np.float32) for shape in shapes.input_shapes)
    fn = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}[op]
    compare_with_torch(fn, fn, [a, b], seed=seed)


@PROPERTY_SETTINGS
@given(
    shape=array_shapes(min_dims=1, max_dims=4, max_side=5),
    data=st.data(),
    name=st.sampled_from(["sum", "mean", "max", "min"]),
    keepdims=st.booleans(),
)
def test_property_reductions_over_random_axes_match_torch(shape, data, name, keepdims):
    ndim = len(shape)
    axes = data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    axis = tuple(axes)
    x = np.random.default_rng(len(shape)).normal(size=shape).astype(np.float32)
    compare_with_torch(
        lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
        lambda t: getattr(torch, TORCH_REDUCTIONS[name])(t, dim=axis, keepdim=keepdims),
        [x],
    )


@PROPERTY_SETTINGS
@given(
    batch=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
    m=st.integers(1, 4),
    k=st.integers(1, 4),
    n=st.integers(1, 4),
)
def test_property_batched_matmul_matches_torch(batch, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.normal(size=(*batch.input_shapes[0], m, k)).astype(np.float32)
    b = rng.normal(size=(*batch.input_shapes[1], k, n)).astype(np.float32)
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], atol=1e-5)


@PROPERTY_SETTINGS
@given(
    rows=st.integers(1, 6),
    indices=st.lists(st.integers(0, 5), min_size=1, max_size=10),
    scale=FLOATS,
)
def test_property_fancy_indexing_accumulates_like_torch(rows, indices, scale):
    index = np.array([i % rows for i in indices])
    x = np.linspace(-1, 1, rows * 3, dtype=np.float32).reshape(rows, 3)
    compare_with_torch(lambda t: t[index] * scale, lambda t: t[torch.tensor(index)] * scale, [x])


@PROPERTY_SETTINGS
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=4), seed=st.integers(0, 2**16))
def test_property_permute_and_reshape_round_trip_gradients(shape, seed):
    rng = np.random.default_rng(seed)
    order = tuple(int(i) for i in rng.permutation(len(shape)))
    x = rng.normal(size=shape).astype(np.float32)
    compare_with_torch(
        lambda t: t.permute(*order).reshape(-1) * 2, lambda t: t.permute(*order).reshape(-1) * 2, [x], seed=seed
    )
