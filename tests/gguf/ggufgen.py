#!/usr/bin/env python3
"""ggufgen: write GGUF files for tests, standard library only.

A GGUF file is a header (magic, version, counts, metadata key/value pairs,
tensor infos) and a data section aligned to general.alignment.  This module
writes both, with full control over every field, so tests can build

  * valid files: any metadata (all 13 value types, nested arrays), tensors of
    any ggml type and shape, any alignment, versions 2 and 3, split shards;
  * replicas of real models: the tensor table llama.cpp expects for a
    llama-style architecture (see replica()), with the data section left as
    a sparse hole, so a "70B" file costs a few MiB of disk;
  * hostile files: every way a header can lie (see HOSTILE).

Values are written as (type, value) pairs:

    ("uint32", 7)        ("string", "llama")       ("bool", True)
    ("array", "string", ["a", "b"])
    ("array", "array", [("uint8", [1, 2]), ("string", ["x"])])   # nested

Command line:

    ggufgen.py spec SPEC.json OUT.gguf      write the file SPEC.json describes
    ggufgen.py replica OUT.gguf [options]   a llama-style replica (--help)
    ggufgen.py suite DIR                    every file the unit tests use
    ggufgen.py hostile DIR                  one file per HOSTILE case
    ggufgen.py corpus DIR                   small seeds for the fuzzer

SPEC.json: {"version": 3, "alignment": 32, "data": "sparse",
            "metadata": [["key", "uint32", 5], ["k2", "array", "string", ["a"]]],
            "tensors": [{"name": "t", "type": "q4_K", "shape": [256, 2]}]}
"""

import argparse
import json
import os
import struct
import sys

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# GGUF value types (gguf.h enum gguf_type).
VTYPES = {
    "uint8": 0, "int8": 1, "uint16": 2, "int16": 3, "uint32": 4, "int32": 5,
    "float32": 6, "bool": 7, "string": 8, "array": 9, "uint64": 10,
    "int64": 11, "float64": 12,
}
SCALAR_FMT = {
    "uint8": "B", "int8": "b", "uint16": "H", "int16": "h", "uint32": "I",
    "int32": "i", "float32": "f", "bool": "?", "uint64": "Q", "int64": "q",
    "float64": "d",
}

# ggml types: name -> (id, elements per block, bytes per block).  The same
# numbers as core/ggml_types.c (ggml's type_traits); test_ggml_types checks
# the C table, test_gguf checks that both agree through generated files.
GGML_TYPES = {
    "f32": (0, 1, 4), "f16": (1, 1, 2), "q4_0": (2, 32, 18), "q4_1": (3, 32, 20),
    "q5_0": (6, 32, 22), "q5_1": (7, 32, 24), "q8_0": (8, 32, 34), "q8_1": (9, 32, 36),
    "q2_K": (10, 256, 84), "q3_K": (11, 256, 110), "q4_K": (12, 256, 144),
    "q5_K": (13, 256, 176), "q6_K": (14, 256, 210), "q8_K": (15, 256, 292),
    "iq2_xxs": (16, 256, 66), "iq2_xs": (17, 256, 74), "iq3_xxs": (18, 256, 98),
    "iq1_s": (19, 256, 50), "iq4_nl": (20, 32, 18), "iq3_s": (21, 256, 110),
    "iq2_s": (22, 256, 82), "iq4_xs": (23, 256, 136), "i8": (24, 1, 1),
    "i16": (25, 1, 2), "i32": (26, 1, 4), "i64": (27, 1, 8), "f64": (28, 1, 8),
    "iq1_m": (29, 256, 56), "bf16": (30, 1, 2), "tq1_0": (34, 256, 54),
    "tq2_0": (35, 256, 66), "mxfp4": (39, 32, 17), "nvfp4": (40, 64, 36),
    "q1_0": (41, 128, 18), "q2_0": (42, 64, 18),
}
GGML_BY_ID = {v[0]: k for k, v in GGML_TYPES.items()}

# llama_ftype (general.file_type), by llama-quantize name in lowercase.
FTYPES = {
    "f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_0": 8, "q5_1": 9,
    "q2_k": 10, "q3_k_s": 11, "q3_k_m": 12, "q3_k_l": 13, "q4_k_s": 14,
    "q4_k_m": 15, "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18, "iq2_xxs": 19,
    "iq2_xs": 20, "q2_k_s": 21, "iq3_xs": 22, "iq3_xxs": 23, "iq1_s": 24,
    "iq4_nl": 25, "iq3_s": 26, "iq3_m": 27, "iq2_s": 28, "iq2_m": 29,
    "iq4_xs": 30, "iq1_m": 31, "bf16": 32, "tq1_0": 36, "tq2_0": 37,
    "mxfp4_moe": 38, "nvfp4": 39, "q1_0": 40, "q2_0": 41,
}


