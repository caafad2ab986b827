"""Tests of hubsim, the Hub imitation the integration tests run against.

One hub serves the module (the `hub` fixture); faults are cleared after
every test.  Requests go out with http.client (no redirect following, so
every status and header is seen), urllib (which follows redirects) and the
curl command line, and the request log is checked against what was
received.  Tests that need other settings (CDN host, lifetime, a scenario
directory) start their own hub.

Run: /usr/bin/python3 -m pytest -q tests/hub/test_hubsim.py
"""

import hashlib
import http.client
import importlib.util
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hubsim  # noqa: E402
from hubsim import HubProcess  # noqa: E402
import scenarios  # noqa: E402

CURL = shutil.which("curl")
GOOD, OTHER, BAD = "hf_good", "hf_other", "hf_not_a_token"
BIG = 6 << 30
PAT_SIZE = 3000000

MANIFEST = {
    "tokens": [GOOD, OTHER],
    "tree_page_size": 3,
    "tree_page_size_expand": 2,
    "renames": {"old/name": "org/public"},
    "repos": [
        {"id": "org/public", "revisions": [
            {"tags": ["v1"], "branches": [], "files": [
                {"path": "README.md", "text": "# version one\n"}]},
            {"branches": ["main"], "base": "v1", "title": "second", "files": [
                {"path": "README.md", "text": "# public\n\nhello hub\n"},
                {"path": "config.json", "json": {"architectures": ["LlamaForCausalLM"]}},
                {"path": "model-Q4_K_M.gguf",
                 "gguf_replica": {"n_layers": 2, "hidden": 256, "heads": 4, "kv_heads": 2,
                                  "ffn": 512, "vocab": 64, "ftype": "q4_k_m"}},
                {"path": "sub/a.txt", "text": "a\n"},
                {"path": "sub/deep/b.txt", "text": "b\n"},
                {"path": "sub/deep/c.gguf", "size": 5000, "fill": "pattern", "seed": 9},
                {"path": "pat.bin", "size": PAT_SIZE, "fill": "pattern", "seed": 3},
                {"path": "big.gguf", "size": BIG, "sha256": "fake",
                 "gguf": {"metadata": [["general.architecture", "string", "llama"]],
                          "tensors": []}},
                {"path": "empty.txt", "text": ""},
            ]},
            {"branches": ["refs/pr/1"], "base": "main", "files": [
                {"path": "pr.txt", "text": "from a pull request\n"}]},
        ]},
        {"id": "org/gated", "gated": "manual", "tokens": [GOOD],
         "files": [{"path": "a.gguf", "size": 1000, "fill": "pattern"}]},
        {"id": "org/private", "private": True, "tokens": [GOOD],
         "files": [{"path": "a.txt", "text": "secret\n"}]},
    ],
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = HubProcess(MANIFEST, workdir=str(tmp_path_factory.mktemp("hub")), max_lifetime=600)
    h.start()
    h.files = {}
    for r in h.repos(wait=True)["repos"]:
        for rev in r["revisions"]:
            for f in rev["files"]:
                h.files[(r["id"], rev["sha"], f["path"])] = f
    h.revs = {r["id"]: r["revisions"] for r in h.repos()["repos"]}
    yield h
    h.stop()


@pytest.fixture(autouse=True)
def no_faults(request):
    yield
    if "hub" in request.fixturenames:
        request.getfixturevalue("hub").clear_faults()


def main_sha(hub, rid="org/public"):
    return [r for r in hub.revs[rid] if "main" in r["branches"]][0]["sha"]


def pattern_bytes(seed, size):
    import random
    base = random.Random(seed).randbytes(1 << 20)
    out = bytearray()
    blk = 0
    while len(out) < size:
        k = (blk * 7919) % (1 << 20)
        out += base[k:] + base[:k]
        blk += 1
    return bytes(out[:size])


def request(url, method="GET", headers=None, conn=None, timeout=30):
    u = urllib.parse.urlsplit(url)
    c = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request(method, u.path + ("?" + u.query if u.query else ""), headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        if conn is None:
            c.close()


def auth(token):
    return {"Authorization": "Bearer " + token} if token else {}


def resolve_url(hub, path, rev="main", rid="org/public"):
    return "%s/%s/resolve/%s/%s" % (hub.url, rid, urllib.parse.quote(rev, safe=""), path)


def cdn_location(hub, path, rev="main", rid="org/public", headers=None):
    st, h, _ = request(resolve_url(hub, path, rev, rid), "HEAD", headers)
    assert st == 302, (st, h)
    return h["location"]


def get_file(hub, path, rid="org/public", headers=None, rng=None):
    """The bytes of a file through resolve (and the CDN for LFS files)."""
    hd = dict(headers or {})
    if rng:
        hd["Range"] = rng
    st, h, body = request(resolve_url(hub, path, rid=rid), "GET", hd)
    if st == 302:
        st, h, body = request(h["location"], "GET", {"Range": rng} if rng else {})
    return st, h, body


def curl(*args, check=True):
    if CURL is None:
        pytest.skip("curl is not installed")
    r = subprocess.run([CURL, "-sS", *args], capture_output=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


# ------------------------------------------------------------------------
# API shapes
# ------------------------------------------------------------------------

def test_model_info_fields(hub):
    st, h, body = request(hub.url + "/api/models/org/public")
    assert st == 200 and h["content-type"].startswith("application/json")
    d = json.loads(body)
    assert d["id"] == d["modelId"] == "org/public"
    assert d["sha"] == main_sha(hub) and len(d["sha"]) == 40
    assert d["private"] is False and d["gated"] is False
    assert d["author"] == "org" and "gguf" in d["tags"]
    assert d["lastModified"].endswith("Z") and "T" in d["lastModified"]
    names = {s["rfilename"] for s in d["siblings"]}
    assert names == {p for (r, s, p) in hub.files if r == "org/public" and s == main_sha(hub)}
    assert all(set(s) == {"rfilename"} for s in d["siblings"])

    st, _, body = request(hub.url + "/api/models/org/public/revision/v1")
    v1 = json.loads(body)
    assert st == 200 and v1["sha"] != d["sha"]
    assert [s["rfilename"] for s in v1["siblings"]] == ["README.md"]
    st, _, body = request(hub.url + "/api/models/org/public/revision/" + main_sha(hub))
    assert st == 200 and json.loads(body)["sha"] == main_sha(hub)


def test_model_info_blobs_and_expand(hub):
    st, _, body = request(hub.url + "/api/models/org/public?blobs=true")
    sib = {s["rfilename"]: s for s in json.loads(body)["siblings"]}
    _, _, gguf = get_file(hub, "model-Q4_K_M.gguf")
    s = sib["model-Q4_K_M.gguf"]
    assert s["size"] == len(gguf)
    assert s["lfs"]["sha256"] == hashlib.sha256(gguf).hexdigest()
    assert s["lfs"]["size"] == len(gguf)
    pointer = hubsim.lfs_pointer(s["lfs"]["sha256"], len(gguf))
    assert s["lfs"]["pointerSize"] == len(pointer)
    assert s["blobId"] == hubsim.git_blob_sha1(pointer)
    assert "lfs" not in sib["README.md"]
    assert sib["README.md"]["blobId"] == hubsim.git_blob_sha1(b"# public\n\nhello hub\n")

    st, _, body = request(hub.url + "/api/models/org/public?expand[]=sha&expand[]=gated")
    assert st == 200 and set(json.loads(body)) == {"_id", "id", "sha", "gated"}


def test_refs(hub):
    st, _, body = request(hub.url + "/api/models/org/public/refs")
    d = json.loads(body)
    assert st == 200
    assert {b["name"] for b in d["branches"]} == {"main", "refs/pr/1"}
    assert [t["name"] for t in d["tags"]] == ["v1"]
    assert [b["targetCommit"] for b in d["branches"] if b["name"] == "main"] == [main_sha(hub)]


def walk_tree(hub, url):
    """Every entry of a paginated listing, and the number of pages."""
    out, pages = [], 0
    while url:
        st, h, body = request(url)
        assert st == 200, body
        page = json.loads(body)
        out += page
        pages += 1
        link = h.get("link")
        url = None
        if link:
            assert link.startswith("<") and link.endswith('>; rel="next"')
            url = link[1:link.index(">")]
    return out, pages


def test_tree_recursive_pagination(hub):
    entries, pages = walk_tree(hub, hub.url + "/api/models/org/public/tree/main?recursive=true")
    paths = [e["path"] for e in entries]
    files = sorted(p for (r, s, p) in hub.files if r == "org/public" and s == main_sha(hub))
    dirs = ["sub", "sub/deep"]
    assert sorted(paths) == sorted(files + dirs) and len(set(paths)) == len(paths)
    assert pages == -(-len(paths) // 3)
    by = {e["path"]: e for e in entries}
    assert by["sub"]["type"] == by["sub/deep"]["type"] == "directory"
    f = by["model-Q4_K_M.gguf"]
    meta = hub.files[("org/public", main_sha(hub), "model-Q4_K_M.gguf")]
    assert f["type"] == "file" and f["size"] == meta["size"]
    assert f["lfs"]["oid"] == meta["sha256"] and f["lfs"]["size"] == meta["size"]
    pointer = hubsim.lfs_pointer(meta["sha256"], meta["size"])
    assert f["oid"] == hubsim.git_blob_sha1(pointer) and f["lfs"]["pointerSize"] == len(pointer)
    readme = by["README.md"]
    assert "lfs" not in readme and readme["oid"] == hubsim.git_blob_sha1(b"# public\n\nhello hub\n")
    assert by["big.gguf"]["size"] == BIG

    same, _ = walk_tree(hub, hub.url + "/api/models/org/public/tree/main?recursive=1")
    assert same == entries


def test_tree_levels_and_errors(hub):
    top, _ = walk_tree(hub, hub.url + "/api/models/org/public/tree/main")
    assert all("/" not in e["path"] for e in top)
    assert {"sub", "README.md", "pat.bin"} <= {e["path"] for e in top}
    sub, _ = walk_tree(hub, hub.url + "/api/models/org/public/tree/main/sub")
    assert [(e["path"], e["type"]) for e in sub] == [("sub/a.txt", "file"),
                                                     ("sub/deep", "directory")]
    deep, pages = walk_tree(hub, hub.url + "/api/models/org/public/tree/main/sub?recursive=true"
                            "&expand=true")
    assert pages == 2 and len(deep) == 4
    assert all(e["lastCommit"]["id"] == main_sha(hub) for e in deep)
    v1, _ = walk_tree(hub, hub.url + "/api/models/org/public/tree/v1")
    assert [e["path"] for e in v1] == ["README.md"]

    st, h, body = request(hub.url + "/api/models/org/public/tree/main/nope")
    assert st == 404 and h["x-error-code"] == "EntryNotFound"
    st, h, _ = request(hub.url + "/api/models/org/public/tree/nope")
    assert st == 404 and h["x-error-code"] == "RevisionNotFound"
    st, _, _ = request(hub.url + "/api/models/org/public/tree/main?cursor=garbage")
    assert st == 400


def test_revision_with_slashes(hub):
    for rev in ("refs%2Fpr%2F1", "refs/pr/1"):
        st, h, body = request("%s/org/public/resolve/%s/pr.txt" % (hub.url, rev))
        assert st == 200 and body == b"from a pull request\n"
        st, _, body = request("%s/api/models/org/public/revision/%s" % (hub.url, rev))
        assert st == 200 and "pr.txt" in {s["rfilename"] for s in json.loads(body)["siblings"]}
    st, _, _ = request("%s/org/public/resolve/main/pr.txt" % hub.url)
    assert st == 404


# ------------------------------------------------------------------------
# resolve, the CDN, ranges, redirects
# ------------------------------------------------------------------------

def test_resolve_lfs_headers(hub):
    meta = hub.files[("org/public", main_sha(hub), "model-Q4_K_M.gguf")]
    st, h, body = request(resolve_url(hub, "model-Q4_K_M.gguf"), "HEAD")
    assert st == 302 and body == b""
    assert h["x-repo-commit"] == main_sha(hub)
    assert h["x-linked-etag"] == '"%s"' % meta["sha256"]
    assert h["x-linked-size"] == str(meta["size"])
    assert h["etag"] != h["x-linked-etag"]
    assert h["accept-ranges"] == "bytes"
    loc = h["location"]
    assert loc.startswith(hub.url + "/lfs-cdn/" + meta["sha256"] + "?")
    assert int(h["content-length"]) == len(("Found. Redirecting to %s" % loc).encode())

    st, h2, body = request(resolve_url(hub, "model-Q4_K_M.gguf"))
    assert st == 302 and body.startswith(b"Found. Redirecting to ")

    st, h, body = request(loc)
    assert st == 200 and len(body) == meta["size"] == int(h["content-length"])
    assert hashlib.sha256(body).hexdigest() == meta["sha256"]
    assert h["etag"] == '"%s"' % meta["sha256"] and h["accept-ranges"] == "bytes"
    assert body[:4] == b"GGUF"
    st, h, body = request(loc, "HEAD")
    assert st == 200 and body == b"" and h["content-length"] == str(meta["size"])


def test_resolve_small_file_headers(hub):
    content = b"# public\n\nhello hub\n"
    for method in ("HEAD", "GET"):
        st, h, body = request(resolve_url(hub, "README.md"), method)
        assert st == 200
        assert h["etag"] == '"%s"' % hubsim.git_blob_sha1(content)
        assert h["x-repo-commit"] == main_sha(hub)
        assert h["content-length"] == str(len(content)) and h["accept-ranges"] == "bytes"
        assert "x-linked-etag" not in h and "x-linked-size" not in h
        assert body == (content if method == "GET" else b"")
    st, h, body = request(resolve_url(hub, "README.md", rev="v1"))
    assert body == b"# version one\n" and h["x-repo-commit"] != main_sha(hub)
    st, h, body = request(resolve_url(hub, "empty.txt"))
    assert st == 200 and body == b"" and h["content-length"] == "0"


def test_ggufgen_header_served(hub, tmp_path):
    path = os.path.join(HERE, "..", "gguf", "ggufgen.py")
    spec = importlib.util.spec_from_file_location("ggufgen_t", path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    out = str(tmp_path / "r.gguf")
    info = gen.replica(out, n_layers=2, hidden=256, heads=4, kv_heads=2, ffn=512, vocab=64,
                       ftype="q4_k_m")
    with open(out, "rb") as f:
        want = f.read()
    _, _, got = get_file(hub, "model-Q4_K_M.gguf")
    assert len(got) == info["size"] and got == want
    assert got[info["header_bytes"]:] == bytes(len(got) - info["header_bytes"])


@pytest.mark.parametrize("where", ["direct", "cdn"])
def test_ranges(hub, where):
    if where == "direct":
        url, data = resolve_url(hub, "README.md"), b"# public\n\nhello hub\n"
    else:
        url, data = cdn_location(hub, "pat.bin"), pattern_bytes(3, PAT_SIZE)
    n = len(data)
    cases = [("bytes=2-5", 2, 6), ("bytes=5-", 5, n), ("bytes=-4", n - 4, n),
             ("bytes=3-%d" % (n + 100), 3, n), ("bytes=-%d" % (n + 5), 0, n),
             ("bytes=%d-%d" % (n - 1, n - 1), n - 1, n)]
    for rng, a, b in cases:
        st, h, body = request(url, headers={"Range": rng})
        assert st == 206, rng
        assert h["content-range"] == "bytes %d-%d/%d" % (a, b - 1, n), rng
        assert body == data[a:b] and h["content-length"] == str(b - a), rng
    for rng in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 10, n + 20), "bytes=-0"):
        st, h, body = request(url, headers={"Range": rng})
        assert st == 416 and h["content-range"] == "bytes */%d" % n, rng
    for rng in ("bytes=5-2", "bytes=0-1,4-5", "lines=1-2", "bytes=x-"):
        st, h, body = request(url, headers={"Range": rng})
        assert st == 200 and body == data and "content-range" not in h, rng
    st, h, body = request(url, "HEAD", {"Range": "bytes=1-2"})
    assert st == 206 and body == b"" and h["content-length"] == "2"


def test_pattern_fill_is_offset_dependent(hub):
    url = cdn_location(hub, "pat.bin")
    _, _, whole = request(url)
    assert whole == pattern_bytes(3, PAT_SIZE)
    mib = 1 << 20
    assert whole[:mib] != whole[mib:2 * mib]
    _, _, part = request(url, headers={"Range": "bytes=%d-%d" % (mib - 7, mib + 7)})
    assert part == whole[mib - 7:mib + 8]


def test_sparse_big_file_not_in_memory(hub):
    st, h, _ = request(resolve_url(hub, "big.gguf"), "HEAD")
    assert st == 302 and h["x-linked-size"] == str(BIG)
    loc = h["location"]
    st, h, body = request(loc, headers={"Range": "bytes=0-3"})
    assert body == b"GGUF"
    st, h, body = request(loc, headers={"Range": "bytes=-%d" % (4 << 20)})
    assert st == 206 and body == bytes(4 << 20)
    assert h["content-range"] == "bytes %d-%d/%d" % (BIG - (4 << 20), BIG - 1, BIG)
    st, h, body = request(loc, headers={"Range": "bytes=%d-%d" % (5 << 30, (5 << 30) + 99)})
    assert body == bytes(100)
    with open("/proc/%d/status" % hub.proc.pid) as f:
        rss_kib = int([x for x in f if x.startswith("VmRSS:")][0].split()[1])
    assert rss_kib < 200 * 1024, "hubsim holds %d KiB" % rss_kib


def test_renamed_repo_redirects(hub):
    st, h, body = request(hub.url + "/old/name/resolve/main/README.md")
    assert st == 307 and h["location"] == "/org/public/resolve/main/README.md"
    st, h, _ = request(hub.url + "/api/models/old/name/revision/v1?blobs=true")
    assert st == 307 and h["location"] == "/api/models/org/public/revision/v1?blobs=true"
    st, h, _ = request(hub.url + "/api/models/old/name")
    assert st == 307 and h["location"] == "/api/models/org/public"
    with urllib.request.urlopen(hub.url + "/old/name/resolve/main/README.md") as r:
        assert r.read() == b"# public\n\nhello hub\n"
    with urllib.request.urlopen(hub.url + "/old/name/resolve/main/pat.bin") as r:
        assert hashlib.sha256(r.read()).hexdigest() == hashlib.sha256(
            pattern_bytes(3, PAT_SIZE)).hexdigest()


def test_curl_cli(hub, tmp_path):
    out = tmp_path / "m.gguf"
    meta = hub.files[("org/public", main_sha(hub), "model-Q4_K_M.gguf")]
    curl("-fL", "-o", str(out), resolve_url(hub, "model-Q4_K_M.gguf"))
    assert hashlib.sha256(out.read_bytes()).hexdigest() == meta["sha256"]
    r = curl("-fL", "-r", "0-3", resolve_url(hub, "model-Q4_K_M.gguf"))
    assert r.stdout == b"GGUF"
    r = curl("-I", resolve_url(hub, "model-Q4_K_M.gguf"))
    text = r.stdout.decode().lower()
    assert text.startswith("http/1.1 302") and "x-linked-etag: \"%s\"" % meta["sha256"] in text
    r = curl("-L", "-o", "/dev/null", "-w", "%{http_code}", "-r", "-5",
             hub.url + "/old/name/resolve/main/README.md")
    assert r.stdout == b"206"
    r = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", resolve_url(hub, "a.gguf", rid="org/gated"))
    assert r.stdout == b"401"
    r = curl("-fL", "-H", "Authorization: Bearer " + GOOD, resolve_url(hub, "a.gguf", rid="org/gated"))
    assert r.stdout == pattern_bytes(0, 1000)


# ------------------------------------------------------------------------
# tokens and errors
# ------------------------------------------------------------------------

AUTH_TABLE = [
    # (what, path, token, status, X-Error-Code)
    ("missing repo, anonymous", "/api/models/org/nope", None, 401, "RepoNotFound"),
    ("missing repo, token", "/api/models/org/nope", GOOD, 404, "RepoNotFound"),
    ("missing repo file, anonymous", "/org/nope/resolve/main/x", None, 401, "RepoNotFound"),
    ("private info, anonymous", "/api/models/org/private", None, 401, "RepoNotFound"),
    ("private info, no grant", "/api/models/org/private", OTHER, 404, "RepoNotFound"),
    ("private info, granted", "/api/models/org/private", GOOD, 200, None),
    ("private tree, anonymous", "/api/models/org/private/tree/main", None, 401, "RepoNotFound"),
    ("private file, anonymous", "/org/private/resolve/main/a.txt", None, 401, "RepoNotFound"),
    ("private file, no grant", "/org/private/resolve/main/a.txt", OTHER, 404, "RepoNotFound"),
    ("private file, granted", "/org/private/resolve/main/a.txt", GOOD, 200, None),
    ("gated info, anonymous", "/api/models/org/gated", None, 200, None),
    ("gated tree, anonymous", "/api/models/org/gated/tree/main", None, 200, None),
    ("gated file, anonymous", "/org/gated/resolve/main/a.gguf", None, 401, "GatedRepo"),
    ("gated file, no grant", "/org/gated/resolve/main/a.gguf", OTHER, 403, "GatedRepo"),
    ("gated file, granted", "/org/gated/resolve/main/a.gguf", GOOD, 302, None),
    ("bad token, public", "/api/models/org/public", BAD, 401, None),
    ("bad token, public file", "/org/public/resolve/main/README.md", BAD, 401, None),
    ("bad revision, info", "/api/models/org/public/revision/nope", None, 404, "RevisionNotFound"),
    ("bad revision, file", "/org/public/resolve/nope/README.md", None, 404, "RevisionNotFound"),
    ("bad entry", "/org/public/resolve/main/nope.gguf", None, 404, "EntryNotFound"),
    ("directory as entry", "/org/public/resolve/main/sub", None, 404, "EntryNotFound"),
    ("not an API path", "/api/nothing", None, 404, None),
]


@pytest.mark.parametrize("what,path,token,status,code", AUTH_TABLE, ids=[t[0] for t in AUTH_TABLE])
def test_auth_and_errors(hub, what, path, token, status, code):
    for method in ("GET", "HEAD"):
        st, h, body = request(hub.url + path, method, auth(token))
        assert st == status, (what, method)
        assert h.get("x-error-code") == code, (what, method)
        if status >= 400:
            msg = h["x-error-message"]
            if method == "GET":
                assert json.loads(body) == {"error": msg}
            if token == BAD:
                assert msg == "Invalid credentials in Authorization header"
            if code == "EntryNotFound":
                assert h["x-repo-commit"] == main_sha(hub)
            if code == "GatedRepo":
                assert "org/gated" in msg


def test_cdn_signature(hub):
    loc = cdn_location(hub, "pat.bin")
    u = urllib.parse.urlsplit(loc)
    q = dict(urllib.parse.parse_qsl(u.query))
    for k, v in (("signature", "0" * 40), ("key", "org/public/README.md"),
                 ("expires", str(int(q["expires"]) + 10))):
        bad = dict(q, **{k: v})
        st, h, body = request("%s%s?%s" % (hub.url, u.path, urllib.parse.urlencode(bad)))
        assert st == 403 and b"AccessDenied" in body, k
    st, _, _ = request(hub.url + u.path)
    assert st == 403
    st, _, body = request(loc, headers=auth(BAD))
    assert st == 200 and len(body) == PAT_SIZE


def test_cdn_host_ttl_and_reject_auth(tmp_path):
    m = {"tokens": [GOOD], "cdn": {"host": "localhost", "ttl": 1, "reject_auth": True},
         "repos": [{"id": "a/b", "files": [{"path": "x.gguf", "size": 100}]}]}
    with HubProcess(m, workdir=str(tmp_path), max_lifetime=120) as h:
        st, hd, _ = request(h.url + "/a/b/resolve/main/x.gguf", "HEAD", auth(GOOD))
        loc = hd["location"]
        assert loc.startswith("http://localhost:%d/lfs-cdn/" % h.port)
        loc = loc.replace("localhost", "127.0.0.1", 1)
        st, _, body = request(loc, headers=auth(GOOD))
        assert st == 400 and b"InvalidArgument" in body
        st, _, body = request(loc)
        assert st == 200 and body == bytes(100)
        time.sleep(2.1)
        st, _, body = request(loc)
        assert st == 403 and b"expired" in body


# ------------------------------------------------------------------------
# faults
# ------------------------------------------------------------------------

def timed(fn, *a, **kw):
    t = time.monotonic()
    r = fn(*a, **kw)
    return time.monotonic() - t, r


def test_latency_per_response_and_connection(hub):
    hub.set_faults(latency_ms=150)
    dt, (st, _, _) = timed(request, hub.url + "/api/models/org/public")
    assert st == 200 and 0.15 <= dt < 1.5
    hub.set_faults(latency_ms=0, conn_latency_ms=300)
    c = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    d1, _ = timed(request, hub.url + "/api/models/org/public", conn=c)
    d2, _ = timed(request, hub.url + "/api/models/org/public", conn=c)
    c.close()
    # the connection latency is paid once: the second request on the same
    # connection is much faster (loose upper bounds: CI machines are loaded)
    assert 0.3 <= d1 < 5 and d2 < d1 - 0.2, (d1, d2)


def test_bandwidth_cap_holds(hub):
    loc = cdn_location(hub, "pat.bin")
    rate = 2000000
    hub.set_faults(bandwidth=rate)
    dt, (st, _, body) = timed(request, loc)
    assert st == 200 and len(body) == PAT_SIZE
    want = PAT_SIZE / rate
    # the cap holds: never faster than the rate (20% slack); slower is
    # only load, so the upper bound is loose
    assert 0.8 * want <= dt <= 3 * want, (dt, want)
    r = curl("-o", "/dev/null", "-w", "%{speed_download}", loc)
    assert rate / 3 <= float(r.stdout) <= 1.2 * rate, r.stdout


def test_shared_bandwidth(hub):
    loc = cdn_location(hub, "pat.bin")
    rate = 4000000
    hub.set_faults(shared_bandwidth=rate)
    res = []

    def one():
        res.append(request(loc, headers={"Range": "bytes=0-1999999"})[2])
    ts = [threading.Thread(target=one) for _ in range(2)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    want = 4000000 / rate
    assert len(res) == 2 and all(len(b) == 2000000 for b in res)
    assert 0.8 * want <= dt <= 3 * want, dt


def statuses(hub, n, path="/api/models/org/public"):
    return [request(hub.url + path)[0] for _ in range(n)]


def test_errors_every_nth(hub):
    hub.set_faults(errors={"status": 503, "every": 3, "match": "^/api/"})
    assert statuses(hub, 9) == [200, 200, 503] * 3
    assert request(resolve_url(hub, "README.md"))[0] == 200
    st, h, body = request(hub.url + "/api/models/org/public")
    assert "x-error-code" not in h


def test_errors_rate_is_seeded(hub):
    spec = {"errors": {"status": 500, "rate": 0.5, "seed": 7}}
    hub.replace_faults(spec)
    a = statuses(hub, 24)
    hub.replace_faults(spec)
    b = statuses(hub, 24)
    assert a == b and set(a) == {200, 500}
    hub.replace_faults({"errors": {"status": 502, "times": 2, "kinds": ["resolve"]}})
    assert statuses(hub, 4, "/org/public/resolve/main/README.md") == [502, 502, 200, 200]
    assert hub.faults_state()["errors"][0]["fired"] == 2


def test_throttle_burst_with_retry_after(hub):
    hub.set_faults(throttle={"count": 3, "retry_after": 2})
    for _ in range(3):
        st, h, _ = request(hub.url + "/api/models/org/public")
        assert st == 429 and h["retry-after"] == "2"
    assert request(hub.url + "/api/models/org/public")[0] == 200
    hub.set_faults(throttle={"count": 1, "retry_after": 0.2, "kinds": ["cdn"]})
    loc = cdn_location(hub, "pat.bin")
    st, h, _ = request(loc)
    assert st == 429 and h["retry-after"] == "1"
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "--retry", "2", loc)
    assert r.stdout == b"200"


def test_drop_cuts_body(hub):
    loc = cdn_location(hub, "pat.bin")
    seq = hub.clear_log()
    hub.set_faults(drop={"after_bytes": 1000, "times": 1, "kinds": ["cdn"]})
    u = urllib.parse.urlsplit(loc)
    c = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    c.request("GET", u.path + "?" + u.query)
    r = c.getresponse()
    with pytest.raises(http.client.IncompleteRead) as e:
        r.read()
    assert len(e.value.partial) == 1000 and e.value.partial == pattern_bytes(3, 1000)
    c.close()
    rec = [x for x in hub.log(seq) if x["kind"] == "cdn"][-1]
    assert rec["bytes"] == 1000 and rec["length"] == PAT_SIZE and rec["faults"] == ["drop"]
    assert len(request(loc)[2]) == PAT_SIZE
    hub.set_faults(drop={"after_bytes": 5000, "every": 1, "kinds": ["cdn"]})
    r = curl("-o", "/dev/null", "-w", "%{size_download}", loc, check=False)
    assert r.returncode == 18 and r.stdout == b"5000"
    hub.set_faults(drop={"after_bytes": 0, "reset": True, "kinds": ["cdn"]})
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead,
                        http.client.RemoteDisconnected)):
        request(loc)
    hub.set_faults(drop={"after_bytes": 10, "kinds": ["info"]})
    with pytest.raises(http.client.IncompleteRead):
        request(hub.url + "/api/models/org/public")


def test_stall_mid_body(hub):
    loc = cdn_location(hub, "pat.bin")
    hub.set_faults(stall={"after_bytes": 100000, "seconds": 0.6, "times": 1})
    dt, (st, _, body) = timed(request, loc)
    assert st == 200 and body == pattern_bytes(3, PAT_SIZE) and dt >= 0.6
    dt, _ = timed(request, loc)
    assert dt < 0.5


def test_corrupt_bytes(hub):
    good = pattern_bytes(3, PAT_SIZE)
    loc = cdn_location(hub, "pat.bin")
    hub.set_faults(corrupt={"file": "^org/public/pat\\.bin$", "ranges": [[100, 110]],
                            "offsets": [2999999], "times": 2})
    _, _, part = request(loc, headers={"Range": "bytes=0-49"})
    assert part == good[:50]
    assert hub.faults_state()["corrupt"][0]["fired"] == 0
    _, _, bad = request(loc)
    diff = [i for i in range(len(good)) if bad[i] != good[i]]
    assert diff == list(range(100, 110)) + [2999999]
    assert all(bad[i] == good[i] ^ 0xFF for i in diff)
    _, _, part = request(loc, headers={"Range": "bytes=105-200"})
    assert part[:5] != good[105:110] and part[5:] == good[110:201]
    _, _, again = request(loc)
    assert again == good
    _, _, readme = request(resolve_url(hub, "README.md"))
    assert readme == b"# public\n\nhello hub\n"


def test_hub_down_refuse_reset_503(hub):
    c = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    assert request(hub.url + "/api/models/org/public", conn=c)[0] == 200
    hub.set_faults(down="refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", hub.port), timeout=5)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        request(hub.url + "/api/models/org/public", conn=c)
    c.close()
    h = hub.control("GET", "health")
    assert h["listening"] is False and h["down"] == "refuse"
    hub.set_faults(down="reset")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        request(hub.url + "/api/models/org/public")
    hub.set_faults(down="503")
    for url in (hub.url + "/api/models/org/public", resolve_url(hub, "README.md")):
        assert request(url)[0] == 503
    hub.set_faults(down=False)
    assert request(hub.url + "/api/models/org/public")[0] == 200


