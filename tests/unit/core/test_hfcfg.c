/*
 * test_hfcfg.c - config.json to architecture: every real config in the
 * fixtures parses, hand-checked values for many of them (read off the files
 * and the model cards), synthetic configs for the layouts the fixtures lack
 * (Llama 4, Mistral 3, Jamba, Granite 4 hybrids, Qwen2 sliding windows,
 * OpenELM), and a table of hostile inputs that must fail cleanly and change
 * nothing.
 */
#include "core.h"

#include <dirent.h>
#include <errno.h>
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
#define NONE UINT64_MAX   /* "the field must be absent" in tables */

static char *read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rbe");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len_out = (size_t)n;
	return buf;
}

static void load_fixture(const char *name, struct arch *a)
{
	char path[512];
	struct diag d;
	size_t len;
	char *text;
	int rc;

	snprintf(path, sizeof(path), "%s/configs/%s.json", MF_FIXTURES_DIR, name);
	text = read_file(path, &len);
	arch_init(a);
	diag_init(&d);
	rc = arch_from_hfcfg(text, len, a, &d);
	if (rc)
		fail_msg("%s: rc %d: %s", name, rc, d.msg);
	free(text);
}

static int parse_str(const char *json, struct arch *a, struct diag *d)
{
	arch_init(a);
	diag_init(d);
	return arch_from_hfcfg(json, strlen(json), a, d);
}

static void expect_u64(const struct arch *a, enum arch_field f, uint64_t want, const char *what)
{
	uint64_t got;

	if (want == NONE) {
		if (arch_has(a, f))
			fail_msg("%s: '%s' should be absent", what, arch_field_name(f));
		return;
	}
	if (!arch_has(a, f))
		fail_msg("%s: '%s' missing, want %llu", what, arch_field_name(f), (unsigned long long)want);
	switch (f) {
	case ARCH_F_NUM_LAYERS: got = a->num_layers; break;
	case ARCH_F_HIDDEN_SIZE: got = a->hidden_size; break;
	case ARCH_F_INTERMEDIATE_SIZE: got = a->intermediate_size; break;
	case ARCH_F_NUM_ATTENTION_HEADS: got = a->num_attention_heads; break;
	case ARCH_F_NUM_KV_HEADS: got = a->num_kv_heads; break;
	case ARCH_F_HEAD_DIM: got = a->head_dim; break;
	case ARCH_F_HEAD_DIM_K: got = a->head_dim_k; break;
	case ARCH_F_HEAD_DIM_V: got = a->head_dim_v; break;
	case ARCH_F_VOCAB_SIZE: got = a->vocab_size; break;
	case ARCH_F_CONTEXT_LENGTH: got = a->context_length; break;
	case ARCH_F_MAX_POSITION_EMBEDDINGS: got = a->max_position_embeddings; break;
	case ARCH_F_SLIDING_WINDOW: got = a->sliding_window; break;
	case ARCH_F_SLIDING_WINDOW_PATTERN: got = a->sliding_window_pattern; break;
	case ARCH_F_EXPERT_COUNT: got = a->expert_count; break;
	case ARCH_F_EXPERT_USED_COUNT: got = a->expert_used_count; break;
	case ARCH_F_EXPERT_SHARED_COUNT: got = a->expert_shared_count; break;
	case ARCH_F_KV_LORA_RANK: got = a->kv_lora_rank; break;
	case ARCH_F_Q_LORA_RANK: got = a->q_lora_rank; break;
	case ARCH_F_ROPE_DIM: got = a->rope_dim; break;
	case ARCH_F_QK_NOPE_HEAD_DIM: got = a->qk_nope_head_dim; break;
	case ARCH_F_EXPERT_FFN_SIZE: got = a->expert_ffn_size; break;
	case ARCH_F_EXPERT_SHARED_FFN_SIZE: got = a->expert_shared_ffn_size; break;
	case ARCH_F_LEADING_DENSE_LAYERS: got = a->leading_dense_layers; break;
	case ARCH_F_SSM_D_CONV: got = a->ssm.d_conv; break;
	case ARCH_F_SSM_D_INNER: got = a->ssm.d_inner; break;
	case ARCH_F_SSM_D_STATE: got = a->ssm.d_state; break;
	case ARCH_F_SSM_DT_RANK: got = a->ssm.dt_rank; break;
	case ARCH_F_SSM_N_GROUP: got = a->ssm.n_group; break;
	case ARCH_F_SSM_HEAD_SIZE: got = a->ssm.head_size; break;
	case ARCH_F_VISION_IMAGE_SIZE: got = a->vision.image_size; break;
	case ARCH_F_VISION_PATCH_SIZE: got = a->vision.patch_size; break;
	case ARCH_F_VISION_NUM_LAYERS: got = a->vision.num_layers; break;
	case ARCH_F_VISION_HIDDEN_SIZE: got = a->vision.hidden_size; break;
	default: fail_msg("field %d is not an integer field", (int)f); return;
	}
	if (got != want)
		fail_msg("%s: '%s' is %llu, want %llu", what, arch_field_name(f), (unsigned long long)got,
			 (unsigned long long)want);
}

static bool has_warning(const struct arch *a, const char *needle)
{
	size_t i;

	for (i = 0; i < a->n_warnings; i++)
		if (strstr(a->warnings[i], needle))
			return true;
	return false;
}

