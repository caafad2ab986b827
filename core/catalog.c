/*
 * catalog.c - the models present on first start (SPEC §2 catalog=).
 *
 * A catalog is one JSON document, {"catalog_version": N, "models": [...]},
 * whose format core/catalog/README.md documents.  The built-in one,
 * core/catalog/builtin.json, is compiled into the binary (embed.cmake) so a
 * fresh mount shows models without touching the network; catalog=PATH
 * names another file of the same format.
 *
 * Parsing is strict and all-or-nothing.  The catalog is outside data (a
 * user's file, or ours edited by hand), and a typo that silently dropped a
 * field would surface much later as a wrong VRAM estimate, so every entry
 * is checked against a fixed list of fields and types, unknown fields and
 * duplicate keys are errors, and the first error fails the whole catalog
 * with -EINVAL and a message naming the entry index and the field:
 * "bad catalog entry models[3], field 'quantizations[1].name': ...".
 * Each parsed entry is then run through the registry's own validation, so
 * a catalog that parses is one the registry accepts.
 *
 * An entry becomes a struct model_variant with origin "catalog".  Its
 * architecture_detail becomes architecture.json with "source": "catalog"
 * and an empty "warnings" list appended; when the entry embeds its upstream
 * config.json, that object is read by the config.json reader instead and
 * the catalog's values only fill what it leaves out (merge_config_arch);
 * the config object itself is kept as compact text; recommended_parameters, the mmproj file and the
 * sources go into extra_json.  A quant of one file shows it as model.gguf;
 * a split quant keeps llama.cpp's shard suffix, model-00001-of-00003.gguf,
 * so llama.cpp opening the first shard finds the others (SPEC §3).  A
 * multimodal entry's mmproj file appears as mmproj.gguf in every quant.
 * Sizes of the individual files are unknown (0) until the Hub listing is
 * read, except for a single-file quant whose size_bytes is marked exact.
 * Reals are written with 15 significant digits, the most that survive a
 * decimal-binary-decimal round trip, so 0.6 stays 0.6.
 *
 * Loading is once per catalog version: the registry's meta key
 * "catalog:<name>" records the version loaded, so a model the user
 * unregistered stays gone across remounts until the catalog's version
 * changes.  A new version is written in one transaction with one snapshot
 * rebuild, and never replaces a variant the user registered from the Hub
 * or a local file (origin other than "catalog").
 */
#include "core.h"
#include "registry_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

extern const unsigned char catalog_builtin_data[];
extern const size_t catalog_builtin_size;

#define CATALOG_MAX_VERSION        INT32_MAX
#define CATALOG_MAX_PARAMS_B       100000.0                  /* billions of parameters */
#define CATALOG_MAX_PARAMS_EXACT   INT64_C(100000000000000)  /* 1e14 parameters */
#define CATALOG_PARAMS_TOLERANCE   0.10                      /* parameter_count vs parameter_count_exact */
#define CATALOG_MAX_CONTEXT        (INT64_C(1) << 30)        /* tokens */
#define CATALOG_MAX_SIZE_BYTES     (INT64_C(1) << 50)        /* 1 PiB per quant */
#define CATALOG_MAX_BPW            64.0                      /* bits per weight */
#define CATALOG_MAX_QUANTS         256                       /* per entry */
#define CATALOG_MAX_SHARDS         256                       /* files per quant */
#define CATALOG_REPO_PART_MAX      96                        /* bytes of ORG or NAME (Hub limit) */
#define CATALOG_SHOW_MAX           64                        /* bytes of a value quoted in a message */
#define CATALOG_JSON_FLAGS         (JSON_COMPACT | JSON_REAL_PRECISION(15))

static const char *const catalog_top_keys[] = { "catalog_version", "models", NULL };

static const char *const catalog_entry_keys[] = {
	"family", "variant", "full_name", "repo_id", "base_repo", "revision", "architecture",
	"parameter_count", "parameter_count_exact", "context_window", "multimodal",
	"architecture_detail", "config", "recommended_parameters", "sources", "mmproj",
	"quantizations", NULL
};

static const char *const catalog_quant_keys[] = {
	"name", "files", "size_bytes", "size_exact", "bits_per_weight", NULL
};

