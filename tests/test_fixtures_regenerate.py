"""fixtures/make_fixtures.py regenerates the committed fixtures' weights exactly."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import converter
from helpers import FIXTURES, ROOT


def test_make_fixtures_reproduces_the_weights(tmp_path):
    result = subprocess.run(
        [sys.executable, str(FIXTURES / "make_fixtures.py"), str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    committed = sorted(p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("keras[23]/*"))
    regenerated = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("keras[23]/*"))
    assert regenerated == committed
    for name in committed:
        old = converter.state_dict(str(FIXTURES / name), layout="keras")  # every tensor, as stored
        new = converter.state_dict(str(tmp_path / name), layout="keras")
        assert list(old) == list(new), name
        for key in old:
            np.testing.assert_array_equal(old[key].view(np.uint8), new[key].view(np.uint8), err_msg=f"{name}:{key}")
