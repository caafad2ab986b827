/*
 * test_registry.c - the SQLite registry and its snapshots.
 *
 * Every test works in its own temporary state directory.  After each step
 * the snapshot is checked against its invariants (check_snapshot: sorted,
 * every lookup finds what a scan finds, names valid), the way git's tests
 * re-check a strbuf after every call.  A few tests open registry.db with
 * SQLite directly, to plant a benchmark row or a future schema version, or
 * to count rows that the public API does not show.
 */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1
#else
#define SLOW_BUILD 0
#endif

struct fixture {
	char dir[64];
	struct registry *reg;
};

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	assert_non_null(p);
	return p;
}

static const char *base_name_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void path_in(const struct fixture *f, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", f->dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static void registry_reopen(struct fixture *f)
{
	struct diag d;

	registry_close(f->reg);
	f->reg = NULL;
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &f->reg, &d), 0);
	assert_int_equal(d.code, 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mf-test-registry-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &f->reg, &d), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const names[] = { "registry.db", "registry.db-wal", "registry.db-shm",
					     "not-a-dir", NULL };
	struct fixture *f = *state;
	char path[128];
	size_t i;

	registry_close(f->reg);
	for (i = 0; names[i]; i++) {
		path_in(f, names[i], path, sizeof(path));
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Adds a quant named name with nfiles model files (split when > 1) and an
 * mmproj file when mmproj. */
static void add_quant(struct model_variant *v, const char *name, size_t nfiles, bool mmproj)
{
	struct model_quant *q;
	char buf[128];
	size_t i;

	v->quants = realloc(v->quants, (v->n_quants + 1) * sizeof(*v->quants));
	assert_non_null(v->quants);
	q = &v->quants[v->n_quants++];
	memset(q, 0, sizeof(*q));
	q->name = xstrdup(name);
	q->size_bytes = 1000000000ull + nfiles;
	q->size_exact = nfiles == 1;
	q->bits_per_weight = 4.5;
	q->quality_stars = 3;
	q->files = calloc(nfiles + 1, sizeof(*q->files));
	assert_non_null(q->files);
	for (i = 0; i < nfiles; i++) {
		struct model_file *mf = &q->files[q->n_files++];

		if (nfiles == 1) {
			mf->name = xstrdup("model.gguf");
			snprintf(buf, sizeof(buf), "%s-%s.gguf", v->variant, name);
		} else {
			snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.gguf", i + 1, nfiles);
			mf->name = xstrdup(buf);
			snprintf(buf, sizeof(buf), "%s/%s-%05zu-of-%05zu.gguf", name, v->variant, i + 1, nfiles);
		}
		mf->upstream = xstrdup(buf);
		mf->size_bytes = nfiles == 1 ? q->size_bytes : 0;
		mf->role = FILE_ROLE_MODEL;
	}
	if (mmproj) {
		struct model_file *mf = &q->files[q->n_files++];

		mf->name = xstrdup("mmproj.gguf");
		mf->upstream = xstrdup("mmproj-F16.gguf");
		mf->sha256 = xstrdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
		mf->role = FILE_ROLE_MMPROJ;
	}
	q->file_pattern = xstrdup(base_name_of(q->files[0].upstream));
}

static void make_variant(struct model_variant *v, const char *family, const char *variant,
			 const char *repo_id, const char *const *quants)
{
	memset(v, 0, sizeof(*v));
	v->family = xstrdup(family);
	v->variant = xstrdup(variant);
	v->full_name = xstrdup("Some Model 8B");
	v->repo_id = xstrdup(repo_id);
	v->architecture = xstrdup("llama");
	v->origin = xstrdup("hub");
	v->parameter_count_b = 8.03;
	v->parameter_count_exact = 8030261248ull;
	v->context_window = 131072;
	v->arch_json = xstrdup("{\"architecture\":\"llama\",\"num_layers\":32,\"source\":\"gguf\",\"warnings\":[]}");
	for (; quants && *quants; quants++)
		add_quant(v, *quants, 1, false);
}

static void put_ok(struct registry *reg, const struct model_variant *v)
{
	struct diag d;
	int rc;

	diag_init(&d);
	rc = registry_put_variant(reg, v, &d);
	if (rc)
		print_error("put failed: %d %s\n", rc, d.msg);
	assert_int_equal(rc, 0);
	assert_int_equal(d.code, 0);
}

static void put_simple(struct registry *reg, const char *family, const char *variant, const char *repo,
		       const char *const *quants)
{
	struct model_variant v;

	make_variant(&v, family, variant, repo, quants);
	put_ok(reg, &v);
	registry_variant_release(&v);
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return !strcmp(a, b);
}

static void assert_str_eq(const char *a, const char *b)
{
	if (!str_eq(a, b))
		fail_msg("'%s' != '%s'", a ? a : "(null)", b ? b : "(null)");
}

/* a (as written) against b (from a snapshot, quants sorted). */
static void assert_variant_equal(const struct model_variant *a, const struct model_variant *b)
{
	size_t i, j;

	assert_str_eq(a->family, b->family);
	assert_str_eq(a->variant, b->variant);
	assert_str_eq(a->full_name, b->full_name);
	assert_str_eq(a->repo_id, b->repo_id);
	assert_str_eq(a->revision, b->revision);
	assert_str_eq(a->base_repo, b->base_repo);
	assert_str_eq(a->architecture, b->architecture);
	assert_str_eq(a->origin, b->origin);
	assert_true(a->parameter_count_b == b->parameter_count_b);
	assert_true(a->parameter_count_exact == b->parameter_count_exact);
	assert_true(a->context_window == b->context_window);
	assert_int_equal(a->multimodal, b->multimodal);
	assert_str_eq(a->arch_json, b->arch_json);
	assert_str_eq(a->config_json, b->config_json);
	assert_str_eq(a->extra_json, b->extra_json);
	assert_int_equal(a->n_quants, b->n_quants);
	for (i = 0; i < a->n_quants; i++) {
		const struct model_quant *qa = &a->quants[i];
		const struct model_quant *qb = registry_find_quant(b, qa->name);

		assert_non_null(qb);
		assert_str_eq(qa->file_pattern, qb->file_pattern);
		assert_true(qa->size_bytes == qb->size_bytes);
		assert_int_equal(qa->size_exact, qb->size_exact);
		assert_true(qa->bits_per_weight == qb->bits_per_weight);
		assert_int_equal(qa->quality_stars, qb->quality_stars);
		assert_int_equal(qa->n_files, qb->n_files);
		for (j = 0; j < qa->n_files; j++) {
			assert_str_eq(qa->files[j].name, qb->files[j].name);
			assert_str_eq(qa->files[j].upstream, qb->files[j].upstream);
			assert_str_eq(qa->files[j].sha256, qb->files[j].sha256);
			assert_true(qa->files[j].size_bytes == qb->files[j].size_bytes);
			assert_int_equal(qa->files[j].role, qb->files[j].role);
		}
	}
}

static int variant_order(const struct model_variant *a, const struct model_variant *b)
{
	int c = strcmp(a->family, b->family);

	return c ? c : strcmp(a->variant, b->variant);
}

/* The invariants of any snapshot, checked after every step. */
static void check_snapshot(const struct registry_snapshot *s)
{
	size_t i, j, k;

	assert_non_null(s);
	assert_true(s->n_variants == 0 || s->variants);
	for (i = 0; i < s->n_variants; i++) {
		const struct model_variant *v = &s->variants[i];

		if (i > 0)
			assert_true(variant_order(&s->variants[i - 1], v) < 0);
		assert_true(parse_is_name(v->family));
		assert_true(parse_is_name(v->variant));
		assert_non_null(v->repo_id);
		assert_non_null(v->origin);
		assert_ptr_equal(registry_find_variant(s, v->family, v->variant), v);
		assert_non_null(registry_find_repo(s, v->repo_id));
		assert_int_equal(strcasecmp(registry_find_repo(s, v->repo_id)->repo_id, v->repo_id), 0);
		for (j = 0; j < v->n_quants; j++) {
			const struct model_quant *q = &v->quants[j];

			if (j > 0)
				assert_true(strcmp(v->quants[j - 1].name, q->name) < 0);
			assert_true(parse_is_name(q->name));
			assert_ptr_equal(registry_find_quant(v, q->name), q);
			assert_true(q->n_files >= 1);
			for (k = 0; k < q->n_files; k++) {
				assert_true(parse_is_name(q->files[k].name));
				assert_non_null(q->files[k].upstream);
			}
		}
	}
}

static struct registry_snapshot *snap_get(struct registry *reg)
{
	struct registry_snapshot *s = NULL;

	assert_int_equal(registry_snapshot_get(reg, &s), 0);
	check_snapshot(s);
	return s;
}

static sqlite3 *db_open(const struct fixture *f)
{
	char path[128];
	sqlite3 *db = NULL;

	path_in(f, "registry.db", path, sizeof(path));
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t db_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void db_exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void test_errno(void **state)
{
	static const struct { int rc; int want; } table[] = {
		{ SQLITE_OK, 0 },
		{ SQLITE_DONE, 0 },
		{ SQLITE_BUSY, -EBUSY },
		{ SQLITE_BUSY_SNAPSHOT, -EBUSY },
		{ SQLITE_LOCKED, -EBUSY },
		{ SQLITE_FULL, -ENOSPC },
		{ SQLITE_NOMEM, -ENOMEM },
		{ SQLITE_IOERR_NOMEM, -ENOMEM },
		{ SQLITE_CONSTRAINT_UNIQUE, -EEXIST },
		{ SQLITE_CONSTRAINT_PRIMARYKEY, -EEXIST },
		{ SQLITE_CONSTRAINT_CHECK, -EINVAL },
		{ SQLITE_CONSTRAINT_FOREIGNKEY, -EINVAL },
		{ SQLITE_CONSTRAINT, -EINVAL },
		{ SQLITE_CANTOPEN, -EACCES },
		{ SQLITE_CANTOPEN_ISDIR, -EISDIR },
		{ SQLITE_READONLY, -EACCES },
		{ SQLITE_CORRUPT, -EBADMSG },
		{ SQLITE_NOTADB, -EBADMSG },
		{ SQLITE_IOERR, -EIO },
		{ SQLITE_IOERR_WRITE, -EIO },
		{ SQLITE_ERROR, -EIO },
		{ SQLITE_TOOBIG, -EFBIG },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (registry_errno(table[i].rc) != table[i].want)
			fail_msg("registry_errno(%d) = %d, want %d", table[i].rc,
				 registry_errno(table[i].rc), table[i].want);
	}
}

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	struct registry *reg = (struct registry *)1;
	char path[128];
	struct diag d;
	FILE *fp;

	diag_init(&d);
	assert_int_equal(registry_open("/nonexistent/modelfs-state", &reg, &d), -ENOENT);
	assert_null(reg);
	assert_non_null(strstr(d.msg, "/nonexistent/modelfs-state"));

	path_in(f, "not-a-dir", path, sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	diag_init(&d);
	assert_int_equal(registry_open(path, &reg, &d), -ENOTDIR);
	assert_true(d.msg[0] != '\0');

	registry_close(f->reg);
	f->reg = NULL;
	path_in(f, "registry.db-wal", path, sizeof(path));
	unlink(path);
	path_in(f, "registry.db-shm", path, sizeof(path));
	unlink(path);
	path_in(f, "registry.db", path, sizeof(path));
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 64; i++)
		fputs("this is not a database, it is a text file...\n", fp);
	fclose(fp);
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &reg, &d), -EBADMSG);
	assert_null(reg);
	assert_non_null(strstr(d.msg, "registry.db"));
	unlink(path);
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &f->reg, &d), 0);
}

