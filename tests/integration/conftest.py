"""The integration harness: real modelfs mounts under pytest (STYLE §11).

Every test gets its own temporary directory holding the mount point, the
state and cache directories and the daemon's stderr.  The daemon runs in
the foreground (`modelfs MNT -f -o auto_unmount,state=..,cache=..`) so the
harness owns the process; `auto_unmount` makes the kernel mount go away
even if the daemon is killed.

Fixtures
  mount    a mounted modelfs with the built-in catalog.  Options and
           environment come from a marker:
               @pytest.mark.mount(opts=["catalog=none"], env={"HF_TOKEN": "x"},
                                  args=["-d"])
  mounts   a factory for tests that need several mounts or remounts:
               m = mounts.new(opts=[...], env={...}, state=other.state)
  modelfs  runs the binary without mounting (--help, refused options):
               r = modelfs(["--version"]); r.returncode, r.stdout, r.stderr

Teardown always runs: `fusermount3 -u`, then `-u -z`, then SIGTERM, then
SIGKILL.  A daemon that does not exit 0 after a clean unmount, or whose
stderr holds a sanitizer report, fails the test.

Helpers for test files (`from conftest import ...`): raises_errno(), walk(),
builtin_catalog(),
read_file(), read_log(), log_lines_since(), MODELFS_BIN, REPO_DIR.
"""

import contextlib
import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reaper  # noqa: E402

REPO_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELFS_BIN = os.environ.get("MODELFS_BIN") or os.path.join(REPO_DIR, "build", "fs", "modelfs")
CATALOG_JSON = os.path.join(REPO_DIR, "core", "catalog", "builtin.json")

MOUNT_TIMEOUT_S = float(os.environ.get("MF_MOUNT_TIMEOUT", "30"))
EXIT_TIMEOUT_S = 15
UNMOUNT_SETTLE_S = 0.2

SANITIZER_RE = re.compile(r"^==[0-9]+==|runtime error:|LeakSanitizer|AddressSanitizer|"
                          r"ThreadSanitizer|UndefinedBehaviorSanitizer", re.M)

# Environment variables of SPEC §2 that would make a test depend on the
# machine it runs on; every daemon starts without them unless a test sets one.
_SCRUBBED_ENV = ("HF_TOKEN", "HF_HOME", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE",
                 "HUGGING_FACE_HUB_TOKEN", "XDG_DATA_HOME", "XDG_CACHE_HOME")


def daemon_env(extra=None, home=None):
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    if home:
        env["HOME"] = home
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    env.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lsan.supp"))
    env.update(extra or {})
    return env


def sanitizer_report(text):
    """The first lines of a sanitizer report in text, or None."""
    m = SANITIZER_RE.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    return text[start:start + 4000]


def _mounted(path):
    return path in [mp for mp, _, _ in reaper.mounts()]


# ---------------------------------------------------------------------------
# Helpers for the test files
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def raises_errno(code):
    """with raises_errno(errno.EROFS): os.mkdir(...)  -- exact errno or fail."""
    with pytest.raises(OSError) as e:
        yield e
    got = e.value.errno
    assert got == code, "expected %s, got %s (%s)" % (
        errno.errorcode.get(code, code), errno.errorcode.get(got, got), e.value)


