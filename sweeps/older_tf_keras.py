"""The fuzzer's tf.keras graphs written and run by an older TensorFlow: files of tf.keras 2.12 to 2.20 must build as
that tf.keras computed them.

An older TensorFlow needs a virtual environment of its own (its numpy and h5py), so a sweep runs in two steps: `make`,
in that environment, builds each seed's random graph (tests/random_graphs.py, the odd seeds' tf.keras graphs of
sweeps/random_graphs.py, with the same weights and inputs), runs it, and saves the model (.h5, and .keras where that
tf.keras writes one and loads it back) with its inputs and outputs; `check`, in the project's venv, converts each file,
builds it with `to_torch` in both input layouts and compares with those outputs (tests/graph_fuzz.py's measure and
tolerance). `make` imports neither torch nor weightport.

    python3.11 -m venv /tmp/tf212 && /tmp/tf212/bin/pip install tensorflow-cpu==2.12.1
    /tmp/tf212/bin/python sweeps/older_tf_keras.py make /tmp/tf212_graphs --start 770000 --count 500
    .venv/bin/python sweeps/older_tf_keras.py check /tmp/tf212_graphs --json /tmp/tf212.json

Exit status of `check`: 1 when any graph mismatched or crashed.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make(folder: Path, seeds: range) -> int:
    """Each seed's tf.keras graph, run and saved by the TensorFlow running this (no torch, no weightport)."""
    import tensorflow as tf

    from random_choices import SeededChooser
    from random_graphs import draw_inputs, generate
    from random_weights import randomize

    keras = tf.keras
    folder.mkdir(parents=True, exist_ok=True)
    status: dict[int, str] = {}
    for seed in seeds:
        keras.backend.clear_session()  # auto names from dense, dense_1 again: graphs reproduce by seed
        chooser = SeededChooser(seed)
        try:
            built = generate(keras, chooser, "keras2", 8)
            randomize(built.model, seed=5)
            inputs = draw_inputs(built, chooser)
            as_list = len(inputs) > 1 or isinstance(built.model.input, (list, tuple))
            outputs = built.model(inputs if as_list else inputs[0], training=False)
            outputs = [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
        except Exception as error:  # noqa: BLE001 - this Keras refusing a random combination is not ours to judge
            status[seed] = f"keras-rejected: {type(error).__name__}: {str(error)[:100]}"
            continue
        if not all(np.all(np.isfinite(output)) for output in outputs):
            status[seed] = "keras-rejected: non-finite Keras output"
            continue
        saved = []
        for suffix in (".h5", ".keras"):
            path = folder / f"{seed}{suffix}"
            try:  # a file this Keras cannot write, or cannot load back, is no test of the converter
                built.model.save(str(path))
                if not built.lambdas:  # a Lambda's function, loaded, lacks the `K` its globals gave it
                    keras.models.load_model(str(path), compile=False)
                saved.append(suffix)
            except Exception:  # noqa: BLE001 - Keras's own errors are of many kinds
                path.unlink(missing_ok=True)
        if not saved:
            status[seed] = "keras-rejected: cannot save and load its own files"
            continue
        np.savez(folder / f"{seed}.npz", **{f"in{i}": a for i, a in enumerate(inputs)},
                 **{f"out{i}": a for i, a in enumerate(outputs)})
        (folder / f"{seed}.txt").write_text(built.describe())
        (folder / f"{seed}.lambdas.json").write_text(json.dumps(built.lambdas))
        status[seed] = "saved " + " ".join(saved)
    previous = folder / "made.json"
    made = json.loads(previous.read_text()) if previous.exists() else {}
    made.update({str(seed): text for seed, text in status.items()})
    previous.write_text(json.dumps({"tensorflow": tf.__version__, **made}, indent=0))
    counts = collections.Counter(text.split(":")[0].split(" ")[0] for text in status.values())
    print(f"tf.keras {tf.__version__}: {dict(counts)}")
    return 0


def check(folder: Path, json_path: str | None) -> int:
    """Every saved graph converted and built, against the outputs its tf.keras computed."""
    import warnings

    import converter
    from build_harness import module_outputs
    from graph_fuzz import TOLERANCE, compare, refusal_reason

    warnings.simplefilter("ignore", converter.ConversionWarning)  # what the module cannot carry (masks): expected
    made = json.loads((folder / "made.json").read_text())
    counts: collections.Counter[str] = collections.Counter()
    rows: list[dict[str, Any]] = []
    failures = []
    started = time.perf_counter()
    for data_path in sorted(folder.glob("*.npz"), key=lambda path: int(path.stem)):
        seed = int(data_path.stem)
        data = np.load(data_path)
        inputs = [data[f"in{i}"] for i in range(sum(key.startswith("in") for key in data.files))]
        expected = [data[f"out{i}"] for i in range(sum(key.startswith("out") for key in data.files))]
        status, reason = "matched", ""
        given = folder / f"{seed}.lambdas.json"
        lambdas = json.loads(given.read_text()) if given.exists() else None
        try:
            for suffix in (".h5", ".keras"):
                path = folder / f"{seed}{suffix}"
                if not path.exists():
                    continue
                for layout in ("torch", "keras"):
                    module = converter.to_torch(str(path), input_layout=layout, lambdas=lambdas)
                    worst = compare(expected, module_outputs(module, inputs, layout))
                    if worst > TOLERANCE:
                        status, reason = "mismatched", f"{suffix} {layout} layout: {worst:.2e}"
                        break
                if status != "matched":
                    break
        except converter.ConverterError as error:
            status, reason = "refused", refusal_reason(str(error))
        except Exception as error:  # noqa: BLE001 - a crash is a failure to report
            status, reason = "crashed", f"{type(error).__name__}: {str(error)[:150]}"
        counts[status] += 1
        rows.append({"seed": seed, "status": status, "reason": reason})
        if status in ("mismatched", "crashed"):
            failures.append(seed)
            print(f"seed {seed} {status}: {reason}\n{(folder / f'{seed}.txt').read_text()}\n", flush=True)
    counts.update(text.split(":")[0] for key, text in made.items() if key != "tensorflow" and
                  text.startswith("keras-rejected"))
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    print(f"tf.keras {made.get('tensorflow')}: {sum(counts.values())} graphs, checked in {elapsed:.0f} s: {summary}")
    if failures:
        print(f"failing seeds: {' '.join(map(str, failures))}")
    if json_path:
        Path(json_path).write_text(json.dumps({"tensorflow": made.get("tensorflow"), "counts": counts,
                                               "rows": rows}, indent=1))
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    making = steps.add_parser("make", help="in the older TensorFlow's environment: build, run and save the graphs")
    making.add_argument("folder", type=Path)
    making.add_argument("--start", type=int, default=1, help="the first seed (odd seeds are the tf.keras graphs "
                                                            "of sweeps/random_graphs.py)")
    making.add_argument("--count", type=int, default=200, help="graphs to make (seeds START..START+COUNT-1)")
    checking = steps.add_parser("check", help="in the project's venv: convert, build and compare the saved graphs")
    checking.add_argument("folder", type=Path)
    checking.add_argument("--json", metavar="FILE", help="write every outcome as JSON")
    arguments = parser.parse_args()
    if arguments.step == "make":
        return make(arguments.folder, range(arguments.start, arguments.start + arguments.count))
    return check(arguments.folder, arguments.json)


if __name__ == "__main__":
    sys.exit(main())