def type_id(t):
    """A ggml type given by name ("q4_K", case-insensitive) or id."""
    if isinstance(t, int):
        return t
    for name, (tid, _, _) in GGML_TYPES.items():
        if name.lower() == str(t).lower():
            return tid
    raise ValueError("unknown ggml type %r" % (t,))


def tensor_nbytes(t, shape):
    """Bytes of a tensor of ggml type t (name or id) and shape [ne0, ne1...]."""
    tid = type_id(t)
    _, blck, size = GGML_TYPES[GGML_BY_ID[tid]]
    ne0 = shape[0] if shape else 1
    if ne0 % blck:
        raise ValueError("ne0 %d is not a multiple of the block size %d" % (ne0, blck))
    rows = 1
    for n in shape[1:]:
        rows *= n
    return ne0 // blck * size * rows


def pad(n, align):
    return (n + align - 1) // align * align


class Writer:
    """Builds the bytes of a header; endian is '<' (GGUF) or '>' (hostile)."""

    def __init__(self, version=3, endian="<"):
        self.version = version
        self.e = endian
        self.out = bytearray()

    def raw(self, b):
        self.out += b

    def u32(self, v):
        self.out += struct.pack(self.e + "I", v & 0xFFFFFFFF)

    def u64(self, v):
        self.out += struct.pack(self.e + "Q", v & 0xFFFFFFFFFFFFFFFF)

    def count(self, v):
        """A length or count: uint64 (version 2 and 3) or uint32 (version 1)."""
        if self.version == 1:
            self.u32(v)
        else:
            self.u64(v)

    def string(self, s, length=None):
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        self.count(len(b) if length is None else length)
        self.out += b

    def scalar(self, vtype, v):
        self.out += struct.pack(self.e + SCALAR_FMT[vtype], v)

    def value(self, vtype, v, elem_type=None):
        """v for scalars and strings; for arrays elem_type and a list."""
        if vtype == "string":
            self.string(v)
        elif vtype == "array":
            self.array(elem_type, v)
        else:
            self.scalar(vtype, v)

    def array(self, elem_type, items):
        self.u32(VTYPES[elem_type])
        self.count(len(items))
        for it in items:
            if elem_type == "array":
                sub_type, sub_items = it
                self.array(sub_type, sub_items)
            else:
                self.value(elem_type, it)

    def kv(self, key, vtype, v, elem_type=None):
        self.string(key)
        self.u32(VTYPES[vtype])
        self.value(vtype, v, elem_type)

    def tensor_info(self, name, shape, tid, offset):
        self.string(name)
        self.u32(len(shape))
        for n in shape:
            self.u64(n)
        self.u32(tid)
        self.u64(offset)


def _kv_args(kv):
    """(key, type, value[, ...]) in either list form to Writer.kv arguments."""
    key, vtype = kv[0], kv[1]
    if vtype == "array":
        return key, vtype, kv[3], kv[2]
    return key, vtype, kv[2], None


def layout_tensors(tensors, alignment):
    """Fills each tensor's offset (when absent) and size_bytes, in order."""
    off = 0
    out = []
    for t in tensors:
        t = dict(t)
        size = t.get("size_bytes")
        if size is None:
            size = tensor_nbytes(t["type"], t["shape"])
        if t.get("offset") is None:
            t["offset"] = off
        t["size_bytes"] = size
        off = pad(t["offset"] + size, alignment)
        out.append(t)
    return out


def build(metadata, tensors, version=3, alignment=None, endian="<"):
    """Returns (header bytes padded to the data section, tensors, data size).

    metadata: list of (key, type, value) / (key, "array", elem_type, items).
    tensors: list of {"name", "type", "shape", optional "offset"}.
    alignment: written as general.alignment (uint32) when not None."""
    align = DEFAULT_ALIGNMENT if alignment is None else alignment
    md = list(metadata)
    if alignment is not None and not any(k[0] == "general.alignment" for k in md):
        md.append(("general.alignment", "uint32", alignment))
    tensors = layout_tensors(tensors, align)
    w = Writer(version, endian)
    w.raw(GGUF_MAGIC)
    w.u32(version)
    w.count(len(tensors))
    w.count(len(md))
    for kv in md:
        w.kv(*_kv_args(kv))
    for t in tensors:
        w.tensor_info(t["name"], t["shape"], type_id(t["type"]), t["offset"])
    header = bytes(w.out)
    header += b"\0" * (pad(len(header), align) - len(header))
    data_size = 0
    for t in tensors:
        data_size = max(data_size, t["offset"] + t["size_bytes"])
    return header, tensors, data_size


