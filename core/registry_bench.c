/*
 * registry_bench.c - benchmark runs in the registry database: the rows of
 * the benchmarks table (schema version 1) behind QUANT/benchmark.json,
 * compare.tsv, status and the measured columns of models.tsv (SPEC §4).
 *
 * A run is stored as one row per benchmark of one quant.  The whole run,
 * as bench_run_to_json() renders it (core/bench.c), is the row's
 * result_json, so the format of benchmark.json and the stored form cannot
 * drift apart, and a field added later needs no migration.  Three columns
 * repeat what the JSON says, for SQL's sake: status (the CHECK constraint
 * and the recovery query), finished, and started, which holds the time
 * the run started or, before it starts, the time it was queued.  The
 * snapshot lists a quant's runs in id order, the order they were asked
 * for, which is also the order the one-at-a-time queue runs them: the
 * latest run is the last one written to .control/benchmark.
 *
 * Every call is one IMMEDIATE transaction that ends by publishing a new
 * snapshot (registry_tx_publish), like every other write of the registry:
 * readers see a run through the snapshot's model_quant.bench, never by
 * asking the database.  A run changes state three or four times (queued,
 * running, tested or failed), each time rebuilding the snapshot, which
 * costs some 0.2 s of CPU with 10,000 variants registered; a benchmark
 * takes minutes, so this is noise.
 *
 * The quant row owns its runs: unregistering the quant deletes them (ON
 * DELETE CASCADE), re-registering the variant keeps the rows of the quants
 * that still exist (registry.c upserts, so ids stay).  A run updated after
 * its quant went away finds no row: -ENOENT, and the runner drops it.
 *
 * A mount that ends while a run is running leaves a row that no process
 * will finish.  registry_bench_recover(), called once at mount before the
 * runner starts, turns each such row into a failed run with the caller's
 * message, so the history says what happened instead of "running" forever.
 * Queued rows are left alone: whether to run them again is the runner's
 * choice.
 */
#include "core.h"
#include "registry_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

/* One stored run: the runner's output (BENCH_MAX_OUTPUT_BYTES) JSON-escaped
 * at worst six bytes for one, plus the rest of the run. */
#define REGISTRY_BENCH_JSON_MAX ((size_t)BENCH_MAX_OUTPUT_BYTES * 6 + (1u << 20))
#define REGISTRY_BENCH_RECOVER_MSG "the mount ended while this benchmark ran; run it again"

static const char registry_bench_sql_find[] =
	"SELECT q.id FROM quants q JOIN variants v ON v.id = q.variant"
	" WHERE v.family = ?1 AND v.variant = ?2 AND q.name = ?3";
static const char registry_bench_sql_insert[] =
	"INSERT INTO benchmarks (quant, started, finished, status, result_json)"
	" VALUES (?1, ?2, ?3, ?4, ?5)";
static const char registry_bench_sql_update[] =
	"UPDATE benchmarks SET started = ?2, finished = ?3, status = ?4, result_json = ?5"
	" WHERE id = ?1";
static const char registry_bench_sql_running[] =
	"SELECT id, started, result_json FROM benchmarks WHERE status = 'running'"
	" ORDER BY id LIMIT 1";

static bool registry_bench_status_ok(enum bench_status s)
{
	return s == BENCH_QUEUED || s == BENCH_RUNNING || s == BENCH_TESTED || s == BENCH_FAILED;
}

/* The row's form of r: its result_json text (new: free with free()). */
static int registry_bench_encode(const struct bench_run *r, char **out)
{
	json_t *j = NULL;
	int rc;

	*out = NULL;
	if (!registry_bench_status_ok(r->status) || r->queued < 0 || r->started < 0 ||
	    r->finished < 0)
		return -EINVAL;
	rc = bench_run_to_json(r, &j);
	if (rc)
		return rc;
	*out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!*out)
		return -ENOMEM;
	if (strlen(*out) > REGISTRY_BENCH_JSON_MAX) {
		free(*out);
		*out = NULL;
		return -EFBIG;
	}
	return 0;
}

static void registry_bench_rollback(struct registry *reg)
{
	/* ignored: a failed ROLLBACK leaves the transaction to SQLite, which
	 * rolls it back at the next BEGIN; the first error is the one reported */
	if (!sqlite3_get_autocommit(reg->db))
		(void)sqlite3_exec(reg->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs sql (one of the statements above, taking ?1 id-or-quant, ?2
 * started, ?3 finished, ?4 status, ?5 result_json) for r: SQLITE_OK or
 * an SQLite error. */
static int registry_bench_write(struct registry *reg, const char *sql, int64_t key,
				const struct bench_run *r, const char *json)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_bind_int64(st, 1, key);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, r->started ? r->started : r->queued);
	if (rc == SQLITE_OK)
		rc = r->finished ? sqlite3_bind_int64(st, 3, r->finished) : sqlite3_bind_null(st, 3);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 4, bench_status_name(r->status), -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 5, json, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		else if (rc == SQLITE_ROW)
			rc = SQLITE_INTERNAL;
	}
	sqlite3_finalize(st);
	return rc;
}

/* The id of FAMILY/VARIANT/QUANT's row: SQLITE_OK, SQLITE_DONE when it is
 * not registered, or an SQLite error. */
