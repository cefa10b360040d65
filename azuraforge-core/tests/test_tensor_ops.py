"""Every Tensor operator and method against PyTorch: values and gradients, across broadcasting shapes."""

from __future__ import annotations

import operator

import numpy as np
import pytest
import torch
from conftest import compare_with_torch, grad_of

from azuraforge_core import Tensor, concatenate, stack, where

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((4, 1), (1, 5)),
]

BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
}


def _operands(rng: np.random.Generator, shapes: tuple[tuple[int, ...], ...]) -> list[np.ndarray]:
    # Positive values keep div and pow (with a tensor exponent) away from poles and complex results.
    return [rng.uniform(0.5, 2.0, size=shape).astype(np.float32) for shape in shapes]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS)
def test_binary_operators_broadcast_like_torch(rng, name, shapes):
    op = BINARY[name]
    compare_with_torch(op, op, _operands(rng, shapes))


@pytest.mark.parametrize("name", BINARY)
def test_reflected_operators_with_python_scalars(rng, name):
    op = BINARY[name]
    (x,) = _operands(rng, ((3, 4),))
    compare_with_torch(lambda t: op(1.5, t), lambda t: op(1.5, t), [x])
    compare_with_torch(lambda t: op(t, 1.5), lambda t: op(t, 1.5), [x])


@pytest.mark.parametrize("name", BINARY)
def test_numpy_array_on_the_left_defers_to_tensor(rng, name):
    op = BINARY[name]
    x, constant = _operands(rng, ((3, 4), (4,)))
    result = op(constant, Tensor(x, requires_grad=True))
    assert isinstance(result, Tensor)
    np.testing.assert_allclose(result.data, op(constant, x), rtol=1e-6)
    assert result.dtype == np.float32


def test_negation_and_scalar_exponents(rng):
    (x,) = _operands(rng, ((3, 4),))
    compare_with_torch(lambda t: -t, lambda t: -t, [x])
    for exponent in (2, 3.0, 0.5, -1.5, 0):
        compare_with_torch(lambda t, e=exponent: t**e, lambda t, e=exponent: t**e, [x])


def test_pow_with_negative_base_and_zero_follows_torch():
    base = np.array([-2.0, 0.0, 0.0, 3.0], dtype=np.float32)
    compare_with_torch(lambda t: t**2, lambda t: t**2, [base])
    compare_with_torch(lambda t: t**0, lambda t: t**0, [base])
    exponent = np.array([2.0, 2.0, 0.0, 1.0], dtype=np.float32)
    compare_with_torch(lambda b, e: b**e, lambda b, e: b**e, [np.abs(base), exponent])


UNARY = {
    "exp": (lambda t: t.exp(), torch.exp),
    "log": (lambda t: t.log(), torch.log),
    "sqrt": (lambda t: t.sqrt(), torch.sqrt),
    "tanh": (lambda t: t.tanh(), torch.tanh),
    "sigmoid": (lambda t: t.sigmoid(), torch.sigmoid),
    "relu": (lambda t: t.relu(), torch.relu),
    "abs": (lambda t: t.abs(), torch.abs),
    "clip": (lambda t: t.clip(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7)),
    "clip_min": (lambda t: t.clip(min=0.1), lambda t: t.clamp(min=0.1)),
    "clip_max": (lambda t: t.clip(max=0.1), lambda t: t.clamp(max=0.1)),
}
POSITIVE_ONLY = {"log", "sqrt"}


@pytest.mark.parametrize("name", UNARY)
def test_unary_methods_match_torch(rng, name):
    ours, theirs = UNARY[name]
    x = rng.normal(size=(4, 5)).astype(np.float32)
    if name in POSITIVE_ONLY:
        x = np.abs(x) + 0.1
    compare_with_torch(ours, theirs, [x])


def test_kinks_take_torchs_subgradient_at_zero():
    x = np.array([-1.0, 0.0, 1.0, -0.5, 0.7], dtype=np.float32)
    compare_with_torch(lambda t: t.relu(), torch.relu, [x])  # relu'(0) = 0
    with_nan = np.array([np.nan, -1.0, 0.0, 2.0], dtype=np.float32)
    compare_with_torch(lambda t: t.relu(), torch.relu, [with_nan])  # a NaN passes the gradient on
    compare_with_torch(lambda t: t.abs(), torch.abs, [x])  # abs'(0) = 0
    compare_with_torch(lambda t: t.clip(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), [x])  # bounds pass


@pytest.mark.parametrize(
    "shape", [(), (7,), (5000,), (3, 5000), (2, 3, 40, 40), (4, 70, 70)], ids=lambda shape: str(shape)
)
def test_relu_matches_torch_at_any_shape_and_layout(shape):
    # The max is taken against zeros over some trailing axes; every shape and a strided view must broadcast.
    x = np.random.default_rng(12).standard_normal(shape).astype(np.float32)
    compare_with_torch(lambda t: t.relu(), torch.relu, [x])
    if x.ndim:
        view = np.random.default_rng(13).standard_normal((*shape[:-1], shape[-1] + 3)).astype(np.float32)[..., 1:-2]
        out = Tensor(view).relu().data
        np.testing.assert_array_equal(out, np.maximum(view, 0))
        assert not np.shares_memory(out, view)
    assert Tensor(np.array([-2, 0, 3])).relu().data.tolist() == [0, 0, 3]


