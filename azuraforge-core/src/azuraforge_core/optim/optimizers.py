"""SGD, Adam and AdamW with PyTorch's update rules, and gradient-norm clipping.

Updates run in place on each parameter's array (`out=` buffers where numpy allows), so a step
allocates little and models, optimizers and schedulers keep referring to the same arrays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from azuraforge_core import allocator
from azuraforge_core.tensor import Array, Tensor

ParamsArg = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Holds parameter groups (dicts with "params" and hyperparameters) and per-parameter state."""

    def __init__(self, params: ParamsArg, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got no parameters; pass model.parameters()")
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)
        allocator.for_training()

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        params = list(group["params"])
        for p in params:
            # Frozen parameters (requires_grad=False) are accepted and simply never get a gradient.
            if not isinstance(p, Tensor) or not p.is_leaf:
                raise TypeError(f"{type(self).__name__} optimises leaf Tensors such as model.parameters(), got {p!r}")
        known = {id(p) for existing in self.param_groups for p in existing["params"]}
        if any(id(p) in known for p in params):
            raise ValueError("a parameter appears in more than one parameter group")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} options {sorted(unknown)}; known: {sorted(self.defaults)}")
        self.param_groups.append({**self.defaults, **group, "params": params})

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p.data, p.grad, group, self.state.setdefault(p, {}))

    def _update(self, param: Array, grad: Array, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """{"state": {param index: {name: value}}, "param_groups": [...]} with parameters as indices, as torch."""
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        state = {
            index[id(p)]: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for p, s in self.state.items()
        }
        groups = [{**g, "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        groups = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in self.param_groups]
        if [len(g["params"]) for g in groups] != sizes:
            raise ValueError(
                f"optimizer state has groups of sizes {[len(g['params']) for g in groups]}, "
                f"this optimizer has {sizes}; load the state of an optimizer built over the same parameters"
            )
        params = [p for g in self.param_groups for p in g["params"]]
        for own, saved in zip(self.param_groups, groups, strict=True):
            own.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {
            params[int(i)]: {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for i, s in state_dict["state"].items()
        }


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay."""

    def __init__(
        self, params: ParamsArg, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False
    ) -> None:
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"lr, momentum and weight_decay must be >= 0, got {lr}, {momentum}, {weight_decay}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov})

    def _update(self, param: Array, grad: Array, group: dict[str, Any], state: dict[str, Any]) -> None:
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if weight_decay:
            grad = grad + weight_decay * param
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= momentum
                buffer += grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param -= group["lr"] * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias correction; weight_decay is L2 added to the gradient."""

    decoupled_weight_decay = False

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"lr, eps and weight_decay must be >= 0, got {lr}, {eps}, {weight_decay}")
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})
        self._work: Array = np.empty(0, dtype=np.float32)

    def _update(self, param: Array, grad: Array, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
        state["step"] += 1
        step, exp_avg, exp_avg_sq = state["step"], state["exp_avg"], state["exp_avg_sq"]
        # lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), with sqrt(bc2) moved out of the per-element work.
        bias_correction2_sqrt = math.sqrt(1 - beta2**step)
        eps = group["eps"] * bias_correction2_sqrt
        step_size = lr / (1 - beta1**step) * bias_correction2_sqrt
        decay = 1 - lr * weight_decay if weight_decay and self.decoupled_weight_decay else None
        l2 = weight_decay if weight_decay and not self.decoupled_weight_decay else None
        for rows in _row_chunks(param):
            p, g, m, v = param[rows], grad[rows], exp_avg[rows], exp_avg_sq[rows]
            if decay is not None:
                p *= decay
            elif l2 is not None:
                g = g + l2 * p
            work = self._work_array(p)
            np.multiply(g, 1 - beta1, out=work)
            m *= beta1
            m += work
            np.multiply(g, g, out=work)
            work *= 1 - beta2
            v *= beta2
            v += work
            denom = np.sqrt(v, out=work)
            denom += eps
            update = np.divide(m, denom, out=work)
            update *= step_size
            p -= update

    def _work_array(self, param: Array) -> Array:
        """A scratch array shaped like `param`: a view of one buffer as large as the largest parameter so far."""
        if self._work.dtype != param.dtype or self._work.size < param.size:
            self._work = np.empty(param.size, dtype=param.dtype)
        return self._work[: param.size].reshape(param.shape)


# Adam updates a large parameter in chunks of rows of about this many elements (128 KiB of float32
# for each of the parameter, its gradient, both moments and the scratch array): the update's dozen
# passes then run over data in the CPU cache, and each array streams through memory once per step
# instead of once per pass.
_UPDATE_CHUNK_ELEMENTS = 1 << 15


def _row_chunks(param: Array) -> list[Any]:
    """Index expressions that split `param` along its first axis into chunks of about _UPDATE_CHUNK_ELEMENTS."""
    if param.ndim == 0 or param.size <= _UPDATE_CHUNK_ELEMENTS:
        return [...]
    step = max(1, _UPDATE_CHUNK_ELEMENTS * param.shape[0] // param.size)
    return [slice(start, start + step) for start in range(0, param.shape[0], step)]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): param *= 1 - lr * weight_decay each step."""

    decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamsArg,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> float:
    """Scale gradients in place so their joint norm is at most max_norm; returns the norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.abs(g).max()) for g in grads)
    else:
        norms = np.array([np.linalg.norm(g.ravel(), ord=norm_type) for g in grads])
        total = float(np.linalg.norm(norms, ord=norm_type))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in grads:
            g *= scale
    return total
