"""Registering models through a real mount against hubsim (SPEC §6, issue 5).

Every test mounts modelfs with catalog=none and endpoint= pointing at its
own hubsim, serving scenarios.standard_manifest(): one repo per case
(single file, quants in subfolders, split shards, a vision projector, gated,
private, no GGUF, a malformed header, a renamed repo, two revisions).

What a request must do is checked in every view of the mount: the tree,
info.json, by-repo/, registry.json and models.tsv.  What a refused request
must do is checked the same way everywhere: the exact errno (of write(), or
of close() for text the mount held as a possible pasted page), exactly one
new line in .control/log that says what was wrong, and registry.json
byte-for-byte as before.
"""

import errno
import json
import os
import re
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "hub"))
sys.path.insert(0, os.path.join(HERE, "..", "gguf"))

from conftest import REPO_DIR, log_lines_since, raises_errno, read_log  # noqa: E402
from hubsim import HubProcess  # noqa: E402
import ggufgen  # noqa: E402
import scenarios as S  # noqa: E402

LOG_LINE = re.compile(r"^\S+ (error|warn) \S")
ERROR_LINE = re.compile(r"^\S+ error \S")
BAD_LINES = os.path.join(REPO_DIR, "tests", "unit", "core", "data", "bad_control_lines.txt")

TINY = "test-org/Tiny-Llama-GGUF"
TINY_DIR = ("llama", "tiny-llama")


@pytest.fixture
def hub(workdir):
    with HubProcess(S.standard_manifest(), workdir=os.path.join(workdir, "hub")) as h:
        yield h


@pytest.fixture
def reg(hub, mounts):
    """A factory of mounts with no catalog, against the hub."""
    def new(opts=(), **kw):
        return mounts.new(opts=["catalog=none", "endpoint=" + hub.url, *opts], **kw)
    return new


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def control(m, name, text):
    """One open/write/close of MNT/.control/NAME.  Returns (errno, where):
    (0, None), or the errno and "write" or "close" (text held until close)."""
    data = text.encode() if isinstance(text, str) else text
    fd = os.open(m.file(".control", name), os.O_WRONLY | os.O_TRUNC)
    err, where = 0, None
    try:
        n = os.write(fd, data)
        assert n == len(data)
    except OSError as e:
        err, where = e.errno, "write"
    try:
        os.close(fd)
    except OSError as e:
        if not err:
            err, where = e.errno, "close"
    return err, where


def register(m, text, name="register"):
    err, where = control(m, name, text)
    assert err == 0, "%s of %r failed with %s at %s:\n%s" % (
        name, text[:200], errno.errorcode.get(err, err), where, m.log()[-3000:])


def registry(m):
    return json.loads(m.text("registry.json"))["models"]


def variant(m, family, var):
    return next((x for x in registry(m) if (x["family"], x["variant"]) == (family, var)), None)


def tsv_paths(m):
    return [r.split("\t")[0] for r in m.text("models.tsv").splitlines()[1:]]


def quants(m, family, var):
    return sorted(n for n in os.listdir(m.file(family, var))
                  if os.path.isdir(m.file(family, var, n)))


def commit_of(hub, repo_id, ref="main"):
    for r in hub.repos()["repos"]:
        if r["id"] == repo_id:
            for rev in r["revisions"]:
                if ref in rev["branches"] or ref in rev["tags"] or ref == rev["sha"]:
                    return rev["sha"]
    raise KeyError((repo_id, ref))


def assert_registered(m, hub, repo_id, family, var, want_quants, ref="main"):
    """The variant is in every view: tree, info.json, by-repo, registry.json, models.tsv."""
    assert os.path.isdir(m.file(family, var)), m.log()[-2000:]
    assert quants(m, family, var) == sorted(want_quants)
    info = json.loads(m.text(family, var, "info.json"))
    assert info["repo_id"] == repo_id
    assert info["revision"] == commit_of(hub, repo_id, ref)
    assert sorted(q["name"] for q in info["quantizations"]) == sorted(want_quants)
    arch = json.loads(m.text(family, var, "architecture.json"))
    assert arch["architecture"] == "llama" and arch["num_layers"] == 2 and arch["source"] == "gguf"
    org, name = repo_id.split("/")
    assert os.readlink(m.file("by-repo", org, name)) == "../../%s/%s" % (family, var)
    assert os.path.isdir(m.file("by-repo", org, name))
    assert name in os.listdir(m.file("by-repo", org))
    v = variant(m, family, var)
    assert v is not None and v["repo_id"] == repo_id
    paths = tsv_paths(m)
    for q in want_quants:
        assert "%s/%s/%s" % (family, var, q) in paths
        qi = json.loads(m.text(family, var, q, "info.json"))
        assert qi["repo_id"] == repo_id and qi["size_bytes"] > 0
        for f in qi["files"]:
            assert os.stat(m.file(family, var, q, f["name"])).st_size == f["size_bytes"]


