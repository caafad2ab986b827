/*
 * blob.c - the blob store: the bytes of Hub files, fetched on read into
 * sparse files, kept across remounts and crashes, verified, then served
 * like local files.
 *
 * Layout.  cache_dir/partial/<key> is a sparse file of the blob's full
 * size; the bytes present are an in-memory extent set (sorted, merged
 * [off, end) pairs), seeded at open from the registry's blob_ranges rows.
 * Once every byte is present and the sha256 matches the LFS oid, the file
 * is renamed to cache_dir/blobs/<key> (same inode, so open descriptors
 * stay valid and readers never notice) and marked cached.
 *
 * Crash safety (SPEC §7, lazy-download notes §7).  A range reaches the
 * database only after fdatasync() of its bytes, so a row never claims
 * bytes that a crash could lose; a fetched range that did not reach the
 * database costs a refetch, never a wrong byte.  The keeper thread does
 * this in batches, once per BLOB_KEEPER_PERIOD_MS (500 ms): one
 * fdatasync and one transaction for whatever arrived meanwhile, not one
 * per chunk, so kill -9 loses at most the requests in flight plus half a
 * second of transfer.  The keeper runs at nice 10: its syncing and
 * hashing take the CPU readers leave (this machine has two cores, shared
 * with the hub imitation in tests).
 * rclone's JSON metadata, written without fsync, lost every range after
 * kill -9 in the notes' test (2048 MiB fetched again); here the test
 * counts the bytes the hub served after a remount.
 *
 * Reading.  A reader whose bytes are present gets them with one pread, no
 * lock beyond the blob's own, no database.  Otherwise, following what the
 * notes found best in mountpoint-s3, gcsfuse and hf-mount:
 *   - a read fetches its own missing bytes itself, on its own thread and
 *     connection (at least BLOB_INLINE_MIN_BYTES), so a random read never
 *     queues behind background work: a GGUF header parse or an mmap fault
 *     costs one ranged GET of about what it asked for;
 *   - a sequential stream (per open file, not per blob, so that several
 *     readers of one file each stay sequential: gcsfuse #1318) also gets
 *     a read-ahead window that starts at BLOB_WINDOW_MIN_BYTES and doubles
 *     up to readahead= (64 MiB by default) as the stream goes on, cut into
 *     chunk= requests on a fixed grid and served by `connections`
 *     background workers;
 *   - bytes that another request is already fetching or has queued are
 *     waited for, not fetched again, so concurrent readers share one
 *     download; a reader whose bytes sit in a download job's request (the
 *     low-priority bulk queue) takes it over and runs it itself, so jobs
 *     never make a reader wait;
 *   - transient errors (5xx, resets, 429, stalls) are retried with
 *     backoff (Retry-After when given), resuming after the last byte
 *     received; a reader waits while bytes keep arriving, and gives up
 *     after read_wait_ms (60 s) without progress, or BLOB_UNREACHABLE_WAIT_MS
 *     when the hub cannot be reached at all.
 * Memory stays bounded whatever the windows: bytes go straight from the
 * socket to the sparse file (one pwrite per libcurl buffer of 256 KiB),
 * never into a RAM queue (mountpoint-s3's OOM reports, #987).
 *
 * Verification.  The keeper hashes the contiguous prefix as it grows (a
 * sequential download is verified by the time its last byte lands: SHA-NI
 * runs at ~2 GB/s here, well above the network), and the rest when the
 * blob is complete.  A mismatch discards every byte: the extent set is
 * emptied, the file truncated, its rows dropped, and the blob's epoch
 * bumped, so handles opened before (which may hold wrong bytes in the
 * kernel's page cache) fail with -EIO, and new opens do not keep the page
 * cache (blob_is_stable).  A second mismatch in one mount makes the blob
 * fail every read with -EIO: the hub is serving wrong bytes.  With
 * verify=strict a read waits until the whole blob is verified.
 *
 * The Hugging Face cache (hf_cache=, cache/hf_cache.c).  A blob the store
 * has not completed is looked for there at open, after blobs/ and before
 * partial/: found whole, it is read from there (pread on a read-only
 * descriptor, exactly like a complete blob of our own, so the page cache
 * and keep_cache work the same), and never copied: the point of sharing a
 * cache is one copy of a 10 GB file, and a hard link would only help on
 * one file system.  Such a blob has no row in the registry, so cache_max
 * and evict never delete another program's file.  With verify=strict the
 * keeper hashes it first (readers wait, as for any strict blob; ~2 GB/s
 * here) and records the match in cache_dir/hf-verified/, so the next
 * mount does not hash it again; a mismatch falls back to the partial file
 * and a download.  Offline, a file whose sha256 was never learnt is found
 * through the snapshot of its revision, the blob's name giving the sha256.
 * A blob the keeper completes, or finds complete at open, is handed to
 * the publisher thread, which links it into the Hugging Face cache off the
 * keeper's path (a copy across file systems can take a minute), then the
 * snapshot link, then refs/<branch> when the revision is a branch (its
 * commit from the HEAD), or refs/main when the revision is a commit that
 * a fresh HEAD of main still resolves to; a ref that exists is never
 * changed, since it may be newer than ours.  Publishing never fails a
 * read: its errors are logged.
 *
 * Locks.  bs->lock guards the list of open blobs, their reference counts,
 * the work queues, the keeper's list and the remembered HEADs.  b->lock
 * guards everything of one blob that changes.  Order: b->lock may be held
 * when taking bs->lock, never the reverse.  No lock is held across a
 * network call, an fdatasync or a database call.  bs->open_lock
 * serializes the creation of blob objects (rare: first open of a file).
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache_int.h"

#define BLOB_DEFAULT_CONNECTIONS  8
#define BLOB_DEFAULT_CHUNK_BYTES  (8ull << 20)
#define BLOB_DEFAULT_READAHEAD    (64ull << 20)
#define BLOB_INLINE_MIN_BYTES     (128u << 10)   /* least a reader fetches for itself */
#define BLOB_SEQ_BACK_BYTES       (8u << 20)     /* a read this far behind the stream is still sequential */
#define BLOB_SEQ_AHEAD_BYTES      (8u << 20)     /* ... or this far ahead, or inside its window (the kernel's
						    read-ahead sends 2 x read_ahead_kb of reads in parallel) */
#define BLOB_KEEPER_PERIOD_MS     500            /* ranges are synced and recorded this often */
#define BLOB_HASH_STEP_BYTES      (256u << 20)   /* hashed per blob per keeper round */
#define BLOB_IO_BYTES             (1u << 20)     /* the keeper's read size for hashing */
#define BLOB_BACKOFF_MIN_MS       100
#define BLOB_BACKOFF_MAX_MS       2000
#define BLOB_HEAD_TRIES           4
#define BLOB_HEAD_DOWN_MS         30000          /* after an unreachable hub, HEADs fail at once this long */
#define BLOB_MAX_MISMATCHES       2
#define BLOB_TOUCH_EVERY_S        60             /* last_used is written at most this often */
#define BLOB_PATH_MAX             4096
#define BLOB_KEEPER_NICE          10             /* the keeper thread's nice value */
#define BLOB_LIMIT_PERIOD_MS      5000           /* cache_max is checked at least this often */
#define BLOB_FULL_LOG_EVERY_MS    10000          /* "the cache is full" is logged per blob at most this often */

struct blob_ext {
	uint64_t off;
	uint64_t end;
};

struct ext_set {
	struct blob_ext *v;          /* sorted, disjoint, not adjacent */
	size_t n;
	size_t alloc;
};

enum req_state { REQ_QUEUED = 0, REQ_RUNNING, REQ_FINISHED };

/* One ranged GET, queued or running.  All fields protected by b->lock. */
struct blob_req {
	struct blob_req *next;       /* in b->reqs while not finished */
	struct blob *b;
	uint64_t off;                /* first byte */
	uint64_t end;                /* one past the last byte */
	uint64_t done;               /* bytes written from off */
	enum req_state state;
	int refs;                    /* b->reqs, a queue entry, a runner */
	unsigned epoch;              /* the blob's epoch when made */
	bool bulk;                   /* a download job's request (low priority) */
};

struct blob_qent {
	struct blob_qent *next;
	struct blob_req *req;        /* one reference, and one on req->b */
};

struct remote_ent {
	struct remote_ent *next;
	char *key;                   /* repo \0 revision \0 path, flattened with '\n' */
	struct blob_remote r;
};

struct blob {
	struct blob_store *bs;
	struct blob *next;           /* in bs->blobs; protected by bs->lock */
	int refs;                    /* protected by bs->lock */
	unsigned opens;              /* blob_open() references (open files); protected by bs->lock */
	bool dirty;                  /* on the keeper's list; protected by bs->lock */
	bool jobs_dropped;           /* blob_store_close() saw it; protected by bs->lock */
	char key[REGISTRY_BLOB_KEY_MAX];
	char sha256[BLOB_SHA256_HEX];    /* "" for a file not in LFS */
	char *repo_id, *revision, *path;
	uint64_t size;
	int fd;                      /* the partial file, then (same inode) the complete one */
	uint64_t file_id;            /* inode of the partial file */

	pthread_mutex_t lock;
	pthread_cond_t cond;         /* progress, finished requests, state changes */
	bool complete;               /* atomic; verified and in blobs/ */
	unsigned epoch;              /* atomic; bumped by each discard */
	struct ext_set present;      /* bytes in the file; protected by lock */
	struct ext_set unsynced;     /* present, not yet in the database; protected by lock */
	struct blob_req *reqs;       /* queued and running; protected by lock */
	unsigned running;            /* requests running; protected by lock */
	unsigned waiters;            /* readers in cond wait; protected by lock */
	unsigned writers;            /* sinks inside pwrite; protected by lock */
	uint64_t progress;           /* bumped at each write; protected by lock */
	int last_err;                /* of the last failed attempt, 0 after a success; protected by lock */
	int bad;                     /* sticky error of every read; protected by lock */
	unsigned mismatches;         /* protected by lock */
	bool discarding;             /* protected by lock */
	bool want_all;               /* a job or verify=strict wants every byte; protected by lock */
	bool job_ref;                /* a download job holds a reference; protected by lock */
	bool pinned;                 /* protected by lock */
	bool evicted;                /* its files are gone; the object waits for its last reference; protected by lock */
	int64_t touched;             /* last_used written to the database; protected by lock */
	uint64_t full_logged_ms;     /* when "the cache is full" was last logged for it; protected by lock */

	/* the Hugging Face cache */
	bool from_hf;                /* complete and read from hf_path (not the store's file); set before complete */
	char *hf_path;               /* the hf_cache file served or being verified, NULL = none; protected by lock */
	int hf_fd;                   /* the hf_cache file while verify=strict hashes it, -1 = none; keeper only */
	bool hf_pending;             /* that hashing runs: reads and downloads wait for it; protected by lock */
	bool pub_queued;             /* handed to the publisher once; protected by bs->lock */
	struct blob *pub_next;       /* in bs->pub_head; protected by bs->lock */

	/* keeper only */
	char discarded_sha[BLOB_SHA256_HEX];  /* what the discarded bytes hashed to, to report */
	EVP_MD_CTX *hash;
	uint64_t hashed_to;
	unsigned hash_epoch;
};

struct blob_store {
	char *cache_dir;
	char *blobs_dir;
	char *partial_dir;
	struct registry *reg;
	struct blob_fetcher fetcher;
	struct blob_store_config cfg;    /* numbers, defaults filled in */

	pthread_mutex_t open_lock;       /* serializes blob creation */
	pthread_mutex_t evict_lock;      /* one keeper visit or one eviction at a time */
	pthread_mutex_t lock;
	pthread_cond_t work_cond;        /* workers: a request was queued, or stop */
	pthread_cond_t keeper_cond;      /* keeper: a blob is dirty, or stop */
	pthread_cond_t stop_cond;        /* sleeps that end at stop */
	bool stopping;                   /* workers and sleeps end; protected by lock */
	bool keeper_stop;                /* the keeper ends once its list is empty; protected by lock */
	bool keeper_urgent;              /* a blob waits for verification; protected by lock */
	uint64_t head_down_until_ms;     /* HEADs fail at once until then (hub unreachable); protected by lock */
	struct blob *blobs;              /* open blobs; protected by lock */
	struct blob_qent *ahead_head, *ahead_tail;   /* read-ahead requests; protected by lock */
	struct blob_qent *bulk_head, *bulk_tail;     /* download jobs' requests; protected by lock */
	struct blob **dirty;             /* blobs for the keeper, each with a reference; protected by lock */
	size_t n_dirty, alloc_dirty;     /* protected by lock */
	struct remote_ent *remotes;      /* HEADs remembered; protected by lock */
	pthread_t *workers;
	unsigned n_workers;
	pthread_t keeper;
	bool keeper_started;
	struct blob_store_stats stats;   /* atomic fields */
	unsigned char *keeper_buf;       /* BLOB_IO_BYTES, keeper only */

