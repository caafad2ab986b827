"""Refused operations and the control files of the foundation (SPEC §3, §6).

Every mutation of the read-only tree fails with one exact errno:
create, mknod, mkdir, unlink, rmdir, rename, link, symlink -> EROFS;
chmod, chown, utimens -> EPERM; opening a 0444 file for writing or
truncating it -> EACCES; reading a write-only control file -> EACCES;
a path that does not exist -> ENOENT.  The tests run as root, so these
come from modelfs itself, not from the kernel's mode checks.

.control/hardware and .control/unregister are driven the way users drive
them (os.write on an fd, and `echo ... > file` in a shell); a refused
request fails the write with its errno, changes nothing and leaves exactly
one line in .control/log.
"""

import errno
import json
import os
import re
import subprocess

import pytest

from conftest import builtin_catalog, log_lines_since, raises_errno, read_log

WRITE_ONLY = {"register", "unregister", "download", "evict", "benchmark", "refresh"}
LOG_LINE = re.compile(r"^\S+ (error|warn) \S")
HW_KEYS = ["gpu_name", "gpu_vram_mib", "gpu_bandwidth_gbps", "ram_mib", "ram_bandwidth_gbps"]


def some_model():
    """A catalog model with more than one quant whose repo no other entry shares."""
    models = builtin_catalog()
    repos = [m["repo_id"] for m in models]
    return next(m for m in models if repos.count(m["repo_id"]) == 1 and len(m["quantizations"]) > 1)


def write_control(m, name, data):
    """One open/write/close of MNT/.control/NAME, as `echo` does it."""
    fd = os.open(m.file(".control", name), os.O_WRONLY | os.O_TRUNC)
    try:
        return os.write(fd, data.encode() if isinstance(data, str) else data)
    finally:
        os.close(fd)


def shell(cmd):
    """bash, whose messages name the errno (dash says "I/O error" for any)."""
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)


def hardware(m):
    return dict(line.split("=", 1) for line in m.text(".control", "hardware").splitlines()
                if line and not line.startswith("#"))


# ---------------------------------------------------------------------------
# The read-only tree
# ---------------------------------------------------------------------------

