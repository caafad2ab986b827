/*
 * registry_blob.c - the blob store's rows in the registry database
 * (schema version 2): blobs, blob_ranges and remote_files.
 *
 * Why the registry database and not a journal file beside each partial
 * blob: the range map must survive kill -9 and never claim bytes that are
 * not on disk, and SQLite in WAL mode gives both for free.  A committed
 * transaction is in the WAL file through write(), so it survives the death
 * of the process; with synchronous=NORMAL a power cut may lose the last
 * commits, which only means refetching a few chunks, never trusting
 * unsynced bytes, because cache/blob.c adds a range only after
 * fdatasync() of its bytes.  A torn or half-written journal record, the
 * failure that made rclone drop every range after a crash
 * (vfs/vfscache/item.go _save), cannot happen here.  The same database
 * also answers "which blobs are pinned, which were used least recently"
 * with an index, not a directory walk (rclone #4595), and a blob that
 * completes is marked cached and loses its ranges in one transaction.
 *
 * The costs, measured against the numbers of the lazy-download notes: one
 * commit per batch of synced chunks (the store batches whatever completed
 * while the previous batch was syncing), i.e. some tens of commits a
 * second at 700 MB/s with 8 MiB chunks, each well under a millisecond of
 * WAL append.  Nothing here runs on a read: readers use the store's
 * in-memory map, which this table only seeds at open.
 *
 * A partial file removed or replaced behind the store's back (someone
 * cleaned cache=DIR) must not inherit the ranges of its predecessor:
 * file_id holds the inode number the ranges were written to, and a put
 * with another file_id drops them.
 *
 * Statements are prepared per call (sqlite3_prepare_v3 costs a few
 * microseconds against a commit's hundreds); the registry's statement cache
 * stays private to registry.c.
 */
#include "core.h"
#include "registry_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define REGISTRY_BLOB_MAX_RANGES (1u << 22)   /* ranges read for one blob (a 32 TiB file in 8 MiB chunks) */

static int rb_fail(struct registry *reg, int rc)
{
	log_msg(LOG_ERROR, "registry database '%s': %s", reg->path,
		reg->db && sqlite3_extended_errcode(reg->db) == rc ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc));
	return registry_errno(rc);
}

static bool rb_key_ok(const char *key)
{
	size_t len;

	if (!key)
		return false;
	len = strnlen(key, REGISTRY_BLOB_KEY_MAX);
	return len > 0 && len < REGISTRY_BLOB_KEY_MAX;
}

static int rb_exec(struct registry *reg, const char *sql)
{
	return sqlite3_exec(reg->db, sql, NULL, NULL, NULL);
}

static void rb_rollback(struct registry *reg)
{
	/* ignored: a failed ROLLBACK leaves the transaction to SQLite, which
	 * rolls it back at the next BEGIN; the first error is the one reported */
	if (!sqlite3_get_autocommit(reg->db))
		(void)rb_exec(reg, "ROLLBACK");
}

/* Runs one statement with the given bindings to completion: SQLITE_OK,
 * or an SQLite error.  Bindings: 't' text (NULL binds NULL), 'i' int64. */
