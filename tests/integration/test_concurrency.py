"""Concurrent readers of one mount (STYLE §8: multithreaded loop by default).

Sixteen threads read one file at once, each through its own file
descriptor, in whole reads and in page-sized reads at shuffled offsets,
and must all get the same bytes; several `ls -R` and `find | xargs cat` walks run in parallel and must
agree with a walk done alone.
"""

import concurrent.futures
import os
import random
import subprocess
import threading

from conftest import builtin_catalog

THREADS = 16


def read_all(path, chunk=None):
    """The whole file: one read, or chunk-sized preads in a random order with
    read-ahead off, so the daemon sees many reads at many offsets."""
    with open(path, "rb", buffering=0) as f:
        if chunk is None:
            return f.read()
        fd = f.fileno()
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        size = os.fstat(fd).st_size
        offsets = list(range(0, size + chunk, chunk))
        random.shuffle(offsets)
        parts = {off: os.pread(fd, chunk, off) for off in offsets}
        return b"".join(parts[off] for off in sorted(parts))


def read_together(path, rounds=3, chunk=None):
    barrier = threading.Barrier(THREADS)

    def one(_):
        out = []
        for _ in range(rounds):
            barrier.wait(timeout=60)
            out.append(read_all(path, chunk))
        return out

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        return [d for r in pool.map(one, range(THREADS)) for d in r]


def test_one_file_from_16_threads(mount):
    path = mount.file("registry.json")
    want = read_all(path)
    assert len(want) > 10000
    got = read_together(path)
    assert len(got) == 3 * THREADS
    assert all(d == want for d in got)
    got = read_together(path, rounds=2, chunk=4096)
    assert all(d == want for d in got)


def test_small_files_from_16_threads(mount):
    m = builtin_catalog()[0]
    for rel in ((m["family"], m["variant"], "info.json"),
                (m["family"], m["variant"], m["quantizations"][0]["name"], "info.json"),
                ("models.tsv",)):
        path = mount.file(*rel)
        want = read_all(path)
        assert all(d == want for d in read_together(path, rounds=2))


def test_parallel_ls_and_cat(mount):
    alone = subprocess.run(["ls", "-R", mount.path], capture_output=True, text=True)
    assert alone.returncode == 0, alone.stderr
    cat_cmd = ("find '%s' -type f ! -name '*.gguf' ! -path '*/.control/*' -print0 "
               "| sort -z | xargs -0 cat | sha256sum" % mount.path)
    cat_alone = subprocess.run(["sh", "-c", cat_cmd], capture_output=True, text=True)
    assert cat_alone.returncode == 0, cat_alone.stderr

    procs = [subprocess.Popen(["ls", "-R", mount.path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    procs += [subprocess.Popen(["sh", "-c", cat_cmd], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.args, *p.communicate(timeout=300), p.returncode) for p in procs]
    for args, out, err, rc in results:
        assert rc == 0, (args, err)
        if args[0] == "ls":
            assert out == alone.stdout
        else:
            assert out == cat_alone.stdout


def test_stat_storm(mount):
    paths = [os.path.join(root, n) for root, dirs, files in os.walk(mount.path)
             for n in files + dirs]

    def sizes(_):
        return [os.lstat(p).st_size for p in paths]

    want = sizes(0)
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        assert all(r == want for r in pool.map(sizes, range(THREADS)))
