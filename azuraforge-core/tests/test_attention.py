"""Attention against PyTorch: the fused kernel, MultiheadAttention with every mask kind, the Transformer encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from conftest import check_finite_differences, compare_with_torch, grad_of

import azuraforge_core as af
from azuraforge_core import Tensor, nn, no_grad
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)


@pytest.fixture(autouse=True, params=["whole", "chunked"])
def attention_chunks(request, monkeypatch):
    """Every test runs twice: with the kernel's usual chunks (here one), and with one leading row per chunk."""
    if request.param == "chunked":
        monkeypatch.setattr(F, "_ATTENTION_CHUNK_ELEMENTS", 1)


def _to_torch(state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.tensor(value) for key, value in state.items()}


def _from_torch(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {key: value.detach().numpy() for key, value in module.state_dict().items()}


def _qkv(rng, batch=(2, 3), L=5, S=6, E=4, Ev=3):
    return [
        rng.normal(size=(*batch, L, E)).astype(np.float32),
        rng.normal(size=(*batch, S, E)).astype(np.float32),
        rng.normal(size=(*batch, S, Ev)).astype(np.float32),
    ]


# ----- the fused kernel ---------------------------------------------------------------------------
def test_attention_matches_torch_without_mask(rng):
    compare_with_torch(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, _qkv(rng), atol=1e-5)


def test_attention_with_float_mask_gets_the_mask_gradient_too(rng):
    mask = rng.normal(size=(5, 6)).astype(np.float32)
    compare_with_torch(
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m),
        [*_qkv(rng), mask],
        atol=1e-5,
    )


def test_attention_with_bool_mask_causal_and_scale(rng):
    allowed = rng.uniform(size=(2, 1, 5, 6)) > 0.3
    allowed[..., 0] = True  # every query sees at least one key
    compare_with_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=0.3),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(allowed), scale=0.3),
        _qkv(rng),
        atol=1e-5,
    )
    compare_with_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
        _qkv(rng, S=5),
        atol=1e-5,
    )


def test_attention_is_one_graph_node(rng):
    q, k, v = (Tensor(a, requires_grad=True) for a in _qkv(rng))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=False)
    assert out._ctx is not None
    assert all(parent is q or parent is k or parent is v or parent is None for parent in out._ctx.parents)


def test_attention_weights_output_and_its_gradient(rng):
    q, k, v = _qkv(rng)

    def theirs(q, k, v):
        weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)
        return weights @ v, weights

    compare_with_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, need_weights=True), theirs, [q, k, v])


def test_attention_dropout_drops_whole_weights_and_rescales(rng):
    q, k, v = (Tensor(a) for a in _qkv(rng, batch=(64,), L=8, S=8))
    af.manual_seed(3)
    out, weights = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, need_weights=True)
    _, clean = F.scaled_dot_product_attention(q, k, v, need_weights=True)
    dropped = weights.data == 0
    assert 0.4 < dropped.mean() < 0.6
    np.testing.assert_allclose(weights.data[~dropped], 2 * clean.data[~dropped], rtol=1e-6)
    np.testing.assert_allclose(out.data, weights.data @ v.data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("with_mask", [False, True])
def test_attention_finite_differences_float64(with_mask):
    rng = np.random.default_rng(4)
    q, k, v = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 4, 2)), rng.normal(size=(2, 4, 3))
    if with_mask:
        check_finite_differences(
            lambda q, k, v, m: (
                F.scaled_dot_product_attention(q, k, v, attn_mask=m, need_weights=True)[1] * 3
                + F.scaled_dot_product_attention(q, k, v, attn_mask=m).sum(axis=-1, keepdims=True)
            ),
            [q, k, v, rng.normal(size=(3, 4))],
        )
    else:
        check_finite_differences(F.scaled_dot_product_attention, [q, k, v])


