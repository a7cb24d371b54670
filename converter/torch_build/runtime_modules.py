"""The nn.Modules generated models build for Keras layers torch has no module for (see runtime.py: `weightport
export` copies the source of those a model uses into its model.py).
"""
from __future__ import annotations

import torch
from torch import nn

from .runtime import keras_tf_bias


class Weight(nn.Module):
    """A bare parameter under the key `weight` (a per-position PReLU alpha, an rms_scaling gamma)."""

    def __init__(self, shape: tuple) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(shape))


class LocallyConnected(nn.Module):
    """tf.keras's LocallyConnected1D/2D (implementation 1), channels-last: one (patch, filters) matrix per
    output position. weight (positions, prod(kernel_size) * channels, filters), patches flattened in
    (k1[, k2], channels) order and positions in row-major order, as tf.keras stores them; bias
    (*positions, filters)."""

    bias: torch.Tensor | None

    def __init__(self, weight_shape: tuple, bias_shape: tuple | None, kernel_size: tuple, strides: tuple) -> None:
        super().__init__()
        self.kernel_size, self.strides = tuple(kernel_size), tuple(strides)
        self.weight = nn.Parameter(torch.empty(weight_shape))
        self.bias = nn.Parameter(torch.empty(bias_shape)) if bias_shape is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = len(self.kernel_size)
        patches = x
        for axis, (size, stride) in enumerate(zip(self.kernel_size, self.strides)):
            patches = patches.unfold(axis + 1, size, stride)  # (N, *positions, C, *kernel)
        order = [0, *range(1, spatial + 1), *range(spatial + 2, 2 * spatial + 2), spatial + 1]
        patches = patches.permute(order)  # (N, *positions, *kernel, C): tf.keras's patch order
        positions = patches.shape[1:spatial + 1]
        flat = patches.reshape(x.shape[0], -1, self.weight.shape[1])
        y = torch.einsum("npf,pfo->npo", flat, self.weight).reshape(x.shape[0], *positions, -1)
        return y + self.bias if self.bias is not None else y


class EinsumDense(nn.Module):
    """Keras's EinsumDense for an equation that is not a Dense: einsum(equation, x, weight) + bias, weight and
    bias as Keras stores them (the bias shaped to broadcast against the output's trailing axes).

    bias_add "tensorflow" adds the bias as Keras 3.7 and later do on TensorFlow: a bias with one axis longer
    than 1 whose size is that of the output's last axis, or else of its axis 1, goes along that axis
    (tf.nn.bias_add), whichever axis the bias was shaped for; "broadcast" (JAX, PyTorch, earlier Keras,
    tf.keras) broadcasts it. The two differ only for a bias on an axis that is not the output's last.
    """

    bias: torch.Tensor | None

    def __init__(self, equation: str, weight_shape: tuple, bias_shape: tuple | None,
                 bias_add: str = "broadcast") -> None:
        super().__init__()
        self.equation = equation
        self.weight = nn.Parameter(torch.empty(weight_shape))
        self.bias = nn.Parameter(torch.empty(bias_shape)) if bias_shape is not None else None
        self.bias_add = bias_add

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum(self.equation, x, self.weight)
        if self.bias is None:
            return y
        return keras_tf_bias(y + self.bias, self.bias) if self.bias_add == "tensorflow" else y + self.bias


class Normalization(nn.Module):
    """Keras's Normalization layer: (x - mean) / max(sqrt(variance), epsilon), channels-last."""

    mean: torch.Tensor
    variance: torch.Tensor

    def __init__(self, shape: tuple) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("variance", torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / torch.clamp(torch.sqrt(self.variance), min=1e-7)
