"""verify: per output and per layer, exit codes, and naming the first divergent layer."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import converter
from helpers import ROOT, fixture, run_cli
from layer_harness import randomize


def cnn(tmp_path) -> str:
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    model = keras.Model(inputs, outputs)
    randomize(model, seed=4)
    path = str(tmp_path / "cnn.keras")
    model.save(path)
    return path


def test_verify_reports_every_layer_ok(tmp_path):
    report = converter.verify(cnn(tmp_path), per_layer=True)
    assert report.ok and report.first_divergence is None
    assert [c.name for c in report.layers] == ["conv", "relu", "bn", "pool", "flat", "head"]
    assert all(c.status == "ok" for c in report.layers + report.outputs)


def _break_batch_norm_epsilon(monkeypatch) -> None:
    """The BatchNorm rule made to forget Keras's epsilon (PyTorch's default 1e-5 instead of 1e-3)."""
    rule = converter.KINDS["keras.layers.BatchNormalization"]
    original = rule.convert

    def broken(layer, context):
        result = original(layer, context)
        result.module.arguments["eps"] = 1e-5
        return result

    monkeypatch.setitem(converter.KINDS, "keras.layers.BatchNormalization", dataclasses.replace(rule, convert=broken))


def test_verify_names_the_broken_layer_first(tmp_path, monkeypatch):
    """A BatchNorm rule that forgets Keras's epsilon: the first divergence is that layer."""
    path = cnn(tmp_path)
    _break_batch_norm_epsilon(monkeypatch)
    report = converter.verify(path, per_layer=True)
    assert report.first_divergence == "bn"
    assert [c.status for c in report.layers[:2]] == ["ok", "ok"]
    assert not report.ok
    # in float64 the wrong epsilon stands out at the outputs too: rounding noise is 1e-9 times smaller
    in_float64 = converter.verify(path, precision="float64")
    assert not in_float64.ok and in_float64.outputs[0].status == "failed", in_float64.to_text()
    # a float32 failure points to --float64, which tells amplified rounding from a wrong conversion
    assert "run it again with --float64" in report.to_text()
    assert "--float64" not in in_float64.to_text() and "--float64" not in converter.verify(cnn(tmp_path)).to_text()


def test_cli_verify_exit_codes_and_table(tmp_path):
    path = cnn(tmp_path)
    result = run_cli("verify", path, "--per-layer")
    assert result.returncode == 0, result.stderr
    assert "first divergence" not in result.stdout and "every layer matches" in result.stdout
    broken = subprocess.run([sys.executable, "-c", (
        "import sys, converter\nfrom converter import cli\n"
        "import dataclasses\n"
        "rule = converter.KINDS['keras.layers.Conv2D']\n"
        "original = rule.convert\n"
        "import numpy as np\n"
        "from converter.layouts import Transform\n"
        "class Scrambled(Transform):\n"
        "    def describe(self): return 'broken'\n"
        "    def shape(self, shape): return (shape[3], shape[2], shape[0], shape[1])\n"
        "    def apply(self, array): return np.ascontiguousarray(array.transpose(3, 2, 1, 0))\n"
        "def broken(layer, context):\n"
        "    result = original(layer, context)\n"
        "    result.tensors[0].step = Scrambled()  # kh and kw swapped\n"
        "    return result\n"
        "converter.KINDS['keras.layers.Conv2D'] = dataclasses.replace(rule, convert=broken)\n"
        f"sys.exit(cli.main(['verify', {path!r}, '--per-layer']))\n")],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert broken.returncode == 1, broken.stderr
    assert "first divergence: conv" in broken.stdout


def test_verify_with_given_inputs_and_json(tmp_path):
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, tokens=np.random.default_rng(0).normal(size=(3, 3, 16)).astype("float32"))
    result = run_cli("verify", fixture("keras3/nested.keras"), "--input", str(inputs), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["samples"] == 3


def test_verify_bad_inputs_file_is_exit_2(tmp_path):
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, wrong=np.zeros((2, 3)), other=np.zeros(2))
    result = run_cli("verify", fixture("keras3/nested.keras"), "--input", str(inputs))
    assert result.returncode == 2 and "tokens" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_nested_models_build_and_match_per_layer():
    """Nested Sequential and Functional models, from Keras 3 and tf.keras files (whose configs
    number a nested model's calls from 1)."""
    for source in ("keras3/nested.keras", "keras3/nested.h5", "keras2/nested.h5", "keras2/mlp_keras20.h5"):
        report = converter.verify(fixture(source), per_layer=True, samples=3)
        assert report.ok and report.first_divergence is None, report.to_text()
        assert not report.skipped_layers


