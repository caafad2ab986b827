/*
 * vram.c - what llama.cpp allocates to run a model (SPEC §5 vram@, fit@,
 * recommend@, fits@).
 *
 * llama.cpp allocates five kinds of memory, and this file estimates each
 * the way llama.cpp sizes it, for the build the ground truth comes from
 * (b10470, commit 34af94cd; shared/fixtures/groundtruth).  node-llama-cpp
 * bundles whatever build it was released with: the layer placement and
 * context padding below changed in 2025, so older builds differ by up to
 * one layer and 255 tokens of cache.
 *
 *  - weights: the tensor bytes of the GGUF file, per llama.cpp "layer".
 *    The input layer (token embeddings) always stays in system RAM
 *    (llama-model.cpp: "there is very little benefit to offloading the
 *    input layer").  With -ngl k (llama-model.cpp load_tensors,
 *    i_gpu_start = n_layer + 1 - k) the output layer goes to the GPU first,
 *    for any k >= 1, then the last k - 1 blocks; k = n_layer + 1 is full
 *    offload.  A model without output.weight reuses token_embd, which
 *    llama.cpp then duplicates onto the output layer's device.
 *  - KV cache (llama-kv-cache.cpp): per layer, cells x row bytes of
 *    n_embd_k_gqa = kv_heads(il) x head_dim_k for K and the same with
 *    head_dim_v for V, at the cache types' block sizes.  The context is
 *    padded to 256 (llama-context.cpp, GGML_PAD(n_ctx, 256)); with -np N and
 *    the default non-unified cache every sequence has n_ctx / N cells.
 *    Sliding-window layers of the architectures llama.cpp builds with
 *    llama_kv_cache_iswa keep min(n_ctx_seq, pad256(n_swa + n_ubatch))
 *    cells per sequence.  DeepSeek MLA caches kv_lora_rank + rope_dim
 *    values per token in K and reads V as a view of it.  Recurrent layers
 *    (llama-memory-recurrent.cpp) keep one f32 state per sequence: r of
 *    (d_conv - 1) x (d_inner + 2 n_group d_state) and s of d_state x
 *    d_inner values (RWKV: 2 n_embd and n_embd x head_size).
 *  - output buffer (llama-context.cpp output_reserve): n_vocab x 4 bytes
 *    of logits per sequence, in host memory.
 *  - compute buffers: the ggml graph allocator packs the intermediate
 *    tensors of the reserve graph (one ubatch of T tokens, all of them
 *    outputs) into one buffer per device; its size is the peak of live
 *    tensors plus fragmentation.  We model three phases and take the
 *    largest, with E = n_embd T 4, Q = n_head head_dim T 4, F = n_ff T 4,
 *    L = n_vocab T 4 bytes:
 *      inputs  = E (the embeddings input tensor, never freed) + the KQ
 *                mask(s) (n_kv T, f16 with flash attention, else f32) +
 *                the K/V row indices (without flash attention V is
 *                transposed and gets one I64 index per element, T x
 *                n_embd_v_gqa x 8 bytes) + three I32 vectors;
 *      layer   = inputs + E (the residual) + max(3F (up, gate, GLU),
 *                3Q + KQ (n_kv T n_head 4 bytes, only without flash
 *                attention));
 *      output  = E + E + L (+ Q with a quantized K cache and flash
 *                attention: the Hadamard rotation of Q keeps one more
 *                query-sized tensor alive).
 *    Fitted and checked on the 155 runs of the ground truth (Llama 3.1 8B,
 *    Qwen2.5 7B, Qwen3 8B, Phi-4, a tiny Llama; ctx 512 to 128k; f16 and
 *    q8_0 caches; flash attention on and off): exact for the tiny model,
 *    Llama, Qwen2.5 and Qwen3 (0.01 MiB) except 7-8 MiB over for q8_0 at
 *    ctx <= 4096, and within 28 MiB (0.3% of the total) for Phi-4, whose
 *    fused QKV and gate/up tensors fragment differently.  MoE layers use
 *    the routed width (n_used x expert FFN, plus n_used x E for the expert
 *    outputs); recurrent layers 4 x d_inner T 4 plus the new states: those
 *    have no ground truth yet and say so in a warning.
 *  - CUDA: the context and cuBLAS/pool cost a few hundred MiB that no
 *    llama.cpp buffer shows; we count VRAM_CUDA_CONTEXT_BYTES plus the
 *    largest activation for the pool (medium confidence: 250-450 MiB
 *    depending on driver and GPU).  With full offload the GPU compute
 *    buffer holds the same graph as the CPU one, and a host buffer keeps
 *    the inputs and the embedding lookup (2E + masks + indices).  With
 *    partial offload the scheduler runs the matrix products of CPU layers
 *    on the GPU for ubatches of 32 tokens or more (op offload), copying the
 *    weights into the GPU compute buffer, so that buffer also holds the
 *    largest CPU-resident layer (or the output matrix when it stays on the
 *    CPU), and the host buffer holds the CPU layers' intermediates (low to
 *    medium confidence: read from ggml-backend.cpp's scheduler, not
 *    measured).
 *
 * A model comes either from a GGUF header (exact bytes per tensor) or from
 * an architecture and a file size; then the weights are spread over the
 * layers by parameter count, after taking off the header, which the
 * fixtures put at 25 bytes per vocabulary entry (tokens, scores, merges).
 * A quant registered from its files keeps what the headers gave as a
 * weights layout (per-block bytes and experts, input and output layers,
 * tied output, the projector's weight bytes): everything the estimate
 * reads of the tensors and nothing more, since per-tensor names, types
 * and shapes only ever reach it through these sums.  Its distinct block
 * sizes are stored once and the blocks as runs of them (quant mixes give
 * a 70B model 3 or 4 sizes), so a 70B Q4_K_M's 724 tensors become 122
 * bytes, and vram@ of the registered quant equals `modelfs estimate` of
 * its files.
 * One estimate walks the layers once: O(n_layer), no allocation, well
 * under a microsecond per layer.
 */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VRAM_MIB                  (1024ull * 1024ull)
#define VRAM_GIB                  (1024ull * VRAM_MIB)
#define VRAM_CTX_PAD              256          /* llama-context.cpp: n_ctx = GGML_PAD(n_ctx, 256) */
#define VRAM_SWA_PAD              256          /* llama-kv-cache-iswa.cpp: SWA cells padded like n_ctx */
#define VRAM_HEADER_BYTES_PER_TOK 25           /* GGUF header bytes per vocab entry (fixtures: 25.3 to 25.9) */
#define VRAM_CUDA_CONTEXT_BYTES   (300ull * VRAM_MIB)  /* CUDA context + cuBLAS handles */
#define VRAM_OP_OFFLOAD_MIN_BATCH 32           /* ggml-cuda offload_op: batch size >= 32 */
#define VRAM_SMALL_INPUTS         3            /* I32 vectors of T: tokens, positions, output ids */
#define VRAM_RWKV_TOKEN_SHIFTS    2            /* llama-hparams.cpp token_shift_count default */
#define VRAM_LAYER_MAX            (ARCH_MAX_LAYERS + 1)

/* ------------------------------------------------------------------------
 * Names and small helpers
 * ------------------------------------------------------------------------ */

const char *vram_kind_name(enum vram_kind kind)
{
	switch (kind) {
	case VRAM_KIND_VRAM: return "vram";
	case VRAM_KIND_FIT: return "fit";
	case VRAM_KIND_RECOMMEND: return "recommend";
	case VRAM_KIND_FITS: return "fits";
	}
	return "?";
}

const char *vram_fits_name(enum vram_fits f)
{
	switch (f) {
	case VRAM_FITS_FULL: return "full";
	case VRAM_FITS_PARTIAL: return "partial";
	case VRAM_FITS_NO: return "no";
	}
	return "?";
}

const char *vram_source_name(enum vram_source s)
{
	switch (s) {
	case VRAM_SRC_GGUF: return "gguf-header";
	case VRAM_SRC_FILE_SIZE: return "file-size";
	case VRAM_SRC_CATALOG: return "catalog";
	}
	return "?";
}

/* SPEC §5 cache types, as llama.cpp's -ctk/-ctv spell them. */
static const struct {
	const char *name;
	uint32_t type;
} vram_cache_types[] = {
	{ "f32", GGML_TYPE_F32 }, { "f16", GGML_TYPE_F16 }, { "bf16", GGML_TYPE_BF16 },
	{ "q8_0", GGML_TYPE_Q8_0 }, { "q5_1", GGML_TYPE_Q5_1 }, { "q5_0", GGML_TYPE_Q5_0 },
	{ "q4_1", GGML_TYPE_Q4_1 }, { "q4_0", GGML_TYPE_Q4_0 }, { "iq4_nl", GGML_TYPE_IQ4_NL },
};

static const char *vram_cache_type_name(uint32_t type)
{
	size_t i;

	for (i = 0; i < sizeof(vram_cache_types) / sizeof(vram_cache_types[0]); i++)
		if (vram_cache_types[i].type == type)
			return vram_cache_types[i].name;
	return "?";
}

static bool vram_type_is_quantized(uint32_t type)
{
	const struct ggml_type_info *t = ggml_type_by_id(type);

	return t && t->quantized;
}

static uint64_t vram_max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t vram_min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t vram_pad(uint64_t v, uint64_t to)
{
	return v > UINT64_MAX - to ? UINT64_MAX / to * to : (v + to - 1) / to * to;
}

/* Saturating arithmetic for sums over layers and tensors, whose terms a
 * hostile header can make as large as it likes (vram_check_arch bounds
 * each single product below 2^63). */
static uint64_t vram_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t vram_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t vram_ceil_mib(uint64_t bytes)
{
	return bytes / VRAM_MIB + (bytes % VRAM_MIB != 0);
}

MF_PRINTF(2, 3)
static void vram_warn(struct vram_estimate *e, const char *fmt, ...)
{
	char buf[VRAM_WARNING_BYTES] = "";
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (i = 0; i < e->n_warnings; i++)
		if (strcmp(e->warnings[i], buf) == 0)
			return;
	if (e->n_warnings < VRAM_MAX_WARNINGS)
		memcpy(e->warnings[e->n_warnings++], buf, sizeof(buf));
}

/* ------------------------------------------------------------------------
 * Parameters (SPEC §5's table)
 * ------------------------------------------------------------------------ */

enum vram_key {
	VK_CTX = 0, VK_KV, VK_CTK, VK_CTV, VK_FA, VK_UBATCH, VK_BATCH, VK_PAR, VK_NGL,
	VK_MMPROJ, VK_UNIT, VK_FORMAT, VK_VRAM, VK_PREFER, VK_N, VK_COUNT
};

#define VK_IN(k) (1u << (k))
#define VK_ALL_KINDS (VK_IN(VRAM_KIND_VRAM) | VK_IN(VRAM_KIND_FIT) | VK_IN(VRAM_KIND_RECOMMEND) | \
		      VK_IN(VRAM_KIND_FITS))

/* Which keys each kind takes: vram@ all of the table; fit@ the same but
 * unit (its values are named *_mib) plus vram=; recommend@ and fits@ the
 * context keys plus vram= (recommend@ also prefer= and n=). */
static const struct {
	const char *name;
	unsigned kinds;
} vram_keys[VK_COUNT] = {
	[VK_CTX] = { "ctx", VK_ALL_KINDS },
	[VK_KV] = { "kv", VK_ALL_KINDS },
	[VK_CTK] = { "ctk", VK_ALL_KINDS },
	[VK_CTV] = { "ctv", VK_ALL_KINDS },
	[VK_FA] = { "fa", VK_ALL_KINDS },
	[VK_UBATCH] = { "ubatch", VK_ALL_KINDS },
	[VK_BATCH] = { "batch", VK_ALL_KINDS },
	[VK_PAR] = { "par", VK_ALL_KINDS },
	[VK_NGL] = { "ngl", VK_IN(VRAM_KIND_VRAM) | VK_IN(VRAM_KIND_FIT) },
	[VK_MMPROJ] = { "mmproj", VK_ALL_KINDS },
	[VK_UNIT] = { "unit", VK_IN(VRAM_KIND_VRAM) },
	[VK_FORMAT] = { "format", VK_IN(VRAM_KIND_VRAM) | VK_IN(VRAM_KIND_FIT) },
	[VK_VRAM] = { "vram", VK_IN(VRAM_KIND_FIT) | VK_IN(VRAM_KIND_RECOMMEND) | VK_IN(VRAM_KIND_FITS) },
	[VK_PREFER] = { "prefer", VK_IN(VRAM_KIND_RECOMMEND) },
	[VK_N] = { "n", VK_IN(VRAM_KIND_RECOMMEND) },
};

void vram_params_init(struct vram_params *p, enum vram_kind kind)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->type_k = GGML_TYPE_F16;
	p->type_v = GGML_TYPE_F16;
	p->flash_attn = true;
	p->ubatch = 512;
	p->batch = 2048;
	p->par = 1;
	p->ngl = VRAM_NGL_ALL;
	p->mmproj = -1;
	p->unit = VRAM_UNIT_MIB;
	p->format = kind == VRAM_KIND_FIT ? VRAM_FORMAT_ENV : VRAM_FORMAT_NUM;
	p->prefer = VRAM_PREFER_BALANCED;
	p->n = 5;
	p->backend = VRAM_BACKEND_CUDA;
	if (kind != VRAM_KIND_VRAM)
		p->ctx_tokens = VRAM_DEFAULT_CTX;
}