def test_create_is_erofs(mount):
    m = some_model()
    for parent in ("", m["family"], os.path.join(m["family"], m["variant"]), ".control"):
        with raises_errno(errno.EROFS):
            os.open(mount.file(parent, "new-file"), os.O_WRONLY | os.O_CREAT, 0o644)
        with raises_errno(errno.EROFS):
            os.open(mount.file(parent, "new-file"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    with raises_errno(errno.EROFS):
        os.mknod(mount.file("new-node"), 0o644)


def test_mkdir_rmdir_unlink_are_erofs(mount):
    m = some_model()
    vdir = mount.file(m["family"], m["variant"])
    with raises_errno(errno.EROFS):
        os.mkdir(mount.file("newdir"))
    with raises_errno(errno.EROFS):
        os.mkdir(os.path.join(vdir, "newquant"))
    for d in (vdir, mount.file(m["family"]), mount.file("by-repo"), mount.file(".control"),
              os.path.join(vdir, m["quantizations"][0]["name"])):
        with raises_errno(errno.EROFS):
            os.rmdir(d)
    for f in (mount.file("README"), mount.file("registry.json"), os.path.join(vdir, "info.json"),
              mount.file(".control", "log"), mount.file(".control", "unregister"),
              mount.file("by-repo", m["repo_id"])):
        with raises_errno(errno.EROFS):
            os.unlink(f)
    assert os.path.isdir(vdir)


def test_rename_link_symlink_are_erofs(mount):
    m = some_model()
    vdir = mount.file(m["family"], m["variant"])
    with raises_errno(errno.EROFS):
        os.rename(mount.file("README"), mount.file("README2"))
    with raises_errno(errno.EROFS):
        os.rename(vdir, mount.file(m["family"], "renamed"))
    with raises_errno(errno.EROFS):
        os.rename(os.path.join(vdir, "info.json"), mount.file("README"))
    with raises_errno(errno.EROFS):
        os.link(mount.file("README"), mount.file("README2"))
    with raises_errno(errno.EROFS):
        os.symlink("README", mount.file("link"))
    with raises_errno(errno.EROFS):
        os.symlink("../x", mount.file("by-repo", "new"))
    with raises_errno(errno.EROFS):
        os.symlink("x", mount.file(m["family"], m["variant"], "link"))


def test_chmod_chown_utime_are_eperm(mount):
    m = some_model()
    for f in (mount.file("README"), mount.file(m["family"], m["variant"]),
              mount.file(m["family"], m["variant"], "info.json"), mount.file(".control", "hardware"),
              mount.path):
        with raises_errno(errno.EPERM):
            os.chmod(f, 0o777)
        with raises_errno(errno.EPERM):
            os.chown(f, 1, 1)
        with raises_errno(errno.EPERM):
            os.utime(f, (0, 0))
        with raises_errno(errno.EPERM):
            os.utime(f, None)
    assert os.stat(mount.file("README")).st_mode & 0o777 == 0o444


def test_writing_a_read_only_file_is_eacces(mount):
    m = some_model()
    q = m["quantizations"][0]["name"]
    files = [mount.file("README"), mount.file("models.tsv"),
             mount.file(m["family"], m["variant"], "info.json"),
             mount.file(m["family"], m["variant"], q, "status"),
             mount.file(".control", "config"), mount.file(".control", "log")]
    for f in files:
        before = open(f, "rb").read()
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND):
            with raises_errno(errno.EACCES):
                os.open(f, flags)
        with raises_errno(errno.EACCES):
            os.truncate(f, 0)
        assert open(f, "rb").read() == before or f.endswith("log")
    r = shell("echo x > '%s'" % files[0])
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_reading_a_control_file_is_eacces(mount):
    control = set(os.listdir(mount.file(".control")))
    assert "unregister" in control
    for name in WRITE_ONLY & control:
        with raises_errno(errno.EACCES):
            os.open(mount.file(".control", name), os.O_RDONLY)
        with raises_errno(errno.EACCES):
            os.open(mount.file(".control", name), os.O_RDWR)
    r = shell("cat '%s'" % mount.file(".control", "unregister"))
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_unknown_paths_are_enoent(mount):
    m = some_model()
    vdir = mount.file(m["family"], m["variant"])
    for p in ("no-such-family", "no-such-family/x/y", m["family"] + "/no-such-variant",
              os.path.join(m["family"], m["variant"], "no-such-quant"),
              os.path.join(m["family"], m["variant"], "no-such-quant", "info.json"),
              os.path.join(m["family"], m["variant"], m["quantizations"][0]["name"], "nothing"),
              ".control/no-such-control", "by-repo/no-such-org", "by-repo/no-such-org/repo",
              "LLAMA"):
        with raises_errno(errno.ENOENT):
            os.stat(mount.file(p))
        with raises_errno(errno.ENOENT):
            os.open(mount.file(p), os.O_RDONLY)
    with raises_errno(errno.ENOTDIR):
        os.stat(mount.file("README", "child"))
    with raises_errno(errno.ENOENT):
        os.rmdir(os.path.join(vdir, "no-such-quant"))
    with raises_errno(errno.ENOENT):
        os.unlink(mount.file("no-such-file"))
    with raises_errno(errno.ENOENT):
        os.mkdir(mount.file("no-such-family", "sub"))


# ---------------------------------------------------------------------------
# .control/hardware
# ---------------------------------------------------------------------------

def test_hardware_shows_the_profile_keys(mount):
    assert list(hardware(mount)) == HW_KEYS


def test_hardware_write_persists_across_remount(mount):
    write_control(mount, "hardware", "gpu_vram_mib=24576\ngpu_bandwidth_gbps=1008\n")
    hw = hardware(mount)
    assert hw["gpu_vram_mib"] == "24576"
    assert float(hw["gpu_bandwidth_gbps"]) == 1008
    r = shell("echo 'gpu_name=Test GPU 9000' > '%s'" % mount.file(".control", "hardware"))
    assert r.returncode == 0, r.stderr
    r = shell("printf 'ram_bandwidth_gbps=80.5\\n' >> '%s'" % mount.file(".control", "hardware"))
    assert r.returncode == 0, r.stderr
    before = mount.text(".control", "hardware")
    assert hardware(mount)["gpu_name"] == "Test GPU 9000"
    assert float(hardware(mount)["ram_bandwidth_gbps"]) == 80.5

    mount.remount()
    assert mount.text(".control", "hardware") == before
    assert hardware(mount)["gpu_vram_mib"] == "24576"


@pytest.mark.parametrize("line", [
    "bogus_key=1\n",
    "gpu_vram_mib=lots\n",
    "gpu_bandwidth_gbps=-3\n",
    "no equals sign\n",
    "gpu_vram_mib=24576\nbogus_key=1\n",
])
def test_hardware_bad_line_is_einval_and_changes_nothing(mount, line):
    write_control(mount, "hardware", "gpu_vram_mib=12288\n")
    before = mount.text(".control", "hardware")
    log_before = read_log(mount)
    with raises_errno(errno.EINVAL):
        write_control(mount, "hardware", line)
    assert mount.text(".control", "hardware") == before
    new = log_lines_since(mount, log_before)
    assert len(new) == 1, new
    assert LOG_LINE.match(new[0]), new[0]
    mount.remount()
    assert mount.text(".control", "hardware") == before


def test_hardware_bad_line_from_a_shell(mount):
    r = shell("echo 'gpu_vram_mib=abc' > '%s'" % mount.file(".control", "hardware"))
    assert r.returncode != 0
    assert "Invalid argument" in r.stderr


# ---------------------------------------------------------------------------
# .control/unregister
# ---------------------------------------------------------------------------

def assert_gone(mount, m, quant=None):
    fam, var = m["family"], m["variant"]
    rows = mount.text("models.tsv").splitlines()[1:]
    reg = json.loads(mount.text("registry.json"))["models"]
    if quant is None:
        with raises_errno(errno.ENOENT):
            os.stat(mount.file(fam, var))
        assert var not in os.listdir(mount.file(fam)) if os.path.isdir(mount.file(fam)) else True
        assert not [r for r in rows if r.startswith("%s/%s/" % (fam, var))]
        assert (fam, var) not in {(x["family"], x["variant"]) for x in reg}
        with raises_errno(errno.ENOENT):
            os.lstat(mount.file("by-repo", m["repo_id"]))
    else:
        with raises_errno(errno.ENOENT):
            os.stat(mount.file(fam, var, quant))
        assert quant not in os.listdir(mount.file(fam, var))
        assert "%s/%s/%s" % (fam, var, quant) not in [r.split("\t")[0] for r in rows]
        x = next(x for x in reg if (x["family"], x["variant"]) == (fam, var))
        assert quant not in [q["name"] for q in x["quantizations"]]


def test_unregister_variant_persists(mount):
    m = some_model()
    others = [x for x in builtin_catalog() if x["variant"] != m["variant"]]
    write_control(mount, "unregister", "%s/%s\n" % (m["family"], m["variant"]))
    assert_gone(mount, m)
    for x in others[:3]:
        assert os.path.isdir(mount.file(x["family"], x["variant"]))
    n_rows = len(mount.text("models.tsv").splitlines()) - 1
    assert n_rows == sum(len(x["quantizations"]) for x in builtin_catalog()) - \
        len(m["quantizations"])

    mount.remount()
    assert_gone(mount, m)
    assert len(mount.text("models.tsv").splitlines()) - 1 == n_rows


def test_unregister_by_repo_and_quant(mount):
    models = builtin_catalog()
    repos = [x["repo_id"] for x in models]
    a, b = [x for x in models if repos.count(x["repo_id"]) == 1 and len(x["quantizations"]) > 1][:2]
    r = shell("echo '%s' > '%s'" % (a["repo_id"], mount.file(".control", "unregister")))
    assert r.returncode == 0, r.stderr
    assert_gone(mount, a)
    q = b["quantizations"][-1]["name"]
    write_control(mount, "unregister", "# a comment\n\n%s/%s/%s\n" % (b["family"], b["variant"], q))
    assert_gone(mount, b, quant=q)
    assert os.path.isdir(mount.file(b["family"], b["variant"], b["quantizations"][0]["name"]))
    mount.remount()
    assert_gone(mount, a)
    assert_gone(mount, b, quant=q)


def test_unregister_comments_and_blank_lines_change_nothing(mount):
    before = mount.text("models.tsv")
    log_before = read_log(mount)
    write_control(mount, "unregister", "# nothing to do\n\n   \n")
    assert mount.text("models.tsv") == before
    assert not [line for line in log_lines_since(mount, log_before) if LOG_LINE.match(line)]


@pytest.mark.parametrize("line,code", [
    ("nosuchfamily/nosuchvariant\n", errno.ENOENT),
    ("nosuch-org/NoSuch-Repo-GGUF\n", errno.ENOENT),
    ("no-slash-here\n", errno.EINVAL),
    ("a/b/c/d/e\n", errno.EINVAL),
    ("llama/llama-3.1-8b-instruct bogus=1\n", errno.EINVAL),
    ("../../etc/passwd\n", errno.EINVAL),
])
def test_unregister_refused(mount, line, code):
    before = mount.text("models.tsv")
    log_before = read_log(mount)
    with raises_errno(code):
        write_control(mount, "unregister", line)
    assert mount.text("models.tsv") == before
    new = log_lines_since(mount, log_before)
    assert len(new) == 1, new
    assert LOG_LINE.match(new[0]), new[0]
    assert any(word in new[0] for word in line.split()), new[0]
