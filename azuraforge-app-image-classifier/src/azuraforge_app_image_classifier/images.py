"""Labelled images as arrays: scikit-learn's handwritten digits, or a folder with one subfolder per class.

Both give `Images` with float32 pixels in [0, 1], shaped (N, channels, height, width) as Conv2D expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

# What Pillow reads well and people keep datasets in.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})

ColorMode = Literal["grayscale", "rgb"]
DIGITS_DESCRIPTION = "scikit-learn's handwritten digits (UCI optdigits): 1,797 grey 8x8 images, 10 classes"


class ImageDataError(ValueError):
    """The images can't be used (missing folder, no images, unreadable file); the message says what to fix."""


@dataclass(frozen=True)
class Images:
    pixels: NDArray[np.float32]  # (N, channels, height, width), values in [0, 1]
    labels: NDArray[np.int64]  # (N,), indexes into class_names
    class_names: tuple[str, ...]
    description: str  # one sentence for the log and the report

    @property
    def image_shape(self) -> tuple[int, int, int]:
        channels, height, width = self.pixels.shape[1:]
        return channels, height, width


def digits() -> Images:
    """scikit-learn's 1,797 handwritten digits: 8x8 grey images with 17 levels (0-16), classes 0-9."""
    # Imported here: scikit-learn takes seconds to import, and describing the app (the app catalog) needs none of it.
    from sklearn.datasets import load_digits

    bunch: Any = load_digits()
    pixels = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    return Images(
        pixels=pixels,
        labels=bunch.target.astype(np.int64),
        class_names=tuple(str(name) for name in bunch.target_names),
        description=DIGITS_DESCRIPTION,
    )


def image_folder(root: Path, *, size: int, color: ColorMode = "grayscale") -> Images:
    """Every image under `root`/<class name>/, resized to `size`x`size`; classes are the subfolder names, sorted."""
    if not root.is_dir():
        raise ImageDataError(f"image folder {str(root)!r} does not exist or is not a folder")
    class_dirs = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    files_per_class = {folder.name: _image_files(folder) for folder in class_dirs}
    found = {name: files for name, files in files_per_class.items() if files}
    if not found:
        raise ImageDataError(
            f"no images found in {str(root)!r}: expected one subfolder per class, each holding image files "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    if len(found) < 2:
        raise ImageDataError(
            f"only one class ({next(iter(found))!r}) has images in {str(root)!r}; a classifier needs at least two "
            "subfolders with images"
        )
    class_names = tuple(found)
    pixels, labels = [], []
    for label, name in enumerate(class_names):
        for file in found[name]:
            pixels.append(_read(file, size=size, color=color))
            labels.append(label)
    return Images(
        pixels=np.stack(pixels),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=class_names,
        description=f"image folder {root}: {len(labels)} images in {len(class_names)} classes, "
        f"resized to {size}x{size} {color}",
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def _read(file: Path, *, size: int, color: ColorMode) -> NDArray[np.float32]:
    try:
        with Image.open(file) as image:
            converted = image.convert("L" if color == "grayscale" else "RGB")
            resized = converted.resize((size, size), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageDataError(f"cannot read image {str(file)!r}: {exc}; remove or replace the file") from exc
    array = np.asarray(resized, dtype=np.float32) / 255.0
    return array[None, :, :] if array.ndim == 2 else array.transpose(2, 0, 1)