def write(path, metadata, tensors, version=3, alignment=None, data="sparse"):
    """Writes a GGUF file; data is "sparse" (a hole), "zero" or "pattern".
    Returns a dict describing what was written."""
    header, tensors, data_size = build(metadata, tensors, version, alignment)
    with open(path, "wb") as f:
        f.write(header)
        if data == "sparse":
            f.truncate(len(header) + data_size)
        elif data == "zero":
            f.write(b"\0" * data_size)
        elif data == "pattern":
            f.write(bytes(i & 0xFF for i in range(data_size)))
        else:
            raise ValueError("data must be sparse, zero or pattern")
    return {"path": path, "header_bytes": len(header), "size": len(header) + data_size,
            "tensors": tensors}


def write_split(prefix, metadata, tensors, n_shards, version=3, alignment=None):
    """llama.cpp's gguf-split layout: PREFIX-0000K-of-0000N.gguf, every shard
    with split.no (uint16, 0-based), split.count (uint16) and
    split.tensors.count (int32); the metadata goes in the first shard."""
    paths = []
    per = (len(tensors) + n_shards - 1) // n_shards
    for k in range(n_shards):
        part = tensors[k * per:(k + 1) * per]
        md = [("split.no", "uint16", k), ("split.count", "uint16", n_shards),
              ("split.tensors.count", "int32", len(tensors))]
        if k == 0:
            md = list(metadata) + md
        path = "%s-%05d-of-%05d.gguf" % (prefix, k + 1, n_shards)
        write(path, md, part, version, alignment)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------
# Replicas of real architectures
# ------------------------------------------------------------------------

# The weight type a simple replica uses for each file type.  A real
# llama-quantize mix (Q4_K_M keeps attn_v and ffn_down of some layers in
# q6_K, output.weight in q6_K, ...) belongs to the VRAM estimator's issue:
# pass tensor_type= to replica() to supply one.
FTYPE_WEIGHT_TYPE = {
    "f32": "f32", "f16": "f16", "bf16": "bf16", "q4_0": "q4_0", "q4_1": "q4_1",
    "q5_0": "q5_0", "q5_1": "q5_1", "q8_0": "q8_0", "q2_k": "q2_K",
    "q2_k_s": "q2_K", "q3_k_s": "q3_K", "q3_k_m": "q3_K", "q3_k_l": "q3_K",
    "q4_k_s": "q4_K", "q4_k_m": "q4_K", "q5_k_s": "q5_K", "q5_k_m": "q5_K",
    "q6_k": "q6_K", "iq2_xxs": "iq2_xxs", "iq2_xs": "iq2_xs", "iq2_s": "iq2_s",
    "iq2_m": "iq2_s", "iq3_xxs": "iq3_xxs", "iq3_xs": "iq3_s", "iq3_s": "iq3_s",
    "iq3_m": "iq3_s", "iq1_s": "iq1_s", "iq1_m": "iq1_m", "iq4_nl": "iq4_nl",
    "iq4_xs": "iq4_xs", "tq1_0": "tq1_0", "tq2_0": "tq2_0", "mxfp4_moe": "mxfp4",
}


def simple_tensor_type(name, ftype, shape):
    """Norms and other 1-D tensors stay f32; matrices take the file type's
    weight type when their rows fit its block size, else f16."""
    if len(shape) < 2:
        return "f32"
    wt = FTYPE_WEIGHT_TYPE[ftype]
    blck = GGML_TYPES[wt][1]
    return wt if shape[0] % blck == 0 else "f16"


