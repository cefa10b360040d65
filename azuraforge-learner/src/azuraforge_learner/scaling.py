"""Column scalers fitted on the training part only and saved with the model, so predictions made later from the
saved artifacts use exactly the same transform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

ScalerKind = Literal["standard", "minmax", "none"]
SCALER_KINDS: tuple[ScalerKind, ...] = ("standard", "minmax", "none")


@dataclass(frozen=True)
class Scaler:
    """Per-column affine map: scaled = (value - center) / scale; `inverse` undoes it."""

    kind: ScalerKind
    center: NDArray[np.float64]
    scale: NDArray[np.float64]

    @classmethod
    def fit(cls, kind: ScalerKind, values: NDArray[Any]) -> Scaler:
        """Fit on `values` (rows = samples, columns = variables). A constant column keeps scale 1."""
        columns = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if kind == "standard":
            center, scale = columns.mean(axis=0), columns.std(axis=0)
        elif kind == "minmax":
            center, scale = columns.min(axis=0), columns.max(axis=0) - columns.min(axis=0)
        elif kind == "none":
            center, scale = np.zeros(columns.shape[1]), np.ones(columns.shape[1])
        else:
            raise ValueError(f"unknown scaler {kind!r}; use one of {', '.join(SCALER_KINDS)}")
        return cls(kind, center, np.where(scale > 0, scale, 1.0))

    def transform(self, values: NDArray[Any]) -> NDArray[np.float32]:
        return ((np.asarray(values, dtype=np.float64) - self.center) / self.scale).astype(np.float32)

    def inverse(self, values: NDArray[Any]) -> NDArray[np.float64]:
        return np.asarray(values, dtype=np.float64) * self.scale + self.center

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "center": self.center.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        return cls(data["kind"], np.asarray(data["center"], dtype=np.float64), np.asarray(data["scale"], np.float64))
