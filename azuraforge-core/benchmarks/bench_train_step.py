"""Time one training step (forward, backward, optimizer step) of azuraforge-core against PyTorch CPU eager.

For each model kind (LSTM regressor, small CNN, CNN with BatchNorm, MLP, self-attention, Transformer
encoder) and one or more shapes per kind, the same architecture
is built in both libraries with the same starting weights (PyTorch's state_dict loaded into ours),
and the two steps are timed interleaved in this one process (see `measure`); the median step time
of each is reported with the ratio ours / PyTorch (lower is better; the target is <= 1), the GEMM
FLOPs of a step and the GEMM roofline: the time those FLOPs take at numpy's best SGEMM rate on this
machine, a floor that neither library can beat. The first-step losses are printed too: equal losses
show that both run the same model. PyTorch gets as many threads as numpy's BLAS has.

    python benchmarks/bench_train_step.py [--blocks 8] [--block-reps 10] [--only lstm] [--clock cpu]

For the figures in the README, run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (see there).
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_info

from azuraforge_core import Tensor, nn, optim
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)

Step = Callable[[], float]


@dataclass(frozen=True)
class Case:
    kind: str
    shape: str
    build: Callable[[np.random.Generator], tuple[Step, Step]]
    gemm_flops: float  # of one step's matrix products (forward and backward), for the roofline column


# GEMM FLOPs of one training step, counted from the shapes: every matrix product of the forward, and of
# the backward the weight gradients plus the input gradients where the input needs one (not the data).
def _linear_flops(rows: int, inputs: int, outputs: int, input_grad: bool = True) -> float:
    return 2.0 * rows * inputs * outputs * (3 if input_grad else 2)


def _lstm_flops(batch: int, seq: int, hidden: int, layers: int) -> float:
    flops = 0.0
    for k in range(layers):
        inputs = 1 if k == 0 else hidden
        flops += _linear_flops(batch * seq, inputs, 4 * hidden, input_grad=k > 0)
        flops += _linear_flops(batch * seq, hidden, 4 * hidden)  # the recurrent products
    return flops + _linear_flops(batch, hidden, 1)


def _conv_flops(batch: int, c_in: int, c_out: int, side: int, input_grad: bool) -> float:
    """A 3x3 convolution with padding 1 over side x side images: a Linear over every output pixel."""
    return _linear_flops(batch * side * side, 9 * c_in, c_out, input_grad)


def _attention_flops(batch: int, seq: int, d_model: int) -> float:
    """q kᵀ and the product with v, forward, and their four products backward, over every head."""
    return 6 * 2.0 * batch * seq * seq * d_model


def _copy_weights(ours: nn.Module, theirs: torch.nn.Module) -> None:
    """Start both models from the same weights: PyTorch's state_dict loads into ours unchanged."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


