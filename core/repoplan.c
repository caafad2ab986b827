/*
 * repoplan.c - from a repo's file listing to the quants a registration
 * makes, and the names they go under (SPEC §3, §6).
 *
 * A GGUF repo on the Hub is laid out in a handful of ways, and the plan
 * must read all of them the way a person would:
 *
 *  - one file per quant in the root (bartowski, TheBloke, lmstudio-community:
 *    Model-Q4_K_M.gguf, Model-Q8_0.gguf ...);
 *  - one folder per quant, each holding llama.cpp split shards (unsloth's
 *    big models: UD-Q4_K_XL/Model-UD-Q4_K_XL-00001-of-00008.gguf ...);
 *  - split shards in the root (Model-Q8_0-00001-of-00003.gguf);
 *  - a projector for multimodal models (mmproj-F16.gguf, mmproj-model-f16.gguf),
 *    sometimes in several precisions, which belongs to every quant;
 *  - noise: imatrix files, READMEs, config.json, safetensors of the base
 *    model, hidden folders.
 *
 * The listing comes from the Hub (one tree page or a model info's
 * "siblings", parsed here so the fuzzer reaches the parser without HTTP) or
 * from a local folder; it is outside data, so every path is checked to be
 * relative and clean before it is kept, and a listing is capped at
 * REGISTRY_LISTING_MAX_ENTRIES entries (the biggest GGUF repos hold a few
 * hundred files; the Hub pages trees by 1000).
 *
 * Grouping sorts the GGUF paths (so the plan does not depend on listing
 * order), puts shards PREFIX-0000K-of-0000N.gguf of one folder and prefix
 * together, and keeps a split only when shards 1..N are all there: an
 * incomplete split cannot be loaded by llama.cpp, so it is left out and
 * said so.  Quant names come from ggml_quant_from_filename(), then from
 * the folders ("Q4_K_M/model-00001-of-00002.gguf"); a name neither gives is
 * left empty for the caller to take from the header's general.file_type,
 * and registry_plan_finish_names() settles clashes (two models of one repo
 * both at Q4_K_M) with the file stem.
 *
 * Names follow what people call models, which is what the catalog does:
 * the repo name without "-GGUF" ("bartowski/Meta-Llama-3.1-8B-Instruct-GGUF"
 * is llama/llama-3.1-8b-instruct, as in the built-in catalog).  The GGUF
 * general.* keys name local files, where no repo name exists.
 */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry_int.h"

#define RP_QUOTE_MAX 120
#define RP_MAX_TOKENS 32

