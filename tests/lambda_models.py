"""The Lambda tests' models and references (tests/test_lambdas.py, test_lambda_functions.py): each reference is the
live Keras model, whose Lambda runs the real function, the expression's text evaluated with Keras's own backend
functions (tf_keras.backend, keras.ops), here in the tests only; and random expressions of the language.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

import converter
from helpers import keras3, tensorflow, tf_keras
from random_weights import randomize

IMAGE, SEQUENCE = (6, 5, 3), (4, 5)


def backend(flavor: str) -> Any:
    """The namespace a user's lambda called: `K` (tf_keras.backend) or `ops` (keras.ops)."""
    return tf_keras().backend if flavor == "keras2" else keras3().ops


#: the globals of the functions the tests' Lambdas run: `K`, the backend of the Keras under test (a closure over it
#: would not save: Keras copies a Lambda's closure, and a module does not copy)
NAMESPACE: dict[str, Any] = {}


def function_of(flavor: str, text: str) -> Any:
    """The Python function the user wrote, from the expression's text (the tests' own: weightport never evaluates
    one): `lambda x: <text>`, or the text itself where it is a lambda."""
    NAMESPACE.update(K=backend(flavor), ops=backend(flavor), tf=tensorflow())
    return eval(text if text.startswith("lambda") else f"lambda x: {text}", NAMESPACE)  # noqa: S307


def saved(tmp_path: Path, flavor: str, build: Any, name: str = "model") -> tuple[str, Any]:
    keras = tf_keras() if flavor == "keras2" else keras3()
    model = build(keras)
    randomize(model)
    path = str(tmp_path / (f"{name}.h5" if flavor == "keras2" else f"{name}.keras"))
    model.save(path)
    return path, model


def assert_module_matches(path: str, model: Any, lambdas: dict[str, str], inputs: list[np.ndarray]) -> None:
    """Both builds of the module (Keras's layout and channels-first images) against the live Keras model."""
    expected = model(inputs if len(inputs) > 1 else inputs[0])
    expected = [np.asarray(item) for item in (expected if isinstance(expected, (list, tuple)) else [expected])]
    for layout in ("keras", "torch"):
        module = converter.to_torch(path, lambdas=lambdas, input_layout=layout)
        arrays = [torch.from_numpy(np.moveaxis(array, -1, 1).copy() if layout == "torch" and array.ndim in (4, 5)
                                   else array) for array in inputs]  # channels-first images and volumes
        with torch.no_grad():
            actual = module(*arrays)
        actual = [item.numpy() for item in (actual if isinstance(actual, (list, tuple)) else [actual])]
        for keras_value, value in zip(expected, actual):
            if layout == "torch" and value.ndim in (4, 5):  # channels-first images and volumes, back to Keras's
                value = np.moveaxis(value, 1, -1)
            scale = max(1.0, float(np.abs(keras_value).max()))
            np.testing.assert_allclose(value, keras_value, atol=1e-5 * scale, rtol=0, err_msg=f"{layout}: {lambdas}")


def assert_built_and_verified(path: str, model: Any, lambdas: dict[str, str], inputs: list[np.ndarray]) -> None:
    """The module against the live Keras model (assert_module_matches), then verify, per layer, with the same
    expressions in Keras."""
    assert_module_matches(path, model, lambdas, inputs)
    report = converter.verify(path, lambdas=lambdas, per_layer=True)
    assert report.ok, report.to_text()


def pixels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (4, *IMAGE)).astype("float32")


def random_expression(rng: random.Random, flavor: str, image: bool) -> str:
    """An expression of the language, of the same shape as x, then maybe indexed or joined at the top."""
    functions = ["abs", "square", "exp", "tanh", "sigmoid", "relu", "sin", "cos", "sign"]

    def term(depth: int) -> str:
        if depth == 0 or rng.random() < 0.25:
            return rng.choice(["x", "x", f"(x // {rng.choice([0.5, 1.5])})", f"(x % {rng.choice([0.7, 2.0])})"])
        a = term(depth - 1)
        choice = rng.randrange(9)
        if choice == 0:
            return f"({a} {rng.choice(['+', '-', '*'])} {term(depth - 1)})"
        if choice == 1:
            number = rng.choice([0.5, 2.0, -1.5, 3])
            return rng.choice([f"({a} / {number})", f"({number} - {a})", f"({a} * {number})", f"-{a}"])
        if choice == 2:
            return f"K.{rng.choice(functions)}({a})"
        if choice == 3:
            return rng.choice([f"K.sqrt(K.abs({a}) + 0.5)", f"K.log(K.abs({a}) + 1.0)", f"(K.abs({a}) + 0.5) ** 1.5",
                               f"{a} ** 2"])
        if choice == 4:
            axis = rng.choice([1, -1] + ([2] if image else []))
            kind = rng.choice(["mean", "sum", "max", "min"])
            return f"({a} - K.{kind}({a}, axis={axis}, keepdims=True))"
        if choice == 5:
            low = rng.choice([-0.5, 0.0])
            return f"K.clip({a}, {low}, {low + rng.choice([0.3, 1.0])})"
        if choice == 6:
            return f"K.{rng.choice(['maximum', 'minimum'])}({a}, {rng.choice(['0.2', term(depth - 1)])})"
        if choice == 7:
            return f"K.softmax({a}, axis={rng.choice([-1, 1])})"
        if flavor == "keras2":
            return rng.choice([f"K.l2_normalize({a}, axis={rng.choice([1, -1])})", f"K.maximum({a}, K.epsilon())"])
        return f"K.expand_dims(K.squeeze(K.expand_dims({a}, 1), 1), -1)[..., 0]"

    body = term(3)
    top = rng.randrange(8)
    if top == 0:
        return rng.choice([f"({body})[:, 1:, ...]", f"({body})[:, ::2, 1]", f"({body})[..., ::-1]",
                           f"({body})[:, -2::-2, None]"])
    if top == 5:
        order = (0, 3, 1, 2) if image else (0, 2, 1)
        return f"K.{'permute_dimensions' if flavor == 'keras2' else 'transpose'}({body}, {order})"
    if top == 6:
        power = f"K.{'pow' if flavor == 'keras2' else 'power'}(K.abs({body}) + 0.5, 1.5)"
        return f"K.reshape({power}, {(-1, 30, 3) if image else (-1, 20)})"
    if top == 7:
        repeat = f"K.{'repeat_elements' if flavor == 'keras2' else 'repeat'}({body}, 2, axis={rng.choice([1, -1])})"
        return rng.choice([repeat, f"K.tile({body}, {[1, 2, 1, 3] if image else [1, 2, 3]})"])
    if top == 1:
        return f"K.concatenate([{body}, {term(1)}], axis={rng.choice([1, -1])})"
    if top == 2:
        return f"K.stack([{body}, x], axis=1)"
    if top == 3:
        return f"K.mean({body}, axis={rng.choice([1, [1, 2]])})"
    if top == 4 and rng.random() < 0.5:
        widths = [[0, 0], [rng.choice([0, 1, 2]), 1], [1, rng.choice([0, 2])]] + ([[0, 1]] if image else [])
        mode = rng.choice(["reflect", "symmetric", "constant"])
        return (f"tf.pad({body}, {widths}, '{mode.upper()}')" if flavor == "keras2" else
                f"K.pad({body}, {widths}, mode='{mode}')")
    if top == 4 and not image:  # a product of the sequence with itself: (batch, steps, steps)
        return (f"K.batch_dot({body}, x, axes=[2, 2])" if flavor == "keras2" else
                f"K.matmul({body}, K.transpose(x, (0, 2, 1)))")
    return body
