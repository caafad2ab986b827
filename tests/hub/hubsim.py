#!/usr/bin/env python3
"""hubsim: an imitation of the Hugging Face Hub for the modelfs tests.

The tests need a hub they control: repos whose every byte they know, errors
they can ask for, faults they can switch on while a client is reading, and a
record of every request so they can count what a client fetched.  hubsim is
that hub, in one file of standard-library Python, so that it runs wherever
the tests run (no PyPI on the test machines).

What it serves, on 127.0.0.1 at an ephemeral port (see README.md for the
manifest that describes the repos):

  GET  /api/models/ORG/REPO[/revision/REV][?blobs=true][&expand[]=K]
  GET  /api/models/ORG/REPO/tree/REV[/PATH][?recursive=true][&expand=true]
       paginated with a Link header <...&cursor=C>; rel="next"
  GET  /api/models/ORG/REPO/refs
  HEAD/GET /ORG/REPO/resolve/REV/PATH
       small files directly (ETag = git blob id), LFS files by a 302 to
       /lfs-cdn/SHA256?key=..&expires=..&signature=.. on the same server
       (X-Linked-Etag, X-Linked-Size, X-Repo-Commit), single ranges (206,
       416), renamed repos by a 307 to a relative Location
  errors with X-Error-Code / X-Error-Message and {"error": ...}:
       RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo, and the
       401 "Invalid credentials in Authorization header" for a bad token.

How the real Hub answers, and where that was read (huggingface_hub's
utils/_http.py hf_raise_for_status and file_download.py
get_hf_file_metadata; huggingface/datasets PR 4472; huggingface_hub PR
2847): an anonymous request for a missing or private repo gets 401 with
X-Error-Code RepoNotFound ("Invalid username or password."); the same with a
valid token that has no access gets 404 RepoNotFound; a gated repo's files
answer 401 GatedRepo without a token and 403 GatedRepo with a token that was
not granted access, while its model info and tree stay public; an unknown
token gets 401 "Invalid credentials in Authorization header" even on a public
repo.  Clients read X-Repo-Commit, then X-Linked-Etag before ETag and
X-Linked-Size before Content-Length, because the 302 of an LFS file carries
the length of its own short body.

Faults are switched at start (--faults, or "faults" in the manifest) and at
run time by POST /_sim/faults, on the main port or on a control port that
stays up while the hub plays dead: latency per response and per new
connection, bandwidth per connection and shared, 5xx (probability with a
seed, or every Nth), 429 bursts with Retry-After, connections cut after N body
bytes (FIN or RST), stalls in the middle of a body, flipped bytes in chosen
ranges of a file, and a hub that refuses connections, resets them or answers
503 to everything.

Every request (but /_sim/*) is one JSON line in the request log (--log FILE,
and GET /_sim/log): time, connection id, method, path, range, status,
Content-Length, body bytes handed to the kernel, duration, faults applied.
GET /_sim/stats sums them per status, kind, path and file, where a file's
bytes count both the resolve and the CDN requests.

Big files are never in memory: a file is a few segments of real bytes (a
GGUF header, say) over a fill of zeros or of a seeded pattern that is
computed for the range asked, and files on disk are read with pread.
sha256 digests of big files are computed once in a background thread and
kept in a cache directory keyed by what the file is made of.

Run:  hubsim.py --manifest M.json [--port-file F] [--log F] [--max-lifetime S]
prints "READY <port> <control_port>" on stdout once both ports listen, and
stops by itself after --max-lifetime seconds, when its parent dies, on
SIGTERM, or on POST /_sim/shutdown.  Tests use class HubProcess below.
"""

import argparse
import base64
import bisect
import copy
import hashlib
import hmac
import http.server
import importlib.util
import json
import math
import mimetypes
import os
import random
import re
import secrets
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
HUBSIM_PATH = os.path.abspath(__file__)
DEFAULT_GGUFGEN = os.path.normpath(os.path.join(HERE, "..", "gguf", "ggufgen.py"))

CHUNK = 1 << 20
ZEROS = memoryview(bytes(CHUNK))
PATTERN_STEP = 7919
LFS_EXTENSIONS = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5",
                  ".msgpack", ".npz", ".zip", ".tar", ".gz", ".ot", ".tflite")
LFS_MIN_SIZE = 10 << 20
MEM_EXTENTS_MAX = 256 << 20
DISK_CACHE_MIN = 64 << 20
DEFAULT_LIFETIME = 900
GATED_VALUES = (False, "auto", "manual")
DOWN_VALUES = (False, "refuse", "reset", "503")
CONTROL_NOT_LOGGED = "_sim"


class ManifestError(Exception):
    pass


class Aborted(Exception):
    """The connection was cut on purpose (a fault); nothing more to send."""


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"


def header_safe(s):
    return "".join(c if " " <= c <= "~" else "?" for c in str(s))


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256, size):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (sha256, size)).encode()


def qbool(v):
    return str(v).lower() in ("1", "true", "yes", "on")


_XOR_TABLES = {}


def xor_table(x):
    t = _XOR_TABLES.get(x)
    if t is None:
        t = bytes(i ^ x for i in range(256))
        _XOR_TABLES[x] = t
    return t


_GGUFGEN = None
_GGUFGEN_PATH = None


