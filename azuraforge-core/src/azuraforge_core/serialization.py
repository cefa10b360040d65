"""Model weights on disk as .npz: one array per state_dict key, readable by numpy alone."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from azuraforge_core.tensor import Array

PathLike = str | os.PathLike[str]


def save(state_dict: Mapping[str, ArrayLike], path: PathLike) -> None:
    """Write a state_dict (such as `model.state_dict()`) to exactly `path` as an uncompressed .npz."""
    with open(path, "wb") as file:
        arrays: dict[str, Any] = {key: np.asarray(value) for key, value in state_dict.items()}
        np.savez(file, **arrays)


def load(path: PathLike) -> dict[str, Array]:
    """Read a state_dict written by `save`; pass it to `model.load_state_dict`."""
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}
