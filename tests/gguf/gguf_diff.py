#!/usr/bin/env python3
"""gguf_diff: modelfs's GGUF reader against @huggingface/gguf, a parser
someone else wrote, on the same generated files.

    gguf_diff.py --modelfs BIN --work DIR

Writes the ggufgen.py suite (every value type, every tensor type, versions
2 and 3, alignments, replicas, split shards) plus a file of awkward strings
into DIR/files, installs @huggingface/gguf (the version pinned in
package.json) into DIR/node with npm, runs hfdump.mjs and
`modelfs inspect --json` on every file, and compares: version, counts, the
data section's offset, every metadata key in order with its type, item type
and value (float32 values as float32, 64-bit integers exactly), and every
tensor's name, shape, type id and offset.  Then, through rangeserver.py,
`modelfs inspect --json URL` must print what the local file gives while
fetching at most twice the header (and at least the first MiB).

Exit status 0 when all agree, 1 on any difference (each one printed), 77
(ctest's skip) when node or the npm install is not available.
"""

import argparse
import json
import math
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ggufgen  # noqa: E402

SKIP = 77


def write_files(d):
    os.makedirs(d, exist_ok=True)
    ggufgen.write_suite(d)
    ggufgen.write(os.path.join(d, "strings.gguf"), [
        ("s.emoji", "string", "\U0001F999 llama \u00e9\u4e2d"),
        ("s.nul", "string", b"a\x00b"),
        ("s.invalid", "string", b"\xff\xfeok"),
        ("s.overlong", "string", b"\xc0\xaf"),
        ("s.surrogate", "string", b"\xed\xa0\x80x"),
        ("s.truncated", "string", b"ab\xe2\x82"),
        ("s.controls", "string", "\x01\x1f\x7f\n\r\"\\"),
        ("s.arr", "array", "string", [b"\xff", "", "\u2603", b"x\x00"]),
        ("f.specials", "array", "float32", [float("inf"), float("-inf"), -0.0, 1e-45, 3.4e38]),
        ("f.nan", "float64", float("nan")),
        ("f.tiny", "float64", 5e-324),
        ("key with spaces / and \u00fcnicode", "uint8", 1),
    ], [], 3)
    files = sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".gguf"))
    return files


def npm_install(node_dir):
    if not shutil.which("node") or not shutil.which("npm"):
        return "node or npm is not installed"
    os.makedirs(node_dir, exist_ok=True)
    for n in ("package.json", "hfdump.mjs"):
        shutil.copy(os.path.join(HERE, n), os.path.join(node_dir, n))
    if os.path.isdir(os.path.join(node_dir, "node_modules", "@huggingface", "gguf")):
        return None
    try:
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=node_dir, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "npm install timed out"
    if p.returncode != 0:
        return "npm install failed: " + (p.stderr.strip() or p.stdout.strip())[-2000:]
    return None


def f32(x):
    return struct.pack("<f", x)


def norm_int(v):
    if isinstance(v, dict) and "big" in v:
        return int(v["big"])
    return v


def same_value(mine, theirs, vtype, where, diffs):
    """Compares one value; vtype is the GGUF type of mine (None inside
    nested arrays, where only JSON shapes are compared)."""
    theirs = norm_int(theirs)
    if isinstance(mine, list) or isinstance(theirs, list):
        if not (isinstance(mine, list) and isinstance(theirs, list)) or len(mine) != len(theirs):
            diffs.append("%s: %r != %r" % (where, mine, theirs))
            return
        for i, (a, b) in enumerate(zip(mine, theirs)):
            same_value(a, b, vtype, "%s[%d]" % (where, i), diffs)
        return
    if isinstance(mine, bool) or isinstance(theirs, bool):
        ok = mine is theirs
    elif mine is None or theirs is None:
        ok = mine is None and theirs is None
    elif isinstance(mine, float) or isinstance(theirs, float):
        if float(mine) == 0 and float(theirs) == 0:
            ok = True  # JSON.stringify(-0) is "0": the sign cannot be compared
        elif vtype == "float32":
            ok = f32(float(mine)) == f32(float(theirs)) or \
                (math.isnan(mine) and math.isnan(theirs))
        else:
            ok = float(mine) == float(theirs)
    else:
        ok = mine == theirs
    if not ok:
        diffs.append("%s: modelfs %r, @huggingface/gguf %r" % (where, mine, theirs))


