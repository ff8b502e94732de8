"""Signatures from Python equal the C++ signer's byte for byte: murmur.sign_update / sign_vote
against chain/'s signer in another process (murmur_py_reference sign-*) and against ethers v6
(tests/chain/js/ethers_reference.js, the C++ signer's own cross-check), on random keys and
messages (seed printed); the hashes against known values and b3sum."""
import json
import os
import random
import shutil
import subprocess

import numpy as np
import pytest

import murmur
from murmur import chain

from conftest import REPO

SEED = 0x6D75726D7572
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def cases(count=24):
    rng = random.Random(SEED)
    for i in range(count):
        secret = "%064x" % rng.randrange(1, 2**255)
        domain = dict(name="Murmuration", version="1", chainId=rng.choice([1, 31337, 2**40 + 7]),
                      verifyingContract=CONTRACT)
        task, rnd = rng.randrange(2**64), rng.randrange(2**32)
        h = bytes(rng.randrange(256) for _ in range(32))
        if i % 2:
            yield secret, domain, "Update", (task, rnd, h, rng.randrange(2**64))
        else:
            yield secret, domain, "Vote", (task, rnd, h, rng.choice([1, -1]))


def python_side(secret, domain, kind, msg):
    key = murmur.PrivateKey.from_hex(secret)
    d = murmur.Eip712Domain(chain_id=domain["chainId"], verifying_contract=CONTRACT)
    if kind == "Update":
        return chain.update_digest(d, *msg), murmur.sign_update(key, d, *msg), key.address
    return chain.vote_digest(d, *msg), murmur.sign_vote(key, d, *msg), key.address


def test_signatures_equal_the_cpp_signer_in_another_process(reference_tool):
    for secret, domain, kind, msg in cases():
        digest, sig, address = python_side(secret, domain, kind, msg)
        mode = "sign-update" if kind == "Update" else "sign-vote"
        r = subprocess.run([str(reference_tool), mode, secret, str(domain["chainId"]), CONTRACT,
                            str(msg[0]), str(msg[1]), "0x" + msg[2].hex(), str(msg[3])],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        cpp_digest, cpp_sig = r.stdout.split()
        where = f"seed {SEED}, {kind} {msg}"
        assert "0x" + digest.hex() == cpp_digest, where
        assert "0x" + sig.hex() == cpp_sig, where
        assert len(sig) == 65 and sig[64] in (27, 28), where
        assert chain.recover_typed_signer(digest, sig) == address, where


def test_signatures_equal_ethers():
    node_modules = REPO / "contracts" / "node_modules"
    if not shutil.which("node") or not (node_modules / "ethers").is_dir():
        why = "node and contracts/node_modules (cd contracts && npm ci) are needed for ethers"
        if os.environ.get("CI") == "true":
            pytest.fail(why + " (CI=true: a missing requirement fails)")
        pytest.skip(why)
    inputs, expected = [], []
    for secret, domain, kind, msg in cases():
        names = ("taskId", "round", "updateHash", "numSamples") if kind == "Update" else (
            "taskId", "round", "modelHash", "score")
        message = {names[0]: str(msg[0]), names[1]: str(msg[1]), names[2]: "0x" + msg[2].hex(),
                   names[3]: str(msg[3]) if kind == "Update" else msg[3]}
        inputs.append({"kind": "typed", "key": "0x" + secret,
                       "domain": dict(domain, chainId=str(domain["chainId"])),
                       "primaryType": kind, "message": message})
        digest, sig, address = python_side(secret, domain, kind, msg)
        d = murmur.Eip712Domain(chain_id=domain["chainId"], verifying_contract=CONTRACT)
        expected.append({"domainSeparator": "0x" + d.separator().hex(),
                         "digest": "0x" + digest.hex(), "signature": "0x" + sig.hex(),
                         "recovered": address})
    r = subprocess.run(["node", str(REPO / "tests/chain/js/ethers_reference.js")],
                       input=json.dumps({"cases": inputs}), capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, NODE_PATH=str(node_modules)))
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)["results"]
    for i, (want, got) in enumerate(zip(expected, results)):
        assert got == want, f"seed {SEED}, case {i}: {inputs[i]}"
    assert len(results) == len(expected)


def test_hashes():
    assert chain.keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    assert chain.blake3(b"").hex() == (
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
    key = murmur.PrivateKey.derive(20260611, 0)
    assert key.address.startswith("0x") and len(key.address) == 42
    assert "secret" not in repr(key).lower() and key.address in repr(key)


def test_update_hash_is_what_b3sum_prints(tmp_path):
    values = np.linspace(-1, 1, 300_001, dtype=np.float32)
    f = tmp_path / "update.f32"
    values.tofile(f)
    b3sum = shutil.which("b3sum")
    if b3sum is None:
        if os.environ.get("CI") == "true":
            pytest.fail("b3sum (apt) not installed (CI=true: a missing requirement fails)")
        pytest.skip("b3sum (apt) not installed")
    out = subprocess.run([b3sum, "--no-names", str(f)], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert chain.update_hash(values).hex() == out
    torch = pytest.importorskip("torch")
    assert chain.update_hash(torch.from_numpy(values)).hex() == out
    assert chain.model_hash(values) == chain.keccak256(values.tobytes())
