"""Test set-up: Keras writes ~/.keras/keras.json on first import, so point it elsewhere."""
from __future__ import annotations

import os
import tempfile

# Removed when the process ends (each xdist worker has its own); mkdtemp left three folders per run behind.
_KERAS_HOME = tempfile.TemporaryDirectory(prefix="weightport_keras_home_")
os.environ["KERAS_HOME"] = _KERAS_HOME.name
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# As verify does (converter.keras_side.import_keras): without oneDNN, TensorFlow on an AVX2-only CPU has no
# kernel for channels_first convolutions or dilated transposed ones, and the Keras side of a test cannot run.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import sys  # noqa: E402

# tests/layers/ imports the shared helpers beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
