"""Nested models called more than once: which call each reference names.

Keras numbers a nested model's calls in the config in ways that differ by writer: Keras 3 names
a call's arguments from 0 and the model's outputs from 1 for a nested functional model; Keras 2
names both alike, from 1 for a model holding a node of its own (tf.keras 2.4+: functional ones
and Sequential ones built on an Input; Keras 2.0-2.3: every nested model, tests/
test_old_keras_files.py). A module built on the wrong call computes another branch's value:
it runs, and is silently wrong. Each model here gives its outputs from different calls, and the
module built from each file must give what Keras computes from it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import converter
from layer_harness import keras_module, randomize, saved_model


def _shared_towers(k: Any) -> Any:
    """A functional tower and a Sequential one, each called on two inputs; outputs from first and second calls,
    arguments from second calls."""
    x = k.Input((3,))
    tower = k.Model(x, k.layers.BatchNormalization(name="bn")(k.layers.Dense(4, name="dense")(x)), name="tower")
    sequential = k.Sequential([k.Input((4,)), k.layers.Dense(2, name="inner")], name="sequential_tower")
    a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
    tower_a, tower_b = tower(a), tower(b)
    seq_a, seq_b = sequential(tower_a), sequential(tower_b)
    head = k.layers.Dense(2, name="head")(k.layers.Concatenate(name="joined")([tower_b, seq_b]))
    return k.Model([a, b], [head, tower_a, seq_a, k.layers.Add(name="add")([seq_a, seq_b])])


@pytest.mark.parametrize("writer", ["keras3.keras", "keras3.h5", "keras2.h5", "keras2.keras"])
def test_each_reference_names_the_call_keras_computes(tmp_path, writer):
    if writer == "keras2.keras":  # tf.keras 2.13+'s .keras: its own config conventions in Keras 3's format
        k = keras_module("keras2")
        model = _shared_towers(k)
        randomize(model, seed=12)
        path = str(tmp_path / "model.keras")
        model.save(path)
        loaded = k.models.load_model(path, compile=False)
    else:
        loaded, path = saved_model(_shared_towers, writer, tmp_path, seed=12)
    rng = np.random.default_rng(4)
    x = [rng.normal(size=(5, 3)).astype("float32") for _ in range(2)]
    expected = [np.asarray(value) for value in loaded(x)]
    module = converter.to_torch(path, input_layout="keras")
    with torch.no_grad():
        actual = module(*(torch.from_numpy(value) for value in x))
    assert len(actual) == len(expected) == 4
    for index, (got, want) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, err_msg=f"output {index}")
