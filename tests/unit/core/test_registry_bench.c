/*
 * test_registry_bench.c - benchmark runs in the registry (issue 7):
 * registry_bench_add/update/recover, and the snapshot carrying them in
 * model_quant.bench.
 *
 * Each test works in its own temporary state directory.  A run is written
 * through the public API and read back from a snapshot, field by field,
 * after every step; the history order, the cascade when a quant is
 * unregistered, the history kept when a variant is registered again, the
 * recovery of runs a mount left running, and rows that do not read back
 * (planted with SQLite directly) are each checked.
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
#include <sqlite3.h>

struct fixture {
	char dir[64];
	struct registry *reg;
};

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	assert_non_null(p);
	return p;
}

static void path_in(const struct fixture *f, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", f->dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

static void reopen(struct fixture *f)
{
	struct diag d;

	registry_close(f->reg);
	f->reg = NULL;
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &f->reg, &d), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mf-test-rbench-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &f->reg, &d), 0);
	log_clear();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const names[] = { "registry.db", "registry.db-wal", "registry.db-shm", NULL };
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

/* Registers FAMILY/VARIANT with the quants listed (one model file each). */
static void put_variant(struct registry *reg, const char *family, const char *variant,
			const char *const *quants)
{
	struct model_variant v;
	struct diag d;
	char buf[128];
	size_t n = 0, i;

	memset(&v, 0, sizeof(v));
	v.family = xstrdup(family);
	v.variant = xstrdup(variant);
	snprintf(buf, sizeof(buf), "org/%s-GGUF", variant);
	v.repo_id = xstrdup(buf);
	v.origin = xstrdup("hub");
	while (quants[n])
		n++;
	v.quants = calloc(n, sizeof(*v.quants));
	assert_non_null(v.quants);
	for (i = 0; i < n; i++) {
		struct model_quant *q = &v.quants[v.n_quants++];

		q->name = xstrdup(quants[i]);
		q->size_bytes = 1000000000ull;
		q->files = calloc(1, sizeof(*q->files));
		assert_non_null(q->files);
		q->n_files = 1;
		q->files[0].name = xstrdup("model.gguf");
		snprintf(buf, sizeof(buf), "%s-%s.gguf", variant, quants[i]);
		q->files[0].upstream = xstrdup(buf);
		q->files[0].role = FILE_ROLE_MODEL;
	}
	diag_init(&d);
	assert_int_equal(registry_put_variant(reg, &v, &d), 0);
	registry_variant_release(&v);
}

/* A run as the runner fills it when it queues one (strings borrowed). */
static void run_init(struct bench_run *r, int64_t queued)
{
	static char *argv[] = { (char *)"llama-bench", (char *)"-m", (char *)"/m/model.gguf",
				(char *)"-o", (char *)"json", NULL };

	memset(r, 0, sizeof(*r));
	r->queued = queued;
	snprintf(r->hw.gpu_name, sizeof(r->hw.gpu_name), "NVIDIA GeForce RTX 4090");
	r->hw.gpu_vram_mib = 24564;
	r->hw.gpu_bandwidth_gbps = 1008;
	r->hw.ram_mib = 64000;
	r->hw.ram_bandwidth_gbps = 60;
	r->argv = argv;
	r->ctx_tokens = 8192;
	r->ngl = UINT32_MAX;
	r->peak_vram_mib = -1;
	r->estimate_vram_mib = 5821;
	r->est_tg_ceiling = 171.5;
}

/* Marks r tested with the given decode speed. */
static void run_tested(struct bench_run *r, int64_t started, int64_t finished, double tg)
{
	r->status = BENCH_TESTED;
	r->started = started;
	r->finished = finished;
	r->m.has_pp = r->m.has_tg = true;
	r->m.pp_tokens_per_s = 4200.5;
	r->m.pp_stddev = 12.25;
	r->m.tg_tokens_per_s = tg;
	r->m.tg_stddev = 0.5;
	r->m.n_prompt = 512;
	r->m.n_gen = 128;
	r->peak_rss_mib = 6100;
	r->peak_vram_mib = 5900;
	r->raw = (char *)"[{\"n_prompt\": 512, \"n_gen\": 0, \"avg_ts\": 4200.5}]";
	r->log_path = (char *)"/state/bench/1.log";
}

