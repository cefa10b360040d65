"""BatchNorm1d and BatchNorm2d: per-channel normalisation with running statistics, as PyTorch's."""

from __future__ import annotations

import numpy as np

from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)
from azuraforge_core.nn.module import Module, Parameter
from azuraforge_core.tensor import Array, Tensor


class _BatchNorm(Module):
    """Normalises each channel (axis 1) by the batch's statistics while training and by the running ones in eval.

    state_dict keys are PyTorch's: weight, bias, running_mean, running_var, num_batches_tracked. With
    momentum=None the running statistics are the cumulative average over every batch seen.
    """

    input_ranks: tuple[int, ...] = ()
    layout = ""
    running_mean: Array
    running_var: Array
    num_batches_tracked: Array

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.input_ranks or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects input of shape {self.layout} with "
                f"C = {self.num_features}, got shape {x.shape}"
            )
        if not self.track_running_stats:
            return F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps)
        momentum = self.momentum
        if self.training:
            self.num_batches_tracked += 1
            if momentum is None:  # the cumulative average: every batch so far weighs the same
                momentum = 1.0 / float(self.num_batches_tracked)
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=self.training,
            momentum=0.0 if momentum is None else momentum,  # unused in eval
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L) inputs."""

    input_ranks = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) inputs."""

    input_ranks = (4,)
    layout = "(N, C, H, W)"
