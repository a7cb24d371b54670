"""The CLI end to end: inspect, convert, --force, --skip-unsupported, --layout keras, --record."""
from __future__ import annotations

import json

import numpy as np
from safetensors.numpy import load_file

import converter
from helpers import fixture, run_cli


def test_inspect_answers_the_classic_question():
    result = run_cli("inspect", fixture("keras2/mlp.h5"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "legacy HDF5 model" in out and "2.21.0" in out
    row = next(line for line in out.splitlines() if line.startswith("dense_1 "))
    assert "kernel" in row and "(2000, 32)" in row and "dense_1.weight" in row and "(32, 2000)" in row
    assert "transpose(1,0)" in row


def test_inspect_json_lists_format_version_and_tensors():
    result = run_cli("inspect", fixture("keras3/mlp.keras"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "keras-archive"
    assert report["keras_version"].startswith("3.")
    dense = next(layer for layer in report["layers"] if layer["name"] == "dense_1")
    kernel = dense["tensors"][0]
    assert kernel["keras_shape"] == [2000, 32] and kernel["target_shape"] == [32, 2000]
    assert kernel["source"].endswith("model.weights.h5/layers/dense/vars/0")  # numbered by class, not name
    assert dense["torch_module"] == "nn.Linear"


def test_inspect_names_each_format():
    expected = {
        "keras3/mlp.keras": "Keras v3 archive", "keras2/mlp.keras": "Keras v3 archive",
        "keras3/mlp.weights.h5": "Keras 3 weights", "keras3/mlp.h5": "legacy HDF5 model",
        "keras2/mlp.h5": "legacy HDF5 model", "keras2/mlp_weights.h5": "legacy HDF5 weights",
        "keras2/mlp_keras20.h5": "legacy HDF5 model",
    }
    versions = {"keras2/mlp_keras20.h5": "2.0.8", "keras2/mlp.h5": "2.21.0", "keras2/mlp.keras": "2.21.0"}
    for name, format_name in expected.items():
        report = json.loads(run_cli("inspect", fixture(name), "--json").stdout)
        assert report["format_name"].startswith(format_name), name
        if name in versions:
            assert report["keras_version"] == versions[name]


def test_convert_writes_safetensors_with_metadata(tmp_path):
    destination = tmp_path / "mlp.safetensors"
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(destination))
    assert result.returncode == 0, result.stderr
    weights = load_file(destination)
    assert weights["dense_1.weight"].shape == (32, 2000)
    from safetensors import safe_open

    with safe_open(destination, "np") as handle:
        assert handle.metadata()["weightport_layout"] == "torch"


def test_verbose_says_what_was_done_to_each_tensor(tmp_path):
    destination = tmp_path / "mlp.safetensors"
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "-v")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("dense_1.weight  <-  ") and "(2000,32) -> (32,2000)  transpose(1,0)" in lines[0]
    assert "(32) -> (32)  none" in lines[1]
    assert run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "-v", "-q", "--force").stderr == ""


def test_convert_refuses_to_overwrite_without_force(tmp_path):
    destination = tmp_path / "mlp.npz"
    destination.write_bytes(b"keep me")
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(destination))
    assert result.returncode == 2 and "--force" in result.stderr
    assert destination.read_bytes() == b"keep me"
    assert run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "--force").returncode == 0
    assert set(np.load(destination).files) >= {"dense_1.weight", "dense_1.bias"}


def test_unsupported_layer_fails_naming_every_offender(tmp_path):
    destination = tmp_path / "custom.safetensors"
    result = run_cli("convert", fixture("keras3/custom.keras"), str(destination))
    assert result.returncode == 2
    assert "scale (Scale)" in result.stderr and "--skip-unsupported" in result.stderr
    assert not destination.exists()


def test_skip_unsupported_converts_the_rest_and_says_so(tmp_path):
    destination = tmp_path / "custom.safetensors"
    result = run_cli("convert", fixture("keras3/custom.keras"), str(destination), "--skip-unsupported")
    assert result.returncode == 0, result.stderr
    assert "skipped layer scale (Scale)" in result.stderr
    assert sorted(load_file(destination)) == ["after.bias", "after.weight", "before.bias", "before.weight"]