static void expect_valid_json(const struct arch *a)
{
	json_error_t err;
	struct sbuf sb;
	json_t *j;

	sbuf_init(&sb, 1 << 20);
	assert_int_equal(arch_to_json(a, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("invalid JSON: %s\n%s", err.text, sb.buf);
	json_decref(j);
	sbuf_release(&sb);
}

/* ------------------------------------------------------------------------
 * Every fixture
 * ------------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void test_every_fixture_parses(void **state)
{
	char dir[512], path[1024];
	struct dirent *e;
	size_t n = 0, len;
	DIR *dp;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/configs", MF_FIXTURES_DIR);
	dp = opendir(dir);
	assert_non_null(dp);
	while ((e = readdir(dp))) {
		struct arch a;
		struct diag d;
		char *text;
		int rc;

		if (!ends_with(e->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		text = read_file(path, &len);
		arch_init(&a);
		diag_init(&d);
		rc = arch_from_hfcfg(text, len, &a, &d);
		if (rc)
			fail_msg("%s: rc %d: %s", e->d_name, rc, d.msg);
		if (!arch_has(&a, ARCH_F_ARCHITECTURE) || !arch_has(&a, ARCH_F_NUM_LAYERS) ||
		    !arch_has(&a, ARCH_F_HIDDEN_SIZE) || !arch_has(&a, ARCH_F_VOCAB_SIZE))
			fail_msg("%s: architecture, layers, width or vocabulary missing", e->d_name);
		if (arch_layer_kind(&a, 0) != ARCH_LAYER_RECURRENT &&
		    (!arch_has(&a, ARCH_F_NUM_KV_HEADS) || !arch_has(&a, ARCH_F_HEAD_DIM_K) ||
		     !arch_has(&a, ARCH_F_HEAD_DIM_V) || !arch_has(&a, ARCH_F_CONTEXT_LENGTH)))
			fail_msg("%s: an attention model without KV heads, head sizes or context", e->d_name);
		assert_int_equal(a.source, ARCH_SRC_CONFIG);
		expect_valid_json(&a);
		arch_release(&a);
		free(text);
		n++;
	}
	closedir(dp);
	assert_true(n >= 39);
}

/* ------------------------------------------------------------------------
 * Hand-checked values
 * ------------------------------------------------------------------------ */

struct expect_row {
	const char *file;
	const char *arch;
	uint64_t layers, hidden, ffn, heads, kv, head_dim, vocab, ctx, rope_dim;
};

/* Read off each config.json by hand; head_dim is hidden / heads where the
 * file gives none, and rope_dim is head_dim times partial_rotary_factor. */
static const struct expect_row expect_rows[] = {
	{ "meta-llama__Llama-3.1-8B-Instruct", "llama", 32, 4096, 14336, 32, 8, 128, 128256, 131072, 128 },
	{ "meta-llama__Llama-3.1-70B-Instruct", "llama", 80, 8192, 28672, 64, 8, 128, 128256, 131072, 128 },
	{ "meta-llama__Llama-3.2-1B-Instruct", "llama", 16, 2048, 8192, 32, 8, 64, 128256, 131072, 64 },
	{ "meta-llama__Llama-2-7b-hf", "llama", 32, 4096, 11008, 32, 32, 128, 32000, 4096, NONE },
	{ "meta-llama__Llama-2-70b-chat-hf", "llama", 80, 8192, 28672, 64, 8, 128, 32000, 2048, NONE },
	{ "codellama__CodeLlama-34b-hf", "llama", 48, 8192, 22016, 64, 8, 128, 32016, 16384, 128 },
	{ "Qwen__Qwen2.5-7B-Instruct", "qwen2", 28, 3584, 18944, 28, 4, 128, 152064, 32768, 128 },
	{ "Qwen__Qwen2.5-3B", "qwen2", 36, 2048, 11008, 16, 2, 128, 151936, 32768, 128 },
	{ "Qwen__Qwen2.5-32B", "qwen2", 64, 5120, 27648, 40, 8, 128, 152064, 131072, 128 },
	{ "Qwen__Qwen3-0.6B", "qwen3", 28, 1024, 3072, 16, 8, 128, 151936, 40960, 128 },
	{ "Qwen__Qwen3-8B", "qwen3", 36, 4096, 12288, 32, 8, 128, 151936, 40960, 128 },
	{ "Qwen__Qwen3-30B-A3B", "qwen3moe", 48, 2048, 6144, 32, 4, 128, 151936, 40960, 128 },
	{ "google__gemma-2-9b", "gemma2", 42, 3584, 14336, 16, 8, 256, 256000, 8192, 256 },
	{ "google__gemma-2-27b", "gemma2", 46, 4608, 36864, 32, 16, 128, 256000, 8192, 128 },
	{ "google__gemma-3-1b-it", "gemma3", 26, 1152, 6912, 4, 1, 256, 262144, 32768, 256 },
	{ "google__gemma-3-4b-it", "gemma3", 34, 2560, 10240, 8, 4, 256, 262208, 131072, 256 },
	{ "microsoft__Phi-3.5-mini-instruct", "phi3", 32, 3072, 8192, 32, 32, 96, 32064, 131072, 96 },
	{ "microsoft__Phi-4-mini-instruct", "phi3", 32, 3072, 8192, 24, 8, 128, 200064, 131072, 96 },
	{ "microsoft__phi-4", "phi3", 40, 5120, 17920, 40, 10, 128, 100352, 16384, 128 },
	{ "mistralai__Mistral-7B-Instruct-v0.3", "llama", 32, 4096, 14336, 32, 8, 128, 32768, 32768, 128 },
	{ "mistralai__Mixtral-8x7B-v0.1", "llama", 32, 4096, 14336, 32, 8, 128, 32000, 32768, 128 },
	{ "allenai__OLMo-2-1124-7B", "olmo2", 32, 4096, 11008, 32, 32, 128, 100352, 4096, 128 },
	{ "allenai__OLMo-2-0325-32B", "olmo2", 64, 5120, 27648, 40, 8, 128, 100352, 4096, 128 },
	{ "Qwen__Qwen2.5-VL-7B-Instruct", "qwen2vl", 28, 3584, 18944, 28, 4, 128, 152064, 128000, 128 },
	{ "deepseek-ai__DeepSeek-V2-Lite", "deepseek2", 27, 2048, 10944, 16, 16, NONE, 102400, 163840, 64 },
	{ "deepseek-ai__DeepSeek-V3", "deepseek2", 61, 7168, 18432, 128, 128, NONE, 129280, 163840, 64 },
	{ "mistralai__Mamba-Codestral-7B-v0.1", "mamba2", 64, 4096, NONE, NONE, NONE, NONE, 32768, NONE, NONE },
	{ "tiiuae__falcon-mamba-7b", "mamba", 64, 4096, NONE, NONE, NONE, NONE, 65024, NONE, NONE },
};

static void test_hand_checked(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(expect_rows); i++) {
		const struct expect_row *r = &expect_rows[i];
		struct arch a;

		load_fixture(r->file, &a);
		if (strcmp(a.architecture, r->arch) != 0)
			fail_msg("%s: architecture '%s', want '%s'", r->file, a.architecture, r->arch);
		expect_u64(&a, ARCH_F_NUM_LAYERS, r->layers, r->file);
		expect_u64(&a, ARCH_F_HIDDEN_SIZE, r->hidden, r->file);
		expect_u64(&a, ARCH_F_INTERMEDIATE_SIZE, r->ffn, r->file);
		expect_u64(&a, ARCH_F_NUM_ATTENTION_HEADS, r->heads, r->file);
		expect_u64(&a, ARCH_F_NUM_KV_HEADS, r->kv, r->file);
		expect_u64(&a, ARCH_F_HEAD_DIM, r->head_dim, r->file);
		if (r->head_dim != NONE) {
			expect_u64(&a, ARCH_F_HEAD_DIM_K, r->head_dim, r->file);
			expect_u64(&a, ARCH_F_HEAD_DIM_V, r->head_dim, r->file);
		}
		expect_u64(&a, ARCH_F_VOCAB_SIZE, r->vocab, r->file);
		expect_u64(&a, ARCH_F_CONTEXT_LENGTH, r->ctx, r->file);
		expect_u64(&a, ARCH_F_MAX_POSITION_EMBEDDINGS, r->ctx, r->file);
		expect_u64(&a, ARCH_F_ROPE_DIM, r->rope_dim, r->file);
		arch_release(&a);
	}
}

static void test_sources_and_dtype(void **state)
{
	struct arch a;

	(void)state;
	load_fixture("meta-llama__Llama-3.1-8B-Instruct", &a);
	assert_int_equal(a.src[ARCH_F_NUM_LAYERS], ARCH_SRC_CONFIG);
	assert_int_equal(a.src[ARCH_F_HEAD_DIM], ARCH_SRC_DERIVED);
	assert_int_equal(a.src[ARCH_F_ROPE_THETA], ARCH_SRC_CONFIG);
	assert_true(a.rope_theta == 500000.0);
	assert_non_null(a.rope_scaling);
	assert_non_null(strstr(a.rope_scaling, "\"rope_type\":\"llama3\""));
	assert_string_equal(a.kv_precision, "bf16");
	assert_true(arch_has(&a, ARCH_F_TIE_WORD_EMBEDDINGS) && !a.tie_word_embeddings);
	assert_false(arch_has(&a, ARCH_F_SLIDING_WINDOW));
	assert_false(arch_has(&a, ARCH_F_EXPERT_COUNT));
	assert_int_equal(a.n_warnings, 0);
	arch_release(&a);

	load_fixture("meta-llama__Llama-2-7b-hf", &a);
	assert_string_equal(a.kv_precision, "f16");
	assert_false(arch_has(&a, ARCH_F_ROPE_THETA));
	assert_int_equal(a.src[ARCH_F_NUM_KV_HEADS], ARCH_SRC_CONFIG);
	arch_release(&a);

	load_fixture("allenai__OLMo-2-1124-7B", &a);
	assert_string_equal(a.kv_precision, "f32");
	arch_release(&a);

	load_fixture("meta-llama__Llama-3.2-1B-Instruct", &a);
	assert_true(arch_has(&a, ARCH_F_TIE_WORD_EMBEDDINGS) && a.tie_word_embeddings);
	assert_int_equal(a.src[ARCH_F_HEAD_DIM], ARCH_SRC_CONFIG);
	arch_release(&a);
}

static void test_gemma_windows(void **state)
{
	struct arch a;
	size_t il;

	(void)state;
	load_fixture("google__gemma-2-9b", &a);
	expect_u64(&a, ARCH_F_SLIDING_WINDOW, 4096, "gemma-2-9b");
	expect_u64(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 2, "gemma-2-9b");
	assert_int_equal(a.src[ARCH_F_SLIDING_WINDOW_PATTERN], ARCH_SRC_DERIVED);
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_SLIDING);
	assert_int_equal(arch_layer_kind(&a, 1), ARCH_LAYER_FULL);
	assert_int_equal(arch_layer_kind(&a, 41), ARCH_LAYER_FULL);
	assert_true(a.tie_word_embeddings);
	assert_int_equal(a.src[ARCH_F_TIE_WORD_EMBEDDINGS], ARCH_SRC_DEFAULT);
	assert_true(has_warning(&a, "'tie_word_embeddings'"));
	arch_release(&a);

	load_fixture("google__gemma-3-1b-it", &a);
	expect_u64(&a, ARCH_F_SLIDING_WINDOW, 512, "gemma-3-1b");
	expect_u64(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 6, "gemma-3-1b");
	assert_int_equal(a.src[ARCH_F_SLIDING_WINDOW_PATTERN], ARCH_SRC_CONFIG);
	for (il = 0; il < 26; il++)
		assert_int_equal(arch_layer_kind(&a, il), il % 6 == 5 ? ARCH_LAYER_FULL : ARCH_LAYER_SLIDING);
	arch_release(&a);

	load_fixture("google__gemma-3-4b-it", &a);
	expect_u64(&a, ARCH_F_SLIDING_WINDOW, 1024, "gemma-3-4b");
	assert_int_equal(a.src[ARCH_F_SLIDING_WINDOW], ARCH_SRC_CONFIG);
	expect_u64(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 6, "gemma-3-4b");
	assert_int_equal(a.src[ARCH_F_SLIDING_WINDOW_PATTERN], ARCH_SRC_DEFAULT);
	assert_int_equal(a.src[ARCH_F_NUM_ATTENTION_HEADS], ARCH_SRC_DEFAULT);
	assert_int_equal(a.src[ARCH_F_NUM_KV_HEADS], ARCH_SRC_DEFAULT);
	assert_int_equal(a.src[ARCH_F_HEAD_DIM], ARCH_SRC_DEFAULT);
	assert_int_equal(a.src[ARCH_F_HEAD_DIM_K], ARCH_SRC_DEFAULT);
	assert_int_equal(a.src[ARCH_F_VOCAB_SIZE], ARCH_SRC_DEFAULT);
	assert_int_equal(a.src[ARCH_F_CONTEXT_LENGTH], ARCH_SRC_DEFAULT);
	assert_int_equal(a.src[ARCH_F_NUM_LAYERS], ARCH_SRC_CONFIG);
	assert_int_equal(a.src[ARCH_F_HIDDEN_SIZE], ARCH_SRC_CONFIG);
	assert_true(has_warning(&a, "'num_attention_heads'; using the gemma3_text default 8"));
	assert_true(has_warning(&a, "'num_key_value_heads'; using the gemma3_text default 4"));
	assert_true(has_warning(&a, "'head_dim'"));
	assert_true(has_warning(&a, "'vocab_size'; using the gemma3_text default 262208"));
	assert_true(has_warning(&a, "'max_position_embeddings'"));
	assert_false(has_warning(&a, "'hidden_size'"));
	assert_false(has_warning(&a, "'sliding_window';"));
	assert_non_null(strstr(a.rope_scaling, "\"linear\""));
	expect_u64(&a, ARCH_F_VISION_IMAGE_SIZE, 896, "gemma-3-4b");
	expect_u64(&a, ARCH_F_VISION_PATCH_SIZE, 14, "gemma-3-4b");
	expect_u64(&a, ARCH_F_VISION_NUM_LAYERS, 27, "gemma-3-4b");
	expect_u64(&a, ARCH_F_VISION_HIDDEN_SIZE, 1152, "gemma-3-4b");
	arch_release(&a);

	load_fixture("Qwen__Qwen2.5-7B", &a);
	assert_false(arch_has(&a, ARCH_F_SLIDING_WINDOW));
	assert_int_equal(arch_layer_kind(&a, 27), ARCH_LAYER_FULL);
	arch_release(&a);

	load_fixture("microsoft__Phi-3.5-mini-instruct", &a);
	expect_u64(&a, ARCH_F_SLIDING_WINDOW, 262144, "phi-3.5");
	arch_release(&a);
}