def assert_refused(m, name, text, code, *words, where="write"):
    """text written to .control/NAME fails with code; one log line holding
    every word; registry.json unchanged."""
    before = m.read("registry.json")
    log_before = read_log(m)
    err, at = control(m, name, text)
    assert (err, at) == (code, where), "expected %s at %s, got %s at %s\n%s" % (
        errno.errorcode[code], where, errno.errorcode.get(err, err), at, m.log()[-2000:])
    new = log_lines_since(m, log_before)
    assert len(new) == 1, new
    assert ERROR_LINE.match(new[0]), new[0]
    for w in words:
        assert w in new[0], (w, new[0])
    assert m.read("registry.json") == before
    return new[0]


def shell(cmd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=e)


# ---------------------------------------------------------------------------
# Every TARGET form
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("target,want", [
    (TINY, ["q4_k_m", "q8_0"]),
    ("https://huggingface.co/" + TINY, ["q4_k_m", "q8_0"]),
    ("https://huggingface.co/%s/tree/main" % TINY, ["q4_k_m", "q8_0"]),
    ("https://huggingface.co/%s/blob/main/tiny-llama-Q4_K_M.gguf" % TINY, ["q4_k_m"]),
    ("https://huggingface.co/%s/resolve/main/tiny-llama-Q8_0.gguf?download=true" % TINY, ["q8_0"]),
    ("https://hf.co/%s#model-card" % TINY, ["q4_k_m", "q8_0"]),
    ("hf://" + TINY, ["q4_k_m", "q8_0"]),
    ("hf://%s@main" % TINY, ["q4_k_m", "q8_0"]),
    ("%s:q8_0" % TINY, ["q8_0"]),
    ("%s quant=q4_k_m" % TINY, ["q4_k_m"]),
    ("{endpoint}/%s" % TINY, ["q4_k_m", "q8_0"]),
])
def test_register_target_forms(reg, hub, target, want):
    m = reg()
    before = read_log(m)
    register(m, target.replace("{endpoint}", hub.url) + "\n")
    assert_registered(m, hub, TINY, *TINY_DIR, want)
    new = log_lines_since(m, before)
    assert any("register: 'llama/tiny-llama' from '%s'" % TINY in x for x in new), new
    assert not [x for x in new if LOG_LINE.match(x)], new


def test_register_without_newline_and_from_shell(reg, hub):
    m = reg()
    r = shell("echo -n '%s' > '%s'" % (TINY, m.file(".control", "register")))
    assert r.returncode == 0, r.stderr
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])
    r = shell("printf '%%s\\n' test-org/Split-GGUF >> '%s'" % m.file(".control", "register"))
    assert r.returncode == 0, r.stderr
    assert os.path.isdir(m.file("llama", "split", "q4_k_m"))


def test_register_revision_tag_and_commit(reg, hub):
    rid = "test-org/Two-Revisions-GGUF"
    m = reg()
    register(m, "hf://%s@v1\n" % rid)
    assert_registered(m, hub, rid, "llama", "two-revisions", ["q4_k_m"], ref="v1")
    register(m, "%s\n" % rid)
    assert_registered(m, hub, rid, "llama", "two-revisions", ["q4_k_m", "q8_0"])
    sha = commit_of(hub, rid, "v1")
    register(m, "https://huggingface.co/%s/tree/%s\n" % (rid, sha))
    assert_registered(m, hub, rid, "llama", "two-revisions", ["q4_k_m"], ref="v1")
    register(m, "%s revision=main\n" % rid)
    assert json.loads(m.text("llama", "two-revisions", "info.json"))["revision"] == \
        commit_of(hub, rid)


def test_register_renamed_repo(reg, hub):
    m = reg()
    register(m, "test-org/Old-Name-GGUF\n")
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_register_overrides(reg, hub):
    m = reg()
    register(m, '%s family=mine variant=tiny-test name="My Tiny Model"\n' % TINY)
    assert_registered(m, hub, TINY, "mine", "tiny-test", ["q4_k_m", "q8_0"])
    assert json.loads(m.text("mine", "tiny-test", "info.json"))["full_name"] == "My Tiny Model"


# ---------------------------------------------------------------------------
# Repo shapes
# ---------------------------------------------------------------------------

