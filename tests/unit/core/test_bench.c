/*
 * test_bench.c - benchmark runs: llama-bench's `-o json` and `-o jsonl`
 * output (one realistic sample of each, logs before them, and a hostile
 * table that must fail and leave the result untouched), bench_cmd into
 * argv (quotes, placeholders, and a hostile table), a run's JSON form
 * (exact round trip of every field, ISO 8601 times, nulls for unknown,
 * and a hostile table of stored rows), the latest runs of a quant, and
 * the efficiency median with its hardware match and clamp.
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

/* One test object as llama-bench's json printer writes it (indent, field
 * order and types of tools/llama-bench), for a given n_prompt, n_gen and
 * result. */
#define LB_TEST(np, ng, avg_ns, std_ns, avg_ts, std_ts, samples_ns, samples_ts) \
	"  {\n" \
	"    \"build_commit\": \"3f4fc97f\",\n" \
	"    \"build_number\": 6401,\n" \
	"    \"cpu_info\": \"AMD Ryzen 9 7950X 16-Core Processor\",\n" \
	"    \"gpu_info\": \"NVIDIA GeForce RTX 4090\",\n" \
	"    \"backends\": \"CUDA\",\n" \
	"    \"model_filename\": \"/mnt/models/llama/llama-3.1-8b-instruct/q4_k_m/model.gguf\",\n" \
	"    \"model_type\": \"llama 8B Q4_K - Medium\",\n" \
	"    \"model_size\": 4912898304,\n" \
	"    \"model_n_params\": 8030261248,\n" \
	"    \"n_batch\": 2048,\n" \
	"    \"n_ubatch\": 512,\n" \
	"    \"n_threads\": 16,\n" \
	"    \"cpu_mask\": \"0x0\",\n" \
	"    \"cpu_strict\": false,\n" \
	"    \"poll\": 50,\n" \
	"    \"type_k\": \"f16\",\n" \
	"    \"type_v\": \"f16\",\n" \
	"    \"n_gpu_layers\": 999,\n" \
	"    \"n_cpu_moe\": 0,\n" \
	"    \"split_mode\": \"layer\",\n" \
	"    \"main_gpu\": 0,\n" \
	"    \"no_kv_offload\": false,\n" \
	"    \"flash_attn\": -1,\n" \
	"    \"devices\": \"auto\",\n" \
	"    \"tensor_split\": \"0.00\",\n" \
	"    \"tensor_buft_overrides\": \"none\",\n" \
	"    \"load_mode\": \"mmap\",\n" \
	"    \"embeddings\": false,\n" \
	"    \"no_op_offload\": 0,\n" \
	"    \"no_host\": false,\n" \
	"    \"fit_target\": 0,\n" \
	"    \"fit_min_ctx\": 0,\n" \
	"    \"n_prompt\": " #np ",\n" \
	"    \"n_gen\": " #ng ",\n" \
	"    \"n_depth\": 0,\n" \
	"    \"test_time\": \"2026-11-23T10:00:00Z\",\n" \
	"    \"avg_ns\": " #avg_ns ",\n" \
	"    \"stddev_ns\": " #std_ns ",\n" \
	"    \"avg_ts\": " #avg_ts ",\n" \
	"    \"stddev_ts\": " #std_ts ",\n" \
	"    \"samples_ns\": [ " samples_ns " ],\n" \
	"    \"samples_ts\": [ " samples_ts " ]\n" \
	"  }"

/* `llama-bench -m MODEL -p 512 -n 128 -r 3 -o json` */
static const char json_sample[] =
	"[\n"
	LB_TEST(512, 0, 43211066, 120446, 11848.836121, 33.012043,
		"43110223, 43178712, 43344263", "11876.581012, 11857.741066, 11812.186285")
	",\n"
	LB_TEST(0, 128, 853289612, 1093210, 150.006284, 0.192111,
		"852113400, 853474211, 854281225", "150.214025, 149.974407, 149.830420")
	"\n]\n";

/* One line of `-o jsonl` (the same fields, one object per line). */
#define LB_LINE(np, ng, avg_ts, std_ts) \
	"{\"build_commit\": \"b5d1e2a0\", \"build_number\": 5580, \"cpu_info\": \"Intel(R) Xeon(R) CPU\", " \
	"\"gpu_info\": \"\", \"backends\": \"CPU\", \"model_filename\": \"/m/qwen/q8_0/model.gguf\", " \
	"\"model_type\": \"qwen2 0.5B Q8_0\", \"model_size\": 530007552, \"model_n_params\": 494032768, " \
	"\"n_batch\": 2048, \"n_ubatch\": 512, \"n_threads\": 2, \"cpu_mask\": \"0x0\", \"cpu_strict\": false, " \
	"\"poll\": 50, \"type_k\": \"f16\", \"type_v\": \"f16\", \"n_gpu_layers\": 0, \"split_mode\": \"layer\", " \
	"\"main_gpu\": 0, \"no_kv_offload\": false, \"flash_attn\": false, \"tensor_split\": \"0.00\", " \
	"\"use_mmap\": true, \"embeddings\": false, \"n_prompt\": " #np ", \"n_gen\": " #ng ", " \
	"\"n_depth\": 0, \"test_time\": \"2026-11-23T10:05:00Z\", \"avg_ns\": 1000, \"stddev_ns\": 10, " \
	"\"avg_ts\": " #avg_ts ", \"stddev_ts\": " #std_ts ", \"samples_ns\": [ 1000 ],\"samples_ts\": [ 1.0 ]}\n"

/* A wrapper printing logs on stdout, then `-o jsonl` with two pp tests
 * (-p 64,256), a pp+tg test (-pg) and a tg test. */
static const char jsonl_sample[] =
	"loading model from /m/qwen/q8_0/model.gguf\n"
	"[info] backend: CPU, 2 threads\n"
	"\n"
	LB_LINE(64, 0, 402.117532, 5.811230)
	"progress: 1/4\n"
	LB_LINE(256, 0, 388.402011, 2.000001)
	LB_LINE(64, 16, 99.5, 1.5)
	LB_LINE(0, 32, 41.266719, 0.330014);

