#!/usr/bin/env python3
"""The AI Arena demo (issue 17), run by scripts/demo_arena.sh (`scripts/demo.sh arena`).

On a Hardhat node already started by the caller (scripts/chain.sh), with `murmur` only:

  * `murmur arena demo-kit`: a tiny random LLaMA base (2 layers, hidden 64, the arena tests'
    shape), a held-out set from a Markov chain over 32 ids, training sets like it, an unrelated
    set and a random adapter;
  * 8 training nodes: six fine-tuned with `murmur arena train` (libtorch, Adam) for 60 down to 3
    steps (one on 6 sequences only), one random adapter, one byte copy of n1's adapter
    submitted after n1 (the contract refuses it: DuplicateAdapter);
  * 4 validators: the farm (`murmur arena validate --daemon --strategy batched`: every adapter in
    one batched SGMV pass, commit and reveal through its outbox), a copier (commits a guess,
    then tries to post the farm's revealed scores), a random scorer, a silent one (commits, never
    reveals); 2 delegators (to n1 and to the farm);
  * settlement (the farm's daemon claims its reward; everyone else's is read as claimable, each
    slash as the own stake it took); a table of ranks, consensus scores, rewards and slashes by
    role; summary.json (machine-readable, with the acceptance checks) and report.html.

Every chain step is a `murmur arena` command as a user would type it; time is moved with Hardhat's
evm_increaseTime instead of waiting out the windows.
"""
import argparse
import html
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

T0 = time.monotonic()
SCORE_SCALE = 10**6  # the contract's fixed point: round(loss * 1e6)

NODES = [  # name, what, training set, steps, rank, targets
    ("n1", "fine-tuned 60 steps, r=8, all projections", "train-0", 60, 8, "all"),
    ("n2", "fine-tuned 30 steps, r=8, q,v,o,down", "train-1", 30, 8, "q,v,o,down"),
    ("n3", "fine-tuned 15 steps, r=4, all projections", "train-2", 15, 4, "all"),
    ("n4", "fine-tuned 6 steps, r=4, q,v", "train-3", 6, 4, "q,v"),
    ("n5", "fine-tuned 3 steps, r=2, q,v", "train-4", 3, 2, "q,v"),
    ("n6", "fine-tuned 10 steps on 6 sequences only", "train-5-small", 10, 8, "all"),
    ("n7", "random adapter (never trained)", None, 0, 0, ""),
    ("n8", "byte copy of n1's adapter, submitted after n1", None, 0, 0, ""),
]
VALIDATORS = [  # name, what, own stake
    ("farm", "validator farm: murmur arena validate --daemon, one batched SGMV pass", 1000),
    ("copier", "commits a guess (the base loss), then tries the farm's revealed scores", 1000),
    ("random", "commits and reveals random losses", 1000),
    ("silent", "scores honestly, commits, never reveals", 1000),
]
DELEGATORS = [("d1", "n1", 1000), ("d2", "farm", 1500)]  # name, delegate, amount
NODE_STAKE, COMMISSION_BPS, POOL = 500, 1000, 1_000_000
WINDOWS = {"submit": 3600, "commit": 600, "reveal": 600}