static int rb_run(struct registry *reg, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc, col = 1;

	rc = sqlite3_prepare_v2(reg->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	va_start(ap, types);
	for (; *types && rc == SQLITE_OK; types++, col++) {
		if (*types == 't') {
			const char *s = va_arg(ap, const char *);

			rc = s ? sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
		} else {
			rc = sqlite3_bind_int64(st, col, va_arg(ap, int64_t));
		}
	}
	va_end(ap);
	if (rc == SQLITE_OK) {
		do
			rc = sqlite3_step(st);
		while (rc == SQLITE_ROW);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static void rb_row(sqlite3_stmt *st, struct registry_blob *out)
{
	const char *key = (const char *)sqlite3_column_text(st, 0);
	const char *state = (const char *)sqlite3_column_text(st, 2);

	memset(out, 0, sizeof(*out));
	snprintf(out->key, sizeof(out->key), "%s", key ? key : "");
	out->size_bytes = (uint64_t)sqlite3_column_int64(st, 1);
	out->state = state && strcmp(state, "cached") == 0 ? REGISTRY_BLOB_CACHED : REGISTRY_BLOB_PARTIAL;
	out->file_id = (uint64_t)sqlite3_column_int64(st, 3);
	out->pinned = sqlite3_column_int(st, 4) != 0;
	out->last_used = sqlite3_column_int64(st, 5);
}

#define RB_COLUMNS "key, size_bytes, state, file_id, pinned, last_used"

static int rb_get_locked(struct registry *reg, const char *key, struct registry_blob *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(reg->db, "SELECT " RB_COLUMNS " FROM blobs WHERE key = ?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rb_row(st, out);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_NOTFOUND;
	}
	sqlite3_finalize(st);
	return rc;
}

int registry_blob_get(struct registry *reg, const char *key, struct registry_blob *out)
{
	int rc, err = 0;

	memset(out, 0, sizeof(*out));
	if (!rb_key_ok(key))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = rb_get_locked(reg, key, out);
	if (rc == SQLITE_NOTFOUND)
		err = -ENOENT;
	else if (rc != SQLITE_OK)
		err = rb_fail(reg, rc);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_blob_put(struct registry *reg, const struct registry_blob *b)
{
	struct registry_blob old;
	int64_t now = (int64_t)time(NULL);
	bool drop_ranges;
	int rc, err = 0;

	if (!rb_key_ok(b->key) || b->size_bytes > INT64_MAX || b->file_id > INT64_MAX)
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = rb_exec(reg, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		goto out_fail;
	rc = rb_get_locked(reg, b->key, &old);
	if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND)
		goto out_fail;
	drop_ranges = rc == SQLITE_OK &&
		(b->state == REGISTRY_BLOB_CACHED || old.file_id != b->file_id || old.size_bytes != b->size_bytes);
	rc = rb_run(reg,
		    "INSERT INTO blobs (key, size_bytes, state, file_id, pinned, last_used, created, updated)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
		    " ON CONFLICT (key) DO UPDATE SET size_bytes = excluded.size_bytes,"
		    " state = excluded.state, file_id = excluded.file_id, pinned = excluded.pinned,"
		    " last_used = excluded.last_used, updated = excluded.updated",
		    "titiiii", b->key, (int64_t)b->size_bytes,
		    b->state == REGISTRY_BLOB_CACHED ? "cached" : "partial", (int64_t)b->file_id,
		    (int64_t)(b->pinned ? 1 : 0), b->last_used, now);
	if (rc == SQLITE_OK && drop_ranges)
		rc = rb_run(reg, "DELETE FROM blob_ranges WHERE blob = ?1", "t", b->key);
	if (rc == SQLITE_OK)
		rc = rb_exec(reg, "COMMIT");
	if (rc == SQLITE_OK)
		goto out_unlock;
out_fail:
	err = rb_fail(reg, rc);
	rb_rollback(reg);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_blob_delete(struct registry *reg, const char *key)
{
	int rc, err = 0;

	if (!rb_key_ok(key))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = rb_exec(reg, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK)
		rc = rb_run(reg, "DELETE FROM blob_ranges WHERE blob = ?1", "t", key);
	if (rc == SQLITE_OK)
		rc = rb_run(reg, "DELETE FROM blobs WHERE key = ?1", "t", key);
	if (rc == SQLITE_OK)
		rc = rb_exec(reg, "COMMIT");
	if (rc != SQLITE_OK) {
		err = rb_fail(reg, rc);
		rb_rollback(reg);
	}
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_blob_touch(struct registry *reg, const char *key, int64_t last_used, int pinned)
{
	int rc, err = 0;

	if (!rb_key_ok(key))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	if (pinned >= 0)
		rc = rb_run(reg, "UPDATE blobs SET last_used = ?2, pinned = ?3 WHERE key = ?1", "tii", key,
			    last_used, (int64_t)(pinned ? 1 : 0));
	else
		rc = rb_run(reg, "UPDATE blobs SET last_used = ?2 WHERE key = ?1", "ti", key, last_used);
	if (rc != SQLITE_OK)
		err = rb_fail(reg, rc);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_blob_list(struct registry *reg, struct registry_blob **out, size_t *n_out)
{
	struct registry_blob *a = NULL, *grown;
	size_t n = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc, err = 0;

	*out = NULL;
	*n_out = 0;
	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_prepare_v2(reg->db, "SELECT " RB_COLUMNS " FROM blobs ORDER BY last_used, key", -1, &st,
				NULL);
	if (rc != SQLITE_OK) {
		err = rb_fail(reg, rc);
		goto out_unlock;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			grown = realloc(a, alloc * sizeof(*a));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			a = grown;
		}
		rb_row(st, &a[n++]);
	}
	if (!err && rc != SQLITE_DONE)
		err = rb_fail(reg, rc);
	sqlite3_finalize(st);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	if (err) {
		free(a);
		return err;
	}
	*out = a;
	*n_out = n;
	return 0;
}

int registry_blob_ranges(struct registry *reg, const char *key, struct registry_range **out, size_t *n_out)
{
	struct registry_range *a = NULL, *grown;
	size_t n = 0, alloc = 0;
	sqlite3_stmt *st;
	int rc, err = 0;

	*out = NULL;
	*n_out = 0;
	if (!rb_key_ok(key))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_prepare_v2(reg->db, "SELECT off, len FROM blob_ranges WHERE blob = ?1 ORDER BY off", -1,
				&st, NULL);
	if (rc != SQLITE_OK) {
		err = rb_fail(reg, rc);
		goto out_unlock;
	}
	rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t off = sqlite3_column_int64(st, 0), len = sqlite3_column_int64(st, 1);

		rc = SQLITE_OK;
		if (off < 0 || len <= 0 || off > INT64_MAX - len)
			continue;
		if (n > 0 && (uint64_t)off <= a[n - 1].off + a[n - 1].len) {
			uint64_t end = (uint64_t)off + (uint64_t)len;

			if (end > a[n - 1].off + a[n - 1].len)
				a[n - 1].len = end - a[n - 1].off;
			continue;
		}
		if (n == alloc) {
			if (alloc >= REGISTRY_BLOB_MAX_RANGES) {
				err = -EFBIG;
				break;
			}
			alloc = alloc ? alloc * 2 : 16;
			grown = realloc(a, alloc * sizeof(*a));
			if (!grown) {
				err = -ENOMEM;
				break;
			}
			a = grown;
		}
		a[n].off = (uint64_t)off;
		a[n].len = (uint64_t)len;
		n++;
	}
	if (!err && rc != SQLITE_DONE)
		err = rb_fail(reg, rc);
	sqlite3_finalize(st);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	if (err) {
		free(a);
		return err;
	}
	*out = a;
	*n_out = n;
	return 0;
}

/* Inserts r[0..n) for key; the caller holds the lock and a transaction. */
static int rb_insert_ranges(struct registry *reg, const char *key, uint64_t size,
			    const struct registry_range *r, size_t n, int *err)
{
	sqlite3_stmt *st;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (r[i].len == 0 || r[i].off > size || r[i].len > size - r[i].off) {
			*err = -EINVAL;
			return SQLITE_OK;
		}
	}
	rc = sqlite3_prepare_v2(reg->db, "INSERT INTO blob_ranges (blob, off, len) VALUES (?1, ?2, ?3)", -1,
				&st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	for (i = 0; i < n && rc == SQLITE_OK; i++) {
		rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, (int64_t)r[i].off);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 3, (int64_t)r[i].len);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		/* ignored: reset repeats the step's error, handled above */
		(void)sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

static int rb_write_ranges(struct registry *reg, const char *key, const struct registry_range *r, size_t n,
			   bool replace)
{
	struct registry_blob row;
	int rc, err = 0;

	if (!rb_key_ok(key))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = rb_exec(reg, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK)
		rc = rb_get_locked(reg, key, &row);
	if (rc == SQLITE_NOTFOUND) {
		err = -ENOENT;
		rc = SQLITE_OK;
	}
	if (rc == SQLITE_OK && !err && replace)
		rc = rb_run(reg, "DELETE FROM blob_ranges WHERE blob = ?1", "t", key);
	if (rc == SQLITE_OK && !err)
		rc = rb_insert_ranges(reg, key, row.size_bytes, r, n, &err);
	if (rc == SQLITE_OK && !err)
		rc = rb_exec(reg, "COMMIT");
	if (rc != SQLITE_OK)
		err = rb_fail(reg, rc);
	if (err)
		rb_rollback(reg);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_blob_add_ranges(struct registry *reg, const char *key, const struct registry_range *r, size_t n)
{
	return rb_write_ranges(reg, key, r, n, false);
}

int registry_blob_set_ranges(struct registry *reg, const char *key, const struct registry_range *r, size_t n)
{
	return rb_write_ranges(reg, key, r, n, true);
}

static bool rb_remote_args_ok(const char *repo_id, const char *revision, const char *path)
{
	return repo_id && *repo_id && revision && *revision && path && *path;
}

int registry_remote_get(struct registry *reg, const char *repo_id, const char *revision, const char *path,
			struct registry_remote *out)
{
	sqlite3_stmt *st;
	int rc, err = 0;

	memset(out, 0, sizeof(*out));
	if (!rb_remote_args_ok(repo_id, revision, path))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = sqlite3_prepare_v2(reg->db,
				"SELECT size_bytes, sha256, commit_sha, checked FROM remote_files"
				" WHERE repo_id = ?1 AND revision = ?2 AND path = ?3", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_bind_text(st, 1, repo_id, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, 2, revision, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *sha = (const char *)sqlite3_column_text(st, 1);
			const char *commit = (const char *)sqlite3_column_text(st, 2);

			out->size_bytes = (uint64_t)sqlite3_column_int64(st, 0);
			snprintf(out->sha256, sizeof(out->sha256), "%s", sha ? sha : "");
			snprintf(out->commit, sizeof(out->commit), "%s", commit ? commit : "");
			out->checked = sqlite3_column_int64(st, 3);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			err = -ENOENT;
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK)
		err = rb_fail(reg, rc);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_remote_put(struct registry *reg, const char *repo_id, const char *revision, const char *path,
			const struct registry_remote *r)
{
	size_t sha_len = strnlen(r->sha256, sizeof(r->sha256));
	int rc, err = 0;

	if (!rb_remote_args_ok(repo_id, revision, path) || r->size_bytes > INT64_MAX ||
	    (sha_len != 0 && sha_len != 64) || strnlen(r->commit, sizeof(r->commit)) == sizeof(r->commit))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = rb_run(reg,
		    "INSERT INTO remote_files (repo_id, revision, path, size_bytes, sha256, commit_sha, checked)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		    " ON CONFLICT (repo_id, revision, path) DO UPDATE SET size_bytes = excluded.size_bytes,"
		    " sha256 = excluded.sha256, commit_sha = excluded.commit_sha, checked = excluded.checked",
		    "tttitti", repo_id, revision, path, (int64_t)r->size_bytes, sha_len ? r->sha256 : NULL,
		    r->commit[0] ? r->commit : NULL, r->checked);
	if (rc != SQLITE_OK)
		err = rb_fail(reg, rc);
	pthread_mutex_unlock(&reg->lock);
	return err;
}
