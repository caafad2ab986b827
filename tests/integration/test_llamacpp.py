"""A real client: llama.cpp loads models through a modelfs mount (issue 6),
and nlc-bench, the llama-bench stand-in for bench_cmd (issue 7).

llama.cpp here is node-llama-cpp's prebuilt CPU build, installed by
tests/llamacpp/nlc_setup.py into BUILD/llamacpp-node at the first test
(npm, about 85 MiB; later runs reuse it).  Every test skips when npm cannot
reach the registry, and fails when node or npm is missing.

The models are zero-weight replicas (tests/gguf/replica.py) of the "tiny"
spec of the ground truth (Llama, 2 layers, 64 dims), with a 32000-token
vocabulary so model.gguf is 8 MiB and spans several read-ahead windows:

  f16    tiny-real-F16.gguf                         one file
  q8_0   tiny-real-Q8_0-0000K-of-00002.gguf         two shards

hubsim serves them from disk; each test registers the repo through
.control/register on a fresh mount and cache, so llama.cpp's first read of
model.gguf is the first download.  llama.cpp reports what it loaded (tensor
count, load mode, weight buffers) in its log; nlc-load.mjs hands that back
with the result of a short generation.  Zero weights make garbage tokens:
what is checked is that the whole model was read through the mount, with
mmap and with read(), and that the bytes then sit in the cache, verified.
"""

import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TESTS, "hub"))
sys.path.insert(0, os.path.join(TESTS, "gguf"))
sys.path.insert(0, os.path.join(TESTS, "llamacpp"))

import reaper  # noqa: E402
from hubsim import HubProcess  # noqa: E402
import ggufgen  # noqa: E402
import replica  # noqa: E402
import scenarios as S  # noqa: E402
import nlc_setup  # noqa: E402

FIXTURES = os.environ.get("MF_FIXTURES_DIR") or os.path.join(TESTS, "..", "..", "shared",
                                                              "fixtures")
TINY_SPEC = os.path.join(FIXTURES, "groundtruth", "tiny.json")

REPO = "test-org/Tiny-Real-GGUF"
VDIR = ("llama", "tiny-real")
N_VOCAB = 32000
LOAD_TIMEOUT_S = 300


# ---------------------------------------------------------------------------
# The client and the models
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nlc(request):
    try:
        return nlc_setup.ensure()
    except nlc_setup.NlcUnavailable as e:
        # printed past pytest's capture, so ctest's log says why all skipped
        pm = request.config.pluginmanager
        tr, capman = pm.get_plugin("terminalreporter"), pm.get_plugin("capturemanager")
        if tr is not None and capman is not None:
            with capman.global_and_fixture_disabled():
                tr.write_line("\ntest_llamacpp: skipping: %s" % e)
        pytest.skip("llama.cpp client not installed: %s" % e)
    except nlc_setup.NlcSetupError as e:
        pytest.fail(str(e), pytrace=False)


def tensor_facts(tensors):
    """(tensor count, llama_model_size, llama_model_n_params) of a replica."""
    size = sum(ggufgen.tensor_nbytes(t["type"], t["shape"]) for t in tensors)
    params = sum(math.prod(t["shape"]) for t in tensors)
    return len(tensors), size, params


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class Model:
    def __init__(self, paths, tensors):
        self.paths = paths
        self.n_tensors, self.size, self.n_params = tensor_facts(tensors)
        self.sha = [sha256_of(p) for p in paths]
        self.bytes = [os.path.getsize(p) for p in paths]


