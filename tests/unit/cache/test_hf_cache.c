/*
 * test_hf_cache.c - the blob store with a Hugging Face hub cache
 * (hf_cache=, cache/hf_cache.c), against an in-memory fetcher that counts
 * its HEADs and GETs.
 *
 * Checked: a file already in the hf cache (blobs/<sha256>, or the snapshot
 * of a commit, or of a branch through refs/) is served from there with no
 * GET, reported cached with its path, and never evicted; offline, a file
 * whose sha256 (or size) was never learnt is found through its snapshot;
 * a file of the wrong size, a snapshot link leaving the repo folder, or a
 * hostile ref or path is not used; verify=strict hashes such a file once
 * (remembered across a reopen), and a file that fails is not served and
 * not replaced; a completed download is published as a hard link (same
 * file system) or a copy (/dev/shm, another file system) with no
 * temporary file left, a relative snapshot symlink (nested paths too),
 * refs/<branch>, and refs/main for a commit only when main is that
 * commit; an existing ref or a different blob is never replaced; a cache
 * that cannot be written to never fails a read.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#define FILE_SIZE ((3u << 20) + 777u)
#define REPO      "test-org/Tiny-GGUF"
#define REPO_DIR  "models--test-org--Tiny-GGUF"
#define FNAME     "tiny-Q4_K_M.gguf"
#define COMMIT    "0123456789abcdef0123456789abcdef01234567"
#define COMMIT2   "89abcdef0123456789abcdef0123456789abcdef"

struct fake {
	pthread_mutex_t lock;
	char sha[65];                /* what head reports */
	char commit[41];             /* X-Repo-Commit head reports */
	unsigned gets, heads;
};

struct fixture {
	char dir[256];
	char state[300];
	char cache[300];
	char hf[300];                /* the hf cache root */
	struct registry *reg;
	struct blob_store *bs;
	struct fake fake;
	char sha[65];                /* the true sha256 of the content */
};

static uint8_t content_at(uint64_t off)
{
	uint64_t x = off * 0x9E3779B97F4A7C15ull;

	return (uint8_t)((x >> 29) ^ (off >> 20) ^ off);
}

static void fill(uint8_t *buf, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = content_at(off + i);
}

