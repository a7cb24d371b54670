"""Without torch (or Keras), the commands that need it say what to install, exit 2, before any reading."""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import ROOT, fixture

#: runs the CLI with `package` unimportable, as on a machine where it was never installed
BLOCKED = "import sys; sys.modules[{package!r}] = None; sys.argv = ['weightport'] + sys.argv[1:]; " \
          "from converter.cli import main; sys.exit(main())"


def run_without(package: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED.format(package=package), *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("arguments, needs", [
    (("convert", "{src}", "{dst}/w.pt"), "PyTorch"),
    (("export", "{src}", "{dst}/model.py"), "PyTorch"),
    (("verify", "{src}"), "PyTorch"),
])
def test_without_torch(tmp_path, arguments, needs):
    filled = [a.format(src=fixture("keras3/mlp.keras"), dst=tmp_path) for a in arguments]
    result = run_without("torch", *filled)
    assert result.returncode == 2, result.stderr
    assert needs in result.stderr and "pip install 'weightport[torch]'" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_safetensors_output_needs_no_torch(tmp_path):
    result = run_without("torch", "convert", fixture("keras3/mlp.keras"), str(tmp_path / "w.safetensors"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "w.safetensors").exists()


def test_verify_without_keras():
    # tf_keras (Keras 2) would stand in for Keras 3: block both
    result = subprocess.run([sys.executable, "-c", "import sys; sys.modules['tf_keras'] = None; "
                             + BLOCKED.format(package="keras"), "verify", fixture("keras3/mlp.keras")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "pip install 'weightport[keras]'" in result.stderr and "Traceback" not in result.stderr