def read_file(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def read_log(m):
    """The text of MNT/.control/log."""
    return read_file(os.path.join(m.path, ".control", "log"), "r")


def builtin_catalog():
    """The model entries of core/catalog/builtin.json, the data the mount shows."""
    with open(CATALOG_JSON, encoding="utf-8") as f:
        return json.load(f)["models"]


def walk(root):
    """Every entry under root, without following symlinks: a sorted list of
    (path relative to root, os.stat_result of lstat)."""
    out = []
    todo = [""]
    while todo:
        rel = todo.pop()
        with os.scandir(os.path.join(root, rel)) as it:
            for de in it:
                r = os.path.join(rel, de.name)
                st = de.stat(follow_symlinks=False)
                out.append((r, st))
                if stat.S_ISDIR(st.st_mode):
                    todo.append(r)
    return sorted(out)


def log_lines_since(m, before):
    """Lines of .control/log that were not in the text `before`."""
    now = read_log(m).splitlines()
    old = before.splitlines()
    if now[:len(old)] == old:
        return now[len(old):]
    seen = set(old)
    return [line for line in now if line not in seen]


# ---------------------------------------------------------------------------
# The mount
# ---------------------------------------------------------------------------

class Mount:
    """One modelfs daemon and its directories.

    path: the mount point; state, cache: the -o state= and cache= dirs;
    proc: the subprocess.Popen of the daemon; stderr_path: its stderr file.
    """

    def __init__(self, workdir, name, state, cache, opts=(), env=None, args=()):
        self.workdir = workdir
        self.path = os.path.join(workdir, name)
        self.state = state
        self.cache = cache
        self.home = os.path.join(workdir, "home")
        for d in (self.path, self.state, self.cache, self.home):
            os.makedirs(d, exist_ok=True)
        self.opts = list(opts)
        self.args = list(args)
        self.env = dict(env or {})
        self.stderr_path = os.path.join(workdir, "%s.stderr" % name)
        self.proc = None
        self.exit_status = None
        self.problems = []
        self._stderr_seen = 0

    def argv(self):
        o = ",".join(["auto_unmount", "state=" + self.state, "cache=" + self.cache] + self.opts)
        return [MODELFS_BIN, self.path, "-f", *self.args, "-o", o]

    def start(self):
        assert self.proc is None
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, cwd=self.workdir,
                                         env=daemon_env(self.env, home=self.home),
                                         start_new_session=True)
        deadline = time.monotonic() + MOUNT_TIMEOUT_S
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_status = rc
                self.proc = None
                pytest.fail("modelfs exited with status %d before mounting:\n$ %s\n%s"
                            % (rc, " ".join(self.argv()), self.stderr()))
            if _mounted(self.path) and os.path.ismount(self.path):
                return self
            if time.monotonic() > deadline:
                self.stop(clean=False)
                pytest.fail("modelfs did not mount %s within %.0f s:\n%s"
                            % (self.path, MOUNT_TIMEOUT_S, self.stderr()))
            time.sleep(0.02)

    def stderr(self):
        """The daemon's stderr so far (of every start of this Mount)."""
        try:
            return read_file(self.stderr_path).decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log(self):
        """MNT/.control/log."""
        return read_log(self)

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    def read(self, *parts):
        return read_file(self.file(*parts))

    def text(self, *parts):
        return self.read(*parts).decode("utf-8")

    def config(self):
        """.control/config as a dict."""
        out = {}
        for line in self.text(".control", "config").splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
        return out

    def stop(self, clean=True):
        """Unmounts and reaps the daemon; returns its exit status.

        clean=True records a problem (failing the test at teardown) when the
        daemon needs more than `fusermount3 -u` to go away or exits non-zero.
        """
        if self.proc is None:
            return self.exit_status
        steps = [["fusermount3", "-u", self.path], ["fusermount3", "-u", "-z", self.path]]
        # The kernel sends RELEASEDIR after closedir() returns; an unmount
        # that overtakes it leaves libfuse's directory handle unfreed, which
        # LeakSanitizer reports (tests/lsan.supp cannot name the unsymbolized
        # libfuse frame).  Let what the test just closed reach the daemon.
        time.sleep(UNMOUNT_SETTLE_S)
        for cmd in steps:
            if not _mounted(self.path):
                break
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if r.returncode != 0 and clean:
                self.problems.append("%s failed: %s" % (" ".join(cmd), r.stderr.strip()))
        try:
            self.exit_status = self.proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            if clean:
                self.problems.append("daemon still running %d s after unmount; sent SIGTERM"
                                     % EXIT_TIMEOUT_S)
            self.proc.terminate()
            try:
                self.exit_status = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_status = self.proc.wait()
        if clean and self.exit_status != 0:
            self.problems.append("daemon exited with status %s after unmount"
                                 % self.exit_status)
        self.proc = None
        self._check_stderr()
        return self.exit_status

    def signal(self, sig, timeout=EXIT_TIMEOUT_S):
        """Sends sig to the daemon and waits for it to exit; returns its status."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            self.exit_status = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.stop(clean=False)
        self.proc = None
        self._check_stderr()
        return self.exit_status

    def remount(self, opts=None, env=None):
        """Stops the daemon and starts it again on the same directories."""
        self.stop()
        if opts is not None:
            self.opts = list(opts)
        if env is not None:
            self.env = dict(env)
        return self.start()

    def _check_stderr(self):
        text = self.stderr()
        report = sanitizer_report(text[self._stderr_seen:])
        self._stderr_seen = len(text)
        if report:
            self.problems.append("sanitizer report in the daemon's stderr: "
                                 + report.splitlines()[0])


class Mounts:
    """Factory of mounts inside one test's temporary directory."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.all = []

    def new(self, opts=(), env=None, args=(), state=None, cache=None, start=True):
        n = str(len(self.all)) if self.all else ""
        m = Mount(self.workdir, "mnt" + n,
                  state or os.path.join(self.workdir, "state" + n),
                  cache or os.path.join(self.workdir, "cache" + n), opts=opts, env=env,
                  args=args)
        self.all.append(m)
        return m.start() if start else m

    def close(self):
        problems = []
        for m in reversed(self.all):
            try:
                m.stop()
            except Exception as e:  # teardown must reach every mount
                problems.append("%s: teardown error %r" % (m.path, e))
            if m.problems:
                problems.append("%s:\n%s\n--- daemon stderr (end) ---\n%s" % (
                    m.path, "\n".join(m.problems), m.stderr()[-6000:]))
        return problems


