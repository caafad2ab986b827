/*
 * test_vram.c - the VRAM estimator: parameter names (valid and hostile),
 * the estimate against llama.cpp's own numbers (every run of the ground
 * truth: KV and output exact, weights to 0.1 MiB from the file size,
 * compute within 0.35% of the total), hand-checked KV sizes per family
 * (GQA, sliding windows, MLA, Mamba, RWKV, hybrids, parallel sequences,
 * padding), layer placement with -ngl, fit@ (full, partial, no, max_ctx,
 * speed), every output format, weights attributed from a GGUF header this
 * test writes, the registry glue over the built-in catalog (vram@,
 * recommend@, fits@), and saturation on absurd architectures.
 */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MIB 1048576.0

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static void set_u(struct arch *a, enum arch_field f, uint64_t v)
{
	assert_int_equal(arch_set_u64(a, f, v, ARCH_SRC_GGUF), 0);
}

/* A dense GQA transformer. */
static void dense_arch(struct arch *a, const char *name, uint64_t layers, uint64_t hidden,
		       uint64_t heads, uint64_t kv_heads, uint64_t head_dim, uint64_t ff, uint64_t vocab,
		       uint64_t ctx)
{
	arch_init(a);
	assert_int_equal(arch_set_str(a, ARCH_F_ARCHITECTURE, name, ARCH_SRC_GGUF), 0);
	set_u(a, ARCH_F_NUM_LAYERS, layers);
	set_u(a, ARCH_F_HIDDEN_SIZE, hidden);
	set_u(a, ARCH_F_NUM_ATTENTION_HEADS, heads);
	set_u(a, ARCH_F_NUM_KV_HEADS, kv_heads);
	if (head_dim) {
		set_u(a, ARCH_F_HEAD_DIM_K, head_dim);
		set_u(a, ARCH_F_HEAD_DIM_V, head_dim);
	}
	if (ff)
		set_u(a, ARCH_F_INTERMEDIATE_SIZE, ff);
	set_u(a, ARCH_F_VOCAB_SIZE, vocab);
	if (ctx)
		set_u(a, ARCH_F_CONTEXT_LENGTH, ctx);
}

static void model_of(struct vram_model *m, const struct arch *a, uint64_t file_bytes)
{
	struct diag d;
	int rc;

	diag_init(&d);
	rc = vram_model_from_size(m, a, file_bytes, VRAM_SRC_FILE_SIZE, 0, &d);
	if (rc)
		fail_msg("vram_model_from_size: %d %s", rc, d.msg);
}

static void params(struct vram_params *p, uint64_t ctx, bool fa, uint32_t type, enum vram_backend b)
{
	vram_params_init(p, VRAM_KIND_VRAM);
	p->ctx_tokens = ctx;
	p->flash_attn = fa;
	p->type_k = p->type_v = type;
	p->backend = b;
}

static void estimate_ok(const struct vram_model *m, const struct vram_params *p, struct vram_estimate *e)
{
	struct diag d;
	int rc;

	diag_init(&d);
	rc = vram_estimate(m, p, e, &d);
	if (rc)
		fail_msg("vram_estimate: %d %s", rc, d.msg);
	/* invariants of every estimate */
	assert_int_equal(e->weights_bytes, e->gpu_weights_bytes + e->cpu_weights_bytes);
	assert_int_equal(e->kv_bytes, e->gpu_kv_bytes + e->cpu_kv_bytes);
	assert_int_equal(e->compute_bytes, e->gpu_compute_bytes + e->cpu_compute_bytes);
	assert_true(e->ngl <= e->layers);
	assert_true(e->n_ctx >= e->ctx_tokens && e->n_ctx % 256 == 0);
	assert_true(e->ubatch <= e->batch && e->batch <= e->n_ctx);
	if (p->backend == VRAM_BACKEND_CUDA) {
		assert_int_equal(e->total_bytes + e->cpu_bytes,
				 e->weights_bytes + e->kv_bytes + e->compute_bytes + e->output_bytes +
				 e->overhead_bytes + e->mmproj_bytes);
	} else {
		assert_int_equal(e->total_bytes, e->cpu_bytes);
		assert_int_equal(e->total_bytes, e->weights_bytes + e->kv_bytes + e->compute_bytes +
				 e->output_bytes + e->mmproj_bytes);
		assert_int_equal(e->overhead_bytes, 0);
	}
}

static bool has_warning(const struct vram_estimate *e, const char *needle)
{
	size_t i;

	for (i = 0; i < e->n_warnings; i++)
		if (strstr(e->warnings[i], needle))
			return true;
	return false;
}

/* A projector whose file size is unknown and whose tower has no fixed
 * image size (Qwen2.5-VL: 32 layers of 1280, dynamic resolution) is
 * counted from the tower at f16, with warnings; a fixed image size adds
 * clip's compute buffer. */