const char *catalog_builtin(size_t *len_out)
{
	if (len_out)
		*len_out = catalog_builtin_size;
	return (const char *)catalog_builtin_data;
}

/* One entry being parsed: where errors point. */
struct entry {
	struct diag *d;
	size_t index;             /* in "models" */
	char prefix[40];          /* of the fields being read: "" or "quantizations[2]." */
	char field[96];           /* scratch for a nested field's name */
};

static int bad(struct entry *e, const char *field, const char *fmt, ...) MF_PRINTF(3, 4);

static int bad(struct entry *e, const char *field, const char *fmt, ...)
{
	char why[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return diag_fail(e->d, -EINVAL, "bad catalog entry models[%zu], field '%s%s': %s; fix the catalog",
			 e->index, e->prefix, field, why);
}

static const char *field_at(struct entry *e, const char *fmt, ...) MF_PRINTF(2, 3);

static const char *field_at(struct entry *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->field, sizeof(e->field), fmt, ap);
	va_end(ap);
	return e->field;
}

static const char *show(const char *s, char buf[CATALOG_SHOW_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] && i < CATALOG_SHOW_MAX; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static const char *type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static bool in_list(const char *key, const char *const *list)
{
	for (; *list; list++) {
		if (!strcmp(key, *list))
			return true;
	}
	return false;
}

static bool text_is_clean(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Hub repo ids: ORG/NAME, each part 1..96 bytes of [A-Za-z0-9._-], not
 * starting or ending with '.' or '-', without "--" or "..". */
static bool repo_part_is_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CATALOG_REPO_PART_MAX)
		return false;
	if (s[0] == '-' || s[0] == '.' || s[len - 1] == '-' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
		if (i > 0 && (c == '-' || c == '.') && s[i - 1] == c)
			return false;
	}
	return true;
}

static bool repo_id_is_valid(const char *s)
{
	const char *slash = strchr(s, '/');

	return slash && repo_part_is_valid(s, (size_t)(slash - s)) &&
	       repo_part_is_valid(slash + 1, strlen(slash + 1));
}

static int check_keys(struct entry *e, json_t *obj, const char *const *known)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		if (!in_list(key, known)) {
			char b[CATALOG_SHOW_MAX + 4];

			return bad(e, show(key, b), "unknown field");
		}
	}
	return 0;
}

static int get_string(struct entry *e, json_t *obj, const char *key, bool required,
		      const char **out)
{
	json_t *j = json_object_get(obj, key);

	*out = NULL;
	if (!j)
		return required ? bad(e, key, "missing") : 0;
	if (!json_is_string(j))
		return bad(e, key, "expected a string, got %s", type_name(j));
	*out = json_string_value(j);
	if (!**out)
		return bad(e, key, "empty string");
	if (!text_is_clean(*out))
		return bad(e, key, "control characters are not allowed");
	return 0;
}

static int get_name(struct entry *e, json_t *obj, const char *key, const char **out)
{
	char b[CATALOG_SHOW_MAX + 4];
	int rc;

	rc = get_string(e, obj, key, true, out);
	if (rc)
		return rc;
	if (!parse_is_name(*out))
		return bad(e, key, "'%s' is not a valid name (use [a-z0-9][a-z0-9._-]*, at most %d bytes)",
			   show(*out, b), NAME_MAX_BYTES - 1);
	return 0;
}

/* An integer in [min, max]; absent is 0 unless required. */
static int get_int(struct entry *e, json_t *obj, const char *key, bool required,
		   json_int_t min, json_int_t max, json_int_t *out)
{
	json_t *j = json_object_get(obj, key);

	*out = 0;
	if (!j)
		return required ? bad(e, key, "missing") : 0;
	if (!json_is_integer(j))
		return bad(e, key, "expected an integer, got %s", type_name(j));
	*out = json_integer_value(j);
	if (*out < min || *out > max)
		return bad(e, key, "%" JSON_INTEGER_FORMAT " is out of range (%" JSON_INTEGER_FORMAT
			   " to %" JSON_INTEGER_FORMAT ")", *out, min, max);
	return 0;
}