static int registry_bench_find(struct registry *reg, const char *family, const char *variant,
			       const char *quant, int64_t *id)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(reg->db, registry_bench_sql_find, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_bind_text(st, 1, family, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 2, variant, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 3, quant, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*id = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int registry_bench_add(struct registry *reg, const char *family, const char *variant,
		       const char *quant, struct bench_run *r, struct diag *d)
{
	enum bench_status status;
	int64_t quant_id = 0, queued;
	char *json = NULL;
	int rc, err;

	if (!reg || !r)
		return diag_fail(d, -EINVAL, "no benchmark run given");
	if (!family || !variant || !quant || !parse_is_name(family) || !parse_is_name(variant) ||
	    !parse_is_name(quant))
		return diag_fail(d, -EINVAL,
				 "invalid model path; use FAMILY/VARIANT/QUANT as models.tsv lists it");
	status = r->status;
	queued = r->queued;
	if (r->status == BENCH_UNTESTED)
		r->status = BENCH_QUEUED;
	if (!r->queued)
		r->queued = (int64_t)time(NULL);
	err = registry_bench_encode(r, &json);
	if (err) {
		r->status = status;
		r->queued = queued;
		return diag_fail(d, err, "cannot store the benchmark of '%s/%s/%s': %s", family, variant,
				 quant, strerror(-err));
	}

	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = registry_bench_find(reg, family, variant, quant, &quant_id);
	if (rc == SQLITE_DONE) {
		registry_bench_rollback(reg);
		err = diag_fail(d, -ENOENT, "'%s/%s/%s' is not registered; models.tsv lists what is",
				family, variant, quant);
		goto out_unlock;
	}
	if (rc == SQLITE_OK)
		rc = registry_bench_write(reg, registry_bench_sql_insert, quant_id, r, json);
	if (rc != SQLITE_OK) {
		err = registry_fail(reg, rc, d);
		registry_bench_rollback(reg);
		goto out_unlock;
	}
	r->id = sqlite3_last_insert_rowid(reg->db);
	err = registry_tx_publish(reg, d);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	if (err) {
		r->id = 0;
		r->status = status;
		r->queued = queued;
	}
	free(json);
	return err;
}

int registry_bench_update(struct registry *reg, const struct bench_run *r)
{
	char *json = NULL;
	int rc, err;

	if (!reg || !r || r->id <= 0)
		return -EINVAL;
	err = registry_bench_encode(r, &json);
	if (err)
		return err;
	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = registry_bench_write(reg, registry_bench_sql_update, r->id, r, json);
	if (rc == SQLITE_OK && sqlite3_changes(reg->db) == 0) {
		registry_bench_rollback(reg);
		err = -ENOENT;
		goto out_unlock;
	}
	if (rc != SQLITE_OK) {
		err = registry_fail(reg, rc, NULL);
		registry_bench_rollback(reg);
		goto out_unlock;
	}
	err = registry_tx_publish(reg, NULL);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	free(json);
	return err;
}

/* The run of a row left running, made failed with msg: the stored run
 * when it reads back, else a bare one queued when the row says.  *json:
 * new; *cols: its status and times, for the row's other columns. */
static int registry_bench_fail_row(int64_t started, const char *text, const char *msg, char **json,
				   struct bench_run *cols)
{
	struct bench_run r;
	json_t *j;
	int err;

	memset(&r, 0, sizeof(r));
	j = text ? json_loads(text, 0, NULL) : NULL;
	if (!j || bench_run_from_json(j, &r) != 0) {
		bench_run_release(&r);
		memset(&r, 0, sizeof(r));
		r.queued = started > 0 ? started : 0;
		r.started = r.queued;
		r.peak_vram_mib = -1;
	}
	json_decref(j);
	r.status = BENCH_FAILED;
	if (!r.finished)
		r.finished = (int64_t)time(NULL);
	free(r.error);
	r.error = strdup(msg);
	err = r.error ? registry_bench_encode(&r, json) : -ENOMEM;
	memset(cols, 0, sizeof(*cols));
	cols->status = r.status;
	cols->queued = r.queued;
	cols->started = r.started;
	cols->finished = r.finished;
	bench_run_release(&r);
	return err;
}

int registry_bench_recover(struct registry *reg, const char *msg)
{
	struct bench_run cols;
	sqlite3_stmt *st = NULL;
	char *json = NULL;
	int64_t id, started;
	int n = 0, rc, err = 0;

	if (!reg)
		return -EINVAL;
	if (!msg || !*msg)
		msg = REGISTRY_BENCH_RECOVER_MSG;
	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_exec(reg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(reg->db, registry_bench_sql_running, -1, &st, NULL);
	while (rc == SQLITE_OK && !err) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		id = sqlite3_column_int64(st, 0);
		started = sqlite3_column_int64(st, 1);
		err = registry_bench_fail_row(started, (const char *)sqlite3_column_text(st, 2), msg, &json,
					      &cols);
		rc = sqlite3_reset(st);
		if (err || rc != SQLITE_OK)
			break;
		rc = registry_bench_write(reg, registry_bench_sql_update, id, &cols, json);
		free(json);
		json = NULL;
		if (rc == SQLITE_OK && n < INT32_MAX)
			n++;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	if (!err && rc != SQLITE_OK)
		err = registry_fail(reg, rc, NULL);
	sqlite3_finalize(st);
	free(json);
	if (err || !n) {
		registry_bench_rollback(reg);
		goto out_unlock;
	}
	err = registry_tx_publish(reg, NULL);
	if (!err)
		log_msg(LOG_WARN, "%d benchmark%s left running by an earlier mount marked failed", n,
			n == 1 ? "" : "s");
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return err ? err : n;
}