static void sha_of_content(char *out)
{
	static const char hex[] = "0123456789abcdef";
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[32], buf[65536];
	unsigned int n = 0;
	uint64_t off;
	size_t i;

	assert_non_null(c);
	assert_true(EVP_DigestInit_ex(c, EVP_sha256(), NULL));
	for (off = 0; off < FILE_SIZE; off += sizeof(buf)) {
		size_t len = FILE_SIZE - off < sizeof(buf) ? (size_t)(FILE_SIZE - off) : sizeof(buf);

		fill(buf, off, len);
		assert_true(EVP_DigestUpdate(c, buf, len));
	}
	assert_true(EVP_DigestFinal_ex(c, md, &n));
	EVP_MD_CTX_free(c);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

static int fake_head(void *ctx, const struct blob_source *src, struct blob_remote *out, struct diag *d)
{
	struct fake *f = ctx;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&f->lock);
	f->heads++;
	out->size_bytes = FILE_SIZE;
	memcpy(out->sha256, f->sha, sizeof(out->sha256));
	memcpy(out->commit, f->commit, sizeof(out->commit));
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static int fake_get(void *ctx, const struct blob_source *src, uint64_t off, uint64_t len, blob_sink_fn sink,
		    void *arg, struct blob_fetch_result *res, struct diag *d)
{
	struct fake *f = ctx;
	uint8_t buf[65536];
	uint64_t pos;
	int rc;

	memset(res, 0, sizeof(*res));
	assert_true(off + len <= FILE_SIZE);
	pthread_mutex_lock(&f->lock);
	f->gets++;
	pthread_mutex_unlock(&f->lock);
	for (pos = off; pos < off + len;) {
		size_t k = off + len - pos < sizeof(buf) ? (size_t)(off + len - pos) : sizeof(buf);

		fill(buf, pos, k);
		rc = sink(arg, buf, k);
		if (rc)
			return rc;
		res->bytes += k;
		pos += k;
	}
	return 0;
}

static void fake_close(void *ctx)
{
}

static const struct blob_fetcher_ops fake_ops = {
	.head = fake_head,
	.get = fake_get,
	.close = fake_close,
};

static unsigned fake_gets(struct fixture *fx)
{
	unsigned n;

	pthread_mutex_lock(&fx->fake.lock);
	n = fx->fake.gets;
	pthread_mutex_unlock(&fx->fake.lock);
	return n;
}

static unsigned fake_heads(struct fixture *fx)
{
	unsigned n;

	pthread_mutex_lock(&fx->fake.lock);
	n = fx->fake.heads;
	pthread_mutex_unlock(&fx->fake.lock);
	return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void store_open(struct fixture *fx, bool offline, bool strict)
{
	struct blob_store_config cfg;
	struct diag d;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cache_dir = fx->cache;
	cfg.hf_cache_dir = fx->hf[0] ? fx->hf : NULL;
	cfg.reg = fx->reg;
	if (!offline) {
		cfg.fetcher.ops = &fake_ops;
		cfg.fetcher.ctx = &fx->fake;
	}
	cfg.offline = offline;
	cfg.verify_strict = strict;
	cfg.connections = 2;
	cfg.chunk_bytes = 1u << 20;
	cfg.readahead_bytes = 2u << 20;
	cfg.read_wait_ms = 3000;
	diag_init(&d);
	assert_int_equal(blob_store_open(&cfg, &fx->bs, &d), 0);
}

static void store_reopen(struct fixture *fx, bool offline, bool strict)
{
	blob_store_close(fx->bs);
	fx->bs = NULL;
	store_open(fx, offline, strict);
}

static int setup_in(void **state, const char *base)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct diag d;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s/mf-test-hf-XXXXXX", base);
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->state, sizeof(fx->state), "%s/state", fx->dir);
	snprintf(fx->cache, sizeof(fx->cache), "%s/cache", fx->dir);
	snprintf(fx->hf, sizeof(fx->hf), "%s/hf", fx->dir);
	assert_int_equal(mkdir(fx->state, 0700), 0);
	assert_int_equal(mkdir(fx->cache, 0700), 0);
	assert_int_equal(mkdir(fx->hf, 0700), 0);
	diag_init(&d);
	assert_int_equal(registry_open(fx->state, &fx->reg, &d), 0);
	pthread_mutex_init(&fx->fake.lock, NULL);
	sha_of_content(fx->sha);
	memcpy(fx->fake.sha, fx->sha, sizeof(fx->sha));
	memcpy(fx->fake.commit, COMMIT, sizeof(fx->fake.commit));
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_in(state, "/tmp");
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	blob_store_close(fx->bs);
	registry_close(fx->reg);
	rm_tree(fx->dir);
	if (strncmp(fx->hf, "/dev/shm/", 9) == 0)
		rm_tree(fx->hf);
	pthread_mutex_destroy(&fx->fake.lock);
	free(fx);
	return 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */
static void pathf(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < size);
}

