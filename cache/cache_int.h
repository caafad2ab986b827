/*
 * cache_int.h - helpers shared by the files of the cache module only.
 * Never included from another directory.
 */
#ifndef MODELFS_CACHE_INT_H
#define MODELFS_CACHE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core.h"

/* "scheme://host:port" of url, lowercase, the default port made explicit,
 * as libcurl parses it: the key that decides whether a Bearer token may be
 * sent to url (only to the endpoint's own origin, never across a redirect
 * to another host).  New: free with free(); NULL on a URL libcurl cannot
 * parse or on ENOMEM.  Thread-safe. */
char *hub_url_origin(const char *url);

/* True when url has exactly the origin given (as hub_url_origin writes
 * it); false on any parse failure. */
bool hub_url_has_origin(const char *url, const char *origin);

/* ------------------------------------------------------------------------
 * hf_cache: a Hugging Face hub cache in huggingface_hub's layout
 * (cache/hf_cache.c; the layout and the rules are in its opening comment).
 * Used by the blob store.  Thread-safe: no state of its own.
 * ------------------------------------------------------------------------ */
#define CACHE_HF_PATH_MAX      4096
#define CACHE_HF_LOCK_WAIT_MS  2000    /* huggingface_hub's lock of a blob is waited for this long */

/* True when s is exactly n lowercase hex digits. */
bool cache_hf_is_hex(const char *s, size_t n);

struct cache_hf_query {
	const char *repo_id;           /* ORG/NAME */
	const char *revision;          /* commit (40 hex), or a branch or tag read from refs/; NULL = "main" */
	const char *path;              /* path in the repo (used without sha256) */
	const char *sha256;            /* LFS oid: look only at blobs/<sha256>; NULL: the snapshot of revision */
	uint64_t size_bytes;           /* the size the file must have; 0 = any */
};

struct cache_hf_found {
	int fd;                        /* O_RDONLY, or -1 when not opened */
	char path[CACHE_HF_PATH_MAX];  /* its real path, symlinks resolved */
	char blob_name[65];            /* that file's name when it is an etag (64 or 40 hex digits), else "" */
	struct stat st;
};

/* Finds q's file under root (see hf_cache.c): a regular file of the right
 * size whose real path is inside the repo's folder.  open_it: open it
 * (out->fd, the caller closes it); else only stat.  0, -ENOENT (not
 * there, not usable), -EINVAL (a name that cannot be in the cache). */
int cache_hf_find(const char *root, const struct cache_hf_query *q, bool open_it, struct cache_hf_found *out);

/* The commit in refs/<ref> (commit_out: 41 bytes).  0, -ENOENT, -EINVAL
 * (a bad ref name), -EBADMSG (the file does not hold one commit hash). */
int cache_hf_read_ref(const char *root, const char *repo_id, const char *ref, char *commit_out);
/* Writes refs/<ref> = commit (temporary file, renamed over the old one). */
int cache_hf_write_ref(const char *root, const char *repo_id, const char *ref, const char *commit,
		       struct diag *d);

struct cache_hf_publish {
	const char *root;              /* the hf cache */
	const char *repo_id;
	const char *path;              /* path in the repo */
	const char *sha256;            /* verified LFS oid: the blob's name */
	const char *commit;            /* snapshot to link it into; NULL = the blob only */
	const char *from_path;         /* the store's file, for a hard link; nullable */
	int from_fd;                   /* the same bytes, read to copy them */
	uint64_t size_bytes;
	bool (*stop)(void *arg);       /* nullable: true makes a copy give up (-ECANCELED) */
	void *stop_arg;
};

struct cache_hf_published {            /* OUT of cache_hf_publish */
	bool added_blob;               /* blobs/<sha256> was made now */
	bool added_snapshot;           /* the snapshot link was made now */
	bool have_blob;                /* blobs/<sha256> is there with the right size */
	bool have_snapshot;            /* snapshots/<commit>/<path> exists */
	struct stat blob_st;           /* blobs/<sha256>, when have_blob */
};

/* Publishes p's verified bytes: blobs/<sha256> (hard link, else a copy
 * that appears whole), then snapshots/<commit>/<path> as a relative
 * symlink.  Existing entries are never replaced.  0, or -errno with d:
 * -EEXIST for a different file under the blob's name, -EBUSY when
 * huggingface_hub is downloading that blob, -ECANCELED on stop. */
int cache_hf_publish(const struct cache_hf_publish *p, struct cache_hf_published *out, struct diag *d);

/* verify=strict's memory: st (the hf file) hashed to sha256 once. */
bool cache_hf_is_verified(const char *marks_dir, const char *sha256, const struct stat *st);
int cache_hf_mark_verified(const char *marks_dir, const char *sha256, const struct stat *st);

#endif /* MODELFS_CACHE_INT_H */
