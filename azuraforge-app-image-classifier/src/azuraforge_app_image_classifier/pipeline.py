"""The image-classifier app: a small CNN (two Conv2D + MaxPool2D blocks, then two Linear layers)."""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from matplotlib.figure import Figure
from pydantic import Field, ValidationInfo, field_validator

from azuraforge_app_image_classifier.images import ColorMode, ImageDataError, Images, digits, image_folder
from azuraforge_core import Tensor, nn
from azuraforge_learner import (
    DataSource,
    Evaluation,
    ImageClassificationConfig,
    ImageClassificationPipeline,
    ImageData,
    ImageSpec,
)
from azuraforge_learner.datasets import DatasetId, DatasetSpec
from azuraforge_learner.report import ReportSection, image, save_figure

log = logging.getLogger(__name__)

MISCLASSIFIED_SHOWN = 24
IMAGE_ROOT_VARIABLE = "AZURAFORGE_IMAGE_ROOT"


def image_root() -> Path:
    """Where image folders may be read from: a deployment setting, so that a run's config cannot make a worker
    read (and show in its report) any folder of the machine."""
    configured = os.environ.get(IMAGE_ROOT_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("AZURAFORGE_DATA_DIR", "~/.azuraforge")).expanduser() / "datasets"


class ImageClassifierConfig(ImageClassificationConfig):
    epochs: int = Field(default=20, ge=1, le=10_000, description="Passes over the training images.")
    learning_rate: float = Field(default=3e-3, gt=0.0, le=10.0, description="Step size of the Adam optimizer.")
    dataset: Literal["digits", "folder"] = Field(
        default="digits",
        description="digits: scikit-learn's 1,797 handwritten digits (8x8, offline); folder: your own images.",
    )
    folder: str | None = Field(
        default=None,
        validate_default=True,
        description="With dataset=folder: a folder inside the image root (AZURAFORGE_IMAGE_ROOT, by default "
        "DATA_DIR/datasets), given relative to it, holding one subfolder of images per class (png, jpg, ...).",
    )
    image_size: int = Field(
        default=28, ge=4, le=256, description="With dataset=folder: images are resized to image_size x image_size."
    )
    color: ColorMode = Field(default="grayscale", description="With dataset=folder: read images as grayscale or rgb.")
    model: Literal["cnn", "resnet"] = Field(
        default="cnn",
        description="cnn: two conv + max-pool blocks, then two Linear layers; resnet: a small residual CNN with "
        "BatchNorm (two residual blocks, global average pooling).",
    )
    conv_channels: int = Field(
        default=16, ge=1, le=256, description="Channels of the first convolution; the second has twice as many."
    )
    hidden_units: int = Field(default=64, ge=1, le=4096, description="Units of the hidden Linear layer.")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0, description="Dropout before the last layer while training.")
    dataset_id: DatasetId = None

    @field_validator("folder")
    @classmethod
    def _folder_for_folder_dataset(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("dataset") == "folder" and not value:
            raise ValueError("dataset is 'folder', so give the path of a folder with one subfolder per class")
        if value and (
            PurePosixPath(value).is_absolute() or value.startswith("~") or ".." in PurePosixPath(value).parts
        ):
            raise ValueError(
                f"give the folder relative to the image root ({IMAGE_ROOT_VARIABLE}, by default DATA_DIR/datasets), "
                "without '..' or a leading '/' or '~'; e.g. 'flowers'"
            )
        return value


class SmallCNN(nn.Module):
    """conv3x3 -> ReLU -> maxpool2 -> conv3x3 -> ReLU -> maxpool2 -> Linear -> ReLU -> (Dropout) -> Linear."""

    def __init__(self, spec: ImageSpec, conv_channels: int, hidden_units: int, dropout: float) -> None:
        super().__init__()
        height, width = spec.height // 4, spec.width // 4
        if height < 1 or width < 1:
            raise ValueError(f"images of {spec.height}x{spec.width} are too small for two 2x2 poolings; use >= 4x4")
        wide = 2 * conv_channels
        self.features = nn.Sequential(
            nn.Conv2D(spec.channels, conv_channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Conv2D(conv_channels, wide, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2D(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(wide * height * width, hidden_units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_units, spec.n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.classifier(self.features(x))
        return logits


class ResidualBlock(nn.Module):
    """Two conv3x3 + BatchNorm layers added to the input (through a 1x1 conv + BatchNorm when the channel count
    changes), then ReLU: the block only has to learn a correction, so gradients reach the first layers."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2D(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2D(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(nn.Conv2D(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        )
        self.activation = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.activation(self.body(x) + self.shortcut(x))
        return out


class ResidualCNN(nn.Module):
    """conv3x3 + BatchNorm + ReLU, a residual block, max-pool 2, a residual block with twice the channels,
    global average pooling, (Dropout), Linear: works on any image of at least 2x2."""

    def __init__(self, spec: ImageSpec, conv_channels: int, dropout: float) -> None:
        super().__init__()
        if spec.height < 2 or spec.width < 2:
            raise ValueError(f"images of {spec.height}x{spec.width} are too small for a 2x2 pooling; use >= 2x2")
        wide = 2 * conv_channels
        self.features = nn.Sequential(
            nn.Conv2D(spec.channels, conv_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(conv_channels),
            nn.ReLU(),
            ResidualBlock(conv_channels, conv_channels),
            nn.MaxPool2D(2),
            ResidualBlock(conv_channels, wide),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(wide, spec.n_classes))

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.classifier(self.features(x))
        return logits


class ImageClassifierPipeline(ImageClassificationPipeline[ImageClassifierConfig]):
    name = "image-classifier"
    description = (
        "Classifies images with a small CNN: scikit-learn's handwritten digits by default, or your own folder "
        "of images (one subfolder per class)."
    )
    Config = ImageClassifierConfig
    datasets = (
        DatasetSpec(
            kind="image-folder",
            description="A zip with one folder of images per class (png, jpg, ...), resized to image_size.",
        ),
    )

    def _load_data(self, config: ImageClassifierConfig) -> ImageData:
        if self.dataset is not None:
            images = image_folder(self.dataset.path, size=config.image_size, color=config.color)
            ref = self.dataset.ref
            described = images.description.replace(
                f"image folder {self.dataset.path}", f"uploaded dataset {ref.name!r}"
            )
            source = DataSource(
                requested=f"uploaded: {ref.name}", used=f"uploaded: {ref.name}", description=described, dataset=ref
            )
        else:
            images = load_images(config)
            source = DataSource(requested=config.dataset, used=config.dataset, description=images.description)
        log.info("data: %s", source.description)
        return ImageData(images.pixels, images.labels, list(images.class_names), source)

    def _create_model(self, config: ImageClassifierConfig, spec: ImageSpec) -> nn.Module:
        if config.model == "resnet":
            return ResidualCNN(spec, config.conv_channels, config.dropout)
        return SmallCNN(spec, config.conv_channels, config.hidden_units, config.dropout)

    def _report(self, config: ImageClassifierConfig, evaluation: Evaluation, output_dir: Path) -> list[ReportSection]:
        return [*super()._report(config, evaluation, output_dir), misclassified_section(evaluation, output_dir)]


def load_images(config: ImageClassifierConfig) -> Images:
    if config.dataset == "digits":
        return digits()
    assert config.folder is not None  # the config validator requires it for dataset=folder
    root = image_root().resolve()
    folder = (root / config.folder).resolve()
    if not folder.is_relative_to(root):  # a symlink inside the root that points out of it
        raise ImageDataError(f"image folder {config.folder!r} leads out of the image root {str(root)!r}")
    return image_folder(folder, size=config.image_size, color=config.color)


def misclassified_section(evaluation: Evaluation, output_dir: Path) -> ReportSection:
    """A grid of test images the model got wrong, each titled "true → predicted"."""
    outputs = evaluation.outputs
    actual, predicted, images = outputs["actual"], outputs["predicted"], outputs["images"]
    names: list[str] = outputs["class_names"]
    wrong = np.flatnonzero(actual != predicted)
    if len(wrong) == 0:
        return ReportSection("Misclassified test images", "None: every test image was classified correctly.")
    shown = wrong[:MISCLASSIFIED_SHOWN]
    columns = min(8, len(shown))
    rows = -(-len(shown) // columns)
    figure = Figure(figsize=(1.4 * columns, 1.6 * rows))
    for position, index in enumerate(shown):
        axes = figure.add_subplot(rows, columns, position + 1)
        picture = images[index]
        if picture.shape[0] == 1:
            axes.imshow(picture[0], cmap="gray", interpolation="nearest")
        else:
            axes.imshow(np.clip(picture.transpose(1, 2, 0), 0.0, 1.0), interpolation="nearest")
        axes.set_title(f"{names[actual[index]]} → {names[predicted[index]]}", fontsize=8)
        axes.axis("off")
    chart = image("Misclassified test images (true → predicted)", save_figure(figure, output_dir, "misclassified"))
    caption = f"{len(wrong)} of {len(actual)} test images were misclassified"
    caption += f"; the first {len(shown)} are shown." if len(shown) < len(wrong) else "; all are shown."
    return ReportSection("Misclassified test images", f"{caption}\n\n{chart}")