def test_sigmoid_and_tanh_do_not_overflow_for_large_inputs():
    x = np.array([-1000.0, -90.0, -20.0, 0.0, 20.0, 90.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        compare_with_torch(lambda t: t.sigmoid(), torch.sigmoid, [x], atol=1e-30)
        compare_with_torch(lambda t: t.tanh(), torch.tanh, [x], atol=1e-30)


def test_sigmoid_keeps_relative_precision_on_both_sides_and_propagates_nan():
    # Tiny values for negative inputs stay exact relative to torch's float64 sigmoid; NaN, ±0 and ±inf pass.
    x = np.concatenate([np.linspace(-80, 80, 401), [np.nan, -0.0, -np.inf, np.inf]]).astype(np.float32)
    ours = Tensor(x).sigmoid().data
    theirs = torch.sigmoid(torch.from_numpy(x).double()).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=5e-7, atol=0)
    assert ours.dtype == np.float32


MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 2)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul_1d_2d_and_batched(rng, shapes):
    inputs = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    compare_with_torch(operator.matmul, operator.matmul, inputs, rtol=1e-5, atol=1e-5)


def test_reflected_matmul_with_a_numpy_array(rng):
    a = rng.normal(size=(2, 3)).astype(np.float32)
    b = rng.normal(size=(3, 4)).astype(np.float32)
    compare_with_torch(lambda t: a @ t, lambda t: torch.tensor(a) @ t, [b], atol=1e-5)


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        Tensor(np.zeros((2, 3))) @ Tensor(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"at least 1 dimension"):
        Tensor(np.float32(2.0)) @ Tensor(np.zeros(3))


REDUCTIONS = {
    "sum": (lambda t, axis, keep: t.sum(axis=axis, keepdims=keep), torch.sum),
    "mean": (lambda t, axis, keep: t.mean(axis=axis, keepdims=keep), torch.mean),
    "max": (lambda t, axis, keep: t.max(axis=axis, keepdims=keep), torch.amax),
    "min": (lambda t, axis, keep: t.min(axis=axis, keepdims=keep), torch.amin),
}


def _torch_reduce(fn, t, axis, keep):
    if axis is None:
        out = fn(t) if fn in (torch.sum, torch.mean) else fn(t, dim=tuple(range(t.ndim)))
        return out.reshape((1,) * t.ndim) if keep else out
    return fn(t, dim=axis, keepdim=keep)


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_torch(rng, name, axis, keepdims):
    ours, theirs = REDUCTIONS[name]
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    compare_with_torch(
        lambda t: ours(t, axis, keepdims), lambda t: _torch_reduce(theirs, t, axis, keepdims), [x], atol=1e-6
    )


def test_max_and_min_with_ties_split_the_gradient_like_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0]], dtype=np.float32)
    compare_with_torch(lambda t: t.max(axis=1), lambda t: torch.amax(t, dim=1), [x])
    compare_with_torch(lambda t: t.min(axis=0), lambda t: torch.amin(t, dim=0), [x])
    compare_with_torch(lambda t: t.max(), lambda t: t.max(), [np.array([2.0, 7.0, 7.0, 7.0], dtype=np.float32)])
    t = Tensor(x, requires_grad=True)
    t.max(axis=1).sum().backward()
    np.testing.assert_allclose(grad_of(t), np.array([[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0, 0, 1]]), rtol=1e-6)


def test_mean_of_integers_is_float32():
    assert Tensor(np.array([1, 2, 4])).mean().dtype == np.float32
    assert (Tensor(np.array([1, 0, 1])) == 1).mean().item() == pytest.approx(2 / 3)


