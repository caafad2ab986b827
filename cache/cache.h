/*
 * cache.h - the public interface of modelfs's cache layer: the Hugging Face
 * Hub client (libcurl), and later the blob store and download jobs.
 *
 * cache may use core; it never includes FUSE or mountopts headers.
 */
#ifndef MODELFS_CACHE_H
#define MODELFS_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"

/* ------------------------------------------------------------------------
 * hub: HTTP access to a Hub (or any HTTP server) with range requests.
 * ------------------------------------------------------------------------ */

/* Translates a curl result and an HTTP status into SPEC §6's errno:
 * 401/403 -> -EACCES, 404 -> -ENOENT, unreachable -> -ENETDOWN, timeout ->
 * -ETIMEDOUT, 429 past the retry budget -> -EAGAIN, anything else -> -EIO.
 * 0 for a 2xx status with CURLE_OK.  (curl_code is a CURLcode.) */
int hub_errno(int curl_code, long http_status);

/* ------------------------------------------------------------------------
 * hub_reader: a struct reader over HTTP range requests (libcurl), so the
 * GGUF parser reads a remote header without downloading the file.
 *
 * Opening sends one GET for the first HUB_READER_PREFETCH_BYTES (which
 * also tells the size, from Content-Range) and keeps those bytes, so the
 * parser's first read costs nothing more; every later read_at is one
 * ranged GET of exactly the bytes asked for.  Redirects are followed (at
 * most HUB_READER_MAX_REDIRECTS), and the final URL is reused for later
 * requests.  The token is sent as "Authorization: Bearer" only to the
 * scheme, host and port of the URL given, never across a redirect to
 * another origin.  A 200 answer to a range request is accepted only for a
 * range starting at 0 (the transfer is cut once the bytes are in);
 * otherwise the read fails with -EIO, as a server without range support
 * cannot serve a header without the whole file.  One CURL handle per
 * reader, so one reader must not be used by two threads at once.
 * ------------------------------------------------------------------------ */
#define HUB_READER_PREFETCH_BYTES (1u << 20)   /* first GET: GGUF_FIRST_READ_BYTES */
#define HUB_READER_MAX_REDIRECTS  10
#define HUB_READER_CONNECT_TIMEOUT_MS 15000
#define HUB_READER_STALL_TIMEOUT_S    30       /* below 1 KiB/s for this long: -ETIMEDOUT */
#define HUB_READER_RETRIES        2            /* extra tries after a 5xx or a reset */

/* Opens url (http or https) with token (nullable; borrowed, copied) and
 * fills *r; r->size is the file size, UINT64_MAX when the server does not
 * say.  Errors per hub_errno (-ENOENT, -EACCES, -ENETDOWN, -ETIMEDOUT,
 * -EAGAIN, -EIO), -EINVAL for a bad URL, -ENOMEM; d says which URL (its
 * query string left out) and why.  Release with hub_reader_close(). */
int hub_reader_open(const char *url, const char *token, struct reader *r,
		    struct diag *d) MF_WUR;
void hub_reader_close(struct reader *r);   /* a closed or zeroed reader is a no-op */
/* HTTP requests made (redirect hops included) and body bytes received. */
unsigned hub_reader_requests(const struct reader *r);
uint64_t hub_reader_bytes_fetched(const struct reader *r);
/* The diag of the last failed read_at ("" when none): read_at itself can
 * only return a code. */
const char *hub_reader_last_error(const struct reader *r);

/* ------------------------------------------------------------------------
 * blob fetcher: how the blob store gets bytes (issue 6).  Section owned by
 * cache/fetch.c and cache/blob.c.
 *
 * An interface, as s3backer stacks its stores, so the blob store knows no
 * HTTP and its unit tests run against an in-memory fetcher with faults.
 * blob_fetcher_http_open() is the real one (libcurl, cache/fetch.c).
 * ------------------------------------------------------------------------ */