/* A number in (0, max]; absent is 0 unless required. */
static int get_positive(struct entry *e, json_t *obj, const char *key, bool required,
			double max, double *out)
{
	json_t *j = json_object_get(obj, key);

	*out = 0;
	if (!j)
		return required ? bad(e, key, "missing") : 0;
	if (!json_is_number(j))
		return bad(e, key, "expected a number, got %s", type_name(j));
	*out = json_number_value(j);
	if (!isfinite(*out) || *out <= 0 || *out > max)
		return bad(e, key, "%g is out of range (more than 0, at most %g)", *out, max);
	return 0;
}

static int get_bool(struct entry *e, json_t *obj, const char *key, bool required,
		    bool *out)
{
	json_t *j = json_object_get(obj, key);

	*out = false;
	if (!j)
		return required ? bad(e, key, "missing") : 0;
	if (!json_is_boolean(j))
		return bad(e, key, "expected true or false, got %s", type_name(j));
	*out = json_is_true(j);
	return 0;
}

static int get_object(struct entry *e, json_t *obj, const char *key, json_t **out)
{
	json_t *j = json_object_get(obj, key);

	*out = NULL;
	if (!j)
		return 0;
	if (!json_is_object(j))
		return bad(e, key, "expected an object, got %s", type_name(j));
	*out = j;
	return 0;
}

