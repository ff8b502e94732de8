#!/usr/bin/python3
"""Murmuration's CPU aggregation against the plain numpy and torch expression of each rule
(issue 18's table), on the same rows, in the same run.

For each N (and D) it builds bench/aggregate's rows exactly (Input in bench/aggregate.cpp:
x[i, j] = 1 + ((7919 i + 104729 j) mod 2048) * 1e-3 in float32, every operation rounded to
float32 as the C++ does), then for --rounds rounds runs
`aggregate --benchmark_filter=BM_Rule/<rule>/N:<n>/D:<d>/` for the same cells (JSON output,
distances off) and times each peer expression (best of --repeats). Both sides are timed alike:
the fastest single call over all rounds (bench/aggregate's best_s counter for Murmuration), the
rounds alternating so that a burst of the machine's other load hits both. It prints per rule:
numpy's and torch's time, Murmuration's fastest and mean call, the ratio faster peer / murmur
fastest (above 1: Murmuration is faster) and Murmuration's time in memory passes (its mean
time over one read of N x D at the run's probe bandwidth, from
bench/aggregate's t_in_passes) and in reads (the same over the fastest plain read of these
very rows in that process, t_in_reads: the probe's own arrays may land in faster or slower
memory than the rows on a VM). Nothing here asserts a speed.

    /usr/bin/python3 bench/peers.py --aggregate build/bench/aggregate \\
        [--n 10,32,100,1000] [--d 1e6] [--repeats 3] [--threads 0] [--rules fedavg,median]

Peers (f = N/5 as bench/aggregate sets it; beta = 0.2 for the trimmed mean):
  fedavg            x.mean(axis=0)                        t.mean(0)
  median            np.median(x, axis=0)                  t.median(0) (the lower median)
  trimmed-mean      np.sort(x, 0)[f:-f].mean(0)           t.sort(0).values[f:-f].mean(0)
  meamed            the n - f values nearest np.median,   the same through topk
                    by argsort, averaged
  multi-krum        Gram x @ x.T, scores from its         the same in torch
                    distances, mean of the m = n - f best
  geometric-median  Weiszfeld in R^D, 3 iterations        the same in torch
  centered-clipping 1 iteration from 0, tau = 1           the same in torch
Murmuration's geometric median iterates to its tolerance (up to 100 iterations) and centered
clipping runs 10, both in the span of the rows (N-sized work after one Gram pass), so the
peers' iteration counts flatter the peers.

Large cells (N * D above --chunk) run every peer over column blocks of the rows (the same work
with less memory; it can only help the peer). The machine's other load makes single figures
noisy: compare ratios from one run.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

RULES = ["fedavg", "median", "trimmed-mean", "meamed", "multi-krum", "geometric-median",
         "centered-clipping"]


def rows(n: int, d: int) -> np.ndarray:
    """bench/aggregate.cpp's Input, bit for bit (integer pattern exact in int64)."""
    i = np.arange(n, dtype=np.int64)[:, None]
    j = np.arange(d, dtype=np.int64)[None, :]
    k = ((i * 7919 + j * 104729) % 2048).astype(np.float32)
    return np.float32(1.0) + k * np.float32(1e-3)


# --- numpy -----------------------------------------------------------------------------------

def np_fedavg(x, f):
    return x.mean(axis=0)


def np_median(x, f):
    return np.median(x, axis=0)


def np_trimmed(x, f):
    n = x.shape[0]
    t = int(np.floor(0.2 * n))
    return np.sort(x, axis=0)[t:n - t].mean(axis=0)


def np_meamed(x, f):
    n = x.shape[0]
    med = np.median(x, axis=0)
    idx = np.argsort(np.abs(x - med), axis=0)[:n - f]
    return np.take_along_axis(x, idx, axis=0).mean(axis=0)


def np_multikrum(x, f):
    n = x.shape[0]
    g = (x @ x.T).astype(np.float64)
    sq = np.diag(g)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * g, 0)
    np.fill_diagonal(d2, np.inf)
    k = max(n - f - 2, 0)
    scores = np.sort(d2, axis=1)[:, :k].sum(axis=1)
    best = np.argsort(scores, kind="stable")[:n - f]
    return x[best].mean(axis=0)


def np_geomed(x, f, iters=3, nu=1e-6):
    z = x.mean(axis=0)
    for _ in range(iters):
        w = 1.0 / np.maximum(np.linalg.norm(x - z, axis=1), nu)
        z = (w.astype(np.float32) @ x) / w.sum()
    return z


def np_cclip(x, f, tau=1.0):
    v = np.zeros(x.shape[1], dtype=np.float32)
    diff = x - v
    c = np.minimum(1.0, tau / np.maximum(np.linalg.norm(diff, axis=1), 1e-12)).astype(np.float32)
    return v + (c[:, None] * diff).mean(axis=0)


# --- torch -----------------------------------------------------------------------------------

def t_fedavg(t, f):
    return t.mean(0)


def t_median(t, f):
    return t.median(0).values


def t_trimmed(t, f):
    n = t.shape[0]
    k = int(np.floor(0.2 * n))
    return t.sort(0).values[k:n - k].mean(0)


def t_meamed(t, f):
    n = t.shape[0]
    med = t.median(0).values
    idx = (t - med).abs().topk(n - f, dim=0, largest=False).indices
    return t.gather(0, idx).mean(0)


def t_multikrum(t, f):
    n = t.shape[0]
    g = (t @ t.T).double()
    sq = g.diagonal()
    d2 = (sq[:, None] + sq[None, :] - 2 * g).clamp_min(0)
    d2.fill_diagonal_(float("inf"))
    k = max(n - f - 2, 0)
    scores = d2.sort(1).values[:, :k].sum(1)
    best = scores.argsort(stable=True)[:n - f]
    return t[best].mean(0)


