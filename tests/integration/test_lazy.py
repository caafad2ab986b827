"""Lazy model.gguf through a real mount against hubsim (SPEC §7, issue 6).

A catalog file (catalog=PATH) registers one model whose quants are files of
a hubsim repo; endpoint= points the mount at hubsim.  Content is hubsim's
"pattern" fill (a seeded random block per MiB, rotated, so a byte from the
wrong offset is caught), computed here with the same function, so checks
cost no extra hub bytes.  hubsim's per-file byte counter is the witness
for "fetched once": it counts file bytes served, resolve and CDN alike.

  q4_k_m  lazy-Q4_K_M.gguf  40 MiB, exact size in the catalog
  q8_0    lazy-Q8_0.gguf    24 MiB, size not exact: stat asks with a HEAD
  q2_k    gone-Q2_K.gguf    listed in the catalog, missing on the hub
"""

import errno
import hashlib
import json
import mmap
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "hub"))

from conftest import log_lines_since, raises_errno, read_log  # noqa: E402
import reaper  # noqa: E402
from hubsim import HubProcess  # noqa: E402
import scenarios as S  # noqa: E402

REPO = "test-org/Lazy-GGUF"
A_PATH, A_SIZE, A_SEED = "lazy-Q4_K_M.gguf", 40 << 20, 11
B_PATH, B_SIZE, B_SEED = "lazy-Q8_0.gguf", 24 << 20, 12
C_PATH = "gone-Q2_K.gguf"
QDIR = ("lazy", "lazy-test")
MiB = 1 << 20


def pattern_bytes(seed, size):
    """hubsim's "pattern" fill (tests/hub/test_hubsim.py pattern_bytes)."""
    base = random.Random(seed).randbytes(1 << 20)
    out = bytearray()
    blk = 0
    while len(out) < size:
        k = (blk * 7919) % (1 << 20)
        out += base[k:] + base[:k]
        blk += 1
    return bytes(out[:size])


A_DATA = pattern_bytes(A_SEED, A_SIZE)
A_SHA = hashlib.sha256(A_DATA).hexdigest()
B_DATA = pattern_bytes(B_SEED, B_SIZE)
B_SHA = hashlib.sha256(B_DATA).hexdigest()


def catalog(path):
    doc = {"catalog_version": 1, "models": [{
        "family": "lazy", "variant": "lazy-test", "full_name": "Lazy Test",
        "repo_id": REPO, "architecture": "llama", "parameter_count": 0.1,
        "context_window": 2048, "multimodal": False,
        "quantizations": [
            {"name": "q4_k_m", "files": [A_PATH], "size_bytes": A_SIZE, "size_exact": True,
             "bits_per_weight": 4.9},
            {"name": "q8_0", "files": [B_PATH], "size_bytes": B_SIZE, "bits_per_weight": 8.5},
            {"name": "q2_k", "files": [C_PATH], "size_bytes": 1000, "bits_per_weight": 2.6},
        ]}]}
    with open(path, "w") as f:
        json.dump(doc, f)


@pytest.fixture
def hub(workdir):
    m = S.manifest([S.repo(REPO, [S.sized(A_PATH, A_SIZE, fill="pattern", seed=A_SEED),
                                  S.sized(B_PATH, B_SIZE, fill="pattern", seed=B_SEED)])])
    with HubProcess(m, workdir=os.path.join(workdir, "hub")) as h:
        files = h.repos(wait=True)["repos"][0]["revisions"][0]["files"]
        shas = {f["path"]: f["sha256"] for f in files}
        assert shas[A_PATH] == A_SHA and shas[B_PATH] == B_SHA
        yield h


@pytest.fixture
def lazy(hub, mounts, workdir):
    """A factory of mounts of the lazy catalog against the hub."""
    cat = os.path.join(workdir, "lazy-catalog.json")
    catalog(cat)

    def new(opts=(), **kw):
        return mounts.new(opts=["catalog=" + cat, "endpoint=" + hub.url, *opts], **kw)
    return new


def qfile(m, quant, name="model.gguf"):
    return m.file(*QDIR, quant, name)


def hub_bytes(hub, path=A_PATH):
    return hub.file_bytes("%s/%s" % (REPO, path))


def status(m, quant):
    out = {}
    for line in m.text(*QDIR, quant, "status").splitlines():
        k, v = line.split("=", 1)
        out[k] = v
    return out


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