def test_unsupported_error_lists_all_layers_from_the_library():
    import pytest

    with pytest.raises(converter.UnsupportedLayerError) as caught:
        converter.state_dict(fixture("keras2/nested_weights.h5"))  # no architecture: classes unknown
    assert len(caught.value.layers) == 4
    assert "--architecture" in str(caught.value)


def test_keras_layout_keeps_keras_shapes_and_names(tmp_path):
    destination = tmp_path / "custom.h5"
    result = run_cli("convert", fixture("keras3/custom.keras"), str(destination), "--layout", "keras")
    assert result.returncode == 0, result.stderr
    import h5py

    with h5py.File(destination, "r") as h5:
        # Keras 3 files number variables; without a rule the role stays the file's own name.
        assert sorted(h5) == ["after.bias", "after.kernel", "before.bias", "before.kernel", "scale.vars.0"]
        assert h5["before.kernel"].shape == (4, 4) and h5.attrs["weightport_layout"] == "keras"


def test_record_lists_every_tensor(tmp_path):
    record_path = tmp_path / "record.json"
    result = run_cli("convert", fixture("keras3/nested.keras"), str(tmp_path / "n.safetensors"),
                     "--record", str(record_path))
    assert result.returncode == 0, result.stderr
    record = {entry["key"]: entry for entry in json.loads(record_path.read_text())}
    assert record["dense_a.weight"]["transform"] == "transpose(1,0)"
    assert record["dense_a.weight"]["keras_shape"] == [16, 8]
    assert "encoder.dense.bias" not in record  # use_bias=False
    assert record["block.proj.bias"]["transform"] == "none"


def test_weights_file_with_architecture_gets_real_names():
    names = set(converter.state_dict(fixture("keras3/mlp.weights.h5"), architecture=fixture("keras3/mlp.keras")))
    assert names == {"dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"}


def test_help_teaches():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "x @ W" in result.stdout and "inspect" in result.stdout and "convert" in result.stdout
    convert_help = run_cli("convert", "--help").stdout
    for option in ("--layout", "--force", "--skip-unsupported", "--architecture", ".safetensors"):
        assert option in convert_help


def test_every_commands_help_prints():
    """argparse expands % in help texts: a stray one (the Lambda language's `%` operator) crashed `export --help`
    and `verify --help` with a traceback."""
    import argparse

    from converter.cli_arguments import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    assert {"inspect", "convert", "export", "verify"} <= set(commands.choices)
    for name, command in commands.choices.items():
        assert command.format_help().startswith("usage:"), name
    result = run_cli("export", "--help")
    assert result.returncode == 0 and "--lambda" in result.stdout and "% **" in result.stdout, result.stderr


def test_weights_file_with_config_json_architecture(tmp_path):
    import zipfile

    config_path = tmp_path / "config.json"
    config_path.write_bytes(zipfile.ZipFile(fixture("keras3/mlp.keras")).read("config.json"))
    weights = converter.state_dict(fixture("keras3/mlp.weights.h5"), architecture=str(config_path))
    reference = converter.state_dict(fixture("keras3/mlp.keras"))
    assert list(weights) == list(reference)
    for key in weights:
        np.testing.assert_array_equal(weights[key], reference[key])


def test_format_is_recognised_from_content_not_suffix(tmp_path):
    import shutil

    disguised = {"mlp.keras": "archive.h5", "mlp.h5": "model.keras", "mlp.weights.h5": "weights.bin"}
    expected = {"mlp.keras": "keras-archive", "mlp.h5": "legacy-h5", "mlp.weights.h5": "keras-weights"}
    for original, name in disguised.items():
        shutil.copyfile(fixture(f"keras3/{original}"), tmp_path / name)
        report = json.loads(run_cli("inspect", str(tmp_path / name), "--json").stdout)
        assert report["format"] == expected[original], name


def test_architecture_that_does_not_match_the_weights_is_refused(tmp_path):
    import pytest

    with pytest.raises(converter.LayoutError, match="does not match"):
        converter.state_dict(fixture("keras3/mlp.weights.h5"), architecture=fixture("keras3/nested.keras"))


