"""verify(module=...): the user's own hand-written module, loaded with load_into, against Keras, per layer."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import converter
from layer_harness import randomize


class Net(nn.Module):
    """What a user writes by hand for the Keras model below: other names, channels-first."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4, eps=1e-3), nn.ReLU())
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


@pytest.fixture
def keras_file(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, padding="same", name="conv"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="relu"),
                              keras.layers.GlobalAveragePooling2D(name="pool"), keras.layers.Dense(2, name="fc")])
    randomize(model, seed=4)
    path = str(tmp_path / "net.keras")
    model.save(path)
    return path


def loaded(path: str) -> Net:
    net = Net().eval()
    converter.load_into(net, path, mapping="order")
    return net


def test_own_module_matches_per_layer(keras_file):
    report = converter.verify(keras_file, module=loaded(keras_file), mapping="order", per_layer=True,
                              input_layout="torch")
    assert report.ok, report.to_text()
    assert [row.name for row in report.layers] == ["conv", "bn", "fc"]
    assert {"relu", "pool"} <= set(report.skipped_layers)


def test_a_wrong_weight_is_found_at_its_layer(keras_file):
    net = loaded(keras_file)
    with torch.no_grad():
        net.features[1].running_var.mul_(1.5)  # a wrong BatchNorm statistic
    report = converter.verify(keras_file, module=net, mapping="order", per_layer=True, input_layout="torch")
    assert not report.ok and report.first_divergence == "bn"


def test_training_mode_is_warned_about(keras_file):
    net = loaded(keras_file).train()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = converter.verify(keras_file, module=net, input_layout="torch")
    assert not report.ok
    assert any("module.eval()" in str(w.message) for w in caught)
    np.testing.assert_equal(net.training, True)


def test_cli_verify_module(tmp_path, keras_file):
    from helpers import ROOT, run_cli

    (tmp_path / "mynet.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "import converter\n"
        "from test_verify_own_module import Net\n\n"
        "def build():\n"
        "    net = Net().eval()\n"
        f"    converter.load_into(net, {keras_file!r}, mapping='order')\n"
        "    return net\n")
    result = run_cli("verify", keras_file, "--module", "mynet:build", "--map", "order", "--per-layer",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result: ok" in result.stdout and "bn" in result.stdout
    bad = run_cli("verify", keras_file, "--module", "mynet:nothing", cwd=tmp_path)
    assert bad.returncode == 2 and "mynet:nothing" in bad.stderr


def compared_layers(tmp_path, model, net: nn.Module, input_layout: str) -> list[str]:
    """The Keras model saved, its weights loaded into `net` by load_into, verified per layer: every layer ok, and
    the names of those compared."""
    path = str(tmp_path / "model.keras")
    model.save(path)
    converter.load_into(net.eval(), path)
    report = converter.verify(path, module=net, per_layer=True, input_layout=input_layout)
    assert report.ok, report.to_text()
    return [row.name for row in report.layers]


def test_fused_activations_are_applied_to_the_plain_modules_outputs(tmp_path):
    """Keras fuses an activation into Conv2D and Dense; a torch twin calls it after nn.Conv2d and nn.Linear (their
    outputs are pre-activation): each layer is compared after Keras's own activation is applied to them."""
    import keras

    model = keras.Sequential([keras.Input((6, 6, 3)),
                              keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
                              keras.layers.GlobalAveragePooling2D(name="pool"),
                              keras.layers.Dense(3, activation="tanh", name="fc")])
    randomize(model, seed=5)

    class Fused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))))

    assert compared_layers(tmp_path, model, Fused(), "torch") == ["conv", "fc"]


@pytest.mark.parametrize("rank", [1, 2])
def test_torch_convolutions_are_compared_channels_last_whatever_the_module_takes(tmp_path, rank):
    """A Conv1d returns (N, C, T), Keras's Conv1D (N, T, C): with as many steps as channels, compared unmoved, they
    differ. A twin taking Keras's channels-last images (input_layout="keras") permutes before its nn.Conv2d, whose
    output is channels-first all the same."""
    import keras

    conv = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    shape = (5, 3) if rank == 1 else (5, 5, 3)
    model = keras.Sequential([keras.Input(shape), conv(5, 3, padding="same", name="conv"),
                              keras.layers.BatchNormalization(name="bn")])
    randomize(model, seed=6)

    class ChannelsLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = (nn.Conv1d if rank == 1 else nn.Conv2d)(3, 5, 3, padding=1)
            self.bn = (nn.BatchNorm1d if rank == 1 else nn.BatchNorm2d)(5, eps=1e-3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.movedim(self.bn(self.conv(torch.movedim(x, -1, 1))), 1, -1)

    assert compared_layers(tmp_path, model, ChannelsLast(), "keras") == ["conv", "bn"]


def test_a_layer_split_over_several_modules_is_compared_at_the_last_that_runs(tmp_path):
    """A SeparableConv2D loads into a depthwise and a pointwise nn.Conv2d: its output is the pointwise one's
    (with as many filters as input channels the depthwise output has its shape too, and differs)."""
    import keras

    model = keras.Sequential([keras.Input((6, 6, 4)),
                              keras.layers.SeparableConv2D(4, 3, padding="same", activation="relu", name="sep"),
                              keras.layers.GlobalAveragePooling2D(name="pool"), keras.layers.Dense(2, name="fc")])
    randomize(model, seed=7)

    class Separable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sep = nn.ModuleDict({"depthwise": nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),
                                      "pointwise": nn.Conv2d(4, 4, 1)})
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mapped = torch.relu(self.sep["pointwise"](self.sep["depthwise"](x)))
            return self.fc(mapped.mean(dim=(2, 3)))

    assert compared_layers(tmp_path, model, Separable(), "torch") == ["sep", "fc"]


def test_a_nested_layer_named_as_an_outer_one_is_not_compared_with_it(tmp_path):
    """A nested model's `fc` is not the model's `fc`: only the model's own layers pair with submodules."""
    import keras

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc")], name="inner")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="fc"), inner])
    randomize(model, seed=8)

    class Twin(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.inner = nn.ModuleDict({"fc": nn.Linear(4, 3)})

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner["fc"](self.fc(x))  # the inner fc runs last

    assert compared_layers(tmp_path, model, Twin(), "keras") == ["fc"]
