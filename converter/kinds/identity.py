"""Layers that do nothing at inference (no weights): dropout, noise and regularization, and Keras's
random augmentation layers, which transform their input only when called with training=True.
RandomCrop is not among them: tf.keras's resizes to its size at inference (preprocessing.py)."""
from __future__ import annotations

from .forward import Emitter, Value
from .registry import Kind, register

NAMES = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
         "AlphaDropout", "ActivityRegularization", "Identity")
AUGMENTATION = ("RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
                "RandomBrightness", "RandomHue", "RandomSaturation", "RandomColorJitter", "RandomColorDegeneration",
                "RandomGrayscale", "RandomSharpness", "RandomShear", "RandomPosterization", "RandomInvert",
                "RandomPerspective", "RandomGaussianBlur", "RandomErasing", "RandomElasticTransform", "AugMix",
                "CutMix", "MixUp", "RandAugment", "RandomHeight", "RandomWidth")


def identity(e: Emitter) -> Value:
    """The input, unchanged: these layers act only in training. Keras 3's return the tensor object they are called
    on, whose Keras mask stays on it."""
    e.returns_input = e.keras_major >= 3 and not e.first_input_cast
    return e.inputs[0]


for _name in NAMES + AUGMENTATION:
    register(Kind(f"keras.layers.{_name}", forward=identity, description="no weights; identity at inference",
                  tested="identity at inference" + (", against Keras" if _name in AUGMENTATION else "")))