def t_geomed(t, f, iters=3, nu=1e-6):
    z = t.mean(0)
    for _ in range(iters):
        w = 1.0 / (t - z).norm(dim=1).clamp_min(nu)
        z = (w @ t) / w.sum()
    return z


def t_cclip(t, f, tau=1.0):
    v = torch.zeros(t.shape[1])
    diff = t - v
    c = (tau / diff.norm(dim=1).clamp_min(1e-12)).clamp_max(1.0)
    return v + (c[:, None] * diff).mean(0)


PEERS = {
    "fedavg": (np_fedavg, t_fedavg, "x.mean(axis=0)"),
    "median": (np_median, t_median, "np.median(x, axis=0)"),
    "trimmed-mean": (np_trimmed, t_trimmed, "np.sort(x, axis=0)[f:-f].mean(axis=0)"),
    "meamed": (np_meamed, t_meamed, "n - f values nearest the median"),
    "multi-krum": (np_multikrum, t_multikrum, "Gram x @ x.T + scores"),
    "geometric-median": (np_geomed, t_geomed, "Weiszfeld, 3 iterations"),
    "centered-clipping": (np_cclip, t_cclip, "1 iteration from 0"),
}
# Rules whose peers work column by column, so may run over column blocks.
COLUMNWISE = {"fedavg", "median", "trimmed-mean", "meamed"}


def best_seconds(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peer_seconds(rule: str, x: np.ndarray, f: int, repeats: int, chunk: int):
    np_fn, t_fn, _ = PEERS[rule]
    t = torch.from_numpy(x)
    n, d = x.shape
    if rule in COLUMNWISE and n * d > chunk:
        step = max(1, chunk // n)
        run_np = lambda: [np_fn(x[:, j:j + step], f) for j in range(0, d, step)]  # noqa: E731
        run_t = lambda: [t_fn(t[:, j:j + step], f) for j in range(0, d, step)]  # noqa: E731
    else:
        run_np = lambda: np_fn(x, f)  # noqa: E731
        run_t = lambda: t_fn(t, f)  # noqa: E731
    return best_seconds(run_np, repeats), best_seconds(run_t, repeats)


def murmur_seconds(aggregate: str, rules, n: int, d: int):
    """Real seconds per call and time in memory passes of each rule's BM_Rule cell."""
    pattern = "BM_Rule/(" + "|".join(rules) + f")/N:{n}/D:{d}/"
    with tempfile.NamedTemporaryFile(suffix=".json") as js:
        subprocess.run([aggregate, f"--benchmark_filter={pattern}", f"--benchmark_out={js.name}",
                        "--benchmark_out_format=json"], capture_output=True, text=True,
                       check=True)
        report = json.load(open(js.name))
    out = {}
    for b in report["benchmarks"]:
        rule = b["name"].split("/")[1]
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        mean = b["real_time"] * scale
        out[rule] = (b.get("best_s", mean), mean, b.get("t_in_passes", float("nan")),
                     b.get("t_in_reads", float("nan")))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aggregate", default="build/bench/aggregate")
    ap.add_argument("--n", default="10,32,100,1000")
    ap.add_argument("--d", default="1e6")
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--repeats", type=int, default=3, help="peer calls a round (fastest kept)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds of Murmuration's cells then the peers (fastest kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    ap.add_argument("--chunk", type=float, default=2e8,
                    help="run column-wise peers over column blocks above N*D of this")
    a = ap.parse_args()
    torch.set_num_threads(a.threads or os.cpu_count() or 1)  # Debian's torch may start with 1
    rules = [r for r in a.rules.split(",") if r]
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads); ratio = faster peer / murmur, above 1 when Murmuration is faster")
    print(f"{'rule':18} {'N':>5} {'D':>9} {'numpy s':>9} {'torch s':>9} {'murmur s':>9} "
          f"{'mean s':>9} {'ratio':>7} {'passes':>7} {'reads':>6}  peer expression")
    for d in [int(float(v)) for v in a.d.split(",")]:
        for n in [int(v) for v in a.n.split(",")]:
            x = rows(n, d)
            f = n // 5
            # Rounds alternate Murmuration's cells and the peers, so that a burst of the
            # machine's other load hits both sides; each side keeps its fastest call.
            best = {}
            for _ in range(a.rounds):
                ours = murmur_seconds(a.aggregate, rules, n, d)
                for rule in rules:
                    if rule not in ours:
                        continue
                    t_np, t_torch = peer_seconds(rule, x, f, a.repeats, int(a.chunk))
                    mine, mean, passes, reads = ours[rule]
                    old = best.get(rule, (t_np, t_torch, mine, mean, passes, reads))
                    best[rule] = (min(old[0], t_np), min(old[1], t_torch), min(old[2], mine),
                                  min(old[3], mean), min(old[4], passes), min(old[5], reads))
            for rule in rules:
                if rule not in best:
                    continue
                t_np, t_torch, mine, mean, passes, reads = best[rule]
                ratio = min(t_np, t_torch) / mine
                print(f"{rule:18} {n:5d} {d:9d} {t_np:9.4f} {t_torch:9.4f} {mine:9.4f} "
                      f"{mean:9.4f} {ratio:6.2f}x {passes:7.2f} {reads:6.2f}  {PEERS[rule][2]}",
                      flush=True)
            del x
    return 0


if __name__ == "__main__":
    sys.exit(main())
