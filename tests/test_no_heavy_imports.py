"""Converting a file imports none of tensorflow, keras or torch."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, fixture

SCRIPT = """
import sys
sys.argv = ["weightport", "convert", {source!r}, {destination!r}]
from converter import cli
assert cli.main() == 0
heavy = sorted({{name.split('.')[0] for name in sys.modules}} & {{"tensorflow", "keras", "tf_keras", "torch"}})
print("HEAVY", heavy)
"""


@pytest.mark.parametrize("source", ["keras3/mlp.keras", "keras2/mlp.h5", "keras3/mlp.weights.h5"])
@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".h5"])
def test_convert_imports_no_framework(tmp_path, source, suffix):
    destination = str(tmp_path / f"out{suffix}")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(source=fixture(source), destination=destination)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_import_converter_imports_no_framework():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, converter; print(sorted(m for m in sys.modules "
         "if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'torch')))"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize("enabled", [True, False])
def test_import_converter_leaves_the_garbage_collector_as_it_found_it(enabled):
    """The imports pause collections (start-up time); a user's setting is restored, whichever it was."""
    code = f"import gc; {'' if enabled else 'gc.disable(); '}import converter; print(gc.isenabled())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == str(enabled), result.stderr


def test_converting_a_tensorflow_checkpoint_imports_no_framework(tmp_path):
    import tf_keras

    model = tf_keras.models.load_model(fixture("keras2/mlp.h5"), compile=False)
    model.save(str(tmp_path / "saved"), save_format="tf")
    destination = str(tmp_path / "out.safetensors")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(source=str(tmp_path / "saved"), destination=destination)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