def replica_tensors(n_layers, hidden, heads, kv_heads, ffn, vocab, tied=False, head_dim=None):
    """The tensor names and shapes llama.cpp's llama loader expects, in the
    order convert_hf_to_gguf writes them.  Shapes are ggml's (ne0 first)."""
    hd = head_dim or hidden // heads
    t = [("token_embd.weight", [hidden, vocab])]
    for i in range(n_layers):
        p = "blk.%d." % i
        t += [
            (p + "attn_norm.weight", [hidden]),
            (p + "attn_q.weight", [hidden, heads * hd]),
            (p + "attn_k.weight", [hidden, kv_heads * hd]),
            (p + "attn_v.weight", [hidden, kv_heads * hd]),
            (p + "attn_output.weight", [heads * hd, hidden]),
            (p + "ffn_norm.weight", [hidden]),
            (p + "ffn_gate.weight", [hidden, ffn]),
            (p + "ffn_up.weight", [hidden, ffn]),
            (p + "ffn_down.weight", [ffn, hidden]),
        ]
    t.append(("output_norm.weight", [hidden]))
    if not tied:
        t.append(("output.weight", [hidden, vocab]))
    return t


def replica(path, arch="llama", n_layers=2, hidden=256, heads=4, kv_heads=2, ffn=512,
            vocab=1024, tied=False, ftype="q4_k_m", ctx=8192, name="Replica",
            vocab_arrays=True, tensor_type=None, version=3, alignment=None,
            n_shards=1, rope_theta=500000.0):
    """A llama-style replica: metadata llama.cpp reads and the tensor table.
    tensor_type(name, ftype, shape) -> ggml type name picks each tensor's
    type (default simple_tensor_type)."""
    pick = tensor_type or simple_tensor_type
    hd = hidden // heads
    md = [
        ("general.architecture", "string", arch),
        ("general.name", "string", name),
        ("general.file_type", "uint32", FTYPES[ftype]),
        ("general.quantization_version", "uint32", 2),
        (arch + ".block_count", "uint32", n_layers),
        (arch + ".context_length", "uint32", ctx),
        (arch + ".embedding_length", "uint32", hidden),
        (arch + ".feed_forward_length", "uint32", ffn),
        (arch + ".attention.head_count", "uint32", heads),
        (arch + ".attention.head_count_kv", "uint32", kv_heads),
        (arch + ".rope.freq_base", "float32", rope_theta),
        (arch + ".rope.dimension_count", "uint32", hd),
        (arch + ".attention.layer_norm_rms_epsilon", "float32", 1e-5),
        (arch + ".vocab_size", "uint32", vocab),
        ("tokenizer.ggml.model", "string", "gpt2"),
    ]
    if vocab_arrays:
        md += [
            ("tokenizer.ggml.tokens", "array", "string", ["tok%d" % i for i in range(vocab)]),
            ("tokenizer.ggml.token_type", "array", "int32", [1] * vocab),
        ]
    tensors = [{"name": n, "shape": s, "type": pick(n, ftype, s)}
               for n, s in replica_tensors(n_layers, hidden, heads, kv_heads, ffn, vocab, tied)]
    if n_shards > 1:
        return write_split(path, md, tensors, n_shards, version, alignment)
    return write(path, md, tensors, version, alignment)


# ------------------------------------------------------------------------
# Hostile files
# ------------------------------------------------------------------------

def _header(n_tensors, n_kv, version=3, endian="<"):
    w = Writer(version, endian)
    w.raw(GGUF_MAGIC)
    w.u32(version)
    w.count(n_tensors)
    w.count(n_kv)
    return w


def _one_tensor_file(name="t", shape=(32,), tid=0, offset=0, data=None, kvs=(), align=32):
    w = _header(1, len(kvs))
    for kv in kvs:
        w.kv(*_kv_args(kv))
    w.tensor_info(name, list(shape), tid, offset)
    b = bytes(w.out)
    b += b"\0" * (pad(len(b), align) - len(b))
    if data is None:
        data = 0
        if tid in GGML_BY_ID:
            try:
                data = tensor_nbytes(tid, list(shape))
            except ValueError:
                data = 0
    return b + b"\0" * data


def _h_bad_magic():
    return b"GGUG" + bytes(_header(0, 0).out[4:])


def _h_version(v):
    return lambda: bytes(_header(0, 0, version=v).out)


def _h_big_endian():
    w = Writer(3, ">")
    w.raw(GGUF_MAGIC)
    w.u32(3)
    w.u64(0)
    w.u64(1)
    w.kv("general.architecture", "string", "llama")
    return bytes(w.out)


def _h_counts(n_tensors, n_kv, padding=64):
    return lambda: bytes(_header(n_tensors, n_kv).out) + b"\0" * padding


