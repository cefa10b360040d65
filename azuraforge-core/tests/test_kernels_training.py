"""The fused kernels learn for real: recurrent nets fit a sine wave, a small CNN classifies digits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import azuraforge_core as af
from azuraforge_core import Tensor, nn, no_grad, optim
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)


def _sine_windows(count: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Windows of a sine wave with random phases, (count, length, 1), and the value that follows each."""
    starts = rng.uniform(0, 2 * np.pi, (count, 1))
    steps = starts + 0.3 * np.arange(length + 1)
    wave = np.sin(steps).astype(np.float32)
    return wave[:, :length, None], wave[:, length:]


class _NextValue(nn.Module):
    def __init__(self, kind: str, hidden: int) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(1, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.rnn(x)
        prediction: Tensor = self.head(output[:, -1])
        return prediction


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_recurrent_net_fits_a_sine_wave(kind):
    af.manual_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = _sine_windows(256, 20, rng)
    x_test, y_test = _sine_windows(128, 20, rng)
    model = _NextValue(kind, 32)
    optimizer = optim.Adam(model.parameters(), lr=0.01)

    def test_loss() -> float:
        with no_grad():
            return float(F.mse_loss(model(Tensor(x_test)), y_test).item())

    initial = test_loss()
    for _ in range(150):
        optimizer.zero_grad()
        loss = F.mse_loss(model(Tensor(x_train)), y_train)
        loss.backward()
        optimizer.step()
    final = test_loss()
    assert final < 1e-3, f"test MSE {final:.5f} (started at {initial:.4f})"
    assert final < initial / 1000, f"test MSE only fell from {initial:.4f} to {final:.5f}"


def test_small_cnn_learns_digits():
    af.manual_seed(0)
    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.25, stratify=labels, random_state=0)
    model = nn.Sequential(
        nn.Conv2D(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2D(2),
        nn.Conv2D(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10),
    )
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    initial = {name: value.copy() for name, value in model.state_dict().items()}
    order = np.random.default_rng(0)
    for _ in range(12):
        permutation = order.permutation(len(x_train))
        for start in range(0, len(x_train), 32):
            batch = permutation[start : start + 32]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(Tensor(x_train[batch])), y_train[batch])
            loss.backward()
            optimizer.step()
    with no_grad():
        predictions = model(Tensor(x_test)).numpy().argmax(axis=1)
    accuracy = float((predictions == y_test).mean())
    assert accuracy > 0.95, f"test accuracy {accuracy:.3f}"
    for name, value in model.state_dict().items():
        assert not np.allclose(value, initial[name]), f"{name} never changed"