static int dup_str(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* Serializes j compactly; -EINVAL past CAP_CONFIG_JSON_BYTES. */
static int dump_json(struct entry *e, const char *field, json_t *j, char **out)
{
	*out = json_dumps(j, CATALOG_JSON_FLAGS);
	if (!*out)
		return -ENOMEM;
	if (strlen(*out) > CAP_CONFIG_JSON_BYTES) {
		free(*out);
		*out = NULL;
		return bad(e, field, "larger than %u bytes", CAP_CONFIG_JSON_BYTES);
	}
	return 0;
}

static bool detail_key_is_valid(const char *key)
{
	const char *p;

	if (!*key)
		return false;
	for (p = key; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

/* architecture.json: the detail's fields in their order, "architecture"
 * first when the detail leaves it out, then "source" and "warnings". */
static int build_arch_json(struct entry *e, json_t *detail, const char *arch, char **out)
{
	char b[CATALOG_SHOW_MAX + 4];
	const char *key;
	json_t *o, *val, *a;
	int rc = -ENOMEM;

	*out = NULL;
	a = json_object_get(detail, "architecture");
	if (a && (!json_is_string(a) || strcmp(json_string_value(a), arch)))
		return bad(e, "architecture_detail.architecture", "does not match 'architecture' ('%s')", arch);
	json_object_foreach(detail, key, val) {
		if (!strcmp(key, "source") || !strcmp(key, "warnings"))
			return bad(e, field_at(e, "architecture_detail.%s", key),
				   "set by modelfs; remove it");
		if (!detail_key_is_valid(key))
			return bad(e, field_at(e, "architecture_detail.%s", show(key, b)),
				   "not a valid field name (use [a-z0-9_]+)");
		if (json_is_null(val))
			return bad(e, field_at(e, "architecture_detail.%s", key),
				   "null is not allowed; leave an unknown field out");
		if (json_is_integer(val) && json_integer_value(val) < 0)
			return bad(e, field_at(e, "architecture_detail.%s", key), "negative");
	}
	o = json_object();
	if (!o)
		return -ENOMEM;
	if (!a && json_object_set_new(o, "architecture", json_string(arch)))
		goto out_free;
	json_object_foreach(detail, key, val) {
		if (json_object_set(o, key, val))
			goto out_free;
	}
	if (json_object_set_new(o, "source", json_string("catalog")) ||
	    json_object_set_new(o, "warnings", json_array()))
		goto out_free;
	rc = dump_json(e, "architecture_detail", o, out);
out_free:
	json_decref(o);
	return rc;
}

static int check_scalars(struct entry *e, json_t *obj, const char *what, bool strings_only)
{
	char b[CATALOG_SHOW_MAX + 4];
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		if (!*key || !text_is_clean(key))
			return bad(e, field_at(e, "%s.%s", what, show(key, b)), "not a valid field name");
		if (json_is_string(val) && text_is_clean(json_string_value(val)))
			continue;
		if (!strings_only && (json_is_number(val) || json_is_boolean(val)))
			continue;
		return bad(e, field_at(e, "%s.%s", what, show(key, b)), "expected %s, got %s",
			   strings_only ? "a string" : "a number, string or boolean", type_name(val));
	}
	return 0;
}

/* extra_json: recommended_parameters, additional_files, sources; NULL when
 * none is present. */
static int build_extra_json(struct entry *e, json_t *rec, const char *mmproj, json_t *sources, char **out)
{
	json_t *o, *files = NULL, *file = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!rec && !mmproj && !sources)
		return 0;
	o = json_object();
	if (!o)
		return -ENOMEM;
	if (rec && json_object_set(o, "recommended_parameters", rec))
		goto out_free;
	if (mmproj) {
		files = json_array();
		file = json_pack("{s:s,s:s}", "name", "mmproj.gguf", "path", mmproj);
		if (!files || !file || json_array_append(files, file) ||
		    json_object_set(o, "additional_files", files))
			goto out_free;
	}
	if (sources && json_object_set(o, "sources", sources))
		goto out_free;
	rc = dump_json(e, "sources", o, out);
out_free:
	json_decref(file);
	json_decref(files);
	json_decref(o);
	return rc;
}

static int check_model_path(struct entry *e, const char *field, const char *path)
{
	char b[CATALOG_SHOW_MAX + 4];

	if (!registry_upstream_is_valid(path))
		return bad(e, field, "'%s' is not a relative path inside the repo", show(path, b));
	if (!ends_with(path, ".gguf"))
		return bad(e, field, "'%s' is not a .gguf file", show(path, b));
	return 0;
}

/* SPEC §3: split files keep llama.cpp's "-NNNNN-of-NNNNN.gguf" naming. */
static bool shard_suffix_ok(const char *path, size_t i, size_t n)
{
	char want[40];
	size_t lp = strlen(path), lw;

	snprintf(want, sizeof(want), "-%05zu-of-%05zu.gguf", i + 1, n);
	lw = strlen(want);
	return lp > lw && !strcmp(path + lp - lw, want) && path[lp - lw - 1] != '/';
}

static int quant_files(struct entry *e, json_t *files, const char *mmproj, bool exact,
		       struct model_quant *q)
{
	size_t i, j, n;
	const char *path, *field;
	json_t *f;
	char name[40];
	int rc;

	if (!json_is_array(files))
		return bad(e, "files", "expected an array, got %s", type_name(files));
	n = json_array_size(files);
	if (n == 0 || n > CATALOG_MAX_SHARDS)
		return bad(e, "files", "expected 1 to %d files, got %zu", CATALOG_MAX_SHARDS, n);
	for (i = 0; i < n; i++) {
		f = json_array_get(files, i);
		field = field_at(e, "files[%zu]", i);
		if (!json_is_string(f))
			return bad(e, field, "expected a string, got %s", type_name(f));
		path = json_string_value(f);
		rc = check_model_path(e, field, path);
		if (rc)
			return rc;
		if (n > 1 && !shard_suffix_ok(path, i, n))
			return bad(e, field, "split file %zu of %zu must end in '-%05zu-of-%05zu.gguf'",
				   i + 1, n, i + 1, n);
		for (j = 0; j < i; j++) {
			if (!strcmp(json_string_value(json_array_get(files, j)), path))
				return bad(e, field, "listed twice");
		}
		if (mmproj && !strcmp(mmproj, path))
			return bad(e, field, "same file as 'mmproj'");
	}
	q->files = calloc(n + (mmproj ? 1 : 0), sizeof(*q->files));
	if (!q->files)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct model_file *mf = &q->files[q->n_files++];

		if (n == 1)
			snprintf(name, sizeof(name), "model.gguf");
		else
			snprintf(name, sizeof(name), "model-%05zu-of-%05zu.gguf", i + 1, n);
		mf->role = FILE_ROLE_MODEL;
		mf->size_bytes = n == 1 && exact ? q->size_bytes : 0;
		rc = dup_str(name, &mf->name);
		if (!rc)
			rc = dup_str(json_string_value(json_array_get(files, i)), &mf->upstream);
		if (rc)
			return rc;
	}
	if (mmproj) {
		struct model_file *mf = &q->files[q->n_files++];

		mf->role = FILE_ROLE_MMPROJ;
		rc = dup_str("mmproj.gguf", &mf->name);
		if (!rc)
			rc = dup_str(mmproj, &mf->upstream);
		if (rc)
			return rc;
	}
	return dup_str(base_name(json_string_value(json_array_get(files, 0))), &q->file_pattern);
}

