/*
 * test_catalog.c - the catalog format, its loader, and the built-in catalog.
 *
 * The hostile table takes one good entry and breaks one field at a time
 * (replaced by another JSON value, or removed), so each case is a line:
 * the field, the new value, and a word the diagnostic must contain.  A few
 * raw documents cover what lies outside an entry.  The built-in catalog
 * compiled into the binary is parsed for real and checked against the
 * invariants the tree relies on.
 */
#include "core.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

static const char good_entries[] =
	"["
	"{\"family\": \"llama\", \"variant\": \"llama-3.1-8b-instruct\","
	" \"full_name\": \"Llama 3.1 8B Instruct\","
	" \"repo_id\": \"bartowski/Meta-Llama-3.1-8B-Instruct-GGUF\","
	" \"base_repo\": \"meta-llama/Llama-3.1-8B-Instruct\","
	" \"architecture\": \"llama\", \"parameter_count\": 8.03,"
	" \"parameter_count_exact\": 8030261248, \"context_window\": 131072, \"multimodal\": false,"
	" \"architecture_detail\": {\"num_layers\": 32, \"hidden_size\": 4096,"
	"   \"num_kv_heads\": 8, \"rope_theta\": 500000.0, \"rope_scaling\": {\"factor\": 8.0}},"
	" \"config\": {\"model_type\": \"llama\", \"rms_norm_eps\": 1e-05, \"num_hidden_layers\": 32},"
	" \"recommended_parameters\": {\"temperature\": 0.6, \"top_p\": 0.9},"
	" \"sources\": {\"architecture\": \"config.json\"},"
	" \"quantizations\": ["
	"   {\"name\": \"q4_k_m\", \"files\": [\"Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf\"],"
	"    \"size_bytes\": 4920739232, \"size_exact\": true, \"bits_per_weight\": 4.89},"
	"   {\"name\": \"q8_0\", \"files\": [\"Q8_0/Meta-Llama-3.1-8B-Instruct-Q8_0-00001-of-00003.gguf\","
	"     \"Q8_0/Meta-Llama-3.1-8B-Instruct-Q8_0-00002-of-00003.gguf\","
	"     \"Q8_0/Meta-Llama-3.1-8B-Instruct-Q8_0-00003-of-00003.gguf\"],"
	"    \"size_bytes\": 8540770784, \"bits_per_weight\": 8.5}]},"
	"{\"family\": \"gemma\", \"variant\": \"gemma-3-4b-it\", \"full_name\": \"Gemma 3 4B IT\","
	" \"repo_id\": \"unsloth/gemma-3-4b-it-GGUF\", \"architecture\": \"gemma3\","
	" \"parameter_count\": 4, \"context_window\": 131072, \"multimodal\": true,"
	" \"architecture_detail\": {\"architecture\": \"gemma3\", \"num_layers\": 34},"
	" \"mmproj\": \"mmproj-F16.gguf\","
	" \"quantizations\": ["
	"   {\"name\": \"q4_k_m\", \"files\": [\"gemma-3-4b-it-Q4_K_M.gguf\"], \"size_bytes\": 2489757856},"
	"   {\"name\": \"bf16\", \"files\": [\"gemma-3-4b-it-BF16.gguf\"], \"size_bytes\": 7767803136,"
	"    \"size_exact\": false, \"bits_per_weight\": 16}]}"
	"]";

/* {"catalog_version": version, "models": entries}, new: free with free(). */
static char *catalog_text(int version, json_t *entries)
{
	json_t *root = json_pack("{s:i,s:O}", "catalog_version", version, "models", entries);
	char *text;

	assert_non_null(root);
	text = json_dumps(root, JSON_COMPACT);
	assert_non_null(text);
	json_decref(root);
	return text;
}

static char *empty_catalog(int version)
{
	json_t *m = json_array();
	char *text;

	assert_non_null(m);
	text = catalog_text(version, m);
	json_decref(m);
	return text;
}

static json_t *good_models(void)
{
	json_error_t err;
	json_t *j = json_loads(good_entries, 0, &err);

	if (!j)
		fail_msg("good_entries: %s at %d", err.text, err.position);
	return j;
}