def test_register_split_repo(reg, hub):
    m = reg()
    register(m, "test-org/Split-GGUF\n")
    assert_registered(m, hub, "test-org/Split-GGUF", "llama", "split", ["q4_k_m"])
    names = sorted(f for f in os.listdir(m.file("llama", "split", "q4_k_m")) if f.endswith(".gguf"))
    assert names == ["model-%05d-of-00003.gguf" % i for i in (1, 2, 3)]
    qi = json.loads(m.text("llama", "split", "q4_k_m", "info.json"))
    assert [f["upstream"] for f in qi["files"]] == \
        ["split-Q4_K_M-%05d-of-00003.gguf" % i for i in (1, 2, 3)]
    sizes = {f["path"]: f["size"] for f in hub.repos()["repos"][2]["revisions"][0]["files"]}
    assert qi["size_bytes"] == sum(v for k, v in sizes.items() if k.endswith(".gguf"))


def test_register_multimodal_repo(reg, hub):
    m = reg()
    register(m, "test-org/Vision-GGUF\n")
    assert_registered(m, hub, "test-org/Vision-GGUF", "llama", "vision", ["q4_k_m"])
    assert "mmproj.gguf" in os.listdir(m.file("llama", "vision", "q4_k_m"))
    info = json.loads(m.text("llama", "vision", "info.json"))
    assert info["multimodal"] is True
    qi = json.loads(m.text("llama", "vision", "q4_k_m", "info.json"))
    assert "mmproj-vision-f16.gguf" in [f["upstream"] for f in qi["files"]]


def test_register_quants_in_subfolders(reg, hub):
    m = reg()
    register(m, "https://huggingface.co/test-org/Multi-Quant-GGUF\n")
    assert_registered(m, hub, "test-org/Multi-Quant-GGUF", "llama", "multi-quant",
                      ["q4_k_m", "q5_k_m", "q8_0"])
    q8 = sorted(f for f in os.listdir(m.file("llama", "multi-quant", "q8_0")) if f.endswith(".gguf"))
    assert q8 == ["model-00001-of-00002.gguf", "model-00002-of-00002.gguf"]
    qi = json.loads(m.text("llama", "multi-quant", "q5_k_m", "info.json"))
    assert [f["upstream"] for f in qi["files"]] == ["Q5_K_M/multi-Q5_K_M.gguf"]
    register(m, "https://huggingface.co/test-org/Multi-Quant-GGUF/tree/main/Q4_K_M\n")
    assert quants(m, "llama", "multi-quant") == ["q4_k_m", "q5_k_m", "q8_0"]


def local_models(workdir):
    d = os.path.join(workdir, "models", "Local-Llama-GGUF")
    os.makedirs(d, exist_ok=True)
    for ft in ("q4_k_m", "q8_0"):
        ggufgen.replica(os.path.join(d, "local-llama-%s.gguf" % ft.upper()), ftype=ft,
                        name="Local Llama", vocab_arrays=False)
    return d


def test_register_local_file_and_directory(reg, hub, workdir):
    d = local_models(workdir)
    m = reg()
    register(m, os.path.join(d, "local-llama-Q4_K_M.gguf") + "\n")
    vs = registry(m)
    assert len(vs) == 1, vs
    v = vs[0]
    fam, var = v["family"], v["variant"]
    assert quants(m, fam, var) == ["q4_k_m"]
    assert v["repo_id"] == d
    register(m, "file://%s\n" % d)
    assert quants(m, fam, var) == ["q4_k_m", "q8_0"]
    qi = json.loads(m.text(fam, var, "q8_0", "info.json"))
    assert qi["files"][0]["size_bytes"] == os.path.getsize(os.path.join(d, "local-llama-Q8_0.gguf"))
    assert "%s/%s/q8_0" % (fam, var) in tsv_paths(m)
    assert os.listdir(m.file("by-repo")) == []
    register(m, d + "/ family=loc variant=local-test\n")
    assert quants(m, "loc", "local-test") == ["q4_k_m", "q8_0"]


def test_local_model_is_read_in_place(reg, hub, workdir):
    """A model registered from a local path is served from that file: no
    download, no copy in the cache, cached in status, mmap works."""
    import mmap
    d = local_models(workdir)
    src = os.path.join(d, "local-llama-Q4_K_M.gguf")
    m = reg(opts=["offline"])
    register(m, src + " family=loc variant=local-test\n")
    path = m.file("loc", "local-test", "q4_k_m", "model.gguf")
    with open(src, "rb") as f:
        want = f.read()
    assert os.stat(path).st_size == len(want)
    with open(path, "rb") as f:
        assert f.read() == want
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as mm:
            assert mm[:4] == b"GGUF" and mm[-100:] == want[-100:]
    st = dict(line.split("=", 1) for line in m.text("loc", "local-test", "q4_k_m", "status").splitlines())
    assert st["cache"] == "cached" and int(st["cached_bytes"]) == len(want)
    info = json.loads(m.text("loc", "local-test", "q4_k_m", "info.json"))
    assert info["cache"]["local_path"] == src
    assert not any(os.scandir(os.path.join(m.cache, "blobs"))) if os.path.isdir(
        os.path.join(m.cache, "blobs")) else True
    register(m, "loc/local-test/q4_k_m\n", name="download")
    register(m, "loc/local-test/q4_k_m\n", name="evict")
    assert os.path.exists(src)
    # model.gguf is a symlink to the local file (symlinks=yes): once the
    # kernel's entry for it expires, the daemon is asked and says why
    assert os.readlink(path) == src
    os.rename(src, src + ".moved")
    time.sleep(1.2)
    with raises_errno(errno.ENOENT):
        open(path, "rb").close()
    assert "cannot be read" in m.log()