@pytest.fixture(scope="module")
def models():
    """The generated model files, kept for the module."""
    with open(TINY_SPEC) as f:
        tiny = json.load(f)
    big = json.loads(json.dumps(tiny))
    big["hparams"]["vocab_size"] = N_VOCAB
    big["tokenizer"]["n_vocab"] = N_VOCAB
    root = reaper.test_root()
    os.makedirs(root, exist_ok=True)
    d = tempfile.mkdtemp(prefix="llamacpp-models-", dir=root)
    try:
        out = {}
        p = os.path.join(d, "tiny.gguf")
        replica.write(tiny, "f16", p)
        out["tiny"] = Model([p], replica.build(tiny, "f16")[1])
        p = os.path.join(d, "tiny-real-F16.gguf")
        replica.write(big, "f16", p)
        out["f16"] = Model([p], replica.build(big, "f16")[1])
        md, tensors = replica.build(big, "q8_0")
        paths = ggufgen.write_split(os.path.join(d, "tiny-real-Q8_0"), md, tensors, 2)
        out["q8_0"] = Model(paths, tensors)
        yield out
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def hub(workdir, models):
    files = [S.text("README.md", "# Tiny Real\n\nzero weights, for llama.cpp tests\n")]
    for q in ("f16", "q8_0"):
        for p in models[q].paths:
            files.append({"path": os.path.basename(p), "file": p})
    with HubProcess(S.manifest([S.repo(REPO, files)]), workdir=os.path.join(workdir, "hub")) as h:
        h.repos(wait=True)
        yield h


@pytest.fixture
def mnt(hub, mounts):
    """A fresh mount (no catalog, empty cache) with the repo registered."""
    m = mounts.new(opts=["catalog=none", "endpoint=" + hub.url])
    fd = os.open(m.file(".control", "register"), os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, ("%s family=%s variant=%s\n" % (REPO, VDIR[0], VDIR[1])).encode())
    finally:
        os.close(fd)
    for q in ("f16", "q8_0"):
        assert os.path.isdir(m.file(*VDIR, q)), m.log()[-3000:]
    return m


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def status(m, quant):
    out = {}
    for line in m.text(*VDIR, quant, "status").splitlines():
        k, v = line.split("=", 1)
        out[k] = v
    return out


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    pytest.fail("timed out after %d s waiting for %s" % (timeout, what))


def hub_bytes(hub, path):
    return hub.file_bytes("%s/%s" % (REPO, os.path.basename(path)))


def run_load(nlc, m, model_path, mmap, gen=8):
    t0 = time.monotonic()
    p = nlc.run(nlc.load, ["--model", model_path, "--mmap", "on" if mmap else "off",
                           "--gen", str(gen), "--threads", "1"], timeout=LOAD_TIMEOUT_S)
    took = time.monotonic() - t0
    assert p.returncode == 0, "nlc-load failed (rc %d) on %s:\n%s\n--- .control/log ---\n%s" % (
        p.returncode, model_path, p.stderr[-6000:], m.log()[-3000:])
    res = json.loads(p.stdout)
    res["wall_s"] = took
    return res, p.stderr


def check_loaded(res, model, mmap, gen=8):
    lg = res["llama_log"]
    assert lg["tensors"] == model.n_tensors, lg
    assert res["model"]["tensor_count"] == model.n_tensors
    assert res["model"]["size"] == model.size
    assert res["model"]["n_params"] == model.n_params
    assert res["model"]["n_vocab"] == N_VOCAB
    assert res["model"]["use_mmap"] is mmap
    assert lg["load_mode"] == ("mmap" if mmap else "none"), lg
    # weights in a mapped buffer with mmap, copied into a CPU one without
    # (a CPU whose ggml repacks these types adds a buffer: then no sum)
    bufs = lg["model_buffers_mib"]
    want = "CPU_Mapped" if mmap else "CPU"
    assert want in bufs and ("CPU_Mapped" in bufs) is mmap, lg
    if list(bufs) == [want]:
        assert abs(bufs[want] - model.size / 2**20) < 0.02, lg
    gen_tokens = res["eval"]["generated"]
    assert len(gen_tokens) == gen
    assert all(isinstance(t, int) and 0 <= t < N_VOCAB for t in gen_tokens)
    assert len(res["eval"]["prompt_tokens"]) > 1


