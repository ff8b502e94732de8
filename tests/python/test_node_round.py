"""Three Python nodes (murmur.Node.run) and three C++ nodes (`murmur node` processes) finish two
real murmurd rounds together over CurveZMQ on 127.0.0.1: both kinds propose and vote in every
round (the task id is chosen so that they do), murmurd accepts the Python nodes' EIP-712 signed
updates and votes, and each round's candidate is the global model plus murmur.aggregate of the
proposers' updates (sorted by address, weighted by their sample counts), bit for bit. And
Python nodes take part in SecAgg+ rounds."""
import collections
import json
import socket
import subprocess
import threading

import numpy as np

import murmur
from murmur import chain

from conftest import binary, same_bits

SEED = 20260611  # the deterministic node keys (client/node_keys.hpp)
PYTHON_NODES, CPP_NODES = (0, 1, 2), (3, 4, 5)
D = 300_000  # 1.2 MB updates: two 1 MiB chunks
CONTRACT = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
BPS = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keys():
    return {i: murmur.PrivateKey.derive(SEED, i) for i in PYTHON_NODES + CPP_NODES}


def is_proposer(task: int, rnd: int, address: str) -> bool:
    """server.cpp's local seed and chain::is_proposer, re-derived."""
    seed = chain.keccak256(b"murmur.local-seed.v1" + task.to_bytes(8, "big") +
                           rnd.to_bytes(8, "big"))
    h = chain.keccak256(seed + bytes.fromhex(address[2:]))
    return int.from_bytes(h, "big") % 10000 < BPS


def pick_task(addresses) -> int:
    """A task id whose two rounds each have a proposer and a voter among the Python nodes and
    among the C++ nodes."""
    for task in range(1, 10_000):
        if all(len({is_proposer(task, r, addresses[i]) for i in group}) == 2
               for r in (1, 2) for group in (PYTHON_NODES, CPP_NODES)):
            return task
    raise AssertionError("no task id mixes the roles")


TARGET = np.sin(np.arange(D, dtype=np.float32) * np.float32(0.001)).astype(np.float32)


def update_of(i: int) -> np.ndarray:
    """Node i's update: halfway towards TARGET, plus its own small noise."""
    noise = np.random.default_rng(i).standard_normal(D).astype(np.float32)
    return (np.float32(0.5) * TARGET + np.float32(0.01) * noise).astype(np.float32)


def samples_of(i: int) -> int:
    return 10 + 7 * i


def write_config(tmp, task, ports, murmurd, parameters=D, bps=BPS, quorum=1, vote_quorum=1,
                 extra="") -> tuple:
    subprocess.run([str(murmurd), "keygen", str(tmp / "server.key")], check=True,
                   capture_output=True, timeout=30)
    participants = tmp / "participants.csv"
    participants.write_text("".join(f"{k.address},1\n" for k in keys().values()))
    config = tmp / "murmurd.toml"
    config.write_text(f"""
[server]
endpoint = "tcp://127.0.0.1:{ports[0]}"
register_endpoint = "tcp://127.0.0.1:{ports[1]}"
metrics_port = 0
data_dir = "{tmp / 'data'}"
curve = true
curve_secret_key_file = "{tmp / 'server.key'}"
chunk_bytes = 1048576
backend = "cpu"
[task]
task_id = {task}
chain_id = 31337
contract = "{CONTRACT}"
parameters = {parameters}
rounds = 2
proposer_bps = {bps}
participants = "{participants}"
[round]
upload_seconds = 40
vote_seconds = 40
quorum = {quorum}
vote_quorum = {vote_quorum}
[aggregation]
rule = "weighted-mean"
{extra}""")
    return config, (tmp / "server.key.pub").read_text().strip()


