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
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._murmur import (Eip712Domain, PrivateKey, blake3, keccak256, recover_typed_signer,
                      sign_update, sign_vote, update_digest, vote_digest)

__all__ = ["PrivateKey", "Eip712Domain", "sign_update", "sign_vote", "update_digest",
           "vote_digest", "recover_typed_signer", "keccak256", "blake3", "update_hash",
           "model_hash"]


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