@pytest.mark.parametrize("source", ["keras3/mlp.keras", "keras3/mlp.weights.h5"])
def test_keras3_weights_are_read_without_h5py(tmp_path, source):
    """The HDF5 Keras 3 writes is read by hdf5_tree: h5py (tens of ms to import) is left for other files."""
    script = SCRIPT.replace('"torch"}}', '"torch", "h5py"}}')
    result = subprocess.run(
        [sys.executable, "-c", script.format(source=fixture(source), destination=str(tmp_path / "out.safetensors"))],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


UNUSED_HERE = ("converter.readers.tf_checkpoint", "converter.readers.tf_bundle", "converter.lambda_expressions",
               "converter.lambda_code", "converter.regroupings")


@pytest.mark.parametrize("source", ["keras3/mlp.keras", "keras2/mlp.h5"])
def test_converting_imports_no_reader_or_transform_the_model_does_not_use(tmp_path, source):
    """Start-up is most of a small conversion: a model of Dense layers imports neither the TensorFlow
    checkpoint readers, nor the Lambda expressions, nor the regroupings (Flatten's row order, depthwise kernels,
    gate orders), each a few ms of every start-up; converting a checkpoint imports its readers
    (test_converting_a_tensorflow_checkpoint_imports_no_framework)."""
    code = ("import sys; from converter import cli\n"
            "code = cli.main(['convert', sys.argv[1], sys.argv[2], '--quiet'])\n"
            f"print(code, sorted(name for name in sys.modules if name in {UNUSED_HERE!r}))")
    result = subprocess.run([sys.executable, "-c", code, fixture(source), str(tmp_path / "out.safetensors")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.split()[-2:] == ["0", "[]"], result.stdout + result.stderr


@pytest.mark.parametrize("source", ["keras3/mlp.keras", "keras3/dtypes.keras", "keras3/mlp.weights.h5"])
def test_import_and_inspect_import_no_numpy(source):
    """numpy (most of start-up) is imported on first use (converter/lazy_numpy.py): `import converter` and
    `inspect` of a file read without h5py (which imports numpy itself) never use it; converting does."""
    code = ("import sys, io, contextlib; from converter import cli; assert 'numpy' not in sys.modules\n"
            "with contextlib.redirect_stdout(io.StringIO()): code = cli.main(['inspect', sys.argv[1]])\n"
            "print(code, 'numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, fixture(source)], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.stdout.split() == ["0", "False"], result.stdout + result.stderr


def assert_converts_without_numpy(source: str, destination: str) -> None:
    """`weightport convert source destination` succeeds in a process that never imports numpy."""
    code = ("import sys; from converter import cli\n"
            "code = cli.main(['convert', sys.argv[1], sys.argv[2], '--quiet'])\n"
            "print(code, 'numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, source, destination], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.stdout.split()[-2:] == ["0", "False"], result.stdout + result.stderr


@pytest.mark.parametrize("source", ["keras3/mlp.keras", "keras3/nested.keras"])
def test_a_small_model_converts_without_numpy(tmp_path, source):
    """A small model's tensors (8 MB at most, made through any transform) are made without numpy, which would
    cost more than the rest of the conversion; the file is the one numpy's path writes (test_streaming)."""
    assert_converts_without_numpy(fixture(source), str(tmp_path / "out.safetensors"))


def test_recurrent_and_convolutional_models_convert_without_numpy_to_numpys_bytes(tmp_path):
    """Gate reorders, created biases, depthwise regroupings, Flatten's row order, BatchNorm: every transform of
    these small models is made without numpy, and the file holds exactly what numpy's path makes."""
    import keras
    from safetensors.numpy import load_file

    from converter import state_dict
    from layer_harness import randomize

    models = {
        "recurrent": keras.Sequential([keras.Input((6, 4)), keras.layers.LSTM(3, return_sequences=True),
                                       keras.layers.GRU(2, return_sequences=True),
                                       keras.layers.GRU(2, reset_after=False), keras.layers.Dense(2)]),
        "conv": keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3),
                                  keras.layers.BatchNormalization(), keras.layers.DepthwiseConv2D(2),
                                  keras.layers.SeparableConv2D(3, 2), keras.layers.Flatten(), keras.layers.Dense(5),
                                  keras.layers.PReLU()]),
    }
    for name, model in models.items():
        randomize(model, seed=3)
        model.save(str(tmp_path / f"{name}.keras"))
        out = str(tmp_path / f"{name}.safetensors")
        assert_converts_without_numpy(str(tmp_path / f"{name}.keras"), out)
        written, expected = load_file(out), state_dict(str(tmp_path / f"{name}.keras"))
        assert sorted(written) == sorted(expected)
        for key in expected:
            assert written[key].tobytes() == np.ascontiguousarray(expected[key]).tobytes(), key


@pytest.mark.parametrize("enabled", [True, False])
def test_numpy_is_imported_with_the_collector_paused_and_left_as_found(enabled):
    """lazy_numpy imports numpy with collections paused (its import makes thousands of objects and no garbage)
    and restores the collector's state, whichever it was."""
    code = (f"import gc, sys; {'' if enabled else 'gc.disable(); '}import converter\n"
            "from converter.lazy_numpy import np\n"
            "seen = []; gc.callbacks.append(lambda phase, info: seen.append(phase))\n"
            "np.float32; print('numpy' in sys.modules, gc.isenabled(), len(seen))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.split() == ["True", str(enabled), "0"], result.stdout + result.stderr


@pytest.mark.parametrize("own_process", [True, False])
@pytest.mark.parametrize("many", [False, True])
def test_the_command_converts_one_file_without_collections_in_a_process_of_its_own(tmp_path, own_process, many):
    """entry() (the `weightport` command) converting one file pauses the collector for the rest of its process:
    its collections would only walk what the read made. main() as scripts and tests call it, and a batch
    (each conversion's garbage freed before the next), leave it alone."""
    import gc

    from converter import cli

    paths = [fixture("keras3/mlp.keras")]
    argv = ["convert", *paths, "--out-dir", str(tmp_path), "-q"] if many else \
        ["convert", *paths, str(tmp_path / "out.safetensors"), "-q"]
    assert gc.isenabled()
    try:
        assert cli.main(argv, own_process=own_process) == 0
        assert gc.isenabled() == (not own_process or many)
    finally:
        gc.enable()
