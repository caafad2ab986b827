"""The tree of a mount with the built-in catalog (SPEC §3, §4).

Every value shown is compared with the catalog data file the binary embeds,
core/catalog/builtin.json, read here independently; the whole tree is
walked with the tools users point at it (ls -R, find, stat, cat) and with
Python, every listed file is read (model weights excepted: reading them
downloads) and its stat size must equal the bytes read.
"""

import json
import math
import os
import stat
import subprocess

import pytest

from conftest import builtin_catalog, read_file, walk

TOKEN = "hf_distinctive_secret_123"
pytestmark = pytest.mark.mount(env={"HF_TOKEN": TOKEN})

TSV_HEADER = ["path", "family", "variant", "quant", "params_b", "bits_per_weight", "size_bytes",
              "vram_mib_8k", "stars", "est_tg_tokens_per_s", "tg_tokens_per_s",
              "pp_tokens_per_s", "cache", "benchmark"]
CONTROL_WRITE_ONLY = {"register", "unregister", "download", "evict", "benchmark", "refresh"}
CONTROL_READ_ONLY = {"jobs", "log", "config"}


def is_weights(rel):
    return rel.endswith(".gguf")


def readable_files(root):
    """(relative path, lstat) of every regular file a user may read."""
    out = []
    for rel, st in walk(root):
        if not stat.S_ISREG(st.st_mode) or is_weights(rel):
            continue
        if rel.startswith(".control/") and os.path.basename(rel) in CONTROL_WRITE_ONLY:
            continue
        out.append((rel, st))
    return out


def close(a, b):
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def catalog_paths():
    return sorted("%s/%s/%s" % (m["family"], m["variant"], q["name"])
                  for m in builtin_catalog() for q in m["quantizations"])


def test_catalog_is_not_trivial():
    models = builtin_catalog()
    assert len(models) >= 10
    assert {"llama", "qwen", "gemma", "phi", "mistral", "deepseek", "olmo"} <= \
        {m["family"] for m in models}


def test_root_listing(mount):
    names = set(os.listdir(mount.path))
    assert {"README", "registry.json", "models.tsv", "by-repo", ".control"} <= names
    families = {m["family"] for m in builtin_catalog()}
    shown = {n for n in names if os.path.isdir(mount.file(n)) and not os.path.islink(mount.file(n))
             and n not in ("by-repo", ".control") and "@" not in n}
    assert shown == families
    readme = mount.text("README")
    assert "modelfs" in readme and ".control" in readme


def test_tools_walk_the_tree(mount):
    tree = walk(mount.path)
    assert len(tree) > 200

    ls = subprocess.run(["ls", "-laR", mount.path], capture_output=True, text=True)
    assert ls.returncode == 0, ls.stderr
    for rel, st in tree:
        if stat.S_ISDIR(st.st_mode):
            assert "%s:\n" % os.path.join(mount.path, rel) in ls.stdout, rel

    find = subprocess.run(["find", mount.path], capture_output=True, text=True)
    assert find.returncode == 0, find.stderr
    found = {os.path.relpath(p, mount.path) for p in find.stdout.splitlines()} - {"."}
    assert found == {rel for rel, _ in tree}

    paths = [mount.file(rel) for rel, _ in tree]
    st = subprocess.run(["stat", "-c", "%n %s %a %F"] + paths, capture_output=True, text=True)
    assert st.returncode == 0, st.stderr
    assert len(st.stdout.splitlines()) == len(paths)

    files = [mount.file(rel) for rel, _ in readable_files(mount.path)]
    cat = subprocess.run(["cat"] + files, capture_output=True)
    assert cat.returncode == 0, cat.stderr
    assert len(cat.stdout) == sum(len(read_file(p)) for p in files)


def test_every_json_file_parses(mount):
    n = 0
    for rel, _ in readable_files(mount.path):
        if rel.endswith(".json"):
            try:
                json.loads(mount.text(rel))
            except ValueError as e:
                pytest.fail("%s is not JSON: %s" % (rel, e))
            n += 1
    assert n >= 3 * len(builtin_catalog())


