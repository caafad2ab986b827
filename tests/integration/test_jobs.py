"""`modelfs jobs` and the job history of .control/jobs (SPEC §1, §4; issue 6).

A catalog file registers one model whose quant is a 24 MiB hubsim file;
hubsim's shared bandwidth cap slows a download to a few seconds, so the
command sees it running, follows it and stops when it is done.  The
history checks remount on the same state directory: a finished job is
listed again with its id and new ids continue above it, and a job that was
running when the daemon was killed is listed, and stays, failed with
"interrupted".  The terminal form is checked under a pty of a known width.
"""

import errno
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "hub"))

from conftest import MODELFS_BIN, daemon_env, sanitizer_report  # noqa: E402
import reaper  # noqa: E402
from hubsim import HubProcess  # noqa: E402
import scenarios as S  # noqa: E402

REPO = "test-org/Jobs-GGUF"
A_PATH, A_SIZE = "jobs-Q4_K_M.gguf", 24 << 20
B_PATH, B_SIZE = "jobs-Q8_0.gguf", 3 << 20
TARGET = "jobs/jobs-test/q4_k_m"
TARGET_B = "jobs/jobs-test/q8_0"
SLOW_BPS = 3000000          # shared by every connection: 24 MiB in about 8 s
INTERRUPTED = "interrupted: modelfs stopped while it ran"
ESC_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def catalog(path):
    doc = {"catalog_version": 1, "models": [{
        "family": "jobs", "variant": "jobs-test", "full_name": "Jobs Test",
        "repo_id": REPO, "architecture": "llama", "parameter_count": 0.1,
        "context_window": 2048, "multimodal": False,
        "quantizations": [
            {"name": "q4_k_m", "files": [A_PATH], "size_bytes": A_SIZE, "size_exact": True,
             "bits_per_weight": 4.9},
            {"name": "q8_0", "files": [B_PATH], "size_bytes": B_SIZE, "size_exact": True,
             "bits_per_weight": 8.5},
        ]}]}
    with open(path, "w") as f:
        json.dump(doc, f)


@pytest.fixture
def hub(workdir):
    m = S.manifest([S.repo(REPO, [S.sized(A_PATH, A_SIZE, fill="pattern", seed=21),
                                  S.sized(B_PATH, B_SIZE, fill="pattern", seed=22)])])
    with HubProcess(m, workdir=os.path.join(workdir, "hub")) as h:
        h.repos(wait=True)
        yield h


@pytest.fixture
def jmount(hub, mounts, workdir):
    """A factory of mounts of the jobs catalog against the hub."""
    cat = os.path.join(workdir, "jobs-catalog.json")
    catalog(cat)

    def new(opts=(), **kw):
        return mounts.new(opts=["catalog=" + cat, "endpoint=" + hub.url, "chunk=1M",
                                "connections=2", *opts], **kw)
    return new


def control(m, name, text):
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
    rows = []
    for ln in lines[1:]:
        cells = ln.split("\t")
        assert len(cells) == 10, ln
        rows.append(dict(zip(head, cells)))
    return rows