def test_a_class_name_that_is_not_a_name_is_left_to_keras_to_refuse(tmp_path):
    """Found by mutating saved configs: a dtype policy's class_name given as a list made verify's config reading
    (the cuDNN twins' lookup) raise a TypeError, exit status 70; Keras now refuses the file, exit 2."""
    import json
    import zipfile

    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="fc")])
    path = tmp_path / "model.keras"
    model.save(path)
    crafted = tmp_path / "crafted.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(crafted, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][-1]["config"]["dtype"]["class_name"] = ["DTypePolicy"]
                data = json.dumps(config).encode()
            target.writestr(item, data)
    result = run_cli("verify", str(crafted))
    assert result.returncode == 2 and "Keras cannot load this file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tolerance_scales_with_the_activations_upstream(tmp_path):
    """Activations of 1e3 early on carry float32 rounding of that size into a small output: still ok,
    and the report shows the scale each value was judged against."""
    import keras

    inputs = keras.Input((64,))
    x = keras.layers.Dense(256, name="big")(inputs)
    x = keras.layers.Dense(256, name="bigger")(x)
    x = keras.layers.LayerNormalization(name="norm")(x)
    outputs = keras.layers.Dense(4, name="small")(x)
    model = keras.Model(inputs, outputs)
    randomize(model, seed=2)
    model.get_layer("big").kernel.assign(model.get_layer("big").kernel * 40.0)
    model.get_layer("bigger").kernel.assign(model.get_layer("bigger").kernel * 10.0)
    path = str(tmp_path / "deep.keras")
    model.save(path)
    report = converter.verify(path, per_layer=True)
    scales = {row.name: row.scale for row in report.layers}
    assert scales["bigger"] > 1e3 and scales["small"] >= scales["bigger"]
    assert report.outputs[0].scale == scales["small"]
    assert report.ok, report.to_text()


def test_verify_runs_channels_first_and_dilated_transposed_convolutions(tmp_path):
    """TensorFlow without oneDNN (its default on AVX2-only CPUs, an AMD EPYC here) has no CPU kernel for
    these two: verify turns oneDNN on unless the user set TF_ENABLE_ONEDNN_OPTS, so the Keras side runs."""
    import keras

    inputs = keras.Input((3, 8, 8))
    x = keras.layers.Conv2D(4, 3, data_format="channels_first", name="conv")(inputs)
    x = keras.layers.Permute((2, 3, 1), name="to_last")(x)
    outputs = keras.layers.Conv2DTranspose(2, 3, dilation_rate=2, name="up")(x)
    model = keras.Model(inputs, outputs)
    randomize(model, seed=5)
    path = str(tmp_path / "cf.keras")
    model.save(path)
    environment = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "verify", path, "--per-layer"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every layer matches" in result.stdout


@pytest.mark.parametrize("version, name", [("2.13", "nested"), ("2.14", "func"), ("2.14", "mixed")])
def test_verify_of_a_tf_keras_2_13_or_2_14_archive(version, name):
    """No Keras installed loads tf.keras 2.13 and 2.14 `.keras` files (weights under `_layer_checkpoint_dependencies`):
    Keras builds the config and is given the weights weightport read, per layer, and the report says so (it
    stopped with "Keras cannot load this file" before). A transform left out would differ: one rule broken here
    fails it."""
    result = run_cli("verify", fixture(f"tf{version}/{name}.keras"), "--per-layer")
    assert result.returncode == 0, result.stderr
    assert "every layer matches" in result.stdout and "_layer_checkpoint_dependencies" in result.stdout


