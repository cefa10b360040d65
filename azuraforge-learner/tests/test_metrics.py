import numpy as np
import pytest
from sklearn import metrics as sk

from azuraforge_learner import metrics


@pytest.fixture
def regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    actual = rng.normal(5.0, 2.0, size=(50, 3))
    return actual, actual + rng.normal(0.0, 0.5, size=actual.shape)


def test_regression_metrics_match_scikit_learn(regression):
    actual, predicted = regression
    flat_actual, flat_predicted = actual.ravel(), predicted.ravel()
    assert metrics.mae(actual, predicted) == pytest.approx(sk.mean_absolute_error(flat_actual, flat_predicted))
    assert metrics.rmse(actual, predicted) == pytest.approx(np.sqrt(sk.mean_squared_error(flat_actual, flat_predicted)))
    assert metrics.mape(actual, predicted) == pytest.approx(
        100 * sk.mean_absolute_percentage_error(flat_actual, flat_predicted)
    )
    assert metrics.r2(actual, predicted) == pytest.approx(sk.r2_score(flat_actual, flat_predicted))
    assert set(metrics.regression_metrics(actual, predicted)) == {"mae", "rmse", "mape", "r2"}


def test_edge_cases_of_regression_metrics():
    assert metrics.r2([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert metrics.r2([2.0, 2.0], [1.0, 3.0]) == 0.0
    assert np.isfinite(metrics.mape([0.0, 1.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="3 values but y_pred has 2"):
        metrics.mae([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="zero values"):
        metrics.rmse([], [])


def test_classification_metrics_match_scikit_learn_from_labels_and_from_scores():
    rng = np.random.default_rng(1)
    actual = rng.integers(0, 4, size=200)
    scores = rng.normal(size=(200, 4))
    scores[np.arange(200), actual] += rng.normal(1.0, 1.0, size=200)
    predicted = scores.argmax(axis=1)
    assert metrics.accuracy(actual, scores) == pytest.approx(sk.accuracy_score(actual, predicted))
    assert metrics.accuracy(actual, predicted) == pytest.approx(sk.accuracy_score(actual, predicted))
    matrix = metrics.confusion_matrix(actual, scores, n_classes=4)
    np.testing.assert_array_equal(matrix, sk.confusion_matrix(actual, predicted, labels=range(4)))
    per_class = metrics.per_class_scores(matrix)
    precision, recall, f1, support = sk.precision_recall_fscore_support(actual, predicted, labels=range(4))
    np.testing.assert_allclose(per_class["precision"], precision)
    np.testing.assert_allclose(per_class["recall"], recall)
    np.testing.assert_allclose(per_class["f1"], f1)
    np.testing.assert_array_equal(per_class["support"], support)
    summary = metrics.classification_metrics(actual, predicted, n_classes=4)
    assert summary["macro_f1"] == pytest.approx(sk.f1_score(actual, predicted, average="macro"))


def test_a_class_never_predicted_gets_zero_precision_not_nan():
    matrix = metrics.confusion_matrix([0, 0, 1, 2], [0, 0, 0, 0], n_classes=3)
    scores = metrics.per_class_scores(matrix)
    np.testing.assert_array_equal(scores["precision"], [0.5, 0.0, 0.0])
    np.testing.assert_array_equal(scores["f1"], [2 / 3, 0.0, 0.0])


def test_direction_of_improvement_by_name():
    assert metrics.higher_is_better("val_accuracy")
    assert metrics.higher_is_better("r2")
    assert not metrics.higher_is_better("val_loss")
    assert not metrics.higher_is_better("rmse")


def test_resolve_takes_names_and_functions():
    def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return 0.0

    assert list(metrics.resolve(["mae", smape])) == ["mae", "smape"]
