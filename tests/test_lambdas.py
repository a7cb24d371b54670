"""Lambda layers given as expressions (`lambdas=`, `--lambda NAME=EXPR`): the module computes what the Lambda's own
Python function computed in Keras, verify has Keras run the expression in the Lambda's place, and nothing of the
file's function is run; expressions outside the language are refused in one line.

Each reference is the live Keras model, whose Lambda runs the real function: the expression's text evaluated with
Keras's own backend functions (tf_keras.backend, keras.ops), here in the tests only.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import converter
from converter.errors import ArgumentError, ReadError, UnsafeFileError, UnsupportedLayerError
from helpers import keras3, run_cli, tensorflow, tf_keras, with_config
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


LAMBDAS = {"scale": "x / 127.5 - 1.0", "crop": "lambda t: t[:, 1:-1, :, :]",
           "distance": "K.sqrt(K.sum(K.square(x[0] - x[1]), axis=1, keepdims=True))",
           "both": "K.concatenate([x[0], K.maximum(x[1], 0.1)], axis=-1)"}


def preprocessing_model(flavor: str) -> Any:
    """keras.io's and Udacity's pattern: pixels scaled and cropped by Lambdas, then convolutions, and a siamese
    distance and a joined embedding by Lambdas of several inputs (each Lambda's function: its LAMBDAS text)."""
    def build(keras: Any) -> Any:
        def lam(name: str) -> Any:
            return keras.layers.Lambda(function_of(flavor, LAMBDAS[name]), name=name)

        image = keras.Input(IMAGE)
        x = keras.layers.Conv2D(4, 3, activation="relu")(lam("crop")(lam("scale")(image)))
        features = keras.layers.Flatten()(x)
        a, b = keras.layers.Dense(5)(features), keras.layers.Dense(5)(features)
        return keras.Model(image, [lam("distance")([a, b]), lam("both")([a, b])])
    return build


def pixels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (4, *IMAGE)).astype("float32")


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_lambdas_build_what_their_functions_compute(tmp_path, flavor):
    path, model = saved(tmp_path, flavor, preprocessing_model(flavor))
    assert_module_matches(path, model, LAMBDAS, [pixels()])


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_verify_runs_the_expressions_in_keras(tmp_path, flavor):
    path, _ = saved(tmp_path, flavor, preprocessing_model(flavor))
    report = converter.verify(path, lambdas=LAMBDAS, per_layer=True)
    assert report.ok, report.to_text()
    assert {"scale", "crop", "distance", "both"} <= {layer.name for layer in report.layers}
    assert any("expressions given in place of the functions" in note for note in report.notes)
    # an expression that computes otherwise than the module is caught: Keras and torch run the same text
    wrong = converter.verify(path, lambdas={**LAMBDAS, "scale": "x / 255.0 - 0.5"}, per_layer=True)
    assert wrong.ok  # both sides run the expression given: verify checks the conversion given it, said in a note


def test_verify_of_a_keras3_h5_with_lambdas(tmp_path):
    """Keras 3's own .h5 holds a legacy config (no module names), which its model_from_json cannot place: verify
    builds it as Keras 3's .h5 loader does (a real one: a conditional VAE's encoder, Keras 3.12)."""
    keras = keras3()
    model = preprocessing_model("keras3")(keras)
    randomize(model)
    path = str(tmp_path / "model.h5")
    model.save(path)
    report = converter.verify(path, lambdas=LAMBDAS, per_layer=True)
    assert report.ok, report.to_text()
    assert {"scale", "crop", "distance", "both"} <= {layer.name for layer in report.layers}


