/*
 * fs_int.h - what the files of fs/ share: the mount's context, the views
 * of the registry that operations hold, rendered-file blobs and their
 * cache, and the control-file table.  Never included from another
 * directory (STYLE §5).
 */
#ifndef MODELFS_FS_INT_H
#define MODELFS_FS_INT_H

#include "fs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <fuse.h>

#include "cache.h"
#include "core.h"
#include "mountopts.h"

/* ------------------------------------------------------------------------
 * blobs: the bytes of one rendered file, shared by the render cache and
 * the open handles that serve them.  Immutable once made.
 * ------------------------------------------------------------------------ */
struct fs_blob {
	int refs;                    /* atomic (__atomic builtins) */
	char *data;                  /* len bytes, NUL-terminated */
	size_t len;                  /* bytes */
};

/* Takes the sbuf's buffer (sb is released).  *out: new, one reference. */
int fs_blob_take(struct sbuf *sb, struct fs_blob **out) MF_WUR;
struct fs_blob *fs_blob_ref(struct fs_blob *b);
void fs_blob_unref(struct fs_blob *b);       /* NULL is a no-op */

/* ------------------------------------------------------------------------
 * The render cache: renders keyed by (snapshot generation, path), so the
 * getattr, open and read of one file render it once.  Bounded by entries
 * and by bytes; least recently used goes first.
 * ------------------------------------------------------------------------ */
#define FS_RCACHE_SLOTS 128              /* entries */
#define FS_RCACHE_MAX_BYTES (96u << 20)  /* bytes held by all entries */

struct fs_rcache_slot {
	uint64_t generation;         /* snapshot generation the render belongs to */
	uint64_t hash;               /* FNV-1a of path, 0 for an empty slot */
	char *path;                  /* new: the key */
	struct fs_blob *blob;        /* one reference */
	uint64_t used;               /* LRU clock value of the last hit */
};

struct fs_rcache {
	pthread_mutex_t lock;
	struct fs_rcache_slot slots[FS_RCACHE_SLOTS];   /* protected by lock */
	size_t bytes;                                   /* protected by lock */
	uint64_t clock;                                 /* protected by lock */
};

/* Files that depend on the hardware profile (fit@, recommend@, models.tsv)
 * are cached under their path plus "//" and this text of the profile
 * (fs_hw_key), so a write to .control/hardware shows at the next open. */
#define FS_HW_KEY_BYTES 96

/* ------------------------------------------------------------------------
 * Views: a registry snapshot, the tree that indexes it, and the time it
 * was first seen (the mtime the mount reports).  Refcounted; every FUSE
 * operation holds one from start to finish.
 * ------------------------------------------------------------------------ */
struct fs_view {
	int refs;                           /* protected by fs_ctx.view_lock */
	struct registry_snapshot *snap;     /* one reference, put when the view goes */
	struct tree *tree;                  /* indexes snap */
	struct timespec mtime;              /* mount time, or when this generation was first seen */
	pthread_mutex_t whole_lock;         /* serializes the renders below */
	struct fs_blob *registry_json;      /* rendered on first use; protected by whole_lock */
	struct fs_blob *models_tsv;         /* rendered on first use; protected by whole_lock */
	char models_tsv_hw[FS_HW_KEY_BYTES]; /* fs_hw_key() of the profile it used; protected by whole_lock */
	pthread_mutex_t eff_lock;
	double tg_efficiency;               /* bench_efficiency() for tg_efficiency_hw; protected by eff_lock */
	char tg_efficiency_hw[192];        /* GPU name and bandwidths it is for, "" = not yet; protected by eff_lock */
};

/* ------------------------------------------------------------------------
 * An open file (fi->fh).  The context keeps a list of them: an unmount
 * does not wait for the kernel's last RELEASE, and what is still open
 * then is freed with the context.
 * ------------------------------------------------------------------------ */