def _h_key_len(length, padding=32):
    def f():
        w = _header(0, 1)
        w.string("k", length=length)
        return bytes(w.out) + b"\0" * padding
    return f


def _h_string_value_len(length):
    def f():
        w = _header(0, 1)
        w.string("general.name")
        w.u32(VTYPES["string"])
        w.u64(length)
        return bytes(w.out) + b"abc"
    return f


def _h_value_type(t):
    def f():
        w = _header(0, 1)
        w.string("k")
        w.u32(t)
        return bytes(w.out) + b"\0" * 16
    return f


def _h_array(elem_type, n):
    def f():
        w = _header(0, 1)
        w.string("k")
        w.u32(VTYPES["array"])
        w.u32(elem_type)
        w.u64(n)
        return bytes(w.out) + b"\0" * 64
    return f


def _h_nested(depth):
    def f():
        w = _header(0, 1)
        w.string("k")
        w.u32(VTYPES["array"])
        for _ in range(depth - 1):
            w.u32(VTYPES["array"])
            w.u64(1)
        w.u32(VTYPES["uint8"])
        w.u64(1)
        w.raw(b"\x07")
        return bytes(w.out)
    return f


def _h_array_bomb():
    # 2^40 arrays of 2^40 arrays ...: each level claims far more than is there
    w = _header(0, 1)
    w.string("k")
    w.u32(VTYPES["array"])
    w.u32(VTYPES["array"])
    w.u64(1 << 40)
    for _ in range(3):
        w.u32(VTYPES["array"])
        w.u64(1 << 40)
    return bytes(w.out) + b"\0" * 64


def _h_tensor(shape, tid=0, offset=0, data=None, n_dims=None, kvs=()):
    def f():
        if n_dims is None:
            return _one_tensor_file(shape=shape, tid=tid, offset=offset, data=data, kvs=kvs)
        w = _header(1, 0)
        w.string("t")
        w.u32(n_dims)
        for n in shape:
            w.u64(n)
        w.u32(tid)
        w.u64(offset)
        return bytes(w.out) + b"\0" * 64
    return f


def _h_two_tensors(off_a, off_b, name_b="b"):
    def f():
        w = _header(2, 0)
        w.tensor_info("a", [64], 0, off_a)
        w.tensor_info(name_b, [64], 0, off_b)
        b = bytes(w.out)
        return b + b"\0" * (pad(len(b), 32) - len(b)) + b"\0" * 1024
    return f


def _h_dup_key():
    w = _header(0, 2)
    w.kv("general.name", "string", "a")
    w.kv("general.name", "string", "b")
    return bytes(w.out)


def _h_alignment(vtype, v):
    def f():
        return _one_tensor_file(kvs=[("general.alignment", vtype, v)])
    return f


def _h_truncated_kv():
    w = _header(0, 2)
    w.kv("general.architecture", "string", "llama")
    w.string("llama.block_count")
    w.u32(VTYPES["uint32"])
    return bytes(w.out) + b"\x20\x00"


def _h_truncated_tensor_info():
    w = _header(1, 0)
    w.string("token_embd.weight")
    w.u32(2)
    w.u64(4096)
    return bytes(w.out)


def _h_data_truncated():
    return _one_tensor_file(shape=(4096, 64), tid=0, data=100)


def _h_header_over_cap():
    # five keys, each a string of 15 MiB: a 75 MiB header, past
    # GGUF_MAX_HEADER_BYTES (64 MiB).  The strings' bytes are sparse holes
    # (zeros are valid string bytes); only the key records are written.
    slen = 15 << 20
    chunks = []
    w = _header(0, 5)
    off = 0
    for i in range(5):
        w.string("k%d" % i)
        w.u32(VTYPES["string"])
        w.u64(slen)
        chunks.append((off, bytes(w.out)))
        off += len(w.out) + slen
        w = Writer()
    return chunks, off + 64


def _h_tensor_name_nul():
    return _one_tensor_file(name="a\0b")


