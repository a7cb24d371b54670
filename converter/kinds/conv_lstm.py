"""ConvLSTM1D/2D/3D -> two convolutions (input, recurrent) and the LSTM step written out over time.

Keras's cell computes, per time step, gates = conv(x_t, kernel) + bias + conv(h, recurrent_kernel)
(the recurrent convolution always 'same', stride 1), split in the order i, f, c, o:
c = f * c + i * activation(g), h = o * activation(c), with i, f, o through the recurrent
activation. The kernels (k..., in, 4*filters) become the convolutions' weights
(4*filters, in, k...) as any Keras convolution's, the gates staying in Keras's order; the
generated module runs the steps with keras_conv_lstm().
"""
from __future__ import annotations

from ..config import Config, activation_name
from ..conversion import LayerConversion, TorchModule
from ..graph import Layer
from ..layouts import Layout
from ..padding import pad_argument
from .conv_options import check_kernel_size, conv_options, padded, uneven_same_pads
from .forward import CHANNELS_FIRST, KERAS, Emitter, Value, activation, literal, require_weights
from .recurrent import refuse_unbuilt_state
from .registry import Kind, register
from .rules import Context, Variable, numbered, to_torch

#: spatial dims -> the Keras and torch layouts of its kernels
LAYOUTS = {1: (Layout.KERAS_CONV1D_WIO, Layout.TORCH_CONV1D_OIW),
           2: (Layout.KERAS_CONV2D_HWIO, Layout.TORCH_CONV2D_OIHW),
           3: (Layout.KERAS_CONV3D_DHWIO, Layout.TORCH_CONV3D_OIDHW)}


def _register(spatial: int) -> None:
    keras_layout, torch_layout = LAYOUTS[spatial]

    def variables(config: Config) -> list[Variable]:
        entries = [("kernel", keras_layout), ("recurrent_kernel", keras_layout)]
        if config.bool("use_bias", True):
            entries.append(("bias", Layout.VECTOR))
        return numbered("cell/", entries)

    def unsupported(layer: Layer) -> str | None:
        if layer.config.get("data_format") not in (None, "channels_last"):
            return "data_format='channels_first' is not built yet"
        return None

    def convert(layer: Layer, context: Context) -> LayerConversion:
        kernel = layer.tensor("kernel").shape
        kernel_size = tuple(kernel[:spatial])
        check_kernel_size(layer, spatial, kernel_size)
        inputs, gates = kernel[spatial], kernel[spatial + 1]
        filters = gates // 4
        arguments, options, warnings = conv_options(layer, spatial, kernel_size, context)
        arguments.update(in_channels=inputs, out_channels=gates, bias=layer.has("bias"))
        # the recurrent convolution is always 'same' at stride 1; of an even kernel, padded explicitly
        pads = uneven_same_pads(kernel_size)
        recurrent = {"in_channels": filters, "out_channels": gates, "kernel_size": kernel_size,
                     "padding": "same" if pads is None else 0, "bias": False}
        if pads is not None:
            options["recurrent_pad"] = pad_argument(pads)
        conv = f"Conv{spatial}d"
        module = TorchModule("ModuleDict", parts=(("input", TorchModule(conv, arguments)),
                                                  ("recurrent", TorchModule(conv, recurrent))))
        tensors = [to_torch(layer, "kernel", "input.weight", torch_layout),
                   to_torch(layer, "recurrent_kernel", "recurrent.weight", torch_layout)]
        if layer.has("bias"):
            tensors.append(to_torch(layer, "bias", "input.bias", Layout.VECTOR))
        options.update(
            return_sequences=layer.config.bool("return_sequences", False),
            go_backwards=layer.config.bool("go_backwards", False),
            activation=activation_name(layer.config.get("activation", "tanh")),
            recurrent_activation=activation_name(layer.config.get("recurrent_activation", "sigmoid")))
        return LayerConversion(layer, module, tensors, warnings=warnings, options=options)

    def forward(e: Emitter) -> Value:
        result = require_weights(e)
        refuse_unbuilt_state(e, e.config)
        options = result.options
        if e.config.bool("return_state", False) or e.named("initial_state") is not None or len(e.inputs) != 1:
            raise e.unsupported("return_state or initial_state is not built yet")
        if e.mask() is not None:
            raise e.unsupported("a masked input is not built yet")
        e.module(result.module)
        # the entries as written: a Keras layer given as an activation (LeakyReLU()) is built from its options; the
        # gates are channels-first steps (batch, channels, *spatial): a softmax goes over their channels, as Keras's
        functions = [f"lambda t: {activation(e, e.config.get(name, default), Value('t', CHANNELS_FIRST, spatial + 2))}"
                     for name, default in (("activation", "tanh"), ("recurrent_activation", "sigmoid"))]
        x = e.arg(0, KERAS)
        # an input convolution padded apart from torch's own: a strided 'same' one, or 'same' of an even kernel
        pad = f", lambda s: {padded(e, 's')}" if options.get("tf_same") or "pad_before" in options else ""
        recurrent_pad = (f", recurrent_pad=lambda s: F.pad(s, {literal(options['recurrent_pad'])})"
                         if "recurrent_pad" in options else "")
        expr = (f"{e.helper('keras_conv_lstm')}({x}, {e.attribute}['input'], {e.attribute}['recurrent'], "
                f"{functions[0]}, {functions[1]}, {literal(options['return_sequences'])}, "
                f"{literal(options['go_backwards'])}{pad}{recurrent_pad})")
        return Value(expr, KERAS, spatial + 3 if options["return_sequences"] else spatial + 2)

    register(Kind(f"keras.layers.ConvLSTM{spatial}D", module=f"nn.Conv{spatial}d x2 (input, recurrent)",
                  variables=variables, convert=convert, forward=forward, unsupported=unsupported,
                  description="kernel, recurrent_kernel (k..., in, 4*filters) -> input.weight, recurrent.weight "
                              "(4*filters, in, k...), gates i,f,c,o kept; bias -> input.bias; steps written out",
                  tested="padding valid/same, strided 'same', return_sequences, go_backwards, activation relu, "
                         "softmax gates"))


for _spatial in (1, 2, 3):
    _register(_spatial)