#define BLOB_SHA256_HEX 65               /* 64 hex digits + NUL */

/* A file of a Hub repo.  Borrowed strings. */
struct blob_source {
	const char *repo_id;             /* ORG/REPO */
	const char *revision;            /* branch, tag or commit; NULL or "" = "main" */
	const char *path;                /* path in the repo */
	uint64_t size_bytes;             /* exact size, 0 = unknown (the store asks with head) */
	const char *sha256;              /* LFS oid, 64 lowercase hex digits; NULL = unknown */
};

/* What a HEAD said about a file. */
struct blob_remote {
	uint64_t size_bytes;
	char sha256[BLOB_SHA256_HEX];    /* LFS oid (X-Linked-Etag), "" for a file not in LFS */
	char commit[41];                 /* X-Repo-Commit, "" when not said */
};

/* Receives fetched bytes, in order: 0 to go on, -errno to stop the
 * transfer (the get then returns that code). */
typedef int (*blob_sink_fn)(void *arg, const void *data, size_t len);

/* OUT of a get: how far it came and whether trying again may help. */
struct blob_fetch_result {
	uint64_t bytes;                  /* bytes handed to the sink */
	unsigned retry_after_ms;         /* the server's Retry-After, 0 when none */
	bool transient;                  /* 5xx, 429, reset, stall, unreachable: worth retrying */
};

struct blob_fetcher_ops {
	/* Size and LFS sha256 of src (its size_bytes and sha256 are ignored).
	 * 0, or -ENOENT, -EACCES, -ENETDOWN, -ETIMEDOUT, -EAGAIN, -EIO with
	 * d saying why.  Thread-safe. */
	int (*head)(void *ctx, const struct blob_source *src, struct blob_remote *out, struct diag *d);
	/* Fetches [off, off + len) of src and hands it to sink, in order,
	 * once: a failed transfer returns after the bytes it delivered
	 * (res->bytes), and the caller asks again for the rest.  No retries
	 * inside.  0 when all len bytes were delivered; -errno otherwise
	 * (SPEC §6 codes; a sink's code is returned as it is), res->transient
	 * set when a retry may succeed.  Thread-safe: concurrent gets use
	 * separate connections. */
	int (*get)(void *ctx, const struct blob_source *src, uint64_t off, uint64_t len, blob_sink_fn sink,
		   void *arg, struct blob_fetch_result *res, struct diag *d);
	/* Frees ctx; no call may be running. */
	void (*close)(void *ctx);
};

struct blob_fetcher {
	const struct blob_fetcher_ops *ops;   /* NULL: no fetcher (offline) */
	void *ctx;
};

struct blob_http_config {
	const char *endpoint;            /* http(s)://host[:port], no trailing '/' (borrowed, copied) */
	const char *token;               /* bearer token, NULL = none (copied; sent only to the endpoint's origin) */
	unsigned connect_timeout_ms;     /* 0 = BLOB_HTTP_CONNECT_TIMEOUT_MS */
	unsigned stall_timeout_s;        /* below 1 KiB/s for this long ends a transfer; 0 = default */
};
#define BLOB_HTTP_CONNECT_TIMEOUT_MS 15000
#define BLOB_HTTP_STALL_TIMEOUT_S    30
#define BLOB_HTTP_MAX_REDIRECTS      10

/* The libcurl fetcher: ENDPOINT/REPO/resolve/REV/PATH, redirects followed
 * by hand (the token goes only to the endpoint's origin), the final CDN
 * URL of each file kept and reused until it stops working, an idle pool of
 * keep-alive connections.  *out filled; close with out->ops->close(ctx).
 * -EINVAL for an endpoint that is not http(s), -ENOMEM. */
int blob_fetcher_http_open(const struct blob_http_config *cfg, struct blob_fetcher *out,
			   struct diag *d) MF_WUR;
