"""contrib/: what users of a file system expect around it (issue 8).

Installed with `cmake --install BUILD --prefix TMP` once per run, then:

  man page      renders with `man -l` at 80 columns, no warnings from groff
                -ww, and names every SPEC option, control file and errno
  completion    bash: loads, and completes subcommands, -o names and
                values, and parameterized names inside a real mount (by
                calling the function, and through a real interactive bash on
                a pty); zsh (when installed): the same through zsh's own
                completion system
  systemd unit  `systemd-analyze --user verify` passes (when systemd-analyze
                is installed), and its ExecStart/ExecStop lines, run as
                systemd would run them, mount and unmount
  mount helper  mount.modelfs and mount.fuse.modelfs mount and unmount with
                fstab options; libfuse's mount.fuse3 works with type "fuse"
  examples      each script's --help, shellcheck (when installed), and runs
                against a mounted test registry (builtin catalog) with the
                output worked out here from the mount's own files

A check whose tool is missing is skipped with a message naming the tool.
"""

import errno
import json
import math
import os
import pty
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import MODELFS_BIN, REPO_DIR, daemon_env, read_file, sanitizer_report  # noqa: E402
import reaper  # noqa: E402

CONTRIB = os.path.join(REPO_DIR, "contrib")
EXAMPLES = os.path.join(CONTRIB, "examples")
SCRIPTS = ["pick-and-serve.sh", "vram-table.sh", "register-list.sh"]
SPEC = os.path.join(os.environ.get("MF_FIXTURES_DIR", os.path.join(REPO_DIR, "..", "shared",
                                                                    "fixtures")), "..", "SPEC.md")
MIB = 1 << 20
MODEL = "qwen/qwen2.5-7b-instruct"
OVERHEAD = 768          # the scripts' default --overhead


def build_dir():
    d = os.environ.get("MF_BUILD_DIR")
    if d:
        return d
    return os.path.dirname(os.path.dirname(os.path.abspath(MODELFS_BIN)))


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, check=False, **kw)


def need_tool(name):
    path = shutil.which(name)
    if not path:
        pytest.skip("%s is not installed" % name)
    return path


# ---------------------------------------------------------------------------
# What SPEC.md lists, so that a new option or errno there fails these tests
# until the man page and completion know it.
# ---------------------------------------------------------------------------

_FALLBACK_OPTS = ["state=", "cache=", "cache_max=", "hf_cache=", "endpoint=", "token_file=",
                  "offline", "catalog=", "gpu_vram=", "gpu_bandwidth=", "ram_bandwidth=",
                  "bench_cmd=", "connections=", "chunk=", "readahead=", "verify=", "allow_other",
                  "default_permissions"]
_FALLBACK_ERRNOS = ["EINVAL", "ENOENT", "EACCES", "ENETDOWN", "ETIMEDOUT", "EAGAIN", "EIO",
                    "ENOSPC", "EBUSY"]


def _spec_section(n):
    try:
        text = read_file(SPEC, "r")
    except OSError:
        return None
    m = re.search(r"^## %d\..*?(?=^## )" % n, text, re.M | re.S)
    return m.group(0) if m else None


def spec_options():
    """Every -o option of SPEC section 2: "name=" when it takes a value."""
    sec = _spec_section(2)
    if not sec:
        return _FALLBACK_OPTS
    out = []
    for line in sec.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        for tok in re.findall(r"`([^`]+)`", first):
            m = re.match(r"^([a-z_]+)(=?)", tok)
            if m and m.group(1) not in out and m.group(1) + "=" not in out:
                out.append(m.group(1) + m.group(2))
    return out or _FALLBACK_OPTS


def spec_errnos():
    sec = _spec_section(6)
    if not sec:
        return _FALLBACK_ERRNOS
    out = []
    for line in sec.splitlines():
        m = re.match(r"^\| (E[A-Z, ]+) \|", line)
        if m:
            out += [e.strip() for e in m.group(1).split(",")]
    return out or _FALLBACK_ERRNOS


def spec_control_files():
    sec = _spec_section(3)
    names = re.findall(r"^\s*[│├└─ ]+(\w+)\s+(?:write-only|read)", sec or "", re.M)
    return names or ["register", "unregister", "download", "evict", "benchmark", "refresh",
                     "jobs", "log", "hardware", "config"]


# ---------------------------------------------------------------------------
# Install once
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    """An install tree made by `cmake --install BUILD --prefix TMP`."""
    need_tool("cmake")
    p = str(tmp_path_factory.mktemp("prefix"))
    r = run(["cmake", "--install", build_dir(), "--prefix", p])
    assert r.returncode == 0, "cmake --install failed:\n%s%s" % (r.stdout, r.stderr)
    return p


def test_install_puts_every_piece_in_place(prefix):
    def mode(rel):
        return os.lstat(os.path.join(prefix, rel)).st_mode

    assert mode("bin/modelfs") & stat.S_IXUSR
    man = os.path.join(prefix, "share/man/man1/modelfs.1")
    assert read_file(man) == read_file(os.path.join(CONTRIB, "modelfs.1"))
    assert os.path.isfile(os.path.join(prefix, "share/bash-completion/completions/modelfs"))
    assert os.path.isfile(os.path.join(prefix, "share/zsh/site-functions/_modelfs"))
    assert mode("sbin/mount.modelfs") & stat.S_IXUSR
    link = os.path.join(prefix, "sbin/mount.fuse.modelfs")
    assert stat.S_ISLNK(os.lstat(link).st_mode) and os.readlink(link) == "mount.modelfs"
    for s in SCRIPTS:
        installed = os.path.join(prefix, "share/doc/modelfs/examples", s)
        assert os.stat(installed).st_mode & stat.S_IXUSR, s
        assert read_file(installed) == read_file(os.path.join(EXAMPLES, s))
    unit = read_file(os.path.join(prefix, "lib/systemd/user/modelfs@.service"), "r")
    assert "@MODELFS_BINDIR@" not in unit
    assert "ExecStart=%s/bin/modelfs %%f -f -o auto_unmount" % prefix in unit
    manifest = read_file(os.path.join(build_dir(), "install_manifest.txt"), "r")
    assert os.path.join(prefix, "lib/systemd/user/modelfs@.service") in manifest


