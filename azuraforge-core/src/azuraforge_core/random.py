"""The one random generator behind weight initialisation and dropout; seed it for reproducible runs."""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the generator used by initialisation and dropout, as torch.manual_seed."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    return _generator