static void test_mmproj_without_file(void **state)
{
	struct vram_estimate e;
	struct vram_params p;
	struct vram_model m;
	struct arch a;

	(void)state;
	dense_arch(&a, "qwen2vl", 28, 3584, 28, 4, 128, 18944, 152064, 128000);
	set_u(&a, ARCH_F_VISION_PATCH_SIZE, 14);
	set_u(&a, ARCH_F_VISION_NUM_LAYERS, 32);
	set_u(&a, ARCH_F_VISION_HIDDEN_SIZE, 1280);
	model_of(&m, &a, 4683073952ull);
	params(&p, 8192, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	estimate_ok(&m, &p, &e);
	assert_true(e.mmproj);
	assert_int_equal(e.mmproj_bytes, 24ull * 32 * 1280 * 1280);
	assert_true(has_warning(&e, "estimated from the vision tower"));
	assert_true(has_warning(&e, "image size is not fixed"));
	p.mmproj = 0;
	estimate_ok(&m, &p, &e);
	assert_int_equal(e.mmproj_bytes, 0);
	vram_model_release(&m);
	set_u(&a, ARCH_F_VISION_IMAGE_SIZE, 896);
	model_of(&m, &a, 4683073952ull);
	p.mmproj = -1;
	estimate_ok(&m, &p, &e);
	assert_true(e.mmproj_bytes > 24ull * 32 * 1280 * 1280);
	assert_true(has_warning(&e, "compute buffer is approximate"));
	vram_model_release(&m);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * Parameter names
 * ------------------------------------------------------------------------ */

static void test_parse_defaults(void **state)
{
	struct vram_params p;
	struct diag d;

	(void)state;
	diag_init(&d);
	assert_int_equal(vram_parse_name("vram@ctx=8192", &p, &d), 0);
	assert_int_equal(p.kind, VRAM_KIND_VRAM);
	assert_int_equal(p.ctx_tokens, 8192);
	assert_int_equal(p.type_k, GGML_TYPE_F16);
	assert_int_equal(p.type_v, GGML_TYPE_F16);
	assert_true(p.flash_attn);
	assert_int_equal(p.ubatch, 512);
	assert_int_equal(p.batch, 2048);
	assert_int_equal(p.par, 1);
	assert_int_equal(p.ngl, VRAM_NGL_ALL);
	assert_int_equal(p.mmproj, -1);
	assert_int_equal(p.unit, VRAM_UNIT_MIB);
	assert_int_equal(p.format, VRAM_FORMAT_NUM);
	assert_int_equal(p.backend, VRAM_BACKEND_CUDA);

	assert_int_equal(vram_parse_name("fit@vram=16000", &p, &d), 0);
	assert_int_equal(p.kind, VRAM_KIND_FIT);
	assert_int_equal(p.vram_bytes, 16000ull << 20);
	assert_int_equal(p.ctx_tokens, VRAM_DEFAULT_CTX);
	assert_int_equal(p.format, VRAM_FORMAT_ENV);

	assert_int_equal(vram_parse_name("recommend@", &p, &d), 0);
	assert_int_equal(p.kind, VRAM_KIND_RECOMMEND);
	assert_int_equal(p.vram_bytes, 0);
	assert_int_equal(p.n, 5);
	assert_int_equal(p.prefer, VRAM_PREFER_BALANCED);
	assert_int_equal(d.code, 0);
}

static void test_parse_valid(void **state)
{
	static const struct {
		const char *name;
		enum vram_kind kind;
		uint64_t ctx;
		uint32_t tk, tv;
		int fa;           /* -1 don't care */
		uint32_t ngl;
		uint64_t vram;
	} cases[] = {
		{ "vram@ctx=8k", VRAM_KIND_VRAM, 8192, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=128k", VRAM_KIND_VRAM, 131072, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=128K", VRAM_KIND_VRAM, 131072, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=1m", VRAM_KIND_VRAM, 1048576, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=16m", VRAM_KIND_VRAM, 16777216, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=max", VRAM_KIND_VRAM, VRAM_CTX_MAX, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=1", VRAM_KIND_VRAM, 1, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=8192,kv=q8_0", VRAM_KIND_VRAM, 8192, 8, 8, 1, VRAM_NGL_ALL, 0 },
		{ "vram@kv=q4_0,ctx=8192,ctk=q8_0", VRAM_KIND_VRAM, 8192, 8, 2, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctk=q8_0,kv=iq4_nl,ctx=8192", VRAM_KIND_VRAM, 8192, 8, 20, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=8192,ctk=q4_1,fa=off", VRAM_KIND_VRAM, 8192, 3, 1, 0, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=8192,kv=bf16,fa=off", VRAM_KIND_VRAM, 8192, 30, 30, 0, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=8192,kv=f32", VRAM_KIND_VRAM, 8192, 0, 0, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=8192,ngl=0", VRAM_KIND_VRAM, 8192, 1, 1, 1, 0, 0 },
		{ "vram@ctx=8192,ngl=20", VRAM_KIND_VRAM, 8192, 1, 1, 1, 20, 0 },
		{ "vram@ctx=8192,ngl=all", VRAM_KIND_VRAM, 8192, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "vram@ctx=8192,ubatch=256,batch=1024,par=4,mmproj=off,unit=gib,format=json",
		  VRAM_KIND_VRAM, 8192, 1, 1, 1, VRAM_NGL_ALL, 0 },
		{ "fit@vram=24G", VRAM_KIND_FIT, 8192, 1, 1, 1, VRAM_NGL_ALL, 24ull << 30 },
		{ "fit@vram=24GiB,ctx=32k", VRAM_KIND_FIT, 32768, 1, 1, 1, VRAM_NGL_ALL, 24ull << 30 },
		{ "fit@vram=1.5T", VRAM_KIND_FIT, 8192, 1, 1, 1, VRAM_NGL_ALL, 1536ull << 30 },
		{ "fit@vram=512M,format=json,ngl=10", VRAM_KIND_FIT, 8192, 1, 1, 1, 10, 512ull << 20 },
		{ "recommend@vram=24G,ctx=8192,prefer=speed,n=3", VRAM_KIND_RECOMMEND, 8192, 1, 1, 1,
		  VRAM_NGL_ALL, 24ull << 30 },
		{ "fits@vram=8G,ctx=4096,kv=q8_0", VRAM_KIND_FITS, 4096, 8, 8, 1, VRAM_NGL_ALL, 8ull << 30 },
		{ "fits@", VRAM_KIND_FITS, 8192, 1, 1, 1, VRAM_NGL_ALL, 0 },
	};
	struct vram_params p;
	struct diag d;
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(cases); i++) {
		diag_init(&d);
		if (vram_parse_name(cases[i].name, &p, &d) != 0)
			fail_msg("%s: %s", cases[i].name, d.msg);
		assert_int_equal(p.kind, cases[i].kind);
		assert_int_equal(p.ctx_tokens, cases[i].ctx);
		assert_int_equal(p.type_k, cases[i].tk);
		assert_int_equal(p.type_v, cases[i].tv);
		if (cases[i].fa >= 0)
			assert_int_equal(p.flash_attn, cases[i].fa);
		assert_int_equal(p.ngl, cases[i].ngl);
		assert_int_equal(p.vram_bytes, cases[i].vram);
	}
	assert_int_equal(vram_parse_name("vram@ctx=8192,ubatch=256,batch=1024,par=4,mmproj=off,unit=gib,format=json",
					 &p, NULL), 0);
	assert_int_equal(p.ubatch, 256);
	assert_int_equal(p.batch, 1024);
	assert_int_equal(p.par, 4);
	assert_int_equal(p.mmproj, 0);
	assert_int_equal(p.unit, VRAM_UNIT_GIB);
	assert_int_equal(p.format, VRAM_FORMAT_JSON);
	assert_int_equal(vram_parse_name("recommend@vram=24G,ctx=8192,prefer=speed,n=3", &p, NULL), 0);
	assert_int_equal(p.prefer, VRAM_PREFER_SPEED);
	assert_int_equal(p.n, 3);
	assert_int_equal(vram_parse_params(VRAM_KIND_VRAM, "ctx=4096,mmproj=on", &p, NULL), 0);
	assert_int_equal(p.mmproj, 1);
}

/* Hostile names: each must fail with the code and a diag naming the problem. */
static void test_parse_hostile(void **state)
{
	static const struct {
		const char *name;
		int rc;
		const char *needle;
	} cases[] = {
		{ "", -ENOENT, "not a parameterized name" },
		{ "vram", -ENOENT, "not a parameterized name" },
		{ "ctx=8192", -ENOENT, "not a parameterized name" },
		{ "foo@ctx=1", -ENOENT, "unknown kind 'foo'" },
		{ "VRAM@ctx=1", -ENOENT, "unknown kind" },
		{ "@ctx=1", -ENOENT, "unknown kind" },
		{ "vramx@ctx=1", -ENOENT, "unknown kind" },
		{ "vram@", -EINVAL, "needs ctx=" },
		{ "vram@fa=on", -EINVAL, "needs ctx=" },
		{ "vram@ctx", -EINVAL, "not KEY=VALUE" },
		{ "vram@=8192", -EINVAL, "not KEY=VALUE" },
		{ "vram@ctx=", -EINVAL, "bad value '' for ctx" },
		{ "vram@ctx=8192,", -EINVAL, "empty parameter" },
		{ "vram@,ctx=8192", -EINVAL, "empty parameter" },
		{ "vram@ctx=8192,,fa=on", -EINVAL, "empty parameter" },
		{ "vram@ctx=0", -EINVAL, "bad value '0' for ctx" },
		{ "vram@ctx=-1", -EINVAL, "bad value '-1' for ctx" },
		{ "vram@ctx=+8", -EINVAL, "for ctx" },
		{ "vram@ctx=1e3", -EINVAL, "for ctx" },
		{ "vram@ctx=0x100", -EINVAL, "for ctx" },
		{ "vram@ctx=8 ", -EINVAL, "for ctx" },
		{ "vram@ctx= 8", -EINVAL, "for ctx" },
		{ "vram@ctx=8kk", -EINVAL, "for ctx" },
		{ "vram@ctx=k", -EINVAL, "for ctx" },
		{ "vram@ctx=17m", -EINVAL, "for ctx" },
		{ "vram@ctx=16777217", -EINVAL, "for ctx" },
		{ "vram@ctx=99999999999999999999999", -EINVAL, "for ctx" },
		{ "vram@ctx=MAX", -EINVAL, "for ctx" },
		{ "vram@ctx=8192\n", -EINVAL, "for ctx" },
		{ "vram@ctx=8192,ctx=4096", -EINVAL, "given twice" },
		{ "vram@CTX=8192", -EINVAL, "unknown key 'CTX'" },
		{ "vram@ctx=8192,foo=1", -EINVAL, "unknown key 'foo' for vram@; known keys: ctx, kv" },
		{ "vram@ctx=8192,vram=24G", -EINVAL, "unknown key 'vram' for vram@" },
		{ "vram@ctx=8192,prefer=speed", -EINVAL, "unknown key 'prefer'" },
		{ "vram@ctx=8192,kv=q8", -EINVAL, "bad value 'q8' for kv" },
		{ "vram@ctx=8192,kv=Q8_0", -EINVAL, "for kv" },
		{ "vram@ctx=8192,kv=q4_k", -EINVAL, "for kv" },
		{ "vram@ctx=8192,ctk=f64", -EINVAL, "for ctk" },
		{ "vram@ctx=8192,fa=yes", -EINVAL, "bad value 'yes' for fa; use on or off" },
		{ "vram@ctx=8192,fa=", -EINVAL, "for fa" },
		{ "vram@ctx=8192,ubatch=0", -EINVAL, "for ubatch" },
		{ "vram@ctx=8192,batch=2097152", -EINVAL, "for batch" },
		{ "vram@ctx=8192,par=0", -EINVAL, "for par" },
		{ "vram@ctx=8192,par=257", -EINVAL, "for par" },
		{ "vram@ctx=8192,ngl=-1", -EINVAL, "for ngl" },
		{ "vram@ctx=8192,ngl=4098", -EINVAL, "for ngl" },
		{ "vram@ctx=8192,ngl=ALL", -EINVAL, "for ngl" },
		{ "vram@ctx=8192,mmproj=1", -EINVAL, "for mmproj" },
		{ "vram@ctx=8192,unit=gb", -EINVAL, "bad value 'gb' for unit" },
		{ "vram@ctx=8192,format=yaml", -EINVAL, "for format" },
		{ "vram@ctx=8192,kv=q8_0,fa=off", -EINVAL, "quantized V cache 'q8_0' needs flash attention" },
		{ "vram@ctx=8192,ctv=q4_0,fa=off", -EINVAL, "needs flash attention" },
		{ "fit@ctx=8192", -EINVAL, "fit@ needs vram=" },
		{ "fit@vram=0", -EINVAL, "bad value '0' for vram" },
		{ "fit@vram=24X", -EINVAL, "for vram" },
		{ "fit@vram=1.5", -EINVAL, "for vram" },
		{ "fit@vram=-5G", -EINVAL, "for vram" },
		{ "fit@vram=99999999999999999999", -EINVAL, "for vram" },
		{ "fit@vram=17592186044416", -EINVAL, "for vram" },
		{ "fit@vram=24G,unit=gib", -EINVAL, "unknown key 'unit' for fit@" },
		{ "fit@vram=24G,format=num", -EINVAL, "use env or json" },
		{ "recommend@n=0", -EINVAL, "for n" },
		{ "recommend@n=1001", -EINVAL, "for n" },
		{ "recommend@prefer=cheap", -EINVAL, "for prefer" },
		{ "recommend@ngl=5", -EINVAL, "unknown key 'ngl' for recommend@" },
		{ "fits@n=3", -EINVAL, "unknown key 'n' for fits@" },
		{ "fits@format=json", -EINVAL, "unknown key 'format'" },
	};
	struct vram_params p;
	struct diag d;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < N_ELEMS(cases); i++) {
		diag_init(&d);
		rc = vram_parse_name(cases[i].name, &p, &d);
		if (rc != cases[i].rc || d.code != cases[i].rc || !strstr(d.msg, cases[i].needle))
			fail_msg("'%s': rc %d (want %d), diag '%s' (want '%s')", cases[i].name, rc, cases[i].rc,
				 d.msg, cases[i].needle);
		/* git style: lowercase first letter, no final full stop */
		assert_false(d.msg[0] >= 'A' && d.msg[0] <= 'Z');
		assert_int_not_equal(d.msg[strlen(d.msg) - 1], '.');
	}
	assert_int_equal(vram_parse_name(NULL, &p, NULL), -ENOENT);
	assert_int_equal(vram_parse_params(VRAM_KIND_VRAM, NULL, &p, NULL), -EINVAL);
}

static void test_parse_long(void **state)
{
	char name[600];
	struct vram_params p;
	struct diag d;

	(void)state;
	memset(name, 0, sizeof(name));
	memcpy(name, "vram@ctx=8192", 13);
	memset(name + 13, ',', 300);
	diag_init(&d);
	assert_int_equal(vram_parse_name(name, &p, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "too long"));
	memset(name, 'a', sizeof(name) - 1);
	name[4] = '@';
	assert_int_equal(vram_parse_name(name, &p, NULL), -EINVAL);
}

/* ------------------------------------------------------------------------
 * The ground truth: llama.cpp's own buffer sizes
 * ------------------------------------------------------------------------ */

static void spec_arch(const char *spec, struct arch *a)
{
	char path[512];
	json_error_t err;
	json_t *j, *h, *tok, *v;

	snprintf(path, sizeof(path), "%s/groundtruth/%s.json", MF_FIXTURES_DIR, spec);
	j = json_load_file(path, 0, &err);
	if (!j)
		fail_msg("%s: %s", path, err.text);
	h = json_object_get(j, "hparams");
	tok = json_object_get(j, "tokenizer");
	arch_init(a);
	assert_int_equal(arch_set_str(a, ARCH_F_ARCHITECTURE, json_string_value(json_object_get(j, "arch")),
				      ARCH_SRC_GGUF), 0);
	set_u(a, ARCH_F_NUM_LAYERS, json_integer_value(json_object_get(h, "block_count")));
	set_u(a, ARCH_F_HIDDEN_SIZE, json_integer_value(json_object_get(h, "embedding_length")));
	set_u(a, ARCH_F_INTERMEDIATE_SIZE, json_integer_value(json_object_get(h, "feed_forward_length")));
	set_u(a, ARCH_F_NUM_ATTENTION_HEADS, json_integer_value(json_object_get(h, "attention.head_count")));
	set_u(a, ARCH_F_NUM_KV_HEADS, json_integer_value(json_object_get(h, "attention.head_count_kv")));
	set_u(a, ARCH_F_CONTEXT_LENGTH, json_integer_value(json_object_get(h, "context_length")));
	set_u(a, ARCH_F_VOCAB_SIZE, json_integer_value(json_object_get(tok, "n_vocab")));
	if ((v = json_object_get(h, "attention.key_length")))
		set_u(a, ARCH_F_HEAD_DIM_K, json_integer_value(v));
	json_decref(j);
}

/* |a - b| within llama.cpp's rounding of MiB to two decimals. */
static void assert_mib(const char *what, const char *run, double est_mib, double gt_mib, double tol)
{
	if (fabs(est_mib - gt_mib) > tol)
		fail_msg("%s: %s estimate %.3f MiB, llama.cpp %.2f MiB", run, what, est_mib, gt_mib);
}

static void test_groundtruth(void **state)
{
	char path[512], line[65536], run[200];
	size_t n_runs = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/groundtruth/llamacpp-cpu.jsonl", MF_FIXTURES_DIR);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		json_error_t err;
		json_t *r = json_loads(line, 0, &err), *b;
		struct vram_estimate e;
		struct vram_params p;
		struct vram_model m;
		struct arch a;
		double total, est_total;
		const char *kv;

		assert_non_null(r);
		b = json_object_get(r, "buffers_mib");
		if (json_is_true(json_object_get(r, "repack")) || json_integer_value(json_object_get(r, "rc"))) {
			json_decref(r);
			continue;
		}
		kv = json_string_value(json_object_get(r, "kv_type"));
		spec_arch(json_string_value(json_object_get(r, "spec")), &a);
		model_of(&m, &a, (uint64_t)json_integer_value(json_object_get(r, "file_bytes")));
		params(&p, (uint64_t)json_integer_value(json_object_get(r, "ctx")),
		       json_is_true(json_object_get(r, "flash_attn")),
		       strcmp(kv, "f16") == 0 ? GGML_TYPE_F16 : GGML_TYPE_Q8_0, VRAM_BACKEND_CPU);
		p.ubatch = (uint32_t)json_integer_value(json_object_get(r, "ubatch"));
		p.par = (uint32_t)json_integer_value(json_object_get(r, "n_parallel"));
		estimate_ok(&m, &p, &e);
		snprintf(run, sizeof(run), "%s %s ctx %llu %s fa %d", json_string_value(json_object_get(r, "spec")),
			 json_string_value(json_object_get(r, "quant")), (unsigned long long)p.ctx_tokens, kv,
			 p.flash_attn);
		assert_int_equal(e.n_ctx, json_integer_value(json_object_get(r, "ctx")));
		assert_mib("kv", run, e.kv_bytes / MIB, json_number_value(json_object_get(b, "kv")), 0.006);
		assert_mib("output", run, e.output_bytes / MIB, json_number_value(json_object_get(b, "output")),
			   0.006);
		assert_mib("weights", run, e.weights_bytes / MIB, json_number_value(json_object_get(b, "model")),
			   0.1);
		total = json_number_value(json_object_get(b, "total"));
		assert_mib("compute", run, e.compute_bytes / MIB, json_number_value(json_object_get(b, "compute")),
			   fmax(0.0035 * total, 0.015));
		est_total = e.total_bytes / MIB;
		if (fabs(est_total - total) / total > 0.005)
			fail_msg("%s: total %.2f MiB, llama.cpp %.2f MiB", run, est_total, total);
		n_runs++;
		vram_model_release(&m);
		arch_release(&a);
		json_decref(r);
	}
	fclose(f);
	assert_true(n_runs >= 140);
}

/* The exact compute buffers of the plain architectures (the phase model of
 * vram.c, not a tolerance): llama 8B and the tiny model at every context. */
static void test_compute_exact(void **state)
{
	static const struct {
		bool llama;
		uint64_t ctx;
		bool fa;
		double mib;
	} cases[] = {
		{ true, 512, false, 266.5 }, { true, 4096, false, 308.01 }, { true, 8192, false, 572.01 },
		{ true, 32768, false, 2156.01 }, { true, 32768, true, 266.5 },
		{ false, 512, false, 3.76 }, { false, 512, true, 1.51 }, { false, 4096, false, 24.76 },
		{ false, 4096, true, 5.01 }, { false, 32768, false, 192.76 }, { false, 32768, true, 33.01 },
	};
	struct vram_estimate e;
	struct vram_params p;
	struct vram_model m;
	struct arch a;
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(cases); i++) {
		if (cases[i].llama)
			dense_arch(&a, "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072);
		else
			dense_arch(&a, "llama", 2, 64, 2, 1, 32, 128, 512, 4096);
		model_of(&m, &a, 1 << 20);
		params(&p, cases[i].ctx, cases[i].fa, GGML_TYPE_F16, VRAM_BACKEND_CPU);
		estimate_ok(&m, &p, &e);
		assert_mib("compute", cases[i].llama ? "llama" : "tiny", e.compute_bytes / MIB, cases[i].mib,
			   0.006);
		vram_model_release(&m);
		arch_release(&a);
	}
}

/* ------------------------------------------------------------------------
 * KV cache per family, hand-checked
 * ------------------------------------------------------------------------ */

static uint64_t kv_of(const struct arch *a, uint64_t ctx, uint32_t type, uint32_t par, struct vram_estimate *e)
{
	struct vram_params p;
	struct vram_model m;

	model_of(&m, a, 1ull << 30);
	params(&p, ctx, true, type, VRAM_BACKEND_CPU);
	p.par = par;
	estimate_ok(&m, &p, e);
	vram_model_release(&m);
	return e->kv_bytes;
}

static void test_kv_dense(void **state)
{
	struct vram_estimate e;
	struct arch a;

	(void)state;
	/* Llama 3.1 8B: 32 layers x 8 KV heads x 128 x (K+V) x 2 bytes = 128 KiB per token */
	dense_arch(&a, "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072);
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_F16, 1, &e), 8192ull * 131072);
	assert_int_equal(kv_of(&a, 1, GGML_TYPE_F16, 1, &e), 256ull * 131072);   /* padded to 256 */
	assert_int_equal(e.n_ctx, 256);
	assert_int_equal(kv_of(&a, 1000, GGML_TYPE_F16, 1, &e), 1024ull * 131072);
	/* q8_0: 34 bytes per 32 values */
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_Q8_0, 1, &e), 8192ull * 131072 / 64 * 34);
	/* q4_0: 18 per 32; f32 doubles */
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_Q4_0, 1, &e), 8192ull * 131072 / 64 * 18);
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_F32, 1, &e), 8192ull * 131072 * 2);
	/* four sequences share the cells: n_ctx / 4 each, same total */
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_F16, 4, &e), 8192ull * 131072);
	assert_int_equal(e.kv_cells, 8192);
	/* ctx=max is the trained context */
	assert_int_equal(kv_of(&a, VRAM_CTX_MAX, GGML_TYPE_F16, 1, &e), 131072ull * 131072);
	assert_int_equal(e.ctx_tokens, 131072);
	arch_release(&a);

	/* Qwen2.5 7B declares a sliding window that llama.cpp ignores */
	dense_arch(&a, "qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 32768);
	set_u(&a, ARCH_F_SLIDING_WINDOW, 4096);
	assert_int_equal(kv_of(&a, 32768, GGML_TYPE_F16, 1, &e), 32768ull * 28 * 4 * 128 * 2 * 2);
	assert_int_equal(e.kv_cells_swa, 0);
	assert_true(has_warning(&e, "ignores the sliding window of qwen2"));
	arch_release(&a);
}