def check_cached(m, hub, quant, model, before):
    """Every file of the quant becomes cached, its blob is the file, and no
    byte was fetched twice since `before` (hub bytes per file, taken after
    registration, whose header reads are not part of the download)."""
    wait_for(lambda: status(m, quant)["cache"] == "cached", 60,
             "%s to be cached (status: %s)" % (quant, status(m, quant)))
    st = status(m, quant)
    assert st["cached_bytes"] == str(sum(model.bytes)) == st["size_bytes"]
    info = json.loads(m.text(*VDIR, quant, "info.json"))
    assert info["cache"]["state"] == "cached"
    by_sha = {f["sha256"]: f for f in info["files"]}
    assert sorted(by_sha) == sorted(model.sha)
    for sha, path in zip(model.sha, model.paths):
        blob = os.path.join(m.cache, "blobs", sha)
        assert os.path.isfile(blob), os.listdir(os.path.join(m.cache, "blobs"))
        assert sha256_of(blob) == sha
        got = hub_bytes(hub, path) - before[path]
        assert got <= os.path.getsize(path), (path, got)


# ---------------------------------------------------------------------------
# Through the mount
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mmap", [True, False], ids=["mmap", "read"])
def test_model_loads_through_mount(nlc, models, hub, mnt, mmap):
    model = models["f16"]
    path0 = model.paths[0]
    path = mnt.file(*VDIR, "f16", "model.gguf")
    assert os.stat(path).st_size == model.bytes[0]
    assert status(mnt, "f16")["cache"] != "cached"
    before = {p: hub_bytes(hub, p) for p in model.paths}
    assert before[path0] < model.bytes[0] // 4, "registration downloaded the model: %r" % before
    res, _ = run_load(nlc, mnt, path, mmap)
    check_loaded(res, model, mmap)
    assert res["llama_log"]["additional_ggufs"] == 0
    assert hub_bytes(hub, path0) > before[path0]
    check_cached(mnt, hub, "f16", model, before)
    # warm: the same load again, with nothing left to fetch
    hub.clear_log()
    res2, _ = run_load(nlc, mnt, path, mmap)
    check_loaded(res2, model, mmap)
    assert res2["eval"]["generated"] == res["eval"]["generated"]
    assert hub_bytes(hub, path0) == 0


def test_split_model_loads_through_mount(nlc, models, hub, mnt):
    model = models["q8_0"]
    names = sorted(n for n in os.listdir(mnt.file(*VDIR, "q8_0")) if n.endswith(".gguf"))
    assert names == ["model-00001-of-00002.gguf", "model-00002-of-00002.gguf"]
    for n, size in zip(names, model.bytes):
        assert os.stat(mnt.file(*VDIR, "q8_0", n)).st_size == size
    assert status(mnt, "q8_0")["cache"] != "cached"
    before = {p: hub_bytes(hub, p) for p in model.paths}
    res, _ = run_load(nlc, mnt, mnt.file(*VDIR, "q8_0", names[0]), True)
    check_loaded(res, model, True)
    assert res["llama_log"]["additional_ggufs"] == 1
    assert res["model"]["spliced_parts"] == 2
    check_cached(mnt, hub, "q8_0", model, before)
    # the next mount shows the cached shards as symlinks into the cache
    # (symlinks=yes); llama.cpp still finds the second shard by the first
    # one's name in the mount, and reads the real files
    mnt.remount()
    for n, sha in zip(names, model.sha):
        p = mnt.file(*VDIR, "q8_0", n)
        assert os.path.islink(p) and os.readlink(p) == os.path.join(mnt.cache, "blobs", sha), p
    hub.clear_log()
    res2, _ = run_load(nlc, mnt, mnt.file(*VDIR, "q8_0", names[0]), True)
    check_loaded(res2, model, True)
    assert res2["llama_log"]["additional_ggufs"] == 1
    assert res2["eval"]["generated"] == res["eval"]["generated"]
    assert sum(hub_bytes(hub, p) for p in model.paths) == 0


# ---------------------------------------------------------------------------
# nlc-bench: llama-bench's -o json from node-llama-cpp
# ---------------------------------------------------------------------------

