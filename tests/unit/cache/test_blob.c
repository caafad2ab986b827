/*
 * test_blob.c - the blob store against an in-memory fetcher (s3backer's
 * fake store idea): deterministic bytes, a count of how often each byte
 * was served, and switchable faults (transient failures part-way through
 * a transfer, permanent errors, corrupted bytes, a lying sha256, delays).
 *
 * Checked: whole and random reads give the right bytes; no byte is ever
 * fetched twice (within a mount, across a close and reopen of the store,
 * with 8 concurrent readers); a complete blob is verified and moved into
 * blobs/ with its sha256 as name; a corrupted transfer is caught by the
 * sha256, discarded, refetched, and handles opened before fail with EIO;
 * a hub that always lies makes reads fail with EIO; transient errors are
 * retried, permanent ones returned (-ENOENT); offline reads fail with
 * -ENETDOWN unless cached; verify=strict serves nothing before the
 * sha256 matched; a file without an LFS oid is keyed by its path; the
 * status query; the registry's range rows.
 */
#include "cache.h"

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
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#define FILE_SIZE ((20u << 20) + 12345u)
#define CHUNK     (1u << 20)

struct fake {
	pthread_mutex_t lock;
	uint64_t size;
	char sha[65];                /* what head reports ("" = not LFS) */
	int fail_every;              /* every Nth get fails transiently ... */
	uint64_t fail_after;         /* ... after this many bytes */
	int permanent_err;           /* every get fails with this */
	int corrupt_gets;            /* gets covering corrupt_off flip it, this many times */
	uint64_t corrupt_off;
	unsigned delay_us;           /* per get */
	bool down;                   /* gets fail -ENETDOWN, transient */
	unsigned gets, heads;
	uint64_t served;
	uint8_t *count;              /* times each byte was served */
};