def test_register_local_works_offline(reg, workdir):
    d = local_models(workdir)
    m = reg(opts=["offline"])
    register(m, d + "\n")
    assert len(registry(m)) == 1


# ---------------------------------------------------------------------------
# Tokens: gated and private repos
# ---------------------------------------------------------------------------

def test_gated_without_token(reg):
    m = reg()
    line = assert_refused(m, "register", "test-org/Gated-GGUF\n", errno.EACCES,
                          "test-org/Gated-GGUF", "gated", "licence")
    assert "HF_TOKEN or token_file=" in line


def test_gated_with_token_file(reg, hub, workdir):
    tf = os.path.join(workdir, "token")
    with open(tf, "w") as f:
        f.write(S.TOKEN_GRANTED + "\n")
    m = reg(opts=["token_file=" + tf])
    register(m, "test-org/Gated-GGUF\n")
    assert_registered(m, hub, "test-org/Gated-GGUF", "llama", "gated", ["q4_k_m"])
    assert S.TOKEN_GRANTED not in m.log()
    assert S.TOKEN_GRANTED not in m.text("registry.json")


def test_gated_with_a_token_not_granted(reg):
    m = reg(env={"HF_TOKEN": S.TOKEN_OTHER})
    line = assert_refused(m, "register", "test-org/Gated-GGUF\n", errno.EACCES,
                          "test-org/Gated-GGUF", "HF_TOKEN", "licence")
    assert S.TOKEN_OTHER not in line


def test_gated_token_file_named_in_the_message(reg, workdir):
    tf = os.path.join(workdir, "other-token")
    with open(tf, "w") as f:
        f.write(S.TOKEN_OTHER)
    m = reg(opts=["token_file=" + tf])
    assert_refused(m, "register", "test-org/Gated-GGUF\n", errno.EACCES, tf, "licence")


def test_private_without_and_with_token(reg, hub, mounts):
    m = reg()
    assert_refused(m, "register", "test-org/Private-GGUF\n", errno.ENOENT,
                   "test-org/Private-GGUF", "private", "token")
    m.remount(env={"HF_TOKEN": S.TOKEN_GRANTED})
    register(m, "test-org/Private-GGUF\n")
    assert_registered(m, hub, "test-org/Private-GGUF", "llama", "private", ["q4_k_m"])


# ---------------------------------------------------------------------------
# Refusals: every row of SPEC §6's table that registration can reach
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("line,code,words", [
    ("test-org/No-Such-GGUF\n", errno.ENOENT, ["test-org/No-Such-GGUF", "not found"]),
    ("hf://%s@v9\n" % TINY, errno.ENOENT, ["'v9'", TINY]),
    ("https://huggingface.co/%s/blob/main/nope-Q4_K_M.gguf\n" % TINY, errno.ENOENT,
     ["nope-Q4_K_M.gguf"]),
    ("%s quant=q2_k\n" % TINY, errno.ENOENT, [TINY]),
    ("test-org/No-GGUF\n", errno.ENOENT, ["test-org/No-GGUF", "GGUF"]),
    ("test-org/Bad-Header-GGUF\n", errno.EIO, ["test-org/Bad-Header-GGUF", "bad-Q4_K_M.gguf"]),
    ("test-org/Truncated-GGUF\n", errno.EIO, ["test-org/Truncated-GGUF"]),
    ("/nonexistent/dir/model.gguf\n", errno.ENOENT, ["/nonexistent/dir/model.gguf"]),
    ("test-org/Tiny-Llama-GGUF family=Bad!\n", errno.EINVAL, ["family 'Bad!'"]),
    ("not a repo\n", errno.EINVAL, ["register:"]),
])
def test_register_refused(reg, line, code, words):
    m = reg()
    assert_refused(m, "register", line, code, *words)


def test_refused_local_folder_without_gguf(reg, workdir):
    d = os.path.join(workdir, "empty-models")
    os.makedirs(d)
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("nothing\n")
    m = reg()
    assert_refused(m, "register", d + "\n", errno.ENOENT, d)