# llama-bench's JSON fields at the llama.cpp node-llama-cpp 3.22.1 bundles
# (tools/llama-bench/llama-bench.cpp, test::get_fields), then the samples.
BENCH_FIELDS = [
    "build_commit", "build_number", "cpu_info", "gpu_info", "backends",
    "model_filename", "model_type", "model_size", "model_n_params", "n_batch",
    "n_ubatch", "n_threads", "cpu_mask", "cpu_strict", "poll",
    "type_k", "type_v", "n_gpu_layers", "n_cpu_moe", "split_mode",
    "main_gpu", "no_kv_offload", "flash_attn", "devices", "tensor_split",
    "tensor_buft_overrides", "load_mode", "lazy_mode", "embeddings",
    "no_op_offload", "no_host", "fit_target", "fit_min_ctx",
    "n_prompt", "n_gen", "n_depth",
    "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
    "samples_ns", "samples_ts",
]
BENCH_INT = {"build_number", "n_batch", "n_ubatch", "n_threads", "poll", "model_size",
             "model_n_params", "n_gpu_layers", "main_gpu", "n_prompt", "n_gen", "n_depth",
             "avg_ns", "stddev_ns", "no_op_offload", "n_cpu_moe", "fit_target", "fit_min_ctx",
             "flash_attn"}
BENCH_BOOL = {"no_kv_offload", "cpu_strict", "embeddings", "no_host"}
BENCH_FLOAT = {"avg_ts", "stddev_ts"}


def check_bench_object(t, model, path, n_prompt, n_gen, reps):
    assert list(t) == BENCH_FIELDS
    for k, v in t.items():
        if k in BENCH_INT:
            assert isinstance(v, int) and not isinstance(v, bool), (k, v)
        elif k in BENCH_BOOL:
            assert isinstance(v, bool), (k, v)
        elif k in BENCH_FLOAT:
            assert isinstance(v, (int, float)) and v >= 0, (k, v)
        elif k not in ("samples_ns", "samples_ts"):
            assert isinstance(v, str), (k, v)
    assert (t["n_prompt"], t["n_gen"], t["n_depth"]) == (n_prompt, n_gen, 0)
    assert t["model_filename"] == path
    assert t["model_size"] == model.size and t["model_n_params"] == model.n_params
    assert t["model_type"].startswith("llama ") and t["model_type"].endswith(" F16")
    assert (t["n_threads"], t["n_gpu_layers"], t["backends"]) == (1, 0, "CPU")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["test_time"])
    ns, ts = t["samples_ns"], t["samples_ts"]
    assert len(ns) == len(ts) == reps
    assert all(isinstance(x, int) and x > 0 for x in ns)
    n = n_prompt + n_gen
    for a, b in zip(ns, ts):
        assert b == pytest.approx(1e9 * n / a, rel=1e-5)
    assert t["avg_ns"] == pytest.approx(sum(ns) / reps, abs=1)
    assert t["avg_ts"] == pytest.approx(sum(ts) / reps, rel=1e-5)
    mean = sum(ts) / reps
    sd = math.sqrt(sum((x - mean) ** 2 for x in ts) / (reps - 1))
    assert t["stddev_ts"] == pytest.approx(sd, rel=1e-3, abs=1e-3)
    assert t["avg_ts"] > 0


def test_nlc_bench_json(nlc, models):
    model = models["tiny"]
    path = model.paths[0]
    p = nlc.run(nlc.bench, ["-m", path, "-p", "32", "-n", "8", "-r", "3", "-o", "json",
                            "-t", "1", "-ngl", "0"], timeout=LOAD_TIMEOUT_S)
    assert p.returncode == 0, p.stderr[-4000:]
    # the layout llama-bench prints: an array, two-space objects, four-space fields
    assert p.stdout.startswith('[\n  {\n    "build_commit": "'), p.stdout[:200]
    assert p.stdout.endswith("\n  }\n]\n")
    assert re.search(r'^    "samples_ts": \[ [^\]]* \]$', p.stdout, re.M)
    tests = json.loads(p.stdout)
    assert len(tests) == 2
    check_bench_object(tests[0], model, path, 32, 0, 3)
    check_bench_object(tests[1], model, path, 0, 8, 3)
    assert p.stderr.count("\n") < 50, "llama.cpp's info log leaked without -v:\n" + p.stderr