def test_every_unsupported_layer_is_named_in_one_error(tmp_path):
    import os

    import pytest

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    @keras.saving.register_keras_serializable(package="tests")
    class Gain(keras.layers.Layer):
        def build(self, input_shape):
            self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")

        def call(self, inputs):
            return inputs * self.gain

    model = keras.Sequential([keras.Input((3, 4)), Gain(name="gain"),
                              keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), name="mix"),
                              keras.layers.Dense(2, name="out")])
    model.quantize("int8")  # an int8 EinsumDense is read only when it is a Dense
    path = str(tmp_path / "two_unsupported.keras")
    model.save(path)
    with pytest.raises(converter.UnsupportedLayerError) as caught:
        converter.state_dict(path)
    message = str(caught.value)
    assert "gain (Gain)" in message and "mix (EinsumDense: int8-quantized with equation 'abc,cde->abde'" in message
    assert [key for key, _ in caught.value.layers] == ["gain", "mix"]
    result = run_cli("convert", path, str(tmp_path / "rest.safetensors"), "--skip-unsupported")
    assert result.returncode == 0
    assert "skipped layer gain (Gain)" in result.stderr and "skipped layer mix (EinsumDense" in result.stderr
    assert sorted(load_file(tmp_path / "rest.safetensors")) == ["out.bias", "out.weight"]


def test_verify_prints_no_tensorflow_start_up_notices():
    """TensorFlow's C++ notices (absl, oneDNN) ignore TF_CPP_MIN_LOG_LEVEL; verify keeps them off stderr."""
    result = run_cli("verify", fixture("keras3/mlp.keras"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def _warned_model(tmp_path) -> str:
    """A Keras 3 GRU with reset_after=False: its conversion warns (nn.GRU cannot compute it)."""
    import keras

    model = keras.Sequential([keras.Input((3, 2)), keras.layers.GRU(4, reset_after=False)])
    path = str(tmp_path / "gru.keras")
    model.save(path)
    return path


def test_warnings_once_on_stderr_and_quiet_silences_them(tmp_path):
    source = _warned_model(tmp_path)
    result = run_cli("convert", source, str(tmp_path / "a.safetensors"))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("weightport: warning:")]
    assert len(lines) == 1 and "reset_after=False" in lines[0]
    quiet = run_cli("convert", source, str(tmp_path / "b.safetensors"), "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_the_api_warns_with_conversion_warning(tmp_path):
    import warnings

    import converter

    source = _warned_model(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converter.convert(source, str(tmp_path / "w.safetensors"))
    assert [w for w in caught if issubclass(w.category, converter.ConversionWarning)
            and "reset_after=False" in str(w.message)]


def test_dry_run_writes_nothing(tmp_path):
    destination = tmp_path / "w.safetensors"
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "--dry-run")
    assert result.returncode == 0 and "would write 4 tensors" in result.stdout
    assert not destination.exists()


def test_a_map_rule_that_renames_nothing_is_an_error(tmp_path):
    rules = tmp_path / "map.json"
    rules.write_text('{"dense_1": "fc1", "dens_2": "fc2"}')
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "w.safetensors"), "--map", str(rules))
    assert result.returncode == 2 and "'dens_2'" in result.stderr and "'dense_1'" not in result.stderr
    allowed = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "w.safetensors"), "--map", str(rules),
                      "--allow-unused")
    assert allowed.returncode == 0, allowed.stderr


def test_a_weights_only_report_says_module_arguments_are_keras_defaults(tmp_path):
    """Weights fix shapes only: for a file without the model's config, inspect (and a --record) says the module
    arguments and options it shows are Keras's defaults; a full model's report, and a plain convert, do not."""
    weights_only = run_cli("inspect", fixture("keras2/mlp_weights.h5"))
    assert weights_only.returncode == 0, weights_only.stderr
    assert "holds weights without the model's config" in weights_only.stdout
    assert "holds weights without" not in run_cli("inspect", fixture("keras2/mlp.h5")).stdout
    plain = run_cli("convert", fixture("keras2/mlp_weights.h5"), str(tmp_path / "w.safetensors"))
    assert plain.returncode == 0 and "holds weights without" not in plain.stderr
    recorded = run_cli("convert", fixture("keras2/mlp_weights.h5"), str(tmp_path / "r.safetensors"), "--record",
                       str(tmp_path / "record.json"))
    assert recorded.returncode == 0 and "holds weights without the model's config" in recorded.stderr