def ggufgen():
    """tests/gguf/ggufgen.py, imported by path (HUBSIM_GGUFGEN overrides)."""
    global _GGUFGEN
    if _GGUFGEN is None:
        path = _GGUFGEN_PATH or os.environ.get("HUBSIM_GGUFGEN") or DEFAULT_GGUFGEN
        if not os.path.exists(path):
            raise ManifestError("ggufgen not found at %s" % path)
        spec = importlib.util.spec_from_file_location("ggufgen", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _GGUFGEN = mod
    return _GGUFGEN


# ------------------------------------------------------------------------
# File contents: segments of real bytes over a computed fill
# ------------------------------------------------------------------------

_PATTERN_BASES = {}
_PATTERN_LOCK = threading.Lock()


def pattern_base(seed):
    """The seeded 1 MiB block, twice over: a rotation by k is [k, k + 1 MiB)."""
    with _PATTERN_LOCK:
        b = _PATTERN_BASES.get(seed)
        if b is None:
            one = random.Random(seed).randbytes(CHUNK)
            b = memoryview(one + one)
            _PATTERN_BASES[seed] = b
        return b


class Segment:
    """Real bytes at [start, end): in memory, or in a file on disk."""

    def __init__(self, start, end, data=None, path=None, base=0):
        self.start = start
        self.end = end
        self.data = memoryview(data) if data is not None else None
        self.path = path
        self.base = base
        self._fd = None
        self._lock = threading.Lock()

    def fd(self):
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            return self._fd

    def read(self, off, n):
        if self.data is not None:
            return self.data[off:off + n]
        b = os.pread(self.fd(), n, self.base + off)
        if len(b) < n:
            b += bytes(n - len(b))
        return b

    def describe(self):
        if self.data is not None:
            return [self.start, self.end, "mem", hashlib.sha256(self.data).hexdigest()]
        st = os.stat(self.path)
        return [self.start, self.end, "disk", os.path.realpath(self.path), self.base,
                st.st_size, st.st_mtime_ns, st.st_ino]


class Content:
    """The bytes of one file.  Outside its segments a file holds its fill:
    zeros, or "pattern": block i of 1 MiB is a seeded random block rotated
    by i * 7919, so no two blocks of a file (below 1 TiB) are alike and a
    byte served from the wrong offset shows."""

    def __init__(self, size, segments=(), fill="zeros", seed=0):
        if fill not in ("zeros", "pattern"):
            raise ManifestError("fill must be zeros or pattern, not %r" % (fill,))
        self.size = int(size)
        segs = []
        for s in sorted(segments, key=lambda s: s.start):
            if s.start >= self.size:
                continue
            if s.end > self.size:
                s.end = self.size
                if s.data is not None:
                    s.data = s.data[:s.end - s.start]
            if segs and s.start < segs[-1].end:
                raise ManifestError("overlapping content segments")
            if s.end > s.start:
                segs.append(s)
        self.segs = segs
        self.starts = [s.start for s in segs]
        self.fill = fill
        self.seed = int(seed)
        desc = ["hubsim-content-1", self.size, fill, self.seed] + [s.describe() for s in segs]
        self.key = hashlib.sha256(json.dumps(desc).encode()).hexdigest()

    def fill_bytes(self, pos, n):
        if self.fill == "zeros":
            return ZEROS[:min(n, CHUNK)]
        blk, r = divmod(pos, CHUNK)
        n = min(n, CHUNK - r)
        k = (blk * PATTERN_STEP) % CHUNK + r
        return pattern_base(self.seed)[k:k + n]

    def chunks(self, start, end):
        """(offset, bytes) pieces of at most 1 MiB covering [start, end)."""
        pos = start
        while pos < end:
            i = bisect.bisect_right(self.starts, pos) - 1
            if i >= 0 and pos < self.segs[i].end:
                seg = self.segs[i]
                n = min(end, seg.end, pos + CHUNK) - pos
                data = seg.read(pos - seg.start, n)
            else:
                nxt = self.segs[i + 1].start if i + 1 < len(self.segs) else self.size
                data = self.fill_bytes(pos, min(end, nxt) - pos)
            yield pos, data
            pos += len(data)

    def read(self, start, end):
        return b"".join(bytes(d) for _, d in self.chunks(start, end))


def mem_content(data, size=None, fill="zeros", seed=0):
    size = len(data) if size is None else int(size)
    return Content(size, [Segment(0, min(len(data), size), data=bytes(data[:size]))], fill, seed)


def sparse_file_content(path, fill="zeros", seed=0, size=None):
    """A file whose data extents are read into memory when they are small
    (a GGUF written with a hole for its data), else served from disk."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fsize = os.fstat(fd).st_size
        extents = []
        off = 0
        try:
            while off < fsize:
                try:
                    d = os.lseek(fd, off, os.SEEK_DATA)
                except OSError:
                    break
                h = os.lseek(fd, d, os.SEEK_HOLE)
                extents.append((d, h))
                off = h
        except (AttributeError, OSError):
            extents = [(0, fsize)]
        total = sum(h - d for d, h in extents)
        size = fsize if size is None else int(size)
        if total > MEM_EXTENTS_MAX:
            return Content(size, [Segment(0, min(fsize, size), path=path)], fill, seed), False
        segs = []
        for d, h in extents:
            buf = bytearray()
            while len(buf) < h - d:
                b = os.pread(fd, h - d - len(buf), d + len(buf))
                if not b:
                    break
                buf += b
            segs.append(Segment(d, d + len(buf), data=bytes(buf)))
        return Content(size, segs, fill, seed), True
    finally:
        os.close(fd)


# ------------------------------------------------------------------------
# Digests: sha256 (the LFS oid) and git blob ids, computed once
# ------------------------------------------------------------------------

class Digests:
    def __init__(self, cache_dir):
        self.cache_dir = cache_dir
        self.done = {}
        self.locks = {}
        self.lock = threading.Lock()
        self.queue = []
        self.cv = threading.Condition(self.lock)
        threading.Thread(target=self._prewarm, name="digests", daemon=True).start()

    def _lock_for(self, k):
        with self.lock:
            lk = self.locks.get(k)
            if lk is None:
                lk = self.locks[k] = threading.Lock()
            return lk

    def known(self, content, algo="sha256"):
        return self.done.get((content.key, algo))

    def get(self, content, algo="sha256"):
        k = (content.key, algo)
        v = self.done.get(k)
        if v is not None:
            return v
        with self._lock_for(k):
            v = self.done.get(k)
            if v is None:
                v = self._load(k, content) or self._compute(content, algo)
                self._store(k, content, v)
                self.done[k] = v
        return v

    def _cache_path(self, k):
        return os.path.join(self.cache_dir, "%s.%s" % k)

    def _load(self, k, content):
        if not self.cache_dir or content.size < DISK_CACHE_MIN:
            return None
        try:
            with open(self._cache_path(k)) as f:
                v = f.read().strip()
            return v if re.fullmatch(r"[0-9a-f]{40,64}", v) else None
        except OSError:
            return None

    def _store(self, k, content, v):
        if not self.cache_dir or content.size < DISK_CACHE_MIN:
            return
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            tmp = self._cache_path(k) + ".%d.tmp" % os.getpid()
            with open(tmp, "w") as f:
                f.write(v + "\n")
            os.replace(tmp, self._cache_path(k))
        except OSError:
            pass

    @staticmethod
    def _compute(content, algo):
        if algo == "sha256":
            h = hashlib.sha256()
        else:
            h = hashlib.sha1(b"blob %d\0" % content.size)
        for _, data in content.chunks(0, content.size):
            h.update(data)
        return h.hexdigest()

    def prewarm(self, items):
        """Computes (content, algo) items in the background, smallest first."""
        with self.cv:
            self.queue.extend(items)
            self.queue.sort(key=lambda x: x[0].size, reverse=True)
            self.cv.notify()

    def _prewarm(self):
        while True:
            with self.cv:
                while not self.queue:
                    self.cv.wait()
                c, algo = self.queue.pop()
            try:
                self.get(c, algo)
            except Exception:  # noqa: BLE001 - reported again when a request needs it
                pass


# ------------------------------------------------------------------------
# Repos, revisions, files
# ------------------------------------------------------------------------

class FileEntry:
    def __init__(self, repo_id, path, content, lfs, sha256=None):
        self.repo_id = repo_id
        self.path = path
        self.key = repo_id + "/" + path
        self.content = content
        self.size = content.size
        self.lfs = lfs
        self.sha_override = sha256
        self.digests = None

    def sha256(self):
        if self.sha_override == "fake":
            return hashlib.sha256(b"hubsim-fake\n" + self.content.key.encode()).hexdigest()
        if self.sha_override:
            return self.sha_override
        return self.digests.get(self.content)

    def sha256_known(self):
        if self.sha_override:
            return self.sha256()
        return self.digests.known(self.content)

    def pointer(self):
        return lfs_pointer(self.sha256(), self.size)

    def blob_oid(self):
        if self.lfs:
            return git_blob_sha1(self.pointer())
        return self.digests.get(self.content, "gitblob")


class Revision:
    def __init__(self, sha, branches, tags, files, date, title):
        self.sha = sha
        self.branches = list(branches)
        self.tags = list(tags)
        self.files = files
        self.date = date
        self.title = title
        self.dirs = set()
        for p in files:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                self.dirs.add("/".join(parts[:i]))


class Repo:
    def __init__(self, rid, private, gated, tokens, info, created, revisions, default_branch):
        self.id = rid
        self.private = private
        self.gated = gated
        self.tokens = set(tokens)
        self.info = info
        self.created = created
        self.revisions = revisions
        self.default_branch = default_branch

    def find_rev(self, name):
        for r in self.revisions:
            if name in r.branches or name in r.tags:
                return r
        for r in self.revisions:
            if name == r.sha:
                return r
        return None

    def ref_names(self):
        out = set()
        for r in self.revisions:
            out.update(r.branches)
            out.update(r.tags)
        return out

    def split_rev(self, parts):
        """(revision name, rest) from path segments; a ref with slashes
        (refs/pr/1) may come encoded as one segment or as several."""
        names = self.ref_names()
        for k in range(len(parts), 1, -1):
            cand = "/".join(parts[:k])
            if cand in names:
                return cand, parts[k:]
        return (parts[0], parts[1:]) if parts else ("", [])


MANIFEST_KEYS = {"tokens", "tree_page_size", "tree_page_size_expand", "cdn", "renames",
                 "faults", "max_lifetime", "repos"}
REPO_KEYS = {"id", "private", "gated", "tokens", "info", "created", "files", "dir", "sha",
             "branches", "tags", "default_branch", "revisions"}
REVISION_KEYS = {"files", "dir", "base", "delete", "branches", "refs", "tags", "sha", "date",
                 "title"}
SOURCE_KEYS = ("text", "base64", "hex", "json", "file", "gguf", "gguf_replica",
               "gguf_hostile", "header")
FILE_KEYS = set(SOURCE_KEYS) | {"path", "in_memory", "size", "fill", "seed", "lfs", "sha256"}


def check_keys(what, d, allowed):
    if not isinstance(d, dict):
        raise ManifestError("%s must be a JSON object" % what)
    unknown = set(d) - allowed
    if unknown:
        raise ManifestError("%s: unknown keys %s" % (what, ", ".join(sorted(unknown))))


def default_lfs(path, size):
    return path.lower().endswith(LFS_EXTENSIONS) or size >= LFS_MIN_SIZE


def _decode_source(spec, base_dir):
    """Bytes of an in-memory source, or None when spec has none."""
    if "text" in spec:
        return spec["text"].encode("utf-8")
    if "base64" in spec:
        return base64.b64decode(spec["base64"])
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "json" in spec:
        return (json.dumps(spec["json"], indent=2) + "\n").encode("utf-8")
    if "gguf" in spec:
        return _gguf_build(spec["gguf"])[0]
    if "gguf_hostile" in spec:
        return _gguf_hostile(spec["gguf_hostile"])
    if "file" in spec:
        with open(_resolve_path(spec["file"], base_dir), "rb") as f:
            return f.read()
    return None


def _resolve_path(p, base_dir):
    return p if os.path.isabs(p) else os.path.join(base_dir, p)


def _gguf_build(g):
    gen = ggufgen()
    md = []
    for kv in g.get("metadata", []):
        kv = list(kv)
        if len(kv) > 3 and kv[1] == "array" and kv[2] == "array":
            kv[3] = [tuple(x) for x in kv[3]]
        md.append(tuple(kv))
    header, _tensors, data_size = gen.build(md, g.get("tensors", []), g.get("version", 3),
                                            g.get("alignment"))
    return header, data_size


def _gguf_hostile(name):
    gen = ggufgen()
    if name not in gen.HOSTILE:
        raise ManifestError("unknown gguf_hostile case %r" % (name,))
    fn = gen.HOSTILE[name]
    fn = fn[0] if isinstance(fn, tuple) else fn
    return fn()


def load_file_specs(repo_id, specs, base_dir, workdir):
    """FileEntry objects for a list of manifest file specs."""
    out = []
    for spec in specs:
        check_keys("%s: file %s" % (repo_id, spec.get("path") if isinstance(spec, dict) else spec),
                   spec, FILE_KEYS)
        if not isinstance(spec.get("path"), str):
            raise ManifestError("%s: a file without a path" % repo_id)
        sources = [k for k in SOURCE_KEYS if k in spec]
        if len(sources) > 1:
            raise ManifestError("%s/%s: more than one content source (%s)"
                                % (repo_id, spec["path"], ", ".join(sources)))
        path = spec["path"].strip("/")
        if not path or ".." in path.split("/"):
            raise ManifestError("%s: bad file path %r" % (repo_id, spec["path"]))
        fill = spec.get("fill", "zeros")
        seed = spec.get("seed", 0)
        made = []
        if "gguf_replica" in spec:
            made = _replica_files(path, spec["gguf_replica"], workdir, fill, seed)
        elif "file" in spec and not spec.get("in_memory"):
            p = _resolve_path(spec["file"], base_dir)
            st = os.stat(p)
            size = int(spec.get("size", st.st_size))
            made = [(path, Content(size, [Segment(0, min(st.st_size, size), path=p)], fill, seed))]
        else:
            head_spec = spec.get("header", spec)
            size = spec.get("size")
            if "gguf" in head_spec:
                head, data_size = _gguf_build(head_spec["gguf"])
                if size is None:
                    size = len(head) + data_size
            else:
                head = _decode_source(head_spec, base_dir)
            if head is None:
                if size is None:
                    raise ManifestError("%s/%s: no content and no size" % (repo_id, path))
                made = [(path, Content(int(size), [], fill, seed))]
            else:
                made = [(path, mem_content(head, size, fill, seed))]
        for p, content in made:
            lfs = spec.get("lfs")
            if lfs is None:
                lfs = default_lfs(p, content.size)
            sha = spec.get("sha256")
            if sha not in (None, "auto", "fake") and not re.fullmatch(r"[0-9a-f]{64}", sha):
                raise ManifestError("%s/%s: sha256 must be 64 hex digits, auto or fake" % (repo_id, p))
            out.append(FileEntry(repo_id, p, content, bool(lfs), None if sha == "auto" else sha))
    return out


def _replica_files(path, kw, workdir, fill, seed):
    """ggufgen.replica() into a scratch directory; one file, or the shards
    PATH-0000K-of-0000N.gguf when n_shards > 1."""
    gen = ggufgen()
    kw = dict(kw)
    kw.pop("tensor_type", None)
    n = int(kw.get("n_shards", 1))
    d = tempfile.mkdtemp(prefix="replica-", dir=workdir)
    target = os.path.join(d, "r.gguf" if n == 1 else "r")
    res = gen.replica(target, **kw)
    if n == 1:
        pairs = [(path, target)]
    else:
        pairs = [("%s-%05d-of-%05d.gguf" % (path, k + 1, n), p) for k, p in enumerate(res)]
    out = []
    for repo_path, disk in pairs:
        content, in_mem = sparse_file_content(disk, fill, seed)
        if in_mem:
            os.remove(disk)
        out.append((repo_path, content))
    return out


def _dir_specs(d):
    specs = []
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for f in sorted(files):
            full = os.path.join(root, f)
            specs.append({"path": os.path.relpath(full, d).replace(os.sep, "/"), "file": full})
    return specs


def build_repo(spec, base_dir, workdir, now):
    check_keys("repo %s" % (spec.get("id") if isinstance(spec, dict) else spec), spec, REPO_KEYS)
    rid = spec.get("id")
    if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", rid):
        raise ManifestError("repo id must be ORG/NAME, not %r" % (rid,))
    gated = spec.get("gated", False)
    if gated is True:
        gated = "manual"
    if gated not in GATED_VALUES:
        raise ManifestError("%s: gated must be false, auto or manual" % rid)
    created = spec.get("created", iso(now))
    rev_specs = spec.get("revisions")
    if rev_specs is None:
        files = list(spec.get("files", []))
        if "dir" in spec:
            files = _dir_specs(_resolve_path(spec["dir"], base_dir)) + files
        rev_specs = [{"files": files, "sha": spec.get("sha"),
                      "branches": spec.get("branches", [spec.get("default_branch", "main")]),
                      "tags": spec.get("tags", [])}]
    revisions = []
    for i, rs in enumerate(rev_specs):
        check_keys("%s: revision %d" % (rid, i), rs, REVISION_KEYS)
        files = {}
        if rs.get("base") is not None:
            base = None
            for r in revisions:
                if rs["base"] in r.branches or rs["base"] in r.tags or rs["base"] == r.sha:
                    base = r
            if base is None:
                raise ManifestError("%s: revision base %r comes after it or does not exist"
                                    % (rid, rs["base"]))
            files = dict(base.files)
        fspecs = list(rs.get("files", []))
        if "dir" in rs:
            fspecs = _dir_specs(_resolve_path(rs["dir"], base_dir)) + fspecs
        for e in load_file_specs(rid, fspecs, base_dir, workdir):
            files[e.path] = e
        for p in rs.get("delete", []):
            files.pop(p, None)
        branches = rs.get("branches", rs.get("refs", []))
        tags = rs.get("tags", [])
        sha = rs.get("sha")
        if not sha:
            ident = json.dumps([rid, i, branches, tags, sorted((p, e.size) for p, e in files.items())])
            sha = hashlib.sha1(ident.encode()).hexdigest()
        if not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise ManifestError("%s: a commit sha is 40 lowercase hex digits" % rid)
        revisions.append(Revision(sha, branches, tags, files, rs.get("date", iso(now)),
                                  rs.get("title", "Upload %d files" % len(fspecs))))
    return Repo(rid, bool(spec.get("private", False)), gated, spec.get("tokens", []),
                dict(spec.get("info", {})), created, revisions,
                spec.get("default_branch", "main"))


class Hub:
    """The repos and the settings of the API."""

    def __init__(self, manifest, base_dir, workdir, digests):
        check_keys("manifest", manifest, MANIFEST_KEYS)
        check_keys("cdn", manifest.get("cdn", {}), {"host", "ttl", "reject_auth"})
        self.lock = threading.Lock()
        self.base_dir = base_dir
        self.workdir = workdir
        self.digests = digests
        self.repos = {}
        self.tokens = set(manifest.get("tokens", []))
        self.renames = dict(manifest.get("renames", {}))
        self.tree_page_size = int(manifest.get("tree_page_size", 1000))
        self.tree_page_size_expand = int(manifest.get("tree_page_size_expand", 50))
        cdn = manifest.get("cdn", {})
        self.cdn_host = cdn.get("host")
        self.cdn_ttl = float(cdn.get("ttl", 3600))
        self.cdn_reject_auth = bool(cdn.get("reject_auth", False))
        self.secret = secrets.token_bytes(16)
        self.cdn_map = {}
        self.update(manifest.get("repos", []), base_dir=base_dir)

    def update(self, repo_specs, remove=(), renames=None, base_dir=None):
        now = time.time()
        built = [build_repo(s, base_dir or self.base_dir, self.workdir, now) for s in repo_specs]
        with self.lock:
            for rid in remove:
                self.repos.pop(rid, None)
            for r in built:
                self.repos[r.id] = r
            if renames is not None:
                self.renames.update(renames)
                for k in [k for k, v in self.renames.items() if v is None]:
                    del self.renames[k]
        todo = []
        for r in built:
            for rev in r.revisions:
                for e in rev.files.values():
                    e.digests = self.digests
                    if not e.lfs:
                        todo.append((e.content, "gitblob"))
                    elif e.sha_override is None:
                        todo.append((e.content, "sha256"))
        self.digests.prewarm(todo)
        return [r.id for r in built]

    def valid_token(self, tok):
        if tok in self.tokens:
            return True
        with self.lock:
            return any(tok in r.tokens for r in self.repos.values())

    def repo(self, rid):
        with self.lock:
            return self.repos.get(rid)

    def model_info(self, repo, rev, blobs, expand):
        files = [rev.files[p] for p in sorted(rev.files)]
        has_gguf = any(e.path.lower().endswith(".gguf") for e in files)
        siblings = []
        for e in files:
            s = {"rfilename": e.path}
            if blobs:
                s["blobId"] = e.blob_oid()
                s["size"] = e.size
                if e.lfs:
                    s["lfs"] = {"sha256": e.sha256(), "size": e.size,
                                "pointerSize": len(e.pointer())}
            siblings.append(s)
        d = {
            "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24],
            "id": repo.id,
            "modelId": repo.id,
            "author": repo.id.split("/")[0],
            "sha": rev.sha,
            "lastModified": rev.date,
            "createdAt": repo.created,
            "private": repo.private,
            "disabled": False,
            "gated": repo.gated,
            "downloads": 0,
            "likes": 0,
            "tags": ["gguf"] if has_gguf else [],
            "siblings": siblings,
            "spaces": [],
            "usedStorage": sum(e.size for e in files),
        }
        if has_gguf:
            d["library_name"] = "gguf"
        d.update(copy.deepcopy(repo.info))
        if expand:
            keep = {"_id", "id"} | set(expand)
            d = {k: v for k, v in d.items() if k in keep}
        return d

    def tree(self, rev, path, recursive, expand):
        """Entries under path (sorted by path), or None if it is no directory."""
        if path and path not in rev.dirs:
            return None
        prefix = path + "/" if path else ""

        def wanted(p):
            if not p.startswith(prefix):
                return False
            return recursive or "/" not in p[len(prefix):]

        out = []
        for d in sorted(x for x in rev.dirs if wanted(x)):
            e = {"type": "directory", "oid": hashlib.sha1(("tree\0%s\0%s" % (rev.sha, d)).encode()).hexdigest(),
                 "size": 0, "path": d}
            out.append(e)
        for p in sorted(x for x in rev.files if wanted(x)):
            f = rev.files[p]
            e = {"type": "file", "oid": f.blob_oid(), "size": f.size, "path": p}
            if f.lfs:
                e["lfs"] = {"oid": f.sha256(), "size": f.size, "pointerSize": len(f.pointer())}
            out.append(e)
        out.sort(key=lambda e: e["path"])
        if expand:
            for e in out:
                e["lastCommit"] = {"id": rev.sha, "title": rev.title, "date": rev.date}
        return out

    def sign(self, sha, expires, key):
        msg = ("%s\n%s\n%s" % (sha, expires, key)).encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:40]

    def cdn_url(self, host, entry):
        sha = entry.sha256()
        expires = str(int(time.time() + self.cdn_ttl))
        with self.lock:
            self.cdn_map.setdefault(sha, {})[entry.key] = entry
        q = urllib.parse.urlencode({"key": entry.key, "expires": expires,
                                    "signature": self.sign(sha, expires, entry.key)})
        return "http://%s/lfs-cdn/%s?%s" % (host, sha, q)

    def cdn_entry(self, sha, key):
        with self.lock:
            return self.cdn_map.get(sha, {}).get(key)

    def summary(self, wait):
        with self.lock:
            repos = list(self.repos.values())
        out = []
        for r in repos:
            revs = []
            for rev in r.revisions:
                files = []
                for p in sorted(rev.files):
                    e = rev.files[p]
                    sha = e.sha256() if (wait or not e.lfs) else e.sha256_known()
                    files.append({"path": p, "size": e.size, "lfs": e.lfs, "sha256": sha,
                                  "key": e.key})
                revs.append({"sha": rev.sha, "branches": rev.branches, "tags": rev.tags,
                             "files": files})
            out.append({"id": r.id, "private": r.private, "gated": r.gated,
                        "revisions": revs})
        return {"repos": out, "renames": dict(self.renames)}


# ------------------------------------------------------------------------
# Faults
# ------------------------------------------------------------------------

class Rule:
    """One switchable fault.  Filters: match (regex searched in the request
    path), kinds (info tree refs resolve cdn other), methods.  Firing: every
    Nth eligible request, or with probability rate from a seeded generator,
    at most times (alias count) times."""

    KEYS = {"match", "kinds", "methods", "every", "rate", "seed", "times", "count"}
    EXTRA = {
        "errors": {"status", "retry_after"},
        "throttle": {"retry_after"},
        "drop": {"after_bytes", "reset"},
        "stall": {"after_bytes", "seconds"},
        "corrupt": {"file", "sha256", "ranges", "offsets", "xor"},
    }

    def __init__(self, name, spec):
        if not isinstance(spec, dict):
            raise ValueError("%s: a rule is a JSON object" % name)
        unknown = set(spec) - self.KEYS - self.EXTRA[name]
        if unknown:
            raise ValueError("%s: unknown keys %s" % (name, sorted(unknown)))
        self.name = name
        self.spec = dict(spec)
        self.match = re.compile(spec["match"]) if spec.get("match") else None
        self.kinds = set(spec.get("kinds") or ())
        self.methods = {m.upper() for m in spec.get("methods") or ()}
        self.every = int(spec.get("every") or 0)
        self.rate = float(spec.get("rate", 1.0))
        times = spec.get("times", spec.get("count"))
        self.times = None if times is None else int(times)
        self.rng = random.Random(spec.get("seed", 0))
        self.seen = 0
        self.fired = 0
        if name == "errors":
            self.status = int(spec.get("status", 503))
            if not 400 <= self.status <= 599:
                raise ValueError("errors: status must be 4xx or 5xx")
        self.after = int(spec.get("after_bytes", 0))
        self.file = re.compile(spec["file"]) if spec.get("file") else None
        ranges = [tuple(int(x) for x in r) for r in spec.get("ranges", [])]
        ranges += [(int(o), int(o) + 1) for o in spec.get("offsets", [])]
        if name == "corrupt" and not ranges:
            raise ValueError("corrupt: give ranges [[start, end)] or offsets")
        self.ranges = ranges
        self.xor = int(spec.get("xor", 0xFF)) & 0xFF or 0xFF

    def applies(self, method, path, kind):
        if self.match and not self.match.search(path):
            return False
        if self.kinds and kind not in self.kinds:
            return False
        if self.methods and method not in self.methods:
            return False
        return True

    def fire(self):
        self.seen += 1
        if self.times is not None and self.fired >= self.times:
            return False
        if self.every:
            ok = self.seen % self.every == 0
        else:
            ok = self.rate >= 1.0 or self.rng.random() < self.rate
        if ok:
            self.fired += 1
        return ok

    def hits(self, key, sha, start, end):
        if self.file and not self.file.search(key):
            return False
        if self.spec.get("sha256") and self.spec["sha256"] != sha:
            return False
        return any(a < end and b > start for a, b in self.ranges)

    def corrupt(self, piece, off):
        ba = None
        n = len(piece)
        for a, b in self.ranges:
            s, e = max(a, off), min(b, off + n)
            if s < e:
                if ba is None:
                    ba = bytearray(piece)
                ba[s - off:e - off] = bytes(ba[s - off:e - off]).translate(xor_table(self.xor))
        return piece if ba is None else ba

    def state(self):
        d = dict(self.spec)
        d["seen"] = self.seen
        d["fired"] = self.fired
        return d


class Faults:
    SCALARS = {"latency_ms": 0, "conn_latency_ms": 0, "bandwidth": 0,
               "shared_bandwidth": 0, "down": False}
    RULES = ("errors", "throttle", "drop", "stall", "corrupt")

    def __init__(self):
        self.lock = threading.Lock()
        self.scal = dict(self.SCALARS)
        self.rules = {k: [] for k in self.RULES}
        self.shared_next = 0.0

    def apply(self, spec, replace=False):
        """Merges spec (a key set to null goes back to its default); with
        replace, everything not in spec is cleared.  Raises ValueError."""
        if not isinstance(spec, dict):
            raise ValueError("faults are a JSON object")
        unknown = set(spec) - set(self.SCALARS) - set(self.RULES)
        if unknown:
            raise ValueError("unknown fault keys %s" % sorted(unknown))
        scal = dict(self.SCALARS) if replace else dict(self.scal)
        rules = {k: [] for k in self.RULES} if replace else dict(self.rules)
        for k, v in spec.items():
            if k in self.SCALARS:
                if v is None:
                    v = self.SCALARS[k]
                if k == "down":
                    if v is True:
                        v = "refuse"
                    if v not in DOWN_VALUES:
                        raise ValueError("down must be false, refuse, reset or 503")
                elif not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                    raise ValueError("%s must be a number >= 0" % k)
                scal[k] = v
            else:
                items = [] if v is None else (v if isinstance(v, list) else [v])
                rules[k] = [Rule(k, s) for s in items]
        with self.lock:
            self.scal = scal
            self.rules = rules

    def pick(self, name, method, path, kind, pred=None):
        with self.lock:
            for r in self.rules[name]:
                if r.applies(method, path, kind) and (pred is None or pred(r)) and r.fire():
                    return r
        return None

    def shared_wait(self, n):
        rate = self.scal["shared_bandwidth"]
        if not rate:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.shared_next)
            self.shared_next = start + n / rate
        if start > now:
            time.sleep(start - now)

    def snapshot(self):
        with self.lock:
            d = dict(self.scal)
            for k in self.RULES:
                d[k] = [r.state() for r in self.rules[k]]
        return d


# ------------------------------------------------------------------------
# Request log and totals
# ------------------------------------------------------------------------

class RequestLog:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.records = []
        self.seq = 0
        self.f = open(path, "a", buffering=1) if path else None
        self.stats = self._fresh()

    @staticmethod
    def _fresh():
        return {"requests": 0, "connections": 0, "body_bytes": 0, "by_status": {},
                "by_kind": {}, "by_path": {}, "by_file": {}, "by_fault": {}}

    @staticmethod
    def _add(d, k, n):
        e = d.get(k)
        if e is None:
            e = d[k] = {"requests": 0, "bytes": 0}
        e["requests"] += 1
        e["bytes"] += n

    def connection(self):
        with self.lock:
            self.stats["connections"] += 1

    def add(self, rec):
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.records.append(rec)
            s = self.stats
            n = rec["bytes"]
            s["requests"] += 1
            s["body_bytes"] += n
            st = str(rec["status"])
            s["by_status"][st] = s["by_status"].get(st, 0) + 1
            self._add(s["by_kind"], rec["kind"], n)
            self._add(s["by_path"], rec["path"].split("?", 1)[0], n)
            if rec.get("content"):
                self._add(s["by_file"], rec["file_key"], n)
            for fault in rec["faults"]:
                s["by_fault"][fault] = s["by_fault"].get(fault, 0) + 1
            if self.f:
                self.f.write(json.dumps(rec, sort_keys=True) + "\n")

    def since(self, seq):
        with self.lock:
            if not self.records:
                return []
            first = self.records[0]["seq"]
            return list(self.records[max(0, seq - first + 1):])

    def clear(self):
        with self.lock:
            self.records = []
            self.stats = self._fresh()
            return self.seq

    def snapshot(self):
        with self.lock:
            d = copy.deepcopy(self.stats)
            d["last_seq"] = self.seq
            return d


# ------------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------------

def parse_range(value, size):
    """(start, end) half-open, "unsat", or None to ignore the header (not
    one well-formed byte range: RFC 9110 lets a server ignore it)."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not m:
        return None
    a, b = m.groups()
    if a == "" and b == "":
        return None
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsat"
        return max(0, size - n), size
    a = int(a)
    if b != "" and int(b) < a:
        return None
    if a >= size:
        return "unsat"
    return a, size if b == "" else min(size, int(b) + 1)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubsim"
    sys_version = ""
    timeout = 600

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.sim = self.server.sim
        self.role = self.server.role
        self.fresh = True
        self.reset_now = False
        self.conn_id = self.sim.conn_opened(self)
        if self.role == "main" and self.sim.faults.scal["down"] == "reset":
            self.reset_now = True

    def handle(self):
        if self.reset_now:
            self.abort(reset=True)
            return
        super().handle()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.sim.conn_closed(self)

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.sim.verbose:
            sys.stderr.write("hubsim: %s %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    # -- plumbing --------------------------------------------------------

    def abort(self, reset):
        sock = self.connection
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass
        self.close_connection = True

    def read_body(self):
        n = self.headers.get("Content-Length")
        if not n:
            return b""
        try:
            n = int(n)
        except ValueError:
            self.close_connection = True
            return b""
        return self.rfile.read(n)

    def emit(self, status, headers, length, body=b"", content=None, rng=None,
             file_key=None, faults=True):
        """Answers: latency, status line and headers, then the body (bytes,
        or content[rng] for a file) with the body faults."""
        if faults:
            f = self.sim.faults.scal
            delay = f["latency_ms"] + (f["conn_latency_ms"] if self.fresh else 0)
            if delay:
                time.sleep(delay / 1000.0)
        self.fresh = False
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, header_safe(v))
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.rec["status"] = status
        self.rec["length"] = length
        if self.command == "HEAD" or length == 0:
            return
        if content is None:
            self.send_body([(0, memoryview(body))], length, None, None, 0, faults)
        else:
            self.send_body(content.chunks(*rng), length, file_key, self.rec.get("sha256"),
                           rng[0], faults)

    def send_body(self, chunks, length, file_key, sha, start, faults):
        f = self.sim.faults
        drop = stall = corrupt = None
        if faults:
            m, p, k = self.command, self.rec["path"], self.rec["kind"]
            drop = f.pick("drop", m, p, k, lambda r: length > r.after)
            stall = f.pick("stall", m, p, k, lambda r: length > r.after)
            if file_key:
                corrupt = f.pick("corrupt", m, p, k,
                                 lambda r: r.hits(file_key, sha, start, start + length))
            for r in (drop, stall, corrupt):
                if r is not None:
                    self.rec["faults"].append(r.name)
        rate = f.scal["bandwidth"] if faults else 0
        shared = f.scal["shared_bandwidth"] if faults else 0
        piece_max = CHUNK
        if rate:
            piece_max = max(1024, min(piece_max, int(rate / 50)))
        if shared:
            piece_max = max(1024, min(piece_max, int(shared / 50)))
        drop_at = drop.after if drop else None
        stall_at = stall.after if stall else None
        sock = self.connection
        t0 = time.monotonic()
        sent = 0
        for off, data in chunks:
            mv = memoryview(data)
            pos = 0
            while pos < len(mv):
                n = min(len(mv) - pos, piece_max)
                if drop_at is not None:
                    if sent >= drop_at:
                        self.abort(bool(drop.spec.get("reset")))
                        raise Aborted()
                    n = min(n, drop_at - sent)
                if stall_at is not None:
                    if sent >= stall_at:
                        time.sleep(float(stall.spec.get("seconds", 1)))
                        stall_at = None
                    else:
                        n = min(n, stall_at - sent)
                piece = mv[pos:pos + n]
                if corrupt is not None:
                    piece = corrupt.corrupt(piece, off + pos)
                if shared:
                    f.shared_wait(n)
                sock.sendall(piece)
                sent += n
                pos += n
                self.rec["bytes"] = sent
                if rate:
                    delay = t0 + sent / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)

    def send_json(self, status, obj, headers=(), faults=True):
        body = (json.dumps(obj) + "\n").encode()
        self.emit(status, [("Content-Type", "application/json; charset=utf-8")] + list(headers),
                  len(body), body, faults=faults)

    def error(self, status, code, message, headers=()):
        body = json.dumps({"error": message}).encode()
        h = [("Content-Type", "application/json; charset=utf-8"), ("X-Error-Message", message)]
        if code:
            h.append(("X-Error-Code", code))
            self.rec["error"] = code
        self.emit(status, h + list(headers), len(body), body)

    # -- requests --------------------------------------------------------

    def dispatch(self):
        t0 = time.time()
        m0 = time.monotonic()
        self.rec = {"t": round(t0, 6), "conn": self.conn_id, "method": self.command,
                    "path": self.path, "kind": "other", "range": self.headers.get("Range"),
                    "status": 0, "length": 0, "bytes": 0,
                    "auth": self.headers.get("Authorization") is not None, "faults": []}
        self.req_body = self.read_body()
        split = urllib.parse.urlsplit(self.path)
        raw = split.path.split("/")[1:]
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        control = bool(raw) and raw[0] == CONTROL_NOT_LOGGED
        logged = not control and self.role == "main"
        if logged:
            self.sim.request_started()
        try:
            if control:
                self.control("/".join(raw[1:]))
            elif self.role == "control":
                self.send_json(404, {"error": "the control port serves /_sim/ only"}, faults=False)
            else:
                self.route(raw, split)
        except Aborted:
            pass
        except (BrokenPipeError, ConnectionResetError, socket.timeout, TimeoutError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug in hubsim answers 500, not a dead thread
            traceback.print_exc()
            if self.rec["status"] == 0:
                try:
                    self.error(500, None, "hubsim: %s" % e)
                except OSError:
                    self.close_connection = True
            else:
                self.abort(True)
        finally:
            if logged:
                self.rec["dur_ms"] = round((time.monotonic() - m0) * 1000, 3)
                self.sim.log.add(self.rec)
                self.sim.request_logged()

    def route(self, raw, split):
        seg = [urllib.parse.unquote(s) for s in raw]
        if len(seg) >= 4 and seg[0] == "api" and seg[1] == "models":
            rest = seg[4:]
            kind = {"": "info", "revision": "info", "tree": "tree", "refs": "refs"}.get(
                rest[0] if rest else "", "other")
        elif len(seg) == 2 and seg[0] == "lfs-cdn":
            kind = "cdn"
        elif len(seg) >= 5 and seg[2] == "resolve":
            kind = "resolve"
        else:
            kind = "other"
        self.rec["kind"] = kind
        f = self.sim.faults
        down = f.scal["down"]
        if down in ("refuse", "reset"):
            self.rec["faults"].append("down")
            self.abort(reset=True)
            raise Aborted()
        if down == "503":
            self.rec["faults"].append("down")
            return self.error(503, None, "Service Unavailable")
        if self.command not in ("GET", "HEAD"):
            return self.error(405, None, "Method Not Allowed")
        path = split.path
        r = f.pick("throttle", self.command, path, kind)
        if r is not None:
            self.rec["faults"].append("throttle")
            ra = math.ceil(float(r.spec.get("retry_after", 1)))
            return self.error(429, None, "Too Many Requests", [("Retry-After", str(ra))])
        r = f.pick("errors", self.command, path, kind)
        if r is not None:
            self.rec["faults"].append("errors")
            h = []
            if r.spec.get("retry_after") is not None:
                h.append(("Retry-After", str(math.ceil(float(r.spec["retry_after"])))))
            return self.error(r.status, None, "hubsim: injected %d" % r.status, h)
        if kind == "cdn":
            return self.cdn(seg[1])
        if kind == "other":
            return self.error(404, None, "Not Found")
        if not self.check_token():
            return
        if kind == "resolve":
            return self.resolve(raw, seg, split)
        return self.api(raw, seg, split, kind)

    def check_token(self):
        self.token = None
        auth = self.headers.get("Authorization")
        if auth is None:
            return True
        m = re.fullmatch(r"Bearer\s+(\S+)", auth.strip())
        if not m or not self.sim.hub.valid_token(m.group(1)):
            self.error(401, None, "Invalid credentials in Authorization header")
            return False
        self.token = m.group(1)
        return True

    def open_repo(self, org, name, location_prefix, raw_rest, split):
        """The repo, or None once answered (rename, not found, private)."""
        rid = org + "/" + name
        hub = self.sim.hub
        new = hub.renames.get(rid)
        if new:
            loc = location_prefix + "/".join(urllib.parse.quote(x, safe="") for x in new.split("/"))
            if raw_rest:
                loc += "/" + "/".join(raw_rest)
            if split.query:
                loc += "?" + split.query
            body = ("Temporary Redirect. Redirecting to %s" % loc).encode()
            self.rec["repo"] = rid
            self.emit(307, [("Location", loc), ("Content-Type", "text/plain; charset=utf-8")],
                      len(body), body)
            return None
        repo = hub.repo(rid)
        if repo is None or (repo.private and self.token not in repo.tokens):
            if self.token is None:
                self.error(401, "RepoNotFound", "Invalid username or password.")
            else:
                self.error(404, "RepoNotFound", "Repository not found")
            return None
        self.rec["repo"] = rid
        return repo

    def revision(self, repo, name):
        rev = repo.find_rev(name)
        if rev is None:
            self.error(404, "RevisionNotFound", "Invalid rev id: %s" % name)
        else:
            self.rec["rev"] = rev.sha
        return rev

    def api(self, raw, seg, split, kind):
        repo = self.open_repo(seg[2], seg[3], "/api/models/", raw[4:], split)
        if repo is None:
            return
        rest = seg[4:]
        hub = self.sim.hub
        if kind == "refs":
            if len(rest) != 1:
                return self.error(404, None, "Not Found")
            branches, tags = [], []
            for r in repo.revisions:
                branches += [{"name": b, "ref": "refs/heads/" + b, "targetCommit": r.sha}
                             for b in r.branches]
                tags += [{"name": t, "ref": "refs/tags/" + t, "targetCommit": r.sha}
                         for t in r.tags]
            return self.send_json(200, {"branches": branches, "tags": tags, "converts": []})
        if kind == "info":
            if rest and (rest[0] != "revision" or len(rest) < 2):
                return self.error(404, None, "Not Found")
            rev = self.revision(repo, "/".join(rest[1:]) if rest else repo.default_branch)
            if rev is None:
                return
            expand = self.query.get("expand[]", []) + self.query.get("expand", [])
            blobs = qbool(self.query.get("blobs", ["0"])[-1])
            return self.send_json(200, hub.model_info(repo, rev, blobs, expand))
        if len(rest) < 2:
            return self.error(404, None, "Not Found")
        rev_name, path_parts = repo.split_rev(rest[1:])
        rev = self.revision(repo, rev_name)
        if rev is None:
            return
        path = "/".join(path_parts).strip("/")
        recursive = qbool(self.query.get("recursive", ["0"])[-1])
        expand = qbool(self.query.get("expand", ["0"])[-1])
        entries = hub.tree(rev, path, recursive, expand)
        if entries is None:
            return self.error(404, "EntryNotFound", "Entry not found",
                              [("X-Repo-Commit", rev.sha)])
        offset = 0
        cursor = self.query.get("cursor", [None])[-1]
        if cursor:
            try:
                c = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
                offset = int(c["o"])
                if c["s"] != rev.sha[:12] or offset < 0:
                    raise ValueError(cursor)
            except (ValueError, KeyError, TypeError):
                return self.error(400, None, "Invalid cursor")
        page = hub.tree_page_size_expand if expand else hub.tree_page_size
        out = entries[offset:offset + page]
        headers = []
        if offset + page < len(entries):
            nxt = base64.urlsafe_b64encode(json.dumps(
                {"o": offset + page, "s": rev.sha[:12]}).encode()).decode().rstrip("=")
            q = [(k, v) for k, vs in self.query.items() if k != "cursor" for v in vs]
            q.append(("cursor", nxt))
            host = self.headers.get("Host") or "127.0.0.1:%d" % self.sim.port
            url = "http://%s%s?%s" % (host, split.path, urllib.parse.urlencode(q))
            headers.append(("Link", '<%s>; rel="next"' % url))
        self.send_json(200, out, headers)

    def resolve(self, raw, seg, split):
        repo = self.open_repo(seg[0], seg[1], "/", raw[2:], split)
        if repo is None:
            return
        rev_name, path_parts = repo.split_rev(seg[3:])
        rev = self.revision(repo, rev_name)
        if rev is None:
            return
        if repo.gated and self.token not in repo.tokens:
            if self.token is None:
                return self.error(401, "GatedRepo",
                                  "Access to model %s is restricted. You must have access to it "
                                  "and be authenticated to access it. Please log in." % repo.id)
            return self.error(403, "GatedRepo",
                              "Access to model %s is restricted and you are not in the "
                              "authorized list. Visit https://huggingface.co/%s to ask for "
                              "access." % (repo.id, repo.id))
        path = "/".join(path_parts)
        entry = rev.files.get(path)
        if entry is None:
            return self.error(404, "EntryNotFound", "Entry not found",
                              [("X-Repo-Commit", rev.sha)])
        self.rec["file"] = path
        self.rec["file_key"] = entry.key
        common = [("X-Repo-Commit", rev.sha), ("Accept-Ranges", "bytes")]
        if entry.lfs:
            sha = entry.sha256()
            host = self.sim.hub.cdn_host
            host = ("%s:%d" % (host, self.sim.port)) if host else (
                self.headers.get("Host") or "127.0.0.1:%d" % self.sim.port)
            loc = self.sim.hub.cdn_url(host, entry)
            body = ("Found. Redirecting to %s" % loc).encode()
            etag = 'W/"%x-%s"' % (len(body), hashlib.sha1(body).hexdigest()[:27])
            h = common + [("Location", loc), ("X-Linked-Size", str(entry.size)),
                          ("X-Linked-Etag", '"%s"' % sha), ("ETag", etag),
                          ("Content-Type", "text/plain; charset=utf-8")]
            return self.emit(302, h, len(body), body)
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype == "application/json":
            ctype += "; charset=utf-8"
        self.serve_content(entry, '"%s"' % entry.blob_oid(), ctype, common)

    def cdn(self, sha):
        hub = self.sim.hub
        key = self.query.get("key", [""])[-1]
        expires = self.query.get("expires", [""])[-1]
        sig = self.query.get("signature", [""])[-1]
        if not hmac.compare_digest(sig, hub.sign(sha, expires, key)):
            return self.xml_error(403, "AccessDenied", "Invalid signature")
        try:
            if float(expires) < time.time():
                return self.xml_error(403, "AccessDenied", "Request has expired")
        except ValueError:
            return self.xml_error(403, "AccessDenied", "Invalid expires")
        if hub.cdn_reject_auth and self.headers.get("Authorization") is not None:
            return self.xml_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        entry = hub.cdn_entry(sha, key)
        if entry is None:
            return self.xml_error(404, "NoSuchKey", "The specified key does not exist.")
        self.rec.update(repo=entry.repo_id, file=entry.path, file_key=entry.key, sha256=sha)
        name = entry.path.rsplit("/", 1)[-1]
        disp = "inline; filename*=UTF-8''%s; filename=\"%s\";" % (
            urllib.parse.quote(name), header_safe(name).replace('"', "_"))
        self.serve_content(entry, '"%s"' % sha, "application/octet-stream",
                           [("Content-Disposition", disp), ("Accept-Ranges", "bytes")])

    def xml_error(self, status, code, message):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
                "<Message>%s</Message></Error>" % (code, message)).encode()
        self.rec["error"] = code
        self.emit(status, [("Content-Type", "application/xml")], len(body), body)

    def serve_content(self, entry, etag, ctype, extra):
        content = entry.content
        size = content.size
        self.rec["file_key"] = entry.key
        h = list(extra) + [("ETag", etag), ("Content-Type", ctype)]
        rh = self.headers.get("Range")
        r = parse_range(rh, size) if rh is not None else None
        if r == "unsat":
            body = json.dumps({"error": "Requested Range Not Satisfiable"}).encode()
            h = [x for x in h if x[0] != "Content-Type"]
            h += [("Content-Range", "bytes */%d" % size),
                  ("Content-Type", "application/json; charset=utf-8")]
            return self.emit(416, h, len(body), body)
        self.rec["content"] = True
        if r is None:
            return self.emit(200, h, size, content=content, rng=(0, size), file_key=entry.key)
        a, b = r
        h.append(("Content-Range", "bytes %d-%d/%d" % (a, b - 1, size)))
        self.emit(206, h, b - a, content=content, rng=(a, b), file_key=entry.key)

    # -- control ---------------------------------------------------------

    def control(self, p):
        sim = self.sim
        m = self.command
        try:
            body = json.loads(self.req_body) if self.req_body.strip() else {}
        except ValueError as e:
            return self.send_json(400, {"error": "bad JSON: %s" % e}, faults=False)
        try:
            if p == "health" and m in ("GET", "HEAD"):
                return self.send_json(200, sim.health(), faults=False)
            if p == "faults":
                if m == "GET":
                    return self.send_json(200, sim.faults.snapshot(), faults=False)
                if m in ("POST", "PUT", "DELETE"):
                    sim.set_faults({} if m == "DELETE" else body, replace=m != "POST",
                                   current=self)
                    return self.send_json(200, sim.faults.snapshot(), faults=False)
            if p in ("log", "log/clear", "stats"):
                sim.settle_log()
            if p == "log" and m == "GET":
                since = int(self.query.get("since", ["0"])[-1])
                lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in sim.log.since(since))
                body = lines.encode()
                return self.emit(200, [("Content-Type", "application/x-ndjson")], len(body), body,
                                 faults=False)
            if (p == "log" and m == "DELETE") or (p == "log/clear" and m == "POST"):
                return self.send_json(200, {"last_seq": sim.log.clear()}, faults=False)
            if p == "stats" and m == "GET":
                return self.send_json(200, sim.log.snapshot(), faults=False)
            if p == "repos":
                if m == "GET":
                    wait = qbool(self.query.get("wait", ["0"])[-1])
                    return self.send_json(200, sim.hub.summary(wait), faults=False)
                if m == "POST":
                    ids = sim.hub.update(body.get("repos", []), body.get("remove", []),
                                         body.get("renames"))
                    return self.send_json(200, {"updated": ids}, faults=False)
            if p == "shutdown" and m == "POST":
                self.send_json(200, {"ok": True}, faults=False)
                threading.Thread(target=sim.stop, args=("shutdown request",), daemon=True).start()
                return None
        except (ValueError, ManifestError, OSError, KeyError, TypeError) as e:
            return self.send_json(400, {"error": str(e)}, faults=False)
        return self.send_json(404, {"error": "no control endpoint %s %s" % (m, p)}, faults=False)


