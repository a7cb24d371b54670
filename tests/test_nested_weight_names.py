""".h5 files whose nested model names a weight by a scope TF1-era Keras made unique (`latent_1/kernel:0`).

Keras 2.2.4-tf in graph mode stored `latent_vector_1/kernel:0` for layer `latent_vector` of a model built
twice in one session (a real file from a public repository). Keras loads a nested model's group by
position; weightport places such a weight on `latent_vector` only when Keras's order agrees.
"""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import converter
from layer_harness import randomize


def _nested_h5(tmp_path, inner=("hidden", "norm", "latent")):
    import tf_keras as k

    inner_in = k.Input((6,))
    h = k.layers.Dense(4, name=inner[0])(inner_in)
    h = k.layers.BatchNormalization(name=inner[1])(h)
    inner_out = k.layers.Dense(4, name=inner[2])(h)
    encoder = k.Model(inner_in, inner_out, name="encoder")
    x = k.Input((6,))
    y = k.layers.Dense(2, name="head")(encoder(x))
    model = k.Model(x, y)
    randomize(model, seed=7)
    path = tmp_path / "model.h5"
    model.save(str(path))
    return model, path


def _rename_scopes(path, renames: dict[str, str]) -> None:
    """Rename scopes inside the nested model's group, as TF1-era Keras named them (datasets and weight_names)."""
    with h5py.File(path, "r+") as handle:
        group = handle["model_weights"]["encoder"]
        names = [name.decode() if isinstance(name, bytes) else str(name) for name in group.attrs["weight_names"]]
        for old, new in renames.items():
            group.move(old, new + "_tmp")
        for old, new in renames.items():
            group.move(new + "_tmp", new)

        def renamed(name: str) -> str:
            scope, rest = name.split("/", 1)
            return f"{renames.get(scope, scope)}/{rest}"

        group.attrs["weight_names"] = [renamed(name).encode() for name in names]


def test_a_scope_made_unique_goes_to_its_layer_as_keras_loads_it(tmp_path):
    model, path = _nested_h5(tmp_path)
    reference = converter.state_dict(str(path))
    _rename_scopes(path, {"latent": "latent_1", "norm": "norm_3"})
    renamed = converter.state_dict(str(path))
    assert set(renamed) == set(reference)
    for key in reference:
        np.testing.assert_array_equal(renamed[key], reference[key], err_msg=key)
    import tf_keras as k

    loaded = k.models.load_model(str(path), compile=False)  # Keras loads the renamed file by position
    inputs = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), atol=1e-6)
    report = converter.verify(str(path), per_layer=True)
    assert report.ok, report.to_text()


@pytest.mark.parametrize("renames, why", [
    # the two Dense layers (same shapes) swapped by their scopes: a placement by name alone would load each
    # with the other's weights; Keras's order (hidden's weights first) refutes it
    ({"hidden": "latent_1", "latent": "hidden_1"}, "order Keras loads"),
    # a made-unique scope whose layer is named by another weight's own scope
    ({"latent": "hidden_2"}, "0 candidates"),
])
def test_a_scope_that_keras_order_does_not_confirm_is_refused(tmp_path, renames, why):
    _, path = _nested_h5(tmp_path)
    _rename_scopes(path, renames)
    with pytest.raises(converter.LayoutError, match="cannot tell which layer of nested model encoder") as raised:
        converter.state_dict(str(path))
    assert why in str(raised.value)


