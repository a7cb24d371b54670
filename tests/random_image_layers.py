"""The image, volume and convolutional-recurrent steps of the random-graph generator (tests/random_layers.py's
LayerSteps takes them in): convolutions of either data format, pooling, padding, cropping, resizing and cropping to a
size, reshapes, and ConvLSTM1D/2D."""
from __future__ import annotations

import inspect
from typing import Any

from random_choices import Chooser, shape

ACTIVATIONS = [None, "relu", "tanh", "sigmoid", "gelu", "softplus", "elu", "swish", "softsign", "hard_sigmoid"]


class ImageSteps:
    """Steps on images (height, width, channels), volumes and sequences of them; the layer helpers (`call`) and
    state (`c`, `k`, `keras3`, `channels_first_convs`) are LayerSteps'."""

    c: Chooser
    k: Any
    keras3: bool
    channels_first_convs: bool

    def call(self, kind: str, value: Any, *args: Any, **options: Any) -> Any:
        raise NotImplementedError

    def conv2d(self, x: Any) -> Any:
        c = self.c
        height, width, channels = shape(x)
        data_format = "channels_first" if c.chance(0.2) and self.channels_first_convs else "channels_last"
        kind = c.choice(["Conv2D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"])
        size = c.integer(1, max(1, min(3, height, width, channels if data_format == "channels_first" else 3)))
        options: dict[str, Any] = {"padding": c.choice(["valid", "same"]), "data_format": data_format}
        spatial = (width, channels) if data_format == "channels_first" else (height, width)
        size = min(size, *spatial)
        if c.chance(0.3) and min(spatial) > 2:
            options["strides"] = 2
        if kind == "DepthwiseConv2D":
            return self.call(kind, x, size, depth_multiplier=c.integer(1, 2), **options)
        return self.call(kind, x, c.integer(1, 5), size, activation=c.choice(ACTIVATIONS), **options)

    def image_layer(self, x: Any) -> Any:
        c = self.c
        height, width, channels = shape(x)
        kind = c.choice(["MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
                         "Flatten", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Permute", "Reshape", "Resizing",
                         "CenterCrop"] + self.newer(["AdaptiveAveragePooling2D", "AdaptiveMaxPooling2D"]))
        data_format = "channels_first" if c.chance(0.2) else "channels_last"
        spatial = (width, channels) if data_format == "channels_first" else (height, width)
        if kind in ("Resizing", "CenterCrop"):
            return self.resizing(x, kind)
        if kind.startswith("Adaptive"):  # not to 1 nor over an axis of 1 (TensorFlow dies: see sequence_layer)
            if min(spatial) < 2:
                return self.call("GlobalAveragePooling2D", x, data_format=data_format)
            return self.call(kind, x, (c.integer(2, spatial[0]), c.integer(2, spatial[1])), data_format=data_format)
        if kind in ("MaxPooling2D", "AveragePooling2D"):
            return self.call(kind, x, pool_size=(c.integer(1, min(3, spatial[0])), c.integer(1, min(3, spatial[1]))),
                             strides=c.choice([None, 1, 2]), padding=c.choice(["valid", "same"]),
                             data_format=data_format)
        if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "UpSampling2D", "ZeroPadding2D"):
            return self.call(kind, x, data_format=data_format)
        if kind == "Cropping2D":
            return self.call(kind, x, ((0, (spatial[0] - 1) // 2), ((spatial[1] - 1) // 2, 0)), data_format=data_format)
        if kind == "Flatten":
            return self.call(kind, x, data_format=data_format) if c.chance(0.3) else self.call(kind, x)
        if kind == "Permute":
            return self.call(kind, x, c.choice([(3, 1, 2), (2, 1, 3), (1, 3, 2)]))
        if kind == "Reshape":
            return self.call(kind, x, (height * width, channels))
        return self.call(kind, x)

    def resizing(self, x: Any, kind: str) -> Any:
        """A Resizing (bilinear or nearest, up or down, sometimes to the target's aspect ratio first) or a CenterCrop
        (the window sometimes larger than the image: resized then) of channels-last images."""
        c = self.c
        size = (c.integer(1, 8), c.integer(1, 8))
        if kind == "CenterCrop":
            return self.call(kind, x, *size)
        options: dict[str, Any] = {"interpolation": c.choice(["bilinear", "nearest"])}
        aspect = c.choice([None, "crop_to_aspect_ratio", "pad_to_aspect_ratio"])
        if aspect == "crop_to_aspect_ratio" or (aspect and "pad_to_aspect_ratio" in
                                                inspect.signature(self.k.layers.Resizing).parameters):
            options[aspect] = True
        if self.keras3 and c.chance(0.2):
            options["data_format"] = "channels_first"
        return self.call(kind, x, *size, **options)

    def conv3d(self, x: Any) -> Any:
        c = self.c
        spatial = shape(x)[:3]
        kind = c.choice(["Conv3D", "Conv3D", "Conv3DTranspose"])
        size = c.integer(1, min(2, *spatial))
        options: dict[str, Any] = {"padding": c.choice(["valid", "same"])}
        if c.chance(0.3) and min(spatial) > 2:
            options["strides"] = 2
        return self.call(kind, x, c.integer(1, 3), size, activation=c.choice(ACTIVATIONS), **options)

    def volume_layer(self, x: Any) -> Any:
        c = self.c
        depth, height, width, channels = shape(x)
        kind = c.choice(["MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
                         "Flatten", "ZeroPadding3D", "Cropping3D", "UpSampling3D", "Reshape"])
        if kind in ("MaxPooling3D", "AveragePooling3D"):
            return self.call(kind, x, pool_size=min(2, depth, height, width), strides=c.choice([None, 1, 2]),
                             padding=c.choice(["valid", "same"]))
        if kind == "Cropping3D":
            return self.call(kind, x, ((0, (depth - 1) // 2), ((height - 1) // 2, 0), (0, 0)))
        if kind == "ZeroPadding3D":
            return self.call(kind, x, (c.integer(0, 1), 1, c.integer(0, 1)))
        if kind == "Reshape":
            return self.call(kind, x, (depth * height, width, channels))
        return self.call(kind, x)

    def conv_lstm(self, x: Any) -> Any:
        """A ConvLSTM1D over a sequence of rows (time, width, channels) or a ConvLSTM2D over one of images."""
        c = self.c
        dims = shape(x)
        kind = "ConvLSTM1D" if len(dims) == 3 else "ConvLSTM2D"
        size = c.integer(1, min(2, *dims[1:-1]))
        return self.call(kind, x, c.integer(1, 3), size, padding=c.choice(["valid", "same"]),
                         return_sequences=c.chance(0.5), go_backwards=c.chance(0.2),
                         activation=c.choice(["tanh", "relu"]),
                         recurrent_activation=c.choice(["sigmoid", "hard_sigmoid"]))
