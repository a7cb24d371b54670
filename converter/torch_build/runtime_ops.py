"""Plain-torch helpers that generated models call for keras.ops that torch has no single call for: attention,
quantiles, spectrograms.

Copied into exported files as runtime.py's helpers are.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bias: torch.Tensor | None,
                          mask: torch.Tensor | None, scale: float | None, is_causal: bool) -> torch.Tensor:
    """keras.ops.dot_product_attention of (batch, steps, heads, head size) tensors, as Keras computes it: the
    logits q.k times scale (1/sqrt(head size) by default), plus the bias; the entries the mask (and causality) leave
    out set to -0.7 times float32's largest value (TensorFlow's and JAX's where; the torch backend adds it, which
    swamps the logits alike: a row masked whole weighs its keys equally on each); softmax in float32; times v. Fewer
    key and value heads than query heads serve groups of them."""
    heads, kv_heads = query.shape[2], key.shape[2]
    if kv_heads != heads:
        key, value = (torch.repeat_interleave(tensor, heads // kv_heads, dim=2) for tensor in (key, value))
    scale = 1.0 / math.sqrt(key.shape[-1]) if scale is None else scale
    logits = torch.einsum("btnh,bsnh->bnts", query, key).float() * scale
    if bias is not None:
        logits = logits + bias
    if mask is not None or is_causal:
        keep = torch.ones_like(logits, dtype=torch.bool) if mask is None else mask.to(torch.bool).expand_as(logits)
        if is_causal:
            keep = keep & torch.ones(logits.shape[-2:], dtype=torch.bool, device=logits.device).tril()
        large = -0.7 * 3.38953e38  # Keras's large negative of the float32 logits
        logits = torch.where(keep, logits, large)
    probabilities = torch.softmax(logits, dim=-1).to(key.dtype)
    return torch.einsum("bnts,bsnh->btnh", probabilities, value)


def keras_quantile(x: torch.Tensor, q: float, axes: list[int] | None, method: str, keepdims: bool,
                   torch_rule: bool) -> torch.Tensor:
    """keras.ops.quantile (median, percentile) at one q over `axes` (None: every axis), as Keras computes it: on
    TensorFlow its own rule (the sorted values gathered at indices reckoned in float64 from q, NaN where the values
    hold one), on its torch backend (`torch_rule`) torch.quantile. Both move `axes` to the end, flattened."""
    if axes is None:
        y = x.reshape(-1)
    else:
        others = [axis for axis in range(x.dim()) if axis not in axes]
        y = x.permute(others + axes).reshape([x.shape[axis] for axis in others] + [-1])
    if torch_rule:
        result = torch.quantile(y, q, dim=-1, interpolation=method)
    else:
        ordered, count = torch.sort(y, dim=-1).values, y.shape[-1]
        exact = (count - 1) * q

        def index(value: float) -> int:  # clipped to the values, as TensorFlow's rule clips it
            return min(max(int(value), 0), count - 1)

        def at(value: float) -> torch.Tensor:
            return ordered[..., index(value)]

        if method == "linear":
            lower = max(index(math.ceil(exact)) - 1, 0)
            higher = min(lower + 1, count - 1)
            fraction = torch.tensor(higher - exact, dtype=y.dtype, device=y.device)
            result = ordered[..., higher] * (1 - fraction) + ordered[..., lower] * fraction
        elif method == "midpoint":
            result = 0.5 * (at(math.floor(exact)) + at(math.ceil(exact)))
        elif method == "lower":
            result = at(math.floor(exact))
        elif method == "higher":
            result = at(math.ceil(exact))
        else:  # nearest: half to even, as TensorFlow's round
            result = at(round(exact))
        result = torch.where(torch.isnan(y).any(-1), torch.nan, result)
    if keepdims:
        result = result.reshape([1] * x.dim()) if axes is None else result
        for axis in sorted(axes or []):
            result = result.unsqueeze(axis)
    return result


def keras_stft(x: torch.Tensor, real: nn.Conv1d | None, imag: nn.Conv1d | None, mode: str, channels_first: bool,
               expand_dims: bool, pad=None) -> torch.Tensor:
    """keras.layers.STFTSpectrogram of a Keras-layout signal, (batch, steps, channels) or channels-first: each
    channel framed by the convolutions of the DFT's real and imaginary kernels (after Keras's 'same' padding,
    `pad`), as (batch, channels, bins, frames); the mode's spectrum (the magnitude and its log floored at 1e-7,
    Keras's epsilon); laid out (batch, frames, channels * bins), or with expand_dims (batch, frames, bins,
    channels); channels-first, with the channels first and the frames last (expand_dims: bins last)."""
    signal = x if channels_first else x.transpose(1, 2)
    batch, channels, steps = signal.shape
    signal = signal.reshape(-1, 1, steps)
    if pad is not None:
        signal = pad(signal)

    def framed(conv: nn.Conv1d | None) -> torch.Tensor:
        assert conv is not None, f"STFTSpectrogram mode {mode!r} needs this kernel"
        out = conv(signal) if conv.weight.dtype == signal.dtype else F.conv1d(
            signal, conv.weight.to(signal.dtype), stride=conv.stride)  # Keras casts its kernels to the input's dtype
        return out.reshape(batch, channels, *out.shape[1:])

    if mode in ("real", "imag"):
        out = framed(real if mode == "real" else imag)
    elif mode == "angle":
        out = torch.atan2(framed(imag), framed(real))
    elif mode == "stft":
        out = torch.cat([framed(real), framed(imag)], dim=2)
    else:
        power = framed(real).square() + framed(imag).square()
        if mode == "psd":
            out = power + F.pad(power[:, :, 1:-1, :], (0, 0, 1, 1))
        else:
            out = torch.sqrt(torch.clamp(power, min=1e-7))
            if mode == "log":
                out = torch.log(torch.clamp(out, min=1e-7))
    if expand_dims:
        return out.permute(0, 1, 3, 2) if channels_first else out.permute(0, 3, 2, 1)
    out = out.reshape(batch, -1, out.shape[-1])
    return out if channels_first else out.transpose(1, 2)


def tf1_resize_bilinear(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Channels-first images resized as TensorFlow 1's resize_bilinear (resize_images) does by default, neither
    align_corners nor half-pixel centres: output pixel i samples the input at i * in / out, interpolated between
    the pixels below and above it (the last one repeated), along the width, then the height, in float32."""
    x = x.float()
    for axis, size in ((3, width), (2, height)):
        count = x.shape[axis]
        source = torch.arange(size, dtype=torch.float32, device=x.device) * (count / size)
        low = source.floor()
        lerp = (source - low).view([size if dim == axis else 1 for dim in range(x.ndim)])
        below = x.index_select(axis, low.long().clamp(max=count - 1))
        above = x.index_select(axis, source.ceil().long().clamp(max=count - 1))
        x = below + (above - below) * lerp
    return x
