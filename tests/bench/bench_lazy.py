#!/usr/bin/env python3
"""Read benchmarks of lazy model.gguf (SPEC §8, issue 6), printed as ratios.

    bench_lazy.py [--bin build/fs/modelfs] [--size-mib 1024] [--shaped-mib 256]
                  [--runs 3] [--no-drop-caches] [--skip-shaped]

Everything runs against tests/hub/hubsim.py on 127.0.0.1, one file per
measurement so that every cold read is really cold:

  cold      cat of model.gguf through a fresh mount (empty cache), against
            `curl -o FILE` (one stream, to disk, as the mount writes its
            cache) and `aria2c -x8 -s8` on the same hub; plus curl to
            /dev/null, the network path alone
  ttfb      first 4 KiB and first 4 MiB of a cold file
  warm      the same file read again through the mount (kernel page cache,
            keep_cache) against reading the cache file directly; and
            "disk": both after drop_caches (root; --no-drop-caches skips)
  mmap      the same for a MAP_SHARED mapping scanned end to end
  linked    the same file in the next mount, where it is a symlink to the
            cache file (symlinks=yes, the default), read and mapped
  shaped    hubsim's CDN-like link: 40 ms before every response and 40 ms
            more on a new connection, 25 MB/s per connection (the
            lazy-download notes' shaping; tc netem is not in this kernel)

Medians of --runs; MB/s are 10^6 bytes per second.  Run as root for the
bdi read-ahead and drop_caches.  This is a benchmark, not a test: nothing
fails on a slow number.
"""

import argparse
import hashlib
import json
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO_DIR, "tests", "hub"))
from hubsim import HubProcess  # noqa: E402
import scenarios as S  # noqa: E402

ORG = "bench-org/Bench-GGUF"


def mbps(nbytes, secs):
    return nbytes / secs / 1e6 if secs > 0 else float("inf")


def drop_caches(enabled):
    if not enabled:
        return
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def read_file(path, bs=1 << 20):
    t = time.perf_counter()
    n = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            b = os.read(fd, bs)
            if not b:
                break
            n += len(b)
    finally:
        os.close(fd)
    return n, time.perf_counter() - t


def mmap_scan(path):
    t = time.perf_counter()
    with open(path, "rb") as f:
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
            # zero fill: find() touches every page at memchr speed
            assert mm.find(b"\x01") == -1
            n = len(mm)
    return n, time.perf_counter() - t


def ttfb(path, size):
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        assert len(f.read(size)) == size
    return time.perf_counter() - t