def test_without_an_expression_a_lambda_is_refused_by_name(tmp_path):
    path, _ = saved(tmp_path, "keras2", preprocessing_model("keras2"))
    assert "Lambda layers: scale, crop, distance, both: their functions are code" in converter.inspect(path).to_text()
    with pytest.raises(UnsupportedLayerError, match=r"crop \(Lambda\).*--lambda crop="):
        converter.to_torch(path, lambdas={key: value for key, value in LAMBDAS.items() if key != "crop"})
    with pytest.raises(UnsafeFileError, match=r"Lambda layer .*--lambda scale="):
        converter.verify(path)


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_a_lambda_drops_its_inputs_mask(tmp_path, flavor):
    """A Lambda without mask= computes no mask: the LSTM after it runs over the padded steps, in Keras and here."""
    def build(keras: Any) -> Any:
        ids = keras.Input((6,), dtype="int32")
        x = keras.layers.Embedding(20, 4, mask_zero=True)(ids)
        x = keras.layers.Lambda(function_of(flavor, "x * 2.0"), name="double")(x)
        return keras.Model(ids, keras.layers.LSTM(3)(x))

    path, model = saved(tmp_path, flavor, build)
    tokens = np.random.default_rng(0).integers(1, 20, (5, 6)).astype("int32")
    tokens[:, 4:] = 0
    assert_module_matches(path, model, {"double": "x * 2.0"}, [tokens])


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_a_lambdas_own_arguments_are_names(tmp_path, flavor):
    """Lambda(f, arguments={"scale": 2.5}) calls f(x, scale=2.5): the expression reads `scale`."""
    def build(keras: Any) -> Any:
        x = keras.Input(SEQUENCE)
        y = keras.layers.Lambda(function_of(flavor, "lambda t, scale, shift: t * scale - shift"), name="affine",
                                arguments={"scale": 2.5, "shift": 0.25})(x)
        return keras.Model(x, keras.layers.Dense(2)(y))

    path, model = saved(tmp_path, flavor, build)
    inputs = np.random.default_rng(3).normal(size=(4, *SEQUENCE)).astype("float32")
    assert_module_matches(path, model, {"affine": "x * scale - shift"}, [inputs])
    assert converter.verify(path, lambdas={"affine": "x * scale - shift"}).ok


@pytest.mark.parametrize("flavor, text", [
    ("keras2", "tf.compat.v1.image.resize_images(x, (9, 4))"),  # TensorFlow 1's mapping: 2017's Udacity models
    ("keras2", "tf.compat.v1.image.resize_images(x, (9, 4), align_corners=True)"),
    ("keras2", "tf.image.resize(x[:, 1:, :, :], (3, 8))"),
    ("keras3", "ops.image.resize(x, (9, 4)) / 255.0"),
])
def test_lambdas_resize_images(tmp_path, flavor, text):
    def build(keras: Any) -> Any:
        image = keras.Input(IMAGE)
        resized = keras.layers.Lambda(function_of(flavor, text), name="resize")(image)
        return keras.Model(image, keras.layers.Conv2D(2, 3)(resized))

    path, model = saved(tmp_path, flavor, build)
    assert_module_matches(path, model, {"resize": text}, [pixels()])
    report = converter.verify(path, lambdas={"resize": text}, per_layer=True)
    assert report.ok, report.to_text()


@pytest.mark.parametrize("flavor, text", [
    ("keras2", "tf.nn.depth_to_space(x, 2)"),  # the sub-pixel upsampling of super-resolution models
    ("keras2", "tf.nn.space_to_depth(x, 2)"),
    ("keras2", "tf.pad(x, [[0, 0], [2, 1], [1, 1], [0, 0]], 'REFLECT')"),  # style transfer's reflection padding
    ("keras2", "tf.pad(x, [[0, 0], [1, 1], [0, 2], [0, 0]], mode='SYMMETRIC')"),
    ("keras2", "tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 3]], constant_values=0.5)"),
    ("keras2", "K.resize_images(x, 2, 3, 'channels_last')"),
    ("keras2", "K.resize_images(x, 2, 1, data_format='channels_first')"),
    ("keras3", "tf.nn.depth_to_space(x, 2) * 2.0"),
    ("keras3", "tf.nn.space_to_depth(x, 2)"),
    ("keras3", "ops.pad(x, ((0, 0), (2, 1), (1, 1), (0, 0)), mode='reflect')"),
    ("keras3", "ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 3]], constant_values=-1.0)"),
])
def test_lambdas_move_pixels(tmp_path, flavor, text):
    """Images rearranged by a Lambda between convolutions: each as the function it names computed it in Keras."""
    def build(keras: Any) -> Any:
        image = keras.Input((6, 4, 3))
        features = keras.layers.Conv2D(8, 1)(image)
        moved = keras.layers.Lambda(function_of(flavor, text), name="move")(features)
        return keras.Model(image, [moved, keras.layers.Conv2D(2, 1)(moved)])

    path, model = saved(tmp_path, flavor, build)
    assert_module_matches(path, model, {"move": text}, [np.random.default_rng(4).normal(size=(3, 6, 4, 3))
                                                        .astype("float32")])
    report = converter.verify(path, lambdas={"move": text}, per_layer=True)
    assert report.ok, report.to_text()


