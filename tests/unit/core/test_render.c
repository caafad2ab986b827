/*
 * test_render.c - the computed files, from a model_variant built by hand:
 * VARIANT/info.json, registry.json, models.tsv, architecture.json,
 * QUANT/info.json and QUANT/status.  JSON outputs are parsed back with
 * jansson and checked value by value (and key order, which is part of the
 * format); TSV rows are split and checked column by column.  Unknown values
 * must come out null, absent or empty, never invented.
 *
 * Benchmarks (issue 7): runs are attached to hand-built quants and every
 * output that shows them is checked as exact text (models.tsv rows,
 * status, compare.tsv) or, for the JSON files whose run objects are
 * core/bench.c's, against bench_run_to_json() of the run expected there.
 * recommend@ ranking by measured speed and the calibrated efficiency are
 * checked here too, as they change what these files show.
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

static struct model_file files_q4[] = {
	{ (char *)"model.gguf", (char *)"Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", 4920739232ull,
	  (char *)"7b064f5842bf9532c91456deda288a1b672397a54fa729aa665952863033557c", FILE_ROLE_MODEL },
};

static struct model_file files_q8[] = {
	{ (char *)"model-00001-of-00002.gguf", (char *)"q8/Meta-Llama-3.1-8B-Instruct-Q8_0-00001-of-00002.gguf", 0,
	  NULL, FILE_ROLE_MODEL },
	{ (char *)"model-00002-of-00002.gguf", (char *)"q8/Meta-Llama-3.1-8B-Instruct-Q8_0-00002-of-00002.gguf", 0,
	  NULL, FILE_ROLE_MODEL },
};

static struct model_quant quants[] = {
	{ .name = (char *)"q4_k_m", .file_pattern = (char *)"Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
	  .size_bytes = 4920739232ull, .size_exact = true, .bits_per_weight = 4.89, .files = files_q4,
	  .n_files = 1 },
	{ .name = (char *)"q8_0", .file_pattern = (char *)"Meta-Llama-3.1-8B-Instruct-Q8_0-00001-of-00002.gguf",
	  .files = files_q8, .n_files = 2 },
};

static void fill_variant(struct model_variant *v)
{
	memset(v, 0, sizeof(*v));
	v->family = (char *)"llama";
	v->variant = (char *)"llama-3.1-8b-instruct";
	v->full_name = (char *)"Llama 3.1 8B Instruct";
	v->repo_id = (char *)"bartowski/Meta-Llama-3.1-8B-Instruct-GGUF";
	v->revision = (char *)"bf5b95e96dac0462e2a09145ec66cae9a3f12067";
	v->architecture = (char *)"llama";
	v->origin = (char *)"catalog";
	v->parameter_count_b = 8.03;
	v->parameter_count_exact = 8030261248ull;
	v->context_window = 131072;
	v->extra_json = (char *)"{\"recommended_parameters\":{\"temperature\":0.6,\"top_p\":0.9},"
				"\"additional_files\":[{\"name\":\"mmproj\",\"path\":\"mmproj-f16.gguf\"}],"
				"\"sources\":{\"params\":\"gguf\"},\"ignored\":1}";
	v->quants = quants;
	v->n_quants = N_ELEMS(quants);
}

static void fill_bare(struct model_variant *v)
{
	static struct model_quant bare_quants[] = {
		{ .name = (char *)"f16" },
	};

	memset(v, 0, sizeof(*v));
	v->family = (char *)"mystery";
	v->variant = (char *)"m";
	v->repo_id = (char *)"org/repo";
	v->origin = (char *)"hub";
	v->quants = bare_quants;
	v->n_quants = 1;
}

/* Renders with fn and parses the result; checks the final newline. */
static json_t *render_json(int (*fn)(const struct model_variant *, struct sbuf *),
			   const struct model_variant *v)
{
	struct sbuf sb;
	json_error_t err;
	json_t *j;

	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(fn(v, &sb), 0);
	assert_true(sb.len > 0);
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("invalid JSON: %s\n%s", err.text, sb.buf);
	sbuf_release(&sb);
	return j;
}

static void assert_keys(json_t *o, const char *const *keys, size_t n)
{
	const char *key;
	json_t *val;
	size_t i = 0;

	assert_true(json_is_object(o));
	json_object_foreach(o, key, val) {
		if (i >= n || strcmp(key, keys[i]) != 0)
			fail_msg("key %zu is '%s', want '%s'", i, key, i < n ? keys[i] : "(none)");
		i++;
	}
	assert_int_equal(i, n);
}

static void test_variant_info(void **state)
{
	static const char *const keys[] = {
		"family", "variant", "full_name", "repo_id", "revision", "architecture", "parameter_count",
		"parameter_count_exact", "context_window", "multimodal", "additional_files", "quantizations",
		"recommended_parameters", "sources", "origin",
	};
	static const char *const qkeys[] = {
		"name", "file_pattern", "size_bytes", "size_exact", "size_factor", "bits_per_weight",
		"quality_stars", "estimated_vram_gb",
	};
	struct model_variant v;
	json_t *j, *q;

	fill_variant(&v);
	j = render_json(render_variant_info, &v);
	assert_keys(j, keys, N_ELEMS(keys));
	assert_string_equal(json_string_value(json_object_get(j, "family")), "llama");
	assert_string_equal(json_string_value(json_object_get(j, "variant")), "llama-3.1-8b-instruct");
	assert_string_equal(json_string_value(json_object_get(j, "full_name")), "Llama 3.1 8B Instruct");
	assert_string_equal(json_string_value(json_object_get(j, "repo_id")),
			    "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF");
	assert_string_equal(json_string_value(json_object_get(j, "revision")),
			    "bf5b95e96dac0462e2a09145ec66cae9a3f12067");
	assert_string_equal(json_string_value(json_object_get(j, "architecture")), "llama");
	assert_true(json_real_value(json_object_get(j, "parameter_count")) == 8.03);
	assert_true(json_integer_value(json_object_get(j, "parameter_count_exact")) == 8030261248ll);
	assert_true(json_integer_value(json_object_get(j, "context_window")) == 131072);
	assert_true(json_is_false(json_object_get(j, "multimodal")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j,
		"additional_files"), 0), "path")), "mmproj-f16.gguf");
	assert_true(json_real_value(json_object_get(json_object_get(j, "recommended_parameters"),
						    "temperature")) == 0.6);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "sources"), "params")), "gguf");
	assert_null(json_object_get(j, "ignored"));
	assert_string_equal(json_string_value(json_object_get(j, "origin")), "catalog");
	assert_int_equal(json_array_size(json_object_get(j, "quantizations")), 2);

	q = json_array_get(json_object_get(j, "quantizations"), 0);
	assert_keys(q, qkeys, N_ELEMS(qkeys));
	assert_string_equal(json_string_value(json_object_get(q, "name")), "q4_k_m");
	assert_string_equal(json_string_value(json_object_get(q, "file_pattern")),
			    "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf");
	assert_true(json_integer_value(json_object_get(q, "size_bytes")) == 4920739232ll);
	assert_true(json_is_true(json_object_get(q, "size_exact")));
	assert_true(json_real_value(json_object_get(q, "size_factor")) == 0.3064);
	assert_true(json_real_value(json_object_get(q, "bits_per_weight")) == 4.89);
	assert_int_equal(json_integer_value(json_object_get(q, "quality_stars")), 3);
	assert_true(json_is_null(json_object_get(q, "estimated_vram_gb")));

	q = json_array_get(json_object_get(j, "quantizations"), 1);
	assert_keys(q, qkeys, N_ELEMS(qkeys));
	assert_string_equal(json_string_value(json_object_get(q, "name")), "q8_0");
	assert_true(json_is_null(json_object_get(q, "size_bytes")));
	assert_true(json_is_false(json_object_get(q, "size_exact")));
	assert_true(json_is_null(json_object_get(q, "size_factor")));
	assert_true(json_is_null(json_object_get(q, "bits_per_weight")));
	assert_true(json_is_null(json_object_get(q, "quality_stars")));
	json_decref(j);
}