def sha_of_file(path, piece=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(piece)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def test_stat_without_download(lazy, hub):
    m = lazy()
    hub.clear_log()
    assert os.stat(qfile(m, "q4_k_m")).st_size == A_SIZE
    assert os.stat(qfile(m, "q8_0")).st_size == B_SIZE
    assert {"info.json", "model.gguf"} <= set(os.listdir(m.file(*QDIR, "q4_k_m")))
    assert hub_bytes(hub) == 0 and hub_bytes(hub, B_PATH) == 0
    heads = [r for r in hub.log() if r["method"] == "HEAD"]
    assert len(heads) == 1 and heads[0]["file"] == B_PATH
    assert status(m, "q4_k_m")["cache"] == "remote"


def test_whole_read_is_verified_and_cached(lazy, hub):
    m = lazy()
    hub.clear_log()
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    assert hub_bytes(hub) == A_SIZE
    wait_for(lambda: status(m, "q4_k_m")["cache"] == "cached", what="cache=cached")
    st = status(m, "q4_k_m")
    assert st["cached_bytes"] == str(A_SIZE) and st["progress"] == "100.0"
    info = json.loads(m.text(*QDIR, "q4_k_m", "info.json"))
    assert info["cache"]["state"] == "cached"
    assert info["cache"]["local_path"] == os.path.join(m.cache, "blobs", A_SHA)
    assert os.path.getsize(info["cache"]["local_path"]) == A_SIZE
    assert not os.listdir(os.path.join(m.cache, "partial"))
    # warm, then after a remount: no hub request at all
    assert sha_of_file(qfile(m, "q4_k_m"), piece=4096) == A_SHA
    m.remount()
    hub.clear_log()
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    assert hub.log() == []


def test_random_preads(lazy, hub):
    m = lazy()
    hub.clear_log()
    rnd = random.Random(5)
    fd = os.open(qfile(m, "q4_k_m"), os.O_RDONLY)
    try:
        n = 150
        for _ in range(n):
            off = rnd.randrange(0, A_SIZE - 1)
            size = rnd.choice([1, 100, 4096, 65536, 300000])
            got = os.pread(fd, size, off)
            assert got == A_DATA[off:off + size], "pread(%d, %d)" % (size, off)
        assert os.pread(fd, 100, A_SIZE - 10) == A_DATA[-10:]
        assert os.pread(fd, 100, A_SIZE) == b""
    finally:
        os.close(fd)
    # fetch what is asked: a bounded request per read, never the whole file
    assert hub_bytes(hub) <= (n + 1) * (300000 + (128 << 10) + (1 << 20))
    assert hub_bytes(hub) < A_SIZE
    assert status(m, "q4_k_m")["cache"] in ("partial", "downloading")


def test_mmap(lazy, hub):
    m = lazy()
    hub.clear_log()
    with open(qfile(m, "q4_k_m"), "rb") as f:
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
            assert mm[A_SIZE - 5:] == A_DATA[-5:]
            assert mm[12345:12350] == A_DATA[12345:12350]
            assert hashlib.sha256(mm).hexdigest() == A_SHA
    assert hub_bytes(hub) == A_SIZE


def test_eight_concurrent_readers_share_one_download(lazy, hub):
    m = lazy()
    hub.set_faults(latency_ms=3)
    hub.clear_log()
    results = [None] * 8
    errors = []

    def reader(i):
        try:
            results[i] = sha_of_file(qfile(m, "q4_k_m"), piece=(64 << 10) << (i % 5))
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [A_SHA] * 8
    assert hub_bytes(hub) == A_SIZE


def test_hub_faults_still_give_right_bytes(lazy, hub):
    m = lazy(opts=["chunk=2M"])
    hub.clear_log()
    hub.set_faults({
        "errors": {"status": 503, "every": 4},
        "drop": {"after_bytes": 200000, "every": 5, "kinds": ["cdn"]},
        "throttle": {"every": 9, "retry_after": 1},
        "latency_ms": 2,
    })
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    fired = hub.faults_state()
    hub.clear_faults()
    statuses = {r["status"] for r in hub.log()}
    assert 503 in statuses and 429 in statuses, statuses
    assert any("drop" in str(r.get("faults")) for r in hub.log()), fired
    # a dropped response is resumed after its last byte, not fetched again
    assert hub_bytes(hub) <= A_SIZE + (1 << 20)


def test_corrupted_bytes_are_caught_and_refetched(lazy, hub):
    m = lazy()
    hub.clear_log()
    bad = 5 * MiB + 17
    hub.set_faults({"corrupt": {"file": r"lazy-Q4_K_M\.gguf$", "offsets": [bad], "times": 1}})
    fd = os.open(qfile(m, "q4_k_m"), os.O_RDONLY)
    try:
        first = b"".join(os.pread(fd, MiB, off) for off in range(0, A_SIZE, MiB))
        # lazy mode served the flipped byte: only the sha256 can tell
        assert first[bad] != A_DATA[bad] and first[:bad] == A_DATA[:bad]
        wait_for(lambda: "discarded" in read_log(m), what="the sha256 mismatch in the log")
        with raises_errno(errno.EIO):
            os.pread(fd, 10, 0)
    finally:
        os.close(fd)
    line = [ln for ln in read_log(m).splitlines() if "discarded" in ln][0]
    assert A_SHA in line and "sha256" in line
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    wait_for(lambda: status(m, "q4_k_m")["cache"] == "cached", what="cache=cached")
    assert hub_bytes(hub) == 2 * A_SIZE


def test_strict_serves_only_verified_bytes(lazy, hub):
    m = lazy(opts=["verify=strict"])
    hub.clear_log()
    bad = 7 * MiB
    hub.set_faults({"corrupt": {"file": r"lazy-Q4_K_M\.gguf$", "offsets": [bad], "times": 1}})
    with open(qfile(m, "q4_k_m"), "rb") as f:
        f.seek(bad)
        assert f.read(16) == A_DATA[bad:bad + 16]
    assert status(m, "q4_k_m")["cache"] == "cached"
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    assert hub_bytes(hub) == 2 * A_SIZE


def test_missing_file_is_enoent(lazy, hub):
    m = lazy()
    with raises_errno(errno.ENOENT):
        open(qfile(m, "q2_k"), "rb")
    assert "gone-Q2_K.gguf" in read_log(m)


def db_ranges_bytes(state_dir, sha):
    db = sqlite3.connect(os.path.join(state_dir, "registry.db"))
    try:
        row = db.execute("SELECT coalesce(sum(len), 0) FROM blob_ranges WHERE blob = ?",
                         (sha,)).fetchone()
        return row[0]
    finally:
        db.close()


def test_kill9_mid_download_then_resume(lazy, hub):
    """Completed ranges survive kill -9 and are never fetched again."""
    m = lazy(opts=["chunk=1M", "connections=4"])
    hub.clear_log()
    hub.set_faults(bandwidth=2000000)
    reader_err = []

    def reader():
        try:
            sha_of_file(qfile(m, "q4_k_m"))
        except OSError as e:  # the daemon dies under it
            reader_err.append(e)
    t = threading.Thread(target=reader)
    t.start()
    wait_for(lambda: hub_bytes(hub) >= 24 * MiB, timeout=60, what="24 MiB served")
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=15)
    m.proc = None
    t.join(timeout=30)
    wait_for(lambda: m.path not in [mp for mp, _, _ in reaper.mounts()], timeout=60,
             what="auto_unmount")
    persisted = db_ranges_bytes(m.state, A_SHA)
    assert persisted >= 12 * MiB, "kill -9 lost the range map (%d bytes recorded)" % persisted
    hub.clear_faults()
    # the hub logs a cut request when its paced sender notices: wait for
    # the log to settle, and count by request start time
    time.sleep(1)
    t_remount = time.time()
    served_before = sum(r["bytes"] for r in hub.log()
                        if r.get("file") == A_PATH and r.get("content"))
    # lost: at most the requests in flight (4 x 1 MiB), one keeper period
    # (0.5 s at 8 MB/s) and what sat in socket buffers
    assert persisted >= served_before - 10 * MiB, (persisted, served_before)
    m.start()
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    fetched_after = sum(r["bytes"] for r in hub.log()
                        if r.get("file") == A_PATH and r.get("content") and r["t"] >= t_remount)
    # SPEC §7: not one recorded byte is fetched again, and nothing else twice
    assert fetched_after == A_SIZE - persisted, (fetched_after, A_SIZE, persisted)


