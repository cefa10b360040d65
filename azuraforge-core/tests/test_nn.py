"""nn.Module bookkeeping, the standard layers against torch.nn, PyTorch state_dict interchange and .npz files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import compare_with_torch, grad_of

import azuraforge_core as af
from azuraforge_core import Tensor, nn


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 8)
        self.scale = nn.Parameter(np.ones(8, dtype=np.float32))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(8, 2, bias=False))

    def forward(self, x):
        return self.head(self.encoder(x) * self.scale)


class TorchBlock(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Linear(4, 8)
        self.scale = torch.nn.Parameter(torch.ones(8))
        self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 2, bias=False))

    def forward(self, x):
        return self.head(self.encoder(x) * self.scale)


def _to_torch(state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.tensor(value) for key, value in state.items()}


def test_named_parameters_follow_torch_order_and_names():
    # As in PyTorch: a module's own parameters first, then each child's, in registration order.
    names = [name for name, _ in Block().named_parameters()]
    assert names == ["scale", "encoder.weight", "encoder.bias", "head.1.weight"]
    assert names == [name for name, _ in TorchBlock().named_parameters()]
    assert list(Block().state_dict()) == list(TorchBlock().state_dict())


def test_children_modules_and_parameters():
    block = Block()
    assert [name for name, _ in block.named_children()] == ["encoder", "head"]
    assert [name for name, _ in block.named_modules()] == ["", "encoder", "head", "head.0", "head.1"]
    assert len(list(block.modules())) == 5
    assert [p.shape for p in block.parameters()] == [(8,), (8, 4), (8,), (2, 8)]
    assert [name for name, _ in block.named_parameters(recurse=False)] == ["scale"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in block.parameters())


def test_shared_parameters_are_listed_once_but_saved_under_every_name():
    first = nn.Linear(3, 3)
    model = nn.Sequential(first, nn.Tanh(), first)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_reassigning_attributes_updates_registration():
    block = Block()
    block.encoder = nn.Linear(4, 8, bias=False)
    assert "encoder.bias" not in dict(block.named_parameters())
    with pytest.raises(TypeError, match=r"parameter 'scale'.*nn.Parameter"):
        block.scale = Tensor(np.ones(8))  # type: ignore[assignment]
    block.scale = None  # type: ignore[assignment]
    assert "scale" not in dict(block.named_parameters())
    block.head = None  # type: ignore[assignment]
    assert [name for name, _ in block.named_children()] == ["encoder"]
    del block.encoder
    assert list(block.named_children()) == []
    assert list(block.parameters()) == []


def test_a_subclass_that_forgets_super_init_gets_told():
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"must call super\(\).__init__\(\)"):
        Broken()


def test_state_dict_returns_copies():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    state["weight"][:] = 99
    assert not np.any(layer.weight.data == 99)


def test_torch_state_dict_loads_unchanged_and_gives_the_same_outputs(rng):
    theirs = TorchBlock()
    ours = Block()
    ours.load_state_dict({key: value.detach().numpy() for key, value in theirs.state_dict().items()})
    x = rng.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_our_state_dict_loads_into_torch_unchanged(rng):
    ours = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3), nn.Sigmoid())
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3), torch.nn.Sigmoid())
    theirs.load_state_dict(_to_torch(ours.state_dict()))
    x = rng.normal(size=(2, 6)).astype(np.float32)
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_errors_name_keys_and_shapes():
    model = nn.Sequential(nn.Linear(3, 2))
    good = model.state_dict()
    with pytest.raises(ValueError, match=r"missing keys: 0\.bias") as missing:
        model.load_state_dict({"0.weight": good["0.weight"], "extra": np.zeros(1)})
    assert "unexpected keys: extra" in str(missing.value)
    with pytest.raises(ValueError, match=r"0\.weight: expected shape \(2, 3\), got \(3, 2\)"):
        model.load_state_dict({**good, "0.weight": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="expected shape"):
        model.load_state_dict({"0.weight": np.zeros((3, 2))}, strict=False)
    before = model.state_dict()
    result = model.load_state_dict({"0.weight": np.ones((2, 3)), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["0.bias"]
    assert result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model[0].weight.data, 1)
    np.testing.assert_array_equal(model[0].bias.data, before["0.bias"])


def test_loading_keeps_parameter_arrays_and_dtype():
    layer = nn.Linear(2, 2)
    array = layer.weight.data
    layer.load_state_dict({"weight": np.ones((2, 2), dtype=np.float64), "bias": np.zeros(2)})
    assert layer.weight.data is array
    assert array.dtype == np.float32


def test_train_eval_and_zero_grad():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    assert model.training
    assert model[1].training
    assert model.eval() is model
    assert not model.training
    assert not model[1].training
    model.train()
    assert model[1].training
    model(Tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_sequential_indexing_length_iteration_and_type_check():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3
    assert model[0] is layers[0]
    assert model[-1] is layers[2]
    assert list(model) == layers
    head = model[1:]
    assert isinstance(head, nn.Sequential)
    assert list(head) == layers[1:]
    with pytest.raises(TypeError, match="argument 1 is a int"):
        nn.Sequential(nn.ReLU(), 3)  # type: ignore[arg-type]
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in repr(model)


def test_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(1)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
        (nn.GELU(), torch.nn.GELU()),
        (nn.GELU("tanh"), torch.nn.GELU("tanh")),
        (nn.SiLU(), torch.nn.SiLU()),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.Identity(), torch.nn.Identity()),
    ],
)
def test_parameterless_layers_match_torch(rng, ours, theirs):
    compare_with_torch(ours, theirs, [rng.normal(size=(2, 3, 4)).astype(np.float32)])


def test_linear_layer_on_any_leading_shape_matches_torch(rng):
    ours = nn.Linear(4, 3)
    theirs = torch.nn.Linear(4, 3)
    theirs.load_state_dict(_to_torch(ours.state_dict()))
    for shape in [(4,), (5, 4), (2, 6, 4)]:
        x = rng.normal(size=shape).astype(np.float32)
        compare_with_torch(ours, theirs, [x], atol=1e-5)
    ours.zero_grad()
    theirs.zero_grad()
    x = rng.normal(size=(2, 6, 4)).astype(np.float32)
    ours(Tensor(x)).tanh().sum().backward()
    theirs(torch.tensor(x)).tanh().sum().backward()
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert p.grad is not None
        assert tp.grad is not None
        np.testing.assert_allclose(grad_of(p), tp.grad.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)


def test_embedding_and_layer_norm_layers_match_torch(rng):
    embedding, torch_embedding = nn.Embedding(10, 4), torch.nn.Embedding(10, 4)
    torch_embedding.load_state_dict(_to_torch(embedding.state_dict()))
    indices = np.array([[1, 2, 2], [9, 0, 1]])
    out = embedding(indices)
    np.testing.assert_array_equal(out.data, torch_embedding(torch.tensor(indices)).detach().numpy())
    out.sum().backward()
    assert grad_of(embedding.weight)[2].tolist() == [2.0] * 4

    norm, torch_norm = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))
    assert list(norm.state_dict()) == list(torch_norm.state_dict())
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(norm(Tensor(x)).data, torch_norm(torch.tensor(x)).detach().numpy(), atol=1e-5)
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []


def _uniform_bound_matches(values: np.ndarray, bound: float) -> bool:
    return bool(np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound)


def test_default_initialisation_follows_torch():
    af.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)  # kaiming_uniform(a=sqrt(5)) and the bias rule both give 1/sqrt(fan_in)
    assert _uniform_bound_matches(layer.weight.data, bound)
    assert layer.bias is not None
    assert _uniform_bound_matches(layer.bias.data, bound)
    assert layer.weight.dtype == np.float32
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.02 * bound
    torch_std = torch.nn.Linear(400, 300).weight.detach().numpy().std()
    assert abs(layer.weight.data.std() - torch_std) < 0.02 * bound
    embedding = nn.Embedding(1000, 50).weight.data
    assert abs(embedding.mean()) < 0.02
    assert abs(embedding.std() - 1) < 0.02
    norm = nn.LayerNorm(5)
    assert norm.weight is not None
    assert norm.bias is not None
    np.testing.assert_array_equal(norm.weight.data, 1)
    np.testing.assert_array_equal(norm.bias.data, 0)


def test_init_functions():
    af.manual_seed(1)
    weight = nn.Parameter(np.zeros((64, 32, 3, 3), dtype=np.float32))
    fan_in, fan_out = nn.init.fan_in_and_fan_out(weight.shape)
    assert (fan_in, fan_out) == (32 * 9, 64 * 9)
    nn.init.kaiming_uniform_(weight, nonlinearity="relu")
    assert _uniform_bound_matches(weight.data, math.sqrt(2) * math.sqrt(3 / fan_in))
    nn.init.xavier_uniform_(weight)
    assert _uniform_bound_matches(weight.data, math.sqrt(6 / (fan_in + fan_out)))
    assert nn.init.calculate_gain("tanh") == pytest.approx(torch.nn.init.calculate_gain("tanh"))
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    )
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        nn.init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3, dtype=np.float32)))
    af.manual_seed(5)
    first = nn.Linear(3, 3).weight.data.copy()
    af.manual_seed(5)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.data, first)


def test_save_and_load_npz_round_trip(tmp_path, rng):
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    path = tmp_path / "weights.bin"  # written to exactly this path, whatever the suffix
    af.save(model.state_dict(), path)
    assert path.exists()
    restored = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    restored.load_state_dict(af.load(path))
    x = Tensor(rng.normal(size=(4, 3)).astype(np.float32))
    np.testing.assert_array_equal(restored(x).data, model(x).data)
    with np.load(path) as archive:  # a plain .npz that numpy reads on its own
        assert sorted(archive.files) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    theirs.load_state_dict(_to_torch(af.load(path)))
    np.testing.assert_allclose(theirs(torch.tensor(x.data)).detach().numpy(), model(x).data, rtol=1e-5, atol=1e-6)


def _residual(framework):
    """Residual blocks in a ModuleList and two heads in a ModuleDict, all in a ModuleDict, built with `framework`."""
    blocks = framework.ModuleList([framework.Linear(4, 4) for _ in range(2)])
    blocks.append(framework.Linear(4, 4))
    heads = framework.ModuleDict({"mean": framework.Linear(4, 1), "scale": framework.Linear(4, 1)})
    return framework.ModuleDict({"blocks": blocks, "heads": heads})


def _run_residual(model, x):
    for block in model["blocks"]:
        x = x + block(x).tanh()
    return model["heads"]["mean"](x) * model["heads"]["scale"](x).sigmoid()


def test_module_list_and_dict_register_like_torch(rng):
    ours, theirs = _residual(nn), _residual(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "blocks.2.weight" in ours.state_dict()
    assert "heads.scale.bias" in ours.state_dict()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = rng.normal(size=(3, 4)).astype(np.float32)
    compare_with_torch(lambda x: _run_residual(ours, x), lambda x: _run_residual(theirs, x), [x], atol=1e-5)
    fresh, again = _residual(nn), _residual(torch.nn)
    again.load_state_dict({k: torch.tensor(v) for k, v in fresh.state_dict().items()})
    expected = _run_residual(again, torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(_run_residual(fresh, Tensor(x)).data, expected, atol=1e-5)
    blocks, heads = ours["blocks"], ours["heads"]
    assert isinstance(blocks, nn.ModuleList)
    assert isinstance(heads, nn.ModuleDict)
    assert len(blocks) == 3
    assert blocks[-1] is list(blocks)[2]
    assert list(heads) == ["mean", "scale"]
    assert "mean" in heads
    assert [key for key, _ in heads.items()] == list(heads.keys())
    assert len(list(heads.values())) == len(heads) == 2
    with pytest.raises(TypeError, match="ModuleList holds Modules"):
        blocks.extend([3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="under 'bad'"):
        heads["bad"] = 3  # type: ignore[assignment]


class WithBuffer(nn.Module):
    count: np.ndarray

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.register_buffer("count", np.zeros((), dtype=np.int64))


class TorchWithBuffer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))


def test_buffers_are_saved_loaded_in_place_and_not_learned():
    module = WithBuffer()
    # As torch: a module's own parameters, then its own buffers, then its children's.
    assert (
        list(module.state_dict()) == list(TorchWithBuffer().state_dict()) == ["count", "linear.weight", "linear.bias"]
    )
    assert [name for name, _ in module.named_buffers()] == ["count"]
    assert len(list(module.parameters())) == 2
    buffer = module.count
    module.count += 5
    assert int(module.state_dict()["count"]) == 5
    module.load_state_dict({**module.state_dict(), "count": np.array(9)})
    assert module.count is buffer
    assert int(next(iter(module.buffers()))) == 9
    with pytest.raises(KeyError, match="already has a parameter or module"):
        module.register_buffer("linear", np.zeros(1))
    del module.count
    assert list(module.named_buffers()) == []