static void test_variant_info_unknowns(void **state)
{
	static const char *const keys[] = {
		"family", "variant", "full_name", "repo_id", "revision", "architecture", "parameter_count",
		"context_window", "multimodal", "additional_files", "quantizations", "origin",
	};
	struct model_variant v;
	json_t *j, *q;

	fill_bare(&v);
	j = render_json(render_variant_info, &v);
	assert_keys(j, keys, N_ELEMS(keys));
	assert_true(json_is_null(json_object_get(j, "full_name")));
	assert_true(json_is_null(json_object_get(j, "revision")));
	assert_true(json_is_null(json_object_get(j, "architecture")));
	assert_true(json_is_null(json_object_get(j, "parameter_count")));
	assert_true(json_is_null(json_object_get(j, "context_window")));
	assert_int_equal(json_array_size(json_object_get(j, "additional_files")), 0);
	q = json_array_get(json_object_get(j, "quantizations"), 0);
	assert_true(json_is_null(json_object_get(q, "file_pattern")));
	assert_true(json_is_null(json_object_get(q, "size_bytes")));
	assert_true(json_is_null(json_object_get(q, "quality_stars")));
	json_decref(j);

	v.extra_json = (char *)"[1,2]";
	j = render_json(render_variant_info, &v);
	assert_keys(j, keys, N_ELEMS(keys));
	json_decref(j);
	v.extra_json = (char *)"{not json";
	j = render_json(render_variant_info, &v);
	assert_keys(j, keys, N_ELEMS(keys));
	json_decref(j);

	v.parameter_count_exact = 1235814400ull;
	j = render_json(render_variant_info, &v);
	assert_true(json_real_value(json_object_get(j, "parameter_count")) == 1.24);
	assert_true(json_integer_value(json_object_get(j, "parameter_count_exact")) == 1235814400ll);
	json_decref(j);
}

static void test_hostile_strings(void **state)
{
	struct model_variant v;
	json_t *j;

	fill_bare(&v);
	v.full_name = (char *)"bad \xff\xfe utf8 \"quoted\"\n\x01";
	j = render_json(render_variant_info, &v);
	assert_string_equal(json_string_value(json_object_get(j, "full_name")),
			    "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \"quoted\"\n\x01");
	json_decref(j);
}

static void test_deterministic_and_capped(void **state)
{
	struct model_variant v;
	struct sbuf a, b;

	fill_variant(&v);
	sbuf_init(&a, CAP_RENDER_BYTES);
	sbuf_init(&b, CAP_RENDER_BYTES);
	assert_int_equal(render_variant_info(&v, &a), 0);
	assert_int_equal(render_variant_info(&v, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	assert_null(strstr(a.buf, "0000000"));
	sbuf_release(&a);
	sbuf_release(&b);

	sbuf_init(&a, 100);
	assert_int_equal(render_variant_info(&v, &a), -EFBIG);
	sbuf_release(&a);
	sbuf_init(&a, 10);
	assert_int_equal(render_quant_status(&v, &v.quants[0], NULL, &a), -EFBIG);
	sbuf_release(&a);
}

static void fill_snapshot(struct registry_snapshot *s, struct model_variant *vs)
{
	fill_variant(&vs[0]);
	fill_bare(&vs[1]);
	vs[1].family = (char *)"llama";
	vs[1].variant = (char *)"llama-3.1-8b-instruct.v2";
	memset(s, 0, sizeof(*s));
	s->generation = 7;
	s->variants = vs;
	s->n_variants = 2;
}

static void test_registry_json(void **state)
{
	struct registry_snapshot s;
	struct model_variant vs[2];
	json_error_t err;
	struct sbuf sb;
	json_t *j, *models;

	fill_snapshot(&s, vs);
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_registry_json(&s, &sb), 0);
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, &err);
	assert_non_null(j);
	models = json_object_get(j, "models");
	assert_int_equal(json_array_size(models), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(models, 0), "variant")),
			    "llama-3.1-8b-instruct");
	assert_string_equal(json_string_value(json_object_get(json_array_get(models, 1), "variant")),
			    "llama-3.1-8b-instruct.v2");
	assert_int_equal(json_array_size(json_object_get(json_array_get(models, 0), "quantizations")), 2);
	json_decref(j);

	sbuf_reset(&sb);
	s.n_variants = 0;
	assert_int_equal(render_registry_json(&s, &sb), 0);
	j = json_loads(sb.buf, 0, &err);
	assert_int_equal(json_array_size(json_object_get(j, "models")), 0);
	json_decref(j);
	sbuf_release(&sb);
}