static int vram_known_keys(enum vram_kind kind, char *buf, size_t size)
{
	size_t len = 0, k;
	int n;

	buf[0] = '\0';
	for (k = 0; k < VK_COUNT; k++) {
		if (!(vram_keys[k].kinds & VK_IN(kind)))
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", vram_keys[k].name);
		if (n < 0 || (size_t)n >= size - len)
			return -ERANGE;
		len += (size_t)n;
	}
	return 0;
}

/* ctx: 8192, 8k, 128k, 1m (binary k and m), or max. */
static int vram_parse_tokens(const char *v, uint64_t *out)
{
	char digits[24];
	size_t n = strlen(v);
	uint64_t mult = 1, x;

	if (strcmp(v, "max") == 0) {
		*out = VRAM_CTX_MAX;
		return 0;
	}
	if (n == 0 || n >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, v, n + 1);
	if (digits[n - 1] == 'k' || digits[n - 1] == 'K') {
		mult = 1024;
		digits[--n] = '\0';
	} else if (digits[n - 1] == 'm' || digits[n - 1] == 'M') {
		mult = 1024 * 1024;
		digits[--n] = '\0';
	}
	if (parse_u64(digits, &x) != 0 || x == 0 || x > VRAM_MAX_CTX_TOKENS / mult)
		return -EINVAL;
	*out = x * mult;
	return 0;
}