static const char *rp_quote(const char *s, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; s[i] && o + 4 < size && i < RP_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (s[i] && o + 4 <= size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static const char *rp_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static bool rp_ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static bool rp_contains_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------------
 * Listing
 * ------------------------------------------------------------------------ */

void registry_listing_init(struct registry_listing *l)
{
	memset(l, 0, sizeof(*l));
}

static void rp_listing_truncate(struct registry_listing *l, size_t n)
{
	while (l->n > n) {
		l->n--;
		free(l->entries[l->n].path);
		free(l->entries[l->n].sha256);
	}
}

void registry_listing_release(struct registry_listing *l)
{
	rp_listing_truncate(l, 0);
	free(l->entries);
	memset(l, 0, sizeof(*l));
}

int registry_listing_add(struct registry_listing *l, const char *path, uint64_t size_bytes,
			 const char *sha256, bool is_dir, struct diag *d)
{
	char q[RP_QUOTE_MAX + 8];
	struct registry_listing_entry *e;
	size_t i;

	if (!path || strlen(path) >= REGISTRY_PATH_MAX_BYTES || !registry_upstream_is_valid(path))
		return MALFORMED(d, "listing entry '%s' is not a clean relative path",
				 path ? rp_quote(path, q, sizeof(q)) : "(null)");
	if (sha256) {
		if (strlen(sha256) != 64)
			return MALFORMED(d, "listing entry '%s' has a bad sha256", rp_quote(path, q, sizeof(q)));
		for (i = 0; i < 64; i++)
			if (!isxdigit((unsigned char)sha256[i]))
				return MALFORMED(d, "listing entry '%s' has a bad sha256",
						 rp_quote(path, q, sizeof(q)));
	}
	if (size_bytes > INT64_MAX)
		return MALFORMED(d, "listing entry '%s' has a bad size", rp_quote(path, q, sizeof(q)));
	if (l->n >= REGISTRY_LISTING_MAX_ENTRIES)
		return diag_fail(d, -EFBIG, "the repo lists more than %d files", REGISTRY_LISTING_MAX_ENTRIES);
	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 64;

		e = realloc(l->entries, na * sizeof(*e));
		if (!e)
			return diag_fail(d, -ENOMEM, "out of memory");
		l->entries = e;
		l->alloc = na;
	}
	e = &l->entries[l->n];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (sha256) {
		e->sha256 = strdup(sha256);
		if (e->sha256)
			for (i = 0; i < 64; i++)
				e->sha256[i] = (char)tolower((unsigned char)e->sha256[i]);
	}
	if (!e->path || (sha256 && !e->sha256)) {
		free(e->path);
		free(e->sha256);
		return diag_fail(d, -ENOMEM, "out of memory");
	}
	e->size_bytes = is_dir ? 0 : size_bytes;
	e->is_dir = is_dir;
	l->n++;
	return 0;
}

/* A JSON size: an integer >= 0; absent gives 0. */
static int rp_json_size(json_t *v, uint64_t *out)
{
	json_int_t i;

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -EBADMSG;
	i = json_integer_value(v);
	if (i < 0)
		return -EBADMSG;
	*out = (uint64_t)i;
	return 0;
}

/* One tree entry: {"type", "path", "size", "lfs": {"oid", "size"}}. */
static int rp_tree_entry(struct registry_listing *l, json_t *e, size_t i, struct diag *d)
{
	json_t *type = json_object_get(e, "type"), *path = json_object_get(e, "path");
	json_t *lfs = json_object_get(e, "lfs"), *oid = NULL;
	uint64_t size;
	bool is_dir;

	if (!json_is_string(type) || !json_is_string(path))
		return MALFORMED(d, "tree entry %zu has no type or path", i);
	if (strcmp(json_string_value(type), "directory") == 0)
		is_dir = true;
	else if (strcmp(json_string_value(type), "file") == 0)
		is_dir = false;
	else
		return 0;
	if (rp_json_size(json_object_get(e, "size"), &size))
		return MALFORMED(d, "tree entry %zu has a bad size", i);
	if (lfs && !json_is_null(lfs)) {
		uint64_t lfs_size;

		if (!json_is_object(lfs))
			return MALFORMED(d, "tree entry %zu has a bad lfs object", i);
		oid = json_object_get(lfs, "oid");
		if (!oid)
			oid = json_object_get(lfs, "sha256");
		if (oid && !json_is_string(oid))
			return MALFORMED(d, "tree entry %zu has a bad lfs oid", i);
		if (rp_json_size(json_object_get(lfs, "size"), &lfs_size))
			return MALFORMED(d, "tree entry %zu has a bad lfs size", i);
		if (json_object_get(lfs, "size"))
			size = lfs_size;
	}
	if (json_string_length(path) != strlen(json_string_value(path)))
		return MALFORMED(d, "tree entry %zu has a NUL in its path", i);
	return registry_listing_add(l, json_string_value(path), size,
				    oid ? json_string_value(oid) : NULL, is_dir, d);
}

/* One model-info sibling: {"rfilename", "size", "lfs": {"sha256", "size"}}. */
static int rp_sibling(struct registry_listing *l, json_t *e, size_t i, struct diag *d)
{
	json_t *name = json_object_get(e, "rfilename"), *lfs = json_object_get(e, "lfs"), *oid = NULL;
	uint64_t size;

	if (!json_is_string(name))
		return MALFORMED(d, "sibling %zu has no rfilename", i);
	if (rp_json_size(json_object_get(e, "size"), &size))
		return MALFORMED(d, "sibling %zu has a bad size", i);
	if (lfs && !json_is_null(lfs)) {
		uint64_t lfs_size;

		if (!json_is_object(lfs))
			return MALFORMED(d, "sibling %zu has a bad lfs object", i);
		oid = json_object_get(lfs, "sha256");
		if (!oid)
			oid = json_object_get(lfs, "oid");
		if (oid && !json_is_string(oid))
			return MALFORMED(d, "sibling %zu has a bad lfs sha256", i);
		if (rp_json_size(json_object_get(lfs, "size"), &lfs_size))
			return MALFORMED(d, "sibling %zu has a bad lfs size", i);
		if (json_object_get(lfs, "size"))
			size = lfs_size;
	}
	if (json_string_length(name) != strlen(json_string_value(name)))
		return MALFORMED(d, "sibling %zu has a NUL in its name", i);
	return registry_listing_add(l, json_string_value(name), size,
				    oid ? json_string_value(oid) : NULL, false, d);
}

int registry_listing_parse(struct registry_listing *l, const char *json, size_t len, struct diag *d)
{
	size_t before = l->n, i;
	json_error_t err;
	json_t *root, *arr, *e;
	bool siblings;
	int rc = 0;

	if (!json)
		return MALFORMED(d, "empty listing");
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return MALFORMED(d, "the listing is not JSON: %s (line %d)", err.text, err.line);
	if (json_is_array(root)) {
		arr = root;
		siblings = false;
	} else if (json_is_object(root)) {
		arr = json_object_get(root, "siblings");
		siblings = true;
		if (!json_is_array(arr)) {
			json_decref(root);
			return MALFORMED(d, "the model info has no siblings array");
		}
	} else {
		json_decref(root);
		return MALFORMED(d, "the listing is neither an array nor an object");
	}
	json_array_foreach(arr, i, e) {
		if (!json_is_object(e)) {
			rc = MALFORMED(d, "listing entry %zu is not an object", i);
			break;
		}
		rc = siblings ? rp_sibling(l, e, i, d) : rp_tree_entry(l, e, i, d);
		if (rc)
			break;
	}
	json_decref(root);
	if (rc)
		rp_listing_truncate(l, before);
	return rc;
}

ssize_t registry_listing_find(const struct registry_listing *l, const char *path)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->entries[i].path, path) == 0)
			return (ssize_t)i;
	return -ENOENT;
}