def test_verify_of_a_tf_keras_2_14_archive_catches_a_wrong_transform(monkeypatch):
    """The same verify with kernels permuted as reshapes (no transpose): verify reports a mismatch, as Keras holds
    the weights as read and the module what the rules made of them."""
    report = converter.verify(fixture("tf2.14/func.keras"), samples=3)
    assert report.ok and any("_layer_checkpoint_dependencies" in note for note in report.notes), report.to_text()
    monkeypatch.setattr(converter.layouts.Permutation, "apply", lambda self, array: array.reshape(
        tuple(array.shape[i] for i in self.axes)))
    monkeypatch.setattr(converter.layouts.Permutation, "apply_bytes", lambda self, data, shape, itemsize: data)
    assert not converter.verify(fixture("tf2.14/func.keras"), samples=3).ok


def _custom_loss(y_true, y_pred):
    return ((y_true - y_pred) ** 2).sum()


def test_verify_runs_a_model_compiled_with_a_custom_loss_and_refuses_one_inside(tmp_path):
    """A `.keras` model compiled with the user's own loss names it in its top-level compile_config (module
    builtins: a real Keras 3.10 file of a public repository), which Keras drops when loading with compile=False,
    as verify does: verified. A nested model's compile_config is compiled even so: still refused."""
    import zipfile

    import keras
    from layer_harness import randomize

    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(4, activation="relu")(inputs)))
    randomize(model, seed=4)
    model.compile(optimizer="adam", loss=_custom_loss)
    model.save(str(tmp_path / "custom_loss.keras"))
    with zipfile.ZipFile(tmp_path / "custom_loss.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    assert config["compile_config"]["loss"]["module"] not in ("keras", "keras.losses")
    result = run_cli("verify", str(tmp_path / "custom_loss.keras"), "--samples", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result: ok" in result.stdout

    inner = keras.Model(inputs, keras.layers.Dense(3, name="inner_dense")(inputs), name="inner")
    outer = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    randomize(outer, seed=5)
    outer.save(str(tmp_path / "nested.keras"))
    with zipfile.ZipFile(tmp_path / "nested.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    entry = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Functional")
    entry["compile_config"] = {"loss": {"module": "antigravity", "class_name": "function", "config": "geohash",
                                        "registered_name": "geohash"}}
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "nested_loss.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    refused = run_cli("verify", str(tmp_path / "nested_loss.keras"))
    assert refused.returncode == 2 and "antigravity" in refused.stderr, refused.stderr


def test_verify_a_weights_only_file_against_the_architecture_given(tmp_path, monkeypatch):
    """A weights-only file (tf.keras save_weights .h5, Keras 3 .weights.h5) verifies with --architecture: Keras
    builds that model and loads the weights itself. Without it, the error says to give it; an architecture
    carrying code is refused before Keras is imported."""
    import keras
    import tf_keras
    from layer_harness import randomize

    legacy = tf_keras.Sequential([tf_keras.Input((6, 6, 3)), tf_keras.layers.Conv2D(4, 3),
                                  tf_keras.layers.BatchNormalization(name="bn"), tf_keras.layers.Flatten(),
                                  tf_keras.layers.Dense(3)])
    randomize(legacy, seed=7)
    legacy.save_weights(str(tmp_path / "w.h5"))
    (tmp_path / "arch.json").write_text(legacy.to_json())
    inputs = keras.Input((5,))
    modern = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(4, activation="relu")(inputs)))
    randomize(modern, seed=8)
    modern.compile(optimizer="adam", loss=_custom_loss)  # its compile_config names a loss Keras would not find
    modern.save_weights(str(tmp_path / "m.weights.h5"))
    modern.save(str(tmp_path / "m.keras"))
    for weights, architecture in (("w.h5", "arch.json"), ("m.weights.h5", "m.keras")):
        result = run_cli("verify", str(tmp_path / weights), "--architecture", str(tmp_path / architecture),
                         "--samples", "2")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "result: ok" in result.stdout
    refused = run_cli("verify", str(tmp_path / "w.h5"))
    assert refused.returncode == 2 and "--architecture" in refused.stderr, refused.stderr
    _break_batch_norm_epsilon(monkeypatch)
    report = converter.verify(str(tmp_path / "w.h5"), architecture=str(tmp_path / "arch.json"), per_layer=True)
    assert not report.ok and report.first_divergence == "bn", report.to_text()
    monkeypatch.undo()
    config = json.loads(legacy.to_json())
    config["config"]["layers"].append({"class_name": "Lambda", "config": {"name": "payload", "function": ["00", None,
                                                                                                          None]}})
    (tmp_path / "code.json").write_text(json.dumps(config))
    unsafe = run_cli("verify", str(tmp_path / "w.h5"), "--architecture", str(tmp_path / "code.json"))
    assert unsafe.returncode == 2 and "Lambda" in unsafe.stderr, unsafe.stderr


