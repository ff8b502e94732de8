"""Reading a task's state from Python (murmur.chain.AllianceTask, chain::AllianceTaskContract's
views) against a real Hardhat node on 127.0.0.1: the contracts deployed and a task set up by the
`murmur chain` CLI (deploy, create-task, stake, join, start-round), then every field read
from Python checked against what was created and against `murmur chain status --json`; reverts,
RPC and transport errors keep the C++ message. Minting and the idle account's stake are plain
eth_sendTransaction calls from the node's unlocked accounts. The RPC error and GIL cases run
against a fake JSON-RPC server in this process (no Hardhat needed).

The node is started as testing/src/local_chain.cpp starts it (contracts/node_modules/.bin/hardhat
node --hostname 127.0.0.1 --port P, starts serialized by the same lock file) and always killed.
Without contracts/node_modules the chain tests skip, and fail under CI=true."""
import concurrent.futures
import contextlib
import ctypes
import fcntl
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import types
import urllib.request

import pytest

import murmur
from murmur import chain
from murmur.chain import AllianceTask, Role, RoundState

from conftest import REPO, binary

# Hardhat's well-known accounts 0..2 ("test test ... junk" mnemonic): local chains only.
CREATOR_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
NODE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
IDLE_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
POOL, ROUNDS, MIN_STAKE, PROPOSER_BPS, SLASH_BPS = 10_000, 3, 500, 5000, 1000
NODE_STAKE, IDLE_STAKE = 700, 300  # the idle node stakes below min_stake and does not join
SPEC_HASH, INITIAL_HASH = bytes([0x11] * 32), bytes([0x22] * 32)
START_TIMEOUT_S = 60  # the node's first answer (it compiles the contracts first when they changed)
CLI_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(url: str, method: str, params=(), timeout: float = 1.0):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    req = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(req, timeout=timeout) as r:
        return json.load(r)["result"]


def word(value) -> bytes:
    """An ABI word: an int, or an address (0x text)."""
    if isinstance(value, str):
        return bytes(12) + bytes.fromhex(value[2:])
    return value.to_bytes(32, "big")


def transact(url: str, sender: str, to: str, signature: str, *args) -> None:
    """A transaction from one of the node's unlocked accounts (eth_sendTransaction; Hardhat mines
    it at once): the test's own scaffolding, beside what the CLI does."""
    data = chain.keccak256(signature.encode())[:4] + b"".join(word(a) for a in args)
    tx = rpc(url, "eth_sendTransaction", [{"from": sender, "to": to, "data": "0x" + data.hex()}],
             timeout=10)
    receipt = rpc(url, "eth_getTransactionReceipt", [tx], timeout=10)
    assert receipt is not None and receipt["status"] == "0x1", (signature, receipt)


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: the node never outlives this test process, even if it is killed.
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))


@contextlib.contextmanager
def start_lock(deadline: float):
    """local_chain.cpp's lock: `hardhat node` compiles first, so starts take turns."""
    path = os.path.join(tempfile.gettempdir(), "murmur-hardhat-start.lock")
    with open(path, "a+") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{path} held by another start for {START_TIMEOUT_S} s")
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def require_hardhat():
    contracts = REPO / "contracts"
    hardhat = contracts / "node_modules" / ".bin" / "hardhat"
    if hardhat.exists() and shutil.which("node"):
        return contracts, hardhat
    why = f"{hardhat} and node are needed (cd contracts && npm ci)"
    if os.environ.get("CI") == "true":
        pytest.fail(why + " (CI=true: a missing requirement fails)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def hardhat_node(tmp_path_factory):
    """http://127.0.0.1:P of a fresh `hardhat node`; the process group is killed afterwards."""
    contracts, hardhat = require_hardhat()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("hardhat") / "node.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    proc = None
    try:
        with start_lock(deadline), open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(hardhat), "node", "--hostname", "127.0.0.1", "--port", str(port)],
                cwd=contracts, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
                env=dict(os.environ, HARDHAT_DISABLE_TELEMETRY_PROMPT="true"))
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"hardhat node exited with {proc.returncode}:\n"
                                         + log.read_text()[-3000:])
                try:
                    assert rpc(url, "eth_chainId") == "0x7a69"
                    break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"hardhat node did not answer on {url} within "
                                         f"{START_TIMEOUT_S} s:\n" + log.read_text()[-3000:])
                time.sleep(0.2)
        yield url
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