SHAPE_OPS = {
    "reshape_args": (lambda t: t.reshape(4, 6), lambda t: t.reshape(4, 6)),
    "reshape_tuple": (lambda t: t.reshape((2, -1)), lambda t: t.reshape((2, -1))),
    "permute": (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    "permute_tuple": (lambda t: t.permute((1, 2, 0)), lambda t: t.permute((1, 2, 0))),
    "transpose": (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
    "T": (lambda t: t.T, lambda t: t.permute(2, 1, 0)),
    "slice": (lambda t: t[1:, ::2], lambda t: t[1:, ::2]),
    "int_and_slice": (lambda t: t[0, 1:3], lambda t: t[0, 1:3]),
    "negative_int": (lambda t: t[-1], lambda t: t[-1]),
    "ellipsis_none": (lambda t: t[..., None, 1], lambda t: t[..., None, 1]),
    "int_array_repeats": (lambda t: t[np.array([0, 1, 0, 0])], lambda t: t[torch.tensor([0, 1, 0, 0])]),
    "list_index": (lambda t: t[:, [2, 2, 1]], lambda t: t[:, [2, 2, 1]]),
    "paired_arrays": (
        lambda t: t[np.array([0, 1, 1]), np.array([2, 2, 2])],
        lambda t: t[torch.tensor([0, 1, 1]), torch.tensor([2, 2, 2])],
    ),
    "bool_mask": (
        lambda t: t[np.array([True, False])],
        lambda t: t[torch.tensor([True, False])],
    ),
    "tensor_index": (lambda t: t[Tensor(np.array([1, 1]))], lambda t: t[torch.tensor([1, 1])]),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_ops_and_indexing_match_torch(rng, name):
    ours, theirs = SHAPE_OPS[name]
    compare_with_torch(ours, theirs, [rng.normal(size=(2, 3, 4)).astype(np.float32)])


def test_repeated_indices_accumulate_their_gradients():
    t = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    t[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(grad_of(t), [3.0, 0.0, 1.0])


def test_reshape_and_permute_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(4,\)"):
        Tensor(np.zeros((2, 3))).reshape(4)
    with pytest.raises(ValueError, match=r"each of the 2 axes"):
        Tensor(np.zeros((2, 3))).permute(0, 0)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(rng, axis):
    a, b, c = (rng.normal(size=(2, 3)).astype(np.float32) for _ in range(3))
    compare_with_torch(
        lambda *ts: concatenate(ts, axis=axis), lambda *ts: torch.cat(ts, dim=axis), [a, b, c[:, :2] if axis else c]
    )
    compare_with_torch(lambda *ts: stack(ts, axis=axis), lambda *ts: torch.stack(ts, dim=axis), [a, b, c])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unbind_matches_torch_when_some_slices_go_unused(rng, axis):
    x = rng.normal(size=(3, 4, 2)).astype(np.float32)
    # The last slice is left out, so its gradient is zero.
    compare_with_torch(lambda t: t.unbind(axis)[:-1], lambda t: t.unbind(axis)[:-1], [x])


def test_concatenate_error_lists_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\), \(2, 4\)"):
        concatenate([Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 4)))], axis=0)


def test_where_broadcasts_and_routes_gradients(rng):
    condition = rng.normal(size=(3, 4)) > 0
    x = rng.normal(size=(3, 4)).astype(np.float32)
    y = rng.normal(size=(4,)).astype(np.float32)
    compare_with_torch(
        lambda a, b: where(condition, a, b), lambda a, b: torch.where(torch.tensor(condition), a, b), [x, y]
    )
    compare_with_torch(
        lambda a: where(Tensor(condition), a, 0.0), lambda a: torch.where(torch.tensor(condition), a, 0.0), [x]
    )


def test_comparisons_return_plain_boolean_tensors(rng):
    x = Tensor(rng.normal(size=(3,)).astype(np.float32), requires_grad=True)
    for result, expected in [
        (x > 0, x.data > 0),
        (x >= 0, x.data >= 0),
        (x < 0, x.data < 0),
        (x <= 0, x.data <= 0),
        (x == x, np.ones(3, bool)),
        (x != x.data, np.zeros(3, bool)),
    ]:
        assert isinstance(result, Tensor)
        assert result.dtype == np.bool_
        assert not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)


def test_float32_stays_float32_through_every_op_and_gradient(rng):
    x = Tensor(rng.uniform(0.5, 1.5, size=(2, 3)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.uniform(0.5, 1.5, size=(3, 2)).astype(np.float32), requires_grad=True)
    steps = [
        x + 1,
        2.0 - x,
        x * np.float64(3.0),
        x / 7,
        x**2,
        2**x,
        x @ w,
        x.exp(),
        x.log(),
        x.sqrt(),
        x.tanh(),
        x.sigmoid(),
        x.relu(),
        x.abs(),
        x.clip(0.6, 1.0),
        x.mean(axis=0),
        x.max(),
        x.T,
        x[[0, 0]],
        where(x > 1, x, 0),
        x + np.ones(3, dtype=np.float64),
    ]
    total = steps[0].sum()
    for out in steps:
        assert out.dtype == np.float32, out
        total = total + out.sum()
    assert total.dtype == np.float32
    total.backward()
    assert grad_of(x).dtype == np.float32
    assert grad_of(w).dtype == np.float32


def test_float64_inputs_stay_float64(rng):
    x = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    out = (x * 2.0 + 1).tanh().sum()
    assert out.dtype == np.float64
    out.backward()
    assert grad_of(x).dtype == np.float64


def test_tensor_construction_defaults():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(3.5).dtype == np.float32
    assert Tensor([1, 2]).dtype.kind == "i"
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="floating-point"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="numeric"):
        Tensor(np.array(["a"]))
    t = Tensor(np.arange(6.0).reshape(2, 3))
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3), 2, 6, 2)
    assert t[1, 2].item() == 5.0
    assert t.argmax(axis=1).data.tolist() == [2, 2]
    assert t.numpy() is t.data
    assert t.astype(np.float16).dtype == np.float16
    with pytest.raises(ValueError, match="one element"):
        t.item()
    assert "requires_grad=True" in repr(Tensor([1.0], requires_grad=True))