def wait_for(pred, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


def jobs_cmd(args, timeout=60):
    """Runs `modelfs jobs ARGS` with pipes (no terminal).  The harness's
    modelfs fixture is not used: it unmounts every mount of the test's
    directory after the command."""
    r = subprocess.run([MODELFS_BIN, "jobs", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout, env=daemon_env())
    report = sanitizer_report(r.stderr)
    assert report is None, report
    return r


def settle():
    """Waits before unmounting a mount that has just started: an unmount
    within moments of the start can fail with EBUSY while the daemon's
    read-ahead thread still stat()s the mount point (fs/cli_cache.c)."""
    time.sleep(1)


def blocks(text):
    """The blocks a non-tty --follow printed (separated by blank lines)."""
    return [b for b in text.split("\n\n") if b.strip()]


def test_jobs_command_follows_a_download(jmount, hub):
    m = jmount()
    r = jobs_cmd([m.path])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "no jobs\n" and r.stderr == ""
    hub.set_faults(shared_bandwidth=SLOW_BPS)
    assert control(m, "download", TARGET + "\n") == 0
    wait_for(lambda: int(jobs(m)[0]["done_bytes"]) > 0, what="the first bytes")

    r = jobs_cmd([m.path])
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "\x1b" not in r.stdout
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    assert re.match(r"^1  download  %s  \[[#-]{10,50}\]  +\d+\.\d%%  +[0-9.]+ [KMG]?i?B/24\.0 MiB  .*  running$"
                    % re.escape(TARGET), lines[0]), lines[0]

    t0 = time.monotonic()
    r = jobs_cmd([m.path, "--follow"], timeout=180)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "\x1b" not in r.stdout
    bs = blocks(r.stdout)
    # one block per change, at most one per half second
    assert len(bs) >= 2, r.stdout
    assert len(bs) <= took / 0.5 + 2, (len(bs), took)
    assert all(len(b.splitlines()) == 1 for b in bs), r.stdout
    assert "running" in bs[0]
    assert re.search(r"\d+\.\d MB/s  \d+:\d\d:\d\d  running$", "\n".join(bs[:-1]), re.M), r.stdout
    assert re.search(r"\[#+\]  100\.0%  24\.0 MiB/24\.0 MiB .* done$", bs[-1]), bs[-1]
    hub.clear_faults()
    job = jobs(m)[0]
    assert job["state"] == "done" and job["done_bytes"] == str(A_SIZE)


def test_history_survives_remount(jmount, hub):
    m = jmount()
    assert control(m, "download", TARGET + "\n") == 0
    wait_for(lambda: jobs(m)[0]["state"] == "done", what="the download")
    m.remount()
    rows = jobs(m)
    assert len(rows) == 1
    assert rows[0]["id"] == "1" and rows[0]["kind"] == "download" and rows[0]["target"] == TARGET
    assert rows[0]["state"] == "done" and rows[0]["progress"] == "100.0"
    assert rows[0]["done_bytes"] == rows[0]["total_bytes"] == str(A_SIZE)
    # new ids continue above the history
    assert control(m, "download", TARGET_B + "\n") == 0
    wait_for(lambda: jobs(m)[-1]["state"] == "done", what="the second download")
    rows = jobs(m)
    assert [(j["id"], j["target"]) for j in rows] == [("1", TARGET), ("2", TARGET_B)]
    r = jobs_cmd([m.path])
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("1  download  " + TARGET) and lines[0].endswith("done")
    assert lines[1].startswith("2  download  " + TARGET_B) and lines[1].endswith("done")
    m.remount()
    assert [(j["id"], j["state"]) for j in jobs(m)] == [("1", "done"), ("2", "done")]
    settle()


def test_killed_mount_leaves_job_interrupted(jmount, hub):
    m = jmount()
    hub.set_faults(shared_bandwidth=SLOW_BPS)
    assert control(m, "download", TARGET + "\n") == 0
    wait_for(lambda: int(jobs(m)[0]["done_bytes"]) > 0, what="the first bytes")
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=15)
    m.proc = None
    wait_for(lambda: m.path not in [mp for mp, _, _ in reaper.mounts()], timeout=60,
             what="auto_unmount")
    hub.clear_faults()
    m.start()
    rows = jobs(m)
    assert len(rows) == 1
    assert rows[0]["id"] == "1" and rows[0]["target"] == TARGET
    assert rows[0]["state"] == "failed" and rows[0]["message"] == INTERRUPTED
    settle()
    m.remount()
    rows = jobs(m)
    assert rows[0]["state"] == "failed" and rows[0]["message"] == INTERRUPTED
    # the partial bytes are not lost: a new request finishes the file
    assert control(m, "download", TARGET + "\n") == 0
    wait_for(lambda: jobs(m)[-1]["state"] == "done", what="the resumed download")
    assert [j["id"] for j in jobs(m)] == ["1", "2"]


def test_not_a_mount_and_usage(modelfs, workdir):
    plain = os.path.join(workdir, "plain")
    os.makedirs(plain)
    r = jobs_cmd([plain])
    assert r.returncode == 1
    assert "is not a modelfs mount" in r.stderr and r.stdout == ""
    r = jobs_cmd([plain, "--follow"])
    assert r.returncode == 1
    r = jobs_cmd([os.path.join(workdir, "missing")])
    assert r.returncode == 1 and "cannot access" in r.stderr
    r = modelfs(["jobs"])
    assert r.returncode == 2 and "usage: modelfs jobs MOUNTPOINT [--follow]" in r.stderr
    r = jobs_cmd([plain, "--everything"])
    assert r.returncode == 2


def run_in_pty(args, cols, timeout=120, interrupt_after=None):
    """Runs modelfs with a pty of cols columns as stdout; returns (status,
    output).  interrupt_after: seconds after which SIGINT is sent."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    p = subprocess.Popen([MODELFS_BIN, *args], stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=subprocess.PIPE, env=daemon_env())
    os.close(slave)
    out = b""
    t0 = time.monotonic()
    sent = False
    try:
        while True:
            if interrupt_after is not None and not sent and time.monotonic() - t0 > interrupt_after:
                p.send_signal(signal.SIGINT)
                sent = True
            if time.monotonic() - t0 > timeout:
                p.kill()
                pytest.fail("modelfs %s still running after %d s" % (" ".join(args), timeout))
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError as e:  # EIO: the child closed the pty
                    if e.errno != errno.EIO:
                        raise
                    chunk = b""
                if not chunk and p.poll() is not None:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        status = p.wait(timeout=10)
        err = p.stderr.read().decode()
    finally:
        os.close(master)
        p.stderr.close()
    assert "runtime error" not in err and "Sanitizer" not in err, err
    return status, out.decode("utf-8", "replace"), err


def test_terminal_follow_redraws_in_place(jmount, hub):
    m = jmount()
    hub.set_faults(shared_bandwidth=SLOW_BPS)
    assert control(m, "download", TARGET + "\n") == 0
    cols = 72
    status, out, err = run_in_pty(["jobs", m.path, "--follow"], cols)
    hub.clear_faults()
    assert status == 0, err
    assert "\x1b[2K" in out and "\x1b[J" in out
    # every redraw after the first moves up over the one-line block
    assert out.count("\x1b[1A") >= 2, out[:400]
    plain = ESC_RE.sub("", out).replace("\r", "")
    lines = [ln for ln in plain.split("\n") if ln]
    assert all(len(ln) <= cols - 1 for ln in lines), lines
    assert lines[-1].rstrip().endswith("done") and "100.0%" in lines[-1]


def test_terminal_ctrl_c_exits_cleanly(jmount, hub):
    m = jmount()
    hub.set_faults(shared_bandwidth=200000)
    assert control(m, "download", TARGET + "\n") == 0
    status, out, err = run_in_pty(["jobs", m.path, "--follow"], 100, timeout=30,
                                  interrupt_after=1.5)
    hub.clear_faults()
    assert status == 0, err
    assert err == ""
    assert "running" in ESC_RE.sub("", out)