def test_a_normalization_of_nearly_constant_rows_is_explained(tmp_path):
    """A LayerNormalization divides by its rows' spread: rows nearly constant along its axis (a bottleneck whose
    ReLUs all died, in a public repository's float16 Transformer) multiply its input's rounding by up to
    1/sqrt(epsilon). When that explains its difference, the report says so; not when it does not."""
    import keras

    from converter.precision import amplification_note
    from converter.verification import Comparison

    inputs = keras.Input((5, 4))
    hidden = keras.layers.Dense(4, name="hidden")(inputs)
    normed = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(normed))
    path = str(tmp_path / "model.keras")
    model.save(path)
    constant = np.full((2, 5, 4), 0.25)  # Keras's input to the norm: every row constant, spread sqrt(1e-6)

    def note(rows: np.ndarray, norm_difference: float, hidden_difference: float = 0.004) -> str | None:
        layers = [Comparison("hidden", "Dense", hidden_difference, 0.0, "ok", 1.0),
                  Comparison("norm", "LayerNormalization", norm_difference, 0.0, "inaccurate", 1.0)]
        with converter.read(path) as graph:
            return amplification_note(graph, model, {"hidden": rows}, layers)

    explained = note(constant, 1.0)
    assert explained and "norm (LayerNormalization)" in explained and "1e+03-fold" in explained, explained
    assert note(constant, 50.0) is None  # more than 2 x 1000 x 0.004: not rounding alone
    assert note(np.random.default_rng(0).normal(size=(2, 5, 4)), 1.0) is None  # rows with spread: gain ~1
    assert note(constant, 1.0, hidden_difference=0.0) is None


def test_sharded_keras_weights_verify_with_their_architecture(tmp_path):
    """Keras 3's sharded weights (`save_weights(..., max_shard_size=)`, as large KerasHub presets are kept), given
    alone with --architecture (a config JSON, or a Keras model folder) or in a Keras model folder beside
    config.json: Keras loads the shards itself."""
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu", name="a"),
                              keras.layers.Dense(256, activation="tanh", name="b"), keras.layers.Dense(8, name="c")])
    randomize(model, seed=4)
    (tmp_path / "folder").mkdir()
    model.save_weights(str(tmp_path / "sharded.weights.json"), max_shard_size=0.0003)  # GB: one layer a shard
    model.save_weights(str(tmp_path / "folder" / "model.weights.json"), max_shard_size=0.0003)
    (tmp_path / "folder" / "config.json").write_text(model.to_json())
    assert len(list(tmp_path.glob("sharded_*.weights.h5"))) >= 2
    for source, architecture in [("sharded.weights.json", "folder/config.json"), ("sharded.weights.json", "folder"),
                                 ("folder", None)]:
        report = converter.verify(str(tmp_path / source), per_layer=True,
                                  architecture=architecture and str(tmp_path / architecture))
        assert report.ok and [layer.name for layer in report.layers] == ["a", "b", "c"], source