def test_offline_serves_cached_bytes(lazy, hub):
    m = lazy()
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    with open(qfile(m, "q8_0"), "rb") as f:
        assert f.read(MiB) == B_DATA[:MiB]
    wait_for(lambda: status(m, "q4_k_m")["cache"] == "cached", what="cache=cached")
    m.remount(opts=[o for o in m.opts] + ["offline"])
    hub.clear_log()
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    fd = os.open(qfile(m, "q8_0"), os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, 1000) == B_DATA[1000:5096]
        with raises_errno(errno.ENETDOWN):
            os.pread(fd, 4096, 16 * MiB)
    finally:
        os.close(fd)
    with raises_errno(errno.ENETDOWN):
        open(qfile(m, "q2_k"), "rb")
    assert status(m, "q8_0")["cache"] == "partial"
    assert hub.log() == []


def control(m, name, text):
    """Writes text to .control/NAME in one write(); returns 0 or the errno."""
    fd = os.open(m.file(".control", name), os.O_WRONLY)
    try:
        os.write(fd, text.encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def jobs(m):
    lines = m.text(".control", "jobs").splitlines()
    head = lines[0].split("\t")
    assert head == ["id", "kind", "target", "state", "progress", "done_bytes", "total_bytes",
                    "rate_bps", "eta_s", "message"]
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]


