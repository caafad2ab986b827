"""Hugging Face cache interop through a real mount (SPEC §2 hf_cache=, §7; issue 6).

A catalog file registers one model whose quant is a file of a hubsim repo
(no registration request, so every request in the hub's log comes from
reading model.gguf).  The hf cache is a directory of the test in
huggingface_hub's layout:

  HF/models--ORG--NAME/blobs/<sha256>
  HF/models--ORG--NAME/snapshots/<commit>/<path> -> ../../blobs/<sha256>
  HF/models--ORG--NAME/refs/main                  (the commit)

Checked: a file already there is read through the mount with no file GET
(only the HEAD that tells its sha256), counts as cached (status, info.json
local_path), also when hf_cache comes from $HF_HUB_CACHE, and offline with
nothing but the catalog; with verify=strict the same, and a file whose
bytes are wrong is not served but fetched, and left as it is; a download
through the mount is published there, in the layout huggingface_hub
resolves (refs/main -> snapshot link -> blob), as a hard link to modelfs's
own copy.
"""

import hashlib
import json
import os
import random
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "hub"))

from hubsim import HubProcess  # noqa: E402
import scenarios as S  # noqa: E402

REPO = "test-org/HF-Cache-GGUF"
REPO_DIR = "models--test-org--HF-Cache-GGUF"
PATH, SIZE, SEED = "hfc-Q4_K_M.gguf", 12 << 20, 21
QDIR = ("hfc", "hfc-test", "q4_k_m")
MiB = 1 << 20


def pattern_bytes(seed, size):
    """hubsim's "pattern" fill (tests/hub/test_hubsim.py pattern_bytes)."""
    base = random.Random(seed).randbytes(1 << 20)
    out = bytearray()
    blk = 0
    while len(out) < size:
        k = (blk * 7919) % (1 << 20)
        out += base[k:] + base[:k]
        blk += 1
    return bytes(out[:size])


DATA = pattern_bytes(SEED, SIZE)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def hub(workdir):
    m = S.manifest([S.repo(REPO, [S.sized(PATH, SIZE, fill="pattern", seed=SEED)])])
    with HubProcess(m, workdir=os.path.join(workdir, "hub")) as h:
        rev = h.repos(wait=True)["repos"][0]["revisions"][0]
        assert rev["files"][0]["sha256"] == SHA
        h.commit = rev["sha"]
        yield h


@pytest.fixture
def hfc(hub, mounts, workdir):
    """A factory of mounts of the catalog against the hub, with an hf cache."""
    cat = os.path.join(workdir, "hfc-catalog.json")
    with open(cat, "w") as f:
        json.dump({"catalog_version": 1, "models": [{
            "family": "hfc", "variant": "hfc-test", "full_name": "HF Cache Test",
            "repo_id": REPO, "architecture": "llama", "parameter_count": 0.1,
            "context_window": 2048, "multimodal": False,
            "quantizations": [{"name": "q4_k_m", "files": [PATH], "size_bytes": SIZE,
                               "size_exact": True, "bits_per_weight": 4.9}]}]}, f)
    hf = os.path.join(workdir, "hf")
    os.makedirs(hf)

    def new(opts=(), hf_opt=True, **kw):
        o = ["catalog=" + cat, "endpoint=" + hub.url, *opts]
        if hf_opt:
            o.append("hf_cache=" + hf)
        return mounts.new(opts=o, **kw)
    new.hf = hf
    return new


def repo_path(hf, *parts):
    return os.path.join(hf, REPO_DIR, *parts)


def populate(hf, commit, data=DATA):
    """The file as huggingface_hub leaves it after hf_hub_download."""
    os.makedirs(repo_path(hf, "blobs"), exist_ok=True)
    os.makedirs(repo_path(hf, "snapshots", commit), exist_ok=True)
    os.makedirs(repo_path(hf, "refs"), exist_ok=True)
    with open(repo_path(hf, "blobs", SHA), "wb") as f:
        f.write(data)
    os.symlink("../../blobs/" + SHA, repo_path(hf, "snapshots", commit, PATH))
    with open(repo_path(hf, "refs", "main"), "w") as f:
        f.write(commit)


def hf_resolve(hf, repo_id, filename, revision="main"):
    """The cached file's path as huggingface_hub resolves it offline
    (try_to_load_from_cache): refs/REVISION -> snapshots/COMMIT/FILENAME."""
    folder = os.path.join(hf, "models--" + repo_id.replace("/", "--"))
    commit = revision
    ref = os.path.join(folder, "refs", revision)
    if os.path.isfile(ref):
        with open(ref) as f:
            commit = f.read()
    path = os.path.join(folder, "snapshots", commit, filename)
    return path if os.path.isfile(path) else None


