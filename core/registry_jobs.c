/*
 * registry_jobs.c - job history in the registry database: the rows of the
 * jobs table (schema version 1), written by cache/jobs.c.
 *
 * The job list of a mount lives in memory (.control/jobs is rendered from
 * there and never touches the database); this table is its memory across
 * mounts.  A job is written when it is created (queued or running), when
 * its state changes, and when it finishes, so a mount that dies leaves
 * its unfinished jobs as queued or running rows; the next mount calls
 * registry_job_interrupt() before it lists them, and they show, and stay,
 * failed.  Ids are the job list's own ids (the INTEGER PRIMARY KEY), so a
 * new mount continues above the highest one and a row is replaced in
 * place when its job changes.
 *
 * The numbers: a job costs a handful of writes over its life, each one
 * statement in autocommit (a WAL append, no fsync with synchronous=NORMAL),
 * and the table keeps the newest REGISTRY_JOBS_MAX rows, trimmed on the
 * primary key by every insert, so it never grows past about 1000 rows of
 * well under 2 KiB.  Listing at mount reads at most the newest max rows
 * through the primary key.
 *
 * Statements are prepared per call, as in registry_blob.c: the registry's
 * statement cache stays private to registry.c, and a prepare costs a few
 * microseconds against a commit's hundreds.
 */
#include "core.h"
#include "registry_int.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static const char *const registry_job_states[] = { "queued", "running", "done", "failed", "cancelled" };

static int rj_fail(struct registry *reg, int rc)
{
	log_msg(LOG_ERROR, "registry database '%s': %s", reg->path,
		sqlite3_extended_errcode(reg->db) == rc ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
	return registry_errno(rc);
}

static bool rj_state_ok(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < sizeof(registry_job_states) / sizeof(registry_job_states[0]); i++)
		if (strcmp(s, registry_job_states[i]) == 0)
			return true;
	return false;
}

/* Bytes of s to store: at most REGISTRY_JOB_TEXT_MAX, not cutting a
 * UTF-8 sequence. */
static int rj_text_len(const char *s)
{
	size_t len = strlen(s);

	if (len > REGISTRY_JOB_TEXT_MAX) {
		len = REGISTRY_JOB_TEXT_MAX;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	return (int)len;
}

static int rj_bind_text(sqlite3_stmt *st, int col, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, col);
	return sqlite3_bind_text(st, col, s, rj_text_len(s), SQLITE_STATIC);
}

static bool rj_row_ok(const struct registry_job_row *row)
{
	return row && row->id > 0 && row->kind && row->kind[0] && row->target && row->target[0] &&
	       rj_state_ok(row->state) && isfinite(row->progress) && row->progress >= 0 &&
	       row->progress <= 100 && row->done_bytes <= INT64_MAX && row->total_bytes <= INT64_MAX;
}

static int rj_step_done(sqlite3_stmt *st, int rc)
{
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int registry_job_save(struct registry *reg, const struct registry_job_row *row)
{
	static const char sql[] =
		"INSERT INTO jobs (id, kind, target, state, progress, done_bytes, total_bytes,"
		" message, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)"
		" ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, target = excluded.target,"
		" state = excluded.state, progress = excluded.progress,"
		" done_bytes = excluded.done_bytes, total_bytes = excluded.total_bytes,"
		" message = excluded.message, updated = excluded.updated";
	sqlite3_stmt *st = NULL;
	int rc, err = 0;

	if (!rj_row_ok(row))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 1, row->id);
	if (rc == SQLITE_OK)
		rc = rj_bind_text(st, 2, row->kind);
	if (rc == SQLITE_OK)
		rc = rj_bind_text(st, 3, row->target);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 4, row->state, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_double(st, 5, row->progress);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, (int64_t)row->done_bytes);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 7, (int64_t)row->total_bytes);
	if (rc == SQLITE_OK)
		rc = rj_bind_text(st, 8, row->message);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 9, (int64_t)time(NULL));
	rc = rj_step_done(st, rc);
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_OK && row->id > REGISTRY_JOBS_MAX) {
		rc = sqlite3_prepare_v2(reg->db, "DELETE FROM jobs WHERE id <= ?1", -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 1, row->id - REGISTRY_JOBS_MAX);
		rc = rj_step_done(st, rc);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK)
		err = rj_fail(reg, rc);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

/* Copies the current row of st into out; its strings point into st. */
static bool rj_read_row(sqlite3_stmt *st, struct registry_job_row *out)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(st, 0);
	out->kind = (const char *)sqlite3_column_text(st, 1);
	out->target = (const char *)sqlite3_column_text(st, 2);
	out->state = (const char *)sqlite3_column_text(st, 3);
	out->progress = sqlite3_column_double(st, 4);
	out->done_bytes = (uint64_t)sqlite3_column_int64(st, 5);
	out->total_bytes = (uint64_t)sqlite3_column_int64(st, 6);
	out->message = (const char *)sqlite3_column_text(st, 7);
	out->created = sqlite3_column_int64(st, 8);
	out->updated = sqlite3_column_int64(st, 9);
	return rj_row_ok(out);
}

int registry_job_list(struct registry *reg, size_t max, registry_job_fn cb, void *ctx)
{
	static const char sql[] =
		"SELECT id, kind, target, state, progress, done_bytes, total_bytes, message,"
		" created, updated FROM"
		" (SELECT * FROM jobs ORDER BY id DESC LIMIT ?1) ORDER BY id";
	struct registry_job_row row;
	sqlite3_stmt *st = NULL;
	int rc, err = 0;

	if (!cb)
		return -EINVAL;
	if (max > INT64_MAX)
		max = INT64_MAX;
	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 1, (int64_t)max);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		if (!rj_read_row(st, &row)) {
			log_msg(LOG_WARN, "registry database '%s': job row %lld is malformed; left out",
				reg->path, (long long)row.id);
			continue;
		}
		err = cb(ctx, &row);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = rj_fail(reg, rc);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_job_interrupt(struct registry *reg, const char *msg)
{
	static const char sql[] =
		"UPDATE jobs SET state = 'failed', message = ?1, updated = ?2"
		" WHERE state IN ('queued', 'running')";
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = rj_bind_text(st, 1, msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
	rc = rj_step_done(st, rc);
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		n = sqlite3_changes(reg->db);
	else
		n = rj_fail(reg, rc);
	pthread_mutex_unlock(&reg->lock);
	return n;
}
