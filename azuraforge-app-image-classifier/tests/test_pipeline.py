"""The image-classifier app end to end: real (tiny) training runs on the digits and on a folder of images."""

import json
import re

import numpy as np
import pytest
from azuraforge_app_image_classifier import ImageClassifierPipeline, ImageDataError
from PIL import Image

from azuraforge_learner import ConfigError, load_pipeline

TINY = {"epochs": 3, "conv_channels": 4, "hidden_units": 16, "batch_size": 64, "seed": 0}


def _striped_folder(root, per_class=12, size=10):
    """Two classes anyone can tell apart: horizontal and vertical stripes, with noise."""
    rng = np.random.default_rng(0)
    for name, axis in (("horizontal", 0), ("vertical", 1)):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            stripes = np.indices((size, size))[axis] % 2 * 200 + rng.integers(0, 55, (size, size))
            Image.fromarray(stripes.astype(np.uint8), mode="L").save(root / name / f"{k}.png")


def test_the_app_is_installed_as_a_plugin():
    assert load_pipeline("image-classifier") is ImageClassifierPipeline
    assert ImageClassifierPipeline.default_config()["dataset"] == "digits"


def test_digits_run_writes_an_honest_report(tmp_path):
    result = ImageClassifierPipeline().run(TINY, output_dir=tmp_path)
    assert result.status == "succeeded"
    assert result.metrics["accuracy"] > 0.5  # ten balanced classes: chance is 0.1
    (majority,) = result.baselines
    assert majority.metrics["accuracy"] < 0.2
    assert result.beats_baselines() == dict.fromkeys(result.metrics, True)
    report = (tmp_path / "report.md").read_text()
    assert "scikit-learn's handwritten digits" in report
    assert "majority class" in report
    assert "Per-class scores" in report
    assert "images/confusion_matrix.png" in report
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["details"]["per_class"]) == 10
    source = metrics["provenance"]["data"]["source"]
    assert source["description"].startswith("scikit-learn's handwritten digits")
    assert (source["requested"], source["used"], source["fallback_reason"]) == ("digits", "digits", None)
    assert metrics["provenance"]["data"]["rows"] == 1797
    assert metrics["provenance"]["app_distribution"] == "azuraforge-app-image-classifier"
    assert (
        265 <= np.asarray(metrics["details"]["confusion_matrix"]).sum() <= 275
    )  # 15% of each class, rounded per class


def test_the_misclassified_grid_counts_the_errors(tmp_path):
    result = ImageClassifierPipeline().run({**TINY, "epochs": 1}, output_dir=tmp_path)
    report = (tmp_path / "report.md").read_text()
    matrix = np.asarray(json.loads((tmp_path / "metrics.json").read_text())["details"]["confusion_matrix"])
    tested = int(matrix.sum())
    wrong = tested - int(np.trace(matrix))
    assert wrong > 0  # one epoch of a tiny model leaves mistakes to show
    assert re.search(rf"{wrong} of {tested} test images were misclassified", report)
    assert "images/misclassified.png" in report
    assert "images/misclassified.png" in result.artifacts


def test_a_folder_of_images_trains(tmp_path):
    _striped_folder(tmp_path / "data")
    config = {**TINY, "epochs": 8, "dataset": "folder", "folder": str(tmp_path / "data"), "image_size": 8}
    config |= {"val_fraction": 0.0, "test_fraction": 0.25}
    result = ImageClassifierPipeline().run(config, output_dir=tmp_path / "run")
    assert result.status == "succeeded"
    report = (tmp_path / "run" / "report.md").read_text()
    assert "horizontal" in report
    assert "vertical" in report
    assert f"image folder {tmp_path / 'data'}" in report
    assert result.metrics["accuracy"] == 1.0


def test_folder_dataset_without_a_folder_names_the_field():
    with pytest.raises(ConfigError) as caught:
        ImageClassifierPipeline().run({"dataset": "folder"})
    assert caught.value.errors[0]["field"] == "folder"
    assert "one subfolder per class" in str(caught.value)


def test_a_folder_without_images_fails_with_a_clear_error_and_report(tmp_path):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    config = {**TINY, "dataset": "folder", "folder": str(tmp_path / "empty")}
    with pytest.raises(ImageDataError, match="no images found"):
        ImageClassifierPipeline().run(config, output_dir=tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "failed" in report
    assert "no images found" in report
    failed = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert failed["status"] == "failed"
    assert failed["provenance"]["data"] is None, "the run failed while loading, before any data was known"