static int quant_parse(struct entry *e, json_t *arr, size_t qi, const struct model_variant *v,
		       const char *mmproj)
{
	json_t *qj = json_array_get(arr, qi);
	struct model_quant *q = &v->quants[qi];
	const char *name;
	json_int_t size;
	json_t *files;
	size_t j;
	int rc, stars;

	if (!json_is_object(qj))
		return bad(e, field_at(e, "quantizations[%zu]", qi), "expected an object, got %s",
			   type_name(qj));
	snprintf(e->prefix, sizeof(e->prefix), "quantizations[%zu].", qi);
	rc = check_keys(e, qj, catalog_quant_keys);
	if (!rc)
		rc = get_name(e, qj, "name", &name);
	if (rc)
		return rc;
	for (j = 0; j < qi; j++) {
		if (!strcmp(v->quants[j].name, name))
			return bad(e, "name", "quant '%s' is listed twice", name);
	}
	rc = dup_str(name, &q->name);
	if (!rc)
		rc = get_int(e, qj, "size_bytes", true, 1, CATALOG_MAX_SIZE_BYTES, &size);
	if (!rc)
		rc = get_bool(e, qj, "size_exact", false, &q->size_exact);
	if (!rc)
		rc = get_positive(e, qj, "bits_per_weight", false, CATALOG_MAX_BPW, &q->bits_per_weight);
	if (rc)
		return rc;
	q->size_bytes = (uint64_t)size;
	files = json_object_get(qj, "files");
	if (!files)
		return bad(e, "files", "missing");
	rc = quant_files(e, files, mmproj, q->size_exact, q);
	if (rc)
		return rc;
	e->prefix[0] = '\0';
	stars = q->bits_per_weight > 0 ? render_quality_stars(v->parameter_count_b, q->bits_per_weight) : 0;
	q->quality_stars = stars < 0 ? 0 : stars > 5 ? 5 : stars;
	return 0;
}

static int entry_numbers(struct entry *e, json_t *obj, struct model_variant *v)
{
	json_int_t exact, ctx;
	double ratio;
	int rc;

	rc = get_positive(e, obj, "parameter_count", true, CATALOG_MAX_PARAMS_B,
			  &v->parameter_count_b);
	if (!rc)
		rc = get_int(e, obj, "parameter_count_exact", false, 1,
			     CATALOG_MAX_PARAMS_EXACT, &exact);
	if (!rc)
		rc = get_int(e, obj, "context_window", true, 1, CATALOG_MAX_CONTEXT, &ctx);
	if (!rc)
		rc = get_bool(e, obj, "multimodal", true, &v->multimodal);
	if (rc)
		return rc;
	v->parameter_count_exact = (uint64_t)exact;
	v->context_window = (uint64_t)ctx;
	if (exact) {
		ratio = (double)exact / 1e9 / v->parameter_count_b;
		if (ratio < 1 - CATALOG_PARAMS_TOLERANCE || ratio > 1 + CATALOG_PARAMS_TOLERANCE)
			return bad(e, "parameter_count_exact", "%" JSON_INTEGER_FORMAT
				   " disagrees with parameter_count %g (billions)", exact, v->parameter_count_b);
	}
	return 0;
}

