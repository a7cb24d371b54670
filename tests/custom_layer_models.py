"""A functional model with the user's own layer classes, as Keras's "text classification with a
Transformer" example writes it (a TokenAndPositionEmbedding of two Embeddings, a TransformerBlock of a
MultiHeadAttention, a Sequential feed-forward and two LayerNormalizations), in Keras 3 and tf.keras,
and its hand-written PyTorch twin with the same attribute names (tests/test_custom_layers.py and the
CLI's `--import custom_layer_models`).
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import nn

#: sequence length, vocabulary, width, heads, feed-forward width
MAXLEN, VOCAB, DIM, HEADS, FF = 7, 30, 8, 2, 12


_CLASSES: dict[str, tuple] = {}


def layer_classes(keras) -> tuple:
    """(TokenAndPositionEmbedding, TransformerBlock) for `keras` (Keras 3 or tf_keras), registered with it once,
    so that Keras loads a file of them."""
    if keras.__name__ in _CLASSES:
        return _CLASSES[keras.__name__]
    register = keras.saving.register_keras_serializable(package=f"weightport_custom_{keras.__name__}")
    layers = keras.layers

    @register
    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)
            self.arguments = dict(maxlen=maxlen, vocab_size=vocab_size, embed_dim=embed_dim)

        def call(self, x):
            positions = np.arange(self.arguments["maxlen"])  # the inputs' length (fixed here)
            return self.token_emb(x) + self.pos_emb(positions)

        def get_config(self):
            return dict(super().get_config(), **self.arguments)

    @register
    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, **kwargs):
            super().__init__(**kwargs)
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu", name="expand"),
                                         layers.Dense(embed_dim, name="project")])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(0.1)
            self._gate = layers.Dense(embed_dim, activation="sigmoid")  # private, as KerasHub keeps its layers
            self.arguments = dict(embed_dim=embed_dim, num_heads=num_heads, ff_dim=ff_dim)

        def call(self, inputs, training=False):
            attended = self.dropout1(self.att(inputs, inputs), training=training)
            out1 = self.layernorm1(inputs + attended)
            return self.layernorm2(out1 + self.ffn(out1)) * self._gate(out1)

        def get_config(self):
            return dict(super().get_config(), **self.arguments)

    _CLASSES[keras.__name__] = TokenAndPositionEmbedding, TransformerBlock
    return _CLASSES[keras.__name__]


def build(keras):
    """The functional model for `keras` (Keras 3 or tf_keras)."""
    TokenAndPositionEmbedding, TransformerBlock = layer_classes(keras)
    layers = keras.layers
    inputs = layers.Input(shape=(MAXLEN,), dtype="int32")
    x = TokenAndPositionEmbedding(MAXLEN, VOCAB, DIM, name="embedding")(inputs)
    x = TransformerBlock(DIM, HEADS, FF, name="block")(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(10, activation="relu", name="hidden")(x)
    outputs = layers.Dense(2, activation="softmax", name="head")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def randomize(model, seed: int = 3) -> None:
    """Random values for every variable (biases and LayerNormalization's beta too), gamma near 1."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = variable.name.split("/")[-1].split(":")[0]
        value = rng.normal(0, 0.4, tuple(variable.shape)) + (1.0 if name == "gamma" else 0.0)
        variable.assign(value.astype("float32"))


def inputs() -> np.ndarray:
    return np.random.default_rng(4).integers(0, VOCAB, (3, MAXLEN)).astype("int32")


class TorchTokenAndPosition(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.token_emb = nn.Embedding(VOCAB, DIM)
        self.pos_emb = nn.Embedding(MAXLEN, DIM)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.token_emb(ids) + self.pos_emb(torch.arange(ids.shape[-1]))


class TorchAttention(nn.Module):
    """Keras's MultiHeadAttention as four Linear projections, heads outermost in each."""

    def __init__(self) -> None:
        super().__init__()
        self.query, self.key, self.value = (nn.Linear(DIM, HEADS * DIM) for _ in range(3))
        self.output = nn.Linear(HEADS * DIM, DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, _ = x.shape

        def heads(projected: torch.Tensor) -> torch.Tensor:
            return projected.view(batch, time, HEADS, DIM).transpose(1, 2)

        query, key, value = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        weights = torch.softmax(query @ key.transpose(-1, -2) / math.sqrt(DIM), dim=-1)
        return self.output((weights @ value).transpose(1, 2).reshape(batch, time, HEADS * DIM))


class TorchBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.att = TorchAttention()
        self.ffn = nn.ModuleDict({"expand": nn.Linear(DIM, FF), "project": nn.Linear(FF, DIM)})
        self.layernorm1 = nn.LayerNorm(DIM, eps=1e-6)
        self.layernorm2 = nn.LayerNorm(DIM, eps=1e-6)
        self._gate = nn.Linear(DIM, DIM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.layernorm1(x + self.att(x))
        fed = self.ffn["project"](torch.relu(self.ffn["expand"](out1)))
        return self.layernorm2(out1 + fed) * torch.sigmoid(self._gate(out1))


class TorchNet(nn.Module):
    """The twin, attribute for attribute (the functional model's layer names at the top)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = TorchTokenAndPosition()
        self.block = TorchBlock()
        self.hidden = nn.Linear(DIM, 10)
        self.head = nn.Linear(10, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pooled = self.block(self.embedding(ids)).mean(dim=1)
        return torch.softmax(self.head(torch.relu(self.hidden(pooled))), dim=-1)


def loaded_twin() -> TorchNet:
    """`verify --module custom_layer_models:loaded_twin`: the twin with the weights of the `.keras` file named by
    $WEIGHTPORT_TEST_MODEL loaded by load_into, as a user's factory would."""
    import converter
    import keras

    twin = TorchNet().eval()
    converter.load_into(twin, keras.saving.load_model(os.environ["WEIGHTPORT_TEST_MODEL"]))
    return twin


for _package in ("keras", "tf_keras"):  # `--import custom_layer_models` registers the classes with each Keras
    try:
        layer_classes(__import__(_package))
    except ImportError:
        pass
