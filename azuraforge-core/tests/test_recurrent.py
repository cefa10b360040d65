"""LSTM and GRU against PyTorch: outputs, final states, every gradient, state_dict interop and input errors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from conftest import check_finite_differences, grad_of

import azuraforge_core as af
from azuraforge_core import Tensor, concatenate, nn, no_grad
from azuraforge_core.nn import recurrent
from azuraforge_core.nn.recurrent import GRULayerFunction, LSTMLayerFunction

# (batch, seq, input_size, hidden_size, num_layers, batch_first, with initial state)
SHAPES = [
    pytest.param(3, 5, 4, 6, 1, True, False, id="one-layer"),
    pytest.param(1, 1, 2, 3, 1, True, True, id="batch1-seq1"),
    pytest.param(2, 7, 3, 5, 2, True, True, id="two-layers-with-state"),
    pytest.param(4, 3, 5, 4, 3, False, True, id="three-layers-seq-first"),
    pytest.param(5, 9, 1, 7, 1, True, True, id="odd-sizes"),
    # One feature and a hidden size of at least 8: the LSTM's first layer takes the whole stacked
    # column [h; 1; x; 1] in its per-step matmul, the second precomputes its input projection.
    pytest.param(3, 6, 1, 12, 2, True, True, id="one-feature-whole-column"),
]


@pytest.fixture(autouse=True, params=[True, False], ids=["sigmoid-by-tanh", "sigmoid-by-exp"])
def sigmoid_form(request, monkeypatch):
    """Every test with both forms of the gates' sigmoid, whichever this CPU's numpy would choose."""
    monkeypatch.setattr(recurrent, "_sigmoid_by_tanh", lambda: request.param)
    recurrent._lstm_kernel_layout.cache_clear()
    yield
    recurrent._lstm_kernel_layout.cache_clear()


def _flatten(result: Any) -> list[Any]:
    if isinstance(result, tuple):
        return [leaf for part in result for leaf in _flatten(part)]
    return [result]


def _pair(kind: str, sizes: tuple[int, int, int], batch_first: bool) -> tuple[nn.Module, torch.nn.Module]:
    """Our module and PyTorch's with the same weights (PyTorch's state_dict loaded into ours)."""
    input_size, hidden_size, num_layers = sizes
    torch.manual_seed(0)
    theirs = getattr(torch.nn, kind)(input_size, hidden_size, num_layers, batch_first=batch_first)
    ours = getattr(nn, kind)(input_size, hidden_size, num_layers, batch_first=batch_first)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize(("batch", "seq", "input_size", "hidden", "layers", "batch_first", "with_state"), SHAPES)
def test_matches_torch_outputs_and_every_gradient(
    kind, batch, seq, input_size, hidden, layers, batch_first, with_state
):
    rng = np.random.default_rng(7)
    ours, theirs = _pair(kind, (input_size, hidden, layers), batch_first)
    x = rng.standard_normal((batch, seq, input_size) if batch_first else (seq, batch, input_size)).astype(np.float32)
    states = [
        rng.standard_normal((layers, batch, hidden)).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)
    ]
    our_inputs = [Tensor(a, requires_grad=True) for a in [x, *states]]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in [x, *states]]
    if not with_state:
        our_result, torch_result = ours(our_inputs[0]), theirs(torch_inputs[0])
    elif kind == "LSTM":
        our_result = ours(our_inputs[0], (our_inputs[1], our_inputs[2]))
        torch_result = theirs(torch_inputs[0], (torch_inputs[1], torch_inputs[2]))
    else:
        our_result, torch_result = ours(our_inputs[0], our_inputs[1]), theirs(torch_inputs[0], torch_inputs[1])

    our_outputs, torch_outputs = _flatten(our_result), _flatten(torch_result)
    for mine, ref in zip(our_outputs, torch_outputs, strict=True):
        assert mine.dtype == np.float32
        np.testing.assert_allclose(mine.numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    # Random upstream gradients on every output (sequence output and final states).
    seeds = [rng.standard_normal(ref.shape).astype(np.float32) for ref in torch_outputs]
    our_loss = sum(((o * Tensor(s)).sum() for o, s in zip(our_outputs, seeds, strict=True)), Tensor(0.0))
    torch_loss = sum((o * torch.from_numpy(s)).sum() for o, s in zip(torch_outputs, seeds, strict=True))
    our_loss.backward()
    torch_loss.backward()

    used = our_inputs if with_state else our_inputs[:1]
    for index, (mine, ref) in enumerate(zip(used, torch_inputs, strict=False)):
        assert ref.grad is not None
        np.testing.assert_allclose(grad_of(mine), ref.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"input {index}")
    torch_params = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        assert grad_of(parameter).dtype == np.float32
        reference = torch_params[name].grad
        assert reference is not None
        np.testing.assert_allclose(grad_of(parameter), reference.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_input_without_grad_still_trains_every_parameter(kind):
    ours, theirs = _pair(kind, (3, 4, 2), True)
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32)
    inputs = Tensor(x)
    ours(inputs)[0].sum().backward()
    theirs(torch.from_numpy(x))[0].sum().backward()
    assert inputs.grad is None
    _assert_parameter_grads_match(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_state_dict_has_torch_keys_and_loads_into_torch(kind):
    af.manual_seed(3)
    ours = getattr(nn, kind)(3, 5, num_layers=2)
    theirs = getattr(torch.nn, kind)(3, 5, num_layers=2, batch_first=True)
    state = ours.state_dict()
    assert [(k, v.shape) for k, v in state.items()] == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    x = np.random.default_rng(2).standard_normal((4, 6, 3)).astype(np.float32)
    with no_grad():
        mine = _flatten(ours(Tensor(x)))
    with torch.no_grad():
        ref = _flatten(theirs(torch.from_numpy(x)))
    for a, b in zip(mine, ref, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("kind", "gates"), [("LSTM", 4), ("GRU", 3)])
def test_default_init_is_uniform_within_one_over_sqrt_hidden(kind, gates):
    af.manual_seed(0)
    layer = getattr(nn, kind)(10, 25)
    bound = 1 / np.sqrt(25)
    assert layer.weight_hh_l0.shape == (gates * 25, 25)
    for name, value in layer.state_dict().items():
        assert value.dtype == np.float32, name
        assert np.abs(value).max() <= bound, name
        assert np.abs(value).max() > 0.9 * bound, name  # spread over the whole interval, not zeros
        assert abs(float(value.mean())) < 0.2 * bound, name


@pytest.mark.parametrize(("D", "H"), [(2, 3), (1, 8)], ids=["input-projection", "whole-column"])
def test_lstm_finite_differences_float64(D, H):
    rng = np.random.default_rng(5)
    B, T = 2, 3
    shapes = [(B, T, D), (1, B, H), (1, B, H), (4 * H, D), (4 * H, H), (4 * H,), (4 * H,)]
    arrays = [rng.standard_normal(s) * 0.5 for s in shapes]

    def every_output(*tensors: Tensor) -> Tensor:
        output, h_n, c_n = LSTMLayerFunction.apply(*tensors, batch_first=True)
        return concatenate([output.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)])

    check_finite_differences(every_output, arrays)


def test_gru_finite_differences_float64():
    rng = np.random.default_rng(6)
    B, T, D, H = 2, 3, 2, 3
    shapes = [(T, B, D), (1, B, H), (3 * H, D), (3 * H, H), (3 * H,), (3 * H,)]
    arrays = [rng.standard_normal(s) * 0.5 for s in shapes]

    def every_output(*tensors: Tensor) -> Tensor:
        output, h_n = GRULayerFunction.apply(*tensors, batch_first=False)
        return concatenate([output.reshape(-1), h_n.reshape(-1)])

    check_finite_differences(every_output, arrays)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_wrong_input_rank_names_expected_and_received_shapes(kind):
    layer = getattr(nn, kind)(4, 3)
    with pytest.raises(ValueError, match=r"\(batch, seq, features\).*got shape \(5, 4\)"):
        layer(Tensor(np.zeros((5, 4), dtype=np.float32)))
    seq_first = getattr(nn, kind)(4, 3, batch_first=False)
    with pytest.raises(ValueError, match=r"\(seq, batch, features\).*got shape \(1, 2, 3, 4\)"):
        seq_first(Tensor(np.zeros((1, 2, 3, 4), dtype=np.float32)))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_wrong_feature_count_is_a_clear_error(kind):
    layer = getattr(nn, kind)(4, 3)
    with pytest.raises(ValueError, match=r"input_size=4.*\(2, 5, 6\) with 6 features"):
        layer(Tensor(np.zeros((2, 5, 6), dtype=np.float32)))


def test_wrong_initial_state_shape_is_a_clear_error():
    layer = nn.LSTM(4, 3, num_layers=2)
    x = Tensor(np.zeros((5, 7, 4), dtype=np.float32))
    good = Tensor(np.zeros((2, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"c0 must have shape .*\(2, 5, 3\), got \(1, 5, 3\)"):
        layer(x, (good, Tensor(np.zeros((1, 5, 3), dtype=np.float32))))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_gradient_through_the_last_step_only_matches_torch(kind):
    # The usual many-to-one head: only output[:, -1] receives a gradient.
    ours, theirs = _pair(kind, (2, 5, 1), True)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 8, 2)).astype(np.float32)
    seed = rng.standard_normal((3, 5)).astype(np.float32)
    inputs, torch_inputs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (ours(inputs)[0][:, -1] * Tensor(seed)).sum().backward()
    (theirs(torch_inputs)[0][:, -1] * torch.from_numpy(seed)).sum().backward()
    assert torch_inputs.grad is not None
    np.testing.assert_allclose(grad_of(inputs), torch_inputs.grad.numpy(), rtol=1e-4, atol=1e-6)
    _assert_parameter_grads_match(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_two_sequences_through_one_layer_in_one_graph(kind):
    # Each call keeps its own buffers until its backward has run, and earlier outputs stay intact.
    ours, theirs = _pair(kind, (2, 4, 2), True)
    rng = np.random.default_rng(9)
    first, second = (rng.standard_normal((3, 5, 2)).astype(np.float32) for _ in range(2))
    out_a, out_b = ours(Tensor(first))[0], ours(Tensor(second))[0]
    kept = out_a.numpy().copy()
    (out_a * out_a).sum().backward()
    ours(Tensor(second))[0].sum().backward()  # reuses buffers freed by the first backward
    np.testing.assert_array_equal(out_a.numpy(), kept)
    (out_b * 3.0).sum().backward()
    ref_a, ref_b = theirs(torch.from_numpy(first))[0], theirs(torch.from_numpy(second))[0]
    ((ref_a * ref_a).sum() + theirs(torch.from_numpy(second))[0].sum() + (ref_b * 3.0).sum()).backward()
    _assert_parameter_grads_match(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_saturated_gates_match_torch_without_warnings(kind):
    # Inputs of a few hundred put pre-activations far beyond -88, where the sigmoid's exp(-x)
    # overflows to inf: the gate must be exactly 0, with no overflow warning.
    ours, theirs = _pair(kind, (2, 4, 1), True)
    x = (np.random.default_rng(10).standard_normal((3, 6, 2)) * 300).astype(np.float32)
    assert np.abs(x).max() * np.abs(dict(ours.named_parameters())["weight_ih_l0"].numpy()).max() > 100
    inputs, torch_inputs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        output = ours(inputs)[0]
        (output * output).sum().backward()
    reference = theirs(torch_inputs)[0]
    (reference * reference).sum().backward()
    assert torch_inputs.grad is not None
    np.testing.assert_allclose(output.numpy(), reference.detach().numpy(), rtol=1e-5, atol=1e-6)
    # Near saturation the slope s(1 - s) keeps few significant bits in float32, in both libraries,
    # so the gradients (up to about 5 here) agree to an absolute 1e-4.
    np.testing.assert_allclose(grad_of(inputs), torch_inputs.grad.numpy(), rtol=1e-4, atol=1e-4)
    _assert_parameter_grads_match(ours, theirs, atol=1e-4)


def _assert_parameter_grads_match(ours, theirs, atol):
    torch_params = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        reference = torch_params[name].grad
        assert reference is not None
        np.testing.assert_allclose(grad_of(parameter), reference.numpy(), rtol=1e-4, atol=atol, err_msg=name)
