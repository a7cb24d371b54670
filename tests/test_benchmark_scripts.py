"""The benchmark scripts' weightport steps still run against this tree.

They run the CLI in a fresh process from a string, so nothing else notices when an entry point
they name moves (issue 14 moved `cli.main` into the package and both scripts stopped)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_convert  # noqa: E402
import compare_revisions  # noqa: E402

SOURCE = str(ROOT / "fixtures" / "keras3" / "nested.keras")


@pytest.mark.parametrize("step", [bench_convert.WEIGHTPORT, compare_revisions.STEP],
                         ids=["bench_convert", "compare_revisions"])
def test_weightport_step_converts(tmp_path: Path, step: str) -> None:
    target = str(tmp_path / "out.safetensors")
    script = bench_convert.MEASURE.format(body=step.format(root=str(ROOT), source=SOURCE, target=target))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PEAK_KB" in result.stdout
    assert load_file(target)
