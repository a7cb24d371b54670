"""The random-graph differential fuzzer's long run: many seeded graphs, figures for the README.

Each seed is one random functional model (tests/random_graphs.py), built in Keras 3 (even
seeds) or tf.keras 2 (odd seeds), saved in every format that Keras writes, converted, built
by `to_torch` in both input layouts and exported as `model.py`, and compared with Keras
(tests/graph_fuzz.py). A failing seed reproduces alone with `--seeds N`.

An earlier Keras 3, installed beside the project's (`pip install --no-deps --target /tmp/keras38
keras==3.8.0`) and put first on PYTHONPATH, writes and runs the Keras 3 graphs (`--keras3-only`): the
module must compute as the Keras that wrote the file did (a generator step whose layer that Keras lacks
is counted as crashed, the generator's own fault).

Keras 3 runs on its torch backend here (KERAS_BACKEND=torch unless set): TensorFlow's CPU
kernels compute channels_first separable and depthwise convolutions wrongly under Keras 3
(in eager and graph mode alike), so they cannot be the reference; tf.keras graphs run on
TensorFlow as always. The saved files do not depend on the backend.

    .venv/bin/python sweeps/random_graphs.py --count 2000            # the README figures
    .venv/bin/python sweeps/random_graphs.py --seeds 17 --verbose    # one graph, described
    PYTHONPATH=/tmp/keras38 .venv/bin/python sweeps/random_graphs.py --keras3-only --count 200 --start 606000

Exit status 1 when any graph mismatched or crashed.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("KERAS_BACKEND", "torch")  # see the docstring: TensorFlow CPU and channels_first
# A folder of our own, removed when the process ends, unless the caller chose one.
_KERAS_HOME = None if "KERAS_HOME" in os.environ else tempfile.TemporaryDirectory(prefix="weightport_keras_home_")
if _KERAS_HOME is not None:
    os.environ["KERAS_HOME"] = _KERAS_HOME.name
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from graph_fuzz import run_graph  # noqa: E402
from random_choices import SeededChooser  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="graphs to try (seeds START..START+COUNT-1)")
    parser.add_argument("--start", type=int, default=0, help="the first seed")
    parser.add_argument("--seeds", type=int, nargs="*", help="exactly these seeds")
    parser.add_argument("--max-steps", type=int, default=8, help="steps per graph (8)")
    parser.add_argument("--json", metavar="FILE", help="write every outcome as JSON")
    parser.add_argument("--verbose", action="store_true", help="describe every graph")
    parser.add_argument("--keras3-only", action="store_true",
                        help="only the Keras 3 graphs (even seeds, COUNT of them): an earlier Keras 3 on PYTHONPATH")
    arguments = parser.parse_args()
    seeds = arguments.seeds if arguments.seeds is not None else range(arguments.start,
                                                                       arguments.start + arguments.count)
    if arguments.keras3_only and arguments.seeds is None:
        first = arguments.start + arguments.start % 2
        seeds = range(first, first + 2 * arguments.count, 2)
    counts: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    rows, failures = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="weightport_graphs_") as folder:
        for seed in seeds:
            writer = "keras3" if seed % 2 == 0 else "keras2"
            outcome = run_graph(SeededChooser(seed), writer, Path(folder), arguments.max_steps)
            counts[outcome.status + (f" {outcome.reason}" if outcome.status == "matched" and outcome.reason
                                     else "")] += 1
            if outcome.status in ("refused", "keras-rejected"):
                reasons[f"{outcome.status}: {outcome.reason}"] += 1
            rows.append({"seed": seed, "writer": writer, "status": outcome.status, "reason": outcome.reason})
            if outcome.failed:
                failures.append(seed)
                print(f"seed {seed} ({writer}) {outcome.status}: {outcome.reason}\n{outcome.description}\n",
                      flush=True)
            elif arguments.verbose:
                print(f"seed {seed} ({writer}) {outcome.status} {outcome.reason}\n{outcome.description}\n")
            done = sum(counts.values())
            if done % 50 == 0:
                print(f"... {done} graphs, {dict(counts)}, {time.perf_counter() - started:.0f} s", flush=True)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    print(f"\n{sum(counts.values())} graphs in {elapsed:.0f} s: {summary}")
    for reason, n in reasons.most_common():
        print(f"  {n:5}  {reason}")
    if failures:
        print(f"failing seeds: {' '.join(map(str, failures))}")
    if arguments.json:
        Path(arguments.json).write_text(json.dumps({"counts": counts, "reasons": reasons, "rows": rows,
                                                    "seconds": round(elapsed)}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