@pytest.mark.parametrize("flavor, text, given", [
    ("keras2", "K.softmax(tf.matmul(x[0], x[1], transpose_b=True) / 2.0)", None),  # attention written as Lambdas
    ("keras2", "tf.matmul(x[0], x[1], transpose_a=True)", None),
    ("keras3", "ops.matmul(x[0], ops.transpose(x[1], (0, 2, 1)))", None),
    ("keras3", "tf.matmul(x[1], x[0], transpose_a=True, transpose_b=False) - 1.0", None),
    ("keras2", "K.batch_dot(x[0], x[1], axes=[2, 2])", None),  # tf.keras's K.batch_dot, every rank it takes here
    ("keras2", "K.batch_dot(x[0], x[1], axes=(1, 1))", None),
    ("keras2", "K.batch_dot(x[0], K.permute_dimensions(x[1], (0, 2, 1)))", None),
    ("keras2", "K.batch_dot(K.mean(x[0], axis=1), K.mean(x[1], axis=1), axes=1)", None),
    ("keras2", "K.batch_dot(K.mean(x[0], axis=1), x[1], axes=[1, 2])", None),
    ("keras2", "K.batch_dot(x[0], K.mean(x[1], axis=2), axes=[-2, 1])", None),
    ("keras2", "K.batch_dot(K.expand_dims(x[0], 1), x[1], axes=(3, 2))", None),
    ("keras2", "K.batch_dot(K.expand_dims(x[0], 2), K.expand_dims(x[1], 1), axes=[1, 2])", None),
    # Keras 3 has no batch_dot: the same product written as the user's Keras 3 function computed it
    ("keras3", "ops.matmul(x[0], ops.transpose(x[1], (0, 2, 1)))", "K.batch_dot(x[0], x[1], axes=[2, 2])"),
])
def test_lambdas_multiply_matrices(tmp_path, flavor, text, given):
    def build(keras: Any) -> Any:
        sequence = keras.Input(SEQUENCE)
        queries, keys = keras.layers.Dense(3)(sequence), keras.layers.Dense(3)(sequence)
        scores = keras.layers.Lambda(function_of(flavor, text), name="scores")([queries, keys])
        return keras.Model(sequence, [scores, keras.layers.Dense(2)(scores)])

    path, model = saved(tmp_path, flavor, build)
    given = given or text
    assert_module_matches(path, model, {"scores": given}, [np.random.default_rng(5).normal(size=(3, *SEQUENCE))
                                                           .astype("float32")])
    report = converter.verify(path, lambdas={"scores": given}, per_layer=True)
    assert report.ok, report.to_text()


@pytest.mark.parametrize("flavor, text", [
    ("keras2", "K.softplus(x) - K.softsign(x) + tf.math.log1p(K.abs(x)) * tf.math.expm1(x * 0.1)"),
    ("keras2", "K.round(x * 2.0) + tf.floor(x) - tf.math.ceil(x * 3.0)"),
    ("keras2", "K.std(x, axis=1, keepdims=True) + K.var(x, axis=-1, keepdims=True)"),
    ("keras2", "K.prod(x, axis=1) - tf.reduce_logsumexp(x, axis=1)"),
    ("keras2", "tf.reduce_logsumexp(x, axis=[1, 2], keepdims=True) + tf.math.reduce_std(x) * 0.0 + x"),
    ("keras2", "K.batch_flatten(x[:, 1:, :])"),
    ("keras3", "ops.softplus(x) * ops.round(x) + ops.softsign(ops.expm1(x))"),
    ("keras3", "ops.std(x, axis=1) - ops.logsumexp(x, axis=1) + ops.var(x, axis=1)"),
    ("keras3", "ops.prod(x, axis=-1, keepdims=True) * ops.log1p(ops.abs(x))"),
])
def test_lambdas_of_more_functions(tmp_path, flavor, text):
    """Activations, roundings and reductions K. and keras.ops give, each against the live Keras model."""
    def build(keras: Any) -> Any:
        x = keras.Input(SEQUENCE)
        y = keras.layers.Lambda(function_of(flavor, text), name="more")(x)
        if "batch_flatten" in text:  # tf.keras gives it no static size: no Dense after it
            return keras.Model(x, y)
        return keras.Model(x, [y, keras.layers.Dense(2)(keras.layers.Flatten()(y))])

    path, model = saved(tmp_path, flavor, build)
    inputs = np.random.default_rng(8).normal(0, 1.5, (4, *SEQUENCE)).astype("float32")
    assert_module_matches(path, model, {"more": text}, [inputs])
    report = converter.verify(path, lambdas={"more": text}, per_layer=True)
    assert report.ok, report.to_text()


