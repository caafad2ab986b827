#!/usr/bin/env python3
"""replica: zero-weight GGUF replicas of real model architectures.

A replica is a GGUF file that llama.cpp loads exactly as it loads the real
model: the same metadata keys, the same tensor names and shapes, the same
per-tensor ggml types, only the weights are a sparse hole (zeros).  Loading
one with mmap costs no disk and little memory, so llama.cpp's own buffer
sizes (weights, KV cache, compute, output) can be measured for models of any
size.  tests/bench/groundtruth/ uses these files to record what llama.cpp
allocates; the VRAM estimator's benchmark compares itself against that.

What is replicated, and from where (llama.cpp source, read at the version
node-llama-cpp 3.22.1 bundles, tag v0.5.0, and convert_hf_to_gguf):

  * Tensors: the names and ggml shapes (ne0 first) that each architecture's
    load_arch_tensors() in src/models/<arch>.cpp creates, for llama, qwen2,
    qwen3, gemma3, phi3, qwen3moe and deepseek2.  Optional tensors are
    present when the real checkpoints have them (Qwen2 Q/K/V biases, Llama 3
    rope_freqs, DeepSeek exp_probs_b); tied embeddings leave output.weight
    out, as convert_hf_to_gguf does.  DeepSeek2 uses the split MLA layout
    (attn_k_b, attn_v_b) that current convert scripts write.
  * Order: tensors are written in llama_model_loader's weights_map order
    (layer number, then name), which is the order llama-quantize writes.
  * Types: the type llama-quantize gives each tensor for a file type, ported
    from src/llama-quant.cpp (tensor_allows_quantization, tensor_get_category,
    llama_tensor_get_type_impl, tensor_type_fallback) with no imatrix, no
    overrides, not pure.  Tensors llama-quantize does not touch keep what
    convert_hf_to_gguf gives them: F32 for 1-D tensors, norms, biases and
    ffn_gate_inp; F16 (the convert default) for other matrices.  F16 and
    BF16 files are what convert writes directly.  How exact: `selfcheck`
    compares this port with llama.cpp's own snapshot files
    (tests/snapshots/*.schema, llama.cpp's test-quant-type-selection data)
    and agrees on every tensor of every file type for the models it can
    build; the 70B attn_v rule uses llama.cpp's per-architecture model-type
    table only for llama and qwen2.
  * Metadata: general.*, the <arch>.* hyperparameters the loader reads
    (those in the spec's "hparams", written with their GGUF key names), and
    a minimal SentencePiece ("llama") vocabulary of exactly n_vocab unique
    tokens: <unk>, <s>, </s>, the 256 byte tokens, then filler, with
    tokenizer.ggml.scores and token_type arrays of the same length and the
    spec's bos/eos/pad ids.  llama.cpp's vocab loader needs only
    tokenizer.ggml.model and tokenizer.ggml.tokens (unique strings; scores
    and token_type optional but at least n_vocab long when present); SPM
    needs no merges and finds its newline byte token.  n_vocab, which sizes
    the output buffer, is the token count.

A spec is the JSON format of ../shared/fixtures/groundtruth/<spec>.json:
{"name", "arch", "hparams": {GGUF key without "<arch>.": value},
 "tokenizer": {"n_vocab", "bos", "eos", ...}, "layout": {flags}}.
Layout flags: rope_freqs, qkv_bias, qk_norm, fused_qkv, fused_gate_up,
tied, post_norms, exp_probs_b.

Command line:

    replica.py write SPEC.json FTYPE OUT.gguf   write a replica (FTYPE: q4_k_m, q8_0, f16, ...)
    replica.py list SPEC.json FTYPE             the tensor table: name, type, shape, bytes
    replica.py selfcheck SNAPSHOT_DIR           compare the quant mix with llama.cpp's snapshots
    replica.py fixturecheck JSONL SPEC_DIR...   compare tensor bytes with measured weight buffers

fixturecheck reads llama.cpp runs in the llamacpp-cpu.jsonl format and, for
every spec and file type measured without weight repacking, checks that the
replica's tensor data (first tensor to end of last, which is what llama.cpp
maps as its CPU_Mapped buffer) matches buffers_mib.model_CPU_Mapped to
0.01 MiB.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ggufgen  # noqa: E402

GGML_TYPES = ggufgen.GGML_TYPES

# llama_ftype_get_default_type (src/llama-quant.cpp), by ggufgen.FTYPES name.
FTYPE_DEFAULT = {
    "f32": "f32", "f16": "f16", "bf16": "bf16", "q4_0": "q4_0", "q4_1": "q4_1",
    "q5_0": "q5_0", "q5_1": "q5_1", "q8_0": "q8_0", "q2_k": "q2_K", "q2_k_s": "q2_K",
    "q3_k_s": "q3_K", "q3_k_m": "q3_K", "q3_k_l": "q3_K", "q4_k_s": "q4_K",
    "q4_k_m": "q4_K", "q5_k_s": "q5_K", "q5_k_m": "q5_K", "q6_k": "q6_K",
    "iq2_xxs": "iq2_xxs", "iq2_xs": "iq2_xs", "iq2_s": "iq2_xs", "iq2_m": "iq2_s",
    "iq3_xxs": "iq3_xxs", "iq3_xs": "iq3_s", "iq3_s": "iq3_s", "iq3_m": "iq3_s",
    "iq1_s": "iq1_s", "iq1_m": "iq1_m", "iq4_nl": "iq4_nl", "iq4_xs": "iq4_xs",
    "tq1_0": "tq1_0", "tq2_0": "tq2_0", "mxfp4_moe": "mxfp4",
}
FLOAT_TYPES = ("f32", "f16", "bf16")

# llama-quantize's names (the snapshot sections) to ggufgen.FTYPES names.
FTYPE_BY_QUANTIZE_NAME = {k.upper(): k for k in FTYPE_DEFAULT}


# ------------------------------------------------------------------------
# Hyperparameters
# ------------------------------------------------------------------------

class HP:
    """The numbers the tensor table needs, read from a spec."""

    def __init__(self, spec):
        h = spec["hparams"]
        self.arch = spec["arch"]
        self.layout = spec.get("layout", {})
        self.n_layer = int(h["block_count"])
        self.n_embd = int(h["embedding_length"])
        self.n_ff = int(h.get("feed_forward_length", 0))
        self.n_head = int(h["attention.head_count"])
        self.n_head_kv = int(h.get("attention.head_count_kv", self.n_head))
        self.hd_k = int(h.get("attention.key_length", self.n_embd // self.n_head))
        self.hd_v = int(h.get("attention.value_length", self.hd_k))
        self.n_rot = int(h.get("rope.dimension_count", self.hd_k))
        self.n_vocab = int(spec["tokenizer"]["n_vocab"])
        self.n_expert = int(h.get("expert_count", 0))
        self.n_expert_shared = int(h.get("expert_shared_count", 0))
        self.n_ff_exp = int(h.get("expert_feed_forward_length", 0))
        self.n_dense_lead = int(h.get("leading_dense_block_count", 0))
        self.q_lora = int(h.get("attention.q_lora_rank", 0))
        self.kv_lora = int(h.get("attention.kv_lora_rank", 0))
        self.hd_k_mla = int(h.get("attention.key_length_mla", 0))
        self.hd_v_mla = int(h.get("attention.value_length_mla", 0))

    def n_gqa(self):
        """llama_hparams::n_gqa(): heads per KV head, 0 without KV heads."""
        return self.n_head // self.n_head_kv if self.n_head_kv else 0

    def is_70b(self):
        """LLM_TYPE_70B as load_arch_hparams sets it (llama, qwen2)."""
        if self.arch == "llama":
            return self.n_layer == 80 and self.n_head != self.n_head_kv
        if self.arch == "qwen2":
            return self.n_layer == 80
        return False


# ------------------------------------------------------------------------
# Tensor tables (src/models/<arch>.cpp load_arch_tensors)
# ------------------------------------------------------------------------

def _attn_standard(hp, p):
    lay = hp.layout
    q, k, v = hp.n_head * hp.hd_k, hp.n_head_kv * hp.hd_k, hp.n_head_kv * hp.hd_v
    t = []
    if lay.get("fused_qkv"):
        t.append((p + "attn_qkv.weight", [hp.n_embd, q + k + v]))
    else:
        t += [(p + "attn_q.weight", [hp.n_embd, q]),
              (p + "attn_k.weight", [hp.n_embd, k]),
              (p + "attn_v.weight", [hp.n_embd, v])]
    if lay.get("qkv_bias"):
        t += [(p + "attn_q.bias", [q]), (p + "attn_k.bias", [k]), (p + "attn_v.bias", [v])]
    if lay.get("qk_norm"):
        t += [(p + "attn_q_norm.weight", [hp.hd_k]), (p + "attn_k_norm.weight", [hp.hd_k])]
    t.append((p + "attn_output.weight", [hp.n_head * hp.hd_v, hp.n_embd]))
    return t


def _attn_mla(hp, p):
    """deepseek2: low-rank Q (optional), compressed KV, split k_b / v_b."""
    n_rope = hp.n_rot
    nope = hp.hd_k_mla - n_rope
    t = [(p + "attn_kv_a_norm.weight", [hp.kv_lora])]
    if hp.q_lora:
        t += [(p + "attn_q_a_norm.weight", [hp.q_lora]),
              (p + "attn_q_a.weight", [hp.n_embd, hp.q_lora]),
              (p + "attn_q_b.weight", [hp.q_lora, hp.n_head * hp.hd_k_mla])]
    else:
        t.append((p + "attn_q.weight", [hp.n_embd, hp.n_head * hp.hd_k_mla]))
    t += [(p + "attn_kv_a_mqa.weight", [hp.n_embd, hp.kv_lora + n_rope]),
          (p + "attn_k_b.weight", [nope, hp.kv_lora, hp.n_head]),
          (p + "attn_v_b.weight", [hp.kv_lora, hp.hd_v_mla, hp.n_head]),
          (p + "attn_output.weight", [hp.n_head * hp.hd_v_mla, hp.n_embd])]
    return t


def _ffn_dense(hp, p, n_ff):
    if hp.layout.get("fused_gate_up"):
        return [(p + "ffn_up.weight", [hp.n_embd, 2 * n_ff]),
                (p + "ffn_down.weight", [n_ff, hp.n_embd])]
    return [(p + "ffn_gate.weight", [hp.n_embd, n_ff]),
            (p + "ffn_up.weight", [hp.n_embd, n_ff]),
            (p + "ffn_down.weight", [n_ff, hp.n_embd])]


def _ffn_moe(hp, p):
    e, f = hp.n_expert, hp.n_ff_exp
    t = [(p + "ffn_gate_inp.weight", [hp.n_embd, e])]
    if hp.layout.get("exp_probs_b"):
        t.append((p + "exp_probs_b.bias", [e]))
    t += [(p + "ffn_gate_exps.weight", [hp.n_embd, f, e]),
          (p + "ffn_up_exps.weight", [hp.n_embd, f, e]),
          (p + "ffn_down_exps.weight", [f, hp.n_embd, e])]
    if hp.n_expert_shared:
        s = f * hp.n_expert_shared
        t += [(p + "ffn_gate_shexp.weight", [hp.n_embd, s]),
              (p + "ffn_up_shexp.weight", [hp.n_embd, s]),
              (p + "ffn_down_shexp.weight", [s, hp.n_embd])]
    return t


ARCHS = ("llama", "qwen2", "qwen3", "gemma3", "phi3", "qwen3moe", "deepseek2")


def tensor_table(spec):
    """[(name, shape)] for a spec, in no particular order."""
    hp = HP(spec)
    if hp.arch not in ARCHS:
        raise ValueError("no tensor table for architecture %r" % hp.arch)
    lay = hp.layout
    t = [("token_embd.weight", [hp.n_embd, hp.n_vocab]),
         ("output_norm.weight", [hp.n_embd])]
    if not lay.get("tied"):
        t.append(("output.weight", [hp.n_embd, hp.n_vocab]))
    if lay.get("rope_freqs"):
        t.append(("rope_freqs.weight", [hp.n_rot // 2]))
    for i in range(hp.n_layer):
        p = "blk.%d." % i
        t.append((p + "attn_norm.weight", [hp.n_embd]))
        t += _attn_mla(hp, p) if hp.arch == "deepseek2" else _attn_standard(hp, p)
        if lay.get("post_norms"):
            t += [(p + "post_attention_norm.weight", [hp.n_embd]),
                  (p + "post_ffw_norm.weight", [hp.n_embd])]
        t.append((p + "ffn_norm.weight", [hp.n_embd]))
        if hp.n_expert and i >= hp.n_dense_lead:
            t += _ffn_moe(hp, p)
        else:
            t += _ffn_dense(hp, p, hp.n_ff)
    return t


def _layer_of(name):
    if name.startswith("blk."):
        return int(name.split(".")[1])
    return -1


def loader_order(tensors):
    """llama_model_loader::weight_name_comparer: layer (-1 first), then name."""
    return sorted(tensors, key=lambda t: (_layer_of(t[0]), t[0]))


# ------------------------------------------------------------------------
# The quant mix (src/llama-quant.cpp)
# ------------------------------------------------------------------------

def allows_quantization(name, shape):
    """tensor_allows_quantization, for the tensor names these archs have."""
    if len(shape) < 2 or not name.endswith("weight"):
        return False
    banned = ("_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup",
              "laurel", "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
              "attn_rel_b.weight", "time_mix_", "position_embd", ".rel_pos",
              ".patch_embd", ".patch_merger")
    if any(b in name for b in banned):
        return False
    return name not in ("position_embd.weight", "token_types.weight")


def category(name):
    """tensor_get_category: the first match wins, in llama.cpp's order."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for key, cat in (("attn_qkv.weight", "attn_qkv"), ("attn_kv_b.weight", "attn_kv_b"),
                     ("attn_v.weight", "attn_v"), ("attn_k.weight", "attn_k"),
                     ("attn_q.weight", "attn_q"), ("attn_output.weight", "attn_output"),
                     ("ffn_up", "ffn_up"), ("ffn_gate", "ffn_gate"), ("ffn_down", "ffn_down")):
        if key in name:
            return cat
    return "other"