static void mkdirs(const char *path)
{
	char buf[1024];
	size_t i, len = strlen(path);

	assert_true(len < sizeof(buf));
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		assert_true(mkdir(buf, 0755) == 0 || errno == EEXIST);
		buf[i] = i < len ? '/' : '\0';
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* The content, size bytes of it, with the byte at flip (when < size) inverted. */
static void write_content(const char *path, uint64_t size, uint64_t flip)
{
	uint8_t *buf = malloc(size);

	assert_non_null(buf);
	fill(buf, 0, size);
	if (flip < size)
		buf[flip] ^= 0xFF;
	write_file(path, buf, size);
	free(buf);
}

/* blobs/<name> with the content (size, flip as write_content). */
static void hf_put_blob(struct fixture *fx, const char *name, uint64_t size, uint64_t flip)
{
	char path[1024];

	pathf(path, sizeof(path), "%s/%s/blobs", fx->hf, REPO_DIR);
	mkdirs(path);
	pathf(path, sizeof(path), "%s/%s/blobs/%s", fx->hf, REPO_DIR, name);
	write_content(path, size, flip);
}

/* snapshots/<commit>/<file> -> target */
static void hf_put_link(struct fixture *fx, const char *commit, const char *file, const char *target)
{
	char path[1024];

	pathf(path, sizeof(path), "%s/%s/snapshots/%s", fx->hf, REPO_DIR, commit);
	mkdirs(path);
	pathf(path, sizeof(path), "%s/%s/snapshots/%s/%s", fx->hf, REPO_DIR, commit, file);
	assert_int_equal(symlink(target, path), 0);
}

static void hf_put_ref(struct fixture *fx, const char *ref, const char *text)
{
	char path[1024];

	pathf(path, sizeof(path), "%s/%s/refs", fx->hf, REPO_DIR);
	mkdirs(path);
	pathf(path, sizeof(path), "%s/%s/refs/%s", fx->hf, REPO_DIR, ref);
	write_file(path, text, strlen(text));
}

/* The whole huggingface_hub layout of the file at COMMIT, main -> COMMIT. */
static void hf_populate(struct fixture *fx)
{
	char target[128];

	hf_put_blob(fx, fx->sha, FILE_SIZE, UINT64_MAX);
	pathf(target, sizeof(target), "../../blobs/%s", fx->sha);
	hf_put_link(fx, COMMIT, FNAME, target);
	hf_put_ref(fx, "main", COMMIT);
}

static struct blob_source source(struct fixture *fx, const char *revision, bool with_sha)
{
	struct blob_source src = {
		.repo_id = REPO,
		.revision = revision,
		.path = FNAME,
		.size_bytes = FILE_SIZE,
		.sha256 = with_sha ? fx->sha : NULL,
	};
	return src;
}

/* Opens src, reads it whole in 256 KiB pieces, checks every byte. */
static void read_whole(struct fixture *fx, const struct blob_source *src)
{
	uint8_t *buf = malloc(256u << 10), *want = malloc(256u << 10);
	struct blob_stream st;
	struct blob *b;
	struct diag d;
	uint64_t off;

	assert_non_null(buf);
	assert_non_null(want);
	diag_init(&d);
	assert_int_equal(blob_open(fx->bs, src, &b, &d), 0);
	assert_int_equal(blob_size(b), FILE_SIZE);
	blob_stream_init(b, &st);
	for (off = 0; off < FILE_SIZE; off += 256u << 10) {
		size_t len = FILE_SIZE - off < (256u << 10) ? (size_t)(FILE_SIZE - off) : (256u << 10);

		assert_int_equal(blob_read(b, &st, buf, len, off), (ssize_t)len);
		fill(want, off, len);
		assert_memory_equal(buf, want, len);
	}
	assert_int_equal(blob_wait_cached(b, 10000), 0);
	assert_true(blob_is_cached(b));
	blob_close(b);
	free(buf);
	free(want);
}

/* True when path holds exactly the content. */
static bool file_is_content(const char *path)
{
	uint8_t *buf = malloc(FILE_SIZE + 1), *want = malloc(FILE_SIZE);
	ssize_t n = -1;
	bool same;
	int fd;

	assert_non_null(buf);
	assert_non_null(want);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, FILE_SIZE + 1);
		close(fd);
	}
	fill(want, 0, FILE_SIZE);
	same = n == FILE_SIZE && memcmp(buf, want, FILE_SIZE) == 0;
	free(buf);
	free(want);
	return same;
}

static void wait_exists(const char *path)
{
	struct stat st;
	int i;

	for (i = 0; i < 1000; i++) {
		if (lstat(path, &st) == 0)
			return;
		usleep(10000);
	}
	fail_msg("'%s' did not appear", path);
}

static void read_text(const char *path, char *out, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	n = read(fd, out, size - 1);
	close(fd);
	assert_true(n >= 0);
	out[n] = '\0';
}

/* Entries of dir whose name contains needle. */
static int count_names(const char *dir, const char *needle)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(dh);
	while ((e = readdir(dh)))
		n += strstr(e->d_name, needle) != NULL;
	closedir(dh);
	return n;
}

/* ------------------------------------------------------------------------
 * Serving
 * ------------------------------------------------------------------------ */