/* Requests made (redirect hops included) and body bytes received by an
 * http fetcher since it was opened (for tests and benchmarks). */
void blob_fetcher_http_stats(const struct blob_fetcher *f, uint64_t *requests, uint64_t *bytes);

/* ------------------------------------------------------------------------
 * blob store: the bytes of Hub files in cache=DIR (SPEC §7).
 *
 *   cache_dir/blobs/<key>     complete files, verified (read-only, 0444)
 *   cache_dir/partial/<key>   sparse files being filled, plus their range
 *                             map in the registry (core registry_blob_*)
 *
 * key is the LFS sha256, or for a file without one "n" + the sha256 of
 * "repo\0revision\0path".  A range is recorded only after its bytes are
 * fdatasync'ed, so nothing fetched is fetched again across remounts and
 * kill -9.  A blob is complete when every byte is present and its sha256
 * matches; it is then renamed into blobs/ (atomically) and marked cached.
 * A mismatch discards every byte and the next reads fetch them again;
 * handles opened before the discard fail with -EIO from then on (what they
 * read may have been wrong).  A second mismatch in one mount makes every
 * read of the blob fail with -EIO.
 *
 * With hf_cache_dir (SPEC §2 hf_cache=), a file the store has not
 * completed is looked for there first, in huggingface_hub's layout
 * (blobs/<sha256>, else snapshots/<commit>/<path> with refs/ resolving a
 * branch): found with the right size, it is read from there with no
 * download and counts as cached (local_path names it); with
 * verify_strict its sha256 is checked once first (remembered across
 * mounts while the file stays the same).  Such a file is not the store's:
 * cache_max and evict never delete it.  Each blob the store completes and
 * verifies is published there (blobs/<sha256> as a hard link or an atomic
 * copy, the snapshot symlink, refs/<branch>), by a background thread;
 * failures are logged warnings, never read errors.  cache/hf_cache.c has
 * the details.
 *
 * Reads never touch the database.  The design and its numbers are in
 * cache/blob.c.  Every function is thread-safe.
 * ------------------------------------------------------------------------ */
struct blob_store;
struct blob;

#define BLOB_READ_WAIT_MS        60000   /* a reader waits this long without progress before failing */
#define BLOB_UNREACHABLE_WAIT_MS 5000    /* ... or this long when the hub cannot be reached */

struct blob_store_config {
	const char *cache_dir;           /* must exist (borrowed, copied) */
	const char *hf_cache_dir;        /* a Hugging Face hub cache to serve from and publish into; NULL = none (copied) */
	struct registry *reg;            /* borrowed; outlives the store */
	struct blob_fetcher fetcher;     /* taken: the store closes it; ops NULL when offline */
	bool offline;                    /* never fetch: uncached bytes fail with -ENETDOWN */
	bool verify_strict;              /* serve no byte of a blob before its sha256 matched */
	unsigned connections;            /* background connections, 0 = 8 */
	uint64_t chunk_bytes;            /* background request size, 0 = 8 MiB */
	uint64_t readahead_bytes;        /* largest read-ahead window of a sequential reader, 0 = 64 MiB */
	uint64_t cache_max_bytes;        /* 0 = unlimited */
	unsigned read_wait_ms;           /* 0 = BLOB_READ_WAIT_MS */
	/* Called (nullable) from the store's own thread, no lock held, after
	 * b's bytes were discarded on a sha256 mismatch: pages a kernel
	 * cached from b are wrong and must be dropped.  Not called with
	 * verify_strict (nothing unverified was served).  Readers of b do
	 * not wait for the caller, so the hook may wait for them. */
	void (*discarded)(void *arg, struct blob *b);
	void *discarded_arg;
};

/* Creates blobs/ and partial/ under cache_dir, starts the background
 * threads.  Call after any fork (fuse_daemonize).  *out: new, close with
 * blob_store_close() (which takes the fetcher even on failure).  -errno
 * with d. */
