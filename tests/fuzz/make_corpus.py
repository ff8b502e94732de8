#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/), each seed in its
fuzzer's input layout: decode (one file per message body, well-formed, plus malformed
framings; protobuf encoded by hand, so no Python protobuf is needed), and small valid and
near-valid files for safetensors, adapter, eval_jsonl, model_data, config, rpc_reply, abi and
rlp (make_corpus_files.py). Run from anywhere: python3 tests/fuzz/make_corpus.py"""
import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import make_corpus_files  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "decode")


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire_type, payload):
    return varint((num << 3) | wire_type) + payload


def u(num, v):  # varint field
    return field(num, 0, varint(v))


def zz(num, v):  # sint32 (zigzag)
    return u(num, (v << 1) ^ (v >> 31))


def b(num, data):  # length-delimited field
    return field(num, 2, varint(len(data)) + data)


def f64(num, x):
    return field(num, 1, struct.pack("<d", x))


def envelope(request_id, body_num, body):
    return u(1, request_id) + b(body_num, body)


def one(frame, dtype=0):
    return bytes([1 | (dtype << 2)]) + frame


def two(frame0, frame1, dtype=0):
    return bytes([2 | (dtype << 2)]) + struct.pack("<H", len(frame0)) + frame0 + frame1


H = bytes(range(32))
ADDR = bytes(range(100, 120))
SIG = bytes([7] * 64) + bytes([27])
F32 = struct.pack("<4f", 1.0, -2.5, 0.0, 3.25)
F16_NAN = bytes([0x00, 0x3C, 0x00, 0x7E])  # 1.0, NaN
BF16_INF = bytes([0x80, 0x3F, 0x80, 0x7F])  # 1.0, +Inf

seeds = {
    "register": one(envelope(1, 10, b(1, ADDR) + b(2, H) + u(3, 31337) + b(4, SIG))),
    "registered": one(envelope(1, 11, b(1, ADDR))),
    "round_info_request": one(envelope(2, 12, b"")),
    "round_info": one(envelope(2, 13, u(1, 7) + u(2, 3) + u(3, 1) + u(4, 1) + u(5, 1700000000000)
                                 + b(6, H) + u(7, 1000000) + u(8, 4 << 20) + b(9, H) + b(10, b"fedavg"))),
    "model_request": one(envelope(3, 14, b(1, H) + u(2, 0) + u(3, 4 << 20))),
    "model_chunk": two(envelope(3, 15, b(1, H) + u(2, 0) + u(3, 16)), F32),
    "upload_begin": one(envelope(4, 16, u(1, 7) + u(2, 3) + u(3, 1000000) + u(4, 1))),
    "upload_accepted": one(envelope(4, 17, u(1, 9) + u(2, 0) + u(3, 4000000) + u(4, 1 << 20) + u(5, 4))),
    "upload_chunk_f32": two(envelope(5, 18, u(1, 9) + u(2, 0) + u(3, 16) + b(4, bytes(16))), F32, 0),
    "upload_chunk_f16_nan": two(envelope(6, 18, u(1, 9) + u(2, 16) + u(3, 4) + b(4, bytes(16))), F16_NAN, 1),
    "upload_chunk_bf16_inf": two(envelope(7, 18, u(1, 9) + u(2, 20) + u(3, 4) + b(4, bytes(16))), BF16_INF, 2),
    "chunk_ack": one(envelope(5, 19, u(1, 9) + u(2, 16) + u(3, 1))),
    "upload_commit": one(envelope(8, 20, u(1, 9) + b(2, H) + u(3, 600) + b(4, SIG))),
    "committed": one(envelope(8, 21, b(1, H))),
    "vote": one(envelope(9, 22, u(1, 7) + u(2, 3) + b(3, H) + zz(4, -1) + f64(5, 0.125) + b(6, SIG))),
    "vote_accepted": one(envelope(9, 23, b"")),
    "error": one(envelope(9, 24, u(1, 4) + b(2, b"chunk at offset 0 does not match its checksum"))),
    "status_request": one(envelope(10, 25, b"")),
    "status": one(envelope(10, 26, u(1, 3) + u(2, 3) + u(3, 50) + u(4, 12) + b(5, b"cpu"))),
    "update_list_request": one(envelope(11, 35, u(1, 7) + u(2, 3) + u(3, 0))),
    "update_list": one(envelope(11, 36, u(1, 7) + u(2, 3) + b(3, H) + u(4, 1) + u(5, 0)
                                  + b(6, b(1, ADDR) + b(2, H) + u(3, 600) + b(4, SIG) + u(5, 2)
                                      + u(6, 16) + u(7, 1)))),
    "update_request": one(envelope(12, 37, u(1, 7) + u(2, 3) + b(3, ADDR) + u(4, 0) + u(5, 16))),
    "update_chunk": two(envelope(12, 38, b(1, ADDR) + b(2, H) + u(3, 0) + u(4, 16)), F32),
    # Malformed framings the decoder must refuse with typed errors.
    "update_chunk_without_bytes": one(envelope(12, 38, b(1, ADDR) + b(2, H) + u(3, 0) + u(4, 16))),
    "no_frames": bytes([0]),
    "chunk_without_tensor": one(envelope(5, 18, u(1, 9) + u(2, 0) + u(3, 16))),
    "request_with_stray_tensor": two(envelope(2, 12, b""), b"extra"),
    "three_frames": bytes([3]) + struct.pack("<HH", 2, 1) + envelope(2, 12, b"")[:2] + b"x" + b"yz",
    "truncated_varint": one(b"\x08\xff\xff"),
    "empty_envelope": one(b""),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"wrote {len(seeds)} seeds to {OUT}")
make_corpus_files.main(os.path.join(HERE, "corpus"))