@pytest.mark.parametrize("flavor, text, ids", [
    ("keras2", "K.one_hot(x, 7)", True),  # ids out of range (negative, 7 and more) give rows of zeros
    ("keras2", "K.cast(x, 'float32') / 4.0 - 1.0", True),
    ("keras2", "tf.one_hot(tf.cast(x, tf.int64), depth=7)", True),
    ("keras2", "K.one_hot(K.argmax(x, axis=-1), 5)", False),
    ("keras2", "K.cast(K.argmin(x, axis=1), K.floatx()) * 0.5", False),
    ("keras3", "ops.one_hot(x, 7)", True),
    ("keras3", "ops.cast(ops.argmax(x, axis=1), 'float32') * 0.5 + x[:, 0, :]", False),
    ("keras3", "ops.one_hot(ops.argmin(x, axis=-1), 5)", False),
])
def test_lambdas_of_ids(tmp_path, flavor, text, ids):
    """Ids one-hot encoded, indices of the largest entries, casts: the functions of integer tensors."""
    def build(keras: Any) -> Any:
        x = keras.Input((5,), dtype="int32") if ids else keras.Input(SEQUENCE)
        y = keras.layers.Lambda(function_of(flavor, text), name="ids")(x)
        return keras.Model(x, [y, keras.layers.Dense(2)(y)])

    path, model = saved(tmp_path, flavor, build)
    rng = np.random.default_rng(6)
    inputs = rng.integers(-2, 9, (4, 5)).astype("int32") if ids else rng.normal(size=(4, *SEQUENCE)).astype("float32")
    assert_module_matches(path, model, {"ids": text}, [inputs])
    report = converter.verify(path, lambdas={"ids": text}, per_layer=True)
    assert report.ok, report.to_text()


@pytest.mark.parametrize("flavor, text", [
    ("keras2", "tf.compat.v1.image.resize_images(x, (4, 3))"),  # each video frame resized, as C3D models did
    ("keras2", "K.mean(x, axis=[1, 2], keepdims=True) * 2.0"),
    ("keras3", "ops.image.resize(x, (4, 3))"),
    ("keras3", "lambda frame: frame[:, 1:, ::-1, :] - 0.5"),
])
def test_time_distributed_lambdas(tmp_path, flavor, text):
    """TimeDistributed(Lambda): the expression, given by the Lambda's own name or its wrapper's, on every frame."""
    def build(keras: Any) -> Any:
        video = keras.Input((3, 6, 5, 2))
        frames = keras.layers.TimeDistributed(keras.layers.Lambda(function_of(flavor, text), name="per_frame"),
                                              name="frames")(video)
        return keras.Model(video, [frames, keras.layers.TimeDistributed(keras.layers.Conv2D(2, 1))(frames)])

    path, model = saved(tmp_path, flavor, build)
    assert "Lambda layers: frames: their functions are code" in converter.inspect(path).to_text()
    with pytest.raises(UnsupportedLayerError, match="--lambda frames="):
        converter.to_torch(path)
    inputs = np.random.default_rng(7).normal(size=(2, 3, 6, 5, 2)).astype("float32")
    for name in ("per_frame", "frames"):
        assert_module_matches(path, model, {name: text}, [inputs])
        report = converter.verify(path, lambdas={name: text}, per_layer=True)
        assert report.ok, report.to_text()


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


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_random_expressions_build_what_keras_computes(tmp_path, flavor):
    """Random expressions of the language, each a Lambda between the input and a layer with weights, against the
    live Keras model running them as Python functions with Keras's own backend functions."""
    rng = random.Random(20261205)
    for index in range(12):
        image = index % 2 == 0
        text = random_expression(rng, flavor, image)

        def build(keras: Any) -> Any:
            x = keras.Input(IMAGE if image else SEQUENCE)
            y = keras.layers.Lambda(function_of(flavor, text), name="expression")(x)
            return keras.Model(x, [y, keras.layers.Dense(2)(keras.layers.Flatten()(y))])

        path, model = saved(tmp_path, flavor, build, name=f"random_{index}")
        inputs = np.random.default_rng(index).normal(0, 1.5, (3, *(IMAGE if image else SEQUENCE))).astype("float32")
        assert_module_matches(path, model, {"expression": text}, [inputs])