def test_attention_errors_say_what_shapes_are_expected(rng):
    q, k, v = (Tensor(a) for a in _qkv(rng))
    with pytest.raises(ValueError, match="one feature size E"):
        F.scaled_dot_product_attention(q, Tensor(np.zeros((2, 3, 6, 5), np.float32)), v)
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((5, 6), bool), is_causal=True)
    with pytest.raises(TypeError, match="bool or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((5, 6), np.int64))


# ----- MultiheadAttention -------------------------------------------------------------------------
def _attention_pair(batch_first=True, bias=True, E=8, heads=2):
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(E, heads, bias=bias, batch_first=batch_first)
    ours = nn.MultiheadAttention(E, heads, bias=bias, batch_first=batch_first)
    ours.load_state_dict(_from_torch(theirs))
    return ours, theirs


def _compare_parameter_grads(ours: nn.Module, theirs: torch.nn.Module, atol=1e-5):
    torch_grads = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        reference = torch_grads[name].grad
        assert reference is not None
        np.testing.assert_allclose(grad_of(parameter), reference.numpy(), rtol=1e-4, atol=atol, err_msg=name)


def test_multihead_attention_state_dict_keys_shapes_and_init_follow_torch():
    af.manual_seed(0)
    ours, theirs = nn.MultiheadAttention(16, 4), torch.nn.MultiheadAttention(16, 4)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    assert list(ours.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    bound = np.sqrt(6 / (16 + 48))  # xavier-uniform over the stacked (3E, E) matrix
    assert 0.9 * bound < np.abs(ours.in_proj_weight.data).max() <= bound
    np.testing.assert_array_equal(ours.state_dict()["in_proj_bias"], 0)
    np.testing.assert_array_equal(ours.state_dict()["out_proj.bias"], 0)
    assert list(nn.MultiheadAttention(16, 4, bias=False).state_dict()) == ["in_proj_weight", "out_proj.weight"]
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    # batch first by default, as this engine's recurrent layers (PyTorch's default is sequence first)
    assert ours.batch_first
    assert nn.TransformerEncoderLayer(16, 4).self_attn.batch_first


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("average", [True, False])
def test_multihead_self_attention_matches_torch(rng, batch_first, average):
    ours, theirs = _attention_pair(batch_first)
    x = rng.normal(size=(3, 5, 8)).astype(np.float32)

    def run_ours(x):
        return ours(x, x, x, average_attn_weights=average)

    def run_theirs(x):
        return theirs(x, x, x, average_attn_weights=average)

    compare_with_torch(run_ours, run_theirs, [x], atol=1e-5)
    _compare_parameter_grads(ours, theirs)


def test_multihead_cross_attention_with_both_masks_matches_torch(rng):
    ours, theirs = _attention_pair(bias=False)
    q = rng.normal(size=(2, 4, 8)).astype(np.float32)
    kv = rng.normal(size=(2, 6, 8)).astype(np.float32)
    padding = np.array([[False] * 6, [False] * 4 + [True] * 2])
    blocked = np.triu(np.ones((4, 6), dtype=bool), k=3)
    compare_with_torch(
        lambda q, k, v: ours(q, k, v, key_padding_mask=padding, attn_mask=blocked),
        lambda q, k, v: theirs(q, k, v, key_padding_mask=torch.tensor(padding), attn_mask=torch.tensor(blocked)),
        [q, kv, kv * 0.5],
        atol=1e-5,
    )
    _compare_parameter_grads(ours, theirs)


def test_multihead_attention_float_and_per_head_masks_match_torch(rng):
    ours, theirs = _attention_pair()
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    per_head = rng.normal(size=(2 * 2, 5, 5)).astype(np.float32)
    padding = np.where(np.arange(5) < 4, 0.0, -1e4).astype(np.float32)[None].repeat(2, axis=0)
    compare_with_torch(
        lambda x: ours(x, x, x, attn_mask=per_head, key_padding_mask=padding, need_weights=False)[0],
        lambda x: theirs(
            x, x, x, attn_mask=torch.tensor(per_head), key_padding_mask=torch.tensor(padding), need_weights=False
        )[0],
        [x],
        atol=1e-5,
    )
    assert ours(Tensor(x), Tensor(x), Tensor(x), need_weights=False)[1] is None


def test_multihead_attention_causal_flag_equals_the_causal_mask(rng):
    ours, theirs = _attention_pair()
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5)
    with no_grad():
        mine = ours(Tensor(x), Tensor(x), Tensor(x), is_causal=True)[0].data
    expected = theirs(*(torch.tensor(x),) * 3, attn_mask=causal, is_causal=True)[0].detach().numpy()
    np.testing.assert_allclose(mine, expected, atol=1e-5)


def test_multihead_attention_mask_shape_errors(rng):
    ours = nn.MultiheadAttention(8, 2, batch_first=True)
    x = Tensor(rng.normal(size=(2, 5, 8)).astype(np.float32))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\)"):
        ours(x, x, x, attn_mask=np.zeros((3, 5), bool))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        ours(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match=r"\(batch, seq, 8\)"):
        ours(x[..., :4], x[..., :4], x[..., :4])