def parallel(fn, items):
    """fn(item) for every item, six at a time (each is a `murmur` process of its own key: their
    transactions do not share a nonce); the results in order; the first exception is raised."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(fn, items))


def say(msg):
    print(f"[arena {time.monotonic() - T0:5.1f}s] {msg}", flush=True)


class Demo:
    def __init__(self, a):
        self.murmur, self.run_dir, self.rpc_url, self.seed = a.murmur, a.run, a.rpc, a.seed
        self.kit = os.path.join(self.run_dir, "kit")
        self.store = os.path.join(self.run_dir, "store")
        self.deployment = os.path.join(self.run_dir, "arena-deployment.json")
        self.keys, self.addr = {}, {}
        self.children = []
        self.phases = {}
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.summary = {"seed": self.seed}

    # ---------------------------------------------------------------- processes and the chain
    def cmd(self, argv, check=True, timeout=180):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            sys.stderr.write(r.stdout + r.stderr)
            raise RuntimeError(f"failed ({r.returncode}): {' '.join(argv)}")
        return r

    def arena(self, who, *args, check=True):
        """`murmur arena --json ...` as `who`; the last stdout line's JSON, or (None, error)."""
        argv = [self.murmur, "arena", "--rpc", self.rpc_url, "--arena-deployment",
                self.deployment, "--json"]
        if who:
            argv += ["--key-file", self.keys[who]]
        r = self.cmd(argv + [str(x) for x in args], check=check)
        if r.returncode != 0:
            return None, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        out = json.loads(r.stdout.strip().splitlines()[-1])
        return (out, None) if not check else out

    def rpc(self, method, params=()):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        req = urllib.request.Request(self.rpc_url, body.encode(),
                                     {"Content-Type": "application/json"})
        with self.opener.open(req, timeout=10) as f:
            reply = json.load(f)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def advance(self, seconds):
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine")

    def status(self):
        return self.arena(None, "status", "--task", self.task, "--scores")

    def wait_for(self, what, done, limit=180):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if done():
                return
            time.sleep(0.3)
        if not done():
            raise RuntimeError(f"timed out waiting for {what}")

    def phase(self, name):
        self.phases[name] = round(time.monotonic() - T0, 1)

    # ---------------------------------------------------------------- the demo
    def models(self):
        say("demo-kit: tiny random LLaMA, held-out and training sets, a random adapter")
        self.cmd([self.murmur, "arena", "demo-kit", "--out", self.kit, "--seed", str(self.seed)])
        base = os.path.join(self.kit, "base")
        with open(os.path.join(self.kit, "train-5.jsonl")) as full, \
                open(os.path.join(self.kit, "train-5-small.jsonl"), "w") as small:
            small.writelines(full.readlines()[:6])
        self.adapters, self.train_log = {}, {}
        for i, (name, what, data, steps, rank, targets) in enumerate(NODES):
            out = os.path.join(self.run_dir, "adapters", name)
            if data is not None:
                r = self.cmd([self.murmur, "arena", "train", "--base", base, "--data",
                              os.path.join(self.kit, data + ".jsonl"), "--out", out, "--steps",
                              str(steps), "--rank", str(rank), "--alpha", "16", "--targets",
                              targets, "--lr", "0.02", "--seed", str(self.seed * 100 + i),
                              "--eval", os.path.join(self.kit, "heldout.jsonl"), "--json"])
                log = json.loads(r.stdout.strip().splitlines()[-1])
                self.train_log[name] = log
                say(f"  {name}: {what}: batch loss {log['firstLoss']:.3f} -> {log['lastLoss']:.3f}, "
                    f"held-out {log['evalLoss']:.3f} ({log['seconds']:.1f} s)")
            elif name == "n7":
                shutil.copytree(os.path.join(self.kit, "random-adapter"), out)
                say(f"  {name}: {what}")
            else:  # n8: the same bytes as n1's adapter, in its own directory
                shutil.copytree(self.adapters["n1"], out)
                say(f"  {name}: {what}")
            self.adapters[name] = out
        self.phase("models")

    def accounts(self):
        say("accounts: keys, gas and tokens")
        kdir = os.path.join(self.run_dir, "keys")
        os.makedirs(kdir, mode=0o700, exist_ok=True)
        names = (["creator"] + [n[0] for n in NODES] + [v[0] for v in VALIDATORS]
                 + [d[0] for d in DELEGATORS])
        # Hardhat's node prints its 20 funded development accounts (address, then key) when it
        # starts: account #0 is the creator, the next 15 the participants.
        log = open(os.path.join(os.environ["MURMUR_CHAIN_DIR"], "node.log")).read()
        accounts = re.findall(r"Account #\d+: (0x[0-9a-fA-F]{40}).*?\nPrivate Key: "
                              r"(0x[0-9a-fA-F]{64})", log)
        if len(accounts) < len(names):
            raise RuntimeError(f"the Hardhat node's log lists {len(accounts)} accounts, "
                               f"{len(names)} needed")
        for name, (address, key) in zip(names, accounts):
            path = os.path.join(kdir, name + ".key")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, (key + "\n").encode())
            os.close(fd)
            self.keys[name], self.addr[name] = path, address
        self.arena("creator", "deploy")
        self.phase("accounts")

    def task_setup(self):
        self.arena("creator", "mint", "--amount", POOL)
        r = self.arena("creator", "create-task", "--reward-pool", POOL, "--min-node-stake", 100,
                       "--min-validator-stake", 100, "--submit-window", WINDOWS["submit"],
                       "--commit-window", WINDOWS["commit"], "--reveal-window",
                       WINDOWS["reveal"], "--k", 4, "--gamma-bps", 5000, "--rank-ratio-bps",
                       5000, "--tolerance-bps", 1000, "--slash-bps", 5000,
                       "--max-commission-bps", 2000, "--base-model",
                       os.path.join(self.kit, "base"), "--eval-set",
                       os.path.join(self.kit, "heldout.jsonl"))
        self.task = r["taskId"]
        say(f"task {self.task}: pool {POOL}, k = 4 validators per submission, gamma 50 %, "
            "rank ratio 0.5, tolerance 10 %, slash 50 %")
        # Each participant mints its MockToken (open minting: a development token) and stakes.
        def stake(entry):
            name, role, amount = entry
            self.arena(name, "mint", "--amount", amount)
            self.arena(name, "stake", "--task", self.task, "--role", role, "--amount", amount,
                       "--commission-bps", COMMISSION_BPS)
        stakes = ([(n[0], "node", NODE_STAKE) for n in NODES]
                  + [(v[0], "validator", v[2]) for v in VALIDATORS])
        parallel(stake, stakes)

        def delegate(entry):
            name, to, amount = entry
            self.arena(name, "mint", "--amount", amount)
            self.arena(name, "delegate", "--task", self.task, "--to", self.addr[to],
                       "--amount", amount)
        parallel(delegate, DELEGATORS)
        say(f"staked: 8 nodes x {NODE_STAKE}, 4 validators x 1000; d1 delegates 1000 to n1, "
            "d2 1500 to the farm (commission 10 %)")
        self.phase("task")

    def submissions(self):
        os.makedirs(self.store, exist_ok=True)
        serve = subprocess.Popen([self.murmur, "arena", "serve", "--store", self.store, "--port",
                                  "0", "--max-seconds", "600"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        self.children.append(serve)
        line = serve.stdout.readline()  # "serving <store> on http://127.0.0.1:<port>/ ..."
        url = line.split(" on ")[1].split()[0].rstrip("/")
        say(f"adapter store: murmur arena serve on {url}")
        self.sub_of, self.refused = {}, []

        def submit(name):
            return self.arena(name, "submit", "--task", self.task, "--adapter",
                              self.adapters[name], "--store", self.store, "--store-url", url,
                              check=False)
        # n1..n7 at once (their order on chain is the order their transactions were mined),
        # then n8's copy of n1's adapter.
        first = [n[0] for n in NODES[:-1]]
        results = dict(zip(first, parallel(submit, first)))
        results["n8"] = submit("n8")
        for name, what, *_ in NODES:
            out, err = results[name]
            if out is None:
                self.refused.append({"node": name, "what": what, "error": err})
                say(f"  {name} submit REFUSED by the contract: {err}")
            else:
                self.sub_of[name] = out["submission"]
                say(f"  {name} submitted {out['adapterHash'][:14]}... as #{out['submission']}")
        self.phase("submissions")

    def scoring(self):
        base, data = os.path.join(self.kit, "base"), os.path.join(self.kit, "heldout.jsonl")
        # What `murmur validate` says of every stored adapter (named by hash): the reference.
        ref_file = os.path.join(self.run_dir, "validate.json")
        self.cmd([self.murmur, "validate", "--base", base, "--adapters", self.store, "--data",
                  data, "--strategy", "merged", "--out", ref_file])
        ref = json.load(open(ref_file))
        self.base_loss = ref["base"]["mean_loss"]
        self.ref_loss = {a["name"]: a["mean_loss"] for a in ref["adapters"]}

        self.advance(WINDOWS["submit"] + 1)
        self.arena("creator", "close", "--task", self.task)
        self.rpc("evm_mine")
        self.rpc("evm_mine")
        self.arena("creator", "draw", "--task", self.task)
        say("submissions closed, assignments drawn (k = 4 of 4 validators: everyone scores all)")
        self.phase("closed")

        farm_log = open(os.path.join(self.run_dir, "farm.log"), "w")
        self.farm = subprocess.Popen(
            [self.murmur, "arena", "--rpc", self.rpc_url, "--arena-deployment", self.deployment,
             "--key-file", self.keys["farm"], "--json", "validate", "--daemon", "--task",
             self.task, "--base", base, "--data", data, "--state-dir",
             os.path.join(self.run_dir, "farm"), "--strategy", "batched", "--batch", "24",
             "--adapters-per-pass", "16", "--until", "claimed", "--poll-ms", "250",
             "--max-seconds", "240"], stdout=subprocess.PIPE, stderr=farm_log, text=True)
        self.children.append(self.farm)

        subs = sorted(self.sub_of.values())
        rng = random.Random(self.seed)
        sdir = os.path.join(self.run_dir, "validators")
        os.makedirs(sdir, exist_ok=True)
        guess = {str(s): self.base_loss for s in subs}
        json.dump(guess, open(os.path.join(sdir, "copier-scores.json"), "w"))
        json.dump({str(s): rng.uniform(1.0, 8.0) for s in subs},
                  open(os.path.join(sdir, "random-scores.json"), "w"))
        commits = [("copier", "--scores", os.path.join(sdir, "copier-scores.json")),
                   ("random", "--scores", os.path.join(sdir, "random-scores.json")),
                   ("silent", "--validate-report", ref_file, "--store", self.store)]
        parallel(lambda c: self.arena(c[0], "commit", "--task", self.task, *c[1:], "--state",
                                      os.path.join(sdir, c[0] + "-state.json")), commits)
        say("copier, random and silent committed (copier: the base loss for all, as it has seen "
            "nothing yet)")

        def committed():
            st = self.status()
            return all(len(s["scores"]) == len(VALIDATORS) for s in st["submissions"])
        self.wait_for("every validator's commitment", committed)
        say("the farm committed (its daemon scored every adapter in one batched pass)")
        self.phase("committed")

        self.advance(WINDOWS["commit"] + 1)
        self.arena("random", "reveal", "--state", os.path.join(sdir, "random-state.json"))

        farm = self.addr["farm"]

        def farm_revealed():
            st = self.status()
            return all(any(e["validator"] == farm and e["revealed"] for e in s["scores"])
                       for s in st["submissions"])
        self.wait_for("the farm's reveal", farm_revealed)
        say("commit window over: random and the farm revealed")

        # The copier now sees the farm's scores on chain and tries to post them.
        st = self.status()
        copied = {str(s["submission"]): next(e["score"] for e in s["scores"]
                                             if e["validator"] == farm) / SCORE_SCALE
                  for s in st["submissions"]}
        json.dump(copied, open(os.path.join(sdir, "copier-copied.json"), "w"))
        attempts = []
        _, err = self.arena("copier", "commit", "--task", self.task, "--scores",
                            os.path.join(sdir, "copier-copied.json"), "--state",
                            os.path.join(sdir, "copier-late-state.json"), check=False)
        attempts.append({"action": "commit the farm's revealed scores after the commit window",
                         "accepted": err is None, "error": err})
        state = json.load(open(os.path.join(sdir, "copier-state.json")))
        for e in state["entries"]:
            e["score"] = round(copied[str(e["submission"])] * SCORE_SCALE)
        json.dump(state, open(os.path.join(sdir, "copier-forged-state.json"), "w"))
        _, err = self.arena("copier", "reveal", "--state",
                            os.path.join(sdir, "copier-forged-state.json"), check=False)
        attempts.append({"action": "reveal the farm's scores under its own commitments",
                         "accepted": err is None, "error": err})
        _, err = self.arena("copier", "reveal", "--state",
                            os.path.join(sdir, "copier-state.json"), check=False)
        attempts.append({"action": "reveal what it committed (the base loss)",
                         "accepted": err is None, "error": err})
        for a in attempts:
            say(f"  copier: {a['action']}: "
                + ("accepted" if a["accepted"] else f"REFUSED: {a['error']}"))
        self.summary["copierAttempts"] = attempts
        self.phase("revealed")

        self.advance(WINDOWS["reveal"] + 1)
        self.arena("creator", "finalize", "--task", self.task)
        out, _ = self.farm.communicate(timeout=120)
        self.farm_summary = json.loads(out.strip().splitlines()[-1])
        farm_log.close()
        for line in open(os.path.join(self.run_dir, "farm.log")):
            if "adapters/s" in line:
                say("  farm: " + line.strip().replace("murmur arena validate: ", ""))
        say(f"finalized (the silent validator never revealed); the farm's daemon claimed "
            f"{self.farm_summary.get('claimed')}")
        self.phase("finalized")

    def settle(self):
        """Every reward and slash from one look at the chain: rewardOf (claimable) and the own
        stake left of each participant; the farm's daemon already claimed its reward."""
        names = [p[0] for p in NODES + VALIDATORS + DELEGATORS]
        args = []
        for name in names:
            args += ["--who", self.addr[name]]
        st = self.arena(None, "status", "--task", self.task, "--scores", *args)
        self.final = st
        acc = {a["address"]: a for a in st["accounts"]}
        self.rewards = {n: int(acc[self.addr[n]]["claimable"]) for n in names}
        self.rewards["farm"] += int(self.farm_summary.get("claimed") or 0)
        self.stake_left = {n: int(acc[self.addr[n]]["stake"]) for n in names}
        self.creator_credit = int(st["creatorBalance"])
        self.phase("settled")

    # ---------------------------------------------------------------- the report
    def report(self):
        vname = {self.addr[v[0]]: v[0] for v in VALIDATORS}
        node_of_sub = {s: n for n, s in self.sub_of.items()}
        what = {n[0]: n[1] for n in NODES}
        subs = []
        for s in self.final["submissions"]:
            name = node_of_sub[s["submission"]]
            res = s["result"]
            h = s["adapterHash"][2:] if s["adapterHash"].startswith("0x") else s["adapterHash"]
            subs.append({
                "submission": s["submission"], "node": name, "what": what[name],
                "adapterHash": s["adapterHash"], "validateLoss": self.ref_loss.get(h),
                "trainHeldOut": self.train_log.get(name, {}).get("evalLoss"),
                "consensus": None if res["consensus"] is None else res["consensus"] / SCORE_SCALE,
                "rank": res["rank"], "reward": int(res["reward"]),
                "scores": {vname[e["validator"]]: (None if e["score"] is None
                                                   else e["score"] / SCORE_SCALE)
                           for e in s["scores"]}})
        subs.sort(key=lambda x: (x["rank"] is None, x["rank"] or 0, x["submission"]))
        parts = []
        staked = {n[0]: NODE_STAKE for n in NODES}
        staked.update({v[0]: v[2] for v in VALIDATORS})
        deleg_to = {d[1]: d[2] for d in DELEGATORS}
        for name, w, *_ in NODES:
            parts.append({"name": name, "role": "node", "what": w, "stake": staked[name],
                          "delegated": deleg_to.get(name, 0), "reward": self.rewards[name],
                          "slash": staked[name] - self.stake_left[name],
                          "submission": self.sub_of.get(name)})
        for name, w, _ in VALIDATORS:
            parts.append({"name": name, "role": "validator", "what": w, "stake": staked[name],
                          "delegated": deleg_to.get(name, 0), "reward": self.rewards[name],
                          "slash": staked[name] - self.stake_left[name]})
        for name, to, amount in DELEGATORS:
            parts.append({"name": name, "role": "delegator", "what": f"delegates {amount} to {to}",
                          "stake": amount, "delegated": 0, "reward": self.rewards[name],
                          "slash": 0, "delegate": to})
        parts.append({"name": "creator", "role": "creator", "what": "task creator: leftover",
                      "stake": POOL, "delegated": 0, "reward": self.creator_credit, "slash": 0})
        by = {p["name"]: p for p in parts}
        ranked = [s for s in subs if s["rank"] is not None]
        worst = max(s["rank"] for s in ranked)
        checks = {
            "copierEarnsLessThanFarm": by["copier"]["reward"] < by["farm"]["reward"],
            "randomEarnsLessThanFarm": by["random"]["reward"] < by["farm"]["reward"],
            "silentEarnsLessThanFarm": by["silent"]["reward"] < by["farm"]["reward"],
            "silentSlashed": by["silent"]["slash"] > 0,
            "randomAdapterRanksLast": [s["node"] for s in ranked if s["rank"] == worst] == ["n7"],
            "copiedSubmissionRefused": [r["node"] for r in self.refused] == ["n8"]
                                       and "DuplicateAdapter" in self.refused[0]["error"],
            "copiedSubmissionEarnsNothing": by["n8"]["reward"] == 0,
            # The pot: every reward (delegators' shares included) + the creator's credit = the
            # pool + the slashes.
            "potConserved": sum(p["reward"] for p in parts if p["role"] != "creator")
                            + self.creator_credit
                            == POOL + sum(p["slash"] for p in parts),
        }
        total = round(time.monotonic() - T0, 1)
        self.summary.update({
            "task": self.task, "baseLoss": self.base_loss, "submissions": subs,
            "refused": self.refused, "participants": parts, "farm": self.farm_summary,
            "phases": self.phases, "seconds": total, "checks": checks,
            "params": {"pool": POOL, "k": 4, "gammaBps": 5000, "rankRatioBps": 5000,
                       "toleranceBps": 1000, "slashBps": 5000, "commissionBps": COMMISSION_BPS},
        })
        json.dump(self.summary, open(os.path.join(self.run_dir, "summary.json"), "w"), indent=1)
        self.print_tables(subs, parts, checks, total)
        self.write_html(subs, parts, checks, total)
        return all(checks.values())

    def print_tables(self, subs, parts, checks, total):
        f = lambda x: "-" if x is None else f"{x:.4f}"
        print()
        print(f"Submissions of task {self.task} (mean loss on the held-out set, nats/token; lower "
              f"is better; base model {self.base_loss:.4f})")
        print(f"{'rank':>4}  {'node':4}  {'what':46}  {'validate':>8}  {'consensus':>9}  "
              f"{'farm':>7}  {'copier':>7}  {'random':>7}  {'silent':>7}  {'reward':>7}")
        for s in subs:
            sc = s["scores"]
            cells = []
            for v in ("farm", "copier", "random", "silent"):
                cells.append(f"{'unrev.' if v in sc and sc[v] is None else f(sc.get(v)):>7}")
            print(f"{'-' if s['rank'] is None else s['rank'] + 1:>4}  {s['node']:4}  "
                  f"{s['what'][:46]:46}  {f(s['validateLoss']):>8}  {f(s['consensus']):>9}  "
                  + "  ".join(cells) + f"  {s['reward']:>7}")
        for r in self.refused:
            print(f"{'-':>4}  {r['node']:4}  {r['what'][:46]:46}  refused: {r['error']}")
        print()
        print("Rewards and slashes by role (token base units; a reward includes the delegate's "
              "commission and own share)")
        print(f"{'role':9}  {'who':7}  {'own stake':>9}  {'delegated':>9}  {'reward':>7}  "
              f"{'slash':>5}  what")
        for p in parts:
            print(f"{p['role']:9}  {p['name']:7}  {p['stake']:>9}  {p['delegated']:>9}  "
                  f"{p['reward']:>7}  {p['slash']:>5}  {p['what']}")
        print()
        print(f"pool {POOL} + slashes {sum(p['slash'] for p in parts)} = rewards "
              f"{sum(p['reward'] for p in parts if p['role'] != 'creator')} + creator's "
              f"leftover {self.creator_credit}")
        for k, v in checks.items():
            print(f"check {k}: {'ok' if v else 'FAILED'}")
        print(f"phases (s since start): {self.phases}; total {total} s")

    def write_html(self, subs, parts, checks, total):
        e = html.escape
        f = lambda x: "-" if x is None else f"{x:.4f}"
        h = ["<!doctype html><html><head><meta charset=\"utf-8\"><title>Murmuration AI Arena "
             "demo</title><style>body{font-family:sans-serif;margin:2em;max-width:70em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
             "padding:3px 8px;text-align:right}td.l,th.l{text-align:left}.bad{color:#b00}"
             ".ok{color:#070}</style></head><body>",
             f"<h1>AI Arena on chain: task {e(str(self.task))}</h1>",
             f"<p>A tiny random LLaMA (2 layers, hidden 64, vocabulary 256), a held-out set of "
             f"24 sequences from a Markov chain over 32 ids; the base model's loss is "
             f"{self.base_loss:.4f} nats/token. 8 training nodes, 4 validators (k = 4), 2 "
             f"delegators, pool {POOL}; γ 50 %, rank ratio 0.5, tolerance 10 %, slash 50 %. "
             f"Consensus is the stake-weighted lower median of the revealed scores. "
             f"Run time {total} s.</p>",
             "<h2>Submissions</h2><table><tr><th>rank</th><th class=l>node</th><th class=l>what"
             "</th><th>murmur validate</th><th>consensus</th><th>farm</th><th>copier</th>"
             "<th>random</th><th>silent</th><th>reward</th></tr>"]
        for s in subs:
            sc = s["scores"]
            cells = "".join(f"<td>{'unrevealed' if v in sc and sc[v] is None else f(sc.get(v))}"
                            "</td>" for v in ("farm", "copier", "random", "silent"))
            h.append(f"<tr><td>{'-' if s['rank'] is None else s['rank'] + 1}</td><td class=l>"
                     f"{e(s['node'])}</td><td class=l>{e(s['what'])}</td><td>"
                     f"{f(s['validateLoss'])}</td><td>{f(s['consensus'])}</td>{cells}<td>"
                     f"{s['reward']}</td></tr>")
        for r in self.refused:
            h.append(f"<tr><td>-</td><td class=l>{e(r['node'])}</td><td class=l>{e(r['what'])}"
                     f"</td><td class='l bad' colspan=7>refused by the contract: "
                     f"{e(r['error'])}</td></tr>")
        h.append("</table><h2>Rewards and slashes by role</h2><table><tr><th class=l>role</th>"
                 "<th class=l>who</th><th>own stake</th><th>delegated to it</th><th>reward</th>"
                 "<th>slash</th><th class=l>what</th></tr>")
        for p in parts:
            h.append(f"<tr><td class=l>{p['role']}</td><td class=l>{e(p['name'])}</td><td>"
                     f"{p['stake']}</td><td>{p['delegated']}</td><td>{p['reward']}</td><td"
                     f"{' class=bad' if p['slash'] else ''}>{p['slash']}</td><td class=l>"
                     f"{e(p['what'])}</td></tr>")
        h.append("</table><h2>The copier after the commit window</h2><ul>")
        for a in self.summary["copierAttempts"]:
            h.append(f"<li>{e(a['action'])}: " + ("accepted" if a["accepted"] else
                     f"<span class=bad>refused: {e(a['error'])}</span>") + "</li>")
        h.append("</ul><h2>Checks</h2><ul>")
        for k, v in checks.items():
            h.append(f"<li class={'ok' if v else 'bad'}>{e(k)}: {'ok' if v else 'FAILED'}</li>")
        fs = self.farm_summary
        h.append(f"</ul><p>Farm daemon: strategy {e(str(fs.get('strategy')))}, "
                 f"{fs.get('adaptersScored')} adapters, {fs.get('tokensScored')} target tokens "
                 f"in {fs.get('scoreSeconds', 0):.3f} s, then claimed {fs.get('claimed')}. Phases (s since start): "
                 f"{e(json.dumps(self.phases))}.</p></body></html>")
        with open(os.path.join(self.run_dir, "report.html"), "w") as out:
            out.write("\n".join(h) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--murmur", required=True)
    p.add_argument("--run", required=True, help="output folder (emptied first by the caller)")
    p.add_argument("--rpc", required=True)
    p.add_argument("--chain-start", help="command that starts the chain (run while training)")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    d = Demo(a)
    chain = None
    try:
        if a.chain_start:
            chain = subprocess.Popen(["bash", "-c", a.chain_start], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        d.models()
        if chain is not None:
            out, _ = chain.communicate(timeout=180)
            if chain.returncode != 0:
                sys.stderr.write(out)
                raise RuntimeError("the chain did not start")
            say(f"local chain: Hardhat node on {a.rpc}")
        d.accounts()
        d.task_setup()
        d.submissions()
        d.scoring()
        d.settle()
        ok = d.report()
    finally:
        for c in d.children:
            if c.poll() is None:
                c.terminate()
                try:
                    c.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    c.kill()
    say(f"report {os.path.join(a.run, 'report.html')}, summary {os.path.join(a.run, 'summary.json')}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