/* Splits a line into at most max tab-separated cells (in place). */
static size_t split_tabs(char *line, char **cells, size_t max)
{
	size_t n = 0;

	cells[n++] = line;
	for (; *line; line++) {
		if (*line == '\t') {
			*line = '\0';
			if (n == max)
				return max + 1;
			cells[n++] = line + 1;
		}
	}
	return n;
}

/* The snapshot holds "llama-3.1-8b-instruct" before "llama-3.1-8b-instruct.v2",
 * but byte-wise "...instruct.v2/" sorts before "...instruct/": rows follow the
 * path, so the .v2 row comes first. */
static void test_models_tsv(void **state)
{
	static const char *const header[] = {
		"path", "family", "variant", "quant", "params_b", "bits_per_weight", "size_bytes", "vram_mib_8k",
		"stars", "est_tg_tokens_per_s", "tg_tokens_per_s", "pp_tokens_per_s", "cache", "benchmark",
	};
	struct registry_snapshot s;
	struct model_variant vs[2];
	struct sbuf sb;
	char *lines[8], *cells[16], *p;
	size_t n_lines = 0, i;

	fill_snapshot(&s, vs);
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_models_tsv(&s, NULL, &sb), 0);
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	for (p = sb.buf; *p && n_lines < N_ELEMS(lines); ) {
		char *nl = strchr(p, '\n');

		assert_non_null(nl);
		*nl = '\0';
		lines[n_lines++] = p;
		p = nl + 1;
	}
	assert_int_equal(n_lines, 4);

	assert_int_equal(split_tabs(lines[0], cells, 16), N_ELEMS(header));
	for (i = 0; i < N_ELEMS(header); i++)
		assert_string_equal(cells[i], header[i]);

	assert_int_equal(split_tabs(lines[1], cells, 16), 14);
	assert_string_equal(cells[0], "llama/llama-3.1-8b-instruct.v2/f16");
	assert_string_equal(cells[4], "");
	assert_string_equal(cells[6], "");
	assert_string_equal(cells[8], "");

	assert_int_equal(split_tabs(lines[2], cells, 16), 14);
	assert_string_equal(cells[0], "llama/llama-3.1-8b-instruct/q4_k_m");
	assert_string_equal(cells[1], "llama");
	assert_string_equal(cells[2], "llama-3.1-8b-instruct");
	assert_string_equal(cells[3], "q4_k_m");
	assert_string_equal(cells[4], "8.03");
	assert_string_equal(cells[5], "4.89");
	assert_string_equal(cells[6], "4920739232");
	assert_string_equal(cells[7], "");
	assert_string_equal(cells[8], "3");
	assert_string_equal(cells[9], "");
	assert_string_equal(cells[10], "");
	assert_string_equal(cells[11], "");
	assert_string_equal(cells[12], "remote");
	assert_string_equal(cells[13], "untested");

	assert_int_equal(split_tabs(lines[3], cells, 16), 14);
	assert_string_equal(cells[0], "llama/llama-3.1-8b-instruct/q8_0");
	assert_string_equal(cells[5], "");
	assert_string_equal(cells[6], "");
	assert_string_equal(cells[8], "");
	sbuf_release(&sb);

	sbuf_init(&sb, CAP_RENDER_BYTES);
	s.n_variants = 0;
	assert_int_equal(render_models_tsv(&s, NULL, &sb), 0);
	assert_int_equal(strchr(sb.buf, '\n') - sb.buf + 1, (long)sb.len);
	sbuf_release(&sb);
}

static void test_arch(void **state)
{
	struct model_variant v;
	struct sbuf sb;
	json_t *j;

	fill_bare(&v);
	j = render_json(render_variant_arch, &v);
	assert_string_equal(json_string_value(json_object_get(j, "source")), "none");
	assert_int_equal(json_array_size(json_object_get(j, "warnings")), 1);
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(j, "warnings"), 0)),
			       "architecture not known"));
	json_decref(j);

	v.arch_json = (char *)"{\"architecture\":\"llama\",\"num_layers\":32,\"rope_theta\":500000.0,"
			      "\"eps\":1e-05,\"source\":\"gguf\",\"warnings\":[]}";
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_variant_arch(&v, &sb), 0);
	assert_string_equal(sb.buf,
			    "{\n"
			    "  \"architecture\": \"llama\",\n"
			    "  \"num_layers\": 32,\n"
			    "  \"rope_theta\": 500000.0,\n"
			    "  \"eps\": 1e-5,\n"
			    "  \"source\": \"gguf\",\n"
			    "  \"warnings\": []\n"
			    "}\n");
	sbuf_release(&sb);

	v.arch_json = (char *)"[1]";
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_variant_arch(&v, &sb), -EBADMSG);
	v.arch_json = (char *)"{\"a\":";
	assert_int_equal(render_variant_arch(&v, &sb), -EBADMSG);
	v.arch_json = (char *)"\"str\"";
	assert_int_equal(render_variant_arch(&v, &sb), -EBADMSG);
	sbuf_release(&sb);
}

static void test_quant_info(void **state)
{
	static const char *const keys[] = {
		"family", "variant", "quant", "repo_id", "revision", "files", "size_bytes", "size_exact",
		"bits_per_weight", "quality_stars", "cache", "estimate", "benchmark", "status",
	};
	struct model_variant v;
	struct sbuf sb;
	json_t *j, *f, *c;

	fill_variant(&v);
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_quant_info(&v, &v.quants[0], NULL, NULL, &sb), 0);
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	assert_keys(j, keys, N_ELEMS(keys));
	assert_string_equal(json_string_value(json_object_get(j, "quant")), "q4_k_m");
	assert_string_equal(json_string_value(json_object_get(j, "family")), "llama");
	f = json_array_get(json_object_get(j, "files"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "name")), "model.gguf");
	assert_string_equal(json_string_value(json_object_get(f, "upstream")),
			    "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf");
	assert_true(json_integer_value(json_object_get(f, "size_bytes")) == 4920739232ll);
	assert_int_equal(strlen(json_string_value(json_object_get(f, "sha256"))), 64);
	assert_true(json_integer_value(json_object_get(j, "size_bytes")) == 4920739232ll);
	assert_true(json_is_true(json_object_get(j, "size_exact")));
	assert_true(json_real_value(json_object_get(j, "bits_per_weight")) == 4.89);
	assert_int_equal(json_integer_value(json_object_get(j, "quality_stars")), 3);
	c = json_object_get(j, "cache");
	assert_string_equal(json_string_value(json_object_get(c, "state")), "remote");
	assert_int_equal(json_integer_value(json_object_get(c, "cached_bytes")), 0);
	assert_true(json_is_false(json_object_get(c, "pinned")));
	assert_true(json_is_null(json_object_get(c, "local_path")));
	assert_true(json_is_null(json_object_get(j, "estimate")));
	assert_true(json_is_null(json_object_get(j, "benchmark")));
	assert_string_equal(json_string_value(json_object_get(j, "status")), "untested");
	json_decref(j);

	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &v.quants[1], NULL, NULL, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "files")), 2);
	f = json_array_get(json_object_get(j, "files"), 1);
	assert_string_equal(json_string_value(json_object_get(f, "name")), "model-00002-of-00002.gguf");
	assert_true(json_is_null(json_object_get(f, "size_bytes")));
	assert_true(json_is_null(json_object_get(f, "sha256")));
	assert_true(json_is_null(json_object_get(j, "size_bytes")));
	assert_true(json_is_null(json_object_get(j, "bits_per_weight")));
	json_decref(j);
	sbuf_release(&sb);
}

