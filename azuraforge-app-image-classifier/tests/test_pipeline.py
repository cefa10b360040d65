"""The image-classifier app end to end: real (tiny) training runs on the digits and on a folder of images."""

import json
import re

import numpy as np
import pytest
from azuraforge_app_image_classifier import ImageClassifierPipeline, ImageDataError
from PIL import Image

from azuraforge_core import Tensor
from azuraforge_learner import ConfigError, ImageSpec, load_pipeline

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


@pytest.fixture
def image_root(tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    root.mkdir()
    monkeypatch.setenv("AZURAFORGE_IMAGE_ROOT", str(root))
    return root


def test_a_folder_of_images_trains(tmp_path, image_root):
    _striped_folder(image_root / "data")
    config = {**TINY, "epochs": 8, "dataset": "folder", "folder": "data", "image_size": 8}
    config |= {"val_fraction": 0.0, "test_fraction": 0.25}
    result = ImageClassifierPipeline().run(config, output_dir=tmp_path / "run")
    assert result.status == "succeeded"
    report = (tmp_path / "run" / "report.md").read_text()
    assert "horizontal" in report
    assert "vertical" in report
    assert f"image folder {image_root / 'data'}" in report
    assert result.metrics["accuracy"] == 1.0


def test_folder_dataset_without_a_folder_names_the_field():
    with pytest.raises(ConfigError) as caught:
        ImageClassifierPipeline().run({"dataset": "folder"})
    assert caught.value.errors[0]["field"] == "folder"
    assert "one subfolder per class" in str(caught.value)


@pytest.mark.parametrize("folder", ["/etc", "../secrets", "data/../../x", "~/photos"])
def test_a_folder_outside_the_image_root_is_refused_naming_the_field(image_root, folder):
    with pytest.raises(ConfigError) as caught:
        ImageClassifierPipeline().validate({"dataset": "folder", "folder": folder})
    assert caught.value.errors[0]["field"] == "folder"
    assert "relative to the image root (AZURAFORGE_IMAGE_ROOT" in str(caught.value)


def test_a_symlink_out_of_the_image_root_is_not_followed(tmp_path, image_root):
    _striped_folder(tmp_path / "private")
    (image_root / "innocent").symlink_to(tmp_path / "private")
    config = {**TINY, "dataset": "folder", "folder": "innocent"}
    with pytest.raises(ImageDataError, match="leads out of the image root"):
        ImageClassifierPipeline().run(config, output_dir=tmp_path / "run")
    assert "horizontal" not in (tmp_path / "run" / "report.md").read_text()


def test_a_folder_without_images_fails_with_a_clear_error_and_report(tmp_path, image_root):
    (image_root / "empty" / "cats").mkdir(parents=True)
    config = {**TINY, "dataset": "folder", "folder": "empty"}
    with pytest.raises(ImageDataError, match="no images found"):
        ImageClassifierPipeline().run(config, output_dir=tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "failed" in report
    assert "no images found" in report
    failed = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert failed["status"] == "failed"
    assert failed["provenance"]["data"] is None, "the run failed while loading, before any data was known"


def test_the_residual_cnn_trains_and_predicts_each_image_on_its_own(tmp_path):
    config = {**TINY, "model": "resnet", "conv_channels": 8}
    result = ImageClassifierPipeline().run(config, output_dir=tmp_path)
    assert result.status == "succeeded"
    assert result.metrics["accuracy"] > 5 * result.strongest_baseline_metrics()["accuracy"]
    weights = np.load(tmp_path / "model.npz")
    assert "features.1.running_mean" in weights.files  # BatchNorm's statistics are saved with the model
    # In eval mode BatchNorm uses those statistics, so an image's logits do not depend on its batch.
    pipeline = ImageClassifierPipeline()
    model = pipeline._create_model(
        pipeline.validate(config), ImageSpec(channels=1, height=8, width=8, class_names=tuple("0123456789"))
    )
    model.load_state_dict({name: weights[name] for name in weights.files})
    model.eval()
    images = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    together = model(Tensor(images)).data
    alone = np.concatenate([model(Tensor(images[i : i + 1])).data for i in range(5)])
    np.testing.assert_allclose(alone, together, rtol=1e-4, atol=1e-5)