def test_faults_rejected_when_malformed(hub):
    for bad in ({"nope": 1}, {"latency_ms": -1}, {"down": "sideways"},
                {"errors": {"status": 200}}, {"corrupt": {"file": "x"}},
                {"drop": {"after": 3}}):
        with pytest.raises(RuntimeError, match="400"):
            hub.set_faults(bad)
    assert hub.faults_state()["errors"] == []


def test_faults_from_command_line(tmp_path):
    m = {"repos": [{"id": "a/b", "files": [{"path": "x.txt", "text": "x"}]}],
         "faults": {"errors": {"status": 500, "every": 2}}}
    with HubProcess(m, workdir=str(tmp_path), faults={"throttle": {"count": 1}}) as h:
        assert statuses(h, 4, "/a/b/resolve/main/x.txt") == [429, 200, 500, 200]


# ------------------------------------------------------------------------
# the request log
# ------------------------------------------------------------------------

def test_log_counts_what_was_received(hub):
    seq = hub.clear_log()
    loc = cdn_location(hub, "pat.bin")
    got = []
    for method, url, hd in [("GET", loc, {}), ("GET", loc, {"Range": "bytes=10-1009"}),
                            ("HEAD", loc, {}), ("GET", resolve_url(hub, "README.md"), {}),
                            ("GET", resolve_url(hub, "nope"), {}),
                            ("GET", hub.url + "/api/models/org/public/tree/main", {})]:
        st, h, body = request(url, method, hd)
        got.append((st, len(body)))
    recs = hub.log(seq)
    assert len(recs) == 7
    assert [(r["status"], r["bytes"]) for r in recs[1:]] == got
    assert recs[0]["method"] == "HEAD" and recs[0]["bytes"] == 0
    assert recs[2]["range"] == "bytes=10-1009" and recs[2]["length"] == 1000
    assert all(r["dur_ms"] >= 0 and r["conn"] > 0 for r in recs)
    st = hub.stats()
    assert st["requests"] == 7 and st["body_bytes"] == sum(r["bytes"] for r in recs)
    assert st["by_file"]["org/public/pat.bin"] == {"requests": 3, "bytes": PAT_SIZE + 1000}
    assert st["by_file"]["org/public/README.md"]["bytes"] == len(b"# public\n\nhello hub\n")
    assert st["by_status"]["404"] == 1 and st["by_kind"]["cdn"]["requests"] == 3
    with open(hub.log_path) as f:
        on_disk = [json.loads(x) for x in f]
    assert on_disk[-7:] == recs