# ---------------------------------------------------------------------------
# Man page
# ---------------------------------------------------------------------------

def render_man(path):
    need_tool("man")
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    r = run(["man", "--warnings", "-l", path], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", "man -l warned:\n" + r.stderr
    return re.sub(r".\x08", "", r.stdout)


def test_man_page_renders_without_warnings(prefix):
    page = os.path.join(prefix, "share/man/man1/modelfs.1")
    need_tool("groff")
    r = run(["groff", "-ww", "-z", "-man", page])
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr
    text = render_man(page)
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "THE TREE",
                    "FILES", "CONTROL FILES", "ERRORS", "EXAMPLES", "SEE ALSO"]:
        assert re.search(r"^%s$" % section, text, re.M), "no %s section" % section
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "\u2010\n" not in text, "a word is hyphenated at a line end"


def test_man_page_names_every_option_control_file_and_errno(prefix):
    text = render_man(os.path.join(prefix, "share/man/man1/modelfs.1"))
    options = text[text.index("\nOPTIONS"):text.index("\nENVIRONMENT")]
    for opt in spec_options():
        assert re.search(r"^\s+%s" % re.escape(opt), options, re.M) or opt in options, \
            "option %s missing from OPTIONS" % opt
    synopsis = text[text.index("\nSYNOPSIS"):text.index("\nDESCRIPTION")]
    for sub in ["inspect", "estimate", "jobs", "--help", "--version", "--ctx", "--kv",
                "--fa", "--ngl", "--json", "--follow", "-o OPTION"]:
        assert sub in synopsis, sub
    control = text[text.index("\nCONTROL FILES"):text.index("\nERRORS")]
    files = text[text.index("\nFILES"):text.index("\nCONTROL FILES")]
    for name in spec_control_files():
        assert re.search(r"\b%s\b" % name, control + files), "control file %s" % name
    errors = text[text.index("\nERRORS"):text.index("\nEXAMPLES")]
    for e in spec_errnos() + ["EROFS", "EPERM"]:
        assert re.search(r"^\s+(\S+, )?%s\b" % e, errors, re.M), "errno %s" % e
    env = text[text.index("\nENVIRONMENT"):text.index("\nTHE TREE")]
    for var in ["HF_ENDPOINT", "HF_TOKEN", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
                "XDG_DATA_HOME", "XDG_CACHE_HOME"]:
        assert var in env, var


def test_man_page_knows_every_option_of_modelfs_help(modelfs, prefix):
    r = modelfs(["--help"])
    assert r.returncode == 0, r.stderr
    ours = r.stdout.split("modelfs options", 1)[1].split("FUSE options", 1)[0]
    names = re.findall(r"-o ([a-z_]+)", ours)
    assert len(names) >= 10, ours
    text = render_man(os.path.join(prefix, "share/man/man1/modelfs.1"))
    for n in names:
        assert re.search(r"\b%s\b" % n, text), "modelfs --help has -o %s; the man page does not" % n


# ---------------------------------------------------------------------------
# Completion
# ---------------------------------------------------------------------------

BASH_HARNESS = r'''
source "$1"
shift
cd "$1"
shift
# _t LINE [FUNCTION]: what completing at the end of LINE offers, one a line.
_t() {
	COMP_LINE=$1
	COMP_POINT=${#1}
	read -ra COMP_WORDS <<< "$1"
	[[ $1 == *' ' ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"${2:-_modelfs}"
	printf '%s\n' "${COMPREPLY[@]}"
}
_t "$@"
'''


def bash_complete(script, cwd, line, func="_modelfs"):
    r = run(["bash", "--norc", "--noprofile", "-c", BASH_HARNESS, "harness", script, cwd, line,
             func])
    assert r.returncode == 0, r.stderr
    return [x for x in r.stdout.splitlines() if x]


def test_bash_completion_loads(prefix):
    script = os.path.join(prefix, "share/bash-completion/completions/modelfs")
    r = run(["bash", "--norc", "--noprofile", "-c",
             'source "$1" && complete -p modelfs && complete -p cat', "x", script])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines() == ["complete -F _modelfs modelfs",
                                     "complete -F _modelfs_reader cat"]
    r = run(["bash", "--norc", "--noprofile", "-c",
             'MODELFS_COMPLETE_READERS=0; source "$1"; complete -p cat', "x", script])
    assert r.returncode != 0, "MODELFS_COMPLETE_READERS=0 must leave cat alone"