static char *good_catalog(int version)
{
	json_t *m = good_models();
	char *text = catalog_text(version, m);

	json_decref(m);
	return text;
}

/* Sets (or deletes, when value is NULL) the field at path inside model 0,
 * a dotted path whose numeric parts index arrays. */
static void set_path(json_t *model, const char *path, const char *value)
{
	char buf[128], *part, *dot;
	json_t *cur = model, *next, *v = NULL;
	json_error_t err;

	snprintf(buf, sizeof(buf), "%s", path);
	part = buf;
	for (;;) {
		dot = strchr(part, '.');
		if (dot)
			*dot = '\0';
		if (!dot)
			break;
		next = json_is_array(cur) ? json_array_get(cur, strtoul(part, NULL, 10))
					  : json_object_get(cur, part);
		assert_non_null(next);
		cur = next;
		part = dot + 1;
	}
	if (value) {
		v = json_loads(value, JSON_DECODE_ANY, &err);
		if (!v)
			fail_msg("bad test value %s: %s", value, err.text);
	}
	if (json_is_array(cur)) {
		assert_non_null(v);
		assert_int_equal(json_array_set_new(cur, strtoul(part, NULL, 10), v), 0);
	} else if (v) {
		assert_int_equal(json_object_set_new(cur, part, v), 0);
	} else {
		json_object_del(cur, part);
	}
}

static void expect_invalid(const char *what, const char *text, size_t len, const char *needle)
{
	struct model_variant *vs = (struct model_variant *)1;
	size_t n = 99;
	struct diag d;
	int rc;

	diag_init(&d);
	rc = catalog_parse(text, len, &vs, &n, &d);
	if (rc != -EINVAL || !strstr(d.msg, needle))
		fail_msg("case '%s': rc %d, diag '%s' (want '%s')", what, rc, d.msg, needle);
	assert_int_equal(d.code, -EINVAL);
	assert_null(vs);
	assert_int_equal(n, 0);
	assert_null(strchr(d.msg, '\n'));
}

/* ------------------------------------------------------------------------
 * The good mini catalog, field by field.
 * ------------------------------------------------------------------------ */

static json_t *parse_object(const char *text);

/* The first mini entry embeds a config.json that gives only the layer
 * count: architecture.json takes it from there, and the rest from the
 * catalog's architecture_detail, each field naming its source. */
static void check_merged_arch(const char *arch_json)
{
	json_t *o = parse_object(arch_json);
	json_t *src = json_object_get(o, "field_sources");

	assert_string_equal(json_string_value(json_object_get(o, "architecture")), "llama");
	assert_int_equal(json_integer_value(json_object_get(o, "num_layers")), 32);
	assert_int_equal(json_integer_value(json_object_get(o, "hidden_size")), 4096);
	assert_int_equal(json_integer_value(json_object_get(o, "num_kv_heads")), 8);
	assert_true(json_real_value(json_object_get(o, "rope_theta")) == 500000.0);
	assert_true(json_real_value(json_object_get(json_object_get(o, "rope_scaling"), "factor")) == 8.0);
	assert_string_equal(json_string_value(json_object_get(src, "num_layers")), "config.json");
	assert_string_equal(json_string_value(json_object_get(src, "hidden_size")), "catalog");
	assert_string_equal(json_string_value(json_object_get(src, "num_kv_heads")), "catalog");
	assert_string_equal(json_string_value(json_object_get(o, "source")), "catalog");
	assert_true(json_is_array(json_object_get(o, "warnings")));
	json_decref(o);
}