# name -> (function returning the file's bytes, what it is).  The expected
# error of each is in tests/unit/core/test_gguf.c.
HOSTILE = {
    "bad_magic": (_h_bad_magic, "magic GGUG"),
    "version0": (_h_version(0), "version 0"),
    "version1": (_h_version(1), "version 1 (uint32 counts), unsupported"),
    "version4": (_h_version(4), "version 4"),
    "version_huge": (_h_version(0xFFFFFFFF), "version 2^32-1"),
    "big_endian": (_h_big_endian, "a big-endian version 3 file"),
    "n_tensors_2p63": (_h_counts(1 << 63, 0), "n_tensors 2^63 in a tiny file"),
    "n_kv_max": (_h_counts(0, (1 << 64) - 1), "n_kv 2^64-1"),
    "n_kv_over_cap": (_h_counts(0, 70000, 70000 * 13), "n_kv 70000, past GGUF_MAX_KV, "
                      "with room for them all"),
    "n_kv_past_end": (_h_counts(0, 70000), "n_kv 70000 in a tiny file"),
    "key_len_2p63": (_h_key_len(1 << 63), "a key of 2^63 bytes"),
    "key_len_max": (_h_key_len((1 << 64) - 1), "a key of 2^64-1 bytes"),
    "key_len_over_cap": (_h_key_len(5000, 6000), "a key longer than GGUF_MAX_NAME_BYTES"),
    "string_past_end": (_h_string_value_len(1000), "a string value past the end"),
    "string_len_2p63": (_h_string_value_len(1 << 63), "a string value of 2^63 bytes"),
    "value_type_13": (_h_value_type(13), "value type 13"),
    "value_type_max": (_h_value_type(0xFFFFFFFF), "value type 2^32-1"),
    "array_elem_type_bad": (_h_array(99, 1), "array of type 99"),
    "array_len_2p62": (_h_array(VTYPES["uint32"], 1 << 62), "uint32 array of 2^62 items"),
    "array_strings_huge": (_h_array(VTYPES["string"], 1 << 40), "string array of 2^40 items"),
    "array_of_arrays_huge": (_h_array(VTYPES["array"], 1 << 40), "array of 2^40 arrays"),
    "array_bomb": (_h_array_bomb, "nested arrays claiming 2^40 items each"),
    "array_nested_5": (_h_nested(5), "arrays nested 5 deep"),
    "array_nested_100": (_h_nested(100), "arrays nested 100 deep"),
    "n_dims_5": (_h_tensor([1, 1, 1, 1, 1], n_dims=5), "a tensor with 5 dimensions"),
    "n_dims_max": (_h_tensor([], n_dims=0xFFFFFFFF), "a tensor with 2^32-1 dimensions"),
    "dims_product_overflow": (_h_tensor([1 << 32, 1 << 32, 1 << 32], data=0),
                              "extents whose product overflows int64"),
    "dim_negative": (_h_tensor([1 << 63], data=0), "extent 2^63 (negative as int64)"),
    "type_out_of_range": (_h_tensor([32], tid=99, data=32), "ggml type 99"),
    "type_removed_q4_2": (_h_tensor([32], tid=4, data=32), "removed ggml type 4 (Q4_2)"),
    "type_removed_q4_0_4_4": (_h_tensor([32], tid=31, data=32), "removed ggml type 31"),
    "ne0_not_block_multiple": (_h_tensor([33], tid=2, data=64), "q4_0 with 33 columns"),
    "offset_misaligned": (_h_tensor([32], offset=1, data=256), "tensor offset 1"),
    "offset_size_overflow": (_h_tensor([32], offset=(1 << 64) - 32, data=0),
                             "offset + size wraps around 2^64"),
    "size_overflow": (_h_tensor([1 << 61, 2], tid=0, data=0),
                      "elements fit int64 but bytes wrap uint64"),
    "data_truncated": (_h_data_truncated, "the data section ends before the tensor"),
    "tensors_overlap": (_h_two_tensors(0, 128), "two tensors overlapping"),
    "tensors_dup_name": (_h_two_tensors(0, 256, name_b="a"), "two tensors named a"),
    "keys_dup": (_h_dup_key, "general.name twice"),
    "alignment_zero": (_h_alignment("uint32", 0), "general.alignment 0"),
    "alignment_not_pow2": (_h_alignment("uint32", 48), "general.alignment 48"),
    "alignment_string": (_h_alignment("string", "32"), "general.alignment a string"),
    "alignment_huge": (_h_alignment("uint64", 1 << 40), "general.alignment 2^40"),
    "truncated_in_kv": (_h_truncated_kv, "the file ends inside a uint32 value"),
    "truncated_in_tensor_info": (_h_truncated_tensor_info, "the file ends inside a tensor info"),
    "tensor_name_nul": (_h_tensor_name_nul, "a tensor name holding a NUL"),
    "header_over_cap": (_h_header_over_cap, "a 10 MiB string then zeros: an 80 MiB header"),
    "empty": (lambda: b"", "an empty file"),
    "magic_only": (lambda: GGUF_MAGIC, "the magic and nothing else"),
}


