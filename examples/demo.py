"""The main job on the bundled example: the model of the classic Dense question.

    Dense(32, activation='relu', input_dim=2000)
    Dense(1, activation='sigmoid')

Inspects the Keras file, converts it to safetensors, loads the result into a PyTorch
module written by hand, and prints the largest output difference from Keras.
"""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from converter.cli import main as weightport_main  # noqa: E402
from converter.keras_side import import_keras  # noqa: E402

SOURCE = os.path.join("fixtures", "keras2", "mlp.h5")


def weightport(*arguments: str) -> None:
    """Run the CLI in this process, echoing the command as a user would type it."""
    print(f"\n$ weightport {' '.join(arguments)}", flush=True)
    if weightport_main(list(arguments)) != 0:
        sys.exit("demo failed")


def main() -> None:
    os.chdir(ROOT)
    weightport("inspect", SOURCE)
    work = tempfile.TemporaryDirectory(prefix="weightport_demo_")  # removed when the demo ends
    destination = os.path.join(work.name, "mlp.safetensors")
    weightport("convert", SOURCE, destination)

    import torch
    from safetensors.torch import load_file
    from torch import nn

    class MLP(nn.Module):  # attribute names match the Keras layer names
        def __init__(self) -> None:
            super().__init__()
            self.dense_1 = nn.Linear(2000, 32)
            self.dense_2 = nn.Linear(32, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.dense_2(torch.relu(self.dense_1(x))))

    model = MLP()
    model.load_state_dict(load_file(destination))

    tf_keras = import_keras("tf_keras")  # the Keras 2 that wrote this file, only to compare (start-up notices off)

    keras_model = tf_keras.models.load_model(SOURCE, compile=False)
    inputs = np.random.default_rng(0).normal(size=(64, 2000)).astype("float32")
    expected = keras_model.predict(inputs, verbose=0)
    with torch.no_grad():
        actual = model(torch.from_numpy(inputs)).numpy()
    difference = np.max(np.abs(actual - expected))
    print(f"\nKeras vs PyTorch on {len(inputs)} random inputs: max abs difference {difference:.3g}")


if __name__ == "__main__":
    main()
