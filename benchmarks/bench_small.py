"""Small and many-tensor models, side by side with what they cannot beat, in one run:

  a 34 KB model      `weightport convert` against `python -c "import converter"` (start-up alone)
  ResNet50 (98 MB)   `weightport convert` against copying the file
  NASNetMobile       `weightport inspect` against start-up alone

Each step is a fresh process timed from outside (imports included, as a user waits for
them), with its peak resident set (ru_maxrss). The steps run in turn, --repeats rounds of
all of them, and the median of each step's runs is reported.

    .venv/bin/python benchmarks/bench_small.py --repeats 5

Needs keras and tensorflow (to write the models once).
"""
from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MAKE = r"""
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
kind, path = sys.argv[1], sys.argv[2]
if kind == "small":
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64), keras.layers.Dense(64),
                              keras.layers.Dense(10)])
else:
    model = getattr(keras.applications, kind)(weights=None)
model.save(path)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds of one fresh process, imports included."""
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def median(runs: list[float]) -> float:
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    compileall.compile_dir(os.path.join(ROOT, "converter"), quiet=1)
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    python = sys.executable
    cli = [python, "-m", "converter"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="weightport_bench_small_") as folder:
        paths = {}
        for kind in ("small", "ResNet50", "NASNetMobile"):
            paths[kind] = os.path.join(folder, f"{kind}.keras")
            subprocess.run([python, "-c", MAKE, kind, paths[kind]], check=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = os.path.join(folder, "out.safetensors")

        copy_target = os.path.join(folder, "copy.keras")
        steps = {  # name: (command, a file it writes, removed before each run)
            "start-up": ([python, "-c", "import converter"], None),
            "small": (cli + ["convert", paths["small"], out], out),
            "copy": ([python, "-c", f"import shutil; shutil.copyfile({paths['ResNet50']!r}, {copy_target!r})"],
                     copy_target),
            "resnet": (cli + ["convert", paths["ResNet50"], out], out),
            "nasnet": (cli + ["inspect", paths["NASNetMobile"]], None),
        }
        # Round-robin: each round runs every step once, so that a change in the machine's speed while the
        # benchmark runs (a VM's neighbours) weighs on a step and its baseline alike.
        every_run: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(arguments.repeats):
            for name, (command, written) in steps.items():
                if written and os.path.exists(written):
                    os.remove(written)
                every_run[name].append(timed(command, env))
        took = {name: median(runs) for name, runs in every_run.items()}

        # memory: each step once more, in a probe process reporting its child's peak (ru_maxrss)
        def peak_mb(command: list[str]) -> float:
            probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                     "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                     "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            if os.path.exists(out):
                os.remove(out)
            result = subprocess.run([python, "-c", probe, *command], check=True, env=env, capture_output=True,
                                    text=True)
            return int(result.stdout.strip()) / 1024

        rows.append(("34 KB model: convert", os.path.getsize(paths["small"]), took["small"], "import converter",
                     took["start-up"], peak_mb(steps["small"][0]), peak_mb(steps["start-up"][0])))
        rows.append(("ResNet50: convert", os.path.getsize(paths["ResNet50"]), took["resnet"], "copy (a process)",
                     took["copy"], peak_mb(steps["resnet"][0]), float("nan")))
        rows.append(("NASNetMobile: inspect", os.path.getsize(paths["NASNetMobile"]), took["nasnet"],
                     "import converter", took["start-up"], peak_mb(steps["nasnet"][0]), float("nan")))
        shutil.rmtree(folder, ignore_errors=True)
    print("| step | file | seconds | baseline | baseline seconds | ratio | peak RSS MB (baseline) |")
    print("|---|---|---|---|---|---|---|")
    for name, size, seconds, baseline, base_seconds, peak, base_peak in rows:
        base_rss = "" if base_peak != base_peak else f" ({base_peak:.0f})"
        print(f"| {name} | {size / 1e6:.2f} MB | {seconds:.3f} | {baseline} | {base_seconds:.3f} | "
              f"{seconds / base_seconds:.2f}x | {peak:.0f}{base_rss} |")
    print("\nevery run, in ms, round by round (the medians above are of these):")
    for name, runs in every_run.items():
        print(f"  {name:9} " + " ".join(f"{run * 1e3:4.0f}" for run in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