static const char *measure_str(const struct bench_measure *m)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "pp=%d %.6f±%.6f n=%u tg=%d %.6f±%.6f n=%u build='%s' type='%s'",
		 m->has_pp, m->pp_tokens_per_s, m->pp_stddev, m->n_prompt, m->has_tg, m->tg_tokens_per_s,
		 m->tg_stddev, m->n_gen, m->build, m->model_type);
	return buf;
}

static void test_status_names(void **state)
{
	assert_string_equal(bench_status_name(BENCH_UNTESTED), "untested");
	assert_string_equal(bench_status_name(BENCH_QUEUED), "queued");
	assert_string_equal(bench_status_name(BENCH_RUNNING), "running");
	assert_string_equal(bench_status_name(BENCH_TESTED), "tested");
	assert_string_equal(bench_status_name(BENCH_FAILED), "failed");
	assert_string_equal(bench_status_name((enum bench_status)42), "unknown");
}

static void test_parse_json(void **state)
{
	struct bench_measure m;
	struct diag d;

	diag_init(&d);
	memset(&m, 0xab, sizeof(m));
	assert_int_equal(bench_parse_output(json_sample, strlen(json_sample), &m, &d), 0);
	assert_string_equal(d.msg, "");
	assert_string_equal(measure_str(&m), "pp=1 11848.836121±33.012043 n=512 tg=1 150.006284±0.192111 n=128 "
			    "build='3f4fc97f (6401)' type='llama 8B Q4_K - Medium'");
	assert_true(m.pp_tokens_per_s == 11848.836121 && m.tg_stddev == 0.192111);
}

static void test_parse_jsonl(void **state)
{
	struct bench_measure m;
	struct diag d;

	diag_init(&d);
	assert_int_equal(bench_parse_output(jsonl_sample, strlen(jsonl_sample), &m, &d), 0);
	/* the first pp test (64), not the second; the pp+tg test counts for neither */
	assert_string_equal(measure_str(&m), "pp=1 402.117532±5.811230 n=64 tg=1 41.266719±0.330014 n=32 "
			    "build='b5d1e2a0 (5580)' type='qwen2 0.5B Q8_0'");
}

static void test_parse_forms(void **state)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		/* logs before the array, one starting with '[' */
		{ "[info] loading\nmain: done\n[{\"n_prompt\": 8, \"n_gen\": 0, \"avg_ts\": 5}]\n",
		  "pp=1 5.000000±0.000000 n=8 tg=0 0.000000±0.000000 n=0 build='' type=''" },
		/* CRLF, an indented array, text after it */
		{ "x\r\n  [ {\"n_prompt\": 0, \"n_gen\": 4, \"avg_ts\": 2.5, \"stddev_ts\": 0.5} ]\r\nbye\r\n",
		  "pp=0 0.000000±0.000000 n=0 tg=1 2.500000±0.500000 n=4 build='' type=''" },
		/* a JSON log record before JSON lines is passed over */
		{ "{\"level\": \"info\", \"msg\": \"start\"}\n{\"n_prompt\": 0, \"n_gen\": 4, \"avg_ts\": 3}\n",
		  "pp=0 0.000000±0.000000 n=0 tg=1 3.000000±0.000000 n=4 build='' type=''" },
		/* seven lines that look like JSON and are not, then the output */
		{ "[a\n[b\n{c\n[d\n{e\n[1,2]\n{\"x\":1}\n[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1}]",
		  "pp=1 1.000000±0.000000 n=1 tg=0 0.000000±0.000000 n=0 build='' type=''" },
		/* info of odd types is dropped, bytes that are not printable become '?' */
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1, \"build_commit\": 5, \"model_type\": "
		  "\"llama\\t8B \\u00e9\"}, {\"n_prompt\": 0, \"n_gen\": 1, \"avg_ts\": 1, \"build_number\": 77}]",
		  "pp=1 1.000000±0.000000 n=1 tg=1 1.000000±0.000000 n=1 build='77' type='llama?8B ?" "?'" },
		/* one test of each kind after several of neither */
		{ "[{\"n_prompt\": 0, \"n_gen\": 0, \"avg_ts\": 0}, {\"n_prompt\": 5, \"n_gen\": 5, \"avg_ts\": 9},"
		  " {\"n_prompt\": 7, \"n_gen\": 0, \"avg_ts\": 0, \"stddev_ts\": 0}]",
		  "pp=1 0.000000±0.000000 n=7 tg=0 0.000000±0.000000 n=0 build='' type=''" },
	};
	struct bench_measure m;
	struct diag d;
	size_t i;
	int rc;

	for (i = 0; i < N_ELEMS(cases); i++) {
		diag_init(&d);
		memset(&m, 0, sizeof(m));
		rc = bench_parse_output(cases[i].text, strlen(cases[i].text), &m, &d);
		if (rc != 0)
			fail_msg("case %zu: %d %s", i, rc, d.msg);
		if (strcmp(measure_str(&m), cases[i].want) != 0)
			fail_msg("case %zu: %s", i, measure_str(&m));
	}
}

#define OK_PP "{\"n_prompt\": 512, \"n_gen\": 0, \"avg_ts\": 100.5, \"stddev_ts\": 1}"