static struct registry_snapshot *snap_get(struct registry *reg)
{
	struct registry_snapshot *s = NULL;

	assert_int_equal(registry_snapshot_get(reg, &s), 0);
	return s;
}

/* The runs of FAMILY/VARIANT/QUANT in s; fails when the quant is absent. */
static const struct model_quant *quant_of(const struct registry_snapshot *s, const char *family,
					  const char *variant, const char *quant)
{
	const struct model_quant *q = registry_find_quant(registry_find_variant(s, family, variant), quant);

	assert_non_null(q);
	assert_true(q->n_bench == 0 || q->bench);
	return q;
}

static void assert_str_eq(const char *a, const char *b)
{
	if (!a || !b) {
		if (a != b)
			fail_msg("'%s' != '%s'", a ? a : "(null)", b ? b : "(null)");
		return;
	}
	assert_string_equal(a, b);
}

/* A run as written against the one read back. */
static void assert_run_equal(const struct bench_run *a, const struct bench_run *b)
{
	size_t i;

	assert_int_equal(a->id, b->id);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->queued, b->queued);
	assert_int_equal(a->started, b->started);
	assert_int_equal(a->finished, b->finished);
	assert_string_equal(a->hw.gpu_name, b->hw.gpu_name);
	assert_int_equal(a->hw.gpu_vram_mib, b->hw.gpu_vram_mib);
	assert_true(a->hw.gpu_bandwidth_gbps == b->hw.gpu_bandwidth_gbps);
	assert_int_equal(a->hw.ram_mib, b->hw.ram_mib);
	assert_true(a->hw.ram_bandwidth_gbps == b->hw.ram_bandwidth_gbps);
	assert_true((a->argv == NULL) == (b->argv == NULL));
	for (i = 0; a->argv && a->argv[i]; i++)
		assert_str_eq(a->argv[i], b->argv[i]);
	if (a->argv)
		assert_null(b->argv[i]);
	assert_int_equal(a->ctx_tokens, b->ctx_tokens);
	assert_int_equal(a->ngl, b->ngl);
	assert_int_equal(a->m.has_pp, b->m.has_pp);
	assert_int_equal(a->m.has_tg, b->m.has_tg);
	if (a->status == BENCH_TESTED) {
		assert_true(a->m.pp_tokens_per_s == b->m.pp_tokens_per_s);
		assert_true(a->m.tg_tokens_per_s == b->m.tg_tokens_per_s);
		assert_true(a->m.tg_stddev == b->m.tg_stddev);
		assert_int_equal(a->m.n_prompt, b->m.n_prompt);
		assert_int_equal(a->m.n_gen, b->m.n_gen);
	}
	assert_int_equal(a->peak_rss_mib, b->peak_rss_mib);
	assert_int_equal(a->peak_vram_mib, b->peak_vram_mib);
	assert_int_equal(a->estimate_vram_mib, b->estimate_vram_mib);
	assert_true(a->est_tg_ceiling == b->est_tg_ceiling);
	assert_str_eq(a->raw, b->raw);
	assert_str_eq(a->error, b->error);
	assert_str_eq(a->log_path, b->log_path);
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

