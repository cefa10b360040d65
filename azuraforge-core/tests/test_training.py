"""Training learns for real: a small MLP classifies scikit-learn's handwritten digits."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import azuraforge_core as af
from azuraforge_core import Tensor, nn, no_grad, optim
from azuraforge_core import functional as F  # noqa: N812 (PyTorch's convention)


def test_mlp_reaches_97_percent_on_digits():
    af.manual_seed(0)
    images, labels = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        (images / 16.0).astype(np.float32), labels, test_size=0.25, stratify=labels, random_state=0
    )
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.CosineAnnealingLR(optimizer, T_max=40)
    initial = {name: value.copy() for name, value in model.state_dict().items()}
    order = np.random.default_rng(0)
    for _ in range(40):
        model.train()
        permutation = order.permutation(len(x_train))
        for start in range(0, len(x_train), 32):
            batch = permutation[start : start + 32]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(Tensor(x_train[batch])), y_train[batch])
            loss.backward()
            optimizer.step()
        scheduler.step()
    model.eval()
    with no_grad():
        predictions = model(Tensor(x_test)).argmax(axis=1).numpy()
    accuracy = float((predictions == y_test).mean())
    assert accuracy > 0.97, f"test accuracy {accuracy:.3f}"
    # Every parameter moved: no layer was silently left out of training.
    for name, value in model.state_dict().items():
        assert not np.allclose(value, initial[name]), f"{name} never changed"