static void test_kv_sliding(void **state)
{
	struct vram_estimate e;
	struct arch a;

	(void)state;
	/* Gemma 3 27B: 62 layers, every 6th full (10 full, 52 sliding),
	 * 16 KV heads x 128, window 1024: SWA cells pad256(1024 + 512) */
	dense_arch(&a, "gemma3", 62, 5376, 32, 16, 128, 21504, 262144, 131072);
	set_u(&a, ARCH_F_SLIDING_WINDOW, 1024);
	set_u(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 6);
	assert_int_equal(kv_of(&a, 32768, GGML_TYPE_F16, 1, &e),
			 10ull * 32768 * 16 * 128 * 4 + 52ull * 1536 * 16 * 128 * 4);
	assert_int_equal(e.kv_cells, 32768);
	assert_int_equal(e.kv_cells_swa, 1536);
	/* a context below the window: the SWA cache is the context */
	assert_int_equal(kv_of(&a, 1024, GGML_TYPE_F16, 1, &e), 62ull * 1024 * 16 * 128 * 4);
	/* par 2, non-unified: each sequence gets its own window */
	kv_of(&a, 32768, GGML_TYPE_F16, 2, &e);
	assert_int_equal(e.kv_cells_swa, 2 * 1536);
	arch_release(&a);

	/* Gemma 2 9B: alternate layers, window 4096 */
	dense_arch(&a, "gemma2", 42, 3584, 16, 8, 256, 14336, 256000, 8192);
	set_u(&a, ARCH_F_SLIDING_WINDOW, 4096);
	set_u(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 2);
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_F16, 1, &e),
			 21ull * 8192 * 8 * 256 * 4 + 21ull * 4608 * 8 * 256 * 4);
	arch_release(&a);

	/* Mistral 7B v0.1 (llama): window declared, full cache kept */
	dense_arch(&a, "llama", 32, 4096, 32, 8, 128, 14336, 32000, 32768);
	set_u(&a, ARCH_F_SLIDING_WINDOW, 4096);
	assert_int_equal(kv_of(&a, 32768, GGML_TYPE_F16, 1, &e), 32768ull * 131072);
	arch_release(&a);
}