static void test_moe_and_mla(void **state)
{
	struct arch a;

	(void)state;
	load_fixture("Qwen__Qwen3-30B-A3B", &a);
	expect_u64(&a, ARCH_F_EXPERT_COUNT, 128, "qwen3-30b-a3b");
	expect_u64(&a, ARCH_F_EXPERT_USED_COUNT, 8, "qwen3-30b-a3b");
	expect_u64(&a, ARCH_F_EXPERT_SHARED_COUNT, NONE, "qwen3-30b-a3b");
	expect_u64(&a, ARCH_F_EXPERT_FFN_SIZE, 768, "qwen3-30b-a3b");
	expect_u64(&a, ARCH_F_KV_LORA_RANK, NONE, "qwen3-30b-a3b");
	arch_release(&a);

	load_fixture("mistralai__Mixtral-8x7B-v0.1", &a);
	expect_u64(&a, ARCH_F_EXPERT_COUNT, 8, "mixtral");
	expect_u64(&a, ARCH_F_EXPERT_USED_COUNT, 2, "mixtral");
	expect_u64(&a, ARCH_F_EXPERT_FFN_SIZE, 14336, "mixtral");
	assert_int_equal(a.src[ARCH_F_EXPERT_FFN_SIZE], ARCH_SRC_DERIVED);
	arch_release(&a);

	load_fixture("deepseek-ai__DeepSeek-V2-Lite", &a);
	expect_u64(&a, ARCH_F_KV_LORA_RANK, 512, "v2-lite");
	expect_u64(&a, ARCH_F_Q_LORA_RANK, NONE, "v2-lite");
	expect_u64(&a, ARCH_F_ROPE_DIM, 64, "v2-lite");
	expect_u64(&a, ARCH_F_QK_NOPE_HEAD_DIM, 128, "v2-lite");
	expect_u64(&a, ARCH_F_HEAD_DIM_K, 192, "v2-lite");
	expect_u64(&a, ARCH_F_HEAD_DIM_V, 128, "v2-lite");
	expect_u64(&a, ARCH_F_EXPERT_COUNT, 64, "v2-lite");
	expect_u64(&a, ARCH_F_EXPERT_USED_COUNT, 6, "v2-lite");
	expect_u64(&a, ARCH_F_EXPERT_SHARED_COUNT, 2, "v2-lite");
	expect_u64(&a, ARCH_F_EXPERT_FFN_SIZE, 1408, "v2-lite");
	expect_u64(&a, ARCH_F_LEADING_DENSE_LAYERS, 1, "v2-lite");
	assert_int_equal(a.src[ARCH_F_HEAD_DIM_K], ARCH_SRC_DERIVED);
	assert_false(arch_has(&a, ARCH_F_SSM_N_GROUP));
	assert_non_null(strstr(a.rope_scaling, "\"yarn\""));
	arch_release(&a);

	load_fixture("deepseek-ai__DeepSeek-V3", &a);
	expect_u64(&a, ARCH_F_KV_LORA_RANK, 512, "v3");
	expect_u64(&a, ARCH_F_Q_LORA_RANK, 1536, "v3");
	expect_u64(&a, ARCH_F_ROPE_DIM, 64, "v3");
	expect_u64(&a, ARCH_F_QK_NOPE_HEAD_DIM, 128, "v3");
	expect_u64(&a, ARCH_F_HEAD_DIM_K, 192, "v3");
	expect_u64(&a, ARCH_F_HEAD_DIM_V, 128, "v3");
	expect_u64(&a, ARCH_F_EXPERT_COUNT, 256, "v3");
	expect_u64(&a, ARCH_F_EXPERT_USED_COUNT, 8, "v3");
	expect_u64(&a, ARCH_F_EXPERT_SHARED_COUNT, 1, "v3");
	expect_u64(&a, ARCH_F_EXPERT_FFN_SIZE, 2048, "v3");
	expect_u64(&a, ARCH_F_LEADING_DENSE_LAYERS, 3, "v3");
	arch_release(&a);
}