/* ------------------------------------------------------------------------
 * Plan
 * ------------------------------------------------------------------------ */

/* Shard K of N in "PREFIX-0000K-of-0000N.gguf": true with prefix_len (of
 * the whole path) set. */
static bool rp_shard(const char *path, size_t *prefix_len, unsigned *k, unsigned *n)
{
	size_t len = strlen(path), i;
	const char *s;
	static const char tail[] = "-00000-of-00000.gguf";

	if (len < sizeof(tail) - 1 + 1)
		return false;
	s = path + len - (sizeof(tail) - 1);
	if (s[0] != '-' || strncasecmp(s + 6, "-of-", 4) != 0 || strcasecmp(s + 15, ".gguf") != 0)
		return false;
	*k = 0;
	*n = 0;
	for (i = 1; i <= 5; i++) {
		if (!isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[i + 9]))
			return false;
		*k = *k * 10 + (unsigned)(s[i] - '0');
		*n = *n * 10 + (unsigned)(s[i + 9] - '0');
	}
	if (*k == 0 || *n == 0 || *k > *n)
		return false;
	*prefix_len = (size_t)(s - path);
	return true;
}

static bool rp_hidden(const char *path)
{
	const char *p = path;

	while (p) {
		if (*p == '.')
			return true;
		p = strchr(p, '/');
		if (p)
			p++;
	}
	return false;
}

static bool rp_is_mmproj(const char *path)
{
	return rp_contains_ci(rp_basename(path), "mmproj");
}

static int rp_cmp_index(const void *a, const void *b, void *ctx)
{
	const struct registry_listing *l = ctx;
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;

	return strcmp(l->entries[ia].path, l->entries[ib].path);
}

/* The quant name of a model file: its file name, else its folders. */
static void rp_quant_name(const char *path, char *out, size_t size)
{
	char comp[REGISTRY_PATH_MAX_BYTES];
	const char *end;

	out[0] = '\0';
	if (ggml_quant_from_filename(path, out, size) == 0 && parse_is_name(out))
		return;
	out[0] = '\0';
	end = strrchr(path, '/');
	while (end) {
		const char *start = end;

		while (start > path && start[-1] != '/')
			start--;
		if ((size_t)(end - start) < sizeof(comp)) {
			memcpy(comp, start, (size_t)(end - start));
			comp[end - start] = '\0';
			if (ggml_quant_from_filename(comp, out, size) == 0 && parse_is_name(out))
				return;
		}
		out[0] = '\0';
		if (start == path)
			break;
		end = start - 1;
	}
}

/* Rank of a projector by precision: f16 first. */
static int rp_mmproj_rank(const char *path)
{
	static const char *const order[] = { "f16", "bf16", "q8_0", "f32" };
	char q[NAME_MAX_BYTES];
	size_t i;

	if (ggml_quant_from_filename(path, q, sizeof(q)) == 0)
		for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			if (strcmp(q, order[i]) == 0)
				return (int)i;
	return 4;
}

