/*
 * test_arch.c - the normalized architecture: setters and their limits,
 * architecture.json (valid JSON, exactly the known keys, per-layer arrays,
 * field sources, a lossless round trip through arch_from_json), merge
 * semantics, warnings, layer kinds, and arch_from_gguf on GGUF headers this
 * test writes itself (Llama, Gemma 3, DeepSeek MLA, Jamba-style hybrid,
 * Mamba, an mmproj) plus malformed ones.
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

static char *to_json(const struct arch *a)
{
	struct sbuf sb;

	sbuf_init(&sb, 1 << 20);
	assert_int_equal(arch_to_json(a, &sb), 0);
	return sbuf_detach(&sb, NULL);
}

static json_t *to_jansson(const struct arch *a)
{
	json_error_t err;
	char *text = to_json(a);
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);

	if (!j)
		fail_msg("invalid JSON (%s):\n%s", err.text, text);
	assert_true(json_is_object(j));
	free(text);
	return j;
}

/* An arch with every field known. */
static void fill_all(struct arch *a)
{
	static const uint32_t kv[4] = { 8, 0, 8, 0 };
	static const uint8_t kinds[4] = { ARCH_LAYER_SLIDING, ARCH_LAYER_RECURRENT, ARCH_LAYER_FULL,
					  ARCH_LAYER_RECURRENT };
	static const uint32_t heads[4] = { 32, 16, 32, 16 };
	size_t f;

	arch_init(a);
	assert_int_equal(arch_set_str(a, ARCH_F_ARCHITECTURE, "jamba", ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(a, ARCH_F_NUM_LAYERS, 4, ARCH_SRC_GGUF), 0);
	for (f = 0; f < ARCH_F_COUNT; f++) {
		switch (f) {
		case ARCH_F_ARCHITECTURE:
		case ARCH_F_NUM_LAYERS:
		case ARCH_F_NUM_ATTENTION_HEADS:
		case ARCH_F_NUM_KV_HEADS:
		case ARCH_F_LAYER_TYPES:
			break;
		case ARCH_F_ROPE_THETA:
			assert_int_equal(arch_set_double(a, f, 500000.0, ARCH_SRC_CONFIG), 0);
			break;
		case ARCH_F_ROPE_SCALING:
			assert_int_equal(arch_set_str(a, f, "{\"rope_type\": \"yarn\", \"factor\": 4.0}",
						      ARCH_SRC_CONFIG), 0);
			break;
		case ARCH_F_KV_PRECISION:
			assert_int_equal(arch_set_str(a, f, "bf16", ARCH_SRC_CONFIG), 0);
			break;
		case ARCH_F_TIE_WORD_EMBEDDINGS:
			a->tie_word_embeddings = true;
			a->src[f] = ARCH_SRC_DEFAULT;
			break;
		default:
			assert_int_equal(arch_set_u64(a, f, 1000 + f, f % 2 ? ARCH_SRC_CATALOG : ARCH_SRC_DERIVED), 0);
		}
	}
	assert_int_equal(arch_set_layer_heads(a, heads, 4, ARCH_SRC_MANUAL), 0);
	assert_int_equal(arch_set_layer_kv_heads(a, kv, 4, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_layer_kinds(a, kinds, 4, ARCH_SRC_DERIVED), 0);
	assert_int_equal(arch_warn(a, "a guess: %d", 42), 0);
}

/* ------------------------------------------------------------------------
 * Setters
 * ------------------------------------------------------------------------ */

static void test_setters(void **state)
{
	static const uint32_t five[5] = { 1, 2, 3, 4, 5 };
	static const uint8_t bad_kind[2] = { 0, 9 };
	struct arch a;

	(void)state;
	arch_init(&a);
	assert_false(arch_has(&a, ARCH_F_NUM_LAYERS));
	assert_int_equal(arch_set_u64(&a, ARCH_F_ROPE_THETA, 1, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_u64(&a, ARCH_F_HIDDEN_SIZE, 1, ARCH_SRC_NONE), -EINVAL);
	assert_int_equal(arch_set_u64(&a, ARCH_F_COUNT, 1, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_u64(&a, ARCH_F_HIDDEN_SIZE, ARCH_MAX_VALUE + 1, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_u64(&a, ARCH_F_HIDDEN_SIZE, ARCH_MAX_VALUE, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, ARCH_MAX_LAYERS + 1, ARCH_SRC_GGUF), -EINVAL);
	assert_false(arch_has(&a, ARCH_F_NUM_LAYERS));
	assert_int_equal(arch_set_double(&a, ARCH_F_ROPE_THETA, INFINITY, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_double(&a, ARCH_F_ROPE_THETA, NAN, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_double(&a, ARCH_F_HIDDEN_SIZE, 1, ARCH_SRC_GGUF), -EINVAL);
	assert_false(arch_has(&a, ARCH_F_ROPE_THETA));
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE, "llama", ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE, "", ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE, "ll\"ama", ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE, "caf\xc3\xa9", ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE,
				      "a-very-long-architecture-name-that-goes-on-and-on-and-on",
				      ARCH_SRC_GGUF), -ENAMETOOLONG);
	assert_string_equal(a.architecture, "llama");
	assert_int_equal(arch_set_str(&a, ARCH_F_ROPE_SCALING, "[1]", ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_str(&a, ARCH_F_ROPE_SCALING, "{\"a\":", ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_str(&a, ARCH_F_ROPE_SCALING, "{\"a\":1,\"a\":2}", ARCH_SRC_GGUF), -EINVAL);
	assert_false(arch_has(&a, ARCH_F_ROPE_SCALING));
	assert_int_equal(arch_set_str(&a, ARCH_F_ROPE_SCALING, "{ \"factor\" : 8 }", ARCH_SRC_GGUF), 0);
	assert_string_equal(a.rope_scaling, "{\"factor\":8}");
	assert_int_equal(arch_set_str(&a, ARCH_F_HIDDEN_SIZE, "8", ARCH_SRC_GGUF), -EINVAL);

	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, 4, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_layer_kv_heads(&a, five, 5, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_layer_kv_heads(&a, five, 0, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_set_layer_kinds(&a, bad_kind, 2, ARCH_SRC_GGUF), -EINVAL);
	assert_null(a.layer_kv_heads);
	assert_int_equal(arch_set_layer_kv_heads(&a, five, 4, ARCH_SRC_GGUF), 0);
	assert_int_equal(a.num_kv_heads, 4);
	assert_int_equal(a.n_layer_info, 4);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, 5, ARCH_SRC_GGUF), -EINVAL);
	assert_int_equal(arch_layer_kv_heads(&a, 2), 3);
	assert_int_equal(arch_layer_kv_heads(&a, 99), 4);
	assert_int_equal(arch_layer_heads(&a, 0), 0);
	arch_release(&a);
	assert_null(a.layer_kv_heads);
	assert_false(arch_has(&a, ARCH_F_NUM_LAYERS));
	arch_release(&a);

	assert_string_equal(arch_source_name(ARCH_SRC_CONFIG), "config.json");
	assert_string_equal(arch_source_name(ARCH_SRC_NONE), "none");
	assert_string_equal(arch_source_name((enum arch_source)99), "none");
	assert_string_equal(arch_field_name(ARCH_F_SSM_D_STATE), "ssm.d_state");
	assert_null(arch_field_name(ARCH_F_COUNT));
}

static void test_layer_kind(void **state)
{
	static const uint8_t kinds[3] = { ARCH_LAYER_RECURRENT, ARCH_LAYER_CHUNKED, ARCH_LAYER_FULL };
	struct arch a;
	size_t il;

	(void)state;
	arch_init(&a);
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_FULL);
	assert_int_equal(arch_set_u64(&a, ARCH_F_SLIDING_WINDOW, 4096, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_layer_kind(&a, 7), ARCH_LAYER_SLIDING);
	assert_int_equal(arch_set_u64(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 6, ARCH_SRC_CONFIG), 0);
	for (il = 0; il < 12; il++)
		assert_int_equal(arch_layer_kind(&a, il), il == 5 || il == 11 ? ARCH_LAYER_FULL : ARCH_LAYER_SLIDING);
	assert_int_equal(arch_set_u64(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 1, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_layer_kind(&a, 3), ARCH_LAYER_FULL);
	assert_int_equal(arch_set_u64(&a, ARCH_F_SLIDING_WINDOW, 0, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_layer_kind(&a, 3), ARCH_LAYER_FULL);
	assert_int_equal(arch_set_layer_kinds(&a, kinds, 3, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_RECURRENT);
	assert_int_equal(arch_layer_kind(&a, 1), ARCH_LAYER_CHUNKED);
	assert_int_equal(arch_layer_kind(&a, 2), ARCH_LAYER_FULL);
	arch_release(&a);

	arch_init(&a);
	assert_int_equal(arch_set_u64(&a, ARCH_F_SSM_D_STATE, 16, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_RECURRENT);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_KV_HEADS, 0, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_RECURRENT);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_KV_HEADS, 8, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_FULL);
	arch_release(&a);

	arch_init(&a);
	assert_int_equal(arch_set_u64(&a, ARCH_F_SSM_HEAD_SIZE, 64, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_layer_kind(&a, 0), ARCH_LAYER_RECURRENT);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * architecture.json
 * ------------------------------------------------------------------------ */

static const char *const top_keys[] = {
	"architecture", "num_layers", "hidden_size", "intermediate_size", "num_attention_heads",
	"num_kv_heads", "head_dim", "head_dim_k", "head_dim_v", "vocab_size", "context_length",
	"max_position_embeddings", "rope_theta", "rope_scaling", "sliding_window",
	"sliding_window_pattern", "expert_count", "expert_used_count", "expert_shared_count",
	"kv_lora_rank", "q_lora_rank", "rope_dim", "ssm", "vision", "kv_precision",
	"qk_nope_head_dim", "expert_intermediate_size", "expert_shared_intermediate_size",
	"leading_dense_layers", "tie_word_embeddings", "layer_types",
	"source", "field_sources", "warnings",
};
static const char *const ssm_keys[] = { "d_conv", "d_inner", "d_state", "dt_rank", "n_group", "head_size" };
static const char *const vision_keys[] = { "image_size", "patch_size", "num_layers", "hidden_size" };

static void expect_exact_keys(json_t *obj, const char *const *keys, size_t n, const char *what)
{
	const char *k;
	json_t *v;
	size_t i;

	assert_true(json_is_object(obj));
	json_object_foreach(obj, k, v) {
		for (i = 0; i < n; i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == n)
			fail_msg("%s: unexpected key '%s'", what, k);
	}
	for (i = 0; i < n; i++)
		if (!json_object_get(obj, keys[i]))
			fail_msg("%s: key '%s' missing", what, keys[i]);
}

static void test_json_empty(void **state)
{
	struct arch a;
	char *text;

	(void)state;
	arch_init(&a);
	text = to_json(&a);
	assert_string_equal(text, "{\n  \"source\": \"none\",\n  \"field_sources\": {},\n  \"warnings\": []\n}\n");
	free(text);
}

static void test_json_full(void **state)
{
	json_t *j, *fs, *v;
	struct arch a;
	const char *k;
	size_t n = 0;

	(void)state;
	fill_all(&a);
	j = to_jansson(&a);
	expect_exact_keys(j, top_keys, N_ELEMS(top_keys), "top");
	expect_exact_keys(json_object_get(j, "ssm"), ssm_keys, N_ELEMS(ssm_keys), "ssm");
	expect_exact_keys(json_object_get(j, "vision"), vision_keys, N_ELEMS(vision_keys), "vision");
	assert_string_equal(json_string_value(json_object_get(j, "source")), "gguf");
	assert_string_equal(json_string_value(json_object_get(j, "architecture")), "jamba");
	assert_int_equal(json_integer_value(json_object_get(j, "num_layers")), 4);
	assert_true(json_real_value(json_object_get(j, "rope_theta")) == 500000.0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "rope_scaling"), "rope_type")),
			    "yarn");
	assert_true(json_is_true(json_object_get(j, "tie_word_embeddings")));
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "num_kv_heads"), 2)), 8);
	assert_int_equal(json_array_size(json_object_get(j, "num_kv_heads")), 4);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "num_attention_heads"), 1)), 16);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "layer_types"), 0)),
			    "sliding_attention");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "layer_types"), 1)),
			    "recurrent");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "ssm"), "d_state")),
			 1000 + ARCH_F_SSM_D_STATE);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)), "a guess: 42");
	fs = json_object_get(j, "field_sources");
	json_object_foreach(fs, k, v)
		n++;
	assert_int_equal(n, ARCH_F_COUNT);
	assert_string_equal(json_string_value(json_object_get(fs, "num_attention_heads")), "manual");
	assert_string_equal(json_string_value(json_object_get(fs, "num_kv_heads")), "gguf");
	assert_string_equal(json_string_value(json_object_get(fs, "ssm.d_state")),
			    arch_source_name(a.src[ARCH_F_SSM_D_STATE]));
	assert_string_equal(json_string_value(json_object_get(fs, "tie_word_embeddings")), "default");
	assert_string_equal(json_string_value(json_object_get(fs, "layer_types")), "derived");
	json_decref(j);
	arch_release(&a);
}

