"""Plain-torch helpers that generated models call for keras.ops that torch has no single call for: attention,
quantiles.

Copied into exported files as runtime.py's helpers are.
"""
from __future__ import annotations

import math

import torch


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