def test_keepalive_and_nodelay(hub):
    seq = hub.clear_log()
    c = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    times = []
    for _ in range(30):
        dt, (st, _, body) = timed(request, resolve_url(hub, "sub/a.txt"), conn=c)
        assert st == 200 and body == b"a\n"
        times.append(dt)
    c.close()
    recs = hub.log(seq)
    assert len({r["conn"] for r in recs}) == 1 and hub.stats()["connections"] == 1
    assert statistics.median(times) < 0.02, times


def test_runtime_repo_update(hub):
    st, _, _ = request(hub.url + "/api/models/org/new")
    assert st == 401
    hub.update_repos([{"id": "org/new", "files": [{"path": "n.txt", "text": "new\n"}]}],
                     renames={"org/newer": "org/new"})
    assert request(resolve_url(hub, "n.txt", rid="org/new"))[2] == b"new\n"
    assert request(hub.url + "/api/models/org/newer")[0] == 307
    hub.update_repos(remove=["org/new"], renames={"org/newer": None})
    assert request(hub.url + "/api/models/org/new")[0] == 401
    assert request(hub.url + "/api/models/org/newer")[0] == 401
    with pytest.raises(RuntimeError, match="400"):
        hub.update_repos([{"id": "no-slash"}])


# ------------------------------------------------------------------------
# starting and stopping
# ------------------------------------------------------------------------

