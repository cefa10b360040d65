import numpy as np
import pytest
from sample_apps import BlobClassifier, BlobsConfig

from azuraforge_core import nn
from azuraforge_learner import ImageData, ImageSpec
from azuraforge_learner.artifacts import read_json


def test_a_run_reports_accuracy_per_class_scores_and_the_confusion_matrix(tmp_path):
    result = BlobClassifier().run({"epochs": 4}, output_dir=tmp_path)

    assert result.status == "succeeded"
    assert set(result.metrics) == {"accuracy", "macro_precision", "macro_recall", "macro_f1"}
    assert result.metrics["accuracy"] > 0.8
    (majority,) = result.baselines
    assert majority.name.startswith("majority class (")
    assert majority.metrics["accuracy"] == pytest.approx(1 / 3)  # stratified: each class is a third
    assert result.beats_baselines() == dict.fromkeys(result.metrics, True)
    assert [spec.name for spec in result.plan.metrics if spec.headline] == ["accuracy", "macro_f1"]
    assert result.provenance.data is not None
    assert result.provenance.data.rows == 120
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert {"images/confusion_matrix.png", "images/loss.png", "normalization.json"} <= set(result.artifacts)

    metrics = read_json(tmp_path / "metrics.json")
    matrix = np.array(metrics["details"]["confusion_matrix"])
    assert matrix.shape == (3, 3)
    assert matrix.sum() == 18
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result.metrics["accuracy"])
    assert set(metrics["details"]["per_class"]) == {"top-left", "top-right", "bottom"}
    assert metrics["details"]["per_class"]["bottom"]["support"] == 6

    report = (tmp_path / "report.md").read_text()
    assert "](images/confusion_matrix.png)" in report
    assert "| class | precision | recall | F1 | support |" in report
    assert "| train / validation / test images | 84 / 18 / 18 |" in report
    spec = read_json(tmp_path / "model.json")["spec"]
    assert spec == {"channels": 1, "height": 6, "width": 6, "class_names": ["top-left", "top-right", "bottom"]}


def test_images_are_standardised_with_training_statistics_only():
    pipeline = BlobClassifier()
    config = pipeline.validate({"val_fraction": 0.0})
    data = pipeline._prepare(config, pipeline._load_data(config))
    assert data.splits.val is None
    train_images = data.splits.train[0]
    assert float(train_images.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(train_images.std()) == pytest.approx(1.0, abs=1e-4)
    assert abs(float(data.splits.test[0].mean())) > 1e-4  # the test part was not used to fit


def test_bad_image_data_is_explained(tmp_path):
    class Flat(BlobClassifier):
        def _load_data(self, config: BlobsConfig) -> ImageData:
            return ImageData(np.zeros((10, 36)), np.zeros(10, dtype=int), ["a", "b"])

    class OutOfRange(BlobClassifier):
        def _load_data(self, config: BlobsConfig) -> ImageData:
            return ImageData(np.zeros((10, 1, 2, 2)), np.full(10, 2), ["a", "b"])

    class Empty(BlobClassifier):
        def _load_data(self, config: BlobsConfig) -> ImageData:
            return ImageData(np.zeros((0, 1, 2, 2)), np.zeros(0, dtype=int), ["a", "b"])

    with pytest.raises(ValueError, match=r"\(N, channels, height, width\), got \(10, 36\)"):
        Flat().run({}, output_dir=tmp_path / "flat")
    with pytest.raises(ValueError, match=r"labels must lie in 0..1"):
        OutOfRange().run({}, output_dir=tmp_path / "range")
    with pytest.raises(ValueError, match="no images were loaded"):
        Empty().run({}, output_dir=tmp_path / "empty")


def test_a_model_with_the_wrong_number_of_outputs_is_named(tmp_path):
    class TwoOutputs(BlobClassifier):
        def _create_model(self, config: BlobsConfig, spec: ImageSpec) -> nn.Module:
            return nn.Sequential(nn.Flatten(), nn.Linear(36, 2))

    with pytest.raises(ValueError, match=r"must return \(batch, n_classes=3\) logits"):
        TwoOutputs().run({}, output_dir=tmp_path)