static void test_json_partial_and_order(void **state)
{
	struct arch a;
	char *text;

	(void)state;
	arch_init(&a);
	assert_int_equal(arch_set_u64(&a, ARCH_F_SSM_D_STATE, 16, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, 64, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_VOCAB_SIZE, 65024, ARCH_SRC_DERIVED), 0);
	assert_int_equal(arch_warn(&a, "vocab \xff guessed\n"), 0);
	text = to_json(&a);
	assert_string_equal(text,
			    "{\n"
			    "  \"num_layers\": 64,\n"
			    "  \"vocab_size\": 65024,\n"
			    "  \"ssm\": {\n"
			    "    \"d_state\": 16\n"
			    "  },\n"
			    "  \"source\": \"config.json\",\n"
			    "  \"field_sources\": {\n"
			    "    \"num_layers\": \"config.json\",\n"
			    "    \"vocab_size\": \"derived\",\n"
			    "    \"ssm.d_state\": \"config.json\"\n"
			    "  },\n"
			    "  \"warnings\": [\n"
			    "    \"vocab ? guessed?\"\n"
			    "  ]\n"
			    "}\n");
	free(text);
	arch_release(&a);
}

static void test_json_round_trip(void **state)
{
	struct arch a, b;
	struct diag d;
	char *t1, *t2;
	size_t f;

	(void)state;
	fill_all(&a);
	t1 = to_json(&a);
	arch_init(&b);
	diag_init(&d);
	assert_int_equal(arch_from_json(t1, strlen(t1), ARCH_SRC_CATALOG, &b, &d), 0);
	t2 = to_json(&b);
	assert_string_equal(t1, t2);
	for (f = 0; f < ARCH_F_COUNT; f++)
		assert_int_equal(a.src[f], b.src[f]);
	assert_memory_equal(a.layer_kv_heads, b.layer_kv_heads, 4 * sizeof(uint32_t));
	assert_memory_equal(a.layer_kind, b.layer_kind, 4);
	assert_int_equal(b.source, ARCH_SRC_GGUF);
	free(t1);
	free(t2);
	arch_release(&a);
	arch_release(&b);

	arch_init(&b);
	{
		static const char t[] = "{\"num_layers\": 2, \"hidden_size\": 8, \"future_key\": [1]}";

		assert_int_equal(arch_from_json(t, strlen(t), ARCH_SRC_CATALOG, &b, &d), 0);
	}
	assert_int_equal(b.src[ARCH_F_NUM_LAYERS], ARCH_SRC_CATALOG);
	assert_int_equal(b.source, ARCH_SRC_CATALOG);
	arch_release(&b);

	arch_init(&b);
	{
		static const char t[] = "{\"num_layers\": 2, \"source\": \"manual\","
					"\"field_sources\": {\"num_layers\": \"bogus\"}}";

		assert_int_equal(arch_from_json(t, strlen(t), ARCH_SRC_CATALOG, &b, &d), 0);
	}
	assert_int_equal(b.src[ARCH_F_NUM_LAYERS], ARCH_SRC_MANUAL);
	arch_release(&b);
}