static void test_schema_version(void **state)
{
	struct fixture *f = *state;
	struct registry *reg = NULL;
	struct diag d;
	sqlite3 *db;

	assert_int_equal(registry_schema_version(f->reg), REGISTRY_SCHEMA_VERSION);
	registry_reopen(f);
	assert_int_equal(registry_schema_version(f->reg), REGISTRY_SCHEMA_VERSION);

	db = db_open(f);
	assert_int_equal(db_count(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
				  " AND name IN ('repos', 'variants', 'quants', 'files', 'benchmarks',"
				  " 'jobs', 'events', 'hardware', 'meta')"), 9);
	assert_int_equal(db_count(db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
	sqlite3_close(db);

	registry_close(f->reg);
	f->reg = NULL;
	db = db_open(f);
	db_exec_ok(db, "PRAGMA user_version = 99");
	sqlite3_close(db);
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &reg, &d), -EPROTO);
	assert_null(reg);
	assert_int_equal(d.code, -EPROTO);
	assert_non_null(strstr(d.msg, "99"));

	db = db_open(f);
	db_exec_ok(db, "PRAGMA user_version = 1");
	sqlite3_close(db);
	registry_reopen(f);
}

static void test_persistence(void **state)
{
	static const char *const quants[] = { "q8_0", "q4_k_m", NULL };
	struct fixture *f = *state;
	struct model_variant a, b;
	struct registry_snapshot *s;

	make_variant(&a, "llama", "llama-3.1-8b-instruct", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", quants);
	a.revision = xstrdup("0123abcd");
	a.base_repo = xstrdup("meta-llama/Llama-3.1-8B-Instruct");
	a.config_json = xstrdup("{\"model_type\":\"llama\",\"num_hidden_layers\":32}");
	a.extra_json = xstrdup("{\"recommended_parameters\":{\"temperature\":0.6}}");
	add_quant(&a, "bf16", 3, false);

	make_variant(&b, "gemma", "gemma-3-4b-it", "unsloth/gemma-3-4b-it-GGUF", NULL);
	free(b.origin);
	b.origin = xstrdup("catalog");
	b.multimodal = true;
	b.full_name[0] = 'X';
	free(b.arch_json);
	b.arch_json = NULL;
	add_quant(&b, "q4_k_m", 1, true);
	add_quant(&b, "iq4_xs", 2, true);

	put_ok(f->reg, &a);
	put_ok(f->reg, &b);
	registry_reopen(f);
	s = snap_get(f->reg);
	assert_int_equal(s->n_variants, 2);
	assert_string_equal(s->variants[0].family, "gemma");
	assert_variant_equal(&a, registry_find_variant(s, "llama", "llama-3.1-8b-instruct"));
	assert_variant_equal(&b, registry_find_variant(s, "gemma", "gemma-3-4b-it"));
	assert_string_equal(registry_find_variant(s, "llama", "llama-3.1-8b-instruct")->quants[0].name, "bf16");
	registry_snapshot_put(f->reg, s);
	registry_variant_release(&a);
	registry_variant_release(&b);
	assert_null(a.family);
	assert_int_equal(a.n_quants, 0);
}

static void test_replace_keeps_benchmarks(void **state)
{
	static const char *const first[] = { "q4_k_m", "q8_0", NULL };
	static const char *const second[] = { "q8_0", "f16", NULL };
	struct fixture *f = *state;
	struct registry_snapshot *s;
	struct model_variant v;
	struct diag d;
	sqlite3 *db;

	make_variant(&v, "qwen", "qwen3-8b", "Qwen/Qwen3-8B-GGUF", first);
	put_ok(f->reg, &v);
	registry_variant_release(&v);

	db = db_open(f);
	db_exec_ok(db, "INSERT INTO benchmarks (quant, started, status) SELECT q.id, 1, 'tested'"
		       " FROM quants q JOIN variants v ON v.id = q.variant WHERE v.variant = 'qwen3-8b'");
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks"), 2);

	make_variant(&v, "qwen", "qwen3-8b", "Qwen/Qwen3-8B-GGUF", second);
	free(v.quants[0].files[0].upstream);
	v.quants[0].files[0].upstream = xstrdup("Qwen3-8B-Q8_0-renamed.gguf");
	put_ok(f->reg, &v);
	s = snap_get(f->reg);
	assert_variant_equal(&v, registry_find_variant(s, "qwen", "qwen3-8b"));
	assert_null(registry_find_quant(registry_find_variant(s, "qwen", "qwen3-8b"), "q4_k_m"));
	registry_snapshot_put(f->reg, s);
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks b JOIN quants q ON q.id = b.quant"
				  " WHERE q.name = 'q8_0'"), 1);
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks"), 1);
	assert_int_equal(db_count(db, "SELECT count(*) FROM files"), 2);

	registry_variant_release(&v);
	make_variant(&v, "qwen", "qwen3-8b", "Qwen/Qwen3-8B-GGUF", NULL);
	add_quant(&v, "q8_0", 3, false);
	put_ok(f->reg, &v);
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks"), 1);
	assert_int_equal(db_count(db, "SELECT count(*) FROM files"), 3);
	s = snap_get(f->reg);
	assert_variant_equal(&v, registry_find_variant(s, "qwen", "qwen3-8b"));
	registry_snapshot_put(f->reg, s);
	registry_variant_release(&v);

	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "qwen", "qwen3-8b", "q8_0", &d), 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks"), 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM files"), 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM repos"), 1);
	assert_int_equal(registry_remove(f->reg, "qwen", "qwen3-8b", NULL, &d), 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM repos"), 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM variants"), 0);
	sqlite3_close(db);
}