def test_download_job_then_evict(lazy, hub):
    m = lazy()
    hub.clear_log()
    assert jobs(m) == []
    assert control(m, "download", "lazy/lazy-test/q4_k_m\n") == 0
    wait_for(lambda: jobs(m)[0]["state"] == "done", what="the job to finish")
    job = jobs(m)[0]
    assert job["target"] == "lazy/lazy-test/q4_k_m" and job["progress"] == "100.0"
    assert job["done_bytes"] == job["total_bytes"] == str(A_SIZE)
    assert hub_bytes(hub) == A_SIZE
    info = json.loads(m.text(*QDIR, "q4_k_m", "info.json"))
    assert info["cache"]["state"] == "cached" and info["cache"]["pinned"] is True
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    assert hub_bytes(hub) == A_SIZE
    # refused requests change nothing
    assert control(m, "download", "lazy/lazy-test/nope\n") == errno.ENOENT
    assert control(m, "download", "not a model line\n") == errno.EINVAL
    assert control(m, "download", "lazy/lazy-test/q2_k\n") == errno.ENOENT
    with open(qfile(m, "q4_k_m"), "rb"):
        assert control(m, "evict", "lazy/lazy-test/q4_k_m\n") == errno.EBUSY
        assert "is open" in read_log(m)
    assert status(m, "q4_k_m")["cache"] == "cached"
    assert control(m, "evict", "lazy/lazy-test/q4_k_m\n") == 0
    assert status(m, "q4_k_m")["cache"] == "remote"
    info = json.loads(m.text(*QDIR, "q4_k_m", "info.json"))
    assert info["cache"]["pinned"] is False and info["cache"]["local_path"] is None
    assert os.listdir(os.path.join(m.cache, "blobs")) == []
    # evicted bytes are fetched again when read
    hub.clear_log()
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    assert hub_bytes(hub) == A_SIZE


def test_download_offline_is_enetdown(lazy, hub):
    m = lazy(opts=["offline"])
    assert control(m, "download", "lazy/lazy-test/q4_k_m\n") == errno.ENETDOWN
    assert jobs(m) == []