@pytest.fixture
def workdir(request):
    """A fresh private directory under the reaper's root."""
    root = reaper.test_root()
    os.makedirs(root, exist_ok=True)
    d = tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:40] + "-",
                         dir=root)
    yield d
    if not reaper.ours(d) and not os.environ.get("MF_KEEP_TMP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mounts(workdir):
    if not os.access(MODELFS_BIN, os.X_OK):
        pytest.fail("no modelfs binary at %s (set MODELFS_BIN)" % MODELFS_BIN)
    f = Mounts(workdir)
    try:
        yield f
    finally:
        problems = f.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def mount(request, mounts):
    marker = request.node.get_closest_marker("mount")
    kw = dict(marker.kwargs) if marker else {}
    return mounts.new(opts=kw.get("opts", ()), env=kw.get("env"), args=kw.get("args", ()))


@pytest.fixture
def modelfs(workdir):
    """Runs MODELFS_BIN with arguments, without expecting a mount.

    A command that mounts after all (a bug the test is about to report) is
    unmounted before the result is returned."""
    def run(args, env=None, timeout=30):
        home = os.path.join(workdir, "home")
        os.makedirs(home, exist_ok=True)
        p = subprocess.Popen([MODELFS_BIN, *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=workdir, env=daemon_env(env, home=home),
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for mp in reaper.ours(workdir):
                reaper.unmount(mp)
            p.terminate()
            out, err = p.communicate(timeout=10)
            err += "\n[harness: still running after %d s; terminated]" % timeout
        for mp in reaper.ours(workdir):
            reaper.unmount(mp)
        report = sanitizer_report(err)
        if report:
            pytest.fail("sanitizer report from modelfs %s:\n%s" % (" ".join(args), report),
                        pytrace=False)
        return subprocess.CompletedProcess([MODELFS_BIN, *args], p.returncode, out, err)
    return run


def pytest_configure(config):
    config.addinivalue_line("markers", "mount(opts=[...], env={...}, args=[...]): "
                            "-o options, environment and extra arguments of the mount fixture")