static void test_remove(void **state)
{
	static const char *const quants[] = { "q4_k_m", "q8_0", NULL };
	struct fixture *f = *state;
	struct registry_snapshot *s;
	struct diag d;
	sqlite3 *db;

	put_simple(f->reg, "phi", "phi-4", "microsoft/phi-4-gguf", quants);
	put_simple(f->reg, "phi", "phi-4-mini", "Microsoft/Phi-4-GGUF", quants);
	db = db_open(f);
	assert_int_equal(db_count(db, "SELECT count(*) FROM repos"), 1);
	sqlite3_close(db);
	s = snap_get(f->reg);
	assert_string_equal(registry_find_variant(s, "phi", "phi-4")->repo_id, "Microsoft/Phi-4-GGUF");
	registry_snapshot_put(f->reg, s);

	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "phi", "phi-5", NULL, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "phi/phi-5"));
	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "phi", "phi-4", "q2_k", &d), -ENOENT);
	assert_non_null(strstr(d.msg, "q2_k"));
	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "Phi", "phi-4", NULL, &d), -EINVAL);
	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "phi", "../phi-4", NULL, &d), -EINVAL);
	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "phi", "phi-4", "", &d), -EINVAL);

	assert_int_equal(registry_remove(f->reg, "phi", "phi-4", "q4_k_m", NULL), 0);
	s = snap_get(f->reg);
	assert_int_equal(registry_find_variant(s, "phi", "phi-4")->n_quants, 1);
	registry_snapshot_put(f->reg, s);

	assert_int_equal(registry_remove(f->reg, "phi", "phi-4", NULL, NULL), 0);
	db = db_open(f);
	assert_int_equal(db_count(db, "SELECT count(*) FROM repos"), 1);
	sqlite3_close(db);
	s = snap_get(f->reg);
	assert_int_equal(s->n_variants, 1);
	assert_null(registry_find_variant(s, "phi", "phi-4"));
	assert_non_null(registry_find_repo(s, "MICROSOFT/PHI-4-GGUF"));
	registry_snapshot_put(f->reg, s);
	assert_int_equal(registry_remove(f->reg, "phi", "phi-4", NULL, NULL), -ENOENT);
}