def hostile_chunks(fn):
    """([(offset, bytes)...], size): a generator returns bytes, or chunks
    and a size for a sparse file (the gaps read as zeros)."""
    r = fn()
    return r if isinstance(r, tuple) else ([(0, r)], len(r))


def write_hostile(outdir):
    os.makedirs(outdir, exist_ok=True)
    for name, (fn, _) in HOSTILE.items():
        chunks, size = hostile_chunks(fn)
        with open(os.path.join(outdir, name + ".gguf"), "wb") as f:
            for off, b in chunks:
                f.seek(off)
                f.write(b)
            f.truncate(size)


# ------------------------------------------------------------------------
# The unit test suite
# ------------------------------------------------------------------------

def all_types_metadata():
    """One key per value type, arrays of every type, nested arrays, edge values."""
    return [
        ("general.architecture", "string", "llama"),
        ("t.uint8", "uint8", 255),
        ("t.int8", "int8", -128),
        ("t.uint16", "uint16", 65535),
        ("t.int16", "int16", -32768),
        ("t.uint32", "uint32", 4294967295),
        ("t.int32", "int32", -2147483648),
        ("t.float32", "float32", 0.1),
        ("t.bool.true", "bool", True),
        ("t.bool.false", "bool", False),
        ("t.string", "string", "héllo, wörld \"quoted\" \\ \t tab"),
        ("t.string.empty", "string", ""),
        ("t.uint64", "uint64", 18446744073709551615),
        ("t.int64", "int64", -9223372036854775808),
        ("t.float64", "float64", 3.141592653589793),
        ("t.float32.neg", "float32", -1.5e-30),
        ("t.arr.uint8", "array", "uint8", [0, 1, 255]),
        ("t.arr.int8", "array", "int8", [-128, 0, 127]),
        ("t.arr.uint16", "array", "uint16", [0, 65535]),
        ("t.arr.int16", "array", "int16", [-32768, 32767]),
        ("t.arr.uint32", "array", "uint32", [0, 4294967295]),
        ("t.arr.int32", "array", "int32", [-2147483648, 2147483647]),
        ("t.arr.float32", "array", "float32", [0.5, -2.25, 1e10]),
        ("t.arr.bool", "array", "bool", [True, False, True]),
        ("t.arr.string", "array", "string", ["a", "", "ünï", "x" * 300]),
        ("t.arr.uint64", "array", "uint64", [0, 18446744073709551615]),
        ("t.arr.int64", "array", "int64", [-9223372036854775808, 9223372036854775807]),
        ("t.arr.float64", "array", "float64", [2.5, -0.125]),
        ("t.arr.empty", "array", "uint32", []),
        ("t.arr.nested", "array", "array", [("uint8", [1, 2]), ("string", ["x", "y"]),
                                              ("array", [("int32", [-7])]), ("float32", [])]),
        ("t.arr.long", "array", "int32", list(range(1000))),
    ]


def all_types_tensors():
    """One tensor per ggml type, two rows of two blocks each."""
    out = []
    for name, (tid, blck, _) in sorted(GGML_TYPES.items(), key=lambda kv: kv[1][0]):
        out.append({"name": "t_%s" % name, "type": name, "shape": [2 * blck, 2]})
    return out


def write_suite(outdir):
    """Every valid file test_gguf.c and the differential test read."""
    os.makedirs(outdir, exist_ok=True)
    p = lambda n: os.path.join(outdir, n)
    write(p("all_types_v3.gguf"), all_types_metadata(), all_types_tensors(), 3, data="pattern")
    write(p("all_types_v2.gguf"), all_types_metadata(), all_types_tensors(), 2, data="zero")
    for a in (1, 8, 64, 4096):
        write(p("align_%d.gguf" % a), [("general.architecture", "string", "llama")],
              [{"name": "a", "type": "f32", "shape": [3]},
               {"name": "b", "type": "q8_0", "shape": [64, 3]},
               {"name": "c", "type": "f16", "shape": [5, 7]}], 3, alignment=a, data="zero")
    write(p("no_tensors.gguf"), [("general.architecture", "string", "llama"),
                                 ("tokenizer.ggml.model", "string", "gpt2")], [], 3)
    write(p("empty.gguf"), [], [], 3)
    write(p("scalar_tensor.gguf"), [], [{"name": "s", "type": "f32", "shape": []},
                                        {"name": "z", "type": "f32", "shape": [0, 4]}], 3,
          data="zero")
    replica(p("replica_q4_k_m.gguf"), ftype="q4_k_m")
    replica(p("replica_8b_q4_k_m.gguf"), n_layers=32, hidden=4096, heads=32, kv_heads=8,
            ffn=14336, vocab=128256, ftype="q4_k_m", name="Llama 3.1 8B replica",
            ctx=131072)
    replica(p("replica_tied_bf16.gguf"), ftype="bf16", tied=True)
    replica(p("replica_split"), ftype="q8_0", n_layers=3, n_shards=3)