	char *hf_dir;                    /* hf_cache root, NULL = none */
	char *hf_marks_dir;              /* cache_dir/hf-verified: verify=strict results */
	pthread_cond_t pub_cond;         /* publisher: a blob to publish, or stop */
	struct blob *pub_head, *pub_tail;    /* blobs to publish, each with a reference; protected by lock */
	bool pub_stop;                   /* protected by lock */
	pthread_t publisher;
	bool publisher_started;
};

/* ------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------ */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits on cond (its mutex held) until at most ms from now. */
static void cond_wait_ms(pthread_cond_t *cond, pthread_mutex_t *m, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	/* ignored: a timeout or a spurious wake-up is handled by the callers' loops */
	(void)pthread_cond_timedwait(cond, m, &ts);
}

/* Sleeps ms, or less when the store stops.  Returns true when stopping. */
static bool store_sleep(struct blob_store *bs, uint64_t ms)
{
	uint64_t until = now_ms() + ms;
	bool stop;

	pthread_mutex_lock(&bs->lock);
	while (!bs->stopping && now_ms() < until)
		cond_wait_ms(&bs->stop_cond, &bs->lock, until - now_ms());
	stop = bs->stopping;
	pthread_mutex_unlock(&bs->lock);
	return stop;
}

static void stat_add(uint64_t *field, uint64_t n)
{
	__atomic_add_fetch(field, n, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * Extent sets
 * ------------------------------------------------------------------------ */

/* Index of the first extent whose end is after pos (s->n when none). */
static size_t ext_find(const struct ext_set *s, uint64_t pos)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].end <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int ext_add(struct ext_set *s, uint64_t off, uint64_t end)
{
	size_t i, j;

	if (off >= end)
		return 0;
	i = ext_find(s, off);
	if (i > 0 && s->v[i - 1].end == off)
		i--;
	j = i;
	while (j < s->n && s->v[j].off <= end)
		j++;
	if (j > i) {
		if (s->v[i].off < off)
			off = s->v[i].off;
		if (s->v[j - 1].end > end)
			end = s->v[j - 1].end;
		s->v[i].off = off;
		s->v[i].end = end;
		memmove(&s->v[i + 1], &s->v[j], (s->n - j) * sizeof(*s->v));
		s->n -= j - i - 1;
		return 0;
	}
	if (s->n == s->alloc) {
		size_t alloc = s->alloc ? s->alloc * 2 : 8;
		struct blob_ext *v = realloc(s->v, alloc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->alloc = alloc;
	}
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i].off = off;
	s->v[i].end = end;
	s->n++;
	return 0;
}

static void ext_clear(struct ext_set *s)
{
	s->n = 0;
}

static void ext_free(struct ext_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* The first byte of [off, end) not in s, or end. */
static uint64_t ext_first_missing(const struct ext_set *s, uint64_t off, uint64_t end)
{
	size_t i = ext_find(s, off);

	if (i < s->n && s->v[i].off <= off)
		off = s->v[i].end;
	return off < end ? off : end;
}

static bool ext_covers(const struct ext_set *s, uint64_t off, uint64_t end)
{
	return ext_first_missing(s, off, end) == end;
}

/* The start of the first extent beginning after pos, or UINT64_MAX. */
static uint64_t ext_next_start(const struct ext_set *s, uint64_t pos)
{
	size_t i = ext_find(s, pos);

	if (i < s->n && s->v[i].off <= pos)
		i++;
	return i < s->n ? s->v[i].off : UINT64_MAX;
}

static uint64_t ext_total(const struct ext_set *s)
{
	uint64_t t = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		t += s->v[i].end - s->v[i].off;
	return t;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */
static bool is_sha256(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

static const char *src_revision(const struct blob_source *src)
{
	return src->revision && *src->revision ? src->revision : "main";
}

static void hex_encode(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The key of a file without an LFS oid: "n" + sha256(repo \0 rev \0 path). */
static int key_for_path(const struct blob_source *src, char *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	const char *rev = src_revision(src);
	unsigned int md_len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;

	if (!c)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(c, src->repo_id, strlen(src->repo_id) + 1) &&
	     EVP_DigestUpdate(c, rev, strlen(rev) + 1) &&
	     EVP_DigestUpdate(c, src->path, strlen(src->path)) &&
	     EVP_DigestFinal_ex(c, md, &md_len);
	EVP_MD_CTX_free(c);
	if (!ok || md_len != 32)
		return -EIO;
	key[0] = 'n';
	hex_encode(md, 32, key + 1);
	return 0;
}

static int path_join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, BLOB_PATH_MAX, "%s/%s", dir, name);

	return n < 0 || n >= BLOB_PATH_MAX ? -ENAMETOOLONG : 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

static void fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* ignored: a failed directory sync only means a power cut may undo
	 * the rename, and the blob is then verified again */
	(void)fsync(fd);
	close(fd);
}

const char *blob_cache_state_name(enum blob_cache_state s)
{
	switch (s) {
	case BLOB_PARTIAL:
		return "partial";
	case BLOB_DOWNLOADING:
		return "downloading";
	case BLOB_CACHED:
		return "cached";
	default:
		return "remote";
	}
}

/* ------------------------------------------------------------------------
 * Blob references and the keeper's list
 * ------------------------------------------------------------------------ */
static void req_put(struct blob_req *r)
{
	if (--r->refs == 0)
		free(r);
}

static void blob_free(struct blob *b)
{
	while (b->reqs) {
		struct blob_req *r = b->reqs;

		b->reqs = r->next;
		req_put(r);
	}
	if (b->fd >= 0)
		close(b->fd);
	if (b->hf_fd >= 0)
		close(b->hf_fd);
	free(b->hf_path);
	ext_free(&b->present);
	ext_free(&b->unsynced);
	EVP_MD_CTX_free(b->hash);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b->repo_id);
	free(b->revision);
	free(b->path);
	free(b);
}

/* Drops a reference; bs->lock held.  Returns b when it must be freed
 * (after the lock is released). */
static struct blob *blob_unref_locked(struct blob *b)
{
	struct blob **pp;

	if (--b->refs > 0)
		return NULL;
	for (pp = &b->bs->blobs; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	return b;
}

static void blob_unref(struct blob *b)
{
	struct blob_store *bs = b->bs;
	struct blob *dead;

	pthread_mutex_lock(&bs->lock);
	dead = blob_unref_locked(b);
	pthread_mutex_unlock(&bs->lock);
	if (dead)
		blob_free(dead);
}

/* Puts b on the keeper's list (b->lock may be held).  An urgent mark
 * (every byte present: verify now) wakes the keeper; others wait for its
 * next period, which batches syncs. */
static void keeper_mark(struct blob *b, bool urgent)
{
	struct blob_store *bs = b->bs;

	pthread_mutex_lock(&bs->lock);
	if (!b->dirty) {
		if (bs->n_dirty == bs->alloc_dirty) {
			size_t alloc = bs->alloc_dirty ? bs->alloc_dirty * 2 : 16;
			struct blob **v = realloc(bs->dirty, alloc * sizeof(*v));

			if (!v) {
				/* the next mark retries; until then the ranges
				 * stay unsynced, which costs a refetch at worst */
				pthread_mutex_unlock(&bs->lock);
				return;
			}
			bs->dirty = v;
			bs->alloc_dirty = alloc;
		}
		bs->dirty[bs->n_dirty++] = b;
		b->refs++;
		b->dirty = true;
	}
	if (urgent) {
		bs->keeper_urgent = true;
		pthread_cond_signal(&bs->keeper_cond);
	}
	pthread_mutex_unlock(&bs->lock);
}

/* Hands b to the publisher (once per blob object), when there is an
 * hf_cache to publish into and b has a sha256 to name it by. */
static void pub_enqueue(struct blob *b)
{
	struct blob_store *bs = b->bs;

	if (!b->sha256[0] || b->from_hf)
		return;
	pthread_mutex_lock(&bs->lock);
	if (bs->publisher_started && !bs->pub_stop && !b->pub_queued) {
		b->pub_queued = true;
		b->refs++;
		b->pub_next = NULL;
		if (bs->pub_tail)
			bs->pub_tail->pub_next = b;
		else
			bs->pub_head = b;
		bs->pub_tail = b;
		pthread_cond_signal(&bs->pub_cond);
	}
	pthread_mutex_unlock(&bs->lock);
}

static bool blob_all_present(const struct blob *b)
{
	return b->present.n == 1 && b->present.v[0].off == 0 && b->present.v[0].end == b->size;
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

/* A request (queued or running) whose range holds pos; b->lock held. */
static struct blob_req *req_covering(struct blob *b, uint64_t pos)
{
	struct blob_req *r;

	for (r = b->reqs; r; r = r->next)
		if (r->off <= pos && pos < r->end)
			return r;
	return NULL;
}

static uint64_t req_next_start(struct blob *b, uint64_t pos)
{
	uint64_t best = UINT64_MAX;
	struct blob_req *r;

	for (r = b->reqs; r; r = r->next)
		if (r->off > pos && r->off < best)
			best = r->off;
	return best;
}

static struct blob_req *req_new(struct blob *b, uint64_t off, uint64_t end, enum req_state state)
{
	struct blob_req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->b = b;
	r->off = off;
	r->end = end;
	r->state = state;
	r->refs = 1;
	r->epoch = b->epoch;
	r->next = b->reqs;
	b->reqs = r;
	if (state == REQ_RUNNING)
		b->running++;
	return r;
}

/* Takes r out of b->reqs; returns whether it was there.  b->lock held. */
static bool req_detach(struct blob *b, struct blob_req *r)
{
	struct blob_req **pp;

	for (pp = &b->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			r->next = NULL;
			return true;
		}
	}
	return false;
}

/* Takes r out of b->reqs and drops the list's reference. */
static void req_unlink(struct blob *b, struct blob_req *r)
{
	if (req_detach(b, r))
		req_put(r);
}

/* Drops a queue entry's reference to r, withdrawing r first when it is
 * still queued (then the list's reference goes too, and the queue's is
 * the last).  b->lock held. */
static void req_dequeue(struct blob *b, struct blob_req *r)
{
	if (r->state == REQ_QUEUED) {
		r->state = REQ_FINISHED;
		if (req_detach(b, r))
			r->refs--;
	}
	req_put(r);
}

/* Queues r (QUEUED, in b->reqs) for the workers; b->lock held. */
static int req_enqueue(struct blob *b, struct blob_req *r)
{
	struct blob_store *bs = b->bs;
	struct blob_qent *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->req = r;
	pthread_mutex_lock(&bs->lock);
	if (bs->stopping) {
		pthread_mutex_unlock(&bs->lock);
		free(q);
		return -ECANCELED;
	}
	r->refs++;
	b->refs++;
	if (r->bulk) {
		if (bs->bulk_tail)
			bs->bulk_tail->next = q;
		else
			bs->bulk_head = q;
		bs->bulk_tail = q;
	} else {
		if (bs->ahead_tail)
			bs->ahead_tail->next = q;
		else
			bs->ahead_head = q;
		bs->ahead_tail = q;
	}
	pthread_cond_signal(&bs->work_cond);
	pthread_mutex_unlock(&bs->lock);
	return 0;
}

/* Queues requests for every byte of [from, to) neither present nor
 * already requested, cut on the chunk grid; b->lock held.  Stops quietly
 * when memory runs out: the reader then fetches for itself. */
static void blob_schedule(struct blob *b, uint64_t from, uint64_t to, bool bulk)
{
	uint64_t chunk = b->bs->cfg.chunk_bytes, pos = from;

	if (to > b->size)
		to = b->size;
	while (pos < to) {
		uint64_t gap_end, next, piece_end;
		struct blob_req *r;
		size_t i = ext_find(&b->present, pos);

		if (i < b->present.n && b->present.v[i].off <= pos) {
			pos = b->present.v[i].end;
			continue;
		}
		r = req_covering(b, pos);
		if (r) {
			pos = r->end;
			continue;
		}
		gap_end = to;
		next = ext_next_start(&b->present, pos);
		if (next < gap_end)
			gap_end = next;
		next = req_next_start(b, pos);
		if (next < gap_end)
			gap_end = next;
		piece_end = (pos / chunk + 1) * chunk;
		if (piece_end > gap_end)
			piece_end = gap_end;
		r = req_new(b, pos, piece_end, REQ_QUEUED);
		if (!r)
			return;
		r->bulk = bulk;
		if (req_enqueue(b, r)) {
			req_unlink(b, r);
			return;
		}
		pos = piece_end;
	}
}

struct blob_sink {
	struct blob *b;
	struct blob_req *r;
	uint64_t pos;                /* where the next byte goes */
	unsigned epoch;
};

static int blob_sink_write(void *arg, const void *data, size_t len)
{
	struct blob_sink *s = arg;
	struct blob *b = s->b;
	int rc;

	pthread_mutex_lock(&b->lock);
	if (b->epoch != s->epoch || b->discarding) {
		pthread_mutex_unlock(&b->lock);
		return -ECANCELED;
	}
	b->writers++;
	pthread_mutex_unlock(&b->lock);

	rc = pwrite_full(b->fd, data, len, s->pos);

	pthread_mutex_lock(&b->lock);
	b->writers--;
	if (rc == 0 && b->epoch == s->epoch) {
		/* -ENOMEM below is ignored: the bytes are on disk but not
		 * known, and are fetched again if read */
		(void)ext_add(&b->present, s->pos, s->pos + len);
		(void)ext_add(&b->unsynced, s->pos, s->pos + len);
		s->r->done += len;
		b->progress++;
		b->last_err = 0;
		if (blob_all_present(b))
			keeper_mark(b, true);
	}
	if (b->waiters || b->discarding)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (rc == 0) {
		s->pos += len;
		stat_add(&b->bs->stats.fetched_bytes, len);
	}
	return rc;
}

static bool store_make_room(struct blob_store *bs, struct blob *keep, uint64_t need);
static void store_enforce_limit(struct blob_store *bs, uint64_t need);

static uint64_t backoff_ms(unsigned attempt, unsigned retry_after_ms)
{
	uint64_t ms = BLOB_BACKOFF_MIN_MS << (attempt < 5 ? attempt : 5);

	if (ms > BLOB_BACKOFF_MAX_MS)
		ms = BLOB_BACKOFF_MAX_MS;
	return retry_after_ms > ms ? retry_after_ms : ms;
}

/* Runs r (RUNNING, one reference held by the caller) to its end with
 * retries, then marks it finished.  Called without b->lock.  Gives up
 * after wait_ms without a byte arriving (BLOB_UNREACHABLE_WAIT_MS when the
 * hub cannot be reached).  Returns 0 or the error. */
static int req_run(struct blob *b, struct blob_req *r, unsigned wait_ms)
{
	struct blob_store *bs = b->bs;
	struct blob_source src = {
		.repo_id = b->repo_id, .revision = b->revision, .path = b->path,
		.size_bytes = b->size, .sha256 = b->sha256[0] ? b->sha256 : NULL,
	};
	uint64_t last_progress = now_ms(), off, end;
	bool nospc_retried = false, full;
	unsigned attempt = 0;
	int rc = 0;

	for (;;) {
		struct blob_fetch_result res;
		struct blob_sink sink;
		struct diag d;
		uint64_t pos;

		pthread_mutex_lock(&b->lock);
		pos = r->off + r->done;
		end = r->end;
		sink.epoch = r->epoch;
		rc = b->epoch != r->epoch ? -ECANCELED : 0;
		pthread_mutex_unlock(&b->lock);
		if (rc || pos >= end)
			break;
		sink.b = b;
		sink.r = r;
		sink.pos = pos;
		diag_init(&d);
		stat_add(&bs->stats.requests, 1);
		rc = bs->fetcher.ops->get(bs->fetcher.ctx, &src, pos, end - pos, blob_sink_write, &sink, &res, &d);
		if (res.bytes) {
			last_progress = now_ms();
			attempt = 0;
		}
		/* SPEC §6 ENOSPC only when nothing can be evicted: room is
		 * made again while each attempt stores some bytes */
		if (rc == -ENOSPC && (!nospc_retried || sink.pos > pos)) {
			nospc_retried = true;
			if (store_make_room(bs, b, end - pos))
				continue;
		}
		if (rc == 0 || !res.transient)
			break;
		pthread_mutex_lock(&b->lock);
		b->last_err = rc;
		pthread_mutex_unlock(&b->lock);
		if (now_ms() - last_progress >= (rc == -ENETDOWN ? BLOB_UNREACHABLE_WAIT_MS : wait_ms))
			break;
		log_msg(LOG_DEBUG, "retrying '%s' of '%s' at byte %llu: %s", b->path, b->repo_id,
			(unsigned long long)(r->off + r->done), d.msg[0] ? d.msg : strerror(-rc));
		if (store_sleep(bs, backoff_ms(attempt++, res.retry_after_ms)))
			break;
	}
	pthread_mutex_lock(&b->lock);
	full = rc == -ENOSPC && (!b->full_logged_ms || now_ms() - b->full_logged_ms >= BLOB_FULL_LOG_EVERY_MS);
	if (full)
		b->full_logged_ms = now_ms();
	off = r->off;
	end = r->end;
	if (rc)
		b->last_err = rc;
	r->state = REQ_FINISHED;
	b->running--;
	req_unlink(b, r);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (full)
		log_msg(LOG_ERROR, "cannot store '%s' of '%s': the cache '%s' is full and nothing more in it can be evicted (the rest is open or pinned); close a model using it, evict one (.control/evict), or give the cache more space",
			b->path, b->repo_id, bs->cache_dir);
	else if (rc == -ENOSPC)
		log_msg(LOG_DEBUG, "cannot store bytes %llu-%llu of '%s' in '%s': the cache is still full",
			(unsigned long long)off, (unsigned long long)end, b->path, b->repo_id);
	else if (rc && rc != -ECANCELED)
		log_msg(LOG_WARN, "cannot fetch bytes %llu-%llu of '%s' in '%s': %s", (unsigned long long)off,
			(unsigned long long)end, b->path, b->repo_id, strerror(-rc));
	keeper_mark(b, false);
	return rc;
}

/* ------------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------------ */
static struct blob_qent *queue_pop(struct blob_store *bs)
{
	struct blob_qent *q = bs->ahead_head;

	if (q) {
		bs->ahead_head = q->next;
		if (!bs->ahead_head)
			bs->ahead_tail = NULL;
		return q;
	}
	q = bs->bulk_head;
	if (q) {
		bs->bulk_head = q->next;
		if (!bs->bulk_head)
			bs->bulk_tail = NULL;
	}
	return q;
}

static void *worker_main(void *arg)
{
	struct blob_store *bs = arg;

	for (;;) {
		struct blob_qent *q;
		struct blob_req *r;
		struct blob *b;
		bool run = false;

		pthread_mutex_lock(&bs->lock);
		while (!bs->stopping && !bs->ahead_head && !bs->bulk_head)
			pthread_cond_wait(&bs->work_cond, &bs->lock);
		q = bs->stopping ? NULL : queue_pop(bs);
		pthread_mutex_unlock(&bs->lock);
		if (!q)
			break;
		r = q->req;
		b = r->b;
		free(q);
		pthread_mutex_lock(&b->lock);
		if (r->state == REQ_QUEUED && r->epoch == b->epoch && !b->bad) {
			r->state = REQ_RUNNING;
			b->running++;
			run = true;
		}
		pthread_mutex_unlock(&b->lock);
		if (run)
			(void)req_run(b, r, bs->cfg.read_wait_ms);
		pthread_mutex_lock(&b->lock);
		req_dequeue(b, r);
		pthread_mutex_unlock(&b->lock);
		blob_unref(b);
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * The keeper: persistence, hashing, verification
 * ------------------------------------------------------------------------ */
static void keeper_persist(struct blob_store *bs, struct blob *b)
{
	struct registry_range *rr;
	struct ext_set taken;
	unsigned epoch;
	size_t i;
	int rc;

	pthread_mutex_lock(&b->lock);
	taken = b->unsynced;
	memset(&b->unsynced, 0, sizeof(b->unsynced));
	epoch = b->epoch;
	pthread_mutex_unlock(&b->lock);
	if (taken.n == 0 || __atomic_load_n(&b->complete, __ATOMIC_ACQUIRE))
		goto out_free;
	if (fdatasync(b->fd) != 0) {
		log_msg(LOG_WARN, "cannot sync the partial file of '%s': %s", b->path, strerror(errno));
		goto out_free;
	}
	rr = calloc(taken.n, sizeof(*rr));
	if (!rr)
		goto out_free;
	for (i = 0; i < taken.n; i++) {
		rr[i].off = taken.v[i].off;
		rr[i].len = taken.v[i].end - taken.v[i].off;
	}
	/* the keeper alone discards, so the epoch cannot move between this
	 * check and the insert */
	if (__atomic_load_n(&b->epoch, __ATOMIC_ACQUIRE) == epoch) {
		rc = registry_blob_add_ranges(bs->reg, b->key, rr, taken.n);
		if (rc && rc != -ENOENT)
			log_msg(LOG_WARN, "cannot record the ranges of '%s': %s", b->path, strerror(-rc));
	}
	free(rr);
out_free:
	ext_free(&taken);
}

/* Hashes the contiguous prefix up to limit (at most BLOB_HASH_STEP_BYTES
 * when not final).  0, or -errno for a read error. */
static int keeper_hash(struct blob_store *bs, struct blob *b, bool final)
{
	uint64_t prefix, budget = final ? UINT64_MAX : BLOB_HASH_STEP_BYTES;
	unsigned epoch;
	int rc;

	if (!b->sha256[0])
		return 0;
	pthread_mutex_lock(&b->lock);
	prefix = b->present.n && b->present.v[0].off == 0 ? b->present.v[0].end : 0;
	epoch = b->epoch;
	pthread_mutex_unlock(&b->lock);
	if (!b->hash || b->hash_epoch != epoch) {
		if (!b->hash)
			b->hash = EVP_MD_CTX_new();
		if (!b->hash || !EVP_DigestInit_ex(b->hash, EVP_sha256(), NULL))
			return -ENOMEM;
		b->hashed_to = 0;
		b->hash_epoch = epoch;
	}
	while (b->hashed_to < prefix && budget) {
		uint64_t n = prefix - b->hashed_to;

		if (n > BLOB_IO_BYTES)
			n = BLOB_IO_BYTES;
		rc = pread_full(b->fd, bs->keeper_buf, (size_t)n, b->hashed_to);
		if (rc)
			return rc;
		if (!EVP_DigestUpdate(b->hash, bs->keeper_buf, (size_t)n))
			return -ENOMEM;
		b->hashed_to += n;
		budget = budget > n ? budget - n : 0;
	}
	return 0;
}

static void keeper_discard(struct blob_store *bs, struct blob *b, const char *got)
{
	bool want_all;
	int rc;

	pthread_mutex_lock(&b->lock);
	b->discarding = true;
	__atomic_add_fetch(&b->epoch, 1, __ATOMIC_ACQ_REL);
	while (b->writers)
		pthread_cond_wait(&b->cond, &b->lock);
	ext_clear(&b->present);
	ext_clear(&b->unsynced);
	b->mismatches++;
	if (b->mismatches >= BLOB_MAX_MISMATCHES) {
		b->bad = -EIO;
		log_msg(LOG_ERROR, "'%s' in '%s' failed verification %u times; reads fail with EIO until it is evicted or modelfs restarts",
			b->path, b->repo_id, b->mismatches);
	}
	pthread_mutex_unlock(&b->lock);
	if (ftruncate(b->fd, 0) != 0 || ftruncate(b->fd, (off_t)b->size) != 0)
		log_msg(LOG_WARN, "cannot truncate the partial file of '%s': %s", b->path, strerror(errno));
	rc = registry_blob_set_ranges(bs->reg, b->key, NULL, 0);
	if (rc && rc != -ENOENT)
		log_msg(LOG_WARN, "cannot drop the ranges of '%s': %s", b->path, strerror(-rc));
	b->hashed_to = 0;
	b->hash_epoch = (unsigned)-1;
	stat_add(&bs->stats.mismatches, 1);
	pthread_mutex_lock(&b->lock);
	b->discarding = false;
	want_all = b->want_all && !b->bad;
	if (want_all)
		blob_schedule(b, 0, b->size, true);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	memcpy(b->discarded_sha, got, sizeof(b->discarded_sha));
}

/* After a discard, outside evict_lock: tells the file system, then the
 * log (a test waits for the log line to know the discard is complete). */
static void keeper_report_discard(struct blob_store *bs, struct blob *b)
{
	if (!b->discarded_sha[0])
		return;
	/* WARNING: the hook may wait, inside the kernel, for reads of b in
	 * flight.  Under verify=strict those readers wait for this thread,
	 * so it must not run; nor is it needed, as no byte was served. */
	if (bs->cfg.discarded && !bs->cfg.verify_strict)
		bs->cfg.discarded(bs->cfg.discarded_arg, b);
	log_msg(LOG_ERROR, "sha256 of '%s' in '%s' is %s, not %s as the hub said; the bytes fetched were discarded%s",
		b->path, b->repo_id, b->discarded_sha, b->sha256,
		bs->cfg.verify_strict ? "" : " and files open since fail with EIO; open them again");
	b->discarded_sha[0] = '\0';
}

static void keeper_finalize(struct blob_store *bs, struct blob *b)
{
	char from[BLOB_PATH_MAX], to[BLOB_PATH_MAX], got[BLOB_SHA256_HEX];
	unsigned char md[EVP_MAX_MD_SIZE];
	struct registry_blob row;
	unsigned int md_len = 0;
	bool drop_job;
	int rc;

	if (fdatasync(b->fd) != 0) {
		log_msg(LOG_WARN, "cannot sync '%s': %s", b->path, strerror(errno));
		return;
	}
	if (b->sha256[0]) {
		rc = keeper_hash(bs, b, true);
		if (rc) {
			log_msg(LOG_WARN, "cannot read back '%s' to verify it: %s", b->path, strerror(-rc));
			return;
		}
		if (b->hashed_to != b->size || !EVP_DigestFinal_ex(b->hash, md, &md_len) || md_len != 32)
			return;
		b->hash_epoch = (unsigned)-1;
		hex_encode(md, 32, got);
		if (strcmp(got, b->sha256) != 0) {
			keeper_discard(bs, b, got);
			return;
		}
	}
	if (path_join(from, bs->partial_dir, b->key) || path_join(to, bs->blobs_dir, b->key))
		return;
	/* ignored: the mode only documents that a complete blob never
	 * changes (and is what a hard link into hf_cache shows) */
	(void)fchmod(b->fd, 0444);
	if (rename(from, to) != 0) {
		log_msg(LOG_WARN, "cannot move '%s' into the cache: %s", b->path, strerror(errno));
		return;
	}
	fsync_dir(bs->blobs_dir);
	memset(&row, 0, sizeof(row));
	snprintf(row.key, sizeof(row.key), "%s", b->key);
	row.size_bytes = b->size;
	row.state = REGISTRY_BLOB_CACHED;
	pthread_mutex_lock(&b->lock);
	row.pinned = b->pinned;
	row.last_used = b->touched;
	pthread_mutex_unlock(&b->lock);
	rc = registry_blob_put(bs->reg, &row);
	if (rc)
		log_msg(LOG_WARN, "cannot record '%s' as cached: %s", b->path, strerror(-rc));
	stat_add(&bs->stats.verified, 1);
	log_msg(LOG_INFO, "'%s' of '%s' is complete%s and cached (%llu bytes)", b->path, b->repo_id,
		b->sha256[0] ? ", sha256 verified," : "", (unsigned long long)b->size);
	pthread_mutex_lock(&b->lock);
	__atomic_store_n(&b->complete, true, __ATOMIC_RELEASE);
	drop_job = b->job_ref;
	b->job_ref = false;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pub_enqueue(b);
	if (drop_job)
		blob_unref(b);
}

static int blob_open_partial(struct blob_store *bs, struct blob *b, struct diag *d);
static bool store_is_stopping(void *arg);

/* Bumps b's progress (readers waiting for a verification keep waiting
 * while it advances). */
static void blob_progress(struct blob *b)
{
	pthread_mutex_lock(&b->lock);
	b->progress++;
	if (b->waiters)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Hashes the hf_cache file of b, whole.  0 and *match, or -errno. */
static int keeper_hash_hf(struct blob_store *bs, struct blob *b, bool *match)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char got[BLOB_SHA256_HEX];
	unsigned int md_len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint64_t off = 0;
	int rc = 0;

	*match = false;
	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(c);
		return -ENOMEM;
	}
	while (off < b->size && !rc) {
		uint64_t n = b->size - off < BLOB_IO_BYTES ? b->size - off : BLOB_IO_BYTES;

		rc = pread_full(b->hf_fd, bs->keeper_buf, (size_t)n, off);
		if (!rc && !EVP_DigestUpdate(c, bs->keeper_buf, (size_t)n))
			rc = -ENOMEM;
		off += n;
		if (!rc && off % BLOB_HASH_STEP_BYTES == 0) {
			blob_progress(b);
			if (store_is_stopping(bs))
				rc = -ECANCELED;
		}
	}
	if (!rc && (!EVP_DigestFinal_ex(c, md, &md_len) || md_len != 32))
		rc = -ENOMEM;
	EVP_MD_CTX_free(c);
	if (rc)
		return rc;
	hex_encode(md, 32, got);
	*match = strcmp(got, b->sha256) == 0;
	if (!*match)
		log_msg(LOG_WARN, "'%s' in the Hugging Face cache has sha256 %s, not %s as the hub said for '%s' of '%s'; it is not used, and the file is fetched instead",
			b->hf_path, got, b->sha256, b->path, b->repo_id);
	return 0;
}

/* verify=strict: the hf_cache file found at open is hashed before a byte
 * of it is served.  A match makes it the blob's file (and is remembered
 * in hf-verified/); a mismatch or a read error leaves it and opens the
 * store's partial file instead, fetching what a download job or a reader
 * wants. */
static void keeper_verify_hf(struct blob_store *bs, struct blob *b)
{
	bool match = false, drop_job, want_all;
	struct stat st;
	struct diag d;
	int rc, fd = b->hf_fd;

	rc = keeper_hash_hf(bs, b, &match);
	if (rc == -ECANCELED)
		return;
	if (rc)
		log_msg(LOG_WARN, "cannot read '%s' in the Hugging Face cache to verify it: %s; fetching '%s' instead",
			b->hf_path, strerror(-rc), b->path);
	if (match) {
		if (fstat(fd, &st) != 0 || cache_hf_mark_verified(bs->hf_marks_dir, b->sha256, &st) != 0)
			log_msg(LOG_DEBUG, "cannot remember that '%s' was verified", b->hf_path);
		pthread_mutex_lock(&b->lock);
		b->fd = fd;
		b->hf_fd = -1;
		b->from_hf = true;
		b->hf_pending = false;
		stat_add(&bs->stats.verified, 1);
		__atomic_store_n(&b->complete, true, __ATOMIC_RELEASE);
		drop_job = b->job_ref;
		b->job_ref = false;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		log_msg(LOG_INFO, "'%s' of '%s' is served from the Hugging Face cache ('%s'), sha256 verified",
			b->path, b->repo_id, b->hf_path);
		if (drop_job)
			blob_unref(b);
		return;
	}
	diag_init(&d);
	rc = blob_open_partial(bs, b, &d);
	if (rc)
		log_msg(LOG_ERROR, "'%s' of '%s' cannot be cached: %s", b->path, b->repo_id, d.msg[0] ? d.msg : strerror(-rc));
	pthread_mutex_lock(&b->lock);
	b->hf_fd = -1;
	b->hf_pending = false;
	free(b->hf_path);
	b->hf_path = NULL;
	want_all = b->want_all;
	if (rc)
		b->bad = -EIO;
	else if (want_all && !bs->cfg.offline && bs->fetcher.ops)
		blob_schedule(b, 0, b->size, true);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	close(fd);
}

static void keeper_visit(struct blob_store *bs, struct blob *b)
{
	bool finalize, drop_job = false, evicted, pending;

	pthread_mutex_lock(&b->lock);
	evicted = b->evicted;
	pending = b->hf_pending;
	pthread_mutex_unlock(&b->lock);
	if (evicted || __atomic_load_n(&b->complete, __ATOMIC_ACQUIRE))
		return;
	if (pending) {
		keeper_verify_hf(bs, b);
		return;
	}
	keeper_persist(bs, b);
	/* ignored: a read error while hashing ahead is met again, and
	 * reported, when the blob is finalized */
	(void)keeper_hash(bs, b, false);
	pthread_mutex_lock(&b->lock);
	finalize = blob_all_present(b) && !b->bad;
	if (b->bad && b->job_ref) {
		b->job_ref = false;
		drop_job = true;
	}
	pthread_mutex_unlock(&b->lock);
	if (finalize)
		keeper_finalize(bs, b);
	if (drop_job)
		blob_unref(b);
}

static void keeper_touch(struct blob_store *bs, struct blob *b)
{
	int64_t now = (int64_t)time(NULL), touched;
	int rc;

	pthread_mutex_lock(&b->lock);
	touched = b->touched;
	pthread_mutex_unlock(&b->lock);
	if (touched && now - touched < BLOB_TOUCH_EVERY_S)
		return;
	rc = registry_blob_touch(bs->reg, b->key, now, -1);
	if (rc)
		return;
	pthread_mutex_lock(&b->lock);
	b->touched = now;
	pthread_mutex_unlock(&b->lock);
}

static void *keeper_main(void *arg)
{
	struct blob_store *bs = arg;
	uint64_t next_limit_ms = 0;

	/* hashing and syncing give way to readers (this thread only) */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), BLOB_KEEPER_NICE) != 0)
		log_msg(LOG_DEBUG, "cannot lower the cache keeper's priority: %s", strerror(errno));

	for (;;) {
		struct blob **list;
		size_t n, i;
		bool stop;

		pthread_mutex_lock(&bs->lock);
		if (!bs->keeper_stop && !bs->keeper_urgent)
			cond_wait_ms(&bs->keeper_cond, &bs->lock, BLOB_KEEPER_PERIOD_MS);
		bs->keeper_urgent = false;
		stop = bs->keeper_stop;
		list = bs->dirty;
		n = bs->n_dirty;
		bs->dirty = NULL;
		bs->n_dirty = bs->alloc_dirty = 0;
		for (i = 0; i < n; i++)
			list[i]->dirty = false;
		pthread_mutex_unlock(&bs->lock);
		for (i = 0; i < n; i++) {
			pthread_mutex_lock(&bs->evict_lock);
			keeper_visit(bs, list[i]);
			pthread_mutex_unlock(&bs->evict_lock);
			keeper_report_discard(bs, list[i]);
			keeper_touch(bs, list[i]);
			blob_unref(list[i]);
		}
		free(list);
		if (bs->cfg.cache_max_bytes && (n || now_ms() >= next_limit_ms)) {
			store_enforce_limit(bs, 0);
			next_limit_ms = now_ms() + BLOB_LIMIT_PERIOD_MS;
		}
		if (stop && n == 0)
			break;
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Remote metadata (HEAD results)
 * ------------------------------------------------------------------------ */
static char *remote_key(const struct blob_source *src)
{
	struct sbuf sb;
	size_t len;

	sbuf_init(&sb, 3 * 4096);
	sbuf_addstr(&sb, src->repo_id);
	sbuf_addch(&sb, '\n');
	sbuf_addstr(&sb, src_revision(src));
	sbuf_addch(&sb, '\n');
	sbuf_addstr(&sb, src->path);
	if (sb.err) {
		sbuf_release(&sb);
		return NULL;
	}
	return sbuf_detach(&sb, &len);
}

static bool remote_cached(struct blob_store *bs, const char *key, struct blob_remote *out)
{
	struct remote_ent *e;
	bool found = false;

	pthread_mutex_lock(&bs->lock);
	for (e = bs->remotes; e; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			*out = e->r;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&bs->lock);
	return found;
}

static void remote_remember(struct blob_store *bs, char *key, const struct blob_remote *r)
{
	struct remote_ent *e = calloc(1, sizeof(*e));

	if (!e) {
		free(key);
		return;
	}
	e->key = key;
	e->r = *r;
	pthread_mutex_lock(&bs->lock);
	e->next = bs->remotes;
	bs->remotes = e;
	pthread_mutex_unlock(&bs->lock);
}

/* What is known of src: memory, then the database, then (when allowed) a
 * HEAD with retries. */
static int remote_lookup(struct blob_store *bs, const struct blob_source *src, bool network,
			 struct blob_remote *out, struct diag *d)
{
	struct registry_remote rr;
	unsigned attempt;
	bool down;
	char *key;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!src->repo_id || !*src->repo_id || !src->path || !*src->path)
		return diag_fail(d, -EINVAL, "a file needs a repo and a path");
	key = remote_key(src);
	if (!key)
		return -ENOMEM;
	if (remote_cached(bs, key, out)) {
		free(key);
		return 0;
	}
	rc = registry_remote_get(bs->reg, src->repo_id, src_revision(src), src->path, &rr);
	if (rc == 0) {
		out->size_bytes = rr.size_bytes;
		memcpy(out->sha256, rr.sha256, sizeof(out->sha256));
		memcpy(out->commit, rr.commit, sizeof(out->commit));
		remote_remember(bs, key, out);
		return 0;
	}
	if (!network) {
		free(key);
		return -ENOENT;
	}
	if (bs->cfg.offline || !bs->fetcher.ops) {
		free(key);
		return diag_fail(d, -ENETDOWN, "'%s' in '%s' was never fetched and modelfs is offline; mount without offline to fetch it",
				 src->path, src->repo_id);
	}
	pthread_mutex_lock(&bs->lock);
	down = now_ms() < bs->head_down_until_ms;
	pthread_mutex_unlock(&bs->lock);
	if (down) {
		free(key);
		return diag_fail(d, -ENETDOWN, "the hub could not be reached a moment ago; '%s' in '%s' is not known yet, try again later",
				 src->path, src->repo_id);
	}
	for (attempt = 0;; attempt++) {
		struct diag hd;

		diag_init(&hd);
		rc = bs->fetcher.ops->head(bs->fetcher.ctx, src, out, &hd);
		if (rc == 0)
			break;
		if (attempt + 1 >= BLOB_HEAD_TRIES || (rc != -EIO && rc != -EAGAIN && rc != -ETIMEDOUT)) {
			free(key);
			if (rc == -ENETDOWN) {
				pthread_mutex_lock(&bs->lock);
				bs->head_down_until_ms = now_ms() + BLOB_HEAD_DOWN_MS;
				pthread_mutex_unlock(&bs->lock);
			}
			if (d && hd.msg[0])
				return diag_fail(d, rc, "%s", hd.msg);
			return diag_fail(d, rc, "cannot ask the hub about '%s' in '%s': %s", src->path, src->repo_id,
					 strerror(-rc));
		}
		if (store_sleep(bs, backoff_ms(attempt, 0))) {
			free(key);
			return -ECANCELED;
		}
	}
	memset(&rr, 0, sizeof(rr));
	rr.size_bytes = out->size_bytes;
	memcpy(rr.sha256, out->sha256, sizeof(rr.sha256));
	memcpy(rr.commit, out->commit, sizeof(rr.commit));
	rr.checked = (int64_t)time(NULL);
	rc = registry_remote_put(bs->reg, src->repo_id, src_revision(src), src->path, &rr);
	if (rc)
		log_msg(LOG_WARN, "cannot remember the size of '%s': %s", src->path, strerror(-rc));
	remote_remember(bs, key, out);
	return 0;
}

static int blob_identify_hf(struct blob_store *bs, const struct blob_source *src, char *key, uint64_t *size,
			    char *sha);

int blob_store_size(struct blob_store *bs, const struct blob_source *src, uint64_t *size_out, struct diag *d)
{
	char key[REGISTRY_BLOB_KEY_MAX], sha[BLOB_SHA256_HEX];
	struct blob_remote r;
	int rc;

	*size_out = src->size_bytes;
	if (src->size_bytes)
		return 0;
	rc = remote_lookup(bs, src, true, &r, d);
	if (rc == 0)
		*size_out = r.size_bytes;
	else if (rc == -ENETDOWN && blob_identify_hf(bs, src, key, size_out, sha) == 0) {
		if (d)
			diag_init(d);
		rc = 0;
	}
	return rc;
}

/* key, size and sha256 of src.  network: a HEAD is allowed. */
static int blob_identify(struct blob_store *bs, const struct blob_source *src, bool network, char *key,
			 uint64_t *size, char *sha, struct diag *d)
{
	struct blob_remote r;
	int rc;

	*size = src->size_bytes;
	sha[0] = '\0';
	if (is_sha256(src->sha256) && src->size_bytes) {
		memcpy(sha, src->sha256, BLOB_SHA256_HEX);
		memcpy(key, src->sha256, BLOB_SHA256_HEX);
		return 0;
	}
	rc = remote_lookup(bs, src, network, &r, d);
	if (rc)
		return rc;
	if (!*size)
		*size = r.size_bytes;
	if (is_sha256(src->sha256))
		memcpy(sha, src->sha256, BLOB_SHA256_HEX);
	else if (r.sha256[0])
		memcpy(sha, r.sha256, BLOB_SHA256_HEX);
	if (sha[0]) {
		memcpy(key, sha, BLOB_SHA256_HEX);
		return 0;
	}
	return key_for_path(src, key);
}

/* ------------------------------------------------------------------------
 * Opening blobs
 * ------------------------------------------------------------------------ */
static struct blob *blob_find_locked(struct blob_store *bs, const char *key)
{
	struct blob *b;

	for (b = bs->blobs; b; b = b->next)
		if (strcmp(b->key, key) == 0)
			return b;
	return NULL;
}

/* Opens blobs/<key> when it is there with the right size. */
static int blob_open_complete(struct blob_store *bs, struct blob *b)
{
	char path[BLOB_PATH_MAX];
	struct stat st;
	int fd;

	if (path_join(path, bs->blobs_dir, b->key))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != b->size) {
		log_msg(LOG_WARN, "cached '%s' has %lld bytes, not %llu; fetching it again", path,
			(long long)st.st_size, (unsigned long long)b->size);
		close(fd);
		/* ignored: if it cannot go, the rename at completion replaces it */
		(void)unlink(path);
		return -ENOENT;
	}
	b->fd = fd;
	b->complete = true;
	return 0;
}

/* Opens or creates partial/<key> and loads its ranges. */
static int blob_open_partial(struct blob_store *bs, struct blob *b, struct diag *d)
{
	struct registry_range *rr = NULL;
	struct registry_blob row;
	char path[BLOB_PATH_MAX];
	struct stat st;
	size_t n = 0, i;
	bool fresh;
	int rc;

	if (path_join(path, bs->partial_dir, b->key))
		return -ENAMETOOLONG;
	b->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->fd < 0)
		return diag_fail(d, -errno, "cannot open the cache file '%s': %s", path, strerror(errno));
	if (fstat(b->fd, &st) != 0)
		return diag_fail(d, -errno, "cannot stat the cache file '%s': %s", path, strerror(errno));
	fresh = (uint64_t)st.st_size != b->size;
	if (fresh && (ftruncate(b->fd, 0) != 0 || ftruncate(b->fd, (off_t)b->size) != 0))
		return diag_fail(d, -errno, "cannot size the cache file '%s': %s", path, strerror(errno));
	b->file_id = (uint64_t)st.st_ino;
	rc = registry_blob_get(bs->reg, b->key, &row);
	if (rc && rc != -ENOENT)
		return diag_fail(d, rc, "cannot read the cache records of '%s': %s", b->path, strerror(-rc));
	if (rc == 0) {
		b->pinned = row.pinned;
		b->touched = row.last_used;
	}
	if (rc == 0 && !fresh && row.state == REGISTRY_BLOB_PARTIAL && row.file_id == b->file_id &&
	    row.size_bytes == b->size) {
		rc = registry_blob_ranges(bs->reg, b->key, &rr, &n);
		if (rc)
			return diag_fail(d, rc, "cannot read the cached ranges of '%s': %s", b->path, strerror(-rc));
		for (i = 0; i < n; i++) {
			rc = ext_add(&b->present, rr[i].off, rr[i].off + rr[i].len);
			if (rc)
				break;
		}
		free(rr);
		return rc;
	}
	memset(&row, 0, sizeof(row));
	snprintf(row.key, sizeof(row.key), "%s", b->key);
	row.size_bytes = b->size;
	row.state = REGISTRY_BLOB_PARTIAL;
	row.file_id = b->file_id;
	row.pinned = b->pinned;
	row.last_used = b->touched;
	rc = registry_blob_put(bs->reg, &row);
	if (rc)
		return diag_fail(d, rc, "cannot record the cache file of '%s': %s", b->path, strerror(-rc));
	return 0;
}