/* The VRAM figures (issue 4): with an architecture they are core's
 * estimate at ctx 8192 (f16 cache, full offload) and, with a hardware
 * profile, the fit there; without one they stay unknown. */
static const char llama8b_arch[] =
	"{\"architecture\":\"llama\",\"num_layers\":32,\"hidden_size\":4096,"
	"\"intermediate_size\":14336,\"num_attention_heads\":32,\"num_kv_heads\":8,"
	"\"head_dim\":128,\"vocab_size\":128256,\"context_length\":131072}";

static uint64_t want_total_bytes(const struct model_variant *v, const struct model_quant *q)
{
	struct vram_params p;
	struct vram_estimate e;

	vram_params_init(&p, VRAM_KIND_VRAM);
	p.ctx_tokens = 8192;
	assert_int_equal(vram_estimate_quant(v, q, &p, &e, NULL), 0);
	assert_int_equal(e.kv_bytes, 1024ull << 20);   /* 128 KiB per token at f16 */
	return e.total_bytes;
}

static void test_estimates(void **state)
{
	const uint64_t mib = 1 << 20, gib = 1 << 30;
	struct hw_profile hw;
	struct model_variant v;
	struct registry_snapshot s;
	struct sbuf sb;
	char *cells[16], *line, *next;
	uint64_t total;
	json_t *j, *e, *f, *q;

	fill_variant(&v);
	v.arch_json = (char *)llama8b_arch;
	total = want_total_bytes(&v, &v.quants[0]);
	assert_true(total > 4920739232ull && total < 8 * gib);

	j = render_json(render_variant_info, &v);
	q = json_array_get(json_object_get(j, "quantizations"), 0);
	assert_true(json_real_value(json_object_get(q, "estimated_vram_gb")) ==
		    (double)((total * 100 + gib - 1) / gib) / 100.0);
	q = json_array_get(json_object_get(j, "quantizations"), 1);
	assert_true(json_is_null(json_object_get(q, "estimated_vram_gb")));
	json_decref(j);

	memset(&hw, 0, sizeof(hw));
	hw.gpu_vram_mib = 24576;
	hw.gpu_bandwidth_gbps = 1000;
	memset(&s, 0, sizeof(s));
	s.variants = &v;
	s.n_variants = 1;
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_models_tsv(&s, NULL, &sb), 0);
	line = strchr(sb.buf, '\n') + 1;
	*strchr(line, '\n') = '\0';
	assert_int_equal(split_tabs(line, cells, 16), 14);
	assert_int_equal(strtoull(cells[7], NULL, 10), (total + mib - 1) / mib);
	assert_string_equal(cells[9], "");
	sbuf_reset(&sb);
	assert_int_equal(render_models_tsv(&s, &hw, &sb), 0);
	line = strchr(sb.buf, '\n') + 1;
	next = strchr(line, '\n') + 1;
	next[-1] = '\0';
	assert_int_equal(split_tabs(line, cells, 16), 14);
	assert_true(strtod(cells[9], NULL) > 10);
	line = next;
	*strchr(line, '\n') = '\0';
	assert_int_equal(split_tabs(line, cells, 16), 14);
	assert_string_equal(cells[3], "q8_0");
	assert_string_equal(cells[7], "");
	assert_string_equal(cells[9], "");

	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &v.quants[0], NULL, NULL, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	e = json_object_get(j, "estimate");
	assert_int_equal(json_integer_value(json_object_get(e, "ctx")), 8192);
	assert_int_equal(json_integer_value(json_object_get(e, "vram_mib")), (total + mib - 1) / mib);
	assert_string_equal(json_string_value(json_object_get(e, "weights_source")), "file-size");
	assert_true(json_is_null(json_object_get(e, "fit")));
	json_decref(j);

	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &v.quants[0], NULL, &hw, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	f = json_object_get(json_object_get(j, "estimate"), "fit");
	assert_string_equal(json_string_value(json_object_get(f, "fits")), "full");
	assert_int_equal(json_integer_value(json_object_get(f, "gpu_vram_mib")), 24576);
	assert_int_equal(json_integer_value(json_object_get(f, "ngl")), 33);
	assert_int_equal(json_integer_value(json_object_get(f, "layers")), 33);
	assert_int_equal(json_integer_value(json_object_get(f, "gpu_mib")), (total + mib - 1) / mib);
	assert_true(json_integer_value(json_object_get(f, "max_ctx")) > 8192);
	assert_true(json_real_value(json_object_get(f, "est_tg_tokens_per_s")) > 10);
	json_decref(j);

	hw.gpu_vram_mib = 2048;
	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &v.quants[0], NULL, &hw, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	f = json_object_get(json_object_get(j, "estimate"), "fit");
	assert_string_equal(json_string_value(json_object_get(f, "fits")), "partial");
	assert_true(json_integer_value(json_object_get(f, "ngl")) < 33);
	assert_int_equal(json_integer_value(json_object_get(f, "max_ctx")), 0);
	json_decref(j);

	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &v.quants[1], NULL, &hw, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	assert_true(json_is_null(json_object_get(j, "estimate")));
	json_decref(j);
	sbuf_release(&sb);
}