def test_bash_completes_subcommands_options_and_values(prefix, tmp_path):
    script = os.path.join(prefix, "share/bash-completion/completions/modelfs")
    (tmp_path / "mnt").mkdir()
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    (tmp_path / "notes.txt").write_text("x")
    cwd = str(tmp_path)

    def c(line):
        return bash_complete(script, cwd, line)

    assert {"inspect", "estimate", "jobs", "mnt"} <= set(c("modelfs "))
    assert c("modelfs e") == ["estimate"]
    assert set(c("modelfs mnt -")) >= {"-f", "-d", "-s", "-o", "--help", "--version"}
    names = c("modelfs mnt -o ")
    for opt in spec_options():
        assert opt in names, "-o %s is not completed (got %s)" % (opt, names)
    assert "auto_unmount" in names
    assert c("modelfs mnt -o ver") == ["verify="]
    assert c("modelfs mnt -o verify=") == ["lazy", "strict"]
    assert c("modelfs mnt -o auto_unmount,gpu_vram=") == ["8G", "12G", "16G", "24G", "48G", "80G"]
    got = c("modelfs mnt -o offline,catalog=")
    assert got[:2] == ["builtin", "none"]
    assert sorted(got[2:]) == ["mnt/", "model.gguf", "notes.txt"]
    assert sorted(c("modelfs mnt -ostate=m")) == ["mnt/", "model.gguf"]
    assert c("modelfs estimate model.gguf --kv q8") == ["q8_0"]
    assert c("modelfs estimate model.gguf --ctx ") == ["4096", "8192", "16384", "32768", "65536",
                                                       "131072", "max"]
    assert c("modelfs estimate model.gguf --fa ") == ["on", "off"]
    assert set(c("modelfs estimate model.gguf -")) == {"--ctx", "--kv", "--fa", "--ngl", "--json"}
    assert sorted(c("modelfs inspect m")) == ["mnt", "model.gguf"], "dirs and .gguf files"
    assert c("modelfs inspect n") == [], "inspect offers no other files"
    assert c("modelfs jobs m") == ["mnt"]
    assert c("modelfs jobs mnt --f") == ["--follow"]


def test_bash_completes_parameterized_names_in_a_mount(prefix, mount):
    script = os.path.join(prefix, "share/bash-completion/completions/modelfs")
    variant = mount.file(MODEL)

    def c(line):
        return bash_complete(script, variant, line, "_modelfs_reader")

    got = c("cat q4_k_m/")
    assert {"q4_k_m/info.json", "q4_k_m/status", "q4_k_m/vram@ctx=", "q4_k_m/fit@vram="} <= set(got)
    # The listing may show a few vram@ names itself (SPEC section 3): sets.
    assert set(c("cat q4_k_m/vram@ctx=")) == {"4096", "8192", "16384", "32768", "65536", "131072",
                                              "max"}
    assert set(c("cat q4_k_m/vram@ctx=1")) == {"16384", "131072"}
    assert set(c("cat q4_k_m/fit@vram=")) >= {"8G", "12G", "16G", "24G", "48G", "80G"}
    assert "q4_k_m/fit@vram=" in c("cat q4_k_m/fi")
    assert "vram@ctx=" not in " ".join(c("cat ")), "not a QUANT directory: files only"
    assert "q4_k_m" in c("cat q4")
    outside = bash_complete(script, mount.path, "cat REA", "_modelfs_reader")
    assert outside == ["README"]


# A real interactive shell on a pty: what the user sees after pressing Tab.

_ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Za-z0-9]|[=>])")