static void test_serves_blob_without_fetching(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	struct blob_info info;
	char want[1024];
	struct diag d;

	hf_populate(fx);
	store_open(fx, false, false);
	pathf(want, sizeof(want), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	assert_int_equal(info.cached_bytes, FILE_SIZE);
	assert_string_equal(info.local_path, want);
	read_whole(fx, &src);
	assert_int_equal(fake_gets(fx), 0);
	assert_int_equal(fake_heads(fx), 0);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	assert_string_equal(info.local_path, want);
	/* the store's own cache stays empty: nothing was copied */
	assert_int_equal(count_names(fx->cache, fx->sha), 0);
	pathf(want, sizeof(want), "%s/blobs", fx->cache);
	assert_int_equal(count_names(want, fx->sha), 0);
	/* evict never deletes another program's file */
	diag_init(&d);
	assert_int_equal(blob_store_evict(fx->bs, &src, &d), 0);
	pathf(want, sizeof(want), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_true(file_is_content(want));
}

static void test_branch_snapshot_without_sha(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, "main", false);
	struct blob_info info;

	hf_populate(fx);
	store_open(fx, false, false);
	read_whole(fx, &src);
	assert_int_equal(fake_gets(fx), 0);
	assert_int_equal(fake_heads(fx), 1);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
}

static void test_offline_through_snapshot(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, NULL, false), other = source(fx, "v2", false);
	struct blob_info info;
	struct blob *b = NULL;
	uint64_t size = 0;
	struct diag d;

	hf_populate(fx);
	store_open(fx, true, false);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	read_whole(fx, &src);
	src.size_bytes = 0;
	diag_init(&d);
	assert_int_equal(blob_store_size(fx->bs, &src, &size, &d), 0);
	assert_int_equal(size, FILE_SIZE);
	read_whole(fx, &src);
	/* a branch the cache has no ref for is not there */
	diag_init(&d);
	assert_int_equal(blob_open(fx->bs, &other, &b, &d), -ENETDOWN);
	assert_null(b);
	assert_int_equal(blob_store_query(fx->bs, &other, &info), 0);
	assert_int_equal(info.state, BLOB_REMOTE);
}

static void test_wrong_size_not_used_nor_replaced(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	struct blob_info info;
	char path[1024];
	struct stat st;

	hf_put_blob(fx, fx->sha, FILE_SIZE - 1, UINT64_MAX);
	store_open(fx, false, false);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_REMOTE);
	read_whole(fx, &src);
	assert_true(fake_gets(fx) > 0);
	/* publishing meets a different file under the blob's name: left as it is */
	store_reopen(fx, true, false);
	pathf(path, sizeof(path), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, FILE_SIZE - 1);
	pathf(path, sizeof(path), "%s/%s/snapshots/%s/%s", fx->hf, REPO_DIR, COMMIT, FNAME);
	assert_int_not_equal(lstat(path, &st), 0);
}

static void test_link_out_of_repo_not_followed(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, false);
	char outside[1024];
	struct blob *b = NULL;
	struct diag d;

	pathf(outside, sizeof(outside), "%s/secret", fx->dir);
	write_content(outside, FILE_SIZE, UINT64_MAX);
	hf_put_link(fx, COMMIT, FNAME, outside);
	store_open(fx, true, false);
	diag_init(&d);
	assert_int_equal(blob_open(fx->bs, &src, &b, &d), -ENETDOWN);
	assert_null(b);
}

static void test_hostile_refs_and_paths(void **state)
{
	static const struct {
		const char *ref_text;    /* refs/main, NULL = none */
		const char *revision;
		const char *path;        /* src path */
		bool found;
	} cases[] = {
		{ COMMIT, "main", FNAME, true },
		{ COMMIT "\n", "main", FNAME, true },
		{ COMMIT "\r\n", "main", FNAME, true },
		{ "", "main", FNAME, false },
		{ "0123456789ABCDEF0123456789ABCDEF01234567", "main", FNAME, false },
		{ COMMIT "0", "main", FNAME, false },
		{ "0123456789abcdef", "main", FNAME, false },
		{ "../../../../../../etc", "main", FNAME, false },
		{ COMMIT " " COMMIT, "main", FNAME, false },
		{ NULL, COMMIT, FNAME, true },
		{ NULL, "../refs/main", FNAME, false },
		{ NULL, "/main", FNAME, false },
		{ NULL, "main", FNAME, false },
		{ NULL, COMMIT, "../" COMMIT "/" FNAME, false },
		{ NULL, COMMIT, "./" FNAME, false },
		{ NULL, COMMIT, "/" FNAME, false },
		{ NULL, COMMIT, "a//" FNAME, false },
		{ NULL, COMMIT, FNAME "/", false },
		{ NULL, COMMIT, "..", false },
	};
	struct fixture *fx = *state;
	char path[1024], target[128];
	size_t i;

	hf_put_blob(fx, fx->sha, FILE_SIZE, UINT64_MAX);
	pathf(target, sizeof(target), "../../blobs/%s", fx->sha);
	hf_put_link(fx, COMMIT, FNAME, target);
	store_open(fx, true, false);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct blob_source src = source(fx, cases[i].revision, false);
		struct blob_info info;
		struct blob *b = NULL;
		struct diag d;
		int rc;

		pathf(path, sizeof(path), "%s/%s/refs/main", fx->hf, REPO_DIR);
		unlink(path);
		if (cases[i].ref_text)
			hf_put_ref(fx, "main", cases[i].ref_text);
		src.path = cases[i].path;
		diag_init(&d);
		rc = blob_open(fx->bs, &src, &b, &d);
		if (cases[i].found != (rc == 0))
			fail_msg("case %zu: blob_open gave %d", i, rc);
		blob_close(b);
		assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
		if (cases[i].found != (info.state == BLOB_CACHED))
			fail_msg("case %zu: state %s", i, blob_cache_state_name(info.state));
	}
}