/* Looks for b in the Hugging Face cache and, found, serves it from there
 * (or, with verify=strict and no earlier match, queues its hashing).
 * 0, -ENOENT (not there, or not usable: a name it cannot hold, a file it
 * cannot open), -ENOMEM. */
static int blob_open_hf(struct blob_store *bs, struct blob *b)
{
	struct cache_hf_query q = {
		.repo_id = b->repo_id, .revision = b->revision, .path = b->path,
		.sha256 = b->sha256[0] ? b->sha256 : NULL, .size_bytes = b->size,
	};
	struct cache_hf_found *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	rc = cache_hf_find(bs->hf_dir, &q, true, f);
	if (rc) {
		rc = -ENOENT;
		goto out_free;
	}
	b->hf_path = strdup(f->path);
	if (!b->hf_path) {
		close(f->fd);
		rc = -ENOMEM;
		goto out_free;
	}
	if (bs->cfg.verify_strict && b->sha256[0] && !cache_hf_is_verified(bs->hf_marks_dir, b->sha256, &f->st)) {
		b->hf_fd = f->fd;
		b->hf_pending = true;
		keeper_mark(b, true);
		log_msg(LOG_INFO, "'%s' of '%s' is in the Hugging Face cache ('%s'); checking its sha256 before serving it",
			b->path, b->repo_id, f->path);
		goto out_free;
	}
	b->fd = f->fd;
	b->from_hf = true;
	b->complete = true;
	log_msg(LOG_DEBUG, "'%s' of '%s' is served from the Hugging Face cache ('%s')", b->path, b->repo_id, f->path);
out_free:
	free(f);
	return rc;
}

