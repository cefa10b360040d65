"""AzuraForge app: a small CNN that classifies scikit-learn's handwritten digits or a folder of images.

Registered as the app `image-classifier` (entry-point group `azuraforge.pipelines`).
"""

from azuraforge_app_image_classifier.images import ImageDataError, Images, digits, image_folder
from azuraforge_app_image_classifier.pipeline import ImageClassifierConfig, ImageClassifierPipeline, SmallCNN

__all__ = [
    "ImageClassifierConfig",
    "ImageClassifierPipeline",
    "ImageDataError",
    "Images",
    "SmallCNN",
    "digits",
    "image_folder",
]