static void test_quant_status(void **state)
{
	struct model_variant v;
	struct sbuf sb;

	fill_variant(&v);
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_quant_status(&v, &v.quants[0], NULL, &sb), 0);
	assert_string_equal(sb.buf, "cache=remote\ncached_bytes=0\nsize_bytes=4920739232\nprogress=0.0\n"
				    "benchmark=untested\n");
	sbuf_reset(&sb);
	assert_int_equal(render_quant_status(&v, &v.quants[1], NULL, &sb), 0);
	assert_string_equal(sb.buf, "cache=remote\ncached_bytes=0\nsize_bytes=\nprogress=0.0\n"
				    "benchmark=untested\n");
	sbuf_release(&sb);
}

static void test_quality_stars(void **state)
{
	double p, b;
	int prev_row[64], i;

	assert_int_equal(render_quality_stars(70, 4.85), 5);
	assert_in_range(render_quality_stars(8, 4.85), 3, 4);
	assert_in_range(render_quality_stars(1, 4.5), 1, 2);
	assert_in_range(render_quality_stars(8, 8.5), 4, 5);
	assert_int_equal(render_quality_stars(0.1, 2.0), 1);
	assert_int_equal(render_quality_stars(0, 4.85), 0);
	assert_int_equal(render_quality_stars(8, 0), 0);
	assert_int_equal(render_quality_stars(-1, 4), 0);
	assert_int_equal(render_quality_stars(8, -4), 0);

	for (i = 0; i < 64; i++)
		prev_row[i] = 0;
	for (p = 0.1; p < 800; p *= 1.5) {
		int prev = 0;

		for (i = 0, b = 1.0; i < 64; i++, b += 0.5) {
			int s = render_quality_stars(p, b);

			assert_in_range(s, 1, 5);
			assert_true(s >= prev);
			assert_true(s >= prev_row[i]);
			prev = s;
			prev_row[i] = s;
		}
	}
}

/* ------------------------------------------------------------------------
 * Benchmarks
 * ------------------------------------------------------------------------ */

static char *bench_argv[] = { (char *)"llama-bench", (char *)"-m", (char *)"/cache/model.gguf",
			      (char *)"-o", (char *)"json", NULL };

/* A run of the given state at time t; tested ones measured tg and pp. */
static void fill_run(struct bench_run *r, enum bench_status st, int64_t t, double tg, double pp)
{
	memset(r, 0, sizeof(*r));
	r->id = t;
	r->status = st;
	r->queued = t;
	r->started = st == BENCH_QUEUED ? 0 : t + 1;
	r->finished = st == BENCH_TESTED || st == BENCH_FAILED ? t + 60 : 0;
	snprintf(r->hw.gpu_name, sizeof(r->hw.gpu_name), "NVIDIA GeForce RTX 4090");
	r->hw.gpu_vram_mib = 24564;
	r->hw.gpu_bandwidth_gbps = 1008;
	r->argv = bench_argv;
	r->ctx_tokens = 8192;
	r->ngl = UINT32_MAX;
	r->peak_vram_mib = -1;
	r->estimate_vram_mib = 5821;
	if (st == BENCH_TESTED) {
		r->m.has_tg = tg >= 0;
		r->m.tg_tokens_per_s = tg;
		r->m.has_pp = pp >= 0;
		r->m.pp_tokens_per_s = pp;
		r->m.n_prompt = 512;
		r->m.n_gen = 128;
		r->peak_rss_mib = 6100;
		r->peak_vram_mib = 5900;
		r->raw = (char *)"[]";
	}
	if (st == BENCH_FAILED)
		r->error = (char *)"'llama-bench' not found; install llama.cpp\nor set bench_cmd";
}

static json_t *run_json(const struct bench_run *r)
{
	json_t *j = NULL;

	assert_int_equal(bench_run_to_json(r, &j), 0);
	assert_non_null(j);
	return j;
}

static json_t *render_bench_json(const struct model_quant *q)
{
	json_error_t err;
	struct sbuf sb;
	json_t *j;

	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_quant_benchmark(q, &sb), 0);
	assert_int_equal(sb.buf[sb.len - 1], '\n');
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("invalid JSON: %s\n%s", err.text, sb.buf);
	sbuf_release(&sb);
	return j;
}

/* benchmark.json: "untested" alone; else the latest run's object, its
 * keys in bench_run_to_json's order, then "history", newest first. */
static void test_quant_benchmark(void **state)
{
	static const char head[] = "{\n  \"status\": \"tested\",\n";
	struct model_quant q = quants[0];
	struct bench_run runs[3];
	json_t *j, *want, *h;
	const char *key;
	json_t *val;
	struct sbuf a, b;
	size_t i;

	q.bench = NULL;
	q.n_bench = 0;
	sbuf_init(&a, CAP_RENDER_BYTES);
	assert_int_equal(render_quant_benchmark(&q, &a), 0);
	assert_string_equal(a.buf, "{\n  \"status\": \"untested\"\n}\n");
	sbuf_release(&a);
	assert_int_equal(render_quant_benchmark(NULL, &a), -EINVAL);

	fill_run(&runs[0], BENCH_TESTED, 1000, 40.0, 1000.0);
	fill_run(&runs[1], BENCH_FAILED, 2000, 0, 0);
	fill_run(&runs[2], BENCH_TESTED, 3000, 42.5, 1234.5);
	q.bench = runs;
	q.n_bench = 3;
	j = render_bench_json(&q);
	want = run_json(&runs[2]);
	i = 0;
	json_object_foreach(j, key, val) {
		if (i < json_object_size(want)) {
			assert_true(json_equal(val, json_object_get(want, key)));
		} else {
			assert_string_equal(key, "history");
		}
		i++;
	}
	assert_int_equal(i, json_object_size(want) + 1);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "tested");
	assert_true(json_number_value(json_object_get(j, "tg_tokens_per_s")) == 42.5);
	h = json_object_get(j, "history");
	assert_int_equal(json_array_size(h), 2);
	json_decref(want);
	want = run_json(&runs[1]);
	assert_true(json_equal(json_array_get(h, 0), want));
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "status")), "failed");
	json_decref(want);
	want = run_json(&runs[0]);
	assert_true(json_equal(json_array_get(h, 1), want));
	json_decref(want);
	json_decref(j);

	sbuf_init(&a, CAP_RENDER_BYTES);
	sbuf_init(&b, CAP_RENDER_BYTES);
	assert_int_equal(render_quant_benchmark(&q, &a), 0);
	assert_int_equal(render_quant_benchmark(&q, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.buf, b.buf, a.len);
	assert_int_equal(strncmp(a.buf, head, strlen(head)), 0);
	sbuf_release(&a);
	sbuf_release(&b);

	q.n_bench = 1;
	j = render_bench_json(&q);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "tested");
	assert_int_equal(json_array_size(json_object_get(j, "history")), 0);
	json_decref(j);

	sbuf_init(&a, 64);
	q.n_bench = 3;
	assert_int_equal(render_quant_benchmark(&q, &a), -EFBIG);
	sbuf_release(&a);
}

