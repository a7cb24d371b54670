"""STFTSpectrogram (Keras 3.7+) -> two nn.Conv1d of its stored DFT kernels (`real`, `imag`).

Keras frames each channel of a (batch, steps, channels) signal with a strided convolution
whose kernels are the windowed DFT's real and imaginary parts, stored as weights
(frame_length, 1, bins): the same transpose as a Conv1D's kernel, (bins, 1, frame_length).
The window and scaling live in those kernels, so the rule needs neither. What the layer
returns from the two products (mode) and how it lays them out (expand_dims, data_format)
are written out as Keras computes them (runtime_ops.keras_stft).
"""
from __future__ import annotations

from ..config import Config
from ..conversion import LayerConversion, TorchModule
from ..errors import ConfigError
from ..graph import Layer
from ..layouts import Layout
from ..source import literal
from .forward import KERAS, Emitter, Value, require_weights, torch_same_crops
from .registry import Kind, register
from .rules import Context, Variable, expect_shape, numbered, to_torch

MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


def _parts(config: Config) -> tuple[str, ...]:
    """The kernels the layer holds, in the order it creates them: no imaginary one in mode 'real', no real one
    in mode 'imag'."""
    mode = config.choice("mode", MODES, "log")
    return tuple(part for part in ("real", "imag") if mode != {"real": "imag", "imag": "real"}[part])


def variables(config: Config) -> list[Variable]:
    return numbered("", [(f"{part}_kernel", Layout.KERAS_CONV1D_WIO) for part in _parts(config)])


def convert(layer: Layer, context: Context) -> LayerConversion:
    config = layer.config
    parts = _parts(config)
    first = f"{parts[0]}_kernel"
    expect_shape(layer, first, (None, 1, None), "(frame_length, 1, fft_length // 2 + 1)")
    frame_length, _, bins = layer.tensor(first).shape
    for part in parts[1:]:
        expect_shape(layer, f"{part}_kernel", (frame_length, 1, bins), f"the shape of {first}")
    recorded = config.optional_int("frame_length", minimum=1)
    if recorded is not None and recorded != frame_length:
        raise ConfigError(f"{config.where}: frame_length {recorded}, but the kernels frame {frame_length} steps")
    step = config.optional_int("frame_step", minimum=1)
    step = frame_length // 2 if step is None else step
    if not 1 <= step <= frame_length:
        raise ConfigError(f"{config.where}: frame_step {step} is not between 1 and frame_length {frame_length}")
    conv = {"in_channels": 1, "out_channels": bins, "kernel_size": (frame_length,), "stride": (step,), "padding": 0,
            "bias": False}
    module = TorchModule("ModuleDict", parts=tuple((part, TorchModule("Conv1d", conv)) for part in parts))
    tensors = [to_torch(layer, f"{part}_kernel", f"{part}.weight", Layout.TORCH_CONV1D_OIW) for part in parts]
    options = {"mode": config.choice("mode", MODES, "log"),
               "padding": config.choice("padding", ("valid", "same"), "valid"),
               "channels_first": config.choice("data_format", ("channels_last", "channels_first"),
                                               "channels_last") == "channels_first",
               "expand_dims": config.bool("expand_dims", False)}
    return LayerConversion(layer, module, tensors, options=options)


def forward(e: Emitter) -> Value:
    """Each channel framed by the kernels' convolutions, padded as Keras pads, then the mode's spectrum."""
    result = require_weights(e)
    options = result.options
    if len(e.inputs) != 1 or e.inputs[0].rank != 3:
        raise e.unsupported("STFTSpectrogram takes one (batch, steps, channels) signal")
    attribute = e.module(result.module)
    conv = result.module.parts[0][1].arguments  # both kernels frame alike
    if options["padding"] == "same":
        helper = "keras_torch_same_pad" if torch_same_crops(e) else "same_pad"
        pad = f"lambda s: {e.helper(helper)}(s, {literal(conv['kernel_size'])}, {literal(conv['stride'])}, (1,))"
    else:
        pad = "None"
    kernels = [f"{attribute}[{part!r}]" if part in dict(result.module.parts) else "None" for part in ("real", "imag")]
    expr = (f"{e.helper('keras_stft')}({e.arg(0, KERAS)}, {kernels[0]}, {kernels[1]}, {options['mode']!r}, "
            f"{literal(options['channels_first'])}, {literal(options['expand_dims'])}, {pad})")
    return Value(expr, KERAS, 4 if options["expand_dims"] else 3)


register(Kind(
    "keras.layers.STFTSpectrogram", module="nn.Conv1d x2 (real, imag)", variables=variables, convert=convert,
    forward=forward,
    description="real_kernel, imag_kernel (frame_length, 1, bins) -> real.weight, imag.weight (bins, 1, "
                "frame_length); framing and the mode's spectrum written out",
    tested="every mode, padding valid/same, frame_step, fft_length, expand_dims, channels_first, several channels",
))