/* ------------------------------------------------------------------------
 * verify=strict
 * ------------------------------------------------------------------------ */
static void test_strict_verifies_once(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	struct blob_store_stats stats;
	struct blob_info info;
	char path[1024], tmp[1024];

	hf_populate(fx);
	store_open(fx, false, true);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_REMOTE);
	read_whole(fx, &src);
	assert_int_equal(fake_gets(fx), 0);
	blob_store_stats(fx->bs, &stats);
	assert_int_equal(stats.verified, 1);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	pathf(path, sizeof(path), "%s/hf-verified/%s", fx->cache, fx->sha);
	assert_int_equal(access(path, F_OK), 0);

	store_reopen(fx, true, true);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	read_whole(fx, &src);
	blob_store_stats(fx->bs, &stats);
	assert_int_equal(stats.verified, 0);

	/* a file replaced since (as huggingface_hub does: a new file renamed
	 * over the old one) is hashed again */
	store_reopen(fx, false, true);
	pathf(path, sizeof(path), "%s/%s/blobs/%s.incomplete", fx->hf, REPO_DIR, fx->sha);
	write_content(path, FILE_SIZE, UINT64_MAX);
	pathf(tmp, sizeof(tmp), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_int_equal(rename(path, tmp), 0);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_REMOTE);
	read_whole(fx, &src);
	blob_store_stats(fx->bs, &stats);
	assert_int_equal(stats.verified, 1);
	assert_int_equal(fake_gets(fx), 0);
}