static int rp_add_quant(struct registry_plan *p, size_t *alloc, const struct registry_listing *l,
			const size_t *files, size_t n, struct diag *d)
{
	struct registry_plan_quant *q;
	size_t i;

	if (p->n_quants >= REGISTRY_PLAN_MAX_QUANTS)
		return diag_fail(d, -EFBIG, "the repo has more than %d quants", REGISTRY_PLAN_MAX_QUANTS);
	if (p->n_quants == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 8;

		q = realloc(p->quants, na * sizeof(*q));
		if (!q)
			return diag_fail(d, -ENOMEM, "out of memory");
		p->quants = q;
		*alloc = na;
	}
	q = &p->quants[p->n_quants];
	memset(q, 0, sizeof(*q));
	q->files = calloc(n, sizeof(*q->files));
	if (!q->files)
		return diag_fail(d, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		q->files[i] = files[i];
		q->size_bytes += l->entries[files[i]].size_bytes;
	}
	q->n_files = n;
	rp_quant_name(l->entries[files[0]].path, q->name, sizeof(q->name));
	p->n_quants++;
	return 0;
}

static void rp_skip(struct registry_plan *p, const char *fmt, ...) MF_PRINTF(2, 3);

static void rp_skip(struct registry_plan *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->n_skipped) {
		va_start(ap, fmt);
		vsnprintf(p->skipped, sizeof(p->skipped), fmt, ap);
		va_end(ap);
	}
	p->n_skipped++;
}

/* Groups the sorted GGUF model files idx[0..n) into quants. */
static int rp_group(struct registry_plan *p, const struct registry_listing *l, const size_t *idx,
		    size_t n, struct diag *d)
{
	char q[RP_QUOTE_MAX + 8];
	size_t alloc = 0, i = 0, j, plen, plen2;
	unsigned k, total, k2, total2;
	size_t *shards;
	int rc = 0;

	shards = calloc(n ? n : 1, sizeof(*shards));
	if (!shards)
		return diag_fail(d, -ENOMEM, "out of memory");
	while (i < n && !rc) {
		const char *path = l->entries[idx[i]].path;
		bool complete = true;

		if (!rp_shard(path, &plen, &k, &total)) {
			rc = rp_add_quant(p, &alloc, l, &idx[i], 1, d);
			i++;
			continue;
		}
		j = i;
		while (j < n && rp_shard(l->entries[idx[j]].path, &plen2, &k2, &total2) && plen2 == plen &&
		       total2 == total && strncmp(l->entries[idx[j]].path, path, plen) == 0)
			j++;
		if (j - i != total)
			complete = false;
		for (k = 0; complete && k < total; k++) {
			if (!rp_shard(l->entries[idx[i + k]].path, &plen2, &k2, &total2) || k2 != k + 1)
				complete = false;
			shards[k] = idx[i + k];
		}
		if (complete)
			rc = rp_add_quant(p, &alloc, l, shards, total, d);
		else
			rp_skip(p, "incomplete split '%s' (%zu of %u shards listed)",
				rp_quote(path, q, sizeof(q)), j - i, total);
		i = j;
	}
	free(shards);
	return rc;
}

static bool rp_quant_has_path(const struct registry_listing *l, const struct registry_plan_quant *q,
			      const char *path)
{
	size_t i;

	for (i = 0; i < q->n_files; i++)
		if (strcmp(l->entries[q->files[i]].path, path) == 0)
			return true;
	return false;
}

static bool rp_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void rp_drop_quant(struct registry_plan *p, size_t i)
{
	free(p->quants[i].files);
	memmove(&p->quants[i], &p->quants[i + 1], (p->n_quants - i - 1) * sizeof(p->quants[0]));
	p->n_quants--;
}

/* Keeps the quants subpath selects. */
static int rp_filter_subpath(struct registry_plan *p, const struct registry_listing *l,
			     const char *subpath, struct diag *d)
{
	char q[RP_QUOTE_MAX + 8];
	size_t i;
	bool any_under = false, is_file = false;
	ssize_t at = registry_listing_find(l, subpath);

	if (at >= 0 && !l->entries[at].is_dir) {
		is_file = true;
		for (i = 0; i < p->n_quants; i++)
			if (rp_quant_has_path(l, &p->quants[i], subpath))
				break;
		if (i < p->n_quants) {
			struct registry_plan_quant keep = p->quants[i];

			p->quants[i] = p->quants[0];
			p->quants[0] = keep;
			while (p->n_quants > 1)
				rp_drop_quant(p, p->n_quants - 1);
			return 0;
		}
		if (rp_ends_with_ci(subpath, ".gguf") && !rp_is_mmproj(subpath))
			return diag_fail(d, -ENOENT, "'%s' is not a usable GGUF model file (%s)",
					 rp_quote(subpath, q, sizeof(q)),
					 p->skipped[0] ? p->skipped : "left out");
		return 0;
	}
	for (i = 0; i < l->n; i++)
		if (rp_under(l->entries[i].path, subpath))
			any_under = true;
	if (!any_under && !is_file)
		return diag_fail(d, -ENOENT, "'%s' is not in the repo; check the path in the URL",
				 rp_quote(subpath, q, sizeof(q)));
	for (i = p->n_quants; i-- > 0;)
		if (!rp_under(l->entries[p->quants[i].files[0]].path, subpath))
			rp_drop_quant(p, i);
	if (!p->n_quants)
		return diag_fail(d, -ENOENT, "no GGUF model file under '%s'", rp_quote(subpath, q, sizeof(q)));
	return 0;
}

