"""Shared helpers: run one computation in azuraforge and in PyTorch and compare values and gradients.

Import them in any test module with `from conftest import compare_with_torch, check_finite_differences`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

from azuraforge_core import Tensor


def _flatten(result: Any) -> list[Any]:
    """Every tensor of a possibly nested tuple/list result, in order (e.g. LSTM's (out, (h, c)))."""
    if isinstance(result, tuple | list):
        return [leaf for part in result for leaf in _flatten(part)]
    return [result]


def _weighted_sum(outputs: Sequence[Any], seeds: Sequence[np.ndarray], to_tensor: Callable[[np.ndarray], Any]) -> Any:
    total = None
    for out, seed in zip(outputs, seeds, strict=True):
        term = (out * to_tensor(seed)).sum()
        total = term if total is None else total + term
    return total


def compare_with_torch(
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    *,
    grad: Sequence[bool] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
) -> None:
    """Assert that `ours(*Tensors)` and `theirs(*torch tensors)` agree in value and in every input gradient.

    Float inputs require grad unless `grad` says otherwise; integer inputs never do. The backward seed of
    each output is random (not all ones), so a wrong gradient cannot hide behind a sum. Outputs may be a
    Tensor or a nested tuple of them. Gradient dtypes must equal their input's dtype.
    """
    wants = [a.dtype.kind == "f" for a in inputs] if grad is None else list(grad)
    our_inputs = [Tensor(a.copy(), requires_grad=w) for a, w in zip(inputs, wants, strict=True)]
    torch_inputs = [torch.tensor(a.copy(), requires_grad=w) for a, w in zip(inputs, wants, strict=True)]
    our_out = _flatten(ours(*our_inputs))
    torch_out = _flatten(theirs(*torch_inputs))
    assert len(our_out) == len(torch_out)
    for mine, ref in zip(our_out, torch_out, strict=True):
        assert mine.shape == tuple(ref.shape)
        np.testing.assert_allclose(mine.data, ref.detach().numpy(), rtol=rtol, atol=atol)
    if not any(wants):
        return
    rng = np.random.default_rng(seed)
    seeds = [rng.uniform(0.5, 1.5, size=ref.shape).astype(ref.detach().numpy().dtype) for ref in torch_out]
    _weighted_sum(our_out, seeds, Tensor).backward()
    _weighted_sum(torch_out, seeds, torch.tensor).backward()
    for index, (mine, ref) in enumerate(zip(our_inputs, torch_inputs, strict=True)):
        if not wants[index]:
            continue
        assert mine.grad is not None, f"input {index} received no gradient"
        assert ref.grad is not None
        assert mine.grad.dtype == mine.dtype, f"input {index}: gradient dtype {mine.grad.dtype} != {mine.dtype}"
        np.testing.assert_allclose(
            mine.grad, ref.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {index}"
        )


def check_finite_differences(
    fn: Callable[..., Any], inputs: Sequence[np.ndarray], *, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7
) -> None:
    """Assert that the analytic gradients of `fn` on float64 inputs equal central finite differences.

    The scalar differentiated is sum(output * w) with a fixed random w, so every output element counts.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    rng = np.random.default_rng(1)
    shape = fn(*[Tensor(a) for a in arrays]).shape
    weights = rng.uniform(0.5, 1.5, size=shape)

    def scalar(values: Sequence[np.ndarray]) -> float:
        return float((fn(*[Tensor(v) for v in values]).data * weights).sum())

    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    (fn(*tensors) * Tensor(weights)).sum().backward()
    for index, array in enumerate(arrays):
        numeric = np.zeros_like(array)
        for position in np.ndindex(array.shape):
            shifted = [a.copy() for a in arrays]
            shifted[index][position] += eps
            upper = scalar(shifted)
            shifted[index][position] -= 2 * eps
            numeric[position] = (upper - scalar(shifted)) / (2 * eps)
        analytic = tensors[index].grad
        assert analytic is not None
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of input {index}")


def grad_of(tensor: Tensor) -> np.ndarray:
    """The tensor's gradient, asserting that backward reached it."""
    assert tensor.grad is not None, "backward did not reach this tensor"
    return tensor.grad


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