/* models.tsv's measured columns come from the latest tested run (two
 * decimals; empty when it lacks that test), its benchmark column from the
 * latest run. */
static void test_models_tsv_bench(void **state)
{
	struct model_quant qs[2] = { quants[0], quants[1] };
	struct bench_run runs_q4[2], runs_q8[1];
	struct registry_snapshot s;
	struct model_variant v;
	struct sbuf sb;

	fill_variant(&v);
	v.quants = qs;
	fill_run(&runs_q4[0], BENCH_TESTED, 1000, 42.5, 1234.567);
	fill_run(&runs_q4[1], BENCH_FAILED, 2000, 0, 0);
	fill_run(&runs_q8[0], BENCH_QUEUED, 3000, 0, 0);
	qs[0].bench = runs_q4;
	qs[0].n_bench = 2;
	qs[1].bench = runs_q8;
	qs[1].n_bench = 1;
	memset(&s, 0, sizeof(s));
	s.variants = &v;
	s.n_variants = 1;
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_models_tsv(&s, NULL, &sb), 0);
	assert_string_equal(sb.buf,
		"path\tfamily\tvariant\tquant\tparams_b\tbits_per_weight\tsize_bytes\tvram_mib_8k\tstars\t"
		"est_tg_tokens_per_s\ttg_tokens_per_s\tpp_tokens_per_s\tcache\tbenchmark\n"
		"llama/llama-3.1-8b-instruct/q4_k_m\tllama\tllama-3.1-8b-instruct\tq4_k_m\t8.03\t4.89\t4920739232"
		"\t\t3\t\t42.50\t1234.57\tremote\tfailed\n"
		"llama/llama-3.1-8b-instruct/q8_0\tllama\tllama-3.1-8b-instruct\tq8_0\t8.03\t\t\t\t\t\t\t\tremote"
		"\tqueued\n");

	runs_q4[0].m.has_pp = false;
	qs[0].n_bench = 1;
	qs[1].n_bench = 0;
	sbuf_reset(&sb);
	assert_int_equal(render_models_tsv(&s, NULL, &sb), 0);
	assert_non_null(strstr(sb.buf, "\t4920739232\t\t3\t\t42.50\t\tremote\ttested\n"));
	assert_non_null(strstr(sb.buf, "\tq8_0\t8.03\t\t\t\t\t\t\t\tremote\tuntested\n"));
	sbuf_release(&sb);
}

/* status: benchmark= is the latest run's state; error= its reason when it
 * failed, unless the cache has an error to show. */
static void test_quant_status_bench(void **state)
{
	struct model_variant v;
	struct model_quant q;
	struct bench_run runs[3];
	struct render_cache cache = { .state = "partial", .cached_bytes = 1000, .error = "download failed: EIO" };
	struct sbuf sb;

	fill_variant(&v);
	q = v.quants[0];
	fill_run(&runs[0], BENCH_TESTED, 1000, 42.5, 1234.5);
	fill_run(&runs[1], BENCH_FAILED, 2000, 0, 0);
	fill_run(&runs[2], BENCH_RUNNING, 3000, 0, 0);
	q.bench = runs;
	q.n_bench = 2;
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_quant_status(&v, &q, NULL, &sb), 0);
	assert_string_equal(sb.buf, "cache=remote\ncached_bytes=0\nsize_bytes=4920739232\nprogress=0.0\n"
				    "benchmark=failed\n"
				    "error='llama-bench' not found; install llama.cpp or set bench_cmd\n");
	sbuf_reset(&sb);
	assert_int_equal(render_quant_status(&v, &q, &cache, &sb), 0);
	assert_string_equal(sb.buf, "cache=partial\ncached_bytes=1000\nsize_bytes=4920739232\nprogress=0.0\n"
				    "benchmark=failed\nerror=download failed: EIO\n");
	q.n_bench = 3;
	runs[2].error = (char *)"an earlier attempt failed";
	sbuf_reset(&sb);
	assert_int_equal(render_quant_status(&v, &q, NULL, &sb), 0);
	assert_string_equal(sb.buf, "cache=remote\ncached_bytes=0\nsize_bytes=4920739232\nprogress=0.0\n"
				    "benchmark=running\n");
	q.n_bench = 1;
	sbuf_reset(&sb);
	assert_int_equal(render_quant_status(&v, &q, NULL, &sb), 0);
	assert_string_equal(sb.buf, "cache=remote\ncached_bytes=0\nsize_bytes=4920739232\nprogress=0.0\n"
				    "benchmark=tested\n");
	runs[1].error = NULL;
	q.bench = &runs[1];
	sbuf_reset(&sb);
	assert_int_equal(render_quant_status(&v, &q, NULL, &sb), 0);
	assert_string_equal(sb.buf, "cache=remote\ncached_bytes=0\nsize_bytes=4920739232\nprogress=0.0\n"
				    "benchmark=failed\n");
	sbuf_release(&sb);
}

/* info.json: "benchmark" is the latest run, "status" its state, and the
 * estimate carries the latest tested run's measured peaks beside vram_mib. */
