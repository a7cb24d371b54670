"""Time `weightport convert` of the same file with this checkout and with an earlier revision.

    .venv/bin/python benchmarks/compare_revisions.py --base 4aacf55 --sizes 1GB --kind dense conv --pairs 7

The base revision is exported (`git archive`) into a temporary folder; each step is a fresh
process of the same Python importing weightport from one tree or the other (checked), both
byte-compiled first. Steps run in pairs, the order alternating from pair to pair, each
after its output is deleted and the disk synced, so that both see the same machine. Reports
per size the median of each and the ratio this / base, and every run, as JSON.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_convert import MAKE, ROOT, parse_size  # noqa: E402

STEP = r"""
import sys
sys.path.insert(0, {root!r})
import converter
assert converter.__file__.startswith({root!r}), converter.__file__
try:
    from converter.cli import main
except ImportError:  # revisions before the CLI moved into the package (issue 14)
    from cli import main
assert main(["convert", {source!r}, {target!r}, "--force", "--quiet"]) == 0
"""


def export(revision: str, folder: str) -> str:
    """The tree of `revision` under `folder`, byte-compiled."""
    archive = os.path.join(folder, "base.tar")
    subprocess.run(["git", "-C", ROOT, "archive", "-o", archive, revision], check=True)
    tree = os.path.join(folder, "base")
    with tarfile.open(archive) as handle:
        handle.extractall(tree, filter="data")
    compile_tree(tree)
    return tree


def compile_tree(tree: str) -> None:
    compileall.compile_dir(os.path.join(tree, "converter"), quiet=1)
    compileall.compile_file(os.path.join(tree, "cli.py"), quiet=1)


def timed(tree: str, source: str, target: str) -> float:
    if os.path.exists(target):
        os.remove(target)
    os.sync()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", STEP.format(root=tree, source=source, target=target)],
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"step failed in {tree}:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the revision to compare with (a commit or tag)")
    parser.add_argument("--sizes", nargs="+", default=["1GB"])
    parser.add_argument("--kind", choices=("dense", "conv"), nargs="+", default=["dense"])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--folder", help="where to write models and the base tree (default: a temporary folder)")
    arguments = parser.parse_args()
    # Removed when the script ends: the models run to gigabytes (empty and unused with --folder).
    temporary = tempfile.TemporaryDirectory(prefix="weightport_compare_")
    folder = arguments.folder or temporary.name
    base = export(arguments.base, folder)
    compile_tree(ROOT)
    trees = {"this": ROOT, "base": base}
    results = []
    for kind in arguments.kind:
        for size in arguments.sizes:
            source = os.path.join(folder, f"{kind}_{size}.keras")
            subprocess.run([sys.executable, "-c", MAKE, kind, str(parse_size(size)), source], check=True,
                           capture_output=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            target = os.path.join(folder, "out.safetensors")
            runs: dict[str, list[float]] = {"this": [], "base": []}
            for pair in range(arguments.pairs):
                order = ("this", "base") if pair % 2 == 0 else ("base", "this")
                for name in order:
                    runs[name].append(round(timed(trees[name], source, target), 3))
            os.remove(target)
            os.remove(source)
            median = {name: statistics.median(values) for name, values in runs.items()}
            results.append({"kind": kind, "size": size, "base": arguments.base, "median_seconds": median,
                            "this_over_base": round(median["this"] / median["base"], 3), "runs": runs})
            print(json.dumps(results[-1]), flush=True)
    for result in results:
        print(f"{result['kind']} {result['size']}: this {result['median_seconds']['this']:.2f} s, base "
              f"{result['base']} {result['median_seconds']['base']:.2f} s: {result['this_over_base']:.3f}x "
              f"(median of {arguments.pairs} interleaved pairs)")


if __name__ == "__main__":
    main()