def test_cache_max_evicts_least_recently_used(lazy, hub):
    m = lazy(opts=["cache_max=50M"])
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    wait_for(lambda: status(m, "q4_k_m")["cache"] == "cached", what="A cached")
    time.sleep(1.1)
    with open(qfile(m, "q8_0"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == B_SHA
        wait_for(lambda: status(m, "q8_0")["cache"] == "cached", what="B cached")
        # A (40 MiB, closed, least recently used) goes; B (open) stays
        wait_for(lambda: status(m, "q4_k_m")["cache"] == "remote", timeout=30, what="A evicted")
        assert status(m, "q8_0")["cache"] == "cached"
    assert "cache_max" in read_log(m)


def test_cache_max_keeps_pinned(lazy, hub):
    m = lazy(opts=["cache_max=50M"])
    assert control(m, "download", "lazy/lazy-test/q4_k_m\n") == 0
    wait_for(lambda: jobs(m)[0]["state"] == "done", what="the job to finish")
    time.sleep(1.1)
    assert sha_of_file(qfile(m, "q8_0")) == B_SHA
    wait_for(lambda: status(m, "q8_0")["cache"] == "remote", timeout=30, what="B evicted")
    assert status(m, "q4_k_m")["cache"] == "cached"


# ---------------------------------------------------------------------------
# A really full cache (SPEC §6 ENOSPC, issue 6): cache= on a small tmpfs.
# 56 MiB holds A (40 MiB) or B (24 MiB), never both.  The state directory
# (the registry database) stays off it.
# ---------------------------------------------------------------------------

TINY_CACHE_MIB = 56


@pytest.fixture
def tiny_cache(mounts, workdir):
    """A TINY_CACHE_MIB tmpfs for cache=; unmounted at teardown, after every
    modelfs mount of the test is gone (whatever the test's outcome)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = os.path.join(workdir, "tiny-cache")
    os.makedirs(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % TINY_CACHE_MIB,
                    "tmpfs", d], check=True, capture_output=True)
    try:
        yield d
    finally:
        try:
            for m in mounts.all:
                m.stop()
        finally:
            if subprocess.run(["umount", d], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", d], capture_output=True)


def blob_files(m):
    return sorted(os.listdir(os.path.join(m.cache, "blobs")))


def test_full_disk_evicts_least_recently_used(lazy, hub, tiny_cache):
    m = lazy(cache=tiny_cache)
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    wait_for(lambda: status(m, "q4_k_m")["cache"] == "cached", what="A cached")
    assert blob_files(m) == [A_SHA]
    # A's RELEASE reaches the daemon after close() returns; and last_used
    # has one-second steps
    time.sleep(1.1)
    before = read_log(m)
    hub.clear_log()
    assert sha_of_file(qfile(m, "q8_0")) == B_SHA
    wait_for(lambda: status(m, "q8_0")["cache"] == "cached", what="B cached")
    assert status(m, "q4_k_m")["cache"] == "remote"
    assert blob_files(m) == [B_SHA]
    # bytes a connection received after the disk filled are not stored,
    # and fetched again: at most a window's worth
    assert B_SIZE <= hub_bytes(hub, B_PATH) <= B_SIZE + 16 * MiB
    assert hub_bytes(hub) == 0
    new = log_lines_since(m, before)
    evicted = [ln for ln in new if "evicted '" in ln]
    assert len(evicted) == 1 and A_SHA in evicted[0] and "make room" in evicted[0], new
    assert not [ln for ln in new if "full" in ln or "cannot" in ln], new


def test_full_disk_with_nothing_to_evict_is_enospc(lazy, hub, tiny_cache):
    m = lazy(cache=tiny_cache)
    assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
    wait_for(lambda: status(m, "q4_k_m")["cache"] == "cached", what="A cached")
    registry = m.read("registry.json")
    fd_a = os.open(qfile(m, "q4_k_m"), os.O_RDONLY)
    try:
        time.sleep(1.1)
        before = read_log(m)
        with raises_errno(errno.ENOSPC):
            sha_of_file(qfile(m, "q8_0"))
        new = log_lines_since(m, before)
        full = [ln for ln in new if "full" in ln]
        # one line for the file, not one per request or retried read
        assert len(full) == 1, new
        assert B_PATH in full[0] and "evict" in full[0] and "close" in full[0], full
        assert " error " in full[0], full
        assert not [ln for ln in new if "evicted '" in ln], new
        # A is untouched: open, cached, every byte right
        got = hashlib.sha256(b"".join(os.pread(fd_a, 4 * MiB, off)
                                      for off in range(0, A_SIZE, 4 * MiB))).hexdigest()
        assert got == A_SHA
        assert status(m, "q4_k_m")["cache"] == "cached"
        assert sha_of_file(qfile(m, "q4_k_m")) == A_SHA
        assert m.read("registry.json") == registry
    finally:
        os.close(fd_a)
    time.sleep(1.1)
    before = read_log(m)
    assert sha_of_file(qfile(m, "q8_0")) == B_SHA
    wait_for(lambda: status(m, "q8_0")["cache"] == "cached", what="B cached")
    assert status(m, "q4_k_m")["cache"] == "remote"
    assert blob_files(m) == [B_SHA]
    assert [ln for ln in log_lines_since(m, before) if "evicted '" in ln and A_SHA in ln]
    assert m.read("registry.json") == registry
