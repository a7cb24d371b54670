"""load_into: Keras weights into hand-written PyTorch modules with unrelated names, every matching mode."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import converter
from helpers import fixture
from layer_harness import LAYER_ATOL, randomize


def saved(tmp_path, model, name: str) -> str:
    randomize(model, seed=12)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    return path


def keras_out(model, inputs: np.ndarray) -> np.ndarray:
    return np.asarray(model(inputs, training=False))


# ------------------------------------------------------------------ an MLP

def keras_mlp():
    import keras

    return keras.Sequential([keras.Input((20,)), keras.layers.Dense(32, activation="relu", name="dense_1"),
                             keras.layers.Dense(16, activation="relu", name="dense_2"),
                             keras.layers.Dense(3, name="dense_3")])


class TorchMLP(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(20, hidden), nn.ReLU(), nn.Linear(hidden, 16), nn.ReLU())
        self.classifier = nn.Linear(16, 3)

    def forward(self, x):
        return self.classifier(self.features(x))


MLP_MAPPINGS = {
    "dict": {"dense_1": "features.0", "dense_2": "features.2", "dense_3": "classifier"},
    "regex": [(r"^dense_1\.", "features.0."), (r"^dense_2\.", "features.2."), (r"^dense_3\.", "classifier.")],
    "function": lambda key: {"dense_1": "features.0", "dense_2": "features.2", "dense_3": "classifier"}[
        key.split(".")[0]] + "." + key.split(".")[1],
    "order": "order",
}


@pytest.mark.parametrize("mode", list(MLP_MAPPINGS))
def test_mlp_loads_through_each_matching_mode(tmp_path, mode):
    model = keras_mlp()
    path = saved(tmp_path, model, "mlp")
    module = TorchMLP()
    plan = converter.load_into(module, path, mapping=MLP_MAPPINGS[mode])
    assert plan.ok and len(plan.loaded) == 6
    inputs = np.random.default_rng(0).normal(size=(4, 20)).astype("float32")
    with torch.no_grad():
        actual = module(torch.from_numpy(inputs)).numpy()
    assert np.max(np.abs(actual - keras_out(model, inputs))) <= LAYER_ATOL


def test_exact_keys_load_into_a_module_named_like_keras(tmp_path):
    model = keras_mlp()
    path = saved(tmp_path, model, "mlp")
    module = nn.Module()
    module.dense_1, module.dense_2, module.dense_3 = nn.Linear(20, 32), nn.Linear(32, 16), nn.Linear(16, 3)
    assert converter.load_into(module, path).ok


def test_impossible_pairing_names_the_tensors_and_leaves_the_module_untouched(tmp_path):
    path = saved(tmp_path, keras_mlp(), "mlp")
    module = TorchMLP(hidden=64)
    before = {key: value.clone() for key, value in module.state_dict().items()}
    with pytest.raises(converter.LoadError) as caught:
        converter.load_into(module, path, mapping=MLP_MAPPINGS["dict"])
    plan = caught.value.plan
    text = str(plan)
    assert "Keras kernel dense_1 (20, 32) becomes (32, 20) (transpose(1,0)) for Linear features.0.weight; " \
           "features.0 expects (64, 20)" in text
    assert sorted(plan.mismatched) == ["features.0.bias", "features.0.weight", "features.2.weight"]
    assert all(torch.equal(before[key], value) for key, value in module.state_dict().items())


def test_order_refuses_when_kinds_do_not_pair_up(tmp_path):
    path = saved(tmp_path, keras_mlp(), "mlp")
    module = nn.Sequential(nn.Linear(20, 32), nn.Linear(32, 16))  # one Linear short
    plan = converter.load_into(module, path, mapping="order", dry_run=True)
    assert not plan.ok
    assert any("dense_3 (Linear) has no module of its kind left" in problem for problem in plan.problems)
    with pytest.raises(converter.LoadError, match="dense_3"):
        converter.load_into(module, path, mapping="order")


def test_dry_run_prints_a_plan_and_touches_nothing(tmp_path):
    path = saved(tmp_path, keras_mlp(), "mlp")
    module = TorchMLP()
    before = {key: value.clone() for key, value in module.state_dict().items()}
    plan = converter.load_into(module, path, mapping="order", dry_run=True)
    text = str(plan)
    assert "dense_1.weight (kernel)" in text and "features.0.weight" in text and "transpose(1,0)" in text
    assert all(torch.equal(before[key], value) for key, value in module.state_dict().items())


def test_non_strict_loads_what_fits(tmp_path):
    path = saved(tmp_path, keras_mlp(), "mlp")
    module = TorchMLP(hidden=64)
    plan = converter.load_into(module, path, mapping=MLP_MAPPINGS["dict"], strict=False)
    assert "classifier.weight" in plan.loaded and "features.0.weight" in plan.mismatched


# ------------------------------------------------------------------ a CNN with BatchNorm and Flatten

def keras_cnn():
    import keras

    return keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, padding="same", name="conv"),
        keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(5, name="fc")])


class TorchCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, eps=1e-3), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.head = nn.Linear(64, 5)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


@pytest.mark.parametrize("mapping", ["order", {"conv": "body.0", "bn": "body.1", "fc": "head"}])
def test_cnn_with_batchnorm_and_flatten_loads(tmp_path, mapping):
    model = keras_cnn()
    path = saved(tmp_path, model, "cnn")
    module = TorchCNN().eval()
    assert converter.load_into(module, path, mapping=mapping).ok
    inputs = np.random.default_rng(1).normal(size=(3, 8, 8, 3)).astype("float32")
    with torch.no_grad():
        actual = module(torch.from_numpy(inputs).permute(0, 3, 1, 2)).numpy()
    assert np.max(np.abs(actual - keras_out(model, inputs))) <= LAYER_ATOL


# ------------------------------------------------------------------ recurrent and attention

def test_two_keras_lstms_load_into_one_two_layer_lstm(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((6, 3)), keras.layers.LSTM(5, return_sequences=True, name="lstm_1"),
                              keras.layers.LSTM(5, return_sequences=True, name="lstm_2")])
    path = saved(tmp_path, model, "lstm")
    rules = [(r"^lstm_1\.(\w+)_l0$", r"rnn.\1_l0"), (r"^lstm_2\.(\w+)_l0$", r"rnn.\1_l1")]
    inputs = np.random.default_rng(2).normal(size=(4, 6, 3)).astype("float32")
    for mapping in ("order", rules):
        module = nn.Module()
        module.rnn = nn.LSTM(3, 5, num_layers=2, batch_first=True)
        assert converter.load_into(module, path, mapping=mapping).ok
        with torch.no_grad():
            actual = module.rnn(torch.from_numpy(inputs))[0].numpy()
        assert np.max(np.abs(actual - keras_out(model, inputs))) <= LAYER_ATOL


def test_bidirectional_gru_loads_into_a_bidirectional_nn_gru(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((6, 3)), keras.layers.Bidirectional(
        keras.layers.GRU(4, return_sequences=True), name="bi")])
    path = saved(tmp_path, model, "bigru")
    inputs = np.random.default_rng(3).normal(size=(4, 6, 3)).astype("float32")
    for mapping in ("order", {"bi": "encoder"}):
        module = nn.Module()
        module.encoder = nn.GRU(3, 4, bidirectional=True, batch_first=True)
        assert converter.load_into(module, path, mapping=mapping).ok
        with torch.no_grad():
            actual = module.encoder(torch.from_numpy(inputs))[0].numpy()
        assert np.max(np.abs(actual - keras_out(model, inputs))) <= LAYER_ATOL


def test_attention_block_loads_into_nn_multihead_attention(tmp_path):
    import keras

    tokens = keras.Input((5, 8))
    attended = keras.layers.MultiHeadAttention(2, 4, name="mha")(tokens, tokens)
    model = keras.Model(tokens, keras.layers.Dense(3, name="proj")(attended))
    path = saved(tmp_path, model, "attention")

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
            self.output_layer = nn.Linear(8, 3)

        def forward(self, x):
            return self.output_layer(self.attention(x, x, x, need_weights=False)[0])

    inputs = np.random.default_rng(4).normal(size=(2, 5, 8)).astype("float32")
    for mapping in ("order", {"mha": "attention", "proj": "output_layer"}):
        module = Block()
        assert converter.load_into(module, path, mapping=mapping).ok
        with torch.no_grad():
            actual = module(torch.from_numpy(inputs)).numpy()
        assert np.max(np.abs(actual - keras_out(model, inputs))) <= LAYER_ATOL


# ------------------------------------------------------------------ the CLI: --map and --like

def test_cli_map_renames_keys(tmp_path):
    import json

    from safetensors.numpy import load_file

    from helpers import run_cli

    path = saved(tmp_path, keras_mlp(), "mlp")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([["^dense_(\\d)\\.", "layer\\1."]]))
    out = tmp_path / "renamed.safetensors"
    result = run_cli("convert", path, str(out), "--map", str(rules))
    assert result.returncode == 0, result.stderr
    assert sorted(load_file(out)) == ["layer1.bias", "layer1.weight", "layer2.bias", "layer2.weight",
                                      "layer3.bias", "layer3.weight"]


def test_cli_like_writes_the_templates_keys(tmp_path):
    from helpers import run_cli

    model = keras_cnn()
    path = saved(tmp_path, model, "cnn")
    template = tmp_path / "template.pt"
    torch.save(TorchCNN().state_dict(), template)
    out = tmp_path / "cnn_like.pt"
    result = run_cli("convert", path, str(out), "--like", str(template), "--map", "order")
    assert result.returncode == 0, result.stderr
    state = torch.load(out, weights_only=True)
    assert list(state) == list(torch.load(template, weights_only=True))
    module = TorchCNN().eval()
    module.load_state_dict(state)
    inputs = np.random.default_rng(1).normal(size=(3, 8, 8, 3)).astype("float32")
    with torch.no_grad():
        actual = module(torch.from_numpy(inputs).permute(0, 3, 1, 2)).numpy()
    assert np.max(np.abs(actual - keras_out(model, inputs))) <= LAYER_ATOL


def test_cli_like_that_cannot_pair_prints_the_plan_and_writes_nothing(tmp_path):
    from helpers import run_cli

    path = saved(tmp_path, keras_mlp(), "mlp")
    template = tmp_path / "template.pt"
    torch.save(TorchMLP(hidden=64).state_dict(), template)
    out = tmp_path / "out.pt"
    result = run_cli("convert", path, str(out), "--like", str(template), "--map", "order")
    assert result.returncode == 2
    assert "plan (order)" in result.stderr and "expects (64, 20)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("weightport: error: ")
    assert not out.exists()


def test_cli_map_order_without_a_template_is_a_usage_error(tmp_path):
    from helpers import run_cli

    result = run_cli("convert", saved(tmp_path, keras_mlp(), "mlp"), str(tmp_path / "o.pt"), "--map", "order")
    assert result.returncode == 2 and "--like" in result.stderr
    assert not (tmp_path / "o.pt").exists()


def test_a_module_left_in_training_mode_is_warned_about():
    import warnings

    source = fixture("keras3/mlp.keras")
    module = converter.to_torch(source)
    module.add_module("drop", torch.nn.Dropout(0.5))  # a hand-written twin would have one
    module.train()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converter.load_into(module, source, strict=False)
    assert any(issubclass(w.category, converter.ConversionWarning) and "module.eval()" in str(w.message)
               for w in caught)
    module.eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converter.load_into(module, source, strict=False)
    assert not [w for w in caught if "module.eval()" in str(w.message)]