int blob_store_open(const struct blob_store_config *cfg, struct blob_store **out, struct diag *d) MF_WUR;
/* Stops the threads, syncs and records what is on disk, frees.  Every blob
 * must have been closed.  NULL is a no-op. */
void blob_store_close(struct blob_store *bs);

/* The size of src: src->size_bytes when known, else what a HEAD said (kept
 * in the registry, so asked once per file), else, when the hub cannot be
 * asked, the size of its file in hf_cache.  -ENETDOWN offline when never
 * asked; the fetcher's errors. */
int blob_store_size(struct blob_store *bs, const struct blob_source *src, uint64_t *size_out,
		    struct diag *d) MF_WUR;

enum blob_cache_state {
	BLOB_REMOTE = 0,                 /* no byte cached */
	BLOB_PARTIAL,                    /* some bytes cached, no download running */
	BLOB_DOWNLOADING,                /* bytes arriving now */
	BLOB_CACHED,                     /* complete and verified */
};

struct blob_info {
	enum blob_cache_state state;
	uint64_t size_bytes;             /* 0 when not known without the network */
	uint64_t cached_bytes;
	bool pinned;
	bool job;                        /* a download job wants every byte */
	int error;                       /* why it stopped: the last failure with nothing running, or 0 */
	char local_path[4096];           /* when cached: blobs/<key>, or the hf_cache file served; else "" */
};

/* What the cache holds of src, without the network.  0 (an unknown file
 * is BLOB_REMOTE), or a database error. */
int blob_store_query(struct blob_store *bs, const struct blob_source *src, struct blob_info *out) MF_WUR;
const char *blob_cache_state_name(enum blob_cache_state s);  /* "remote", "partial", ... */

/* Opens the blob of src, finding its key with a HEAD when src has no
 * sha256 (once per file, remembered).  Opening fetches nothing else.
 * *out: one reference, release with blob_close().  -ENETDOWN offline for
 * a file never seen; the fetcher's errors; -EIO for a cache file that
 * cannot be opened; -ENOMEM. */
int blob_open(struct blob_store *bs, const struct blob_source *src, struct blob **out,
	      struct diag *d) MF_WUR;
void blob_close(struct blob *b);                   /* NULL is a no-op */
uint64_t blob_size(const struct blob *b);
/* True once the blob is complete and verified (its bytes then come from
 * blobs/<key> and never change). */
bool blob_is_cached(struct blob *b);
/* True when no discard has happened to this blob in this mount, so pages
 * the kernel cached from it are right (FOPEN_KEEP_CACHE). */
bool blob_is_stable(struct blob *b);

/* One reader's position, for read-ahead: a sequential reader's window
 * starts at BLOB_WINDOW_MIN_BYTES and doubles up to readahead_bytes; a
 * read elsewhere starts again.  Owned by the caller (one per open file
 * handle); blob_read() updates it under the blob's lock. */
#define BLOB_WINDOW_MIN_BYTES (1u << 20)
struct blob_stream {
	uint64_t next_off;               /* where a sequential read would continue */
	uint64_t window_bytes;           /* current read-ahead window, 0 = not sequential yet */
	uint64_t ahead_off;              /* read-ahead requested up to here */
	unsigned epoch;                  /* the blob's epoch at open: a discard since fails reads */
};
void blob_stream_init(struct blob *b, struct blob_stream *st);

/* Reads up to len bytes at off into buf: fetches what is missing (and
 * read-ahead for a sequential stream), waits for bytes other readers are
 * already fetching, and waits through transient hub errors while bytes
 * keep arriving (at most read_wait_ms without progress).  Returns the
 * bytes read (short only at the end of the file), or -ENETDOWN (offline,
 * or the hub cannot be reached), -ENOENT, -EACCES, -ETIMEDOUT, -EAGAIN
 * (429 past the wait), -EIO (failed downloads, a sha256 mismatch since
 * st was opened, verify=strict and the blob failed), -ENOSPC. */
