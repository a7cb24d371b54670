"""What happens to outputs when things go wrong: signals, full disks, read-only folders, races, mistakes.

Every case runs `cli.py` in a fresh process, as a user or a job scheduler would, and checks
that nothing half-written is left, nothing that should survive is destroyed, and the user
sees one line (or nothing, for Ctrl-C and a closed pipe) with the documented exit code.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, fixture, run_cli

sys.path.insert(0, str(ROOT / "fuzz"))
from craft import dense_model, write_archive  # noqa: E402

FORMATS = [".safetensors", ".npz", ".h5", ".pt"]


def cli_process(*arguments: str, **options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, **options)


@pytest.fixture(scope="module")
def big_model(tmp_path_factory) -> Path:
    """A 256 MB model: converting it takes long enough to be interrupted."""
    folder = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((8192, 8192), dtype=np.float32)
    return write_archive(folder / "big.keras", dense_model(8192, 8192),
                         {"layers/dense": [kernel, np.ones(8192, np.float32)]})


def interruptible() -> None:
    """Ctrl-C as a terminal delivers it: a command a shell started in the background without job control
    (`make test &` in a script) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def wait_for_temporary(folder: Path, process: subprocess.Popen, limit: float = 60.0) -> None:
    start = time.monotonic()
    while not leftovers(folder):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - start < limit, "no temporary file appeared"
        time.sleep(0.001)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_removes_temporary_files(tmp_path, big_model, signum, code):
    destination = tmp_path / "out.safetensors"
    process = cli_process("convert", str(big_model), str(destination), "--quiet", preexec_fn=interruptible)
    wait_for_temporary(tmp_path, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and stderr.strip() == "", stderr
    assert leftovers(tmp_path) == [] and not destination.exists()


def test_a_later_run_removes_what_a_killed_one_left(tmp_path, big_model):
    process = cli_process("convert", str(big_model), str(tmp_path / "out.safetensors"), "--quiet")
    wait_for_temporary(tmp_path, process)
    process.kill()  # kill -9: nothing can clean up
    process.communicate(timeout=60)
    stale = leftovers(tmp_path)
    assert stale, "kill -9 should have left the temporary file"
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "small.safetensors"))
    assert result.returncode == 0, result.stderr
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", FORMATS + [".py", "record"])
def test_outputs_take_their_mode_from_the_umask(tmp_path, suffix):
    if suffix == ".py":
        arguments = ["export", fixture("keras3/mlp.keras"), str(tmp_path / "model.py")]
    elif suffix == "record":
        arguments = ["convert", fixture("keras3/mlp.keras"), str(tmp_path / "w.npz"), "--record",
                     str(tmp_path / "record.json")]
    else:
        arguments = ["convert", fixture("keras3/mlp.keras"), str(tmp_path / f"w{suffix}")]
    process = cli_process(*arguments, preexec_fn=lambda: os.umask(0o022))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    for written in tmp_path.iterdir():
        assert stat.S_IMODE(written.stat().st_mode) == 0o644, written.name


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, suffix):
    def small_disk() -> None:  # writes past 64 KB fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    destination = tmp_path / f"w{suffix}"
    process = cli_process("convert", fixture("keras3/mlp.keras"), str(destination), preexec_fn=small_disk)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("weightport: error: ") and "cannot write" in lines[0], stderr
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can write in: mode 555, and for root (who ignores modes) immutable."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    os.chmod(folder, 0o555)
    immutable = os.geteuid() == 0
    if immutable and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not allowed: no folder is read-only")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    os.chmod(folder, 0o755)


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_read_only_folder_is_one_line(read_only_folder, suffix):
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(read_only_folder / f"w{suffix}"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ("not writable" in lines[0] or "cannot create a file" in lines[0]), result.stderr
    assert list(read_only_folder.iterdir()) == []


def test_destination_may_not_be_the_source_even_with_force(tmp_path):
    source = tmp_path / "model.h5"
    source.write_bytes(Path(fixture("keras2/mlp.h5")).read_bytes())
    before = source.read_bytes()
    link = tmp_path / "link.h5"
    os.link(source, link)
    for destination in (source, link):
        result = run_cli("convert", str(source), str(destination), "--force")
        assert result.returncode == 2 and "destroy the source" in result.stderr, result.stderr
    assert source.read_bytes() == before


def test_record_is_checked_before_converting(tmp_path):
    destination = tmp_path / "w.safetensors"
    same = run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "--record", str(destination))
    assert same.returncode == 2 and "give --record another name" in same.stderr, same.stderr
    missing = run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "--record",
                      str(tmp_path / "no" / "record.json"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr, missing.stderr
    assert list(tmp_path.iterdir()) == []


def test_two_conversions_racing_for_one_new_file(tmp_path, big_model):
    destination = tmp_path / "out.safetensors"
    processes = [cli_process("convert", str(big_model), str(destination), "--quiet") for _ in range(2)]
    results = [(process.wait(timeout=120), process.communicate()[1]) for process in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    assert "already exists" in next(stderr for code, stderr in results if code == 2)
    assert leftovers(tmp_path) == []


def test_force_over_sharded_output_removes_only_its_old_shards(tmp_path):
    destination = tmp_path / "model.safetensors"
    first = run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "--max-shard-size", "100KB")
    assert first.returncode == 0, first.stderr
    old = sorted(path.name for path in tmp_path.glob("model-*.safetensors"))
    assert len(old) > 1
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "other-00001-of-00002.safetensors").write_text("not ours")
    again = run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "--force")
    assert again.returncode == 0, again.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "model.safetensors", "notes.txt", "other-00001-of-00002.safetensors"]
    without_force = run_cli("convert", fixture("keras3/mlp.keras"), str(destination), "--max-shard-size", "100KB")
    assert without_force.returncode == 2