/* key, size and sha256 of src from the Hugging Face cache alone (offline,
 * or a hub that cannot be reached, or never asked): blobs/<sha256> when
 * src has one, else the snapshot of its revision, whose blob's name is the
 * sha256 of an LFS file.  0 or -ENOENT. */
static int blob_identify_hf(struct blob_store *bs, const struct blob_source *src, char *key, uint64_t *size,
			    char *sha)
{
	struct cache_hf_query q = {
		.repo_id = src->repo_id, .revision = src->revision, .path = src->path,
		.sha256 = is_sha256(src->sha256) ? src->sha256 : NULL, .size_bytes = src->size_bytes,
	};
	struct cache_hf_found *f;
	int rc;

	if (!bs->hf_dir || !src->repo_id || !src->path)
		return -ENOENT;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = cache_hf_find(bs->hf_dir, &q, false, f);
	if (rc == 0) {
		*size = (uint64_t)f->st.st_size;
		sha[0] = '\0';
		if (q.sha256)
			memcpy(sha, q.sha256, BLOB_SHA256_HEX);
		else if (is_sha256(f->blob_name))
			memcpy(sha, f->blob_name, BLOB_SHA256_HEX);
		if (sha[0])
			memcpy(key, sha, BLOB_SHA256_HEX);
		else
			rc = key_for_path(src, key);
	}
	free(f);
	return rc ? -ENOENT : 0;
}