static void test_recurrent(void **state)
{
	struct arch a;

	(void)state;
	load_fixture("mistralai__Mamba-Codestral-7B-v0.1", &a);
	expect_u64(&a, ARCH_F_SSM_D_STATE, 128, "codestral");
	expect_u64(&a, ARCH_F_SSM_D_CONV, 4, "codestral");
	expect_u64(&a, ARCH_F_SSM_D_INNER, 8192, "codestral");
	expect_u64(&a, ARCH_F_SSM_N_GROUP, 8, "codestral");
	expect_u64(&a, ARCH_F_SSM_DT_RANK, 128, "codestral");
	expect_u64(&a, ARCH_F_NUM_ATTENTION_HEADS, NONE, "codestral");
	expect_u64(&a, ARCH_F_HEAD_DIM, NONE, "codestral");
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_RECURRENT);
	assert_int_equal(arch_layer_kind(&a, 63), ARCH_LAYER_RECURRENT);
	arch_release(&a);

	load_fixture("tiiuae__falcon-mamba-7b", &a);
	expect_u64(&a, ARCH_F_SSM_D_STATE, 16, "falcon-mamba");
	expect_u64(&a, ARCH_F_SSM_D_CONV, 4, "falcon-mamba");
	expect_u64(&a, ARCH_F_SSM_D_INNER, 8192, "falcon-mamba");
	expect_u64(&a, ARCH_F_SSM_DT_RANK, 256, "falcon-mamba");
	expect_u64(&a, ARCH_F_SSM_N_GROUP, NONE, "falcon-mamba");
	assert_int_equal(arch_layer_kind(&a, 5), ARCH_LAYER_RECURRENT);
	arch_release(&a);
}

