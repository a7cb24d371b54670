"""Keras 3.8+'s MultiHeadAttention clears the masks of the tensors it is called on, against Keras.

Keras keeps a mask as an attribute of the tensor object and hands every call of a tensor the
same object; MultiHeadAttention reads the masks of its query, value and key, then deletes them.
A call Keras runs after it that reads a mask from one of those tensors (not one given as its
own `mask=` in the config) finds none: in a stack of transformer blocks over Embedding
(mask_zero=True), the second block's attention attends to the padding. Which calls run after
it is Keras's run order (map_graph's depths), checked against the order Keras itself keeps.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from build_harness import check
from converter.torch_build.calls import model_calls
from converter.torch_build.run_order import run_order
from helpers import with_keras_version
from layer_harness import randomize

#: padded token ids: after, before and between the tokens, and none
IDS = np.array([[1, 2, 0, 0, 0, 0], [3, 4, 1, 2, 3, 4], [0, 0, 2, 2, 0, 0], [4, 0, 3, 0, 2, 0]], dtype="int32")


def _tokens(keras):
    ids = keras.Input((6,), dtype="int32", name="ids")
    return ids, keras.layers.Embedding(5, 8, mask_zero=True, name="embedding")(ids)


def transformer_blocks(keras, blocks: int = 2):
    """The usual encoder: attention and a feed-forward layer, each added back and normalized, then pooled."""
    L = keras.layers
    ids, h = _tokens(keras)
    for block in range(blocks):
        attended = L.MultiHeadAttention(2, 4, name=f"attention_{block}")(h, h)
        h = L.LayerNormalization(name=f"norm_a{block}")(L.Add(name=f"add_a{block}")([h, attended]))
        forward = L.Dense(8, name=f"out_{block}")(L.Dense(16, activation="relu", name=f"in_{block}")(h))
        h = L.LayerNormalization(name=f"norm_f{block}")(L.Add(name=f"add_f{block}")([h, forward]))
    return keras.Model(ids, L.Dense(2, name="head")(L.GlobalAveragePooling1D(name="pool")(h)))


def two_attentions(first: str):
    """An Attention and a MultiHeadAttention over one masked sequence, built in either order (Keras runs the
    MultiHeadAttention first in both: map_graph's order within a depth), and a second MultiHeadAttention."""
    def build(keras):
        L = keras.layers
        ids, e = _tokens(keras)
        made = {"Attention": lambda: L.Attention(name="dot")([e, e]),
                "MultiHeadAttention": lambda: L.MultiHeadAttention(2, 4, name="heads")(e, e)}
        outputs = [made[first](), made[({"Attention", "MultiHeadAttention"} - {first}).pop()]()]
        return keras.Model(ids, outputs + [L.MultiHeadAttention(1, 3, name="again")(e, e)])
    return build


def parallel_branches(keras):
    """An attention branch and a recurrent one over the same padded sequence, merged."""
    L = keras.layers
    ids, e = _tokens(keras)
    attended = L.GlobalAveragePooling1D(name="pool")(L.MultiHeadAttention(2, 4, name="attention")(e, e))
    recurrent = L.Bidirectional(L.LSTM(3, name="lstm"), name="bidirectional")(e)
    merged = L.Concatenate(name="concatenate")([attended, recurrent, L.AdditiveAttention(name="additive")([e, e])
                                                [:, 0]])
    return keras.Model(ids, L.Dense(2, name="head")(merged))


def through_a_dropout(keras):
    """The attention reads a Dropout of the embeddings: at inference Keras's Dropout returns the tensor object it
    is called on, so clearing its mask clears the embeddings' too, and the Attention after it reads no query
    mask (the padded rows are not zeroed)."""
    L = keras.layers
    ids, e = _tokens(keras)
    dropped = L.Dropout(0.1, name="dropout")(e)
    attended = L.MultiHeadAttention(2, 4, name="attention")(dropped, dropped)
    return keras.Model(ids, L.Attention(name="dot")([e, attended]))


def _block(keras, name: str, attends: bool = True):
    """A transformer block as a nested model (attention, or a Dense where `attends` is false)."""
    L = keras.layers
    x = keras.Input((6, 8), name=f"{name}_in")
    mixed = L.MultiHeadAttention(2, 4, name=f"{name}_attention")(x, x) if attends else L.Dense(8, name=f"{name}_mix")(x)
    return keras.Model(x, L.LayerNormalization(name=f"{name}_norm")(L.Add(name=f"{name}_add")([x, mixed])), name=name)


def nested_block(keras):
    """A nested model's attention clears the mask of the tensor object the model is called on: the Attention
    after it reads no query mask."""
    L = keras.layers
    ids, e = _tokens(keras)
    return keras.Model(ids, L.Attention(name="dot")([e, _block(keras, "block")(e)]))


def nested_blocks_then_plain(keras):
    """A nested block clears the mask, then a second nested model, called with the mask Keras recorded as its
    `mask=`, sets it on the same tensor object again: the Attention after both reads it."""
    L = keras.layers
    ids, e = _tokens(keras)
    first = _block(keras, "block")(e)
    second = _block(keras, "plain", attends=False)(L.Dropout(0.1, name="dropout")(e))
    return keras.Model(ids, L.Attention(name="dot")([e, L.Add(name="add")([first, second])]))


def nested_dropout(keras):
    """A nested model returning the tensor object it is called on (a Dropout): the attention over its output
    clears the outer tensor's mask."""
    L = keras.layers
    ids, e = _tokens(keras)
    x = keras.Input((6, 8), name="x")
    same = keras.Model(x, L.Dropout(0.1, name="inner_dropout")(x), name="same")(e)
    return keras.Model(ids, L.Attention(name="dot")([e, L.MultiHeadAttention(2, 4, name="attention")(same, same)]))


def float64_attention(keras):
    """A float64 MultiHeadAttention casts its float32 inputs: it clears the masks of those new tensors, and the
    embeddings keep theirs."""
    L = keras.layers
    ids, e = _tokens(keras)
    attended = L.MultiHeadAttention(2, 4, name="attention", dtype="float64")(e, e)
    return keras.Model(ids, L.Attention(name="dot")([e, L.Activation("linear", name="linear")(attended)]))


OBJECT_CASES = {"through a Dropout": through_a_dropout, "in a nested model": nested_block,
                "set again by a nested model's mask": nested_blocks_then_plain,
                "through a nested model's output": nested_dropout, "not on a cast input": float64_attention}


@pytest.mark.parametrize("case", sorted(OBJECT_CASES))
def test_the_masks_are_cleared_on_tensor_objects_as_in_keras(tmp_path, case):
    """Keras clears a mask on the tensor object, which a Dropout returns and a nested model hands its layers: the
    first two were 1.47 and 3.09 off Keras at padded rows."""
    check(tmp_path, "keras3", OBJECT_CASES[case], [IDS])


CASES = {"two transformer blocks": transformer_blocks, "Attention, then MultiHeadAttention":
         two_attentions("Attention"), "MultiHeadAttention, then Attention": two_attentions("MultiHeadAttention"),
         "parallel branches": parallel_branches}


@pytest.mark.parametrize("case", sorted(CASES))
def test_calls_after_a_multi_head_attention_find_its_inputs_unmasked_as_in_keras(tmp_path, case):
    """The two transformer blocks were 0.036 off Keras at padded rows (the second block masked the padding)."""
    check(tmp_path, "keras3", CASES[case], [IDS])


def test_a_file_of_keras_before_3_8_keeps_the_masks(tmp_path):
    """Keras 3.0 to 3.7's MultiHeadAttention leaves its inputs' masks: a file they wrote is built so (the padded
    rows then differ from the same file of Keras 3.8+, the rows without padding do not)."""
    import keras

    model = transformer_blocks(keras)
    randomize(model, seed=4)
    model.save(tmp_path / "new.keras")
    old = with_keras_version(tmp_path / "new.keras", tmp_path / "old.keras", "3.7.0")
    with torch.no_grad():
        new_outputs, old_outputs = (converter.to_torch(str(path), input_layout="keras")(torch.from_numpy(IDS)).numpy()
                                    for path in (tmp_path / "new.keras", old))
    np.testing.assert_allclose(new_outputs[1], old_outputs[1], atol=1e-6)  # no padding: no mask to clear
    assert np.abs(new_outputs[[0, 2, 3]] - old_outputs[[0, 2, 3]]).max() > 1e-3


def _keras_run_order(model) -> list[tuple[str, int]]:
    """The calls in the order Keras runs them: by depth, deepest first, then in the order of its lists."""
    order = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.operation is not None and not node.is_input:
                order.append((node.operation.name, node.operation._inbound_nodes.index(node)))
    return order


def shared_layers(keras):
    """A layer called three times, at different depths, and branches of different lengths."""
    L = keras.layers
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    shared = L.Dense(4, name="shared")
    deep = shared(shared(L.Dense(4, name="first")(a)))
    return keras.Model([a, b], [L.Add(name="add")([deep, shared(b)]), L.Multiply(name="multiply")([b, a])])


@pytest.mark.parametrize("build", [transformer_blocks, two_attentions("Attention"), parallel_branches, shared_layers,
                                   lambda keras: keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3),
                                                                                alpha=0.35)],
                         ids=["transformer", "two attentions", "branches", "shared layers", "MobileNetV2"])
