"""Seeds of the file and chain decoders' fuzz targets (called by make_corpus.py): small valid
inputs and near-valid ones (one field wrong), each in its fuzzer's input layout."""
import gzip
import json
import os
import struct
import zlib


def safetensors(tensors, metadata=None):
    """tensors: {name: (dtype, shape, raw bytes)}, laid out in name order."""
    header, data = {}, b""
    for name in sorted(tensors):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def safetensors_seeds():
    return {
        "two_f32": safetensors({"a": ("F32", [2, 2], f32(1, 2, 3, 4)), "b": ("F32", [3], f32(0, -1, 5))}),
        "f16_bf16_meta": safetensors({"h": ("F16", [2], b"\x00\x3c\x00\x7c"), "g": ("BF16", [1, 2], b"\x80\x3f\xc0\x7f"),
                                      "i": ("I64", [1], struct.pack("<q", -3))}, {"format": "pt"}),
        "scalar_and_empty": safetensors({"s": ("F32", [], f32(7)), "z": ("F32", [0, 4], b"")}),
        "hole": b"\x40\x00\x00\x00\x00\x00\x00\x00" + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'.ljust(64) + bytes(8),
        "overlap": safetensors({"a": ("F32", [2], f32(1, 2))})[:-8] + bytes(8),
        "shape_mismatch": b"\x38\x00\x00\x00\x00\x00\x00\x00" + b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'.ljust(56) + bytes(8),
        "unknown_dtype": safetensors({"a": ("Q4", [1], b"\x00")}),
        "huge_header_length": struct.pack("<Q", 1 << 40) + b"{}",
        "truncated": safetensors({"a": ("F32", [4], f32(1, 2, 3, 4))})[:-5],
        "not_json": struct.pack("<Q", 8) + b"{nope!!}",
    }


# The adapter fuzzer's base: hidden 8, intermediate 12, 2 heads of 4, 1 kv head, 2 layers.
OUT_FEATURES = {"q_proj": 8, "k_proj": 4, "v_proj": 4, "o_proj": 8, "gate_proj": 12, "up_proj": 12, "down_proj": 8}
IN_FEATURES = {p: (12 if p == "down_proj" else 8) for p in OUT_FEATURES}
BLOCK = {p: ("mlp" if p in ("gate_proj", "up_proj", "down_proj") else "self_attn") for p in OUT_FEATURES}


def lora_tensors(layers, projections, rank, dtype="F32"):
    out = {}
    for layer in layers:
        for p in projections:
            base = "base_model.model.model.layers.%d.%s.%s." % (layer, BLOCK[p], p)
            r = rank(p) if callable(rank) else rank
            a = r * IN_FEATURES[p]
            b = OUT_FEATURES[p] * r
            out[base + "lora_A.weight"] = (dtype, [r, IN_FEATURES[p]], f32(*[0.01 * i for i in range(a)]))
            out[base + "lora_B.weight"] = (dtype, [OUT_FEATURES[p], r], f32(*[-0.02 * i for i in range(b)]))
    return out


def adapter(config, tensors):
    return json.dumps(config).encode() + b"\n--safetensors--\n" + safetensors(tensors)


def adapter_seeds():
    qv = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"],
          "base_model_name_or_path": "org/tiny-llama", "bias": "none"}
    all_layer1 = {"r": 1, "lora_alpha": 2, "target_modules": "all-linear", "layers_to_transform": [1],
                  "use_rslora": True}
    pattern = {"r": 2, "target_modules": ".*layers\\.0\\..*(q|o)_proj", "rank_pattern": {"o_proj": 1},
               "alpha_pattern": {"q_proj": 8}}
    return {
        "q_v": adapter(qv, lora_tensors([0, 1], ["q_proj", "v_proj"], 2)),
        "all_linear_layer1": adapter(all_layer1, lora_tensors([1], list(OUT_FEATURES), 1)),
        "regex_rank_pattern": adapter(pattern, lora_tensors([0], ["q_proj", "o_proj"],
                                                            lambda p: 1 if p == "o_proj" else 2)),
        "missing_tensor": adapter(qv, lora_tensors([0], ["q_proj", "v_proj"], 2)),
        "wrong_rank": adapter(qv, lora_tensors([0, 1], ["q_proj", "v_proj"], 3)),
        "other_base": adapter(dict(qv, base_model_name_or_path="llama-7b"), {}),
        "dora": adapter(dict(qv, use_dora=True), {}),
        "bad_regex": adapter(dict(pattern, target_modules="(q_proj"), {}),
        "no_weights": json.dumps(qv).encode(),
        "bad_json": b'{"r": 2, "target_modules": [' + b"\n--safetensors--\n",
    }


