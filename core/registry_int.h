/*
 * registry_int.h - what registry.c, registry_bench.c, snapshot.c and
 * catalog.c share.
 *
 * Private to core/: never included from another directory.  The public
 * side of these objects is in core.h.
 */
#ifndef MODELFS_REGISTRY_INT_H
#define MODELFS_REGISTRY_INT_H

#include "core.h"

#include <pthread.h>
#include <sqlite3.h>

/* Prepared statements the write path reuses; see registry.c for the SQL. */
enum registry_stmt {
	REG_STMT_REPO_UPSERT,
	REG_STMT_REPO_GC,
	REG_STMT_VARIANT_ORIGIN,
	REG_STMT_VARIANT_UPSERT,
	REG_STMT_VARIANT_FIND,
	REG_STMT_VARIANT_DELETE,
	REG_STMT_QUANT_LIST,
	REG_STMT_QUANT_UPSERT,
	REG_STMT_QUANT_DELETE,
	REG_STMT_QUANT_DELETE_NAME,
	REG_STMT_FILE_LIST,
	REG_STMT_FILE_UPSERT,
	REG_STMT_FILE_DELETE,
	REG_STMT_LAYOUT_SET,
	REG_STMT_LAYOUT_DELETE,
	REG_STMT_META_GET,
	REG_STMT_META_SET,
	REG_STMT_META_DELETE,
	REG_STMT_HW_GET,
	REG_STMT_HW_SET,
	REG_STMT_EVENT_ADD,
	REG_STMT_EVENT_TRIM,
	REG_STMT_COUNT
};

struct registry {
	pthread_mutex_t lock;                   /* serializes all database work */
	sqlite3 *db;                            /* protected by lock */
	sqlite3_stmt *stmt[REG_STMT_COUNT];     /* prepared on first use; protected by lock */
	uint64_t generation;                    /* of the newest snapshot; protected by lock */
	pthread_mutex_t snap_lock;              /* protects snap and every snapshot's refs */
	struct registry_snapshot *snap;         /* current snapshot, holding one reference; protected by snap_lock */
	char *path;                             /* state_dir/registry.db, for messages */
};

/* registry_put_batch() (core.h): the caller must not hold reg->lock. */

/* Records a failed SQLite call (rc) in d (nullable), logs it and returns
 * its errno.  Must run before anything else uses the connection. */
int registry_fail(struct registry *reg, int rc, struct diag *d);
/* Ends the caller's write transaction: builds the snapshot it produces,
 * commits and publishes it; rolls back on failure.  The caller holds
 * reg->lock and an open transaction. */
int registry_tx_publish(struct registry *reg, struct diag *d) MF_WUR;

/* The checks registry_put_variant() makes before writing: names, required
 * fields, ranges, JSON texts.  -EINVAL with d filled. */
int registry_variant_check(const struct model_variant *v, struct diag *d) MF_WUR;

/* A path inside a repo: non-empty, relative, no "." or ".." or empty
 * component, no control byte or backslash, under 1024 bytes. */
bool registry_upstream_is_valid(const char *path);

/* Reads every variant from db (the caller holds reg->lock and, ideally, a
 * transaction, so the three queries agree) into a new snapshot with one
 * reference.  -ENOMEM, -EBADMSG when the rows disagree, or registry_errno(). */
int registry_snapshot_build(sqlite3 *db, uint64_t generation, struct registry_snapshot **out) MF_WUR;
void registry_snapshot_free(struct registry_snapshot *s);
/* Makes s (holding one reference) the current snapshot and drops the
 * registry's reference to the previous one. */
void registry_snapshot_replace(struct registry *reg, struct registry_snapshot *s);

#endif /* MODELFS_REGISTRY_INT_H */