static int blob_create(struct blob_store *bs, const struct blob_source *src, const char *key, uint64_t size,
		       const char *sha, struct blob **out, struct diag *d)
{
	struct registry_blob row;
	struct blob *b;
	int rc;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->bs = bs;
	b->fd = -1;
	b->hf_fd = -1;
	b->refs = 1;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	snprintf(b->key, sizeof(b->key), "%s", key);
	snprintf(b->sha256, sizeof(b->sha256), "%s", sha);
	b->size = size;
	b->hash_epoch = (unsigned)-1;
	b->repo_id = strdup(src->repo_id);
	b->revision = strdup(src_revision(src));
	b->path = strdup(src->path);
	if (!b->repo_id || !b->revision || !b->path) {
		blob_free(b);
		return -ENOMEM;
	}
	rc = blob_open_complete(bs, b);
	if (rc == 0) {
		if (registry_blob_get(bs->reg, key, &row) == 0) {
			b->pinned = row.pinned;
			b->touched = row.last_used;
		}
		if (row.state != REGISTRY_BLOB_CACHED || !row.key[0]) {
			memset(&row, 0, sizeof(row));
			snprintf(row.key, sizeof(row.key), "%s", key);
			row.size_bytes = size;
			row.state = REGISTRY_BLOB_CACHED;
			row.pinned = b->pinned;
			row.last_used = b->touched;
			/* ignored: the row only feeds eviction and status;
			 * the file itself says the blob is cached */
			if (registry_blob_put(bs->reg, &row))
				log_msg(LOG_DEBUG, "cannot record '%s' as cached", b->path);
		}
		pub_enqueue(b);
	} else if (bs->hf_dir && (rc = blob_open_hf(bs, b)) != -ENOENT) {
		if (rc) {
			blob_free(b);
			return rc;
		}
	} else {
		rc = blob_open_partial(bs, b, d);
		if (rc) {
			blob_free(b);
			return rc;
		}
	}
	*out = b;
	return 0;
}