static void test_snapshot_generation(void **state)
{
	static const char *const quants[] = { "q4_0", NULL };
	struct fixture *f = *state;
	struct registry_snapshot *s1, *s2, *s3;
	struct model_variant v;
	struct diag d;

	s1 = snap_get(f->reg);
	assert_int_equal(s1->n_variants, 0);
	put_simple(f->reg, "mistral", "mistral-7b", "TheBloke/Mistral-7B-GGUF", quants);
	s2 = snap_get(f->reg);
	assert_true(s2 != s1);
	assert_true(s2->generation == s1->generation + 1);
	assert_int_equal(s1->n_variants, 0);
	assert_int_equal(s2->n_variants, 1);

	make_variant(&v, "mistral", "BAD", "TheBloke/Mistral-7B-GGUF", quants);
	diag_init(&d);
	assert_int_equal(registry_put_variant(f->reg, &v, &d), -EINVAL);
	registry_variant_release(&v);
	assert_int_equal(registry_remove(f->reg, "mistral", "nothing", NULL, NULL), -ENOENT);
	assert_int_equal(registry_meta_set(f->reg, "k", "v"), 0);
	s3 = snap_get(f->reg);
	assert_ptr_equal(s3, s2);
	assert_true(s3->generation == s2->generation);
	registry_snapshot_put(f->reg, s3);

	registry_snapshot_put(f->reg, s1);
	assert_int_equal(registry_remove(f->reg, "mistral", "mistral-7b", NULL, NULL), 0);
	assert_string_equal(s2->variants[0].variant, "mistral-7b");
	s3 = snap_get(f->reg);
	assert_true(s3->generation == s2->generation + 1);
	assert_int_equal(s3->n_variants, 0);
	registry_snapshot_put(f->reg, s2);
	registry_snapshot_put(f->reg, s3);
	registry_snapshot_put(f->reg, NULL);
}

