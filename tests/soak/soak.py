#!/usr/bin/env python3
"""Soak with chaos (docs/reliability.md, "Soak"): murmurd (CurveZMQ, [chain] on a local Hardhat
node) runs a task of --rounds rounds for --nodes light nodes (soak_nodes processes, several nodes
each) while faults are injected at seeded random times:

  murmurd-kill   SIGKILL of murmurd; the supervisor here restarts it on the same data_dir
  node-kill      SIGKILL of a random soak_nodes process (its nodes); restarted after 1-3 s
  partition      the veth link to the nodes in a network namespace goes down for 2-5 s
  relay-fault    on the fault-injecting TCP relay in front of one node group: delay (50-300 ms
                 per read), a black hole (bytes held back) or connection resets (RST), 2-5 s
  chain-outage   the JSON-RPC relay between murmurd and Hardhat refuses connections for 3-8 s
  chain-kill     SIGKILL of the Hardhat node; a fresh node (same genesis time) is started on the
                 same port and the chain journal replayed into it, every block at its original
                 timestamp: the same chain, block hash for block hash (ChainRecorder below)

After every round it checks, through soak_probe (state.db read-only, the spool, the chain):
every update a node was told is committed is in state.db with the hash the node computed and its
spool file hashes to it (else: lost); every ended round has a record with an outcome, and its
posting agrees with the round's state on chain; murmurd's RSS and open fds stay under their
limits, and the spool holds at most --spool-keep-rounds + 1 rounds and their bytes (pruning);
the data_dir's size.
At the end every transaction murmurd sent is read back from the chain: a (method, round) sent
twice is a duplicate posting. Writes report.json and prints it; exits 1 when a check failed.
"""
import argparse
import asyncio
import http.client
import http.server
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CREATOR_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Hardhat #0
NETNS, VETH_H, VETH_N = "murmursoak", "msoak-h", "msoak-n"
HOST_IP, NS_IP = "10.231.7.1", "10.231.7.2"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Relay:
    """A TCP relay with injectable faults: 'ok', 'delay', 'blackhole', 'reset', 'down'."""

    def __init__(self, loop, listen_host, listen_port, target_port):
        self.loop, self.mode, self.conns = loop, "ok", set()
        self.listen = (listen_host, listen_port)
        self.target = target_port
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, listen_host, listen_port), loop).result()

    async def _pipe(self, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self.mode == "blackhole":
                    await asyncio.sleep(0.05)
                if self.mode == "delay":
                    await asyncio.sleep(random.uniform(0.05, 0.3))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def _client(self, reader, writer):
        if self.mode in ("down", "reset"):
            self._rst(writer)
            return
        try:
            r2, w2 = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            self._rst(writer)
            return
        pair = (writer, w2)
        self.conns.add(pair)
        try:
            await asyncio.gather(self._pipe(reader, w2), self._pipe(r2, writer))
        finally:
            self.conns.discard(pair)

    @staticmethod
    def _rst(writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
        writer.close()

    def set_mode(self, mode):
        def apply():
            self.mode = mode
            if mode in ("reset", "down"):
                for a, b in list(self.conns):
                    self._rst(a)
                    self._rst(b)
        self.loop.call_soon_threadsafe(apply)


class ChainRecorder:
    """The JSON-RPC endpoint every writer to the chain uses (the deployment, the task's set-up,
    murmurd through the fault relay): requests are passed to the Hardhat node, and each one
    that changes the chain (a transaction, a mined block) is journalled with the blocks it
    produced (number, timestamp, hash) before its reply goes back. Hardhat 2 keeps its chain in
    memory and has no state dump, so a killed node is brought back by replay(): a fresh node
    with the same genesis time (tests/soak/hardhat.soak.config.js) gets every journalled
    request again, each block's timestamp set first (evm_setNextBlockTimestamp): the same
    transactions in the same blocks at the same times give the same block hashes, which
    replay() checks. A reply a client received was journalled first; a request cut by the kill
    gets HTTP 502 and was never acknowledged (its transaction is lost with the node, as an
    unconfirmed one would be; murmurd's outbox sends it again). While the node is down every
    request gets HTTP 503."""

    WRITES = {"eth_sendTransaction", "eth_sendRawTransaction", "evm_mine", "hardhat_mine",
              "evm_increaseTime", "evm_setNextBlockTimestamp", "hardhat_setBalance",
              "hardhat_setCode", "hardhat_setNonce", "hardhat_setStorageAt"}

    def __init__(self, node_port, journal_path):
        self.node_port, self.down, self.lock = node_port, False, threading.Lock()
        self.entries, self.journal = [], open(journal_path, "a")
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reply = recorder.handle(body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    self.close_connection = True  # the client went (a reset by the fault relay)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # Hardhat's provider opens dozens of connections at once

            def handle_error(self, request, client_address):
                pass  # a client that hung up mid-request: nothing to answer

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def post(self, body, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.node_port, timeout=60)
        try:
            c.request("POST", "/", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                raise OSError(f"node answered HTTP {r.status}")
            return data
        finally:
            if conn is None:
                c.close()

    def call(self, method, params, conn=None):
        reply = json.loads(self.post(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                                 "params": params}).encode(), conn))
        if "error" in reply:
            raise ValueError(f"{method}: {reply['error']}")
        return reply["result"]

    def handle(self, body):
        if self.down:
            return 503, b'{"error":"chain node down"}'
        try:
            req = json.loads(body)
            items = req if isinstance(req, list) else [req]
            writes = any(isinstance(i, dict) and i.get("method") in self.WRITES for i in items)
        except ValueError:
            writes = False
        try:
            if not writes:
                return 200, self.post(body)
            with self.lock:
                if self.down:
                    return 503, b'{"error":"chain node down"}'
                before = int(self.call("eth_blockNumber", []), 16)
                reply = self.post(body)
                after = int(self.call("eth_blockNumber", []), 16)
                blocks = []
                for n in range(before + 1, after + 1):
                    b = self.call("eth_getBlockByNumber", [hex(n), False])
                    blocks.append([n, int(b["timestamp"], 16), b["hash"]])
                entry = {"body": body.decode(), "blocks": blocks}
                self.entries.append(entry)
                self.journal.write(json.dumps(entry) + "\n")
                self.journal.flush()
                return 200, reply
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as e:
            return 502, json.dumps({"error": f"chain node: {e}"}).encode()

    def replay(self):
        """Sends every journalled request to the (fresh) node, each block's timestamp set first.
        Returns (requests replayed, blocks, the first block whose hash differs or None)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.node_port, timeout=60)
        sent = blocks = 0
        try:
            for e in self.entries:
                if not e["blocks"]:
                    continue  # changed nothing (a refused transaction, a time shift)
                if len(e["blocks"]) == 1:
                    self.call("evm_setNextBlockTimestamp", [e["blocks"][0][1]], conn)
                self.post(e["body"].encode(), conn)
                sent += 1
                blocks += len(e["blocks"])
            for e in reversed(self.entries):  # the chain's head: its hash covers every block
                if e["blocks"]:
                    n, _, want = e["blocks"][-1]
                    got = self.call("eth_getBlockByNumber", [hex(n), False], conn)
                    if got is None or got["hash"] != want:
                        return sent, blocks, self.first_difference(conn)
                    break
            return sent, blocks, None
        finally:
            conn.close()

    def first_difference(self, conn):
        for e in self.entries:
            for n, _, want in e["blocks"]:
                got = self.call("eth_getBlockByNumber", [hex(n), False], conn)
                if got is None or got["hash"] != want:
                    return n
        return -1


class Soak:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.out = os.path.abspath(a.out)
        self.build = os.path.abspath(a.build_dir)
        self.murmur = os.path.join(self.build, "cli", "murmur")
        self.murmurd = os.path.join(self.build, "server", "murmurd")
        self.nodes_bin = os.path.join(self.build, "tests", "soak_nodes")
        self.probe_bin = os.path.join(self.build, "tests", "soak_probe")
        self.stopping = False
        self.murmurd_proc = None
        self.faults = {k: 0 for k in ("murmurd-kill", "node-kill", "partition", "relay-fault",
                                      "chain-outage", "chain-kill")}
        self.failures = []
        self.groups = {}  # index -> dict(proc, args, netns)
        self.max_rss = 0
        self.rss_samples, self.fd_samples, self.data_samples = [], [], []
        self.spool_samples = []  # (round, spool bytes, spooled rounds) per probe
        self.fd_limit = a.fd_limit or 4 * a.nodes + 500
        self.longest_stall = 0.0
        self.netns = False
        self.mode_switch, self.mode_switches, self.secagg_on = False, 0, False
        self.masked = set()

    # ---- processes -------------------------------------------------------------------------
    def run(self, cmd, **kw):
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    def start_chain(self):
        """A Hardhat node on chain_port (tests/soak/hardhat.soak.config.js: the genesis time
        fixed, so that a restarted node can rebuild the same chain); waits until it answers."""
        os.makedirs(os.path.join(self.out, "chain"), exist_ok=True)
        env = dict(os.environ, MURMUR_SOAK_GENESIS=self.genesis)
        logf = open(os.path.join(self.out, "chain", "node.log"), "ab")
        contracts = os.path.join(ROOT, "contracts")
        self.chain_proc = subprocess.Popen(
            [os.path.join(contracts, "node_modules", ".bin", "hardhat"), "node", "--config",
             os.path.join(ROOT, "tests", "soak", "hardhat.soak.config.js"), "--hostname",
             "127.0.0.1", "--port", str(self.chain_port)], cwd=contracts, env=env, stdout=logf,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.chain_proc.poll() is not None:
                raise RuntimeError(f"the hardhat node exited ({self.chain_proc.returncode}): "
                                   f"see {self.out}/chain/node.log")
            try:
                self.rpc("eth_chainId", [])
                return
            except (OSError, ValueError, KeyError):
                time.sleep(0.3)
        raise RuntimeError("the hardhat node did not answer within 180 s")

    def stop_chain(self):
        p = getattr(self, "chain_proc", None)
        if p and p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def setup_task(self, quiet=False):
        # Through the recorder: the deployment and the set-up are part of the chain a killed
        # node is rebuilt from.
        env = dict(os.environ, MURMUR_CHAIN_PORT=str(self.recorder.port),
                   MURMUR_DEPLOY_OUT=os.path.join(self.out, "deployment.json"))
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "chain.sh"), "deploy"], check=True,
                       env=env, cwd=ROOT, capture_output=quiet)
        key = os.path.join(self.out, "creator.key")
        with open(key, "w") as f:
            f.write(CREATOR_KEY + "\n")
        os.chmod(key, 0o600)
        rpc = f"http://127.0.0.1:{self.recorder.port}"
        self.run([self.murmur, "simulate", "setup-chain", "--rpc", rpc, "--deployment",
                  os.path.join(self.out, "deployment.json"), "--creator-key-file", key,
                  "--nodes", str(self.a.nodes), "--seed", str(self.a.seed), "--rounds",
                  str(self.a.rounds), "--stake", "1000", "--pool", "100000000", "--proposer-bps",
                  str(self.a.proposer_bps), "--slash-bps", "0", "--shape", self.a.shape,
                  "--out-dir", self.out])
        env = {}
        for line in open(os.path.join(self.out, "task.env")):
            if "=" in line:
                k, v = line.strip().split("=", 1)
                env[k] = v
        self.task = env

    def write_config(self, secagg=False):
        if not os.path.exists(os.path.join(self.out, "server.key")):
            self.run([self.murmurd, "keygen", os.path.join(self.out, "server.key")])
            self.round_port, self.register_port = free_port(), free_port()
            self.metrics_port = free_port()
        t = self.task
        cfg = f"""[server]
endpoint = "tcp://127.0.0.1:{self.round_port}"
register_endpoint = "tcp://127.0.0.1:{self.register_port}"
metrics_port = {self.metrics_port}
data_dir = "data"
curve = true
curve_secret_key_file = "server.key"
backend = "cpu"
fault_limit_ms = {self.a.fault_limit_ms}
spool_keep_rounds = {self.a.spool_keep_rounds}

[task]
task_id = {t['TASK_ID']}
chain_id = {t['CHAIN_ID']}
contract = "{t['CONTRACT']}"
parameters = {t['PARAMETERS']}
rounds = {self.a.rounds}
proposer_bps = {self.a.proposer_bps}
participants = "participants.csv"
initial_model = "initial.f32"

[round]
upload_seconds = {self.a.upload_seconds}
vote_seconds = {self.a.vote_seconds}
quorum = 1
vote_quorum = 1

[aggregation]
rule = "trimmed-mean"
beta = 0.1

[chain]
rpc_url = "http://127.0.0.1:{self.rpc_relay_port}"
key_file = "creator.key"
"""
        if secagg:
            cfg += """
[secagg]
enabled = true
advertise_seconds = 5
share_seconds = 5
check_seconds = 5
masked_seconds = 5
unmask_seconds = 5
"""
        self.secagg_on = secagg
        with open(os.path.join(self.out, "murmurd.toml"), "w") as f:
            f.write(cfg)

    def supervise_murmurd(self):
        logf = open(os.path.join(self.out, "murmurd.log"), "ab")
        self.murmurd_starts = 0
        while not self.stopping:
            self.murmurd_proc = subprocess.Popen(
                [self.murmurd, "--config", "murmurd.toml"], cwd=self.out, stdout=logf,
                stderr=subprocess.STDOUT)
            self.murmurd_starts += 1
            rc = self.murmurd_proc.wait()
            if self.stopping:
                break
            if self.mode_switch:
                self.mode_switch = False
                continue
            if rc == 0:
                log("murmurd exited cleanly")
                break
            time.sleep(0.5)

    def group_cmd(self, g):
        n = self.a.nodes // self.a.groups
        first = g * n
        count = n if g < self.a.groups - 1 else self.a.nodes - first
        host, rp, regp = "127.0.0.1", self.round_port, self.register_port
        if g == 0 and self.netns:
            host, rp, regp = HOST_IP, self.ns_round_port, self.ns_register_port
        elif g == 1:
            rp, regp = self.faulty_round_port, self.faulty_register_port
        cmd = [self.nodes_bin, "--endpoint", f"tcp://{host}:{rp}", "--register-endpoint",
               f"tcp://{host}:{regp}", "--server-key-file",
               os.path.join(self.out, "server.key.pub"), "--journal",
               os.path.join(self.out, f"journal-{g}.jsonl"), "--seed", str(self.a.seed),
               "--first", str(first), "--count", str(count), "--chain-id",
               self.task["CHAIN_ID"], "--contract", self.task["CONTRACT"], "--until-file",
               os.path.join(self.out, "stop-nodes")]
        if g == 0 and self.netns:
            cmd = ["ip", "netns", "exec", NETNS] + cmd
        return cmd

    def start_group(self, g):
        logf = open(os.path.join(self.out, f"nodes-{g}.log"), "ab")
        self.groups[g] = subprocess.Popen(self.group_cmd(g), stdout=logf, stderr=subprocess.STDOUT)

    # ---- network namespace -----------------------------------------------------------------
    def setup_netns(self):
        if os.geteuid() != 0 or not shutil.which("ip") or self.a.partitions == 0:
            log("no network namespace (needs root and iproute2): partitions are skipped")
            return
        subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
        for cmd in (["ip", "netns", "add", NETNS],
                    ["ip", "link", "add", VETH_H, "type", "veth", "peer", "name", VETH_N],
                    ["ip", "link", "set", VETH_N, "netns", NETNS],
                    ["ip", "addr", "add", f"{HOST_IP}/30", "dev", VETH_H],
                    ["ip", "link", "set", VETH_H, "up"],
                    ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{NS_IP}/30", "dev",
                     VETH_N],
                    ["ip", "netns", "exec", NETNS, "ip", "link", "set", VETH_N, "up"],
                    ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"]):
            self.run(cmd)
        self.netns = True

    def teardown_netns(self):
        if self.netns:
            subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)
            subprocess.run(["ip", "link", "del", VETH_H], capture_output=True)

    # ---- observation -----------------------------------------------------------------------
    def probe(self):
        t = self.task
        try:
            r = subprocess.run([self.probe_bin, "--data-dir", os.path.join(self.out, "data"),
                                "--rpc", f"http://127.0.0.1:{self.chain_port}", "--contract",
                                t["CONTRACT"], "--task", t["TASK_ID"]], capture_output=True,
                               text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"error": str(e)}
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": r.stderr[-500:]}

    def sample_process(self):
        p = self.murmurd_proc
        if not p or p.poll() is not None:
            return
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) * 1024
                        self.rss_samples.append(rss)
                        self.max_rss = max(self.max_rss, rss)
            self.fd_samples.append(len(os.listdir(f"/proc/{p.pid}/fd")))
        except OSError:
            pass

    def journal(self):
        committed, voted = {}, 0
        for g in range(self.a.groups):
            path = os.path.join(self.out, f"journal-{g}.jsonl")
            if not os.path.exists(path):
                continue
            for line in open(path):
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a line cut by SIGKILL: never acknowledged to the harness
                if e["event"] == "committed":
                    committed[(e["round"], e["address"].lower())] = e["hash"]
                elif e["event"] == "masked":
                    self.masked.add((e["round"], e["address"].lower()))
                else:
                    voted += 1
        return committed, voted

    def check_rounds(self, state, final=False):
        """Checks every ended round once; returns the rounds checked."""
        committed, _ = self.journal()
        by_round = {r["round"]: r for r in state.get("rounds", [])}
        current = state.get("round", 0)
        closed = state.get("stage") == 5 or final
        for rnd in range(self.checked + 1, current + (1 if closed else 0)):
            rec = by_round.get(rnd)
            if rec is None or not rec.get("outcome"):
                if final:
                    self.failures.append(f"round {rnd}: no record with an outcome")
                    continue
                return
            if rec["posting"] in ("", None) and not final:
                return  # not settled yet
            if rec.get("chain_state", -1) == -1 and not final:
                return  # the chain cannot be read now (a killed node coming back): next probe
            on_server = {c["address"].lower(): c for c in rec["committed"]}
            for (r, addr), h in committed.items():
                if r != rnd:
                    continue
                c = on_server.get(addr)
                if c is None or c["hash"] != h:
                    self.lost.append(f"round {rnd} {addr}: acknowledged, not in state.db")
                elif not c.get("spool_present", True) and rnd < current - self.a.spool_keep_rounds:
                    # Pruned by murmurd before the harness got to check it: not verified.
                    self.failures.append(f"round {rnd} {addr}: spool pruned before its check")
                elif not c["spool_ok"]:
                    self.lost.append(f"round {rnd} {addr}: spool bytes differ from the hash")
            cs = rec.get("chain_state", -1)
            post = rec["posting"]
            agree = (post == "finalized" and cs == 2) or (post == "abandoned" and cs == 3) or \
                    (post == "failed" and cs in (0, 1, 3, -1)) or (post == "" and final)
            if rec.get("seed_source") == "local" and cs == 2:
                agree = False
            if not agree:
                self.failures.append(f"round {rnd}: record posting '{post}' vs chain state {cs}")
            self.rounds[rnd] = {"outcome": rec["outcome"], "reason": rec["reason"],
                                "posting": post, "posting_error": rec.get("posting_error", ""),
                                "chain_state": cs, "seed": rec.get("seed_source", ""),
                                "committed": len(rec["committed"]), "faults": rec.get("faults")}
            self.checked = rnd

    def recheck_unsettled(self, state):
        """At the end: a round checked while its posting had failed may have been settled since
        (murmurd closes it when the chain answers again, server/src/task_chain.hpp catch_up):
        its record and the chain are read again and must still agree."""
        by_round = {r["round"]: r for r in state.get("rounds", [])}
        for rnd, r in self.rounds.items():
            rec = by_round.get(rnd)
            if r["posting"] != "failed" or rec is None or rec["posting"] == "failed":
                continue
            cs, post = rec.get("chain_state", -1), rec["posting"]
            if not ((post == "finalized" and cs == 2) or (post == "abandoned" and cs == 3)) or \
                    (rec.get("seed_source") == "local" and cs == 2):
                self.failures.append(f"round {rnd}: record posting '{post}' vs chain state {cs} "
                                     "(settled after its check)")
            r.update({"posting": post, "posting_error": rec.get("posting_error", ""),
                      "chain_state": cs, "settled_late": True})

    def check_bounds(self, state):
        """After every probe: the spool holds at most K + 1 rounds (the last K ended ones and
        the current one) and at most (K + 1) x nodes x D x 4 bytes (one f32 update per node and
        round); murmurd holds at most --fd-limit descriptors."""
        rnd, k = state.get("round", 0), self.a.spool_keep_rounds
        spooled, spool_bytes = state.get("spool_rounds", []), state.get("spool_bytes", 0)
        self.spool_samples.append((rnd, spool_bytes, len(spooled)))
        if k > 0:
            byte_bound = (k + 1) * self.a.nodes * int(self.task["PARAMETERS"]) * 4
            if len(spooled) > k + 1 or (spooled and spooled[0] < rnd - k):
                self.failures.append(f"round {rnd}: the spool holds rounds {spooled} "
                                     f"(at most the last {k} ended and the current one)")
            if spool_bytes > byte_bound:
                self.failures.append(f"round {rnd}: the spool holds {spool_bytes} bytes "
                                     f"(bound {byte_bound})")
        if self.fd_samples and self.fd_samples[-1] > self.fd_limit:
            self.failures.append(f"round {rnd}: murmurd held {self.fd_samples[-1]} descriptors "
                                 f"(> {self.fd_limit})")

    # ---- SecAgg+ rounds mixed in ------------------------------------------------------------
    def wants_secagg(self, rnd):
        k = self.a.secagg_every
        return k > 0 and ((rnd - 1) // k) % 2 == 1

    def switch_mode(self, state):
        """With --secagg-every K, rounds alternate K plaintext, K SecAgg+: once round r has its
        uploads, murmurd is restarted (SIGTERM) on the configuration round r + 1 needs."""
        rnd, stage = state.get("round", 0), state.get("stage")
        # Past its uploads (aggregating, voting, finalizing) a round is for the next one's mode;
        # a switch seen only once the round is uploading costs that round (no quorum).
        target = self.wants_secagg(rnd + 1) if stage in (2, 3, 4) else self.wants_secagg(rnd)
        if stage == 5 or target == self.secagg_on:
            return
        self.write_config(secagg=target)
        p = self.murmurd_proc
        if p and p.poll() is None:
            self.mode_switch = True
            p.terminate()
        self.mode_switches += 1
        log(f"round {rnd + 1} and on: {'SecAgg+' if self.secagg_on else 'plaintext'}")

    # ---- chaos -----------------------------------------------------------------------------
    def plan(self):
        """Each fault gets a round (seeded, uniform over rounds 2 .. L, L = --last-fault-round
        or R-1): it is injected when murmurd reaches that round, after a random 0-3 s, so the
        faults spread over the run whatever its pace. With L well below R the faults planned
        last still land before the task closes (or the time limit cuts the run). Returns
        [(round, kind)], latest first (popped from the end)."""
        kinds = (["murmurd-kill"] * self.a.murmurd_kills + ["node-kill"] * self.a.node_kills +
                 ["partition"] * (self.a.partitions if self.netns else 0) +
                 ["relay-fault"] * self.a.relay_faults + ["chain-outage"] * self.a.chain_outages +
                 ["chain-kill"] * self.a.chain_kills)
        last = max(2, self.a.rounds - 1)
        if self.a.last_fault_round > 0:
            last = max(2, min(last, self.a.last_fault_round))
        plan = [(self.rng.randint(min(2, last), last), k) for k in kinds]
        plan.sort(key=lambda e: -e[0])
        return plan

    def inject(self, kind):
        rng = self.rng
        if kind == "murmurd-kill":
            p = self.murmurd_proc
            if p and p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
        elif kind == "node-kill":
            g = rng.randrange(self.a.groups)
            p = self.groups[g]
            if p.poll() is None:
                p.kill()
                p.wait()
            time.sleep(rng.uniform(1, 3))
            self.start_group(g)
        elif kind == "partition":
            self.run(["ip", "link", "set", VETH_H, "down"])
            time.sleep(rng.uniform(2, 5))
            self.run(["ip", "link", "set", VETH_H, "up"])
        elif kind == "relay-fault":
            mode = rng.choice(["delay", "blackhole", "reset"])
            for r in (self.faulty_round, self.faulty_register):
                r.set_mode(mode)
            time.sleep(rng.uniform(2, 5))
            for r in (self.faulty_round, self.faulty_register):
                r.set_mode("ok")
            kind = f"relay-fault ({mode})"
        elif kind == "chain-outage":
            self.rpc_relay.set_mode("down")
            time.sleep(rng.uniform(3, 8))
            self.rpc_relay.set_mode("ok")
        elif kind == "chain-kill":
            self.kill_chain()
        self.faults[kind.split(" ")[0]] += 1
        self.fault_log.append((round(time.time() - self.t0, 1), kind))
        log(f"fault: {kind}")

    # ---- chain scan ------------------------------------------------------------------------
    def rpc(self, method, params):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.chain_port}", body,
                                     {"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=30).read())["result"]

    AGGREGATOR = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # Hardhat account #0

    def journal_chain(self):
        """Appends the transactions mined since the last call (from the aggregator to the task
        contract: murmurd's postings) to the chain journal, with their receipt status. The
        journal is what a killed Hardhat node is rebuilt from, and where duplicates are
        counted."""
        try:
            last = int(self.rpc("eth_blockNumber", []), 16)
            contract = self.task["CONTRACT"].lower()
            for b in range(self.journal_block + 1, last + 1):
                block = self.rpc("eth_getBlockByNumber", [hex(b), True])
                for tx in block["transactions"]:
                    if (tx.get("to") or "").lower() != contract:
                        continue
                    receipt = self.rpc("eth_getTransactionReceipt", [tx["hash"]])
                    self.chain_journal.append({
                        "block": b, "from": tx["from"], "to": tx["to"], "input": tx["input"],
                        "value": tx["value"], "gas": tx["gas"],
                        "status": int(receipt["status"], 16)})
                self.journal_block = b
        except (OSError, ValueError, KeyError, TypeError):
            pass  # the node is down: what it mined since is lost with it, as on a real chain

    def kill_chain(self):
        """SIGKILL of the Hardhat node at a random moment (maybe in the middle of a posting);
        1-3 s later a fresh node on the same port, the recorder's journal replayed into it
        (ChainRecorder.replay), then the endpoint opens again. Until then murmurd's and the
        probe's requests fail (HTTP 503 / connection refused) and murmurd retries."""
        self.recorder.down = True
        t0 = time.time()
        os.killpg(self.chain_proc.pid, signal.SIGKILL)
        self.chain_proc.wait()
        with self.recorder.lock:  # a write cut by the kill has answered 502 by now
            time.sleep(self.rng.uniform(1, 3))
            self.start_chain()
            t1 = time.time()
            sent, blocks, differs = self.recorder.replay()
            head = int(self.rpc("eth_blockNumber", []), 16)
            self.recorder.down = False
        t2 = time.time()
        # Blocks the harness read from the killed node after the recorder's last entry (a
        # request cut by the kill) are not in the new chain: forget them.
        self.chain_journal = [t for t in self.chain_journal if t["block"] <= head]
        self.journal_block = min(self.journal_block, head)
        self.chain_restarts.append({"at_s": round(t0 - self.t0, 1), "requests_replayed": sent,
                                    "blocks": blocks, "head": head,
                                    "node_start_s": round(t1 - t0, 1),
                                    "replay_s": round(t2 - t1, 1), "outage_s": round(t2 - t0, 1),
                                    "same_chain": differs is None})
        if differs is not None:
            self.failures.append(f"chain-kill at {t0 - self.t0:.0f} s: the replayed chain "
                                 f"differs from block {differs} on")
        log(f"hardhat node back after {t2 - t0:.1f} s: {sent} requests replayed, {blocks} "
            f"blocks, head {head}, {'the same chain' if differs is None else 'DIFFERENT'}")

    def duplicate_postings(self):
        """Every transaction from the aggregator to the task contract, from the chain journal.
        finalizeRound / abandonRound name their round: two of the same (selector, task, round)
        is a posting sent twice, whether or not the second reverted. startRound names only the
        task: one that reverted (RoundStillOpen) is a second start of an open round."""
        self.journal_chain()
        seen, dups, total = {}, [], 0
        for i, tx in enumerate(self.chain_journal):
            if tx["from"].lower() != self.AGGREGATOR:
                continue
            total += 1
            data = tx["input"]
            if len(data) >= 138:
                key = (data[:10], data[10:74], data[74:138])  # selector, task, round
                if key in seen:
                    dups.append({"selector": data[:10], "round": int(data[74:138], 16),
                                 "journal": [seen[key], i]})
                seen[key] = i
            elif tx["status"] == 0:
                dups.append({"selector": data[:10], "journal": i, "reverted": True})
        return total, dups

    # ---- the run ---------------------------------------------------------------------------
    def main(self):
        a = self.a
        os.makedirs(self.out, exist_ok=True)
        for f in os.listdir(self.out):
            p = os.path.join(self.out, f)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        self.t0 = time.time()
        self.fault_log, self.lost, self.rounds, self.checked = [], [], {}, 0
        # The binaries are copied first: a build in the shared tree during the run would
        # otherwise swap murmurd (or the probe) under a supervisor that restarts it.
        bindir = os.path.join(self.out, "bin")
        os.makedirs(bindir)
        for attr in ("murmur", "murmurd", "nodes_bin", "probe_bin"):
            copy = os.path.join(bindir, os.path.basename(getattr(self, attr)))
            shutil.copy2(getattr(self, attr), copy)
            setattr(self, attr, copy)
        self.chain_port = free_port()
        self.genesis = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.t0))
        self.recorder = ChainRecorder(self.chain_port, os.path.join(self.out, "chain-journal.jsonl"))
        self.chain_restarts = []
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        try:
            log(f"hardhat node on 127.0.0.1:{self.chain_port}")
            self.start_chain()
            log(f"task: {a.nodes} nodes staked and joined, shape {a.shape}")
            self.setup_task()
            self.setup_block = int(self.rpc("eth_blockNumber", []), 16)
            self.journal_block, self.chain_journal = self.setup_block, []
            self.rpc_relay_port = free_port()
            self.rpc_relay = Relay(loop, "127.0.0.1", self.rpc_relay_port, self.recorder.port)
            self.write_config()
            self.setup_netns()
            self.faulty_round_port, self.faulty_register_port = free_port(), free_port()
            self.faulty_round = Relay(loop, "127.0.0.1", self.faulty_round_port, self.round_port)
            self.faulty_register = Relay(loop, "127.0.0.1", self.faulty_register_port,
                                         self.register_port)
            if self.netns:
                self.ns_round_port, self.ns_register_port = free_port(), free_port()
                Relay(loop, HOST_IP, self.ns_round_port, self.round_port)
                Relay(loop, HOST_IP, self.ns_register_port, self.register_port)
            sup = threading.Thread(target=self.supervise_murmurd, daemon=True)
            sup.start()
            time.sleep(2)
            for g in range(a.groups):
                self.start_group(g)
            plan = self.plan()
            self.planned = {}
            for _, k in plan:
                self.planned[k] = self.planned.get(k, 0) + 1
            log(f"{len(plan)} faults planned over rounds 2-{plan[0][0] if plan else 0} of "
                f"{a.rounds}: {self.planned}")
            next_fault = time.time() + self.rng.uniform(0, 3)
            last_round, last_change = 0, time.time()
            next_probe = time.time()
            deadline = self.t0 + a.time_limit
            state = {}
            while time.time() < deadline:
                self.sample_process()
                if time.time() >= next_probe:
                    state = self.probe()
                    next_probe = time.time() + a.probe_seconds
                    if "round" not in state:  # unreadable this time: next probe
                        log(f"probe: {state.get('error', '')[:200]}")
                        continue
                    rnd = state.get("round", 0)
                    if rnd != last_round:
                        self.longest_stall = max(self.longest_stall, time.time() - last_change)
                        last_round, last_change = rnd, time.time()
                        self.data_samples.append((rnd, state.get("data_bytes", 0)))
                        log(f"round {rnd} (stage {state.get('stage')}), rss "
                            f"{self.max_rss >> 20} MiB max, fds {self.fd_samples[-1:]}")
                    self.check_rounds(state)
                    self.check_bounds(state)
                    self.journal_chain()
                    self.switch_mode(state)
                    if state.get("stage") == 5:
                        break
                if plan and plan[-1][0] <= last_round and time.time() >= next_fault:
                    self.inject(plan.pop()[1])
                    next_fault = time.time() + self.rng.uniform(0, 3)
                time.sleep(0.5)
            self.longest_stall = max(self.longest_stall, time.time() - last_change)
            state = self.probe()
            self.check_rounds(state, final=state.get("stage") == 5)
            self.recheck_unsettled(state)
            total_tx, dups = self.duplicate_postings()
            self.not_injected = [{"round": r, "kind": k} for r, k in plan]
        finally:
            self.stopping = True
            open(os.path.join(self.out, "stop-nodes"), "w").close()
            for p in self.groups.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            if self.murmurd_proc and self.murmurd_proc.poll() is None:
                self.murmurd_proc.terminate()
                try:
                    self.murmurd_proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.murmurd_proc.kill()
            self.teardown_netns()
            self.stop_chain()
            loop.call_soon_threadsafe(loop.stop)
        committed, votes = self.journal()
        ended = len(self.rounds)
        outcomes = {}
        for r in self.rounds.values():
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        failed = {n: r["reason"] for n, r in self.rounds.items() if r["outcome"] == "failed"}
        unsettled = {n: r["posting_error"] for n, r in self.rounds.items()
                     if r["posting"] == "failed"}
        growth = None
        if len(self.data_samples) >= 4:
            (r0, b0), (r1, b1) = self.data_samples[1], self.data_samples[-1]
            growth = (b1 - b0) / max(1, r1 - r0)
        report = {
            "command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                 time.gmtime(self.t0)),
            "seconds": round(time.time() - self.t0),
            "nodes": a.nodes, "groups": a.groups, "parameters": int(self.task["PARAMETERS"]),
            "rounds_planned": a.rounds, "rounds_recorded": ended,
            "task_closed": state.get("stage") == 5, "outcomes": outcomes,
            "faults_planned": getattr(self, "planned", {}),
            "faults_injected": self.faults, "fault_log": self.fault_log,
            "faults_not_injected": getattr(self, "not_injected", []),
            "murmurd_starts": getattr(self, "murmurd_starts", 0),
            "mode_switches": self.mode_switches,
            "secagg_rounds": sorted(n for n in self.rounds if self.wants_secagg(n)),
            "secagg_rounds_accepted": sum(1 for n, r in self.rounds.items()
                                          if self.wants_secagg(n) and r["outcome"] == "accepted"),
            "rounds_failed": failed, "rounds_unsettled_on_chain": unsettled,
            "rounds_settled_late": {n: r["posting_error"] for n, r in self.rounds.items()
                                    if r.get("settled_late")},
            "updates_acknowledged": len(committed), "votes_acknowledged": votes,
            "masked_updates_sent": len(self.masked),
            "updates_lost": len(self.lost), "lost": self.lost[:20],
            "chain_transactions": total_tx, "duplicate_postings": len(dups), "duplicates": dups,
            "longest_stall_s": round(self.longest_stall, 1),
            "murmurd_rss_max_mib": round(self.max_rss / 2**20, 1),
            "murmurd_fds_first_last_max": [self.fd_samples[0] if self.fd_samples else None,
                                           self.fd_samples[-1] if self.fd_samples else None,
                                           max(self.fd_samples) if self.fd_samples else None],
            "data_dir_bytes_per_round": growth,
            "spool_keep_rounds": a.spool_keep_rounds,
            "spool_bytes_first_last_max": [
                self.spool_samples[0][1] if self.spool_samples else None,
                self.spool_samples[-1][1] if self.spool_samples else None,
                max(x[1] for x in self.spool_samples) if self.spool_samples else None],
            "spool_rounds_held_max": max((x[2] for x in self.spool_samples), default=None),
            "chain_restarts": self.chain_restarts,
            "chain_kills_same_chain": sum(1 for r in self.chain_restarts if r["same_chain"]),
            "chain_outage_longest_s": max((r["outage_s"] for r in self.chain_restarts),
                                          default=None),
            "check_failures": self.failures[:50],
        }
        with open(os.path.join(self.out, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
        print(json.dumps(report, indent=2))
        fd_limit = self.fd_limit
        if self.fd_samples and max(self.fd_samples) > fd_limit:
            self.failures.append(f"murmurd held {max(self.fd_samples)} descriptors (> {fd_limit})")
        if self.max_rss >= a.rss_limit_mib * 2**20:
            self.failures.append(f"murmurd's RSS reached {self.max_rss >> 20} MiB")
        if len(unsettled) > a.max_unsettled:
            self.failures.append(f"{len(unsettled)} rounds not settled on chain "
                                 f"(at most {a.max_unsettled} allowed)")
        report["check_failures"] = self.failures[:50]
        with open(os.path.join(self.out, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
        ok = not self.lost and not dups and not self.failures and ended >= a.min_rounds
        return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    p.add_argument("--out", default="/tmp/murmur-soak")
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--groups", type=int, default=8, help="soak_nodes processes")
    p.add_argument("--rounds", type=int, default=110)
    p.add_argument("--min-rounds", type=int, default=0, help="fail with fewer rounds recorded")
    p.add_argument("--shape", default="8-4-2", help="MLP widths of the task (its size D)")
    p.add_argument("--proposer-bps", type=int, default=5000)
    p.add_argument("--upload-seconds", type=float, default=6)
    p.add_argument("--vote-seconds", type=float, default=4)
    p.add_argument("--fault-limit-ms", type=int, default=120000,
                   help="murmurd's server.fault_limit_ms: how long it retries a chain step; it "
                        "must outlast a chain-node kill (node start + replay: 20-42 s measured)")
    p.add_argument("--last-fault-round", type=int, default=100,
                   help="faults are planned over rounds 2 .. this (at most rounds - 1)")
    p.add_argument("--murmurd-kills", type=int, default=22)
    p.add_argument("--node-kills", type=int, default=55)
    p.add_argument("--partitions", type=int, default=11)
    p.add_argument("--relay-faults", type=int, default=10)
    p.add_argument("--chain-outages", type=int, default=10)
    p.add_argument("--chain-kills", type=int, default=11,
                   help="SIGKILLs of the Hardhat node (rebuilt by replaying its journal)")
    p.add_argument("--spool-keep-rounds", type=int, default=5,
                   help="murmurd's server.spool_keep_rounds; the spool is checked against it")
    p.add_argument("--secagg-every", type=int, default=10,
                   help="K: rounds alternate K plaintext, K SecAgg+ (0: plaintext only)")
    p.add_argument("--probe-seconds", type=float, default=3)
    p.add_argument("--rss-limit-mib", type=int, default=1024)
    p.add_argument("--max-unsettled", type=int, default=0,
                   help="rounds that may end unsettled on chain (a chain fault past the limit)")
    p.add_argument("--fd-limit", type=int, default=0,
                   help="most descriptors murmurd may hold (0: 4 per node + 500)")
    p.add_argument("--time-limit", type=float, default=4200)
    a = p.parse_args()
    if a.min_rounds == 0:
        a.min_rounds = a.rounds
    sys.exit(Soak(a).main())


if __name__ == "__main__":
    main()