class Cli:
    """`murmur chain --rpc URL --deployment FILE --json ...` with one of the keys."""

    def __init__(self, url, workdir):
        self.murmur = binary("MURMUR_CLI", "cli/murmur")
        self.url, self.deployment = url, workdir / "deployment.json"
        self.keys = {}
        for name, secret in (("creator", CREATOR_KEY), ("node", NODE_KEY)):
            path = workdir / f"{name}.key"
            path.write_text(secret + "\n")
            path.chmod(0o600)
            self.keys[name] = path

    def start(self, *args, key=None):
        argv = [str(self.murmur), "chain", "--rpc", self.url, "--deployment",
                str(self.deployment), "--json"]
        if key is not None:
            argv += ["--key-file", str(self.keys[key])]
        env = {k: v for k, v in os.environ.items() if k != "MURMUR_CHAIN_KEY"}
        return subprocess.Popen(argv + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    @staticmethod
    def finish(p, check=True):
        try:
            out, err = p.communicate(timeout=CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError(f"{p.args} ran past {CLI_TIMEOUT_S} s")
        if check:
            assert p.returncode == 0, f"{p.args}: {err}"
            return json.loads(out)
        return p.returncode, out, err

    def __call__(self, *args, key=None):
        return self.finish(self.start(*args, key=key))


@pytest.fixture(scope="module")
def task(hardhat_node, tmp_path_factory):
    """Task 1 by the CLI: created by account 0 (also its aggregator), the node staked and joined,
    round 1 started; and the idle account staked below min_stake (by eth_sendTransaction, as the
    tokens are minted: each CLI run costs a second or more to start)."""
    url = hardhat_node
    cli = Cli(url, tmp_path_factory.mktemp("chain-state"))
    deployed = cli("deploy", "--artifacts", REPO / "contracts/artifacts/contracts", key="creator")
    token, contract = deployed["token"], deployed["allianceTask"]
    address = {name: murmur.PrivateKey.from_hex(k).address
               for name, k in (("creator", CREATOR_KEY), ("node", NODE_KEY), ("idle", IDLE_KEY))}
    for who, amount in (("creator", POOL), ("node", NODE_STAKE), ("idle", IDLE_STAKE)):
        transact(url, address[who], token, "mint(address,uint256)", address[who], amount)
    created = cli("create-task", "--reward-pool", POOL, "--rounds", ROUNDS, "--min-stake",
                  MIN_STAKE, "--proposer-bps", PROPOSER_BPS, "--slash-bps", SLASH_BPS,
                  "--aggregator", address["creator"], "--model-spec-hash", "0x" + SPEC_HASH.hex(),
                  "--initial-model-hash", "0x" + INITIAL_HASH.hex(), key="creator")
    task_id = int(created["taskId"])
    cli("stake", "--task", task_id, "--amount", NODE_STAKE, key="node")
    cli("join", "--task", task_id, key="node")
    transact(url, address["idle"], token, "approve(address,uint256)", contract, IDLE_STAKE)
    transact(url, address["idle"], contract, "stake(uint256,uint256)", task_id, IDLE_STAKE)
    started = cli("start-round", "--task", task_id, key="creator")
    # The two `murmur chain status` runs the tests compare with start now and run beside the
    # Python reads (nothing below changes the chain).
    status = cli.start("status", "--task", task_id, "--node", address["node"])
    unknown = cli.start("status", "--task", 99)
    try:
        yield types.SimpleNamespace(cli=cli, url=url, id=task_id, address=address,
                                    contract=contract, token=token, round=int(started["round"]),
                                    seed=bytes.fromhex(started["seed"][2:]), status=status,
                                    unknown=unknown)
    finally:
        for p in (status, unknown):
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=CLI_TIMEOUT_S)  # reaps it (again, if a test did)


def test_the_task_reads_as_created(task):
    alliance = AllianceTask(task.url, task.contract)
    assert alliance.address == task.contract and alliance.rpc_url == task.url
    assert alliance.chain_id() == 31337 and alliance.task_count() == 1
    t = alliance.task(task.id)
    assert t == chain.task_state(task.url, task.contract, task.id)
    assert t == AllianceTask.from_deployment(task.cli.deployment, task.url).task(task.id)
    assert (t.task_id, t.creator, t.aggregator, t.token) == (
        task.id, task.address["creator"], task.address["creator"], task.token)
    assert (t.total_rounds, t.finalized_rounds, t.current_round, t.round_open) == (
        ROUNDS, 0, 1, True)
    assert (t.pool, t.min_stake, t.creator_balance) == (POOL, MIN_STAKE, 0)
    assert (t.proposer_bps, t.slash_bps, t.participant_count) == (PROPOSER_BPS, SLASH_BPS, 1)
    assert (t.model_spec_hash, t.model_hash) == (SPEC_HASH, INITIAL_HASH)
    assert not t.ended
    assert all(isinstance(v, int) for v in (t.pool, t.min_stake, t.creator_balance))
    assert alliance.round_reward(task.id) == POOL // ROUNDS
    domain = murmur.Eip712Domain(chain_id=31337, verifying_contract=task.contract)
    assert alliance.domain_separator() == domain.separator()


def test_rounds_nodes_roles_and_participants(task):
    alliance = AllianceTask(task.url, task.contract)
    r = alliance.round(task.id, task.round)
    assert (r.task_id, r.round, r.state, r.seed, r.participant_count) == (
        task.id, 1, RoundState.OPEN, task.seed, 1)
    assert r.started_at > 1_600_000_000 and r.model_hash == bytes(32)
    assert (r.accepted, r.vote_sum, r.reward_paid, r.slashed) == (False, 0, 0, 0)
    assert alliance.round(task.id, 2).state == RoundState.NONE

    node, idle = task.address["node"], task.address["idle"]
    n = alliance.node(task.id, node.lower())  # any case in, checksum out
    assert (n.address, n.stake, n.reward, n.joined, n.bound) == (node, NODE_STAKE, 0, True, True)
    i = alliance.node(task.id, idle)
    assert (i.stake, i.joined, i.bound) == (IDLE_STAKE, False, False)
    assert alliance.participants(task.id) == [node]
    assert alliance.members(task.id) == [node]
    # roleOf is the pure function of the round's seed (contracts/README.md, "Seed and roles").
    for who in (node, idle, task.address["creator"]):
        h = chain.keccak256(task.seed + bytes.fromhex(who[2:]))
        expected = Role.PROPOSER if int.from_bytes(h, "big") % 10_000 < PROPOSER_BPS else Role.VOTER
        assert alliance.role_of(task.id, task.round, who) == expected, who


def test_same_fields_as_murmur_chain_status(task):
    alliance = AllianceTask(task.url, task.contract)
    node = task.address["node"]
    status = task.cli.finish(task.status)
    t, n = alliance.task(task.id), alliance.node(task.id, node)
    assert status == {
        "task": str(t.task_id), "creator": t.creator, "aggregator": t.aggregator,
        "totalRounds": t.total_rounds, "finalizedRounds": t.finalized_rounds,
        "currentRound": t.current_round, "roundOpen": t.round_open, "pool": str(t.pool),
        "creatorBalance": str(t.creator_balance), "minStake": str(t.min_stake),
        "proposerBps": t.proposer_bps, "slashBps": t.slash_bps,
        "modelHash": "0x" + t.model_hash.hex(), "members": len(alliance.members(task.id)),
        "node": {"address": n.address, "stake": str(n.stake), "reward": str(n.reward),
                 "joined": n.joined, "bound": n.bound,
                 "role": alliance.role_of(task.id, t.current_round, node).name.lower()}}


def test_calls_from_threads_take_turns(task):
    alliance = AllianceTask(task.url, task.contract)
    want = alliance.task(task.id)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: alliance.task(task.id), range(32)))
    assert got == [want] * 32