struct bad_json {
	const char *json;
	const char *msg;
};

static const struct bad_json bad_json_rows[] = {
	{ "", "does not parse" },
	{ "[]", "not an object" },
	{ "{\"num_layers\": \"32\"}", "'num_layers'" },
	{ "{\"num_layers\": -1}", "'num_layers'" },
	{ "{\"num_layers\": 1.5}", "'num_layers'" },
	{ "{\"num_layers\": 100000}", "'num_layers'" },
	{ "{\"hidden_size\": 9007199254740993}", "'hidden_size'" },
	{ "{\"rope_theta\": \"x\"}", "'rope_theta'" },
	{ "{\"rope_scaling\": [1]}", "'rope_scaling'" },
	{ "{\"architecture\": \"a b\"}", "'architecture'" },
	{ "{\"architecture\": 5}", "'architecture'" },
	{ "{\"tie_word_embeddings\": 1}", "'tie_word_embeddings'" },
	{ "{\"num_layers\": 2, \"num_kv_heads\": [1, 2, 3]}", "'num_kv_heads'" },
	{ "{\"num_kv_heads\": [1, \"2\"]}", "'num_kv_heads'" },
	{ "{\"num_kv_heads\": []}", "'num_kv_heads'" },
	{ "{\"layer_types\": [\"full_attention\", \"teleport\"]}", "'layer_types'" },
	{ "{\"layer_types\": \"full_attention\"}", "'layer_types'" },
	{ "{\"ssm\": {\"d_state\": true}}", "'ssm.d_state'" },
	{ "{\"warnings\": \"none\"}", "'warnings'" },
	{ "{\"warnings\": [1]}", "'warnings'" },
	{ "{\"a\": 1, \"a\": 2}", "does not parse" },
};