def model(m):
    return m.file(*QDIR, "model.gguf")


def read_model(m):
    with open(model(m), "rb") as f:
        return f.read()


def status(m):
    return dict(line.split("=", 1) for line in m.text(*QDIR, "status").splitlines())


def file_gets(hub):
    """Requests for file bytes (resolve or CDN GETs) in the hub's log."""
    return [r for r in hub.log() if r["method"] == "GET" and r["kind"] in ("resolve", "cdn")]


def content_bytes(hub):
    """File bytes the hub served (redirect bodies left out)."""
    return sum(r["bytes"] for r in hub.log() if r.get("file") == PATH and r.get("content"))


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    pytest.fail("timed out waiting for " + what)


@pytest.mark.parametrize("how", ["option", "env"])
def test_served_from_hf_cache_without_download(hfc, hub, how):
    populate(hfc.hf, hub.commit)
    if how == "option":
        m = hfc()
    else:
        m = hfc(hf_opt=False, env={"HF_HUB_CACHE": hfc.hf})
    hub.clear_log()
    assert status(m)["cache"] == "cached"
    assert read_model(m) == DATA
    with open(model(m), "rb") as f:
        f.seek(SIZE - 4096)
        assert f.read() == DATA[-4096:]
    assert file_gets(hub) == []
    st = status(m)
    assert st["cache"] == "cached" and st["cached_bytes"] == str(SIZE)
    info = json.loads(m.text(*QDIR, "info.json"))
    assert info["cache"]["state"] == "cached"
    assert info["cache"]["local_path"] == os.path.realpath(repo_path(hfc.hf, "blobs", SHA))
    assert os.listdir(os.path.join(m.cache, "blobs")) == []


def test_download_published_into_hf_cache(hfc, hub):
    m = hfc()
    assert status(m)["cache"] == "remote"
    hub.clear_log()
    assert read_model(m) == DATA
    assert content_bytes(hub) == SIZE
    snap = repo_path(hfc.hf, "snapshots", hub.commit, PATH)
    wait_for(lambda: os.path.lexists(snap), what="the snapshot link")
    wait_for(lambda: os.path.exists(repo_path(hfc.hf, "refs", "main")), what="refs/main")
    blob = repo_path(hfc.hf, "blobs", SHA)
    assert os.path.isfile(blob) and not os.path.islink(blob)
    assert os.readlink(snap) == "../../blobs/" + SHA
    assert os.path.realpath(snap) == os.path.realpath(blob)
    with open(repo_path(hfc.hf, "refs", "main")) as f:
        assert f.read() == hub.commit
    # what transformers or vLLM would open, resolved the way huggingface_hub does
    found = hf_resolve(hfc.hf, REPO, PATH)
    assert found is not None
    with open(found, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == SHA
    # one copy on disk: a hard link to modelfs's own verified blob
    ours = os.stat(os.path.join(m.cache, "blobs", SHA))
    theirs = os.stat(blob)
    assert (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)
    # no temporary file left beside it
    assert os.listdir(repo_path(hfc.hf, "blobs")) == [SHA]
    assert "published" in m.log()


def test_offline_serves_from_hf_cache(hfc, hub):
    populate(hfc.hf, hub.commit)
    hub.clear_log()
    m = hfc(opts=["offline"])
    assert status(m)["cache"] == "cached"
    assert read_model(m) == DATA
    assert os.stat(model(m)).st_size == SIZE
    info = json.loads(m.text(*QDIR, "info.json"))
    assert info["cache"]["state"] == "cached"
    assert hub.log() == []


def test_strict_verifies_hf_file_once(hfc, hub):
    populate(hfc.hf, hub.commit)
    m = hfc(opts=["verify=strict"])
    hub.clear_log()
    assert read_model(m) == DATA
    assert file_gets(hub) == []
    wait_for(lambda: status(m)["cache"] == "cached", what="cache=cached")
    assert os.path.exists(os.path.join(m.cache, "hf-verified", SHA))
    m.remount()
    hub.clear_log()
    assert status(m)["cache"] == "cached"
    assert read_model(m) == DATA
    assert file_gets(hub) == []


def test_strict_refuses_wrong_hf_file(hfc, hub):
    bad = bytearray(DATA)
    bad[5 * MiB + 7] ^= 0xFF
    populate(hfc.hf, hub.commit, bytes(bad))
    m = hfc(opts=["verify=strict"])
    hub.clear_log()
    assert status(m)["cache"] == "remote"
    assert read_model(m) == DATA
    assert content_bytes(hub) == SIZE
    assert "as the hub said for" in m.log()
    with open(repo_path(hfc.hf, "blobs", SHA), "rb") as f:
        assert f.read() == bytes(bad)