class Mount:
    def __init__(self, binary, root, name, hub_url, catalog, opts=()):
        self.path = os.path.join(root, name)
        self.state = os.path.join(root, name + "-state")
        self.cache = os.path.join(root, name + "-cache")
        for d in (self.path, self.state, self.cache):
            os.makedirs(d, exist_ok=True)
        o = ",".join(["auto_unmount", "state=" + self.state, "cache=" + self.cache,
                      "catalog=" + catalog, "endpoint=" + hub_url, *opts])
        self.err = open(os.path.join(root, name + ".stderr"), "wb")
        self.proc = subprocess.Popen([binary, self.path, "-f", "-o", o], stdout=self.err,
                                     stderr=self.err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("modelfs did not mount; see %s.stderr" % self.path)
            time.sleep(0.02)

    def file(self, quant):
        return os.path.join(self.path, "bench", "bench-model", quant, "model.gguf")

    def cache_file(self, sha):
        return os.path.join(self.cache, "blobs", sha)

    def stop(self):
        subprocess.run(["fusermount3", "-u", self.path], check=False)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def write_catalog(path, files):
    quants = [{"name": q, "files": [p], "size_bytes": size, "size_exact": True,
               "bits_per_weight": 4.5} for q, (p, size) in sorted(files.items())]
    doc = {"catalog_version": 1, "models": [{
        "family": "bench", "variant": "bench-model", "full_name": "Bench", "repo_id": ORG,
        "architecture": "llama", "parameter_count": 1.0, "context_window": 4096,
        "multimodal": False, "quantizations": quants}]}
    with open(path, "w") as f:
        json.dump(doc, f)


def curl(url, out):
    t = time.perf_counter()
    subprocess.run(["curl", "-sfL", "-o", out, url], check=True)
    return time.perf_counter() - t


def aria2(url, outdir, name):
    if not shutil.which("aria2c"):
        return None
    t = time.perf_counter()
    subprocess.run(["aria2c", "-q", "-x8", "-s8", "-k1M", "--file-allocation=none",
                    "--allow-overwrite=true", "-d", outdir, "-o", name, url],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def line(label, value, unit="MB/s"):
    print("  %-44s %10s %s" % (label, "-" if value is None else "%.1f" % value, unit))


def ratio(label, a, b):
    print("  %-44s %10s" % (label, "-" if not a or not b else "%.2fx" % (a / b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO_DIR, "build", "fs", "modelfs"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--shaped-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-drop-caches", action="store_true")
    ap.add_argument("--skip-shaped", action="store_true")
    ap.add_argument("--opts", default="", help="extra -o options for the mounts")
    args = ap.parse_args()
    drop = not args.no_drop_caches and os.geteuid() == 0
    size = args.size_mib << 20
    shaped = args.shaped_mib << 20
    runs = args.runs
    extra = [o for o in args.opts.split(",") if o]

    root = tempfile.mkdtemp(prefix="mf-bench-lazy-")
    files = {}
    for i in range(runs):
        files["cold%d" % i] = ("cold%d-Q4_K_M.gguf" % i, size)
        files["ttfb%d" % i] = ("ttfb%d-Q4_K_M.gguf" % i, size)
        files["shaped%d" % i] = ("shaped%d-Q4_K_M.gguf" % i, shaped)
    repo_files = [S.sized(p, n, fill="zeros") for p, n in files.values()]
    catalog = os.path.join(root, "catalog.json")
    write_catalog(catalog, files)
    with HubProcess(S.manifest([S.repo(ORG, repo_files)]), workdir=os.path.join(root, "hub")) as hub:
        shas = {f["path"]: f["sha256"] for f in hub.repos(wait=True)["repos"][0]["revisions"][0]["files"]}

        def url(quant):
            return "%s/%s/resolve/main/%s" % (hub.url, ORG, files[quant][0])

        print("modelfs lazy read benchmark: %d MiB file, %d runs, hub %s" % (args.size_mib, runs, hub.url))
        res = {k: [] for k in ("cold", "curl_disk", "curl_null", "aria", "ttfb4k", "ttfb4m",
                                "warm", "direct_warm", "disk", "direct_disk", "mmap_warm",
                                "mmap_direct_warm", "mmap_disk", "mmap_direct_disk",
                                "link_warm", "link_mmap_warm", "link_disk",
                                "shaped", "shaped_curl", "shaped_aria", "shaped_ttfb")}
        for i in range(runs):
            m = Mount(args.bin, root, "m%d" % i, hub.url, catalog, extra)
            try:
                q = "cold%d" % i
                drop_caches(drop)
                n, t = read_file(m.file(q))
                assert n == size
                res["cold"].append(mbps(n, t))
                res["ttfb4k"].append(ttfb(m.file("ttfb%d" % i), 4096) * 1000)
                # a fresh region of the same cold file for 4 MiB
                t0 = time.perf_counter()
                with open(m.file("ttfb%d" % i), "rb", buffering=0) as f:
                    f.seek(size // 2)
                    assert len(f.read(4 << 20)) == 4 << 20
                res["ttfb4m"].append((time.perf_counter() - t0) * 1000)
                cache_file = m.cache_file(shas[files[q][0]])
                deadline = time.monotonic() + 60
                while not os.path.exists(cache_file) and time.monotonic() < deadline:
                    time.sleep(0.05)
                # warm: page cache on both sides
                read_file(cache_file)
                n, t = read_file(m.file(q))
                res["warm"].append(mbps(n, t))
                n, t = read_file(cache_file)
                res["direct_warm"].append(mbps(n, t))
                n, t = mmap_scan(m.file(q))
                res["mmap_warm"].append(mbps(n, t))
                n, t = mmap_scan(cache_file)
                res["mmap_direct_warm"].append(mbps(n, t))
                if drop:
                    drop_caches(True)
                    n, t = read_file(m.file(q))
                    res["disk"].append(mbps(n, t))
                    drop_caches(True)
                    n, t = read_file(cache_file)
                    res["direct_disk"].append(mbps(n, t))
                    drop_caches(True)
                    n, t = mmap_scan(m.file(q))
                    res["mmap_disk"].append(mbps(n, t))
                    drop_caches(True)
                    n, t = mmap_scan(cache_file)
                    res["mmap_direct_disk"].append(mbps(n, t))
            finally:
                m.stop()
            m = Mount(args.bin, root, "m%d" % i, hub.url, catalog, extra)
            try:
                assert os.path.islink(m.file(q)), "symlinks=yes did not link %s" % q
                read_file(m.file(q))
                n, t = read_file(m.file(q))
                res["link_warm"].append(mbps(n, t))
                n, t = mmap_scan(m.file(q))
                res["link_mmap_warm"].append(mbps(n, t))
                if drop:
                    drop_caches(True)
                    n, t = read_file(m.file(q))
                    res["link_disk"].append(mbps(n, t))
            finally:
                m.stop()
            out = os.path.join(root, "curl.out")
            drop_caches(drop)
            res["curl_disk"].append(mbps(size, curl(url("cold%d" % i), out)))
            os.unlink(out)
            res["curl_null"].append(mbps(size, curl(url("cold%d" % i), "/dev/null")))
            t = aria2(url("cold%d" % i), root, "aria.out")
            res["aria"].append(mbps(size, t) if t else None)
            if t:
                os.unlink(os.path.join(root, "aria.out"))

        if not args.skip_shaped:
            hub.set_faults({"latency_ms": 40, "conn_latency_ms": 40, "bandwidth": 25000000})
            for i in range(runs):
                m = Mount(args.bin, root, "s%d" % i, hub.url, catalog, extra)
                try:
                    q = "shaped%d" % i
                    t0 = time.perf_counter()
                    with open(m.file(q), "rb", buffering=0) as f:
                        f.read(4096)
                    res["shaped_ttfb"].append((time.perf_counter() - t0) * 1000)
                    n, t = read_file(m.file(q))
                    res["shaped"].append(mbps(n, t + 0))
                finally:
                    m.stop()
                out = os.path.join(root, "curl.out")
                res["shaped_curl"].append(mbps(shaped, curl(url("shaped%d" % i), out)))
                os.unlink(out)
                t = aria2(url("shaped%d" % i), root, "aria.out")
                res["shaped_aria"].append(mbps(shaped, t) if t else None)
                if t:
                    os.unlink(os.path.join(root, "aria.out"))
            hub.clear_faults()

    r = {k: med(v) for k, v in res.items()}
    print("\ncold sequential read (empty cache)")
    line("modelfs cat", r["cold"])
    line("curl -o FILE (one stream, to disk)", r["curl_disk"])
    line("curl -o /dev/null", r["curl_null"])
    line("aria2c -x8 -s8", r["aria"])
    ratio("modelfs / curl to disk (target >= 1.0)", r["cold"], r["curl_disk"])
    ratio("modelfs / aria2c -x8", r["cold"], r["aria"])
    print("\ntime to first byte, cold")
    line("4 KiB at offset 0", r["ttfb4k"], "ms")
    line("4 MiB in the middle", r["ttfb4m"], "ms")
    print("\nwarm sequential read (page cache)")
    line("modelfs", r["warm"])
    line("cache file directly", r["direct_warm"])
    ratio("modelfs / direct (target >= 0.95)", r["warm"], r["direct_warm"])
    line("modelfs mmap", r["mmap_warm"])
    line("cache file mmap", r["mmap_direct_warm"])
    ratio("modelfs mmap / direct mmap", r["mmap_warm"], r["mmap_direct_warm"])
    print("\nwarm read in the next mount, model.gguf a symlink to the cache (symlinks=yes)")
    line("modelfs (linked)", r["link_warm"])
    ratio("modelfs linked / direct (target >= 0.95)", r["link_warm"], r["direct_warm"])
    line("modelfs mmap (linked)", r["link_mmap_warm"])
    ratio("modelfs linked mmap / direct mmap", r["link_mmap_warm"], r["mmap_direct_warm"])
    if drop:
        print("\ncached blob, cold page cache (after drop_caches)")
        line("modelfs", r["disk"])
        line("cache file directly", r["direct_disk"])
        ratio("modelfs / direct", r["disk"], r["direct_disk"])
        line("modelfs mmap", r["mmap_disk"])
        line("cache file mmap", r["mmap_direct_disk"])
        ratio("modelfs mmap / direct mmap", r["mmap_disk"], r["mmap_direct_disk"])
        line("modelfs (linked)", r["link_disk"])
        ratio("modelfs linked / direct", r["link_disk"], r["direct_disk"])
    if not args.skip_shaped:
        print("\nshaped link: 40 ms per response (+40 ms per connection), 25 MB/s per connection, %d MiB"
              % args.shaped_mib)
        line("modelfs cat", r["shaped"])
        line("curl", r["shaped_curl"])
        line("aria2c -x8 -s8", r["shaped_aria"])
        line("modelfs time to first 4 KiB", r["shaped_ttfb"], "ms")
        ratio("modelfs / curl", r["shaped"], r["shaped_curl"])
        ratio("modelfs / aria2c -x8 (target > 1.0)", r["shaped"], r["shaped_aria"])
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
