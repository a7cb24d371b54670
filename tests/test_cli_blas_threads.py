"""`convert` and `inspect` start no BLAS threads: numpy's OpenBLAS spins a thread per core for ~0.1 s after
numpy is imported, a core taken from a conversion's own threads. A user's OPENBLAS_NUM_THREADS is kept."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, fixture

#: the CLI's main() in a fresh process, then numpy (imported by a conversion already), then the threads it has
SCRIPT = """
import os, sys
from converter.cli import main
code = main(sys.argv[1:])
import numpy
print(code, len(os.listdir("/proc/self/task")))
"""


def _uses_openblas() -> bool:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except (TypeError, KeyError):
        return False
    return "openblas" in str(blas).lower()


pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2 or not _uses_openblas(),
    reason="counts a process's threads in /proc; OpenBLAS starts threads only where there are several cores")


def _threads(arguments: list[str], blas_threads: str | None) -> int:
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = blas_threads
    result = subprocess.run([sys.executable, "-c", SCRIPT, *arguments], capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=300)
    code, threads = result.stdout.splitlines()[-1].split()  # after what the command printed
    assert code == "0", result.stderr
    return int(threads)


@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_no_blas_threads_unless_the_user_asks(tmp_path, command):
    arguments = [command, fixture("keras3/mlp.keras")]
    if command == "convert":
        arguments += [str(tmp_path / "out.safetensors"), "--force", "--quiet"]
    asked = _threads(arguments, "2")  # the user's setting is kept: numpy's BLAS thread is there
    assert _threads(arguments, None) < asked
