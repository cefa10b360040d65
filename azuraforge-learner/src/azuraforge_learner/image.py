"""ImageClassificationPipeline: classifying images into named classes.

The app's `_load_data(config)` returns an ImageData: images (N, channels, height, width) as numbers, integer
labels (N,) in 0..len(class_names)-1 and the class names. The base class splits them at random but stratified
by class (seeded), standardises each channel with statistics of the training images (saved as
normalization.json), trains with cross-entropy, and reports accuracy, per-class precision/recall/F1 and the
confusion matrix next to the majority-class baseline on the same test images.

`_create_model(config, spec)` receives an ImageSpec and must return a model mapping (batch, C, H, W) float32
inputs to (batch, n_classes) logits.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from azuraforge_core import Tensor, nn
from azuraforge_core.functional import cross_entropy
from azuraforge_learner.artifacts import load_weights, read_json, write_json
from azuraforge_learner.config import ConfigError, PipelineConfig
from azuraforge_learner.data import Array
from azuraforge_learner.learner import Learner, LossFn, inference
from azuraforge_learner.metrics import MetricFn, classification_metrics, confusion_matrix, declared, per_class_scores
from azuraforge_learner.pipeline import (
    CONFIG_FILE,
    MODEL_FILE,
    WEIGHTS_FILE,
    BasePipeline,
    Evaluation,
    Prepared,
    Splits,
)
from azuraforge_learner.record import (
    BaselineResult,
    DataProvenance,
    DataSource,
    MetricSpec,
    fingerprint,
    unstated_source,
)
from azuraforge_learner.report import ReportSection, image, plot_confusion_matrix, table
from azuraforge_learner.serving import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    NORMALIZATION_FILE,
    ClassificationOutput,
    ClassProbability,
    ImageInput,
    Predictor,
    Task,
)


class ImageClassificationConfig(PipelineConfig):
    val_fraction: float = Field(
        default=0.15, ge=0.0, lt=1.0, description="Share of the images used to validate; 0: none."
    )
    test_fraction: float = Field(default=0.15, gt=0.0, lt=1.0, description="Share of the images held out for the test.")

    @field_validator("test_fraction")
    @classmethod
    def _leaves_a_training_part(cls, value: float, info: ValidationInfo) -> float:
        val = info.data.get("val_fraction")
        if val is not None and val + value >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must stay below 1 to leave images to train on; got {val} + {value}"
            )
        return value


@dataclass(frozen=True)
class ImageData:
    images: Array  # (N, channels, height, width)
    labels: Array  # (N,) integers in 0..len(class_names)-1
    class_names: list[str]
    source: DataSource | None = None  # where the images came from, for the run's provenance


@dataclass(frozen=True)
class ImageSpec:
    """Inputs (batch, channels, height, width) -> logits (batch, len(class_names))."""

    channels: int
    height: int
    width: int
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


@dataclass
class PreparedImages(Prepared):
    spec: ImageSpec
    mean: Array  # per channel, of the training images
    std: Array
    test_images: Array  # the test images as loaded (unnormalised), for galleries in app reports
    majority_class: int


ImageConfigT = TypeVar("ImageConfigT", bound=ImageClassificationConfig)


class ImageClassificationPipeline(BasePipeline[ImageConfigT, PreparedImages]):
    """Base class of image classification apps; see the module docstring."""

    Config: ClassVar[type[PipelineConfig]] = ImageClassificationConfig
    task: ClassVar[Task | None] = "classification"

    def _create_loss(self, config: ImageConfigT) -> LossFn:
        return cross_entropy

    def _train_metrics(self, config: ImageConfigT) -> list[str | MetricFn]:
        return ["accuracy"]

    def _metric_specs(self, config: ImageConfigT) -> list[MetricSpec]:
        return declared("accuracy", "macro_precision", "macro_recall", "macro_f1", headline=("accuracy", "macro_f1"))

    def _describe_data(self, config: ImageConfigT, raw: Any) -> DataProvenance:
        data = _checked(self.name, raw)
        return DataProvenance(
            source=data.source or unstated_source(self.name),
            rows=len(data.labels),
            sha256=fingerprint(
                *data.class_names, np.asarray(data.images, dtype=np.float32), np.asarray(data.labels, dtype=np.int64)
            ),
        )

    def _prepare(self, config: ImageConfigT, raw: Any) -> PreparedImages:
        data = _checked(self.name, raw)
        images = np.asarray(data.images, dtype=np.float32)
        labels = np.asarray(data.labels).astype(np.int64)
        train, val, test = _stratified_split(labels, config.val_fraction, config.test_fraction)
        if len(train) == 0 or len(test) == 0:
            raise ConfigError(
                self.name,
                [
                    {
                        "field": "test_fraction",
                        "message": f"{len(labels)} images are too few to split into train and test",
                    }
                ],
            )
        mean = images[train].mean(axis=(0, 2, 3), keepdims=True)
        std = images[train].std(axis=(0, 2, 3), keepdims=True)
        std = np.where(std > 0, std, 1.0).astype(np.float32)
        normalized = (images - mean) / std
        splits = Splits(
            train=(normalized[train], labels[train]),
            val=(normalized[val], labels[val]) if len(val) else None,
            test=(normalized[test], labels[test]),
        )
        counts = np.bincount(labels[train], minlength=len(data.class_names))
        spec = ImageSpec(images.shape[1], images.shape[2], images.shape[3], tuple(data.class_names))
        summary = {
            "images": len(labels),
            "image shape (C, H, W)": f"{spec.channels} x {spec.height} x {spec.width}",
            "classes": ", ".join(data.class_names),
            "train / validation / test images": f"{len(train)} / {len(val)} / {len(test)}",
            "split": "random, stratified by class (seeded)",
        }
        return PreparedImages(
            splits, spec, summary, mean.reshape(-1), std.reshape(-1), images[test], int(np.argmax(counts))
        )

    def _check_model(self, config: ImageConfigT, model: nn.Module, data: PreparedImages) -> None:
        with inference(model):
            outputs = model(Tensor(data.splits.train[0][:1])).numpy()
        if outputs.shape != (1, data.spec.n_classes):
            raise ValueError(
                f"the model returned outputs of shape {outputs.shape} for one image; an image classifier must "
                f"return (batch, n_classes={data.spec.n_classes}) logits"
            )

    def _evaluate(self, config: ImageConfigT, learner: Learner, data: PreparedImages) -> Evaluation:
        inputs, actual = data.splits.test
        predicted = np.argmax(learner.predict(inputs), axis=1)
        n_classes = data.spec.n_classes
        baseline = np.full_like(actual, data.majority_class)
        matrix = confusion_matrix(actual, predicted, n_classes)
        scores = per_class_scores(matrix)
        per_class = {
            name: {key: float(values[index]) for key, values in scores.items()}
            for index, name in enumerate(data.spec.class_names)
        }
        majority = BaselineResult(
            name=f"majority class ({data.spec.class_names[data.majority_class]})",
            description="Every image is given the most frequent class of the training images.",
            metrics=classification_metrics(actual, baseline, n_classes),
        )
        return Evaluation(
            metrics=classification_metrics(actual, predicted, n_classes),
            baselines=[majority],
            details={"per_class": per_class, "confusion_matrix": matrix.tolist()},
            outputs={
                "actual": actual,
                "predicted": predicted,
                "images": data.test_images,
                "class_names": list(data.spec.class_names),
                "confusion_matrix": matrix,
            },
        )

    def _save_artifacts(self, config: ImageConfigT, data: PreparedImages, output_dir: Path) -> None:
        write_json(output_dir / NORMALIZATION_FILE, {"mean": data.mean.tolist(), "std": data.std.tolist()})

    def load_predictor(self, output_dir: Path) -> Predictor:
        """The saved model with the training images' per-channel statistics, which inputs are normalised with."""
        output_dir = Path(output_dir)
        config = self.validate(read_json(output_dir / CONFIG_FILE))
        saved = read_json(output_dir / MODEL_FILE)["spec"]
        spec = ImageSpec(saved["channels"], saved["height"], saved["width"], tuple(saved["class_names"]))
        statistics = read_json(output_dir / NORMALIZATION_FILE)
        model = self._create_model(config, spec)
        model.load_state_dict(load_weights(output_dir / WEIGHTS_FILE))
        return ImagePredictor(spec, np.asarray(statistics["mean"]), np.asarray(statistics["std"]), model)

    def _report(self, config: ImageConfigT, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        class_names = evaluation.outputs["class_names"]
        chart = image(
            "Confusion matrix", plot_confusion_matrix(evaluation.outputs["confusion_matrix"], class_names, output_dir)
        )
        per_class = evaluation.details["per_class"]
        rows = [
            [name, scores["precision"], scores["recall"], scores["f1"], int(scores["support"])]
            for name, scores in per_class.items()
        ]
        return [
            ReportSection(
                "Per-class scores (test split)", table(["class", "precision", "recall", "F1", "support"], rows)
            ),
            ReportSection("Confusion matrix", chart),
        ]


class ImagePredictor(Predictor):
    """ImageInput -> ClassificationOutput: the image at the model's size and colour mode (a decoded file scaled to
    [0, 1], as image files are loaded for training), normalised with the training statistics."""

    Input = ImageInput
    Output = ClassificationOutput

    def __init__(self, spec: ImageSpec, mean: Array, std: Array, model: nn.Module) -> None:
        super().__init__()
        self.spec = spec
        self.mean = mean.astype(np.float32).reshape(1, -1, 1, 1)
        self.std = std.astype(np.float32).reshape(1, -1, 1, 1)
        self.model = model

    def predict(self, request: ImageInput) -> ClassificationOutput:
        pixels = decode_image(request.image, self.spec) if request.image is not None else self._array(request)
        with inference(self.model):
            logits = self.model(Tensor((pixels[None] - self.mean) / self.std)).numpy()[0].astype(np.float64)
        exp = np.exp(logits - logits.max())
        probabilities = exp / exp.sum()
        order = np.argsort(-probabilities, kind="stable")
        names = self.spec.class_names
        return ClassificationOutput(
            top_class=names[order[0]],
            top_probability=float(probabilities[order[0]]),
            probabilities=[ClassProbability(label=names[i], probability=float(probabilities[i])) for i in order],
        )

    def _array(self, request: ImageInput) -> Array:
        spec = self.spec
        try:
            pixels = np.asarray(request.pixels, dtype=np.float32)
        except ValueError:
            raise ValueError("pixels must be a rectangular array (every row as long as the others)") from None
        if pixels.ndim == 2 and spec.channels == 1:
            pixels = pixels[None]
        expected = (spec.channels, spec.height, spec.width)
        if pixels.shape != expected:
            wanted = f"({spec.height}, {spec.width}) or {expected}" if spec.channels == 1 else str(expected)
            raise ValueError(f"pixels must be shaped {wanted} (channels, height, width); got {pixels.shape}")
        if not np.isfinite(pixels).all():
            raise ValueError("pixels must be finite numbers (no NaN or infinity)")
        return pixels


def decode_image(encoded: str, spec: ImageSpec) -> Array:
    """A base64 PNG or JPEG as (channels, height, width) values in [0, 1] at the spec's size."""
    from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib

    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("image is not valid base64; send the file's bytes base64-encoded") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"the image file is {len(data)} bytes, over the limit of {MAX_IMAGE_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(data)) as picture:
            if picture.format not in ("PNG", "JPEG"):
                raise ValueError(f"the image is {picture.format or 'of an unknown format'}; send a PNG or JPEG")
            if picture.width * picture.height > MAX_IMAGE_PIXELS:
                raise ValueError(
                    f"the image is {picture.width}x{picture.height} pixels, over the limit of {MAX_IMAGE_PIXELS}"
                )
            converted = picture.convert("L" if spec.channels == 1 else "RGB")
            resized = converted.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"the image does not decode as a PNG or JPEG ({exc}); send a valid image file") from None
    array = np.asarray(resized, dtype=np.float32) / 255.0
    if spec.channels not in (1, 3):
        raise ValueError(f"the model takes images of {spec.channels} channels; send them as pixels instead")
    return array[None, :, :] if array.ndim == 2 else array.transpose(2, 0, 1)


