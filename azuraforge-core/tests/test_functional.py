"""azuraforge_core.functional against torch.nn.functional: activations, fused layers and losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from conftest import compare_with_torch, grad_of
from hypothesis import given, settings
from hypothesis import strategies as st

from azuraforge_core import Tensor, manual_seed
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_and_log_softmax(rng, axis):
    x = rng.normal(size=(4, 5, 3)).astype(np.float32) * 3
    compare_with_torch(lambda t: F.softmax(t, axis=axis), lambda t: TF.softmax(t, dim=axis), [x])
    compare_with_torch(lambda t: F.log_softmax(t, axis=axis), lambda t: TF.log_softmax(t, dim=axis), [x], atol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(rng, reduction):
    logits = rng.normal(size=(6, 5)).astype(np.float32) * 2
    targets = rng.integers(0, 5, size=6)
    compare_with_torch(
        lambda t, y: F.cross_entropy(t, y, reduction=reduction),
        lambda t, y: TF.cross_entropy(t, y, reduction=reduction),
        [logits, targets],
    )


def test_cross_entropy_accepts_numpy_targets_and_int32(rng):
    logits = rng.normal(size=(3, 4)).astype(np.float32)
    for targets in (np.array([0, 3, 2]), np.array([0, 3, 2], dtype=np.int32), np.array([0, 3, 2], dtype=np.uint8)):
        ours = F.cross_entropy(Tensor(logits), targets).item()
        theirs = TF.cross_entropy(torch.tensor(logits), torch.tensor(targets.astype(np.int64))).item()
        assert ours == pytest.approx(theirs, rel=1e-6)


def test_stable_for_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3, 5e3], [88.0, 89.0, 90.0]], dtype=np.float32)
    targets = np.array([1, 2, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        compare_with_torch(lambda t, y: F.cross_entropy(t, y), lambda t, y: TF.cross_entropy(t, y), [logits, targets])
        compare_with_torch(lambda t: F.log_softmax(t), lambda t: TF.log_softmax(t, dim=-1), [logits])
        compare_with_torch(lambda t: F.softmax(t), lambda t: TF.softmax(t, dim=-1), [logits])
        compare_with_torch(
            lambda t, y: F.binary_cross_entropy_with_logits(t, y),
            lambda t, y: TF.binary_cross_entropy_with_logits(t, y),
            [logits, np.ones_like(logits) * 0.3],
        )


def test_cross_entropy_rejects_float_targets_naming_the_dtype():
    with pytest.raises(TypeError, match="integer class indices, got dtype float32"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), Tensor(np.array([0.0, 1.0], dtype=np.float32)))


def test_cross_entropy_rejects_out_of_range_targets_and_bad_shapes():
    with pytest.raises(IndexError, match=r"\[0, 2\] for 3 classes, got values from 0 to 3"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 3]))
    with pytest.raises(IndexError, match="from -1"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"logits \(2, 3\) and targets \(3,\)"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 1]), reduction="avg")  # type: ignore[arg-type]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_and_binary_losses_match_torch(rng, reduction):
    prediction = rng.normal(size=(4, 3)).astype(np.float32)
    target = rng.normal(size=(4, 3)).astype(np.float32)
    probability = rng.uniform(size=(4, 3)).astype(np.float32)
    compare_with_torch(
        lambda p, t: F.mse_loss(p, t, reduction=reduction),
        lambda p, t: TF.mse_loss(p, t, reduction=reduction),
        [prediction, target],
    )
    compare_with_torch(
        lambda p, t: F.l1_loss(p, t, reduction=reduction),
        lambda p, t: TF.l1_loss(p, t, reduction=reduction),
        [prediction, target],
    )
    compare_with_torch(
        lambda p, t: F.binary_cross_entropy_with_logits(p, t, reduction=reduction),
        lambda p, t: TF.binary_cross_entropy_with_logits(p, t, reduction=reduction),
        [prediction * 4, probability],
    )


def test_losses_take_plain_array_targets_and_check_shapes(rng):
    prediction = Tensor(rng.normal(size=(5, 1)).astype(np.float32), requires_grad=True)
    loss = F.mse_loss(prediction, rng.normal(size=(5, 1)))  # float64 target: the loss stays float32
    assert loss.dtype == np.float32
    loss.backward()
    assert grad_of(prediction).dtype == np.float32
    with pytest.raises(ValueError, match=r"input \(5, 1\) and target \(5,\)"):
        F.mse_loss(prediction, np.zeros(5))
    with pytest.raises(ValueError, match="l1_loss"):
        F.l1_loss(prediction, np.zeros((1, 5)))


@pytest.mark.parametrize("leading", [(), (7,), (2, 3)])
def test_linear_over_any_leading_shape(rng, leading):
    x = rng.normal(size=(*leading, 4)).astype(np.float32)
    w = rng.normal(size=(3, 4)).astype(np.float32)
    b = rng.normal(size=(3,)).astype(np.float32)
    compare_with_torch(F.linear, TF.linear, [x, w, b], atol=1e-5)
    compare_with_torch(lambda x, w: F.linear(x, w), lambda x, w: TF.linear(x, w), [x, w], atol=1e-5)


def test_linear_rejects_a_wrong_feature_size():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\).*got shape \(2, 5\)"):
        F.linear(Tensor(np.zeros((2, 5))), Tensor(np.zeros((3, 4))))


@pytest.mark.parametrize("shape", [(4,), (3, 4)])
def test_layer_norm_matches_torch(rng, shape):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32) * 3 + 1
    w = rng.normal(size=shape).astype(np.float32)
    b = rng.normal(size=shape).astype(np.float32)
    compare_with_torch(
        lambda x, w, b: F.layer_norm(x, shape, w, b),
        lambda x, w, b: TF.layer_norm(x, shape, w, b),
        [x, w, b],
        atol=1e-5,
    )
    compare_with_torch(lambda x: F.layer_norm(x, shape), lambda x: TF.layer_norm(x, shape), [x], atol=1e-5)
    with pytest.raises(ValueError, match=r"\(\.\.\., 5\), got \(2, 3, 4\)"):
        F.layer_norm(Tensor(x), (5,))


def test_embedding_gathers_rows_and_accumulates_repeats(rng):
    weight = rng.normal(size=(6, 3)).astype(np.float32)
    indices = np.array([[1, 1, 5], [0, 1, 2]])
    compare_with_torch(lambda w: F.embedding(indices, w), lambda w: TF.embedding(torch.tensor(indices), w), [weight])
    with pytest.raises(TypeError, match="integers, got dtype float64"):
        F.embedding(np.array([1.0]), Tensor(weight))
    with pytest.raises(IndexError, match=r"\[0, 5\].*from 0 to 6"):
        F.embedding(np.array([0, 6]), Tensor(weight))


def test_dropout_zeroes_and_rescales_in_training_only(rng):
    manual_seed(0)
    x = Tensor(np.ones((200, 50), dtype=np.float32), requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.data != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(grad_of(x), kept / 0.7, rtol=1e-6)  # the gradient goes where the input was kept
    assert F.dropout(x, p=0.3, training=False) is x
    assert F.dropout(x, p=0.0) is x
    np.testing.assert_array_equal(F.dropout(x, p=1.0).data, 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, p=1.5)


def test_manual_seed_makes_dropout_reproducible():
    x = Tensor(np.ones(100, dtype=np.float32))
    manual_seed(3)
    first = F.dropout(x, 0.5).data
    manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, first)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 8), classes=st.integers(1, 8), scale=st.floats(0.1, 50), seed=st.integers(0, 2**16))
def test_property_softmax_family_over_random_shapes(rows, classes, scale, seed):
    generator = np.random.default_rng(seed)
    logits = (generator.normal(size=(rows, classes)) * scale).astype(np.float32)
    targets = generator.integers(0, classes, size=rows)
    compare_with_torch(lambda t, y: F.cross_entropy(t, y), lambda t, y: TF.cross_entropy(t, y), [logits, targets])
    compare_with_torch(lambda t: F.log_softmax(t), lambda t: TF.log_softmax(t, dim=-1), [logits], atol=1e-5)
    compare_with_torch(lambda t: F.softmax(t, axis=0), lambda t: TF.softmax(t, dim=0), [logits])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(rng, approximate):
    x = (rng.normal(size=(4, 7)) * 3).astype(np.float32)
    compare_with_torch(lambda t: F.gelu(t, approximate), lambda t: TF.gelu(t, approximate=approximate), [x])
    with pytest.raises(ValueError, match='"none" or "tanh"'):
        F.gelu(Tensor(x), "fast")  # type: ignore[arg-type]


def test_silu_matches_torch(rng):
    x = np.concatenate([rng.normal(size=20) * 3, [-100.0, 100.0, 0.0]]).astype(np.float32)
    compare_with_torch(F.silu, TF.silu, [x])


@pytest.mark.parametrize("widths", [(1, 2), (0, 1, 2, 0), (1, 1, 0, 0, 2, 3)])
def test_pad_matches_torch(rng, widths):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    compare_with_torch(lambda t: F.pad(t, widths, value=0.5), lambda t: TF.pad(t, widths, value=0.5), [x])


def test_pad_errors():
    x = Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="even number of widths"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=">= 0"):
        F.pad(x, (-1, 0))
    with pytest.raises(ValueError, match='mode="constant"'):
        F.pad(x, (1, 1), mode="reflect")  # type: ignore[arg-type]


def test_one_hot_matches_torch():
    indices = np.array([[0, 3], [2, 2]])
    for classes in (-1, 6):
        ours = F.one_hot(Tensor(indices), classes)
        theirs = TF.one_hot(torch.tensor(indices), classes).numpy()
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.data, theirs)
    with pytest.raises(ValueError, match=r"\[0, 2\] for num_classes=3"):
        F.one_hot(indices, 3)
    with pytest.raises(TypeError, match="integer indices"):
        F.one_hot(np.array([0.0, 1.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_huber_and_smooth_l1_match_torch(rng, reduction, width):
    prediction = (rng.normal(size=(5, 4)) * 2).astype(np.float32)
    target = rng.normal(size=(5, 4)).astype(np.float32)
    compare_with_torch(
        lambda p, t: F.huber_loss(p, t, reduction=reduction, delta=width),
        lambda p, t: TF.huber_loss(p, t, reduction=reduction, delta=width),
        [prediction, target],
    )
    compare_with_torch(
        lambda p, t: F.smooth_l1_loss(p, t, reduction=reduction, beta=width),
        lambda p, t: TF.smooth_l1_loss(p, t, reduction=reduction, beta=width),
        [prediction, target],
    )


def test_smooth_l1_with_beta_zero_is_l1_and_bad_widths_are_refused(rng):
    prediction, target = rng.normal(size=(2, 6)).astype(np.float32)
    compare_with_torch(
        lambda p, t: F.smooth_l1_loss(p, t, beta=0.0),
        lambda p, t: TF.smooth_l1_loss(p, t, beta=0.0),
        [prediction, target],
    )
    with pytest.raises(ValueError, match="delta must be > 0"):
        F.huber_loss(Tensor(prediction), target, delta=0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(Tensor(prediction), target, beta=-1.0)