struct fixture {
	char dir[256];
	char state[300];
	char cache[300];
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

static void sha_of_content(uint64_t size, char *out)
{
	static const char hex[] = "0123456789abcdef";
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned char md[32], buf[65536];
	unsigned int n = 0;
	uint64_t off;
	size_t i;

	assert_non_null(c);
	assert_true(EVP_DigestInit_ex(c, EVP_sha256(), NULL));
	for (off = 0; off < size; off += sizeof(buf)) {
		size_t len = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

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
	out->size_bytes = f->size;
	memcpy(out->sha256, f->sha, sizeof(out->sha256));
	pthread_mutex_unlock(&f->lock);
	if (f->down)
		return diag_fail(d, -ENETDOWN, "down");
	return 0;
}

static int fake_get(void *ctx, const struct blob_source *src, uint64_t off, uint64_t len, blob_sink_fn sink,
		    void *arg, struct blob_fetch_result *res, struct diag *d)
{
	struct fake *f = ctx;
	uint64_t limit = len, pos;
	uint8_t buf[65536];
	bool fail = false, corrupt = false;
	unsigned n;
	int rc;

	memset(res, 0, sizeof(*res));
	assert_true(off + len <= f->size);
	pthread_mutex_lock(&f->lock);
	n = ++f->gets;
	if (f->fail_every && n % (unsigned)f->fail_every == 0) {
		fail = true;
		if (f->fail_after < limit)
			limit = f->fail_after;
	}
	if (f->corrupt_gets > 0 && off <= f->corrupt_off && f->corrupt_off < off + limit) {
		f->corrupt_gets--;
		corrupt = true;
	}
	pthread_mutex_unlock(&f->lock);
	if (f->delay_us)
		usleep(f->delay_us);
	if (f->down) {
		res->transient = true;
		return diag_fail(d, -ENETDOWN, "down");
	}
	if (f->permanent_err)
		return diag_fail(d, f->permanent_err, "permanent");
	for (pos = off; pos < off + limit;) {
		size_t k = off + limit - pos < sizeof(buf) ? (size_t)(off + limit - pos) : sizeof(buf);
		uint64_t i;

		fill(buf, pos, k);
		if (corrupt && f->corrupt_off >= pos && f->corrupt_off < pos + k)
			buf[f->corrupt_off - pos] ^= 0xFF;
		rc = sink(arg, buf, k);
		if (rc)
			return rc;
		pthread_mutex_lock(&f->lock);
		for (i = pos; i < pos + k; i++)
			f->count[i]++;
		f->served += k;
		pthread_mutex_unlock(&f->lock);
		res->bytes += k;
		pos += k;
	}
	if (fail) {
		res->transient = true;
		return diag_fail(d, -EIO, "injected reset");
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

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void store_open(struct fixture *fx, bool offline, bool strict)
{
	struct blob_store_config cfg;
	struct diag d;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cache_dir = fx->cache;
	cfg.reg = fx->reg;
	if (!offline) {
		cfg.fetcher.ops = &fake_ops;
		cfg.fetcher.ctx = &fx->fake;
	}
	cfg.offline = offline;
	cfg.verify_strict = strict;
	cfg.connections = 3;
	cfg.chunk_bytes = CHUNK;
	cfg.readahead_bytes = 4u << 20;
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

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct diag d;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mf-test-blob-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->state, sizeof(fx->state), "%s/state", fx->dir);
	snprintf(fx->cache, sizeof(fx->cache), "%s/cache", fx->dir);
	assert_int_equal(mkdir(fx->state, 0700), 0);
	assert_int_equal(mkdir(fx->cache, 0700), 0);
	diag_init(&d);
	assert_int_equal(registry_open(fx->state, &fx->reg, &d), 0);
	pthread_mutex_init(&fx->fake.lock, NULL);
	fx->fake.size = FILE_SIZE;
	fx->fake.count = calloc(FILE_SIZE, 1);
	assert_non_null(fx->fake.count);
	sha_of_content(FILE_SIZE, fx->sha);
	memcpy(fx->fake.sha, fx->sha, sizeof(fx->sha));
	store_open(fx, false, false);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	blob_store_close(fx->bs);
	registry_close(fx->reg);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx->fake.count);
	pthread_mutex_destroy(&fx->fake.lock);
	free(fx);
	return 0;
}

static struct blob_source source(struct fixture *fx, bool with_sha)
{
	struct blob_source src = {
		.repo_id = "test-org/Tiny-GGUF",
		.revision = "main",
		.path = "tiny-Q4_K_M.gguf",
		.size_bytes = with_sha ? FILE_SIZE : 0,
		.sha256 = with_sha ? fx->sha : NULL,
	};
	return src;
}

static void check_range(struct blob *b, struct blob_stream *st, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len), *want = malloc(len);
	ssize_t n;

	assert_non_null(buf);
	assert_non_null(want);
	n = blob_read(b, st, buf, len, off);
	if (off >= FILE_SIZE)
		assert_int_equal(n, 0);
	else
		assert_int_equal(n, (ssize_t)(len < FILE_SIZE - off ? len : FILE_SIZE - off));
	if (n > 0) {
		fill(want, off, (size_t)n);
		assert_memory_equal(buf, want, (size_t)n);
	}
	free(buf);
	free(want);
}

static void read_all(struct blob *b, struct blob_stream *st, size_t piece)
{
	uint64_t off;

	for (off = 0; off < FILE_SIZE; off += piece)
		check_range(b, st, off, piece);
}

static void assert_no_byte_twice(struct fixture *fx)
{
	uint64_t i;

	for (i = 0; i < FILE_SIZE; i++)
		if (fx->fake.count[i] > 1)
			fail_msg("byte %llu was fetched %u times", (unsigned long long)i, fx->fake.count[i]);
}

static void test_sequential_read_verifies(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_info info;
	struct blob_stream st;
	struct blob *b;
	char path[600];
	struct stat sb;

	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_REMOTE);
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	assert_int_equal(fx->fake.heads, 0);
	blob_stream_init(b, &st);
	read_all(b, &st, 128u << 10);
	assert_int_equal(blob_wait_cached(b, 10000), 0);
	assert_true(blob_is_cached(b));
	assert_true(blob_is_stable(b));
	assert_no_byte_twice(fx);
	assert_int_equal(fx->fake.served, FILE_SIZE);
	snprintf(path, sizeof(path), "%s/blobs/%s", fx->cache, fx->sha);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, FILE_SIZE);
	snprintf(path, sizeof(path), "%s/partial/%s", fx->cache, fx->sha);
	assert_int_not_equal(stat(path, &sb), 0);
	check_range(b, &st, 12345, 777);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	assert_int_equal(info.cached_bytes, FILE_SIZE);
	assert_non_null(strstr(info.local_path, fx->sha));
	blob_close(b);

	/* a new store on the same cache serves it without fetching */
	store_reopen(fx, true, false);
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	assert_true(blob_is_cached(b));
	blob_stream_init(b, &st);
	read_all(b, &st, 1u << 20);
	blob_close(b);
	assert_int_equal(fx->fake.served, FILE_SIZE);
}