static void test_json_hostile(void **state)
{
	size_t i, f;

	(void)state;
	for (i = 0; i < N_ELEMS(bad_json_rows); i++) {
		const struct bad_json *r = &bad_json_rows[i];
		struct arch a;
		struct diag d;
		int rc;

		arch_init(&a);
		diag_init(&d);
		rc = arch_from_json(r->json, strlen(r->json), ARCH_SRC_CATALOG, &a, &d);
		if (rc != -EBADMSG)
			fail_msg("'%s': rc %d, want -EBADMSG", r->json, rc);
		if (!strstr(d.msg, r->msg))
			fail_msg("'%s': message '%s' lacks '%s'", r->json, d.msg, r->msg);
		for (f = 0; f < ARCH_F_COUNT; f++)
			if (a.src[f] != ARCH_SRC_NONE)
				fail_msg("'%s': field '%s' set", r->json, arch_field_name(f));
		arch_release(&a);
	}
}

/* ------------------------------------------------------------------------
 * Merge, warnings, source
 * ------------------------------------------------------------------------ */

static void test_merge(void **state)
{
	static const uint32_t kv4[4] = { 8, 0, 8, 0 }, kv3[3] = { 1, 2, 3 };
	struct arch dst, fill;

	(void)state;
	arch_init(&dst);
	arch_init(&fill);
	assert_int_equal(arch_set_u64(&dst, ARCH_F_NUM_LAYERS, 4, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&dst, ARCH_F_HIDDEN_SIZE, 4096, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_warn(&dst, "same"), 0);
	assert_int_equal(arch_set_u64(&fill, ARCH_F_HIDDEN_SIZE, 1, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_set_u64(&fill, ARCH_F_VOCAB_SIZE, 32000, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_set_str(&fill, ARCH_F_ROPE_SCALING, "{\"factor\":2}", ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_set_layer_kv_heads(&fill, kv4, 4, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_warn(&fill, "same"), 0);
	assert_int_equal(arch_warn(&fill, "new"), 0);

	assert_int_equal(arch_merge(&dst, &fill), 0);
	assert_int_equal(dst.hidden_size, 4096);
	assert_int_equal(dst.src[ARCH_F_HIDDEN_SIZE], ARCH_SRC_GGUF);
	assert_int_equal(dst.vocab_size, 32000);
	assert_int_equal(dst.src[ARCH_F_VOCAB_SIZE], ARCH_SRC_CONFIG);
	assert_string_equal(dst.rope_scaling, "{\"factor\":2}");
	assert_ptr_not_equal(dst.rope_scaling, fill.rope_scaling);
	assert_non_null(dst.layer_kv_heads);
	assert_ptr_not_equal(dst.layer_kv_heads, fill.layer_kv_heads);
	assert_int_equal(arch_layer_kv_heads(&dst, 1), 0);
	assert_int_equal(dst.num_kv_heads, 8);
	assert_int_equal(dst.src[ARCH_F_NUM_KV_HEADS], ARCH_SRC_CONFIG);
	assert_int_equal(dst.n_warnings, 2);
	assert_string_equal(dst.warnings[1], "new");
	assert_int_equal(dst.source, ARCH_SRC_GGUF);
	arch_release(&fill);

	arch_init(&fill);
	assert_int_equal(arch_set_layer_heads(&fill, kv3, 3, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_set_u64(&fill, ARCH_F_NUM_LAYERS, 3, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_merge(&dst, &fill), 0);
	assert_false(arch_has(&dst, ARCH_F_NUM_ATTENTION_HEADS));
	assert_null(dst.layer_heads);
	assert_int_equal(dst.num_layers, 4);
	arch_release(&fill);
	arch_release(&dst);

	arch_init(&dst);
	arch_init(&fill);
	assert_int_equal(arch_set_layer_kv_heads(&fill, kv3, 3, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_set_u64(&fill, ARCH_F_NUM_LAYERS, 3, ARCH_SRC_CONFIG), 0);
	assert_int_equal(arch_merge(&dst, &fill), 0);
	assert_int_equal(dst.num_layers, 3);
	assert_int_equal(arch_layer_kv_heads(&dst, 2), 3);
	assert_int_equal(dst.source, ARCH_SRC_CONFIG);
	arch_release(&fill);
	arch_release(&dst);
}

static void test_warnings_and_source(void **state)
{
	struct arch a;
	size_t i;

	(void)state;
	arch_init(&a);
	for (i = 0; i < 2 * ARCH_MAX_WARNINGS; i++)
		assert_int_equal(arch_warn(&a, "warning %zu", i), 0);
	assert_int_equal(a.n_warnings, ARCH_MAX_WARNINGS);
	assert_int_equal(arch_warn(&a, "warning 0"), 0);
	assert_int_equal(a.n_warnings, ARCH_MAX_WARNINGS);
	arch_release(&a);
	assert_int_equal(a.n_warnings, 0);

	arch_init(&a);
	assert_int_equal(arch_warn(&a, "dup"), 0);
	assert_int_equal(arch_warn(&a, "dup"), 0);
	assert_int_equal(a.n_warnings, 1);
	arch_update_source(&a);
	assert_int_equal(a.source, ARCH_SRC_NONE);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, 2, ARCH_SRC_CATALOG), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_HIDDEN_SIZE, 2, ARCH_SRC_CONFIG), 0);
	arch_update_source(&a);
	assert_int_equal(a.source, ARCH_SRC_CONFIG);
	assert_int_equal(arch_set_u64(&a, ARCH_F_VOCAB_SIZE, 2, ARCH_SRC_CATALOG), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_HEAD_DIM, 2, ARCH_SRC_DERIVED), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_HEAD_DIM_K, 2, ARCH_SRC_DERIVED), 0);
	arch_update_source(&a);
	assert_int_equal(a.source, ARCH_SRC_CATALOG);
	assert_int_equal(arch_set_u64(&a, ARCH_F_ROPE_DIM, 2, ARCH_SRC_GGUF), 0);
	arch_update_source(&a);
	assert_int_equal(a.source, ARCH_SRC_GGUF);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * GGUF: a minimal writer for version 3 headers
 * ------------------------------------------------------------------------ */

struct gw {
	unsigned char *buf;
	size_t len, cap;
	uint64_t n_kv, n_tensors;
	size_t n_kv_at, n_tensors_at;
};

static void gw_bytes(struct gw *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2 + 256;
		w->buf = realloc(w->buf, w->cap);
		assert_non_null(w->buf);
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void gw_u32(struct gw *w, uint32_t v)
{
	unsigned char b[4] = { v, v >> 8, v >> 16, v >> 24 };

	gw_bytes(w, b, 4);
}

static void gw_u64(struct gw *w, uint64_t v)
{
	gw_u32(w, (uint32_t)v);
	gw_u32(w, (uint32_t)(v >> 32));
}

static void gw_str(struct gw *w, const char *s)
{
	gw_u64(w, strlen(s));
	gw_bytes(w, s, strlen(s));
}

static void gw_begin(struct gw *w)
{
	memset(w, 0, sizeof(*w));
	gw_bytes(w, "GGUF", 4);
	gw_u32(w, 3);
	w->n_tensors_at = w->len;
	gw_u64(w, 0);
	w->n_kv_at = w->len;
	gw_u64(w, 0);
}

static void gw_key(struct gw *w, const char *key, uint32_t type)
{
	gw_str(w, key);
	gw_u32(w, type);
	w->n_kv++;
}

static void kv_u32(struct gw *w, const char *key, uint32_t v)
{
	gw_key(w, key, GGUF_TYPE_UINT32);
	gw_u32(w, v);
}

static void kv_f32(struct gw *w, const char *key, float f)
{
	uint32_t v;

	memcpy(&v, &f, 4);
	gw_key(w, key, GGUF_TYPE_FLOAT32);
	gw_u32(w, v);
}

static void kv_str(struct gw *w, const char *key, const char *s)
{
	gw_key(w, key, GGUF_TYPE_STRING);
	gw_str(w, s);
}

static void kv_arr_i32(struct gw *w, const char *key, const int32_t *v, size_t n)
{
	size_t i;

	gw_key(w, key, GGUF_TYPE_ARRAY);
	gw_u32(w, GGUF_TYPE_INT32);
	gw_u64(w, n);
	for (i = 0; i < n; i++)
		gw_u32(w, (uint32_t)v[i]);
}

static void kv_arr_bool(struct gw *w, const char *key, const uint8_t *v, size_t n)
{
	gw_key(w, key, GGUF_TYPE_ARRAY);
	gw_u32(w, GGUF_TYPE_BOOL);
	gw_u64(w, n);
	gw_bytes(w, v, n);
}

static void kv_tokens(struct gw *w, size_t n)
{
	char tok[32];
	size_t i;

	gw_key(w, "tokenizer.ggml.tokens", GGUF_TYPE_ARRAY);
	gw_u32(w, GGUF_TYPE_STRING);
	gw_u64(w, n);
	for (i = 0; i < n; i++) {
		snprintf(tok, sizeof(tok), "t%zu", i);
		gw_str(w, tok);
	}
}

/* F32 tensors of 2 dimensions, laid out one after the other. */
static void gw_tensors(struct gw *w, const char *const *names, const uint64_t (*ne)[2], size_t n)
{
	uint64_t off = 0;
	size_t i, pad;

	for (i = 0; i < n; i++) {
		gw_str(w, names[i]);
		gw_u32(w, 2);
		gw_u64(w, ne[i][0]);
		gw_u64(w, ne[i][1]);
		gw_u32(w, GGML_TYPE_F32);
		gw_u64(w, off);
		off += (ne[i][0] * ne[i][1] * 4 + 31) / 32 * 32;
	}
	w->n_tensors = n;
	pad = (32 - w->len % 32) % 32;
	while (pad--)
		gw_bytes(w, "", 1);
	while (off--)
		gw_bytes(w, "", 1);
}

static void gw_finish(struct gw *w)
{
	size_t i;

	for (i = 0; i < 8; i++) {
		w->buf[w->n_kv_at + i] = (unsigned char)(w->n_kv >> (8 * i));
		w->buf[w->n_tensors_at + i] = (unsigned char)(w->n_tensors >> (8 * i));
	}
}

static int gguf_arch(struct gw *w, struct arch *a, struct diag *d)
{
	struct reader r;
	struct gguf *g = NULL;
	int rc;

	gw_finish(w);
	reader_from_memory(&r, w->buf, w->len);
	diag_init(d);
	rc = gguf_open(&r, &g, d);
	if (rc)
		fail_msg("the test's GGUF does not parse: %d %s", rc, d->msg);
	arch_init(a);
	rc = arch_from_gguf(g, a, d);
	gguf_free(g);
	free(w->buf);
	w->buf = NULL;
	return rc;
}

static void test_gguf_llama(void **state)
{
	static const char *const names[] = { "token_embd.weight", "output.weight" };
	static const uint64_t ne[][2] = { { 8, 100 }, { 8, 100 } };
	struct gw w;
	struct arch a;
	struct diag d;

	(void)state;
	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_u32(&w, "llama.block_count", 32);
	kv_u32(&w, "llama.embedding_length", 4096);
	kv_u32(&w, "llama.feed_forward_length", 14336);
	kv_u32(&w, "llama.attention.head_count", 32);
	kv_u32(&w, "llama.attention.head_count_kv", 8);
	kv_u32(&w, "llama.context_length", 131072);
	kv_f32(&w, "llama.rope.freq_base", 500000.0f);
	kv_u32(&w, "llama.rope.dimension_count", 128);
	kv_str(&w, "llama.rope.scaling.type", "linear");
	kv_f32(&w, "llama.rope.scaling.factor", 8.0f);
	kv_tokens(&w, 100);
	gw_tensors(&w, names, ne, 2);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_string_equal(a.architecture, "llama");
	assert_int_equal(a.num_layers, 32);
	assert_int_equal(a.hidden_size, 4096);
	assert_int_equal(a.intermediate_size, 14336);
	assert_int_equal(a.num_attention_heads, 32);
	assert_int_equal(a.num_kv_heads, 8);
	assert_int_equal(a.head_dim_k, 128);
	assert_int_equal(a.src[ARCH_F_HEAD_DIM_K], ARCH_SRC_DERIVED);
	assert_int_equal(a.head_dim_v, 128);
	assert_int_equal(a.head_dim, 128);
	assert_int_equal(a.context_length, 131072);
	assert_true(a.rope_theta == 500000.0);
	assert_int_equal(a.rope_dim, 128);
	assert_int_equal(a.vocab_size, 100);
	assert_non_null(strstr(a.rope_scaling, "\"rope_type\":\"linear\""));
	assert_non_null(strstr(a.rope_scaling, "\"factor\":8"));
	assert_true(arch_has(&a, ARCH_F_TIE_WORD_EMBEDDINGS) && !a.tie_word_embeddings);
	assert_false(arch_has(&a, ARCH_F_SLIDING_WINDOW));
	assert_int_equal(a.src[ARCH_F_NUM_LAYERS], ARCH_SRC_GGUF);
	assert_int_equal(a.source, ARCH_SRC_GGUF);
	arch_release(&a);
}

static void test_gguf_gemma3_and_swa_array(void **state)
{
	static const char *const names[] = { "token_embd.weight" };
	static const uint64_t ne[][2] = { { 8, 262 } };
	static const uint8_t swa[4] = { 1, 1, 0, 1 };
	struct gw w;
	struct arch a;
	struct diag d;

	(void)state;
	gw_begin(&w);
	kv_str(&w, "general.architecture", "gemma3");
	kv_u32(&w, "gemma3.block_count", 26);
	kv_u32(&w, "gemma3.embedding_length", 1152);
	kv_u32(&w, "gemma3.attention.head_count", 4);
	kv_u32(&w, "gemma3.attention.head_count_kv", 1);
	kv_u32(&w, "gemma3.attention.key_length", 256);
	kv_u32(&w, "gemma3.attention.value_length", 256);
	kv_u32(&w, "gemma3.attention.sliding_window", 512);
	gw_tensors(&w, names, ne, 1);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_int_equal(a.sliding_window, 512);
	assert_int_equal(a.sliding_window_pattern, 6);
	assert_int_equal(a.src[ARCH_F_SLIDING_WINDOW_PATTERN], ARCH_SRC_DERIVED);
	assert_int_equal(a.head_dim, 256);
	assert_int_equal(a.src[ARCH_F_HEAD_DIM], ARCH_SRC_GGUF);
	assert_int_equal(a.vocab_size, 262);
	assert_true(a.tie_word_embeddings);
	assert_int_equal(arch_layer_kind(&a, 5), ARCH_LAYER_FULL);
	assert_int_equal(arch_layer_kind(&a, 4), ARCH_LAYER_SLIDING);
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "gpt-oss");
	kv_u32(&w, "gpt-oss.block_count", 4);
	kv_u32(&w, "gpt-oss.attention.sliding_window", 128);
	kv_arr_bool(&w, "gpt-oss.attention.sliding_window_pattern", swa, 4);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_int_equal(arch_layer_kind(&a, 2), ARCH_LAYER_FULL);
	assert_int_equal(arch_layer_kind(&a, 3), ARCH_LAYER_SLIDING);
	assert_int_equal(a.src[ARCH_F_LAYER_TYPES], ARCH_SRC_GGUF);
	assert_false(arch_has(&a, ARCH_F_SLIDING_WINDOW_PATTERN));
	arch_release(&a);
}

static void test_gguf_mla_hybrid_mamba(void **state)
{
	static const int32_t kv[8] = { 0, 0, 0, 0, 8, 0, 0, 0 };
	static const int32_t same[8] = { 32, 32, 32, 32, 32, 32, 32, 32 };
	struct gw w;
	struct arch a;
	struct diag d;
	size_t il;

	(void)state;
	gw_begin(&w);
	kv_str(&w, "general.architecture", "deepseek2");
	kv_u32(&w, "deepseek2.block_count", 27);
	kv_u32(&w, "deepseek2.embedding_length", 2048);
	kv_u32(&w, "deepseek2.attention.head_count", 16);
	kv_u32(&w, "deepseek2.attention.head_count_kv", 1);
	kv_u32(&w, "deepseek2.attention.key_length", 576);
	kv_u32(&w, "deepseek2.attention.value_length", 512);
	kv_u32(&w, "deepseek2.attention.key_length_mla", 192);
	kv_u32(&w, "deepseek2.attention.value_length_mla", 128);
	kv_u32(&w, "deepseek2.attention.kv_lora_rank", 512);
	kv_u32(&w, "deepseek2.rope.dimension_count", 64);
	kv_u32(&w, "deepseek2.expert_count", 64);
	kv_u32(&w, "deepseek2.expert_used_count", 6);
	kv_u32(&w, "deepseek2.expert_shared_count", 2);
	kv_u32(&w, "deepseek2.expert_feed_forward_length", 1408);
	kv_u32(&w, "deepseek2.leading_dense_block_count", 1);
	kv_u32(&w, "deepseek2.vocab_size", 102400);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_int_equal(a.head_dim_k, 192);
	assert_int_equal(a.head_dim_v, 128);
	assert_false(arch_has(&a, ARCH_F_HEAD_DIM));
	assert_int_equal(a.qk_nope_head_dim, 128);
	assert_int_equal(a.kv_lora_rank, 512);
	assert_false(arch_has(&a, ARCH_F_Q_LORA_RANK));
	assert_int_equal(a.expert_count, 64);
	assert_int_equal(a.expert_shared_count, 2);
	assert_int_equal(a.expert_ffn_size, 1408);
	assert_int_equal(a.leading_dense_layers, 1);
	assert_int_equal(a.vocab_size, 102400);
	assert_false(arch_has(&a, ARCH_F_TIE_WORD_EMBEDDINGS));
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "jamba");
	kv_u32(&w, "jamba.block_count", 8);
	kv_arr_i32(&w, "jamba.attention.head_count", same, 8);
	kv_arr_i32(&w, "jamba.attention.head_count_kv", kv, 8);
	kv_u32(&w, "jamba.ssm.state_size", 16);
	kv_u32(&w, "jamba.ssm.conv_kernel", 4);
	kv_u32(&w, "jamba.ssm.inner_size", 8192);
	kv_u32(&w, "jamba.ssm.time_step_rank", 256);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_null(a.layer_heads);
	assert_int_equal(a.num_attention_heads, 32);
	assert_non_null(a.layer_kv_heads);
	assert_int_equal(a.num_kv_heads, 8);
	for (il = 0; il < 8; il++) {
		assert_int_equal(arch_layer_kv_heads(&a, il), il == 4 ? 8 : 0);
		assert_int_equal(arch_layer_kind(&a, il), il == 4 ? ARCH_LAYER_FULL : ARCH_LAYER_RECURRENT);
	}
	assert_int_equal(a.ssm.d_inner, 8192);
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "mamba");
	kv_u32(&w, "mamba.block_count", 64);
	kv_u32(&w, "mamba.embedding_length", 4096);
	kv_u32(&w, "mamba.feed_forward_length", 0);
	kv_u32(&w, "mamba.attention.head_count", 0);
	kv_u32(&w, "mamba.attention.head_count_kv", 0);
	kv_u32(&w, "mamba.context_length", 1048576);
	kv_u32(&w, "mamba.ssm.state_size", 16);
	kv_u32(&w, "mamba.ssm.conv_kernel", 4);
	kv_u32(&w, "mamba.ssm.inner_size", 8192);
	kv_u32(&w, "mamba.ssm.time_step_rank", 256);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_int_equal(a.num_kv_heads, 0);
	assert_false(arch_has(&a, ARCH_F_INTERMEDIATE_SIZE));
	assert_false(arch_has(&a, ARCH_F_HEAD_DIM_K));
	assert_int_equal(arch_layer_kind(&a, 10), ARCH_LAYER_RECURRENT);
	assert_int_equal(a.ssm.dt_rank, 256);
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "clip");
	kv_u32(&w, "clip.vision.image_size", 896);
	kv_u32(&w, "clip.vision.patch_size", 14);
	kv_u32(&w, "clip.vision.block_count", 27);
	kv_u32(&w, "clip.vision.embedding_length", 1152);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_int_equal(a.vision.image_size, 896);
	assert_int_equal(a.vision.num_layers, 27);
	assert_int_equal(a.src[ARCH_F_VISION_HIDDEN_SIZE], ARCH_SRC_GGUF);
	arch_release(&a);
}

static void test_gguf_hostile(void **state)
{
	static const int32_t three[3] = { 1, 2, 3 };
	static const int32_t neg[2] = { 1, -2 };
	struct gw w;
	struct arch a;
	struct diag d;

	(void)state;
	gw_begin(&w);
	kv_u32(&w, "llama.block_count", 2);
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "general.architecture"));
	arch_release(&a);

	gw_begin(&w);
	kv_u32(&w, "general.architecture", 7);
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "ll ama");
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_str(&w, "llama.block_count", "32");
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "'llama.block_count'"));
	assert_false(arch_has(&a, ARCH_F_ARCHITECTURE));
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_u32(&w, "llama.block_count", 100000);
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "block_count"));
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_u32(&w, "llama.block_count", 2);
	kv_arr_i32(&w, "llama.attention.head_count_kv", three, 3);
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "not one per layer"));
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_u32(&w, "llama.block_count", 2);
	kv_arr_i32(&w, "llama.attention.head_count", neg, 2);
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_f32(&w, "llama.rope.freq_base", INFINITY);
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "rope.freq_base"));
	arch_release(&a);

	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_u32(&w, "llama.rope.scaling.type", 1);
	assert_int_equal(gguf_arch(&w, &a, &d), -EBADMSG);
	arch_release(&a);

	assert_int_equal(arch_from_gguf(NULL, &a, NULL), -EINVAL);
}

