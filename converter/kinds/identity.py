"""Layers that do nothing at inference (no weights): dropout, noise and regularization, and Keras's
random augmentation layers, which transform their input only when called with training=True.
RandomCrop is not among them: tf.keras's resizes to its size at inference (preprocessing.py)."""
from __future__ import annotations

from ..config import compute_dtype
from .forward import Emitter, Value, floats_where_integers
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
#: the augmentation layers that cast an integer input to their compute dtype at inference (float32, float16 under
#: mixed_float16; the others keep its dtype): in tf.keras and Keras 3.0 to 3.5 the geometric ones and the contrast
#: and brightness ones, from Keras 3.6 the geometric ones and the mixing ones built on them (probed with uint8
#: images on every Keras 3 minor version from 3.3 to 3.15, and tf_keras 2.21)
CASTS_INTEGERS = ("RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast",
                  "RandomBrightness")
CASTS_INTEGERS_FROM_3_6 = ("RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomSharpness",
                           "RandomShear", "RandomPerspective", "RandomGaussianBlur", "RandomErasing",
                           "RandomElasticTransform", "AugMix", "CutMix", "RandAugment")


def identity(e: Emitter) -> Value:
    """The input, unchanged: these layers act only in training. Keras 3's dropout and noise layers return the tensor
    object they are called on, whose Keras mask stays on it (they support masking: tf.keras's pass it on too)."""
    e.returns_input = e.keras_major >= 3 and not e.first_input_cast
    return e.inputs[0]


def augmentation(e: Emitter) -> Value:
    """The input, unchanged, with its mask where Keras leaves it on the tensor (AUGMENTATION_NEW_TENSOR_FROM); an
    integer input in the layer's compute dtype where Keras casts it (CASTS_INTEGERS), a new tensor then."""
    x = e.inputs[0]
    new_casts = e.keras_major >= 3 and e.keras_version >= AUGMENTATION_NEW_TENSOR_FROM
    if x.may_be_integers and e.layer.class_name in (CASTS_INTEGERS_FROM_3_6 if new_casts else CASTS_INTEGERS):
        return floats_where_integers(x, compute_dtype(e.config), e.helper)
    e.returns_input = not new_casts and not e.first_input_cast
    return x


for _name in NAMES:
    register(Kind(f"keras.layers.{_name}", forward=identity, description="no weights; identity at inference",
                  tested="identity at inference"))
for _name in AUGMENTATION:
    register(Kind(f"keras.layers.{_name}", forward=augmentation, description="no weights; identity at inference",
                  tested="identity at inference, against Keras"))