static void test_random_reads_fetch_what_is_asked(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	struct blob *b;
	uint64_t off = 7777;
	int i;

	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	for (i = 0; i < 40; i++) {
		off = (off * 1103515245u + 12345u) % FILE_SIZE;
		blob_stream_init(b, &st);
		check_range(b, &st, off, 4096);
	}
	/* each random 4 KiB read costs at most one inline request */
	assert_true(fx->fake.served <= 40u * (128u << 10));
	assert_true(fx->fake.gets <= 40);
	/* one stream jumping back and forth by 15 MiB is not sequential either */
	blob_stream_init(b, &st);
	for (i = 0; i < 10; i++)
		check_range(b, &st, (i % 2 ? 15u << 20 : 100000u) + (uint64_t)i * 300000u, 4096);
	assert_true(fx->fake.served <= 50u * (128u << 10));
	assert_no_byte_twice(fx);
	check_range(b, &st, FILE_SIZE - 10, 100);
	check_range(b, &st, FILE_SIZE, 100);
	assert_false(blob_is_cached(b));
	blob_close(b);
}

static void test_ranges_survive_reopen(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct registry_range *rr;
	struct blob_info info;
	struct blob_stream st;
	uint64_t first, off;
	struct blob *b;
	size_t n;

	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	for (off = 0; off < FILE_SIZE / 2; off += 256u << 10)
		check_range(b, &st, off, 256u << 10);
	blob_close(b);
	store_reopen(fx, false, false);
	first = fx->fake.served;
	assert_true(first >= FILE_SIZE / 2);
	assert_int_equal(registry_blob_ranges(fx->reg, fx->sha, &rr, &n), 0);
	assert_true(n >= 1);
	assert_int_equal(rr[0].off, 0);
	assert_true(rr[0].len >= FILE_SIZE / 2);
	free(rr);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_PARTIAL);
	assert_true(info.cached_bytes >= FILE_SIZE / 2);

	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	read_all(b, &st, 1u << 20);
	assert_int_equal(blob_wait_cached(b, 10000), 0);
	blob_close(b);
	assert_no_byte_twice(fx);
	assert_int_equal(fx->fake.served, FILE_SIZE);
	assert_int_equal(registry_blob_ranges(fx->reg, fx->sha, &rr, &n), 0);
	assert_int_equal(n, 0);
}

static void test_partial_file_replaced_is_not_trusted(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	char path[600];
	struct blob *b;

	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	check_range(b, &st, 0, 1u << 20);
	blob_close(b);
	store_reopen(fx, false, false);
	snprintf(path, sizeof(path), "%s/partial/%s", fx->cache, fx->sha);
	assert_int_equal(unlink(path), 0);
	memset(fx->fake.count, 0, FILE_SIZE);
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	check_range(b, &st, 0, 1u << 20);
	blob_close(b);
	assert_int_equal(fx->fake.count[0], 1);
}

struct reader_arg {
	struct fixture *fx;
	struct blob *b;
	size_t piece;
};

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;
	struct blob_stream st;

	blob_stream_init(ra->b, &st);
	read_all(ra->b, &st, ra->piece);
	return NULL;
}