static size_t count_in(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static const char *const two_quants[] = { "q4_k_m", "q8_0", NULL };

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

/* A run moves queued -> running -> tested; each step is in the next
 * snapshot, with every field as written, and the quant beside it is
 * untouched.  A queued time left 0 is filled in; all of it survives a
 * remount. */
static void test_add_update(void **state)
{
	struct fixture *f = *state;
	struct registry_snapshot *s;
	const struct model_quant *q;
	struct bench_run r;
	struct diag d;
	uint64_t gen;

	put_variant(f->reg, "llama", "llama-3.1-8b", two_quants);
	s = snap_get(f->reg);
	gen = s->generation;
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q4_k_m")->n_bench, 0);
	assert_null(bench_latest(quant_of(s, "llama", "llama-3.1-8b", "q4_k_m")));
	registry_snapshot_put(f->reg, s);

	run_init(&r, 1700000000);
	diag_init(&d);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &r, &d), 0);
	assert_int_equal(d.code, 0);
	assert_true(r.id > 0);
	assert_int_equal(r.status, BENCH_QUEUED);
	s = snap_get(f->reg);
	assert_true(s->generation > gen);
	gen = s->generation;
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 1);
	assert_run_equal(&r, &q->bench[0]);
	assert_ptr_equal(bench_latest(q), &q->bench[0]);
	assert_null(bench_latest_tested(q));
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q8_0")->n_bench, 0);
	registry_snapshot_put(f->reg, s);

	r.status = BENCH_RUNNING;
	r.started = 1700000005;
	assert_int_equal(registry_bench_update(f->reg, &r), 0);
	s = snap_get(f->reg);
	assert_true(s->generation > gen);
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 1);
	assert_run_equal(&r, &q->bench[0]);
	registry_snapshot_put(f->reg, s);

	run_tested(&r, 1700000005, 1700000065, 123.25);
	assert_int_equal(registry_bench_update(f->reg, &r), 0);
	s = snap_get(f->reg);
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 1);
	assert_run_equal(&r, &q->bench[0]);
	assert_ptr_equal(bench_latest_tested(q), &q->bench[0]);
	registry_snapshot_put(f->reg, s);

	run_init(&r, 0);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q8_0", &r, NULL), 0);
	assert_true(r.queued > 1700000000);
	s = snap_get(f->reg);
	q = quant_of(s, "llama", "llama-3.1-8b", "q8_0");
	assert_int_equal(q->n_bench, 1);
	assert_int_equal(q->bench[0].queued, r.queued);
	assert_int_equal(q->bench[0].status, BENCH_QUEUED);
	registry_snapshot_put(f->reg, s);

	reopen(f);
	s = snap_get(f->reg);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q4_k_m")->n_bench, 1);
	assert_true(quant_of(s, "llama", "llama-3.1-8b", "q4_k_m")->bench[0].m.tg_tokens_per_s == 123.25);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q8_0")->n_bench, 1);
	registry_snapshot_put(f->reg, s);
}

/* Refused requests fail with the right errno, say why, and change
 * nothing; an update with a bad status leaves the stored run as it was. */
static void test_errors(void **state)
{
	static const struct {
		const char *family, *variant, *quant;
		int code;
		const char *needle;
	} cases[] = {
		{ "llama", "llama-3.1-8b", "q2_k", -ENOENT, "'llama/llama-3.1-8b/q2_k' is not registered" },
		{ "llama", "nope", "q4_k_m", -ENOENT, "'llama/nope/q4_k_m' is not registered" },
		{ "qwen", "llama-3.1-8b", "q4_k_m", -ENOENT, "not registered" },
		{ "llama", "llama-3.1-8b", "Q4_K_M", -EINVAL, "FAMILY/VARIANT/QUANT" },
		{ "llama", "../x", "q4_k_m", -EINVAL, "FAMILY/VARIANT/QUANT" },
		{ "", "llama-3.1-8b", "q4_k_m", -EINVAL, "FAMILY/VARIANT/QUANT" },
		{ NULL, "llama-3.1-8b", "q4_k_m", -EINVAL, "FAMILY/VARIANT/QUANT" },
		{ "llama", "llama-3.1-8b", NULL, -EINVAL, "FAMILY/VARIANT/QUANT" },
	};
	struct fixture *f = *state;
	struct registry_snapshot *s;
	struct bench_run r;
	struct diag d;
	uint64_t gen;
	size_t i;

	put_variant(f->reg, "llama", "llama-3.1-8b", two_quants);
	s = snap_get(f->reg);
	gen = s->generation;
	registry_snapshot_put(f->reg, s);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_init(&r, 100);
		diag_init(&d);
		assert_int_equal(registry_bench_add(f->reg, cases[i].family, cases[i].variant, cases[i].quant,
						    &r, &d), cases[i].code);
		assert_int_equal(d.code, cases[i].code);
		if (!strstr(d.msg, cases[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, d.msg, cases[i].needle);
		assert_int_equal(r.id, 0);
		assert_int_equal(r.status, BENCH_UNTESTED);
		assert_int_equal(r.queued, 100);
	}

	run_init(&r, 100);
	r.status = (enum bench_status)42;
	diag_init(&d);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &r, &d), -EINVAL);
	assert_int_equal(d.code, -EINVAL);
	r.status = BENCH_QUEUED;
	r.started = -5;
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &r, NULL), -EINVAL);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", NULL, NULL), -EINVAL);

	run_init(&r, 100);
	assert_int_equal(registry_bench_update(f->reg, &r), -EINVAL);
	r.id = 9999;
	r.status = BENCH_RUNNING;
	assert_int_equal(registry_bench_update(f->reg, &r), -ENOENT);
	assert_int_equal(registry_bench_update(f->reg, NULL), -EINVAL);

	s = snap_get(f->reg);
	assert_int_equal(s->generation, gen);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q4_k_m")->n_bench, 0);
	registry_snapshot_put(f->reg, s);

	run_init(&r, 100);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &r, NULL), 0);
	r.status = BENCH_UNTESTED;
	assert_int_equal(registry_bench_update(f->reg, &r), -EINVAL);
	s = snap_get(f->reg);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q4_k_m")->bench[0].status, BENCH_QUEUED);
	registry_snapshot_put(f->reg, s);
}