static void test_parse_hostile(void **state)
{
	static const struct {
		const char *text;
		size_t len;          /* 0: strlen */
		const char *msg;     /* a part of the diagnostic */
	} cases[] = {
		{ "", 0, "no JSON" },
		{ "llama-bench: error: unknown argument: -x\nusage: ...\n", 0, "no JSON" },
		/* the markdown table (no -o json) */
		{ "| model | size | params | backend | ngl | test | t/s |\n| --- |\n"
		  "| llama 8B Q4_K - Medium | 4.58 GiB | 8.03 B | CUDA | 99 | pp512 | 11848.84 ± 33.01 |\n",
		  0, "no JSON" },
		{ "[\n  {\n    \"build_commit\": \"3f4fc97f\",\n    \"n_prompt\": 512,", 0, "malformed" },
		{ "[" OK_PP ",", 0, "malformed" },
		{ "[]", 0, "empty list" },
		{ "[\n]\n", 0, "empty list" },
		{ "[{\"n_prompt\": 512, \"n_gen\": 0}]", 0, "no 'avg_ts'" },
		{ "[{\"n_gen\": 0, \"avg_ts\": 1}]", 0, "no 'n_prompt'" },
		{ "[{\"n_prompt\": 1, \"avg_ts\": 1}]", 0, "no 'n_gen'" },
		{ "[{\"n_prompt\": \"512\", \"n_gen\": 0, \"avg_ts\": 1}]", 0, "'n_prompt' of llama-bench test 1" },
		{ "[{\"n_prompt\": 1.5, \"n_gen\": 0, \"avg_ts\": 1}]", 0, "not a token count" },
		{ "[{\"n_prompt\": -1, \"n_gen\": 0, \"avg_ts\": 1}]", 0, "not a token count" },
		{ "[{\"n_prompt\": 4294967296, \"n_gen\": 0, \"avg_ts\": 1}]", 0, "not a token count" },
		{ "[{\"n_prompt\": 1, \"n_gen\": null, \"avg_ts\": 1}]", 0, "'n_gen'" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": \"fast\"}]", 0, "'avg_ts'" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": true}]", 0, "'avg_ts'" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": -3.0}]", 0, "'avg_ts'" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1e300}]", 0, "'avg_ts'" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1e400}]", 0, "malformed" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": NaN}]", 0, "malformed" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": nan}]", 0, "malformed" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": inf}]", 0, "malformed" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1, \"stddev_ts\": -0.5}]", 0, "'stddev_ts'" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1, \"stddev_ts\": []}]", 0, "'stddev_ts'" },
		{ "[{\"n_prompt\": 99999999999999999999, \"n_gen\": 0, \"avg_ts\": 1}]", 0, "malformed" },
		{ "[{\"n_prompt\": 64, \"n_gen\": 16, \"avg_ts\": 1}]", 0, "no prompt test" },
		{ "[{\"n_prompt\": 0, \"n_gen\": 0, \"avg_ts\": 1}]", 0, "no prompt test" },
		{ "[" OK_PP ", 3]", 0, "test 2 is not a JSON object" },
		{ "[" OK_PP ", {\"a\": {\"b\": [1, {\"c\": [[[]]]}]}}]", 0, "test 2 has no 'n_prompt'" },
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
		  "]]]]]]]]]]]]]]]", 0, "no JSON" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1}, [1]]", 0, "test 2 is not a JSON object" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1}\0]", 43, "malformed" },
		{ "[{\"n_prompt\": 1, \"n_gen\": 0, \"avg_ts\": 1, \"model_type\": \"a\0b\"}]", 63, "malformed" },
		{ "\0[" OK_PP "]", 2 + sizeof(OK_PP), "no JSON" },
		/* JSON lines: a later line that breaks, a later test that is wrong */
		{ OK_PP "\n{\"n_prompt\": 0, \"n_gen\": 128,\n", 0, "line 2 of llama-bench's JSON lines" },
		{ "log\n" OK_PP "\nlog\n{\"n_prompt\": 0, \"n_gen\": -1, \"avg_ts\": 1}\n", 0, "test 2" },
		{ OK_PP "\n{\"n_prompt\": 0, \"n_gen\": 8, \"avg_ts\": 1} trailing\n", 0, "line 2" },
		/* eight candidates that are not the output: the ninth is not tried */
		{ "[a\n[b\n{c\n[d\n{e\n[1,2]\n{\"x\":1}\n[h\n[" OK_PP "]", 0, "JSON on line 1 is malformed" },
		/* an array of numbers and a non-test object are no candidates either */
		{ "[1, 2]\n{\"x\": 1}\n", 0, "no JSON" },
	};
	struct bench_measure m, before;
	struct diag d;
	size_t i, len;
	int rc;

	memset(&before, 0x5a, sizeof(before));
	for (i = 0; i < N_ELEMS(cases); i++) {
		len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		diag_init(&d);
		m = before;
		rc = bench_parse_output(cases[i].text, len, &m, &d);
		if (rc != -EINVAL)
			fail_msg("case %zu: rc %d (%s), want -EINVAL", i, rc, rc ? d.msg : measure_str(&m));
		if (!strstr(d.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, d.msg, cases[i].msg);
		if (memcmp(&m, &before, sizeof(m)) != 0)
			fail_msg("case %zu changed the measure", i);
	}
	diag_init(&d);
	assert_int_equal(bench_parse_output(NULL, 1, &m, &d), -EINVAL);
	assert_int_equal(bench_parse_output(json_sample, strlen(json_sample), NULL, NULL), -EINVAL);
}

static void test_parse_too_big(void **state)
{
	size_t len = BENCH_MAX_OUTPUT_BYTES + 1;
	struct bench_measure m;
	struct diag d;
	char *big = malloc(len);

	assert_non_null(big);
	memset(big, ' ', len);
	memcpy(big, json_sample, strlen(json_sample));
	diag_init(&d);
	assert_int_equal(bench_parse_output(big, len, &m, &d), -E2BIG);
	assert_non_null(strstr(d.msg, "more than 4 MiB"));
	/* at the cap it is read */
	diag_init(&d);
	assert_int_equal(bench_parse_output(big, len - 1, &m, &d), 0);
	assert_true(m.has_pp && m.has_tg);
	free(big);
}

/* ------------------------------------------------------------------------
 * bench_cmd
 * ------------------------------------------------------------------------ */

static char *join_argv(char **argv, size_t argc)
{
	struct sbuf sb;
	size_t i;

	sbuf_init(&sb, 1u << 20);
	for (i = 0; i < argc; i++)
		sbuf_addf(&sb, "%s<%s>", i ? " " : "", argv[i]);
	assert_null(argv[argc]);
	return sbuf_detach(&sb, NULL);
}