def eval_jsonl_seeds():
    return {
        "plain": b'{"input_ids": [1, 5, 9, 13]}\n{"input_ids": [2, 3]}\n',
        "labels_bytes": b'{"input_ids": [1, 15, 27, 3], "labels": [-100, -100, 27, 3], "bytes": 12}\n\n',
        "loss_mask": b'{"input_ids": [4, 8, 12], "loss_mask": [0, 1, 1]}\r\n',
        "id_out_of_vocab": b'{"input_ids": [1, 64]}\n',
        "both_labels_and_mask": b'{"input_ids": [1, 2], "labels": [1, 2], "loss_mask": [1, 1]}\n',
        "no_target": b'{"input_ids": [1, 2, 3], "labels": [1, -100, -100]}\n',
        "too_long": json.dumps({"input_ids": list(range(33))}).encode() + b"\n",
        "not_json": b'{"input_ids": [1, 2\n',
        "empty": b"\n \n",
    }


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def labelled_tensors(dims, features, labels, classes):
    head = b"MURMURLT" + struct.pack("<IIQII", 1, len(dims), len(labels), classes, 0)
    head += b"".join(struct.pack("<Q", d) for d in dims)
    body = head + f32(*features) + struct.pack("<%di" % len(labels), *labels)
    return body + struct.pack("<I", zlib.crc32(body))


def model_data_seeds():
    images = idx(0x803, [2, 2, 3], bytes(range(0, 240, 20)))
    labels = idx(0x801, [2], b"\x01\x07")
    sep = b"\n--labels--\n"
    lt = labelled_tensors([2, 2], [0.5, -1, 2, 3, 0, 0, 1, 1], [0, 2], 3)
    return {
        "idx_plain": b"\x00" + images + sep + labels,
        "idx_gzip": b"\x00" + gzip.compress(images, mtime=0) + sep + gzip.compress(labels, mtime=0),
        "idx_count_mismatch": b"\x00" + images + sep + idx(0x801, [3], b"\x00\x01\x02"),
        "idx_wrong_magic": b"\x00" + idx(0x801, [2], b"\x00\x01") + sep + labels,
        "idx_truncated_gzip": b"\x00" + gzip.compress(images, mtime=0)[:-6] + sep + labels,
        "mlt": b"\x01" + lt,
        "mlt_fix_crc": b"\x03" + lt[:-4] + b"\x00\x00\x00\x00",
        "mlt_bad_crc": b"\x01" + lt[:-1] + b"\x00",
        "mlt_label_out_of_range": b"\x03" + labelled_tensors([1], [1, 2], [0, 5], 3),
        "mlt_rank3": b"\x03" + labelled_tensors([1, 2, 1], [1, 2, 3, 4], [1, 0], 2),
    }


CONFIG = """[server]
endpoint = "tcp://127.0.0.1:7770"
register_endpoint = "tcp://127.0.0.1:7771"
metrics_port = 0
data_dir = "data"
curve = false
insecure_plaintext = true
chunk_bytes = 4096
inflight_budget_bytes = 65536
peer_credits = 4

[task]
task_id = 1
chain_id = 31337
contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
parameters = 1000
rounds = 3
participants = "participants.csv"

[round]
upload_seconds = 5.0
vote_seconds = 2.5
quorum = 2
"""


def config_seeds():
    return {
        "minimal": CONFIG.encode(),
        "trimmed_mean": (CONFIG + '\n[aggregation]\nrule = "trimmed-mean"\nbeta = 0.2\nflag_ratio = 3.0\n').encode(),
        "spec": (CONFIG + '\n[aggregation]\nrule = "nnm(f=1) + multi-krum(f=1, m=2)"\n').encode(),
        "weighted_arc": (CONFIG + '\n[aggregation]\nrule = "weighted-mean"\nclip = "arc"\nf = 1\nbucket = 2\n').encode(),
        "secagg": (CONFIG + "\n[secagg]\nenabled = true\ngroup_size = 4\nthreshold = 3\nclip = 2.5\n").encode(),
        "validation": (CONFIG + '\n[validation]\nmlp = [10, 4, 2]\nlabelled_tensors = "set.mlt"\nmax_batch = 8\n').encode(),
        "chain": (CONFIG + '\n[chain]\nrpc_url = "http://127.0.0.1:8545"\nkey_file = "key.hex"\n').encode(),
        "unknown_key": (CONFIG + "\n[round]\nsurprise = 1\n").encode(),
        "wrong_type": CONFIG.replace("quorum = 2", 'quorum = "two"').encode(),
        "bad_contract": CONFIG.replace("0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x5FbD").encode(),
        "bad_toml": b"[server\nendpoint = ",
    }


def rpc(result):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()


def abi_string(s):
    raw = s.encode()
    return (32).to_bytes(32, "big") + len(raw).to_bytes(32, "big") + raw + bytes(-len(raw) % 32)