class Sim:
    """The servers (main port and control port) and what they share."""

    def __init__(self, hub, faults, log, host="127.0.0.1", port=0, control_port=0,
                 verbose=False):
        self.hub = hub
        self.faults = faults
        self.log = log
        self.host = host
        self.port = port
        self.want_control_port = control_port
        self.verbose = verbose
        self.lock = threading.Lock()
        self.down_lock = threading.Lock()
        self.conns = {}
        self.next_conn = 0
        self.main = None
        self.ctl = None
        self.started = time.time()
        self.stopped = threading.Event()
        self.stop_reason = None
        # main-port requests not yet in the log: a response reaches its
        # client before its record is added, so readers of the log wait
        # (briefly) for the requests in flight to land
        self.inflight = 0
        self.inflight_cv = threading.Condition()

    def request_started(self):
        with self.inflight_cv:
            self.inflight += 1

    def request_logged(self):
        with self.inflight_cv:
            self.inflight -= 1
            self.inflight_cv.notify_all()

    def settle_log(self, timeout=0.25):
        """Waits until every request in flight is logged, at most timeout s
        (a request still streaming or stalled by a fault keeps going)."""
        with self.inflight_cv:
            self.inflight_cv.wait_for(lambda: self.inflight == 0, timeout)

    def _serve(self, port, role):
        srv = Server((self.host, port), Handler)
        srv.sim = self
        srv.role = role
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                         name="serve-" + role, daemon=True).start()
        return srv

    def start(self):
        self.main = self._serve(self.port, "main")
        self.port = self.main.server_address[1]
        self.ctl = self._serve(self.want_control_port, "control")
        self.control_port = self.ctl.server_address[1]
        if self.faults.scal["down"] == "refuse":
            self._go_down(None)

    def health(self):
        return {"ok": True, "port": self.port, "control_port": self.control_port,
                "pid": os.getpid(), "uptime": round(time.time() - self.started, 3),
                "down": self.faults.scal["down"], "listening": self.main is not None}

    def conn_opened(self, h):
        with self.lock:
            self.next_conn += 1
            self.conns[id(h)] = h
            cid = self.next_conn
        if h.server.role == "main":
            self.log.connection()
        return cid

    def conn_closed(self, h):
        with self.lock:
            self.conns.pop(id(h), None)

    def set_faults(self, spec, replace, current=None):
        self.faults.apply(spec, replace)
        with self.down_lock:
            down = self.faults.scal["down"]
            if down == "refuse" and self.main is not None:
                self._go_down(current)
            elif down != "refuse" and self.main is None:
                self.main = self._serve(self.port, "main")
            if down in ("refuse", "reset"):
                self._cut_connections(current)

    def _go_down(self, current):
        srv, self.main = self.main, None
        srv.shutdown()
        srv.server_close()
        self._cut_connections(current)

    def _cut_connections(self, current):
        with self.lock:
            victims = [h for h in self.conns.values()
                       if h is not current and h.server.role == "main"]
        for h in victims:
            try:
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self, reason):
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stopped.set()

    def close(self):
        for srv in (self.main, self.ctl):
            if srv is not None:
                try:
                    srv.shutdown()
                    srv.server_close()
                except OSError:
                    pass
        with self.lock:
            victims = list(self.conns.values())
        for h in victims:
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.log.f:
            self.log.f.flush()