struct fs_handle {
	struct fs_handle *prev, *next;   /* in fs_ctx.handles; protected by fs_ctx.handles_lock */
	struct fs_blob *blob;            /* what read serves; NULL for write-only files */
	struct blob *model;              /* a model file's cached bytes (cache/blob.c), or NULL */
	int local_fd;                    /* a locally registered model file, opened read-only; -1 */
	char *path;                      /* new: the model file's path, to invalidate it */
	struct blob_stream stream;       /* this open file's read-ahead state, for model */
	const struct ctl_file *ctl;      /* the control file, or NULL */
	struct ctl_pending *pending;     /* new: control text held until flush (ctl.c), or NULL */
};

/* ------------------------------------------------------------------------
 * The mount's context (fuse_get_context()->private_data).
 * ------------------------------------------------------------------------ */
/* A set of paths (open addressing, linear probing, grown at half full). */
struct fs_pathset {
	char **slots;
	size_t cap;                          /* 0 or a power of two */
	size_t n;
};

struct fs_ctx {
	struct registry *reg;               /* open for the whole mount */
	struct blob_store *blobs;           /* model files' bytes; NULL when the cache could not open */
	struct job_list *jobs;              /* download jobs (cache/jobs.c); NULL with blobs */
	const struct mountopts *mo;         /* borrowed from fs_main */
	struct fuse *fuse;                  /* for invalidations; NULL outside a mount */
	uid_t uid;                          /* of the mounting process */
	gid_t gid;
	struct timespec mount_time;
	int inited;                         /* atomic: fs_init() has run (the INIT reply follows) */

	pthread_mutex_t hw_lock;
	struct hw_profile hw;               /* effective profile; protected by hw_lock */

	const char *mountpoint;             /* absolute (libfuse's realpath), for bench_cmd's {model} */
	struct ctl_bench *bench;            /* benchmark queue and runner (fs/bench.c); NULL when
					       the cache could not open */

	struct hub *hub;                    /* the Hub client for register and refresh; NULL
					       when it could not be made (fs/cli_hub.c) */
	pthread_mutex_t register_lock;      /* serializes registrations, network included;
					       taken before ctl_lock, never after */
	pthread_mutex_t ctl_lock;           /* serializes control-file writes */
	struct hw_profile hw_persisted;     /* what .control/hardware writes set; protected by ctl_lock */

	pthread_mutex_t view_lock;
	struct fs_view *view;               /* the newest view; protected by view_lock */

	struct fs_rcache rcache;

	pthread_mutex_t handles_lock;
	struct fs_handle *handles;          /* open files; protected by handles_lock */

	pthread_mutex_t files_lock;
	struct fs_pathset files_seen;       /* model files shown as regular files in this mount
					       (symlinks=yes, fs/ops.c); protected by files_lock */
};

/* Life cycle of the context: fs_ctx_init() sets up locks and the cache;
 * the caller fills reg, mo, hw and hw_persisted.  fs_ctx_release() drops
 * the views and the cache (it does not close reg). */
int fs_ctx_init(struct fs_ctx *ctx) MF_WUR;
void fs_ctx_release(struct fs_ctx *ctx);

/* The current view with a new reference (release with fs_view_put).
 * -ENOMEM, or the registry's error. */
int fs_view_get(struct fs_ctx *ctx, struct fs_view **out) MF_WUR;
void fs_view_put(struct fs_ctx *ctx, struct fs_view *v);

/* The FUSE operations table of fs/ops.c. */
const struct fuse_operations *fs_operations(void);

/* Asks the kernel to drop what it caches for path (after a control write
 * changed the registry).  Errors are ignored: a path the kernel never
 * looked up has nothing cached. */
void fs_invalidate(struct fs_ctx *ctx, const char *path);

/* Whether a model file is shown as a symlink to the cache now
 * (symlinks=yes; fs/ops.c).  Evicting its blob leaves the kernel holding
 * the symlink until its entry expires: fuse_invalidate_path() drops
 * attributes, not names, so a control write that evicted a linked file
 * waits that long with fs_entry_expire_wait() before it returns, and the
 * next lookup finds the lazily fetched file. */
bool fs_model_is_link(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
		      const struct model_file *file);
void fs_entry_expire_wait(void);

/* Whether v was registered from a local path: its model files are read
 * in place and never downloaded (fs/ops.c). */