static void test_find(void **state)
{
	static const char *const quants[] = { "q8_0", "q4_k_m", "iq4_xs", "bf16", NULL };
	struct fixture *f = *state;
	struct registry_snapshot *s, hand;
	const struct model_variant *v;

	put_simple(f->reg, "llama", "llama-3.2-3b", "bartowski/Llama-3.2-3B-Instruct-GGUF", quants);
	put_simple(f->reg, "llama", "llama-3.2-1b", "bartowski/Llama-3.2-1B-Instruct-GGUF", quants);
	put_simple(f->reg, "llama", "llama-3.2-1b-alt", "bartowski/Llama-3.2-1B-Instruct-GGUF", quants);
	put_simple(f->reg, "deepseek", "deepseek-r1", "unsloth/DeepSeek-R1-GGUF", quants);
	s = snap_get(f->reg);
	assert_int_equal(s->n_variants, 4);
	assert_null(registry_find_variant(s, "llama", "llama-3.2-8b"));
	assert_null(registry_find_variant(s, "qwen", "llama-3.2-1b"));
	assert_null(registry_find_variant(s, NULL, "llama-3.2-1b"));
	assert_null(registry_find_variant(NULL, "llama", "llama-3.2-1b"));
	v = registry_find_variant(s, "llama", "llama-3.2-1b");
	assert_non_null(v);
	assert_string_equal(v->quants[0].name, "bf16");
	assert_string_equal(v->quants[3].name, "q8_0");
	assert_null(registry_find_quant(v, "q4_k_s"));
	assert_null(registry_find_quant(v, NULL));
	assert_null(registry_find_quant(NULL, "q8_0"));

	assert_ptr_equal(registry_find_repo(s, "bartowski/llama-3.2-1b-instruct-gguf"), v);
	assert_ptr_equal(registry_find_repo(s, "BARTOWSKI/Llama-3.2-1B-Instruct-GGUF"), v);
	assert_null(registry_find_repo(s, "bartowski/Llama-3.2-1B-Instruct"));
	assert_null(registry_find_repo(s, ""));
	assert_null(registry_find_repo(s, NULL));

	memset(&hand, 0, sizeof(hand));
	hand.variants = s->variants;
	hand.n_variants = s->n_variants;
	assert_ptr_equal(registry_find_repo(&hand, "unsloth/deepseek-r1-gguf"), &s->variants[0]);
	assert_ptr_equal(registry_find_repo(&hand, "bartowski/llama-3.2-1b-instruct-gguf"), v);
	assert_null(registry_find_repo(&hand, "nobody/nothing"));
	registry_snapshot_put(f->reg, s);
}

static void test_hardware(void **state)
{
	struct fixture *f = *state;
	struct hw_profile hw, got;

	memset(&got, 0xff, sizeof(got));
	assert_int_equal(registry_hardware_get(f->reg, &got), 0);
	assert_string_equal(got.gpu_name, "");
	assert_true(got.gpu_vram_mib == 0 && got.ram_mib == 0);
	assert_true(got.gpu_bandwidth_gbps == 0 && got.ram_bandwidth_gbps == 0);

	memset(&hw, 0, sizeof(hw));
	snprintf(hw.gpu_name, sizeof(hw.gpu_name), "NVIDIA GeForce RTX 4090");
	hw.gpu_vram_mib = 24564;
	hw.gpu_bandwidth_gbps = 1008.0;
	hw.ram_mib = 64 * 1024;
	hw.ram_bandwidth_gbps = 83.2;
	assert_int_equal(registry_hardware_set(f->reg, &hw), 0);
	registry_reopen(f);
	assert_int_equal(registry_hardware_get(f->reg, &got), 0);
	assert_memory_equal(&hw, &got, sizeof(hw));

	hw.gpu_bandwidth_gbps = NAN;
	assert_int_equal(registry_hardware_set(f->reg, &hw), -EINVAL);
	hw.gpu_bandwidth_gbps = -1;
	assert_int_equal(registry_hardware_set(f->reg, &hw), -EINVAL);
	hw.gpu_bandwidth_gbps = 1;
	hw.ram_mib = UINT64_MAX;
	assert_int_equal(registry_hardware_set(f->reg, &hw), -EINVAL);
	hw.ram_mib = 1;
	hw.gpu_name[3] = '\n';
	assert_int_equal(registry_hardware_set(f->reg, &hw), -EINVAL);
	memset(hw.gpu_name, 'x', sizeof(hw.gpu_name));
	assert_int_equal(registry_hardware_set(f->reg, &hw), -EINVAL);
	assert_int_equal(registry_hardware_get(f->reg, &got), 0);
	assert_string_equal(got.gpu_name, "NVIDIA GeForce RTX 4090");

	memset(&hw, 0, sizeof(hw));
	assert_int_equal(registry_hardware_set(f->reg, &hw), 0);
	assert_int_equal(registry_hardware_get(f->reg, &got), 0);
	assert_memory_equal(&hw, &got, sizeof(hw));
}

