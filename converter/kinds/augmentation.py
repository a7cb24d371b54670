"""Keras 3's random augmentation layers: identity at inference (no weights).

Each of these transforms its input only when called with training=True; a model's
inference (`model(x)`, `predict`) passes the input through unchanged. RandomCrop is not
among them: at inference it crops to its size.
"""
from __future__ import annotations

from .forward import Emitter, Value
from .registry import Kind, register

NAMES = ("RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomBrightness",
         "RandomHue", "RandomSaturation", "RandomColorJitter", "RandomColorDegeneration", "RandomGrayscale",
         "RandomSharpness", "RandomShear", "RandomPosterization", "RandomInvert", "RandomPerspective",
         "RandomGaussianBlur", "RandomErasing", "RandomElasticTransform", "AugMix", "CutMix", "MixUp",
         "RandAugment", "RandomHeight", "RandomWidth")


def unchanged(e: Emitter) -> Value:
    """The input: these layers change it only in training."""
    return e.inputs[0]


for _name in NAMES:
    register(Kind(f"keras.layers.{_name}", forward=unchanged, description="no weights; identity at inference",
                  tested="identity at inference, against Keras"))