static void test_concurrent_readers_share(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct reader_arg ra[8];
	pthread_t t[8];
	struct blob *b;
	int i;

	fx->fake.delay_us = 2000;
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	for (i = 0; i < 8; i++) {
		ra[i].fx = fx;
		ra[i].b = b;
		ra[i].piece = (size_t)(64u << 10) << (i % 4);
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &ra[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(blob_wait_cached(b, 10000), 0);
	blob_close(b);
	assert_no_byte_twice(fx);
	assert_int_equal(fx->fake.served, FILE_SIZE);
}

static void test_transient_errors_retried(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	struct blob *b;

	fx->fake.fail_every = 2;
	fx->fake.fail_after = 10000;
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	read_all(b, &st, 512u << 10);
	assert_int_equal(blob_wait_cached(b, 20000), 0);
	blob_close(b);
	assert_no_byte_twice(fx);
	assert_true(fx->fake.gets > 2);
}

/* Reads the whole blob with a fresh stream: the bytes read, or -errno. */
static ssize_t read_whole(struct blob *b)
{
	uint8_t *buf = malloc(FILE_SIZE);
	struct blob_stream st;
	ssize_t n;

	assert_non_null(buf);
	blob_stream_init(b, &st);
	n = blob_read(b, &st, buf, FILE_SIZE, 0);
	free(buf);
	return n;
}

static void wait_unstable(struct blob *b)
{
	int i;

	for (i = 0; i < 500 && blob_is_stable(b); i++)
		usleep(10000);
	assert_false(blob_is_stable(b));
}

static void test_corruption_discarded_and_refetched(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream old, st;
	uint8_t byte;
	struct blob *b;

	fx->fake.corrupt_gets = 1;
	fx->fake.corrupt_off = 3u << 20;
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &old);
	/* the first pass serves the flipped byte: lazy mode cannot know yet */
	assert_int_equal(blob_read(b, &old, &byte, 1, 3u << 20), 1);
	assert_int_equal(byte, (uint8_t)(content_at(3u << 20) ^ 0xFF));
	assert_int_equal(read_whole(b), FILE_SIZE);
	wait_unstable(b);
	assert_false(blob_is_cached(b));
	/* a handle from before the discard may hold wrong bytes: EIO */
	assert_int_equal(blob_read(b, &old, &byte, 1, 0), -EIO);
	blob_stream_init(b, &st);
	read_all(b, &st, 1u << 20);
	assert_int_equal(blob_wait_cached(b, 10000), 0);
	check_range(b, &st, 3u << 20, 16);
	blob_close(b);
	assert_int_equal(fx->fake.served, 2ull * FILE_SIZE);
}

static void test_lying_hub_fails_with_eio(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	uint8_t byte;
	struct blob *b;
	int i;

	src.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	assert_int_equal(read_whole(b), FILE_SIZE);
	wait_unstable(b);
	for (i = 0; i < 500; i++) {
		blob_stream_init(b, &st);
		if (blob_read(b, &st, &byte, 1, 0) == -EIO)
			break;
		/* ignored: the second pass ends in EIO once verified */
		(void)read_whole(b);
		usleep(10000);
	}
	blob_stream_init(b, &st);
	assert_int_equal(blob_read(b, &st, &byte, 1, 0), -EIO);
	assert_int_equal(blob_wait_cached(b, 100), -EIO);
	assert_false(blob_is_cached(b));
	blob_close(b);
	assert_int_equal(fx->fake.served, 2ull * FILE_SIZE);
}

static void test_permanent_error_returned(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	uint8_t buf[16];
	struct blob *b;

	fx->fake.permanent_err = -ENOENT;
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	assert_int_equal(blob_read(b, &st, buf, sizeof(buf), 100), -ENOENT);
	fx->fake.permanent_err = 0;
	check_range(b, &st, 100, 16);
	blob_close(b);
}

static void test_unreachable_is_enetdown(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	uint8_t buf[16];
	struct blob *b;

	fx->fake.down = true;
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	assert_int_equal(blob_read(b, &st, buf, sizeof(buf), 100), -ENETDOWN);
	blob_close(b);
}

static void test_offline(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_source nosha = source(fx, false);
	struct blob_stream st;
	uint8_t buf[16];
	struct blob *b;
	struct diag d;

	store_reopen(fx, true, false);
	diag_init(&d);
	assert_int_equal(blob_open(fx->bs, &nosha, &b, &d), -ENETDOWN);
	assert_non_null(strstr(d.msg, "offline"));
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	assert_int_equal(blob_read(b, &st, buf, sizeof(buf), 0), -ENETDOWN);
	blob_close(b);

	store_reopen(fx, false, false);
	assert_int_equal(blob_open(fx->bs, &nosha, &b, NULL), 0);
	assert_int_equal(fx->fake.heads, 1);
	blob_stream_init(b, &st);
	check_range(b, &st, 0, 1u << 20);
	blob_close(b);

	/* offline: the HEAD is remembered, the fetched bytes are served */
	store_reopen(fx, true, false);
	assert_int_equal(blob_open(fx->bs, &nosha, &b, NULL), 0);
	blob_stream_init(b, &st);
	check_range(b, &st, 1000, 5000);
	assert_int_equal(blob_read(b, &st, buf, sizeof(buf), 5u << 20), -ENETDOWN);
	blob_close(b);
	assert_int_equal(fx->fake.heads, 1);
}

static void test_strict_serves_only_verified(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	uint8_t byte;
	struct blob *b;

	store_reopen(fx, false, true);
	fx->fake.corrupt_gets = 1;
	fx->fake.corrupt_off = 5u << 20;
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	/* the corrupted first download is discarded before any byte is served */
	assert_int_equal(blob_read(b, &st, &byte, 1, 5u << 20), 1);
	assert_int_equal(byte, content_at(5u << 20));
	assert_true(blob_is_cached(b));
	assert_true(fx->fake.served >= 2ull * FILE_SIZE - (2u << 20));
	blob_close(b);
}

static void test_file_without_lfs_oid(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, false);
	struct blob_stream st;
	struct blob_info info;
	struct blob *b;
	uint64_t size;

	fx->fake.sha[0] = '\0';
	assert_int_equal(blob_store_size(fx->bs, &src, &size, NULL), 0);
	assert_int_equal(size, FILE_SIZE);
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	assert_int_equal(fx->fake.heads, 1);
	blob_stream_init(b, &st);
	read_all(b, &st, 1u << 20);
	assert_int_equal(blob_wait_cached(b, 10000), 0);
	blob_close(b);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	assert_true(strstr(info.local_path, "/blobs/n") != NULL);
}

