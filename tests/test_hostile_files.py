"""Every crafted case of fuzz/hostile.py through every command: no code runs, nothing foreign is read.

For each case and each of inspect, convert, export and verify (run as the CLI runs, in
this process): no MARKER file appears, no output holds a byte of the secret files beside
it, no temporary file is left, and the command either succeeds or fails with one line and
exit code 2 (1 for a verify that ran and differs) — never a traceback or the bug exit
code. Where a case says a command must refuse, it does, with the words it names.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import pytest

from helpers import ROOT

sys.path.insert(0, str(ROOT / "fuzz"))
sys.path.insert(0, str(ROOT))
import hostile  # noqa: E402

from converter import cli  # noqa: E402


def run(arguments: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(arguments)
    return code, stdout.getvalue(), stderr.getvalue()


def arguments(command: str, source: Path, out: Path, case: hostile.Case) -> list[str]:
    options = [option.replace("{folder}", str(source.parent)) for option in case.options]
    if command == "convert":
        return ["convert", str(source), str(out / "weights.safetensors"), "--quiet", *options]
    if command == "export":
        return ["export", str(source), str(out / "model.py"), *options]
    if command == "verify":
        return ["verify", str(source), "--samples", "2", *options]
    return ["inspect", str(source), *options]


@pytest.mark.parametrize("case", hostile.CASES, ids=[case.name for case in hostile.CASES])
def test_hostile_file(tmp_path, monkeypatch, case):
    folder = tmp_path / "case"
    folder.mkdir()
    hostile.prepare(folder)
    source = case.make(folder)
    monkeypatch.setenv(hostile.MARKER_VARIABLE, hostile.marker(folder))
    for command in hostile.COMMANDS:
        out = tmp_path / f"out-{command}"
        out.mkdir()
        code, stdout, stderr = run(arguments(command, source, out, case))
        expected = case.refused.get(command, case.refused.get(hostile.ALL))
        where = f"{case.name} {command}: exit {code}\n{stderr}"
        assert "Traceback" not in stderr and code != cli.EXIT_BUG, where
        assert not os.path.exists(hostile.marker(folder)), f"{where}: code from the file ran"
        if expected is not None:
            assert code == 2, where
        assert code in (0, 2) or (code == 1 and command == "verify"), where
        if code == 2:
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("weightport: error: "), where
            # the words must be the message's own, not the test folder's name (which holds the case's)
            assert expected is None or expected in lines[0].replace(str(tmp_path), ""), where
        for written in out.iterdir():
            assert not written.name.startswith("."), f"{where}: temporary {written.name} left behind"
            assert hostile.SECRET not in written.read_bytes(), f"{where}: {written.name} holds foreign bytes"