static void test_meta_and_events(void **state)
{
	struct fixture *f = *state;
	char *val = (char *)1;
	sqlite3 *db;
	int i;

	assert_int_equal(registry_meta_get(f->reg, "catalog:builtin", &val), 0);
	assert_null(val);
	assert_int_equal(registry_meta_set(f->reg, "catalog:builtin", "3"), 0);
	assert_int_equal(registry_meta_set(f->reg, "other", "x"), 0);
	assert_int_equal(registry_meta_set(f->reg, "catalog:builtin", "4"), 0);
	registry_reopen(f);
	assert_int_equal(registry_meta_get(f->reg, "catalog:builtin", &val), 0);
	assert_string_equal(val, "4");
	free(val);
	assert_int_equal(registry_meta_set(f->reg, "catalog:builtin", NULL), 0);
	assert_int_equal(registry_meta_get(f->reg, "catalog:builtin", &val), 0);
	assert_null(val);
	assert_int_equal(registry_meta_get(f->reg, "other", &val), 0);
	assert_string_equal(val, "x");
	free(val);
	assert_int_equal(registry_meta_set(f->reg, "", "x"), -EINVAL);
	assert_int_equal(registry_meta_get(f->reg, "", &val), -EINVAL);

	for (i = 0; i < 3; i++)
		assert_int_equal(registry_event_add(f->reg, LOG_INFO, "registered 'a/b'"), 0);
	assert_int_equal(registry_event_add(f->reg, LOG_ERROR, ""), 0);
	assert_int_equal(registry_event_add(f->reg, LOG_INFO, NULL), -EINVAL);
	assert_int_equal(registry_event_add(f->reg, (enum log_level)7, "x"), -EINVAL);
	db = db_open(f);
	assert_int_equal(db_count(db, "SELECT count(*) FROM events"), 4);
	assert_int_equal(db_count(db, "SELECT count(*) FROM events WHERE level = 'error'"), 1);
	sqlite3_close(db);
}

/* One way to break a valid variant, and what the diag must mention. */
struct bad_case {
	const char *what;
	const char *needle;
};

static const struct bad_case bad_cases[] = {
	{ "family upper case", "family" },
	{ "family empty", "family" },
	{ "family NULL", "family" },
	{ "family leading dash", "family" },
	{ "family with slash", "family" },
	{ "family 128 bytes", "family" },
	{ "family reserved", "registry.json" },
	{ "variant with space", "variant" },
	{ "variant dotdot", "variant" },
	{ "quant upper case", "quant" },
	{ "quant reserved", "info.json" },
	{ "quant duplicate", "twice" },
	{ "file name upper case", "file" },
	{ "file name reserved", "status" },
	{ "file duplicate", "twice" },
	{ "upstream empty", "upstream" },
	{ "upstream absolute", "upstream" },
	{ "upstream dotdot", "upstream" },
	{ "upstream dotdot inside", "upstream" },
	{ "upstream control char", "upstream" },
	{ "upstream trailing slash", "upstream" },
	{ "upstream NULL", "upstream" },
	{ "sha256 upper case", "sha256" },
	{ "sha256 short", "sha256" },
	{ "role unknown", "role" },
	{ "no model file", "no model file" },
	{ "origin unknown", "origin" },
	{ "origin NULL", "origin" },
	{ "repo id NULL", "repo id" },
	{ "repo id control char", "repo id" },
	{ "full name empty", "full name" },
	{ "params NaN", "parameter count" },
	{ "params negative", "parameter count" },
	{ "context huge", "out of range" },
	{ "size huge", "out of range" },
	{ "bpw inf", "bits per weight" },
	{ "stars 6", "stars" },
	{ "arch json invalid", "architecture.json" },
	{ "arch json array", "architecture.json" },
	{ "config json truncated", "config.json" },
	{ "extra json string", "extra" },
};