def test_hub_down(reg, hub):
    m = reg()
    register(m, "test-org/Split-GGUF\n")
    hub.set_faults(down="refuse")
    try:
        assert_refused(m, "register", TINY + "\n", errno.ENETDOWN, "cannot reach the hub", hub.url)
        assert_refused(m, "refresh", "llama/split\n", errno.ENETDOWN, "refresh:")
    finally:
        hub.set_faults(down=False)
    register(m, TINY + "\n")
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_hub_answers_5xx(reg, hub):
    m = reg()
    hub.set_faults(errors={"status": 503})
    assert_refused(m, "register", TINY + "\n", errno.EIO, "503", TINY)


def test_hub_timeout(reg, hub):
    """A hub slower than -o timeout= fails the write with ETIMEDOUT and
    says what to do; the registry is unchanged."""
    m = reg(opts=["timeout=1"])
    assert m.config()["timeout"] == "1"
    hub.set_faults(latency_ms=2500)
    try:
        line = assert_refused(m, "register", TINY + "\n", errno.ETIMEDOUT, "timed out", "timeout=")
    finally:
        hub.clear_faults()
    assert "ETIMEDOUT" not in line
    assert registry(m) == []
    register(m, TINY + "\n")
    assert len(registry(m)) == 1


def test_rate_limited_past_the_retry_budget(reg, hub):
    m = reg()
    hub.set_faults(throttle={"count": 1000, "retry_after": 600})
    assert_refused(m, "register", TINY + "\n", errno.EAGAIN, "429", TINY)
    hub.clear_faults()
    hub.set_faults(throttle={"count": 2, "retry_after": 1, "match": "^/api/"})
    register(m, TINY + "\n")
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_offline(reg, hub):
    m = reg()
    register(m, TINY + "\n")
    m.remount(opts=["catalog=none", "endpoint=" + hub.url, "offline"])
    hub.clear_log()
    assert_refused(m, "register", "test-org/Split-GGUF\n", errno.ENETDOWN, "offline")
    assert_refused(m, "refresh", "llama/tiny-llama\n", errno.ENETDOWN, "offline")
    assert_refused(m, "refresh", "all\n", errno.ENETDOWN, "offline")
    assert hub.stats()["requests"] == 0
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_offline_from_the_environment(reg):
    m = reg(env={"HF_HUB_OFFLINE": "1"})
    assert_refused(m, "register", TINY + "\n", errno.ENETDOWN, "offline")


# ---------------------------------------------------------------------------
# Batches: all or nothing
# ---------------------------------------------------------------------------

def test_batch_registers_every_line(reg, hub):
    m = reg()
    register(m, "# two repos\n%s\n\n  test-org/Split-GGUF  \n" % TINY)
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])
    assert_registered(m, hub, "test-org/Split-GGUF", "llama", "split", ["q4_k_m"])


def test_batch_with_a_bad_line_changes_nothing(reg):
    m = reg()
    assert_refused(m, "register", "test-org/Split-GGUF\ntest-org/Nope-GGUF\n", errno.ENOENT,
                   "test-org/Nope-GGUF")
    assert registry(m) == []
    assert_refused(m, "register", "test-org/Split-GGUF\nbad line here\n", errno.EINVAL, "line 2")
    assert registry(m) == []


def test_batch_of_one_repo_folds_its_quants(reg, hub):
    m = reg()
    register(m, "%s quant=q4_k_m\n%s:q8_0\n" % (TINY, TINY))
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_batch_naming_clash_is_refused(reg):
    m = reg()
    assert_refused(m, "register", "%s variant=same\ntest-org/Split-GGUF variant=same\n" % TINY,
                   errno.EINVAL, "llama/same", "variant=")


def test_concurrent_registrations(reg, hub):
    m = reg()
    repos = [TINY, "test-org/Split-GGUF", "test-org/Vision-GGUF", "test-org/Multi-Quant-GGUF"]
    errs = {}

    def one(r):
        errs[r] = control(m, "register", r + "\n")

    ts = [threading.Thread(target=one, args=(r,)) for r in repos]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(e == (0, None) for e in errs.values()), errs
    assert sorted(v["repo_id"] for v in registry(m)) == sorted(repos)


# ---------------------------------------------------------------------------
# Registering again, refresh, unregister
# ---------------------------------------------------------------------------

def new_commit(hub, rid, files):
    """Replaces rid with one revision holding files (a new commit on main)."""
    hub.update_repos([S.repo(rid, files)])


def test_register_again_refreshes(reg, hub):
    m = reg()
    register(m, TINY + "\n")
    old = commit_of(hub, TINY)
    register(m, TINY + "\n")
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])
    new_commit(hub, TINY, [
        S.gguf("tiny-llama-Q4_K_M.gguf", ftype="q4_k_m", name="Tiny Llama", **S.TINY),
        S.gguf("tiny-llama-Q5_K_M.gguf", ftype="q5_k_m", name="Tiny Llama", **S.TINY),
    ])
    assert commit_of(hub, TINY) != old
    os.stat(m.file(*TINY_DIR, "q8_0", "model.gguf"))
    before = read_log(m)
    register(m, "https://huggingface.co/%s\n" % TINY)
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q5_k_m"])
    new = log_lines_since(m, before)
    assert any("revision %s -> %s" % (old[:12], commit_of(hub, TINY)[:12]) in x for x in new), new
    assert not os.path.exists(m.file(*TINY_DIR, "q8_0"))
    assert len([v for v in registry(m) if v["repo_id"] == TINY]) == 1