int blob_open(struct blob_store *bs, const struct blob_source *src, struct blob **out, struct diag *d)
{
	char key[REGISTRY_BLOB_KEY_MAX], sha[BLOB_SHA256_HEX];
	uint64_t size;
	struct blob *b;
	int rc;

	*out = NULL;
	rc = blob_identify(bs, src, true, key, &size, sha, d);
	if (rc == -ENETDOWN && blob_identify_hf(bs, src, key, &size, sha) == 0) {
		if (d)
			diag_init(d);
		rc = 0;
	}
	if (rc)
		return rc;
	if (size == 0 || size > INT64_MAX)
		return diag_fail(d, -EIO, "'%s' in '%s' has no usable size", src->path, src->repo_id);
	pthread_mutex_lock(&bs->open_lock);
	pthread_mutex_lock(&bs->lock);
	b = blob_find_locked(bs, key);
	if (b) {
		b->refs++;
		b->opens++;
	}
	pthread_mutex_unlock(&bs->lock);
	if (!b) {
		rc = blob_create(bs, src, key, size, sha, &b, d);
		if (rc == 0) {
			pthread_mutex_lock(&bs->lock);
			b->opens = 1;
			b->next = bs->blobs;
			bs->blobs = b;
			pthread_mutex_unlock(&bs->lock);
		}
	}
	pthread_mutex_unlock(&bs->open_lock);
	if (rc)
		return rc;
	if (b->size != size) {
		blob_close(b);
		return diag_fail(d, -EIO, "'%s' in '%s' has two sizes (%llu and %llu); refresh the model",
				 src->path, src->repo_id, (unsigned long long)size, (unsigned long long)b->size);
	}
	keeper_mark(b, false);
	*out = b;
	return 0;
}

void blob_close(struct blob *b)
{
	struct blob_store *bs;
	struct blob *dead;

	if (!b)
		return;
	bs = b->bs;
	pthread_mutex_lock(&bs->lock);
	if (b->opens)
		b->opens--;
	dead = blob_unref_locked(b);
	pthread_mutex_unlock(&bs->lock);
	if (dead)
		blob_free(dead);
}

uint64_t blob_size(const struct blob *b)
{
	return b->size;
}

bool blob_is_cached(struct blob *b)
{
	return __atomic_load_n(&b->complete, __ATOMIC_ACQUIRE);
}

bool blob_is_stable(struct blob *b)
{
	bool stable;

	pthread_mutex_lock(&b->lock);
	stable = b->mismatches == 0;
	pthread_mutex_unlock(&b->lock);
	return stable;
}