ssize_t blob_read(struct blob *b, struct blob_stream *st, void *buf, size_t len, uint64_t off) MF_WUR;

/* Fetches every missing byte in the background and verifies (a download
 * job).  Returns at once. */
int blob_download(struct blob *b) MF_WUR;
/* Waits until the blob is cached or failed: 0, or the error. */
int blob_wait_cached(struct blob *b, unsigned timeout_ms) MF_WUR;

/* Drops what the cache holds of src (both files, its ranges, its pin),
 * cancelling a download job on it.  0 (also when nothing was cached),
 * -EBUSY with d when a file of it is open.  Never touches the network. */
int blob_store_evict(struct blob_store *bs, const struct blob_source *src, struct diag *d) MF_WUR;
/* Pins (a download job) or unpins b: cache_max never evicts a pinned
 * blob.  Persisted.  0 or a database error. */
int blob_pin(struct blob *b, bool pinned) MF_WUR;

/* ------------------------------------------------------------------------
 * jobs: background downloads (SPEC §6 download, §4 .control/jobs),
 * cache/jobs.c.  A job owns no thread: the blob store downloads, and a
 * job's state, progress, rate and ETA are read from the store when
 * rendered.  Thread-safe.
 * ------------------------------------------------------------------------ */
struct job_list;

#define JOB_MAX_KEPT 64              /* finished jobs the list keeps (and loads at attach) */

/* bs (borrowed, outlives the list) may be NULL: the list then holds
 * job_add() jobs only and job_download() fails with -EIO.  job_list_free()
 * writes what changed to the attached registry first. */
int job_list_new(struct blob_store *bs, struct job_list **out) MF_WUR;
void job_list_free(struct job_list *jl);            /* NULL is a no-op */
/* Opens (a HEAD where the sha256 is unknown), pins and starts fetching
 * every file of target ("FAMILY/VARIANT/QUANT"), then returns; files
 * borrowed.  Nothing is pinned when a file cannot be opened: -ENETDOWN
 * offline, the fetcher's errors, -ENOMEM; d says which file.  *id_out
 * (nullable): the job's id. */
int job_download(struct job_list *jl, const char *target, const struct blob_source *files, size_t n,
		 unsigned *id_out, struct diag *d) MF_WUR;
/* Marks the running download jobs of target cancelled (evict). */
void job_cancel_target(struct job_list *jl, const char *target);
/* Jobs run by someone else (benchmarks, fs/bench.c): the list shows them
 * and keeps their history.  job_add() makes one in state "queued" and
 * returns its id in *id_out; job_set() updates it: state (queued|running|
 * done|failed|cancelled), progress 0-100, done/total bytes (0 when not
 * about bytes; rate and ETA come from them), message (nullable).  job_add:
 * -EINVAL for an empty kind or target, -ENOMEM.  job_set() on an unknown
 * id, a download job's id, or with an unknown state does nothing; a state
 * change is written to the attached registry (progress alone is not). */
int job_add(struct job_list *jl, const char *kind, const char *target, unsigned *id_out) MF_WUR;
void job_set(struct job_list *jl, unsigned id, const char *state, double progress,
	     uint64_t done_bytes, uint64_t total_bytes, const char *message);
/* Job history across mounts: with a registry attached (borrowed; it
 * outlives the list), jobs are written to its jobs table when created,
 * when their state changes and when they finish (a download found finished
 * by a render is written by the next job call or job_list_free(): renders
 * never touch the database), and those of earlier mounts (the newest
 * JOB_MAX_KEPT) are listed first, with new ids above theirs.  Jobs left
 * queued or running by a mount that ended are shown, and stored, failed
 * ("interrupted: modelfs stopped while it ran").  Call once, before the
 * first job: -EINVAL otherwise; -errno from the registry (the list then
 * works without history). */