def test_refresh(reg, hub):
    m = reg()
    register(m, "%s\ntest-org/Split-GGUF\n" % TINY)
    register(m, "llama/tiny-llama\n", name="refresh")
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])
    new_commit(hub, TINY, [S.gguf("tiny-llama-Q6_K.gguf", ftype="q6_k", name="Tiny Llama", **S.TINY)])
    register(m, TINY + "\n", name="refresh")
    assert_registered(m, hub, TINY, *TINY_DIR, ["q6_k"])
    new_commit(hub, "test-org/Split-GGUF", [S.gguf("split-Q2_K.gguf", ftype="q2_k", **S.TINY)])
    register(m, "all\n", name="refresh")
    assert_registered(m, hub, "test-org/Split-GGUF", "llama", "split", ["q2_k"])
    register(m, "https://huggingface.co/test-org/Split-GGUF\n", name="refresh")


def test_refresh_keeps_names_and_refuses_unknown(reg, hub):
    m = reg()
    register(m, "%s family=mine variant=tiny-test\n" % TINY)
    register(m, "mine/tiny-test\n", name="refresh")
    assert_registered(m, hub, TINY, "mine", "tiny-test", ["q4_k_m", "q8_0"])
    assert not os.path.exists(m.file(*TINY_DIR))
    assert_refused(m, "refresh", "llama/nothing-here\n", errno.ENOENT, "llama/nothing-here")
    assert_refused(m, "refresh", "test-org/Nope-GGUF\n", errno.ENOENT, "test-org/Nope-GGUF")
    assert_refused(m, "refresh", "mine/tiny-test now\n", errno.EINVAL, "now")
    hub.update_repos(remove=[TINY])
    assert_refused(m, "refresh", "mine/tiny-test\n", errno.ENOENT, TINY)
    assert quants(m, "mine", "tiny-test") == ["q4_k_m", "q8_0"]


def test_refresh_all_with_nothing_registered(reg):
    m = reg()
    register(m, "all\n", name="refresh")
    assert registry(m) == []


def test_refresh_local(reg, workdir):
    d = local_models(workdir)
    m = reg()
    register(m, os.path.join(d, "local-llama-Q4_K_M.gguf") + "\n")
    v = registry(m)[0]
    register(m, "%s/%s\n" % (v["family"], v["variant"]), name="refresh")
    assert quants(m, v["family"], v["variant"]) == ["q4_k_m", "q8_0"]


def test_unregister_by_model_and_by_repo(reg, hub):
    m = reg()
    register(m, "%s\ntest-org/Split-GGUF\ntest-org/Vision-GGUF\n" % TINY)
    register(m, "llama/tiny-llama/q8_0\n", name="unregister")
    assert quants(m, *TINY_DIR) == ["q4_k_m"]
    assert "llama/tiny-llama/q8_0" not in tsv_paths(m)
    register(m, "llama/tiny-llama\n", name="unregister")
    assert not os.path.exists(m.file(*TINY_DIR))
    assert not os.path.lexists(m.file("by-repo", "test-org", "Tiny-Llama-GGUF"))
    register(m, "test-org/split-gguf purge\n", name="unregister")
    assert not os.path.exists(m.file("llama", "split"))
    register(m, "https://huggingface.co/test-org/Vision-GGUF\n", name="unregister")
    assert registry(m) == []
    assert tsv_paths(m) == []
    assert os.listdir(m.file("by-repo")) == []
    assert_refused(m, "unregister", "test-org/Vision-GGUF\n", errno.ENOENT, "test-org/Vision-GGUF")
    register(m, TINY + "\n")
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_every_view_changes_at_once(reg, hub):
    """Within the kernel's one-second attribute cache: what was read just
    before a change is not served stale just after it."""
    m = reg()
    register(m, TINY + "\n")
    views = ("registry.json", "models.tsv", os.path.join(*TINY_DIR, "info.json"))

    def fresh():
        for f in views:
            size = os.stat(m.file(f)).st_size
            assert size == len(m.read(f)), f

    fresh()
    nlink = os.stat(m.file("llama")).st_nlink
    assert os.listdir(m.file("by-repo", "test-org")) == ["Tiny-Llama-GGUF"]
    register(m, "test-org/Split-GGUF\n")
    fresh()
    assert {v["repo_id"] for v in registry(m)} == {TINY, "test-org/Split-GGUF"}
    assert "llama/split/q4_k_m" in tsv_paths(m)
    assert os.stat(m.file("llama")).st_nlink == nlink + 1
    assert sorted(os.listdir(m.file("by-repo", "test-org"))) == ["Split-GGUF", "Tiny-Llama-GGUF"]
    fresh()
    new_commit(hub, TINY, [S.gguf("tiny-llama-Q6_K.gguf", ftype="q6_k", name="Tiny Llama", **S.TINY)])
    register(m, "llama/tiny-llama\n", name="refresh")
    fresh()
    info = json.loads(m.text(*TINY_DIR, "info.json"))
    assert [q["name"] for q in info["quantizations"]] == ["q6_k"]
    assert [v["quantizations"][0]["name"] for v in registry(m) if v["repo_id"] == TINY] == ["q6_k"]
    assert "llama/tiny-llama/q6_k" in tsv_paths(m)
    register(m, "llama/split\n", name="unregister")
    fresh()
    assert [v["repo_id"] for v in registry(m)] == [TINY]
    assert os.stat(m.file("llama")).st_nlink == nlink
    assert os.listdir(m.file("by-repo", "test-org")) == ["Tiny-Llama-GGUF"]
    link = m.file("by-repo", "test-org", "Tiny-Llama-GGUF")
    assert os.readlink(link) == "../../llama/tiny-llama"
    register(m, "llama/tiny-llama\n", name="unregister")
    register(m, TINY + " family=mine variant=tiny-test\n")
    assert os.readlink(link) == "../../mine/tiny-test"