static int entry_strings(struct entry *e, json_t *obj, struct model_variant *v)
{
	const char *family, *variant, *full_name, *repo_id, *base_repo, *revision, *arch;
	char b[CATALOG_SHOW_MAX + 4];
	int rc;

	rc = get_name(e, obj, "family", &family);
	if (!rc)
		rc = get_name(e, obj, "variant", &variant);
	if (!rc)
		rc = get_string(e, obj, "full_name", true, &full_name);
	if (!rc)
		rc = get_string(e, obj, "repo_id", true, &repo_id);
	if (!rc && !repo_id_is_valid(repo_id))
		rc = bad(e, "repo_id", "'%s' is not a Hub repo id (ORG/NAME)", show(repo_id, b));
	if (!rc)
		rc = get_string(e, obj, "base_repo", false, &base_repo);
	if (!rc && base_repo && !repo_id_is_valid(base_repo))
		rc = bad(e, "base_repo", "'%s' is not a Hub repo id (ORG/NAME)", show(base_repo, b));
	if (!rc)
		rc = get_string(e, obj, "revision", false, &revision);
	if (!rc)
		rc = get_name(e, obj, "architecture", &arch);
	if (rc)
		return rc;
	rc = dup_str(family, &v->family);
	if (!rc)
		rc = dup_str(variant, &v->variant);
	if (!rc)
		rc = dup_str(full_name, &v->full_name);
	if (!rc)
		rc = dup_str(repo_id, &v->repo_id);
	if (!rc)
		rc = dup_str(base_repo, &v->base_repo);
	if (!rc)
		rc = dup_str(revision, &v->revision);
	if (!rc)
		rc = dup_str(arch, &v->architecture);
	if (!rc)
		rc = dup_str("catalog", &v->origin);
	return rc;
}

/* An entry that embeds its upstream config.json gets architecture.json the
 * way a registered model does: fields read from config.json by the same
 * reader (with its sources and its warnings for library defaults), and the
 * catalog's own values only where the config is silent. */
static int merge_config_arch(struct entry *e, struct model_variant *v)
{
	struct arch from_cfg, from_cat;
	struct diag inner;
	struct sbuf out;
	int rc;

	arch_init(&from_cfg);
	arch_init(&from_cat);
	sbuf_init(&out, CAP_CONFIG_JSON_BYTES);
	diag_init(&inner);
	rc = arch_from_hfcfg(v->config_json, strlen(v->config_json), &from_cfg, &inner);
	if (rc) {
		rc = bad(e, "config", "not readable as config.json: %s", inner.msg);
		goto out_release;
	}
	if (v->arch_json) {
		rc = arch_from_json(v->arch_json, strlen(v->arch_json), ARCH_SRC_CATALOG, &from_cat, &inner);
		if (rc) {
			rc = bad(e, "architecture_detail", "%s", inner.msg);
			goto out_release;
		}
		rc = arch_merge(&from_cfg, &from_cat);
		if (rc)
			goto out_release;
	}
	rc = arch_to_json(&from_cfg, &out);
	if (rc)
		goto out_release;
	free(v->arch_json);
	v->arch_json = sbuf_detach(&out, NULL);
out_release:
	sbuf_release(&out);
	arch_release(&from_cat);
	arch_release(&from_cfg);
	return rc;
}

static int entry_json(struct entry *e, json_t *obj, struct model_variant *v, const char *mmproj)
{
	json_t *detail, *config, *rec, *sources;
	int rc;

	rc = get_object(e, obj, "architecture_detail", &detail);
	if (!rc)
		rc = get_object(e, obj, "config", &config);
	if (!rc)
		rc = get_object(e, obj, "recommended_parameters", &rec);
	if (!rc)
		rc = get_object(e, obj, "sources", &sources);
	if (!rc && rec)
		rc = check_scalars(e, rec, "recommended_parameters", false);
	if (!rc && sources)
		rc = check_scalars(e, sources, "sources", true);
	if (!rc && detail)
		rc = build_arch_json(e, detail, v->architecture, &v->arch_json);
	if (!rc && config)
		rc = dump_json(e, "config", config, &v->config_json);
	if (!rc && config)
		rc = merge_config_arch(e, v);
	if (!rc)
		rc = build_extra_json(e, rec, mmproj, sources, &v->extra_json);
	return rc;
}

