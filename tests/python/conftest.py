"""Shared by the murmur package's tests: where the binaries are (ctest sets MURMURD, MURMUR_CLI,
MURMUR_PY_REFERENCE; by hand they default to build/), and the C++ reference aggregate."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(os.environ.get("MURMUR_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("MURMUR_BUILD_DIR", REPO / "build"))


def binary(env: str, default: str) -> Path:
    path = Path(os.environ.get(env, BUILD / default))
    if not path.exists():
        pytest.fail(f"{path} not found: build it, or set {env} (ctest sets it)")
    return path


@pytest.fixture(scope="session")
def reference_tool() -> Path:
    return binary("MURMUR_PY_REFERENCE", "tests/python/murmur_py_reference")


def reference_aggregate(tool: Path, tmp: Path, rows: np.ndarray, weights, spec: str,
                        threads: int = 1):
    """kernels::aggregate in another process on a copy of `rows` read from a file:
    (aggregate, verdicts, weights, scores, distances, describe, passes), or raises
    RuntimeError with the C++ error message."""
    n, d = rows.shape
    rows_file, counts_file, out_file = tmp / "rows.f32", tmp / "counts.f64", tmp / "out.bin"
    np.ascontiguousarray(rows, dtype=np.float32).tofile(rows_file)
    counts = "-"
    if weights is not None:
        np.asarray(weights, dtype=np.float64).tofile(counts_file)
        counts = str(counts_file)
    r = subprocess.run([str(tool), "aggregate", str(rows_file), str(n), str(d), counts, spec,
                        str(threads), str(out_file)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip())
    raw = out_file.read_bytes()
    agg = np.frombuffer(raw, np.float32, d, 0)
    off = 4 * d
    verdicts = np.frombuffer(raw, np.int32, n, off)
    off += 4 * n
    w, s, dist = (np.frombuffer(raw, np.float64, n, off + 8 * n * k) for k in range(3))
    rule, passes = r.stdout.split("\n")[:2]
    return agg, verdicts, w, s, dist, rule, int(passes)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