static int rp_filter_quant(struct registry_plan *p, const char *quant, struct diag *d)
{
	char list[400];
	size_t i, o = 0;

	for (i = 0; i < p->n_quants && o + NAME_MAX_BYTES + 8 < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
				      p->quants[i].name[0] ? p->quants[i].name : "?");
	if (o == 0)
		snprintf(list, sizeof(list), "none");
	for (i = p->n_quants; i-- > 0;)
		if (p->quants[i].name[0] && strcmp(p->quants[i].name, quant) != 0)
			rp_drop_quant(p, i);
	if (!p->n_quants)
		return diag_fail(d, -ENOENT, "no quant '%s' in the repo; it has: %s", quant, list);
	return 0;
}

int registry_plan_build(const struct registry_listing *l, const char *subpath, const char *quant,
			struct registry_plan *out, struct diag *d)
{
	size_t *models = NULL, *mmproj = NULL, n_models = 0, n_mmproj = 0, i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	models = calloc(l->n ? l->n : 1, sizeof(*models));
	mmproj = calloc(l->n ? l->n : 1, sizeof(*mmproj));
	if (!models || !mmproj) {
		rc = diag_fail(d, -ENOMEM, "out of memory");
		goto out_free;
	}
	for (i = 0; i < l->n; i++) {
		const struct registry_listing_entry *e = &l->entries[i];

		if (e->is_dir || !rp_ends_with_ci(e->path, ".gguf") || rp_hidden(e->path))
			continue;
		if (rp_contains_ci(rp_basename(e->path), "imatrix")) {
			char q[RP_QUOTE_MAX + 8];

			rp_skip(out, "'%s' is an importance matrix, not a model", rp_quote(e->path, q, sizeof(q)));
			continue;
		}
		if (rp_is_mmproj(e->path))
			mmproj[n_mmproj++] = i;
		else
			models[n_models++] = i;
	}
	qsort_r(models, n_models, sizeof(*models), rp_cmp_index, (void *)l);
	qsort_r(mmproj, n_mmproj, sizeof(*mmproj), rp_cmp_index, (void *)l);
	for (i = 1; i < n_models; i++) {
		if (strcmp(l->entries[models[i]].path, l->entries[models[i - 1]].path) == 0) {
			memmove(&models[i], &models[i + 1], (n_models - i - 1) * sizeof(*models));
			n_models--;
			i--;
		}
	}
	rc = rp_group(out, l, models, n_models, d);
	if (rc)
		goto out_free;
	for (i = 0; i < n_mmproj; i++) {
		size_t j = i;

		while (j > 0 && rp_mmproj_rank(l->entries[mmproj[j - 1]].path) >
				rp_mmproj_rank(l->entries[mmproj[j]].path)) {
			size_t t = mmproj[j];

			mmproj[j] = mmproj[j - 1];
			mmproj[j - 1] = t;
			j--;
		}
	}
	out->mmproj = mmproj;
	out->n_mmproj = n_mmproj;
	mmproj = NULL;
	if (subpath && *subpath) {
		rc = rp_filter_subpath(out, l, subpath, d);
		if (rc)
			goto out_free;
	}
	if (!out->n_quants) {
		rc = diag_fail(d, -ENOENT, "no GGUF model file in the repo%s%s; register a repo of .gguf files",
			       out->skipped[0] ? "; left out: " : "", out->skipped);
		goto out_free;
	}
	if (quant && *quant)
		rc = rp_filter_quant(out, quant, d);

out_free:
	free(models);
	free(mmproj);
	if (rc)
		registry_plan_release(out);
	return rc;
}

void registry_plan_release(struct registry_plan *p)
{
	size_t i;

	for (i = 0; i < p->n_quants; i++)
		free(p->quants[i].files);
	free(p->quants);
	free(p->mmproj);
	memset(p, 0, sizeof(*p));
}

/* The file stem of a quant as a name: base name without ".gguf" and the
 * shard suffix. */