@pytest.mark.parametrize("text, message", [
    ("x.T", "not allowed here"),
    ("__import__('os').system('true')", "is not a function"),
    ("eval('1')", "is not a function this language has"),
    ("os.system('true')", "is not a function this language has"),
    ("[t for t in x]", "is not allowed in a Lambda expression"),
    ("x + 'a'", "expected a tensor or a number, found 'a'"),
    ("x + 'a long sentence, not a word'", "only numbers"),
    ("tf.pad(x, [[0, 0], [1, 1], [0, 0]], 'wrap')", "mode is 'constant' or 'reflect' or 'symmetric'"),
    ("tf.pad(x, [[0, 0], [1, 1], [0, 0]], 'reflect', 2.0)", "constant_values go with mode 'constant' only"),
    ("tf.pad(x, [[0, 0], [1, -1], [0, 0]])", "a \\(before, after\\) pair of sizes per axis"),
    ("K.mean(x, axis='1')", "mean's axis is not a string"),
    ("tf.nn.depth_to_space(x, 1)", "block_size is an int of 2 or more"),
    ("tf.matmul(x, 2.0)", "matmul's second argument is a tensor"),
    ("K.resize_images(x, 2, 2, 'channels_last', 'bilinear')", "computes differently by Keras version"),
    ("K.resize_images(x, 0.5, 2, 'channels_last')", "height_factor is an int of 1 or more"),
    ("y * 2", "unknown name 'y'"),
    ("K.concatenate([x, x])", "give concatenate's axis"),
    ("K.mean(x, 1, True)", "pass keepdims by name"),
    ("x[::0]", "step is not 0"),
    ("K.reshape(x, 5)", "list of ints"),
    ("K.dot(x, x)", "is not a function this language has"),
    ("x + K.random_normal(K.shape(x))", "draws noise at every call.*its mean, x\\[0\\]"),
    ("tf.random.uniform((2, 3))", "draws noise at every call"),
    ("K.argmax(x)", "give argmax's axis"),
    ("K.cast(x, 'int128')", "cast's dtype is 'float16' or"),
    ("K.cast(x, tf.complex64)", "is not allowed here \\(a dtype is"),
    ("x.dtype", "is not allowed here \\(a dtype is"),
    ("K.one_hot(x, 0)", "num_classes is an int of 1 or more"),
    ("K.batch_dot(x, 2.0)", "batch_dot's second argument is a tensor"),
    ("tf.image.resize(x, (0, 3))", "constant \\(height, width\\)"),
    ("x +", "is not a Python expression"),
    ("lambda a, b: a", "exactly one parameter"),
    ("K.clip(x, 1.0, 0.0)", "low bound is above"),
    ("2 ** 1000", "write the number itself"),
    ("1.0 / 0", "division by zero"),
    ("3", "does not give a tensor"),
])
def test_expressions_outside_the_language_are_refused_in_one_line(tmp_path, text, message):
    def build(keras: Any) -> Any:
        x = keras.Input(SEQUENCE)
        return keras.Model(x, keras.layers.Lambda(function_of("keras2", "x * 1.0"), name="lam")(x))

    path, _ = saved(tmp_path, "keras2", build)
    with pytest.raises(ArgumentError, match=message) as raised:
        converter.to_torch(path, lambdas={"lam": text})
    assert "\n" not in str(raised.value) and "lam" in str(raised.value)


@pytest.mark.parametrize("text, message", [
    ("K.batch_dot(x, x, axes=0)", r"batch_dot of tensors of rank 3 and 3"),
    ("K.batch_dot(x, x, axes=[1, 3])", r"batch_dot of tensors of rank 3 and 3"),
    ("K.batch_dot(K.expand_dims(K.expand_dims(x, 1), 1), x, axes=[4, 2])", r"batch_dot of tensors of rank 5 and 3"),
    ("K.argmax(x, axis=1) * 2", "arithmetic on an integer tensor"),  # promoted otherwise by tf.keras and Keras 3
])
def test_expressions_the_module_cannot_compute_are_refused_by_name(tmp_path, text, message):
    """The batch axis contracted, an axis out of range, a rank over 4, integer arithmetic: refused naming the
    layer."""
    def build(keras: Any) -> Any:
        x = keras.Input(SEQUENCE)
        return keras.Model(x, keras.layers.Lambda(function_of("keras2", "x * 1.0"), name="lam")(x))

    path, _ = saved(tmp_path, "keras2", build)
    with pytest.raises(UnsupportedLayerError, match=r"lam \(Lambda\): " + message):
        converter.to_torch(path, lambdas={"lam": text})