# ------------------------------------------------------------------------
# Manifests and the command line
# ------------------------------------------------------------------------

def load_manifest(path):
    """(manifest dict, base directory) from a JSON file or a scenario
    directory (DIR/manifest.json, or every DIR/ORG/NAME/ as a public repo)."""
    if os.path.isdir(path):
        mf = os.path.join(path, "manifest.json")
        if os.path.exists(mf):
            with open(mf) as f:
                return json.load(f), path
        repos = []
        for org in sorted(os.listdir(path)):
            od = os.path.join(path, org)
            if not os.path.isdir(od) or org.startswith("."):
                continue
            for name in sorted(os.listdir(od)):
                if os.path.isdir(os.path.join(od, name)):
                    repos.append({"id": "%s/%s" % (org, name), "dir": os.path.join(od, name)})
        return {"repos": repos}, path
    with open(path) as f:
        return json.load(f), os.path.dirname(os.path.abspath(path))


def default_cache_dir():
    return os.environ.get("HUBSIM_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "hubsim-cache-%d" % os.getuid())


def _json_arg(s):
    if s.startswith("@"):
        with open(s[1:]) as f:
            return json.load(f)
    return json.loads(s)


def main(argv=None):
    global _GGUFGEN_PATH
    ap = argparse.ArgumentParser(description="An imitation of the Hugging Face Hub for tests.")
    ap.add_argument("--manifest", "--scenario", dest="manifest",
                    help="JSON manifest, or a scenario directory")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--port-file", help="write {port, control_port, pid} here once listening")
    ap.add_argument("--log", help="append the request log (JSON lines) to this file")
    ap.add_argument("--max-lifetime", type=float, default=None,
                    help="stop after this many seconds (default %d)" % DEFAULT_LIFETIME)
    ap.add_argument("--faults", type=_json_arg, help="JSON (or @FILE) of faults to start with")
    ap.add_argument("--tree-page-size", type=int)
    ap.add_argument("--cache-dir", default=None, help="where big files' digests are kept")
    ap.add_argument("--no-cache", action="store_true", help="keep no digests on disk")
    ap.add_argument("--ggufgen", help="path of ggufgen.py (default ../gguf/ggufgen.py)")
    ap.add_argument("--no-parent-watch", action="store_true",
                    help="keep running when the parent process dies")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)

    _GGUFGEN_PATH = a.ggufgen
    manifest, base_dir = load_manifest(a.manifest) if a.manifest else ({}, os.getcwd())
    if a.tree_page_size:
        manifest["tree_page_size"] = a.tree_page_size
    lifetime = a.max_lifetime if a.max_lifetime is not None else float(
        manifest.get("max_lifetime", DEFAULT_LIFETIME))
    workdir = tempfile.mkdtemp(prefix="hubsim-")
    faults = Faults()
    try:
        digests = Digests(None if a.no_cache else (a.cache_dir or default_cache_dir()))
        hub = Hub(manifest, base_dir, workdir, digests)
        faults.apply(manifest.get("faults", {}))
        if a.faults:
            faults.apply(a.faults)
    except (ManifestError, ValueError, OSError, KeyError, TypeError) as e:
        sys.stderr.write("hubsim: bad manifest or faults: %s\n" % e)
        _rmtree(workdir)
        return 2
    sim = Sim(hub, faults, RequestLog(a.log), a.host, a.port, a.control_port, a.verbose)
    sim.start()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"port": sim.port, "control_port": sim.control_port,
                       "pid": os.getpid()}, f)
        os.replace(tmp, a.port_file)
    sys.stdout.write("READY %d %d\n" % (sim.port, sim.control_port))
    sys.stdout.flush()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sim.stop("signal %d" % s))
    if not a.no_parent_watch:
        ppid = os.getppid()

        def watch():
            while not sim.stopped.is_set():
                if os.getppid() != ppid:
                    sim.stop("parent exited")
                time.sleep(0.5)
        threading.Thread(target=watch, daemon=True).start()
    if not sim.stopped.wait(lifetime):
        sim.stop("max lifetime of %gs reached" % lifetime)
    sys.stderr.write("hubsim: stopping: %s\n" % sim.stop_reason)
    sim.close()
    _rmtree(workdir)
    sys.stderr.flush()
    os._exit(0)


