"""A first look at the core engine: an MLP learns to separate two interleaved spirals.

Prints the loss and accuracy as it trains; everything runs on numpy through azuraforge_core.
"""

import numpy as np

from azuraforge_core import Tensor, nn, optim
from azuraforge_core import functional as F


def two_spirals(samples_per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    turns = np.sqrt(rng.uniform(0.0, 1.0, samples_per_class)) * 3 * np.pi
    arm = np.stack([turns * np.cos(turns), turns * np.sin(turns)], axis=1) / (3 * np.pi)
    points = np.concatenate([arm, -arm]) + rng.normal(0.0, 0.02, (2 * samples_per_class, 2))
    labels = np.repeat([0, 1], samples_per_class)
    return points.astype(np.float32), labels


def main() -> None:
    rng = np.random.default_rng(0)
    np.random.seed(0)
    points, labels = two_spirals(500, rng)
    model = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(1, 301):
        optimizer.zero_grad()
        logits = model(Tensor(points))
        loss = F.cross_entropy(logits, Tensor(labels))
        loss.backward()
        optimizer.step()
        if epoch % 30 == 0:
            accuracy = float((logits.numpy().argmax(axis=1) == labels).mean())
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}  accuracy {accuracy:.1%}")


if __name__ == "__main__":
    main()