def write_corpus(outdir):
    """Small seeds for fuzz_gguf: valid files under 64 KiB and all hostile ones."""
    os.makedirs(outdir, exist_ok=True)
    p = lambda n: os.path.join(outdir, n)
    small_types = all_types_tensors()
    for t in small_types:
        t["shape"] = [t["shape"][0], 1]
    write(p("valid_all_types.gguf"), all_types_metadata()[:-1], small_types, 3, data="zero")
    write(p("valid_v2.gguf"), all_types_metadata()[:8], [], 2)
    write(p("valid_align1.gguf"), [("general.alignment", "uint32", 1)],
          [{"name": "a", "type": "f32", "shape": [3]}, {"name": "b", "type": "f16", "shape": [3]}],
          3, data="zero")
    write(p("valid_replica.gguf"),
          [("general.architecture", "string", "llama"), ("llama.block_count", "uint32", 1)],
          [{"name": n, "shape": sh, "type": "q4_0" if len(sh) > 1 else "f32"}
           for n, sh in replica_tensors(1, 32, 2, 1, 32, 8)], 3, data="zero")
    for name, (fn, _) in HOSTILE.items():
        chunks, size = hostile_chunks(fn)
        if size <= 64 << 10:
            with open(p("hostile_%s.gguf" % name), "wb") as f:
                f.write(chunks[0][1])


def from_spec(spec, out):
    md = [tuple(kv) for kv in spec.get("metadata", [])]
    for kv in md:
        if kv[1] == "array" and kv[2] == "array":
            kv[3][:] = [tuple(x) for x in kv[3]]
    return write(out, md, spec.get("tensors", []), spec.get("version", 3),
                 spec.get("alignment"), spec.get("data", "sparse"))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("spec")
    s.add_argument("spec")
    s.add_argument("out")
    r = sub.add_parser("replica")
    r.add_argument("out", help="file, or PREFIX with --shards > 1")
    r.add_argument("--arch", default="llama")
    r.add_argument("--layers", type=int, default=2)
    r.add_argument("--hidden", type=int, default=256)
    r.add_argument("--heads", type=int, default=4)
    r.add_argument("--kv-heads", type=int, default=2)
    r.add_argument("--ffn", type=int, default=512)
    r.add_argument("--vocab", type=int, default=1024)
    r.add_argument("--ctx", type=int, default=8192)
    r.add_argument("--tied", action="store_true")
    r.add_argument("--ftype", default="q4_k_m", choices=sorted(FTYPE_WEIGHT_TYPE))
    r.add_argument("--no-vocab", action="store_true", help="leave out tokenizer arrays")
    r.add_argument("--version", type=int, default=3)
    r.add_argument("--alignment", type=int)
    r.add_argument("--shards", type=int, default=1)
    r.add_argument("--name", default="Replica")
    for c in ("suite", "hostile", "corpus"):
        sub.add_parser(c).add_argument("dir")
    a = ap.parse_args(argv)
    if a.cmd == "spec":
        with open(a.spec) as f:
            info = from_spec(json.load(f), a.out)
        print(json.dumps({"header_bytes": info["header_bytes"], "size": info["size"]}))
    elif a.cmd == "replica":
        replica(a.out, arch=a.arch, n_layers=a.layers, hidden=a.hidden, heads=a.heads,
                kv_heads=a.kv_heads, ffn=a.ffn, vocab=a.vocab, tied=a.tied, ftype=a.ftype,
                ctx=a.ctx, vocab_arrays=not a.no_vocab, version=a.version,
                alignment=a.alignment, n_shards=a.shards, name=a.name)
    elif a.cmd == "suite":
        write_suite(a.dir)
    elif a.cmd == "hostile":
        write_hostile(a.dir)
    elif a.cmd == "corpus":
        write_corpus(a.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