static void test_argv(void **state)
{
	static const struct {
		const char *tmpl;
		const char *model;
		uint64_t ctx;
		uint32_t ngl;
		const char *want;
	} cases[] = {
		{ "llama-bench -m {model} -p 512 -n 128 -r 3 -o json", "/mnt/m/llama/v/q4_k_m/model.gguf", 8192, 99,
		  "<llama-bench> <-m> </mnt/m/llama/v/q4_k_m/model.gguf> <-p> <512> <-n> <128> <-r> <3> <-o> <json>" },
		{ "run -m {model} -c {ctx} -ngl {ngl}", "/tmp/my models/a b.gguf", 0, UINT32_MAX,
		  "<run> <-m> </tmp/my models/a b.gguf> <-c> <8192> <-ngl> <999>" },
		{ "  a\t\"b c\"  'd \"e\"' x'y z'w \"\" '' --ctx={ctx} pre{ngl}post\n", "m", 32768, 0,
		  "<a> <b c> <d \"e\"> <xy zw> <> <> <--ctx=32768> <pre0post>" },
		{ "echo '{\"k\": 1}' {} { {0} x{ \"{model}\" '{ngl}'", "p q", 1, 7,
		  "<echo> <{\"k\": 1}> <{}> <{> <{0}> <x{> <p q> <7>" },
		{ "llama-bench -m {model}{model}", "", 1, 1, "<llama-bench> <-m> <>" },
		{ "x {ctx}}", "m", 18446744073709551615u, 1, "<x> <18446744073709551615}>" },
		{ "one", "m", 1, 4294967294u, "<one>" },
	};
	struct diag d;
	size_t i, argc;
	char **argv, *got;
	int rc;

	for (i = 0; i < N_ELEMS(cases); i++) {
		diag_init(&d);
		rc = bench_argv_expand(cases[i].tmpl, cases[i].model, cases[i].ctx, cases[i].ngl, &argv, &argc, &d);
		if (rc)
			fail_msg("case %zu: %d %s", i, rc, d.msg);
		got = join_argv(argv, argc);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: %s", i, got);
		free(got);
		bench_argv_free(argv);
	}
	assert_int_equal(bench_argv_expand("a {ngl}", NULL, 0, 4294967294u, &argv, NULL, NULL), 0);
	assert_string_equal(argv[1], "4294967294");
	bench_argv_free(argv);
	bench_argv_free(NULL);
}

static void cat(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s", s);
}

static void test_argv_limits(void **state)
{
	char tmpl[CAP_LINE_BYTES + 2], model[4000];
	struct diag d;
	size_t argc, i;
	char **argv;

	/* BENCH_MAX_ARGS words pass, one more does not */
	tmpl[0] = '\0';
	for (i = 0; i < BENCH_MAX_ARGS; i++)
		cat(tmpl, sizeof(tmpl), "w ");
	assert_int_equal(bench_argv_expand(tmpl, "m", 0, 0, &argv, &argc, NULL), 0);
	assert_int_equal(argc, BENCH_MAX_ARGS);
	bench_argv_free(argv);
	cat(tmpl, sizeof(tmpl), "w");
	diag_init(&d);
	assert_int_equal(bench_argv_expand(tmpl, "m", 0, 0, &argv, &argc, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "more than 64 words"));
	assert_null(argv);
	assert_int_equal(argc, 0);

	/* a template at the cap passes, one byte more does not */
	memset(tmpl, 'x', CAP_LINE_BYTES);
	tmpl[CAP_LINE_BYTES] = '\0';
	assert_int_equal(bench_argv_expand(tmpl, "m", 0, 0, &argv, &argc, NULL), 0);
	bench_argv_free(argv);
	tmpl[CAP_LINE_BYTES] = 'x';
	tmpl[CAP_LINE_BYTES + 1] = '\0';
	diag_init(&d);
	assert_int_equal(bench_argv_expand(tmpl, "m", 0, 0, &argv, &argc, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "longer than 4096 bytes"));

	/* a word that expands past 64 KiB */
	memset(model, 'm', sizeof(model) - 1);
	model[sizeof(model) - 1] = '\0';
	tmpl[0] = '\0';
	for (i = 0; i < 17; i++)
		cat(tmpl, sizeof(tmpl), "{model}");
	diag_init(&d);
	assert_int_equal(bench_argv_expand(tmpl, model, 0, 0, &argv, &argc, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "more than 64 KiB"));
	assert_null(argv);
	tmpl[7 * 16] = '\0';
	assert_int_equal(bench_argv_expand(tmpl, model, 0, 0, &argv, &argc, NULL), 0);
	assert_int_equal(strlen(argv[0]), 16 * strlen(model));
	bench_argv_free(argv);
}

static void test_argv_hostile(void **state)
{
	static const struct {
		const char *tmpl;
		const char *msg;
	} cases[] = {
		{ "", "empty" },
		{ " \t\n ", "empty" },
		{ "llama-bench 'unclosed", "unclosed ' quote" },
		{ "llama-bench \"unclosed", "unclosed \" quote" },
		{ "llama-bench \"a'b", "unclosed \" quote" },
		{ "llama-bench -m {foo}", "unknown placeholder '{foo}'" },
		{ "llama-bench -m {Model}", "unknown placeholder '{Model}'" },
		{ "llama-bench -m {model_path}", "unknown placeholder '{model_path}'" },
		{ "llama-bench -m {model", "placeholder '{model' in bench_cmd is not closed" },
		{ "llama-bench -m {model -p 512", "placeholder '{model' in bench_cmd is not closed" },
		{ "llama-bench -m '{model x'", "placeholder '{model' in bench_cmd is not closed" },
		{ "llama-bench -c {ctx:8192}", "placeholder '{ctx' in bench_cmd is not closed" },
		{ "llama-bench {a b}", "placeholder '{a' in bench_cmd is not closed" },
	};
	struct diag d;
	size_t i, argc = 5;
	char **argv = (char **)&argc;
	int rc;

	for (i = 0; i < N_ELEMS(cases); i++) {
		diag_init(&d);
		rc = bench_argv_expand(cases[i].tmpl, "/m.gguf", 0, 0, &argv, &argc, &d);
		if (rc != -EINVAL || !strstr(d.msg, cases[i].msg))
			fail_msg("case %zu: rc %d '%s' lacks '%s'", i, rc, d.msg, cases[i].msg);
		assert_null(argv);
		assert_int_equal(argc, 0);
	}
	diag_init(&d);
	assert_int_equal(bench_argv_expand(NULL, "m", 0, 0, &argv, &argc, &d), -EINVAL);
	assert_int_equal(bench_argv_expand("a", "m", 0, 0, NULL, &argc, NULL), -EINVAL);
	diag_init(&d);
	assert_int_equal(bench_argv_expand("a -m {model}", NULL, 0, 0, &argv, &argc, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "no model path"));
}