static int vram_parse_count(const char *v, uint64_t max, uint32_t *out)
{
	uint64_t x;

	if (parse_u64(v, &x) != 0 || x == 0 || x > max)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static int vram_parse_onoff(const char *v, bool *out)
{
	if (strcmp(v, "on") == 0)
		*out = true;
	else if (strcmp(v, "off") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int vram_parse_cache_type(const char *v, uint32_t *out)
{
	size_t i;

	for (i = 0; i < sizeof(vram_cache_types) / sizeof(vram_cache_types[0]); i++) {
		if (strcmp(v, vram_cache_types[i].name) == 0) {
			*out = vram_cache_types[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

/* SPEC §5: SIZE without a unit is MiB; with one, SPEC §2's SIZE. */
static int vram_parse_vram(const char *v, uint64_t *out)
{
	uint64_t x;
	size_t i;

	for (i = 0; v[i] >= '0' && v[i] <= '9'; i++)
		;
	if (i > 0 && v[i] == '\0') {
		if (parse_u64(v, &x) != 0 || x == 0 || x > UINT64_MAX / VRAM_MIB)
			return -EINVAL;
		*out = x * VRAM_MIB;
		return 0;
	}
	if (parse_size(v, &x) != 0 || x == 0)
		return -EINVAL;
	*out = x;
	return 0;
}

static int vram_parse_enum(const char *v, const char *const *names, size_t n, int *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(v, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int vram_parse_value(enum vram_key k, const char *v, struct vram_params *p,
			    uint32_t *ctk, uint32_t *ctv, uint32_t *kv)
{
	static const char *const units[] = { "mib", "gib", "b" };
	static const char *const formats[] = { "num", "text", "json", "env" };
	static const char *const prefers[] = { "balanced", "quality", "speed" };
	int e = 0, rc;

	switch (k) {
	case VK_CTX:
		return vram_parse_tokens(v, &p->ctx_tokens);
	case VK_KV:
		return vram_parse_cache_type(v, kv);
	case VK_CTK:
		return vram_parse_cache_type(v, ctk);
	case VK_CTV:
		return vram_parse_cache_type(v, ctv);
	case VK_FA:
		return vram_parse_onoff(v, &p->flash_attn);
	case VK_UBATCH:
		return vram_parse_count(v, VRAM_MAX_BATCH, &p->ubatch);
	case VK_BATCH:
		return vram_parse_count(v, VRAM_MAX_BATCH, &p->batch);
	case VK_PAR:
		return vram_parse_count(v, VRAM_MAX_PAR, &p->par);
	case VK_NGL: {
		uint64_t x;

		if (strcmp(v, "all") == 0) {
			p->ngl = VRAM_NGL_ALL;
			return 0;
		}
		if (parse_u64(v, &x) != 0 || x > VRAM_LAYER_MAX)
			return -EINVAL;
		p->ngl = (uint32_t)x;
		return 0;
	}
	case VK_MMPROJ: {
		bool on;

		rc = vram_parse_onoff(v, &on);
		if (rc == 0)
			p->mmproj = on;
		return rc;
	}
	case VK_UNIT:
		rc = vram_parse_enum(v, units, 3, &e);
		p->unit = (enum vram_unit)e;
		return rc;
	case VK_FORMAT:
		rc = vram_parse_enum(v, formats, 4, &e);
		if (rc == 0 && p->kind == VRAM_KIND_FIT && e != VRAM_FORMAT_ENV && e != VRAM_FORMAT_JSON)
			return -EINVAL;
		p->format = (enum vram_format)e;
		return rc;
	case VK_VRAM:
		return vram_parse_vram(v, &p->vram_bytes);
	case VK_PREFER:
		rc = vram_parse_enum(v, prefers, 3, &e);
		p->prefer = (enum vram_prefer)e;
		return rc;
	case VK_N:
		return vram_parse_count(v, VRAM_MAX_N, &p->n);
	case VK_COUNT:
		break;
	}
	return -EINVAL;
}

/* What a good value of key k looks like, for the diag. */
static const char *vram_value_hint(enum vram_key k, enum vram_kind kind)
{
	switch (k) {
	case VK_CTX: return "a token count such as 8192, 8k, 128k, or max";
	case VK_KV: case VK_CTK: case VK_CTV:
		return "one of f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl";
	case VK_FA: case VK_MMPROJ: return "on or off";
	case VK_UBATCH: case VK_BATCH: return "a token count from 1 to 1048576";
	case VK_PAR: return "a count from 1 to 256";
	case VK_NGL: return "a layer count or all";
	case VK_UNIT: return "mib, gib or b";
	case VK_FORMAT: return kind == VRAM_KIND_FIT ? "env or json" : "num, text, json or env";
	case VK_VRAM: return "a size such as 24G, 24GiB or 16000 (MiB)";
	case VK_PREFER: return "quality, speed or balanced";
	case VK_N: return "a count from 1 to 1000";
	case VK_COUNT: break;
	}
	return "?";
}

static int vram_parse_item(enum vram_kind kind, const char *item, size_t len, struct vram_params *p,
			   unsigned *seen, uint32_t *ctk, uint32_t *ctv, uint32_t *kv, struct diag *d)
{
	char buf[VRAM_NAME_MAX_BYTES + 1], known[160];
	const char *eq, *val;
	size_t klen, k;

	memcpy(buf, item, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	if (len == 0)
		return diag_fail(d, -EINVAL, "empty parameter in '%s@...'; separate KEY=VALUE pairs with one comma",
				 vram_kind_name(kind));
	if (!eq || eq == buf)
		return diag_fail(d, -EINVAL, "parameter '%s' of %s@ is not KEY=VALUE", buf, vram_kind_name(kind));
	klen = (size_t)(eq - buf);
	val = eq + 1;
	buf[klen] = '\0';
	for (k = 0; k < VK_COUNT; k++)
		if (strcmp(buf, vram_keys[k].name) == 0)
			break;
	if (k == VK_COUNT || !(vram_keys[k].kinds & VK_IN(kind))) {
		if (vram_known_keys(kind, known, sizeof(known)) != 0)
			known[0] = '\0';
		return diag_fail(d, -EINVAL, "unknown key '%s' for %s@; known keys: %s", buf,
				 vram_kind_name(kind), known);
	}
	if (*seen & (1u << k))
		return diag_fail(d, -EINVAL, "key '%s' given twice; give each key once", buf);
	*seen |= 1u << k;
	if (*val == '\0' || vram_parse_value((enum vram_key)k, val, p, ctk, ctv, kv) != 0)
		return diag_fail(d, -EINVAL, "bad value '%s' for %s; use %s", val, buf,
				 vram_value_hint((enum vram_key)k, kind));
	return 0;
}

int vram_parse_params(enum vram_kind kind, const char *params, struct vram_params *p,
		      struct diag *d)
{
	uint32_t ctk = UINT32_MAX, ctv = UINT32_MAX, kv = UINT32_MAX;
	const char *s = params, *comma;
	unsigned seen = 0;
	size_t len;
	int rc;

	vram_params_init(p, kind);
	if (!params)
		return diag_fail(d, -EINVAL, "no parameters for %s@", vram_kind_name(kind));
	len = strlen(params);
	if (len > VRAM_NAME_MAX_BYTES)
		return diag_fail(d, -EINVAL, "parameters of %s@ are too long (%zu bytes, at most %d)",
				 vram_kind_name(kind), len, VRAM_NAME_MAX_BYTES);
	if (len > 0) {
		for (;;) {
			comma = strchr(s, ',');
			rc = vram_parse_item(kind, s, comma ? (size_t)(comma - s) : strlen(s), p, &seen,
					     &ctk, &ctv, &kv, d);
			if (rc)
				return rc;
			if (!comma)
				break;
			s = comma + 1;
		}
	}
	if (kv != UINT32_MAX)
		p->type_k = p->type_v = kv;
	if (ctk != UINT32_MAX)
		p->type_k = ctk;
	if (ctv != UINT32_MAX)
		p->type_v = ctv;
	if (kind == VRAM_KIND_VRAM && !(seen & (1u << VK_CTX)))
		return diag_fail(d, -EINVAL, "vram@ needs ctx=; add ctx=8192 (or 8k, 128k, max)");
	if (kind == VRAM_KIND_FIT && !(seen & (1u << VK_VRAM)))
		return diag_fail(d, -EINVAL, "fit@ needs vram=; add vram=24G (or vram=16000 for MiB)");
	if (!p->flash_attn && vram_type_is_quantized(p->type_v))
		return diag_fail(d, -EINVAL, "a quantized V cache '%s' needs flash attention; use fa=on or ctv=f16",
				 vram_cache_type_name(p->type_v));
	return 0;
}

int vram_parse_name(const char *name, struct vram_params *p, struct diag *d)
{
	static const enum vram_kind kinds[] = {
		VRAM_KIND_VRAM, VRAM_KIND_FIT, VRAM_KIND_RECOMMEND, VRAM_KIND_FITS,
	};
	const char *at;
	size_t klen, i;

	if (!name || !(at = strchr(name, '@')))
		return diag_fail(d, -ENOENT, "'%s' is not a parameterized name (KIND@KEY=VALUE)",
				 name ? name : "");
	if (strlen(name) > VRAM_NAME_MAX_BYTES)
		return diag_fail(d, -EINVAL, "name is too long (at most %d bytes)", VRAM_NAME_MAX_BYTES);
	klen = (size_t)(at - name);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *kn = vram_kind_name(kinds[i]);

		if (strlen(kn) == klen && memcmp(kn, name, klen) == 0)
			return vram_parse_params(kinds[i], at + 1, p, d);
	}
	return diag_fail(d, -ENOENT, "unknown kind '%.*s' in '%s'; known: vram, fit, recommend, fits",
			 (int)klen, name, name);
}

/* ------------------------------------------------------------------------
 * Architecture queries
 * ------------------------------------------------------------------------ */

/* The architectures llama.cpp builds with a sliding-window cache
 * (llama_kv_cache_iswa: hparams.swa_type != LLAMA_SWA_TYPE_NONE).  Others
 * that declare a window (Mistral 7B v0.1 as "llama", Qwen2, Phi-3) get a
 * full cache. */
static bool vram_swa_honoured(const struct arch *a)
{
	static const char *const names[] = {
		"gemma2", "gemma3", "gemma3n", "gemma-embedding", "cohere2", "gpt-oss",
		"llama4", "exaone4", "olmo2", "smallthinker", "afmoe", "mimo2",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(a->architecture, names[i]) == 0)
			return true;
	return false;
}

/* DeepSeek MLA (hparams.is_mla(): deepseek2 and the models converted as
 * it: V2, V3, R1, Kimi K2): a compressed cache. */
static bool vram_is_mla(const struct arch *a)
{
	return a->kv_lora_rank > 0 && arch_has(a, ARCH_F_KV_LORA_RANK) &&
	       strncmp(a->architecture, "deepseek2", 9) == 0;
}

static enum arch_layer_kind vram_layer_kind(const struct arch *a, size_t il, bool swa)
{
	enum arch_layer_kind k = arch_layer_kind(a, il);

	if ((k == ARCH_LAYER_SLIDING || k == ARCH_LAYER_CHUNKED) && !swa)
		return ARCH_LAYER_FULL;
	return k;
}

static uint64_t vram_head_dim_k(const struct arch *a)
{
	if (a->head_dim_k)
		return a->head_dim_k;
	if (a->head_dim)
		return a->head_dim;
	if (a->num_attention_heads && a->hidden_size % a->num_attention_heads == 0)
		return a->hidden_size / a->num_attention_heads;
	return 0;
}

static uint64_t vram_head_dim_v(const struct arch *a)
{
	return a->head_dim_v ? a->head_dim_v : vram_head_dim_k(a);
}

static uint64_t vram_mla_rope_dim(const struct arch *a)
{
	if (a->rope_dim)
		return a->rope_dim;
	if (a->head_dim_k > a->qk_nope_head_dim && a->qk_nope_head_dim)
		return a->head_dim_k - a->qk_nope_head_dim;
	return 64;
}

static uint64_t vram_expert_ffn(const struct arch *a)
{
	return a->expert_ffn_size ? a->expert_ffn_size : a->intermediate_size;
}

static bool vram_layer_is_moe(const struct arch *a, size_t il)
{
	return a->expert_count > 0 && a->expert_used_count > 0 && il >= a->leading_dense_layers;
}

/* Recurrent state per sequence and layer, f32 values (n_embd_r + n_embd_s
 * of llama-hparams.cpp). */
static uint64_t vram_rs_values(const struct arch *a, uint64_t *s_out)
{
	uint64_t r, s, groups = a->ssm.n_group ? a->ssm.n_group : 1;

	if (a->ssm.head_size) {
		r = VRAM_RWKV_TOKEN_SHIFTS * a->hidden_size;
		s = a->hidden_size * a->ssm.head_size;
	} else {
		r = (a->ssm.d_conv > 0 ? a->ssm.d_conv - 1 : 0) * (a->ssm.d_inner + 2 * groups * a->ssm.d_state);
		s = a->ssm.d_state * a->ssm.d_inner;
	}
	if (s_out)
		*s_out = s;
	return r + s;
}

/* ------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------ */

void vram_model_release(struct vram_model *m)
{
	if (!m)
		return;
	arch_release(&m->arch);
	free(m->layer_bytes);
	free(m->layer_expert_bytes);
	memset(m, 0, sizeof(*m));
	arch_init(&m->arch);
}

static int vram_model_alloc(struct vram_model *m, const struct arch *a, size_t n_layers)
{
	int rc;

	memset(m, 0, sizeof(*m));
	arch_init(&m->arch);
	rc = arch_merge(&m->arch, a);
	if (rc)
		return rc;
	m->n_layers = n_layers;
	if (n_layers) {
		m->layer_bytes = calloc(n_layers, sizeof(*m->layer_bytes));
		m->layer_expert_bytes = calloc(n_layers, sizeof(*m->layer_expert_bytes));
		if (!m->layer_bytes || !m->layer_expert_bytes) {
			vram_model_release(m);
			return -ENOMEM;
		}
	}
	return 0;
}

/* "blk.N." -> N; -1 for other names. */
static long vram_tensor_block(const char *name)
{
	const char *p;
	long n = 0;

	if (strncmp(name, "blk.", 4) != 0)
		return -1;
	p = name + 4;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (*p - '0');
		if (n > ARCH_MAX_LAYERS)
			return -1;
		p++;
	}
	return *p == '.' ? n : -1;
}

/* llama-arch.cpp LLM_TENSOR_LAYER_INPUT tensors. */
static bool vram_tensor_is_input(const char *name)
{
	static const char *const prefixes[] = {
		"token_embd.", "token_embd_norm.", "position_embd.", "token_types.", "per_layer_token_embd.",
	};
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* Adds one tensor to m: blk.N.* to block N (the output layer past the
 * last block), llama-arch.cpp's input-layer tensors to the input, the
 * rope frequency tables (created once, with block 0) to block 0, anything
 * else to the output layer. */
static void vram_model_add_tensor(struct vram_model *m, const char *name, uint64_t size_bytes,
				  uint64_t *token_embd, bool *has_output)
{
	long blk = vram_tensor_block(name);

	if (blk >= 0 && (size_t)blk < m->n_layers) {
		m->layer_bytes[blk] = vram_add(m->layer_bytes[blk], size_bytes);
		if (strstr(name, "_exps."))
			m->layer_expert_bytes[blk] = vram_add(m->layer_expert_bytes[blk], size_bytes);
	} else if (blk < 0 && vram_tensor_is_input(name)) {
		m->input_bytes = vram_add(m->input_bytes, size_bytes);
		if (strcmp(name, "token_embd.weight") == 0)
			*token_embd = size_bytes;
	} else if (blk < 0 && strncmp(name, "rope_", 5) == 0 && m->n_layers) {
		m->layer_bytes[0] = vram_add(m->layer_bytes[0], size_bytes);
	} else {
		m->output_bytes = vram_add(m->output_bytes, size_bytes);
		if (strcmp(name, "output.weight") == 0) {
			m->output_matrix_bytes = size_bytes;
			*has_output = true;
		}
	}
}

/* A source of tensors: a parsed header or a tensor list. */
struct vram_tensors {
	const struct gguf *g;
	const struct vram_tensor_list *l;
};

static size_t vram_tensors_count(const struct vram_tensors *t)
{
	return t->g ? gguf_tensor_count(t->g) : t->l->n;
}

/* Tensor i's name and bytes; *cursor walks the list's names in order. */
static const char *vram_tensors_get(const struct vram_tensors *t, size_t i, size_t *cursor,
				    uint64_t *size_bytes)
{
	const char *name;

	if (t->g) {
		*size_bytes = gguf_tensor(t->g, i)->size_bytes;
		return gguf_tensor(t->g, i)->name;
	}
	name = t->l->names + *cursor;
	*cursor += strlen(name) + 1;
	*size_bytes = t->l->size_bytes[i];
	return name;
}

static void vram_model_add_tensors(struct vram_model *m, const struct vram_tensors *t, uint64_t *token_embd,
				   bool *has_output)
{
	size_t i, cursor = 0, n = vram_tensors_count(t);
	uint64_t size;
	const char *name;

	for (i = 0; i < n; i++) {
		name = vram_tensors_get(t, i, &cursor, &size);
		vram_model_add_tensor(m, name, size, token_embd, has_output);
	}
}

/* vram_model_from_gguf on any source of tensors; file_bytes left 0. */
static int vram_model_from_tensors(struct vram_model *m, const struct arch *a, const struct vram_tensors *t,
				   struct diag *d)
{
	size_t i, cursor = 0, n = vram_tensors_count(t), n_layers = a->num_layers;
	uint64_t token_embd = 0, size;
	bool has_output = false;
	long blk;
	int rc;

	for (i = 0; i < n; i++) {
		blk = vram_tensor_block(vram_tensors_get(t, i, &cursor, &size));
		if (blk >= 0 && (size_t)blk + 1 > n_layers)
			n_layers = (size_t)blk + 1;
	}
	if (n_layers > ARCH_MAX_LAYERS)
		return diag_fail(d, -EINVAL, "model has %zu layers, more than %d", n_layers, ARCH_MAX_LAYERS);
	rc = vram_model_alloc(m, a, n_layers);
	if (rc)
		return rc;
	m->source = VRAM_SRC_GGUF;
	vram_model_add_tensors(m, t, &token_embd, &has_output);
	m->output_tied = !has_output;
	if (m->output_tied)
		m->output_matrix_bytes = token_embd;
	return 0;
}

/* vram_model_add_gguf on any source of tensors. */
static void vram_model_add_more(struct vram_model *m, const struct vram_tensors *t)
{
	uint64_t token_embd = 0;
	bool has_output = false;

	vram_model_add_tensors(m, t, &token_embd, &has_output);
	if (has_output)
		m->output_tied = false;
	else if (m->output_tied && token_embd)
		m->output_matrix_bytes = token_embd;
}

int vram_model_from_gguf(struct vram_model *m, const struct arch *a, const struct gguf *g,
			 struct diag *d)
{
	struct vram_tensors t = { .g = g };
	uint64_t fsize;
	int rc;

	rc = vram_model_from_tensors(m, a, &t, d);
	if (rc)
		return rc;
	fsize = gguf_file_size(g);
	m->file_bytes = fsize == UINT64_MAX ? 0 : fsize;
	return 0;
}

int vram_model_add_gguf(struct vram_model *m, const struct gguf *g)
{
	struct vram_tensors t = { .g = g };
	uint64_t fsize = gguf_file_size(g);

	vram_model_add_more(m, &t);
	if (fsize != UINT64_MAX && m->file_bytes)
		m->file_bytes = vram_add(m->file_bytes, fsize);
	return 0;
}

/* ------------------------------------------------------------------------
 * Tensor lists and weights layouts
 * ------------------------------------------------------------------------ */

void vram_tensor_list_release(struct vram_tensor_list *l)
{
	if (!l)
		return;
	free(l->names);
	free(l->size_bytes);
	memset(l, 0, sizeof(*l));
}

int vram_tensor_list_from_gguf(struct vram_tensor_list *l, const struct gguf *g)
{
	size_t i, n = gguf_tensor_count(g), bytes = 0, len, at = 0;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < n; i++)
		bytes += strlen(gguf_tensor(g, i)->name) + 1;
	l->names = malloc(bytes ? bytes : 1);
	l->size_bytes = calloc(n ? n : 1, sizeof(*l->size_bytes));
	if (!l->names || !l->size_bytes) {
		vram_tensor_list_release(l);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const struct gguf_tensor_info *t = gguf_tensor(g, i);

		len = strlen(t->name) + 1;
		memcpy(l->names + at, t->name, len);
		at += len;
		l->size_bytes[i] = t->size_bytes;
	}
	l->n = n;
	return 0;
}

int vram_model_from_tensor_list(struct vram_model *m, const struct arch *a,
				const struct vram_tensor_list *l, struct diag *d)
{
	struct vram_tensors t = { .l = l };

	return vram_model_from_tensors(m, a, &t, d);
}

int vram_model_add_tensor_list(struct vram_model *m, const struct vram_tensor_list *l)
{
	struct vram_tensors t = { .l = l };

	vram_model_add_more(m, &t);
	return 0;
}

/*
 * The layout's bytes, all integers as LEB128 varints (7 bits a byte, low
 * first, at most 10 bytes, at most INT64_MAX):
 *
 *   version (one byte, VRAM_LAYOUT_VERSION), flags (bit 0: output tied),
 *   n_layers, input_bytes, output_bytes, output_matrix_bytes, mmproj_bytes,
 *   n_sizes, then n_sizes pairs (layer_bytes, expert_bytes <= layer_bytes),
 *   then runs (count >= 1, index < n_sizes) covering the n_layers blocks.
 *
 * Quantization mixes give blocks a handful of sizes (llama-quant.cpp
 * raises attn_v and ffn_down in some blocks), so the sizes are stored
 * once; a 70B Q4_K_M of 80 blocks has 3 to 4 of them in some 40 runs.
 */
#define VRAM_LAYOUT_TIED        0x1u
#define VRAM_LAYOUT_FLAGS       VRAM_LAYOUT_TIED
#define VRAM_VARINT_MAX_BYTES   10
#define VRAM_LAYOUT_SMALL_SIZES 64           /* distinct block sizes decoded without malloc */

struct vram_cursor {
	const unsigned char *p;
	size_t len, at;
};

static void vram_put_varint(unsigned char *buf, size_t *at, uint64_t v)
{
	while (v >= 0x80) {
		buf[(*at)++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	buf[(*at)++] = (unsigned char)v;
}

/* Reads one varint <= max; -EBADMSG with d naming what on failure. */
static int vram_get_varint(struct vram_cursor *c, uint64_t max, uint64_t *out, const char *what,
			   struct diag *d)
{
	uint64_t v = 0;
	unsigned shift = 0;
	size_t i;

	for (i = 0; i < VRAM_VARINT_MAX_BYTES; i++) {
		unsigned char b;

		if (c->at + i >= c->len)
			return diag_fail(d, -EBADMSG, "weights layout ends inside %s at byte %zu", what, c->at + i);
		b = c->p[c->at + i];
		if (shift == 63 && (b & 0x7e))
			break;
		v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80)) {
			if (i > 0 && b == 0)
				return diag_fail(d, -EBADMSG, "weights layout has an overlong %s at byte %zu",
						 what, c->at);
			if (v > max)
				return diag_fail(d, -EBADMSG, "weights layout's %s %llu at byte %zu is over %llu",
						 what, (unsigned long long)v, c->at, (unsigned long long)max);
			c->at += i + 1;
			*out = v;
			return 0;
		}
	}
	return diag_fail(d, -EBADMSG, "weights layout's %s at byte %zu does not fit 64 bits", what, c->at);
}

/* Index in sizes[0..n) of block il's (layer, expert) pair, or n. */
static size_t vram_layout_find(const struct vram_model *m, const size_t *first, size_t n, size_t il)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (m->layer_bytes[first[k]] == m->layer_bytes[il] &&
		    m->layer_expert_bytes[first[k]] == m->layer_expert_bytes[il])
			return k;
	return n;
}

int vram_layout_encode(const struct vram_model *m, unsigned char **out, size_t *len_out)
{
	size_t *first = NULL, *index = NULL, n_sizes = 0, il, run, at = 0, cap;
	unsigned char *buf;
	int rc = -ENOMEM;

	*out = NULL;
	*len_out = 0;
	if (m->source != VRAM_SRC_GGUF || m->n_layers > ARCH_MAX_LAYERS || m->input_bytes > INT64_MAX ||
	    m->output_bytes > INT64_MAX || m->output_matrix_bytes > INT64_MAX ||
	    m->mmproj_file_bytes > INT64_MAX)
		return -EINVAL;
	for (il = 0; il < m->n_layers; il++)
		if (m->layer_bytes[il] > INT64_MAX || m->layer_expert_bytes[il] > m->layer_bytes[il])
			return -EINVAL;
	cap = 1 + 7 * VRAM_VARINT_MAX_BYTES + m->n_layers * 4 * VRAM_VARINT_MAX_BYTES;
	buf = malloc(cap);
	first = calloc(m->n_layers ? m->n_layers : 1, sizeof(*first));
	index = calloc(m->n_layers ? m->n_layers : 1, sizeof(*index));
	if (!buf || !first || !index)
		goto out_free;
	for (il = 0; il < m->n_layers; il++) {
		index[il] = vram_layout_find(m, first, n_sizes, il);
		if (index[il] == n_sizes)
			first[n_sizes++] = il;
	}
	buf[at++] = VRAM_LAYOUT_VERSION;
	vram_put_varint(buf, &at, m->output_tied ? VRAM_LAYOUT_TIED : 0);
	vram_put_varint(buf, &at, m->n_layers);
	vram_put_varint(buf, &at, m->input_bytes);
	vram_put_varint(buf, &at, m->output_bytes);
	vram_put_varint(buf, &at, m->output_matrix_bytes);
	vram_put_varint(buf, &at, m->mmproj_file_bytes);
	vram_put_varint(buf, &at, n_sizes);
	for (il = 0; il < n_sizes; il++) {
		vram_put_varint(buf, &at, m->layer_bytes[first[il]]);
		vram_put_varint(buf, &at, m->layer_expert_bytes[first[il]]);
	}
	for (il = 0; il < m->n_layers; il += run) {
		for (run = 1; il + run < m->n_layers && index[il + run] == index[il]; run++)
			;
		vram_put_varint(buf, &at, run);
		vram_put_varint(buf, &at, index[il]);
	}
	*out = buf;
	*len_out = at;
	buf = NULL;
	rc = 0;
out_free:
	free(buf);
	free(first);
	free(index);
	return rc;
}

/* Checks a layout and, when m is not NULL, reads it into m, whose arrays
 * the caller allocated for the layout's block count. */
static int vram_layout_read(const unsigned char *layout, size_t len, struct vram_model *m,
			    struct diag *d)
{
	struct vram_cursor c = { .p = layout, .len = len };
	uint64_t flags, n_layers, v[4], n_sizes, run, idx, lb, eb, done = 0;
	uint64_t small[2 * VRAM_LAYOUT_SMALL_SIZES], *sizes = small;
	size_t i;
	int rc;

	if (!layout || len == 0)
		return diag_fail(d, -EBADMSG, "weights layout is empty");
	if (len > VRAM_LAYOUT_MAX_BYTES)
		return diag_fail(d, -EBADMSG, "weights layout of %zu bytes is over the %u-byte limit", len,
				 VRAM_LAYOUT_MAX_BYTES);
	if (layout[0] != VRAM_LAYOUT_VERSION)
		return diag_fail(d, -EBADMSG, "weights layout has version %u, not %u; re-register the model",
				 layout[0], VRAM_LAYOUT_VERSION);
	c.at = 1;
	rc = vram_get_varint(&c, VRAM_LAYOUT_FLAGS, &flags, "flags", d);
	if (!rc)
		rc = vram_get_varint(&c, ARCH_MAX_LAYERS, &n_layers, "block count", d);
	for (i = 0; i < 4 && !rc; i++)
		rc = vram_get_varint(&c, INT64_MAX, &v[i], "size", d);
	if (!rc)
		rc = vram_get_varint(&c, n_layers, &n_sizes, "count of block sizes", d);
	if (rc)
		return rc;
	if (!n_sizes != !n_layers)
		return diag_fail(d, -EBADMSG, "weights layout has %llu blocks but %llu block sizes",
				 (unsigned long long)n_layers, (unsigned long long)n_sizes);
	if (m && n_layers != m->n_layers)
		return diag_fail(d, -EBADMSG, "weights layout changed while read");
	if (n_sizes > VRAM_LAYOUT_SMALL_SIZES) {
		sizes = calloc(2 * n_sizes, sizeof(*sizes));
		if (!sizes)
			return -ENOMEM;
	}
	for (i = 0; i < n_sizes && !rc; i++) {
		rc = vram_get_varint(&c, INT64_MAX, &lb, "block size", d);
		if (!rc)
			rc = vram_get_varint(&c, lb, &eb, "expert size", d);
		sizes[2 * i] = lb;
		sizes[2 * i + 1] = eb;
	}
	while (!rc && done < n_layers) {
		rc = vram_get_varint(&c, n_layers - done, &run, "run length", d);
		if (!rc && run == 0)
			rc = diag_fail(d, -EBADMSG, "weights layout has an empty run at byte %zu", c.at - 1);
		if (!rc)
			rc = vram_get_varint(&c, n_sizes - 1, &idx, "block size index", d);
		for (i = 0; !rc && m && i < run; i++) {
			m->layer_bytes[done + i] = sizes[2 * idx];
			m->layer_expert_bytes[done + i] = sizes[2 * idx + 1];
		}
		done += rc ? 0 : run;
	}
	if (sizes != small)
		free(sizes);
	if (rc)
		return rc;
	if (c.at != len)
		return diag_fail(d, -EBADMSG, "weights layout has %zu bytes left over", len - c.at);
	if (m) {
		m->output_tied = flags & VRAM_LAYOUT_TIED;
		m->input_bytes = v[0];
		m->output_bytes = v[1];
		m->output_matrix_bytes = v[2];
		m->mmproj_file_bytes = v[3];
	}
	return 0;
}

int vram_layout_check(const unsigned char *layout, size_t len, struct diag *d)
{
	return vram_layout_read(layout, len, NULL, d);
}

int vram_model_from_layout(struct vram_model *m, const struct arch *a, const unsigned char *layout,
			   size_t len, struct diag *d)
{
	struct vram_cursor c = { .p = layout, .len = len, .at = 1 };
	uint64_t flags, n_layers;
	int rc;

	memset(m, 0, sizeof(*m));
	arch_init(&m->arch);
	if (!layout || len == 0 || len > VRAM_LAYOUT_MAX_BYTES || layout[0] != VRAM_LAYOUT_VERSION)
		return vram_layout_check(layout, len, d);
	rc = vram_get_varint(&c, VRAM_LAYOUT_FLAGS, &flags, "flags", d);
	if (!rc)
		rc = vram_get_varint(&c, ARCH_MAX_LAYERS, &n_layers, "block count", d);
	if (!rc)
		rc = vram_model_alloc(m, a, (size_t)n_layers);
	if (!rc) {
		m->source = VRAM_SRC_GGUF;
		rc = vram_layout_read(layout, len, m, d);
		if (rc)
			vram_model_release(m);
	}
	return rc;
}

/* Parameters of block il, for spreading a file size over the layers (the
 * shapes llama-model.cpp creates; norms and biases left out). */
static double vram_layer_params(const struct arch *a, size_t il, double *experts)
{
	double e = (double)a->hidden_size, h = (double)arch_layer_heads(a, il);
	double kvh = (double)arch_layer_kv_heads(a, il), hk = (double)vram_head_dim_k(a);
	double hv = (double)vram_head_dim_v(a), p = 0, x = 0;
	enum arch_layer_kind kind = arch_layer_kind(a, il);

	if (kind == ARCH_LAYER_RECURRENT) {
		double di = (double)(a->ssm.d_inner ? a->ssm.d_inner : 2 * a->hidden_size);
		double ds = (double)a->ssm.d_state, dt = (double)a->ssm.dt_rank;

		if (a->ssm.head_size)
			p += 6 * e * e;
		else
			p += e * 2 * di + di * e + di * (dt + 2 * ds) + dt * di + di * (double)a->ssm.d_conv +
			     di * ds;
	} else if (vram_is_mla(a)) {
		double lora = (double)a->kv_lora_rank, rope = (double)vram_mla_rope_dim(a);
		double nope = (double)(a->qk_nope_head_dim ? a->qk_nope_head_dim : (a->head_dim_k > a->rope_dim ?
							  a->head_dim_k - a->rope_dim : 128));
		double ql = (double)a->q_lora_rank;

		p += ql > 0 ? e * ql + ql * h * (nope + rope) : e * h * (nope + rope);
		p += e * (lora + rope) + lora * h * (nope + hv) + h * hv * e;
	} else {
		if (kvh == 0)
			kvh = h;
		p += e * h * hk + e * kvh * (hk + hv) + h * hv * e;
	}
	if (vram_layer_is_moe(a, il)) {
		double ff = (double)vram_expert_ffn(a), n_exp = (double)a->expert_count;
		double shared = (double)(a->expert_shared_ffn_size ? a->expert_shared_ffn_size :
					 a->expert_shared_count * vram_expert_ffn(a));

		x = n_exp * 3 * e * ff;
		p += e * n_exp + x + 3 * e * shared;
	} else if (a->intermediate_size && !(kind == ARCH_LAYER_RECURRENT && !a->layer_kind)) {
		p += 3 * e * (double)a->intermediate_size;
	}
	if (experts)
		*experts = x;
	return p;
}

int vram_model_from_size(struct vram_model *m, const struct arch *a, uint64_t file_bytes,
			 enum vram_source source, uint64_t mmproj_file_bytes, struct diag *d)
{
	double total = 0, per_byte, in, out, *lp = NULL, *lx = NULL;
	uint64_t weights, header, used = 0;
	size_t n_layers = a->num_layers, i;
	int rc;

	if (file_bytes == 0)
		return diag_fail(d, -EINVAL, "model size is unknown; register the quant with its files");
	if (n_layers > ARCH_MAX_LAYERS)
		return diag_fail(d, -EINVAL, "model has %zu layers, more than %d", n_layers, ARCH_MAX_LAYERS);
	rc = vram_model_alloc(m, a, n_layers);
	if (rc)
		return rc;
	m->source = source;
	m->file_bytes = file_bytes;
	m->mmproj_file_bytes = mmproj_file_bytes;
	header = a->vocab_size * VRAM_HEADER_BYTES_PER_TOK;
	weights = header < file_bytes / 4 ? file_bytes - header : file_bytes;
	if (n_layers) {
		lp = calloc(n_layers, sizeof(*lp));
		lx = calloc(n_layers, sizeof(*lx));
		if (!lp || !lx) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	in = (double)a->vocab_size * (double)a->hidden_size;
	out = a->tie_word_embeddings ? 0 : in;
	total = in + out;
	for (i = 0; i < n_layers; i++) {
		lp[i] = vram_layer_params(a, i, &lx[i]);
		total += lp[i];
	}
	if (total <= 0) {
		m->output_bytes = weights;
		goto out_free;
	}
	per_byte = (double)weights / total;
	m->input_bytes = (uint64_t)(in * per_byte);
	used += m->input_bytes;
	for (i = 0; i < n_layers; i++) {
		m->layer_bytes[i] = (uint64_t)(lp[i] * per_byte);
		m->layer_expert_bytes[i] = (uint64_t)(lx[i] * per_byte);
		used += m->layer_bytes[i];
	}
	m->output_bytes = weights > used ? weights - used : 0;
	m->output_tied = a->tie_word_embeddings;
	m->output_matrix_bytes = m->output_tied ? m->input_bytes : m->output_bytes;
out_free:
	free(lp);
	free(lx);
	if (rc)
		vram_model_release(m);
	return rc;
}

/* ------------------------------------------------------------------------
 * The estimate
 * ------------------------------------------------------------------------ */

/* What one estimate resolves once and every layer reads. */
struct vram_run {
	const struct vram_model *m;
	const struct arch *a;
	const struct vram_params *p;
	bool swa;                /* the architecture's sliding windows are honoured */
	bool mla;
	uint64_t T;              /* tokens of the reserve ubatch */
	uint64_t n_seq;
	uint64_t cells_seq;      /* full-attention cells per sequence */
	uint64_t swa_seq;        /* sliding-window cells per sequence */
	uint64_t E;              /* one n_embd x T f32 tensor */
	uint64_t inputs;         /* graph inputs, alive the whole graph */
	uint64_t out_phase;      /* the logits phase */
	uint32_t gpu_start;      /* first block on the GPU (n_layers: none) */
	bool output_gpu;
};

static uint64_t vram_q_bytes(const struct vram_run *r, size_t il)
{
	const struct arch *a = r->a;
	uint64_t width = r->mla ? a->kv_lora_rank + vram_mla_rope_dim(a) : vram_head_dim_k(a);

	return arch_layer_heads(a, il) * width * r->T * 4;
}

/* The graph allocator's peak while block il runs (see the file comment). */
static uint64_t vram_layer_phase(const struct vram_run *r, size_t il)
{
	const struct arch *a = r->a;
	enum arch_layer_kind kind = vram_layer_kind(a, il, r->swa);
	uint64_t mix, ffn = 0, T = r->T;

	if (kind == ARCH_LAYER_RECURRENT) {
		uint64_t s, di = a->ssm.d_inner ? a->ssm.d_inner : a->hidden_size;

		vram_rs_values(a, &s);
		mix = 4 * di * T * 4 + r->n_seq * s * 4;
	} else {
		uint64_t n_kv = kind == ARCH_LAYER_FULL ? r->cells_seq : r->swa_seq;

		mix = 3 * vram_q_bytes(r, il);
		if (!r->p->flash_attn)
			mix += n_kv * T * arch_layer_heads(a, il) * 4;
	}
	if (vram_layer_is_moe(a, il)) {
		uint64_t used = a->expert_used_count, fm = used * vram_expert_ffn(a) * T * 4;
		uint64_t shared = a->expert_shared_ffn_size ? a->expert_shared_ffn_size :
				  a->expert_shared_count * vram_expert_ffn(a);

		ffn = vram_max_u64(3 * fm, fm + used * r->E) + 4 * a->expert_count * T * 4;
		if (shared)
			ffn = vram_max_u64(ffn, 3 * shared * T * 4) + r->E;
	} else {
		ffn = 3 * a->intermediate_size * T * 4;
	}
	return r->inputs + r->E + vram_max_u64(mix, ffn);
}

static uint64_t vram_layer_ffn_act(const struct vram_run *r, size_t il)
{
	const struct arch *a = r->a;

	if (vram_layer_is_moe(r->a, il))
		return a->expert_used_count * vram_expert_ffn(a) * r->T * 4;
	return a->intermediate_size * r->T * 4;
}

/* KV bytes of block il; -EINVAL when a cache type's block does not divide
 * the row. */
static int vram_layer_kv(const struct vram_run *r, size_t il, uint64_t *out, struct diag *d)
{
	const struct arch *a = r->a;
	enum arch_layer_kind kind = vram_layer_kind(a, il, r->swa);
	uint64_t k_elems, v_elems, k_head, v_head, kb = 0, vb = 0, cells;

	*out = 0;
	if (kind == ARCH_LAYER_RECURRENT) {
		*out = vram_max_u64(r->n_seq, 1) * vram_rs_values(a, NULL) * 4;
		return 0;
	}
	cells = (kind == ARCH_LAYER_FULL ? r->cells_seq : r->swa_seq) * r->n_seq;
	if (r->mla) {
		k_head = k_elems = a->kv_lora_rank + vram_mla_rope_dim(a);
		v_head = v_elems = 0;
	} else {
		uint64_t kvh = arch_layer_kv_heads(a, il);

		k_head = vram_head_dim_k(a);
		v_head = vram_head_dim_v(a);
		k_elems = kvh * k_head;
		v_elems = kvh * v_head;
	}
	/* llama-context.cpp refuses a quantized cache whose block size does
	 * not divide the head size (the cache is viewed per head). */
	if ((k_elems && (ggml_row_bytes(r->p->type_k, k_head, &kb) != 0 ||
			 ggml_row_bytes(r->p->type_k, k_elems, &kb) != 0)) ||
	    (v_elems && (ggml_row_bytes(r->p->type_v, v_head, &vb) != 0 ||
			 ggml_row_bytes(r->p->type_v, v_elems, &vb) != 0))) {
		const struct ggml_type_info *tk = ggml_type_by_id(r->p->type_k);
		const struct ggml_type_info *tv = ggml_type_by_id(r->p->type_v);

		return diag_fail(d, -EINVAL,
				 "cache types '%s'/'%s' (blocks of %u/%u values) do not divide this model's head "
				 "size %llu/%llu; use kv=f16",
				 vram_cache_type_name(r->p->type_k), vram_cache_type_name(r->p->type_v),
				 tk ? tk->block_elems : 0, tv ? tv->block_elems : 0,
				 (unsigned long long)k_head, (unsigned long long)v_head);
	}
	*out = cells * (kb + vb);
	return 0;
}

/* Weight bytes read per decoded token in block il: routed experts count
 * only their used share. */
static uint64_t vram_layer_active(const struct vram_model *m, size_t il)
{
	const struct arch *a = &m->arch;
	uint64_t x = m->layer_expert_bytes[il], idle = 0;

	if (x && a->expert_count > a->expert_used_count && a->expert_count)
		idle = (uint64_t)((double)x * (double)(a->expert_count - a->expert_used_count) /
				  (double)a->expert_count);
	return m->layer_bytes[il] - vram_min_u64(idle, m->layer_bytes[il]);
}

static int vram_resolve_ctx(const struct vram_model *m, const struct vram_params *p,
			    struct vram_estimate *e, struct diag *d)
{
	const struct arch *a = &m->arch;
	uint64_t trained = a->context_length ? a->context_length : a->max_position_embeddings;

	if (p->ctx_tokens == VRAM_CTX_MAX) {
		if (!trained)
			return diag_fail(d, -EINVAL, "ctx=max but the trained context of this model is unknown; "
					 "give ctx=N");
		e->ctx_tokens = trained;
	} else if (p->ctx_tokens == 0) {
		return diag_fail(d, -EINVAL, "no ctx given; add ctx=8192");
	} else {
		e->ctx_tokens = p->ctx_tokens;
	}
	if (e->ctx_tokens > VRAM_MAX_CTX_TOKENS)
		e->ctx_tokens = VRAM_MAX_CTX_TOKENS;
	if (trained && e->ctx_tokens > trained)
		vram_warn(e, "ctx %llu is beyond the trained context %llu",
			  (unsigned long long)e->ctx_tokens, (unsigned long long)trained);
	return 0;
}

/* mmproj: the projector file plus clip's compute buffer for one image: a
 * few n_patch x hidden activations, and without flash attention (mtmd
 * follows the context's setting) the n_patch^2 x heads f32 scores.
 * Heads are taken as hidden / 64; without a file size, the vision tower's
 * weights at f16 (about 12 hidden^2 per layer; Qwen2.5-VL's 32 x 1280 tower
 * gives 1.26 GB where its f16 mmproj files hold about 1.35 GB).  Towers
 * with a dynamic resolution (no image_size) get no compute buffer. */
static uint64_t vram_mmproj(const struct vram_model *m, bool fa, struct vram_estimate *e)
{
	const struct arch_vision *v = &m->arch.vision;
	uint64_t file = m->mmproj_file_bytes, compute = 0, np, heads;

	if (!file && v->num_layers && v->hidden_size)
		file = vram_mul(vram_mul(v->num_layers, 24), vram_mul(v->hidden_size, v->hidden_size));
	if (v->image_size && v->patch_size && v->hidden_size) {
		np = vram_mul(v->image_size / v->patch_size, v->image_size / v->patch_size);
		heads = v->hidden_size / 64 ? v->hidden_size / 64 : 1;
		compute = vram_add(fa ? 0 : vram_mul(vram_mul(np, np), vram_mul(heads, 4)),
				   vram_mul(vram_mul(np, v->hidden_size), 40));
		vram_warn(e, "mmproj compute buffer is approximate");
	} else if (v->hidden_size) {
		vram_warn(e, "mmproj compute buffer not counted: the image size is not fixed");
	}
	if (!m->mmproj_file_bytes)
		vram_warn(e, "mmproj file size unknown; %s", file ? "estimated from the vision tower" :
			  "not counted");
	return vram_add(file, compute);
}

/* Bounds under which no single product of the estimate passes 2^63
 * (ctx <= 2^24 cells, T <= 2^20 tokens); real models are far below. */
static int vram_check_arch(const struct arch *a, struct diag *d)
{
	static const struct { enum arch_field f; size_t off; uint64_t max; } caps[] = {
#define VC(f, m, x) { f, offsetof(struct arch, m), x }
		VC(ARCH_F_HIDDEN_SIZE, hidden_size, 1u << 20),
		VC(ARCH_F_INTERMEDIATE_SIZE, intermediate_size, 1u << 24),
		VC(ARCH_F_NUM_ATTENTION_HEADS, num_attention_heads, 1u << 16),
		VC(ARCH_F_NUM_KV_HEADS, num_kv_heads, 1u << 16),
		VC(ARCH_F_HEAD_DIM, head_dim, 1u << 16),
		VC(ARCH_F_HEAD_DIM_K, head_dim_k, 1u << 16),
		VC(ARCH_F_HEAD_DIM_V, head_dim_v, 1u << 16),
		VC(ARCH_F_VOCAB_SIZE, vocab_size, 1u << 24),
		VC(ARCH_F_SLIDING_WINDOW, sliding_window, 1u << 24),
		VC(ARCH_F_EXPERT_COUNT, expert_count, 1u << 16),
		VC(ARCH_F_EXPERT_USED_COUNT, expert_used_count, 1u << 10),
		VC(ARCH_F_EXPERT_SHARED_COUNT, expert_shared_count, 1u << 10),
		VC(ARCH_F_KV_LORA_RANK, kv_lora_rank, 1u << 20),
		VC(ARCH_F_ROPE_DIM, rope_dim, 1u << 16),
		VC(ARCH_F_QK_NOPE_HEAD_DIM, qk_nope_head_dim, 1u << 16),
		VC(ARCH_F_EXPERT_FFN_SIZE, expert_ffn_size, 1u << 24),
		VC(ARCH_F_EXPERT_SHARED_FFN_SIZE, expert_shared_ffn_size, 1u << 24),
		VC(ARCH_F_SSM_D_CONV, ssm.d_conv, 1u << 10),
		VC(ARCH_F_SSM_D_INNER, ssm.d_inner, 1u << 20),
		VC(ARCH_F_SSM_D_STATE, ssm.d_state, 1u << 20),
		VC(ARCH_F_SSM_N_GROUP, ssm.n_group, 1u << 10),
		VC(ARCH_F_SSM_HEAD_SIZE, ssm.head_size, 1u << 16),
#undef VC
	};
	size_t i;
	uint64_t v;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		memcpy(&v, (const char *)a + caps[i].off, sizeof(v));
		if (v > caps[i].max)
			return diag_fail(d, -EINVAL, "architecture field %s = %llu is out of range (at most %llu)",
					 arch_field_name(caps[i].f), (unsigned long long)v,
					 (unsigned long long)caps[i].max);
	}
	return 0;
}

int vram_estimate(const struct vram_model *m, const struct vram_params *p,
		  struct vram_estimate *e, struct diag *d)
{
	const struct arch *a = &m->arch;
	struct vram_run r = { .m = m, .a = a, .p = p };
	uint64_t n_ctx, batch, ub, masks, idx, v_max = 0, q_max = 0, act_max = 0, kv;
	uint64_t gpu_phase = 0, all_phase, cpu_phase = 0, copy = 0, host, phase;
	bool has_full = false, has_swa = false, has_rec = false, cuda = p->backend == VRAM_BACKEND_CUDA;
	size_t n = m->n_layers, il;
	uint32_t g;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = vram_check_arch(a, d);
	if (rc)
		return rc;
	rc = vram_resolve_ctx(m, p, e, d);
	if (rc)
		return rc;
	r.swa = vram_swa_honoured(a);
	r.mla = vram_is_mla(a);
	r.n_seq = p->par ? p->par : 1;
	/* llama-context.cpp: n_ctx padded to 256; n_batch = min(n_ctx, n_batch)
	 * for causal models; n_ubatch = min(n_batch, n_ubatch); non-unified
	 * cache: n_ctx_seq = n_ctx / n_seq_max cells per sequence. */
	n_ctx = vram_pad(e->ctx_tokens, VRAM_CTX_PAD);
	batch = vram_min_u64(p->batch ? p->batch : 2048, n_ctx);
	ub = vram_min_u64(p->ubatch ? p->ubatch : 512, batch);
	r.cells_seq = n_ctx / r.n_seq;
	if (r.cells_seq == 0)
		return diag_fail(d, -EINVAL, "par %llu is more than the %llu-token context; lower par",
				 (unsigned long long)r.n_seq, (unsigned long long)n_ctx);
	/* llama-kv-cache-iswa.cpp: size_swa = min(size_base, pad(n_swa *
	 * (unified ? n_seq : 1) + n_ubatch)); per sequence here. */
	r.swa_seq = vram_min_u64(r.cells_seq, vram_pad(a->sliding_window + ub, VRAM_SWA_PAD));
	r.T = ub;
	r.E = a->hidden_size * ub * 4;
	e->n_ctx = n_ctx;
	e->batch = (uint32_t)batch;
	e->ubatch = (uint32_t)ub;
	e->source = m->source;

	if (!a->hidden_size || !n)
		vram_warn(e, "architecture lacks %s; compute buffer and KV cache not estimated",
			  !n ? "num_layers" : "hidden_size");
	if (!a->vocab_size)
		vram_warn(e, "architecture lacks vocab_size; logits not counted");
	if (m->source != VRAM_SRC_GGUF)
		vram_warn(e, "weights spread over layers from the %s", m->source == VRAM_SRC_CATALOG ?
			  "catalog's size estimate" : "file size");
	if (a->src[ARCH_F_TIE_WORD_EMBEDDINGS] == ARCH_SRC_DERIVED && m->source != VRAM_SRC_GGUF)
		vram_warn(e, "%s embeddings inferred from the parameter count", a->tie_word_embeddings ?
			  "tied" : "untied");
	if (arch_has(a, ARCH_F_SLIDING_WINDOW) && a->sliding_window && !r.swa && !a->layer_kind &&
	    a->architecture[0])
		vram_warn(e, "llama.cpp ignores the sliding window of %s and keeps a full cache",
			  a->architecture);
	if (a->expert_count && !a->expert_ffn_size)
		vram_warn(e, "expert FFN width unknown; intermediate_size used for the experts");
	if (strcmp(a->architecture, "gemma3n") == 0)
		vram_warn(e, "gemma3n shares KV between layers; the cache is over-estimated");

	/* Placement (llama-model.cpp load_tensors): i_gpu_start = n_layer + 1 -
	 * ngl; the output layer is on the GPU for any ngl >= 1. */
	e->layers = (uint32_t)n + 1;
	g = !cuda ? 0 : p->ngl == VRAM_NGL_ALL || p->ngl > e->layers ? e->layers : p->ngl;
	e->ngl = g;
	r.gpu_start = (uint32_t)(n + 1 - g);
	r.output_gpu = g >= 1;
	if (cuda && g > 0 && g < e->layers)
		vram_warn(e, "partial offload: compute buffers follow llama.cpp's op offload (less certain)");

	for (il = 0; il < n; il++) {
		enum arch_layer_kind kind = vram_layer_kind(a, il, r.swa);
		uint64_t kvh = arch_layer_kv_heads(a, il);

		if (kind == ARCH_LAYER_RECURRENT) {
			has_rec = true;
			continue;
		}
		if (kind == ARCH_LAYER_FULL)
			has_full = true;
		else
			has_swa = true;
		v_max = vram_max_u64(v_max, r.mla ? a->kv_lora_rank : kvh * vram_head_dim_v(a));
	}
	if (has_rec && vram_rs_values(a, NULL) == 0)
		vram_warn(e, "recurrent state size unknown (ssm fields missing)");
	if (has_rec)
		vram_warn(e, "compute buffer of recurrent layers is approximate");
	if (!r.mla && (has_full || has_swa) && (!vram_head_dim_k(a) || !a->num_kv_heads))
		vram_warn(e, "architecture lacks KV heads or head size; KV cache not estimated");
	e->kv_cells = has_full ? r.cells_seq * r.n_seq : 0;
	e->kv_cells_swa = has_swa ? r.swa_seq * r.n_seq : 0;

	/* Graph inputs (llama-graph.cpp): the embeddings input (f32 n_embd x T),
	 * tokens, positions and output ids (I32), per cache a KQ mask (f16 with
	 * flash attention, else f32) and K/V row indices (I64; one per V element
	 * when V is transposed, i.e. without flash attention). */
	masks = (has_full ? r.cells_seq : 0) + (has_swa ? r.swa_seq : 0);
	masks *= ub * (p->flash_attn ? 2 : 4);
	idx = ((has_full ? 1 : 0) + (has_swa ? 1 : 0)) * ub * 8 * (p->flash_attn ? 2 : 1 + v_max);
	r.inputs = r.E + VRAM_SMALL_INPUTS * ub * 4 + masks + idx;

	for (il = 0; il < n; il++)
		q_max = vram_max_u64(q_max, vram_q_bytes(&r, il));
	r.out_phase = r.E + VRAM_SMALL_INPUTS * ub * 4 + r.E + a->vocab_size * ub * 4;
	if (p->flash_attn && vram_type_is_quantized(p->type_k))
		r.out_phase += q_max;

	all_phase = r.out_phase;
	if (r.output_gpu)
		gpu_phase = r.out_phase;
	for (il = 0; il < n; il++) {
		bool on_gpu = il >= r.gpu_start;

		rc = vram_layer_kv(&r, il, &kv, d);
		if (rc)
			return rc;
		phase = a->hidden_size ? vram_layer_phase(&r, il) : 0;
		act_max = vram_max_u64(act_max, vram_layer_ffn_act(&r, il));
		all_phase = vram_max_u64(all_phase, phase);
		if (on_gpu) {
			gpu_phase = vram_max_u64(gpu_phase, phase);
			e->gpu_weights_bytes = vram_add(e->gpu_weights_bytes, m->layer_bytes[il]);
			e->gpu_kv_bytes = vram_add(e->gpu_kv_bytes, kv);
			e->gpu_read_bytes = vram_add(e->gpu_read_bytes, vram_add(vram_layer_active(m, il), kv));
		} else {
			cpu_phase = vram_max_u64(cpu_phase, phase);
			copy = vram_max_u64(copy, m->layer_bytes[il]);
			e->cpu_weights_bytes = vram_add(e->cpu_weights_bytes, m->layer_bytes[il]);
			e->cpu_kv_bytes = vram_add(e->cpu_kv_bytes, kv);
			e->cpu_read_bytes = vram_add(e->cpu_read_bytes, vram_add(vram_layer_active(m, il), kv));
		}
	}
	e->cpu_weights_bytes = vram_add(e->cpu_weights_bytes, m->input_bytes);
	if (r.output_gpu) {
		e->gpu_weights_bytes = vram_add(e->gpu_weights_bytes, vram_add(m->output_bytes,
							   m->output_tied ? m->output_matrix_bytes : 0));
		e->gpu_read_bytes = vram_add(e->gpu_read_bytes, m->output_matrix_bytes);
	} else {
		e->cpu_weights_bytes = vram_add(e->cpu_weights_bytes, m->output_bytes);
		e->cpu_read_bytes = vram_add(e->cpu_read_bytes, m->output_matrix_bytes);
		copy = vram_max_u64(copy, m->output_matrix_bytes);
	}

	/* Compute buffers.  CPU only: one buffer, the largest phase.  CUDA:
	 * ggml_backend_sched puts graph inputs and the token-embedding lookup
	 * on the CPU (host buffer: 2E + masks + indices); with op offload
	 * (ubatch >= 32) matrix products of CPU weights run on the GPU, whose
	 * buffer then also holds a copy of the largest such weight set. */
	if (!cuda) {
		e->cpu_compute_bytes = all_phase;
	} else {
		bool cpu_side = g < e->layers;

		host = r.inputs + r.E;
		if (cpu_side && ub >= VRAM_OP_OFFLOAD_MIN_BATCH) {
			e->gpu_compute_bytes = vram_add(all_phase, copy);
			e->cpu_compute_bytes = vram_max_u64(host, cpu_phase);
		} else {
			e->gpu_compute_bytes = gpu_phase;
			e->cpu_compute_bytes = vram_max_u64(host, cpu_phase);
			if (!r.output_gpu)
				e->cpu_compute_bytes = vram_max_u64(e->cpu_compute_bytes, r.out_phase);
		}
		e->overhead_bytes = vram_add(VRAM_CUDA_CONTEXT_BYTES, act_max);
	}

	/* llama-context.cpp output_reserve(n_seq_max): logits of one token per
	 * sequence, f32, in host memory. */
	e->output_bytes = a->vocab_size * 4 * r.n_seq;

	e->mmproj = p->mmproj == 1 || (p->mmproj == -1 && (m->mmproj_file_bytes || a->vision.hidden_size));
	if (p->mmproj == 1 && !m->mmproj_file_bytes && !a->vision.hidden_size)
		vram_warn(e, "mmproj=on but the model has no multimodal projector");
	if (e->mmproj)
		e->mmproj_bytes = vram_mmproj(m, p->flash_attn, e);

	e->weights_bytes = vram_add(e->gpu_weights_bytes, e->cpu_weights_bytes);
	e->kv_bytes = vram_add(e->gpu_kv_bytes, e->cpu_kv_bytes);
	e->compute_bytes = vram_add(e->gpu_compute_bytes, e->cpu_compute_bytes);
	e->cpu_bytes = vram_add(vram_add(e->cpu_weights_bytes, e->cpu_kv_bytes),
				vram_add(e->cpu_compute_bytes, e->output_bytes));
	if (cuda) {
		e->total_bytes = vram_add(vram_add(e->gpu_weights_bytes, e->gpu_kv_bytes),
					  vram_add(vram_add(e->gpu_compute_bytes, e->overhead_bytes),
						   e->mmproj_bytes));
	} else {
		e->cpu_bytes = vram_add(e->cpu_bytes, e->mmproj_bytes);
		e->total_bytes = e->cpu_bytes;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * fit@
 * ------------------------------------------------------------------------ */

static uint64_t vram_limit(const struct vram_params *p, const struct hw_profile *hw)
{
	if (p->vram_bytes)
		return p->vram_bytes;
	if (hw && hw->gpu_vram_mib && hw->gpu_vram_mib <= UINT64_MAX / VRAM_MIB)
		return hw->gpu_vram_mib * VRAM_MIB;
	return 0;
}

static int vram_at(const struct vram_model *m, const struct vram_params *base, uint32_t ngl,
		   uint64_t ctx, struct vram_estimate *e, struct diag *d)
{
	struct vram_params q = *base;

	q.backend = VRAM_BACKEND_CUDA;
	q.ngl = ngl;
	if (ctx)
		q.ctx_tokens = ctx;
	return vram_estimate(m, &q, e, d);
}

/* Decode speed: every token reads the active weights and the KV cache once
 * (SPEC §5 est_tg_tokens_per_s), the GPU part at the GPU's bandwidth and
 * the rest at the RAM's; times hw->tg_efficiency, the share of that
 * ceiling this machine's benchmarks reached (bench_efficiency), when it
 * has been calibrated. */
static bool vram_tg(const struct vram_estimate *e, const struct hw_profile *hw, double *tps)
{
	double t = 0;

	if (!hw || e->gpu_read_bytes + e->cpu_read_bytes == 0)
		return false;
	if (e->gpu_read_bytes) {
		if (!(hw->gpu_bandwidth_gbps > 0))
			return false;
		t += (double)e->gpu_read_bytes / (hw->gpu_bandwidth_gbps * 1e9);
	}
	if (e->cpu_read_bytes) {
		if (!(hw->ram_bandwidth_gbps > 0))
			return false;
		t += (double)e->cpu_read_bytes / (hw->ram_bandwidth_gbps * 1e9);
	}
	if (!(t > 0))
		return false;
	*tps = 1.0 / t;
	if (hw->tg_efficiency > 0 && isfinite(hw->tg_efficiency))
		*tps *= hw->tg_efficiency;
	return true;
}

bool vram_estimate_tg(const struct vram_estimate *e, const struct hw_profile *hw, double *tps_out)
{
	return vram_tg(e, hw, tps_out);
}

static int vram_max_ctx(const struct vram_model *m, const struct vram_params *p, uint64_t limit,
			uint64_t *out, struct diag *d)
{
	const struct arch *a = &m->arch;
	uint64_t cap = a->context_length ? a->context_length :
		       a->max_position_embeddings ? a->max_position_embeddings : VRAM_MAX_CTX_TOKENS;
	uint64_t lo = 0, hi, mid;
	struct vram_estimate e;
	int rc;

	*out = 0;
	cap = vram_min_u64(cap, VRAM_MAX_CTX_TOKENS);
	rc = vram_at(m, p, VRAM_NGL_ALL, cap, &e, d);
	if (rc)
		return rc;
	if (e.total_bytes <= limit) {
		*out = cap;
		return 0;
	}
	if (e.gpu_weights_bytes + e.overhead_bytes > limit)
		return 0;
	hi = cap / VRAM_CTX_PAD;
	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		rc = vram_at(m, p, VRAM_NGL_ALL, mid * VRAM_CTX_PAD, &e, d);
		if (rc)
			return rc;
		if (e.total_bytes <= limit)
			lo = mid;
		else
			hi = mid - 1;
	}
	*out = lo * VRAM_CTX_PAD;
	return 0;
}

int vram_fit(const struct vram_model *m, const struct vram_params *p, const struct hw_profile *hw,
	     struct vram_fit *out, struct diag *d)
{
	uint64_t limit = vram_limit(p, hw);
	uint32_t cap, lo, hi, mid;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!limit)
		return diag_fail(d, -EINVAL, "no VRAM size known; give vram=SIZE or set gpu_vram_mib in "
				 ".control/hardware");
	rc = vram_at(m, p, VRAM_NGL_ALL, 0, &out->est, d);
	if (rc)
		return rc;
	out->layers = out->est.layers;
	cap = p->ngl == VRAM_NGL_ALL || p->ngl > out->layers ? out->layers : p->ngl;
	if (cap != out->layers) {
		rc = vram_at(m, p, cap, 0, &out->est, d);
		if (rc)
			return rc;
	}
	if (out->est.total_bytes <= limit) {
		out->fits = cap == out->layers ? VRAM_FITS_FULL : VRAM_FITS_PARTIAL;
		out->ngl = cap;
	} else {
		lo = 0;
		hi = cap ? cap - 1 : 0;
		while (lo < hi) {
			mid = lo + (hi - lo + 1) / 2;
			rc = vram_at(m, p, mid, 0, &out->est, d);
			if (rc)
				return rc;
			if (out->est.total_bytes <= limit)
				lo = mid;
			else
				hi = mid - 1;
		}
		out->ngl = lo;
		out->fits = lo > 0 ? VRAM_FITS_PARTIAL : VRAM_FITS_NO;
		rc = vram_at(m, p, lo, 0, &out->est, d);
		if (rc)
			return rc;
		if (lo > 0 && out->est.total_bytes > limit) {
			out->fits = VRAM_FITS_NO;
			out->ngl = 0;
			rc = vram_at(m, p, 0, 0, &out->est, d);
			if (rc)
				return rc;
		}
	}
	out->gpu_bytes = out->est.total_bytes;
	out->cpu_bytes = out->est.cpu_bytes;
	rc = vram_max_ctx(m, p, limit, &out->max_ctx, d);
	if (rc)
		return rc;
	out->tg_known = vram_tg(&out->est, hw, &out->est_tg_tokens_per_s);
	return 0;
}

/* ------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------ */

static const char *vram_unit_name(enum vram_unit u)
{
	return u == VRAM_UNIT_GIB ? "GiB" : u == VRAM_UNIT_B ? "B" : "MiB";
}

/* num: MiB rounded up (nvidia-smi's unit), GiB rounded up to 0.01, bytes. */
static void vram_put_amount(struct sbuf *out, uint64_t bytes, enum vram_unit unit)
{
	unsigned __int128 h;

	switch (unit) {
	case VRAM_UNIT_MIB:
		sbuf_addf(out, "%llu", (unsigned long long)vram_ceil_mib(bytes));
		break;
	case VRAM_UNIT_GIB:
		h = ((unsigned __int128)bytes * 100 + VRAM_GIB - 1) / VRAM_GIB;
		sbuf_addf(out, "%llu.%02llu", (unsigned long long)(h / 100), (unsigned long long)(h % 100));
		break;
	case VRAM_UNIT_B:
		sbuf_addf(out, "%llu", (unsigned long long)bytes);
		break;
	}
}

/* A breakdown line's amount: two decimals in MiB and GiB. */
static void vram_put_line(struct sbuf *out, const char *label, uint64_t bytes, enum vram_unit unit)
{
	if (unit == VRAM_UNIT_B)
		sbuf_addf(out, "  %-14s %14llu B\n", label, (unsigned long long)bytes);
	else
		sbuf_addf(out, "  %-14s %11.2f %s\n", label,
			  (double)bytes / (double)(unit == VRAM_UNIT_GIB ? VRAM_GIB : VRAM_MIB),
			  vram_unit_name(unit));
}

static void vram_put_total(struct sbuf *out, const char *label, uint64_t bytes, enum vram_unit unit)
{
	sbuf_addf(out, "%s: ", label);
	vram_put_amount(out, bytes, unit);
	sbuf_addf(out, " %s\n", vram_unit_name(unit));
}

static void vram_render_text(const struct vram_estimate *e, const struct vram_params *p,
			     const char *name, struct sbuf *out)
{
	enum vram_unit u = p->unit;
	size_t i;

	if (p->backend == VRAM_BACKEND_CUDA) {
		vram_put_total(out, "VRAM", e->total_bytes, u);
		vram_put_line(out, "weights", e->gpu_weights_bytes, u);
		vram_put_line(out, "KV cache", e->gpu_kv_bytes, u);
		vram_put_line(out, "compute", e->gpu_compute_bytes, u);
		vram_put_line(out, "CUDA context", e->overhead_bytes, u);
		vram_put_line(out, "mmproj", e->mmproj_bytes, u);
		vram_put_total(out, "system RAM", e->cpu_bytes, u);
	} else {
		vram_put_total(out, "memory (CPU only)", e->cpu_bytes, u);
	}
	vram_put_line(out, "weights", e->cpu_weights_bytes, u);
	vram_put_line(out, "KV cache", e->cpu_kv_bytes, u);
	vram_put_line(out, "compute", e->cpu_compute_bytes, u);
	vram_put_line(out, "output", e->output_bytes, u);
	if (p->backend == VRAM_BACKEND_CPU)
		vram_put_line(out, "mmproj", e->mmproj_bytes, u);
	sbuf_addf(out, "model: %s, weights from %s\n", name, vram_source_name(e->source));
	sbuf_addf(out, "settings: ctx %llu (llama.cpp n_ctx %llu), K cache %s, V cache %s, flash attention %s, "
		  "ubatch %u, batch %u, par %u, %u/%u layers on the GPU, mmproj %s\n",
		  (unsigned long long)e->ctx_tokens, (unsigned long long)e->n_ctx,
		  vram_cache_type_name(p->type_k), vram_cache_type_name(p->type_v),
		  p->flash_attn ? "on" : "off", e->ubatch, e->batch, p->par, e->ngl, e->layers,
		  e->mmproj ? "on" : "off");
	for (i = 0; i < e->n_warnings; i++)
		sbuf_addf(out, "warning: %s\n", e->warnings[i]);
}

static void vram_json_u64(struct sbuf *out, const char *key, uint64_t v, bool comma)
{
	sbuf_addf(out, "    \"%s\": %llu%s\n", key, (unsigned long long)v, comma ? "," : "");
}

static void vram_render_json(const struct vram_estimate *e, const struct vram_params *p,
			     struct sbuf *out)
{
	size_t i;

	sbuf_addf(out, "{\n  \"total_bytes\": %llu,\n  \"weights_bytes\": %llu,\n  \"kv_bytes\": %llu,\n"
		  "  \"compute_bytes\": %llu,\n  \"output_bytes\": %llu,\n  \"overhead_bytes\": %llu,\n"
		  "  \"mmproj_bytes\": %llu,\n  \"cpu_bytes\": %llu,\n",
		  (unsigned long long)e->total_bytes, (unsigned long long)e->weights_bytes,
		  (unsigned long long)e->kv_bytes, (unsigned long long)e->compute_bytes,
		  (unsigned long long)e->output_bytes, (unsigned long long)e->overhead_bytes,
		  (unsigned long long)e->mmproj_bytes, (unsigned long long)e->cpu_bytes);
	sbuf_addstr(out, "  \"total\": ");
	if (p->unit == VRAM_UNIT_GIB)
		sbuf_addch(out, '"');
	vram_put_amount(out, e->total_bytes, p->unit);
	if (p->unit == VRAM_UNIT_GIB)
		sbuf_addch(out, '"');
	sbuf_addf(out, ",\n  \"unit\": \"%s\",\n", p->unit == VRAM_UNIT_GIB ? "gib" : p->unit == VRAM_UNIT_B ?
		  "b" : "mib");
	sbuf_addstr(out, "  \"gpu\": {\n");
	vram_json_u64(out, "weights_bytes", e->gpu_weights_bytes, true);
	vram_json_u64(out, "kv_bytes", e->gpu_kv_bytes, true);
	vram_json_u64(out, "compute_bytes", e->gpu_compute_bytes, true);
	vram_json_u64(out, "overhead_bytes", e->overhead_bytes, true);
	vram_json_u64(out, "mmproj_bytes", p->backend == VRAM_BACKEND_CUDA ? e->mmproj_bytes : 0, false);
	sbuf_addstr(out, "  },\n  \"cpu\": {\n");
	vram_json_u64(out, "weights_bytes", e->cpu_weights_bytes, true);
	vram_json_u64(out, "kv_bytes", e->cpu_kv_bytes, true);
	vram_json_u64(out, "compute_bytes", e->cpu_compute_bytes, true);
	vram_json_u64(out, "output_bytes", e->output_bytes, true);
	vram_json_u64(out, "mmproj_bytes", p->backend == VRAM_BACKEND_CPU ? e->mmproj_bytes : 0, false);
	sbuf_addf(out, "  },\n  \"params\": {\n    \"ctx\": %llu,\n    \"n_ctx\": %llu,\n    \"kv_cells\": %llu,\n"
		  "    \"kv_cells_swa\": %llu,\n    \"ctk\": \"%s\",\n    \"ctv\": \"%s\",\n    \"fa\": \"%s\",\n"
		  "    \"ubatch\": %u,\n    \"batch\": %u,\n    \"par\": %u,\n    \"ngl\": %u,\n    \"layers\": %u,\n"
		  "    \"mmproj\": \"%s\",\n    \"backend\": \"%s\"\n  },\n",
		  (unsigned long long)e->ctx_tokens, (unsigned long long)e->n_ctx,
		  (unsigned long long)e->kv_cells, (unsigned long long)e->kv_cells_swa,
		  vram_cache_type_name(p->type_k), vram_cache_type_name(p->type_v), p->flash_attn ? "on" : "off",
		  e->ubatch, e->batch, p->par, e->ngl, e->layers, e->mmproj ? "on" : "off",
		  p->backend == VRAM_BACKEND_CPU ? "cpu" : "cuda");
	sbuf_addf(out, "  \"weights_source\": \"%s\",\n  \"llama_cpp\": \"b10470\",\n  \"warnings\": [",
		  vram_source_name(e->source));
	for (i = 0; i < e->n_warnings; i++) {
		sbuf_addstr(out, i ? ", " : "");
		sbuf_add_json_str(out, e->warnings[i]);
	}
	sbuf_addstr(out, "]\n}\n");
}

/* A shell word: single quotes, a quote inside as '\''. */
static void vram_put_shell(struct sbuf *out, const char *s)
{
	sbuf_addch(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sbuf_addstr(out, "'\\''");
		else
			sbuf_addch(out, *s);
	}
	sbuf_addch(out, '\'');
}

static void vram_render_env(const struct vram_estimate *e, const struct vram_params *p, struct sbuf *out)
{
	size_t i;

	sbuf_addf(out, "total_bytes=%llu\nweights_bytes=%llu\nkv_bytes=%llu\ncompute_bytes=%llu\n"
		  "output_bytes=%llu\noverhead_bytes=%llu\nmmproj_bytes=%llu\ncpu_bytes=%llu\ntotal=",
		  (unsigned long long)e->total_bytes, (unsigned long long)e->weights_bytes,
		  (unsigned long long)e->kv_bytes, (unsigned long long)e->compute_bytes,
		  (unsigned long long)e->output_bytes, (unsigned long long)e->overhead_bytes,
		  (unsigned long long)e->mmproj_bytes, (unsigned long long)e->cpu_bytes);
	vram_put_amount(out, e->total_bytes, p->unit);
	sbuf_addf(out, "\nunit=%s\nweights_source=%s\nctx=%llu\nn_ctx=%llu\nctk=%s\nctv=%s\nfa=%s\n"
		  "ubatch=%u\nbatch=%u\npar=%u\nngl=%u\nlayers=%u\nmmproj=%s\nwarnings=",
		  p->unit == VRAM_UNIT_GIB ? "gib" : p->unit == VRAM_UNIT_B ? "b" : "mib",
		  vram_source_name(e->source), (unsigned long long)e->ctx_tokens, (unsigned long long)e->n_ctx,
		  vram_cache_type_name(p->type_k), vram_cache_type_name(p->type_v), p->flash_attn ? "on" : "off",
		  e->ubatch, e->batch, p->par, e->ngl, e->layers, e->mmproj ? "on" : "off");
	if (e->n_warnings) {
		struct sbuf w;

		sbuf_init(&w, VRAM_MAX_WARNINGS * (VRAM_WARNING_BYTES + 2));
		for (i = 0; i < e->n_warnings; i++) {
			sbuf_addstr(&w, i ? "; " : "");
			sbuf_addstr(&w, e->warnings[i]);
		}
		if (w.err)
			out->err = out->err ? out->err : w.err;
		else
			vram_put_shell(out, w.buf);
		sbuf_release(&w);
	}
	sbuf_addch(out, '\n');
}

static void vram_render_fit(const struct vram_fit *f, const struct vram_params *p, struct sbuf *out)
{
	size_t i;

	if (p->format == VRAM_FORMAT_JSON) {
		sbuf_addf(out, "{\n  \"fits\": \"%s\",\n  \"ngl\": %u,\n  \"layers\": %u,\n  \"gpu_mib\": %llu,\n"
			  "  \"cpu_mib\": %llu,\n  \"max_ctx\": %llu,\n  \"est_tg_tokens_per_s\": ",
			  vram_fits_name(f->fits), f->ngl, f->layers, (unsigned long long)vram_ceil_mib(f->gpu_bytes),
			  (unsigned long long)vram_ceil_mib(f->cpu_bytes), (unsigned long long)f->max_ctx);
		if (f->tg_known)
			sbuf_addf(out, "%.1f", f->est_tg_tokens_per_s);
		else
			sbuf_addstr(out, "null");
		sbuf_addstr(out, ",\n  \"warnings\": [");
		for (i = 0; i < f->est.n_warnings; i++) {
			sbuf_addstr(out, i ? ", " : "");
			sbuf_add_json_str(out, f->est.warnings[i]);
		}
		sbuf_addstr(out, "]\n}\n");
		return;
	}
	sbuf_addf(out, "fits=%s\nngl=%u\nlayers=%u\ngpu_mib=%llu\ncpu_mib=%llu\nmax_ctx=%llu\nest_tg_tokens_per_s=",
		  vram_fits_name(f->fits), f->ngl, f->layers, (unsigned long long)vram_ceil_mib(f->gpu_bytes),
		  (unsigned long long)vram_ceil_mib(f->cpu_bytes), (unsigned long long)f->max_ctx);
	if (f->tg_known)
		sbuf_addf(out, "%.1f", f->est_tg_tokens_per_s);
	sbuf_addch(out, '\n');
}

static int vram_render_named(const struct vram_model *m, const struct vram_params *p,
			     const struct hw_profile *hw, const char *name, struct sbuf *out,
			     struct diag *d)
{
	struct vram_estimate e;
	struct vram_fit *f;
	int rc;

	if (p->kind == VRAM_KIND_FIT) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		rc = vram_fit(m, p, hw, f, d);
		if (rc == 0)
			vram_render_fit(f, p, out);
		free(f);
		return rc ? rc : out->err;
	}
	if (p->kind != VRAM_KIND_VRAM)
		return diag_fail(d, -EINVAL, "%s@ is not a file of a quant directory", vram_kind_name(p->kind));
	rc = vram_estimate(m, p, &e, d);
	if (rc)
		return rc;
	switch (p->format) {
	case VRAM_FORMAT_NUM:
		vram_put_amount(out, e.total_bytes, p->unit);
		sbuf_addch(out, '\n');
		break;
	case VRAM_FORMAT_TEXT:
		vram_render_text(&e, p, name, out);
		break;
	case VRAM_FORMAT_JSON:
		vram_render_json(&e, p, out);
		break;
	case VRAM_FORMAT_ENV:
		vram_render_env(&e, p, out);
		break;
	}
	return out->err;
}

int vram_render(const struct vram_model *m, const struct vram_params *p, const struct hw_profile *hw,
		struct sbuf *out, struct diag *d)
{
	return vram_render_named(m, p, hw, m->arch.architecture[0] ? m->arch.architecture : "?", out, d);
}

/* ------------------------------------------------------------------------
 * The registry's quants
 * ------------------------------------------------------------------------ */

/* Whether the output matrix is the token embeddings, when no source said:
 * the layout whose parameter count is nearer the variant's (Llama 3.2 1B,
 * Qwen2.5 3B and Gemma tie; larger models usually do not); without a count,
 * Gemma's architectures tie.  Marked derived, so the estimate warns. */
static void vram_guess_tied(struct arch *a, const struct model_variant *v)
{
	double want = v->parameter_count_exact ? (double)v->parameter_count_exact :
		      v->parameter_count_b * 1e9, emb, layers = 0, untied, tied;
	size_t il;

	if (arch_has(a, ARCH_F_TIE_WORD_EMBEDDINGS))
		return;
	if (want > 0 && a->num_layers && a->vocab_size && a->hidden_size) {
		emb = (double)a->vocab_size * (double)a->hidden_size;
		for (il = 0; il < a->num_layers; il++)
			layers += vram_layer_params(a, il, NULL);
		untied = layers + 2 * emb;
		tied = layers + emb;
		if (fmin(fabs(tied - want), fabs(untied - want)) > emb / 2)
			return;
		a->tie_word_embeddings = fabs(tied - want) < fabs(untied - want);
	} else {
		a->tie_word_embeddings = strncmp(a->architecture, "gemma", 5) == 0;
	}
	a->src[ARCH_F_TIE_WORD_EMBEDDINGS] = ARCH_SRC_DERIVED;
}

int vram_model_from_variant(struct vram_model *m, const struct model_variant *v,
			    const struct model_quant *q, struct diag *d)
{
	uint64_t model = 0, mmproj = 0;
	bool exact = q->size_exact, all_sized = q->n_files > 0;
	struct arch a;
	size_t i;
	int rc;

	memset(m, 0, sizeof(*m));
	arch_init(&m->arch);
	if (!v->arch_json)
		return diag_fail(d, -ENODATA, "%s/%s has no architecture; re-register it", v->family, v->variant);
	for (i = 0; i < q->n_files; i++) {
		if (q->files[i].role == FILE_ROLE_MMPROJ) {
			mmproj += q->files[i].size_bytes;
		} else {
			model += q->files[i].size_bytes;
			if (!q->files[i].size_bytes)
				all_sized = false;
		}
	}
	if (all_sized && model)
		exact = true;
	else
		model = q->size_bytes;
	if (!model && !q->weights_layout)
		return diag_fail(d, -ENODATA, "size of %s/%s/%s is unknown; refresh it", v->family, v->variant,
				 q->name);
	arch_init(&a);
	rc = arch_from_json(v->arch_json, strlen(v->arch_json), ARCH_SRC_CATALOG, &a, d);
	if (rc == 0 && q->weights_layout) {
		rc = vram_model_from_layout(m, &a, q->weights_layout, q->weights_layout_bytes, d);
		if (rc == 0) {
			m->file_bytes = model;
			if (!m->mmproj_file_bytes)
				m->mmproj_file_bytes = mmproj;
		}
	} else if (rc == 0) {
		vram_guess_tied(&a, v);
		rc = vram_model_from_size(m, &a, model, exact ? VRAM_SRC_FILE_SIZE : VRAM_SRC_CATALOG, mmproj, d);
	}
	arch_release(&a);
	return rc;
}

int vram_render_quant(const struct model_variant *v, const struct model_quant *q,
		      const struct vram_params *p, const struct hw_profile *hw,
		      struct sbuf *out, struct diag *d)
{
	struct vram_model m;
	int rc;

	rc = vram_model_from_variant(&m, v, q, d);
	if (rc == 0)
		rc = vram_render_named(&m, p, hw, v->variant, out, d);
	vram_model_release(&m);
	return rc;
}

int vram_estimate_quant(const struct model_variant *v, const struct model_quant *q,
			const struct vram_params *p, struct vram_estimate *out, struct diag *d)
{
	struct vram_model m;
	int rc;

	rc = vram_model_from_variant(&m, v, q, d);
	if (rc == 0)
		rc = vram_estimate(&m, p, out, d);
	vram_model_release(&m);
	return rc;
}

int vram_tg_quant(const struct model_variant *v, const struct model_quant *q,
		  const struct vram_params *p, const struct hw_profile *hw, double *tps_out,
		  struct diag *d)
{
	struct vram_estimate e;
	int rc;

	rc = vram_estimate_quant(v, q, p, &e, d);
	if (rc)
		return rc;
	if (!vram_estimate_tg(&e, hw, tps_out))
		return diag_fail(d, -ENODATA, "decode speed: the hardware profile gives no %s bandwidth; set it "
				 "in .control/hardware", e.gpu_read_bytes ? "GPU" : "RAM");
	return 0;
}

struct vram_pick {
	const struct model_variant *v;
	const struct model_quant *q;
	enum vram_prefer prefer;
	enum vram_fits fits;
	uint64_t full_bytes;     /* VRAM at full offload */
	int stars;
	double bpw;
	bool tg_known;
	double tg;
};

/* Full fits before partial ones; then quality: stars, bits per weight;
 * speed: decode speed (unknown last), smaller first; balanced: stars,
 * then speed; ties by path. */
static int vram_pick_cmp(const void *pa, const void *pb)
{
	const struct vram_pick *a = pa, *b = pb;
	int c;

	if (a->fits != b->fits)
		return a->fits > b->fits ? -1 : 1;
	if (a->prefer != VRAM_PREFER_SPEED && a->stars != b->stars)
		return a->stars > b->stars ? -1 : 1;
	if (a->prefer == VRAM_PREFER_QUALITY && a->bpw != b->bpw)
		return a->bpw > b->bpw ? -1 : 1;
	if (a->tg_known != b->tg_known)
		return a->tg_known ? -1 : 1;
	if (a->tg_known && a->tg != b->tg)
		return a->tg > b->tg ? -1 : 1;
	if (a->prefer != VRAM_PREFER_QUALITY && a->full_bytes != b->full_bytes)
		return a->full_bytes < b->full_bytes ? -1 : 1;
	c = strcmp(a->v->family, b->v->family);
	if (!c)
		c = strcmp(a->v->variant, b->v->variant);
	return c ? c : strcmp(a->q->name, b->q->name);
}

/* A quant a benchmark has measured ranks (and shows) by its latest tested
 * run's decode speed rather than the estimate: measured numbers win where
 * present (issue 7).  That run may have used another context than this
 * recommend@'s; decode speed moves little with it at these sizes. */
static void vram_pick_measured(struct vram_pick *k)
{
	const struct bench_run *t = bench_latest_tested(k->q);

	if (t && t->m.has_tg && t->m.tg_tokens_per_s > 0 && isfinite(t->m.tg_tokens_per_s)) {
		k->tg_known = true;
		k->tg = t->m.tg_tokens_per_s;
	}
}

/* Judges every quant of s against the VRAM limit: picks (nullable) get
 * the ones that fit at least partly. */
static int vram_judge_all(const struct registry_snapshot *s, const struct vram_params *p,
			  const struct hw_profile *hw, struct vram_pick *picks, size_t *n_picks,
			  vram_fits_cb cb, void *cb_ctx, struct diag *d)
{
	struct vram_params q = *p;
	struct vram_model m;
	struct vram_fit *f;
	size_t iv, iq;
	int rc = 0;

	q.vram_bytes = vram_limit(p, hw);
	if (!q.vram_bytes)
		return diag_fail(d, -EINVAL, "no VRAM size known; give vram=SIZE or set gpu_vram_mib in "
				 ".control/hardware");
	q.kind = VRAM_KIND_FIT;
	q.ngl = VRAM_NGL_ALL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (iv = 0; iv < s->n_variants && rc == 0; iv++) {
		const struct model_variant *v = &s->variants[iv];

		for (iq = 0; iq < v->n_quants && rc == 0; iq++) {
			const struct model_quant *mq = &v->quants[iq];
			struct vram_estimate e;

			if (vram_model_from_variant(&m, v, mq, NULL) != 0)
				continue;
			if (cb) {
				if (vram_estimate(&m, &q, &e, NULL) == 0 && e.total_bytes <= q.vram_bytes)
					rc = cb(cb_ctx, v, mq);
			} else if (vram_fit(&m, &q, hw, f, NULL) == 0 && f->fits != VRAM_FITS_NO) {
				struct vram_pick *k = &picks[(*n_picks)++];

				k->v = v;
				k->q = mq;
				k->prefer = p->prefer;
				k->fits = f->fits;
				k->stars = mq->quality_stars ? mq->quality_stars :
					   render_quality_stars(v->parameter_count_b, mq->bits_per_weight);
				k->bpw = mq->bits_per_weight;
				k->tg_known = f->tg_known;
				k->tg = f->est_tg_tokens_per_s;
				vram_pick_measured(k);
				k->full_bytes = f->fits == VRAM_FITS_FULL ? f->gpu_bytes : 0;
				if (f->fits != VRAM_FITS_FULL && vram_at(&m, &q, VRAM_NGL_ALL, 0, &e, NULL) == 0)
					k->full_bytes = e.total_bytes;
			}
			vram_model_release(&m);
		}
	}
	free(f);
	return rc;
}

int vram_render_recommend(const struct registry_snapshot *s, const struct vram_params *p,
			  const struct hw_profile *hw, struct sbuf *out, struct diag *d)
{
	struct vram_pick *picks = NULL;
	size_t n = 0, n_picks = 0, iv, i;
	int rc;

	for (iv = 0; iv < s->n_variants; iv++)
		n += s->variants[iv].n_quants;
	if (n) {
		picks = calloc(n, sizeof(*picks));
		if (!picks)
			return -ENOMEM;
	}
	rc = vram_judge_all(s, p, hw, picks, &n_picks, NULL, NULL, d);
	if (rc)
		goto out_free;
	qsort(picks, n_picks, sizeof(*picks), vram_pick_cmp);
	sbuf_addstr(out, "rank\tpath\tvram_mib\tfits\tstars\test_tg_tokens_per_s\n");
	for (i = 0; i < n_picks && i < p->n; i++) {
		const struct vram_pick *k = &picks[i];

		sbuf_addf(out, "%zu\t%s/%s/%s\t%llu\t%s\t", i + 1, k->v->family, k->v->variant, k->q->name,
			  (unsigned long long)vram_ceil_mib(k->full_bytes), vram_fits_name(k->fits));
		if (k->stars)
			sbuf_addf(out, "%d", k->stars);
		sbuf_addch(out, '\t');
		if (k->tg_known)
			sbuf_addf(out, "%.1f", k->tg);
		sbuf_addch(out, '\n');
	}
	rc = out->err;
out_free:
	free(picks);
	return rc;
}

int vram_fits_each(const struct registry_snapshot *s, const struct vram_params *p,
		   const struct hw_profile *hw, vram_fits_cb cb, void *ctx, struct diag *d)
{
	return vram_judge_all(s, p, hw, NULL, NULL, cb, ctx, d);
}
