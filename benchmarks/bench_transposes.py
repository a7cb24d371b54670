"""The layout permutations' copies against numpy's own transposed copy, in one process.

Each source is a float32 array in a file, memory-mapped afresh for every run (its pages in
the page cache, as a conversion finds a model it just read); the destination is allocated
and touched once. The best of --repeats runs is reported, in GB/s of the source, with the
ratio of weightport's copy to numpy's (`np.copyto(out, source.transpose(...))`).

    .venv/bin/python benchmarks/bench_transposes.py --repeats 5
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from converter.transposes import channels_to_front  # noqa: E402

# (*kernel, in, out): ResNet50's 1x1 and 3x3 kernels and classifier, a large Dense, a large 3x3 kernel
SHAPES = [(1, 1, 1024, 256), (1, 1, 512, 1024), (1, 1, 2048, 512), (1, 1, 1024, 2048), (3, 3, 128, 128),
          (3, 3, 256, 256), (3, 3, 512, 512), (2048, 1000), (4096, 4096), (8192, 8192), (3, 3, 1024, 1024)]


def best_seconds(path: str, shape: tuple[int, ...], copy: object, repeats: int) -> float:
    out = np.empty((shape[-1], shape[-2], *shape[:-2]), np.float32)
    out.fill(0)
    best = float("inf")
    for _ in range(repeats):
        source = np.memmap(path, np.float32, "r", shape=shape)
        started = time.perf_counter()
        copy(source, out)  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
        del source
    return best


def numpy_copy(source: np.ndarray, out: np.ndarray) -> None:
    np.copyto(out, source.transpose(source.ndim - 1, source.ndim - 2, *range(source.ndim - 2)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    print("| source shape | MB | weightport GB/s | numpy GB/s | weightport / numpy speed |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="weightport_bench_transposes_") as folder:
        for shape in SHAPES:
            path = os.path.join(folder, "source.bin")
            np.random.default_rng(0).random(shape, dtype=np.float32).tofile(path)
            size = int(np.prod(shape)) * 4
            ours = best_seconds(path, shape, channels_to_front, arguments.repeats)
            theirs = best_seconds(path, shape, numpy_copy, arguments.repeats)
            print(f"| {' x '.join(map(str, shape))} | {size / 1e6:.1f} | {size / ours / 1e9:.2f} | "
                  f"{size / theirs / 1e9:.2f} | {theirs / ours:.2f}x |")
            os.remove(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