def test_multihead_attention_state_dict_round_trips_torch_ours_torch(rng):
    ours, theirs = _attention_pair()
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    with no_grad():
        before = ours(Tensor(x), Tensor(x), Tensor(x))[0].data
    np.testing.assert_allclose(before, theirs(*(torch.tensor(x),) * 3)[0].detach().numpy(), atol=1e-5)
    again = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    again.load_state_dict(_to_torch(ours.state_dict()))
    np.testing.assert_allclose(again(*(torch.tensor(x),) * 3)[0].detach().numpy(), before, atol=1e-5)


# ----- Transformer encoder ------------------------------------------------------------------------
def _encoder_pair(norm_first, activation, layers=None, dropout=0.0):
    torch.manual_seed(1)
    kwargs = {"dim_feedforward": 16, "dropout": dropout, "batch_first": True, "norm_first": norm_first}
    theirs_layer = torch.nn.TransformerEncoderLayer(8, 2, activation=activation, **kwargs)
    ours_layer = nn.TransformerEncoderLayer(8, 2, activation=activation, **kwargs)
    if layers is None:
        ours_layer.load_state_dict(_from_torch(theirs_layer))
        return ours_layer, theirs_layer
    theirs = torch.nn.TransformerEncoder(theirs_layer, layers, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    ours = nn.TransformerEncoder(ours_layer, layers, norm=nn.LayerNorm(8))
    ours.load_state_dict(_from_torch(theirs))
    return ours, theirs


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(rng, norm_first, activation):
    ours, theirs = _encoder_pair(norm_first, activation)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = rng.normal(size=(3, 6, 8)).astype(np.float32)
    padding = np.zeros((3, 6), dtype=bool)
    padding[1, 4:] = True
    compare_with_torch(
        lambda x: ours(x, src_key_padding_mask=padding),
        lambda x: theirs(x, src_key_padding_mask=torch.tensor(padding)),
        [x],
        atol=1e-5,
    )
    _compare_parameter_grads(ours, theirs)
    # And back: our weights, re-initialised, load into a fresh torch layer and give the same outputs.
    ours = nn.TransformerEncoderLayer(8, 2, 16, 0.0, activation, batch_first=True, norm_first=norm_first)
    again = torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, activation, batch_first=True, norm_first=norm_first)
    again.load_state_dict(_to_torch(ours.state_dict()))
    with no_grad():
        mine = ours(Tensor(x)).data
    np.testing.assert_allclose(again(torch.tensor(x)).detach().numpy(), mine, atol=1e-5)


def test_encoder_stack_with_causal_mask_matches_torch_and_round_trips(rng):
    ours, theirs = _encoder_pair(True, "gelu", layers=2)
    keys = list(theirs.state_dict())
    assert list(ours.state_dict()) == keys
    assert "layers.1.self_attn.in_proj_weight" in keys
    causal = np.triu(np.ones((6, 6), dtype=bool), k=1)
    x = rng.normal(size=(2, 6, 8)).astype(np.float32)
    compare_with_torch(lambda x: ours(x, mask=causal), lambda x: theirs(x, mask=torch.tensor(causal)), [x], atol=1e-5)
    _compare_parameter_grads(ours, theirs)
    # The copies are independent, and our state_dict loads back into torch.
    assert ours.layers[0].linear1.weight is not ours.layers[1].linear1.weight
    again = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, "gelu", batch_first=True, norm_first=True),
        2,
        norm=torch.nn.LayerNorm(8),
        enable_nested_tensor=False,
    )
    again.load_state_dict(_to_torch(ours.state_dict()))
    with no_grad():
        mine = ours(Tensor(x)).data
    np.testing.assert_allclose(again(torch.tensor(x)).detach().numpy(), mine, atol=1e-5)


def test_encoder_layer_dropout_only_while_training(rng):
    ours, _ = _encoder_pair(False, "relu", dropout=0.5)
    x = Tensor(rng.normal(size=(2, 6, 8)).astype(np.float32))
    with no_grad():
        first, second = ours(x).data, ours(x).data
        assert not np.allclose(first, second)
        ours.eval()
        np.testing.assert_array_equal(ours(x).data, ours(x).data)


def test_encoder_layer_finite_differences_float64():
    af.manual_seed(2)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation="gelu", batch_first=True)
    for parameter in layer.parameters():
        parameter.data = parameter.data.astype(np.float64)
    x = np.random.default_rng(5).normal(size=(2, 3, 4))
    check_finite_differences(lambda x: layer(x, is_causal=True), [x])


def test_encoder_layer_rejects_unknown_activation():
    with pytest.raises(ValueError, match='"relu", "gelu" or a callable'):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")  # type: ignore[arg-type]