static void test_download_job(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob *b;

	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	assert_int_equal(blob_download(b), 0);
	blob_close(b);
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	assert_int_equal(blob_wait_cached(b, 20000), 0);
	blob_close(b);
	assert_no_byte_twice(fx);
	assert_int_equal(fx->fake.served, FILE_SIZE);
}

static void test_evict(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_stream st;
	struct blob_info info;
	struct blob *b;
	char path[600];
	struct diag d;

	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	read_all(b, &st, 1u << 20);
	assert_int_equal(blob_wait_cached(b, 10000), 0);
	assert_int_equal(blob_pin(b, true), 0);
	diag_init(&d);
	assert_int_equal(blob_store_evict(fx->bs, &src, &d), -EBUSY);
	assert_non_null(strstr(d.msg, "open"));
	blob_close(b);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_CACHED);
	assert_true(info.pinned);
	assert_int_equal(blob_store_evict(fx->bs, &src, NULL), 0);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_REMOTE);
	assert_false(info.pinned);
	snprintf(path, sizeof(path), "%s/blobs/%s", fx->cache, fx->sha);
	assert_int_not_equal(access(path, F_OK), 0);
	/* nothing cached: evicting again is fine */
	assert_int_equal(blob_store_evict(fx->bs, &src, NULL), 0);
	memset(fx->fake.count, 0, FILE_SIZE);
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	blob_stream_init(b, &st);
	check_range(b, &st, 0, 4096);
	blob_close(b);
	assert_int_equal(fx->fake.count[0], 1);
}

static void test_evict_cancels_download(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct blob_info info;
	struct blob *b;

	fx->fake.delay_us = 20000;
	assert_int_equal(blob_open(fx->bs, &src, &b, NULL), 0);
	assert_int_equal(blob_download(b), 0);
	blob_close(b);
	assert_int_equal(blob_store_evict(fx->bs, &src, NULL), 0);
	usleep(200000);
	assert_int_equal(blob_store_query(fx->bs, &src, &info), 0);
	assert_int_equal(info.state, BLOB_REMOTE);
	assert_true(fx->fake.served < FILE_SIZE);
}

