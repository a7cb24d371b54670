"""Plain-torch helpers that generated models call for keras.ops' attention.

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