def _attn_v_like(cat):
    return cat in ("attn_v", "attn_qkv", "attn_kv_b")


def _blck(t):
    return GGML_TYPES[t][1]


def _use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


class QuantState:
    """quantize_state_impl: counters that follow the weights_map order."""

    def __init__(self, hp, names):
        self.hp = hp
        self.n_attention_wv = sum(1 for n in names if _attn_v_like(category(n)))
        self.tied = "output.weight" not in names
        self.n_ffn = hp.n_layer
        self.i_attention_wv = 0
        self.i_ffn_down = 0
        self.i_ffn_gate = 0
        self.i_ffn_up = 0

    def layer_info(self, counter, name):
        if max(1, self.hp.n_expert) > 1:
            return _layer_of(name), self.n_ffn
        return counter, self.n_ffn


def _fallback(t, ne0):
    """tensor_type_fallback: a type whose block fits the row length."""
    if ne0 % _blck(t) == 0:
        return t
    to = {"iq1_s": "iq4_nl", "iq1_m": "iq4_nl", "iq2_xxs": "iq4_nl", "iq2_xs": "iq4_nl",
          "iq2_s": "iq4_nl", "iq3_xxs": "iq4_nl", "iq3_s": "iq4_nl", "iq4_xs": "iq4_nl",
          "q2_K": "q4_0", "q3_K": "q4_0", "tq1_0": "q4_0", "tq2_0": "q4_0",
          "q4_K": "q5_0", "q5_K": "q5_1", "q6_K": "q8_0"}.get(t, t)
    return to if ne0 % _blck(to) == 0 else "f16"