def cached_blobs(m):
    d = os.path.join(m.cache, "blobs")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_unregister_purge(reg, hub):
    m = reg()
    register(m, TINY + "\n")
    model = m.file(*TINY_DIR, "q4_k_m", "model.gguf")
    assert len(m.read(*TINY_DIR, "q4_k_m", "model.gguf")) == os.stat(model).st_size
    deadline = time.monotonic() + 20
    while "cache=cached" not in m.text(*TINY_DIR, "q4_k_m", "status"):
        assert time.monotonic() < deadline, m.text(*TINY_DIR, "q4_k_m", "status")
        time.sleep(0.05)
    assert len(cached_blobs(m)) == 1
    with open(model, "rb"):
        assert_refused(m, "unregister", "llama/tiny-llama purge\n", errno.EBUSY, "purge")
    assert quants(m, *TINY_DIR) == ["q4_k_m", "q8_0"]
    register(m, "llama/tiny-llama/q8_0 purge\n", name="unregister")
    assert len(cached_blobs(m)) == 1
    register(m, "%s purge\n" % TINY, name="unregister")
    assert cached_blobs(m) == []
    assert registry(m) == []


def test_registration_persists_across_remounts(reg, hub):
    m = reg()
    register(m, "test-org/Multi-Quant-GGUF\n")
    before = m.read("registry.json")
    m.remount(opts=["catalog=none", "endpoint=" + hub.url, "offline"])
    assert m.read("registry.json") == before
    assert quants(m, "llama", "multi-quant") == ["q4_k_m", "q5_k_m", "q8_0"]


# ---------------------------------------------------------------------------
# A pasted model page
# ---------------------------------------------------------------------------

def model_page(repo_id, filler_lines=300):
    """The text of a Hub model page as a browser copies it (long enough to
    be written in several pieces by echo and cat)."""
    org, name = repo_id.split("/")
    lines = [
        "Hugging Face's logo", "Hugging Face", "Models", "Datasets", "Spaces", "Community", "Docs",
        "Enterprise", "Pricing", "", org, "/", name, "", "like", "12", "Follow", org, "",
        "GGUF", "llama", "conversational", "License: apache-2.0", "",
        "Model card", "Files and versions", "xet", "Community", "", "Use this model", "",
        "%s quantized with llama.cpp" % name,
        "Original model: https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct", "",
        "Download a file (not the whole branch) from below:", "",
        "Filename\tQuant type\tFile Size\tSplit\tDescription",
    ]
    for i in range(filler_lines):
        lines.append("%s-Q%d_K_M.gguf\tQ%d_K_M\t%d.%02dGB\tfalse\tQuality row %d of a long table; "
                     "see https://huggingface.co/%s/blob/main/README.md" % (name, i % 8, i % 8, i, i % 100,
                                                                          i, repo_id))
    lines += [
        "", "Downloads last month", "1,234", "GGUF", "Model size", "8.03B params",
        "Architecture", "llama", "", "Hardware compatibility", "Log In to add your hardware", "",
        "Inference Providers", "This model isn't deployed by any Inference Provider.", "",
        "Model tree for %s" % repo_id, "Base model", "meta-llama/Llama-3.1-8B",
        "Finetuned", "meta-llama/Llama-3.1-8B-Instruct", "Quantized", "(123)", "this model", "",
        "Collection including %s" % repo_id, "System theme", "Company", "TOS", "Privacy",
        "About", "Jobs", "Website", "Models", "Datasets", "Spaces", "Pricing", "Docs",
    ]
    return "\n".join(lines)