def _rmtree(d):
    for root, dirs, files in os.walk(d, topdown=False):
        for f in files:
            try:
                os.remove(os.path.join(root, f))
            except OSError:
                pass
        for x in dirs:
            try:
                os.rmdir(os.path.join(root, x))
            except OSError:
                pass
    try:
        os.rmdir(d)
    except OSError:
        pass


# ------------------------------------------------------------------------
# For tests: run hubsim as a child process and talk to its control port
# ------------------------------------------------------------------------

class HubProcess:
    """hubsim in a child process.

        with HubProcess({"repos": [...]}, workdir=tmp_path) as hub:
            hub.url                      http://127.0.0.1:PORT (the endpoint)
            hub.set_faults({"drop": {"after_bytes": 4096, "times": 1}})
            hub.log(), hub.stats(), hub.file_bytes("org/repo/x.gguf")

    manifest: a dict (written to WORKDIR/manifest.json), or the path of a
    manifest file or scenario directory."""

    def __init__(self, manifest=None, workdir=None, faults=None, max_lifetime=DEFAULT_LIFETIME,
                 args=(), python=None, env=None):
        self.manifest = manifest
        self.workdir = workdir
        self.faults = faults
        self.max_lifetime = max_lifetime
        self.args = list(args)
        self.python = python or sys.executable
        self.env = env
        self.proc = None
        self.port = None
        self.control_port = None

    def start(self, timeout=120):
        wd = self.workdir or tempfile.mkdtemp(prefix="hubsim-test-")
        self.workdir = str(wd)
        os.makedirs(self.workdir, exist_ok=True)
        mpath = self.manifest
        if isinstance(self.manifest, dict):
            mpath = os.path.join(self.workdir, "manifest.json")
            with open(mpath, "w") as f:
                json.dump(self.manifest, f, indent=1)
        self.log_path = os.path.join(self.workdir, "requests.jsonl")
        self.stderr_path = os.path.join(self.workdir, "hubsim.stderr")
        cmd = [self.python, HUBSIM_PATH, "--log", self.log_path,
               "--max-lifetime", str(self.max_lifetime)] + self.args
        if mpath is not None:
            cmd += ["--manifest", str(mpath)]
        if self.faults:
            cmd += ["--faults", json.dumps(self.faults)]
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         close_fds=True)
        deadline = time.monotonic() + timeout
        line = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in line:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError("hubsim did not start in %gs: %s" % (timeout, self.stderr_tail()))
            if select.select([fd], [], [], min(left, 0.5))[0]:
                b = os.read(fd, 256)
                if not b:
                    self.stop()
                    raise RuntimeError("hubsim exited: %s" % self.stderr_tail())
                line += b
        parts = line.decode().split()
        if len(parts) != 3 or parts[0] != "READY":
            self.stop()
            raise RuntimeError("hubsim said %r" % line)
        self.port, self.control_port = int(parts[1]), int(parts[2])
        return self

    def stderr_tail(self, n=4000):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def control_url(self):
        return "http://127.0.0.1:%d" % self.control_port

    def control(self, method, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.control_url + "/_sim/" + path, data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                ctype = r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            raise RuntimeError("hubsim control %s %s: %d %s" % (
                method, path, e.code, e.read().decode(errors="replace")))
        if ctype.startswith("application/x-ndjson"):
            return [json.loads(x) for x in raw.decode().splitlines() if x.strip()]
        return json.loads(raw)

    def set_faults(self, spec=None, **kw):
        """Merges faults (a key set to None goes back to its default)."""
        return self.control("POST", "faults", dict(spec or {}, **kw))

    def replace_faults(self, spec):
        return self.control("PUT", "faults", spec)

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def faults_state(self):
        return self.control("GET", "faults")

    def log(self, since=0):
        return self.control("GET", "log?since=%d" % since)

    def clear_log(self):
        return self.control("POST", "log/clear", {})["last_seq"]

    def stats(self):
        return self.control("GET", "stats")

    def file_bytes(self, key):
        """Body bytes served for ORG/REPO/PATH (resolve and CDN together)."""
        return self.stats()["by_file"].get(key, {}).get("bytes", 0)

    def repos(self, wait=False):
        return self.control("GET", "repos?wait=%d" % bool(wait))

    def update_repos(self, repos=(), remove=(), renames=None):
        body = {"repos": list(repos), "remove": list(remove)}
        if renames is not None:
            body["renames"] = renames
        return self.control("POST", "repos", body)

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