static void test_good_catalog(void **state)
{
	struct model_variant *vs;
	const struct model_variant *v;
	const struct model_quant *q;
	char *text = good_catalog(3);
	struct diag d;
	size_t n, i;

	(void)state;
	diag_init(&d);
	assert_int_equal(catalog_parse(text, strlen(text), &vs, &n, &d), 0);
	free(text);
	assert_int_equal(n, 2);

	v = &vs[0];
	assert_string_equal(v->family, "llama");
	assert_string_equal(v->variant, "llama-3.1-8b-instruct");
	assert_string_equal(v->full_name, "Llama 3.1 8B Instruct");
	assert_string_equal(v->repo_id, "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF");
	assert_string_equal(v->base_repo, "meta-llama/Llama-3.1-8B-Instruct");
	assert_null(v->revision);
	assert_string_equal(v->architecture, "llama");
	assert_string_equal(v->origin, "catalog");
	assert_true(v->parameter_count_b == 8.03);
	assert_true(v->parameter_count_exact == 8030261248ull);
	assert_true(v->context_window == 131072);
	assert_false(v->multimodal);
	check_merged_arch(v->arch_json);
	assert_string_equal(v->config_json,
			    "{\"model_type\":\"llama\",\"rms_norm_eps\":1e-5,\"num_hidden_layers\":32}");
	assert_string_equal(v->extra_json,
			    "{\"recommended_parameters\":{\"temperature\":0.6,\"top_p\":0.9},"
			    "\"sources\":{\"architecture\":\"config.json\"}}");
	assert_int_equal(v->n_quants, 2);
	q = &v->quants[0];
	assert_string_equal(q->name, "q4_k_m");
	assert_string_equal(q->file_pattern, "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf");
	assert_true(q->size_bytes == 4920739232ull);
	assert_true(q->size_exact);
	assert_true(q->bits_per_weight == 4.89);
	assert_int_equal(q->quality_stars, render_quality_stars(8.03, 4.89));
	assert_int_equal(q->n_files, 1);
	assert_string_equal(q->files[0].name, "model.gguf");
	assert_string_equal(q->files[0].upstream, "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf");
	assert_true(q->files[0].size_bytes == 4920739232ull);
	assert_null(q->files[0].sha256);
	assert_int_equal(q->files[0].role, FILE_ROLE_MODEL);
	q = &v->quants[1];
	assert_string_equal(q->name, "q8_0");
	assert_string_equal(q->file_pattern, "Meta-Llama-3.1-8B-Instruct-Q8_0-00001-of-00003.gguf");
	assert_false(q->size_exact);
	assert_int_equal(q->n_files, 3);
	for (i = 0; i < 3; i++) {
		char want[64];

		snprintf(want, sizeof(want), "model-%05zu-of-00003.gguf", i + 1);
		assert_string_equal(q->files[i].name, want);
		assert_true(q->files[i].size_bytes == 0);
		assert_int_equal(q->files[i].role, FILE_ROLE_MODEL);
	}
	assert_string_equal(q->files[2].upstream, "Q8_0/Meta-Llama-3.1-8B-Instruct-Q8_0-00003-of-00003.gguf");

	v = &vs[1];
	assert_string_equal(v->variant, "gemma-3-4b-it");
	assert_true(v->multimodal);
	assert_null(v->base_repo);
	assert_null(v->config_json);
	assert_true(v->parameter_count_exact == 0);
	assert_string_equal(v->arch_json,
			    "{\"architecture\":\"gemma3\",\"num_layers\":34,\"source\":\"catalog\",\"warnings\":[]}");
	assert_string_equal(v->extra_json,
			    "{\"additional_files\":[{\"name\":\"mmproj.gguf\",\"path\":\"mmproj-F16.gguf\"}]}");
	for (i = 0; i < v->n_quants; i++) {
		q = &v->quants[i];
		assert_int_equal(q->n_files, 2);
		assert_string_equal(q->files[0].name, "model.gguf");
		assert_true(q->files[0].size_bytes == 0);
		assert_string_equal(q->files[1].name, "mmproj.gguf");
		assert_string_equal(q->files[1].upstream, "mmproj-F16.gguf");
		assert_int_equal(q->files[1].role, FILE_ROLE_MMPROJ);
	}
	assert_int_equal(v->quants[0].quality_stars, 0);
	assert_int_equal(v->quants[1].quality_stars, render_quality_stars(4, 16));

	for (i = 0; i < n; i++)
		registry_variant_release(&vs[i]);
	free(vs);

	text = empty_catalog(0);
	vs = (struct model_variant *)1;
	assert_int_equal(catalog_parse(text, strlen(text), &vs, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(vs);
	free(text);
}

/* ------------------------------------------------------------------------
 * Hostile input
 * ------------------------------------------------------------------------ */

struct raw_case {
	const char *text;
	const char *needle;
};

static const struct raw_case raw_cases[] = {
	{ "", "not valid JSON" },
	{ "not json", "not valid JSON" },
	{ "{\"catalog_version\": 1, \"models\": []", "not valid JSON" },
	{ "{\"catalog_version\": 1, \"models\": []} x", "not valid JSON" },
	{ "{\"catalog_version\": 1, \"models\": [], \"models\": []}", "not valid JSON" },
	{ "{\"catalog_version\": 99999999999999999999, \"models\": []}", "not valid JSON" },
	{ "{\"catalog_version\": 1, \"models\": [{\"parameter_count\": 1e400}]}", "not valid JSON" },
	{ "{\"catalog_version\": 1, \"models\": [{\"family\": \"a\\u0000b\"}]}", "not valid JSON" },
	{ "[]", "not an object" },
	{ "\"catalog\"", "not valid JSON" },
	{ "{}", "catalog_version" },
	{ "{\"catalog_version\": 1}", "'models'" },
	{ "{\"catalog_version\": \"3\", \"models\": []}", "catalog_version" },
	{ "{\"catalog_version\": -1, \"models\": []}", "catalog_version" },
	{ "{\"catalog_version\": 1.5, \"models\": []}", "catalog_version" },
	{ "{\"catalog_version\": 4294967296, \"models\": []}", "catalog_version" },
	{ "{\"catalog_version\": 1, \"models\": {}}", "'models'" },
	{ "{\"catalog_version\": 1, \"models\": null}", "'models'" },
	{ "{\"catalog_version\": 1, \"models\": [], \"comment\": 1}", "'comment'" },
	{ "{\"catalog_version\": 1, \"models\": [1]}", "models[0]" },
	{ "{\"catalog_version\": 1, \"models\": [null]}", "models[0]" },
	{ "{\"catalog_version\": 1, \"models\": [[]]}", "models[0]" },
	{ "{\"catalog_version\": 1, \"models\": [{}]}", "'family': missing" },
};

struct field_case {
	const char *path;     /* inside model 0 */
	const char *value;    /* JSON, or NULL to remove the field */
	const char *needle;
};

static const struct field_case field_cases[] = {
	{ "family", NULL, "'family': missing" },
	{ "family", "\"Llama\"", "not a valid name" },
	{ "family", "\"\"", "empty" },
	{ "family", "\"a/b\"", "not a valid name" },
	{ "family", "7", "expected a string" },
	{ "family", "\"registry.json\"", "registry.json" },
	{ "variant", NULL, "'variant': missing" },
	{ "variant", "\"x y\"", "not a valid name" },
	{ "variant", "\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" "\"", "not a valid name" },
	{ "full_name", NULL, "'full_name': missing" },
	{ "full_name", "\"\"", "empty" },
	{ "full_name", "\"a\\nb\"", "control" },
	{ "full_name", "5", "expected a string" },
	{ "repo_id", NULL, "'repo_id': missing" },
	{ "repo_id", "\"noslash\"", "repo id" },
	{ "repo_id", "\"a/b/c\"", "repo id" },
	{ "repo_id", "\"-a/b\"", "repo id" },
	{ "repo_id", "\"a/b--c\"", "repo id" },
	{ "repo_id", "\"a/\"", "repo id" },
	{ "repo_id", "\"a b/c\"", "repo id" },
	{ "base_repo", "\"x\"", "'base_repo'" },
	{ "base_repo", "null", "expected a string" },
	{ "revision", "\"\"", "'revision'" },
	{ "revision", "1", "'revision'" },
	{ "architecture", NULL, "'architecture': missing" },
	{ "architecture", "\"Llama\"", "not a valid name" },
	{ "parameter_count", NULL, "'parameter_count': missing" },
	{ "parameter_count", "\"8\"", "expected a number" },
	{ "parameter_count", "0", "out of range" },
	{ "parameter_count", "-1", "out of range" },
	{ "parameter_count", "1e9", "out of range" },
	{ "parameter_count", "true", "expected a number" },
	{ "parameter_count_exact", "-5", "out of range" },
	{ "parameter_count_exact", "1.5", "expected an integer" },
	{ "parameter_count_exact", "80000000000", "disagrees" },
	{ "parameter_count_exact", "9223372036854775807", "out of range" },
	{ "context_window", NULL, "'context_window': missing" },
	{ "context_window", "0", "out of range" },
	{ "context_window", "-1", "out of range" },
	{ "context_window", "\"8192\"", "expected an integer" },
	{ "context_window", "8192.0", "expected an integer" },
	{ "context_window", "9223372036854775807", "out of range" },
	{ "multimodal", NULL, "'multimodal': missing" },
	{ "multimodal", "\"no\"", "expected true or false" },
	{ "multimodal", "0", "expected true or false" },
	{ "multimodal", "true", "'mmproj': missing" },
	{ "mmproj", "\"mmproj.gguf\"", "multimodal is false" },
	{ "architecture_detail", "[]", "expected an object" },
	{ "architecture_detail", "{\"source\": \"gguf\"}", "architecture_detail.source" },
	{ "architecture_detail", "{\"warnings\": []}", "architecture_detail.warnings" },
	{ "architecture_detail", "{\"num_layers\": null}", "null" },
	{ "architecture_detail", "{\"num_layers\": -1}", "negative" },
	{ "architecture_detail", "{\"Num Layers\": 1}", "not a valid field name" },
	{ "architecture_detail", "{\"architecture\": \"qwen2\"}", "does not match" },
	{ "architecture_detail", "{\"architecture\": 5}", "does not match" },
	{ "config", "\"x\"", "'config'" },
	{ "config", "[]", "'config'" },
	{ "recommended_parameters", "[1]", "'recommended_parameters'" },
	{ "recommended_parameters", "{\"temperature\": {}}", "recommended_parameters.temperature" },
	{ "recommended_parameters", "{\"temperature\": null}", "recommended_parameters.temperature" },
	{ "sources", "{\"config\": 1}", "sources.config" },
	{ "sources", "\"x\"", "'sources'" },
	{ "foo", "1", "'foo': unknown field" },
	{ "quantizations", NULL, "'quantizations': missing" },
	{ "quantizations", "[]", "1 to" },
	{ "quantizations", "{}", "expected an array" },
	{ "quantizations", "[1]", "quantizations[0]" },
	{ "quantizations.0.name", NULL, "quantizations[0].name': missing" },
	{ "quantizations.0.name", "\"Q4_K_M\"", "not a valid name" },
	{ "quantizations.0.name", "\"info.json\"", "info.json" },
	{ "quantizations.1.name", "\"q4_k_m\"", "twice" },
	{ "quantizations.0.files", NULL, "quantizations[0].files': missing" },
	{ "quantizations.0.files", "[]", "1 to" },
	{ "quantizations.0.files", "\"x.gguf\"", "expected an array" },
	{ "quantizations.0.files", "[1]", "files[0]" },
	{ "quantizations.0.files", "[\"/abs.gguf\"]", "relative path" },
	{ "quantizations.0.files", "[\"../x.gguf\"]", "relative path" },
	{ "quantizations.0.files", "[\"a/./x.gguf\"]", "relative path" },
	{ "quantizations.0.files", "[\"a\\\\x.gguf\"]", "relative path" },
	{ "quantizations.0.files", "[\"x.bin\"]", "not a .gguf file" },
	{ "quantizations.0.files", "[\"a.gguf\", \"b.gguf\"]", "-00001-of-00002.gguf" },
	{ "quantizations.0.files", "[\"a-00001-of-00002.gguf\", \"a-00001-of-00002.gguf\"]", "files[1]" },
	{ "quantizations.0.files", "[\"a-00001-of-00003.gguf\", \"a-00002-of-00003.gguf\"]", "of-00002" },
	{ "quantizations.0.files", "[\"a-1-of-2.gguf\", \"a-2-of-2.gguf\"]", "-00001-of-00002.gguf" },
	{ "quantizations.0.files", "[\"d/-00001-of-00002.gguf\", \"d/-00002-of-00002.gguf\"]", "files[0]" },
	{ "quantizations.0.size_bytes", NULL, "size_bytes': missing" },
	{ "quantizations.0.size_bytes", "0", "out of range" },
	{ "quantizations.0.size_bytes", "-1", "out of range" },
	{ "quantizations.0.size_bytes", "\"1\"", "expected an integer" },
	{ "quantizations.0.size_bytes", "1.5", "expected an integer" },
	{ "quantizations.0.size_bytes", "2000000000000000000", "out of range" },
	{ "quantizations.0.size_exact", "\"yes\"", "expected true or false" },
	{ "quantizations.0.bits_per_weight", "0", "out of range" },
	{ "quantizations.0.bits_per_weight", "100", "out of range" },
	{ "quantizations.0.bits_per_weight", "\"4\"", "expected a number" },
	{ "quantizations.0.extra", "1", "quantizations[0].extra': unknown field" },
};

static void test_hostile_raw(void **state)
{
	static const char nul_doc[] = "{\"catalog_version\": 1,\0 \"models\": []}";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++)
		expect_invalid(raw_cases[i].text, raw_cases[i].text, strlen(raw_cases[i].text),
			       raw_cases[i].needle);
	expect_invalid("NUL inside", nul_doc, sizeof(nul_doc) - 1, "not valid JSON");
	expect_invalid("NULL text", NULL, 0, "no catalog");
	expect_invalid("too large", "{}", CAP_CATALOG_BYTES + 1, "too large");
}

static void test_hostile_fields(void **state)
{
	char what[160];
	json_t *models;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
		models = good_models();
		set_path(json_array_get(models, 0), field_cases[i].path, field_cases[i].value);
		text = catalog_text(1, models);
		snprintf(what, sizeof(what), "%s = %s", field_cases[i].path,
			 field_cases[i].value ? field_cases[i].value : "(removed)");
		expect_invalid(what, text, strlen(text), field_cases[i].needle);
		expect_invalid(what, text, strlen(text), "models[0]");
		free(text);
		json_decref(models);
	}
}

