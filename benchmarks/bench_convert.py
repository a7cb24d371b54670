"""Convert synthetic Keras models of a given size and compare, in one run, on the same file:

  weightport   `weightport convert model.keras model.safetensors` (a fresh process)
  keras path   load_model, get_weights, transpose, torch.save (a fresh process)
  copy         `cp model.keras copy.keras`

Each is a separate process timed from outside (imports included, as a user waits for
them; weightport's modules byte-compiled first, as pip does) and reports its own peak
resident set (ru_maxrss: file pages it mapped included). Before each step (untimed) its
previous output is deleted and the disk synced. The copy is shutil.copyfile
(copy_file_range: the kernel copies, nothing passes through the process). The median of
--repeats runs is reported, with ratios against the other two, and every run in the JSON.

    .venv/bin/python benchmarks/bench_convert.py --sizes 256MB 1GB --kind dense conv --repeats 5

Writes a Markdown table to stdout (and --output). Needs keras, tensorflow and torch.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MAKE = r"""
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras, numpy as np
kind, size, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
width = 8192                                   # Dense(8192): 256 MB kernels, the largest tensor
if kind == "dense":
    count = max(1, round(size / (width * width * 4)))
    layers = [keras.Input((width,))] + [keras.layers.Dense(width) for _ in range(count)]
else:                                          # Conv2D(1024 -> 1024, 3x3): 36 MB kernels, channels-heavy
    count = max(1, round(size / (3 * 3 * 1024 * 1024 * 4)))
    layers = [keras.Input((8, 8, 1024))] + [keras.layers.Conv2D(1024, 3, padding="same") for _ in range(count)]
model = keras.Sequential(layers)
rng = np.random.default_rng(0)
for variable in model.weights:
    variable.assign(rng.standard_normal(tuple(variable.shape), dtype=np.float32) * 0.01)
model.save(path)
"""

MEASURE = r"""
import resource, sys, time
start = time.perf_counter()
{body}
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

WEIGHTPORT = r"""
sys.path.insert(0, {root!r})
from converter.cli import main
assert main(["convert", {source!r}, {target!r}, "--force", "--quiet"]) == 0
"""

KERAS_PATH = r"""
import os
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras, numpy as np, torch
model = keras.saving.load_model({source!r}, compile=False)
state = {{}}
for layer in model.layers:
    weights = layer.get_weights()
    if not weights:
        continue
    kernel = weights[0]
    kernel = kernel.T if kernel.ndim == 2 else kernel.transpose(3, 2, 0, 1)
    state[layer.name + ".weight"] = torch.from_numpy(np.ascontiguousarray(kernel))
    if len(weights) > 1:
        state[layer.name + ".bias"] = torch.from_numpy(weights[1])
torch.save(state, {target!r})
"""

COPY = r"""
import shutil
shutil.copyfile({source!r}, {target!r})
"""


def run(body: str, output: str) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of a fresh Python process running `body`.

    Untimed first: the step's output from the last repeat is deleted (freeing a large file
    can cost as much as writing it, on a file system mounted with `discard`), and dirty
    pages are flushed (else the kernel throttles whichever step comes next).
    """
    script = MEASURE.format(body=body)
    if os.path.exists(output):
        os.remove(output)
    os.sync()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{result.stderr[-3000:]}")
    peak = next(int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("PEAK_KB"))
    return elapsed, peak / 1024


def parse_size(text: str) -> int:
    units = {"MB": 1 << 20, "GB": 1 << 30}
    return int(float(text[:-2]) * units[text[-2:].upper()])


def bench(kind: str, size_text: str, repeats: int, folder: str) -> dict[str, object]:
    source = os.path.join(folder, f"{kind}_{size_text}.keras")
    subprocess.run([sys.executable, "-c", MAKE, kind, str(parse_size(size_text)), source], check=True,
                   capture_output=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    file_mb = os.path.getsize(source) / (1 << 20)
    outputs = {name: os.path.join(folder, file) for name, file in
               (("weightport", "out.safetensors"), ("keras", "out.pt"), ("copy", "copy.keras"))}
    steps = {
        "weightport": WEIGHTPORT.format(root=ROOT, source=source, target=outputs["weightport"]),
        "keras": KERAS_PATH.format(source=source, target=outputs["keras"]),
        "copy": COPY.format(source=source, target=outputs["copy"]),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    peaks: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, body in steps.items():  # interleaved, so that each sees the same machine state
            elapsed, peak = run(body, outputs[name])
            times[name].append(elapsed)
            peaks[name].append(peak)
    for name in ("out.safetensors", "out.pt", "copy.keras"):
        os.remove(os.path.join(folder, name))
    os.remove(source)
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "kind": kind, "size": size_text, "file_mb": round(file_mb), "repeats": repeats,
        "seconds": {name: round(value, 3) for name, value in median.items()},
        "runs": {name: [round(value, 3) for value in values] for name, values in times.items()},
        "peak_mb": {name: round(max(values)) for name, values in peaks.items()},
        "keras_over_weightport": round(median["keras"] / median["weightport"], 1),
        "weightport_over_copy": round(median["weightport"] / median["copy"], 2),
    }


def table(results: list[dict[str, object]]) -> str:
    lines = ["| model | file | weightport | Keras path | copy | Keras path / weightport | weightport / copy "
             "| peak RSS weightport | peak RSS Keras path |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        s, p = r["seconds"], r["peak_mb"]
        lines.append(f"| {r['kind']} {r['size']} | {r['file_mb']} MB | {s['weightport']:.2f} s | {s['keras']:.2f} s "
                     f"| {s['copy']:.2f} s | {r['keras_over_weightport']}x | {r['weightport_over_copy']}x "
                     f"| {p['weightport']} MB | {p['keras']} MB |")
    return "\n".join(lines)


def byte_compile() -> None:
    """Compile weightport's modules, as `pip install` does, so that its imports are timed as a
    user has them: an editable checkout under PYTHONDONTWRITEBYTECODE (set on the development
    machine) would otherwise compile every module at every start (measured: 55 ms against 19 ms).
    keras, tensorflow and torch were compiled when pip installed them."""
    compileall.compile_dir(os.path.join(ROOT, "converter"), quiet=1)
    compileall.compile_file(os.path.join(ROOT, "cli.py"), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["256MB", "1GB", "4GB"])
    parser.add_argument("--kind", choices=("dense", "conv"), nargs="+", default=["dense"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", help="where to write the models (default: a temporary folder)")
    parser.add_argument("--output", help="also write the results as JSON here")
    arguments = parser.parse_args()
    # Removed when the script ends: the models run to gigabytes (empty and unused with --folder).
    temporary = tempfile.TemporaryDirectory(prefix="weightport_bench_")
    folder = arguments.folder or temporary.name
    byte_compile()
    results = []
    for kind in arguments.kind:
        for size in arguments.sizes:
            results.append(bench(kind, size, arguments.repeats, folder))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(table(results))
    if arguments.output:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
