"""A tf.train.Checkpoint of several objects (TensorFlow's DCGAN, pix2pix and CycleGAN tutorials save
`generator=`, `discriminator=` and their optimizers; custom training loops `model=` and `optimizer=`): with an
architecture, the one object whose layers it describes is the model, the others left out; two that fit are
refused by name."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import converter
from helpers import run_cli
from random_weights import randomize


def _generator(k):
    return k.Sequential([k.Input((4,)), k.layers.Dense(12, use_bias=False), k.layers.BatchNormalization(),
                         k.layers.LeakyReLU(), k.layers.Reshape((2, 2, 3)),
                         k.layers.Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh")])


def _discriminator(k):
    return k.Sequential([k.Input((4, 4, 2)), k.layers.Conv2D(3, 3, strides=2, padding="same"), k.layers.Flatten(),
                         k.layers.Dense(1)])


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """The DCGAN tutorial's checkpoint: two models, two optimizers that have taken a step (their slots exist)."""
    import tensorflow as tf
    import tf_keras as k

    folder = tmp_path_factory.mktemp("gan")
    generator, discriminator = _generator(k), _discriminator(k)
    twin = _generator(k)  # CycleGAN's generator_g and generator_f: one architecture, two models
    for seed, model in enumerate((generator, discriminator, twin)):
        randomize(model, seed=seed + 4)
    optimizers = {name: k.optimizers.Adam(1e-3) for name in ("generator_optimizer", "discriminator_optimizer")}
    for model, name in ((generator, "generator_optimizer"), (discriminator, "discriminator_optimizer")):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(tf.ones((1, *model.input_shape[1:]))))
        optimizers[name].apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                             model.trainable_variables))
    tf.train.Checkpoint(generator=generator, discriminator=discriminator, **optimizers).save(
        str(folder / "training_checkpoints" / "ckpt"))
    tf.train.Checkpoint(generator_g=generator, generator_f=twin).save(str(folder / "cyclegan" / "ckpt"))
    tf.train.Checkpoint(model=generator, optimizer=optimizers["generator_optimizer"]).save(
        str(folder / "loop" / "ckpt"))
    for name, model in (("generator", generator), ("discriminator", discriminator)):
        (folder / f"{name}.json").write_text(model.to_json())
        model.save(str(folder / f"{name}.h5"))
    return folder, generator, discriminator


@pytest.mark.parametrize("checkpoint", ["training_checkpoints", "loop"])
def test_the_model_an_architecture_describes_converts_and_verifies(gan, checkpoint):
    folder, generator, _ = gan
    source, architecture = str(folder / checkpoint), str(folder / "generator.json")
    x = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    module = converter.to_torch(source, architecture=architecture, input_layout="keras")
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, generator(x, training=False).numpy(), atol=1e-5, rtol=1e-5)
    report = converter.verify(source, architecture=architecture, per_layer=True)
    assert report.ok and report.layers, report.to_text()
    with converter.read(source, architecture=architecture) as graph:
        assert "optimizer" in graph.metadata["left_out"]


def test_the_other_model_of_the_checkpoint_by_its_own_architecture(gan):
    folder, _, _ = gan
    weights = converter.state_dict(str(folder / "training_checkpoints"),
                                   architecture=str(folder / "discriminator.json"))
    expected = converter.state_dict(str(folder / "discriminator.h5"))
    assert sorted(weights) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(weights[key], value)


def test_two_models_of_one_architecture_are_refused_by_name(gan, tmp_path):
    folder, _, _ = gan
    result = run_cli("convert", str(folder / "cyclegan"), str(tmp_path / "out.safetensors"),
                     "--architecture", str(folder / "generator.json"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "2 models of the architecture's" in result.stderr and "generator_g" in result.stderr
    assert "generator_f" in result.stderr and not (tmp_path / "out.safetensors").exists()


def test_a_checkpoint_of_no_model_of_that_architecture_is_refused(gan):
    folder, _, _ = gan
    with pytest.raises(converter.ReadError, match="none has the architecture's 3 layers"):
        converter.state_dict(str(folder / "cyclegan"), architecture=str(folder / "discriminator.json"))


@pytest.fixture(scope="module")
def keras3_gan(tmp_path_factory):
    """The same tutorial under TensorFlow 2.16 on, whose tf.keras is Keras 3: its models keep their layers as
    `_operations/K` (a Sequential's under `_functional`), a Dense's kernel as `_kernel`. The discriminator's two
    branches make its operations' order differ from the order its layers were made in."""
    import keras
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("gan3")
    generator = _generator(keras)
    x = keras.Input((4, 4, 2))
    wide, narrow = keras.layers.Conv2D(3, 3, name="wide")(x), keras.layers.Conv2D(3, 1, name="narrow")(x)
    merged = keras.layers.Add()([keras.layers.Cropping2D(1)(narrow), wide])
    discriminator = keras.Model(x, keras.layers.Dense(1, name="score")(keras.layers.Flatten()(merged)))
    for seed, model in enumerate((generator, discriminator)):
        randomize(model, seed=seed + 7)
    tf.train.Checkpoint(generator=generator, discriminator=discriminator,
                        generator_optimizer=keras.optimizers.Adam()).save(str(folder / "checkpoints" / "ckpt"))
    for name, model in (("generator", generator), ("discriminator", discriminator)):
        model.save(str(folder / f"{name}.keras"))
    return folder, generator, discriminator


@pytest.mark.parametrize("name, shape", [("generator", (3, 4)), ("discriminator", (3, 4, 4, 2))])
def test_keras_3_models_in_a_checkpoint_convert_and_verify(keras3_gan, name, shape):
    folder, *models = keras3_gan
    model = dict(zip(("generator", "discriminator"), models))[name]
    source, architecture = str(folder / "checkpoints"), str(folder / f"{name}.keras")
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    module = converter.to_torch(source, architecture=architecture, input_layout="keras")
    with torch.no_grad():
        got = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), atol=1e-5, rtol=1e-5)
    report = converter.verify(source, architecture=architecture, per_layer=True)
    assert report.ok and report.layers, report.to_text()
    with converter.read(source, architecture=architecture) as graph:
        assert graph.keras_version.startswith("3.") and graph.metadata["checkpoint_object"] == name


def test_an_adapted_keras_3_normalization_in_a_checkpoint_verifies(tmp_path):
    """Keras 3 keeps an adapted Normalization's statistics as `adapt_mean` and `adapt_variance`, and computes its
    mean from them once loaded (finalize_state, which its own loaders call and a checkpoint's restore does not)."""
    import keras
    import tensorflow as tf

    normalize = keras.layers.Normalization()
    normalize.adapt(np.random.default_rng(0).normal(2.0, 3.0, size=(50, 4)).astype("float32"))
    model = keras.Sequential([keras.Input((4,)), normalize, keras.layers.Dense(2)])
    randomize(model.layers[-1], seed=3)
    tf.train.Checkpoint(model=model).save(str(tmp_path / "checkpoint" / "ckpt"))
    model.save(str(tmp_path / "model.keras"))
    report = converter.verify(str(tmp_path / "checkpoint"), architecture=str(tmp_path / "model.keras"),
                              per_layer=True)
    assert report.ok and [layer.name for layer in report.layers][0].startswith("normalization"), report.to_text()