class _Regressor(nn.Module):
    def __init__(self, hidden: int, layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.lstm(x)
        prediction: Tensor = self.head(output[:, -1])
        return prediction


class _TorchRegressor(torch.nn.Module):
    def __init__(self, hidden: int, layers: int = 1) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(1, hidden, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        prediction: torch.Tensor = self.head(output[:, -1])
        return prediction


class _Encoder(nn.Module):
    """A pre-norm Transformer encoder over the sequence, then a Linear map from its last step."""

    def __init__(self, d_model: int, layers: int) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, 4, 2 * d_model, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x: Tensor) -> Tensor:
        prediction: Tensor = self.head(self.encoder(x)[:, -1])
        return prediction


class _TorchEncoder(torch.nn.Module):
    def __init__(self, d_model: int, layers: int) -> None:
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(
            d_model, 4, 2 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = torch.nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prediction: torch.Tensor = self.head(self.encoder(x)[:, -1])
        return prediction


class _SelfAttention(nn.Module):
    """One causal multi-head self-attention layer, then a Linear map from the last step."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, 4, batch_first=True)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x: Tensor) -> Tensor:
        attended, _ = self.attention(x, x, x, need_weights=False, is_causal=True)
        prediction: Tensor = self.head(attended[:, -1])
        return prediction


class _TorchSelfAttention(torch.nn.Module):
    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.attention = torch.nn.MultiheadAttention(d_model, 4, batch_first=True)
        self.head = torch.nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.shape[1]
        causal = torch.nn.Transformer.generate_square_subsequent_mask(seq)
        attended, _ = self.attention(x, x, x, need_weights=False, attn_mask=causal, is_causal=True)
        prediction: torch.Tensor = self.head(attended[:, -1])
        return prediction


def _steps(
    ours: nn.Module,
    theirs: torch.nn.Module,
    make_optimizers: Callable[[nn.Module, torch.nn.Module], tuple[Any, Any]],
    loss_ours: Callable[[Tensor, Any], Tensor],
    loss_theirs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: np.ndarray,
    y: np.ndarray,
) -> tuple[Step, Step]:
    """The two training steps; each takes the next of the BATCHES batches stacked in `x` and `y`."""
    _copy_weights(ours, theirs)
    opt_ours, opt_theirs = make_optimizers(ours, theirs)
    batches_ours = itertools.cycle([(Tensor(xb), yb) for xb, yb in zip(x, y, strict=True)])
    batches_theirs = itertools.cycle(
        [(torch.from_numpy(xb), torch.from_numpy(yb)) for xb, yb in zip(x, y, strict=True)]
    )

    def step_ours() -> float:
        x_ours, y_ours = next(batches_ours)
        opt_ours.zero_grad()
        loss = loss_ours(ours(x_ours), y_ours)
        loss.backward()
        opt_ours.step()
        return float(loss.item())

    def step_theirs() -> float:
        x_theirs, y_theirs = next(batches_theirs)
        opt_theirs.zero_grad()
        loss = loss_theirs(theirs(x_theirs), y_theirs)
        loss.backward()
        opt_theirs.step()
        return float(loss.item())

    return step_ours, step_theirs


# Each step trains on the next of this many random batches. On one repeated batch every model here
# memorises it within a few dozen steps: the loss reaches 0 and the gradients become tiny and subnormal,
# which slows both libraries' arithmetic severalfold and measures a regime no real training is in.
BATCHES = 32


def _adam(ours: nn.Module, theirs: torch.nn.Module) -> tuple[Any, Any]:
    return optim.Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(theirs.parameters(), lr=1e-3)


def _adamw(ours: nn.Module, theirs: torch.nn.Module) -> tuple[Any, Any]:
    return optim.AdamW(ours.parameters(), lr=1e-3), torch.optim.AdamW(theirs.parameters(), lr=1e-3)


def _sgd_momentum(ours: nn.Module, theirs: torch.nn.Module) -> tuple[Any, Any]:
    return (
        optim.SGD(ours.parameters(), lr=0.01, momentum=0.9),
        torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9),
    )


def lstm_case(batch: int, seq: int, hidden: int, layers: int = 1) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        x = rng.standard_normal((BATCHES, batch, seq, 1)).astype(np.float32)
        y = rng.standard_normal((BATCHES, batch, 1)).astype(np.float32)
        return _steps(
            _Regressor(hidden, layers),
            _TorchRegressor(hidden, layers),
            _adam,
            F.mse_loss,
            torch.nn.functional.mse_loss,
            x,
            y,
        )

    return build


def cnn_case(batch: int, c1: int, c2: int) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        ours = nn.Sequential(
            nn.Conv2D(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Conv2D(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Flatten(),
            nn.Linear(c2 * 7 * 7, 10),
        )
        theirs = torch.nn.Sequential(
            torch.nn.Conv2d(1, c1, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(c1, c2, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(c2 * 7 * 7, 10),
        )
        x = rng.standard_normal((BATCHES, batch, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, (BATCHES, batch))
        return _steps(ours, theirs, _adam, F.cross_entropy, torch.nn.functional.cross_entropy, x, y)

    return build


def cnn_batchnorm_case(batch: int, c1: int, c2: int) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    """CIFAR-shaped: 3x32x32 images, conv-BatchNorm-ReLU-pool twice, then a Linear classifier."""

    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        ours = nn.Sequential(
            nn.Conv2D(3, c1, 3, padding=1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Conv2D(c1, c2, 3, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Flatten(),
            nn.Linear(c2 * 8 * 8, 10),
        )
        theirs = torch.nn.Sequential(
            torch.nn.Conv2d(3, c1, 3, padding=1),
            torch.nn.BatchNorm2d(c1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(c1, c2, 3, padding=1),
            torch.nn.BatchNorm2d(c2),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(c2 * 8 * 8, 10),
        )
        x = rng.standard_normal((BATCHES, batch, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, (BATCHES, batch))
        return _steps(ours, theirs, _adam, F.cross_entropy, torch.nn.functional.cross_entropy, x, y)

    return build


def deep_mlp_case(batch: int, inputs: int, width: int) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    """Three hidden layers of `width`, trained with AdamW."""

    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        ours = nn.Sequential(
            nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10),
        )  # fmt: skip
        theirs = torch.nn.Sequential(
            torch.nn.Linear(inputs, width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(),
            torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 10),
        )  # fmt: skip
        x = rng.standard_normal((BATCHES, batch, inputs)).astype(np.float32)
        y = rng.integers(0, 10, (BATCHES, batch))
        return _steps(ours, theirs, _adamw, F.cross_entropy, torch.nn.functional.cross_entropy, x, y)

    return build


def attention_case(batch: int, seq: int, d_model: int) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        x = rng.standard_normal((BATCHES, batch, seq, d_model)).astype(np.float32)
        y = rng.standard_normal((BATCHES, batch, 1)).astype(np.float32)
        ours, theirs = _SelfAttention(d_model), _TorchSelfAttention(d_model)
        return _steps(ours, theirs, _adam, F.mse_loss, torch.nn.functional.mse_loss, x, y)

    return build


def transformer_case(
    batch: int, seq: int, d_model: int, layers: int
) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        x = rng.standard_normal((BATCHES, batch, seq, d_model)).astype(np.float32)
        y = rng.standard_normal((BATCHES, batch, 1)).astype(np.float32)
        ours, theirs = _Encoder(d_model, layers), _TorchEncoder(d_model, layers)
        return _steps(ours, theirs, _adam, F.mse_loss, torch.nn.functional.mse_loss, x, y)

    return build


def mlp_case(batch: int, inputs: int, hidden: int) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        ours = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        theirs = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
        x = rng.standard_normal((BATCHES, batch, inputs)).astype(np.float32)
        y = rng.integers(0, 10, (BATCHES, batch))
        return _steps(ours, theirs, _sgd_momentum, F.cross_entropy, torch.nn.functional.cross_entropy, x, y)

    return build


def _mlp_flops(batch: int, widths: list[int]) -> float:
    return sum(_linear_flops(batch, a, b, input_grad=k > 0) for k, (a, b) in enumerate(itertools.pairwise(widths)))


def _cnn_flops(batch: int, c_in: int, c1: int, c2: int, side: int) -> float:
    return (
        _conv_flops(batch, c_in, c1, side, input_grad=False)
        + _conv_flops(batch, c1, c2, side // 2, input_grad=True)
        + _linear_flops(batch, c2 * (side // 4) ** 2, 10)
    )


def _self_attention_flops(batch: int, seq: int, d_model: int) -> float:
    rows = batch * seq
    return (
        _linear_flops(rows, d_model, 3 * d_model, input_grad=False)
        + _attention_flops(batch, seq, d_model)
        + _linear_flops(rows, d_model, d_model)
        + _linear_flops(batch, d_model, 1)
    )


def _transformer_flops(batch: int, seq: int, d_model: int, layers: int) -> float:
    rows = batch * seq
    per_layer = (
        _linear_flops(rows, d_model, 3 * d_model)  # after the first LayerNorm, whose output needs a gradient
        + _attention_flops(batch, seq, d_model)
        + _linear_flops(rows, d_model, d_model)
        + _linear_flops(rows, d_model, 2 * d_model)
        + _linear_flops(rows, 2 * d_model, d_model)
    )
    return layers * per_layer + _linear_flops(batch, d_model, 1)


CASES = [
    Case("lstm", "batch 32, seq 60, 1 feature, hidden 64", lstm_case(32, 60, 64), _lstm_flops(32, 60, 64, 1)),
    Case("lstm", "batch 64, seq 30, 1 feature, hidden 128", lstm_case(64, 30, 128), _lstm_flops(64, 30, 128, 1)),
    Case("lstm", "2 layers, batch 32, seq 60, hidden 64", lstm_case(32, 60, 64, layers=2), _lstm_flops(32, 60, 64, 2)),
    Case("lstm", "batch 32, seq 120, 1 feature, hidden 64", lstm_case(32, 120, 64), _lstm_flops(32, 120, 64, 1)),
    Case("lstm", "batch 32, seq 60, 1 feature, hidden 256", lstm_case(32, 60, 256), _lstm_flops(32, 60, 256, 1)),
    Case("cnn", "batch 64, 1x28x28, conv 8 / 16 channels", cnn_case(64, 8, 16), _cnn_flops(64, 1, 8, 16, 28)),
    Case("cnn", "batch 32, 1x28x28, conv 16 / 32 channels", cnn_case(32, 16, 32), _cnn_flops(32, 1, 16, 32, 28)),
    Case("mlp", "batch 128, 784-256-10, SGD momentum", mlp_case(128, 784, 256), _mlp_flops(128, [784, 256, 10])),
    Case("mlp", "batch 256, 512-128-10, SGD momentum", mlp_case(256, 512, 128), _mlp_flops(256, [512, 128, 10])),
    Case(
        "mlp",
        "batch 128, 784-1024x3-10, AdamW",
        deep_mlp_case(128, 784, 1024),
        _mlp_flops(128, [784, 1024, 1024, 1024, 10]),
    ),
    Case(
        "cnn-bn",
        "batch 32, 3x32x32, conv 32 / 64 + BatchNorm",
        cnn_batchnorm_case(32, 32, 64),
        _cnn_flops(32, 3, 32, 64, 32),
    ),
    Case(
        "attention",
        "batch 32, seq 64, d 64, 4 heads, causal",
        attention_case(32, 64, 64),
        _self_attention_flops(32, 64, 64),
    ),
    Case(
        "attention",
        "batch 32, seq 128, d 64, 4 heads, causal",
        attention_case(32, 128, 64),
        _self_attention_flops(32, 128, 64),
    ),
    Case(
        "transformer",
        "2 layers, batch 32, seq 64, d 64, 4 heads",
        transformer_case(32, 64, 64, 2),
        _transformer_flops(32, 64, 64, 2),
    ),
    Case(
        "transformer",
        "2 layers, batch 32, seq 128, d 64, 4 heads",
        transformer_case(32, 128, 64, 2),
        _transformer_flops(32, 128, 64, 2),
    ),
    Case(
        "transformer",
        "2 layers, batch 32, seq 64, d 128, 4 heads",
        transformer_case(32, 64, 128, 2),
        _transformer_flops(32, 64, 128, 2),
    ),
]


TARGET = 1.0  # ours / PyTorch, for every case
SETTLE_SECONDS = 0.25
# Wall time, or the CPU time of this thread: with one thread per library both compute in this thread,
# and its CPU time leaves out the time the scheduler gives to other processes on a busy machine.
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def gemm_peak(clock: Callable[[], float], size: int = 1024, repeats: int = 20) -> float:
    """The SGEMM roofline: numpy's best float32 GFLOP/s on a (size x size) @ (size x size) product."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    best = math.inf
    for _ in range(repeats):
        start = clock()
        a @ a
        best = min(best, clock() - start)
    return 2.0 * size**3 / best / 1e9


def measure(case: Case, blocks: int, block_reps: int, clock: Callable[[], float]) -> tuple[float, float, float, float]:
    """(ours ms, torch ms, first-step loss ours, first-step loss torch); medians over interleaved blocks.

    The libraries alternate in blocks (which one goes first alternates too), so slow drifts of the
    machine hit both alike. Before each block the script sleeps: after a parallel call, OpenBLAS's
    worker threads keep spinning for about 0.1 s and libgomp's for a shorter while, and a spinning
    pool of one library would otherwise steal a core from the other. The first step of each block
    wakes its pool and is not timed.
    """
    step_ours, step_theirs = case.build(np.random.default_rng(0))
    first_ours, first_theirs = step_ours(), step_theirs()

    def timed(step: Step) -> float:
        start = clock()
        step()
        return clock() - start

    times: dict[Step, list[float]] = {step_ours: [], step_theirs: []}
    for block in range(blocks):
        for step in (step_ours, step_theirs) if block % 2 == 0 else (step_theirs, step_ours):
            time.sleep(SETTLE_SECONDS)
            step()
            times[step].extend(timed(step) for _ in range(block_reps))
    ours, theirs = statistics.median(times[step_ours]), statistics.median(times[step_theirs])
    return ours * 1e3, theirs * 1e3, first_ours, first_theirs


MEMORY_STEPS = 30


def _status_mb(field: str) -> float:
    """A memory figure of this process from Linux's /proc/self/status (VmRSS, VmHWM), in MB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def step_memory(case: Case, library: str) -> tuple[float, float]:
    """(peak RSS over MEMORY_STEPS steps of one library, what they add to the RSS before the first step), MB.

    Run in a fresh process per library (see `measure_memory`). The case is built whole in both (both
    models, the batches), then the peak is reset (Linux's clear_refs) so that building does not count,
    and only `library`'s steps run: the addition is the step's activations, gradients, optimizer state,
    work arrays and whatever the library's allocator keeps.
    """
    step_ours, step_theirs = case.build(np.random.default_rng(0))
    step = step_ours if library == "ours" else step_theirs
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM to the current RSS
    before = _status_mb("VmRSS")
    for _ in range(MEMORY_STEPS):
        step()
    peak = _status_mb("VmHWM")
    return peak, peak - before


def measure_memory(case: Case) -> dict[str, tuple[float, float]]:
    """step_memory of each library, each in its own process, so that neither sees the other's heap."""
    figures = {}
    for library in ("ours", "torch"):
        command = [sys.executable, __file__, "--memory-of", library, "--case", case.shape]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        peak, added = output.split()
        figures[library] = (float(peak), float(added))
    return figures


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def match_threads() -> tuple[dict[str, Any] | None, int]:
    """numpy's BLAS (threadpoolctl's description) and its thread count, which torch is set to as well."""
    blas_libraries = [info for info in threadpool_info() if info["user_api"] == "blas"]
    numpy_blas = [info for info in blas_libraries if "numpy" in info["filepath"]]
    blas = (numpy_blas or blas_libraries or [None])[0]
    threads = int(blas["num_threads"]) if blas else 1
    torch.set_num_threads(threads)
    return blas, threads


def describe_machine() -> int:
    """Print the machine, library versions and BLAS; set torch's threads to numpy's BLAS threads (returned)."""
    blas, threads = match_threads()
    print(f"cpu: {_cpu_model()}, {os.cpu_count()} logical cores")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")
    if blas:
        print(
            f"numpy BLAS: {blas['internal_api']} {blas.get('version')}, kernel {blas.get('architecture')}, "
            f"{threads} threads"
        )
    print(f"torch threads: {torch.get_num_threads()}")
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        print(f"{name}={os.environ.get(name, '(unset)')}")
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8, help="blocks per library (default 8)")
    parser.add_argument("--block-reps", type=int, default=10, help="timed steps per block (default 10)")
    parser.add_argument("--only", default="", help="run only cases whose kind contains this text")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall", help="wall time, or this thread's CPU time (one thread only)"
    )
    parser.add_argument("--memory-of", choices=["ours", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:  # the child process of measure_memory
        match_threads()
        case = next(case for case in CASES if case.shape == args.case)
        print(*step_memory(case, args.memory_of))
        return
    threads = describe_machine()
    if args.clock == "cpu" and threads != 1:
        parser.error(f"--clock cpu needs one thread per library (OPENBLAS_NUM_THREADS=1); numpy's BLAS has {threads}")
    clock = CLOCKS[args.clock]
    peak = gemm_peak(clock)
    print(f"clock: {args.clock}; SGEMM roofline (numpy, 1024^3, best of 20): {peak:.0f} GFLOP/s")
    print()
    print(
        f"{'model':<11} {'shape':<44} {'ours ms':>8} {'torch ms':>9} {'ratio':>6} {'GFLOP':>6} {'roofline ms':>11}"
        "         first loss ours/torch  peak RSS MB ours/torch (added by steps)"
    )
    for case in CASES:
        if args.only not in case.kind:
            continue
        ours, theirs, loss_ours, loss_theirs = measure(case, args.blocks, args.block_reps, clock)
        ratio = ours / theirs
        verdict = "ok" if ratio <= TARGET else "MISSED"
        roofline = case.gemm_flops / peak / 1e6
        memory = measure_memory(case)
        (peak_ours, added_ours), (peak_theirs, added_theirs) = memory["ours"], memory["torch"]
        print(
            f"{case.kind:<11} {case.shape:<44} {ours:8.2f} {theirs:9.2f} {ratio:6.2f} {case.gemm_flops / 1e9:6.3f}"
            f" {roofline:11.2f}  {verdict:<6} {loss_ours:.5f}/{loss_theirs:.5f}"
            f"  {peak_ours:.0f}/{peak_theirs:.0f} ({added_ours:.1f}/{added_theirs:.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