def test_scenario_directory(tmp_path):
    d = tmp_path / "scen"
    (d / "acme" / "dirrepo" / "sub").mkdir(parents=True)
    (d / "acme" / "dirrepo" / "README.md").write_text("dir repo\n")
    (d / "acme" / "dirrepo" / "sub" / "x.gguf").write_bytes(b"GGUF" + bytes(100))
    with HubProcess(str(d), workdir=str(tmp_path / "w"), max_lifetime=120) as h:
        entries, _ = walk_tree(h, h.url + "/api/models/acme/dirrepo/tree/main?recursive=true")
        assert [e["path"] for e in entries] == ["README.md", "sub", "sub/x.gguf"]
        assert "lfs" in entries[2]
        assert get_file(h, "sub/x.gguf", rid="acme/dirrepo")[2] == b"GGUF" + bytes(100)


def test_data_helpers_standard_manifest(tmp_path):
    m = scenarios.standard_manifest()
    with HubProcess(m, workdir=str(tmp_path), max_lifetime=120) as h:
        ids = {r["id"] for r in h.repos()["repos"]}
        assert {"test-org/Split-GGUF", "test-org/Gated-GGUF", "test-org/No-GGUF"} <= ids
        st, _, body = request(h.url + "/api/models/test-org/Split-GGUF")
        names = sorted(s["rfilename"] for s in json.loads(body)["siblings"])
        assert names[1:] == ["split-Q4_K_M-0000%d-of-00003.gguf" % i for i in (1, 2, 3)]
        st, _, body = get_file(h, "split-Q4_K_M-00002-of-00003.gguf", rid="test-org/Split-GGUF",
                               rng="bytes=0-3")
        assert body == b"GGUF"
        _, _, body = get_file(h, "bad-Q4_K_M.gguf", rid="test-org/Bad-Header-GGUF",
                              rng="bytes=0-3")
        assert body != b"GGUF"
        st, _, _ = get_file(h, "gated-Q4_K_M.gguf", rid="test-org/Gated-GGUF",
                            headers=auth(scenarios.TOKEN_GRANTED))
        assert st == 200
        assert request(h.url + "/api/models/test-org/Old-Name-GGUF")[0] == 307


