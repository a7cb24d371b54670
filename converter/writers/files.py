"""Atomic outputs: every file is written under a temporary name beside it, then published.

- Temporary names carry the host and process id (`.model.safetensors.<host>.<pid>.<token>.weightport.tmp`),
  so a later run into the same folder removes those of processes that died (kill -9, power
  loss); a temporary of a live process, or of another host, is never touched.
- Files are created with mode 0666 less the umask, as `open()` would make them.
- Publishing without `force` links the temporary to its final name, which fails if the name
  exists: of two conversions racing for one new file, one wins and the other fails cleanly.
- Every temporary this process made is removed on any exception, Ctrl-C, or SIGTERM (the CLI
  turns SIGTERM into an exception), and at exit.
"""
from __future__ import annotations

import atexit
import errno
import os
import re
import shutil
import sys
from typing import Callable, Iterable

from ..errors import ConverterError, WriteError

_SUFFIX = ".weightport.tmp"
_LIVE: set[str] = set()  # temporaries this process has made and not yet published or removed
_SWEPT: set[str] = set()  # folders already cleaned of dead processes' temporaries


def _host() -> str:
    if hasattr(os, "uname"):
        name = os.uname().nodename
    else:  # Windows: socket (and what it imports) only here, not in every start-up
        import socket

        name = socket.gethostname()
    return re.sub(r"[^A-Za-z0-9-]", "-", name)[:32] or "host"


_TEMPORARY = re.compile(r"^\..*\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+" + re.escape(_SUFFIX) + "$")


def temporary_for(destination: str) -> str:
    """A new, empty temporary file beside `destination` (mode from the umask), registered for cleanup."""
    folder, name = os.path.split(os.path.abspath(destination))
    sweep(folder)
    for _ in range(100):
        temporary = os.path.join(folder, f".{name[:120]}.{_host()}.{os.getpid()}.{os.urandom(4).hex()}{_SUFFIX}")
        # registered before it exists: a signal (SIGTERM, Ctrl-C) from the moment it does finds it in _LIVE
        # (removing a name that was never made is harmless)
        _LIVE.add(temporary)
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            _LIVE.discard(temporary)  # someone else's
            continue
        except OSError as error:
            _LIVE.discard(temporary)
            raise WriteError(f"{destination}: cannot create a file in {folder} ({error.strerror or error}); "
                             "choose a folder you can write to") from None
        os.close(handle)
        return temporary
    raise WriteError(f"{destination}: cannot find a free temporary name in {folder}")


def sweep(folder: str) -> None:
    """Remove temporaries that dead processes of this host left in `folder` (once per folder)."""
    if folder in _SWEPT or sys.platform == "win32":  # os.kill(pid, 0) would end the process there
        return
    _SWEPT.add(folder)
    host = _host()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.match(name)
        if match and match["host"] == host and not _alive(int(match["pid"])):
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove(paths: Iterable[str]) -> None:
    """Remove temporaries (or outputs being rolled back); missing ones are fine."""
    for path in list(paths):
        _LIVE.discard(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            pass


def remove_all() -> None:
    """Remove every temporary this process still has (at exit, on a signal)."""
    remove(list(_LIVE))


atexit.register(remove_all)


def publish(temporary: str, destination: str, force: bool) -> None:
    """Give `temporary` its final name: replacing an existing file only with `force`."""
    if force:
        _replace(temporary, destination)
        return
    try:
        os.link(temporary, destination)  # atomic, and fails if the name exists
    except FileExistsError:
        raise WriteError(f"{destination}: already exists (another conversion may have just written it); "
                         "pass --force (force=True) to overwrite it") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise WriteError(f"{destination}: cannot write ({error.strerror or error})") from None
        if os.path.lexists(destination):  # no hard links here: check, then rename
            raise WriteError(f"{destination}: already exists; pass --force (force=True) to overwrite it") from None
        _replace(temporary, destination)
        return
    remove([temporary])


def _replace(temporary: str, destination: str) -> None:
    try:
        os.replace(temporary, destination)
    except OSError as error:
        raise WriteError(f"{destination}: cannot write ({error.strerror or error})") from None
    _LIVE.discard(temporary)


def atomic(destination: str, write_to: Callable[[str], None], force: bool,
           validate: Callable[[], None] | None = None) -> None:
    """Write `destination` through `write_to(temporary)`, check with `validate`, then publish it."""
    temporary = temporary_for(destination)
    try:
        try:
            write_to(temporary)
        except ConverterError:
            raise
        except Exception as error:  # the formats' own libraries raise their own kinds on I/O failure
            if not is_write_failure(error):
                raise
            raise WriteError(f"{destination}: cannot write ({describe(error)})") from None
        if validate is not None:
            validate()
        publish(temporary, destination, force)
    finally:
        if temporary in _LIVE:  # not published: failed or interrupted
            remove([temporary])


def write_text(destination: str, text: str, force: bool) -> None:
    """A small text file (a generated model, a record), written atomically."""

    def write_to(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    atomic(destination, write_to, force)


def copy_file(source: str, destination: str, force: bool) -> None:
    """A copy of a small data file (a tokenizer's vocabulary), written atomically."""
    def copy_to(temporary: str) -> None:
        shutil.copyfile(source, temporary)

    atomic(destination, copy_to, force)


def is_write_failure(error: BaseException) -> bool:
    """An OSError, or an error torch, h5py, numpy or zipfile raise when a write fails (disk full...)."""
    if isinstance(error, OSError):
        return True
    trace, last = error.__traceback__, None
    while trace is not None:
        last, trace = trace, trace.tb_next
    module = str(last.tb_frame.f_globals.get("__name__", "")) if last is not None else ""
    return isinstance(error, (RuntimeError, ValueError)) and module.split(".")[0] in ("torch", "h5py", "zipfile")


def describe(error: BaseException) -> str:
    """An I/O error in a few words: the system's message, not a library's stack."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    return (text[-1] if text else type(error).__name__)[:200]
