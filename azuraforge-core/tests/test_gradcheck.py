"""float64 finite-difference checks: each op's analytic gradient equals the numerical derivative."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import check_finite_differences

from azuraforge_core import Tensor, concatenate, stack, where
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)

rng = np.random.default_rng(7)
A = rng.normal(size=(3, 4))
B = rng.normal(size=(4,))
POSITIVE = rng.uniform(0.5, 2.0, size=(3, 4))
CONDITION = rng.normal(size=(3, 4)) > 0
LABELS = np.array([0, 3, 1])

CASES: dict[str, tuple[Callable[..., Any], list[np.ndarray]]] = {
    "add": (lambda a, b: a + b, [A, B]),
    "sub": (lambda a, b: a - b, [A, B]),
    "mul": (lambda a, b: a * b, [A, B]),
    "div": (lambda a, b: a / b, [A, POSITIVE]),
    "pow_scalar": (lambda a: a**3, [A]),
    "pow_tensor": (lambda a, b: a**b, [POSITIVE, A]),
    "rpow": (lambda a: 2.0**a, [A]),
    "matmul": (lambda a, b: a @ b, [A, rng.normal(size=(4, 2))]),
    "matmul_vector": (lambda a, b: a @ b, [A, B]),
    "batched_matmul": (lambda a, b: a @ b, [rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 2))]),
    "neg": (lambda a: -a, [A]),
    "exp": (lambda a: a.exp(), [A]),
    "log": (lambda a: a.log(), [POSITIVE]),
    "sqrt": (lambda a: a.sqrt(), [POSITIVE]),
    "tanh": (lambda a: a.tanh(), [A]),
    "sigmoid": (lambda a: a.sigmoid(), [A * 5]),
    "relu": (lambda a: a.relu(), [A]),
    "abs": (lambda a: a.abs(), [A]),
    "clip": (lambda a: a.clip(-0.5, 0.5), [A]),
    "sum": (lambda a: a.sum(axis=0), [A]),
    "mean": (lambda a: a.mean(axis=1, keepdims=True), [A]),
    "max": (lambda a: a.max(axis=1), [A]),
    "min": (lambda a: a.min(), [A]),
    "reshape": (lambda a: a.reshape(2, 6) * Tensor(np.arange(12.0).reshape(2, 6)), [A]),
    "permute": (lambda a: a.permute(1, 0) @ Tensor(np.arange(3.0)), [A]),
    "getitem": (lambda a: a[np.array([0, 2, 2]), 1:3], [A]),
    "concatenate": (lambda a, b: concatenate([a, b[None, :]], axis=0), [A, B]),
    "stack": (lambda a, b: stack([a[0], b, b], axis=1), [A, B]),
    "where": (lambda a, b: where(CONDITION, a, b), [A, B]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [rng.normal(size=(2, 5, 4)), rng.normal(size=(3, 4)), B[:3]]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), [A, B, B * 2]),
    "layer_norm_2d": (lambda x: F.layer_norm(x, (3, 4)), [rng.normal(size=(2, 3, 4))]),
    "softmax": (lambda a: F.softmax(a, axis=0), [A]),
    "log_softmax": (lambda a: F.log_softmax(a), [A]),
    "cross_entropy": (lambda a: F.cross_entropy(a, LABELS), [A]),
    "cross_entropy_none": (lambda a: F.cross_entropy(a, LABELS, reduction="none"), [A]),
    "mse": (lambda a, b: F.mse_loss(a, b, reduction="sum"), [A, A * 0.5]),
    "l1": (lambda a, b: F.l1_loss(a, b), [A, A * 0.5]),
    "bce_with_logits": (lambda a, b: F.binary_cross_entropy_with_logits(a, b), [A * 3, POSITIVE / 2]),
    "embedding": (lambda w: F.embedding(np.array([[1, 1], [0, 3]]), w), [rng.normal(size=(4, 3))]),
    "gelu": (lambda a: F.gelu(a), [A * 2]),
    "gelu_tanh": (lambda a: F.gelu(a, "tanh"), [A * 2]),
    "silu": (lambda a: F.silu(a), [A * 2]),
    "unbind": (lambda a: a.unbind(1)[0] * a.unbind(1)[2], [A]),
    "pad": (lambda a: F.pad(a, (1, 2, 0, 1), value=3.0), [A]),
    "huber": (lambda a, b: F.huber_loss(a, b, delta=0.7), [A, A * 0.1]),
    "smooth_l1": (lambda a, b: F.smooth_l1_loss(a, b, reduction="none", beta=0.7), [A, A * 0.1]),
}


@pytest.mark.parametrize("name", CASES)
def test_analytic_gradient_equals_finite_differences(name):
    fn, inputs = CASES[name]
    check_finite_differences(fn, inputs)