/* Runs are listed oldest first by the time they started, or were queued
 * until they start; equal times keep the order they were added in, and a
 * run that starts after another was queued moves after it. */
static void test_history_order(void **state)
{
	struct fixture *f = *state;
	struct registry_snapshot *s;
	const struct model_quant *q;
	struct bench_run a, b, c, e;

	put_variant(f->reg, "llama", "llama-3.1-8b", two_quants);
	run_init(&a, 1000);
	run_tested(&a, 1010, 1070, 100.0);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &a, NULL), 0);
	run_init(&b, 2000);
	b.status = BENCH_FAILED;
	b.started = 2005;
	b.finished = 2006;
	b.error = (char *)"'llama-bench' exited with status 1; see the log";
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &b, NULL), 0);
	run_init(&c, 3000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &c, NULL), 0);
	run_init(&e, 3000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &e, NULL), 0);
	assert_true(a.id < b.id && b.id < c.id && c.id < e.id);

	s = snap_get(f->reg);
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 4);
	assert_run_equal(&a, &q->bench[0]);
	assert_run_equal(&b, &q->bench[1]);
	assert_run_equal(&c, &q->bench[2]);
	assert_run_equal(&e, &q->bench[3]);
	assert_ptr_equal(bench_latest(q), &q->bench[3]);
	assert_ptr_equal(bench_latest_tested(q), &q->bench[0]);
	registry_snapshot_put(f->reg, s);

	c.status = BENCH_RUNNING;
	c.started = 3500;
	assert_int_equal(registry_bench_update(f->reg, &c), 0);
	s = snap_get(f->reg);
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 4);
	assert_int_equal(q->bench[2].id, c.id);
	assert_int_equal(q->bench[2].status, BENCH_RUNNING);
	assert_int_equal(q->bench[3].id, e.id);
	assert_ptr_equal(bench_latest(q), &q->bench[3]);
	assert_int_equal(bench_latest(q)->status, BENCH_QUEUED);
	registry_snapshot_put(f->reg, s);
}

/* Unregistering a quant (or its variant) drops its runs; a run updated
 * afterwards finds no row. */
static void test_unregister_cascades(void **state)
{
	struct fixture *f = *state;
	struct registry_snapshot *s;
	struct bench_run a, b;
	struct diag d;
	sqlite3 *db;

	put_variant(f->reg, "llama", "llama-3.1-8b", two_quants);
	run_init(&a, 1000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &a, NULL), 0);
	run_init(&b, 1000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q8_0", &b, NULL), 0);
	db = db_open(f);
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks"), 2);

	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &d), 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks"), 1);
	a.status = BENCH_RUNNING;
	a.started = 1001;
	assert_int_equal(registry_bench_update(f->reg, &a), -ENOENT);
	s = snap_get(f->reg);
	assert_null(registry_find_quant(registry_find_variant(s, "llama", "llama-3.1-8b"), "q4_k_m"));
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q8_0")->n_bench, 1);
	registry_snapshot_put(f->reg, s);

	assert_int_equal(registry_remove(f->reg, "llama", "llama-3.1-8b", NULL, &d), 0);
	assert_int_equal(db_count(db, "SELECT count(*) FROM benchmarks"), 0);
	b.status = BENCH_FAILED;
	assert_int_equal(registry_bench_update(f->reg, &b), -ENOENT);
	sqlite3_close(db);
}