static void test_gguf_then_config(void **state)
{
	static const char cfg[] =
		"{\"model_type\":\"llama\",\"num_hidden_layers\":32,\"hidden_size\":4096,"
		"\"num_attention_heads\":32,\"num_key_value_heads\":8,\"vocab_size\":128256,"
		"\"max_position_embeddings\":131072,\"torch_dtype\":\"bfloat16\"}";
	struct gw w;
	struct arch a;
	struct diag d;
	json_t *j;

	(void)state;
	gw_begin(&w);
	kv_str(&w, "general.architecture", "llama");
	kv_u32(&w, "llama.block_count", 32);
	kv_u32(&w, "llama.context_length", 8192);
	assert_int_equal(gguf_arch(&w, &a, &d), 0);
	assert_int_equal(arch_from_hfcfg(cfg, strlen(cfg), &a, &d), 0);
	assert_int_equal(a.context_length, 8192);
	assert_int_equal(a.src[ARCH_F_CONTEXT_LENGTH], ARCH_SRC_GGUF);
	assert_int_equal(a.num_kv_heads, 8);
	assert_int_equal(a.src[ARCH_F_NUM_KV_HEADS], ARCH_SRC_CONFIG);
	j = to_jansson(&a);
	assert_string_equal(json_string_value(json_object_get(j, "source")), "gguf");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "field_sources"),
							      "vocab_size")), "config.json");
	json_decref(j);
	arch_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_layer_kind),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_json_full),
		cmocka_unit_test(test_json_partial_and_order),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_hostile),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_warnings_and_source),
		cmocka_unit_test(test_gguf_llama),
		cmocka_unit_test(test_gguf_gemma3_and_swa_array),
		cmocka_unit_test(test_gguf_mla_hybrid_mamba),
		cmocka_unit_test(test_gguf_hostile),
		cmocka_unit_test(test_gguf_then_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
