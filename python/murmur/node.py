"""murmur.Node: a node of a Murmuration task, over libmurmur-client's NodeClient (the library
`murmur node` runs): register with the node's chain key, fetch the global model, upload an
update, vote, and a round loop (client::run_node: SecAgg+ rounds included) that calls

    train(global_model) -> update | (update, num_samples) | None (skip the round)
    evaluate(model) -> score (higher is better) | (score, loss)

An update is a flat float32 numpy array or torch tensor, or a state_dict flattened in the task's
parameter layout (murmur.flatten_state_dict). A voter votes +1 when
evaluate(candidate) >= evaluate(global model) - tolerance, else -1; without `evaluate` it
votes by the RMS step from the global model, as `murmur node` does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _murmur
from ._inputs import flat_update

Update = Any  # a flat float32 array / tensor or a state_dict


@dataclass
class RoundInfo:
    """The round as murmurd sees it for this node (wire RoundInfo)."""
    task_id: int
    round: int
    stage: str  # "uploading", "aggregating", "voting", "finalizing", "closed", "secagg_*"
    role: str   # "proposer" or "voter"
    stage_deadline_unix_ms: int
    global_model_hash: Optional[bytes]  # None: no model yet (zeros)
    parameters: int
    chunk_bytes: int
    candidate_model_hash: Optional[bytes]  # while voting: the model to vote on
    rule: str
    secagg: bool


def _key(key: Union[str, _murmur.PrivateKey, None], key_file: Optional[str]) -> _murmur.PrivateKey:
    if isinstance(key, _murmur.PrivateKey):
        return key
    if key is not None:
        return _murmur.PrivateKey.from_hex(key)
    if key_file is not None:
        with open(key_file) as f:
            return _murmur.PrivateKey.from_hex(f.read())
    raise TypeError("a Node needs its chain key: key=PrivateKey or hex text, or key_file=PATH")


class Node:
    """One node's connection to murmurd.

    endpoint, register_endpoint: murmurd's round and registration endpoints ("tcp://h:7770").
    server_key / server_key_file: murmurd's CurveZMQ public key (Z85 text / server.key.pub).
    key / key_file: the node's chain key (murmur.PrivateKey or 64 hex digits / a file of them).
    chain_id, contract: the task contract's EIP-712 domain (what updates and votes are signed for).
    curve_key_file: where the node's CurveZMQ pair is kept (created if missing); None: a fresh
        pair per Node, so register() again after restarting.
    dtype: how updates travel ("f32", "f16", "bf16"). timeout: seconds per reply; retries.
    """

    def __init__(self, endpoint: str, register_endpoint: str, *, server_key: Optional[str] = None,
                 server_key_file: Optional[str] = None,
                 key: Union[str, _murmur.PrivateKey, None] = None, key_file: Optional[str] = None,
                 chain_id: int = 31337, contract: str, curve_key_file: Optional[str] = None,
                 dtype: str = "f32", timeout: float = 10.0, retries: int = 4):
        if server_key is None and server_key_file is not None:
            with open(server_key_file) as f:
                server_key = f.read().strip()
        if server_key is None:
            raise TypeError("a Node needs murmurd's CurveZMQ public key: server_key= or "
                            "server_key_file= (server.key.pub)")
        self.key = _key(key, key_file)
        self.chain_id = chain_id
        self.domain = _murmur.Eip712Domain(chain_id=chain_id, verifying_contract=contract)
        self.dtype = dtype
        self.client = _murmur.NodeClient(endpoint, register_endpoint, server_key,
                                         curve_key_file, timeout, retries)

    @property
    def address(self) -> str:
        return self.key.address

    def register(self) -> str:
        """Binds this node's Curve key to its chain address; idempotent. Returns the address."""
        return self.client.register_node(self.key, self.chain_id)

    def round_info(self) -> RoundInfo:
        return RoundInfo(**self.client.round_info())

    def fetch_model(self, model_hash: Union[bytes, str]) -> np.ndarray:
        """The model stored under `model_hash` (keccak-checked), as float32."""
        return self.client.fetch_model(model_hash)

    def global_model(self, info: Optional[RoundInfo] = None) -> np.ndarray:
        """The round's global model; zeros when the task has none yet."""
        info = info or self.round_info()
        if info.global_model_hash is None:
            return np.zeros(info.parameters, dtype=np.float32)
        return self.fetch_model(info.global_model_hash)

    def upload(self, update: Update, num_samples: int = 1, info: Optional[RoundInfo] = None):
        """Uploads `update` as this node's update for the current round (or `info`'s), signed
        as EIP-712 Update; f32 arrays are sent from their memory. Returns the upload's record
        (update_hash, total_bytes, restarts, ...)."""
        info = info or self.round_info()
        values = flat_update(update)
        return self.client.upload_update(info.task_id, info.round, values, self.dtype,
                                         num_samples, self.key, self.domain)

    def vote(self, score: int, loss: float = 0.0, info: Optional[RoundInfo] = None) -> None:
        """Votes +1 or -1 on the round's candidate, signed as EIP-712 Vote."""
        info = info or self.round_info()
        if info.candidate_model_hash is None:
            raise ValueError(f"round {info.round} has no candidate to vote on (stage {info.stage})")
        self.client.vote(info.task_id, info.round, info.candidate_model_hash, int(score),
                         float(loss), self.key, self.domain)

    def status(self) -> dict:
        return self.client.status()

    def run(self, train: Callable[[np.ndarray], Any],
            evaluate: Optional[Callable[[np.ndarray], Any]] = None, *, rounds: int = 0,
            tolerance: float = 0.0, max_rms_step: float = 1.0, poll: float = 0.25,
            idle_timeout: float = 600.0, register: bool = True, verbose: bool = False) -> dict:
        """Takes part in the task until it closes (or `rounds` rounds have ended): as a proposer
        calls train(global_model) and uploads what it returns; as a voter judges the candidate
        with `evaluate` (see the module's doc) or the RMS-step rule. Returns the loop's report
        (rounds_seen, uploads, votes, skipped, closed). A callback's exception ends the loop and
        is raised here."""

        def trainer(info: dict, global_model: np.ndarray):
            out = train(global_model)
            if out is None:
                return None
            samples = 1
            if isinstance(out, tuple):
                out, samples = out
            values = np.ascontiguousarray(flat_update(out))
            return values, int(samples)

        judge = None
        if evaluate is not None:
            baseline: dict = {}

            def judge(info: dict, global_model: np.ndarray, candidate: np.ndarray):
                key = info["global_model_hash"]
                if key not in baseline:
                    baseline.clear()
                    baseline[key] = _score(evaluate(global_model))[0]
                score, loss = _score(evaluate(candidate))
                accept = math.isfinite(score) and score >= baseline[key] - tolerance
                return (1 if accept else -1), loss

        return self.client.run(self.key, self.domain, self.chain_id, trainer, judge,
                               max_rms_step, self.dtype, poll, rounds, idle_timeout, register,
                               verbose)


def _score(r: Any):
    """(score, loss) from what evaluate returned: a number, or a (score, loss) pair."""
    if isinstance(r, tuple):
        return float(r[0]), float(r[1])
    return float(r), 0.0
