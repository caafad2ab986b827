"""Benchmarks on demand through a real mount (SPEC §4, §6 benchmark; issue 7).

The runners are small scripts this file writes, given to the mount as
bench_cmd: one prints llama-bench's `-o json` after reading the model's
first bytes through the mount, one exits non-zero, one hangs, one prints
garbage; a missing one is a path that does not exist.  Each records its
argv and start/end times in a file, so the tests see what was run and
that runs never overlapped.  The models come from the hub imitation's
standard repos (tiny real-shaped GGUF replicas), registered through
.control/register, so the estimator knows them.
"""

import errno
import json
import os
import stat
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "hub"))

from conftest import raises_errno, read_log  # noqa: E402
from hubsim import HubProcess  # noqa: E402
import scenarios as S  # noqa: E402

TINY = "test-org/Tiny-Llama-GGUF"
FAM, VAR = "llama", "tiny-llama"
Q4 = "%s/%s/q4_k_m" % (FAM, VAR)
Q8 = "%s/%s/q8_0" % (FAM, VAR)

RUNNER = r'''#!/usr/bin/env python3
import json, os, sys, time
rec = os.environ.get("MF_RUNNER_RECORD") or %(record)r
start = time.time()
args = sys.argv[1:]
model = args[args.index("-m") + 1] if "-m" in args else None
head = b""
if model:
    with open(model, "rb") as f:
        head = f.read(4)
mode = %(mode)r
sys.stderr.write("runner: loading %%s\n" %% model)
if mode == "sleep":
    time.sleep(%(sleep)r)
if mode == "hang":
    time.sleep(3600)
if mode == "fail":
    sys.stderr.write("error: failed to load model\n")
    sys.exit(3)
if mode == "garbage":
    print("this is not json")
else:
    print(json.dumps([
        {"build_commit": "abc1234", "build_number": 4242, "model_type": "llama ?B Q4_K - Medium",
         "model_size": 1000, "n_params": 1000, "n_threads": 2, "n_gpu_layers": 99,
         "n_prompt": 512, "n_gen": 0, "test_time": "2026-11-23T10:00:00Z",
         "avg_ns": 1000, "stddev_ns": 10, "avg_ts": %(pp)r, "stddev_ts": 2.5,
         "samples_ns": [1000], "samples_ts": [%(pp)r]},
        {"build_commit": "abc1234", "build_number": 4242, "model_type": "llama ?B Q4_K - Medium",
         "model_size": 1000, "n_params": 1000, "n_threads": 2, "n_gpu_layers": 99,
         "n_prompt": 0, "n_gen": 128, "test_time": "2026-11-23T10:00:01Z",
         "avg_ns": 1000, "stddev_ns": 10, "avg_ts": %(tg)r, "stddev_ts": 0.5,
         "samples_ns": [1000], "samples_ts": [%(tg)r]}], indent=2))
with open(rec, "a") as f:
    f.write(json.dumps({"argv": sys.argv, "start": start, "end": time.time(),
                        "head": head.decode("latin-1")}) + "\n")
'''


@pytest.fixture
def hub(workdir):
    with HubProcess(S.standard_manifest(), workdir=os.path.join(workdir, "hub")) as h:
        yield h


def runner(workdir, name, mode="ok", pp=512.5, tg=42.25, sleep=0.0):
    path = os.path.join(workdir, name)
    record = os.path.join(workdir, name + ".record")
    with open(path, "w") as f:
        f.write(RUNNER % {"record": record, "mode": mode, "pp": pp, "tg": tg, "sleep": sleep})
    os.chmod(path, stat.S_IRWXU)
    return path, record


def records(record):
    if not os.path.exists(record):
        return []
    with open(record) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture
def bench(hub, mounts, workdir):
    """A factory: a mount with TINY registered and bench_cmd = the runner."""
    def new(cmd, opts=(), register=True, **kw):
        m = mounts.new(opts=["catalog=none", "endpoint=" + hub.url,
                             "bench_cmd=" + cmd.replace(",", "\\,"), *opts], **kw)
        if register:
            with open(m.file(".control", "register"), "w") as f:
                f.write(TINY + "\n")
        return m
    return new


def write(m, line):
    with open(m.file(".control", "benchmark"), "w") as f:
        f.write(line)