/* ------------------------------------------------------------------------
 * runs
 * ------------------------------------------------------------------------ */

static char **make_argv(const char *const *words)
{
	size_t n = 0, i;
	char **argv;

	while (words[n])
		n++;
	argv = calloc(n + 1, sizeof(*argv));
	assert_non_null(argv);
	for (i = 0; i < n; i++)
		assert_non_null(argv[i] = strdup(words[i]));
	return argv;
}

static void fill_run(struct bench_run *r)
{
	static const char *const words[] = { "llama-bench", "-m", "/mnt/m/llama/v/q4_k_m/model.gguf", "-p",
					     "512", "-n", "128", "-o", "json", "caf\xc3\xa9 \xe2\x9c\x93", NULL };

	memset(r, 0, sizeof(*r));
	r->status = BENCH_TESTED;
	r->queued = 1795428000;         /* 2026-11-23T10:00:00Z */
	r->started = 1795428061;
	r->finished = 1795428185;
	memcpy(r->hw.gpu_name, "NVIDIA GeForce RTX 4090", 24);
	r->hw.gpu_vram_mib = 24564;
	r->hw.gpu_bandwidth_gbps = 1008;
	r->hw.ram_mib = 64226;
	r->hw.ram_bandwidth_gbps = 83.5;
	r->argv = make_argv(words);
	r->ctx_tokens = 8192;
	r->ngl = 33;
	r->m.has_pp = true;
	r->m.pp_tokens_per_s = 11848.836121;
	r->m.pp_stddev = 33.012043;
	r->m.n_prompt = 512;
	r->m.has_tg = true;
	r->m.tg_tokens_per_s = 150.006284;
	r->m.tg_stddev = 0.1 + 0.2;
	r->m.n_gen = 128;
	memcpy(r->m.build, "3f4fc97f (6401)", 16);
	memcpy(r->m.model_type, "llama 8B Q4_K - Medium", 23);
	r->peak_rss_mib = 1234;
	r->peak_vram_mib = 5821;
	r->estimate_vram_mib = 5990;
	r->est_tg_ceiling = 205.17241379310346;
	assert_non_null(r->raw = strdup(json_sample));
	assert_non_null(r->error = strdup("tab\tquote\"backslash\\newline\n"));
	assert_non_null(r->log_path = strdup("/var/lib/modelfs/bench/7.log"));
}

static void assert_runs_equal(const struct bench_run *a, const struct bench_run *b)
{
	size_t i;

	assert_int_equal(a->status, b->status);
	assert_true(a->queued == b->queued && a->started == b->started && a->finished == b->finished);
	assert_string_equal(a->hw.gpu_name, b->hw.gpu_name);
	assert_true(a->hw.gpu_vram_mib == b->hw.gpu_vram_mib && a->hw.ram_mib == b->hw.ram_mib);
	assert_true(a->hw.gpu_bandwidth_gbps == b->hw.gpu_bandwidth_gbps);
	assert_true(a->hw.ram_bandwidth_gbps == b->hw.ram_bandwidth_gbps);
	assert_true((a->argv == NULL) == (b->argv == NULL));
	for (i = 0; a->argv && (a->argv[i] || b->argv[i]); i++) {
		assert_non_null(a->argv[i]);
		assert_non_null(b->argv[i]);
		assert_string_equal(a->argv[i], b->argv[i]);
	}
	assert_true(a->ctx_tokens == b->ctx_tokens);
	assert_true(a->ngl == b->ngl);
	assert_true(a->m.has_pp == b->m.has_pp && a->m.has_tg == b->m.has_tg);
	assert_true(a->m.pp_tokens_per_s == b->m.pp_tokens_per_s && a->m.pp_stddev == b->m.pp_stddev);
	assert_true(a->m.tg_tokens_per_s == b->m.tg_tokens_per_s && a->m.tg_stddev == b->m.tg_stddev);
	assert_true(a->m.n_prompt == b->m.n_prompt && a->m.n_gen == b->m.n_gen);
	assert_string_equal(a->m.build, b->m.build);
	assert_string_equal(a->m.model_type, b->m.model_type);
	assert_true(a->peak_rss_mib == b->peak_rss_mib && a->peak_vram_mib == b->peak_vram_mib);
	assert_true(a->estimate_vram_mib == b->estimate_vram_mib && a->est_tg_ceiling == b->est_tg_ceiling);
	assert_true((a->raw == NULL) == (b->raw == NULL));
	if (a->raw)
		assert_string_equal(a->raw, b->raw);
	assert_true((a->error == NULL) == (b->error == NULL));
	if (a->error)
		assert_string_equal(a->error, b->error);
	assert_true((a->log_path == NULL) == (b->log_path == NULL));
	if (a->log_path)
		assert_string_equal(a->log_path, b->log_path);
}

/* r to JSON text and back (through the text, as the registry stores it). */
static char *round_trip(const struct bench_run *r, struct bench_run *back)
{
	json_t *o = NULL, *again;
	char *text;

	assert_int_equal(bench_run_to_json(r, &o), 0);
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(text);
	json_decref(o);
	again = json_loads(text, 0, NULL);
	assert_non_null(again);
	memset(back, 0x77, sizeof(*back));
	assert_int_equal(bench_run_from_json(again, back), 0);
	json_decref(again);
	return text;
}

