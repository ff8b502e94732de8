"""A 400 MB input is not copied: the process's peak RSS (getrusage) grows by far less than the
rows' size while they are aggregated, for a numpy array, a torch tensor and a list of rows.
Measured in a fresh interpreter so that the peak is this input's."""
import json
import subprocess
import sys
import textwrap

import pytest

N, D = 100, 1_000_000  # 100 x 1e6 float32 = 400 MB
LIMIT_MB = 40  # the aggregate is 4 MB; a copy of the rows would be 400 MB

SCRIPT = textwrap.dedent(f"""
    import json, resource, sys
    import numpy as np
    import murmur

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = np.empty(({N}, {D}), dtype=np.float32)
    for i in range({N}):
        rows[i] = np.float32(i % 7) * 0.01  # every page resident
    murmur.aggregate(rows[:4].copy(), "trimmed-mean", beta=0.25)  # warm the backend
    out = {{"rows_mb": rows.nbytes / 2**20}}

    def grows(label, value, rule, **params):
        before = peak_mb()
        agg, report = murmur.aggregate(value, rule, **params)
        out[label] = peak_mb() - before
        assert report.finite_rows == {N}

    grows("numpy weighted-mean", rows, "weighted-mean")
    grows("numpy trimmed-mean", rows, "trimmed-mean", beta=0.1)
    grows("list of rows", list(rows), "weighted-mean")
    if "{{torch}}" == "yes":
        import torch
        t = torch.from_numpy(rows)
        grows("torch tensor", t, "weighted-mean")
        grows("list of tensors", list(t), "median")
    print(json.dumps(out))
""")


@pytest.mark.parametrize("with_torch", ["no", "yes"])
def test_400mb_input_is_not_copied(with_torch):
    if with_torch == "yes":
        pytest.importorskip("torch")
    r = subprocess.run([sys.executable, "-c", SCRIPT.replace("{torch}", with_torch)],
                       capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stderr
    growth = json.loads(r.stdout.strip().splitlines()[-1])
    assert growth.pop("rows_mb") == pytest.approx(381.5, abs=1)
    print(growth)
    for label, mb in growth.items():
        assert mb < LIMIT_MB, f"{label}: peak RSS grew by {mb:.1f} MB for 381 MiB of rows"