def test_the_run_order_is_the_one_keras_keeps(tmp_path, build):
    import keras

    build(keras).save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    with converter.read(str(tmp_path / "model.keras")) as graph:
        _, calls, outputs = model_calls(graph.root)
        ours = [(call.layer.name, call.node) for call in run_order(calls, outputs)]
    assert ours == _keras_run_order(loaded)


def test_the_run_order_of_random_graphs_is_the_one_keras_keeps(tmp_path):
    """The fuzzer's random functional graphs (shared layers, several inputs and outputs, operations)."""
    import keras

    from random_choices import SeededChooser
    from random_graphs import generate

    compared = 0
    for seed in range(900000, 900040):
        keras.backend.clear_session()
        try:
            model = generate(keras, SeededChooser(seed), "keras3", 8).model
            model.save(tmp_path / "model.keras")
        except Exception:  # a graph Keras itself rejects: the fuzzer counts those apart
            continue
        loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
        if isinstance(loaded, keras.Sequential):
            continue  # a chain: one order only
        with converter.read(str(tmp_path / "model.keras")) as graph:
            _, calls, outputs = model_calls(graph.root)
            ours = [(call.layer.name, call.node) for call in run_order(calls, outputs)]
        assert ours == _keras_run_order(loaded), seed
        compared += 1
    assert compared >= 25
