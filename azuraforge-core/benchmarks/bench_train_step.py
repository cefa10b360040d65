"""Time one training step (forward, backward, optimizer step) of azuraforge-core against PyTorch CPU eager.

For each model kind (LSTM regressor, small CNN, CNN with BatchNorm, MLP, self-attention, Transformer
encoder) and one or more shapes per kind, the same architecture
is built in both libraries with the same starting weights (PyTorch's state_dict loaded into ours),
and the two steps are timed interleaved in this one process (see `measure`); the median step time
of each is reported with the ratio ours / PyTorch (lower is better) and the target ratio. The
first-step losses are printed too: equal losses show that both run the same model.
PyTorch gets as many threads as numpy's BLAS has.

    python benchmarks/bench_train_step.py [--blocks 8] [--block-reps 10] [--only lstm]

For the figures in the README, run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (see there).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
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
    target: float
    build: Callable[[np.random.Generator], tuple[Step, Step]]


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
    _copy_weights(ours, theirs)
    opt_ours, opt_theirs = make_optimizers(ours, theirs)
    x_ours, x_theirs, y_theirs = Tensor(x), torch.from_numpy(x), torch.from_numpy(y)

    def step_ours() -> float:
        opt_ours.zero_grad()
        loss = loss_ours(ours(x_ours), y)
        loss.backward()
        opt_ours.step()
        return float(loss.item())

    def step_theirs() -> float:
        opt_theirs.zero_grad()
        loss = loss_theirs(theirs(x_theirs), y_theirs)
        loss.backward()
        opt_theirs.step()
        return float(loss.item())

    return step_ours, step_theirs


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
        x = rng.standard_normal((batch, seq, 1)).astype(np.float32)
        y = rng.standard_normal((batch, 1)).astype(np.float32)
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
        x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, batch)
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
        x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, batch)
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
        x = rng.standard_normal((batch, inputs)).astype(np.float32)
        y = rng.integers(0, 10, batch)
        return _steps(ours, theirs, _adamw, F.cross_entropy, torch.nn.functional.cross_entropy, x, y)

    return build


def attention_case(batch: int, seq: int, d_model: int) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        x = rng.standard_normal((batch, seq, d_model)).astype(np.float32)
        y = rng.standard_normal((batch, 1)).astype(np.float32)
        ours, theirs = _SelfAttention(d_model), _TorchSelfAttention(d_model)
        return _steps(ours, theirs, _adam, F.mse_loss, torch.nn.functional.mse_loss, x, y)

    return build


def transformer_case(
    batch: int, seq: int, d_model: int, layers: int
) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        x = rng.standard_normal((batch, seq, d_model)).astype(np.float32)
        y = rng.standard_normal((batch, 1)).astype(np.float32)
        ours, theirs = _Encoder(d_model, layers), _TorchEncoder(d_model, layers)
        return _steps(ours, theirs, _adam, F.mse_loss, torch.nn.functional.mse_loss, x, y)

    return build


def mlp_case(batch: int, inputs: int, hidden: int) -> Callable[[np.random.Generator], tuple[Step, Step]]:
    def build(rng: np.random.Generator) -> tuple[Step, Step]:
        ours = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        theirs = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
        x = rng.standard_normal((batch, inputs)).astype(np.float32)
        y = rng.integers(0, 10, batch)
        return _steps(ours, theirs, _sgd_momentum, F.cross_entropy, torch.nn.functional.cross_entropy, x, y)

    return build


CASES = [
    Case("lstm", "batch 32, seq 60, 1 feature, hidden 64", 1.5, lstm_case(32, 60, 64)),
    Case("lstm", "batch 64, seq 30, 1 feature, hidden 128", 1.5, lstm_case(64, 30, 128)),
    Case("lstm", "2 layers, batch 32, seq 60, hidden 64", 1.5, lstm_case(32, 60, 64, layers=2)),
    Case("lstm", "batch 32, seq 120, 1 feature, hidden 64", 1.5, lstm_case(32, 120, 64)),
    Case("lstm", "batch 32, seq 60, 1 feature, hidden 256", 1.5, lstm_case(32, 60, 256)),
    Case("cnn", "batch 64, 1x28x28, conv 8 / 16 channels", 2.5, cnn_case(64, 8, 16)),
    Case("cnn", "batch 32, 1x28x28, conv 16 / 32 channels", 2.5, cnn_case(32, 16, 32)),
    Case("mlp", "batch 128, 784-256-10, SGD momentum", 1.5, mlp_case(128, 784, 256)),
    Case("mlp", "batch 256, 512-128-10, SGD momentum", 1.5, mlp_case(256, 512, 128)),
    Case("mlp", "batch 128, 784-1024x3-10, AdamW", 1.5, deep_mlp_case(128, 784, 1024)),
    Case("cnn-bn", "batch 32, 3x32x32, conv 32 / 64 + BatchNorm", 2.5, cnn_batchnorm_case(32, 32, 64)),
    Case("attention", "batch 32, seq 64, d 64, 4 heads, causal", 1.5, attention_case(32, 64, 64)),
    Case("attention", "batch 32, seq 128, d 64, 4 heads, causal", 1.5, attention_case(32, 128, 64)),
    Case("transformer", "2 layers, batch 32, seq 64, d 64, 4 heads", 1.5, transformer_case(32, 64, 64, 2)),
    Case("transformer", "2 layers, batch 32, seq 128, d 64, 4 heads", 1.5, transformer_case(32, 128, 64, 2)),
    Case("transformer", "2 layers, batch 32, seq 64, d 128, 4 heads", 1.5, transformer_case(32, 64, 128, 2)),
]


SETTLE_SECONDS = 0.25


def _time(step: Step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measure(case: Case, blocks: int, block_reps: int) -> tuple[float, float, float, float]:
    """(ours ms, torch ms, first-step loss ours, first-step loss torch); medians over interleaved blocks.

    The libraries alternate in blocks (which one goes first alternates too), so slow drifts of the
    machine hit both alike. Before each block the script sleeps: after a parallel call, OpenBLAS's
    worker threads keep spinning for about 0.1 s and libgomp's for a shorter while, and a spinning
    pool of one library would otherwise steal a core from the other. The first step of each block
    wakes its pool and is not timed.
    """
    step_ours, step_theirs = case.build(np.random.default_rng(0))
    first_ours, first_theirs = step_ours(), step_theirs()
    times: dict[Step, list[float]] = {step_ours: [], step_theirs: []}
    for block in range(blocks):
        for step in (step_ours, step_theirs) if block % 2 == 0 else (step_theirs, step_ours):
            time.sleep(SETTLE_SECONDS)
            step()
            times[step].extend(_time(step) for _ in range(block_reps))
    ours, theirs = statistics.median(times[step_ours]), statistics.median(times[step_theirs])
    return ours * 1e3, theirs * 1e3, first_ours, first_theirs


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> None:
    """Print the machine, library versions and BLAS; set torch's threads to numpy's BLAS threads."""
    blas_libraries = [info for info in threadpool_info() if info["user_api"] == "blas"]
    numpy_blas = [info for info in blas_libraries if "numpy" in info["filepath"]]
    blas = (numpy_blas or blas_libraries or [None])[0]
    threads = int(blas["num_threads"]) if blas else 1
    torch.set_num_threads(threads)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8, help="blocks per library (default 8)")
    parser.add_argument("--block-reps", type=int, default=10, help="timed steps per block (default 10)")
    parser.add_argument("--only", default="", help="run only cases whose kind contains this text")
    args = parser.parse_args()
    describe_machine()
    print()
    print(
        f"{'model':<11} {'shape':<44} {'ours ms':>8} {'torch ms':>9} {'ratio':>6} {'target':>7}  first loss ours/torch"
    )
    for case in CASES:
        if args.only not in case.kind:
            continue
        ours, theirs, loss_ours, loss_theirs = measure(case, args.blocks, args.block_reps)
        ratio = ours / theirs
        verdict = "ok" if ratio <= case.target else "MISSED"
        print(
            f"{case.kind:<11} {case.shape:<44} {ours:8.2f} {theirs:9.2f} {ratio:6.2f} {'<= ' + str(case.target):>7}"
            f" {verdict:<6} {loss_ours:.5f}/{loss_theirs:.5f}"
        )


if __name__ == "__main__":
    main()