static void test_vision(void **state)
{
	struct arch a;

	(void)state;
	load_fixture("Qwen__Qwen2.5-VL-7B-Instruct", &a);
	expect_u64(&a, ARCH_F_VISION_PATCH_SIZE, 14, "qwen2.5-vl");
	expect_u64(&a, ARCH_F_VISION_NUM_LAYERS, 32, "qwen2.5-vl");
	expect_u64(&a, ARCH_F_VISION_HIDDEN_SIZE, 1280, "qwen2.5-vl");
	expect_u64(&a, ARCH_F_VISION_IMAGE_SIZE, NONE, "qwen2.5-vl");
	assert_non_null(strstr(a.rope_scaling, "\"mrope\""));
	assert_false(arch_has(&a, ARCH_F_SLIDING_WINDOW));
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * Layouts the fixtures lack (values from the upstream configs)
 * ------------------------------------------------------------------------ */

static void test_nested_llama4_mistral3(void **state)
{
	static const char llama4[] =
		"{\"architectures\":[\"Llama4ForConditionalGeneration\"],\"model_type\":\"llama4\","
		"\"text_config\":{\"model_type\":\"llama4_text\",\"num_hidden_layers\":48,"
		"\"hidden_size\":5120,\"intermediate_size\":8192,\"intermediate_size_mlp\":16384,"
		"\"num_attention_heads\":40,\"num_key_value_heads\":8,\"head_dim\":128,"
		"\"vocab_size\":202048,\"max_position_embeddings\":10485760,\"rope_theta\":500000.0,"
		"\"num_local_experts\":16,\"num_experts_per_tok\":1,\"attention_chunk_size\":8192,"
		"\"rope_scaling\":{\"factor\":16.0,\"rope_type\":\"llama3\"},\"torch_dtype\":\"bfloat16\"},"
		"\"vision_config\":{\"image_size\":336,\"patch_size\":14,\"num_hidden_layers\":34,"
		"\"hidden_size\":1408}}";
	static const char mistral3[] =
		"{\"architectures\":[\"Mistral3ForConditionalGeneration\"],\"model_type\":\"mistral3\","
		"\"text_config\":{\"model_type\":\"mistral\",\"num_hidden_layers\":40,\"hidden_size\":5120,"
		"\"intermediate_size\":32768,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
		"\"head_dim\":128,\"vocab_size\":131072,\"max_position_embeddings\":131072,"
		"\"rope_theta\":1000000000.0,\"sliding_window\":null},"
		"\"vision_config\":{\"model_type\":\"pixtral\",\"image_size\":1540,\"patch_size\":14,"
		"\"num_hidden_layers\":24,\"hidden_size\":1024,\"head_dim\":64}}";
	struct arch a;
	struct diag d;
	size_t il;

	(void)state;
	assert_int_equal(parse_str(llama4, &a, &d), 0);
	assert_string_equal(a.architecture, "llama4");
	expect_u64(&a, ARCH_F_NUM_LAYERS, 48, "llama4");
	expect_u64(&a, ARCH_F_INTERMEDIATE_SIZE, 16384, "llama4");
	expect_u64(&a, ARCH_F_EXPERT_FFN_SIZE, 8192, "llama4");
	expect_u64(&a, ARCH_F_EXPERT_COUNT, 16, "llama4");
	expect_u64(&a, ARCH_F_EXPERT_USED_COUNT, 1, "llama4");
	expect_u64(&a, ARCH_F_NUM_KV_HEADS, 8, "llama4");
	expect_u64(&a, ARCH_F_VOCAB_SIZE, 202048, "llama4");
	expect_u64(&a, ARCH_F_SLIDING_WINDOW, 8192, "llama4");
	for (il = 0; il < 48; il++)
		assert_int_equal(arch_layer_kind(&a, il), il % 4 == 3 ? ARCH_LAYER_FULL : ARCH_LAYER_CHUNKED);
	expect_u64(&a, ARCH_F_VISION_IMAGE_SIZE, 336, "llama4");
	expect_u64(&a, ARCH_F_VISION_NUM_LAYERS, 34, "llama4");
	assert_string_equal(a.kv_precision, "bf16");
	expect_valid_json(&a);
	arch_release(&a);

	assert_int_equal(parse_str(mistral3, &a, &d), 0);
	assert_string_equal(a.architecture, "llama");
	expect_u64(&a, ARCH_F_NUM_LAYERS, 40, "mistral3");
	expect_u64(&a, ARCH_F_HEAD_DIM, 128, "mistral3");
	expect_u64(&a, ARCH_F_VOCAB_SIZE, 131072, "mistral3");
	expect_u64(&a, ARCH_F_SLIDING_WINDOW, NONE, "mistral3");
	expect_u64(&a, ARCH_F_VISION_IMAGE_SIZE, 1540, "mistral3");
	expect_u64(&a, ARCH_F_VISION_HIDDEN_SIZE, 1024, "mistral3");
	assert_true(a.rope_theta == 1e9);
	arch_release(&a);

	assert_int_equal(parse_str("{\"architectures\":[\"Mistral3ForConditionalGeneration\"],"
				   "\"text_config\":{\"model_type\":\"ministral3\",\"num_hidden_layers\":26}}",
				   &a, &d), 0);
	assert_string_equal(a.architecture, "mistral3");
	arch_release(&a);
}

static void test_hybrids(void **state)
{
	static const char jamba[] =
		"{\"architectures\":[\"JambaForCausalLM\"],\"model_type\":\"jamba\",\"num_hidden_layers\":32,"
		"\"hidden_size\":4096,\"intermediate_size\":14336,\"num_attention_heads\":32,"
		"\"num_key_value_heads\":8,\"vocab_size\":65536,\"num_experts\":16,\"num_experts_per_tok\":2,"
		"\"attn_layer_period\":8,\"attn_layer_offset\":4,\"expert_layer_period\":2,"
		"\"expert_layer_offset\":1,\"mamba_d_state\":16,\"mamba_d_conv\":4,\"mamba_expand\":2,"
		"\"mamba_dt_rank\":\"auto\",\"max_position_embeddings\":262144}";
	static const char granite[] =
		"{\"architectures\":[\"GraniteMoeHybridForCausalLM\"],\"model_type\":\"granitemoehybrid\","
		"\"num_hidden_layers\":4,\"hidden_size\":1536,\"num_attention_heads\":12,"
		"\"num_key_value_heads\":4,\"vocab_size\":100352,\"layer_types\":[\"mamba\",\"attention\","
		"\"mamba\",\"mamba\"],\"mamba_d_state\":128,\"mamba_d_conv\":4,\"mamba_n_heads\":48,"
		"\"mamba_d_head\":64,\"mamba_n_groups\":1,\"mamba_expand\":2}";
	struct arch a;
	struct diag d;
	size_t il;

	(void)state;
	assert_int_equal(parse_str(jamba, &a, &d), 0);
	assert_string_equal(a.architecture, "jamba");
	expect_u64(&a, ARCH_F_SSM_D_STATE, 16, "jamba");
	expect_u64(&a, ARCH_F_SSM_D_CONV, 4, "jamba");
	expect_u64(&a, ARCH_F_SSM_D_INNER, 8192, "jamba");
	expect_u64(&a, ARCH_F_SSM_DT_RANK, 256, "jamba");
	expect_u64(&a, ARCH_F_NUM_KV_HEADS, 8, "jamba");
	assert_non_null(a.layer_kv_heads);
	for (il = 0; il < 32; il++) {
		assert_int_equal(arch_layer_kind(&a, il), il % 8 == 4 ? ARCH_LAYER_FULL : ARCH_LAYER_RECURRENT);
		assert_int_equal(arch_layer_kv_heads(&a, il), il % 8 == 4 ? 8 : 0);
	}
	expect_valid_json(&a);
	arch_release(&a);

	assert_int_equal(parse_str(granite, &a, &d), 0);
	assert_string_equal(a.architecture, "granitehybrid");
	expect_u64(&a, ARCH_F_SSM_D_INNER, 3072, "granite");
	expect_u64(&a, ARCH_F_SSM_DT_RANK, 48, "granite");
	expect_u64(&a, ARCH_F_SSM_N_GROUP, 1, "granite");
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_RECURRENT);
	assert_int_equal(arch_layer_kind(&a, 1), ARCH_LAYER_FULL);
	assert_int_equal(arch_layer_kv_heads(&a, 1), 4);
	assert_int_equal(arch_layer_kv_heads(&a, 2), 0);
	assert_int_equal(a.src[ARCH_F_LAYER_TYPES], ARCH_SRC_CONFIG);
	arch_release(&a);
}

