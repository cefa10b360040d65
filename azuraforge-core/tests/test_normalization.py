"""BatchNorm1d/2d against PyTorch: training and eval outputs, gradients, running statistics and state_dicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import check_finite_differences, compare_with_torch, grad_of

from azuraforge_core import Tensor, nn, no_grad
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)

LAYERS = [
    pytest.param(nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 3), id="1d-features"),
    pytest.param(nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5), id="1d-sequence"),
    pytest.param(nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6), id="2d"),
]


def _pair(ours_cls, theirs_cls, **kwargs):
    torch.manual_seed(0)
    theirs = theirs_cls(3, **kwargs)
    with torch.no_grad():
        if theirs.affine:
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
    ours = ours_cls(3, **kwargs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _assert_same_state(ours: nn.Module, theirs: torch.nn.Module) -> None:
    reference = theirs.state_dict()
    assert list(ours.state_dict()) == list(reference)
    for key, value in ours.state_dict().items():
        assert value.dtype == reference[key].numpy().dtype, key
        np.testing.assert_allclose(value, reference[key].numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize(("ours_cls", "theirs_cls", "shape"), LAYERS)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_training_steps_match_torch_outputs_gradients_and_running_stats(rng, ours_cls, theirs_cls, shape, momentum):
    ours, theirs = _pair(ours_cls, theirs_cls, momentum=momentum)
    for step in range(3):
        x = (rng.normal(size=shape) * (step + 1) + step).astype(np.float32)
        ours.zero_grad()
        theirs.zero_grad()
        compare_with_torch(ours, theirs, [x], rtol=1e-4, atol=1e-5)
        for name, parameter in ours.named_parameters():
            reference = dict(theirs.named_parameters())[name].grad
            assert reference is not None
            np.testing.assert_allclose(grad_of(parameter), reference.numpy(), rtol=1e-4, atol=1e-5)
    assert int(ours.num_batches_tracked) == 3
    _assert_same_state(ours, theirs)


@pytest.mark.parametrize(("ours_cls", "theirs_cls", "shape"), LAYERS)
def test_eval_uses_running_stats_and_matches_torch(rng, ours_cls, theirs_cls, shape):
    ours, theirs = _pair(ours_cls, theirs_cls)
    for _ in range(2):
        x = (rng.normal(size=shape) * 2 + 1).astype(np.float32)
        with no_grad():
            ours(Tensor(x))
        theirs(torch.tensor(x))
    ours.eval()
    theirs.eval()
    before = ours.state_dict()
    compare_with_torch(ours, theirs, [rng.normal(size=shape).astype(np.float32)], rtol=1e-4, atol=1e-5)
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=f"{key} changed in eval")


def test_without_running_stats_or_affine(rng):
    ours, theirs = _pair(nn.BatchNorm2d, torch.nn.BatchNorm2d, affine=False, track_running_stats=False)
    assert ours.state_dict() == {}
    x = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
    ours.eval()
    theirs.eval()
    compare_with_torch(ours, theirs, [x], rtol=1e-4, atol=1e-5)


def test_state_dict_round_trips_torch_ours_torch(rng):
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    theirs(torch.tensor(rng.normal(size=(4, 2, 6, 6)).astype(np.float32)))  # moves the running stats
    ours = nn.Sequential(nn.Conv2D(2, 3, 3), nn.BatchNorm2d(3))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
    ]  # fmt: skip
    again = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    again.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    _assert_same_state(ours, again)
    ours.eval()
    again.eval()
    x = rng.normal(size=(2, 2, 6, 6)).astype(np.float32)
    with no_grad():
        np.testing.assert_allclose(ours(Tensor(x)).data, again(torch.tensor(x)).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_finite_differences_float64(training):
    rng = np.random.default_rng(3)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2, size=3)
    check_finite_differences(
        lambda x, w, b: F.batch_norm(x, mean.copy(), var.copy(), w, b, training=training),
        [rng.normal(size=(4, 3, 2)), rng.normal(size=3), rng.normal(size=3)],
    )


def test_batch_norm_input_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\) expects input of shape \(N, C, H, W\) with C = 3"):
        nn.BatchNorm2d(3)(Tensor(np.zeros((2, 4, 5, 5), np.float32)))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, L\)"):
        nn.BatchNorm1d(3)(Tensor(np.zeros((2, 3, 5, 5), np.float32)))
    with pytest.raises(ValueError, match="more than one value per channel"):
        nn.BatchNorm1d(3)(Tensor(np.zeros((1, 3), np.float32)))
