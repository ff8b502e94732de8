"""Every rule and pre-aggregation chain: the Python call (rows read in place, the shared
multi-threaded CPU backend) equals kernels::aggregate in another process (rows copied from a
file, one thread, the spec read back from its text by the rule registry) bit for bit, aggregate
and report alike, for numpy, torch and list-of-rows input. Rows: honest, attackers, one NaN row
(seed printed on failure)."""
import threading
import time

import numpy as np
import pytest

import murmur
from murmur.rules import (NNM, Bucketing, Bulyan, CenteredClipping, GeometricMedian, Krum,
                          MeaMed, Median, MultiKrum, TrimmedMean, WeightedMean)

from conftest import reference_aggregate, same_bits

SEED = 20261202
N, D = 15, 3001  # D not a multiple of any tile width

CASES = [
    WeightedMean(),
    WeightedMean(clipping="fixed", bound=3.0),
    WeightedMean(clipping="adaptive", f=3),
    Median(),
    TrimmedMean(beta=0.2),
    MeaMed(f=3),
    Krum(f=3),
    MultiKrum(f=3, m=5),
    Bulyan(f=2),
    GeometricMedian(nu=1e-6, max_iterations=50),
    CenteredClipping(tau=0.5, iterations=4),
    Bucketing(s=2, seed=7) + TrimmedMean(beta=0.1),
    NNM(f=3) + Median(),
    NNM(f=2) + Bucketing(s=3, seed=1) + Krum(f=1),
]


def make_rows(seed: int = SEED):
    rng = np.random.default_rng(seed)
    center = rng.standard_normal(D).astype(np.float32)
    rows = center + 0.1 * rng.standard_normal((N, D)).astype(np.float32)
    rows[:3] = -10 * center  # attackers: sign flip, large
    rows[7, 100] = np.nan  # non-finite row: rejected before any rule runs
    weights = rng.integers(1, 100, N).astype(np.float64)
    return np.ascontiguousarray(rows, dtype=np.float32), weights


@pytest.fixture(scope="module")
def rows_and_weights():
    return make_rows()


@pytest.mark.parametrize("rule", CASES, ids=[str(c) for c in CASES])
def test_python_equals_cpp_bit_for_bit(rule, rows_and_weights, reference_tool, tmp_path):
    rows, weights = rows_and_weights
    agg, report = murmur.aggregate(rows, rule=rule, weights=weights)
    ref_agg, verdicts, w, s, dist, ref_rule, passes = reference_aggregate(
        reference_tool, tmp_path, rows, weights, str(rule))
    where = f"seed {SEED}, rule {rule}"
    assert report.rule == ref_rule == str(rule), where
    assert same_bits(agg, ref_agg), where
    assert np.any(agg != 0) and np.all(np.isfinite(agg)), where  # non-trivial
    assert same_bits(report.verdicts.astype(np.int32), verdicts), where
    assert same_bits(report.weights, w) and same_bits(report.scores, s), where
    assert same_bits(report.distances, dist) and report.passes == passes, where
    assert report.verdicts[7] == murmur.Verdict.REJECTED_NON_FINITE and report.finite_rows == N - 1

    # The same rows as a list of 1-D arrays, and as torch tensors: the same bits.
    agg_list, rep_list = murmur.aggregate(list(rows), rule=rule, weights=weights)
    assert same_bits(agg_list, agg) and same_bits(rep_list.scores, report.scores), where
    torch = pytest.importorskip("torch")
    agg_t, _ = murmur.aggregate(torch.from_numpy(rows), rule=rule, weights=torch.tensor(weights))
    assert isinstance(agg_t, torch.Tensor) and agg_t.dtype == torch.float32
    assert same_bits(agg_t.numpy(), agg), where
    agg_tl = murmur.aggregate([torch.from_numpy(r) for r in rows], rule=rule, weights=weights)[0]
    assert same_bits(agg_tl.numpy(), agg), where


def test_the_rules_differ_on_these_rows(rows_and_weights):
    rows, weights = rows_and_weights
    results = {str(r): murmur.aggregate(rows, rule=r, weights=weights)[0].tobytes() for r in CASES}
    assert len(set(results.values())) == len(CASES)  # the parity above compares distinct answers


def test_names_specs_objects_and_callables_agree(rows_and_weights):
    rows, weights = rows_and_weights
    by_object = MultiKrum(f=3, m=5).aggregate(rows, weights=weights)[0]
    assert same_bits(murmur.aggregate(rows, "multi-krum", weights, f=3, m=5)[0], by_object)
    assert same_bits(murmur.aggregate(rows, "multi-krum(f=3, m=5)", weights)[0], by_object)
    assert same_bits(MultiKrum(f=3, m=5)(rows, weights), by_object)
    chained = Bucketing(s=2, seed=7)(TrimmedMean(beta=0.1))
    assert chained == Bucketing(s=2, seed=7) + TrimmedMean(beta=0.1)
    assert same_bits(chained(rows), murmur.aggregate(rows, "bucketing(s=2, seed=7) + "
                                                           "trimmed-mean(beta=0.1)")[0])
    # C++ field names and registry names are one parameter.
    assert GeometricMedian(max_iterations=7) == GeometricMedian(iters=7)
    assert WeightedMean(clipping="adaptive", f=2) == WeightedMean(clip="arc", f=2)
    assert str(CenteredClipping(tau=2.0, iterations=4)) == "centered-clipping(tau=2, iters=4)"
    assert murmur.rules.parse("nnm(f=1) + median") == NNM(f=1) + Median()
    assert "trimmed-mean" in murmur.rules.names() and "fedavg" not in murmur.rules.names()
    assert murmur.rules.rule("fedavg") == WeightedMean()


def test_distances_off_skips_a_pass(rows_and_weights):
    rows, weights = rows_and_weights
    with_d = murmur.aggregate(rows, "median", weights)[1]
    without = murmur.aggregate(rows, "median", weights, distances=False)[1]
    assert without.passes == with_d.passes - 1 and np.all(np.isnan(without.distances))


def test_gil_is_released_while_the_kernels_run():
    # NNM's mixing is N^2 * D on the host (~0.1 s here at N = 32, D = 1e6): a call that stays far
    # above the bound below on fast CPUs too (the geometric median of 16 rows took 8-18 ms on an
    # AVX-512 EPYC once its Gram kernel was written for it, and failed the bound).
    rows = np.ones((32, 1_000_000), dtype=np.float32)
    murmur.aggregate(rows[:2], "krum")  # warm the backend
    done = threading.Event()
    elapsed = []

    def work():
        t0 = time.perf_counter()
        murmur.aggregate(rows, "nnm(f=3) + median")
        elapsed.append(time.perf_counter() - t0)
        done.set()

    t = threading.Thread(target=work)
    spins = 0
    t.start()
    while not done.is_set():
        spins += 1  # runs only while the other thread does not hold the GIL
    t.join()
    # Holding the GIL, the main thread would get a switch interval (5 ms) at best, and the
    # aggregation takes far longer than that.
    assert elapsed[0] > 0.02
    assert spins > 10_000, f"{spins} spins in {elapsed[0]:.3f} s"