static void test_kv_mla_and_recurrent(void **state)
{
	struct vram_estimate e;
	struct arch a;
	uint8_t kinds[8];
	size_t i;

	(void)state;
	/* DeepSeek-V2-Lite: 27 layers, cache kv_lora_rank 512 + rope 64 in K only */
	dense_arch(&a, "deepseek2", 27, 2048, 16, 1, 0, 10944, 102400, 163840);
	set_u(&a, ARCH_F_HEAD_DIM_K, 192);
	set_u(&a, ARCH_F_HEAD_DIM_V, 128);
	set_u(&a, ARCH_F_KV_LORA_RANK, 512);
	set_u(&a, ARCH_F_ROPE_DIM, 64);
	set_u(&a, ARCH_F_EXPERT_COUNT, 64);
	set_u(&a, ARCH_F_EXPERT_USED_COUNT, 6);
	set_u(&a, ARCH_F_EXPERT_SHARED_COUNT, 2);
	set_u(&a, ARCH_F_EXPERT_FFN_SIZE, 1408);
	set_u(&a, ARCH_F_LEADING_DENSE_LAYERS, 1);
	assert_int_equal(kv_of(&a, 4096, GGML_TYPE_F16, 1, &e), 27ull * 4096 * 576 * 2);
	assert_int_equal(kv_of(&a, 4096, GGML_TYPE_Q8_0, 1, &e), 27ull * 4096 * 576 / 32 * 34);
	arch_release(&a);

	/* Falcon Mamba 7B: 64 recurrent layers, one state per sequence */
	arch_init(&a);
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE, "mamba", ARCH_SRC_GGUF), 0);
	set_u(&a, ARCH_F_NUM_LAYERS, 64);
	set_u(&a, ARCH_F_HIDDEN_SIZE, 4096);
	set_u(&a, ARCH_F_VOCAB_SIZE, 65024);
	set_u(&a, ARCH_F_SSM_D_CONV, 4);
	set_u(&a, ARCH_F_SSM_D_INNER, 8192);
	set_u(&a, ARCH_F_SSM_D_STATE, 16);
	set_u(&a, ARCH_F_SSM_DT_RANK, 256);
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_F16, 1, &e), 64ull * (3 * (8192 + 32) + 16 * 8192) * 4);
	assert_int_equal(kv_of(&a, 131072, GGML_TYPE_F16, 1, &e), 64ull * (3 * (8192 + 32) + 16 * 8192) * 4);
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_F16, 3, &e), 3 * 64ull * (3 * (8192 + 32) + 16 * 8192) * 4);
	assert_true(has_warning(&e, "recurrent"));
	arch_release(&a);

	/* RWKV 6: token shifts 2 x n_embd and a wkv state n_embd x head_size */
	arch_init(&a);
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE, "rwkv6", ARCH_SRC_GGUF), 0);
	set_u(&a, ARCH_F_NUM_LAYERS, 24);
	set_u(&a, ARCH_F_HIDDEN_SIZE, 2048);
	set_u(&a, ARCH_F_VOCAB_SIZE, 65536);
	set_u(&a, ARCH_F_SSM_HEAD_SIZE, 64);
	assert_int_equal(kv_of(&a, 4096, GGML_TYPE_F16, 1, &e), 24ull * (2 * 2048 + 2048 * 64) * 4);
	arch_release(&a);

	/* Jamba-style hybrid: 1 attention layer in 8, the rest Mamba */
	dense_arch(&a, "jamba", 8, 4096, 32, 8, 128, 14336, 65536, 262144);
	set_u(&a, ARCH_F_SSM_D_CONV, 4);
	set_u(&a, ARCH_F_SSM_D_INNER, 8192);
	set_u(&a, ARCH_F_SSM_D_STATE, 16);
	for (i = 0; i < 8; i++)
		kinds[i] = i == 4 ? ARCH_LAYER_FULL : ARCH_LAYER_RECURRENT;
	assert_int_equal(arch_set_layer_kinds(&a, kinds, 8, ARCH_SRC_GGUF), 0);
	assert_int_equal(kv_of(&a, 8192, GGML_TYPE_F16, 1, &e),
			 8192ull * 8 * 128 * 4 + 7ull * (3 * (8192 + 32) + 16 * 8192) * 4);
	arch_release(&a);
}

