"""Coverage-guided fuzzing of weightport's readers, config checks and module builder (atheris).

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/fuzz_readers.py [--seconds 600] [--out fuzz/results]

Seeds are the fixture files and every crafted case of fuzz/hostile.py. Each input is
written to a file and given to `converter.inspect`, `converter.state_dict` and
`converter.to_torch`. A `ConverterError` is the expected answer to a bad file; any other
exception is a traceback (a bug of ours), an input running over 10 s a hang: both are
counted, saved under OUT/crashes, and the run goes on. `.keras` inputs are mutated with
their structure in mind half of the time (a JSON value of config.json replaced by one of
another type, size or sign, then the zip rebuilt); otherwise libFuzzer mutates the bytes.
Figures go to OUT/summary.json and the last line printed.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "fuzz"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import atheris  # noqa: E402

with atheris.instrument_imports():
    import converter  # noqa: F401, E402
    from converter.torch_build import build_module  # noqa: F401, E402

import hostile  # noqa: E402
import torch  # noqa: E402, F401  (imported once, not per input)

CASE_SECONDS = 10
ODD_VALUES = [0, -1, 1, 2 ** 40, -2 ** 63, 3.5, float("inf"), None, True, "", "same", "full", "x" * 300, [], [0],
              [1, 2, 3], {}, {"class_name": "Dense"}, [[1, 2], [3]], "__import__('os')", "channels_first", 1e308]
FIGURES = {"cases": 0, "refused": 0, "converted": 0, "tracebacks": 0, "hangs": 0}
SEEN: dict[str, int] = {}


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


def exercise(path: Path) -> None:
    """What a user does with a file: inspect it, convert it, build its module."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter.inspect(str(path))
        converter.state_dict(str(path))
        converter.to_torch(str(path))


def run_one(data: bytes, folder: Path) -> None:
    """One input through `exercise`; anything but a ConverterError is recorded."""
    path = folder / "input.bin"
    path.write_bytes(data)
    FIGURES["cases"] += 1
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        exercise(path)
        FIGURES["converted"] += 1
    except converter.ConverterError:
        FIGURES["refused"] += 1
    except Hang:
        record("hangs", data, "hang")
    except MemoryError:
        record("tracebacks", data, "MemoryError")
    except Exception as error:  # a bug of ours: keep going, keep the input
        frame = traceback.extract_tb(error.__traceback__)[-1]
        record("tracebacks", data, f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def record(kind: str, data: bytes, signature: str) -> None:
    FIGURES[kind] += 1
    SEEN[signature] = SEEN.get(signature, 0) + 1
    if SEEN[signature] == 1:
        crashes = OUT / "crashes"
        crashes.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:12]
        (crashes / f"{kind}-{name}.bin").write_bytes(data)
        print(f"\n{kind}: {signature} (input saved as {kind}-{name}.bin)", flush=True)


def mutate_config(data: bytes, seed: int) -> bytes | None:
    """A .keras archive whose config.json has one value replaced; None when `data` is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
        config = json.loads(members["config.json"])
    except Exception:
        return None
    rng = random.Random(seed)
    places: list[tuple[object, object]] = []
    stack = [config]
    while stack:
        item = stack.pop()
        children = list(item.items()) if isinstance(item, dict) else list(enumerate(item)) if isinstance(item, list) \
            else []
        for key, value in children:
            places.append((item, key))
            stack.append(value)
    if not places:
        return None
    for _ in range(rng.randint(1, 3)):
        parent, key = rng.choice(places)
        parent[key] = rng.choice(ODD_VALUES)  # type: ignore[index]
    members["config.json"] = json.dumps(config).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, member in members.items():
            archive.writestr(name, member)
    return out.getvalue()


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    if seed % 2 == 0:
        mutated = mutate_config(data, seed)
        if mutated is not None and len(mutated) <= max_size:
            return mutated
    return atheris.Mutate(data, max_size)


def seeds(folder: Path) -> list[Path]:
    files = [path for path in (ROOT / "fixtures").rglob("*") if path.suffix in (".h5", ".keras")]
    for case, made in hostile.make_all(folder / "hostile"):
        if made.is_file() and made.stat().st_size < 8 << 20:
            files.append(made)
    return files


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--out", default=str(ROOT / "fuzz" / "results"))
    parser.add_argument("--replay", nargs="+", metavar="INPUT", help="run saved inputs and print their tracebacks")
    options, rest = parser.parse_known_args()
    if options.replay:
        for name in options.replay:
            print(f"== {name}")
            try:
                exercise(Path(name))
                print("converted")
            except converter.ConverterError as error:
                print(f"refused: {error}")
            except Exception:
                traceback.print_exc()
        return
    OUT = Path(options.out)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="weightport-fuzz-"))
    corpus = work / "corpus"
    corpus.mkdir()
    for index, path in enumerate(seeds(work)):
        (corpus / f"seed-{index:03d}{path.suffix}").write_bytes(path.read_bytes())
    signal.signal(signal.SIGALRM, _alarm)
    started = time.monotonic()

    def report() -> None:
        figures = {**FIGURES, "seconds": round(time.monotonic() - started), "signatures": SEEN}
        (OUT / "summary.json").write_text(json.dumps(figures, indent=2))
        print(f"\nfuzz: {FIGURES['cases']} cases in {figures['seconds']} s: {FIGURES['refused']} refused, "
              f"{FIGURES['converted']} converted, {FIGURES['tracebacks']} tracebacks, {FIGURES['hangs']} hangs",
              flush=True)

    def target(data: bytes) -> None:
        if time.monotonic() - started > options.seconds:  # libFuzzer's own exit skips Python's: end here
            report()
            os._exit(0)
        run_one(data, work)
        if FIGURES["cases"] % 500 == 0:
            report()

    atheris.Setup([sys.argv[0], str(corpus), "-rss_limit_mb=6144", "-max_len=4194304", *rest], target,
                  custom_mutator=custom_mutator)
    atheris.Fuzz()


OUT = ROOT / "fuzz" / "results"

if __name__ == "__main__":
    main()