static void rp_stem_name(const struct registry_listing *l, const struct registry_plan_quant *q,
			 char *out, size_t size)
{
	const char *path = l->entries[q->files[0]].path, *base = rp_basename(path);
	char stem[REGISTRY_PATH_MAX_BYTES];
	size_t n = strlen(base), plen;
	unsigned k, total;

	if (rp_shard(path, &plen, &k, &total))
		n = plen - (size_t)(base - path);
	else if (rp_ends_with_ci(base, ".gguf"))
		n -= 5;
	memcpy(stem, base, n);
	stem[n] = '\0';
	if (parse_to_name(stem, out, size))
		snprintf(out, size, "gguf");
}

static bool rp_reserved_quant(const char *name)
{
	return strcmp(name, "info.json") == 0 || strcmp(name, "architecture.json") == 0 ||
	       strcmp(name, "config.json") == 0;
}

static size_t rp_count_name(const struct registry_plan *p, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_quants; i++)
		n += strcmp(p->quants[i].name, name) == 0;
	return n;
}

int registry_plan_finish_names(struct registry_plan *p, const struct registry_listing *l)
{
	bool *clash;
	size_t i, j;

	clash = calloc(p->n_quants ? p->n_quants : 1, sizeof(*clash));
	if (!clash)
		return -ENOMEM;
	for (i = 0; i < p->n_quants; i++)
		clash[i] = !p->quants[i].name[0] || rp_count_name(p, p->quants[i].name) > 1 ||
			   rp_reserved_quant(p->quants[i].name);
	for (i = 0; i < p->n_quants; i++)
		if (clash[i])
			rp_stem_name(l, &p->quants[i], p->quants[i].name, sizeof(p->quants[i].name));
	for (i = 0; i < p->n_quants; i++) {
		unsigned suffix = 2;

		if (rp_reserved_quant(p->quants[i].name)) {
			size_t n = strlen(p->quants[i].name);

			if (n + 6 > sizeof(p->quants[i].name))
				n = sizeof(p->quants[i].name) - 6;
			memcpy(p->quants[i].name + n, "-gguf", 6);
		}
		for (j = 0; j < i; j++) {
			if (strcmp(p->quants[i].name, p->quants[j].name) == 0) {
				char base[NAME_MAX_BYTES - 16];
				size_t n = strlen(p->quants[i].name);

				if (n >= sizeof(base))
					n = sizeof(base) - 1;
				memcpy(base, p->quants[i].name, n);
				base[n] = '\0';
				snprintf(p->quants[i].name, sizeof(p->quants[i].name), "%s-%u", base, suffix++);
				j = (size_t)-1;
			}
		}
	}
	free(clash);
	return 0;
}

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------ */

static const struct {
	const char *word;
	const char *family;
} rp_families[] = {
	{ "llama", "llama" }, { "codellama", "llama" }, { "tinyllama", "llama" },
	{ "qwen", "qwen" }, { "qwq", "qwen" }, { "codeqwen", "qwen" },
	{ "gemma", "gemma" }, { "codegemma", "gemma" }, { "medgemma", "gemma" }, { "paligemma", "gemma" },
	{ "phi", "phi" },
	{ "mistral", "mistral" }, { "mixtral", "mistral" }, { "ministral", "mistral" },
	{ "magistral", "mistral" }, { "devstral", "mistral" }, { "codestral", "mistral" },
	{ "pixtral", "mistral" }, { "mathstral", "mistral" },
	{ "deepseek", "deepseek" },
	{ "olmo", "olmo" }, { "olmoe", "olmo" },
	{ "falcon", "falcon" }, { "granite", "granite" }, { "granitemoe", "granite" },
	{ "smollm", "smollm" }, { "internlm", "internlm" }, { "yi", "yi" },
	{ "command", "cohere" }, { "cohere", "cohere" }, { "aya", "cohere" },
	{ "starcoder", "starcoder" }, { "glm", "glm" }, { "chatglm", "glm" },
	{ "baichuan", "baichuan" }, { "minicpm", "minicpm" }, { "stablelm", "stablelm" },
	{ "gpt", "gpt" }, { "nemotron", "nemotron" }, { "exaone", "exaone" },
	{ "hunyuan", "hunyuan" }, { "ernie", "ernie" }, { "mamba", "mamba" }, { "rwkv", "rwkv" },
	{ "jamba", "jamba" }, { "bloom", "bloom" }, { "mpt", "mpt" }, { "dbrx", "dbrx" },
	{ "llava", "llava" }, { "bitnet", "bitnet" }, { "lfm", "lfm" }, { "kimi", "kimi" },
	{ "orion", "orion" }, { "apertus", "apertus" }, { "arcee", "arcee" }, { "plamo", "plamo" },
	{ "openelm", "openelm" }, { "bert", "bert" }, { "nomic", "nomic" },
};