def stop(server, log):
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_three_python_and_three_cpp_nodes_finish_a_round(tmp_path):
    murmurd, cli = binary("MURMURD", "server/murmurd"), binary("MURMUR_CLI", "cli/murmur")
    addresses = {i: k.address for i, k in keys().items()}
    task = pick_task(addresses)
    ports = (free_port(), free_port())
    config, server_key = write_config(tmp_path, task, ports, murmurd)
    endpoints = [f"tcp://127.0.0.1:{p}" for p in ports]
    log = open(tmp_path / "murmurd.log", "w")
    server = subprocess.Popen([str(murmurd), "--config", str(config)], stdout=log,
                              stderr=subprocess.STDOUT)
    cpp, python_reports, failures = {}, {}, {}
    evaluated = collections.Counter()
    try:
        for i in CPP_NODES:
            update_of(i).tofile(tmp_path / f"update{i}.f32")
            cpp[i] = subprocess.Popen(
                [str(cli), "node", "--endpoint", endpoints[0], "--register-endpoint",
                 endpoints[1], "--server-key", server_key, "--chain-id", "31337", "--contract",
                 CONTRACT, "--timeout-ms", "5000", "--seed", str(SEED), "--index", str(i),
                 "--curve-key-file", str(tmp_path / f"node{i}.curve"), "--updates",
                 str(tmp_path / f"update{i}.f32"), "--num-samples", str(samples_of(i)),
                 "--poll-ms", "50", "--idle-timeout-s", "40"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def python_node(i):
            torch = __import__("torch")
            node = murmur.Node(*endpoints, server_key=server_key, key=keys()[i],
                               contract=CONTRACT, curve_key_file=str(tmp_path / f"py{i}.curve"),
                               timeout=5.0)
            u = update_of(i)
            # Three ways to hand over an update: a state_dict, a tensor, a numpy array.
            update = {0: collections.OrderedDict(w=torch.from_numpy(u[:1000].reshape(10, 100)),
                                                 b=torch.from_numpy(u[1000:])),
                      1: torch.from_numpy(u), 2: u}[i]

            def train(global_model):
                assert global_model.shape == (D,) and global_model.dtype == np.float32
                return update, samples_of(i)

            def evaluate(model):  # higher is better: closer to TARGET
                evaluated[i] += 1
                return -float(np.linalg.norm(model - TARGET))

            try:
                python_reports[i] = node.run(train, evaluate, poll=0.05, idle_timeout=40)
            except Exception as e:  # noqa: BLE001 (reported below)
                failures[i] = repr(e)

        threads = [threading.Thread(target=python_node, args=(i,)) for i in PYTHON_NODES]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        outputs = {i: p.communicate(timeout=60)[0] for i, p in cpp.items()}
        assert not failures, failures
        for i in PYTHON_NODES:
            r = python_reports[i]
            assert r["closed"] and r["uploads"] + r["votes"] == 2, (i, r)
        for i, p in cpp.items():
            assert p.returncode == 0 and "task closed" in outputs[i], outputs[i]
        assert sum(evaluated.values()) > 0  # Python voters judged with evaluate()

        records = json.loads(subprocess.run([str(murmurd), "rounds", "--config", str(config)],
                                            capture_output=True, text=True, check=True,
                                            timeout=30).stdout)
        reader = murmur.Node(*endpoints, server_key=server_key, key=keys()[0], contract=CONTRACT,
                             curve_key_file=str(tmp_path / "py0.curve"), timeout=5.0)
        reader.register()
        assert len(records) == 2
        for rec in records:
            r = rec["round"]
            proposers = sorted((i for i in addresses if is_proposer(task, r, addresses[i])),
                               key=lambda i: addresses[i].lower())
            voters = [i for i in addresses if i not in proposers]
            where = f"task {task} round {r}: {rec}"
            assert rec["outcome"] == "accepted", where
            assert [u["address"] for u in rec["update_rows"]] == [addresses[i] for i in proposers]
            assert rec["votes"] == rec["votes_for"] == len(voters), where
            base = reader.fetch_model(rec["base_model"]) if r > 1 else np.zeros(D, np.float32)
            rows = np.stack([update_of(i) for i in proposers])
            agg, _ = murmur.aggregate(rows, "weighted-mean", [samples_of(i) for i in proposers])
            candidate = reader.fetch_model(rec["candidate_model"])
            assert same_bits(candidate, base + agg), where
            assert "0x" + chain.model_hash(candidate).hex() == rec["candidate_model"]
    finally:
        for p in cpp.values():
            if p.poll() is None:
                p.kill()
        stop(server, log)


def test_python_nodes_take_part_in_secagg_rounds(tmp_path):
    """Node.run sends masked updates through the SecAgg+ stages (client::run_node's path):
    six nodes, one group, node i sends 0.01 (i + 1) everywhere, so each of the two rounds moves
    the model by their mean, 0.035."""
    murmurd = binary("MURMURD", "server/murmurd")
    d = 2000
    ports = (free_port(), free_port())
    stages = "\n".join(f"{s}_seconds = 20" for s in ("advertise", "share", "check", "masked",
                                                     "unmask"))
    config, server_key = write_config(
        tmp_path, 7, ports, murmurd, parameters=d, bps=10000, quorum=6, vote_quorum=0,
        extra=f"[secagg]\nenabled = true\ngroup_size = 6\nclip = 1.0\n{stages}\n")
    endpoints = [f"tcp://127.0.0.1:{p}" for p in ports]
    log = open(tmp_path / "murmurd.log", "w")
    server = subprocess.Popen([str(murmurd), "--config", str(config)], stdout=log,
                              stderr=subprocess.STDOUT)
    reports, failures = {}, {}

    def python_node(i):
        node = murmur.Node(*endpoints, server_key=server_key, key=keys()[i], contract=CONTRACT,
                           timeout=5.0)
        try:
            reports[i] = node.run(lambda g: np.full(d, 0.01 * (i + 1), np.float32), poll=0.02,
                                  idle_timeout=30)
        except Exception as e:  # noqa: BLE001 (reported below)
            failures[i] = repr(e)

    try:
        threads = [threading.Thread(target=python_node, args=(i,)) for i in keys()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        assert not failures, failures
        for i, r in reports.items():
            assert r["closed"] and r["uploads"] == 2, (i, r)
        reader = murmur.Node(*endpoints, server_key=server_key, key=keys()[0], contract=CONTRACT,
                             timeout=5.0)
        reader.register()
        info = reader.round_info()
        assert info.stage == "closed" and info.round == 2
        model = reader.fetch_model(info.global_model_hash)
        assert model.shape == (d,) and np.abs(model - 0.07).max() < 1e-6  # fixed point: ~4e-9
        assert reader.status()["committed_updates"] == 0  # nothing went in clear
    finally:
        stop(server, log)
