"""Parameterized files through a real mount (SPEC §3, §5; issue 4).

QUANT/vram@KEY=VALUE,... and fit@..., the root's recommend@... file and
fits@.../ directories, and the estimates in info.json, registry.json and
models.tsv, read with open()/cat/stat as users do.  The numbers are checked
against each other (num is the JSON breakdown's total rounded up to MiB,
unit=b and unit=gib agree, stat size is the bytes read), against what can
be worked out by hand (Llama 3.1 8B keeps 128 KiB of f16 KV cache per
token: 32 layers x 8 KV heads x 128 x 2 bytes x K and V), and refusals
against their exact errno and their line in .control/log.

Mounts are `offline`: nothing here needs the Hub, and a model.gguf stat
must not wait on DNS.
"""

import errno
import json
import math
import os
import stat
import subprocess
import sys
import time

import pytest

from conftest import (MODELFS_BIN, REPO_DIR, builtin_catalog, daemon_env, log_lines_since,
                      raises_errno, sanitizer_report)

sys.path.insert(0, os.path.join(REPO_DIR, "tests", "hub"))
sys.path.insert(0, os.path.join(REPO_DIR, "tests", "gguf"))
import ggufgen  # noqa: E402
import replica  # noqa: E402
import scenarios as S  # noqa: E402
from hubsim import HubProcess  # noqa: E402

pytestmark = pytest.mark.mount(opts=["offline"])


@pytest.fixture(autouse=True)
def settle(mount):
    """Lets the kernel's last RELEASEDIR reach the daemon before the unmount.
    The kernel sends it in the background after close(); an unmount that
    aborts the connection first leaves libfuse's directory handle (its
    struct fuse_dh and 32 KiB of entries) unfreed, which LeakSanitizer
    reports against libfuse3.so in the ASan build."""
    yield
    time.sleep(0.2)

MIB = 1 << 20
GIB = 1 << 30

L8 = ("llama", "llama-3.1-8b-instruct", "q4_k_m")
L70 = ("llama", "llama-3.1-70b-instruct", "q4_k_m")
QW7 = ("qwen", "qwen2.5-7b-instruct", "q4_k_m")
G4 = ("gemma", "gemma-3-4b-it", "q4_k_m")         # sliding window, multimodal
PHI = ("phi", "phi-4", "q4_k_m")
DSV3 = ("deepseek", "deepseek-v3", "q4_k_m")      # MLA, mixture of experts
OLMO = ("olmo", "olmo-2-1124-7b-instruct", "q8_0")
MODELS = [L8, L70, QW7, G4, PHI, DSV3, OLMO]
EXAMPLES = {"vram@ctx=4096", "vram@ctx=8192", "vram@ctx=32768", "vram@ctx=max"}
FIT_KEYS = ["fits", "ngl", "layers", "gpu_mib", "cpu_mib", "max_ctx", "est_tg_tokens_per_s"]
RECOMMEND_HEADER = ["rank", "path", "vram_mib", "fits", "stars", "est_tg_tokens_per_s"]
HW_OPTS = ["offline", "gpu_vram=24G", "gpu_bandwidth=1000", "ram_bandwidth=60"]


def qfile(m, q, name):
    return m.file(*q, name)


def cat(m, q, name):
    return m.text(*q, name)


def vram_json(m, q, params):
    return json.loads(cat(m, q, "vram@" + params + ",format=json"))


def kv_lines(text):
    out = {}
    for line in text.splitlines():
        k, v = line.split("=", 1)
        assert k not in out, "key %s twice" % k
        out[k] = v
    return out


def assert_refused(m, path, code, words):
    """open(path) fails with exactly `code`; for EINVAL, one new line in
    .control/log names the file and holds every word of `words`."""
    before = m.log()
    with raises_errno(code):
        with open(path, "rb") as f:
            f.read()
    new = [line for line in log_lines_since(m, before) if "cannot tell the size" not in line]
    if code != errno.EINVAL:
        return
    name = os.path.basename(path)
    mine = [line for line in new if name in line]
    assert mine, "no log line for %s; new lines: %r" % (name, new)
    for w in words:
        assert w in mine[-1], "%r not in log line %r" % (w, mine[-1])


# ---------------------------------------------------------------------------
# vram@
# ---------------------------------------------------------------------------