static void test_quant_info_bench(void **state)
{
	static const char *const ekeys[] = {
		"ctx", "vram_mib", "measured_peak_rss_mib", "measured_peak_vram_mib", "weights_source", "fit",
	};
	struct model_variant v;
	struct model_quant q;
	struct bench_run runs[2];
	struct sbuf sb;
	json_t *j, *e, *want;

	fill_variant(&v);
	v.arch_json = (char *)llama8b_arch;
	q = v.quants[0];
	fill_run(&runs[0], BENCH_TESTED, 1000, 42.5, 1234.5);
	fill_run(&runs[1], BENCH_FAILED, 2000, 0, 0);
	runs[1].peak_rss_mib = 77;
	q.bench = runs;
	q.n_bench = 2;
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_quant_info(&v, &q, NULL, NULL, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	want = run_json(&runs[1]);
	assert_true(json_equal(json_object_get(j, "benchmark"), want));
	json_decref(want);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
	e = json_object_get(j, "estimate");
	assert_keys(e, ekeys, N_ELEMS(ekeys));
	assert_int_equal(json_integer_value(json_object_get(e, "measured_peak_rss_mib")), 6100);
	assert_int_equal(json_integer_value(json_object_get(e, "measured_peak_vram_mib")), 5900);
	json_decref(j);

	runs[0].peak_rss_mib = 0;
	runs[0].peak_vram_mib = -1;
	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &q, NULL, NULL, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	e = json_object_get(j, "estimate");
	assert_true(json_is_null(json_object_get(e, "measured_peak_rss_mib")));
	assert_true(json_is_null(json_object_get(e, "measured_peak_vram_mib")));
	json_decref(j);

	runs[0].peak_vram_mib = 0;
	q.n_bench = 1;
	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &q, NULL, NULL, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "tested");
	e = json_object_get(j, "estimate");
	assert_int_equal(json_integer_value(json_object_get(e, "measured_peak_vram_mib")), 0);
	assert_true(json_is_integer(json_object_get(e, "measured_peak_vram_mib")));
	json_decref(j);

	q.bench = &runs[1];
	sbuf_reset(&sb);
	assert_int_equal(render_quant_info(&v, &q, NULL, NULL, &sb), 0);
	j = json_loads(sb.buf, JSON_REJECT_DUPLICATES, NULL);
	e = json_object_get(j, "estimate");
	assert_keys(e, ekeys, N_ELEMS(ekeys));
	assert_true(json_is_null(json_object_get(e, "measured_peak_rss_mib")));
	assert_true(json_is_null(json_object_get(e, "measured_peak_vram_mib")));
	json_decref(j);
	sbuf_release(&sb);
}

/* fit@'s decode speed estimate of q at ctx 8192 with hw. */
static double want_est_tg(const struct model_variant *v, const struct model_quant *q,
			  const struct hw_profile *hw)
{
	struct vram_params p;
	struct vram_model m;
	struct vram_fit *fit = calloc(1, sizeof(*fit));
	double tps;

	assert_non_null(fit);
	vram_params_init(&p, VRAM_KIND_FIT);
	assert_int_equal(p.ctx_tokens, 8192);
	assert_int_equal(vram_model_from_variant(&m, v, q, NULL), 0);
	assert_int_equal(vram_fit(&m, &p, hw, fit, NULL), 0);
	assert_true(fit->tg_known);
	tps = fit->est_tg_tokens_per_s;
	vram_model_release(&m);
	free(fit);
	return tps;
}

static void compare_want(struct sbuf *sb, const char *text, int rc_want, const struct registry_snapshot *s,
			 const struct model_variant *v, const struct model_quant *q,
			 const struct hw_profile *hw)
{
	sbuf_reset(sb);
	assert_int_equal(render_quant_compare(s, v, q, hw, sb), rc_want);
	if (!rc_want)
		assert_string_equal(sb->buf, text);
}

/* compare.tsv: every other quant with a known speed, measured before
 * estimated per quant, fastest first, ties by path; ratio to this one. */
static void test_quant_compare(void **state)
{
	struct model_quant qa[2] = { quants[0], quants[1] };
	struct model_quant qb[3] = {
		{ .name = (char *)"f16" },
		{ .name = (char *)"q2_k" },
		{ .name = (char *)"q8_0" },
	};
	struct bench_run runs_a8[2], runs_b16[1], runs_b8[1];
	struct model_variant vs[2];
	struct registry_snapshot s;
	struct hw_profile hw;
	char want[2048];
	struct sbuf sb;
	double e;

	fill_variant(&vs[0]);
	vs[0].arch_json = (char *)llama8b_arch;
	vs[0].quants = qa;
	fill_bare(&vs[1]);
	vs[1].family = (char *)"llama";
	vs[1].variant = (char *)"llama-3.1-8b-instruct.v2";
	vs[1].quants = qb;
	vs[1].n_quants = 3;
	fill_run(&runs_a8[0], BENCH_TESTED, 1000, 50.0, 900.0);
	fill_run(&runs_a8[1], BENCH_FAILED, 2000, 0, 0);
	qa[1].bench = runs_a8;
	qa[1].n_bench = 2;
	fill_run(&runs_b16[0], BENCH_TESTED, 1000, 80.5, 900.0);
	qb[0].bench = runs_b16;
	qb[0].n_bench = 1;
	fill_run(&runs_b8[0], BENCH_TESTED, 1000, 80.5, 900.0);
	qb[2].bench = runs_b8;
	qb[2].n_bench = 1;
	memset(&s, 0, sizeof(s));
	s.variants = vs;
	s.n_variants = 2;
	memset(&hw, 0, sizeof(hw));
	hw.gpu_vram_mib = 24576;
	hw.gpu_bandwidth_gbps = 1000;
	e = want_est_tg(&vs[0], &qa[0], &hw);
	assert_true(e > 80.5);

	sbuf_init(&sb, CAP_RENDER_BYTES);
	snprintf(want, sizeof(want),
		 "path\ttg_tokens_per_s\tratio\tbasis\n"
		 "llama/llama-3.1-8b-instruct.v2/f16\t80.50\t%.2f\tmeasured\n"
		 "llama/llama-3.1-8b-instruct.v2/q8_0\t80.50\t%.2f\tmeasured\n"
		 "llama/llama-3.1-8b-instruct/q8_0\t50.00\t%.2f\tmeasured\n", 80.5 / e, 80.5 / e, 50.0 / e);
	compare_want(&sb, want, 0, &s, &vs[0], &qa[0], &hw);

	snprintf(want, sizeof(want),
		 "path\ttg_tokens_per_s\tratio\tbasis\n"
		 "llama/llama-3.1-8b-instruct/q4_k_m\t%.1f\t%.2f\testimated\n"
		 "llama/llama-3.1-8b-instruct.v2/f16\t80.50\t1.61\tmeasured\n"
		 "llama/llama-3.1-8b-instruct.v2/q8_0\t80.50\t1.61\tmeasured\n", e, e / 50.0);
	compare_want(&sb, want, 0, &s, &vs[0], &qa[1], &hw);

	compare_want(&sb,
		     "path\ttg_tokens_per_s\tratio\tbasis\n"
		     "llama/llama-3.1-8b-instruct.v2/f16\t80.50\t\tmeasured\n"
		     "llama/llama-3.1-8b-instruct.v2/q8_0\t80.50\t\tmeasured\n"
		     "llama/llama-3.1-8b-instruct/q8_0\t50.00\t\tmeasured\n", 0, &s, &vs[0], &qa[0], NULL);

	compare_want(&sb,
		     "path\ttg_tokens_per_s\tratio\tbasis\n"
		     "llama/llama-3.1-8b-instruct.v2/q8_0\t80.50\t1.00\tmeasured\n"
		     "llama/llama-3.1-8b-instruct/q8_0\t50.00\t0.62\tmeasured\n", 0, &s, &vs[1], &qb[0], NULL);

	s.n_variants = 0;
	compare_want(&sb, "path\ttg_tokens_per_s\tratio\tbasis\n", 0, &s, &vs[0], &qa[0], &hw);
	compare_want(&sb, NULL, -EINVAL, &s, NULL, &qa[0], &hw);
	sbuf_release(&sb);
}