static int entry_parse(json_t *obj, size_t index, struct model_variant *v, struct diag *d)
{
	struct entry e = { .d = d, .index = index };
	struct diag inner;
	const char *mmproj;
	json_t *quants;
	size_t i, n;
	int rc;

	if (!json_is_object(obj))
		return diag_fail(d, -EINVAL, "bad catalog entry models[%zu]: expected an object, got %s; fix the catalog",
				 index, type_name(obj));
	rc = check_keys(&e, obj, catalog_entry_keys);
	if (!rc)
		rc = entry_strings(&e, obj, v);
	if (!rc)
		rc = entry_numbers(&e, obj, v);
	if (!rc)
		rc = get_string(&e, obj, "mmproj", false, &mmproj);
	if (rc)
		return rc;
	if (v->multimodal && !mmproj)
		return bad(&e, "mmproj", "missing (required when multimodal is true)");
	if (!v->multimodal && mmproj)
		return bad(&e, "mmproj", "given, but multimodal is false");
	if (mmproj) {
		rc = check_model_path(&e, "mmproj", mmproj);
		if (rc)
			return rc;
	}
	rc = entry_json(&e, obj, v, mmproj);
	if (rc)
		return rc;

	quants = json_object_get(obj, "quantizations");
	if (!quants)
		return bad(&e, "quantizations", "missing");
	if (!json_is_array(quants))
		return bad(&e, "quantizations", "expected an array, got %s", type_name(quants));
	n = json_array_size(quants);
	if (n == 0 || n > CATALOG_MAX_QUANTS)
		return bad(&e, "quantizations", "expected 1 to %d quantizations, got %zu", CATALOG_MAX_QUANTS, n);
	v->quants = calloc(n, sizeof(*v->quants));
	if (!v->quants)
		return -ENOMEM;
	v->n_quants = n;
	for (i = 0; i < n; i++) {
		rc = quant_parse(&e, quants, i, v, mmproj);
		if (rc)
			return rc;
	}

	diag_init(&inner);
	rc = registry_variant_check(v, &inner);
	if (rc)
		return diag_fail(d, rc, "bad catalog entry models[%zu]: %s", index, inner.msg);
	return 0;
}

struct dup_key {
	const struct model_variant *v;
	size_t index;
};

static int dup_key_cmp(const void *a, const void *b)
{
	const struct dup_key *ka = a, *kb = b;
	int c = strcmp(ka->v->family, kb->v->family);

	if (!c)
		c = strcmp(ka->v->variant, kb->v->variant);
	if (!c)
		c = ka->index < kb->index ? -1 : ka->index > kb->index;
	return c;
}

static int check_duplicates(const struct model_variant *vs, size_t n, struct diag *d)
{
	struct dup_key *keys;
	size_t i;
	int rc = 0;

	if (n < 2)
		return 0;
	keys = calloc(n, sizeof(*keys));
	if (!keys)
		return diag_fail(d, -ENOMEM, "out of memory reading the catalog");
	for (i = 0; i < n; i++) {
		keys[i].v = &vs[i];
		keys[i].index = i;
	}
	qsort(keys, n, sizeof(*keys), dup_key_cmp);
	for (i = 1; i < n && !rc; i++) {
		if (!strcmp(keys[i].v->family, keys[i - 1].v->family) &&
		    !strcmp(keys[i].v->variant, keys[i - 1].v->variant))
			rc = diag_fail(d, -EINVAL,
				       "bad catalog entry models[%zu]: '%s/%s' is already models[%zu]; remove one",
				       keys[i].index, keys[i].v->family, keys[i].v->variant, keys[i - 1].index);
	}
	free(keys);
	return rc;
}

static void variants_free(struct model_variant *vs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		registry_variant_release(&vs[i]);
	free(vs);
}

