"""Builders for hubsim manifests, and the repos most tests want.

A manifest is plain JSON (README.md, "Manifest"); these functions only save
typing and keep the repo shapes of the integration tests in one place:

    from scenarios import gguf, split_gguf, text, json_file, repo, manifest
    m = manifest([repo("acme/Tiny-GGUF", [gguf("tiny-Q4_K_M.gguf", ftype="q4_k_m")])])
    with HubProcess(m, workdir=tmp) as hub: ...

standard_manifest() holds one repo per registration case of issue 5
(single quant, quants in subfolders, split shards, a vision projector,
gated, private, no GGUF at all, a malformed header, a renamed repo, a
second revision) with the tokens that open them (TOKEN_GRANTED,
TOKEN_OTHER).  GGUF files are ggufgen replicas whose data section is a
computed fill, so their size costs no memory or disk.
"""

TOKEN_GRANTED = "hf_granted0123456789"
TOKEN_OTHER = "hf_nogrant0123456789"


def text(path, s, **kw):
    return dict({"path": path, "text": s}, **kw)


def json_file(path, obj, **kw):
    return dict({"path": path, "json": obj}, **kw)


def raw(path, data, **kw):
    """A file of the given bytes (base64 in the manifest)."""
    import base64
    return dict({"path": path, "base64": base64.b64encode(bytes(data)).decode()}, **kw)


def sized(path, size, fill="zeros", **kw):
    """size bytes of fill ("zeros" or "pattern"; seed= picks the pattern)."""
    return dict({"path": path, "size": int(size), "fill": fill}, **kw)


def gguf(path, fill="zeros", seed=0, sha256=None, lfs=None, **replica):
    """A GGUF file from ggufgen.replica(**replica): arch, n_layers, hidden,
    heads, kv_heads, ffn, vocab, tied, ftype, ctx, name, vocab_arrays,
    version, alignment, rope_theta."""
    spec = {"path": path, "gguf_replica": replica, "fill": fill, "seed": seed}
    if sha256 is not None:
        spec["sha256"] = sha256
    if lfs is not None:
        spec["lfs"] = lfs
    return spec


def split_gguf(prefix, n_shards, **kw):
    """PREFIX-00001-of-0000N.gguf ... as llama.cpp's gguf-split names them."""
    replica = {k: v for k, v in kw.items() if k not in ("fill", "seed", "sha256", "lfs")}
    replica["n_shards"] = n_shards
    spec = {"path": prefix, "gguf_replica": replica}
    for k in ("fill", "seed", "sha256", "lfs"):
        if k in kw:
            spec[k] = kw[k]
    return spec


def gguf_spec(path, metadata, tensors=(), size=None, version=3, alignment=None, **kw):
    """A GGUF header from ggufgen.build(metadata, tensors); size pads (or
    truncates) the file, the data section being the fill."""
    g = {"metadata": list(metadata), "tensors": list(tensors), "version": version}
    if alignment is not None:
        g["alignment"] = alignment
    spec = dict({"path": path, "gguf": g}, **kw)
    if size is not None:
        spec["size"] = int(size)
    return spec


def hostile_gguf(path, case, size=None, **kw):
    """One of ggufgen.HOSTILE's malformed headers (bad_magic, version4, ...)."""
    spec = dict({"path": path, "gguf_hostile": case, "lfs": True}, **kw)
    if size is not None:
        spec["size"] = int(size)
    return spec


def repo(rid, files=(), private=False, gated=False, tokens=(), info=None, **kw):
    spec = {"id": rid, "files": list(files), "private": private, "gated": gated,
            "tokens": list(tokens)}
    if info:
        spec["info"] = info
    spec.update(kw)
    return spec


def manifest(repos, tokens=(), renames=None, faults=None, **kw):
    m = {"repos": list(repos), "tokens": list(tokens)}
    if renames:
        m["renames"] = dict(renames)
    if faults:
        m["faults"] = faults
    m.update(kw)
    return m


README = "---\nlicense: apache-2.0\ntags:\n- gguf\n---\n# %s\n\nA test repo served by hubsim.\n"

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
    "intermediate_size": 512, "num_attention_heads": 4, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "vocab_size": 1024, "max_position_embeddings": 8192,
    "rope_theta": 500000.0, "torch_dtype": "bfloat16",
}

TINY = dict(arch="llama", n_layers=2, hidden=256, heads=4, kv_heads=2, ffn=512, vocab=1024)