int job_list_attach(struct job_list *jl, struct registry *reg) MF_WUR;
/* .control/jobs: the header line, then one line per job, oldest first:
 * id, kind, target, state (queued|running|done|failed|cancelled),
 * progress (0-100, one decimal), done_bytes, total_bytes, rate_bps, eta_s,
 * message; tab separated.  rate_bps and eta_s are 0 for a job not
 * running, and empty cells for a job_add() job without byte counts.
 * Texts carry no tab, line break or other control byte.  Never touches
 * the database.  jl NULL renders the header only. */
int job_list_render(struct job_list *jl, struct sbuf *out);

/* Counters of the store since it was opened (tests, benchmarks, jobs). */
struct blob_store_stats {
	uint64_t fetched_bytes;          /* bytes written into partial files */
	uint64_t requests;               /* ranged GETs started (retries included) */
	uint64_t inline_requests;        /* of which run by a reader itself */
	uint64_t verified;               /* blobs that passed sha256 */
	uint64_t mismatches;             /* blobs discarded on sha256 */
};
void blob_store_stats(struct blob_store *bs, struct blob_store_stats *out);

/* ------------------------------------------------------------------------
 * hub client: the Hub's API over libcurl (issue 5).  Section owned by
 * cache/hub_client.c and cache/register.c.
 *
 * One struct hub per mount: the endpoint, the token and the retry policy,
 * and a curl share (DNS, TLS sessions, connections) with a small pool of
 * easy handles, so calls reuse connections.  Thread-safe: any number of
 * threads may call into one hub at once.  The token is sent only to the
 * endpoint's own scheme, host and port, never across a redirect to another
 * origin (the Hub's LFS CDN), and never appears in a message; messages show
 * URLs without their query.
 *
 * Errors follow SPEC §6 through hub_errno() and the Hub's X-Error-Code:
 * RepoNotFound, RevisionNotFound, EntryNotFound and 404 -> -ENOENT (the Hub
 * answers 401 for a private repo without a token, like for a missing one,
 * so the two cannot be told apart: both are -ENOENT, and the message says
 * to set a token if the repo is private); GatedRepo, other 401 and 403 ->
 * -EACCES; offline -> -ENETDOWN without touching the network; unreachable
 * -> -ENETDOWN; timeout -> -ETIMEDOUT; 429 past the retry budget ->
 * -EAGAIN; 5xx and broken transfers past the retries, malformed answers ->
 * -EIO.  5xx, 429 (honouring Retry-After) and dropped connections are
 * retried with exponential backoff and jitter, within max_retries and
 * retry_budget_ms.
 * ------------------------------------------------------------------------ */
#define HUB_DEFAULT_ENDPOINT  "https://huggingface.co"
#define CAP_HUB_JSON_BYTES    (16u << 20)  /* one API answer (a 1000-entry tree page is ~300 KiB) */
#define HUB_MAX_PAGES         1000         /* tree listing pages followed */
#define HUB_MAX_REDIRECTS     10
#define HUB_POOL_HANDLES      8            /* idle curl handles a hub keeps */

struct hub_options {
	const char *endpoint;          /* NULL: HUB_DEFAULT_ENDPOINT; copied */
	const char *token;             /* bearer token, NULL or "" for none; copied */
	const char *token_source;      /* where the token came from ("HF_TOKEN", a path), for messages; copied */
	bool offline;                  /* refuse every call with -ENETDOWN */
	uint32_t connect_timeout_ms;   /* TCP and TLS handshake */
	uint32_t timeout_ms;           /* one whole API call or small file */
	uint32_t stall_timeout_ms;     /* a range transfer below 1 KiB/s this long fails */
	uint32_t retry_budget_ms;      /* most time one call sleeps between tries */
	uint32_t max_retries;          /* extra tries after a transient failure */
	uint32_t backoff_ms;           /* first pause; doubles per try, with jitter */
};

