"""TensorFlow Addons' InstanceNormalization and GroupNormalization (TF2-era CycleGAN and style-transfer generators
use them; `Addons>InstanceNormalization` in their configs), in files TensorFlow 2.13 with tfa 0.21 wrote, against the
outputs it computed (fixtures/make_tf_addons.py; tfa ended in 2024 and runs on no TensorFlow here). They were refused
as layers of the user's own classes ("no rule for ... Addons>InstanceNormalization")."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import converter
from helpers import fixture, run_cli

IO = "tfa0.21/io.npz"


@pytest.mark.parametrize("name, layouts", [("images", ("keras", "torch")), ("sequences", ("keras",)),
                                           ("blocks", ("keras", "torch")), ("spectral", ("keras", "torch"))])
@pytest.mark.parametrize("suffix", ["h5", "keras"])
def test_converted_against_what_tensorflow_computed(name, layouts, suffix):
    """Instance normalization with and without gamma and beta, a group normalization of 3 groups (epsilon 1e-5),
    after 2-D and 1-D convolutions (non-trivial gammas and betas); the `.keras` archive's groups are named by tfa's
    Python classes (`instance_normalization`), which the class numbering now takes after the `Addons>` package.
    `blocks` is the Monet CycleGAN tutorial's shape: nested Sequentials of a (transposed) convolution, tfa's
    InstanceNormalization and an activation, with a skip connection. `spectral` wraps a Conv2D and a Dense in tfa's
    SpectralNormalization after one training call (the kernels stored are normalized ones; its sn_u left out)."""
    io = np.load(fixture(IO))
    for layout in layouts:
        module = converter.to_torch(fixture(f"tfa0.21/{name}.{suffix}"), input_layout=layout)
        x = io[f"in_{name}"]
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if layout == "torch" else x
        with torch.no_grad():
            actual = module(torch.from_numpy(x)).numpy()
        actual = np.moveaxis(actual, 1, -1) if layout == "torch" and actual.ndim == 4 else actual  # an image out
        np.testing.assert_allclose(actual, io[f"out_{name}"], atol=1e-5, err_msg=f"{suffix} {layout}")


def test_instance_normalization_is_a_group_per_channel():
    """nn.GroupNorm of as many groups as channels, epsilon carried; a gamma alone gets a zero bias; without either,
    no weights (F.instance_norm)."""
    state = converter.state_dict(fixture("tfa0.21/images.h5"))
    assert {key for key in state if key.startswith(("in1.", "in_scale.", "in_plain.", "gn."))} == {
        "in1.weight", "in1.bias", "in_scale.weight", "in_scale.bias", "gn.weight", "gn.bias"}
    np.testing.assert_array_equal(state["in_scale.bias"], np.zeros(6, "float32"))
    module = converter.to_torch(fixture("tfa0.21/images.h5"))
    assert (module.in1.num_groups, module.in1.num_channels, module.in1.eps) == (4, 4, 1e-3)
    assert (module.gn.num_groups, module.gn.num_channels, module.gn.eps) == (3, 6, 1e-5)


@pytest.mark.parametrize("name", ["images", "blocks"])
@pytest.mark.parametrize("suffix", ["h5", "keras"])
def test_verify_has_keras_build_its_own_group_normalization(name, suffix):
    """No TensorFlow here runs tfa: Keras builds its GroupNormalization (ported from tfa's) in their place, loads the
    file's weights, and every layer matches; the report says so."""
    result = run_cli("verify", fixture(f"tfa0.21/{name}.{suffix}"), "--per-layer")
    assert result.returncode == 0, result.stderr
    assert "every layer matches" in result.stdout and "TensorFlow Addons" in result.stdout


def test_another_addons_layer_is_refused_by_name(tmp_path):
    """Another tfa layer with weights is refused naming it as tfa's (not as the user's own class), exit 2."""
    import json

    import h5py

    path = tmp_path / "m.h5"
    path.write_bytes(open(fixture("tfa0.21/sequences.h5"), "rb").read())
    with h5py.File(path, "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Addons>InstanceNormalization":
                layer["class_name"] = "Addons>FilterResponseNormalization"
        h5.attrs["model_config"] = json.dumps(config)
    result = run_cli("convert", str(path), str(tmp_path / "out.safetensors"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "in_seq (Addons>FilterResponseNormalization)" in result.stderr
    assert "TensorFlow Addons' layers" in result.stderr and "your own layer classes" not in result.stderr


def test_verify_of_addons_spectral_normalization_says_why_it_cannot():
    """tf_keras 2.21's own SpectralNormalization cannot be built and no TensorFlow here runs tfa's: verify says so by
    name (it gave Keras's TypeError alone), exit 2."""
    result = run_cli("verify", fixture("tfa0.21/spectral.keras"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "TensorFlow Addons' SpectralNormalization" in result.stderr and "not verified" in result.stderr


@pytest.mark.parametrize("form", ["registered", "module"])
def test_a_checkpoint_with_its_to_json(tmp_path, form):
    """The images model's TF checkpoint (`save_weights`) with its `to_json()`: converted against TensorFlow's outputs,
    and verified with Keras's GroupNormalization in their place. TensorFlow 2.13's to_json names tfa's classes by
    their registered name (`Addons>InstanceNormalization`, the fixture's), or, after the model was saved as a
    SavedModel, by module, class and registered name (`module`, rewritten so here as TensorFlow 2.13 wrote it):
    verify refused that one, as importing tfa's module."""
    io = np.load(fixture(IO))
    source, architecture = fixture("tfa0.21/images_checkpoint/weights"), fixture("tfa0.21/images_checkpoint/model.json")
    if form == "module":
        config = json.loads(open(architecture).read())
        for layer in config["config"]["layers"]:
            if layer["class_name"].startswith("Addons>"):
                layer.update(module="tensorflow_addons.layers.normalizations", registered_name=layer["class_name"],
                             class_name=layer["class_name"].split(">")[1])
        architecture = str(tmp_path / "model.json")
        open(architecture, "w").write(json.dumps(config))
    module = converter.to_torch(source, architecture=architecture, input_layout="keras")
    with torch.no_grad():
        actual = module(torch.from_numpy(io["in_images"])).numpy()
    np.testing.assert_allclose(actual, io["out_images"], atol=1e-5)
    report = converter.verify(source, architecture=architecture, samples=3, per_layer=True)
    assert report.ok and any("TensorFlow Addons" in note for note in report.notes), report.to_text()