def test_reverts_keep_the_cpp_message(task):
    alliance = AllianceTask(task.url, task.contract)
    with pytest.raises(murmur.RevertError) as e:
        alliance.task(99)
    assert str(e.value) == "eth_call reverted: UnknownTask(taskId=99)"
    assert (e.value.error_name, e.value.reason) == ("UnknownTask", "UnknownTask(taskId=99)")
    assert e.value.data[4:] == (99).to_bytes(32, "big")
    assert isinstance(e.value, murmur.ChainError) and isinstance(e.value, RuntimeError)
    code, _, err = task.cli.finish(task.unknown, check=False)
    assert code != 0 and err.strip() == "murmur: " + str(e.value)  # the CLI's own message

    with pytest.raises(murmur.RevertError, match=r"UnknownRound\(taskId=1, round=5\)"):
        alliance.role_of(task.id, 5, task.address["node"])
    # No contract at the address: the call returns nothing, which does not decode.
    empty = AllianceTask(task.url, "0x" + "00" * 19 + "01")
    with pytest.raises(murmur.ChainError, match="returned undecodable data"):
        empty.task(1)


def test_bad_arguments():
    with pytest.raises(ValueError):
        AllianceTask("http://127.0.0.1:1", "0x1234")
    with pytest.raises(ValueError, match="timeout"):
        AllianceTask("http://127.0.0.1:1", "0x" + "00" * 20, timeout=0)
    alliance = AllianceTask("http://127.0.0.1:1", "0x" + "00" * 20)
    with pytest.raises(ValueError, match="task_id must not be negative"):
        alliance.task(-1)
    with pytest.raises(TypeError, match="task_id must be an int"):
        alliance.task("1")