const char *registry_plan_family(const char *word)
{
	char alpha[32];
	size_t i, n = 0;

	if (!word)
		return NULL;
	while (word[n] && n + 1 < sizeof(alpha) && isalpha((unsigned char)word[n])) {
		alpha[n] = (char)tolower((unsigned char)word[n]);
		n++;
	}
	alpha[n] = '\0';
	if (n == 0 || isalpha((unsigned char)word[n]))
		return NULL;
	for (i = 0; i < sizeof(rp_families) / sizeof(rp_families[0]); i++)
		if (strcmp(alpha, rp_families[i].word) == 0)
			return rp_families[i].family;
	return NULL;
}

struct rp_tokens {
	char buf[512];
	char *t[RP_MAX_TOKENS];
	size_t n;
};

/* Splits s on '-', '_' and blanks. */
static void rp_tokenize(const char *s, struct rp_tokens *tk)
{
	size_t o = 0, i;
	bool in = false;

	tk->n = 0;
	for (i = 0; s[i] && o + 2 < sizeof(tk->buf); i++) {
		char c = s[i];

		if (c == '-' || c == '_' || c == ' ' || c == '\t' || c == '/') {
			if (in) {
				tk->buf[o++] = '\0';
				in = false;
			}
			continue;
		}
		if (!in) {
			if (tk->n >= RP_MAX_TOKENS)
				break;
			tk->t[tk->n++] = tk->buf + o;
			in = true;
		}
		tk->buf[o++] = c;
	}
	tk->buf[o] = '\0';
}

/* Drops "GGUF", "i1", "imat", "imatrix" at the end and a vendor word
 * ("Meta") at the start. */
static void rp_clean_tokens(struct rp_tokens *tk)
{
	static const char *const tail[] = { "gguf", "i1", "imat", "imatrix", "ggml" };
	size_t i;
	bool dropped = true;

	while (dropped && tk->n > 1) {
		dropped = false;
		for (i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
			if (strcasecmp(tk->t[tk->n - 1], tail[i]) == 0) {
				tk->n--;
				dropped = true;
				break;
			}
		}
	}
	if (tk->n == 1 && strcasecmp(tk->t[0], "gguf") == 0)
		tk->n = 0;
	if (tk->n > 1 && strcasecmp(tk->t[0], "meta") == 0 && registry_plan_family(tk->t[1])) {
		memmove(&tk->t[0], &tk->t[1], (tk->n - 1) * sizeof(tk->t[0]));
		tk->n--;
	}
}

static int rp_join(const struct rp_tokens *tk, char sep, char *out, size_t size)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < tk->n; i++) {
		size_t n = strlen(tk->t[i]);

		if (o + n + 2 > size)
			return -ENAMETOOLONG;
		if (o)
			out[o++] = sep;
		memcpy(out + o, tk->t[i], n);
		o += n;
		out[o] = '\0';
	}
	return o ? 0 : -EINVAL;
}

/* A variant name from free text (repo or folder name, general.name):
 * cleaned tokens, as a name; words (original case, blanks) for the full
 * name. */
static bool rp_variant_from(const char *s, char *variant, char *words, size_t words_size)
{
	struct rp_tokens tk;
	char joined[512];

	if (!s || !*s)
		return false;
	rp_tokenize(s, &tk);
	rp_clean_tokens(&tk);
	if (rp_join(&tk, '-', joined, sizeof(joined)) || parse_to_name(joined, variant, NAME_MAX_BYTES))
		return false;
	if (words && rp_join(&tk, ' ', words, words_size))
		words[0] = '\0';
	return true;
}

/* basename [size_label] [finetune] [version], each added when the text so
 * far does not hold it already. */
static bool rp_variant_from_header(const struct registry_name_hints *h, char *variant, char *words,
				   size_t words_size)
{
	const char *parts[3] = { h->size_label, h->finetune, h->version };
	char text[512], low[NAME_MAX_BYTES], part[NAME_MAX_BYTES];
	size_t i, o;

	if (!h->basename || !*h->basename)
		return false;
	if (strlen(h->basename) >= sizeof(text))
		return false;
	o = (size_t)snprintf(text, sizeof(text), "%s", h->basename);
	for (i = 0; i < 3; i++) {
		if (!parts[i] || !*parts[i] || parse_to_name(parts[i], part, sizeof(part)))
			continue;
		if (parse_to_name(text, low, sizeof(low)) == 0 && strstr(low, part))
			continue;
		if (o + strlen(parts[i]) + 2 >= sizeof(text))
			break;
		o += (size_t)snprintf(text + o, sizeof(text) - o, "-%s", parts[i]);
	}
	return rp_variant_from(text, variant, words, words_size);
}