static void test_windows_and_per_layer(void **state)
{
	static const char qwen2_swa[] =
		"{\"model_type\":\"qwen2\",\"num_hidden_layers\":6,\"hidden_size\":512,"
		"\"num_attention_heads\":8,\"num_key_value_heads\":2,\"vocab_size\":1000,"
		"\"use_sliding_window\":true,\"sliding_window\":4096,\"max_window_layers\":4}";
	static const char gemma3_new[] =
		"{\"model_type\":\"gemma3_text\",\"num_hidden_layers\":6,\"hidden_size\":640,\"intermediate_size\":2048,"
		"\"num_attention_heads\":4,\"num_key_value_heads\":1,\"head_dim\":256,\"vocab_size\":262144,"
		"\"max_position_embeddings\":32768,\"rope_theta\":1000000.0,\"sliding_window\":512,"
		"\"tie_word_embeddings\":true,\"layer_types\":[\"sliding_attention\",\"sliding_attention\","
		"\"full_attention\",\"sliding_attention\",\"sliding_attention\",\"full_attention\"]}";
	static const char openelm[] =
		"{\"architectures\":[\"OpenELMForCausalLM\"],\"model_type\":\"openelm\","
		"\"num_transformer_layers\":3,\"model_dim\":1280,\"head_dim\":64,"
		"\"num_query_heads\":[12,16,20],\"num_kv_heads\":[3,4,5],\"vocab_size\":32000,"
		"\"max_context_length\":2048}";
	static const char falcon[] =
		"{\"architectures\":[\"FalconForCausalLM\"],\"model_type\":\"falcon\",\"n_layer\":32,"
		"\"hidden_size\":4544,\"n_head\":71,\"multi_query\":true,\"vocab_size\":65024}";
	static const char v5_rope[] =
		"{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64,\"num_attention_heads\":4,"
		"\"vocab_size\":100,\"rope_parameters\":{\"rope_type\":\"yarn\",\"rope_theta\":10000.0,"
		"\"factor\":4.0}}";
	struct arch a;
	struct diag d;
	size_t il;

	(void)state;
	assert_int_equal(parse_str(qwen2_swa, &a, &d), 0);
	expect_u64(&a, ARCH_F_SLIDING_WINDOW, 4096, "qwen2 swa");
	for (il = 0; il < 6; il++)
		assert_int_equal(arch_layer_kind(&a, il), il >= 4 ? ARCH_LAYER_SLIDING : ARCH_LAYER_FULL);
	arch_release(&a);

	assert_int_equal(parse_str(gemma3_new, &a, &d), 0);
	expect_u64(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 3, "gemma3 layer_types");
	assert_int_equal(a.src[ARCH_F_SLIDING_WINDOW_PATTERN], ARCH_SRC_DERIVED);
	assert_int_equal(a.src[ARCH_F_LAYER_TYPES], ARCH_SRC_CONFIG);
	assert_int_equal(a.n_warnings, 0);
	arch_release(&a);

	assert_int_equal(parse_str(openelm, &a, &d), 0);
	assert_string_equal(a.architecture, "openelm");
	expect_u64(&a, ARCH_F_NUM_LAYERS, 3, "openelm");
	expect_u64(&a, ARCH_F_HIDDEN_SIZE, 1280, "openelm");
	expect_u64(&a, ARCH_F_NUM_ATTENTION_HEADS, 20, "openelm");
	expect_u64(&a, ARCH_F_NUM_KV_HEADS, 5, "openelm");
	expect_u64(&a, ARCH_F_CONTEXT_LENGTH, 2048, "openelm");
	assert_int_equal(arch_layer_heads(&a, 0), 12);
	assert_int_equal(arch_layer_kv_heads(&a, 1), 4);
	assert_int_equal(arch_layer_kv_heads(&a, 2), 5);
	expect_valid_json(&a);
	arch_release(&a);

	assert_int_equal(parse_str(falcon, &a, &d), 0);
	expect_u64(&a, ARCH_F_NUM_KV_HEADS, 1, "falcon");
	expect_u64(&a, ARCH_F_HEAD_DIM, 64, "falcon");
	arch_release(&a);

	assert_int_equal(parse_str(v5_rope, &a, &d), 0);
	assert_true(a.rope_theta == 10000.0);
	assert_non_null(a.rope_scaling);
	assert_non_null(strstr(a.rope_scaling, "\"yarn\""));
	arch_release(&a);
}