def test_no_node_is_a_transport_error():
    port = free_port()  # nothing listens there
    alliance = AllianceTask(f"http://127.0.0.1:{port}", "0x" + "00" * 20, timeout=2, attempts=1)
    with pytest.raises(murmur.TransportError) as e:
        alliance.task(1)
    assert str(port) in str(e.value) and isinstance(e.value, murmur.ChainError)


class FakeNode(http.server.BaseHTTPRequestHandler):
    """Answers every JSON-RPC request with the error object in the server's `answer`."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "error": self.server.answer}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_node():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeNode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_rpc_errors_and_the_gil(fake_node):
    """The fake node is a Python thread of this process: it can only answer while the call has
    released the GIL (a held GIL would end in a TransportError after the timeout)."""
    url = f"http://127.0.0.1:{fake_node.server_address[1]}"
    alliance = AllianceTask(url, "0x" + "00" * 20, timeout=10, attempts=1)
    fake_node.answer = {"code": -32601, "message": "the fake node says no"}
    started = time.monotonic()
    with pytest.raises(murmur.RpcError) as e:
        alliance.task(1)
    assert time.monotonic() - started < 5
    assert str(e.value) == "eth_call failed: JSON-RPC error -32601: the fake node says no"
    assert (e.value.code, e.value.rpc_message) == (-32601, "the fake node says no")

    # Revert data in the error object: decoded by the contract's error table.
    selector = chain.keccak256(b"NotJoined(address)")[:4]
    node = murmur.PrivateKey.from_hex(NODE_KEY).address
    data = selector + bytes(12) + bytes.fromhex(node[2:])
    fake_node.answer = {"code": 3, "message": "execution reverted", "data": "0x" + data.hex()}
    with pytest.raises(murmur.RevertError) as e:
        alliance.node(1, node)
    assert str(e.value) == f"eth_call reverted: NotJoined(node={node})"
    assert (e.value.error_name, e.value.data) == ("NotJoined", data)