/* Defaults: no endpoint (huggingface.co), no token, online, 10 s connect,
 * 60 s per call, 30 s stall, 30 s retry budget, 4 retries, 250 ms backoff. */
void hub_options_init(struct hub_options *o);

struct hub;

/* Life cycle.  -EINVAL (d) for an endpoint that is not an http(s) URL or
 * a token holding a line break or control byte; -ENOMEM.  *out: new, free
 * with hub_free() once no call is running. */
int hub_new(const struct hub_options *o, struct hub **out, struct diag *d) MF_WUR;
void hub_free(struct hub *h);                       /* NULL is a no-op */

/* Queries */
const char *hub_endpoint(const struct hub *h);      /* without a trailing '/' */
bool hub_is_offline(const struct hub *h);
bool hub_has_token(const struct hub *h);
/* "HF_TOKEN", a token file's path, or "" (borrowed). */
const char *hub_token_source(const struct hub *h);

struct hub_stats {
	uint64_t requests;             /* HTTP requests sent (redirect hops and retries included) */
	uint64_t retries;              /* of which retries after a transient failure */
	uint64_t bytes;                /* body bytes received */
};
void hub_get_stats(struct hub *h, struct hub_stats *out);

/* Model info (GET /api/models/ORG/REPO[/revision/REV]?blobs=true). */
struct hub_model_info {
	char *id;                      /* canonical ORG/REPO (after a rename or a case change) */
	char *sha;                     /* the revision's commit, 40 hex digits; NULL if not said */
	bool is_private;
	bool gated;                    /* files need an accepted licence and a token */
	bool disabled;
};

/* Fetches the model info of repo_id at revision (NULL: the default
 * branch), following renames.  files (nullable) gets the repo's files with
 * sizes and LFS sha256 (the info's "siblings"; nothing when the answer has
 * none).  Fills *out (release with hub_model_info_release()).  Errors as
 * above; d names the repo and says what to do. */
int hub_model_info(struct hub *h, const char *repo_id, const char *revision,
		   struct registry_listing *files, struct hub_model_info *out, struct diag *d) MF_WUR;
/* The parser alone (pure; fuzzed): -EBADMSG (d) on malformed JSON, a
 * missing or bad "id", a "sha" that is not 40 hex digits, wrong types;
 * files as above.  All or nothing. */
int hub_model_info_parse(const char *json, size_t len, struct hub_model_info *out,
			 struct registry_listing *files, struct diag *d) MF_WUR;
void hub_model_info_release(struct hub_model_info *mi);   /* frees and zeroes */

/* Appends every file and folder below path ("" or NULL: the whole repo)
 * of repo_id at revision (NULL: "main") to out: the recursive tree
 * listing, page after page (Link: <...>; rel="next"), at most
 * HUB_MAX_PAGES.  All or nothing: on error out is as before. */
int hub_list_files(struct hub *h, const char *repo_id, const char *revision, const char *path,
		   struct registry_listing *out, struct diag *d) MF_WUR;

/* What the Hub says of one file (resolve/REV/PATH). */
struct hub_file_meta {
	long status;                   /* HTTP status of the last answer */
	char commit[48];               /* X-Repo-Commit, "" when absent */
	char etag[136];                /* ETag, quotes and W/ removed, "" when absent */
	char linked_etag[136];         /* X-Linked-Etag: the LFS sha256, "" for non-LFS files */
	uint64_t size_bytes;           /* X-Linked-Size, else Content-Length; UINT64_MAX when unknown */
	bool is_lfs;                   /* X-Linked-Etag or X-Linked-Size was sent */
};

/* HEAD of a file, following only same-origin redirects (renamed repos),
 * as huggingface_hub does: the LFS redirect itself is not followed. */
int hub_file_head(struct hub *h, const char *repo_id, const char *revision, const char *path,
		  struct hub_file_meta *out, struct diag *d) MF_WUR;