/* Parses the whole document; *version is its catalog_version. */
static int catalog_parse_doc(const char *json, size_t len, struct model_variant **out, size_t *n_out,
			     json_int_t *version, struct diag *d)
{
	struct model_variant *vs = NULL;
	json_error_t err;
	json_t *root, *models, *ver;
	const char *key;
	json_t *val;
	size_t i, n = 0;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	if (!json)
		return diag_fail(d, -EINVAL, "no catalog given");
	if (len > CAP_CATALOG_BYTES)
		return diag_fail(d, -EINVAL, "catalog is too large (%zu bytes, at most %u); use a smaller catalog",
				 len, CAP_CATALOG_BYTES);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return diag_fail(d, -EINVAL, "catalog is not valid JSON: %s at line %d, column %d; fix the catalog",
				 err.text, err.line, err.column);
	if (!json_is_object(root)) {
		rc = diag_fail(d, -EINVAL, "catalog is %s, not an object; write {\"catalog_version\": N, \"models\": [...]}",
			       type_name(root));
		goto out_root;
	}
	json_object_foreach(root, key, val) {
		char b[CATALOG_SHOW_MAX + 4];

		if (!in_list(key, catalog_top_keys)) {
			rc = diag_fail(d, -EINVAL, "unknown catalog field '%s'; a catalog has only 'catalog_version' and 'models'",
				       show(key, b));
			goto out_root;
		}
	}
	ver = json_object_get(root, "catalog_version");
	if (!ver || !json_is_integer(ver) || json_integer_value(ver) < 0 ||
	    json_integer_value(ver) > CATALOG_MAX_VERSION) {
		rc = diag_fail(d, -EINVAL, "catalog field 'catalog_version' is %s; it must be an integer from 0 to %d",
			       ver ? "bad" : "missing", CATALOG_MAX_VERSION);
		goto out_root;
	}
	*version = json_integer_value(ver);
	models = json_object_get(root, "models");
	if (!models || !json_is_array(models)) {
		rc = diag_fail(d, -EINVAL, "catalog field 'models' is %s; it must be an array of models",
			       models ? type_name(models) : "missing");
		goto out_root;
	}
	n = json_array_size(models);
	if (n) {
		vs = calloc(n, sizeof(*vs));
		if (!vs) {
			rc = diag_fail(d, -ENOMEM, "out of memory reading the catalog");
			goto out_root;
		}
	}
	for (i = 0; i < n && !rc; i++) {
		rc = entry_parse(json_array_get(models, i), i, &vs[i], d);
		if (rc == -ENOMEM)
			diag_fail(d, rc, "out of memory reading the catalog");
	}
	if (!rc)
		rc = check_duplicates(vs, n, d);
	if (rc) {
		variants_free(vs, n);
		goto out_root;
	}
	*out = vs;
	*n_out = n;
out_root:
	json_decref(root);
	return rc;
}

int catalog_parse(const char *json, size_t len, struct model_variant **out, size_t *n_out, struct diag *d)
{
	json_int_t version;

	return catalog_parse_doc(json, len, out, n_out, &version, d);
}

int catalog_load(struct registry *reg, const char *name, const char *json, size_t len, struct diag *d)
{
	struct model_variant *vs;
	json_int_t version = 0;
	char vtext[32], *key, *have = NULL;
	size_t n, key_len;
	int rc;

	if (!reg || !name || !*name)
		return diag_fail(d, -EINVAL, "no catalog name given");
	rc = catalog_parse_doc(json, len, &vs, &n, &version, d);
	if (rc)
		return rc;
	key_len = strlen(name) + sizeof("catalog:");
	key = malloc(key_len);
	if (!key) {
		rc = diag_fail(d, -ENOMEM, "out of memory loading the catalog");
		goto out_free;
	}
	snprintf(key, key_len, "catalog:%s", name);
	snprintf(vtext, sizeof(vtext), "%" JSON_INTEGER_FORMAT, version);
	rc = registry_meta_get(reg, key, &have);
	if (rc) {
		rc = diag_fail(d, rc, "cannot read which catalog version is loaded: %s", strerror(-rc));
		goto out_free_key;
	}
	if (have && !strcmp(have, vtext)) {
		log_msg(LOG_DEBUG, "catalog '%s' version %s is already loaded", name, vtext);
		goto out_free_key;
	}
	rc = registry_put_batch(reg, vs, n, REGISTRY_PUT_KEEP_FOREIGN, key, vtext, d);
	if (!rc)
		log_msg(LOG_INFO, "loaded catalog '%s' version %s: %zu models", name, vtext, n);
out_free_key:
	free(have);
	free(key);
out_free:
	variants_free(vs, n);
	return rc;
}