class Pty:
    def __init__(self, argv, cwd, env):
        self.master, slave = pty.openpty()
        import fcntl
        import struct
        import termios
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.out = ""

    def send(self, text):
        os.write(self.master, text.encode())

    def expect(self, *needles, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            clean = _ANSI.sub("", self.out).replace("\r", "")
            if all(n in clean for n in needles):
                return clean
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("waited for %r; the shell showed:\n%s" % (needles, clean))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError("the shell exited; it showed:\n" + clean)
                self.out += data.decode("utf-8", "replace")

    def mark(self):
        self.out = ""

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        os.close(self.master)


def interactive(argv, cwd, setup):
    env = dict(os.environ, TERM="xterm", PS1="$ ", HOME=cwd)
    sh = Pty(argv, cwd, env)
    sh.send(setup + "; echo READY''-MARK\n")
    sh.expect("READY-MARK")
    time.sleep(0.2)
    sh.mark()
    return sh


def test_bash_completion_in_an_interactive_shell(prefix, mount):
    script = os.path.join(prefix, "share/bash-completion/completions/modelfs")
    sh = interactive(["bash", "--norc", "--noprofile", "-i"], mount.file(MODEL),
                     "source %s; bind 'set show-all-if-ambiguous on'; bind 'set bell-style none'"
                     % script)
    try:
        sh.send("cat q4_k_m/vram@ctx=\t")
        sh.expect("131072", "65536", "max")
        sh.send("\x15")
        sh.mark()
        sh.send("cat q4_k_m/fit@vram=4\t\t")
        sh.expect("fit@vram=48G")
        sh.send("\x15")
        sh.mark()
        sh.send("modelfs . -o auto_unmount,verify=s\t")
        sh.expect("verify=strict")
        sh.send(",cache_m\t")
        sh.expect("verify=strict,cache_max=")
    finally:
        sh.close()


def test_zsh_completion(prefix, mount):
    need_tool("zsh")
    fdir = os.path.join(prefix, "share/zsh/site-functions")
    r = run(["zsh", "-f", "-c", "fpath=(%s $fpath); autoload -Uz compinit; compinit -u -D; "
             "print -r -- $_comps[modelfs]" % fdir])
    assert r.returncode == 0 and r.stdout.strip() == "_modelfs", r.stdout + r.stderr
    sh = interactive(["zsh", "-f", "-i"], mount.file(MODEL),
                     "fpath=(%s $fpath); autoload -Uz compinit; compinit -u -D; "
                     "compdef _modelfs cat; PS1='%% '" % fdir)
    try:
        sh.send("cat q4_k_m/vram@ctx=1\t")
        sh.expect("vram@ctx=131072", "vram@ctx=16384")
        sh.send("\x15")
        sh.mark()
        sh.send("cat q4_k_m/fit@vram=\t")
        sh.expect("fit@vram=80G", "fit@vram=12G")
        sh.send("\x15")
        sh.mark()
        sh.send("modelfs . -o verify=\t")
        sh.expect("lazy", "strict")
        sh.send("\x15")
        sh.mark()
        sh.send("modelfs . -o catalog=\t")
        shown = sh.expect("builtin", "none")
        assert "bad option" not in shown and "_values" not in shown, shown
        sh.send("\x15")
        sh.mark()
        sh.send("modelfs estimate x.gguf --kv \t")
        sh.expect("iq4_nl", "q5_1")
        sh.send("\x15")
        sh.mark()
        sh.send("modelfs \t")
        sh.expect("inspect", "estimate", "print a GGUF header")
    finally:
        sh.close()
    text = read_file(os.path.join(fdir, "_modelfs"), "r")
    for opt in spec_options():
        assert "'%s[" % opt.rstrip("=") in text, "zsh: -o %s is not completed" % opt


# ---------------------------------------------------------------------------
# systemd user unit
# ---------------------------------------------------------------------------

def unit_lines(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_systemd_unit_verifies(prefix, workdir):
    unit = os.path.join(prefix, "lib/systemd/user/modelfs@.service")
    keys = unit_lines(read_file(unit, "r"))
    assert keys["Type"] == ["simple"]
    assert keys["ExecStop"] == ["-fusermount3 -u %f"]
    assert " -f " in keys["ExecStart"][0] and "auto_unmount" in keys["ExecStart"][0]
    assert keys["WantedBy"] == ["default.target"]
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed: unit checked by hand only")
    esc = run(["systemd-escape", "--path", os.path.join(workdir, "my models-1")])
    assert esc.returncode == 0
    instance = "modelfs@%s.service" % esc.stdout.strip()
    rt = os.path.join(workdir, "runtime")
    os.makedirs(rt, mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=rt, MANPATH=os.path.join(prefix, "share/man"),
               SYSTEMD_LOG_LEVEL="notice")
    r = run([analyze, "--user", "verify", os.path.join(os.path.dirname(unit), instance)], env=env)
    assert r.returncode == 0 and r.stdout + r.stderr == "", \
        "systemd-analyze verify:\n" + r.stdout + r.stderr
    broken = os.path.join(workdir, "broken")
    os.makedirs(broken)
    with open(os.path.join(broken, "modelfs@.service"), "w") as f:
        f.write(read_file(unit, "r").replace("/bin/modelfs", "/bin/no-such-modelfs"))
    r = run([analyze, "--user", "verify", os.path.join(broken, instance)], env=env)
    assert r.returncode != 0, "verify must catch a wrong ExecStart path (the check can fail)"


def test_systemd_unit_commands_mount_and_unmount(prefix, workdir):
    """Runs ExecStartPre, ExecStart and ExecStop as systemd would for
    modelfs@<escaped mount point>.service, with the specifiers expanded."""
    unit = os.path.join(prefix, "lib/systemd/user/modelfs@.service")
    keys = unit_lines(read_file(unit, "r"))
    mnt = os.path.join(workdir, "my models-1")
    instance = run(["systemd-escape", "--path", mnt]).stdout.strip() if shutil.which(
        "systemd-escape") else None
    if instance:
        back = run(["systemd-escape", "--unescape", "--path", instance]).stdout.strip()
        assert back == mnt
    home = os.path.join(workdir, "home")
    config = os.path.join(workdir, "config")
    os.makedirs(os.path.join(config, "modelfs"))
    with open(os.path.join(config, "modelfs", "default.env"), "w") as f:
        f.write("MODELFS_OPTIONS=-o catalog=builtin,verify=lazy\n")

    def expand(cmd):
        argv = []
        for word in cmd.lstrip("-").split():
            if word == "$MODELFS_OPTIONS":
                argv += ["-o", "catalog=builtin,verify=lazy"]
                continue
            argv.append(word.replace("%f", mnt).replace("%E", config))
        return argv

    env = daemon_env(home=home)
    env["XDG_DATA_HOME"] = os.path.join(workdir, "data")
    env["XDG_CACHE_HOME"] = os.path.join(workdir, "cachehome")
    pre = run(expand(keys["ExecStartPre"][0]), env=env)
    assert pre.returncode == 0 and os.path.isdir(mnt), pre.stderr
    start = expand(keys["ExecStart"][0])
    assert start[0] == os.path.join(prefix, "bin", "modelfs")
    errf = open(os.path.join(workdir, "unit.stderr"), "wb")
    proc = subprocess.Popen(start, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf, env=env,
                            start_new_session=True)
    try:
        wait_mounted(mnt, proc)
        assert "models.tsv" in os.listdir(mnt)
        cfg = read_file(os.path.join(mnt, ".control", "config"), "r")
        assert "state=%s" % os.path.join(workdir, "data", "modelfs") in cfg
        stop = run(expand(keys["ExecStop"][0]))
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(timeout=15) == 0, "modelfs did not exit 0 after ExecStop"
        assert not os.path.ismount(mnt)
    finally:
        if proc.poll() is None:
            reaper.unmount(mnt)
            proc.kill()
            proc.wait()
        errf.close()
    report = sanitizer_report(read_file(os.path.join(workdir, "unit.stderr")).decode())
    assert report is None, report


# ---------------------------------------------------------------------------
# mount helper
# ---------------------------------------------------------------------------

def wait_mounted(mnt, proc=None, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.ismount(mnt):
        if proc is not None and proc.poll() is not None:
            pytest.fail("modelfs exited with %s before mounting" % proc.returncode)
        if time.monotonic() > deadline:
            pytest.fail("%s was not mounted within %d s" % (mnt, timeout))
        time.sleep(0.05)


def mountinfo(mnt):
    for mp, fstype, source in reaper.mounts():
        if mp == mnt:
            return fstype, source
    return None


def daemon_pids(mnt):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = read_file("/proc/%s/cmdline" % d).split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"modelfs") and mnt.encode() in argv:
            pids.append(int(d))
    return pids


def unmount_and_wait(mnt):
    pids = daemon_pids(mnt)
    r = run(["fusermount3", "-u", mnt])
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 15
    while any(os.path.exists("/proc/%d" % p) for p in pids):
        assert time.monotonic() < deadline, "modelfs still running after fusermount3 -u"
        time.sleep(0.05)
    assert not os.path.ismount(mnt)


@pytest.fixture
def helper_dirs(workdir):
    d = {k: os.path.join(workdir, k) for k in ("mnt", "state", "cache", "home")}
    for p in d.values():
        os.makedirs(p)
    yield d
    if os.path.ismount(d["mnt"]):
        pids = daemon_pids(d["mnt"])
        reaper.unmount(d["mnt"])
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_mount_helper_mounts_and_unmounts(prefix, helper_dirs):
    d = helper_dirs
    helper = os.path.join(prefix, "sbin", "mount.modelfs")
    env = daemon_env(home=d["home"])
    env.pop("MODELFS_BIN", None)
    opts = "state=%s,cache=%s,auto_unmount" % (d["state"], d["cache"])
    r = run([helper, "modelfs", d["mnt"], "-o", opts], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.ismount(d["mnt"]), "mount.modelfs returned before the mount was there"
    assert mountinfo(d["mnt"]) == ("fuse.modelfs", "modelfs")
    assert "models.tsv" in os.listdir(d["mnt"])
    assert daemon_pids(d["mnt"]), "the daemon went to the background"
    unmount_and_wait(d["mnt"])


def test_mount_fuse_modelfs_takes_fstab_options(prefix, helper_dirs):
    """What mount(8) runs for `SOURCE MNT fuse.modelfs defaults,_netdev,...`."""
    d = helper_dirs
    helper = os.path.join(prefix, "sbin", "mount.fuse.modelfs")
    env = daemon_env(home=d["home"])
    opts = ("rw,defaults,_netdev,nofail,noauto,x-systemd.automount,comment=models,state=%s,"
            "cache=%s,auto_unmount" % (d["state"], d["cache"]))
    r = run([helper, "models-label", d["mnt"], "-n", "-s", "-v", "-o", opts, "-t",
             "fuse.modelfs"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "_netdev" not in r.stderr and "x-systemd" not in r.stderr, r.stderr
    assert "fsname=models-label,subtype=modelfs" in r.stderr, "-v prints the command"
    assert mountinfo(d["mnt"]) == ("fuse.modelfs", "models-label")
    cfg = read_file(os.path.join(d["mnt"], ".control", "config"), "r")
    assert "state=%s" % d["state"] in cfg
    unmount_and_wait(d["mnt"])


def test_mount_helper_fake_usage_and_errors(prefix, helper_dirs):
    d = helper_dirs
    helper = os.path.join(prefix, "sbin", "mount.modelfs")
    env = daemon_env(home=d["home"])
    r = run([helper, "modelfs", d["mnt"], "-fv", "-o", "state=%s" % d["state"]], env=env)
    assert r.returncode == 0 and not os.path.ismount(d["mnt"]), r.stderr
    assert re.search(r"modelfs %s -o state=%s$" % (re.escape(d["mnt"]), re.escape(d["state"])),
                     r.stderr.strip()), r.stderr
    r = run([helper, "modelfs", d["mnt"], "-o", "state=%s,cache=%s,no_such_option=1"
             % (d["state"], d["cache"])], env=env)
    assert r.returncode != 0 and "no_such_option" in r.stderr, r.stderr
    assert not os.path.ismount(d["mnt"])
    r = run([helper, "modelfs"], env=env)
    assert r.returncode == 1 and "usage:" in r.stderr
    r = run([helper, "--help"], env=env)
    assert r.returncode == 0 and "fuse.modelfs" in r.stdout
    r = run([helper, "modelfs", d["mnt"], "-N", "ns"], env=env)
    assert r.returncode == 1 and "namespace" in r.stderr
    env["MODELFS_BIN"] = os.path.join(d["home"], "nope")
    r = run([helper, "modelfs", d["mnt"]], env=env)
    assert r.returncode == 1 and "MODELFS_BIN" in r.stderr


def test_libfuse_mount_fuse3_with_type_fuse(prefix, helper_dirs):
    """fstab `modelfs MNT fuse OPTS`: mount(8) runs libfuse's mount.fuse3,
    which takes the program from the source field and runs `modelfs MNT -o
    OPTS`; no helper of ours is needed for this form."""
    helper = shutil.which("mount.fuse3") or "/sbin/mount.fuse3"
    if not os.access(helper, os.X_OK):
        pytest.skip("libfuse's mount.fuse3 is not installed")
    d = helper_dirs
    env = daemon_env(home=d["home"])
    env["PATH"] = os.path.join(prefix, "bin") + os.pathsep + env.get("PATH", "")
    opts = "_netdev,nofail,state=%s,cache=%s,auto_unmount" % (d["state"], d["cache"])
    r = run([helper, "modelfs", d["mnt"], "-o", opts], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.ismount(d["mnt"])
    assert mountinfo(d["mnt"])[0] == "fuse.modelfs"
    unmount_and_wait(d["mnt"])


# ---------------------------------------------------------------------------
# Example scripts
# ---------------------------------------------------------------------------

def script(name):
    return os.path.join(EXAMPLES, name)


def run_script(name, *args, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return run(["bash", script(name), *args], env=e, **kw)


def no_gpu_env(tmp):
    """PATH without nvidia-smi (a stub that fails comes first)."""
    bindir = os.path.join(tmp, "no-gpu-bin")
    os.makedirs(bindir, exist_ok=True)
    stub = os.path.join(bindir, "nvidia-smi")
    with open(stub, "w") as f:
        f.write("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    os.chmod(stub, 0o755)
    return {"PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_help(name):
    r = run_script(name, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: %s MNT" % name), r.stdout + r.stderr
    assert run_script(name).returncode == 2, "no arguments is a usage error"


def test_shell_scripts_are_shellcheck_clean():
    sc = shutil.which("shellcheck")
    if not sc:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    files = [script(s) for s in SCRIPTS] + [os.path.join(CONTRIB, "mount.modelfs")]
    r = run([sc, *files])
    assert r.returncode == 0, r.stdout + r.stderr
    r = run([sc, "-s", "bash", os.path.join(CONTRIB, "completion", "modelfs.bash")])
    assert r.returncode == 0, r.stdout + r.stderr


def read_json(path):
    return json.loads(read_file(path, "r"))


def kv_bytes_per_token(arch):
    """f16 K and V over every layer, as the scripts compute it."""
    layers = arch["num_layers"]
    hk = arch.get("head_dim_k") or arch.get("head_dim") or (
        arch["hidden_size"] / arch["num_attention_heads"])
    hv = arch.get("head_dim_v") or hk
    heads = arch.get("num_kv_heads", arch.get("num_attention_heads"))
    total = sum(heads) if isinstance(heads, list) else heads * layers
    return total * (hk + hv) * 2


def expected_needs(root, model, ctx):
    """{quant: (MiB, "vram@"|"estimate")} as the scripts must find them."""
    d = os.path.join(root, model)
    arch = read_json(os.path.join(d, "architecture.json"))
    out = {}
    for q in sorted(os.listdir(d)):
        if not os.path.isdir(os.path.join(d, q)):
            continue
        try:
            out[q] = (int(read_file(os.path.join(d, q, "vram@ctx=%d" % ctx), "r")), "vram@")
            continue
        except OSError:
            pass
        size = read_json(os.path.join(d, q, "info.json"))["size_bytes"]
        kv = math.ceil(kv_bytes_per_token(arch) * ctx / MIB)
        out[q] = ((size + MIB - 1) // MIB + kv + OVERHEAD, "estimate")
    return out


def test_pick_and_serve_dry_run(mount, workdir):
    needs = expected_needs(mount.path, MODEL, 8192)
    layers = read_json(mount.file(MODEL, "architecture.json"))["num_layers"]
    for free in (8192, 16384):
        fit = {q: n for q, (n, _) in needs.items() if n <= free}
        pick = max(fit, key=fit.get)
        r = run_script("pick-and-serve.sh", mount.path, MODEL, "--vram", str(free), "--dry-run",
                       env=no_gpu_env(workdir))
        assert r.returncode == 0, r.stderr
        assert r.stdout == "llama-server -m %s -c 8192 -ngl %d\n" % (
            mount.file(MODEL, pick, "model.gguf"), layers + 1), r.stdout + r.stderr
        assert "free GPU memory: %d MiB (--vram)" % free in r.stderr
        assert "picked %s: the largest that fits" % pick in r.stderr
        if all(src == "estimate" for _, src in needs.values()):
            assert "no vram@ctx= files in this mount: estimated as info.json size_bytes" in r.stderr
        for q, (n, _) in needs.items():
            assert re.search(r"\b%s\s+%d\s+%s\n" % (re.escape(q), n, "yes" if n <= free else "no"),
                             r.stderr), (q, n, r.stderr)
    r = run_script("pick-and-serve.sh", mount.path, MODEL, "-n", "--ctx", "32k", "--vram", "99999",
                   "--", "--port", "8080", env=no_gpu_env(workdir))
    assert r.returncode == 0 and r.stdout.endswith(" -c 32768 -ngl %d --port 8080\n" % (layers + 1))


def test_pick_and_serve_gpu_memory_sources(mount, workdir):
    bindir = os.path.join(workdir, "gpu-bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "nvidia-smi"), "w") as f:
        f.write("#!/bin/sh\n[ \"$1\" = --query-gpu=memory.free ] || exit 3\necho ' 11000'\n"
                "echo ' 2000'\n")
    os.chmod(os.path.join(bindir, "nvidia-smi"), 0o755)
    gpu = {"PATH": bindir + os.pathsep + os.environ["PATH"]}
    r = run_script("pick-and-serve.sh", mount.path, MODEL, "-n", env=gpu)
    assert r.returncode == 0 and "free GPU memory: 11000 MiB (nvidia-smi)" in r.stderr, r.stderr
    r = run_script("pick-and-serve.sh", mount.path, MODEL, "-n", "--vram", "7000", env=gpu)
    assert "free GPU memory: 7000 MiB (--vram)" in r.stderr, "--vram wins over nvidia-smi"

    nogpu = no_gpu_env(workdir)
    if "gpu_vram_mib=\n" in mount.text(".control", "hardware"):
        r = run_script("pick-and-serve.sh", mount.path, MODEL, "-n", env=nogpu)
        assert r.returncode == 1 and "give --vram" in r.stderr, r.stderr
    with open(mount.file(".control", "hardware"), "w") as f:
        f.write("gpu_vram_mib=12288\n")
    r = run_script("pick-and-serve.sh", mount.path, MODEL, "-n", env=nogpu)
    assert r.returncode == 0, r.stderr
    assert "free GPU memory: 12288 MiB (.control/hardware gpu_vram_mib)" in r.stderr


def test_pick_and_serve_partial_offload_and_errors(mount, workdir):
    env = no_gpu_env(workdir)
    needs = expected_needs(mount.path, "llama/llama-3.1-70b-instruct", 8192)
    smallest = min(needs, key=lambda q: needs[q][0])
    r = run_script("pick-and-serve.sh", mount.path, "llama/llama-3.1-70b-instruct", "-n",
                   "--vram", "12000", env=env)
    assert r.returncode == 0, r.stderr
    assert "nothing fits fully; %s offloaded partly" % smallest in r.stderr
    ngl = int(re.search(r"-ngl (\d+)$", r.stdout.strip()).group(1))
    assert 0 < ngl < 80
    r = run_script("pick-and-serve.sh", mount.path, "qwen/no-such-model", "-n", "--vram", "1",
                   env=env)
    assert r.returncode == 1 and "no model 'qwen/no-such-model'" in r.stderr
    r = run_script("pick-and-serve.sh", workdir, MODEL, "-n", "--vram", "1", env=env)
    assert r.returncode == 1 and "not a modelfs mount" in r.stderr
    r = run_script("pick-and-serve.sh", mount.path, MODEL, "--vram", "lots", env=env)
    assert r.returncode == 1 and "--vram 'lots'" in r.stderr


def test_pick_and_serve_execs_the_server(mount, workdir):
    bindir = os.path.join(workdir, "srv-bin")
    os.makedirs(bindir)
    log = os.path.join(workdir, "server-args")
    with open(os.path.join(bindir, "llama-server"), "w") as f:
        f.write("#!/bin/sh\nprintf '%%s\\n' \"$@\" > %s\n" % log)
    os.chmod(os.path.join(bindir, "llama-server"), 0o755)
    env = no_gpu_env(workdir)
    env["PATH"] = bindir + os.pathsep + env["PATH"]
    r = run_script("pick-and-serve.sh", mount.path, MODEL, "--vram", "8192", "--", "--port", "9",
                   env=env)
    assert r.returncode == 0, r.stderr
    args = read_file(log, "r").splitlines()
    assert args[0] == "-m" and args[1].startswith(mount.file(MODEL)) and args[2:4] == ["-c", "8192"]
    assert args[-2:] == ["--port", "9"]


def fake_registry(root):
    """A directory shaped like a mount that already has vram@ and fit@ files
    (what the VRAM-estimate issue adds): the scripts must prefer them."""
    v = os.path.join(root, "fam", "var")
    os.makedirs(os.path.join(root, ".control"))
    with open(os.path.join(root, ".control", "hardware"), "w") as f:
        f.write("gpu_vram_mib=6000\n")
    os.makedirs(v)
    with open(os.path.join(v, "architecture.json"), "w") as f:
        json.dump({"num_layers": 10, "num_kv_heads": 2, "head_dim": 64}, f)
    sizes = {"q4": 3000, "q8": 5500, "f16": 9000}
    for q, mib in sizes.items():
        os.makedirs(os.path.join(v, q))
        with open(os.path.join(v, q, "info.json"), "w") as f:
            json.dump({"size_bytes": mib * MIB}, f)
        with open(os.path.join(v, q, "status"), "w") as f:
            f.write("size_bytes=%d\n" % (mib * MIB))
        for ctx in (4096, 8192, 16384, 32768, 65536, 131072):
            with open(os.path.join(v, q, "vram@ctx=%d" % ctx), "w") as f:
                f.write("%d\n" % (mib + 100 + ctx // 256))
        with open(os.path.join(v, q, "fit@vram=1000,ctx=8192"), "w") as f:
            f.write("fits=partial\nngl=3\nlayers=10\n")
    return root


def test_scripts_prefer_vram_files(workdir):
    root = fake_registry(os.path.join(workdir, "fake"))
    env = no_gpu_env(workdir)
    r = run_script("pick-and-serve.sh", root, "fam/var", "-n", env=env)
    assert r.returncode == 0, r.stderr
    assert "needs from vram@ctx=8192 files" in r.stderr
    assert r.stdout == "llama-server -m %s/fam/var/q8/model.gguf -c 8192 -ngl 11\n" % root
    r = run_script("pick-and-serve.sh", root, "fam/var", "-n", "--vram", "1000", env=env)
    assert "-ngl 3 (fit@vram=1000,ctx=8192)" in r.stderr and r.stdout.endswith("-ngl 3\n")
    r = run_script("vram-table.sh", root, "fam/var")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "# fam/var: VRAM in MiB by context, from vram@ctx= files (f16 KV, all " \
                       "layers on the GPU)"
    assert lines[1].split() == ["quant", "4k", "8k", "16k", "32k", "64k", "128k"]
    assert lines[2].split() == ["q4"] + [str(3000 + 100 + c // 256) for c in
                                         (4096, 8192, 16384, 32768, 65536, 131072)]
    assert [line.split()[0] for line in lines[2:]] == ["q4", "q8", "f16"]


def test_vram_table_on_a_mount(mount):
    r = run_script("vram-table.sh", mount.path, MODEL)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    ctxs = [4096, 8192, 16384, 32768, 65536, 131072]
    per_ctx = {c: expected_needs(mount.path, MODEL, c) for c in ctxs}
    quants = sorted(per_ctx[8192], key=lambda q: (
        read_json(mount.file(MODEL, q, "info.json"))["size_bytes"], q))
    if all(src == "estimate" for _, src in per_ctx[8192].values()):
        assert lines[0].startswith("# %s: VRAM in MiB by context, estimated (no vram@ctx= files "
                                   "in this mount): info.json size_bytes + KV cache" % MODEL)
    assert lines[1].split() == ["quant", "4k", "8k", "16k", "32k", "64k", "128k"]
    assert len(lines) == 2 + len(quants)
    for line, q in zip(lines[2:], quants):
        assert line.split() == [q] + [str(per_ctx[c][q][0]) for c in ctxs], line
    r = run_script("vram-table.sh", mount.path, MODEL, "--tsv", "--ctx", "8k,100000")
    assert r.returncode == 0, r.stderr
    rows = [x.split("\t") for x in r.stdout.splitlines()]
    assert rows[0] == ["quant", "8k", "100000"]
    assert rows[1][1] == str(per_ctx[8192][quants[0]][0])
    r = run_script("vram-table.sh", mount.path, MODEL, "--ctx", "lots")
    assert r.returncode == 1 and "'lots' is not a number" in r.stderr


def test_register_list_without_register_file(mount, workdir):
    lst = os.path.join(workdir, "repos.txt")
    with open(lst, "w") as f:
        f.write("# my models\nbartowski/Qwen2.5-7B-Instruct-GGUF\n")
    if os.path.exists(mount.file(".control", "register")):
        pytest.skip(".control/register exists now; covered by test_register_list_reports_errors")
    r = run_script("register-list.sh", mount.path, lst)
    assert r.returncode == 1
    assert "%s: No such file or directory" % mount.file(".control", "register") in r.stderr
    r = run_script("register-list.sh", workdir, lst)
    assert r.returncode == 1 and "not a modelfs mount" in r.stderr


def shadow_mount(m, workdir, register_target):
    """A directory whose .control/register is register_target and whose
    .control/log is the mount's log."""
    root = os.path.join(workdir, "shadow")
    os.makedirs(os.path.join(root, ".control"))
    os.symlink(register_target, os.path.join(root, ".control", "register"))
    os.symlink(m.file(".control", "log"), os.path.join(root, ".control", "log"))
    return root


@pytest.mark.mount(opts=["offline"])
def test_register_list_reports_errors(mount, workdir):
    """Each failed line is reported with its errno message and the new
    .control/log line.  While .control/register is missing (registration
    lands with a later issue), the mount's unregister file stands in: it
    refuses these lines with ENOENT and EINVAL the same way."""
    target = mount.file(".control", "register")
    stand_in = not os.path.exists(target)
    if stand_in:
        target = mount.file(".control", "unregister")
    root = shadow_mount(mount, workdir, target)
    lst = os.path.join(workdir, "repos.txt")
    with open(lst, "w") as f:
        f.write("# models to try\n\nqwen/no-such-variant   # not there\n"
                "two words !! = bad\n")
    r = run_script("register-list.sh", root, lst)
    assert r.returncode == 1, r.stdout + r.stderr
    err = r.stderr.splitlines()
    spec = (errno.ENOENT, errno.EINVAL, errno.ENETDOWN, errno.EACCES, errno.ETIMEDOUT,
            errno.EAGAIN, errno.EIO)
    assert re.match(r"FAILED +qwen/no-such-variant: (%s) \(line 3\)$" % "|".join(
        os.strerror(e) for e in spec), err[0]), err
    assert re.match(r" +\.control/log: .*error .*%s" % ("no-such-variant" if stand_in else ""),
                    err[1]), err
    assert re.match(r"FAILED +two words !! = bad: %s \(line 4\)$" % os.strerror(errno.EINVAL),
                    err[2]), err
    assert re.match(r" +\.control/log: .*error", err[3]), err
    assert err[-1] == "register-list.sh: 0 registered, 2 failed"


def test_register_list_errno_from_the_write_and_success(mount, workdir):
    root = shadow_mount(mount, workdir, "/dev/full")
    r = run_script("register-list.sh", root, "-", input="org/repo\n")
    assert r.returncode == 1
    assert "FAILED      org/repo: %s (line 1)" % os.strerror(errno.ENOSPC) in r.stderr
    assert ".control/log: (no new line)" in r.stderr
    ok = os.path.join(workdir, "ok")
    os.makedirs(os.path.join(ok, ".control"))
    os.symlink("/dev/null", os.path.join(ok, ".control", "register"))
    r = run_script("register-list.sh", ok, "-", input="a/b\n  # c\n\nd/e quant=q4_k_m\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "registered  a/b\nregistered  d/e quant=q4_k_m\n"
    assert r.stderr == "register-list.sh: 2 registered, 0 failed\n"