def _impl(qs, t, name, shape, ft, cat):
    """llama_tensor_get_type_impl, without imatrix (has_imatrix false)."""
    hp = qs.hp
    n_gqa = hp.n_gqa()
    n_expert = hp.n_expert
    iq_low = ("iq2_xxs", "iq2_xs", "iq1_s", "iq2_s", "iq2_m", "iq1_m")
    if cat == "output" or (qs.tied and cat == "token_embd"):
        if ft == "mxfp4_moe":
            return "q8_0"
        if shape[0] % _blck(t):
            return "q8_0"
        if ft in ("iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq2_s", "iq2_m", "iq1_m"):
            return "q5_K"
        return t if t == "q8_0" else "q6_K"
    if ft == "mxfp4_moe":
        return "mxfp4" if len(shape) > 2 and shape[2] > 1 else "q8_0"
    if cat == "token_embd":
        if ft in ("iq2_xxs", "iq2_xs", "iq1_s", "iq1_m"):
            return "q2_K"
        if ft in ("iq2_s", "iq2_m", "iq3_xxs"):
            return "iq3_s"
        if ft in ("tq1_0", "tq2_0"):
            return "q4_K"
        return t
    if ft in iq_low:
        if _attn_v_like(cat):
            if n_gqa >= 4 or n_expert >= 4:
                t = "q4_K"
            else:
                t = "iq3_s" if ft in ("iq2_s", "iq2_m") else "q2_K"
            qs.i_attention_wv += 1
        elif n_expert == 8 and cat == "attn_k":
            t = "q4_K"
        elif cat == "ffn_down":
            if qs.i_ffn_down < qs.n_ffn // 8:
                t = "iq3_s" if ft in ("iq2_s", "iq2_m") else "q2_K"
            qs.i_ffn_down += 1
        elif cat == "attn_output":
            if n_expert == 8:
                t = "q5_K"
            elif ft in ("iq1_s", "iq1_m"):
                t = "iq2_xxs"
            elif ft in ("iq2_s", "iq2_m"):
                t = "iq3_s"
        return t
    if _attn_v_like(cat):
        i, n = qs.i_attention_wv, qs.n_attention_wv
        if ft == "q2_k":
            t = "q4_K" if n_gqa >= 4 else "q3_K"
        elif ft == "q2_k_s" and n_gqa >= 4:
            t = "q4_K"
        elif ft == "iq3_xxs":
            t = "q4_K" if n_gqa >= 4 else "iq3_s"
        elif ft in ("iq3_xs", "iq3_s") and n_gqa >= 4:
            t = "q4_K"
        elif ft == "iq3_m":
            t = "q4_K"
        elif ft == "q3_k_m":
            t = "q5_K" if i < 2 else "q4_K"
        elif ft == "q3_k_l":
            t = "q5_K"
        elif ft in ("iq4_nl", "iq4_xs") and n_gqa >= 4:
            t = "q5_K"
        elif ft in ("q4_k_m", "q5_k_m") and _use_more_bits(i, n):
            t = "q6_K"
        elif ft == "q4_k_s" and i < 4:
            t = "q5_K"
        if hp.is_70b() and t in ("q3_K", "q4_K"):
            t = "q5_K"
        if n_expert == 8:
            t = "q8_0"
        qs.i_attention_wv += 1
        return t
    if cat == "attn_k":
        if n_expert == 8:
            return "q8_0"
        if ft == "iq3_xs":
            return "iq3_xxs"
        if ft == "iq3_xxs":
            return "iq2_s"
        return t
    if cat == "attn_q":
        if ft == "iq3_xs":
            return "iq3_xxs"
        if ft == "iq3_xxs":
            return "iq2_s"
        return t
    if cat == "ffn_down":
        i, n = qs.layer_info(qs.i_ffn_down, name)
        falcon = hp.arch == "falcon"
        if ft == "q2_k":
            t = "q3_K"
        elif ft == "q2_k_s":
            if i < n // 8:
                t = "q4_K"
        elif ft == "iq3_xxs":
            t = "q4_K" if i < n // 8 else "q3_K"
        elif ft == "q3_k_m":
            t = ("q5_K" if i < n // 16 else
                 "q4_K" if (not falcon or _use_more_bits(i, n)) else "q3_K")
        elif ft == "iq3_m" and (i < n // 8 or (n_expert == 8 and _use_more_bits(i, n))):
            t = "q4_K"
        elif ft == "q3_k_l":
            t = "q4_K" if falcon else "q5_K"
        elif ft == "q4_k_m":
            if falcon:
                t = "q6_K" if i < n // 16 else "q5_K" if _use_more_bits(i, n) else "q4_K"
            elif _use_more_bits(i, n):
                t = "q6_K"
        elif i < n // 8 and ft in ("iq4_nl", "iq4_xs"):
            t = "q5_K"
        elif ft == "q5_k_m" and _use_more_bits(i, n):
            t = "q6_K"
        elif ft == "q4_k_s" and not falcon and i < n // 8:
            t = "q5_K"
        qs.i_ffn_down += 1
        return t
    if cat == "attn_output":
        if hp.arch != "falcon":
            if n_expert == 8:
                if ft in ("q2_k", "iq3_xs", "iq3_xxs", "q3_k_s", "q3_k_m", "iq4_nl",
                          "q4_k_s", "q4_k_m", "iq3_s", "iq3_m", "iq4_xs"):
                    t = "q5_K"
            else:
                t = {"q2_k": "q3_K", "iq3_xxs": "iq3_s", "q3_k_m": "q4_K",
                     "q3_k_l": "q5_K", "iq3_m": "q4_K"}.get(ft, t)
        elif ft == "q3_k_l":
            t = "q4_K"
        return t
    if cat in ("ffn_gate", "ffn_up"):
        counter = qs.i_ffn_gate if cat == "ffn_gate" else qs.i_ffn_up
        i, n = qs.layer_info(counter, name)
        if ft == "iq3_xs" and n // 8 <= i < 7 * n // 8:
            t = "iq3_xxs"
        if cat == "ffn_gate":
            qs.i_ffn_gate += 1
        else:
            qs.i_ffn_up += 1
        return t
    return t


def source_type(name, shape, ftype):
    """What convert_hf_to_gguf writes for a tensor (the llama-quantize input)."""
    if len(shape) <= 1 or name.endswith("_norm.weight") or "ffn_gate_inp" in name:
        return "f32"
    if not name.endswith(".weight"):
        return "f32"
    if ftype == "f32":
        return "f32"
    if ftype == "bf16":
        return "bf16"
    return "f16"


def tensor_types(spec, ftype, tensors=None):
    """{name: ggml type} for a spec at a file type, llama-quantize's choice."""
    ftype = ftype.lower()
    if ftype not in FTYPE_DEFAULT:
        raise ValueError("unknown file type %r" % ftype)
    hp = HP(spec)
    tensors = loader_order(tensors if tensors is not None else tensor_table(spec))
    names = [n for n, _ in tensors]
    default = FTYPE_DEFAULT[ftype]
    qs = QuantState(hp, names)
    out = {}
    for name, shape in tensors:
        src = source_type(name, shape, ftype)
        if ftype in FLOAT_TYPES:
            out[name] = src
            continue
        if not allows_quantization(name, shape):
            out[name] = src
            continue
        t = _impl(qs, default, name, shape, ftype, category(name))
        out[name] = _fallback(t, shape[0])
    return out


# ------------------------------------------------------------------------
# Metadata and files
# ------------------------------------------------------------------------

def _md_value(key, v):
    if isinstance(v, bool):
        return (key, "bool", v)
    if isinstance(v, int):
        return (key, "uint32", v)
    if isinstance(v, float):
        return (key, "float32", v)
    if isinstance(v, str):
        return (key, "string", v)
    if isinstance(v, list):
        et = "float32" if any(isinstance(x, float) for x in v) else "int32"
        return (key, "array", et, v)
    raise ValueError("cannot write %s=%r" % (key, v))


def vocab(n_vocab):
    """n_vocab unique SentencePiece tokens: specials, 256 bytes, filler."""
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    toks = toks[:n_vocab]
    types = types[:n_vocab]
    toks += ["t%d" % i for i in range(len(toks), n_vocab)]
    types += [1] * (n_vocab - len(types))
    return toks, types


def metadata(spec, ftype):
    arch = spec["arch"]
    tok = spec["tokenizer"]
    n_vocab = int(tok["n_vocab"])
    md = [("general.architecture", "string", arch),
          ("general.type", "string", "model"),
          ("general.name", "string", spec.get("name", arch)),
          ("general.file_type", "uint32", ggufgen.FTYPES[ftype]),
          ("general.quantization_version", "uint32", 2)]
    for k, v in spec["hparams"].items():
        md.append(_md_value(arch + "." + k, v))
    toks, types = vocab(n_vocab)
    md += [("tokenizer.ggml.model", "string", "llama"),
           ("tokenizer.ggml.tokens", "array", "string", toks),
           ("tokenizer.ggml.scores", "array", "float32", [0.0] * n_vocab),
           ("tokenizer.ggml.token_type", "array", "int32", types)]
    for k in ("bos", "eos", "unk", "pad"):
        if k in tok:
            md.append(("tokenizer.ggml.%s_token_id" % k, "uint32", int(tok[k])))
    md.append(("tokenizer.ggml.add_bos_token", "bool", True))
    return md


def build(spec, ftype):
    """(metadata, tensors) of a replica; tensors in llama-quantize's order."""
    ftype = ftype.lower()
    tensors = loader_order(tensor_table(spec))
    types = tensor_types(spec, ftype, tensors)
    return metadata(spec, ftype), [{"name": n, "shape": s, "type": types[n]} for n, s in tensors]


def write(spec, ftype, path):
    md, tensors = build(spec, ftype)
    info = ggufgen.write(path, md, tensors, data="sparse")
    info["data_bytes"] = info["size"] - info["header_bytes"]
    return info


def load_spec(path):
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------------
# selfcheck: the port against llama.cpp's own quant-type snapshots
# ------------------------------------------------------------------------

# Specs for the snapshot models whose tensor tables this module builds:
# the header line's numbers plus what the checkpoints' configs add.
SNAPSHOT_SPECS = {
    "gemma-3-4b-it": ("gemma3", {"attention.key_length": 256, "attention.value_length": 256},
                      {"tied": True, "qk_norm": True, "post_norms": True}),
    "qwen3-0.6b": ("qwen3", {"attention.key_length": 128, "attention.value_length": 128},
                   {"qk_norm": True}),
    "qwen3-14b": ("qwen3", {"attention.key_length": 128, "attention.value_length": 128},
                  {"qk_norm": True}),
    "meta-llama-3.1-70b-instruct": ("llama", {}, {"rope_freqs": True}),
    "deepseek-v3.1": ("deepseek2", {"attention.q_lora_rank": 1536,
                                    "attention.kv_lora_rank": 512,
                                    "attention.key_length": 576, "attention.value_length": 512,
                                    "attention.key_length_mla": 192,
                                    "attention.value_length_mla": 128,
                                    "rope.dimension_count": 64,
                                    "expert_feed_forward_length": 2048,
                                    "expert_shared_count": 1,
                                    "leading_dense_block_count": 3},
                      {"exp_probs_b": True}),
}


def _snapshot_spec(name, header):
    arch, extra, layout = SNAPSHOT_SPECS[name]
    nums = dict(kv.split("=") for kv in header.replace(",", " ").split() if "=" in kv)
    h = {"block_count": int(nums["n_layer"]), "embedding_length": int(nums["n_embd"]),
         "feed_forward_length": int(nums["n_ff"]), "attention.head_count": int(nums["n_head"]),
         "attention.head_count_kv": int(nums["n_head_kv"])}
    if "n_expert" in nums:
        h["expert_count"] = int(nums["n_expert"])
    h.update(extra)
    return {"name": name, "arch": arch, "hparams": h,
            "tokenizer": {"n_vocab": int(nums["n_vocab"])}, "layout": layout}


def parse_snapshot(path):
    """{ftype: (default type, {tensor: type})} and the header line."""
    sections, header, cur = {}, "", None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("# n_embd"):
                header = line[2:]
            elif line.startswith("["):
                name, default = line[1:].split("] ")
                cur = {}
                sections[name] = (default, cur)
            elif line and not line.startswith("#") and cur is not None:
                t, ty = line.split()
                cur[t] = ty
    return header, sections


def selfcheck(snapshot_dir, out=sys.stdout):
    """Returns the number of disagreements over every buildable snapshot."""
    bad = 0
    for name in sorted(SNAPSHOT_SPECS):
        path = os.path.join(snapshot_dir, name + ".schema")
        if not os.path.exists(path):
            out.write("skip %s: no snapshot\n" % name)
            continue
        header, sections = parse_snapshot(path)
        spec = _snapshot_spec(name, header)
        tensors = tensor_table(spec)
        checked = 0
        for qname, (default, expect) in sections.items():
            ft = FTYPE_BY_QUANTIZE_NAME.get(qname)
            if ft is None:
                continue
            got = tensor_types(spec, ft, tensors)
            for tname, shape in tensors:
                if not allows_quantization(tname, shape):
                    continue
                want = expect.get(tname, default)
                if ft in FLOAT_TYPES:
                    want = default
                checked += 1
                if got[tname].lower() != want.lower():
                    bad += 1
                    if bad <= 20:
                        out.write("%s %s %s: got %s, llama.cpp %s\n"
                                  % (name, qname, tname, got[tname], want))
            for tname in expect:
                if tname not in got:
                    bad += 1
                    out.write("%s %s: snapshot tensor %s not in the table\n" % (name, qname, tname))
        out.write("%s: %d tensor types checked\n" % (name, checked))
    out.write("%d disagreements\n" % bad)
    return bad


def data_range_bytes(spec, ftype):
    """Bytes from the first tensor's offset to the end of the last one."""
    _, tensors = build(spec, ftype)
    laid = ggufgen.layout_tensors(tensors, ggufgen.DEFAULT_ALIGNMENT)
    return max(t["offset"] + t["size_bytes"] for t in laid) - min(t["offset"] for t in laid)


def fixturecheck(jsonl, spec_dirs, out=sys.stdout):
    """Returns the number of mismatches between replicas and measured runs."""
    seen, bad = set(), 0
    with open(jsonl) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for r in rows:
        key = (r["spec"], r["quant"])
        mapped = r["buffers_mib"].get("model_CPU_Mapped")
        if r.get("repack") or mapped is None or key in seen:
            continue
        seen.add(key)
        paths = [os.path.join(d, r["spec"] + ".json") for d in spec_dirs]
        paths = [p for p in paths if os.path.exists(p)]
        if not paths:
            out.write("skip %s %s: no spec\n" % key)
            continue
        mine = data_range_bytes(load_spec(paths[0]), r["quant"].lower()) / (1024.0 * 1024.0)
        ok = abs(mine - mapped) <= 0.01
        bad += 0 if ok else 1
        out.write("%s %s %s: replica %.2f MiB, llama.cpp %.2f MiB\n"
                  % ("ok " if ok else "BAD", key[0], key[1], mine, mapped))
    out.write("%d checked, %d mismatches\n" % (len(seen), bad))
    return bad


def main(argv):
    if len(argv) >= 4 and argv[0] == "write":
        info = write(load_spec(argv[1]), argv[2], argv[3])
        print(json.dumps({"path": info["path"], "size": info["size"],
                          "header_bytes": info["header_bytes"], "data_bytes": info["data_bytes"]}))
        return 0
    if len(argv) >= 3 and argv[0] == "list":
        _, tensors = build(load_spec(argv[1]), argv[2])
        total = 0
        for t in tensors:
            nb = ggufgen.tensor_nbytes(t["type"], t["shape"])
            total += nb
            print("%-36s %-8s %-22s %d" % (t["name"], t["type"], t["shape"], nb))
        print("total %d bytes" % total)
        return 0
    if len(argv) >= 3 and argv[0] == "fixturecheck":
        return 1 if fixturecheck(argv[1], argv[2:]) else 0
    if len(argv) >= 2 and argv[0] == "selfcheck":
        return 1 if selfcheck(argv[1]) else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
