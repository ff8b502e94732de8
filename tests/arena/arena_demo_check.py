#!/usr/bin/env python3
"""ctest `arena.demo`: runs scripts/demo_arena.sh (issue 17's AI Arena demo) into a fresh report
folder and checks the acceptance from its machine-readable output (summary.json), recomputing
each verdict from the recorded rewards, ranks and errors rather than trusting the demo's own
"checks". Bounded: the demo is killed after --time-limit seconds (a failure)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--script", required=True)
    p.add_argument("--build-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--time-limit", type=float, default=300)
    a = p.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    # A copy of the command: a build elsewhere in the tree may relink build/cli/murmur while the
    # demo runs. Copied once it runs (a copy taken mid-link would not).
    cli = os.path.join(a.out, "murmur")
    for _ in range(120):
        try:
            shutil.copy2(os.path.join(a.build_dir, "cli", "murmur"), cli)
            if subprocess.run([cli, "arena", "--help"], capture_output=True).returncode == 0:
                break
        except OSError:
            pass
        time.sleep(1)
    else:
        print("FAIL: no runnable build/cli/murmur")
        return 1
    env = dict(os.environ, MURMUR_BUILD_DIR=a.build_dir, MURMUR_REPORT_DIR=a.out, MURMUR_CLI=cli)
    t0 = time.monotonic()
    # Its own session, so that a timeout ends the script and everything it started.
    proc = subprocess.Popen(["bash", a.script], env=env, start_new_session=True)
    try:
        status = proc.wait(timeout=a.time_limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 15)
        proc.wait()
        print(f"FAIL: the demo ran past {a.time_limit} s")
        return 1
    seconds = time.monotonic() - t0
    print(f"demo exited {status} after {seconds:.1f} s")
    summary_file = os.path.join(a.out, "arena", "summary.json")
    if not os.path.exists(summary_file):
        print("FAIL: no summary.json")
        return 1
    s = json.load(open(summary_file))
    by = {x["name"]: x for x in s["participants"]}
    subs = s["submissions"]
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    farm = by["farm"]["reward"]
    check(farm > 0, f"the farm earns ({farm})")
    for v in ("copier", "random", "silent"):
        check(by[v]["reward"] < farm, f"{v} earns {by[v]['reward']} < the farm's {farm}")
    check(by["silent"]["slash"] > 0 and by["silent"]["reward"] == 0,
          f"the silent validator is slashed ({by['silent']['slash']}) and paid nothing")
    ranked = [x for x in subs if x["rank"] is not None]
    check(len(ranked) == 7, f"7 submissions ranked ({len(ranked)})")
    last = max(x["rank"] for x in ranked)
    check([x["node"] for x in ranked if x["rank"] == last] == ["n7"],
          "the random adapter (n7) alone ranks last")
    check(all(x["node"] != "n8" for x in subs) and by["n8"]["reward"] == 0,
          "the copied submission (n8) is not on chain and earns nothing")
    check(len(s["refused"]) == 1 and "DuplicateAdapter" in s["refused"][0]["error"],
          "n8's submit was refused with DuplicateAdapter")
    # The consensus is the farm's score (it holds most of the revealed stake) and equals
    # `murmur validate`'s loss within the batched-vs-merged tolerance plus one fixed-point unit.
    for x in ranked:
        tol = x["validateLoss"] * 1e-6 + 2e-6
        check(abs(x["consensus"] - x["validateLoss"]) <= tol,
              f"{x['node']}: consensus {x['consensus']} = murmur validate's {x['validateLoss']}")
    # Rewards fall with rank for equal node stakes (n1 has a delegator: more stake, rank 1).
    order = sorted(ranked, key=lambda x: x["rank"])
    check(all(order[i]["reward"] > order[i + 1]["reward"] for i in range(len(order) - 1)),
          "node rewards fall with rank")
    attempts = {x["action"]: x for x in s["copierAttempts"]}
    late = [x for k, x in attempts.items() if k.startswith("commit")]
    forged = [x for k, x in attempts.items() if "farm's scores under" in k]
    check(len(late) == 1 and not late[0]["accepted"] and "WindowClosed" in late[0]["error"],
          "the copier's late commit is refused (WindowClosed)")
    check(len(forged) == 1 and not forged[0]["accepted"] and "BadReveal" in forged[0]["error"],
          "the copier's reveal of the farm's scores is refused (BadReveal)")
    slashes = sum(x["slash"] for x in s["participants"])
    paid = sum(x["reward"] for x in s["participants"] if x["role"] != "creator")
    creator = by["creator"]["reward"]
    check(paid + creator == s["params"]["pool"] + slashes,
          f"rewards {paid} + creator {creator} = pool + slashes {s['params']['pool'] + slashes}")
    check(status == 0, "the demo exits 0")
    check(os.path.getsize(os.path.join(a.out, "arena", "report.html")) > 1000,
          "report.html written")
    print(f"demo time {s['seconds']} s (its own clock), {seconds:.1f} s here")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
