"""Optimizers, clipping and schedulers step for step against torch.optim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from conftest import grad_of

from azuraforge_core import Tensor, optim
from azuraforge_core.nn import Parameter

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _twin_parameters(seed: int = 0) -> tuple[list[Parameter], list[torch.nn.Parameter]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=shape).astype(np.float32) for shape in SHAPES]
    return [Parameter(a.copy()) for a in arrays], [torch.nn.Parameter(torch.tensor(a)) for a in arrays]


def _run_side_by_side(
    make_ours: Callable[[list[Any]], optim.Optimizer],
    make_theirs: Callable[[list[Any]], torch.optim.Optimizer],
    steps: int = 6,
    scheduler: tuple[Callable[[Any], Any], Callable[[Any], Any]] | None = None,
) -> None:
    ours, theirs = _twin_parameters()
    our_opt, their_opt = make_ours(ours), make_theirs(theirs)
    schedulers = (scheduler[0](our_opt), scheduler[1](their_opt)) if scheduler else None
    rng = np.random.default_rng(42)
    for step in range(steps):
        our_opt.zero_grad()
        their_opt.zero_grad()
        for p, tp in zip(ours, theirs, strict=True):
            grad = rng.normal(size=p.shape).astype(np.float32)
            p.grad, tp.grad = grad, torch.tensor(grad)
        our_opt.step()
        their_opt.step()
        if schedulers:
            schedulers[0].step()
            schedulers[1].step()
            np.testing.assert_allclose(schedulers[0].get_last_lr(), schedulers[1].get_last_lr(), rtol=1e-9)
        for p, tp in zip(ours, theirs, strict=True):
            assert p.dtype == np.float32
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"step {step}")


OPTIMIZERS = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_momentum": (
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    ),
    "sgd_nesterov": (
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    ),
    "sgd_weight_decay": (
        lambda p: optim.SGD(p, lr=0.1, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.1),
    ),
    "sgd_momentum_weight_decay": (
        lambda p: optim.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.01, nesterov=True),
    ),
    "adam": (lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam_options": (
        lambda p: optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    "adamw": (lambda p: optim.AdamW(p, lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    "adamw_decay": (
        lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.5),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.5),
    ),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_steps_match_torch(name):
    _run_side_by_side(*OPTIMIZERS[name])


SCHEDULERS = {
    "step": (lambda o: optim.StepLR(o, step_size=3, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
    "cosine": (
        lambda o: optim.CosineAnnealingLR(o, T_max=5, eta_min=0.001),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.001),
    ),
}


@pytest.mark.parametrize("name", SCHEDULERS)
@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_schedulers_drive_the_learning_rate_like_torch(name, optimizer):
    _run_side_by_side(*OPTIMIZERS[optimizer], steps=12, scheduler=SCHEDULERS[name])


def test_parameter_groups_have_their_own_options():
    def groups(params: list[Any]) -> list[dict[str, Any]]:
        return [{"params": params[:1], "lr": 0.5}, {"params": params[1:]}]

    _run_side_by_side(
        lambda p: optim.SGD(groups(p), lr=0.1, momentum=0.5),
        lambda p: torch.optim.SGD(groups(p), lr=0.1, momentum=0.5),
    )


def test_parameters_without_gradients_are_left_alone():
    used, unused = Parameter(np.ones(2, dtype=np.float32)), Parameter(np.ones(2, dtype=np.float32))
    frozen = Parameter(np.ones(2, dtype=np.float32), requires_grad=False)
    optimizer = optim.Adam([used, unused, frozen], lr=0.1)
    used.grad = np.ones(2, dtype=np.float32)
    optimizer.step()
    np.testing.assert_array_equal(unused.data, 1)
    np.testing.assert_array_equal(frozen.data, 1)
    assert np.all(used.data < 1)
    optimizer.zero_grad()
    assert used.grad is None


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _twin_parameters()
    rng = np.random.default_rng(3)
    for p, tp in zip(ours, theirs, strict=True):
        grad = rng.normal(size=p.shape).astype(np.float32)
        p.grad, tp.grad = grad, torch.tensor(grad)
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total == pytest.approx(torch_total.item(), rel=1e-5)
    for p, tp in zip(ours, theirs, strict=True):
        assert grad_of(p).dtype == np.float32
        assert tp.grad is not None
        np.testing.assert_allclose(grad_of(p), tp.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert optim.clip_grad_norm_([Parameter(np.ones(1, dtype=np.float32))], 1.0) == 0.0


def test_optimizer_state_dict_resumes_exactly():
    def train(optimizer: optim.Optimizer, params: list[Parameter], steps: range) -> None:
        for step in steps:
            for index, p in enumerate(params):
                p.grad = np.full(p.shape, np.sin(step + index), dtype=np.float32)
            optimizer.step()

    straight, _ = _twin_parameters()
    train(optim.Adam(straight, lr=0.05), straight, range(6))

    resumed, _ = _twin_parameters()
    first = optim.Adam(resumed, lr=0.05)
    train(first, resumed, range(3))
    state = first.state_dict()
    second = optim.Adam(resumed, lr=0.9)  # the loaded state restores lr too
    second.load_state_dict(state)
    train(second, resumed, range(3, 6))
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a.data, b.data)

    with pytest.raises(ValueError, match=r"groups of sizes \[3\].*\[1\]"):
        optim.Adam([Parameter(np.ones(1, dtype=np.float32))]).load_state_dict(state)


def test_scheduler_state_dict_round_trip():
    params, _ = _twin_parameters()
    scheduler = optim.StepLR(optim.SGD(params, lr=1.0), step_size=2)
    for _ in range(5):
        scheduler.step()
    fresh = optim.StepLR(optim.SGD(params, lr=1.0), step_size=2)
    fresh.load_state_dict(scheduler.state_dict())
    fresh.step()
    scheduler.step()
    assert fresh.get_last_lr() == scheduler.get_last_lr() == [pytest.approx(0.001)]


def test_bad_optimizer_arguments_are_explained():
    params, _ = _twin_parameters()
    with pytest.raises(ValueError, match="no parameters"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="nesterov=True needs momentum"):
        optim.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="must be >= 0"):
        optim.Adam(params, lr=-1)
    with pytest.raises(ValueError, match=r"betas must lie in \[0, 1\)"):
        optim.Adam(params, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="leaf Tensors"):
        optim.SGD([Tensor(np.ones(2), requires_grad=True) * 2], lr=0.1)
    with pytest.raises(TypeError, match="leaf Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unknown SGD options \['betas'\]"):
        optim.SGD([{"params": params, "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": params}, {"params": params[:1]}], lr=0.1)
    with pytest.raises(ValueError, match="step_size"):
        optim.StepLR(optim.SGD(params, lr=0.1), step_size=0)