def test_variants_match_catalog(mount):
    for m in builtin_catalog():
        vdir = os.path.join(m["family"], m["variant"])
        names = set(os.listdir(mount.file(vdir)))
        assert {"info.json", "architecture.json"} <= names, vdir
        quant_dirs = {n for n in names if os.path.isdir(mount.file(vdir, n))}
        assert quant_dirs == {q["name"] for q in m["quantizations"]}, vdir

        info = json.loads(mount.text(vdir, "info.json"))
        for key in ("family", "variant", "full_name", "repo_id", "architecture", "multimodal",
                    "context_window", "parameter_count_exact"):
            if key in m:
                assert info[key] == m[key], "%s/info.json %s" % (vdir, key)
        assert close(info["parameter_count"], m["parameter_count"]), vdir
        assert sorted(q["name"] for q in info["quantizations"]) == \
            sorted(q["name"] for q in m["quantizations"]), vdir
        if "recommended_parameters" in m:
            assert info["recommended_parameters"] == m["recommended_parameters"], vdir
        for iq in info["quantizations"]:
            cq = next(q for q in m["quantizations"] if q["name"] == iq["name"])
            assert os.path.basename(iq["file_pattern"]) == os.path.basename(cq["files"][0]), vdir
            assert iq["size_bytes"] == cq["size_bytes"], vdir
            assert close(iq["bits_per_weight"], cq["bits_per_weight"]), vdir

        arch = json.loads(mount.text(vdir, "architecture.json"))
        for key, value in m.get("architecture_detail", {}).items():
            assert arch.get(key) == value, "%s/architecture.json %s" % (vdir, key)
        if m.get("config") is not None:
            assert "config.json" in names, vdir
            assert json.loads(mount.text(vdir, "config.json")) == m["config"], vdir


def test_quants_match_catalog(mount):
    for m in builtin_catalog():
        for q in m["quantizations"]:
            qdir = os.path.join(m["family"], m["variant"], q["name"])
            names = set(os.listdir(mount.file(qdir)))
            assert {"info.json", "status"} <= names, qdir
            info = json.loads(mount.text(qdir, "info.json"))
            assert (info["family"], info["variant"], info["quant"], info["repo_id"]) == \
                (m["family"], m["variant"], q["name"], m["repo_id"]), qdir
            assert info["size_bytes"] == q["size_bytes"], qdir
            assert close(info["bits_per_weight"], q["bits_per_weight"]), qdir
            assert [f["upstream"] for f in info["files"]
                    if not f["name"].startswith("mmproj")] == q["files"], qdir
            assert 1 <= info["quality_stars"] <= 5, qdir
            status = dict(line.split("=", 1) for line in mount.text(qdir, "status").splitlines())
            assert status["cache"] in ("remote", "partial", "downloading", "cached"), qdir
            assert int(status["size_bytes"]) == q["size_bytes"], qdir
            assert status["benchmark"] in ("untested", "queued", "running", "tested", "failed")


def test_registry_json(mount):
    reg = json.loads(mount.text("registry.json"))
    assert list(reg) == ["models"]
    catalog = {(m["family"], m["variant"]): m for m in builtin_catalog()}
    shown = {(x["family"], x["variant"]): x for x in reg["models"]}
    assert len(reg["models"]) == len(shown)
    assert set(shown) == set(catalog)
    for key, x in shown.items():
        m = catalog[key]
        assert x["repo_id"] == m["repo_id"]
        assert x["context_window"] == m["context_window"]
        assert close(x["parameter_count"], m["parameter_count"])
        assert sorted(q["name"] for q in x["quantizations"]) == \
            sorted(q["name"] for q in m["quantizations"])
        assert x == json.loads(mount.text(key[0], key[1], "info.json")), key


