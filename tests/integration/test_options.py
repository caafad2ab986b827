"""The command line, mount options and environment (SPEC §1, §2).

Refused options must stop the mount before anything is mounted, with a
non-zero exit status and a message naming the option; accepted ones show
in .control/config.  A foreground mount ends cleanly on Ctrl-C.
"""

import copy
import json
import os
import re
import signal

import pytest

import reaper
from conftest import REPO_DIR, builtin_catalog


def project_version():
    with open(os.path.join(REPO_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(modelfs\s+VERSION\s+([0-9.]+)", f.read()).group(1)


def refused(modelfs, workdir, opts, env=None):
    """Runs a foreground mount that must be refused; returns its result."""
    mnt = os.path.join(workdir, "mnt")
    state = os.path.join(workdir, "state")
    cache = os.path.join(workdir, "cache")
    for d in (mnt, state, cache):
        os.makedirs(d, exist_ok=True)
    r = modelfs([mnt, "-f", "-o", ",".join(["auto_unmount", "state=" + state,
                                            "cache=" + cache] + opts)], env=env)
    assert not reaper.ours(workdir)
    assert r.returncode != 0, "mount with -o %s was not refused:\n%s" % (opts, r.stderr)
    assert "[harness:" not in r.stderr, "modelfs mounted instead of refusing -o %s" % opts
    return r


@pytest.mark.parametrize("opt,name", [
    ("bogus_option", "bogus_option"),
    ("bogus_key=12", "bogus_key"),
    ("cache_maxx=1G", "cache_maxx"),
    ("direct_io", "direct_io"),
])
def test_unknown_option_is_refused(modelfs, workdir, opt, name):
    r = refused(modelfs, workdir, [opt])
    assert name in r.stderr
    assert "unknown" in r.stderr.lower()


@pytest.mark.parametrize("opt,name", [
    ("cache_max=12Q", "cache_max"),
    ("cache_max=", "cache_max"),
    ("cache_max=-1G", "cache_max"),
    ("gpu_vram=lots", "gpu_vram"),
    ("chunk=1.5.5M", "chunk"),
    ("readahead=99999999999999999999999", "readahead"),
    ("verify=sometimes", "verify"),
    ("connections=0", "connections"),
    ("endpoint=ftp://example.com", "endpoint"),
])
def test_bad_value_is_refused(modelfs, workdir, opt, name):
    r = refused(modelfs, workdir, [opt])
    assert name in r.stderr


def test_unknown_option_does_not_echo_its_value(modelfs, workdir):
    r = refused(modelfs, workdir, ["tokne=hf_do_not_print_me"])
    assert "tokne" in r.stderr
    assert "hf_do_not_print_me" not in r.stderr + r.stdout


def test_missing_catalog_file_is_refused(modelfs, workdir):
    path = os.path.join(workdir, "no-such-catalog.json")
    r = refused(modelfs, workdir, ["catalog=" + path])
    assert path in r.stderr or "no-such-catalog.json" in r.stderr


def test_malformed_catalog_file_is_refused(modelfs, workdir):
    path = os.path.join(workdir, "broken.json")
    with open(path, "w") as f:
        f.write('{"catalog_version": 1, "models": [ {"family": ')
    r = refused(modelfs, workdir, ["catalog=" + path])
    assert "broken.json" in r.stderr


def test_help(modelfs):
    r = modelfs(["--help"])
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    for opt in ("state=", "cache=", "cache_max=", "hf_cache=", "endpoint=", "token_file=",
                "offline", "catalog=", "gpu_vram=", "bench_cmd=", "verify="):
        assert opt in text, opt
    assert "allow_other" in text, "libfuse's options follow ours"
    short = modelfs(["-h"])
    assert short.returncode == 0 and short.stdout + short.stderr == r.stdout + r.stderr


def test_version(modelfs):
    r = modelfs(["--version"])
    assert r.returncode == 0, r.stderr
    assert "modelfs" in r.stdout and project_version() in r.stdout


def test_no_mountpoint_is_an_error(modelfs):
    r = modelfs([])
    assert r.returncode != 0
    assert "usage" in (r.stdout + r.stderr).lower() or "mountpoint" in (r.stdout + r.stderr)


def test_missing_mountpoint_is_an_error(modelfs, workdir):
    for d in ("s", "c"):
        os.makedirs(os.path.join(workdir, d))
    r = modelfs([os.path.join(workdir, "no-such-dir"), "-f", "-o",
                 "state=%s/s,cache=%s/c" % (workdir, workdir)])
    assert r.returncode != 0
    assert "no-such-dir" in r.stderr


@pytest.mark.mount(opts=["catalog=none"])
def test_catalog_none_is_empty(mount):
    names = set(os.listdir(mount.path))
    assert {n for n in names if "@" not in n} == \
        {"README", "registry.json", "models.tsv", "by-repo", ".control"}
    assert json.loads(mount.text("registry.json")) == {"models": []}
    lines = mount.text("models.tsv").splitlines()
    assert len(lines) == 1 and lines[0].startswith("path\tfamily\t")
    assert os.listdir(mount.file("by-repo")) == []
    assert mount.config()["catalog"] == "none"


VARIANTS = ["tiny", "tiny-1", "tiny.2"]


def small_catalog():
    """Three entries in builtin.json's own format, renamed so that what the
    mount shows can only have come from this file.  One variant name is a
    prefix of the others, so models.tsv's order by path ('-' and '.' sort
    before '/') differs from the order by variant name."""
    entries = []
    for i, m in enumerate(builtin_catalog()[:len(VARIANTS)]):
        e = copy.deepcopy(m)
        e["family"] = "testfam"
        e["variant"] = VARIANTS[i]
        e["full_name"] = "Test Family %s" % VARIANTS[i]
        e["repo_id"] = "test-org/Tiny-%d-GGUF" % i
        entries.append(e)
    return {"catalog_version": 1, "models": entries}


def test_catalog_path(mounts, workdir):
    cat = small_catalog()
    path = os.path.join(workdir, "small-catalog.json")
    with open(path, "w") as f:
        json.dump(cat, f)
    m = mounts.new(opts=["catalog=" + path])
    assert {n for n in os.listdir(m.path) if "@" not in n} == \
        {"README", "registry.json", "models.tsv", "by-repo", ".control", "testfam"}
    assert sorted(os.listdir(m.file("testfam"))) == sorted(VARIANTS)
    for e in cat["models"]:
        vdir = m.file("testfam", e["variant"])
        info = json.loads(m.text("testfam", e["variant"], "info.json"))
        assert info["full_name"] == e["full_name"]
        assert info["repo_id"] == e["repo_id"]
        assert info["context_window"] == e["context_window"]
        assert sorted(n for n in os.listdir(vdir) if os.path.isdir(os.path.join(vdir, n))) == \
            sorted(q["name"] for q in e["quantizations"])
        assert os.readlink(m.file("by-repo", e["repo_id"])) == "../../testfam/" + e["variant"]
    reg = json.loads(m.text("registry.json"))
    assert sorted(x["variant"] for x in reg["models"]) == sorted(VARIANTS)
    rows = [line.split("\t")[0] for line in m.text("models.tsv").splitlines()[1:]]
    want = sorted("testfam/%s/%s" % (e["variant"], q["name"])
                  for e in cat["models"] for q in e["quantizations"])
    assert rows == want
    assert want[0].startswith("testfam/tiny-1/") and want[-1].startswith("testfam/tiny/")
    assert m.config()["catalog"] == path


def test_offline_from_environment(mounts):
    m = mounts.new(env={"HF_HUB_OFFLINE": "1"})
    assert m.config()["offline"] == "1"
    m.stop()
    m2 = mounts.new(opts=["offline"])
    assert m2.config()["offline"] == "1"
    m2.stop()
    m3 = mounts.new()
    assert m3.config()["offline"] == "0"


def test_options_show_in_config(mounts):
    m = mounts.new(opts=["cache_max=24G", "endpoint=http://127.0.0.1:9/", "verify=strict",
                         "gpu_vram=16G", "connections=8"],
                   env={"HF_ENDPOINT": "http://env.invalid"})
    cfg = m.config()
    assert int(cfg["cache_max"]) == 24 << 30
    assert cfg["endpoint"] == "http://127.0.0.1:9"
    assert cfg["verify"] == "strict"
    assert int(cfg["gpu_vram_mib"]) == 16 << 10
    assert cfg["connections"] == "8"
    m.stop()
    m2 = mounts.new(env={"HF_ENDPOINT": "http://mirror.invalid:8080"})
    assert m2.config()["endpoint"] == "http://mirror.invalid:8080"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_unmounts_cleanly(mounts, sig):
    m = mounts.new()
    assert os.path.ismount(m.path)
    status = m.signal(sig)
    assert status == 0, "exit status %s after %s:\n%s" % (status, sig.name, m.stderr())
    assert not os.path.ismount(m.path)
    assert not reaper.ours(m.path)
    m2 = mounts.new(state=m.state, cache=m.cache)
    assert os.path.isdir(m2.file(builtin_catalog()[0]["family"]))
