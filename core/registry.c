/*
 * registry.c - the registry database: what is registered, persisted in
 * SQLite under state=DIR/registry.db.
 *
 * The registry is one SQLite connection, opened in serialized mode, in WAL
 * journal mode with synchronous=NORMAL: a commit appends to the WAL without
 * an fsync (the WAL is synced at checkpoints), so a crash may lose the last
 * few changes but never corrupts the database, and registering a model
 * costs well under a millisecond of I/O.  Readers never touch the database
 * on the hot path.  Every committed change rebuilds an immutable in-memory
 * snapshot of all variants (snapshot.c), built inside the same transaction
 * before the COMMIT, so a change either commits and is published together
 * with its snapshot, or is rolled back and nothing changed: SPEC §6 asks
 * that a failed request change nothing.
 *
 * Locking: reg->lock serializes every use of the connection and of the
 * prepared statements, and so makes multi-statement work (a transaction,
 * a step-then-read) atomic with respect to other threads.  A second,
 * short lock, reg->snap_lock, guards only the pointer to the current
 * snapshot and the reference counts, so a FUSE thread taking a snapshot
 * never waits behind a write transaction or a checkpoint's fsync.
 *
 * Schema.  The version is PRAGMA user_version.  registry_migrations[i]
 * takes a database from version i to i + 1; each one runs in its own
 * IMMEDIATE transaction together with the user_version bump, so a crash
 * mid-migration leaves the older version intact.  A database whose version
 * is newer than REGISTRY_SCHEMA_VERSION comes from a newer modelfs and is
 * refused with -EPROTO rather than misread.  Version 1:
 *
 *   repos       one row per Hub repo (repo_id unique, ASCII case-folded,
 *               as the Hub treats it), its revision, origin and base repo
 *   variants    FAMILY/VARIANT (unique pair) -> a repo; scalar facts and
 *               the architecture.json, config.json and extra JSON texts
 *   quants      VARIANT/QUANT (unique per variant); deleted with the variant
 *   files       the files of a quant (unique name per quant), in order
 *   benchmarks  results per quant; deleted with the quant, kept when the
 *               variant is re-registered and the quant still exists
 *   jobs        download and benchmark jobs
 *   events      the persistent twin of .control/log, trimmed to the last
 *               REGISTRY_EVENTS_MAX rows
 *   hardware    the hardware profile, a single row (id = 1)
 *   meta        key/value settings, such as the catalog versions loaded
 *
 * Version 2 adds the blob store's tables (core/registry_blob.c): blobs,
 * blob_ranges (byte ranges of partial blobs known to be on disk) and
 * remote_files (what a HEAD of a Hub file said: size, LFS sha256).
 *
 * Version 3 adds quant_layouts: per quant registered from GGUF headers,
 * its weights layout (vram_layout_encode(), about 100 bytes for a 70B
 * model), so vram@ places the real tensors.  Written with the quant,
 * deleted when a re-registration gives none, and with the quant.
 *
 * Timestamps are Unix seconds (UTC).  SQLite integers are signed, so every
 * uint64_t quantity is refused above INT64_MAX before it is stored.
 *
 * Re-registering a variant is an upsert, not a delete and insert: rows keep
 * their ids, so the benchmarks of quants that still exist stay attached;
 * quants and files no longer listed are deleted (their benchmarks cascade),
 * and a repo row that no variant refers to any more is deleted at the end of
 * the transaction.
 */
#include "core.h"
#include "registry_int.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#define REGISTRY_DB_NAME          "registry.db"
#define REGISTRY_BUSY_TIMEOUT_MS  5000     /* another process holding the write lock */
#define REGISTRY_EVENTS_MAX       10000    /* rows the events table keeps */
#define REGISTRY_EVENT_TRIM_EVERY 256      /* inserts between two trims */
#define REGISTRY_EVENT_MSG_MAX    4096     /* bytes of one event message */
#define REGISTRY_TEXT_MAX         4096     /* bytes of repo ids, revisions, full names */
#define REGISTRY_UPSTREAM_MAX     1024     /* bytes of a path inside a repo */
#define REGISTRY_MAX_QUANTS       1024     /* quants per variant */
#define REGISTRY_MAX_FILES        1024     /* files per quant */
#define REGISTRY_SHOW_MAX         64       /* bytes of an outside value quoted in a message */