def rpc_reply_seeds():
    h = "0x" + "ab" * 32
    log = {"address": "0x" + "11" * 20, "topics": [h], "data": "0x0102", "blockNumber": "0x5",
           "transactionHash": h, "logIndex": "0x0"}
    receipt = {"transactionHash": h, "blockNumber": "0x10", "status": "0x1", "gasUsed": "0x5208",
               "effectiveGasPrice": "0x3b9aca00", "from": "0x" + "22" * 20, "to": None,
               "contractAddress": "0x" + "33" * 20, "logs": [log]}
    revert = "0x08c379a0" + abi_string("WrongRound").hex()
    return {
        "quantity": b"\x00" + rpc("0x7a69"),
        "quantity_number": b"\x03" + rpc(31337),
        "receipt": b"\x01" + rpc(receipt),
        "receipt_pending": b"\x01" + rpc(None),
        "call_data": b"\x02" + rpc("0x" + "00" * 31 + "2a"),
        "revert_error": b"\x02" + json.dumps({"jsonrpc": "2.0", "id": 1, "error": {
            "code": 3, "message": "execution reverted", "data": revert}}).encode(),
        "revert_nested": b"\x02" + json.dumps({"jsonrpc": "2.0", "id": 1, "error": {
            "code": -32603, "message": "Error: VM Exception", "data": {"data": "0x4e487b71" + "00" * 31 + "11"}}}).encode(),
        "plain_error": b"\x00" + b'{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}',
        "http_500": b"\x80" + b"upstream unavailable",
        "neither": b"\x00" + b'{"jsonrpc":"2.0","id":1}',
        "not_json": b"\x00" + b"<html>502</html>",
    }


def word(n):
    return (n % (1 << 256)).to_bytes(32, "big")


def abi_seeds():
    addr = word(0x1111111111111111111111111111111111111111)
    task = addr + word(10) + word(2) + word(3) + addr + word(5000) + word(100) + word(1) + word(4) + addr + \
        word(10 ** 18) + word(5) + word(6) + b"\xaa" * 32 + b"\xbb" * 32
    return {
        "uint256": b"\x00" + word(42),
        "get_task": b"\x01" + task,
        "round": b"\x02" + word(3) + b"\xcc" * 32 + word(1) + word(0x80) + word(2) + addr + addr,
        "string": b"\x03" + abi_string("hello"),
        "bytes": b"\x04" + abi_string("\x00\x01\x02"),
        "signed": b"\x05" + word(-1) + word(7) + word(-2) + b"\xde\xad\xbe\xef" + bytes(28),
        "bad_padding": b"\x05" + word(-1)[:-1] + b"\x7f" + word(7) + word(-2) + bytes(32),
        "offset_past_end": b"\x03" + word(0x1000),
        "revert_error_string": b"\x03" + bytes.fromhex("08c379a0") + abi_string("not the aggregator"),
        "revert_panic": b"\x00" + bytes.fromhex("4e487b71") + word(0x11),
        "revert_empty": b"\x00",
    }


def rlp_bytes(b):
    if len(b) == 1 and b[0] < 0x80:
        return b
    return rlp_len(len(b), 0x80) + b


def rlp_len(n, offset):
    if n < 56:
        return bytes([offset + n])
    be = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(be)]) + be


def rlp_list(items):
    body = b"".join(items)
    return rlp_len(len(body), 0xC0) + body


def rlp_uint(n):
    return rlp_bytes(n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def rlp_seeds():
    to = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
    fields = [rlp_uint(31337), rlp_uint(7), rlp_uint(10 ** 9), rlp_uint(3 * 10 ** 9), rlp_uint(300000),
              rlp_bytes(to), rlp_uint(0), rlp_bytes(bytes.fromhex("a9059cbb") + bytes(64)),
              rlp_list([rlp_list([rlp_bytes(to), rlp_list([rlp_bytes(bytes(32))])])]),
              rlp_uint(1), rlp_uint(0x1234 << 200), rlp_uint(0x5678 << 200)]
    return {
        "byte": b"\x7f",
        "short_string": rlp_bytes(b"dog"),
        "long_string": rlp_bytes(b"x" * 60),
        "nested_list": rlp_list([rlp_list([]), rlp_list([rlp_list([])]), rlp_bytes(b"cat")]),
        "long_list": rlp_list([rlp_uint(i) for i in range(40)]),
        "type2_tx": b"\x02" + rlp_list(fields),
        "type2_bad_parity": b"\x02" + rlp_list(fields[:9] + [rlp_uint(2)] + fields[10:]),
        "non_canonical_byte": b"\x81\x05",
        "leading_zero_length": b"\xb9\x00\x38" + b"y" * 56,
        "trailing": rlp_bytes(b"dog") + b"\x00",
    }


def main(root):
    for target, seeds in (("safetensors", safetensors_seeds()), ("adapter", adapter_seeds()),
                          ("eval_jsonl", eval_jsonl_seeds()), ("model_data", model_data_seeds()),
                          ("config", config_seeds()), ("rpc_reply", rpc_reply_seeds()),
                          ("abi", abi_seeds()), ("rlp", rlp_seeds())):
        out = os.path.join(root, target)
        os.makedirs(out, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
        print(f"wrote {len(seeds)} seeds to {out}")