static void test_run_round_trip(void **state)
{
	struct bench_run r, back;
	char *text;

	fill_run(&r);
	r.id = 42;
	r.hw.tg_efficiency = 0.7;
	text = round_trip(&r, &back);
	assert_non_null(strstr(text, "{\"status\":\"tested\",\"queued\":\"2026-11-23T10:00:00Z\","
			       "\"started\":\"2026-11-23T10:01:01Z\",\"finished\":\"2026-11-23T10:03:05Z\","
			       "\"hardware\":{\"gpu_name\":\"NVIDIA GeForce RTX 4090\",\"gpu_vram_mib\":24564,"
			       "\"gpu_bandwidth_gbps\":1008.0,\"ram_mib\":64226,\"ram_bandwidth_gbps\":83.5},"
			       "\"command\":[\"llama-bench\",\"-m\","));
	assert_non_null(strstr(text, ",\"ctx\":8192,\"ngl\":33,\"pp_tokens_per_s\":11848.836121,"
			       "\"pp_stddev\":33.012042999999998,\"n_prompt\":512,\"tg_tokens_per_s\":150.00628399999999,"
			       "\"tg_stddev\":0.30000000000000004,\"n_gen\":128,\"build\":\"3f4fc97f (6401)\","
			       "\"model_type\":\"llama 8B Q4_K - Medium\",\"peak_rss_mib\":1234,"
			       "\"peak_vram_mib\":5821,\"estimate_vram_mib\":5990,"
			       "\"est_tg_ceiling\":205.17241379310346,\"raw\":\"[\\n  {\\n"));
	assert_non_null(strstr(text, "\"error\":\"tab\\tquote\\\"backslash\\\\newline\\n\","
			       "\"log\":\"/var/lib/modelfs/bench/7.log\"}"));
	assert_null(strstr(text, "efficiency"));
	assert_null(strstr(text, "\"id\""));
	/* everything but id and the derived efficiency comes back */
	assert_runs_equal(&r, &back);
	assert_true(back.id == 0 && back.hw.tg_efficiency == 0);
	free(text);
	bench_run_release(&back);
	bench_run_release(&r);
	assert_null(r.argv);
	assert_null(r.raw);
}

static void test_run_unknowns(void **state)
{
	struct bench_run r, back;
	char *text;

	memset(&r, 0, sizeof(r));
	r.status = BENCH_QUEUED;
	r.queued = 951782400;           /* 2000-02-29T00:00:00Z */
	r.ngl = UINT32_MAX;
	r.peak_vram_mib = -1;
	text = round_trip(&r, &back);
	assert_string_equal(text, "{\"status\":\"queued\",\"queued\":\"2000-02-29T00:00:00Z\",\"started\":null,"
			    "\"finished\":null,\"hardware\":{\"gpu_name\":null,\"gpu_vram_mib\":null,"
			    "\"gpu_bandwidth_gbps\":null,\"ram_mib\":null,\"ram_bandwidth_gbps\":null},"
			    "\"command\":null,\"ctx\":0,\"ngl\":\"all\",\"pp_tokens_per_s\":null,\"pp_stddev\":null,"
			    "\"n_prompt\":null,\"tg_tokens_per_s\":null,\"tg_stddev\":null,\"n_gen\":null,"
			    "\"build\":null,\"model_type\":null,\"peak_rss_mib\":null,\"peak_vram_mib\":null,"
			    "\"estimate_vram_mib\":null,\"est_tg_ceiling\":null,\"raw\":null,\"error\":null,"
			    "\"log\":null}");
	assert_runs_equal(&r, &back);
	free(text);
	bench_run_release(&back);

	/* measured zeros stay measured; an empty command stays empty */
	memset(&r, 0, sizeof(r));
	r.status = BENCH_FAILED;
	r.queued = 1;
	r.peak_vram_mib = 0;
	r.m.has_tg = true;
	assert_non_null(r.argv = calloc(1, sizeof(*r.argv)));
	text = round_trip(&r, &back);
	assert_non_null(strstr(text, "\"queued\":\"1970-01-01T00:00:01Z\""));
	assert_non_null(strstr(text, "\"command\":[]"));
	assert_non_null(strstr(text, "\"tg_tokens_per_s\":0.0,\"tg_stddev\":0.0,\"n_gen\":0"));
	assert_non_null(strstr(text, "\"peak_vram_mib\":0"));
	assert_runs_equal(&r, &back);
	free(text);
	bench_run_release(&back);
	bench_run_release(&r);
}