BAD_MANIFESTS = [
    ({"repos": [{"id": "a/b", "files": [{"path": "../x", "text": "x"}]}]}, "bad file path"),
    ({"repos": [{"id": "a/b", "privat": True}]}, "unknown keys privat"),
    ({"repos": [{"id": "a/b", "files": [{"path": "x", "text": "x", "json": {}}]}]},
     "more than one content source"),
    ({"repos": [{"id": "a/b", "files": [{"path": "x", "text": "x", "lsf": True}]}]},
     "unknown keys lsf"),
    ({"repos": [{"id": "a/b", "revisions": [{"branch": ["main"]}]}]}, "unknown keys branch"),
    ({"repos": [{"id": "a/b", "revisions": [{"base": "v9"}]}]}, "revision base"),
    ({"repos": [{"id": "ab"}]}, "ORG/NAME"),
    ({"repos": [{"id": "a/b", "gated": "yes"}]}, "gated must be"),
    ({"repo": []}, "unknown keys repo"),
    ({"repos": [], "faults": {"down": 1}}, "down must be"),
    ({"repos": [{"id": "a/b", "files": [{"path": "x", "sha256": "abc", "size": 1}]}]},
     "64 hex digits"),
]


@pytest.mark.parametrize("m,msg", BAD_MANIFESTS, ids=[b[1] for b in BAD_MANIFESTS])
def test_bad_manifest_fails_to_start(tmp_path, m, msg):
    h = HubProcess(m, workdir=str(tmp_path))
    with pytest.raises(RuntimeError, match=msg):
        h.start(timeout=30)
    assert h.proc.returncode == 2


def test_stops_at_max_lifetime(tmp_path):
    h = HubProcess({"repos": []}, workdir=str(tmp_path), max_lifetime=1.5).start()
    try:
        t0 = time.monotonic()
        rc = h.proc.wait(timeout=15)
        assert rc == 0 and time.monotonic() - t0 < 5
        assert "max lifetime" in h.stderr_tail()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", h.port), timeout=5)
    finally:
        h.stop()


def test_port_file_and_shutdown(tmp_path):
    pf = tmp_path / "port.json"
    h = HubProcess({"repos": []}, workdir=str(tmp_path), args=["--port-file", str(pf)]).start()
    try:
        d = json.loads(pf.read_text())
        assert (d["port"], d["control_port"], d["pid"]) == (h.port, h.control_port, h.proc.pid)
        assert h.control("POST", "shutdown", {}) == {"ok": True}
        assert h.proc.wait(timeout=15) == 0
    finally:
        h.stop()