/* What benchmarks teach the estimates: a calibrated efficiency scales
 * every estimated decode speed, and recommend@ ranks (and shows) a quant
 * by its measured speed once a run measured it. */
static void test_measured_recommend(void **state)
{
	static struct model_file f8[] = {
		{ (char *)"model.gguf", (char *)"Meta-Llama-3.1-8B-Instruct-Q8_0.gguf", 8540775424ull, NULL,
		  FILE_ROLE_MODEL },
	};
	struct model_quant qs[2] = {
		quants[0],
		{ .name = (char *)"q8_0", .file_pattern = (char *)"Meta-Llama-3.1-8B-Instruct-Q8_0.gguf",
		  .size_bytes = 8540775424ull, .size_exact = true, .bits_per_weight = 8.5, .files = f8,
		  .n_files = 1 },
	};
	struct bench_run run;
	struct model_variant v;
	struct registry_snapshot s;
	struct vram_params p;
	struct hw_profile hw;
	struct sbuf sb;
	char *lines[4], *cells[16], *x;
	double e1, e2;
	size_t n;

	fill_variant(&v);
	v.arch_json = (char *)llama8b_arch;
	v.quants = qs;
	memset(&s, 0, sizeof(s));
	s.variants = &v;
	s.n_variants = 1;
	memset(&hw, 0, sizeof(hw));
	hw.gpu_vram_mib = 24576;
	hw.gpu_bandwidth_gbps = 1000;

	e1 = want_est_tg(&v, &qs[0], &hw);
	hw.tg_efficiency = 0.5;
	e2 = want_est_tg(&v, &qs[0], &hw);
	assert_true(fabs(e2 - e1 * 0.5) < 1e-9);
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(render_models_tsv(&s, &hw, &sb), 0);
	x = strchr(sb.buf, '\n') + 1;
	*strchr(x, '\n') = '\0';
	assert_int_equal(split_tabs(x, cells, 16), 14);
	assert_true(fabs(strtod(cells[9], NULL) - e2) <= 0.05);
	hw.tg_efficiency = 0;

	vram_params_init(&p, VRAM_KIND_RECOMMEND);
	p.prefer = VRAM_PREFER_SPEED;
	sbuf_reset(&sb);
	assert_int_equal(vram_render_recommend(&s, &p, &hw, &sb, NULL), 0);
	for (n = 0, x = sb.buf; n < 4 && *x; n++) {
		lines[n] = x;
		x = strchr(x, '\n');
		*x++ = '\0';
	}
	assert_int_equal(n, 3);
	assert_int_equal(split_tabs(lines[1], cells, 16), 6);
	assert_string_equal(cells[1], "llama/llama-3.1-8b-instruct/q4_k_m");

	fill_run(&run, BENCH_TESTED, 1000, 500.0, 900.0);
	qs[1].bench = &run;
	qs[1].n_bench = 1;
	sbuf_reset(&sb);
	assert_int_equal(vram_render_recommend(&s, &p, &hw, &sb, NULL), 0);
	for (n = 0, x = sb.buf; n < 4 && *x; n++) {
		lines[n] = x;
		x = strchr(x, '\n');
		*x++ = '\0';
	}
	assert_int_equal(n, 3);
	assert_int_equal(split_tabs(lines[1], cells, 16), 6);
	assert_string_equal(cells[1], "llama/llama-3.1-8b-instruct/q8_0");
	assert_string_equal(cells[5], "500.0");
	assert_int_equal(split_tabs(lines[2], cells, 16), 6);
	assert_string_equal(cells[1], "llama/llama-3.1-8b-instruct/q4_k_m");
	assert_true(fabs(strtod(cells[5], NULL) - e1) <= 0.05);

	run.status = BENCH_FAILED;
	sbuf_reset(&sb);
	assert_int_equal(vram_render_recommend(&s, &p, &hw, &sb, NULL), 0);
	assert_non_null(strstr(sb.buf, "\n1\tllama/llama-3.1-8b-instruct/q4_k_m\t"));
	sbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_variant_info),
		cmocka_unit_test(test_variant_info_unknowns),
		cmocka_unit_test(test_hostile_strings),
		cmocka_unit_test(test_deterministic_and_capped),
		cmocka_unit_test(test_registry_json),
		cmocka_unit_test(test_models_tsv),
		cmocka_unit_test(test_arch),
		cmocka_unit_test(test_quant_info),
		cmocka_unit_test(test_estimates),
		cmocka_unit_test(test_quant_status),
		cmocka_unit_test(test_quality_stars),
		cmocka_unit_test(test_quant_benchmark),
		cmocka_unit_test(test_models_tsv_bench),
		cmocka_unit_test(test_quant_status_bench),
		cmocka_unit_test(test_quant_info_bench),
		cmocka_unit_test(test_quant_compare),
		cmocka_unit_test(test_measured_recommend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