def test_a_rank_4_batch_dot_of_keras_before_2_3_is_refused(tmp_path):
    """Keras before 2.3 padded and squeezed products of rank-4 tensors otherwise: refused where the file says it."""
    import h5py

    path, _ = saved(tmp_path, "keras2", lambda keras: keras.Sequential(
        [keras.Input(SEQUENCE), keras.layers.Lambda(function_of("keras2", "x * 1.0"), name="lam")]))
    text = "K.batch_dot(K.expand_dims(x, 1), x, axes=(3, 2))"
    assert converter.to_torch(path, lambdas={"lam": text}) is not None
    with h5py.File(path, "r+") as handle:
        handle.attrs["keras_version"] = "2.2.4"
    with pytest.raises(UnsupportedLayerError, match="rank 4 as Keras before 2.3"):
        converter.to_torch(path, lambdas={"lam": text})


def test_each_function_is_computed_by_each_side():
    """Every function of the language has its PyTorch code, and its tf.keras and Keras 3 computations (verify's
    Keras side)."""
    from converter.keras_lambdas import keras_ops_functions, tensorflow_functions
    from converter.kinds.lambda_layer import FUNCTIONS as TORCH
    from converter.lambda_functions import FUNCTIONS

    names = set(FUNCTIONS) - {"epsilon", "floatx"}  # constants, given by the walk itself
    assert set(TORCH) == names
    assert set(tensorflow_functions(tensorflow())) == names
    assert set(keras_ops_functions(keras3().ops)) == names


def test_a_name_that_is_no_lambda_is_an_error(tmp_path):
    path, _ = saved(tmp_path, "keras2", preprocessing_model("keras2"))
    with pytest.raises(ArgumentError, match=r"no Lambda layer of that name \(its Lambda layers: scale, crop"):
        converter.to_torch(path, lambdas={**LAMBDAS, "dense": "x"})


def test_lambdas_of_one_name_in_two_nested_models_are_refused(tmp_path):
    """verify's Keras side finds a Lambda by its name: two of one name (in two nested models) are refused."""
    def build(keras: Any) -> Any:
        def inner(name: str) -> Any:
            x = keras.Input(SEQUENCE)
            return keras.Model(x, keras.layers.Lambda(function_of("keras3", "x * 2.0"), name="scale")(x), name=name)

        x = keras.Input(SEQUENCE)
        return keras.Model(x, [inner("first")(x), inner("second")(x)])

    path, _ = saved(tmp_path, "keras3", build)
    with pytest.raises(ArgumentError, match=r"several Lambda layers are named 'scale' \(first.scale, second.scale\)"):
        converter.to_torch(path, lambdas={"first.scale": "x * 2.0", "second.scale": "x * 2.0"})


def test_a_config_naming_the_replacement_class_is_refused(tmp_path):
    """A crafted archive whose config already names the class verify puts in a Lambda's place."""
    path, _ = saved(tmp_path, "keras3", preprocessing_model("keras3"))

    def crafted(config: dict) -> dict:
        config["config"]["layers"][1]["registered_name"] = "WeightportLambda"
        return config

    copy = with_config(path, tmp_path / "crafted.keras", crafted)
    with pytest.raises(ReadError, match="crafted file"):
        converter.verify(str(copy), lambdas=LAMBDAS)


def test_cli_exports_and_verifies_with_lambdas(tmp_path):
    path, model = saved(tmp_path, "keras2", preprocessing_model("keras2"))
    options = [f"--lambda={name}={text}" for name, text in LAMBDAS.items()]
    exported = run_cli("export", path, str(tmp_path / "model.py"), *options)
    assert exported.returncode == 0, exported.stderr
    verified = run_cli("verify", path, "--per-layer", *options)
    assert verified.returncode == 0 and "every layer matches" in verified.stdout, verified.stdout + verified.stderr
    refused = run_cli("export", path, str(tmp_path / "other.py"), "--lambda", "scale")
    assert refused.returncode == 2 and "expected NAME=EXPR" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "other.py").exists()
