"""A TensorFlow checkpoint converted to safetensors, against copying its data file, in one run.

The checkpoint (tf.train.Checkpoint of float32 variables, --size in total) is written once
with TensorFlow; then each step is a fresh process timed from outside, the median of
--repeats runs reported: `weightport convert PREFIX out.safetensors --layout keras` (every
tensor's CRC-32C checked as its bytes pass once through the process, in 1 MB chunks) and a
copy of the data file, interleaved, the disk synced before each; the ratio of each pair is listed too.

    .venv/bin/python benchmarks/bench_checkpoint.py --size 1GB --repeats 7
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MAKE = r"""
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, tensorflow as tf
total, prefix = int(sys.argv[1]), sys.argv[2]
rows = 4096
count = max(1, total // (rows * 16384 * 4))
variables = {f"v{i}": tf.Variable(np.random.default_rng(i).normal(size=(rows, 16384)).astype("float32"))
             for i in range(count)}
tf.train.Checkpoint(**variables).write(prefix)
"""


def size_bytes(text: str) -> int:
    units = {"MB": 1 << 20, "GB": 1 << 30}
    return int(float(text[:-2]) * units[text[-2:].upper()]) if text[-2:].upper() in units else int(text)


def timed(command: list[str], env: dict[str, str], remove: str | None = None) -> float:
    if remove and os.path.exists(remove):
        os.remove(remove)
    os.sync()
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GB")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory(prefix="weightport_bench_ckpt_") as folder:
        prefix = os.path.join(folder, "ckpt")
        subprocess.run([sys.executable, "-c", MAKE, str(size_bytes(arguments.size)), prefix], check=True, env=env)
        data = prefix + ".data-00000-of-00001"
        out, copy = os.path.join(folder, "out.safetensors"), os.path.join(folder, "copy.data")
        convert = [sys.executable, "-m", "converter", "convert", prefix, out, "--layout", "keras", "-q"]
        copier = [sys.executable, "-c", f"import shutil; shutil.copyfile({data!r}, {copy!r})"]
        converts, copies = [], []
        for _ in range(arguments.repeats):  # interleaved: this machine's disk speed drifts within minutes
            converts.append(timed(convert, env, out))
            copies.append(timed(copier, env, copy))
        size = os.path.getsize(data)
    convert_s, copy_s = statistics.median(converts), statistics.median(copies)
    ratios = sorted(convert / copy for convert, copy in zip(converts, copies))
    print("| step | data | seconds (median) | GB/s | ratio to copy |")
    print("|---|---|---|---|---|")
    print(f"| weightport convert (checkpoint -> safetensors) | {size / 1e9:.2f} GB | {convert_s:.2f} | "
          f"{size / 1e9 / convert_s:.2f} | {convert_s / copy_s:.2f}x |")
    print(f"| copy of the data file (a process) | {size / 1e9:.2f} GB | {copy_s:.2f} | {size / 1e9 / copy_s:.2f} | "
          "1.00x |")
    print(f"\nratio of each interleaved pair: {', '.join(f'{ratio:.2f}' for ratio in ratios)} "
          f"(median {statistics.median(ratios):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