/* Migration i takes user_version i to i + 1. */
static const char *const registry_migrations[] = {
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE repos ("
	"  id INTEGER PRIMARY KEY,"
	"  repo_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	"  revision TEXT,"
	"  origin TEXT NOT NULL CHECK (origin IN ('catalog', 'hub', 'local')),"
	"  base_repo TEXT,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL"
	");"
	"CREATE TABLE variants ("
	"  id INTEGER PRIMARY KEY,"
	"  family TEXT NOT NULL,"
	"  variant TEXT NOT NULL,"
	"  full_name TEXT,"
	"  repo INTEGER NOT NULL REFERENCES repos(id) ON DELETE RESTRICT,"
	"  architecture TEXT,"
	"  params_b REAL NOT NULL DEFAULT 0 CHECK (params_b >= 0),"
	"  params_exact INTEGER NOT NULL DEFAULT 0 CHECK (params_exact >= 0),"
	"  context_window INTEGER NOT NULL DEFAULT 0 CHECK (context_window >= 0),"
	"  multimodal INTEGER NOT NULL DEFAULT 0 CHECK (multimodal IN (0, 1)),"
	"  arch_json TEXT,"
	"  config_json TEXT,"
	"  extra_json TEXT,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  UNIQUE (family, variant)"
	");"
	"CREATE INDEX variants_by_repo ON variants(repo);"
	"CREATE TABLE quants ("
	"  id INTEGER PRIMARY KEY,"
	"  variant INTEGER NOT NULL REFERENCES variants(id) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  file_pattern TEXT,"
	"  size_bytes INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),"
	"  size_exact INTEGER NOT NULL DEFAULT 0 CHECK (size_exact IN (0, 1)),"
	"  bits_per_weight REAL NOT NULL DEFAULT 0 CHECK (bits_per_weight >= 0),"
	"  quality_stars INTEGER NOT NULL DEFAULT 0 CHECK (quality_stars BETWEEN 0 AND 5),"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  UNIQUE (variant, name)"
	");"
	"CREATE TABLE files ("
	"  id INTEGER PRIMARY KEY,"
	"  quant INTEGER NOT NULL REFERENCES quants(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  upstream TEXT NOT NULL,"
	"  size_bytes INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),"
	"  sha256 TEXT CHECK (sha256 IS NULL OR length(sha256) = 64),"
	"  role INTEGER NOT NULL DEFAULT 0 CHECK (role IN (0, 1)),"
	"  UNIQUE (quant, name)"
	");"
	"CREATE INDEX files_by_position ON files(quant, position);"
	"CREATE TABLE benchmarks ("
	"  id INTEGER PRIMARY KEY,"
	"  quant INTEGER NOT NULL REFERENCES quants(id) ON DELETE CASCADE,"
	"  started INTEGER NOT NULL,"
	"  finished INTEGER,"
	"  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'tested', 'failed')),"
	"  result_json TEXT"
	");"
	"CREATE INDEX benchmarks_by_quant ON benchmarks(quant, started);"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  state TEXT NOT NULL"
	"    CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),"
	"  progress REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),"
	"  done_bytes INTEGER NOT NULL DEFAULT 0 CHECK (done_bytes >= 0),"
	"  total_bytes INTEGER NOT NULL DEFAULT 0 CHECK (total_bytes >= 0),"
	"  message TEXT,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL"
	");"
	"CREATE INDEX jobs_by_state ON jobs(state);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  ts INTEGER NOT NULL,"
	"  level TEXT NOT NULL CHECK (level IN ('error', 'warn', 'info', 'debug')),"
	"  message TEXT NOT NULL"
	");"
	"CREATE TABLE hardware ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  gpu_name TEXT NOT NULL DEFAULT '',"
	"  gpu_vram_mib INTEGER NOT NULL DEFAULT 0 CHECK (gpu_vram_mib >= 0),"
	"  gpu_bandwidth_gbps REAL NOT NULL DEFAULT 0 CHECK (gpu_bandwidth_gbps >= 0),"
	"  ram_mib INTEGER NOT NULL DEFAULT 0 CHECK (ram_mib >= 0),"
	"  ram_bandwidth_gbps REAL NOT NULL DEFAULT 0 CHECK (ram_bandwidth_gbps >= 0),"
	"  updated INTEGER NOT NULL"
	");",
	/* 2: the blob store's bookkeeping (core/registry_blob.c): blobs,
	 * the byte ranges of partial blobs that are safely on disk, and what
	 * a HEAD of a Hub file said.  IF NOT EXISTS: a database set back to
	 * version 1 by hand migrates again without failing. */
	"CREATE TABLE IF NOT EXISTS blobs ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),"
	"  state TEXT NOT NULL CHECK (state IN ('partial', 'cached')),"
	"  file_id INTEGER NOT NULL DEFAULT 0,"
	"  pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),"
	"  last_used INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS blob_ranges ("
	"  id INTEGER PRIMARY KEY,"
	"  blob TEXT NOT NULL REFERENCES blobs(key) ON DELETE CASCADE,"
	"  off INTEGER NOT NULL CHECK (off >= 0),"
	"  len INTEGER NOT NULL CHECK (len > 0)"
	");"
	"CREATE INDEX IF NOT EXISTS blob_ranges_by_blob ON blob_ranges(blob, off);"
	"CREATE TABLE IF NOT EXISTS remote_files ("
	"  repo_id TEXT NOT NULL COLLATE NOCASE,"
	"  revision TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),"
	"  sha256 TEXT CHECK (sha256 IS NULL OR length(sha256) = 64),"
	"  commit_sha TEXT,"
	"  checked INTEGER NOT NULL,"
	"  PRIMARY KEY (repo_id, revision, path)"
	") WITHOUT ROWID;",
	/* 3: the weights layout of each quant read from GGUF headers
	 * (model_quant.weights_layout), one row per quant that has one.  A
	 * table rather than a column, so that IF NOT EXISTS keeps a database
	 * set back by hand migrating again. */
	"CREATE TABLE IF NOT EXISTS quant_layouts ("
	"  quant INTEGER PRIMARY KEY REFERENCES quants(id) ON DELETE CASCADE,"
	"  layout BLOB NOT NULL CHECK (length(layout) > 0)"
	");",
};

_Static_assert(sizeof(registry_migrations) / sizeof(registry_migrations[0]) == REGISTRY_SCHEMA_VERSION,
	       "one migration per schema version");

static const char *const registry_stmt_sql[REG_STMT_COUNT] = {
	[REG_STMT_REPO_UPSERT] =
		"INSERT INTO repos (repo_id, revision, origin, base_repo, created, updated)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
		" ON CONFLICT (repo_id) DO UPDATE SET repo_id = excluded.repo_id,"
		" revision = excluded.revision, origin = excluded.origin,"
		" base_repo = excluded.base_repo, updated = excluded.updated"
		" RETURNING id",
	[REG_STMT_REPO_GC] =
		"DELETE FROM repos WHERE NOT EXISTS"
		" (SELECT 1 FROM variants WHERE variants.repo = repos.id)",
	[REG_STMT_VARIANT_ORIGIN] =
		"SELECT r.origin FROM variants v JOIN repos r ON r.id = v.repo"
		" WHERE v.family = ?1 AND v.variant = ?2",
	[REG_STMT_VARIANT_UPSERT] =
		"INSERT INTO variants (family, variant, full_name, repo, architecture, params_b,"
		" params_exact, context_window, multimodal, arch_json, config_json, extra_json,"
		" created, updated)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)"
		" ON CONFLICT (family, variant) DO UPDATE SET full_name = excluded.full_name,"
		" repo = excluded.repo, architecture = excluded.architecture,"
		" params_b = excluded.params_b, params_exact = excluded.params_exact,"
		" context_window = excluded.context_window, multimodal = excluded.multimodal,"
		" arch_json = excluded.arch_json, config_json = excluded.config_json,"
		" extra_json = excluded.extra_json, updated = excluded.updated"
		" RETURNING id",
	[REG_STMT_VARIANT_FIND] =
		"SELECT id FROM variants WHERE family = ?1 AND variant = ?2",
	[REG_STMT_VARIANT_DELETE] =
		"DELETE FROM variants WHERE id = ?1",
	[REG_STMT_QUANT_LIST] =
		"SELECT id, name FROM quants WHERE variant = ?1",
	[REG_STMT_QUANT_UPSERT] =
		"INSERT INTO quants (variant, name, file_pattern, size_bytes, size_exact,"
		" bits_per_weight, quality_stars, created, updated)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"
		" ON CONFLICT (variant, name) DO UPDATE SET file_pattern = excluded.file_pattern,"
		" size_bytes = excluded.size_bytes, size_exact = excluded.size_exact,"
		" bits_per_weight = excluded.bits_per_weight,"
		" quality_stars = excluded.quality_stars, updated = excluded.updated"
		" RETURNING id",
	[REG_STMT_QUANT_DELETE] =
		"DELETE FROM quants WHERE id = ?1",
	[REG_STMT_QUANT_DELETE_NAME] =
		"DELETE FROM quants WHERE variant = ?1 AND name = ?2",
	[REG_STMT_FILE_LIST] =
		"SELECT id, name FROM files WHERE quant = ?1",
	[REG_STMT_FILE_UPSERT] =
		"INSERT INTO files (quant, position, name, upstream, size_bytes, sha256, role)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		" ON CONFLICT (quant, name) DO UPDATE SET position = excluded.position,"
		" upstream = excluded.upstream, size_bytes = excluded.size_bytes,"
		" sha256 = excluded.sha256, role = excluded.role",
	[REG_STMT_FILE_DELETE] =
		"DELETE FROM files WHERE id = ?1",
	[REG_STMT_LAYOUT_SET] =
		"INSERT INTO quant_layouts (quant, layout) VALUES (?1, ?2)"
		" ON CONFLICT (quant) DO UPDATE SET layout = excluded.layout",
	[REG_STMT_LAYOUT_DELETE] =
		"DELETE FROM quant_layouts WHERE quant = ?1",
	[REG_STMT_META_GET] =
		"SELECT value FROM meta WHERE key = ?1",
	[REG_STMT_META_SET] =
		"INSERT INTO meta (key, value) VALUES (?1, ?2)"
		" ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[REG_STMT_META_DELETE] =
		"DELETE FROM meta WHERE key = ?1",
	[REG_STMT_HW_GET] =
		"SELECT gpu_name, gpu_vram_mib, gpu_bandwidth_gbps, ram_mib, ram_bandwidth_gbps"
		" FROM hardware WHERE id = 1",
	[REG_STMT_HW_SET] =
		"INSERT INTO hardware (id, gpu_name, gpu_vram_mib, gpu_bandwidth_gbps, ram_mib,"
		" ram_bandwidth_gbps, updated) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT (id) DO UPDATE SET gpu_name = excluded.gpu_name,"
		" gpu_vram_mib = excluded.gpu_vram_mib,"
		" gpu_bandwidth_gbps = excluded.gpu_bandwidth_gbps, ram_mib = excluded.ram_mib,"
		" ram_bandwidth_gbps = excluded.ram_bandwidth_gbps, updated = excluded.updated",
	[REG_STMT_EVENT_ADD] =
		"INSERT INTO events (ts, level, message) VALUES (?1, ?2, ?3)",
	[REG_STMT_EVENT_TRIM] =
		"DELETE FROM events WHERE id <= ?1",
};

/* Names that would hide a fixed file of the tree (SPEC §3). */
static const char *const registry_reserved_families[] = { "registry.json", "models.tsv", "by-repo", NULL };
static const char *const registry_reserved_quants[] = { "info.json", "architecture.json", "config.json", NULL };
static const char *const registry_reserved_files[] = { "info.json", "benchmark.json", "compare.tsv", "status", NULL };

/* ------------------------------------------------------------------------
 * Error translation: the one place SQLite's codes become errno values.
 * ------------------------------------------------------------------------ */

int registry_errno(int sqlite_rc)
{
	switch (sqlite_rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_IOERR_NOMEM:
		return -ENOMEM;
	case SQLITE_CANTOPEN_ISDIR:
		return -EISDIR;
	default:
		break;
	}
	switch (sqlite_rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_READONLY:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_TOOBIG:
		return -EFBIG;
	case SQLITE_INTERRUPT:
		return -EINTR;
	default:
		return -EIO;
	}
}

static const char *registry_advice(int sqlite_rc)
{
	switch (sqlite_rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "another process may be using this state directory; retry";
	case SQLITE_FULL:
		return "free some disk space and retry";
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_READONLY:
		return "check the permissions of the state directory";
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return "move the file away to start with an empty registry";
	default:
		return "see the log for details";
	}
}

/* Records a failed SQLite call (rc) in d and returns its errno.  Must run
 * before anything else uses the connection (a ROLLBACK resets the message). */
int registry_fail(struct registry *reg, int rc, struct diag *d)
{
	const char *msg = reg->db ? sqlite3_errmsg(reg->db) : sqlite3_errstr(rc);

	if (!reg->db || sqlite3_extended_errcode(reg->db) != rc)
		msg = sqlite3_errstr(rc);
	log_msg(LOG_ERROR, "registry database '%s': %s", reg->path, msg);
	return diag_fail(d, registry_errno(rc), "registry database '%s': %s; %s",
			 reg->path, msg, registry_advice(rc));
}

/* ------------------------------------------------------------------------
 * Statement helpers.  They return SQLite codes; the public functions turn
 * them into errno values through registry_fail() or registry_errno().
 * ------------------------------------------------------------------------ */

static int stmt_get(struct registry *reg, enum registry_stmt which, sqlite3_stmt **out)
{
	int rc;

	*out = NULL;
	if (!reg->stmt[which]) {
		rc = sqlite3_prepare_v3(reg->db, registry_stmt_sql[which], -1,
					SQLITE_PREPARE_PERSISTENT, &reg->stmt[which], NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	*out = reg->stmt[which];
	return SQLITE_OK;
}

/* Leaves st ready for its next use and drops the borrowed bindings. */
static void stmt_done(sqlite3_stmt *st)
{
	if (!st)
		return;
	/* ignored: reset repeats the error of the last step, already handled */
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

static void bind_text(sqlite3_stmt *st, int col, const char *s, int *rc)
{
	if (*rc != SQLITE_OK)
		return;
	*rc = s ? sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
}

static void bind_int(sqlite3_stmt *st, int col, int64_t v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_int64(st, col, v);
}

static void bind_double(sqlite3_stmt *st, int col, double v, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_double(st, col, v);
}

/* Steps a statement that must change rows and return nothing. */
static int step_done(sqlite3_stmt *st, int rc)
{
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		else if (rc == SQLITE_ROW)
			rc = SQLITE_INTERNAL;
	}
	stmt_done(st);
	return rc;
}

/* Steps a statement that returns one id (RETURNING id or SELECT id):
 * SQLITE_OK with *id set, SQLITE_DONE when there is no row, or an error. */
static int step_id(sqlite3_stmt *st, int rc, int64_t *id)
{
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*id = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	stmt_done(st);
	return rc;
}

static int db_exec(struct registry *reg, const char *sql)
{
	return sqlite3_exec(reg->db, sql, NULL, NULL, NULL);
}

static void tx_rollback(struct registry *reg)
{
	/* ignored: a failed ROLLBACK leaves the transaction to SQLite, which
	 * rolls it back at the next BEGIN or at close; the error worth
	 * reporting is the one that brought us here */
	if (!sqlite3_get_autocommit(reg->db))
		(void)db_exec(reg, "ROLLBACK");
}

/* Builds the snapshot the transaction's changes produce, commits, and
 * publishes the snapshot; rolls back on failure.  Holds reg->lock. */
int registry_tx_publish(struct registry *reg, struct diag *d)
{
	struct registry_snapshot *s;
	int rc;

	rc = registry_snapshot_build(reg->db, reg->generation + 1, &s);
	if (rc) {
		tx_rollback(reg);
		log_msg(LOG_ERROR, "cannot build the registry snapshot: %s", strerror(-rc));
		return diag_fail(d, rc, "cannot build the registry snapshot: %s; nothing was changed",
				 strerror(-rc));
	}
	rc = db_exec(reg, "COMMIT");
	if (rc != SQLITE_OK) {
		rc = registry_fail(reg, rc, d);
		tx_rollback(reg);
		registry_snapshot_free(s);
		return rc;
	}
	reg->generation++;
	registry_snapshot_replace(reg, s);
	return 0;
}

/* ------------------------------------------------------------------------
 * Validation of what is written.
 * ------------------------------------------------------------------------ */

/* Copies at most REGISTRY_SHOW_MAX bytes of s for a message, control bytes
 * replaced, so an outside value cannot break the one-line log format. */
static const char *show(const char *s, char buf[REGISTRY_SHOW_MAX + 4])
{
	size_t i;

	if (!s)
		return "(null)";
	for (i = 0; s[i] && i < REGISTRY_SHOW_MAX; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static bool text_is_clean(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i >= max || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	}
	return true;
}

bool registry_upstream_is_valid(const char *path)
{
	const char *p = path, *seg;
	size_t len;

	if (!path || !*path || *path == '/' || !text_is_clean(path, REGISTRY_UPSTREAM_MAX - 1))
		return false;
	if (strchr(path, '\\'))
		return false;
	while (*p) {
		seg = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (*p == '/' && !*++p)
			return false;
	}
	return true;
}

static bool is_reserved(const char *name, const char *const *list)
{
	for (; *list; list++) {
		if (!strcmp(name, *list))
			return true;
	}
	return false;
}

static int check_name(struct diag *d, const char *subject, const char *what, const char *name,
		      const char *const *reserved)
{
	char b[REGISTRY_SHOW_MAX + 4];

	if (!name)
		return diag_fail(d, -EINVAL, "%smissing %s name", subject, what);
	if (!parse_is_name(name))
		return diag_fail(d, -EINVAL,
				 "%sinvalid %s name '%s'; use [a-z0-9][a-z0-9._-]*, at most %d bytes",
				 subject, what, show(name, b), NAME_MAX_BYTES - 1);
	if (reserved && is_reserved(name, reserved))
		return diag_fail(d, -EINVAL, "%s%s name '%s' is the name of a file of the tree; choose another",
				 subject, what, name);
	return 0;
}

static int check_text(struct diag *d, const char *subject, const char *what, const char *s,
		      bool required)
{
	char b[REGISTRY_SHOW_MAX + 4];

	if (!s) {
		if (required)
			return diag_fail(d, -EINVAL, "%smissing %s", subject, what);
		return 0;
	}
	if (!*s || !text_is_clean(s, REGISTRY_TEXT_MAX - 1))
		return diag_fail(d, -EINVAL,
				 "%sinvalid %s '%s'; it must be non-empty, without control characters, under %d bytes",
				 subject, what, show(s, b), REGISTRY_TEXT_MAX);
	return 0;
}

static int check_json_object(struct diag *d, const char *subject, const char *what, const char *text)
{
	json_error_t err;
	json_t *j;
	bool ok;

	if (!text)
		return 0;
	if (strlen(text) > CAP_CONFIG_JSON_BYTES)
		return diag_fail(d, -EINVAL, "%s%s is larger than %u bytes", subject, what,
				 CAP_CONFIG_JSON_BYTES);
	j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		return diag_fail(d, -EINVAL, "%s%s is not valid JSON: %s", subject, what, err.text);
	ok = json_is_object(j);
	json_decref(j);
	if (!ok)
		return diag_fail(d, -EINVAL, "%s%s is not a JSON object", subject, what);
	return 0;
}

static bool is_sha256(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[64] == '\0';
}

static int check_file(struct diag *d, const char *subject, const struct model_quant *q, size_t fi)
{
	const struct model_file *f = &q->files[fi];
	char b[REGISTRY_SHOW_MAX + 4];
	size_t j;
	int rc;

	rc = check_name(d, subject, "file", f->name, registry_reserved_files);
	if (rc)
		return rc;
	for (j = 0; j < fi; j++) {
		if (!strcmp(q->files[j].name, f->name))
			return diag_fail(d, -EINVAL, "%sfile '%s' is listed twice in quant '%s'",
					 subject, f->name, q->name);
	}
	if (!registry_upstream_is_valid(f->upstream))
		return diag_fail(d, -EINVAL,
				 "%sinvalid upstream path '%s' for file '%s'; use a relative path inside the repo",
				 subject, show(f->upstream, b), f->name);
	if (f->size_bytes > INT64_MAX)
		return diag_fail(d, -EINVAL, "%ssize of file '%s' is out of range", subject, f->name);
	if (f->sha256 && !is_sha256(f->sha256))
		return diag_fail(d, -EINVAL, "%sinvalid sha256 '%s' for file '%s'; use 64 lowercase hex digits",
				 subject, show(f->sha256, b), f->name);
	if (f->role != FILE_ROLE_MODEL && f->role != FILE_ROLE_MMPROJ)
		return diag_fail(d, -EINVAL, "%sunknown role %d for file '%s'", subject, (int)f->role, f->name);
	return 0;
}

static int check_quant(struct diag *d, const char *subject, const struct model_variant *v, size_t qi)
{
	const struct model_quant *q = &v->quants[qi];
	size_t j, n_model = 0;
	int rc;

	rc = check_name(d, subject, "quant", q->name, registry_reserved_quants);
	if (rc)
		return rc;
	for (j = 0; j < qi; j++) {
		if (!strcmp(v->quants[j].name, q->name))
			return diag_fail(d, -EINVAL, "%squant '%s' is listed twice", subject, q->name);
	}
	rc = check_text(d, subject, "file pattern", q->file_pattern, false);
	if (rc)
		return rc;
	if (q->size_bytes > INT64_MAX)
		return diag_fail(d, -EINVAL, "%ssize of quant '%s' is out of range", subject, q->name);
	if (!isfinite(q->bits_per_weight) || q->bits_per_weight < 0 || q->bits_per_weight > 64)
		return diag_fail(d, -EINVAL, "%sbits per weight of quant '%s' must be between 0 and 64",
				 subject, q->name);
	if (q->quality_stars < 0 || q->quality_stars > 5)
		return diag_fail(d, -EINVAL, "%squality stars of quant '%s' must be between 0 and 5",
				 subject, q->name);
	if (q->n_files > REGISTRY_MAX_FILES || (q->n_files && !q->files))
		return diag_fail(d, -EINVAL, "%squant '%s' has too many files (at most %d)",
				 subject, q->name, REGISTRY_MAX_FILES);
	for (j = 0; j < q->n_files; j++) {
		rc = check_file(d, subject, q, j);
		if (rc)
			return rc;
		if (q->files[j].role == FILE_ROLE_MODEL)
			n_model++;
	}
	if (!n_model)
		return diag_fail(d, -EINVAL, "%squant '%s' has no model file", subject, q->name);
	if (!q->weights_layout != !q->weights_layout_bytes)
		return diag_fail(d, -EINVAL, "%squant '%s' has a weights layout length without a layout, "
				 "or a layout without its length", subject, q->name);
	if (q->weights_layout) {
		struct diag ld;

		diag_init(&ld);
		if (vram_layout_check(q->weights_layout, q->weights_layout_bytes, &ld))
			return diag_fail(d, -EINVAL, "%squant '%s': %s", subject, q->name, ld.msg);
	}
	return 0;
}

int registry_variant_check(const struct model_variant *v, struct diag *d)
{
	char subject[2 * NAME_MAX_BYTES + 8];
	size_t i;
	int rc;

	rc = check_name(d, "", "family", v->family, registry_reserved_families);
	if (rc)
		return rc;
	rc = check_name(d, "", "variant", v->variant, NULL);
	if (rc)
		return rc;
	snprintf(subject, sizeof(subject), "'%s/%s': ", v->family, v->variant);
	rc = check_text(d, subject, "full name", v->full_name, false);
	if (!rc)
		rc = check_text(d, subject, "repo id", v->repo_id, true);
	if (!rc)
		rc = check_text(d, subject, "revision", v->revision, false);
	if (!rc)
		rc = check_text(d, subject, "base repo", v->base_repo, false);
	if (!rc)
		rc = check_text(d, subject, "architecture", v->architecture, false);
	if (rc)
		return rc;
	if (!v->origin || (strcmp(v->origin, "catalog") && strcmp(v->origin, "hub") &&
			   strcmp(v->origin, "local")))
		return diag_fail(d, -EINVAL, "%sorigin must be 'catalog', 'hub' or 'local'", subject);
	if (!isfinite(v->parameter_count_b) || v->parameter_count_b < 0)
		return diag_fail(d, -EINVAL, "%sparameter count must be a finite number >= 0", subject);
	if (v->parameter_count_exact > INT64_MAX || v->context_window > INT64_MAX)
		return diag_fail(d, -EINVAL, "%sparameter count or context window is out of range", subject);
	rc = check_json_object(d, subject, "architecture.json", v->arch_json);
	if (!rc)
		rc = check_json_object(d, subject, "config.json", v->config_json);
	if (!rc)
		rc = check_json_object(d, subject, "extra JSON", v->extra_json);
	if (rc)
		return rc;
	if (v->n_quants > REGISTRY_MAX_QUANTS || (v->n_quants && !v->quants))
		return diag_fail(d, -EINVAL, "%stoo many quants (at most %d)", subject, REGISTRY_MAX_QUANTS);
	for (i = 0; i < v->n_quants; i++) {
		rc = check_quant(d, subject, v, i);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Writing a variant.  All return SQLite codes and run inside a transaction.
 * ------------------------------------------------------------------------ */

struct id_list {
	int64_t *ids;
	size_t n, alloc;
};

static int id_list_push(struct id_list *l, int64_t id)
{
	int64_t *p;
	size_t alloc;

	if (l->n == l->alloc) {
		alloc = l->alloc ? 2 * l->alloc : 16;
		p = realloc(l->ids, alloc * sizeof(*p));
		if (!p)
			return SQLITE_NOMEM;
		l->ids = p;
		l->alloc = alloc;
	}
	l->ids[l->n++] = id;
	return SQLITE_OK;
}

static bool quant_listed(const struct model_variant *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->n_quants; i++) {
		if (!strcmp(v->quants[i].name, name))
			return true;
	}
	return false;
}

static bool file_listed(const struct model_quant *q, const char *name)
{
	size_t i;

	for (i = 0; i < q->n_files; i++) {
		if (!strcmp(q->files[i].name, name))
			return true;
	}
	return false;
}

/* Deletes the rows that list (a SELECT id, name by parent) returns and
 * listed() rejects, through del (DELETE ... WHERE id = ?1). */
static int prune(struct registry *reg, enum registry_stmt list, enum registry_stmt del, int64_t parent,
		 bool (*listed)(const void *owner, const char *name), const void *owner)
{
	struct id_list gone = { 0 };
	sqlite3_stmt *st = NULL;
	const char *name;
	size_t i;
	int rc;

	rc = stmt_get(reg, list, &st);
	bind_int(st, 1, parent, &rc);
	while (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		rc = SQLITE_OK;
		name = (const char *)sqlite3_column_text(st, 1);
		if (!name || !listed(owner, name))
			rc = id_list_push(&gone, sqlite3_column_int64(st, 0));
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	stmt_done(st);
	for (i = 0; rc == SQLITE_OK && i < gone.n; i++) {
		rc = stmt_get(reg, del, &st);
		bind_int(st, 1, gone.ids[i], &rc);
		rc = step_done(st, rc);
	}
	free(gone.ids);
	return rc;
}

static bool quant_listed_cb(const void *owner, const char *name)
{
	return quant_listed(owner, name);
}

static bool file_listed_cb(const void *owner, const char *name)
{
	return file_listed(owner, name);
}

static int quant_write(struct registry *reg, int64_t variant_id, const struct model_quant *q, bool exists,
		       int64_t now)
{
	sqlite3_stmt *st = NULL;
	int64_t quant_id = 0;
	size_t i;
	int rc;

	rc = stmt_get(reg, REG_STMT_QUANT_UPSERT, &st);
	bind_int(st, 1, variant_id, &rc);
	bind_text(st, 2, q->name, &rc);
	bind_text(st, 3, q->file_pattern, &rc);
	bind_int(st, 4, (int64_t)q->size_bytes, &rc);
	bind_int(st, 5, q->size_exact, &rc);
	bind_double(st, 6, q->bits_per_weight, &rc);
	bind_int(st, 7, q->quality_stars, &rc);
	bind_int(st, 8, now, &rc);
	rc = step_id(st, rc, &quant_id);
	if (rc == SQLITE_DONE)
		rc = SQLITE_INTERNAL;
	if (rc == SQLITE_OK && exists)
		rc = prune(reg, REG_STMT_FILE_LIST, REG_STMT_FILE_DELETE, quant_id, file_listed_cb, q);
	if (rc == SQLITE_OK && (q->weights_layout || exists)) {
		rc = stmt_get(reg, q->weights_layout ? REG_STMT_LAYOUT_SET : REG_STMT_LAYOUT_DELETE, &st);
		bind_int(st, 1, quant_id, &rc);
		if (q->weights_layout && rc == SQLITE_OK)
			rc = sqlite3_bind_blob(st, 2, q->weights_layout, (int)q->weights_layout_bytes,
					       SQLITE_STATIC);
		rc = step_done(st, rc);
	}
	for (i = 0; rc == SQLITE_OK && i < q->n_files; i++) {
		const struct model_file *f = &q->files[i];

		rc = stmt_get(reg, REG_STMT_FILE_UPSERT, &st);
		bind_int(st, 1, quant_id, &rc);
		bind_int(st, 2, (int64_t)i, &rc);
		bind_text(st, 3, f->name, &rc);
		bind_text(st, 4, f->upstream, &rc);
		bind_int(st, 5, (int64_t)f->size_bytes, &rc);
		bind_text(st, 6, f->sha256, &rc);
		bind_int(st, 7, f->role, &rc);
		rc = step_done(st, rc);
	}
	return rc;
}

/* Writes one variant; *skipped when REGISTRY_PUT_KEEP_FOREIGN keeps an
 * existing registration of another origin.  A variant not registered yet
 * has no quants or files to prune, which halves the statements a catalog
 * load runs. */
static int variant_write(struct registry *reg, const struct model_variant *v, unsigned flags,
			 int64_t now, bool *skipped)
{
	sqlite3_stmt *st = NULL;
	int64_t repo_id = 0, variant_id = 0;
	const char *origin;
	bool exists = false;
	size_t i;
	int rc;

	*skipped = false;
	rc = stmt_get(reg, REG_STMT_VARIANT_ORIGIN, &st);
	bind_text(st, 1, v->family, &rc);
	bind_text(st, 2, v->variant, &rc);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			origin = (const char *)sqlite3_column_text(st, 0);
			exists = true;
			*skipped = (flags & REGISTRY_PUT_KEEP_FOREIGN) && origin && strcmp(origin, v->origin);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	stmt_done(st);
	if (rc != SQLITE_OK || *skipped)
		return rc;

	rc = stmt_get(reg, REG_STMT_REPO_UPSERT, &st);
	bind_text(st, 1, v->repo_id, &rc);
	bind_text(st, 2, v->revision, &rc);
	bind_text(st, 3, v->origin, &rc);
	bind_text(st, 4, v->base_repo, &rc);
	bind_int(st, 5, now, &rc);
	rc = step_id(st, rc, &repo_id);
	if (rc != SQLITE_OK)
		return rc == SQLITE_DONE ? SQLITE_INTERNAL : rc;

	rc = stmt_get(reg, REG_STMT_VARIANT_UPSERT, &st);
	bind_text(st, 1, v->family, &rc);
	bind_text(st, 2, v->variant, &rc);
	bind_text(st, 3, v->full_name, &rc);
	bind_int(st, 4, repo_id, &rc);
	bind_text(st, 5, v->architecture, &rc);
	bind_double(st, 6, v->parameter_count_b, &rc);
	bind_int(st, 7, (int64_t)v->parameter_count_exact, &rc);
	bind_int(st, 8, (int64_t)v->context_window, &rc);
	bind_int(st, 9, v->multimodal, &rc);
	bind_text(st, 10, v->arch_json, &rc);
	bind_text(st, 11, v->config_json, &rc);
	bind_text(st, 12, v->extra_json, &rc);
	bind_int(st, 13, now, &rc);
	rc = step_id(st, rc, &variant_id);
	if (rc != SQLITE_OK)
		return rc == SQLITE_DONE ? SQLITE_INTERNAL : rc;

	if (exists)
		rc = prune(reg, REG_STMT_QUANT_LIST, REG_STMT_QUANT_DELETE, variant_id, quant_listed_cb, v);
	for (i = 0; rc == SQLITE_OK && i < v->n_quants; i++)
		rc = quant_write(reg, variant_id, &v->quants[i], exists, now);
	return rc;
}

static int repo_gc(struct registry *reg)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = stmt_get(reg, REG_STMT_REPO_GC, &st);
	return step_done(st, rc);
}

static int meta_write(struct registry *reg, const char *key, const char *value)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = stmt_get(reg, value ? REG_STMT_META_SET : REG_STMT_META_DELETE, &st);
	bind_text(st, 1, key, &rc);
	if (value)
		bind_text(st, 2, value, &rc);
	return step_done(st, rc);
}

int registry_put_batch(struct registry *reg, const struct model_variant *v, size_t n,
		       unsigned flags, const char *meta_key, const char *meta_value,
		       struct diag *d)
{
	size_t i, n_written = 0;
	bool skipped;
	int64_t now = (int64_t)time(NULL);
	int rc, err;

	for (i = 0; i < n; i++) {
		rc = registry_variant_check(&v[i], d);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&reg->lock);
	rc = db_exec(reg, "BEGIN IMMEDIATE");
	for (i = 0; rc == SQLITE_OK && i < n; i++) {
		rc = variant_write(reg, &v[i], flags, now, &skipped);
		if (rc == SQLITE_OK && skipped)
			log_msg(LOG_INFO, "kept '%s/%s' as registered; a catalog does not replace a model of another origin",
				v[i].family, v[i].variant);
		else if (rc == SQLITE_OK)
			n_written++;
	}
	if (rc == SQLITE_OK)
		rc = repo_gc(reg);
	if (rc == SQLITE_OK && meta_key)
		rc = meta_write(reg, meta_key, meta_value);
	if (rc != SQLITE_OK) {
		err = registry_fail(reg, rc, d);
		tx_rollback(reg);
		goto out_unlock;
	}
	err = registry_tx_publish(reg, d);
	if (!err)
		log_msg(LOG_DEBUG, "registry: wrote %zu variants, generation %llu", n_written,
			(unsigned long long)reg->generation);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_put_variant(struct registry *reg, const struct model_variant *v, struct diag *d)
{
	if (!reg || !v)
		return diag_fail(d, -EINVAL, "no variant given");
	return registry_put_batch(reg, v, 1, 0, NULL, NULL, d);
}

int registry_remove(struct registry *reg, const char *family, const char *variant,
		    const char *quant, struct diag *d)
{
	sqlite3_stmt *st = NULL;
	int64_t variant_id = 0;
	int rc, err;

	err = check_name(d, "", "family", family, NULL);
	if (!err)
		err = check_name(d, "", "variant", variant, NULL);
	if (!err && quant)
		err = check_name(d, "", "quant", quant, NULL);
	if (err)
		return err;

	pthread_mutex_lock(&reg->lock);
	rc = db_exec(reg, "BEGIN IMMEDIATE");
	if (rc == SQLITE_OK)
		rc = stmt_get(reg, REG_STMT_VARIANT_FIND, &st);
	bind_text(st, 1, family, &rc);
	bind_text(st, 2, variant, &rc);
	rc = step_id(st, rc, &variant_id);
	if (rc == SQLITE_DONE) {
		tx_rollback(reg);
		err = diag_fail(d, -ENOENT, "'%s/%s' is not registered; models.tsv lists what is",
				family, variant);
		goto out_unlock;
	}
	if (rc == SQLITE_OK && quant) {
		rc = stmt_get(reg, REG_STMT_QUANT_DELETE_NAME, &st);
		bind_int(st, 1, variant_id, &rc);
		bind_text(st, 2, quant, &rc);
		rc = step_done(st, rc);
		if (rc == SQLITE_OK && sqlite3_changes(reg->db) == 0) {
			tx_rollback(reg);
			err = diag_fail(d, -ENOENT, "'%s/%s/%s' is not registered; models.tsv lists what is",
					family, variant, quant);
			goto out_unlock;
		}
	} else if (rc == SQLITE_OK) {
		rc = stmt_get(reg, REG_STMT_VARIANT_DELETE, &st);
		bind_int(st, 1, variant_id, &rc);
		rc = step_done(st, rc);
		if (rc == SQLITE_OK)
			rc = repo_gc(reg);
	}
	if (rc != SQLITE_OK) {
		err = registry_fail(reg, rc, d);
		tx_rollback(reg);
		goto out_unlock;
	}
	err = registry_tx_publish(reg, d);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return err;
}

/* ------------------------------------------------------------------------
 * Settings, hardware, events.
 * ------------------------------------------------------------------------ */

int registry_meta_get(struct registry *reg, const char *key, char **out)
{
	sqlite3_stmt *st = NULL;
	const char *val;
	int rc, err = 0;

	*out = NULL;
	if (!key || !*key)
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = stmt_get(reg, REG_STMT_META_GET, &st);
	bind_text(st, 1, key, &rc);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			val = (const char *)sqlite3_column_text(st, 0);
			*out = val ? strdup(val) : NULL;
			err = *out ? 0 : -ENOMEM;
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		err = registry_fail(reg, rc, NULL);
	stmt_done(st);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_meta_set(struct registry *reg, const char *key, const char *value)
{
	int rc, err = 0;

	if (!key || !*key)
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = meta_write(reg, key, value);
	if (rc != SQLITE_OK)
		err = registry_fail(reg, rc, NULL);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_hardware_get(struct registry *reg, struct hw_profile *out)
{
	sqlite3_stmt *st = NULL;
	const char *name;
	int rc, err = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&reg->lock);
	rc = stmt_get(reg, REG_STMT_HW_GET, &st);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			name = (const char *)sqlite3_column_text(st, 0);
			snprintf(out->gpu_name, sizeof(out->gpu_name), "%s", name ? name : "");
			out->gpu_vram_mib = (uint64_t)sqlite3_column_int64(st, 1);
			out->gpu_bandwidth_gbps = sqlite3_column_double(st, 2);
			out->ram_mib = (uint64_t)sqlite3_column_int64(st, 3);
			out->ram_bandwidth_gbps = sqlite3_column_double(st, 4);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK)
		err = registry_fail(reg, rc, NULL);
	stmt_done(st);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

static bool gbps_is_valid(double v)
{
	return isfinite(v) && v >= 0;
}

int registry_hardware_set(struct registry *reg, const struct hw_profile *hw)
{
	sqlite3_stmt *st = NULL;
	int rc, err = 0;

	if (!memchr(hw->gpu_name, '\0', sizeof(hw->gpu_name)) ||
	    !text_is_clean(hw->gpu_name, sizeof(hw->gpu_name)) ||
	    hw->gpu_vram_mib > INT64_MAX || hw->ram_mib > INT64_MAX ||
	    !gbps_is_valid(hw->gpu_bandwidth_gbps) || !gbps_is_valid(hw->ram_bandwidth_gbps))
		return -EINVAL;
	pthread_mutex_lock(&reg->lock);
	rc = stmt_get(reg, REG_STMT_HW_SET, &st);
	bind_text(st, 1, hw->gpu_name, &rc);
	bind_int(st, 2, (int64_t)hw->gpu_vram_mib, &rc);
	bind_double(st, 3, hw->gpu_bandwidth_gbps, &rc);
	bind_int(st, 4, (int64_t)hw->ram_mib, &rc);
	bind_double(st, 5, hw->ram_bandwidth_gbps, &rc);
	bind_int(st, 6, (int64_t)time(NULL), &rc);
	rc = step_done(st, rc);
	if (rc != SQLITE_OK)
		err = registry_fail(reg, rc, NULL);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

int registry_event_add(struct registry *reg, enum log_level level, const char *msg)
{
	static const char *const level_names[] = { "error", "warn", "info", "debug" };
	sqlite3_stmt *st = NULL;
	size_t len;
	int64_t id;
	int rc, err = 0;

	if (!msg || (unsigned)level > LOG_DEBUG)
		return -EINVAL;
	len = strlen(msg);
	if (len > REGISTRY_EVENT_MSG_MAX) {
		len = REGISTRY_EVENT_MSG_MAX;
		while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
			len--;
	}
	pthread_mutex_lock(&reg->lock);
	rc = stmt_get(reg, REG_STMT_EVENT_ADD, &st);
	bind_int(st, 1, (int64_t)time(NULL), &rc);
	bind_text(st, 2, level_names[level], &rc);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 3, msg, (int)len, SQLITE_STATIC);
	rc = step_done(st, rc);
	id = sqlite3_last_insert_rowid(reg->db);
	if (rc == SQLITE_OK && id % REGISTRY_EVENT_TRIM_EVERY == 0 && id > REGISTRY_EVENTS_MAX) {
		rc = stmt_get(reg, REG_STMT_EVENT_TRIM, &st);
		bind_int(st, 1, id - REGISTRY_EVENTS_MAX, &rc);
		rc = step_done(st, rc);
	}
	if (rc != SQLITE_OK)
		err = registry_fail(reg, rc, NULL);
	pthread_mutex_unlock(&reg->lock);
	return err;
}

/* ------------------------------------------------------------------------
 * Life cycle.
 * ------------------------------------------------------------------------ */

static int read_user_version(struct registry *reg, int *version)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(reg->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

static int registry_refuse_version(struct registry *reg, int version, struct diag *d)
{
	log_msg(LOG_ERROR, "registry '%s' has schema version %d; this modelfs knows up to %d",
		reg->path, version, REGISTRY_SCHEMA_VERSION);
	return diag_fail(d, -EPROTO,
			 "registry database '%s' has schema version %d, which this modelfs does not understand (it knows up to %d); upgrade modelfs or use another state directory",
			 reg->path, version, REGISTRY_SCHEMA_VERSION);
}

/* Applies the missing migrations, one transaction each; the version is
 * read again under the write lock, as another process may have migrated. */
static int registry_migrate(struct registry *reg, struct diag *d)
{
	char sql[64];
	int version = 0, rc;

	for (;;) {
		rc = read_user_version(reg, &version);
		if (rc != SQLITE_OK)
			return registry_fail(reg, rc, d);
		if (version < 0 || version > REGISTRY_SCHEMA_VERSION)
			return registry_refuse_version(reg, version, d);
		if (version == REGISTRY_SCHEMA_VERSION)
			return 0;
		rc = db_exec(reg, "BEGIN IMMEDIATE");
		if (rc == SQLITE_OK)
			rc = read_user_version(reg, &version);
		if (rc == SQLITE_OK && version >= 0 && version < REGISTRY_SCHEMA_VERSION) {
			rc = db_exec(reg, registry_migrations[version]);
			snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
			if (rc == SQLITE_OK)
				rc = db_exec(reg, sql);
			if (rc == SQLITE_OK)
				log_msg(LOG_INFO, "registry '%s': schema version %d", reg->path, version + 1);
		}
		if (rc == SQLITE_OK)
			rc = db_exec(reg, "COMMIT");
		if (rc != SQLITE_OK) {
			rc = registry_fail(reg, rc, d);
			tx_rollback(reg);
			return rc;
		}
	}
}

static int registry_configure(struct registry *reg, struct diag *d)
{
	sqlite3_stmt *st;
	const char *mode;
	int rc;

	rc = sqlite3_prepare_v2(reg->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			mode = (const char *)sqlite3_column_text(st, 0);
			if (!mode || strcmp(mode, "wal"))
				log_msg(LOG_WARN, "registry '%s': journal mode is %s, not wal; concurrent access is slower",
					reg->path, mode ? mode : "unknown");
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_OK)
		rc = db_exec(reg, "PRAGMA synchronous = NORMAL");
	if (rc == SQLITE_OK)
		rc = db_exec(reg, "PRAGMA foreign_keys = ON");
	if (rc != SQLITE_OK)
		return registry_fail(reg, rc, d);
	return 0;
}

int registry_open(const char *state_dir, struct registry **out, struct diag *d)
{
	struct registry_snapshot *s = NULL;
	struct registry *reg;
	struct stat st;
	size_t len;
	int rc, err;

	*out = NULL;
	if (!state_dir || !*state_dir)
		return diag_fail(d, -EINVAL, "no state directory given; pass -o state=DIR");
	if (stat(state_dir, &st) < 0) {
		err = -errno;
		return diag_fail(d, err, "cannot use state directory '%s': %s; create it or pass -o state=DIR",
				 state_dir, strerror(-err));
	}
	if (!S_ISDIR(st.st_mode))
		return diag_fail(d, -ENOTDIR, "state directory '%s' is not a directory; pass -o state=DIR",
				 state_dir);
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return diag_fail(d, -ENOMEM, "out of memory opening the registry");
	len = strlen(state_dir) + sizeof("/" REGISTRY_DB_NAME);
	reg->path = malloc(len);
	if (!reg->path) {
		free(reg);
		return diag_fail(d, -ENOMEM, "out of memory opening the registry");
	}
	snprintf(reg->path, len, "%s/%s", state_dir, REGISTRY_DB_NAME);
	pthread_mutex_init(&reg->lock, NULL);
	pthread_mutex_init(&reg->snap_lock, NULL);

	rc = sqlite3_open_v2(reg->path, &reg->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = registry_fail(reg, rc, d);
		goto out_close;
	}
	sqlite3_extended_result_codes(reg->db, 1);
	sqlite3_busy_timeout(reg->db, REGISTRY_BUSY_TIMEOUT_MS);
	err = registry_configure(reg, d);
	if (!err)
		err = registry_migrate(reg, d);
	if (err)
		goto out_close;

	rc = db_exec(reg, "BEGIN");
	if (rc != SQLITE_OK) {
		err = registry_fail(reg, rc, d);
		goto out_close;
	}
	err = registry_snapshot_build(reg->db, 1, &s);
	tx_rollback(reg);
	if (err) {
		diag_fail(d, err, "cannot read the registry database '%s': %s; %s", reg->path,
			  strerror(-err), "move the file away to start with an empty registry");
		goto out_close;
	}
	reg->generation = 1;
	reg->snap = s;
	log_msg(LOG_DEBUG, "registry '%s' opened: %zu variants", reg->path, s->n_variants);
	*out = reg;
	return 0;

out_close:
	registry_close(reg);
	return err;
}

void registry_close(struct registry *reg)
{
	size_t i;

	if (!reg)
		return;
	for (i = 0; i < REG_STMT_COUNT; i++)
		sqlite3_finalize(reg->stmt[i]);
	if (reg->snap) {
		if (reg->snap->refs > 1)
			log_msg(LOG_ERROR, "registry closed while %d snapshot references are held",
				reg->snap->refs - 1);
		else
			registry_snapshot_free(reg->snap);
	}
	/* ignored: sqlite3_close only fails with statements left unfinalized,
	 * and all of ours were finalized above */
	(void)sqlite3_close(reg->db);
	pthread_mutex_destroy(&reg->snap_lock);
	pthread_mutex_destroy(&reg->lock);
	free(reg->path);
	free(reg);
}

int registry_schema_version(struct registry *reg)
{
	int version = 0, rc;

	pthread_mutex_lock(&reg->lock);
	rc = read_user_version(reg, &version);
	pthread_mutex_unlock(&reg->lock);
	if (rc != SQLITE_OK)
		return registry_errno(rc);
	return version;
}

void registry_variant_release(struct model_variant *v)
{
	size_t i, j;

	if (!v)
		return;
	for (i = 0; i < v->n_quants; i++) {
		struct model_quant *q = &v->quants[i];

		for (j = 0; j < q->n_files; j++) {
			free(q->files[j].name);
			free(q->files[j].upstream);
			free(q->files[j].sha256);
		}
		free(q->files);
		for (j = 0; j < q->n_bench; j++)
			bench_run_release(&q->bench[j]);
		free(q->bench);
		free(q->name);
		free(q->file_pattern);
		free(q->weights_layout);
	}
	free(v->quants);
	free(v->family);
	free(v->variant);
	free(v->full_name);
	free(v->repo_id);
	free(v->revision);
	free(v->base_repo);
	free(v->architecture);
	free(v->origin);
	free(v->arch_json);
	free(v->config_json);
	free(v->extra_json);
	memset(v, 0, sizeof(*v));
}
