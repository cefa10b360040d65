"""Loading images: the bundled digits and a folder of real image files written with Pillow."""

from pathlib import Path

import numpy as np
import pytest
from azuraforge_app_image_classifier.images import ImageDataError, digits, image_folder
from PIL import Image


def _write(path: Path, value: int, size: tuple[int, int] = (12, 10), mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=value if mode == "L" else (value, 0, 255 - value)).save(path)


def test_digits_are_scaled_and_shaped_for_conv2d():
    images = digits()
    assert images.pixels.shape == (1797, 1, 8, 8)
    assert images.pixels.dtype == np.float32
    assert images.pixels.min() == 0.0
    assert images.pixels.max() == 1.0
    assert images.class_names == tuple(str(digit) for digit in range(10))
    assert set(images.labels.tolist()) == set(range(10))


def test_a_folder_gives_one_class_per_subfolder(tmp_path):
    _write(tmp_path / "cats" / "a.png", 0)
    _write(tmp_path / "cats" / "b.jpg", 10)
    _write(tmp_path / "dogs" / "nested" / "c.PNG", 255)
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    images = image_folder(tmp_path, size=6)
    assert images.class_names == ("cats", "dogs")
    assert images.labels.tolist() == [0, 0, 1]
    assert images.pixels.shape == (3, 1, 6, 6)
    assert images.pixels[2].min() == pytest.approx(1.0)
    assert images.pixels[0].max() == pytest.approx(0.0)


def test_rgb_keeps_three_channels(tmp_path):
    _write(tmp_path / "red" / "a.png", 255, mode="RGB")
    _write(tmp_path / "blue" / "b.png", 0, mode="RGB")
    images = image_folder(tmp_path, size=4, color="rgb")
    assert images.pixels.shape == (2, 3, 4, 4)
    assert images.class_names == ("blue", "red")
    assert images.pixels[1, 0].mean() == pytest.approx(1.0)  # the red image's red channel


def test_a_folder_without_images_is_a_clear_error(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "readme.txt").write_text("no pictures here")
    with pytest.raises(ImageDataError, match=r"no images found in .*expected one subfolder per class"):
        image_folder(tmp_path, size=8)


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ImageDataError, match="does not exist"):
        image_folder(tmp_path / "nowhere", size=8)


def test_a_single_class_is_not_enough(tmp_path):
    _write(tmp_path / "cats" / "a.png", 0)
    with pytest.raises(ImageDataError, match="only one class \\('cats'\\)"):
        image_folder(tmp_path, size=8)


def test_a_broken_image_file_is_named(tmp_path):
    _write(tmp_path / "cats" / "a.png", 0)
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "broken.png").write_bytes(b"definitely not a png")
    with pytest.raises(ImageDataError, match=r"cannot read image .*broken\.png"):
        image_folder(tmp_path, size=8)