static void test_jobs(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx, true);
	struct job_list *jl;
	struct sbuf sb;
	unsigned id = 0;
	int i;

	assert_int_equal(job_list_new(fx->bs, &jl), 0);
	assert_int_equal(job_download(jl, "tiny/tiny/q4_k_m", &src, 1, &id, NULL), 0);
	assert_int_equal(id, 1);
	for (i = 0; i < 500; i++) {
		sbuf_init(&sb, 1u << 20);
		assert_int_equal(job_list_render(jl, &sb), 0);
		if (strstr(sb.buf, "\tdone\t")) {
			assert_non_null(strstr(sb.buf, "1\tdownload\ttiny/tiny/q4_k_m\tdone\t100.0\t"));
			sbuf_release(&sb);
			break;
		}
		sbuf_release(&sb);
		usleep(20000);
	}
	assert_true(i < 500);
	job_cancel_target(jl, "tiny/tiny/q4_k_m");
	job_list_free(jl);
	assert_no_byte_twice(fx);
}

static void test_registry_rows(void **state)
{
	struct fixture *fx = *state;
	struct registry_blob row, got;
	struct registry_range r[3] = { { 100, 50 }, { 0, 100 }, { 400, 10 } }, *rr;
	struct registry_remote rem, rem2;
	size_t n;

	memset(&row, 0, sizeof(row));
	snprintf(row.key, sizeof(row.key), "k1");
	row.size_bytes = 1000;
	row.file_id = 7;
	assert_int_equal(registry_blob_add_ranges(fx->reg, "k1", r, 1), -ENOENT);
	assert_int_equal(registry_blob_put(fx->reg, &row), 0);
	assert_int_equal(registry_blob_add_ranges(fx->reg, "k1", r, 3), 0);
	assert_int_equal(registry_blob_ranges(fx->reg, "k1", &rr, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rr[0].off, 0);
	assert_int_equal(rr[0].len, 150);
	assert_int_equal(rr[1].off, 400);
	free(rr);
	r[0].len = 2000;
	assert_int_equal(registry_blob_add_ranges(fx->reg, "k1", r, 1), -EINVAL);
	r[0].len = 0;
	assert_int_equal(registry_blob_add_ranges(fx->reg, "k1", r, 1), -EINVAL);
	/* the same file keeps its ranges, another file_id drops them */
	assert_int_equal(registry_blob_put(fx->reg, &row), 0);
	assert_int_equal(registry_blob_ranges(fx->reg, "k1", &rr, &n), 0);
	assert_int_equal(n, 2);
	free(rr);
	row.file_id = 8;
	assert_int_equal(registry_blob_put(fx->reg, &row), 0);
	assert_int_equal(registry_blob_ranges(fx->reg, "k1", &rr, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(registry_blob_get(fx->reg, "k1", &got), 0);
	assert_int_equal(got.file_id, 8);
	assert_int_equal(registry_blob_touch(fx->reg, "k1", 1234, 1), 0);
	assert_int_equal(registry_blob_get(fx->reg, "k1", &got), 0);
	assert_true(got.pinned);
	assert_int_equal(got.last_used, 1234);
	assert_int_equal(registry_blob_delete(fx->reg, "k1"), 0);
	assert_int_equal(registry_blob_get(fx->reg, "k1", &got), -ENOENT);
	assert_int_equal(registry_blob_get(fx->reg, "", &got), -EINVAL);

	memset(&rem, 0, sizeof(rem));
	rem.size_bytes = 42;
	memcpy(rem.sha256, fx->sha, sizeof(rem.sha256));
	assert_int_equal(registry_remote_put(fx->reg, "a/b", "main", "x.gguf", &rem), 0);
	assert_int_equal(registry_remote_get(fx->reg, "A/B", "main", "x.gguf", &rem2), 0);
	assert_int_equal(rem2.size_bytes, 42);
	assert_string_equal(rem2.sha256, fx->sha);
	assert_int_equal(registry_remote_get(fx->reg, "a/b", "v1", "x.gguf", &rem2), -ENOENT);
	snprintf(rem.sha256, sizeof(rem.sha256), "abc");
	assert_int_equal(registry_remote_put(fx->reg, "a/b", "main", "x.gguf", &rem), -EINVAL);
	assert_int_equal(registry_schema_version(fx->reg), REGISTRY_SCHEMA_VERSION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sequential_read_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_reads_fetch_what_is_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ranges_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_file_replaced_is_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transient_errors_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corruption_discarded_and_refetched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lying_hub_fails_with_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_error_returned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_is_enetdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_serves_only_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_without_lfs_oid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_download_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_cancels_download, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_rows, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