def test_num_is_json_total_in_mib(mount):
    for q in MODELS:
        prev = 0
        for ctx in ("512", "4096", "8192", "32768"):
            num = cat(mount, q, "vram@ctx=" + ctx)
            assert num.endswith("\n") and num.count("\n") == 1, (q, ctx, num)
            j = vram_json(mount, q, "ctx=" + ctx)
            assert int(num) == math.ceil(j["total_bytes"] / MIB), (q, ctx)
            assert j["total"] == int(num)
            assert int(cat(mount, q, "vram@ctx=%s,unit=b" % ctx)) == j["total_bytes"]
            gib = cat(mount, q, "vram@ctx=%s,unit=gib" % ctx).strip()
            assert gib == "%d.%02d" % divmod(-(-j["total_bytes"] * 100 // GIB), 100), (q, ctx, gib)
            assert j["params"]["ctx"] == int(ctx)
            assert j["weights_source"] in ("gguf-header", "file-size", "catalog")
            assert isinstance(j["warnings"], list)
            for k in ("total_bytes", "weights_bytes", "kv_bytes", "compute_bytes", "output_bytes",
                      "overhead_bytes", "mmproj_bytes", "cpu_bytes"):
                assert isinstance(j[k], int) and j[k] >= 0, (q, k)
            assert int(num) > prev, "VRAM must grow with ctx: %s %s" % (q, ctx)
            prev = int(num)
        assert cat(mount, q, "vram@ctx=8k") == cat(mount, q, "vram@ctx=8192")
        assert cat(mount, q, "vram@ctx=32k") == cat(mount, q, "vram@ctx=32768")


def test_kv_cache_worked_out_by_hand(mount):
    # Llama 3.1 8B: 32 layers x 8 KV heads x 128 x (K + V) x 2 bytes = 128 KiB per token.
    for ctx, kv in ((512, 64 * MIB), (8192, 1024 * MIB), (32768, 4096 * MIB), (131072, 16384 * MIB)):
        assert vram_json(mount, L8, "ctx=%d" % ctx)["kv_bytes"] == kv, ctx
    assert vram_json(mount, L8, "ctx=max")["kv_bytes"] == 16384 * MIB
    # q8_0 stores 32 values in 34 bytes.
    assert vram_json(mount, L8, "ctx=8192,kv=q8_0")["kv_bytes"] == 1024 * MIB * 34 // 64
    assert vram_json(mount, L8, "ctx=8192,ctk=q8_0")["kv_bytes"] == 512 * MIB + 512 * MIB * 34 // 64
    assert vram_json(mount, L8, "ctx=8192,kv=f32")["kv_bytes"] == 2048 * MIB
    # llama.cpp pads the context to 256 cells.
    assert vram_json(mount, L8, "ctx=1000")["params"]["n_ctx"] == 1024
    assert vram_json(mount, L8, "ctx=1000")["kv_bytes"] == 1024 * 128 * 1024
    # Qwen2.5 7B: 28 layers x 4 KV heads x 128 x 2 x 2 bytes = 56 KiB per token.
    assert vram_json(mount, QW7, "ctx=8192")["kv_bytes"] == 8192 * 56 * 1024
    # Gemma 3 keeps a window-sized cache on its sliding-window layers.
    g = vram_json(mount, G4, "ctx=32768")
    assert 0 < g["params"]["kv_cells_swa"] < g["params"]["kv_cells"] == 32768


def test_formats(mount):
    num = int(cat(mount, L8, "vram@ctx=8192"))
    assert cat(mount, L8, "vram@ctx=8192,format=num") == "%d\n" % num
    text = cat(mount, L8, "vram@ctx=8192,format=text")
    assert text.splitlines()[0] == "VRAM: %d MiB" % num
    assert "KV cache" in text and "llama-3.1-8b-instruct" in text
    assert cat(mount, L8, "vram@ctx=8192,format=text,unit=gib").splitlines()[0] == \
        "VRAM: %s GiB" % cat(mount, L8, "vram@ctx=8192,unit=gib").strip()
    env = kv_lines(cat(mount, L8, "vram@ctx=8192,format=env"))
    j = vram_json(mount, L8, "ctx=8192")
    for k in ("total_bytes", "weights_bytes", "kv_bytes", "compute_bytes", "output_bytes",
              "overhead_bytes", "mmproj_bytes", "cpu_bytes"):
        assert int(env[k]) == j[k], k
    assert int(env["total"]) == num and env["unit"] == "mib"
    assert env["ctx"] == "8192" and env["weights_source"] == j["weights_source"]
    env_b = kv_lines(cat(mount, L8, "vram@ctx=8192,format=env,unit=b"))
    assert env_b["unit"] == "b" and int(env_b["total"]) == j["total_bytes"]
    # env is shell-sourceable.
    r = subprocess.run(["sh", "-c", '. "$1" && [ "$total" -eq %d ] && echo ok' % num, "sh",
                       qfile(mount, L8, "vram@ctx=8192,format=env")],
                       capture_output=True, text=True)
    assert r.stdout == "ok\n", r.stderr


def test_every_key(mount):
    base = vram_json(mount, L8, "ctx=8192")
    p = base["params"]
    assert (p["ctk"], p["ctv"], p["fa"], p["ubatch"], p["batch"], p["par"], p["ngl"]) == \
        ("f16", "f16", "on", 512, 2048, 1, p["layers"])
    assert vram_json(mount, L8, "ctx=8192,kv=q4_0")["params"]["ctv"] == "q4_0"
    j = vram_json(mount, L8, "ctx=8192,ctk=q8_0,ctv=q5_1")
    assert (j["params"]["ctk"], j["params"]["ctv"]) == ("q8_0", "q5_1")
    for t in ("f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"):
        assert vram_json(mount, L8, "ctx=8192,kv=" + t)["params"]["ctk"] == t
    off = vram_json(mount, L8, "ctx=8192,fa=off")
    assert off["params"]["fa"] == "off" and off["compute_bytes"] != base["compute_bytes"]
    assert vram_json(mount, L8, "ctx=8192,fa=on") == base
    assert vram_json(mount, L8, "ctx=8192,ubatch=256")["params"]["ubatch"] == 256
    assert vram_json(mount, L8, "ctx=8192,batch=1024")["params"]["batch"] == 1024
    par = vram_json(mount, L8, "ctx=8192,par=4")
    assert par["params"]["par"] == 4 and par["output_bytes"] > base["output_bytes"]
    part = vram_json(mount, L8, "ctx=8192,ngl=10")
    assert part["params"]["ngl"] == 10
    assert part["total_bytes"] < base["total_bytes"] and part["cpu_bytes"] > base["cpu_bytes"]
    assert vram_json(mount, L8, "ctx=8192,ngl=all") == base
    zero = vram_json(mount, L8, "ctx=8192,ngl=0")
    assert zero["params"]["ngl"] == 0 and zero["total_bytes"] < part["total_bytes"]
    on = vram_json(mount, G4, "ctx=8192,mmproj=on")
    off = vram_json(mount, G4, "ctx=8192,mmproj=off")
    assert on["mmproj_bytes"] > 0 and off["mmproj_bytes"] == 0
    assert on["total_bytes"] > off["total_bytes"]
    assert vram_json(mount, G4, "ctx=8192") == on
    assert vram_json(mount, L8, "ctx=8192,unit=gib")["unit"] == "gib"
    # Keys in any order give the same file.
    assert cat(mount, L8, "vram@fa=off,ctx=8192,ctk=q8_0,unit=b") == \
        cat(mount, L8, "vram@ctx=8192,unit=b,ctk=q8_0,fa=off")


BAD_NAMES = [
    ("vram@ctx=8192,foo=1", ["unknown key 'foo'"]),
    ("vram@ctx=8192,vram=24G", ["unknown key 'vram'"]),
    ("vram@ctx=abc", ["bad value 'abc'", "ctx"]),
    ("vram@ctx=0", ["bad value '0'", "ctx"]),
    ("vram@ctx=-1", ["bad value '-1'"]),
    ("vram@ctx=99999999999", ["bad value"]),
    ("vram@ctx=", ["bad value ''"]),
    ("vram@ctx=8192,kv=q3", ["bad value 'q3'", "kv"]),
    ("vram@ctx=8192,ctk=int8", ["bad value 'int8'"]),
    ("vram@ctx=8192,fa=maybe", ["bad value 'maybe'", "fa"]),
    ("vram@ctx=8192,ubatch=0", ["bad value '0'", "ubatch"]),
    ("vram@ctx=8192,par=1000", ["bad value '1000'", "par"]),
    ("vram@ctx=8192,ngl=-1", ["bad value '-1'", "ngl"]),
    ("vram@ctx=8192,ngl=some", ["bad value 'some'"]),
    ("vram@ctx=8192,mmproj=yes", ["bad value 'yes'", "mmproj"]),
    ("vram@ctx=8192,unit=kb", ["bad value 'kb'", "unit"]),
    ("vram@ctx=8192,format=xml", ["bad value 'xml'", "format"]),
    ("vram@kv=f16", ["needs ctx="]),
    ("vram@", ["needs ctx="]),
    ("vram@ctx=8192,ctx=4096", ["'ctx' given twice"]),
    ("vram@ctx=8192,fa=on,fa=off", ["'fa' given twice"]),
    ("vram@ctx=8192,kv=q8_0,fa=off", ["needs flash attention"]),
    ("vram@ctx", ["not KEY=VALUE"]),
    ("vram@=8192", ["not KEY=VALUE"]),
    ("vram@ctx=8192,", ["empty parameter"]),
    ("vram@,,", ["empty parameter"]),
    ("vram@ctx=8192;kv=f16", ["bad value"]),
    ("vram@ctx=8192 kv=f16", ["bad value"]),
    ("vram@CTX=8192", ["unknown key 'CTX'"]),
    ("fit@ctx=8192", ["needs vram="]),
    ("fit@vram=24G,unit=mib", ["unknown key 'unit'"]),
    ("fit@vram=24G,format=num", ["bad value 'num'", "format"]),
    ("fit@vram=lots", ["bad value 'lots'", "vram"]),
    ("fit@vram=0", ["bad value '0'"]),
    ("fit@vram=24G,n=3", ["unknown key 'n'"]),
]


def test_bad_names_are_einval_and_logged(mount):
    for name, words in BAD_NAMES:
        path = qfile(mount, L8, name)
        assert_refused(mount, path, errno.EINVAL, words)
        with raises_errno(errno.EINVAL):
            os.stat(path)
    # Valid names that do not suit this model are refused the same way.
    bad_root = [("recommend@vram=24G,foo=1", ["unknown key 'foo'"]),
                ("recommend@vram=24G,prefer=cheap", ["bad value 'cheap'"]),
                ("recommend@vram=24G,n=0", ["bad value '0'", "n"]),
                ("recommend@vram=24G,ngl=3", ["unknown key 'ngl'"]),
                ("recommend@ctx=8192", ["no VRAM size known"]),
                ("fits@vram=big", ["bad value 'big'"]),
                ("fits@ctx=8192", ["no VRAM size known"])]
    for name, words in bad_root:
        assert_refused(mount, mount.file(name), errno.EINVAL, words)
    with raises_errno(errno.EINVAL):
        os.listdir(mount.file("fits@vram=24G,ctx=lots"))
    with raises_errno(errno.EINVAL):
        os.readlink(mount.file("fits@vram=x", "llama--llama-3.1-8b-instruct--q4_k_m"))


def test_repeated_refusals_fold_in_the_log(mount):
    path = qfile(mount, L8, "vram@ctx=8192,bogus=1")
    before = mount.log()
    for _ in range(5):
        with raises_errno(errno.EINVAL):
            open(path, "rb").close()
    new = [line for line in log_lines_since(mount, before) if "bogus" in line]
    assert len(new) <= 2, new


def test_unknown_kinds_are_enoent(mount):
    for name in ("foo@ctx=8192", "vram2@ctx=8192", "VRAM@ctx=8192", "@ctx=8192", "recommend@vram=24G",
                 "fits@vram=24G", "fit"):
        with raises_errno(errno.ENOENT):
            os.stat(qfile(mount, L8, name))
    for name in ("vram@ctx=8192", "fit@vram=24G", "foo@x=1", "recommend"):
        with raises_errno(errno.ENOENT):
            os.stat(mount.file(name))
    for name in ("vram@ctx=8192", "fit@vram=24G"):
        with raises_errno(errno.ENOENT):
            os.stat(mount.file("llama", "llama-3.1-8b-instruct", name))
        with raises_errno(errno.ENOENT):
            os.stat(mount.file("llama", name))
    with raises_errno(errno.ENOTDIR):
        os.stat(qfile(mount, L8, "vram@ctx=8192") + "/x")


def test_files_are_read_only(mount):
    path = qfile(mount, L8, "vram@ctx=8192")
    st = os.stat(path)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o444
    with raises_errno(errno.EACCES):
        open(path, "wb")
    with raises_errno(errno.EROFS):
        os.unlink(path)
    with raises_errno(errno.EROFS):
        os.mkdir(mount.file("fits@vram=24G,ctx=4096", "x"))


def test_stat_size_is_bytes_read(mount):
    names = ["vram@ctx=8192", "vram@ctx=max", "vram@ctx=8192,format=json", "vram@ctx=8192,format=text",
             "vram@ctx=8192,format=env", "vram@ctx=128k,unit=b", "vram@ctx=8192,unit=gib",
             "fit@vram=24G", "fit@vram=8000,format=json", "fit@vram=1G,ctx=32768"]
    for q in MODELS:
        for name in names:
            path = qfile(mount, q, name)
            size = os.stat(path).st_size
            with open(path, "rb") as f:
                data = f.read()
            assert size == len(data) > 0, (q, name)
            assert os.stat(path).st_size == size
    for name in ("recommend@vram=24G", "recommend@vram=8G,ctx=32k,n=20,prefer=quality"):
        assert os.stat(mount.file(name)).st_size == len(mount.read(name))
    # Reads at offsets see the same bytes.
    path = qfile(mount, L8, "vram@ctx=8192,format=json")
    whole = mount.read(*L8, "vram@ctx=8192,format=json")
    with open(path, "rb") as f:
        f.seek(10)
        assert f.read(7) == whole[10:17]


def test_shell_comparison(mount):
    qdir = mount.file(*L8)
    script = ('cd "$1" && [ "$(cat vram@ctx=8192)" -le 24576 ] && echo fits; '
              '[ "$(cat vram@ctx=128k)" -le 8192 ] || echo too-big')
    r = subprocess.run(["sh", "-c", script, "sh", qdir], capture_output=True, text=True)
    assert r.stdout == "fits\ntoo-big\n", r.stderr


def test_quant_listing_shows_examples(mount):
    for m in builtin_catalog():
        for q in m["quantizations"]:
            names = set(os.listdir(mount.file(m["family"], m["variant"], q["name"])))
            assert EXAMPLES <= names, (m["variant"], q["name"])
            assert not any(n.startswith("fit@") for n in names)
    root = set(os.listdir(mount.path))
    assert not any("@" in n for n in root), "no VRAM size known: no root examples"
    for name in EXAMPLES:
        assert int(cat(mount, L8, name)) > 0


# ---------------------------------------------------------------------------
# fit@
# ---------------------------------------------------------------------------

def test_fit_lines(mount):
    for q in MODELS:
        text = cat(mount, q, "fit@vram=1000G")
        assert [line.split("=")[0] for line in text.splitlines()] == FIT_KEYS, text
        f = kv_lines(text)
        assert f["fits"] == "full" and f["ngl"] == f["layers"], q
        assert int(f["gpu_mib"]) == int(cat(mount, q, "vram@ctx=8192")), q
        trained = vram_json(mount, q, "ctx=max")["params"]["ctx"]
        assert int(f["max_ctx"]) == trained, q
        assert f["est_tg_tokens_per_s"] == "", "no bandwidth known"
        j = json.loads(cat(mount, q, "fit@vram=1000G,format=json"))
        assert j["fits"] == "full" and j["max_ctx"] == trained and j["est_tg_tokens_per_s"] is None

    # 70B at q4_k_m in 24 GiB: some layers on the GPU, the rest in RAM.
    f = kv_lines(cat(mount, L70, "fit@vram=24G"))
    assert f["fits"] == "partial" and 0 < int(f["ngl"]) < int(f["layers"]) == 81
    assert int(f["gpu_mib"]) <= 24576 and int(f["cpu_mib"]) > 0 and f["max_ctx"] == "0"
    assert int(cat(mount, L70, "vram@ctx=8192,ngl=%s" % f["ngl"])) <= 24576
    assert int(cat(mount, L70, "vram@ctx=8192,ngl=%d" % (int(f["ngl"]) + 1))) > 24576
    assert kv_lines(cat(mount, L70, "fit@vram=100"))["fits"] == "no"
    # SIZE without a unit is MiB.
    assert cat(mount, L8, "fit@vram=24576") == cat(mount, L8, "fit@vram=24G")

    # max_ctx is the largest context that still fits fully.
    f = kv_lines(cat(mount, L8, "fit@vram=8G"))
    assert f["fits"] == "full"
    mx = int(f["max_ctx"])
    assert 8192 < mx < 131072
    assert int(cat(mount, L8, "vram@ctx=%d" % mx)) <= 8192
    assert int(cat(mount, L8, "vram@ctx=%d" % (mx + 256))) > 8192
    # fit@ takes vram@'s keys.
    g = kv_lines(cat(mount, L8, "fit@vram=8G,ctx=32768,kv=q8_0,fa=on"))
    assert int(g["gpu_mib"]) == int(cat(mount, L8, "vram@ctx=32768,kv=q8_0"))


@pytest.mark.mount(opts=HW_OPTS)
def test_fit_with_hardware_profile(mount):
    f = kv_lines(cat(mount, L8, "fit@vram=24G"))
    assert float(f["est_tg_tokens_per_s"]) > 0
    names = set(os.listdir(mount.file(*L8)))
    assert "fit@vram=24G" in names and EXAMPLES <= names
    assert os.stat(qfile(mount, L8, "fit@vram=24G")).st_size == len(cat(mount, L8, "fit@vram=24G"))
    # A partly offloaded model decodes slower.
    p = kv_lines(cat(mount, L70, "fit@vram=24G"))
    full = kv_lines(cat(mount, L70, "fit@vram=100G"))
    assert 0 < float(p["est_tg_tokens_per_s"]) < float(full["est_tg_tokens_per_s"])
    # A new profile is seen at the next open (the render cache keys on it).
    with open(mount.file(".control", "hardware"), "w") as h:
        h.write("gpu_bandwidth_gbps=2000\n")
    f2 = kv_lines(cat(mount, L8, "fit@vram=24G"))
    assert float(f2["est_tg_tokens_per_s"]) > float(f["est_tg_tokens_per_s"])
    with open(mount.file(".control", "hardware"), "w") as h:
        h.write("gpu_vram_mib=16000\n")
    names = set(os.listdir(mount.file(*L8)))
    assert "fit@vram=16000" in names and "fit@vram=24G" not in names


# ---------------------------------------------------------------------------
# recommend@ and fits@
# ---------------------------------------------------------------------------

def recommend(m, name):
    lines = m.text(name).splitlines()
    assert lines[0].split("\t") == RECOMMEND_HEADER
    rows = [line.split("\t") for line in lines[1:]]
    for i, r in enumerate(rows):
        assert len(r) == len(RECOMMEND_HEADER), r
        assert r[0] == str(i + 1)
        assert r[3] in ("full", "partial"), r
        assert 1 <= int(r[4]) <= 5, r
    return rows


def test_recommend(mount):
    rows = recommend(mount, "recommend@vram=24G,ctx=8192")
    assert len(rows) == 5
    for r in rows:
        q = r[1].split("/")
        assert int(r[2]) == int(mount.text(*q, "vram@ctx=8192")), r
        assert (r[3] == "full") == (int(r[2]) <= 24576), r
    assert recommend(mount, "recommend@vram=24G") == rows
    assert len(recommend(mount, "recommend@vram=24G,n=12")) == 12
    every = recommend(mount, "recommend@vram=24G,n=1000")
    assert len(every) == len({r[1] for r in every})
    kinds = [r[3] for r in every]
    assert kinds == sorted(kinds, key=lambda k: k != "full"), "full fits first, then partial"
    # Every quant that fits fully is there.
    full = {r[1] for r in every if r[3] == "full"}
    for m in builtin_catalog():
        for q in m["quantizations"]:
            path = "%s/%s/%s" % (m["family"], m["variant"], q["name"])
            if int(mount.text(path, "vram@ctx=8192")) <= 24576:
                assert path in full, path
    # quality: stars never rise down the full fits.
    qual = [r for r in recommend(mount, "recommend@vram=24G,prefer=quality,n=1000") if r[3] == "full"]
    stars = [int(r[4]) for r in qual]
    assert stars == sorted(stars, reverse=True)
    # speed without bandwidths: smaller first among full fits.
    fast = [r for r in recommend(mount, "recommend@vram=24G,prefer=speed,n=1000") if r[3] == "full"]
    sizes = [int(r[2]) for r in fast]
    assert sizes == sorted(sizes)
    # ctx counts: a bigger context needs more.
    big = {r[1]: int(r[2]) for r in recommend(mount, "recommend@vram=24G,ctx=32768,n=1000")}
    small = {r[1]: int(r[2]) for r in every}
    assert all(big[p] > small[p] for p in big if p in small)
    tiny = recommend(mount, "recommend@vram=512M,n=1000")
    assert all(r[3] == "partial" for r in tiny)


def test_fits_directory(mount):
    d = mount.file("fits@vram=12G,ctx=8192")
    st = os.stat(d)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555
    names = sorted(os.listdir(d))
    want = sorted("%s--%s--%s" % (m["family"], m["variant"], q["name"])
                  for m in builtin_catalog() for q in m["quantizations"]
                  if int(mount.text(m["family"], m["variant"], q["name"], "vram@ctx=8192")) <= 12288)
    assert names == want and len(names) > 20
    for n in names:
        link = os.path.join(d, n)
        assert stat.S_ISLNK(os.lstat(link).st_mode)
        fam, var, q = n.split("--")
        assert os.readlink(link) == "../%s/%s/%s" % (fam, var, q)
        assert os.lstat(link).st_size == len(os.readlink(link))
        assert os.path.realpath(link) == mount.file(fam, var, q)
        assert json.loads(read(link, "info.json"))["quant"] == q
    # A quant that does not fit has no link.
    with raises_errno(errno.ENOENT):
        os.lstat(os.path.join(d, "llama--llama-3.1-70b-instruct--q4_k_m"))
    with raises_errno(errno.ENOENT):
        os.lstat(os.path.join(d, "llama--llama-3.1-8b-instruct--nope"))
    with raises_errno(errno.ENOENT):
        os.lstat(os.path.join(d, "not-a-link"))
    # Other parameters change the set.
    assert len(os.listdir(mount.file("fits@vram=12G,ctx=128k"))) < len(names)
    assert set(os.listdir(mount.file("fits@vram=12G,ctx=8192,kv=q4_0"))) >= set(names)
    assert os.listdir(mount.file("fits@vram=1M")) == []
    # Tools walk it.
    r = subprocess.run(["find", "-L", d, "-maxdepth", "2", "-name", "info.json"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == len(names), r.stderr


def read(*parts):
    with open(os.path.join(*parts), "rb") as f:
        return f.read()


@pytest.mark.mount(opts=HW_OPTS)
def test_root_with_hardware_profile(mount):
    root = set(os.listdir(mount.path))
    assert {"recommend@vram=24G,ctx=8192", "fits@vram=24G,ctx=8192"} <= root
    rows = recommend(mount, "recommend@ctx=8192")
    assert rows == recommend(mount, "recommend@vram=24G,ctx=8192")
    assert all(r[5] and float(r[5]) > 0 for r in rows), "speeds known with bandwidths"
    speeds = [float(r[5]) for r in recommend(mount, "recommend@prefer=speed,n=1000") if r[3] == "full"]
    assert speeds == sorted(speeds, reverse=True)
    assert sorted(os.listdir(mount.file("fits@ctx=8192"))) == \
        sorted(os.listdir(mount.file("fits@vram=24G,ctx=8192")))
    st = os.stat(mount.path)
    dirs = [n for n in os.listdir(mount.path) if stat.S_ISDIR(os.lstat(mount.file(n)).st_mode)]
    assert st.st_nlink == 2 + len(dirs)


# ---------------------------------------------------------------------------
# The estimate in the other files
# ---------------------------------------------------------------------------

def test_estimates_in_info_registry_models(mount):
    reg = {(x["family"], x["variant"]): x for x in json.loads(mount.text("registry.json"))["models"]}
    tsv = mount.text("models.tsv").splitlines()
    header = tsv[0].split("\t")
    rows = {r.split("\t")[0]: dict(zip(header, r.split("\t"))) for r in tsv[1:]}
    for m in builtin_catalog():
        info = json.loads(mount.text(m["family"], m["variant"], "info.json"))
        for iq, rq in zip(info["quantizations"], reg[(m["family"], m["variant"])]["quantizations"]):
            q = (m["family"], m["variant"], iq["name"])
            gib = float(cat(mount, q, "vram@ctx=8192,unit=gib"))
            assert iq["estimated_vram_gb"] == gib, q
            assert rq["estimated_vram_gb"] == gib, q
            num = int(cat(mount, q, "vram@ctx=8192"))
            row = rows["/".join(q)]
            assert int(row["vram_mib_8k"]) == num, q
            assert row["est_tg_tokens_per_s"] == ""
            est = json.loads(mount.text(*q, "info.json"))["estimate"]
            assert est["ctx"] == 8192 and est["vram_mib"] == num, q
            assert est["weights_source"] in ("file-size", "catalog")
            assert est["fit"] is None


@pytest.mark.mount(opts=HW_OPTS)
def test_estimates_with_hardware_profile(mount):
    tsv = mount.text("models.tsv").splitlines()
    header = tsv[0].split("\t")
    rows = {r.split("\t")[0]: dict(zip(header, r.split("\t"))) for r in tsv[1:]}
    for q in MODELS:
        f = kv_lines(cat(mount, q, "fit@vram=24G"))
        assert rows["/".join(q)]["est_tg_tokens_per_s"] == f["est_tg_tokens_per_s"], q
        fit = json.loads(mount.text(*q, "info.json"))["estimate"]["fit"]
        assert fit["gpu_vram_mib"] == 24576
        for k in ("fits", "ngl", "layers", "gpu_mib", "cpu_mib", "max_ctx"):
            assert str(fit[k]) == f[k], (q, k)
        assert "%.1f" % fit["est_tg_tokens_per_s"] == f["est_tg_tokens_per_s"]
    # models.tsv follows a new profile.
    with open(mount.file(".control", "hardware"), "w") as h:
        h.write("gpu_bandwidth_gbps=\nram_bandwidth_gbps=\n")
    tsv = mount.text("models.tsv").splitlines()
    assert all(r.split("\t")[9] == "" for r in tsv[1:])
    assert os.stat(mount.file("models.tsv")).st_size == len(mount.read("models.tsv"))


# ---------------------------------------------------------------------------
# Registered from GGUF headers: the real tensor table (weights_source
# gguf-header), exactly as `modelfs estimate FILE` reads it
# ---------------------------------------------------------------------------

FIXTURES = os.environ.get("MF_FIXTURES_DIR") or os.path.join(REPO_DIR, "..", "shared", "fixtures")
SPECS = {
    "llama-3.1-8b": os.path.join(FIXTURES, "groundtruth", "llama-3.1-8b.json"),
    "qwen3-30b-a3b": os.path.join(REPO_DIR, "tests", "bench", "groundtruth", "specs", "qwen3-30b-a3b.json"),
    "gemma-3-4b": os.path.join(REPO_DIR, "tests", "bench", "groundtruth", "specs", "gemma-3-4b.json"),
    "tiny": os.path.join(FIXTURES, "groundtruth", "tiny.json"),
}
# (vram@ parameters, the same as `modelfs estimate` options); ngl below the
# layer count is partial offload: CPU blocks, the output layer, op offload.
VRAM_CASES = [
    ("ctx=8192", ["--ctx", "8192"]),
    ("ctx=8192,ngl=0", ["--ctx", "8192", "--ngl", "0"]),
    ("ctx=8192,ngl=1", ["--ctx", "8192", "--ngl", "1"]),
    ("ctx=8192,ngl=7", ["--ctx", "8192", "--ngl", "7"]),
    ("ctx=32768,ngl=20,kv=q8_0", ["--ctx", "32768", "--ngl", "20", "--kv", "q8_0"]),
    ("ctx=4096,fa=off,ngl=12,ubatch=256", ["--ctx", "4096", "--fa", "off", "--ngl", "12",
                                           "--ubatch", "256"]),
    ("ctx=max,par=2", ["--ctx", "max", "--par", "2"]),
]


def write_replica(path, spec, ftype, shards=1):
    """Writes a replica of spec (a SPECS key); returns the first file's path."""
    md, tensors = replica.build(replica.load_spec(SPECS[spec]), ftype)
    if shards > 1:
        return ggufgen.write_split(path, md, tensors, shards)[0]
    ggufgen.write(path + ".gguf", md, tensors, data="sparse")
    return path + ".gguf"


def write_mmproj(path):
    """A vision projector header as llama.cpp's mmproj files have: clip.vision.* keys."""
    md = [("general.architecture", "string", "clip"),
          ("clip.has_vision_encoder", "bool", True),
          ("clip.vision.image_size", "uint32", 896),
          ("clip.vision.patch_size", "uint32", 14),
          ("clip.vision.embedding_length", "uint32", 1152),
          ("clip.vision.feed_forward_length", "uint32", 4304),
          ("clip.vision.block_count", "uint32", 27),
          ("clip.vision.attention.head_count", "uint32", 16)]
    tensors = [{"name": "v.patch_embd.weight", "shape": [14, 14, 3, 1152], "type": "f16"}]
    for i in range(27):
        for n, shape in (("attn_qkv.weight", [1152, 3456]), ("attn_out.weight", [1152, 1152]),
                         ("ffn_up.weight", [1152, 4304]), ("ffn_down.weight", [4304, 1152]),
                         ("ln1.weight", [1152])):
            tensors.append({"name": "v.blk.%d.%s" % (i, n), "shape": shape,
                            "type": "f32" if len(shape) == 1 else "f16"})
    tensors.append({"name": "mm.input_projection.weight", "shape": [1152, 2560], "type": "f16"})
    ggufgen.write(path, md, tensors, data="sparse")
    return path


def hub_files(paths, root):
    return [{"path": os.path.relpath(p, root), "file": p, "sha256": "fake"} for p in paths]


def estimate_cli(path, opts, mmproj=None):
    """`modelfs estimate` (not the modelfs fixture: it unmounts the test's mounts)."""
    args = [MODELFS_BIN, "estimate", path, *opts] + (["--mmproj", mmproj] if mmproj else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=daemon_env(),
                       stdin=subprocess.DEVNULL)
    assert not sanitizer_report(r.stderr), r.stderr
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def registered(m, repo_id):
    vs = [x for x in json.loads(m.text("registry.json"))["models"] if x["repo_id"] == repo_id]
    assert len(vs) == 1, vs
    return vs[0]


def assert_as_estimated(m, q, first_file, mmproj=None):
    """Every VRAM_CASES vram@ (JSON) of quant q is `modelfs estimate` on its
    file, field for field, with weights_source gguf-header; fit@ too."""
    for params, opts in VRAM_CASES:
        got = vram_json(m, q, params)
        want = json.loads(estimate_cli(first_file, opts + ["--json"], mmproj))
        assert got["weights_source"] == "gguf-header", (q, params)
        assert got == want, (q, params)
        assert cat(m, q, "vram@" + params) == estimate_cli(first_file, opts + ["--format", "num"], mmproj)
    assert cat(m, q, "fit@vram=9G,ctx=8192") == \
        estimate_cli(first_file, ["--ctx", "8192", "--vram", "9G"], mmproj)
    want = json.loads(estimate_cli(first_file, ["--ctx", "8192", "--json"], mmproj))
    est = json.loads(m.text(*q, "info.json"))["estimate"]
    assert est["weights_source"] == "gguf-header"
    assert est["vram_mib"] == want["total"]


def test_registered_quants_use_their_tensor_tables(mounts, workdir):
    root = os.path.join(workdir, "files")
    dirs = {n: os.path.join(root, n) for n in ("llama", "moe", "gemma")}
    for d in dirs.values():
        os.makedirs(d)
    llama = write_replica(os.path.join(dirs["llama"], "llama-3.1-8b-Q4_K_M"), "llama-3.1-8b", "q4_k_m")
    llama8 = write_replica(os.path.join(dirs["llama"], "llama-3.1-8b-Q8_0"), "llama-3.1-8b", "q8_0")
    mmproj = write_mmproj(os.path.join(dirs["llama"], "mmproj-llama-f16.gguf"))
    moe = write_replica(os.path.join(dirs["moe"], "qwen3-30b-a3b-Q4_K_M"), "qwen3-30b-a3b", "q4_k_m",
                        shards=3)
    moe_shards = sorted(os.path.join(dirs["moe"], n) for n in os.listdir(dirs["moe"]))
    gemma = write_replica(os.path.join(dirs["gemma"], "gemma-3-4b-Q8_0"), "gemma-3-4b", "q8_0")
    manifest = S.manifest([
        S.repo("test-org/Llama-8B-GGUF", hub_files([llama, llama8, mmproj], dirs["llama"])),
        S.repo("test-org/MoE-GGUF", hub_files(moe_shards, dirs["moe"])),
        S.repo("test-org/Gemma-GGUF", hub_files([gemma], dirs["gemma"])),
    ])
    with HubProcess(manifest, workdir=os.path.join(workdir, "hub")) as hub:
        m = mounts.new(opts=["catalog=none", "endpoint=" + hub.url])
        with open(m.file(".control", "register"), "w") as f:
            f.write("test-org/Llama-8B-GGUF\ntest-org/MoE-GGUF\ntest-org/Gemma-GGUF\n")
        for repo_id, firsts, proj in (("test-org/Llama-8B-GGUF", [llama, llama8], mmproj),
                                      ("test-org/MoE-GGUF", [moe], None),
                                      ("test-org/Gemma-GGUF", [gemma], None)):
            v = registered(m, repo_id)
            assert len(v["quantizations"]) == len(firsts), v
            for qi, first in zip(sorted(v["quantizations"], key=lambda x: x["name"]), firsts):
                assert_as_estimated(m, (v["family"], v["variant"], qi["name"]), first, proj)
        # Registering one quant again keeps the other's tensor table.
        with open(m.file(".control", "register"), "w") as f:
            f.write("test-org/Llama-8B-GGUF:q8_0\n")
        v = registered(m, "test-org/Llama-8B-GGUF")
        assert sorted(x["name"] for x in v["quantizations"]) == ["q4_k_m", "q8_0"]
        assert_as_estimated(m, (v["family"], v["variant"], "q4_k_m"), llama, mmproj)


def test_local_registration_refreshes_the_tensor_table(mounts, workdir):
    """A local file registered, then replaced by another quantization under
    the same name and registered again: vram@ follows the new tensors."""
    d = os.path.join(workdir, "models", "Tiny-GGUF")
    os.makedirs(d)
    base = os.path.join(d, "tiny-Q8_0")
    path = write_replica(base, "llama-3.1-8b", "q4_k_m")
    m = mounts.new(opts=["catalog=none", "offline"])
    with open(m.file(".control", "register"), "w") as f:
        f.write(path + "\n")
    v = registered(m, d)
    q = (v["family"], v["variant"], v["quantizations"][0]["name"])
    before = vram_json(m, q, "ctx=8192,ngl=9")
    assert before == json.loads(estimate_cli(path, ["--ctx", "8192", "--ngl", "9", "--json"]))
    write_replica(base, "llama-3.1-8b", "q8_0")
    with open(m.file(".control", "register"), "w") as f:
        f.write(path + "\n")
    after = vram_json(m, q, "ctx=8192,ngl=9")
    assert after == json.loads(estimate_cli(path, ["--ctx", "8192", "--ngl", "9", "--json"]))
    assert after["weights_source"] == "gguf-header"
    assert after["weights_bytes"] > before["weights_bytes"]
