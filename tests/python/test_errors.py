"""Bad inputs give the documented exceptions with a clear message, never a crash: TypeError for
a wrong type or dtype, ValueError for a wrong shape, layout or value; the C++ errors keep their
type (murmur.AggregationError, murmur.SpecError: both ValueErrors) and their exact message."""
import numpy as np
import pytest

import murmur
from murmur.rules import Bucketing, Krum, TrimmedMean

from conftest import reference_aggregate

ROWS = np.arange(40, dtype=np.float32).reshape(8, 5)


@pytest.mark.parametrize("rows, error, words", [
    (ROWS.astype(np.float64), TypeError, "must be float32, got float64"),
    (ROWS.astype(np.float16), TypeError, "must be float32, got float16"),
    (ROWS.astype(np.int32), TypeError, "must be float32"),
    (ROWS[0], ValueError, "must be 2-D"),
    (ROWS.reshape(2, 4, 5), ValueError, "must be 2-D"),
    (ROWS.T, ValueError, "not C-contiguous"),
    (ROWS[:, ::2], ValueError, "not C-contiguous"),
    (ROWS[::2], ValueError, "not C-contiguous"),
    (np.zeros((0, 5), np.float32), ValueError, "at least one row"),
    (np.zeros((3, 0), np.float32), ValueError, "at least one row"),
    ([], ValueError, "empty list"),
    ([ROWS[0], ROWS[1, :3]], ValueError, "row 1 has 3 values, row 0 has 5"),
    ([ROWS[0], ROWS[1].astype(np.float64)], TypeError, "row 1 must be float32"),
    ([ROWS[0], ROWS[1:3]], ValueError, "row 1 has 2 dimensions"),
    ([ROWS[0], ROWS[:, 1]], ValueError, "row 1 is not C-contiguous"),
    ([ROWS[0], [1.0, 2.0, 3.0, 4.0, 5.0]], TypeError, "row 1 must be a numpy.ndarray"),
    ("rows", TypeError, "rows must be a 2-D numpy.ndarray"),
    (ROWS.tolist(), TypeError, "row 0 must be a numpy.ndarray"),
])
def test_bad_rows(rows, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        murmur.aggregate(rows)


def test_bad_torch_rows():
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(ROWS)
    with pytest.raises(TypeError, match="must be float32, got torch.float64"):
        murmur.aggregate(t.double())
    with pytest.raises(TypeError, match="must be float32, got torch.bfloat16"):
        murmur.aggregate(t.bfloat16())
    with pytest.raises(ValueError, match="not C-contiguous"):
        murmur.aggregate(t.t())
    with pytest.raises(ValueError, match="must be 2-D"):
        murmur.aggregate(t[0])
    agg = murmur.aggregate(t.clone().requires_grad_(True))[0]  # detached, not refused
    assert not agg.requires_grad


@pytest.mark.parametrize("weights, error, words", [
    ([1.0] * 7, ValueError, "one sample count per row: 8 rows"),
    ([[1.0] * 8], ValueError, "one sample count per row"),
    ("heavy", TypeError, "weights must be a sequence of numbers"),
])
def test_bad_weights(weights, error, words):
    with pytest.raises(error, match=words):
        murmur.aggregate(ROWS, weights=weights)


def same_message_as_cpp(tool, tmp_path, rows, weights, spec, python_error):
    with pytest.raises(RuntimeError) as cpp:
        reference_aggregate(tool, tmp_path, rows, weights, spec)
    assert str(python_error.value) == str(cpp.value)


def test_aggregation_errors_carry_the_cpp_message(reference_tool, tmp_path):
    with pytest.raises(murmur.AggregationError) as e:
        murmur.aggregate(ROWS, Krum(f=3))
    assert isinstance(e.value, ValueError)
    assert "krum(f=3): 8 finite rows, but f = 3 needs at least 9" in str(e.value)
    same_message_as_cpp(reference_tool, tmp_path, ROWS, None, "krum(f=3)", e)

    weights = np.ones(8)
    weights[2] = -1
    with pytest.raises(murmur.AggregationError) as e:
        murmur.aggregate(ROWS, weights=weights)
    assert "sample count of row 2 must be finite and positive" in str(e.value)
    same_message_as_cpp(reference_tool, tmp_path, ROWS, weights, "weighted-mean", e)

    nan = np.full_like(ROWS, np.nan)
    with pytest.raises(murmur.AggregationError) as e:
        murmur.aggregate(nan, "median")
    same_message_as_cpp(reference_tool, tmp_path, nan, None, "median", e)


@pytest.mark.parametrize("call, error, words", [
    (lambda: murmur.aggregate(ROWS, "no-such-rule"), murmur.SpecError, "no-such-rule"),
    (lambda: murmur.aggregate(ROWS, "trimmed-mean", beta=0.7), murmur.SpecError,
     r"beta = 0.7 is out of bounds \(beta \[0, 0.5\)\)"),
    (lambda: TrimmedMean(f=2), murmur.SpecError, "f"),
    (lambda: TrimmedMean(beta="wide"), murmur.SpecError, "beta"),
    (lambda: Krum(f=-1), murmur.SpecError, "f"),
    (lambda: TrimmedMean(beta=True), TypeError, "bool"),
    (lambda: murmur.aggregate(ROWS, "median + krum"), murmur.SpecError, ""),
    (lambda: murmur.aggregate(ROWS, "median(", beta=1), TypeError, "full spec"),
    (lambda: murmur.aggregate(ROWS, TrimmedMean(), beta=0.1), TypeError, "keyword parameters"),
    (lambda: murmur.aggregate(ROWS, Bucketing(s=2)), TypeError, "pre-aggregation step"),
    (lambda: Bucketing(s=2)(ROWS), TypeError, "mixes rows before a rule"),
    (lambda: (Bucketing(s=2) + Bucketing(s=3))(ROWS), TypeError, "has no rule"),
    (lambda: Krum(f=1) + Bucketing(s=2), TypeError, ""),
    (lambda: murmur.aggregate(ROWS, 42), TypeError, "rule must be"),
    (lambda: murmur.aggregate(ROWS, backend="tpu"), ValueError, "backend must be"),
])
def test_bad_rules_and_parameters(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_spec_errors_are_value_errors():
    assert issubclass(murmur.SpecError, ValueError)
    assert issubclass(murmur.AggregationError, ValueError)
    assert issubclass(murmur.ServerError, murmur.ProtocolError)
    assert issubclass(murmur.TimeoutError, TimeoutError)


def test_cuda_backend_says_why_when_unavailable():
    try:
        b = murmur.backend("cuda")
    except murmur.BackendUnavailable as e:
        assert str(e)  # the CUDA runtime's reason
    else:
        assert b.kind == "cuda"


def test_bad_chain_and_node_inputs():
    key = murmur.PrivateKey.derive(1, 0)
    domain = murmur.Eip712Domain(chain_id=31337,
                                 verifying_contract="0x5fbdb2315678afecb367f032d93f642f64180aa3")
    with pytest.raises(ValueError, match="score must be"):
        murmur.sign_vote(key, domain, 1, 1, b"\0" * 32, 2)
    with pytest.raises(ValueError, match="update_hash must be 32 bytes, got 31"):
        murmur.sign_update(key, domain, 1, 1, b"\0" * 31, 10)
    with pytest.raises(ValueError, match="must not be negative"):
        murmur.sign_update(key, domain, -1, 1, b"\0" * 32, 10)
    with pytest.raises(TypeError, match="task_id must be an int"):
        murmur.sign_update(key, domain, "one", 1, b"\0" * 32, 10)
    with pytest.raises(ValueError):
        murmur.PrivateKey.from_hex("00" * 32)  # zero is not a key
    with pytest.raises(ValueError, match="checksum"):
        murmur.Eip712Domain(chain_id=1, verifying_contract="0x5FBdb2315678afecb367f032d93F642f64180aa3")
    node = murmur.Node("tcp://127.0.0.1:9", "tcp://127.0.0.1:9", server_key="0" * 40, key=key,
                       contract="0x5fbdb2315678afecb367f032d93f642f64180aa3", timeout=0.2,
                       retries=0)
    info = murmur.node.RoundInfo(1, 1, "uploading", "proposer", 0, None, 5, 1 << 20, None, "", False)
    with pytest.raises(ValueError, match="must be flat"):
        node.upload(ROWS, info=info)
    with pytest.raises(TypeError, match="float32"):
        node.upload(ROWS[0].astype(np.float64), info=info)
    with pytest.raises(ValueError, match="no candidate"):
        node.vote(1, info=info)
    with pytest.raises(TypeError, match="chain key"):
        murmur.Node("tcp://127.0.0.1:9", "tcp://127.0.0.1:9", server_key="0" * 40,
                    contract="0x5fbdb2315678afecb367f032d93f642f64180aa3")