def test_list_attributes_keras_split_into_chunks(tmp_path):
    """Past HDF5's 64 KB object header limit Keras splits `layer_names` and `weight_names` into `layer_names0`,
    `layer_names1`, ... (a large backbone nested in a transfer-learning model: its weight_names; a model of many
    layers: its layer_names): read whole, as Keras reads them."""
    import tf_keras as k

    backbone = k.Sequential([k.Input((3,))] + [k.layers.Dense(3, name=f"{'a_long_layer_name_' * 20}{index:04d}")
                                               for index in range(200)], name="backbone")
    x = k.Input((3,))
    model = k.Model(x, k.layers.Dense(2, name="head")(backbone(x)))
    randomize(model, seed=1)
    model.save(str(tmp_path / "model.h5"))
    backbone.save_weights(str(tmp_path / "backbone.h5"))
    (tmp_path / "backbone.json").write_text(backbone.to_json())
    with h5py.File(tmp_path / "model.h5", "r") as h5, h5py.File(tmp_path / "backbone.h5", "r") as weights:
        assert "weight_names1" in h5["model_weights/backbone"].attrs and "layer_names1" in weights.attrs
    inputs = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    module = converter.to_torch(str(tmp_path / "model.h5"), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(inputs)).numpy(), model(inputs).numpy(), atol=1e-5)
    nested = converter.state_dict(str(tmp_path / "model.h5"))
    flat = converter.state_dict(str(tmp_path / "backbone.h5"), architecture=str(tmp_path / "backbone.json"))
    with pytest.raises(converter.UnsupportedLayerError, match="and 190 more") as refused:  # names it cannot tell
        converter.state_dict(str(tmp_path / "backbone.h5"))
    assert len(str(refused.value)) < 10_000  # ten (360-character) names, the rest counted: not 200 of them
    assert len(flat) == 400 and all(np.array_equal(flat[key], nested[f"backbone.{key}"]) for key in flat)


def test_an_adapted_normalization_in_a_tf_keras_nested_model_gets_its_unscoped_weights(tmp_path):
    """tf.keras names a nested model's adapted Normalization weights `mean:0`, `variance:0`, `count:0` (no layer):
    they go to its one Normalization, and the module computes as tf.keras loads the file."""
    import tf_keras as keras

    data = np.random.default_rng(0).normal(3, 2, (40, 4)).astype("float32")
    normalization = keras.layers.Normalization(name="norm")
    normalization.adapt(data)
    inner = keras.Sequential([keras.Input((4,)), normalization, keras.layers.Dense(3, name="head")], name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, inner(inputs))
    rng = np.random.default_rng(1)
    inner.get_layer("head").set_weights([rng.normal(0, 1, w.shape).astype("float32")
                                         for w in inner.get_layer("head").get_weights()])
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as h5:  # the premise: weights that name no layer
        names = [n.decode() if isinstance(n, bytes) else n for n in h5["model_weights/inner"].attrs["weight_names"]]
    assert "mean:0" in names
    x = data[:5]
    expected = np.asarray(keras.models.load_model(tmp_path / "m.h5", compile=False)(x))
    module = converter.to_torch(str(tmp_path / "m.h5"), input_layout="keras")
    with torch.no_grad():
        np.testing.assert_allclose(module(torch.from_numpy(x)).numpy(), expected, atol=1e-5)


def test_bare_weight_names_of_keras_3_0_to_3_2_are_refused_with_what_to_do(tmp_path):
    """Keras 3.0 to 3.2 write a nested model's weights into a legacy .h5 under bare names (`kernel`, `gamma`: checked
    with Keras 3.2.1, which fails to save a nested model with two weights of one name): no name tells the layer, so the
    refusal says so and how to get a file that does (a .keras archive, which names them)."""
    import tf_keras as k

    inner_in = k.Input((6,))
    encoder = k.Model(inner_in, k.layers.BatchNormalization(name="norm")(k.layers.Dense(4, name="hidden")(inner_in)),
                      name="encoder")
    x = k.Input((6,))
    model = k.Model(x, k.layers.Dense(2, name="head")(encoder(x)))
    randomize(model, seed=3)
    path = tmp_path / "model.h5"
    model.save(str(path))
    with h5py.File(path, "r+") as handle:  # as Keras 3.2.1 wrote it: `inner/kernel`, no layer scope
        group = handle["model_weights"]["encoder"]
        names = [name.decode() if isinstance(name, bytes) else str(name) for name in group.attrs["weight_names"]]
        bare = [name.split("/")[-1].split(":")[0] for name in names]
        assert sorted(bare) == ["beta", "bias", "gamma", "kernel", "moving_mean", "moving_variance"]
        for name, new in zip(names, bare):
            group.move(name, new)
        group.attrs["weight_names"] = [name.encode() for name in bare]
    with pytest.raises(converter.LayoutError, match=r"encoder/\w+: cannot tell which layer of nested model encoder") \
            as refused:
        converter.state_dict(str(path))
    assert "names no layer, as Keras 3.0 to 3.2 store" in str(refused.value)
    assert "model.save('model.keras')" in str(refused.value)
