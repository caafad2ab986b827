/*
 * test_ggml_types.c - the ggml type table, tensor byte sizes, the
 * llama_ftype table and quant names read from real-world file names.
 *
 * The expected block sizes below are written out from ggml-common.h's block
 * structs independently of the table in ggml_types.c (bytes per block as
 * the sum of the struct's members), so a typo in either shows.
 */
#include "core.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct type_case {
	uint32_t id;
	const char *name;
	uint32_t blck;
	uint32_t bytes;
};

#define QK_K 256
#define HALF 2

static const struct type_case type_cases[] = {
	{ 0, "f32", 1, 4 },
	{ 1, "f16", 1, 2 },
	{ 2, "q4_0", 32, HALF + 32 / 2 },
	{ 3, "q4_1", 32, 2 * HALF + 32 / 2 },
	{ 6, "q5_0", 32, HALF + 4 + 32 / 2 },
	{ 7, "q5_1", 32, 2 * HALF + 4 + 32 / 2 },
	{ 8, "q8_0", 32, HALF + 32 },
	{ 9, "q8_1", 32, 2 * HALF + 32 },
	{ 10, "q2_K", QK_K, 2 * HALF + QK_K / 16 + QK_K / 4 },
	{ 11, "q3_K", QK_K, HALF + QK_K / 4 + QK_K / 8 + 12 },
	{ 12, "q4_K", QK_K, 2 * HALF + 12 + QK_K / 2 },
	{ 13, "q5_K", QK_K, 2 * HALF + 12 + QK_K / 2 + QK_K / 8 },
	{ 14, "q6_K", QK_K, HALF + QK_K / 16 + 3 * QK_K / 4 },
	{ 15, "q8_K", QK_K, 4 + QK_K + QK_K / 16 * 2 },
	{ 16, "iq2_xxs", QK_K, HALF + QK_K / 8 * 2 },
	{ 17, "iq2_xs", QK_K, HALF + QK_K / 8 * 2 + QK_K / 32 },
	{ 18, "iq3_xxs", QK_K, HALF + 3 * (QK_K / 8) },
	{ 19, "iq1_s", QK_K, HALF + QK_K / 8 + QK_K / 16 },
	{ 20, "iq4_nl", 32, HALF + 32 / 2 },
	{ 21, "iq3_s", QK_K, HALF + 13 * (QK_K / 32) + QK_K / 64 },
	{ 22, "iq2_s", QK_K, HALF + QK_K / 4 + QK_K / 16 },
	{ 23, "iq4_xs", QK_K, HALF + 2 + QK_K / 64 + QK_K / 2 },
	{ 24, "i8", 1, 1 },
	{ 25, "i16", 1, 2 },
	{ 26, "i32", 1, 4 },
	{ 27, "i64", 1, 8 },
	{ 28, "f64", 1, 8 },
	{ 29, "iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32 },
	{ 30, "bf16", 1, 2 },
	{ 34, "tq1_0", QK_K, HALF + QK_K / 64 + (QK_K - 4 * QK_K / 64) / 5 },
	{ 35, "tq2_0", QK_K, HALF + QK_K / 4 },
	{ 39, "mxfp4", 32, 1 + 32 / 2 },
	{ 40, "nvfp4", 64, 64 / 16 + 64 / 2 },
	{ 41, "q1_0", 128, HALF + 128 / 8 },
	{ 42, "q2_0", 64, HALF + 64 / 4 },
};

#define N_TYPE_CASES (sizeof(type_cases) / sizeof(type_cases[0]))

static void test_type_table(void **state)
{
	size_t i, n;
	const struct ggml_type_info *all = ggml_types(&n);

	assert_int_equal(n, N_TYPE_CASES);
	for (i = 0; i < N_TYPE_CASES; i++) {
		const struct type_case *c = &type_cases[i];
		const struct ggml_type_info *t = ggml_type_by_id(c->id);

		assert_non_null(t);
		assert_ptr_equal(t, &all[i]);
		assert_int_equal(t->id, c->id);
		assert_string_equal(t->name, c->name);
		assert_int_equal(t->block_elems, c->blck);
		assert_int_equal(t->block_bytes, c->bytes);
		assert_int_equal(t->quantized, c->blck > 1);
		assert_ptr_equal(ggml_type_by_name(c->name), t);
	}
	assert_int_equal(ggml_type_by_id(GGML_TYPE_Q4_K)->block_bytes, 144);
	assert_int_equal(ggml_type_by_id(GGML_TYPE_Q6_K)->block_bytes, 210);
	assert_int_equal(ggml_type_by_id(GGML_TYPE_IQ3_S)->block_bytes, 110);
	assert_int_equal(ggml_type_by_id(GGML_TYPE_TQ1_0)->block_bytes, 54);
}

static void test_removed_and_unknown(void **state)
{
	static const uint32_t gone[] = { 4, 5, 31, 32, 33, 36, 37, 38, 43, 44, 100, 1024,
					 UINT32_MAX };
	size_t i;

	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		assert_null(ggml_type_by_id(gone[i]));
	assert_null(ggml_type_by_name("q4_2"));
	assert_null(ggml_type_by_name(""));
	assert_null(ggml_type_by_name(NULL));
	assert_ptr_equal(ggml_type_by_name("Q4_K"), ggml_type_by_id(12));
	assert_ptr_equal(ggml_type_by_name("BF16"), ggml_type_by_id(30));
}

static void test_bits_per_weight(void **state)
{
	assert_true(ggml_type_bits_per_weight(ggml_type_by_id(GGML_TYPE_Q4_K)) == 4.5);
	assert_true(ggml_type_bits_per_weight(ggml_type_by_id(GGML_TYPE_Q8_0)) == 8.5);
	assert_true(ggml_type_bits_per_weight(ggml_type_by_id(GGML_TYPE_Q6_K)) == 6.5625);
	assert_true(ggml_type_bits_per_weight(ggml_type_by_id(GGML_TYPE_IQ1_S)) == 1.5625);
	assert_true(ggml_type_bits_per_weight(ggml_type_by_id(GGML_TYPE_F16)) == 16.0);
}

static void test_sizes(void **state)
{
	uint64_t ne[4], out;

	ne[0] = 4096;
	ne[1] = 4096;
	assert_int_equal(ggml_tensor_bytes(GGML_TYPE_Q4_K, ne, 2, &out), 0);
	assert_int_equal(out, 4096ull / 256 * 144 * 4096);
	assert_int_equal(ggml_tensor_bytes(GGML_TYPE_F32, ne, 1, &out), 0);
	assert_int_equal(out, 4096ull * 4);
	assert_int_equal(ggml_tensor_bytes(GGML_TYPE_F32, ne, 0, &out), 0);
	assert_int_equal(out, 4);
	assert_int_equal(ggml_row_bytes(GGML_TYPE_Q8_0, 96, &out), 0);
	assert_int_equal(out, 3 * 34);
	assert_int_equal(ggml_row_bytes(GGML_TYPE_Q8_0, 0, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(ggml_row_bytes(GGML_TYPE_Q8_0, 33, &out), -EINVAL);
	assert_int_equal(ggml_row_bytes(4, 32, &out), -EINVAL);
	assert_int_equal(ggml_row_bytes(999, 32, &out), -EINVAL);

	ne[0] = 32;
	ne[1] = 0;
	ne[2] = 7;
	assert_int_equal(ggml_tensor_bytes(GGML_TYPE_Q4_0, ne, 3, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(ggml_nelements(ne, 3, &out), 0);
	assert_int_equal(out, 0);

	ne[0] = 1ull << 32;
	ne[1] = 1ull << 31;
	assert_int_equal(ggml_nelements(ne, 2, &out), -EOVERFLOW);
	ne[1] = (1ull << 31) - 1;
	assert_int_equal(ggml_nelements(ne, 2, &out), 0);
	ne[0] = 1ull << 63;
	assert_int_equal(ggml_nelements(ne, 1, &out), -EOVERFLOW);
	ne[0] = 1ull << 61;
	ne[1] = 2;
	assert_int_equal(ggml_nelements(ne, 2, &out), 0);
	assert_int_equal(ggml_tensor_bytes(GGML_TYPE_F32, ne, 2, &out), -EOVERFLOW);
	assert_int_equal(ggml_tensor_bytes(GGML_TYPE_F32, ne, 5, &out), -EINVAL);
	ne[0] = UINT64_MAX / 2 + 1;
	assert_int_equal(ggml_row_bytes(GGML_TYPE_F64, ne[0], &out), -EOVERFLOW);
}

struct ftype_case {
	uint32_t id;
	const char *name;
	const char *quant;
};

static const struct ftype_case ftype_cases[] = {
	{ 0, "ALL_F32", "f32" }, { 1, "MOSTLY_F16", "f16" }, { 2, "MOSTLY_Q4_0", "q4_0" },
	{ 3, "MOSTLY_Q4_1", "q4_1" }, { 7, "MOSTLY_Q8_0", "q8_0" }, { 8, "MOSTLY_Q5_0", "q5_0" },
	{ 9, "MOSTLY_Q5_1", "q5_1" }, { 10, "MOSTLY_Q2_K", "q2_k" },
	{ 11, "MOSTLY_Q3_K_S", "q3_k_s" }, { 12, "MOSTLY_Q3_K_M", "q3_k_m" },
	{ 13, "MOSTLY_Q3_K_L", "q3_k_l" }, { 14, "MOSTLY_Q4_K_S", "q4_k_s" },
	{ 15, "MOSTLY_Q4_K_M", "q4_k_m" }, { 16, "MOSTLY_Q5_K_S", "q5_k_s" },
	{ 17, "MOSTLY_Q5_K_M", "q5_k_m" }, { 18, "MOSTLY_Q6_K", "q6_k" },
	{ 19, "MOSTLY_IQ2_XXS", "iq2_xxs" }, { 20, "MOSTLY_IQ2_XS", "iq2_xs" },
	{ 21, "MOSTLY_Q2_K_S", "q2_k_s" }, { 22, "MOSTLY_IQ3_XS", "iq3_xs" },
	{ 23, "MOSTLY_IQ3_XXS", "iq3_xxs" }, { 24, "MOSTLY_IQ1_S", "iq1_s" },
	{ 25, "MOSTLY_IQ4_NL", "iq4_nl" }, { 26, "MOSTLY_IQ3_S", "iq3_s" },
	{ 27, "MOSTLY_IQ3_M", "iq3_m" }, { 28, "MOSTLY_IQ2_S", "iq2_s" },
	{ 29, "MOSTLY_IQ2_M", "iq2_m" }, { 30, "MOSTLY_IQ4_XS", "iq4_xs" },
	{ 31, "MOSTLY_IQ1_M", "iq1_m" }, { 32, "MOSTLY_BF16", "bf16" },
	{ 36, "MOSTLY_TQ1_0", "tq1_0" }, { 37, "MOSTLY_TQ2_0", "tq2_0" },
	{ 38, "MOSTLY_MXFP4_MOE", "mxfp4_moe" }, { 39, "MOSTLY_NVFP4", "nvfp4" },
	{ 40, "MOSTLY_Q1_0", "q1_0" }, { 41, "MOSTLY_Q2_0", "q2_0" },
	{ 4, "MOSTLY_Q4_1_SOME_F16 (removed)", NULL }, { 33, "MOSTLY_Q4_0_4_4 (removed)", NULL },
	{ 1024, "GUESSED", NULL },
};

static void test_ftypes(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(ftype_cases) / sizeof(ftype_cases[0]); i++) {
		const struct ftype_case *c = &ftype_cases[i];

		assert_non_null(ggml_ftype_name(c->id));
		assert_string_equal(ggml_ftype_name(c->id), c->name);
		if (c->quant) {
			assert_non_null(ggml_ftype_quant(c->id));
			assert_string_equal(ggml_ftype_quant(c->id), c->quant);
			assert_true(parse_is_name(c->quant));
		} else {
			assert_null(ggml_ftype_quant(c->id));
		}
	}
	assert_null(ggml_ftype_name(42));
	assert_null(ggml_ftype_name(UINT32_MAX));
	assert_null(ggml_ftype_quant(1023));
}

struct name_case {
	const char *file;
	const char *quant;        /* NULL: -ENOENT */
};

/* File names as they appear on the Hub (bartowski, unsloth, TheBloke,
 * mradermacher, lmstudio-community, ggml-org, Qwen, Microsoft ...). */
static const struct name_case name_cases[] = {
	{ "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "q4_k_m" },
	{ "DeepSeek-R1-UD-IQ1_S-00001-of-00003.gguf", "ud-iq1_s" },
	{ "DeepSeek-R1-UD-IQ1_S/DeepSeek-R1-UD-IQ1_S-00002-of-00003.gguf", "ud-iq1_s" },
	{ "Qwen2.5-7B-Instruct-Q8_0.gguf", "q8_0" },
	{ "ggml-model-f16.gguf", "f16" },
	{ "Llama-3.2-3B-Instruct-f16.gguf", "f16" },
	{ "Mistral-Nemo-Instruct-2407-IQ4_XS.gguf", "iq4_xs" },
	{ "Meta-Llama-3.1-70B-Instruct-Q4_K_M-00001-of-00002.gguf", "q4_k_m" },
	{ "llama-2-7b-chat.Q5_K_M.gguf", "q5_k_m" },
	{ "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "q4_k_m" },
	{ "mistral-7b-instruct-v0.2.Q4_0.gguf", "q4_0" },
	{ "qwen2.5-coder-7b-instruct-q4_k_m.gguf", "q4_k_m" },
	{ "Qwen3-30B-A3B-UD-Q2_K_XL.gguf", "ud-q2_k_xl" },
	{ "gemma-2-9b-it-Q4_K_L.gguf", "q4_k_l" },
	{ "Phi-3.5-mini-instruct-Q3_K_XL.gguf", "q3_k_xl" },
	{ "Meta-Llama-3-70B-Instruct-IQ2_M.gguf", "iq2_m" },
	{ "Llama-3.3-70B-Instruct-BF16-00001-of-00004.gguf", "bf16" },
	{ "gpt-oss-20b-MXFP4.gguf", "mxfp4" },
	{ "gpt-oss-120b-mxfp4-00001-of-00003.gguf", "mxfp4" },
	{ "Qwen3-30B-A3B-Instruct-2507-MXFP4_MOE.gguf", "mxfp4_moe" },
	{ "Meta-Llama-3.1-8B-Instruct.i1-Q4_K_M.gguf", "q4_k_m" },
	{ "Mixtral-8x7B-Instruct-v0.1.IQ3_XXS.gguf", "iq3_xxs" },
	{ "gemma-3-27b-it-qat-q4_0.gguf", "q4_0" },
	{ "Phi-3-mini-4k-instruct-fp16.gguf", "f16" },
	{ "Qwen2.5-0.5B-Instruct-Q6_K.gguf", "q6_k" },
	{ "Qwen2.5-0.5B-Instruct-Q5_K_S.gguf", "q5_k_s" },
	{ "Meta-Llama-3.1-8B-Instruct-Q4_0_4_4.gguf", "q4_0_4_4" },
	{ "Llama-3.2-1B-Instruct-IQ4_NL.gguf", "iq4_nl" },
	{ "DeepSeek-V3-0324-UD-IQ2_XXS-00001-of-00005.gguf", "ud-iq2_xxs" },
	{ "Kimi-K2-Instruct-UD-TQ1_0-00001-of-00005.gguf", "ud-tq1_0" },
	{ "models/Q8_0/GLM-4.5-Air-Q8_0-00001-of-00003.gguf", "q8_0" },
	{ "Qwen3-8B-UD-Q4_K_XL.gguf", "ud-q4_k_xl" },
	{ "SmolLM2-135M-Instruct-Q2_K.gguf", "q2_k" },
	{ "falcon-mamba-7b-Q3_K_S.gguf", "q3_k_s" },
	{ "model_Q4_K_M.gguf", "q4_k_m" },
	{ "UD-Q2_K_XL.gguf", "ud-q2_k_xl" },
	{ "bitnet-b1.58-2B-4T-TQ2_0.gguf", "tq2_0" },
	{ "Mistral-7B-v0.1-IQ1_M.gguf", "iq1_m" },
	{ "ggml-model-f32.gguf", "f32" },
	{ "Qwen3-235B-A22B-Q8_K_XL-00001-of-00006.gguf", "q8_k_xl" },
	{ "Phi-3-mini-4k-instruct-q4.gguf", NULL },
	{ "model.gguf", NULL },
	{ "Qwen2.5-7B-Instruct.gguf", NULL },
	{ "bf16x.gguf", NULL },
	{ "xq4_k_m.gguf", NULL },
	{ "", NULL },
	{ "Q4_K_M", "q4_k_m" },
};

static void test_quant_from_filename(void **state)
{
	size_t i;
	char out[NAME_MAX_BYTES];

	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		int rc = ggml_quant_from_filename(c->file, out, sizeof(out));

		if (!c->quant) {
			if (rc != -ENOENT)
				fail_msg("'%s': expected -ENOENT, got %d (%s)", c->file, rc,
					 rc ? "" : out);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s': expected '%s', got %d", c->file, c->quant, rc);
		if (strcmp(out, c->quant) != 0)
			fail_msg("'%s': expected '%s', got '%s'", c->file, c->quant, out);
		assert_true(parse_is_name(out));
	}
	assert_int_equal(ggml_quant_from_filename(NULL, out, sizeof(out)), -ENOENT);
}

static void test_quant_from_filename_small_buffer(void **state)
{
	char out[8];

	assert_int_equal(ggml_quant_from_filename("x-UD-Q2_K_XL.gguf", out, 10), -ERANGE);
	assert_int_equal(ggml_quant_from_filename("x-UD-Q2_K_XL.gguf", out, 0), -ERANGE);
	assert_int_equal(ggml_quant_from_filename("x-Q4_K_M.gguf", out, 7), 0);
	assert_string_equal(out, "q4_k_m");
	assert_int_equal(ggml_quant_from_filename("x-Q4_K_M.gguf", out, 6), -ERANGE);
	assert_int_equal(ggml_quant_from_filename("x-fp16.gguf", out, 4), 0);
	assert_string_equal(out, "f16");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_removed_and_unknown),
		cmocka_unit_test(test_bits_per_weight),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_ftypes),
		cmocka_unit_test(test_quant_from_filename),
		cmocka_unit_test(test_quant_from_filename_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