/* GETs a whole small file into out (appended; out's cap bounds it:
 * -EFBIG past it), following redirects.  meta nullable. */
int hub_file_get(struct hub *h, const char *repo_id, const char *revision, const char *path,
		 struct sbuf *out, struct hub_file_meta *meta, struct diag *d) MF_WUR;
/* GETs [off, off + len) of a file into buf with one range request
 * (redirects followed).  Returns the bytes stored (fewer at the end of
 * the file, 0 past it) or -errno.  meta nullable. */
ssize_t hub_file_get_range(struct hub *h, const char *repo_id, const char *revision, const char *path,
			   uint64_t off, void *buf, size_t len, struct hub_file_meta *meta,
			   struct diag *d) MF_WUR;
/* ENDPOINT/ORG/REPO/resolve/REV/PATH with REV and PATH percent-encoded.
 * *out: new, free(). -EINVAL for a bad repo id or path, -ENOMEM. */
int hub_file_url(const struct hub *h, const char *repo_id, const char *revision, const char *path,
		 char **out) MF_WUR;
/* A hub_reader (above) on a repo file, with the hub's token; -ENETDOWN
 * when offline.  Close with hub_reader_close(). */
int hub_file_reader_open(struct hub *h, const char *repo_id, const char *revision, const char *path,
			 struct reader *r, struct diag *d) MF_WUR;

/* ------------------------------------------------------------------------
 * register: a struct model_variant from a Hub repo or a local path (SPEC
 * §6 register, refresh).  Section owned by cache/register.c.
 *
 * For a repo: one model-info call lists the files (the tree listing when
 * the info has no sizes); registry_plan_build() groups them; every model
 * file's GGUF header is read with range requests (a hub_reader each, up to
 * four at a time); config.json comes from base= or the repo; names follow
 * SPEC §3 (registry_plan_names), or the request's overrides, or the names
 * the repo is already registered under.  Nothing is written: the caller
 * passes the result to registry_put_variant().
 * ------------------------------------------------------------------------ */
#define HUB_REGISTER_THREADS 4             /* GGUF headers read at once */

struct hub_register_stats {
	unsigned headers;              /* GGUF headers parsed */
	uint64_t header_bytes;         /* their sizes (gguf_header_bytes), summed */
	uint64_t fetched_bytes;        /* body bytes the header readers received */
	unsigned reader_requests;      /* HTTP requests of the header readers */
	unsigned skipped;              /* quants left out (malformed header, incomplete split) */
};

/* Builds *out (release with registry_variant_release()) for req, a
 * CONTROL_REGISTER request (or CONTROL_REFRESH of a repo) with a REPO or
 * LOCAL target.  h may be NULL for a local path without base=.  snap
 * (nullable) is the registry as it is: a repo registered already keeps
 * its family/variant unless the request names others; a request for part
 * of a repo (quant=, a file URL, one local file) keeps the other quants
 * registered for it; a name taken by another repo gets "-ORG" appended.
 * stats (nullable) is filled.  Errors (SPEC §6, d says what and what to
 * do): -EINVAL, -ENOENT (no repo, revision, file, or GGUF file), -EACCES
 * (gated or private: which token and that the licence must be accepted),
 * -ENETDOWN, -ETIMEDOUT, -EAGAIN, -EIO (also when no GGUF header could be
 * read), -ENOMEM.  A quant whose header is malformed is left out (logged)
 * when others are fine.  Thread-safe. */
int hub_register(struct hub *h, const struct control_request *req,
		 const struct registry_snapshot *snap, struct model_variant *out,
		 struct hub_register_stats *stats, struct diag *d) MF_WUR;
/* The register request that refreshes v: its repo (latest revision) or
 * local path, with its family, variant, full name and base repo. */
void hub_refresh_request(const struct model_variant *v, struct control_request *out);

#endif /* MODELFS_CACHE_H */