static void test_unknown_family_and_merge(void **state)
{
	struct arch a;
	struct diag d;

	(void)state;
	assert_int_equal(parse_str("{\"model_type\":\"brandnew\",\"num_hidden_layers\":2}", &a, &d), 0);
	assert_false(arch_has(&a, ARCH_F_ARCHITECTURE));
	assert_true(has_warning(&a, "'brandnew'"));
	expect_u64(&a, ARCH_F_NUM_LAYERS, 2, "unknown");
	arch_release(&a);

	arch_init(&a);
	diag_init(&d);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, 32, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_CONTEXT_LENGTH, 8192, ARCH_SRC_GGUF), 0);
	{
		static const char cfg[] = "{\"model_type\":\"llama\",\"num_hidden_layers\":30,"
			"\"hidden_size\":4096,\"num_attention_heads\":32,\"max_position_embeddings\":131072}";

		assert_int_equal(arch_from_hfcfg(cfg, strlen(cfg), &a, &d), 0);
	}
	assert_int_equal(a.num_layers, 32);
	assert_int_equal(a.src[ARCH_F_NUM_LAYERS], ARCH_SRC_GGUF);
	assert_int_equal(a.context_length, 8192);
	assert_int_equal(a.hidden_size, 4096);
	assert_int_equal(a.src[ARCH_F_HIDDEN_SIZE], ARCH_SRC_CONFIG);
	assert_int_equal(a.max_position_embeddings, 131072);
	assert_int_equal(a.source, ARCH_SRC_GGUF);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * Non-standard tokens and hostile input
 * ------------------------------------------------------------------------ */

static void test_nonfinite_tokens(void **state)
{
	struct arch a;
	struct diag d;

	(void)state;
	assert_int_equal(parse_str("{\"model_type\":\"mamba2\",\"num_hidden_layers\":2,\"hidden_size\":64,"
				   "\"vocab_size\":10,\"time_step_limit\":[0.0,Infinity],\"x\":-Infinity,"
				   "\"y\":NaN,\"z\":[NaN,-NaN, Infinity ]}", &a, &d), 0);
	expect_u64(&a, ARCH_F_NUM_LAYERS, 2, "infinity");
	arch_release(&a);

	assert_int_equal(parse_str("{\"model_type\":\"llama\",\"hidden_size\":Infinity}", &a, &d), 0);
	assert_false(arch_has(&a, ARCH_F_HIDDEN_SIZE));
	arch_release(&a);

	assert_int_equal(parse_str("{\"model_type\":\"Infinity\",\"a\":\"x\\\" NaN\"}", &a, &d), 0);
	assert_true(has_warning(&a, "model_type 'Infinity'"));
	arch_release(&a);

	assert_int_equal(parse_str("{\"model_type\":\"-Infinity NaN\"}", &a, &d), 0);
	assert_true(has_warning(&a, "'-Infinity NaN'"));
	arch_release(&a);
}

struct hostile {
	const char *name;
	const char *json;
	int rc;
	const char *msg;   /* substring the diag must hold, or NULL */
};

