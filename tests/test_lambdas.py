"""Lambda layers given as expressions (`lambdas=`, `--lambda NAME=EXPR`): the module computes what the Lambda's own
Python function computed in Keras, verify has Keras run the expression in the Lambda's place, and nothing of the
file's function is run; expressions outside the language are refused in one line.

Each reference is the live Keras model, whose Lambda runs the real function: the expression's text evaluated with
Keras's own backend functions (tf_keras.backend, keras.ops), here in the tests only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import converter
from converter.errors import ArgumentError, ReadError, UnsafeFileError, UnsupportedLayerError
from helpers import keras3, run_cli, with_config
from lambda_models import IMAGE, SEQUENCE, assert_module_matches, function_of, pixels, saved
from random_weights import randomize


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
    # with the names each stored function mentions, read from its bytes as text (never unmarshalled nor run)
    assert ("Lambda layers: scale, crop, distance (its code names sqrt, sum, square), both (its code names "
            "concatenate, maximum): their functions are code" in converter.inspect(path).to_text())
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
    ("ops.flip(x)", "give reverse's axis"),
    ("x > 0 > 1", "compare two things at a time"),
    ("x + (1 < 2)", "a comparison of constants"),
    ("tf.where(1.0, x, x)", "where's condition is a tensor"),
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
    ("(x > 0) * 2.0", "arithmetic on an integer tensor"),  # booleans: cast them first, as tf.keras needs
    ("tf.where(x, x, 0.0)", "where's condition is a comparison"),
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


def halved(t: Any) -> Any:
    """A function defined with def, as a VAE's `sampling`: Keras 3 stores its name, not its code."""
    return t * 0.5


@pytest.mark.parametrize("flavor", ["keras2", "keras3"])
def test_inspect_shows_what_each_lambdas_stored_function_names(tmp_path, flavor):
    """The names a stored lambda calls, read from its bytes as text (tf.keras's base64, Keras 3's), and a named
    function's name (Keras 3 stores a def function by name; tf.keras as code)."""
    keras_path, _ = saved(tmp_path, flavor, preprocessing_model(flavor))
    text = converter.inspect(keras_path).to_text()
    assert "distance (its code names sqrt, sum, square)" in text, text
    if flavor == "keras3":
        def build(keras: Any) -> Any:
            x = keras.Input(SEQUENCE)
            return keras.Model(x, keras.layers.Lambda(halved, name="half")(x))

        named, _ = saved(tmp_path, flavor, build, name="named")
        assert "Lambda layers: half (function 'halved')" in converter.inspect(named).to_text()


def test_stored_code_names_are_read_as_text():
    """Keras 2.0 and 2.1 stored the marshalled bytes themselves as text (2017's Udacity models): their names are read
    too; anything else gives no description, never an error."""
    import marshal

    from converter.lambda_code import described

    def code(t: Any) -> Any:
        return t.sqrt() + t.square()  # never run: its code's names are what is read

    raw = marshal.dumps(code.__code__).decode("raw_unicode_escape")
    assert described({"function": [raw, None, None], "function_type": "lambda"}) == "its code names sqrt, square"
    for config in ({"function": ["%%% not code"]}, {"function": 3}, {}, {"function": {"class_name": "x"}},
                   {"function": ["QUFB" * 100000]}):
        assert described(config) is None


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