def test_models_tsv(mount):
    text = mount.text("models.tsv")
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert lines[0].split("\t") == TSV_HEADER
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == len(TSV_HEADER) for r in rows)
    paths = [r[0] for r in rows]
    assert paths == sorted(paths, key=lambda p: p.encode())
    assert sorted(paths) == catalog_paths()
    byname = {"%s/%s/%s" % (m["family"], m["variant"], q["name"]): (m, q)
              for m in builtin_catalog() for q in m["quantizations"]}
    for r in rows:
        cell = dict(zip(TSV_HEADER, r))
        m, q = byname[cell["path"]]
        assert (cell["family"], cell["variant"], cell["quant"]) == \
            (m["family"], m["variant"], q["name"])
        assert close(cell["params_b"], m["parameter_count"]), cell["path"]
        assert close(cell["bits_per_weight"], q["bits_per_weight"]), cell["path"]
        assert int(cell["size_bytes"]) == q["size_bytes"], cell["path"]
        assert cell["stars"] == "" or 1 <= int(cell["stars"]) <= 5
        assert cell["cache"] in ("remote", "partial", "downloading", "cached")


def test_by_repo_symlinks(mount):
    models = builtin_catalog()
    repos = {}
    for m in models:
        repos.setdefault(m["repo_id"], []).append(m)
    orgs = set(os.listdir(mount.file("by-repo")))
    assert orgs == {r.split("/")[0] for r in repos}
    for repo, ms in repos.items():
        link = mount.file("by-repo", repo)
        assert os.path.islink(link), repo
        target = os.readlink(link)
        assert target.startswith("../../"), target
        if len(ms) == 1:
            m = ms[0]
            assert target == "../../%s/%s" % (m["family"], m["variant"])
            assert os.path.samefile(link, mount.file(m["family"], m["variant"]))
            assert json.loads(read_file(os.path.join(link, "info.json")))["repo_id"] == repo
        assert os.path.isdir(link)
    for org in orgs:
        assert set(os.listdir(mount.file("by-repo", org))) == \
            {r.split("/")[1] for r in repos if r.split("/")[0] == org}


def test_stat_size_is_bytes_read(mount):
    for rel, st in readable_files(mount.path):
        path = mount.file(rel)
        with open(path, "rb") as f:
            data = f.read()
            fst = os.fstat(f.fileno())
        assert fst.st_size == len(data), rel
        if not rel.startswith(".control/"):
            assert st.st_size == len(data), rel
            assert os.stat(path).st_size == len(data), rel


def test_modes(mount):
    control = set(os.listdir(mount.file(".control")))
    assert {"unregister", "hardware", "log", "config"} <= control
    for rel, st in walk(mount.path):
        mode = stat.S_IMODE(st.st_mode)
        name = os.path.basename(rel)
        if stat.S_ISLNK(st.st_mode):
            assert rel.startswith("by-repo/") or "@" in rel.split("/")[0], rel
        elif stat.S_ISDIR(st.st_mode):
            assert mode == 0o555, "%s is %o" % (rel, mode)
        elif rel.startswith(".control/") and name in CONTROL_WRITE_ONLY:
            assert mode == 0o200, "%s is %o" % (rel, mode)
        elif rel == ".control/hardware":
            assert mode == 0o600, "%s is %o" % (rel, mode)
        else:
            assert stat.S_ISREG(st.st_mode), rel
            assert mode == 0o444, "%s is %o" % (rel, mode)
    assert stat.S_IMODE(os.stat(mount.path).st_mode) == 0o555


def config_lines(mount):
    return mount.text(".control", "config").splitlines()


def test_config_shows_options(mount):
    cfg = mount.config()
    assert cfg["state"] == mount.state
    assert cfg["cache"] == mount.cache
    assert cfg["catalog"] == "builtin"
    assert cfg["offline"] in ("0", "no", "false")
    assert "endpoint" in cfg and cfg["endpoint"].startswith("https://")
    assert "token" in cfg and "redacted" in cfg["token"]


@pytest.mark.mount(env={"HF_TOKEN": TOKEN}, args=["-d"])
def test_token_is_never_shown(mount):
    secret = TOKEN.encode()
    assert TOKEN not in mount.text(".control", "config")
    for rel, _ in walk(mount.path):
        assert TOKEN not in rel
    for rel, _ in readable_files(mount.path):
        assert secret not in mount.read(rel), rel
    assert TOKEN not in mount.log()
    mount.stop()
    assert TOKEN not in mount.stderr()
    assert mount.stderr(), "with -d the daemon writes to stderr"