void blob_stream_init(struct blob *b, struct blob_stream *st)
{
	memset(st, 0, sizeof(*st));
	st->epoch = __atomic_load_n(&b->epoch, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

/* Updates the stream for a read of [off, end) and returns whether it is
 * sequential; b->lock held. */
static bool stream_update(struct blob *b, struct blob_stream *st, uint64_t off, uint64_t end)
{
	uint64_t max = b->bs->cfg.readahead_bytes, ahead;
	bool seq;

	ahead = st->next_off + BLOB_SEQ_AHEAD_BYTES;
	if (st->ahead_off > ahead)
		ahead = st->ahead_off;
	seq = (st->next_off == 0 && off == 0) ||
	      (st->next_off && off + BLOB_SEQ_BACK_BYTES >= st->next_off && off <= ahead);
	if (!seq) {
		st->window_bytes = 0;
		st->ahead_off = 0;
	} else if (st->window_bytes == 0) {
		st->window_bytes = BLOB_WINDOW_MIN_BYTES < max ? BLOB_WINDOW_MIN_BYTES : max;
	}
	if (!seq || end > st->next_off)
		st->next_off = end;
	return seq && max > 0;
}

/* Keeps the read-ahead window of a sequential stream requested; b->lock
 * held. */
static void stream_ahead(struct blob *b, struct blob_stream *st, uint64_t end)
{
	uint64_t max = b->bs->cfg.readahead_bytes, target;

	if (st->ahead_off > end && st->ahead_off - end >= st->window_bytes / 2)
		return;
	if (st->ahead_off) {
		st->window_bytes *= 2;
		if (st->window_bytes > max)
			st->window_bytes = max;
	}
	target = end + st->window_bytes;
	if (target > b->size)
		target = b->size;
	blob_schedule(b, st->ahead_off > end ? st->ahead_off : end, target, false);
	st->ahead_off = target;
}

/* Runs [off, end) as a request of the reader's own; b->lock held, and
 * released while the request runs. */
static int read_inline(struct blob *b, uint64_t off, uint64_t end)
{
	struct blob_req *r = req_new(b, off, end, REQ_RUNNING);
	int rc;

	if (!r)
		return -ENOMEM;
	r->refs++;
	stat_add(&b->bs->stats.inline_requests, 1);
	pthread_mutex_unlock(&b->lock);
	rc = req_run(b, r, b->bs->cfg.read_wait_ms);
	pthread_mutex_lock(&b->lock);
	req_put(r);
	return rc;
}

/* Waits until [off, end) is present (or, with verify=strict, the blob is
 * verified), fetching what nobody fetches; b->lock held. */
static int blob_wait(struct blob *b, struct blob_stream *st, uint64_t off, uint64_t end)
{
	struct blob_store *bs = b->bs;
	bool strict = bs->cfg.verify_strict, seq;
	uint64_t seen = b->progress, deadline = now_ms() + bs->cfg.read_wait_ms;
	int rc;

	seq = stream_update(b, st, off, end);
	for (;;) {
		uint64_t m, cut, gap_end, next;
		struct blob_req *r;

		if (strict)
			st->epoch = b->epoch;
		if (st->epoch != b->epoch)
			return -EIO;
		if (b->bad)
			return b->bad;
		if (b->complete)
			return 0;
		if (!b->discarding && !b->hf_pending) {
			if (!strict && ext_covers(&b->present, off, end))
				return 0;
			if (bs->cfg.offline || !bs->fetcher.ops)
				return -ENETDOWN;
			if (strict) {
				if (!b->want_all) {
					b->want_all = true;
					blob_schedule(b, 0, b->size, true);
				}
			} else {
				if (seq)
					stream_ahead(b, st, end);
				m = ext_first_missing(&b->present, off, end);
				r = req_covering(b, m);
				if (r && r->state == REQ_QUEUED && r->bulk) {
					cut = end > r->off + BLOB_WINDOW_MIN_BYTES ? end : r->off + BLOB_WINDOW_MIN_BYTES;
					if (cut < r->end) {
						next = r->off;
						r->off = cut;
						rc = read_inline(b, next, cut);
					} else {
						next = r->end;
						r->state = REQ_FINISHED;
						req_unlink(b, r);
						rc = read_inline(b, m, next);
					}
					if (rc && rc != -ECANCELED)
						return rc;
					continue;
				}
				if (!r) {
					gap_end = m + BLOB_INLINE_MIN_BYTES > end ? m + BLOB_INLINE_MIN_BYTES : end;
					if (gap_end > b->size)
						gap_end = b->size;
					next = ext_next_start(&b->present, m);
					if (next < gap_end)
						gap_end = next;
					next = req_next_start(b, m);
					if (next < gap_end)
						gap_end = next;
					rc = read_inline(b, m, gap_end);
					if (rc && rc != -ECANCELED)
						return rc;
					continue;
				}
			}
		}
		if (b->progress != seen) {
			seen = b->progress;
			deadline = now_ms() + bs->cfg.read_wait_ms;
		}
		if (now_ms() >= deadline)
			return b->last_err ? b->last_err : -ETIMEDOUT;
		b->waiters++;
		cond_wait_ms(&b->cond, &b->lock, 1000);
		b->waiters--;
	}
}

ssize_t blob_read(struct blob *b, struct blob_stream *st, void *buf, size_t len, uint64_t off)
{
	int rc;

	if (off >= b->size || len == 0)
		return 0;
	if (len > b->size - off)
		len = (size_t)(b->size - off);
	if (!__atomic_load_n(&b->complete, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&b->epoch, __ATOMIC_ACQUIRE) != st->epoch) {
		pthread_mutex_lock(&b->lock);
		rc = blob_wait(b, st, off, off + len);
		pthread_mutex_unlock(&b->lock);
		if (rc)
			return rc;
	}
	rc = pread_full(b->fd, buf, len, off);
	return rc ? rc : (ssize_t)len;
}

int blob_download(struct blob *b)
{
	struct blob_store *bs = b->bs;

	if (bs->cfg.offline || !bs->fetcher.ops)
		return blob_is_cached(b) ? 0 : -ENETDOWN;
	pthread_mutex_lock(&b->lock);
	if (!b->complete && !b->bad) {
		b->want_all = true;
		if (!b->job_ref) {
			b->job_ref = true;
			pthread_mutex_lock(&bs->lock);
			b->refs++;
			pthread_mutex_unlock(&bs->lock);
		}
		if (!b->hf_pending) {
			blob_schedule(b, 0, b->size, true);
			if (blob_all_present(b))
				keeper_mark(b, true);
		}
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

int blob_wait_cached(struct blob *b, unsigned timeout_ms)
{
	uint64_t until = now_ms() + timeout_ms;
	int rc = 0;

	pthread_mutex_lock(&b->lock);
	while (!b->complete && !b->bad) {
		uint64_t now = now_ms();

		if (now >= until) {
			rc = -ETIMEDOUT;
			break;
		}
		if (!b->want_all && !b->running && !b->reqs && b->last_err) {
			rc = b->last_err;
			break;
		}
		b->waiters++;
		cond_wait_ms(&b->cond, &b->lock, until - now < 1000 ? until - now : 1000);
		b->waiters--;
		if (b->want_all && !b->running && !b->reqs && !b->complete && !b->bad && b->last_err &&
		    !blob_all_present(b)) {
			rc = b->last_err;
			break;
		}
	}
	if (!rc && b->bad)
		rc = b->bad;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* ------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------ */

/* True when the Hugging Face cache holds src (sha: its sha256 or "") whole,
 * and, under verify=strict, that file was verified; path_out (4096 bytes)
 * gets its path.  Stats only. */
static bool store_hf_has(struct blob_store *bs, const struct blob_source *src, const char *sha, uint64_t size,
			 char *path_out)
{
	struct cache_hf_query q = {
		.repo_id = src->repo_id, .revision = src->revision, .path = src->path,
		.sha256 = sha[0] ? sha : NULL, .size_bytes = size,
	};
	struct cache_hf_found *f;
	bool ok;

	if (!bs->hf_dir)
		return false;
	f = calloc(1, sizeof(*f));
	if (!f)
		return false;
	ok = cache_hf_find(bs->hf_dir, &q, false, f) == 0 &&
	     (!bs->cfg.verify_strict || !sha[0] || cache_hf_is_verified(bs->hf_marks_dir, sha, &f->st));
	if (ok)
		snprintf(path_out, 4096, "%s", f->path);
	free(f);
	return ok;
}

int blob_store_query(struct blob_store *bs, const struct blob_source *src, struct blob_info *out)
{
	char key[REGISTRY_BLOB_KEY_MAX], sha[BLOB_SHA256_HEX], path[BLOB_PATH_MAX];
	struct registry_range *rr = NULL;
	struct registry_blob row;
	struct stat st;
	struct blob *b;
	uint64_t size;
	size_t n = 0, i;
	int rc;

	memset(out, 0, sizeof(*out));
	out->size_bytes = src->size_bytes;
	rc = blob_identify(bs, src, false, key, &size, sha, NULL);
	if (rc == -ENOENT)
		rc = blob_identify_hf(bs, src, key, &size, sha);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	out->size_bytes = size;
	pthread_mutex_lock(&bs->lock);
	b = blob_find_locked(bs, key);
	if (b)
		b->refs++;
	pthread_mutex_unlock(&bs->lock);
	if (b) {
		pthread_mutex_lock(&b->lock);
		out->cached_bytes = b->complete ? b->size : b->hf_pending ? 0 : ext_total(&b->present);
		out->pinned = b->pinned;
		out->job = b->job_ref;
		if (b->complete && b->from_hf)
			snprintf(out->local_path, sizeof(out->local_path), "%s", b->hf_path);
		else if (b->complete)
			/* ignored: a path too long for the buffer is left empty */
			(void)path_join(out->local_path, bs->blobs_dir, key);
		if (b->complete)
			out->state = BLOB_CACHED;
		else if (b->running || b->reqs || b->hf_pending)
			out->state = BLOB_DOWNLOADING;
		else
			out->state = out->cached_bytes ? BLOB_PARTIAL : BLOB_REMOTE;
		if (!b->complete && (b->bad || (!b->running && !b->reqs && b->last_err)))
			out->error = b->bad ? b->bad : b->last_err;
		pthread_mutex_unlock(&b->lock);
		blob_unref(b);
	} else {
		rc = registry_blob_get(bs->reg, key, &row);
		if (rc && rc != -ENOENT)
			return rc;
		out->pinned = rc == 0 && row.pinned;
		if (path_join(path, bs->blobs_dir, key) == 0 && stat(path, &st) == 0 && (uint64_t)st.st_size == size) {
			out->state = BLOB_CACHED;
			out->cached_bytes = size;
			memcpy(out->local_path, path, sizeof(out->local_path));
		} else if (store_hf_has(bs, src, sha, size, out->local_path)) {
			out->state = BLOB_CACHED;
			out->cached_bytes = size;
		} else if (rc == 0 && row.state == REGISTRY_BLOB_PARTIAL) {
			rc = registry_blob_ranges(bs->reg, key, &rr, &n);
			if (rc)
				return rc;
			for (i = 0; i < n; i++)
				out->cached_bytes += rr[i].len;
			free(rr);
			out->state = out->cached_bytes ? BLOB_PARTIAL : BLOB_REMOTE;
		}
	}
	return 0;
}

void blob_store_stats(struct blob_store *bs, struct blob_store_stats *out)
{
	out->fetched_bytes = __atomic_load_n(&bs->stats.fetched_bytes, __ATOMIC_RELAXED);
	out->requests = __atomic_load_n(&bs->stats.requests, __ATOMIC_RELAXED);
	out->inline_requests = __atomic_load_n(&bs->stats.inline_requests, __ATOMIC_RELAXED);
	out->verified = __atomic_load_n(&bs->stats.verified, __ATOMIC_RELAXED);
	out->mismatches = __atomic_load_n(&bs->stats.mismatches, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------
 * Eviction (SPEC §7 cache_max, §6 evict and ENOSPC)
 *
 * A blob goes only when no file of it is open (blob_open references) and
 * it is not pinned by a download job, least recently used first
 * (registry blobs.last_used, written at opens).  rclone never evicts open
 * files either (vfs/vfs.md); a llama-server holding its model for days
 * keeps it.  Evicting a blob that background work still references (a
 * read-ahead of a closed file) cancels that work: its epoch moves, so
 * its requests stop writing, and the object is unlisted so a new open
 * starts afresh.
 * ------------------------------------------------------------------------ */

/* Bytes the files of key take on disk (sparse partial files count only
 * what they hold). */
static uint64_t store_key_bytes(struct blob_store *bs, const char *key)
{
	char path[BLOB_PATH_MAX];
	struct stat st;
	uint64_t total = 0;

	if (path_join(path, bs->blobs_dir, key) == 0 && stat(path, &st) == 0)
		total += (uint64_t)st.st_blocks * 512;
	if (path_join(path, bs->partial_dir, key) == 0 && stat(path, &st) == 0)
		total += (uint64_t)st.st_blocks * 512;
	return total;
}

/* Whether a process other than this one has the file at path open or
 * mapped.  With symlinks=yes, readers of a cached blob open blobs/<key>
 * itself and never reach blob_open, so b->opens cannot see them; /proc
 * can, as lsof(8) does.  Nothing here touches the files found: an fd is
 * compared by the path readlink() gives for it, a mapping by the device,
 * inode and path of its /proc/PID/maps line.  stat() of an fd would reach
 * whatever file system the fd is on, this mount or another FUSE mount
 * that may itself be waiting on us.  Only the processes /proc lets this
 * one inspect are seen: all of them as root, else the user's own.
 * *pid_out: the first such process. */
static bool store_file_in_use(const char *path, pid_t *pid_out)
{
	char real[BLOB_PATH_MAX], dir[64], line[BLOB_PATH_MAX + 256], got[BLOB_PATH_MAX];
	struct dirent *de;
	struct stat want;
	pid_t self = getpid();
	bool found = false;
	DIR *proc;

	if (!realpath(path, real) || stat(real, &want) != 0)
		return false;
	proc = opendir("/proc");
	if (!proc)
		return false;
	while (!found && (de = readdir(proc))) {
		struct dirent *fe;
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		DIR *fds;
		FILE *maps;

		if (*end || pid <= 0 || pid == self)
			continue;
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
		fds = opendir(dir);
		while (fds && !found && (fe = readdir(fds))) {
			ssize_t n;

			if (fe->d_name[0] == '.')
				continue;
			n = readlinkat(dirfd(fds), fe->d_name, got, sizeof(got) - 1);
			if (n <= 0)
				continue;
			got[n] = '\0';
			found = strcmp(got, real) == 0;
		}
		if (fds)
			closedir(fds);
		snprintf(dir, sizeof(dir), "/proc/%ld/maps", pid);
		maps = found ? NULL : fopen(dir, "re");
		while (maps && !found && fgets(line, sizeof(line), maps)) {
			unsigned long long ino;
			unsigned int major, minor;
			char *p = line, *f;
			size_t i;

			for (i = 0; i < 3 && p; i++) {
				p = strchr(p, ' ');
				p = p ? p + 1 : NULL;
			}
			if (!p)
				continue;
			major = (unsigned int)strtoul(p, &f, 16);
			if (*f != ':')
				continue;
			minor = (unsigned int)strtoul(f + 1, &f, 16);
			ino = strtoull(f, &f, 10);
			while (*f == ' ')
				f++;
			f[strcspn(f, "\n")] = '\0';
			found = (ino == (unsigned long long)want.st_ino && makedev(major, minor) == want.st_dev) ||
				strcmp(f, real) == 0;
		}
		if (maps)
			fclose(maps);
		if (found)
			*pid_out = (pid_t)pid;
	}
	closedir(proc);
	return found;
}

/* Removes key's files and rows (a download job on it is cancelled): 0,
 * -ENOENT when it had no file (the rows are gone too: another eviction
 * was first), or -EBUSY when a file of it is open or it is keep.  Holds
 * open_lock, so no open of the same key runs meanwhile. */
static int store_evict_key(struct blob_store *bs, const char *key, const struct blob *keep)
{
	char path[BLOB_PATH_MAX];
	struct blob *b, **pp;
	pid_t user;
	bool drop_job = false, had_file = false;
	int rc = 0;

	if (path_join(path, bs->blobs_dir, key) == 0 && store_file_in_use(path, &user)) {
		log_msg(LOG_DEBUG, "'%s' is in use by process %ld", path, (long)user);
		return -EBUSY;
	}
	pthread_mutex_lock(&bs->open_lock);
	pthread_mutex_lock(&bs->evict_lock);
	pthread_mutex_lock(&bs->lock);
	b = blob_find_locked(bs, key);
	if (b && (b->opens || b == keep)) {
		pthread_mutex_unlock(&bs->lock);
		pthread_mutex_unlock(&bs->evict_lock);
		pthread_mutex_unlock(&bs->open_lock);
		return -EBUSY;
	}
	if (b) {
		b->refs++;
		for (pp = &bs->blobs; *pp; pp = &(*pp)->next) {
			if (*pp == b) {
				*pp = b->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&bs->lock);
	if (b) {
		pthread_mutex_lock(&b->lock);
		b->evicted = true;
		b->want_all = false;
		b->bad = -ENOENT;
		__atomic_add_fetch(&b->epoch, 1, __ATOMIC_ACQ_REL);
		while (b->writers)
			pthread_cond_wait(&b->cond, &b->lock);
		drop_job = b->job_ref;
		b->job_ref = false;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
	}
	if (path_join(path, bs->blobs_dir, key) == 0) {
		if (unlink(path) == 0)
			had_file = true;
		else if (errno != ENOENT)
			rc = -errno;
	}
	if (path_join(path, bs->partial_dir, key) == 0) {
		if (unlink(path) == 0)
			had_file = true;
		else if (errno != ENOENT && !rc)
			rc = -errno;
	}
	if (!rc)
		rc = registry_blob_delete(bs->reg, key);
	if (!rc && !had_file)
		rc = -ENOENT;
	pthread_mutex_unlock(&bs->evict_lock);
	pthread_mutex_unlock(&bs->open_lock);
	if (drop_job)
		blob_unref(b);
	if (b)
		blob_unref(b);
	return rc;
}

/* Evicts least recently used blobs, neither open nor pinned (nor keep),
 * until the cache holds at most cache_max - need bytes, or, when force,
 * until need bytes were freed.  Returns the bytes freed. */
static uint64_t store_evict_lru(struct blob_store *bs, const struct blob *keep, uint64_t need, bool force)
{
	struct registry_blob *rows = NULL;
	uint64_t usage = 0, freed = 0, *bytes;
	size_t n = 0, i;

	if (registry_blob_list(bs->reg, &rows, &n) != 0 || n == 0)
		return 0;
	bytes = calloc(n, sizeof(*bytes));
	if (!bytes) {
		free(rows);
		return 0;
	}
	for (i = 0; i < n; i++) {
		bytes[i] = store_key_bytes(bs, rows[i].key);
		usage += bytes[i];
	}
	for (i = 0; i < n; i++) {
		if (force ? freed >= need : usage + need <= bs->cfg.cache_max_bytes)
			break;
		if (rows[i].pinned || bytes[i] == 0)
			continue;
		if (store_evict_key(bs, rows[i].key, keep) != 0)
			continue;
		log_msg(LOG_INFO, "evicted '%s' (%llu bytes) from the cache%s", rows[i].key,
			(unsigned long long)bytes[i], force ? " to make room" : " (cache_max)");
		usage -= bytes[i];
		freed += bytes[i];
	}
	if (!force && usage + need > bs->cfg.cache_max_bytes)
		log_msg(LOG_WARN, "the cache holds %llu bytes, over cache_max, and nothing more can be evicted (open or pinned)",
			(unsigned long long)usage);
	free(bytes);
	free(rows);
	return freed;
}

static void store_enforce_limit(struct blob_store *bs, uint64_t need)
{
	/* ignored: what was freed shows in the next check */
	(void)store_evict_lru(bs, NULL, need, false);
}

/* Frees need bytes on the cache's disk if eviction can: true when it
 * freed some, or when another request's eviction left need bytes free
 * (the requests of one read-ahead hit a full disk together). */
static bool store_make_room(struct blob_store *bs, struct blob *keep, uint64_t need)
{
	struct statvfs sv;

	if (store_evict_lru(bs, keep, need, true) > 0)
		return true;
	return statvfs(bs->partial_dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize >= need;
}

int blob_store_evict(struct blob_store *bs, const struct blob_source *src, struct diag *d)
{
	char key[REGISTRY_BLOB_KEY_MAX], sha[BLOB_SHA256_HEX];
	uint64_t size;
	int rc;

	rc = blob_identify(bs, src, false, key, &size, sha, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return diag_fail(d, rc, "cannot find the cache entry of '%s': %s", src->path, strerror(-rc));
	rc = store_evict_key(bs, key, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc == -EBUSY)
		return diag_fail(d, -EBUSY, "'%s' is open or mapped; close it (stop the program using it) and evict again",
				 src->path);
	if (rc)
		return diag_fail(d, rc, "cannot evict '%s': %s", src->path, strerror(-rc));
	return 0;
}

int blob_pin(struct blob *b, bool pinned)
{
	int64_t now = (int64_t)time(NULL);
	int rc;

	pthread_mutex_lock(&b->lock);
	b->pinned = pinned;
	b->touched = now;
	pthread_mutex_unlock(&b->lock);
	rc = registry_blob_touch(b->bs->reg, b->key, now, pinned ? 1 : 0);
	return rc;
}

/* ------------------------------------------------------------------------
 * Publishing into the Hugging Face cache (the publisher thread)
 * ------------------------------------------------------------------------ */
static bool store_is_stopping(void *arg)
{
	struct blob_store *bs = arg;
	bool stop;

	pthread_mutex_lock(&bs->lock);
	stop = bs->stopping;
	pthread_mutex_unlock(&bs->lock);
	return stop;
}

/* refs/main for a blob fetched at a commit, just published: written only
 * when the hub says now that main is that commit (and holds the same
 * file), and only when there is no refs/main yet. */
static void store_publish_main_ref(struct blob_store *bs, struct blob *b, const char *commit)
{
	struct blob_source src = { .repo_id = b->repo_id, .revision = "main", .path = b->path };
	char have[41];
	struct blob_remote r;
	struct diag d;

	if (bs->cfg.offline || !bs->fetcher.ops || store_is_stopping(bs) ||
	    cache_hf_read_ref(bs->hf_dir, b->repo_id, "main", have) == 0)
		return;
	diag_init(&d);
	if (bs->fetcher.ops->head(bs->fetcher.ctx, &src, &r, &d) != 0 || strcmp(r.commit, commit) != 0 ||
	    strcmp(r.sha256, b->sha256) != 0)
		return;
	if (cache_hf_write_ref(bs->hf_dir, b->repo_id, "main", commit, &d) != 0)
		log_msg(LOG_WARN, "cannot write refs/main of '%s' in the Hugging Face cache: %s", b->repo_id, d.msg);
}

/* Publishes complete, verified b into hf_cache: blob, snapshot, ref. */
static void store_publish(struct blob_store *bs, struct blob *b)
{
	struct blob_source src = {
		.repo_id = b->repo_id, .revision = b->revision, .path = b->path, .size_bytes = b->size,
		.sha256 = b->sha256,
	};
	char from[BLOB_PATH_MAX], commit[41] = "", have[41];
	bool at_commit = cache_hf_is_hex(b->revision, 40);
	struct cache_hf_published res;
	struct cache_hf_publish p;
	struct blob_remote r;
	struct diag d;
	int rc;

	if (!blob_is_cached(b) || b->from_hf || !b->sha256[0])
		return;
	if (at_commit)
		memcpy(commit, b->revision, sizeof(commit));
	else if (remote_lookup(bs, &src, !bs->cfg.offline && bs->fetcher.ops && !store_is_stopping(bs), &r,
			       NULL) == 0 && strcmp(r.sha256, b->sha256) == 0 && cache_hf_is_hex(r.commit, 40))
		memcpy(commit, r.commit, sizeof(commit));
	memset(&p, 0, sizeof(p));
	p.root = bs->hf_dir;
	p.repo_id = b->repo_id;
	p.path = b->path;
	p.sha256 = b->sha256;
	p.commit = commit[0] ? commit : NULL;
	p.from_path = path_join(from, bs->blobs_dir, b->key) == 0 ? from : NULL;
	p.from_fd = b->fd;
	p.size_bytes = b->size;
	p.stop = store_is_stopping;
	p.stop_arg = bs;
	diag_init(&d);
	rc = cache_hf_publish(&p, &res, &d);
	if (rc) {
		log_msg(rc == -ECANCELED ? LOG_DEBUG : LOG_WARN,
			"'%s' of '%s' was not published into the Hugging Face cache: %s", b->path, b->repo_id,
			d.msg[0] ? d.msg : strerror(-rc));
		return;
	}
	if (res.added_blob || res.added_snapshot)
		log_msg(LOG_INFO, "published '%s' of '%s' into the Hugging Face cache '%s'%s", b->path, b->repo_id,
			bs->hf_dir, commit[0] ? "" : " (blob only: the commit is not known)");
	if (res.added_blob && cache_hf_mark_verified(bs->hf_marks_dir, b->sha256, &res.blob_st) != 0)
		log_msg(LOG_DEBUG, "cannot remember that the published '%s' is verified", b->path);
	if (!res.have_snapshot)
		return;
	if (at_commit) {
		if (res.added_blob || res.added_snapshot)
			store_publish_main_ref(bs, b, commit);
		return;
	}
	if (cache_hf_read_ref(bs->hf_dir, b->repo_id, b->revision, have) == -ENOENT &&
	    cache_hf_write_ref(bs->hf_dir, b->repo_id, b->revision, commit, &d) != 0)
		log_msg(LOG_WARN, "cannot write refs/%s of '%s' in the Hugging Face cache: %s", b->revision, b->repo_id,
			d.msg);
}

static void *publisher_main(void *arg)
{
	struct blob_store *bs = arg;

	for (;;) {
		struct blob *b;

		pthread_mutex_lock(&bs->lock);
		while (!bs->pub_stop && !bs->pub_head)
			pthread_cond_wait(&bs->pub_cond, &bs->lock);
		b = bs->pub_head;
		if (b) {
			bs->pub_head = b->pub_next;
			if (!bs->pub_head)
				bs->pub_tail = NULL;
			b->pub_next = NULL;
		}
		pthread_mutex_unlock(&bs->lock);
		if (!b)
			break;
		store_publish(bs, b);
		blob_unref(b);
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */
static void store_free(struct blob_store *bs)
{
	struct remote_ent *e;

	while ((e = bs->remotes)) {
		bs->remotes = e->next;
		free(e->key);
		free(e);
	}
	if (bs->fetcher.ops && bs->fetcher.ops->close)
		bs->fetcher.ops->close(bs->fetcher.ctx);
	pthread_cond_destroy(&bs->pub_cond);
	pthread_cond_destroy(&bs->stop_cond);
	pthread_cond_destroy(&bs->keeper_cond);
	pthread_cond_destroy(&bs->work_cond);
	pthread_mutex_destroy(&bs->lock);
	pthread_mutex_destroy(&bs->open_lock);
	pthread_mutex_destroy(&bs->evict_lock);
	free(bs->workers);
	free(bs->keeper_buf);
	free(bs->dirty);
	free(bs->cache_dir);
	free(bs->blobs_dir);
	free(bs->partial_dir);
	free(bs->hf_dir);
	free(bs->hf_marks_dir);
	free(bs);
}

static char *dir_join(const char *dir, const char *name)
{
	char path[BLOB_PATH_MAX];

	if (path_join(path, dir, name))
		return NULL;
	return strdup(path);
}

int blob_store_open(const struct blob_store_config *cfg, struct blob_store **out, struct diag *d)
{
	struct blob_store *bs;
	unsigned i;
	int rc;

	*out = NULL;
	bs = calloc(1, sizeof(*bs));
	if (!bs) {
		if (cfg->fetcher.ops && cfg->fetcher.ops->close)
			cfg->fetcher.ops->close(cfg->fetcher.ctx);
		return -ENOMEM;
	}
	bs->cfg = *cfg;
	bs->fetcher = cfg->fetcher;
	bs->reg = cfg->reg;
	pthread_mutex_init(&bs->open_lock, NULL);
	pthread_mutex_init(&bs->evict_lock, NULL);
	pthread_mutex_init(&bs->lock, NULL);
	pthread_cond_init(&bs->work_cond, NULL);
	pthread_cond_init(&bs->keeper_cond, NULL);
	pthread_cond_init(&bs->stop_cond, NULL);
	pthread_cond_init(&bs->pub_cond, NULL);
	if (!bs->cfg.connections)
		bs->cfg.connections = BLOB_DEFAULT_CONNECTIONS;
	if (!bs->cfg.chunk_bytes)
		bs->cfg.chunk_bytes = BLOB_DEFAULT_CHUNK_BYTES;
	if (!bs->cfg.readahead_bytes)
		bs->cfg.readahead_bytes = BLOB_DEFAULT_READAHEAD;
	if (!bs->cfg.read_wait_ms)
		bs->cfg.read_wait_ms = BLOB_READ_WAIT_MS;
	bs->cfg.cache_dir = NULL;
	bs->cfg.hf_cache_dir = NULL;
	bs->cache_dir = cfg->cache_dir ? strdup(cfg->cache_dir) : NULL;
	if (!bs->cache_dir || !cfg->reg) {
		store_free(bs);
		return diag_fail(d, -EINVAL, "the blob store needs a cache directory and a registry");
	}
	bs->blobs_dir = dir_join(bs->cache_dir, "blobs");
	bs->partial_dir = dir_join(bs->cache_dir, "partial");
	bs->hf_marks_dir = dir_join(bs->cache_dir, "hf-verified");
	if (cfg->hf_cache_dir && *cfg->hf_cache_dir)
		bs->hf_dir = strdup(cfg->hf_cache_dir);
	bs->keeper_buf = malloc(BLOB_IO_BYTES);
	bs->workers = calloc(bs->cfg.connections, sizeof(*bs->workers));
	if (!bs->blobs_dir || !bs->partial_dir || !bs->hf_marks_dir || !bs->keeper_buf || !bs->workers ||
	    (cfg->hf_cache_dir && *cfg->hf_cache_dir && !bs->hf_dir)) {
		store_free(bs);
		return -ENOMEM;
	}
	rc = make_dir(bs->blobs_dir);
	if (rc == 0)
		rc = make_dir(bs->partial_dir);
	if (rc) {
		diag_fail(d, rc, "cannot create the cache directories under '%s': %s; check cache=", bs->cache_dir,
			  strerror(-rc));
		store_free(bs);
		return rc;
	}
	if (pthread_create(&bs->keeper, NULL, keeper_main, bs) != 0) {
		store_free(bs);
		return diag_fail(d, -EAGAIN, "cannot start the cache's keeper thread");
	}
	bs->keeper_started = true;
	for (i = 0; i < bs->cfg.connections; i++) {
		if (pthread_create(&bs->workers[i], NULL, worker_main, bs) != 0)
			break;
		bs->n_workers++;
	}
	if (bs->n_workers == 0) {
		blob_store_close(bs);
		return diag_fail(d, -EAGAIN, "cannot start the download threads");
	}
	if (bs->hf_dir) {
		pthread_mutex_lock(&bs->lock);
		bs->publisher_started = pthread_create(&bs->publisher, NULL, publisher_main, bs) == 0;
		pthread_mutex_unlock(&bs->lock);
		if (!bs->publisher_started)
			log_msg(LOG_WARN, "cannot start the thread that publishes into the Hugging Face cache; downloads are not published");
	}
	*out = bs;
	return 0;
}

void blob_store_close(struct blob_store *bs)
{
	struct blob_qent *q;
	unsigned i;

	if (!bs)
		return;
	pthread_mutex_lock(&bs->lock);
	bs->stopping = true;
	pthread_cond_broadcast(&bs->work_cond);
	pthread_cond_broadcast(&bs->stop_cond);
	pthread_mutex_unlock(&bs->lock);
	for (i = 0; i < bs->n_workers; i++)
		pthread_join(bs->workers[i], NULL);
	for (;;) {
		struct blob_req *r;
		struct blob *b;

		pthread_mutex_lock(&bs->lock);
		q = queue_pop(bs);
		pthread_mutex_unlock(&bs->lock);
		if (!q)
			break;
		r = q->req;
		b = r->b;
		free(q);
		pthread_mutex_lock(&b->lock);
		req_dequeue(b, r);
		pthread_mutex_unlock(&b->lock);
		blob_unref(b);
	}
	/* jobs that never finished: their references go with them */
	for (;;) {
		struct blob *b, *job = NULL;
		bool had_job;

		pthread_mutex_lock(&bs->lock);
		for (b = bs->blobs; b; b = b->next) {
			if (!b->jobs_dropped) {
				b->jobs_dropped = true;
				b->refs++;
				job = b;
				break;
			}
		}
		pthread_mutex_unlock(&bs->lock);
		if (!job)
			break;
		pthread_mutex_lock(&job->lock);
		had_job = job->job_ref;
		job->job_ref = false;
		pthread_mutex_unlock(&job->lock);
		if (had_job)
			blob_unref(job);
		blob_unref(job);
	}
	if (bs->keeper_started) {
		pthread_mutex_lock(&bs->lock);
		bs->keeper_stop = true;
		pthread_cond_broadcast(&bs->keeper_cond);
		pthread_mutex_unlock(&bs->lock);
		pthread_join(bs->keeper, NULL);
	}
	if (bs->publisher_started) {
		pthread_mutex_lock(&bs->lock);
		bs->pub_stop = true;
		pthread_cond_broadcast(&bs->pub_cond);
		pthread_mutex_unlock(&bs->lock);
		pthread_join(bs->publisher, NULL);
	}
	for (;;) {
		struct blob *b;

		pthread_mutex_lock(&bs->lock);
		b = bs->pub_head;
		if (b) {
			bs->pub_head = b->pub_next;
			if (!bs->pub_head)
				bs->pub_tail = NULL;
		}
		pthread_mutex_unlock(&bs->lock);
		if (!b)
			break;
		blob_unref(b);
	}
	if (bs->blobs)
		log_msg(LOG_WARN, "the cache closed with blobs still open");
	store_free(bs);
}