/* The file name without ".gguf", shard suffix and quant. */
static bool rp_variant_from_file(const char *path, char *variant)
{
	char stem[REGISTRY_PATH_MAX_BYTES], quant[NAME_MAX_BYTES], low[REGISTRY_PATH_MAX_BYTES];
	const char *base = rp_basename(path);
	size_t n = strlen(base), plen, i;
	unsigned k, total;
	char *at;

	if (rp_shard(path, &plen, &k, &total))
		n = plen - (size_t)(base - path);
	else if (rp_ends_with_ci(base, ".gguf"))
		n -= 5;
	if (n >= sizeof(stem))
		return false;
	memcpy(stem, base, n);
	stem[n] = '\0';
	for (i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)stem[i]);
	if (ggml_quant_from_filename(base, quant, sizeof(quant)) == 0) {
		at = strstr(low, quant);
		if (!at && strncmp(quant, "ud-", 3) == 0)
			at = strstr(low, quant + 3);
		if (!at && strcmp(quant, "f16") == 0)
			at = strstr(low, "fp16");
		if (at && at > low) {
			size_t cut = (size_t)(at - low);

			stem[cut] = '\0';
		}
	}
	return rp_variant_from(stem, variant, NULL, 0);
}

static void rp_words_to_full(const char *variant, char *out, size_t size)
{
	size_t i;

	snprintf(out, size, "%s", variant);
	for (i = 0; out[i]; i++)
		if (out[i] == '-' || out[i] == '_')
			out[i] = ' ';
}

int registry_plan_names(const struct registry_name_hints *h, struct registry_names *out,
			struct diag *d)
{
	char words[CONTROL_FULL_NAME_MAX] = "";
	const char *repo_name = NULL, *fam;
	struct rp_tokens tk;
	bool ok = false;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (h->repo_id) {
		repo_name = strchr(h->repo_id, '/');
		repo_name = repo_name ? repo_name + 1 : h->repo_id;
		ok = rp_variant_from(repo_name, out->variant, words, sizeof(words));
	}
	if (!ok)
		ok = rp_variant_from_header(h, out->variant, words, sizeof(words));
	if (!ok && h->dir_name)
		ok = rp_variant_from(h->dir_name, out->variant, words, sizeof(words));
	if (!ok && h->name)
		ok = rp_variant_from(h->name, out->variant, words, sizeof(words));
	if (!ok && h->file_name)
		ok = rp_variant_from_file(h->file_name, out->variant);
	if (!ok)
		return diag_fail(d, -EINVAL, "cannot derive a model name; give family= and variant=");
	fam = NULL;
	rp_tokenize(out->variant, &tk);
	for (i = 0; i < tk.n && !fam; i++)
		fam = registry_plan_family(tk.t[i]);
	if (!fam && h->architecture)
		fam = registry_plan_family(h->architecture);
	if (fam) {
		snprintf(out->family, sizeof(out->family), "%s", fam);
	} else if (h->architecture && parse_to_name(h->architecture, out->family, sizeof(out->family)) == 0) {
		size_t n = 0;

		while (isalpha((unsigned char)out->family[n]))
			n++;
		if (n >= 2)
			out->family[n] = '\0';
	} else {
		size_t n = 0;

		while (isalpha((unsigned char)out->variant[n]))
			n++;
		if (n < 2)
			n = strcspn(out->variant, "-");
		memcpy(out->family, out->variant, n);
		out->family[n] = '\0';
		if (!parse_is_name(out->family))
			snprintf(out->family, sizeof(out->family), "%s", out->variant);
	}
	if (!parse_is_name(out->family) || strcmp(out->family, "by-repo") == 0)
		snprintf(out->family, sizeof(out->family), "other");
	if (h->name && *h->name && strlen(h->name) < sizeof(out->full_name)) {
		for (i = 0; h->name[i]; i++)
			out->full_name[i] = ((unsigned char)h->name[i] < 0x20 || h->name[i] == 0x7f) ?
					    ' ' : h->name[i];
		out->full_name[i] = '\0';
	} else if (words[0]) {
		snprintf(out->full_name, sizeof(out->full_name), "%s", words);
	} else {
		rp_words_to_full(out->variant, out->full_name, sizeof(out->full_name));
	}
	return 0;
}
