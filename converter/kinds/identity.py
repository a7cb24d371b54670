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
#: from which Keras 3 the augmentation layers return a new tensor at inference (3.6 made them image preprocessing
#: layers converting their input): the Keras mask of their input, which they do not support, is dropped. tf.keras
#: and Keras 3.0 to 3.5 return the tensor object they are called on, whose mask stays on it (tried with tf_keras
#: 2.21 and Keras 3.0.5 to 3.15.1 on each backend)
AUGMENTATION_NEW_TENSOR_FROM = (3, 6)


def identity(e: Emitter) -> Value:
    """The input, unchanged: these layers act only in training. Keras 3's dropout and noise layers return the tensor
    object they are called on, whose Keras mask stays on it (they support masking: tf.keras's pass it on too)."""
    e.returns_input = e.keras_major >= 3 and not e.first_input_cast
    return e.inputs[0]


def augmentation(e: Emitter) -> Value:
    """The input, unchanged, with its mask where Keras leaves it on the tensor (AUGMENTATION_NEW_TENSOR_FROM)."""
    e.returns_input = (e.keras_major < 3 or e.keras_version < AUGMENTATION_NEW_TENSOR_FROM) and not e.first_input_cast
    return e.inputs[0]


for _name in NAMES:
    register(Kind(f"keras.layers.{_name}", forward=identity, description="no weights; identity at inference",
                  tested="identity at inference"))
for _name in AUGMENTATION:
    register(Kind(f"keras.layers.{_name}", forward=augmentation, description="no weights; identity at inference",
                  tested="identity at inference, against Keras"))