def bjson(m, target=Q4):
    return json.loads(m.text(*target.split("/"), "benchmark.json"))


def status(m, target=Q4):
    return dict(line.split("=", 1) for line in m.text(*target.split("/"), "status").splitlines())


def wait_done(m, target=Q4, timeout=60, n=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = bjson(m, target)
        runs = [b] + b.get("history", [])
        if all(r["status"] in ("tested", "failed") for r in runs) and (n is None or len(runs) >= n):
            return b
        time.sleep(0.1)
    pytest.fail("benchmark of %s did not finish: %s\n%s" % (target, bjson(m, target), read_log(m)))


def tsv(m, name="models.tsv", *parts):
    lines = m.text(*parts, name).splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def jobs(m):
    return tsv(m, "jobs", ".control")


def test_untested_quant(bench, workdir):
    cmd, _ = runner(workdir, "ok.py")
    m = bench(cmd + " -m {model}")
    assert bjson(m) == {"status": "untested"}
    assert status(m)["benchmark"] == "untested"
    assert "benchmark" in os.listdir(m.file(".control"))
    assert {"benchmark.json", "compare.tsv"} <= set(os.listdir(m.file(*Q4.split("/"))))


def test_benchmark_runs_and_lands_everywhere(bench, workdir):
    cmd, record = runner(workdir, "ok.py", pp=512.5, tg=42.25)
    m = bench(cmd + " -m {model} -c {ctx} -ngl {ngl}")
    assert status(m)["cache"] == "remote"
    write(m, Q4 + " ctx=4096 ngl=7\n")
    b = wait_done(m)
    assert b["status"] == "tested", b
    assert b["pp_tokens_per_s"] == 512.5 and b["tg_tokens_per_s"] == 42.25
    assert b["n_prompt"] == 512 and b["n_gen"] == 128
    assert b["ctx"] == 4096 and b["ngl"] == 7
    model = m.file(FAM, VAR, "q4_k_m", "model.gguf")
    assert b["command"] == [cmd, "-m", model, "-c", "4096", "-ngl", "7"]
    assert b["peak_rss_mib"] > 0
    assert b["estimate_vram_mib"] > 0
    assert b["started"] and b["finished"] and b["started"] <= b["finished"]
    assert isinstance(b["hardware"], dict)
    assert "abc1234" in b["raw"] or "avg_ts" in b["raw"]
    assert b.get("history", []) == []
    # the runner read the model through the mount: the quant was downloaded first
    rec = records(record)
    assert len(rec) == 1 and rec[0]["head"] == "GGUF"
    assert status(m)["cache"] == "cached"
    st = status(m)
    assert st["benchmark"] == "tested"
    row = [r for r in tsv(m) if r["path"] == Q4][0]
    assert float(row["tg_tokens_per_s"]) == 42.2 or float(row["tg_tokens_per_s"]) == pytest.approx(42.25, abs=0.06)
    assert float(row["pp_tokens_per_s"]) == pytest.approx(512.5, abs=0.06)
    assert row["benchmark"] == "tested"
    other = [r for r in tsv(m) if r["path"] == Q8][0]
    assert other["benchmark"] == "untested" and other["tg_tokens_per_s"] == ""
    info = json.loads(m.text(FAM, VAR, "q4_k_m", "info.json"))
    assert info["benchmark"]["tg_tokens_per_s"] == 42.25
    assert info["estimate"]["measured_peak_rss_mib"] == b["peak_rss_mib"]
    js = [j for j in jobs(m) if j["kind"] == "benchmark"]
    assert len(js) == 1 and js[0]["target"] == Q4 and js[0]["state"] == "done", js
    # compare.tsv of the other quant lists this one as measured
    rows = tsv(m, "compare.tsv", FAM, VAR, "q8_0")
    mine = [r for r in rows if r["path"] == Q4]
    assert mine and mine[0]["basis"] == "measured", rows
    assert float(mine[0]["tg_tokens_per_s"]) == pytest.approx(42.25, abs=0.06)
    assert all(r["path"] != Q8 for r in rows)


def test_write_time_errors(bench, workdir):
    cmd, record = runner(workdir, "ok.py")
    m = bench(cmd + " -m {model}")
    with raises_errno(errno.ENOENT):
        write(m, "llama/tiny-llama/q9_9\n")
    assert "benchmark: 'llama/tiny-llama/q9_9' is not registered" in read_log(m)
    for line in ("llama/tiny-llama/q4_k_m ctx=abc\n", "llama/tiny-llama\n", "../../etc/passwd\n",
                 Q4 + " ngl=-1\n", Q4 + " bogus=1\n"):
        with raises_errno(errno.EINVAL):
            write(m, line)
    # a setting bench_cmd cannot pass on is refused, not silently ignored
    for line in (Q4 + " ngl=3\n", Q4 + " ctx=4096\n"):
        with raises_errno(errno.EINVAL):
            write(m, line)
    assert "bench_cmd has no {ngl}" in read_log(m)
    # a batch with one bad line queues nothing
    with raises_errno(errno.ENOENT):
        write(m, Q4 + "\nllama/tiny-llama/nope\n")
    time.sleep(0.5)
    assert bjson(m) == {"status": "untested"}
    assert records(record) == []


def test_queue_runs_one_at_a_time(bench, workdir):
    cmd, record = runner(workdir, "slow.py", sleep=0.6)
    m = bench(cmd + " -m {model} -c {ctx}")
    write(m, Q4 + "\n" + Q8 + "\n" + Q4 + " ctx=2048\n")
    seen = {status(m, Q8)["benchmark"], status(m, Q4)["benchmark"]}
    assert seen & {"queued", "running"}, seen
    wait_done(m, Q4, n=2)
    wait_done(m, Q8)
    rec = sorted(records(record), key=lambda r: r["start"])
    assert len(rec) == 3
    for a, b in zip(rec, rec[1:]):
        assert a["end"] <= b["start"], rec
    b = bjson(m, Q4)
    assert b["ctx"] == 2048 and len(b["history"]) == 1 and b["history"][0]["ctx"] == 8192


@pytest.mark.parametrize("mode,words", [
    ("missing", ["not installed", "bench_cmd"]),
    ("fail", ["exited with status 3", "failed to load model"]),
    ("garbage", ["not llama-bench JSON"]),
    ("hang", ["timed out after 2 s", "bench_timeout"]),
])
def test_failures_record_why(bench, workdir, mode, words):
    if mode == "missing":
        cmd = os.path.join(workdir, "no-such-llama-bench")
    else:
        cmd, _ = runner(workdir, mode + ".py", mode=mode)
    m = bench(cmd + " -m {model}", opts=["bench_timeout=2"])
    write(m, Q4 + "\n")
    b = wait_done(m, timeout=30)
    assert b["status"] == "failed", b
    for w in words:
        assert w in b["error"], b["error"]
    assert status(m)["benchmark"] == "failed"
    js = [j for j in jobs(m) if j["kind"] == "benchmark"]
    assert js[-1]["state"] == "failed"
    assert any("benchmark %s:" % Q4 in line and w in line for line in read_log(m).splitlines()
               for w in words[:1])
    # a failed run shows no speed
    row = [r for r in tsv(m) if r["path"] == Q4][0]
    assert row["benchmark"] == "failed" and row["tg_tokens_per_s"] == ""


def test_history_survives_remount_and_interrupted_run(bench, workdir):
    cmd, record = runner(workdir, "ok.py", tg=10.0)
    m = bench(cmd + " -m {model}")
    write(m, Q4 + "\n")
    assert wait_done(m)["status"] == "tested"
    m.remount()
    b = bjson(m)
    assert b["status"] == "tested" and b["tg_tokens_per_s"] == 10.0
    # a hanging run, then an unmount: the run is failed as interrupted, and
    # a run queued behind it runs at the next mount
    hang, _ = runner(workdir, "hang.py", mode="hang")
    m.opts = [o for o in m.opts if not o.startswith("bench_cmd=")] + ["bench_cmd=" + hang + " -m {model}"]
    m.remount()
    write(m, Q4 + "\n" + Q8 + "\n")
    deadline = time.monotonic() + 20
    while bjson(m)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert bjson(m)["status"] == "running"
    assert status(m, Q8)["benchmark"] == "queued"
    m.opts = [o for o in m.opts if not o.startswith("bench_cmd=")] + ["bench_cmd=" + cmd + " -m {model}"]
    t0 = time.monotonic()
    m.remount()
    assert time.monotonic() - t0 < 15
    b = bjson(m)
    assert b["status"] == "failed" and "interrupted" in b["error"], b
    assert [h["status"] for h in b["history"]] == ["tested"]
    b8 = wait_done(m, Q8)
    assert b8["status"] == "tested", b8


def test_estimates_learn_from_measurements(bench, workdir):
    m0 = bench("/bin/true {model}", opts=["gpu_vram=8G", "gpu_bandwidth=100", "ram_bandwidth=20"])
    fit = dict(line.split("=", 1) for line in m0.text(FAM, VAR, "q4_k_m", "fit@vram=8G,ctx=8192").splitlines())
    ceiling_q4 = float(fit["est_tg_tokens_per_s"])
    fit8 = dict(line.split("=", 1) for line in m0.text(FAM, VAR, "q8_0", "fit@vram=8G,ctx=8192").splitlines())
    ceiling_q8 = float(fit8["est_tg_tokens_per_s"])
    assert ceiling_q4 > ceiling_q8 > 0
    m0.stop()
    # the runner measures half of the bandwidth ceiling
    cmd, _ = runner(workdir, "half.py", tg=round(ceiling_q4 * 0.5, 3))
    m = bench(cmd + " -m {model}", opts=["gpu_vram=8G", "gpu_bandwidth=100", "ram_bandwidth=20"],
              register=False, state=m0.state, cache=m0.cache)
    write(m, Q4 + "\n")
    b = wait_done(m)
    assert b["status"] == "tested", b
    assert b["est_tg_ceiling"] == pytest.approx(ceiling_q4, rel=0.01)
    fit8 = dict(line.split("=", 1) for line in m.text(FAM, VAR, "q8_0", "fit@vram=8G,ctx=8192").splitlines())
    assert float(fit8["est_tg_tokens_per_s"]) == pytest.approx(ceiling_q8 * 0.5, rel=0.02)
    rows = {r["path"]: r for r in tsv(m)}
    assert float(rows[Q8]["est_tg_tokens_per_s"]) == pytest.approx(ceiling_q8 * 0.5, rel=0.02)
    cmp = tsv(m, "compare.tsv", FAM, VAR, "q8_0")
    assert [r["basis"] for r in cmp if r["path"] == Q4] == ["measured"]
    # recommend@ by speed puts the measured quant first with its measured speed
    rec = m.text("recommend@vram=8G,prefer=speed").splitlines()
    first = rec[1].split("\t")
    assert first[1] == Q4 and float(first[5]) == pytest.approx(ceiling_q4 * 0.5, rel=0.02)


def test_benchmark_offline_and_not_cached_fails_with_reason(bench, workdir):
    cmd, record = runner(workdir, "ok.py")
    m = bench(cmd + " -m {model}")
    m.remount(opts=[o for o in m.opts] + ["offline"])
    write(m, Q4 + "\n")
    b = wait_done(m)
    assert b["status"] == "failed" and "download" in b["error"], b
    assert records(record) == []


def test_cpu_only_profile_estimates_and_calibrates(bench, workdir):
    """No GPU in the profile, RAM bandwidth known: speeds are the CPU's,
    and a CPU benchmark calibrates them."""
    cmd, _ = runner(workdir, "cpu.py", tg=1.0)
    m = bench(cmd + " -m {model} -ngl {ngl}", opts=["ram_bandwidth=20"])
    rows = {r["path"]: r for r in tsv(m)}
    q4, q8 = float(rows[Q4]["est_tg_tokens_per_s"]), float(rows[Q8]["est_tg_tokens_per_s"])
    assert q4 > q8 > 0
    info = json.loads(m.text(FAM, VAR, "q8_0", "info.json"))
    assert info["estimate"]["fit"]["fits"] == "no" and info["estimate"]["fit"]["ngl"] == 0
    write(m, Q4 + "\n")
    b = wait_done(m)
    assert b["status"] == "tested" and b["ngl"] == 0 and b["command"][-1] == "0", b
    assert b["est_tg_ceiling"] == pytest.approx(q4, rel=0.01)
    rows = {r["path"]: r for r in tsv(m)}
    eff = 1.0 / b["est_tg_ceiling"]
    want = max(eff, 0.05) * q8
    assert float(rows[Q8]["est_tg_tokens_per_s"]) == pytest.approx(want, rel=0.05)