static void test_kv_errors(void **state)
{
	struct vram_estimate e;
	struct vram_params p;
	struct vram_model m;
	struct arch a;
	struct diag d;

	(void)state;
	/* Phi-2: head size 80, which q4_0's 32-value blocks do not divide */
	dense_arch(&a, "phi2", 32, 2560, 32, 32, 80, 10240, 51200, 2048);
	model_of(&m, &a, 1ull << 30);
	params(&p, 2048, true, GGML_TYPE_Q4_0, VRAM_BACKEND_CUDA);
	diag_init(&d);
	assert_int_equal(vram_estimate(&m, &p, &e, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "do not divide this model's head size 80/80"));
	p.type_k = p.type_v = GGML_TYPE_F16;
	p.par = 256;
	p.ctx_tokens = 100;
	assert_int_equal(vram_estimate(&m, &p, &e, NULL), 0);
	assert_int_equal(e.kv_cells, 256);
	assert_int_equal(e.output_bytes, 256ull * 51200 * 4);
	vram_model_release(&m);
	arch_release(&a);

	/* ctx=max with no trained context */
	dense_arch(&a, "llama", 2, 64, 2, 1, 32, 128, 512, 0);
	model_of(&m, &a, 1 << 20);
	params(&p, VRAM_CTX_MAX, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	diag_init(&d);
	assert_int_equal(vram_estimate(&m, &p, &e, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "trained context"));
	vram_model_release(&m);
	arch_release(&a);

	/* absurd sizes are refused, not wrapped */
	dense_arch(&a, "llama", 2, 1u << 21, 2, 1, 32, 128, 512, 4096);
	model_of(&m, &a, 1 << 20);
	params(&p, 4096, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	diag_init(&d);
	assert_int_equal(vram_estimate(&m, &p, &e, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "hidden_size"));
	vram_model_release(&m);
	arch_release(&a);

	/* the largest accepted sizes saturate at most, never wrap below the parts */
	dense_arch(&a, "llama", 4096, 1u << 20, 1u << 16, 1u << 16, 1u << 16, 1u << 24, 1u << 24, 0);
	model_of(&m, &a, UINT64_MAX / 2);
	params(&p, VRAM_MAX_CTX_TOKENS, false, GGML_TYPE_F32, VRAM_BACKEND_CUDA);
	p.ubatch = p.batch = VRAM_MAX_BATCH;
	p.ngl = 2000;
	diag_init(&d);
	assert_int_equal(vram_estimate(&m, &p, &e, &d), 0);
	assert_true(e.total_bytes >= e.gpu_kv_bytes && e.total_bytes >= e.gpu_compute_bytes);
	assert_int_equal(e.kv_bytes, UINT64_MAX);
	vram_model_release(&m);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * Placement and compute on the GPU
 * ------------------------------------------------------------------------ */

static void test_placement(void **state)
{
	struct vram_estimate e0, e1, e2, en, eall, cpu;
	struct vram_params p;
	struct vram_model m;
	struct arch a;
	uint64_t blocks = 0;
	size_t i;

	(void)state;
	dense_arch(&a, "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072);
	model_of(&m, &a, 4916140064ull);
	for (i = 0; i < m.n_layers; i++)
		blocks += m.layer_bytes[i];
	params(&p, 8192, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	p.ngl = 0;
	estimate_ok(&m, &p, &e0);
	p.ngl = 1;
	estimate_ok(&m, &p, &e1);
	p.ngl = 2;
	estimate_ok(&m, &p, &e2);
	p.ngl = 32;
	estimate_ok(&m, &p, &en);
	p.ngl = VRAM_NGL_ALL;
	estimate_ok(&m, &p, &eall);
	params(&p, 8192, true, GGML_TYPE_F16, VRAM_BACKEND_CPU);
	estimate_ok(&m, &p, &cpu);

	assert_int_equal(eall.layers, 33);
	assert_int_equal(eall.ngl, 33);
	/* ngl 0: nothing on the GPU but the CUDA context and op-offload compute */
	assert_int_equal(e0.gpu_weights_bytes, 0);
	assert_int_equal(e0.gpu_kv_bytes, 0);
	assert_true(e0.gpu_compute_bytes >= m.output_matrix_bytes);
	/* ngl 1: the output layer first (llama-model.cpp i_gpu_start = n_layer + 1 - ngl) */
	assert_int_equal(e1.gpu_weights_bytes, m.output_bytes);
	assert_int_equal(e1.gpu_kv_bytes, 0);
	/* ngl 2: and the last block */
	assert_int_equal(e2.gpu_weights_bytes, m.output_bytes + m.layer_bytes[31]);
	assert_int_equal(e2.gpu_kv_bytes, 8192ull * 4096);
	/* ngl 32: every block but block 0 */
	assert_int_equal(en.gpu_weights_bytes, m.output_bytes + blocks - m.layer_bytes[0]);
	assert_int_equal(en.cpu_weights_bytes, m.input_bytes + m.layer_bytes[0]);
	/* all: the token embeddings stay in RAM */
	assert_int_equal(eall.gpu_weights_bytes, m.output_bytes + blocks);
	assert_int_equal(eall.cpu_weights_bytes, m.input_bytes);
	assert_int_equal(eall.gpu_kv_bytes, 1ull << 30);
	assert_int_equal(eall.weights_bytes, cpu.weights_bytes);
	assert_int_equal(eall.kv_bytes, cpu.kv_bytes);
	/* full offload: the GPU buffer is the CPU graph's; the host keeps inputs */
	assert_int_equal(eall.gpu_compute_bytes, cpu.compute_bytes);
	assert_true(eall.cpu_compute_bytes > 0 && eall.cpu_compute_bytes < eall.gpu_compute_bytes);
	assert_true(eall.overhead_bytes >= 300ull << 20);
	assert_int_equal(cpu.overhead_bytes, 0);
	/* VRAM grows with every layer offloaded */
	assert_true(e0.total_bytes < e1.total_bytes && e1.total_bytes < e2.total_bytes);
	assert_true(e2.total_bytes < en.total_bytes && en.total_bytes < eall.total_bytes);
	/* partial offload copies CPU weights into the GPU compute buffer */
	assert_true(en.gpu_compute_bytes > eall.gpu_compute_bytes);
	assert_true(has_warning(&en, "partial offload"));
	assert_false(has_warning(&eall, "partial offload"));
	/* llama 3.1 8B Q4_K_M at 8k: about 6 GiB */
	assert_true(eall.total_bytes > (5800ull << 20) && eall.total_bytes < (6300ull << 20));
	vram_model_release(&m);
	arch_release(&a);

	/* tied embeddings: the output layer on the GPU carries a copy */
	dense_arch(&a, "gemma3", 26, 1152, 4, 1, 256, 6912, 262144, 32768);
	a.tie_word_embeddings = true;
	a.src[ARCH_F_TIE_WORD_EMBEDDINGS] = ARCH_SRC_GGUF;
	model_of(&m, &a, 806000000ull);
	assert_true(m.output_tied);
	assert_int_equal(m.output_matrix_bytes, m.input_bytes);
	for (i = 0, blocks = 0; i < m.n_layers; i++)
		blocks += m.layer_bytes[i];
	params(&p, 8192, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	estimate_ok(&m, &p, &eall);
	assert_int_equal(eall.gpu_weights_bytes, blocks + m.output_bytes + m.input_bytes);
	assert_int_equal(eall.cpu_weights_bytes, m.input_bytes);
	p.ngl = 0;
	estimate_ok(&m, &p, &e0);
	assert_int_equal(e0.cpu_weights_bytes, blocks + m.output_bytes + m.input_bytes);
	vram_model_release(&m);
	arch_release(&a);
}

static void test_moe(void **state)
{
	struct vram_estimate e, dense_e;
	struct vram_params p;
	struct vram_model m;
	struct arch a;
	struct hw_profile hw;
	struct vram_fit f;

	(void)state;
	/* Qwen3-30B-A3B: 128 experts, 8 used */
	dense_arch(&a, "qwen3moe", 48, 2048, 32, 4, 128, 6144, 151936, 40960);
	set_u(&a, ARCH_F_EXPERT_COUNT, 128);
	set_u(&a, ARCH_F_EXPERT_USED_COUNT, 8);
	set_u(&a, ARCH_F_EXPERT_FFN_SIZE, 768);
	model_of(&m, &a, 18600000000ull);
	assert_true(m.layer_expert_bytes[0] > m.layer_bytes[0] * 9 / 10);
	params(&p, 8192, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	estimate_ok(&m, &p, &e);
	assert_int_equal(e.kv_bytes, 48ull * 8192 * 4 * 128 * 4);
	/* decode reads the used experts only: well under the weights */
	assert_true(e.gpu_read_bytes < e.gpu_weights_bytes / 4);
	memset(&hw, 0, sizeof(hw));
	hw.gpu_bandwidth_gbps = 1000;
	hw.ram_bandwidth_gbps = 50;
	p.vram_bytes = 24ull << 30;
	assert_int_equal(vram_fit(&m, &p, &hw, &f, NULL), 0);
	assert_int_equal(f.fits, VRAM_FITS_FULL);
	assert_true(f.tg_known && f.est_tg_tokens_per_s > 200);
	vram_model_release(&m);
	/* the same shape without experts needs less compute per token */
	arch_release(&a);
	dense_arch(&a, "qwen3", 48, 2048, 32, 4, 128, 6144, 151936, 40960);
	model_of(&m, &a, 18600000000ull);
	estimate_ok(&m, &p, &dense_e);
	assert_true(dense_e.gpu_read_bytes > e.gpu_read_bytes * 4);
	vram_model_release(&m);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * fit@
 * ------------------------------------------------------------------------ */

static void test_fit(void **state)
{
	struct vram_estimate full;
	struct vram_params p;
	struct vram_model m;
	struct hw_profile hw;
	struct vram_fit f, g;
	struct arch a;
	struct diag d;

	(void)state;
	dense_arch(&a, "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072);
	model_of(&m, &a, 4916140064ull);
	vram_params_init(&p, VRAM_KIND_FIT);
	estimate_ok(&m, &p, &full);

	p.vram_bytes = 24ull << 30;
	assert_int_equal(vram_fit(&m, &p, NULL, &f, NULL), 0);
	assert_int_equal(f.fits, VRAM_FITS_FULL);
	assert_int_equal(f.ngl, 33);
	assert_int_equal(f.layers, 33);
	assert_int_equal(f.gpu_bytes, full.total_bytes);
	assert_int_equal(f.max_ctx, 131072);
	assert_false(f.tg_known);

	/* exactly the full requirement fits; one byte less does not */
	p.vram_bytes = full.total_bytes;
	assert_int_equal(vram_fit(&m, &p, NULL, &f, NULL), 0);
	assert_int_equal(f.fits, VRAM_FITS_FULL);
	p.vram_bytes = full.total_bytes - 1;
	assert_int_equal(vram_fit(&m, &p, NULL, &f, NULL), 0);
	assert_int_equal(f.fits, VRAM_FITS_PARTIAL);
	assert_true(f.ngl >= 30 && f.ngl < 33);
	assert_true(f.gpu_bytes <= p.vram_bytes);
	assert_true(f.max_ctx >= 4096 && f.max_ctx < 8192);

	/* 4 GiB: partly; more layers would not fit */
	p.vram_bytes = 4ull << 30;
	assert_int_equal(vram_fit(&m, &p, NULL, &f, NULL), 0);
	assert_int_equal(f.fits, VRAM_FITS_PARTIAL);
	assert_true(f.gpu_bytes <= p.vram_bytes);
	assert_int_equal(f.max_ctx, 0);
	g = f;
	p.ngl = g.ngl + 1;
	{
		struct vram_estimate e;

		estimate_ok(&m, &p, &e);
		assert_true(e.total_bytes > p.vram_bytes);
	}
	/* a user's ngl caps the search */
	p.ngl = 5;
	assert_int_equal(vram_fit(&m, &p, NULL, &f, NULL), 0);
	assert_int_equal(f.ngl, 5);
	assert_int_equal(f.fits, VRAM_FITS_PARTIAL);
	p.ngl = VRAM_NGL_ALL;

	/* 200 MiB: not even the CUDA context */
	p.vram_bytes = 200ull << 20;
	assert_int_equal(vram_fit(&m, &p, NULL, &f, NULL), 0);
	assert_int_equal(f.fits, VRAM_FITS_NO);
	assert_int_equal(f.ngl, 0);
	assert_int_equal(f.max_ctx, 0);

	/* the hardware profile: size and bandwidths */
	memset(&hw, 0, sizeof(hw));
	p.vram_bytes = 0;
	diag_init(&d);
	assert_int_equal(vram_fit(&m, &p, &hw, &f, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "gpu_vram_mib"));
	hw.gpu_vram_mib = 24576;
	hw.gpu_bandwidth_gbps = 1008;
	assert_int_equal(vram_fit(&m, &p, &hw, &f, NULL), 0);
	assert_int_equal(f.fits, VRAM_FITS_FULL);
	assert_true(f.tg_known);
	/* 4.4 GiB of weights + 1 GiB of KV at ~1 TB/s: 150-200 tokens/s */
	assert_true(f.est_tg_tokens_per_s > 150 && f.est_tg_tokens_per_s < 200);
	/* partly offloaded, the RAM's bandwidth is needed too */
	hw.gpu_vram_mib = 4096;
	assert_int_equal(vram_fit(&m, &p, &hw, &f, NULL), 0);
	assert_false(f.tg_known);
	hw.ram_bandwidth_gbps = 60;
	assert_int_equal(vram_fit(&m, &p, &hw, &f, NULL), 0);
	assert_true(f.tg_known && f.est_tg_tokens_per_s < 50);
	/* max_ctx grows with VRAM */
	p.vram_bytes = 8ull << 30;
	assert_int_equal(vram_fit(&m, &p, NULL, &f, NULL), 0);
	p.vram_bytes = 12ull << 30;
	assert_int_equal(vram_fit(&m, &p, NULL, &g, NULL), 0);
	assert_true(f.max_ctx > 8192 && g.max_ctx > f.max_ctx && f.max_ctx % 256 == 0);
	vram_model_release(&m);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------ */

static char *render(const struct vram_model *m, const char *name, const struct hw_profile *hw)
{
	struct vram_params p;
	struct sbuf sb;
	struct diag d;
	int rc;

	diag_init(&d);
	if (vram_parse_name(name, &p, &d) != 0)
		fail_msg("%s: %s", name, d.msg);
	sbuf_init(&sb, CAP_RENDER_BYTES);
	rc = vram_render(m, &p, hw, &sb, &d);
	if (rc)
		fail_msg("%s: %d %s", name, rc, d.msg);
	return sbuf_detach(&sb, NULL);
}

static void test_render(void **state)
{
	struct vram_estimate e;
	struct vram_params p;
	struct vram_model m;
	struct arch a;
	json_error_t err;
	json_t *j;
	char *s, want[64];
	uint64_t mib;

	(void)state;
	dense_arch(&a, "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072);
	model_of(&m, &a, 4916140064ull);
	params(&p, 8192, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	estimate_ok(&m, &p, &e);
	mib = (e.total_bytes + (1 << 20) - 1) >> 20;

	/* num: an integer of MiB, rounded up, and a newline */
	s = render(&m, "vram@ctx=8192", NULL);
	snprintf(want, sizeof(want), "%llu\n", (unsigned long long)mib);
	assert_string_equal(s, want);
	free(s);
	s = render(&m, "vram@ctx=8192,unit=b", NULL);
	snprintf(want, sizeof(want), "%llu\n", (unsigned long long)e.total_bytes);
	assert_string_equal(s, want);
	free(s);
	s = render(&m, "vram@ctx=8192,unit=gib", NULL);
	assert_non_null(strchr(s, '.'));
	assert_true(strtod(s, NULL) * 1073741824.0 >= (double)e.total_bytes);
	assert_true(strtod(s, NULL) * 1073741824.0 < (double)e.total_bytes + 0.011 * 1073741824.0);
	free(s);

	/* json: every SPEC §5 key, the numbers of the estimate */
	s = render(&m, "vram@ctx=8192,format=json", NULL);
	j = json_loads(s, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("json: %s\n%s", err.text, s);
	assert_int_equal(json_integer_value(json_object_get(j, "total_bytes")), e.total_bytes);
	assert_int_equal(json_integer_value(json_object_get(j, "weights_bytes")), e.weights_bytes);
	assert_int_equal(json_integer_value(json_object_get(j, "kv_bytes")), 1ull << 30);
	assert_true(json_is_integer(json_object_get(j, "compute_bytes")));
	assert_true(json_is_integer(json_object_get(j, "output_bytes")));
	assert_true(json_is_integer(json_object_get(j, "overhead_bytes")));
	assert_true(json_is_integer(json_object_get(j, "mmproj_bytes")));
	assert_int_equal(json_integer_value(json_object_get(j, "cpu_bytes")), e.cpu_bytes);
	assert_string_equal(json_string_value(json_object_get(j, "weights_source")), "file-size");
	assert_true(json_is_array(json_object_get(j, "warnings")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "params"), "ctx")), 8192);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "params"), "fa")), "on");
	json_decref(j);
	free(s);

	/* env: shell-sourceable KEY=VALUE lines */
	s = render(&m, "vram@ctx=8192,format=env,ngl=20", NULL);
	assert_non_null(strstr(s, "\ntotal="));
	assert_non_null(strstr(s, "\nngl=20\nlayers=33\n"));
	assert_non_null(strstr(s, "\nwarnings='"));
	assert_non_null(strstr(s, "partial offload: compute buffers follow llama.cpp'\\''s op"));
	assert_int_equal(strncmp(s, "total_bytes=", 12), 0);
	free(s);

	/* text: a human breakdown */
	s = render(&m, "vram@ctx=8192,format=text", NULL);
	assert_int_equal(strncmp(s, "VRAM: ", 6), 0);
	assert_non_null(strstr(s, "KV cache"));
	assert_non_null(strstr(s, "system RAM: "));
	assert_non_null(strstr(s, "33/33 layers on the GPU"));
	free(s);

	/* fit@: SPEC §5's lines, in order */
	s = render(&m, "fit@vram=24G", NULL);
	assert_int_equal(strncmp(s, "fits=full\nngl=33\nlayers=33\ngpu_mib=", 35), 0);
	assert_non_null(strstr(s, "\nmax_ctx=131072\nest_tg_tokens_per_s=\n"));
	free(s);
	s = render(&m, "fit@vram=24G,format=json", NULL);
	j = json_loads(s, JSON_REJECT_DUPLICATES, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "fits")), "full");
	assert_true(json_is_null(json_object_get(j, "est_tg_tokens_per_s")));
	json_decref(j);
	free(s);
	vram_model_release(&m);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * Weights from a GGUF header
 * ------------------------------------------------------------------------ */

struct gw {
	unsigned char buf[65536];
	size_t len;
};

static void gw_bytes(struct gw *w, const void *p, size_t n)
{
	assert_true(w->len + n <= sizeof(w->buf));
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void gw_u32(struct gw *w, uint32_t v) { gw_bytes(w, &v, 4); }
static void gw_u64(struct gw *w, uint64_t v) { gw_bytes(w, &v, 8); }

static void gw_str(struct gw *w, const char *s)
{
	gw_u64(w, strlen(s));
	gw_bytes(w, s, strlen(s));
}

static void gw_kv_u32(struct gw *w, const char *k, uint32_t v)
{
	gw_str(w, k);
	gw_u32(w, GGUF_TYPE_UINT32);
	gw_u32(w, v);
}

struct gt {
	const char *name;
	uint32_t type;
	uint64_t ne0, ne1;
};

/* A 2-block llama with routed experts in block 1 and no output.weight. */
static void test_gguf_model(void **state)
{
	static const struct gt tensors[] = {
		{ "token_embd.weight", GGML_TYPE_F32, 64, 16 },
		{ "blk.0.attn_q.weight", GGML_TYPE_F16, 64, 64 },
		{ "blk.0.ffn_up.weight", GGML_TYPE_Q8_0, 64, 32 },
		{ "blk.1.attn_q.weight", GGML_TYPE_F16, 64, 64 },
		{ "blk.1.ffn_up_exps.weight", GGML_TYPE_F32, 64, 8 },
		{ "rope_freqs.weight", GGML_TYPE_F32, 16, 1 },
		{ "output_norm.weight", GGML_TYPE_F32, 64, 1 },
	};
	struct gw *w = calloc(1, sizeof(*w));
	uint64_t off = 0, sizes[N_ELEMS(tensors)], bytes;
	struct vram_estimate e;
	struct vram_params p;
	struct vram_model m;
	struct gguf *g = NULL;
	struct reader r;
	struct arch a;
	struct diag d;
	size_t i;

	(void)state;
	assert_non_null(w);
	gw_bytes(w, "GGUF", 4);
	gw_u32(w, 3);
	gw_u64(w, N_ELEMS(tensors));
	gw_u64(w, 8);
	gw_str(w, "general.architecture");
	gw_u32(w, GGUF_TYPE_STRING);
	gw_str(w, "llama");
	gw_kv_u32(w, "llama.block_count", 2);
	gw_kv_u32(w, "llama.embedding_length", 64);
	gw_kv_u32(w, "llama.attention.head_count", 2);
	gw_kv_u32(w, "llama.attention.head_count_kv", 1);
	gw_kv_u32(w, "llama.feed_forward_length", 32);
	gw_kv_u32(w, "llama.context_length", 4096);
	gw_kv_u32(w, "llama.vocab_size", 16);
	for (i = 0; i < N_ELEMS(tensors); i++) {
		uint64_t ne[2] = { tensors[i].ne0, tensors[i].ne1 };

		assert_int_equal(ggml_tensor_bytes(tensors[i].type, ne, 2, &sizes[i]), 0);
		gw_str(w, tensors[i].name);
		gw_u32(w, 2);
		gw_u64(w, ne[0]);
		gw_u64(w, ne[1]);
		gw_u32(w, tensors[i].type);
		gw_u64(w, off);
		off += (sizes[i] + 31) / 32 * 32;
	}
	w->len = (w->len + 31) / 32 * 32;
	assert_true(w->len + off <= sizeof(w->buf));
	w->len += off;

	reader_from_memory(&r, w->buf, w->len);
	diag_init(&d);
	if (gguf_open(&r, &g, &d) != 0)
		fail_msg("gguf_open: %s", d.msg);
	arch_init(&a);
	assert_int_equal(arch_from_gguf(g, &a, &d), 0);
	assert_int_equal(vram_model_from_gguf(&m, &a, g, &d), 0);
	assert_int_equal(m.source, VRAM_SRC_GGUF);
	assert_int_equal(m.n_layers, 2);
	assert_int_equal(m.input_bytes, sizes[0]);
	assert_int_equal(m.layer_bytes[0], sizes[1] + sizes[2] + sizes[5]);
	assert_int_equal(m.layer_bytes[1], sizes[3] + sizes[4]);
	assert_int_equal(m.layer_expert_bytes[0], 0);
	assert_int_equal(m.layer_expert_bytes[1], sizes[4]);
	assert_int_equal(m.output_bytes, sizes[6]);
	assert_true(m.output_tied);
	assert_int_equal(m.output_matrix_bytes, sizes[0]);
	assert_int_equal(m.file_bytes, w->len);
	bytes = m.input_bytes + m.layer_bytes[0] + m.layer_bytes[1] + m.output_bytes;
	assert_int_equal(bytes, gguf_weight_bytes(g));
	/* full offload: the output layer carries a copy of token_embd */
	params(&p, 4096, true, GGML_TYPE_F16, VRAM_BACKEND_CUDA);
	estimate_ok(&m, &p, &e);
	assert_int_equal(e.gpu_weights_bytes, m.layer_bytes[0] + m.layer_bytes[1] + sizes[6] + sizes[0]);
	assert_int_equal(e.cpu_weights_bytes, sizes[0]);
	assert_int_equal(e.source, VRAM_SRC_GGUF);
	/* a second shard adds its tensors */
	assert_int_equal(vram_model_add_gguf(&m, g), 0);
	assert_int_equal(m.layer_bytes[1], 2 * (sizes[3] + sizes[4]));
	vram_model_release(&m);
	vram_model_release(&m);
	arch_release(&a);
	gguf_free(g);
	free(w);
}

/* ------------------------------------------------------------------------
 * The registry: catalog quants, recommend@, fits@
 * ------------------------------------------------------------------------ */

static int count_fits(void *ctx, const struct model_variant *v, const struct model_quant *q)
{
	(void)v;
	(void)q;
	(*(int *)ctx)++;
	return 0;
}

static int stop_fits(void *ctx, const struct model_variant *v, const struct model_quant *q)
{
	(void)ctx;
	(void)v;
	(void)q;
	return 42;
}

static void test_catalog(void **state)
{
	struct model_variant *vs = NULL;
	struct registry_snapshot snap;
	const struct model_variant *llama = NULL;
	struct vram_params p;
	struct vram_estimate e;
	struct hw_profile hw;
	struct sbuf sb;
	struct diag d;
	size_t n = 0, i, j, rows = 0;
	const char *json, *line;
	size_t len;
	int fits = 0;

	(void)state;
	json = catalog_builtin(&len);
	diag_init(&d);
	assert_int_equal(catalog_parse(json, len, &vs, &n, &d), 0);
	assert_true(n > 10);
	sbuf_init(&sb, CAP_RENDER_BYTES);
	/* every catalog quant renders vram@ctx=8192 */
	for (i = 0; i < n; i++) {
		if (strcmp(vs[i].variant, "llama-3.1-8b-instruct") == 0)
			llama = &vs[i];
		for (j = 0; j < vs[i].n_quants; j++) {
			assert_int_equal(vram_parse_name("vram@ctx=8192,format=json", &p, NULL), 0);
			sbuf_reset(&sb);
			diag_init(&d);
			if (vram_render_quant(&vs[i], &vs[i].quants[j], &p, NULL, &sb, &d) != 0)
				fail_msg("%s/%s: %s", vs[i].variant, vs[i].quants[j].name, d.msg);
			assert_non_null(strstr(sb.buf, "\"total_bytes\""));
		}
	}
	assert_non_null(llama);
	for (j = 0; j < llama->n_quants; j++) {
		if (strcmp(llama->quants[j].name, "q4_k_m") != 0)
			continue;
		vram_params_init(&p, VRAM_KIND_VRAM);
		p.ctx_tokens = 8192;
		assert_int_equal(vram_estimate_quant(llama, &llama->quants[j], &p, &e, NULL), 0);
		assert_true(e.total_bytes > (5700ull << 20) && e.total_bytes < (6400ull << 20));
		assert_int_equal(e.kv_bytes, 1ull << 30);
		assert_true(e.source == VRAM_SRC_CATALOG || e.source == VRAM_SRC_FILE_SIZE);
	}

	memset(&snap, 0, sizeof(snap));
	snap.variants = vs;
	snap.n_variants = n;
	/* recommend@: header, then ranked rows of quants that fit */
	assert_int_equal(vram_parse_name("recommend@vram=24G,n=7", &p, NULL), 0);
	sbuf_reset(&sb);
	assert_int_equal(vram_render_recommend(&snap, &p, NULL, &sb, NULL), 0);
	assert_int_equal(strncmp(sb.buf, "rank\tpath\tvram_mib\tfits\tstars\test_tg_tokens_per_s\n", 50), 0);
	for (line = strchr(sb.buf, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
		char rank[8];

		rows++;
		snprintf(rank, sizeof(rank), "%zu\t", rows);
		assert_int_equal(strncmp(line, rank, strlen(rank)), 0);
		assert_true(strstr(line, "\tfull\t") || strstr(line, "\tpartial\t"));
	}
	assert_int_equal(rows, 7);
	/* speed needs bandwidths; quality puts the most stars first */
	memset(&hw, 0, sizeof(hw));
	hw.gpu_vram_mib = 8192;
	hw.gpu_bandwidth_gbps = 448;
	hw.ram_bandwidth_gbps = 50;
	assert_int_equal(vram_parse_name("recommend@prefer=speed,n=3", &p, NULL), 0);
	sbuf_reset(&sb);
	assert_int_equal(vram_render_recommend(&snap, &p, &hw, &sb, NULL), 0);
	assert_non_null(strstr(sb.buf, "\n1\t"));
	assert_non_null(strstr(sb.buf, "\tfull\t"));
	assert_int_equal(vram_parse_name("recommend@prefer=quality,vram=1M", &p, NULL), 0);
	sbuf_reset(&sb);
	assert_int_equal(vram_render_recommend(&snap, &p, NULL, &sb, NULL), 0);
	assert_string_equal(sb.buf, "rank\tpath\tvram_mib\tfits\tstars\test_tg_tokens_per_s\n");
	/* no VRAM size anywhere */
	assert_int_equal(vram_parse_name("recommend@", &p, NULL), 0);
	sbuf_reset(&sb);
	diag_init(&d);
	assert_int_equal(vram_render_recommend(&snap, &p, NULL, &sb, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "vram="));

	/* fits@: every quant that fits fully; the callback can stop the walk */
	assert_int_equal(vram_parse_name("fits@vram=24G", &p, NULL), 0);
	assert_int_equal(vram_fits_each(&snap, &p, NULL, count_fits, &fits, NULL), 0);
	assert_true(fits > 20);
	assert_int_equal(vram_fits_each(&snap, &p, NULL, stop_fits, NULL, NULL), 42);
	fits = 0;
	assert_int_equal(vram_parse_name("fits@vram=1M", &p, NULL), 0);
	assert_int_equal(vram_fits_each(&snap, &p, NULL, count_fits, &fits, NULL), 0);
	assert_int_equal(fits, 0);

	/* a variant without an architecture is refused, not guessed */
	{
		struct model_variant v = vs[0];
		struct vram_model m;

		v.arch_json = NULL;
		diag_init(&d);
		assert_int_equal(vram_model_from_variant(&m, &v, &v.quants[0], &d), -ENODATA);
		assert_non_null(strstr(d.msg, "no architecture"));
		vram_model_release(&m);
	}
	sbuf_release(&sb);
	for (i = 0; i < n; i++)
		registry_variant_release(&vs[i]);
	free(vs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_long),
		cmocka_unit_test(test_groundtruth),
		cmocka_unit_test(test_compute_exact),
		cmocka_unit_test(test_kv_dense),
		cmocka_unit_test(test_kv_sliding),
		cmocka_unit_test(test_kv_mla_and_recurrent),
		cmocka_unit_test(test_kv_errors),
		cmocka_unit_test(test_placement),
		cmocka_unit_test(test_moe),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_gguf_model),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_mmproj_without_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