bool fs_variant_is_local(const struct model_variant *v);

/* A copy of the effective hardware profile.  Thread-safe. */
void fs_hw_get(struct fs_ctx *ctx, struct hw_profile *out);

/* ------------------------------------------------------------------------
 * Control files (.control/).  One row per file; the benchmark issue adds
 * one.
 * ------------------------------------------------------------------------ */
struct ctl_file {
	const char *name;                  /* in .control/ */
	mode_t mode;                       /* 0200 write-only, 0444 read-only, 0600 both */
	bool direct_io;                    /* content changes without a registry change */
	/* Renders what a read shows; NULL for write-only files. */
	int (*render)(struct fs_ctx *ctx, struct sbuf *out);
	/* Carries out one write(): the lines of buf (a last line without a
	 * newline counts).  0, or -errno with d saying why.  NULL for
	 * read-only files. */
	int (*write)(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d);
	/* write takes ctx->ctl_lock itself, for its registry change only
	 * (it talks to the hub first); otherwise ctl_write holds it. */
	bool locks_itself;
	/* Text that may be a piece of a larger one (a pasted model page that
	 * arrives in several write() calls) is held until flush; see ctl.c. */
	bool holds_pages;
};

struct ctl_pending;                    /* control text held by an open file (ctl.c) */

/* The table, in listing order. */
const struct ctl_file *ctl_table(size_t *n_out);
const struct ctl_file *ctl_find(const char *name);
/* Runs ctl->write and, when it fails, leaves its one line in .control/log.
 * Returns len or -errno. */
ssize_t ctl_write(struct fs_ctx *ctx, const struct ctl_file *ctl, const char *buf, size_t len);
/* A write() on an open control file h: for a file that holds_pages, text
 * that may continue in the next write() is kept in h->pending (and every
 * later write of h is added to it); everything else goes to ctl_write at
 * once.  Returns len or -errno (and logs, as ctl_write).  Writes of one
 * handle are serialized by the kernel (one write() at a time). */
ssize_t ctl_handle_write(struct fs_ctx *ctx, struct fs_handle *h, const char *buf, size_t len);
/* flush (each close() of the file): carries out what h holds, as one
 * write, and forgets it.  0 or the write's -errno. */
int ctl_handle_flush(struct fs_ctx *ctx, struct fs_handle *h);
/* Frees what h holds without carrying it out (release, unmount). */
void ctl_pending_free(struct ctl_pending *p);   /* NULL is a no-op */

/* ------------------------------------------------------------------------
 * Subcommands (SPEC §1), each given argv from the subcommand's name on:
 * cli_inspect in fs/cli_inspect.c, cli_estimate in fs/cli_estimate.c.
 * ------------------------------------------------------------------------ */
int cli_inspect(int argc, char **argv);
int cli_estimate(int argc, char **argv);
/* `modelfs jobs MOUNTPOINT [--follow]` (fs/cli_jobs.c): 0, 1 when
 * MOUNTPOINT is not a readable modelfs mount, 2 for bad usage. */
int cli_jobs(int argc, char **argv);

/* One row of .control/jobs (SPEC §4), checked.  Strings point into the
 * text given to cli_jobs_parse(). */
struct cli_job_row {
	uint64_t id;                 /* > 0 */
	const char *kind;            /* non-empty */
	const char *target;          /* non-empty */
	const char *state;           /* queued|running|done|failed|cancelled (static) */
	double progress;             /* percent, 0-100 */
	uint64_t done_bytes;
	uint64_t total_bytes;        /* 0: not about bytes */
	bool has_rate, has_eta;      /* false for an empty cell */
	uint64_t rate_bps;
	uint64_t eta_s;
	const char *message;         /* may be "" */
};
/* Parses the text of .control/jobs (len bytes, NUL-terminated at
 * text[len]; split in place, so the rows borrow it).  Pure.  Returns the
 * number of rows in *rows_out (new, free()), or -EBADMSG when the first
 * line is not SPEC §4's header (not a jobs file), -ENOMEM.  A row without
 * exactly ten tab-separated cells, with a NUL byte, or with a cell out of
 * range is left out and one line saying why goes to warn (nullable). */