static void test_run_lossy(void **state)
{
	struct bench_run r, back;
	char *text;

	memset(&r, 0, sizeof(r));
	r.status = BENCH_TESTED;
	r.queued = -5;                        /* not a time */
	r.started = INT64_C(253402300800);    /* year 10000 */
	r.peak_vram_mib = -7;
	r.m.has_pp = true;
	r.m.pp_tokens_per_s = NAN;
	r.est_tg_ceiling = -1;
	assert_non_null(r.raw = strdup("ok \xff\xfe bad \xc3\x28 end \xed\xa0\x80"));
	text = round_trip(&r, &back);
	assert_non_null(strstr(text, "\"queued\":null,\"started\":null"));
	assert_non_null(strstr(text, "\"pp_tokens_per_s\":null"));
	assert_non_null(strstr(text, "\"peak_vram_mib\":null"));
	assert_non_null(strstr(text, "\"est_tg_ceiling\":null"));
	assert_string_equal(back.raw, "ok \xef\xbf\xbd\xef\xbf\xbd bad \xef\xbf\xbd( end "
			    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_false(back.m.has_pp);
	assert_true(back.peak_vram_mib == -1);
	free(text);
	bench_run_release(&back);
	bench_run_release(&r);
	assert_int_equal(bench_run_to_json(NULL, NULL), -EINVAL);
}

static void test_run_from_json_lenient(void **state)
{
	struct bench_run r;
	json_t *o;

	/* a bare status is a run; unknown keys (benchmark.json's history) are ignored */
	o = json_loads("{\"status\": \"running\", \"history\": [1, 2], \"extra\": {}}", 0, NULL);
	assert_non_null(o);
	assert_int_equal(bench_run_from_json(o, &r), 0);
	json_decref(o);
	assert_int_equal(r.status, BENCH_RUNNING);
	assert_true(r.queued == 0 && r.argv == NULL && r.peak_vram_mib == -1 && !r.m.has_pp);
	bench_run_release(&r);

	/* numbers given as integers where reals are expected */
	o = json_loads("{\"status\": \"tested\", \"tg_tokens_per_s\": 150, \"est_tg_ceiling\": 200, "
		       "\"hardware\": {\"gpu_bandwidth_gbps\": 1008, \"gpu_name\": \"A = B\"}}", 0, NULL);
	assert_non_null(o);
	assert_int_equal(bench_run_from_json(o, &r), 0);
	json_decref(o);
	assert_true(r.m.has_tg && r.m.tg_tokens_per_s == 150 && r.est_tg_ceiling == 200);
	assert_true(r.hw.gpu_bandwidth_gbps == 1008);
	assert_string_equal(r.hw.gpu_name, "A = B");
	bench_run_release(&r);
}

static void test_run_from_json_hostile(void **state)
{
	static const char *const bad[] = {
		"[]",
		"\"tested\"",
		"{}",
		"{\"status\": null}",
		"{\"status\": 3}",
		"{\"status\": \"done\"}",
		"{\"status\": \"TESTED\"}",
		"{\"status\": \"unknown\"}",
		"{\"status\": \"tested\", \"queued\": 1795428000}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-23 10:00:00\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-23T10:00:00\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-23T10:00:00+01:00\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-23T10:00:00.5Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-02-29T10:00:00Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-02-30T10:00:00Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-13-01T10:00:00Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-00-01T10:00:00Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-00T10:00:00Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-23T24:00:00Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-23T10:60:00Z\"}",
		"{\"status\": \"tested\", \"queued\": \"2026-11-23T10:00:60Z\"}",
		"{\"status\": \"tested\", \"started\": \"1969-12-31T23:59:59Z\"}",
		"{\"status\": \"tested\", \"finished\": \"+026-11-23T10:00:00Z\"}",
		"{\"status\": \"tested\", \"finished\": \"2026-1a-23T10:00:00Z\"}",
		"{\"status\": \"tested\", \"hardware\": \"RTX 4090\"}",
		"{\"status\": \"tested\", \"hardware\": []}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_name\": 4090}}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_name\": \"a\\nb\"}}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_name\": \"a\\u0000b\"}}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_name\": \" padded\"}}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_name\": \"\\u0085\"}}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_vram_mib\": -1}}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_vram_mib\": 1.5}}",
		"{\"status\": \"tested\", \"hardware\": {\"ram_mib\": \"64G\"}}",
		"{\"status\": \"tested\", \"hardware\": {\"gpu_bandwidth_gbps\": -2}}",
		"{\"status\": \"tested\", \"hardware\": {\"ram_bandwidth_gbps\": \"fast\"}}",
		"{\"status\": \"tested\", \"command\": \"llama-bench -o json\"}",
		"{\"status\": \"tested\", \"command\": [\"llama-bench\", 1]}",
		"{\"status\": \"tested\", \"command\": [\"a\\u0000b\"]}",
		"{\"status\": \"tested\", \"command\": [null]}",
		"{\"status\": \"tested\", \"ctx\": -1}",
		"{\"status\": \"tested\", \"ctx\": \"8k\"}",
		"{\"status\": \"tested\", \"ctx\": 8192.0}",
		"{\"status\": \"tested\", \"ngl\": \"some\"}",
		"{\"status\": \"tested\", \"ngl\": -1}",
		"{\"status\": \"tested\", \"ngl\": 4294967295}",
		"{\"status\": \"tested\", \"ngl\": true}",
		"{\"status\": \"tested\", \"pp_tokens_per_s\": -1}",
		"{\"status\": \"tested\", \"pp_tokens_per_s\": \"fast\"}",
		"{\"status\": \"tested\", \"pp_tokens_per_s\": 1, \"pp_stddev\": -1}",
		"{\"status\": \"tested\", \"pp_tokens_per_s\": 1, \"n_prompt\": 4294967296}",
		"{\"status\": \"tested\", \"tg_tokens_per_s\": 1, \"n_gen\": 1.5}",
		"{\"status\": \"tested\", \"tg_tokens_per_s\": 1, \"tg_stddev\": {}}",
		"{\"status\": \"tested\", \"build\": 5}",
		"{\"status\": \"tested\", \"build\": \"0123456789012345678901234567890123456789012345678901234567890123\"}",
		"{\"status\": \"tested\", \"model_type\": []}",
		"{\"status\": \"tested\", \"peak_rss_mib\": -1}",
		"{\"status\": \"tested\", \"peak_vram_mib\": -1}",
		"{\"status\": \"tested\", \"peak_vram_mib\": \"1G\"}",
		"{\"status\": \"tested\", \"estimate_vram_mib\": 1e3}",
		"{\"status\": \"tested\", \"est_tg_ceiling\": -0.5}",
		"{\"status\": \"tested\", \"raw\": 5}",
		"{\"status\": \"tested\", \"raw\": \"a\\u0000b\"}",
		"{\"status\": \"tested\", \"error\": {}}",
		"{\"status\": \"tested\", \"log\": []}",
	};
	char buf[2048];
	struct bench_run r;
	json_t *o;
	size_t i;
	int rc;

	for (i = 0; i < N_ELEMS(bad); i++) {
		o = json_loads(bad[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		if (!o)
			fail_msg("case %zu does not parse", i);
		memset(&r, 0x33, sizeof(r));
		rc = bench_run_from_json(o, &r);
		json_decref(o);
		if (rc != -EINVAL)
			fail_msg("case %zu: %s accepted (%d)", i, bad[i], rc);
		assert_null(r.argv);
		assert_null(r.raw);
		assert_int_equal(r.status, 0);
	}
	/* more than BENCH_MAX_ARGS words, and a name too long */
	snprintf(buf, sizeof(buf), "{\"status\": \"failed\", \"command\": [");
	for (i = 0; i <= BENCH_MAX_ARGS; i++)
		cat(buf, sizeof(buf), i ? ", \"w\"" : "\"w\"");
	cat(buf, sizeof(buf), "]}");
	o = json_loads(buf, 0, NULL);
	assert_int_equal(bench_run_from_json(o, &r), -EINVAL);
	json_decref(o);
	memset(buf, 'n', 200);
	buf[200] = '\0';
	o = json_pack("{s:s, s:{s:s}}", "status", "tested", "hardware", "gpu_name", buf);
	assert_int_equal(bench_run_from_json(o, &r), -EINVAL);
	json_decref(o);
	assert_int_equal(bench_run_from_json(NULL, &r), -EINVAL);
	o = json_object();
	assert_int_equal(bench_run_from_json(o, NULL), -EINVAL);
	json_decref(o);
}

/* ------------------------------------------------------------------------
 * latest and efficiency
 * ------------------------------------------------------------------------ */

static void test_latest(void **state)
{
	struct bench_run runs[3];
	struct model_quant q;

	memset(&q, 0, sizeof(q));
	memset(runs, 0, sizeof(runs));
	assert_null(bench_latest(&q));
	assert_null(bench_latest_tested(&q));
	assert_null(bench_latest(NULL));
	assert_null(bench_latest_tested(NULL));
	runs[0].status = BENCH_TESTED;
	runs[1].status = BENCH_TESTED;
	runs[2].status = BENCH_FAILED;
	q.bench = runs;
	q.n_bench = 3;
	assert_ptr_equal(bench_latest(&q), &runs[2]);
	assert_ptr_equal(bench_latest_tested(&q), &runs[1]);
	runs[1].status = BENCH_QUEUED;
	assert_ptr_equal(bench_latest_tested(&q), &runs[0]);
	runs[0].status = BENCH_RUNNING;
	assert_null(bench_latest_tested(&q));
	q.n_bench = 1;
	assert_ptr_equal(bench_latest(&q), &runs[0]);
}

#define N_RUNS 16

struct eff_fixture {
	struct registry_snapshot s;
	struct model_variant v[2];
	struct model_quant q[3];
	struct bench_run runs[N_RUNS];
	size_t n;
	struct hw_profile hw;
};

static void eff_init(struct eff_fixture *f)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->hw.gpu_name, "NVIDIA GeForce RTX 3090", 24);
	f->hw.gpu_bandwidth_gbps = 936;
	f->hw.ram_bandwidth_gbps = 50;
	f->hw.tg_efficiency = 0.9;
	f->s.variants = f->v;
	f->s.n_variants = 2;
	f->v[0].quants = &f->q[0];
	f->v[0].n_quants = 2;
	f->v[1].quants = &f->q[2];
	f->v[1].n_quants = 1;
}

/* A tested run on f's hardware measuring ratio times its ceiling, in
 * quant q (runs of one quant are contiguous). */
static struct bench_run *eff_add(struct eff_fixture *f, size_t q, double ratio)
{
	struct bench_run *r = &f->runs[f->n++];

	assert_true(f->n <= N_RUNS);
	if (!f->q[q].bench)
		f->q[q].bench = r;
	f->q[q].n_bench++;
	r->status = BENCH_TESTED;
	r->hw = f->hw;
	r->hw.tg_efficiency = 0;
	r->hw.gpu_vram_mib = 24576;
	r->m.has_tg = true;
	r->est_tg_ceiling = 120;
	r->m.tg_tokens_per_s = 120 * ratio;
	return r;
}

static void test_efficiency(void **state)
{
	struct eff_fixture f;
	struct bench_run *r;

	eff_init(&f);
	assert_true(bench_efficiency(&f.s, &f.hw) == 0);
	assert_true(bench_efficiency(NULL, &f.hw) == 0);
	assert_true(bench_efficiency(&f.s, NULL) == 0);

	eff_add(&f, 0, 0.5);
	assert_true(fabs(bench_efficiency(&f.s, &f.hw) - 0.5) < 1e-12);
	eff_add(&f, 0, 0.7);
	/* even count: the mean of the middle two */
	assert_true(fabs(bench_efficiency(&f.s, &f.hw) - 0.6) < 1e-12);
	eff_add(&f, 0, 0.65);
	assert_true(fabs(bench_efficiency(&f.s, &f.hw) - 0.65) < 1e-12);

	/* runs that do not count, in the other quants */
	eff_add(&f, 1, 0.1)->status = BENCH_FAILED;
	eff_add(&f, 1, 0.1)->status = BENCH_RUNNING;
	eff_add(&f, 1, 0.1)->m.has_tg = false;
	eff_add(&f, 1, 0.1)->est_tg_ceiling = 0;
	r = eff_add(&f, 1, 0.1);
	r->est_tg_ceiling = -5;
	r = eff_add(&f, 1, 0.1);
	r->m.tg_tokens_per_s = 0;
	r = eff_add(&f, 2, 0.1);
	memcpy(r->hw.gpu_name, "NVIDIA GeForce RTX 3090 Ti", 27);
	r = eff_add(&f, 2, 0.1);
	r->hw.gpu_bandwidth_gbps = 936 * 1.02;
	r = eff_add(&f, 2, 0.1);
	r->hw.ram_bandwidth_gbps = 0;
	assert_true(fabs(bench_efficiency(&f.s, &f.hw) - 0.65) < 1e-12);

	/* within 1% is the same hardware (VRAM size does not matter) */
	r = eff_add(&f, 2, 0.9);
	r->hw.gpu_bandwidth_gbps = 936 * 1.009;
	r->hw.ram_bandwidth_gbps = 50 * 0.995;
	assert_true(fabs(bench_efficiency(&f.s, &f.hw) - 0.675) < 1e-12);
}

static void test_efficiency_clamp(void **state)
{
	struct eff_fixture f;

	eff_init(&f);
	eff_add(&f, 0, 0.01);
	assert_true(bench_efficiency(&f.s, &f.hw) == 0.05);
	eff_init(&f);
	eff_add(&f, 2, 5);
	eff_add(&f, 2, 3);
	assert_true(bench_efficiency(&f.s, &f.hw) == 2.0);
	/* unknown hardware matches unknown hardware */
	eff_init(&f);
	memset(&f.hw, 0, sizeof(f.hw));
	eff_add(&f, 1, 0.25);
	assert_true(bench_efficiency(&f.s, &f.hw) == 0.25);
	f.hw.gpu_bandwidth_gbps = 1;
	assert_true(bench_efficiency(&f.s, &f.hw) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_parse_json),
		cmocka_unit_test(test_parse_jsonl),
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_too_big),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_argv_limits),
		cmocka_unit_test(test_argv_hostile),
		cmocka_unit_test(test_run_round_trip),
		cmocka_unit_test(test_run_unknowns),
		cmocka_unit_test(test_run_lossy),
		cmocka_unit_test(test_run_from_json_lenient),
		cmocka_unit_test(test_run_from_json_hostile),
		cmocka_unit_test(test_latest),
		cmocka_unit_test(test_efficiency),
		cmocka_unit_test(test_efficiency_clamp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