def compare(path, mine, theirs, diffs):
    name = os.path.basename(path)
    if not theirs.get("ok"):
        diffs.append("%s: @huggingface/gguf failed: %s" % (name, theirs.get("error")))
        return 0, 0
    for k_mine, k_theirs in (("version", "version"), ("tensor_count", "tensor_count"),
                             ("kv_count", "kv_count"), ("data_offset", "data_offset")):
        if int(mine[k_mine]) != int(theirs[k_theirs]):
            diffs.append("%s: %s %s != %s" % (name, k_mine, mine[k_mine], theirs[k_theirs]))
    mm, tm = mine["metadata"], theirs["metadata"]
    if [m["key"] for m in mm] != [m["key"] for m in tm]:
        diffs.append("%s: keys differ:\n  %s\n  %s" % (name, [m["key"] for m in mm],
                                                      [m["key"] for m in tm]))
        return 0, 0
    for a, b in zip(mm, tm):
        where = "%s: key '%s'" % (name, a["key"])
        if a["type"] != b["type"] or a.get("item_type") != b.get("item_type"):
            diffs.append("%s: type %s/%s != %s/%s" % (where, a["type"], a.get("item_type"),
                                                      b["type"], b.get("item_type")))
            continue
        if a["type"] == "array" and a["length"] != len(b["value"]):
            diffs.append("%s: length %d != %d" % (where, a["length"], len(b["value"])))
            continue
        vt = a["item_type"] if a["type"] == "array" else a["type"]
        same_value(a["value"], b["value"], vt, where, diffs)
    mt, tt = mine["tensors"], theirs["tensors"]
    if len(mt) != len(tt):
        diffs.append("%s: %d tensors != %d" % (name, len(mt), len(tt)))
        return len(mm), 0
    for a, b in zip(mt, tt):
        where = "%s: tensor '%s'" % (name, a["name"])
        if (a["name"], a["type_id"], a["offset"], len(a["shape"])) != \
                (b["name"], b["type_id"], int(b["offset"]), b["n_dims"]) or \
                [int(x) for x in b["shape"]] != a["shape"]:
            diffs.append("%s: modelfs %r, @huggingface/gguf %r" % (where, a, b))
    return len(mm), len(mt)


def strip_reading(doc):
    return {k: v for k, v in doc.items() if k not in ("file", "bytes_read", "requests")}


def remote_check(modelfs, files_dir, diffs):
    """`modelfs inspect --json URL` (range requests through rangeserver.py)
    must print what the local file gives, fetching only the header."""
    srv = subprocess.Popen([sys.executable, os.path.join(HERE, "rangeserver.py"), files_dir,
                            os.path.join(files_dir, "..", "requests.log")],
                           stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        for name in ("replica_8b_q4_k_m.gguf", "replica_split-00001-of-00003.gguf",
                     "all_types_v2.gguf"):
            local = subprocess.run([modelfs, "inspect", "--json", os.path.join(files_dir, name)],
                                   capture_output=True, timeout=600)
            url = "http://127.0.0.1:%d/f/%s?sig=x" % (port, name)
            remote = subprocess.run([modelfs, "inspect", "--json", url], capture_output=True,
                                    timeout=600)
            if local.returncode or remote.returncode:
                diffs.append("%s: inspect of the file or URL failed: %s" %
                             (name, remote.stderr.decode(errors="replace")))
                continue
            lj, rj = json.loads(local.stdout), json.loads(remote.stdout)
            if strip_reading(lj) != strip_reading(rj):
                diffs.append("%s: inspect URL differs from inspect FILE" % name)
            if "sig=" in rj["file"]:
                diffs.append("%s: the URL's query string was printed" % name)
            if rj["bytes_read"] > max(2 * rj["header_bytes"], 1 << 20):
                diffs.append("%s: %d bytes fetched for a %d-byte header" %
                             (name, rj["bytes_read"], rj["header_bytes"]))
            print("remote %s: header %d bytes, fetched %d bytes in %d requests, file %d bytes" %
                  (name, rj["header_bytes"], rj["bytes_read"], rj["requests"], rj["size_bytes"]))
    finally:
        srv.terminate()
        srv.wait()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modelfs", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args(argv)
    a.work = os.path.abspath(a.work)

    files = write_files(os.path.join(a.work, "files"))
    node_dir = os.path.join(a.work, "node")
    why = npm_install(node_dir)
    if why:
        print("SKIP: the differential test needs @huggingface/gguf: %s" % why)
        return SKIP
    p = subprocess.run(["node", os.path.join(node_dir, "hfdump.mjs")] + files,
                       cwd=node_dir, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print("hfdump.mjs failed:\n" + p.stderr)
        return 1
    theirs = {r["file"]: r for r in json.loads(p.stdout)}

    diffs = []
    n_keys = n_tensors = 0
    for f in files:
        q = subprocess.run([a.modelfs, "inspect", "--json", f], capture_output=True,
                           timeout=600)
        if q.returncode != 0:
            diffs.append("%s: modelfs inspect failed: %s" % (f, q.stderr.decode(errors="replace")))
            continue
        mine = json.loads(q.stdout)
        k, t = compare(f, mine, theirs[f], diffs)
        n_keys += k
        n_tensors += t
    remote_check(a.modelfs, os.path.dirname(files[0]), diffs)
    for d in diffs:
        print("DIFF " + d)
    print("compared %d files, %d metadata keys, %d tensors: %s" %
          (len(files), n_keys, n_tensors, "%d differences" % len(diffs) if diffs else "identical"))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
