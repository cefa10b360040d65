"""Metrics on numpy arrays: MAE, RMSE, MAPE and R² for regression; accuracy, per-class precision, recall and F1,
and the confusion matrix for classification.

Every metric is a plain function `(y_true, y_pred) -> float`, so the Learner can take any of them (or your own)
by name or as a function. Classification metrics accept class scores (logits or probabilities, one column per
class) as well as predicted labels: scores are turned into labels with argmax.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from azuraforge_learner.record import MetricSpec

MetricFn = Callable[[Any, Any], float]

# The learner's own metrics, declared like an app declares its metrics (apps add theirs, see record.MetricSpec).
SPECS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(name="loss", direction="lower", description="The training loss."),
        MetricSpec(name="mae", direction="lower", description="Mean absolute error."),
        MetricSpec(name="rmse", direction="lower", description="Root mean squared error."),
        MetricSpec(name="mape", direction="lower", unit="%", description="Mean absolute percentage error."),
        MetricSpec(name="r2", direction="higher", description="Coefficient of determination (1 is perfect)."),
        MetricSpec(name="accuracy", direction="higher", description="Share of correct predictions (0..1)."),
        MetricSpec(name="macro_precision", direction="higher", description="Precision averaged over classes."),
        MetricSpec(name="macro_recall", direction="higher", description="Recall averaged over classes."),
        MetricSpec(name="macro_f1", direction="higher", description="F1 averaged over classes."),
    )
}


def higher_is_better(name: str) -> bool:
    """Whether a larger value of the learner's metric `name` (with or without the "val_" prefix) is an
    improvement; any other name counts as an error or loss, better when smaller."""
    spec = SPECS.get(name.removeprefix("val_"))
    return spec is not None and spec.direction == "higher"


# Errors measured in the unit of the data they compare.
IN_DATA_UNITS = frozenset({"mae", "rmse"})


def declared(*names: str, unit: str = "", headline: Sequence[str] = ()) -> list[MetricSpec]:
    """The learner's declarations of `names`; `unit` is the data's unit, which errors such as MAE are in."""
    return [
        SPECS[name].model_copy(
            update={"unit": unit if name in IN_DATA_UNITS else SPECS[name].unit, "headline": name in headline}
        )
        for name in names
    ]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    actual = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    if actual.size != predicted.size:
        raise ValueError(f"y_true has {actual.size} values but y_pred has {predicted.size}; they must match")
    if actual.size == 0:
        raise ValueError("cannot compute a metric on zero values; check that the evaluated split is not empty")
    return actual.reshape(-1), predicted.reshape(-1)


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    actual, predicted = _pair(y_true, y_pred)
    return float(np.mean(np.abs(actual - predicted)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error."""
    actual, predicted = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error, in percent. Targets near zero are clipped to machine epsilon (as
    scikit-learn does), so a zero target gives a huge but finite error instead of a division by zero."""
    actual, predicted = _pair(y_true, y_pred)
    denominator = np.maximum(np.abs(actual), np.finfo(np.float64).eps)
    return float(np.mean(np.abs(actual - predicted) / denominator) * 100.0)


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination. A constant target gives 1.0 for a perfect prediction and 0.0 otherwise."""
    actual, predicted = _pair(y_true, y_pred)
    residual = float(np.sum((actual - predicted) ** 2))
    total = float(np.sum((actual - actual.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """MAE, RMSE, MAPE and R² in one dict."""
    return {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "r2": r2(y_true, y_pred),
    }


def as_labels(y: ArrayLike, n_true_dims: int = 1) -> NDArray[np.int64]:
    """Class labels from labels or from class scores (one more dimension than the labels: argmax over it)."""
    array = np.asarray(y)
    labels = np.argmax(array, axis=-1) if array.ndim == n_true_dims + 1 else array
    return np.asarray(labels, dtype=np.int64)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of correct predictions (0..1)."""
    actual = np.asarray(y_true).astype(np.int64)
    predicted = as_labels(y_pred, actual.ndim)
    if actual.size == 0:
        raise ValueError("cannot compute accuracy on zero samples; check that the evaluated split is not empty")
    return float(np.mean(actual == predicted))


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int | None = None) -> NDArray[np.int64]:
    """Counts with true classes as rows and predicted classes as columns."""
    actual = np.asarray(y_true).astype(np.int64).reshape(-1)
    predicted = as_labels(y_pred, np.asarray(y_true).ndim).reshape(-1)
    size = n_classes if n_classes is not None else int(max(actual.max(initial=-1), predicted.max(initial=-1)) + 1)
    matrix = np.zeros((size, size), dtype=np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def per_class_scores(matrix: NDArray[np.int64]) -> dict[str, NDArray[np.float64]]:
    """Precision, recall, F1 and support per class from a confusion matrix; 0.0 where a ratio is undefined."""
    true_positive = np.diag(matrix).astype(np.float64)
    predicted_count = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    precision = np.divide(true_positive, predicted_count, out=np.zeros_like(true_positive), where=predicted_count > 0)
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(true_positive), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def classification_metrics(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> dict[str, float]:
    """Accuracy and the macro averages (unweighted mean over classes) of precision, recall and F1."""
    scores = per_class_scores(confusion_matrix(y_true, y_pred, n_classes))
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_precision": float(scores["precision"].mean()),
        "macro_recall": float(scores["recall"].mean()),
        "macro_f1": float(scores["f1"].mean()),
    }


BY_NAME: dict[str, MetricFn] = {"mae": mae, "rmse": rmse, "mape": mape, "r2": r2, "accuracy": accuracy}


def resolve(metrics: Sequence[str | MetricFn]) -> dict[str, MetricFn]:
    """Name -> function for the Learner: names come from BY_NAME, functions are named by their __name__."""
    resolved: dict[str, MetricFn] = {}
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in BY_NAME:
                raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(BY_NAME)} or pass a function")
            resolved[metric] = BY_NAME[metric]
        else:
            resolved[getattr(metric, "__name__", type(metric).__name__)] = metric
    return resolved