def standard_repos():
    """One repo per registration case (ids under test-org/)."""
    org = "test-org"
    tiny = "%s/Tiny-Llama-GGUF" % org
    return [
        repo(tiny, [
            text("README.md", README % "Tiny-Llama-GGUF"),
            gguf("tiny-llama-Q4_K_M.gguf", ftype="q4_k_m", name="Tiny Llama", **TINY),
            gguf("tiny-llama-Q8_0.gguf", ftype="q8_0", name="Tiny Llama", **TINY),
        ]),
        repo("%s/Multi-Quant-GGUF" % org, [
            text("README.md", README % "Multi-Quant-GGUF"),
            gguf("Q4_K_M/multi-Q4_K_M.gguf", ftype="q4_k_m", **TINY),
            gguf("Q5_K_M/multi-Q5_K_M.gguf", ftype="q5_k_m", **TINY),
            split_gguf("Q8_0/multi-Q8_0", 2, ftype="q8_0", **TINY),
        ]),
        repo("%s/Split-GGUF" % org, [
            text("README.md", README % "Split-GGUF"),
            split_gguf("split-Q4_K_M", 3, ftype="q4_k_m", **TINY),
        ]),
        repo("%s/Vision-GGUF" % org, [
            text("README.md", README % "Vision-GGUF"),
            gguf("vision-Q4_K_M.gguf", ftype="q4_k_m", **TINY),
            gguf("mmproj-vision-f16.gguf", arch="clip", ftype="f16", n_layers=1, hidden=64,
                 heads=2, kv_heads=2, ffn=128, vocab=32, vocab_arrays=False),
        ]),
        repo("%s/Gated-GGUF" % org, [
            text("README.md", README % "Gated-GGUF"),
            gguf("gated-Q4_K_M.gguf", ftype="q4_k_m", **TINY),
        ], gated="manual", tokens=[TOKEN_GRANTED]),
        repo("%s/Private-GGUF" % org, [
            gguf("private-Q4_K_M.gguf", ftype="q4_k_m", **TINY),
        ], private=True, tokens=[TOKEN_GRANTED]),
        repo("%s/No-GGUF" % org, [
            text("README.md", README % "No-GGUF"),
            json_file("config.json", LLAMA_CONFIG),
            sized("model.safetensors", 4 << 20, fill="pattern", seed=5),
        ]),
        repo("%s/Bad-Header-GGUF" % org, [
            hostile_gguf("bad-Q4_K_M.gguf", "bad_magic", size=1 << 20),
        ]),
        repo("%s/Truncated-GGUF" % org, [
            hostile_gguf("truncated-Q4_K_M.gguf", "truncated_in_kv"),
        ]),
        {"id": "%s/Two-Revisions-GGUF" % org, "revisions": [
            {"branches": [], "tags": ["v1"], "files": [
                text("README.md", README % "Two-Revisions-GGUF"),
                gguf("two-Q4_K_M.gguf", ftype="q4_k_m", **TINY)]},
            {"branches": ["main"], "base": "v1", "files": [
                gguf("two-Q8_0.gguf", ftype="q8_0", **TINY)]},
        ]},
        repo("%s/With-Config-GGUF" % org, [
            json_file("config.json", LLAMA_CONFIG),
            gguf("withcfg-Q4_K_M.gguf", ftype="q4_k_m", **TINY),
        ]),
    ]


def standard_manifest(**kw):
    """standard_repos() with their tokens and a renamed repo
    (test-org/Old-Name-GGUF -> test-org/Tiny-Llama-GGUF)."""
    return manifest(standard_repos(), tokens=[TOKEN_GRANTED, TOKEN_OTHER],
                    renames={"test-org/Old-Name-GGUF": "test-org/Tiny-Llama-GGUF"}, **kw)


def big_repo(rid="test-org/Big-GGUF", n_layers=80, hidden=8192, heads=64, kv_heads=8,
             ffn=28672, vocab=128256, ftype="q4_k_m", sha256="fake", **kw):
    """A llama-70B-shaped replica (about 40 GB, all fill): for measuring the
    bytes registration fetches.  sha256="fake" skips hashing 40 GB (a full
    download then fails verification); pass "auto" to hash it (once, then
    cached in hubsim's cache directory)."""
    return repo(rid, [gguf("big-%s.gguf" % ftype.upper(), ftype=ftype, n_layers=n_layers,
                           hidden=hidden, heads=heads, kv_heads=kv_heads, ffn=ffn,
                           vocab=vocab, sha256=sha256)], **kw)