def test_pasted_page_in_one_write(reg, hub):
    m = reg()
    page = model_page(TINY)
    assert len(page) > 16384
    err = control(m, "register", page)
    assert err == (0, None), m.log()[-2000:]
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_pasted_page_with_echo_and_cat(reg, hub, workdir):
    m = reg()
    page = model_page("test-org/Split-GGUF")
    r = shell('echo "$PAGE" > "$F"', env={"PAGE": page, "F": m.file(".control", "register")})
    assert r.returncode == 0, r.stderr
    assert_registered(m, hub, "test-org/Split-GGUF", "llama", "split", ["q4_k_m"])
    path = os.path.join(workdir, "page.txt")
    with open(path, "w") as f:
        f.write(model_page(TINY, filler_lines=3000))
    assert os.path.getsize(path) > 256 << 10
    r = shell("cat '%s' > '%s'" % (path, m.file(".control", "register")))
    assert r.returncode == 0, r.stderr
    assert_registered(m, hub, TINY, *TINY_DIR, ["q4_k_m", "q8_0"])


def test_pasted_page_of_an_unknown_repo(reg):
    m = reg()
    assert_refused(m, "register", model_page("test-org/Gone-GGUF"), errno.ENOENT,
                   "test-org/Gone-GGUF", where="close")


def test_held_text_over_the_cap(reg):
    m = reg()
    before = m.read("registry.json")
    fd = os.open(m.file(".control", "register"), os.O_WRONLY)
    chunk = b"x" * (64 << 10)
    err = None
    try:
        for _ in range(40):
            os.write(fd, chunk)
    except OSError as e:
        err = e.errno
    finally:
        os.close(fd)
    assert err == errno.EFBIG
    assert "over" in m.log().splitlines()[-1]
    assert m.read("registry.json") == before


# ---------------------------------------------------------------------------
# Hostile control lines through the mount
# ---------------------------------------------------------------------------

def bad_lines():
    """(file, line bytes) of tests/unit/core/data/bad_control_lines.txt."""
    out = []
    with open(BAD_LINES, encoding="utf-8") as f:
        for raw in f.read().split("\n"):
            if not raw or raw.startswith("#"):
                continue
            verb, _, line = raw.partition("\t") if "\t" in raw else ("register", "", raw)
            b = bytearray()
            i = 0
            while i < len(line):
                if line.startswith("\\x", i):
                    b.append(int(line[i + 2:i + 4], 16))
                    i += 4
                elif line.startswith("\\\\", i):
                    b += b"\\"
                    i += 2
                else:
                    b += line[i].encode()
                    i += 1
            out.append((verb, bytes(b)))
    return out


EXTRA_BAD = [
    ("register", b"x" * 5000),
    ("register", b"test-org/" + b"a" * 4100),
    ("register", b"\xff\xfe\xfd"),
    ("register", b"test-org/Tiny-Llama-GGUF\x00"),
    ("register", b"\x00" * 64),
    ("register", b"../../../../etc/shadow"),
    ("register", b"/etc/../../root"),
    ("unregister", b"\x1b]0;title\x07"),
    ("refresh", b"llama/tiny-llama/q4_k_m"),
    ("refresh", b"x" * 5000),
]


def test_hostile_lines_refused(reg, hub):
    m = reg()
    register(m, "%s\ntest-org/Split-GGUF\n" % TINY)
    before = m.read("registry.json")
    tsv = m.read("models.tsv")
    present = set(os.listdir(m.file(".control")))
    cases = [(v, b) for v, b in bad_lines() + EXTRA_BAD if v in present]
    assert len(cases) >= 200, len(cases)
    # a line holding "\n" is two lines to the mount, which may be well
    # formed and then fail on the hub (ENOENT): those run last
    cases.sort(key=lambda c: b"\n" in c[1])
    hub.clear_log()
    wrong = []
    for i, (verb, line) in enumerate(cases):
        if b"\n" in line and (i == 0 or b"\n" not in cases[i - 1][1]):
            assert hub.stats()["requests"] == 0
        err, where = control(m, verb, line + b"\n")
        if where != "write" or (err != errno.EINVAL and b"\n" not in line):
            wrong.append((verb, line, errno.errorcode.get(err, err), where))
    assert not wrong, wrong
    assert m.read("registry.json") == before
    assert m.read("models.tsv") == tsv
    assert len([x for x in m.log().splitlines() if re.search(r" info register: '.*' from '", x)]) == 2