def test_nlc_bench_jsonl_and_defaults(nlc, models):
    path = models["tiny"].paths[0]
    p = nlc.run(nlc.bench, ["-m", path, "-p", "16,0", "-n", "0", "-pg", "8,4", "-r", "1",
                            "-o", "jsonl", "-t", "1", "--no-warmup"], timeout=LOAD_TIMEOUT_S)
    assert p.returncode == 0, p.stderr[-4000:]
    lines = p.stdout.splitlines()
    assert len(lines) == 2
    rows = [json.loads(x) for x in lines]
    assert [(r["n_prompt"], r["n_gen"]) for r in rows] == [(16, 0), (8, 4)]
    assert [list(r) for r in rows] == [BENCH_FIELDS] * 2
    assert rows[0]["n_gpu_layers"] == -1 and rows[0]["stddev_ns"] == 0


@pytest.mark.parametrize("args,words", [
    (["-m", "/nonexistent/model.gguf", "-o", "json"], ["cannot read model", "/nonexistent"]),
    (["-m", "MODEL", "-o", "sql"], ["output format 'sql'"]),
    (["-m", "MODEL", "--frobnicate"], ["invalid parameter for argument: --frobnicate"]),
    (["-m", "MODEL", "-p", "x"], ["invalid value 'x' for -p"]),
    (["-o", "json"], ["no model"]),
    (["-m", "NOTGGUF", "-o", "json"], ["failed to load model"]),
], ids=["missing", "format", "unknown", "badint", "nomodel", "notgguf"])
def test_nlc_bench_failures(nlc, models, workdir, args, words):
    junk = os.path.join(workdir, "junk.gguf")
    with open(junk, "wb") as f:
        f.write(b"this is not a gguf file\n" * 100)
    args = [models["tiny"].paths[0] if a == "MODEL" else junk if a == "NOTGGUF" else a
            for a in args]
    p = nlc.run(nlc.bench, args, timeout=120)
    assert p.returncode != 0
    assert p.stdout == ""
    assert "nlc-bench: error: " in p.stderr
    for w in words:
        assert w in p.stderr, p.stderr


# ---------------------------------------------------------------------------
# A real benchmark: .control/benchmark with nlc-bench (llama.cpp) as bench_cmd
# ---------------------------------------------------------------------------

def test_real_benchmark_through_the_mount(nlc, models, hub, mounts):
    """echo QUANT > .control/benchmark runs llama.cpp (nlc-bench, printing
    llama-bench's JSON) on the model as the mount serves it, downloading
    it first; the measured speeds land in benchmark.json and models.tsv."""
    cmd = "%s %s -m {model} -p 32 -n 8 -r 2 -t 1 -ngl {ngl} -o json" % (nlc.node, nlc.bench)
    m = mounts.new(opts=["catalog=none", "endpoint=" + hub.url, "bench_cmd=" + cmd,
                         "ram_bandwidth=10"], env={"NODE_LLAMA_CPP_DIR": nlc.dir})
    with open(m.file(".control", "register"), "w") as f:
        f.write("%s family=%s variant=%s\n" % (REPO, VDIR[0], VDIR[1]))
    with open(m.file(".control", "benchmark"), "w") as f:
        f.write("%s/%s/q8_0\n" % VDIR)
    target = m.file(*VDIR, "q8_0", "benchmark.json")
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while time.monotonic() < deadline:
        b = json.loads(open(target).read())
        if b["status"] in ("tested", "failed"):
            break
        time.sleep(0.25)
    assert b["status"] == "tested", (b, m.log()[-3000:])
    assert b["n_prompt"] == 32 and b["n_gen"] == 8
    assert b["pp_tokens_per_s"] > 0 and b["tg_tokens_per_s"] > 0
    assert b["ngl"] == 0 and b["command"][0] == nlc.node
    assert b["command"][3] == m.file(*VDIR, "q8_0", "model-00001-of-00002.gguf")
    assert b["peak_rss_mib"] > 10, b
    assert b["estimate_vram_mib"] > 0 and b["est_tg_ceiling"] > 0
    assert "node-llama-cpp" in b["build"], b["build"]
    assert status(m, "q8_0")["cache"] == "cached"
    rows = [line.split("\t") for line in m.text("models.tsv").splitlines()]
    head = rows[0]
    row = dict(zip(head, [r for r in rows if r[0] == "%s/%s/q8_0" % VDIR][0]))
    assert float(row["tg_tokens_per_s"]) > 0 and row["benchmark"] == "tested"