static void test_strict_mismatch_fetches(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	char path[1024];

	hf_put_blob(fx, fx->sha, FILE_SIZE, 12345);
	store_open(fx, false, true);
	read_whole(fx, &src);
	assert_true(fake_gets(fx) > 0);
	pathf(path, sizeof(path), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_false(file_is_content(path));
	pathf(path, sizeof(path), "%s/hf-verified/%s", fx->cache, fx->sha);
	assert_int_not_equal(access(path, F_OK), 0);
}

/* ------------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------------ */
static void check_published(struct fixture *fx, const char *commit, const char *file, const char *target)
{
	char path[1024], link[256];
	ssize_t n;

	pathf(path, sizeof(path), "%s/%s/snapshots/%s/%s", fx->hf, REPO_DIR, commit, file);
	wait_exists(path);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, target);
	assert_true(file_is_content(path));
	pathf(path, sizeof(path), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_true(file_is_content(path));
	pathf(path, sizeof(path), "%s/%s/blobs", fx->hf, REPO_DIR);
	assert_int_equal(count_names(path, "tmp"), 0);
	assert_int_equal(count_names(path, "modelfs"), 0);
}

static void test_publish_branch_hardlink(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, "main", false);
	char path[1024], target[128], text[64];
	struct stat ours, theirs;

	store_open(fx, false, false);
	read_whole(fx, &src);
	pathf(target, sizeof(target), "../../blobs/%s", fx->sha);
	check_published(fx, COMMIT, FNAME, target);
	pathf(path, sizeof(path), "%s/%s/refs/main", fx->hf, REPO_DIR);
	wait_exists(path);
	read_text(path, text, sizeof(text));
	assert_string_equal(text, COMMIT);
	pathf(path, sizeof(path), "%s/blobs/%s", fx->cache, fx->sha);
	assert_int_equal(stat(path, &ours), 0);
	pathf(path, sizeof(path), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_int_equal(stat(path, &theirs), 0);
	assert_true(ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev);

	/* a later mount serves it from either cache, with no fetch */
	store_reopen(fx, true, false);
	read_whole(fx, &src);
}

static void test_publish_commit_nested_path(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	char path[1024], target[128], text[64];

	src.path = "sub/dir/" FNAME;
	store_open(fx, false, false);
	read_whole(fx, &src);
	pathf(target, sizeof(target), "../../../../blobs/%s", fx->sha);
	check_published(fx, COMMIT, "sub/dir/" FNAME, target);
	/* main is still this commit: refs/main is written after a HEAD of main */
	pathf(path, sizeof(path), "%s/%s/refs/main", fx->hf, REPO_DIR);
	wait_exists(path);
	read_text(path, text, sizeof(text));
	assert_string_equal(text, COMMIT);
}

static void test_publish_commit_main_moved(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	char path[1024], target[128];
	int i;

	memcpy(fx->fake.commit, COMMIT2, sizeof(fx->fake.commit));
	store_open(fx, false, false);
	read_whole(fx, &src);
	pathf(target, sizeof(target), "../../blobs/%s", fx->sha);
	check_published(fx, COMMIT, FNAME, target);
	for (i = 0; i < 50 && fake_heads(fx) == 0; i++)
		usleep(10000);
	store_reopen(fx, false, false);
	pathf(path, sizeof(path), "%s/%s/refs/main", fx->hf, REPO_DIR);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void test_publish_keeps_existing_ref(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, "main", false);
	char path[1024], target[128], text[64];

	hf_put_ref(fx, "main", COMMIT2);
	pathf(path, sizeof(path), "%s/%s/refs/main", fx->hf, REPO_DIR);
	store_open(fx, false, false);
	read_whole(fx, &src);
	pathf(target, sizeof(target), "../../blobs/%s", fx->sha);
	check_published(fx, COMMIT, FNAME, target);
	store_reopen(fx, false, false);
	read_text(path, text, sizeof(text));
	assert_string_equal(text, COMMIT2);
}

static void test_publish_already_complete_at_open(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	char target[128];
	unsigned gets;

	fx->hf[0] = '\0';
	store_open(fx, false, false);
	read_whole(fx, &src);
	gets = fake_gets(fx);
	blob_store_close(fx->bs);
	fx->bs = NULL;
	snprintf(fx->hf, sizeof(fx->hf), "%s/hf", fx->dir);
	store_open(fx, true, false);
	read_whole(fx, &src);
	pathf(target, sizeof(target), "../../blobs/%s", fx->sha);
	check_published(fx, COMMIT, FNAME, target);
	assert_int_equal(fake_gets(fx), gets);
}

static void test_unwritable_hf_cache_never_fails_reads(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, COMMIT, true);
	char path[1024];

	pathf(path, sizeof(path), "%s/%s", fx->hf, REPO_DIR);
	write_file(path, "not a folder", 12);
	store_open(fx, false, false);
	read_whole(fx, &src);
	store_reopen(fx, false, false);
	read_whole(fx, &src);
}

static void test_publish_across_file_systems(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, "main", true);
	char path[1024], target[128];
	struct stat ours, theirs;

	if (stat("/dev/shm", &ours) != 0 || stat(fx->dir, &theirs) != 0 || ours.st_dev == theirs.st_dev)
		skip();
	snprintf(fx->hf, sizeof(fx->hf), "/dev/shm/mf-test-hf-%ld", (long)getpid());
	rm_tree(fx->hf);
	assert_int_equal(mkdir(fx->hf, 0700), 0);
	store_open(fx, false, false);
	read_whole(fx, &src);
	pathf(target, sizeof(target), "../../blobs/%s", fx->sha);
	check_published(fx, COMMIT, FNAME, target);
	pathf(path, sizeof(path), "%s/blobs/%s", fx->cache, fx->sha);
	assert_int_equal(stat(path, &ours), 0);
	pathf(path, sizeof(path), "%s/%s/blobs/%s", fx->hf, REPO_DIR, fx->sha);
	assert_int_equal(stat(path, &theirs), 0);
	assert_true(ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serves_blob_without_fetching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_branch_snapshot_without_sha, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline_through_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_size_not_used_nor_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_out_of_repo_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_refs_and_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_verifies_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_mismatch_fetches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_branch_hardlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_commit_nested_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_commit_main_moved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_keeps_existing_ref, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_already_complete_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_hf_cache_never_fails_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_across_file_systems, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