static void break_variant(struct model_variant *v, size_t which)
{
	struct model_quant *q = &v->quants[0];
	struct model_file *mf = &q->files[0];
	char *tmp;

	switch (which) {
	case 0: v->family[0] = 'L'; break;
	case 1: v->family[0] = '\0'; break;
	case 2: free(v->family); v->family = NULL; break;
	case 3: v->family[0] = '-'; break;
	case 4: free(v->family); v->family = xstrdup("a/b"); break;
	case 5:
		tmp = calloc(1, 129);
		assert_non_null(tmp);
		memset(tmp, 'a', 128);
		free(v->family);
		v->family = tmp;
		break;
	case 6: free(v->family); v->family = xstrdup("registry.json"); break;
	case 7: free(v->variant); v->variant = xstrdup("a b"); break;
	case 8: free(v->variant); v->variant = xstrdup(".."); break;
	case 9: free(q->name); q->name = xstrdup("Q4_K_M"); break;
	case 10: free(q->name); q->name = xstrdup("info.json"); break;
	case 11: free(v->quants[1].name); v->quants[1].name = xstrdup(q->name); break;
	case 12: free(mf->name); mf->name = xstrdup("Model.gguf"); break;
	case 13: free(mf->name); mf->name = xstrdup("status"); break;
	case 14: add_quant(v, "dup", 2, false);
		free(v->quants[v->n_quants - 1].files[1].name);
		v->quants[v->n_quants - 1].files[1].name = xstrdup("model-00001-of-00002.gguf");
		break;
	case 15: mf->upstream[0] = '\0'; break;
	case 16: free(mf->upstream); mf->upstream = xstrdup("/etc/passwd"); break;
	case 17: free(mf->upstream); mf->upstream = xstrdup("../x.gguf"); break;
	case 18: free(mf->upstream); mf->upstream = xstrdup("a/../../x.gguf"); break;
	case 19: free(mf->upstream); mf->upstream = xstrdup("a\nb.gguf"); break;
	case 20: free(mf->upstream); mf->upstream = xstrdup("dir/"); break;
	case 21: free(mf->upstream); mf->upstream = NULL; break;
	case 22: mf->sha256 = xstrdup("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"); break;
	case 23: mf->sha256 = xstrdup("0123456789abcdef"); break;
	case 24: mf->role = (enum file_role)2; break;
	case 25: mf->role = FILE_ROLE_MMPROJ; break;
	case 26: free(v->origin); v->origin = xstrdup("web"); break;
	case 27: free(v->origin); v->origin = NULL; break;
	case 28: free(v->repo_id); v->repo_id = NULL; break;
	case 29: v->repo_id[2] = '\t'; break;
	case 30: v->full_name[0] = '\0'; break;
	case 31: v->parameter_count_b = NAN; break;
	case 32: v->parameter_count_b = -1; break;
	case 33: v->context_window = UINT64_MAX; break;
	case 34: q->size_bytes = (uint64_t)INT64_MAX + 1; break;
	case 35: q->bits_per_weight = INFINITY; break;
	case 36: q->quality_stars = 6; break;
	case 37: free(v->arch_json); v->arch_json = xstrdup("{\"a\":"); break;
	case 38: free(v->arch_json); v->arch_json = xstrdup("[1,2]"); break;
	case 39: v->config_json = xstrdup("{\"a\":1"); break;
	case 40: v->extra_json = xstrdup("\"x\""); break;
	default: fail();
	}
}