/* Registering a variant again (a refresh) keeps the history of the quants
 * that are still there; a quant that is gone takes its runs with it, and
 * coming back does not bring them back. */
static void test_reregister_keeps_history(void **state)
{
	static const char *const first[] = { "q4_k_m", "q8_0", "f16", NULL };
	static const char *const second[] = { "q4_k_m", "f16", "q6_k", NULL };
	struct fixture *f = *state;
	struct registry_snapshot *s;
	const struct model_quant *q;
	struct bench_run a, b, c;

	put_variant(f->reg, "llama", "llama-3.1-8b", first);
	run_init(&a, 1000);
	run_tested(&a, 1001, 1060, 90.5);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &a, NULL), 0);
	run_init(&b, 2000);
	run_tested(&b, 2001, 2060, 91.5);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &b, NULL), 0);
	run_init(&c, 1000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q8_0", &c, NULL), 0);

	put_variant(f->reg, "llama", "llama-3.1-8b", second);
	s = snap_get(f->reg);
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 2);
	assert_run_equal(&a, &q->bench[0]);
	assert_run_equal(&b, &q->bench[1]);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "f16")->n_bench, 0);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q6_k")->n_bench, 0);
	assert_null(registry_find_quant(registry_find_variant(s, "llama", "llama-3.1-8b"), "q8_0"));
	registry_snapshot_put(f->reg, s);

	put_variant(f->reg, "llama", "llama-3.1-8b", first);
	s = snap_get(f->reg);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q4_k_m")->n_bench, 2);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q8_0")->n_bench, 0);
	registry_snapshot_put(f->reg, s);
}

/* A run left running by a mount that ended becomes failed with the
 * message given; queued, tested and failed runs are left as they are, and
 * a second recovery finds nothing (and publishes nothing).  A running row
 * whose JSON does not read back is failed all the same, and from then on
 * reads back. */
