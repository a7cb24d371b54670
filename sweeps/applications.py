"""Every keras.applications model of the installed Keras: convert, build in both layouts, verify per layer.

Iterates the module (no names listed by hand). Each model is built with random weights and
non-trivial BatchNorm statistics (tests/layer_harness.randomize), saved as a `.keras` file,
converted, built with `to_torch` in the torch and keras input layouts and checked with
`verify --per-layer` in each. Where float32 rounding of a deep random network dominates
(verify in float32 not ok), both sides are compared again in float64 and the table says so.

    .venv/bin/python sweeps/applications.py                 # all, table on stdout
    .venv/bin/python sweeps/applications.py --only ResNet50 --size 96
    .venv/bin/python sweeps/applications.py --markdown      # the README table

Slow (tens of minutes on two cores): not part of `make test`; `make applications` runs it.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# A folder of our own, removed when the process ends, unless the caller chose one.
_KERAS_HOME = None if "KERAS_HOME" in os.environ else tempfile.TemporaryDirectory(prefix="weightport_keras_home_")
if _KERAS_HOME is not None:
    os.environ["KERAS_HOME"] = _KERAS_HOME.name
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

import converter  # noqa: E402
from layer_harness import randomize  # noqa: E402

#: the smallest input each family accepts is larger than some others'; this size suits them all
DEFAULT_SIZE = 96
MINIMUM_SIZES = {"InceptionV3": 96, "InceptionResNetV2": 96, "Xception": 96, "NASNetLarge": 96, "NASNetMobile": 96}


def applications() -> list[str]:
    """Every model constructor keras.applications exports."""
    return sorted(name for name in dir(keras.applications)
                  if name[:1].isupper() and callable(getattr(keras.applications, name)))


def build(name: str, size: int) -> keras.Model:
    constructor = getattr(keras.applications, name)
    try:
        return constructor(weights=None, input_shape=(size, size, 3))
    except ValueError:  # fixed input sizes (NASNet with its top): the default one
        return constructor(weights=None)


def run(name: str, size: int, folder: Path) -> dict:
    row: dict = {"model": name}
    started = time.perf_counter()
    try:
        model = build(name, max(size, MINIMUM_SIZES.get(name, 0)))
        randomize(model, seed=3)
        row["input"] = "x".join(str(d) for d in model.inputs[0].shape[1:])
        row["parameters"] = model.count_params()
        path = str(folder / f"{name}.keras")
        model.save(path)
        del model
        gc.collect()
        row["tensors"] = len(converter.state_dict(path))
        for layout in ("torch", "keras"):
            report = converter.verify(path, per_layer=True, samples=2, input_layout=layout)
            precision = report.precision
            if not report.ok:  # float32 noise of a deep random network, or a real difference: float64 decides
                report = converter.verify(path, per_layer=True, samples=2, input_layout=layout, precision="float64")
                precision = "float64"
            worst = max(report.outputs + report.layers, key=lambda row: row.max_rel)
            row[layout] = {"ok": report.ok, "precision": precision, "layers": len(report.layers),
                           "max_rel": worst.max_rel, "worst": worst.name,
                           "first_divergence": report.first_divergence}
        row["status"] = "ok" if row["torch"]["ok"] and row["keras"]["ok"] else "FAILED"
    except converter.ConverterError as error:
        row["status"] = "refused"
        row["error"] = str(error)[:300]
    except Exception as error:  # noqa: BLE001 - a sweep reports every failure and goes on
        row["status"] = "crashed"
        row["error"] = f"{type(error).__name__}: {str(error)[:300]}"
        row["traceback"] = traceback.format_exc()[-2000:]
    row["seconds"] = round(time.perf_counter() - started, 1)
    keras.backend.clear_session()
    gc.collect()
    return row


def markdown(rows: list[dict]) -> str:
    lines = ["| model | input | parameters | per-layer verify, torch layout | keras layout | max rel diff | seconds |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["status"] in ("refused", "crashed"):
            lines.append(f"| {row['model']} | - | - | {row['status']}: {row.get('error', '')[:80]} | | | "
                         f"{row['seconds']} |")
            continue
        cells = []
        for layout in ("torch", "keras"):
            result = row[layout]
            cells.append(f"{'ok' if result['ok'] else 'FAILED'} ({result['layers']} layers, {result['precision']})")
        worst = max(row["torch"]["max_rel"], row["keras"]["max_rel"])
        lines.append(f"| {row['model']} | {row['input']} | {row['parameters']:,} | {cells[0]} | {cells[1]} | "
                     f"{worst:.1e} | {row['seconds']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="model names (default: every one keras.applications exports)")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"input height and width ({DEFAULT_SIZE})")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the README table at the end")
    arguments = parser.parse_args()
    names = arguments.only or applications()
    rows = []
    with tempfile.TemporaryDirectory(prefix="weightport_applications_") as folder:
        for name in names:
            row = run(name, arguments.size, Path(folder))
            rows.append(row)
            detail = row.get("error") or " ".join(
                f"{layout}: {row[layout]['precision']} max rel {row[layout]['max_rel']:.1e}"
                for layout in ("torch", "keras"))
            print(f"{name:20} {row['status']:8} {row['seconds']:7.1f}s  {detail}", flush=True)
            if arguments.json:
                Path(arguments.json).write_text(json.dumps(rows, indent=1))
    if arguments.markdown:
        print(markdown(rows))
    failed = [row["model"] for row in rows if row["status"] != "ok"]
    print(f"\n{len(rows)} models: {len(rows) - len(failed)} ok" + (f", not ok: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