static void test_invalid_table(void **state)
{
	static const char *const quants[] = { "q4_k_m", "q8_0", NULL };
	struct fixture *f = *state;
	struct registry_snapshot *before, *after;
	struct model_variant v;
	struct diag d;
	size_t i;
	int rc;

	put_simple(f->reg, "llama", "llama-3.1-8b", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", quants);
	before = snap_get(f->reg);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		make_variant(&v, "llama", "llama-3.1-8b", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", quants);
		break_variant(&v, i);
		diag_init(&d);
		rc = registry_put_variant(f->reg, &v, &d);
		if (rc != -EINVAL || !strstr(d.msg, bad_cases[i].needle))
			fail_msg("case '%s': rc %d, diag '%s'", bad_cases[i].what, rc, d.msg);
		assert_int_equal(d.code, -EINVAL);
		assert_null(strchr(d.msg, '\n'));
		registry_variant_release(&v);
	}
	after = snap_get(f->reg);
	assert_ptr_equal(before, after);
	assert_string_equal(after->variants[0].quants[0].files[0].name, "model.gguf");
	registry_snapshot_put(f->reg, before);
	registry_snapshot_put(f->reg, after);

	diag_init(&d);
	assert_int_equal(registry_put_variant(f->reg, NULL, &d), -EINVAL);
}

/* A catalog of n synthetic models, 100 per family, 5 quants each. */
static char *big_catalog(size_t n, size_t *len)
{
	static const char *const qnames[] = { "q4_k_m", "q5_k_m", "q6_k", "q8_0", "iq4_xs" };
	struct sbuf sb;
	size_t i, j;
	char *out;

	sbuf_init(&sb, CAP_CATALOG_BYTES);
	sbuf_addstr(&sb, "{\"catalog_version\": 1, \"models\": [");
	for (i = 0; i < n; i++) {
		sbuf_addf(&sb, "%s{\"family\":\"fam%03zu\",\"variant\":\"model-%06zu\","
			  "\"full_name\":\"Model %zu\",\"repo_id\":\"org%zu/Model-%zu-GGUF\","
			  "\"architecture\":\"llama\",\"parameter_count\":7.24,\"context_window\":32768,"
			  "\"multimodal\":false,\"architecture_detail\":{\"num_layers\":32,"
			  "\"hidden_size\":4096,\"num_attention_heads\":32,\"num_kv_heads\":8},"
			  "\"quantizations\":[",
			  i ? "," : "", i / 100, i, i, i % 997, i);
		for (j = 0; j < 5; j++)
			sbuf_addf(&sb, "%s{\"name\":\"%s\",\"files\":[\"Model-%zu-%s.gguf\"],"
				  "\"size_bytes\":%zu,\"bits_per_weight\":%.2f}",
				  j ? "," : "", qnames[j], i, qnames[j], 4000000000 + j * 1000000000,
				  4.5 + (double)j);
		sbuf_addstr(&sb, "]}");
	}
	sbuf_addstr(&sb, "]}");
	assert_int_equal(sb.err, 0);
	out = sbuf_detach(&sb, len);
	assert_non_null(out);
	return out;
}

static void test_10k_variants(void **state)
{
	static const char *const quants[] = { "q4_k_m", NULL };
	struct fixture *f = *state;
	const struct model_variant *v;
	struct registry_snapshot *s;
	char *json, family[16], name[32];
	double t0, t_load, t_put, t_open, limit = SLOW_BUILD ? 10.0 : 2.0;
	size_t len, i;
	struct diag d;

	json = big_catalog(10000, &len);
	diag_init(&d);
	t0 = now_s();
	assert_int_equal(catalog_load(f->reg, "big", json, len, &d), 0);
	t_load = now_s() - t0;
	free(json);

	t0 = now_s();
	put_simple(f->reg, "zzz", "one-more", "org/one-more", quants);
	t_put = now_s() - t0;

	t0 = now_s();
	registry_reopen(f);
	t_open = now_s() - t0;

	s = snap_get(f->reg);
	assert_int_equal(s->n_variants, 10001);
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "model-%06zu", i);
		snprintf(family, sizeof(family), "fam%03zu", i / 100);
		v = registry_find_variant(s, family, name);

		assert_non_null(v);
		assert_int_equal(v->n_quants, 5);
		assert_non_null(registry_find_quant(v, "q6_k"));
	}
	registry_snapshot_put(f->reg, s);
	print_message("10k variants: catalog load %.3f s, one put with rebuild %.3f s, reopen %.3f s\n",
		      t_load, t_put, t_open);
	assert_true(t_put < limit);
	assert_true(t_open < limit);
}

/* ------------------------------------------------------------------------
 * Concurrency: 8 readers take snapshots while one thread writes.
 * ------------------------------------------------------------------------ */

struct race {
	struct registry *reg;
	atomic_bool stop;
	atomic_int failures;
	atomic_long reads;
};

static void *reader_main(void *arg)
{
	struct race *r = arg;
	struct registry_snapshot *s;
	uint64_t last = 0;
	size_t i;

	while (!atomic_load(&r->stop)) {
		if (registry_snapshot_get(r->reg, &s)) {
			atomic_fetch_add(&r->failures, 1);
			break;
		}
		if (s->generation < last)
			atomic_fetch_add(&r->failures, 1);
		last = s->generation;
		for (i = 0; i < s->n_variants; i++) {
			const struct model_variant *v = &s->variants[i];

			if ((i > 0 && variant_order(&s->variants[i - 1], v) >= 0) ||
			    registry_find_variant(s, v->family, v->variant) != v ||
			    !registry_find_repo(s, v->repo_id) || v->n_quants != 2 ||
			    !registry_find_quant(v, "q8_0"))
				atomic_fetch_add(&r->failures, 1);
		}
		registry_snapshot_put(r->reg, s);
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	static const char *const quants[] = { "q4_k_m", "q8_0", NULL };
	struct fixture *f = *state;
	struct registry_snapshot *s;
	pthread_t readers[8];
	struct race r;
	char variant[32];
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	r.reg = f->reg;
	atomic_init(&r.stop, false);
	atomic_init(&r.failures, 0);
	atomic_init(&r.reads, 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &r), 0);
	for (i = 0; i < 200; i++) {
		snprintf(variant, sizeof(variant), "v-%zu", i % 17);
		if (i % 3 == 2) {
			rc = registry_remove(f->reg, "race", variant, NULL, NULL);
			assert_true(rc == 0 || rc == -ENOENT);
		} else {
			put_simple(f->reg, "race", variant, "org/race-GGUF", quants);
		}
	}
	atomic_store(&r.stop, true);
	for (i = 0; i < 8; i++)
		pthread_join(readers[i], NULL);
	print_message("concurrent: %ld snapshot reads during 200 writes\n", (long)atomic_load(&r.reads));
	assert_int_equal(atomic_load(&r.failures), 0);
	assert_true(atomic_load(&r.reads) > 0);
	s = snap_get(f->reg);
	assert_true(s->generation > 100);
	registry_snapshot_put(f->reg, s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_keeps_benchmarks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardware, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_and_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_10k_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
	};

	log_configure(LOG_WARN, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
