"""Plain-torch helpers for recurrent layers that generated models call: Keras's step loop where torch's fused
modules compute otherwise (masks, unrolling, activations), ConvLSTM, and the states a stateful layer carries.
Like runtime.py's, `weightport export` copies the source of those a model uses into its model.py."""
from __future__ import annotations

import torch
from torch import nn


def carried_state(store: dict, key: str, x: torch.Tensor, sizes: tuple) -> list:
    """The states a stateful recurrent layer's call starts from: those its previous call ended with, or zeros (its
    first call, or after reset_states()). Keras keeps them for a fixed batch, so another batch size is an error."""
    states = store.get(key)
    if states is None:
        return [x.new_zeros(x.shape[0], size) for size in sizes]
    if states[0].shape[0] != x.shape[0]:
        raise ValueError(f"{key} is stateful: its states hold a batch of {states[0].shape[0]}, and this call's input "
                         f"a batch of {x.shape[0]}; call reset_states() to start again with another batch size")
    return [state.to(device=x.device, dtype=x.dtype) for state in states]


def keras_rnn(x: torch.Tensor, kind: str, weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias_ih, bias_hh,
              activation, recurrent_activation, reset_after: bool, mask=None, h0=None, c0=None,
              zero_masked: bool = False, masked_state_out: bool = False):
    """A Keras recurrent layer step by step, for what torch's nn.LSTM/GRU/RNN cannot do.

    Weights are in torch's layout and gate order (as converted). Masked steps keep the
    previous state, and output the previous output, as Keras does: zeros before the first
    step not masked, even when an initial state h0 is given (Keras's own rnn loop starts its
    outputs from zeros, its states from h0 and c0; zeros when None). With `zero_masked` (Keras's
    zero_output_for_mask, which Bidirectional sets when it returns sequences) a masked step
    outputs zeros instead; with `masked_state_out` (Keras 3 on JAX) the state h it keeps, which is h0 before the
    first step not masked. Returns (outputs, last state h, last state c); the last output is outputs[:, -1].
    """
    batch, steps = x.shape[0], x.shape[1]
    units = weight_hh.shape[1]
    h = x.new_zeros(batch, units) if h0 is None else h0
    c = x.new_zeros(batch, units) if c0 is None else c0
    output = h if masked_state_out else x.new_zeros(batch, units)
    outputs = []
    for t in range(steps):
        gates_x = x[:, t] @ weight_ih.T + (bias_ih if bias_ih is not None else 0)
        if kind == "LSTM":
            gates = gates_x + h @ weight_hh.T + (bias_hh if bias_hh is not None else 0)
            i, f, g, o = gates.chunk(4, 1)
            new_c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
            new_h = recurrent_activation(o) * activation(new_c)
        elif kind == "GRU":
            x_r, x_z, x_n = gates_x.chunk(3, 1)
            w_r, w_z, w_n = weight_hh.chunk(3, 0)
            b_r, b_z, b_n = (bias_hh.chunk(3, 0) if bias_hh is not None else (0, 0, 0))
            r = recurrent_activation(x_r + h @ w_r.T + b_r)
            z = recurrent_activation(x_z + h @ w_z.T + b_z)
            if reset_after:
                n = activation(x_n + r * (h @ w_n.T + b_n))
            else:  # the reset gate before the recurrent matmul
                n = activation(x_n + (r * h) @ w_n.T + b_n)
            new_h, new_c = z * h + (1 - z) * n, c
        else:
            new_h = activation(gates_x + h @ weight_hh.T + (bias_hh if bias_hh is not None else 0))
            new_c = c
        if mask is not None:
            keep = mask[:, t].unsqueeze(1)
            output = torch.where(keep, new_h, torch.zeros_like(output) if zero_masked else output)
            new_h = torch.where(keep, new_h, h)
            new_c = torch.where(keep, new_c, c)
        else:
            output = new_h
        h, c = new_h, new_c
        outputs.append(output)
    return torch.stack(outputs, 1), h, c


def keras_conv_lstm(x: torch.Tensor, input_conv: nn.Module, recurrent_conv: nn.Module, activation,
                    recurrent_activation, return_sequences: bool, go_backwards: bool, pad=None,
                    recurrent_pad=None) -> torch.Tensor:
    """Keras's ConvLSTM over channels-last steps (batch, time, *spatial, channels), gates i, f, c, o; `pad`: how
    each step is padded before the input convolution (a strided 'same' one, or 'same' of an even kernel: as Keras
    pads it), `recurrent_pad` the state before the recurrent one (of an even kernel)."""
    steps = x.movedim(-1, 2)
    if go_backwards:
        steps = steps.flip(1)
    h = c = None
    outputs = []
    for t in range(steps.shape[1]):
        gates = input_conv(steps[:, t] if pad is None else pad(steps[:, t]))
        if h is None:
            h = torch.zeros_like(gates[:, : gates.shape[1] // 4])
            c = torch.zeros_like(h)
        i, f, g, o = (gates + recurrent_conv(h if recurrent_pad is None else recurrent_pad(h))).chunk(4, dim=1)
        c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
        h = recurrent_activation(o) * activation(c)
        outputs.append(h)
    if h is None:
        raise ValueError("ConvLSTM of a sequence of no time steps")
    result = torch.stack(outputs, 1) if return_sequences else h
    return result.movedim(2 if return_sequences else 1, -1)