def _checked(app: str, raw: Any) -> ImageData:
    if not isinstance(raw, ImageData):
        raise TypeError(f"_load_data of an image app must return an ImageData, got {type(raw).__name__}")
    shape = np.shape(raw.images)
    if len(shape) >= 1 and shape[0] == 0:
        raise ValueError("no images were loaded; check the data source (e.g. that the folder holds image files)")
    if len(shape) != 4:
        raise ValueError(
            f"images must be shaped (N, channels, height, width), got {shape}; add a channel axis for grey images"
        )
    labels = np.asarray(raw.labels)
    if labels.shape != (shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be {shape[0]} integers (one per image), got shape {labels.shape} of {labels.dtype}"
        )
    if len(raw.class_names) < 2:
        raise ValueError(f"classification needs at least 2 classes, got {len(raw.class_names)}: {raw.class_names}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(raw.class_names)):
        raise ValueError(
            f"labels must lie in 0..{len(raw.class_names) - 1} (one per class name), got {labels.min()}..{labels.max()}"
        )
    return raw


def _stratified_split(labels: Array, val_fraction: float, test_fraction: float) -> tuple[Array, Array, Array]:
    """Index arrays (train, val, test): each class is shuffled and cut by the fractions, then shuffled together."""
    parts: tuple[list[Array], list[Array], list[Array]] = ([], [], [])
    for label in np.unique(labels):
        members = np.random.permutation(np.flatnonzero(labels == label))
        n_test = round(len(members) * test_fraction)
        n_val = round(len(members) * val_fraction)
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    train, val, test = (np.random.permutation(np.concatenate(part)).astype(np.intp) for part in parts)
    return train, val, test