static void test_duplicates(void **state)
{
	json_t *models = good_models();
	struct model_variant *vs;
	char *text;
	size_t n;

	(void)state;
	json_array_append(models, json_array_get(models, 0));
	text = catalog_text(1, models);
	expect_invalid("duplicate family/variant", text, strlen(text), "models[2]: 'llama/llama-3.1-8b-instruct' is already models[0]");
	free(text);
	json_decref(models);

	models = good_models();
	set_path(json_array_get(models, 1), "variant", "\"llama-3.1-8b-instruct\"");
	text = catalog_text(1, models);
	assert_int_equal(catalog_parse(text, strlen(text), &vs, &n, NULL), 0);
	assert_int_equal(n, 2);
	registry_variant_release(&vs[0]);
	registry_variant_release(&vs[1]);
	free(vs);
	free(text);
	json_decref(models);
}

/* ------------------------------------------------------------------------
 * Loading into a registry
 * ------------------------------------------------------------------------ */

struct tmp_registry {
	char dir[64];
	struct registry *reg;
};

static void tmp_open(struct tmp_registry *t)
{
	struct diag d;

	snprintf(t->dir, sizeof(t->dir), "/tmp/mf-test-catalog-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	diag_init(&d);
	assert_int_equal(registry_open(t->dir, &t->reg, &d), 0);
}

static void tmp_close(struct tmp_registry *t)
{
	static const char *const names[] = { "registry.db", "registry.db-wal", "registry.db-shm", NULL };
	char path[128];
	size_t i;

	registry_close(t->reg);
	for (i = 0; names[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", t->dir, names[i]);
		unlink(path);
	}
	rmdir(t->dir);
}

static struct registry_snapshot *snap(struct registry *reg)
{
	struct registry_snapshot *s = NULL;

	assert_int_equal(registry_snapshot_get(reg, &s), 0);
	return s;
}

static void assert_meta(struct registry *reg, const char *key, const char *want)
{
	char *val = NULL;

	assert_int_equal(registry_meta_get(reg, key, &val), 0);
	if (!want)
		assert_null(val);
	else
		assert_string_equal(val, want);
	free(val);
}

static void test_load_once(void **state)
{
	struct tmp_registry t;
	struct registry_snapshot *s;
	struct model_variant *vs;
	uint64_t gen;
	char *text;
	struct diag d;
	size_t n, i;

	(void)state;
	tmp_open(&t);
	text = good_catalog(1);
	diag_init(&d);
	assert_int_equal(catalog_load(t.reg, "test", text, strlen(text), &d), 0);
	assert_meta(t.reg, "catalog:test", "1");
	s = snap(t.reg);
	assert_int_equal(s->n_variants, 2);
	assert_int_equal(registry_find_variant(s, "gemma", "gemma-3-4b-it")->quants[0].n_files, 2);
	registry_snapshot_put(t.reg, s);

	assert_int_equal(registry_remove(t.reg, "llama", "llama-3.1-8b-instruct", NULL, NULL), 0);
	s = snap(t.reg);
	gen = s->generation;
	registry_snapshot_put(t.reg, s);
	assert_int_equal(catalog_load(t.reg, "test", text, strlen(text), &d), 0);
	s = snap(t.reg);
	assert_true(s->generation == gen);
	assert_int_equal(s->n_variants, 1);
	registry_snapshot_put(t.reg, s);
	free(text);

	text = good_catalog(2);
	assert_int_equal(catalog_parse(text, strlen(text), &vs, &n, NULL), 0);
	free(vs[1].origin);
	vs[1].origin = strdup("hub");
	free(vs[1].full_name);
	vs[1].full_name = strdup("Mine");
	assert_int_equal(registry_put_variant(t.reg, &vs[1], NULL), 0);
	for (i = 0; i < n; i++)
		registry_variant_release(&vs[i]);
	free(vs);
	assert_int_equal(catalog_load(t.reg, "test", text, strlen(text), &d), 0);
	free(text);
	assert_meta(t.reg, "catalog:test", "2");
	s = snap(t.reg);
	assert_int_equal(s->n_variants, 2);
	assert_string_equal(registry_find_variant(s, "gemma", "gemma-3-4b-it")->full_name, "Mine");
	assert_string_equal(registry_find_variant(s, "gemma", "gemma-3-4b-it")->origin, "hub");
	assert_string_equal(registry_find_variant(s, "llama", "llama-3.1-8b-instruct")->origin, "catalog");
	registry_snapshot_put(t.reg, s);

	text = empty_catalog(7);
	assert_int_equal(catalog_load(t.reg, "empty", text, strlen(text), &d), 0);
	free(text);
	assert_meta(t.reg, "catalog:empty", "7");
	assert_int_equal(catalog_load(t.reg, "", "{}", 2, &d), -EINVAL);
	tmp_close(&t);
}

static void test_load_all_or_nothing(void **state)
{
	struct tmp_registry t;
	struct registry_snapshot *s;
	json_t *models;
	char *text;
	struct diag d;

	(void)state;
	tmp_open(&t);
	models = good_models();
	set_path(json_array_get(models, 1), "quantizations.1.files", "[\"../escape.gguf\"]");
	text = catalog_text(1, models);
	json_decref(models);
	diag_init(&d);
	assert_int_equal(catalog_load(t.reg, "test", text, strlen(text), &d), -EINVAL);
	assert_non_null(strstr(d.msg, "models[1]"));
	assert_non_null(strstr(d.msg, "quantizations[1].files[0]"));
	free(text);
	assert_meta(t.reg, "catalog:test", NULL);
	s = snap(t.reg);
	assert_int_equal(s->n_variants, 0);
	registry_snapshot_put(t.reg, s);
	tmp_close(&t);
}

/* ------------------------------------------------------------------------
 * The built-in catalog
 * ------------------------------------------------------------------------ */

static json_t *parse_object(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);

	if (!j || !json_is_object(j))
		fail_msg("not a JSON object: %s", text);
	return j;
}

static void check_builtin_variant(const struct model_variant *v)
{
	size_t i, j, n_model, n_mmproj;
	json_t *o;

	assert_true(parse_is_name(v->family));
	assert_true(parse_is_name(v->variant));
	assert_string_equal(v->origin, "catalog");
	assert_non_null(v->full_name);
	assert_non_null(strchr(v->repo_id, '/'));
	assert_true(parse_is_name(v->architecture));
	assert_true(v->parameter_count_b > 0);
	assert_true(v->context_window > 0);
	if (!v->arch_json)
		fail_msg("%s/%s has no architecture_detail", v->family, v->variant);
	o = parse_object(v->arch_json);
	assert_string_equal(json_string_value(json_object_get(o, "source")),
			    v->config_json ? "config.json" : "catalog");
	assert_true(json_is_array(json_object_get(o, "warnings")));
	assert_string_equal(json_string_value(json_object_get(o, "architecture")), v->architecture);
	json_decref(o);
	if (v->config_json)
		json_decref(parse_object(v->config_json));
	if (v->extra_json) {
		o = parse_object(v->extra_json);
		assert_int_equal(v->multimodal, json_object_get(o, "additional_files") != NULL);
		json_decref(o);
	} else {
		assert_false(v->multimodal);
	}
	assert_true(v->n_quants >= 1);
	for (i = 0; i < v->n_quants; i++) {
		const struct model_quant *q = &v->quants[i];

		assert_true(parse_is_name(q->name));
		for (j = 0; j < i; j++)
			assert_true(strcmp(v->quants[j].name, q->name) != 0);
		assert_true(q->size_bytes > 0);
		assert_non_null(q->file_pattern);
		n_model = n_mmproj = 0;
		for (j = 0; j < q->n_files; j++) {
			assert_true(parse_is_name(q->files[j].name));
			assert_non_null(q->files[j].upstream);
			if (q->files[j].role == FILE_ROLE_MMPROJ) {
				assert_string_equal(q->files[j].name, "mmproj.gguf");
				n_mmproj++;
			} else {
				n_model++;
			}
		}
		if (n_model < 1)
			fail_msg("%s/%s/%s has no model file", v->family, v->variant, q->name);
		assert_int_equal(n_mmproj, v->multimodal ? 1 : 0);
	}
}

static void test_builtin(void **state)
{
	struct model_variant *vs = NULL;
	struct tmp_registry t;
	struct registry_snapshot *s;
	const char *text;
	size_t len, n = 0, i, j;
	struct diag d;
	int rc;

	(void)state;
	text = catalog_builtin(&len);
	assert_non_null(text);
	assert_true(len > 0);
	diag_init(&d);
	rc = catalog_parse(text, len, &vs, &n, &d);
	if (rc)
		fail_msg("the built-in catalog does not parse: %s", d.msg);
	for (i = 0; i < n; i++) {
		check_builtin_variant(&vs[i]);
		for (j = 0; j < i; j++) {
			if (!strcmp(vs[i].family, vs[j].family) && !strcmp(vs[i].variant, vs[j].variant))
				fail_msg("duplicate %s/%s", vs[i].family, vs[i].variant);
		}
	}
	print_message("built-in catalog: %zu models, %zu bytes\n", n, len);

	tmp_open(&t);
	diag_init(&d);
	assert_int_equal(catalog_load(t.reg, "builtin", text, len, &d), 0);
	s = snap(t.reg);
	assert_int_equal(s->n_variants, n);
	for (i = 0; i < n; i++)
		assert_non_null(registry_find_variant(s, vs[i].family, vs[i].variant));
	registry_snapshot_put(t.reg, s);
	tmp_close(&t);

	for (i = 0; i < n; i++)
		registry_variant_release(&vs[i]);
	free(vs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_catalog),
		cmocka_unit_test(test_hostile_raw),
		cmocka_unit_test(test_hostile_fields),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_load_once),
		cmocka_unit_test(test_load_all_or_nothing),
		cmocka_unit_test(test_builtin),
	};

	log_configure(LOG_WARN, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