ssize_t cli_jobs_parse(char *text, size_t len, struct cli_job_row **rows_out, struct sbuf *warn);
/* Draws rows as one line each (id, kind, target, bar, percent, sizes,
 * MB/s, h:mm:ss ETA, state and message) into out, "no jobs" when n is 0.
 * tty: lines fitted to cols columns (the bar takes what is left; long
 * cells cut); otherwise nothing is cut and the bar is sized for cols.
 * Control bytes and malformed UTF-8 in texts are drawn as '?'.  Pure;
 * out->err. */
int cli_jobs_draw(const struct cli_job_row *rows, size_t n, unsigned cols, bool tty, struct sbuf *out);

/* The model-file cache of the mount (fs/cli_cache.c).  cli_cache_open()
 * opens ctx->blobs from ctx->mo (after the fork, with ctx->reg open);
 * -errno, logged.  cli_cache_close() closes it after every handle is
 * gone.  cli_bdi_readahead_start() starts a thread that raises the
 * kernel read-ahead of the mount once the loop has answered INIT (root
 * only; failures are logged at debug level; NULL when it cannot start);
 * cli_bdi_readahead_stop() joins it. */
int cli_cache_open(struct fs_ctx *ctx) MF_WUR;
/* The blob store's discarded() hook (fs/ops.c): drops the kernel's pages
 * of every open file of the blob.  arg is the fs_ctx. */
void fs_model_discarded(void *arg, struct blob *b);
/* The cache's control files (fs/ctl_cache.c): .control/download, evict
 * (ctl_file write hooks) and jobs (render hook). */
int ctl_download_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d);
/* The Hub files of q as blob sources (q->n_files of them, strings
 * borrowed from v and q): new array, free(); NULL without memory. */
struct blob_source *ctl_cache_sources(const struct model_variant *v, const struct model_quant *q);
int ctl_evict_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d);
int ctl_jobs_render(struct fs_ctx *ctx, struct sbuf *out);
void cli_cache_close(struct fs_ctx *ctx);
struct cli_bdi {
	pthread_t thread;
	char *mountpoint;
	const int *inited;                 /* fs_ctx.inited */
	int stop;                          /* atomic */
};
struct cli_bdi *cli_bdi_readahead_start(const char *mountpoint, const int *inited);
void cli_bdi_readahead_stop(struct cli_bdi *b);   /* NULL is a no-op */
/* The "MAJ:MIN" of the mount at mountpoint (absolute, as libfuse gives
 * it) from /proc/self/mountinfo: 0, or -ENOENT once it is unmounted. */
int cli_mount_dev(const char *mountpoint, char *dev, size_t size) MF_WUR;

/* The mount's Hub client (fs/cli_hub.c).  cli_hub_open() makes ctx->hub
 * from ctx->mo (endpoint=, the token of HF_TOKEN or token_file=, offline)
 * after the fork; -errno, logged (register then handles local paths
 * only).  cli_hub_close() frees it once no control write runs. */
int cli_hub_open(struct fs_ctx *ctx) MF_WUR;
void cli_hub_close(struct fs_ctx *ctx);

/* Benchmarks (fs/bench.c).  ctl_bench_start() makes ctx->bench after
 * the fork, once ctx->jobs exists: marks runs a stopped mount left running
 * failed, queues again the ones it left queued, and starts the worker;
 * -errno, logged.  ctl_bench_stop() stops the runner (SIGTERM, then
 * SIGKILL) and the worker; the run is stored failed ("interrupted") and
 * what is still queued stays queued for the next mount.
 * ctl_benchmark_write() is .control/benchmark's write hook.
 * ctl_bench_detect_gpu() fills the GPU name and memory from nvidia-smi
 * when it is installed (the "detected" layer of the profile). */
int ctl_bench_start(struct fs_ctx *ctx) MF_WUR;
void ctl_bench_stop(struct fs_ctx *ctx);
int ctl_benchmark_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d);
void ctl_bench_detect_gpu(struct hw_profile *hw);

#endif /* MODELFS_FS_INT_H */