def test_a_closed_pipe_ends_quietly(tmp_path):
    process = cli_process("inspect", fixture("keras3/nested.keras"))
    process.stdout.close()  # as `| head -0` does
    stderr = process.stderr.read()
    process.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_a_bug_of_ours_is_one_line_with_its_own_exit_code(monkeypatch, capsys):
    sys.path.insert(0, str(ROOT))
    from converter import cli
    import converter

    def broken(*arguments, **options):
        raise ZeroDivisionError("simulated")

    monkeypatch.setattr(converter, "inspect", broken)
    assert cli.main(["inspect", fixture("keras3/mlp.keras")]) == cli.EXIT_BUG
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "a bug in weightport" in lines[0] and "--debug" in lines[0]
    with pytest.raises(ZeroDivisionError):
        cli.main(["--debug", "inspect", fixture("keras3/mlp.keras")])


def test_record_is_written_atomically_with_the_weights(tmp_path):
    record = tmp_path / "record.json"
    result = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "w.npz"), "--record", str(record))
    assert result.returncode == 0, result.stderr
    assert json.loads(record.read_text())[0]["key"] == "dense_1.weight"
    again = run_cli("convert", fixture("keras3/mlp.keras"), str(tmp_path / "w2.npz"), "--record", str(record))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_signal_the_moment_the_temporary_exists_still_has_it_removed(tmp_path, monkeypatch):
    """A signal handled right after the temporary file is made (before the code that made it returns) raises there;
    the file is already registered, so the exit's cleanup removes it (a CI run once left one under load)."""
    from converter.writers import files

    class InterruptedOs:
        def __getattr__(self, name: str):
            return getattr(os, name)

        @staticmethod
        def close(handle: int) -> None:
            os.close(handle)
            raise KeyboardInterrupt  # as a SIGINT handled just after the file was made

    monkeypatch.setattr(files, "os", InterruptedOs())
    with pytest.raises(KeyboardInterrupt):
        files.temporary_for(str(tmp_path / "out.safetensors"))
    monkeypatch.undo()
    assert len(leftovers(tmp_path)) == 1
    files.remove_all()  # what atexit runs
    assert leftovers(tmp_path) == []