static void test_recover(void **state)
{
	struct fixture *f = *state;
	struct registry_snapshot *s;
	const struct model_quant *q;
	struct bench_run a, b, c;
	uint64_t gen;
	sqlite3 *db;

	put_variant(f->reg, "llama", "llama-3.1-8b", two_quants);
	run_init(&a, 1000);
	run_tested(&a, 1001, 1060, 90.5);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &a, NULL), 0);
	run_init(&b, 2000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &b, NULL), 0);
	b.status = BENCH_RUNNING;
	b.started = 2010;
	b.log_path = (char *)"/state/bench/2.log";
	assert_int_equal(registry_bench_update(f->reg, &b), 0);
	run_init(&c, 3000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q8_0", &c, NULL), 0);

	reopen(f);
	assert_int_equal(registry_bench_recover(f->reg, "the mount ended mid-run; run it again"), 1);
	s = snap_get(f->reg);
	gen = s->generation;
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 2);
	assert_run_equal(&a, &q->bench[0]);
	assert_int_equal(q->bench[1].id, b.id);
	assert_int_equal(q->bench[1].status, BENCH_FAILED);
	assert_string_equal(q->bench[1].error, "the mount ended mid-run; run it again");
	assert_int_equal(q->bench[1].started, 2010);
	assert_true(q->bench[1].finished >= 2010);
	assert_string_equal(q->bench[1].log_path, "/state/bench/2.log");
	assert_string_equal(q->bench[1].hw.gpu_name, "NVIDIA GeForce RTX 4090");
	q = quant_of(s, "llama", "llama-3.1-8b", "q8_0");
	assert_int_equal(q->n_bench, 1);
	assert_int_equal(q->bench[0].status, BENCH_QUEUED);
	registry_snapshot_put(f->reg, s);

	assert_int_equal(registry_bench_recover(f->reg, "again"), 0);
	s = snap_get(f->reg);
	assert_int_equal(s->generation, gen);
	registry_snapshot_put(f->reg, s);

	db = db_open(f);
	db_exec_ok(db, "INSERT INTO benchmarks (quant, started, status, result_json)"
		       " SELECT q.id, 5000, 'running', '{broken' FROM quants q WHERE q.name = 'q8_0'");
	db_exec_ok(db, "INSERT INTO benchmarks (quant, started, status, result_json)"
		       " SELECT q.id, 5001, 'running', NULL FROM quants q WHERE q.name = 'q8_0'");
	sqlite3_close(db);
	reopen(f);
	s = snap_get(f->reg);
	assert_int_equal(quant_of(s, "llama", "llama-3.1-8b", "q8_0")->n_bench, 1);
	registry_snapshot_put(f->reg, s);
	assert_int_equal(registry_bench_recover(f->reg, NULL), 2);
	s = snap_get(f->reg);
	q = quant_of(s, "llama", "llama-3.1-8b", "q8_0");
	assert_int_equal(q->n_bench, 3);
	assert_int_equal(q->bench[1].status, BENCH_FAILED);
	assert_int_equal(q->bench[1].started, 5000);
	assert_non_null(q->bench[1].error);
	assert_true(strlen(q->bench[1].error) > 0);
	assert_int_equal(q->bench[2].status, BENCH_FAILED);
	assert_int_equal(q->bench[2].queued, 5001);
	registry_snapshot_put(f->reg, s);
	assert_int_equal(registry_bench_recover(NULL, "x"), -EINVAL);
}

/* Rows that do not read back are skipped, the others shown, the registry
 * stays readable, and the warning is logged once, not at every rebuild. */
static void test_bad_rows_skipped(void **state)
{
	static const char *const hostile[] = {
		"'not json'",
		"NULL",
		"'[]'",
		"'{\"status\":\"sleeping\"}'",
		"'{\"status\":7}'",
		"'\"tested\"'",
		"'{\"status\":\"tested\",\"queued\":\"yesterday\"}'",
	};
	struct fixture *f = *state;
	struct registry_snapshot *s;
	const struct model_quant *q;
	struct bench_run a, b;
	struct sbuf log;
	char sql[512];
	sqlite3 *db;
	size_t i;

	put_variant(f->reg, "llama", "llama-3.1-8b", two_quants);
	run_init(&a, 1000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &a, NULL), 0);
	db = db_open(f);
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO benchmarks (quant, started, status, result_json)"
			 " SELECT q.id, %zu, 'tested', %s FROM quants q WHERE q.name = 'q4_k_m'",
			 1500 + i, hostile[i]);
		db_exec_ok(db, sql);
	}
	sqlite3_close(db);
	log_clear();
	reopen(f);
	run_init(&b, 2000);
	assert_int_equal(registry_bench_add(f->reg, "llama", "llama-3.1-8b", "q4_k_m", &b, NULL), 0);
	put_variant(f->reg, "llama", "llama-3.1-8b", two_quants);

	s = snap_get(f->reg);
	q = quant_of(s, "llama", "llama-3.1-8b", "q4_k_m");
	assert_int_equal(q->n_bench, 2);
	assert_int_equal(q->bench[0].id, a.id);
	assert_int_equal(q->bench[1].id, b.id);
	registry_snapshot_put(f->reg, s);

	sbuf_init(&log, 1 << 20);
	assert_int_equal(log_render(&log), 0);
	assert_int_equal(count_in(log.buf ? log.buf : "", "benchmark row"), 1);
	assert_non_null(strstr(log.buf, "skipped 7 benchmark rows"));
	sbuf_release(&log);
}

/* test_bad_rows_skipped runs before test_recover, which plants bad rows
 * of lower ids: the warning is once per process and row id. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unregister_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reregister_keeps_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rows_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
	};

	log_configure(LOG_INFO, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
