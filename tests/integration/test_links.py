"""Cached model files as symlinks into the cache (symlinks=yes, fs/ops.c).

A model file whose bytes are all cached when the kernel first looks it up
in a mount is a symlink to the cache file; one the kernel has seen as a
regular file in a mount stays one for that mount, so that a process which
mapped it never finds its inode gone bad.  Uses test_lazy's hub and
catalog (40 MiB q4_k_m, 24 MiB q8_0 of hubsim's pattern fill).
"""

import errno
import mmap
import os
import stat
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from conftest import read_log  # noqa: E402,F401
from test_lazy import (A_DATA, A_SHA, A_SIZE, B_SHA, QDIR, control, hub, hub_bytes, jobs,  # noqa: E402,F401
                       lazy, qfile, sha_of_file, status, wait_for)

Q4 = "lazy/lazy-test/q4_k_m"


def download(m, target=Q4):
    assert control(m, "download", target + "\n") == 0
    wait_for(lambda: all(j["state"] == "done" for j in jobs(m)), what="the download to finish")


def is_link(path):
    return stat.S_ISLNK(os.lstat(path).st_mode)


def test_cached_file_is_a_symlink_into_the_cache(lazy, hub):
    m = lazy()
    download(m)
    hub.clear_log()
    path = qfile(m, "q4_k_m")
    # never looked up before it was complete: a symlink at once
    assert is_link(path)
    target = os.readlink(path)
    assert target == os.path.join(m.cache, "blobs", A_SHA)
    assert os.stat(path).st_size == A_SIZE
    assert sha_of_file(path) == A_SHA
    with open(path, "rb") as f:
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
            assert mm[A_SIZE - 4096:] == A_DATA[A_SIZE - 4096:]
    assert hub.log() == []
    # the directory listing says so too, plain and with attributes
    entries = {e.name: e for e in os.scandir(m.file(*QDIR, "q4_k_m"))}
    assert entries["model.gguf"].is_symlink()
    out = subprocess.run(["ls", "-l", m.file(*QDIR, "q4_k_m")], capture_output=True, text=True, check=True)
    assert "model.gguf -> " + target in out.stdout
    # a quant not cached is a regular file, and reads lazily as before
    assert stat.S_ISREG(os.lstat(qfile(m, "q8_0")).st_mode)
    assert sha_of_file(qfile(m, "q8_0")) == B_SHA


def test_a_file_seen_as_regular_stays_regular_in_the_mount(lazy, hub):
    m = lazy()
    path = qfile(m, "q4_k_m")
    assert stat.S_ISREG(os.lstat(path).st_mode)
    # a process maps the file and closes it, as llama.cpp does
    fd = os.open(path, os.O_RDONLY)
    mm = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    os.close(fd)
    assert mm[:4096] == A_DATA[:4096]
    download(m)
    wait_for(lambda: status(m, "q4_k_m")["cache"] == "cached", what="q4_k_m cached")
    time.sleep(1.2)  # past the kernel's attribute timeout: the next stat asks the daemon
    for _ in range(3):
        assert stat.S_ISREG(os.lstat(path).st_mode)
        os.listdir(m.file(*QDIR, "q4_k_m"))
    # every page of the mapping still reads, also after the page cache is dropped
    if os.geteuid() == 0:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    step = 1 << 20
    for off in range(0, A_SIZE, step):
        assert mm[off:off + 64] == A_DATA[off:off + 64], off
    mm.close()
    # the next mount shows it as a symlink
    m.remount()
    assert is_link(path) and sha_of_file(path) == A_SHA


def test_symlinks_no_keeps_regular_files(lazy, hub):
    m = lazy(opts=["symlinks=no"])
    download(m)
    m.remount()
    path = qfile(m, "q4_k_m")
    assert stat.S_ISREG(os.lstat(path).st_mode)
    assert sha_of_file(path) == A_SHA
    assert "symlinks=no" in m.text(".control", "config")


def test_evict_of_a_linked_file(lazy, hub):
    m = lazy()
    download(m)
    path = qfile(m, "q4_k_m")
    assert is_link(path)
    # open through the link: the daemon sees no open, /proc does
    with open(path, "rb"):
        assert control(m, "evict", Q4 + "\n") == errno.EBUSY
    fd = os.open(path, os.O_RDONLY)
    mm = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    os.close(fd)
    try:
        assert control(m, "evict", Q4 + "\n") == errno.EBUSY
    finally:
        mm.close()
    assert status(m, "q4_k_m")["cache"] == "cached"
    assert control(m, "evict", Q4 + "\n") == 0
    # the symlink turns back into a lazily fetched file, at once: evict
    # returns once the kernel has let go of the link
    assert stat.S_ISREG(os.lstat(path).st_mode)
    hub.clear_log()
    assert sha_of_file(path) == A_SHA
    assert hub_bytes(hub) == A_SIZE


@pytest.mark.parametrize("opts", [["verify=strict"]])
def test_strict_links_only_verified_blobs(lazy, hub, opts):
    m = lazy(opts=opts)
    download(m)
    path = qfile(m, "q4_k_m")
    assert is_link(path) and os.readlink(path).startswith(os.path.join(m.cache, "blobs") + "/")
    assert sha_of_file(path) == A_SHA