static const struct hostile hostile_rows[] = {
	{ "empty", "", -EBADMSG, "not JSON" },
	{ "truncated", "{\"model_type\":\"llama\"", -EBADMSG, "not JSON" },
	{ "prose", "hello world", -EBADMSG, "not JSON" },
	{ "html", "<html><body>404</body></html>", -EBADMSG, "not JSON" },
	{ "array", "[1,2,3]", -EBADMSG, "not a JSON object" },
	{ "string", "\"llama\"", -EBADMSG, "not a JSON object" },
	{ "null", "null", -EBADMSG, "not a JSON object" },
	{ "bad word", "{\"hidden_size\":Infinityx}", -EBADMSG, "not JSON" },
	{ "bare word", "{\"hidden_size\":Inf}", -EBADMSG, "not JSON" },
	{ "trailing garbage", "{} {}", -EBADMSG, "not JSON" },
	{ "invalid utf-8", "{\"model_type\":\"\xff\xfe\"}", -EBADMSG, "not JSON" },
	{ "layers string", "{\"num_hidden_layers\":\"32\"}", -EBADMSG, "'num_hidden_layers' must be an integer, not a string" },
	{ "hidden bool", "{\"hidden_size\":true}", -EBADMSG, "'hidden_size'" },
	{ "heads real", "{\"num_attention_heads\":32.5}", -EBADMSG, "'num_attention_heads'" },
	{ "heads zero", "{\"num_attention_heads\":0}", -EBADMSG, "'num_attention_heads'" },
	{ "kv negative", "{\"num_key_value_heads\":-8}", -EBADMSG, "'num_key_value_heads' is -8" },
	{ "layers huge", "{\"num_hidden_layers\":1000000}", -EBADMSG, "'num_hidden_layers'" },
	{ "hidden 2^41", "{\"hidden_size\":2199023255552}", -EBADMSG, "'hidden_size'" },
	{ "vocab 1e300", "{\"vocab_size\":1e300}", -EBADMSG, "'vocab_size'" },
	{ "integer overflow", "{\"vocab_size\":99999999999999999999999}", -EBADMSG, "not JSON" },
	{ "nested wrong type", "{\"text_config\":{\"num_attention_heads\":\"8\"}}", -EBADMSG,
	  "'text_config.num_attention_heads'" },
	{ "text_config list", "{\"text_config\":[]}", -EBADMSG, "'text_config' must be an object" },
	{ "vision_config string", "{\"vision_config\":\"siglip\"}", -EBADMSG, "'vision_config'" },
	{ "vision wrong type", "{\"vision_config\":{\"patch_size\":\"14\"}}", -EBADMSG,
	  "'vision_config.patch_size'" },
	{ "architectures string", "{\"architectures\":\"LlamaForCausalLM\"}", -EBADMSG, "'architectures'" },
	{ "architectures numbers", "{\"architectures\":[1]}", -EBADMSG, "'architectures'" },
	{ "model_type number", "{\"model_type\":7}", -EBADMSG, "'model_type'" },
	{ "rope_scaling string", "{\"rope_scaling\":\"linear\"}", -EBADMSG, "'rope_scaling'" },
	{ "rope_theta string", "{\"rope_theta\":\"1e6\"}", -EBADMSG, "'rope_theta'" },
	{ "rope_theta negative", "{\"rope_theta\":-5}", -EBADMSG, "'rope_theta'" },
	{ "tie string", "{\"tie_word_embeddings\":\"yes\"}", -EBADMSG, "'tie_word_embeddings'" },
	{ "sliding_window bool", "{\"sliding_window\":true}", -EBADMSG, "'sliding_window'" },
	{ "layer_types numbers", "{\"num_hidden_layers\":2,\"layer_types\":[1,2]}", -EBADMSG, "'layer_types'" },
	{ "layer_types length", "{\"num_hidden_layers\":3,\"layer_types\":[\"full_attention\"]}", -EBADMSG,
	  "not one per layer" },
	{ "layer_types object", "{\"layer_types\":{}}", -EBADMSG, "'layer_types' must be a list" },
	{ "head list length", "{\"num_hidden_layers\":2,\"num_kv_heads\":[1,2,3]}", -EBADMSG,
	  "not one per layer" },
	{ "head list type", "{\"num_hidden_layers\":2,\"num_query_heads\":[1,\"2\"]}", -EBADMSG,
	  "'num_query_heads'" },
	{ "ssm state string", "{\"model_type\":\"mamba\",\"state_size\":\"16\"}", -EBADMSG, "'state_size'" },
	{ "dt_rank word", "{\"model_type\":\"mamba\",\"time_step_rank\":\"big\"}", -EBADMSG, "'time_step_rank'" },
	{ "experts string", "{\"num_local_experts\":\"8\"}", -EBADMSG, "'num_local_experts'" },
	{ "mla rank list", "{\"kv_lora_rank\":[512]}", -EBADMSG, "'kv_lora_rank'" },
	{ "jamba offset", "{\"model_type\":\"jamba\",\"num_hidden_layers\":8,\"attn_layer_period\":4,"
	  "\"attn_layer_offset\":4}", -EBADMSG, "'attn_layer_offset'" },
};

static void expect_untouched(const struct arch *a, const char *what)
{
	size_t f;

	for (f = 0; f < ARCH_F_COUNT; f++)
		if (a->src[f] != ARCH_SRC_NONE)
			fail_msg("%s: field '%s' was set by a failed parse", what, arch_field_name(f));
	if (a->n_warnings || a->rope_scaling || a->layer_kind || a->layer_heads || a->layer_kv_heads)
		fail_msg("%s: a failed parse left data behind", what);
}

static void test_hostile_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(hostile_rows); i++) {
		const struct hostile *h = &hostile_rows[i];
		struct arch a;
		struct diag d;
		int rc;

		rc = parse_str(h->json, &a, &d);
		if (rc != h->rc)
			fail_msg("%s: rc %d, want %d (%s)", h->name, rc, h->rc, d.msg);
		if (d.code != rc || d.msg[0] == '\0')
			fail_msg("%s: no diagnostic", h->name);
		if (h->msg && !strstr(d.msg, h->msg))
			fail_msg("%s: message '%s' lacks '%s'", h->name, d.msg, h->msg);
		expect_untouched(&a, h->name);
		arch_release(&a);
	}
}

static void test_hostile_sizes(void **state)
{
	size_t depth = 100000, n, i;
	struct arch a;
	struct diag d;
	char *buf;
	int rc;

	(void)state;
	buf = malloc(2 * depth + 64);
	assert_non_null(buf);
	n = (size_t)snprintf(buf, 64, "{\"x\":");
	for (i = 0; i < depth; i++)
		buf[n++] = '[';
	for (i = 0; i < depth; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	arch_init(&a);
	diag_init(&d);
	assert_int_equal(arch_from_hfcfg(buf, n, &a, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "not JSON"));
	expect_untouched(&a, "deep nesting");
	free(buf);

	n = 5u << 20;
	buf = malloc(n);
	assert_non_null(buf);
	memset(buf, ' ', n);
	buf[0] = '{';
	buf[n - 1] = '}';
	diag_init(&d);
	assert_int_equal(arch_from_hfcfg(buf, n, &a, &d), -EFBIG);
	assert_non_null(strstr(d.msg, "limit"));
	expect_untouched(&a, "5 MiB");

	n = CAP_CONFIG_JSON_BYTES;
	for (i = 1; i + 16 < n; i += 16)
		memcpy(buf + i, "\"k\":NaN,       ", 15);
	memcpy(buf + i, "\"e\":1}", 6);
	diag_init(&d);
	rc = arch_from_hfcfg(buf, i + 6, &a, &d);
	if (rc)
		fail_msg("4 MiB of NaN: rc %d: %s", rc, d.msg);
	arch_release(&a);
	free(buf);

	diag_init(&d);
	arch_init(&a);
	assert_int_equal(arch_from_hfcfg("{\"model_type\":\"llama\"}\0junk", 27, &a, &d), -EBADMSG);
	expect_untouched(&a, "embedded NUL");
	assert_int_equal(arch_from_hfcfg(NULL, 0, &a, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_fixture_parses),
		cmocka_unit_test(test_hand_checked),
		cmocka_unit_test(test_sources_and_dtype),
		cmocka_unit_test(test_gemma_windows),
		cmocka_unit_test(test_moe_and_mla),
		cmocka_unit_test(test_recurrent),
		cmocka_unit_test(test_vision),
		cmocka_unit_test(test_nested_llama4_mistral3),
		cmocka_unit_test(test_hybrids),
		cmocka_unit_test(test_windows_and_per_layer),
		cmocka_unit_test(test_unknown_family_and_merge),
		cmocka_unit_test(test_nonfinite_tokens),
		cmocka_unit_test(test_hostile_table),
		cmocka_unit_test(test_hostile_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
