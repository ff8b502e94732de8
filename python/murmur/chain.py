"""Chain helpers, by chain/'s own C++ signer: the EIP-712 Update and Vote digests and
signatures that murmurd and the AllianceTask contract check, keys, and the hashes involved.

    key = murmur.PrivateKey.from_hex(open("node.key").read())
    domain = murmur.Eip712Domain(chain_id=31337, verifying_contract="0x5FbD...")
    sig = murmur.sign_update(key, domain, task_id=1, round=3,
                             update_hash=murmur.chain.update_hash(update), num_samples=600)
    sig = murmur.sign_vote(key, domain, task_id=1, round=3, model_hash=h, score=+1)

Signatures are 65 bytes r || s || v (v = 27/28, low s, RFC 6979 nonces): deterministic, so the
same inputs give the same bytes as the C++ signer (and as ethers v6). Hashes are 32 bytes, or
0x-prefixed hex text.

A task's state, read from the AllianceTask contract over JSON-RPC by chain/'s own binding
(chain::AllianceTaskContract, the calls `murmur chain status` makes):

    alliance = murmur.chain.AllianceTask("http://127.0.0.1:8545", "0xe7f1...")
    task = alliance.task(1)            # TaskInfo: pool, rounds, min_stake, model hashes, ...
    alliance.round(1, task.current_round), alliance.node(1, "0xf39F..."), alliance.participants(1)

Amounts are Python ints, addresses EIP-55 checksum text, hashes 32 bytes. The GIL is released
during every RPC call. Failures raise murmur.RevertError (with the decoded reason, e.g.
"UnknownTask(taskId=9)"), murmur.RpcError, murmur.TransportError or murmur.ChainError (all
RuntimeErrors), with the C++ message.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Union

import numpy as np

from ._murmur import (AllianceReader, Eip712Domain, PrivateKey, blake3, keccak256,
                      recover_typed_signer, sign_update, sign_vote, update_digest, vote_digest)

__all__ = ["PrivateKey", "Eip712Domain", "sign_update", "sign_vote", "update_digest",
           "vote_digest", "recover_typed_signer", "keccak256", "blake3", "update_hash",
           "model_hash", "AllianceTask", "TaskInfo", "RoundInfo", "NodeInfo", "RoundState",
           "Role", "task_state"]


def _f32(values: Any) -> np.ndarray:
    from ._inputs import flat_update
    v = flat_update(values)
    if v.dtype != np.float32:
        raise TypeError(f"values must be float32, got {v.dtype}")
    return np.ascontiguousarray(v)


def update_hash(values: Any) -> bytes:
    """The update hash of an f32 upload: BLAKE3 of its little-endian bytes (what the node
    client signs in UploadCommit, and what `b3sum` prints for the update file)."""
    return blake3(_f32(values))


def model_hash(values: Any) -> bytes:
    """The hash murmurd stores a model under: keccak-256 of its f32 bytes."""
    return keccak256(_f32(values).tobytes())


# ------------------------------------------------------------------ reading a task's state


class Role(enum.IntEnum):
    """A node's role in a started round (roleOf)."""
    VOTER = 0
    PROPOSER = 1


class RoundState(enum.IntEnum):
    """getRound's state."""
    NONE = 0        # not started
    OPEN = 1
    FINALIZED = 2
    ABANDONED = 3


@dataclass(frozen=True)
class TaskInfo:
    """getTask(task_id). participant_count counts the open round's participants (members()
    lists every joined node); model_hash is the last accepted model's (the initial one at first)."""
    task_id: int
    creator: str
    total_rounds: int
    finalized_rounds: int
    current_round: int
    token: str
    proposer_bps: int
    slash_bps: int
    round_open: bool
    participant_count: int
    aggregator: str
    min_stake: int
    pool: int
    creator_balance: int
    model_spec_hash: bytes
    model_hash: bytes

    @property
    def ended(self) -> bool:
        """Every round finalized: nothing can join or start any more."""
        return self.finalized_rounds == self.total_rounds


@dataclass(frozen=True)
class RoundInfo:
    """getRound(task_id, round); state NONE (all zero) for a round not started. vote_sum is
    signed (the stake-weighted sum of the votes)."""
    task_id: int
    round: int
    seed: bytes
    model_hash: bytes
    started_at: int
    participant_count: int
    state: RoundState
    accepted: bool
    vote_sum: int
    reward_paid: int
    slashed: int


@dataclass(frozen=True)
class NodeInfo:
    """nodeInfo(task_id, node): stake, claimable reward, joined, bound to the open round."""
    task_id: int
    address: str
    stake: int
    reward: int
    joined: bool
    bound: bool


class AllianceTask:
    """The read-only views of a deployed AllianceTask at `contract` through `rpc_url`.

    timeout: seconds per JSON-RPC request; attempts: tries of a request that fails in transport
    (connection refused, timeout, HTTP 5xx), with backoff. One object's calls take turns; the GIL
    is released while they wait on the node."""

    def __init__(self, rpc_url: str, contract: str, *, timeout: float = 15.0,
                 attempts: int = 4):
        self._reader = AllianceReader(rpc_url, contract, timeout, attempts)

    @classmethod
    def from_deployment(cls, deployment: Union[str, Path],
                        rpc_url: str = "http://127.0.0.1:8545", **options) -> "AllianceTask":
        """The contract named by a deployment file (contracts/scripts/deploy.js or
        `murmur chain deploy`: its "allianceTask")."""
        with open(deployment) as f:
            return cls(rpc_url, json.load(f)["allianceTask"], **options)

    @property
    def address(self) -> str:
        return self._reader.address

    @property
    def rpc_url(self) -> str:
        return self._reader.rpc_url

    def chain_id(self) -> int:
        return self._reader.chain_id()

    def block_number(self) -> int:
        return self._reader.block_number()

    def task_count(self) -> int:
        return self._reader.task_count()

    def task(self, task_id: int) -> TaskInfo:
        """getTask; murmur.RevertError (error_name "UnknownTask") if there is no such task."""
        return TaskInfo(**self._reader.get_task(task_id))

    def round(self, task_id: int, round: int) -> RoundInfo:
        d = self._reader.get_round(task_id, round)
        d["state"] = RoundState(d["state"])
        return RoundInfo(**d)

    def node(self, task_id: int, node: str) -> NodeInfo:
        return NodeInfo(**self._reader.node_info(task_id, node))

    def role_of(self, task_id: int, round: int, node: str) -> Role:
        """The role by the round's seed (any address, joined or not); murmur.RevertError
        ("UnknownRound") for a round not started."""
        return Role(self._reader.role_of(task_id, round, node))

    def participants(self, task_id: int) -> List[str]:
        """The open round's participants in join order (empty when no round is open)."""
        return self._reader.participants(task_id)

    def members(self, task_id: int) -> List[str]:
        """Every joined node."""
        return self._reader.members(task_id)

    def round_reward(self, task_id: int) -> int:
        """What the next finalized round pays out at most: pool // rounds left."""
        return self._reader.round_reward(task_id)

    def domain_separator(self) -> bytes:
        """The contract's EIP-712 domain separator (Eip712Domain(...).separator() must equal
        it)."""
        return self._reader.domain_separator()

    def __repr__(self) -> str:
        return f"<murmur.chain.AllianceTask {self.address} at {self.rpc_url}>"


def task_state(rpc_url: str, contract: str, task_id: int, **options) -> TaskInfo:
    """One-shot getTask: AllianceTask(rpc_url, contract, **options).task(task_id)."""
    return AllianceTask(rpc_url, contract, **options).task(task_id)
