/*
 * test_jobs.c - the job list: jobs run by someone else (job_add, job_set),
 * .control/jobs rendering (SPEC §4), and the history across mounts in the
 * registry (job_list_attach): a list freed, a new one attached to the same
 * registry, ids continuing, unfinished jobs shown and stored failed
 * ("interrupted").  Download jobs run against a small in-memory fetcher
 * whose transfers can be held, so a download can be left running when its
 * list is freed.
 *
 * Every rendered line is checked to have exactly ten cells: .control/jobs
 * is parsed by `modelfs jobs` and by scripts.
 */
#include "cache.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
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

#define FILE_SIZE ((3u << 20) + 777u)
#define INTERRUPTED "interrupted: modelfs stopped while it ran"

struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool hold;                   /* gets wait while set */
	char sha[65];
};

struct fixture {
	char dir[256];
	char state[300];
	char cache[300];
	struct registry *reg;
	struct blob_store *bs;
	struct fake fake;
};

static uint8_t content_at(uint64_t off)
{
	return (uint8_t)((off * 2654435761u) >> 13);
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

	(void)src;
	(void)d;
	memset(out, 0, sizeof(*out));
	out->size_bytes = FILE_SIZE;
	memcpy(out->sha256, f->sha, sizeof(out->sha256));
	return 0;
}

static int fake_get(void *ctx, const struct blob_source *src, uint64_t off, uint64_t len, blob_sink_fn sink,
		    void *arg, struct blob_fetch_result *res, struct diag *d)
{
	struct fake *f = ctx;
	uint8_t buf[65536];
	uint64_t pos;
	int rc;

	(void)src;
	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&f->lock);
	while (f->hold)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	for (pos = off; pos < off + len;) {
		size_t k = off + len - pos < sizeof(buf) ? (size_t)(off + len - pos) : sizeof(buf);

		fill(buf, pos, k);
		rc = sink(arg, buf, k);
		if (rc)
			return diag_fail(d, rc, "sink");
		res->bytes += k;
		pos += k;
	}
	return 0;
}

static void fake_close(void *ctx)
{
	(void)ctx;
}

static const struct blob_fetcher_ops fake_ops = {
	.head = fake_head,
	.get = fake_get,
	.close = fake_close,
};

static void fake_hold(struct fake *f, bool hold)
{
	pthread_mutex_lock(&f->lock);
	f->hold = hold;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct blob_store_config cfg;
	struct diag d;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mf-test-jobs-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->state, sizeof(fx->state), "%s/state", fx->dir);
	snprintf(fx->cache, sizeof(fx->cache), "%s/cache", fx->dir);
	assert_int_equal(mkdir(fx->state, 0700), 0);
	assert_int_equal(mkdir(fx->cache, 0700), 0);
	diag_init(&d);
	assert_int_equal(registry_open(fx->state, &fx->reg, &d), 0);
	pthread_mutex_init(&fx->fake.lock, NULL);
	pthread_cond_init(&fx->fake.cond, NULL);
	sha_of_content(fx->fake.sha);
	memset(&cfg, 0, sizeof(cfg));
	cfg.cache_dir = fx->cache;
	cfg.reg = fx->reg;
	cfg.fetcher.ops = &fake_ops;
	cfg.fetcher.ctx = &fx->fake;
	cfg.connections = 2;
	cfg.chunk_bytes = 1u << 20;
	assert_int_equal(blob_store_open(&cfg, &fx->bs, &d), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	fake_hold(&fx->fake, false);
	blob_store_close(fx->bs);
	registry_close(fx->reg);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	pthread_cond_destroy(&fx->fake.cond);
	pthread_mutex_destroy(&fx->fake.lock);
	free(fx);
	return 0;
}

/* ------------------------------------------------------------------------
 * Reading .control/jobs back
 * ------------------------------------------------------------------------ */

#define MAX_ROWS 200

struct row {
	char cell[10][600];
};

struct table {
	size_t n;
	struct row rows[MAX_ROWS];
};

/* Renders jl, checks the header and that every line has ten cells, and
 * splits the rows into t. */
static void render(struct job_list *jl, struct table *t)
{
	struct sbuf sb;
	char *p, *nl;

	memset(t, 0, sizeof(*t));
	sbuf_init(&sb, 1u << 22);
	assert_int_equal(job_list_render(jl, &sb), 0);
	assert_non_null(sb.buf);
	assert_true(sb.len > 0 && sb.buf[sb.len - 1] == '\n');
	p = sb.buf;
	nl = strchr(p, '\n');
	assert_non_null(nl);
	*nl = '\0';
	assert_string_equal(p, "id\tkind\ttarget\tstate\tprogress\tdone_bytes\ttotal_bytes\trate_bps\teta_s\tmessage");
	for (p = nl + 1; *p; p = nl + 1) {
		struct row *r;
		size_t c = 0;
		char *q, *start;

		nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		assert_true(t->n < MAX_ROWS);
		r = &t->rows[t->n++];
		for (start = q = p;; q++) {
			if (*q == '\t' || *q == '\0') {
				assert_true(c < 10);
				assert_true((size_t)(q - start) < sizeof(r->cell[0]));
				memcpy(r->cell[c], start, (size_t)(q - start));
				c++;
				if (!*q)
					break;
				start = q + 1;
			}
		}
		assert_int_equal(c, 10);
		for (q = p; *q; q++)
			assert_true(*q == '\t' || ((unsigned char)*q >= 0x20 && *q != 0x7f));
	}
	sbuf_release(&sb);
}

static const char *cell(const struct table *t, size_t row, const char *name)
{
	static const char *const names[] = { "id", "kind", "target", "state", "progress", "done_bytes",
					     "total_bytes", "rate_bps", "eta_s", "message" };
	size_t i;

	assert_true(row < t->n);
	for (i = 0; i < 10; i++)
		if (strcmp(names[i], name) == 0)
			return t->rows[row].cell[i];
	fail_msg("no column %s", name);
	return NULL;
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* ------------------------------------------------------------------------
 * Jobs of someone else
 * ------------------------------------------------------------------------ */

static void test_render_empty(void **state)
{
	struct job_list *jl;
	struct table t;

	(void)state;
	render(NULL, &t);
	assert_int_equal(t.n, 0);
	assert_int_equal(job_list_new(NULL, &jl), 0);
	render(jl, &t);
	assert_int_equal(t.n, 0);
	job_list_free(jl);
	job_list_free(NULL);
}

static void test_add_and_set(void **state)
{
	struct job_list *jl;
	struct table t;
	unsigned id = 0, id2 = 0;

	(void)state;
	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_add(jl, "benchmark", "llama/llama-3.1-8b/q4_k_m", &id), 0);
	assert_int_equal(id, 1);
	render(jl, &t);
	assert_int_equal(t.n, 1);
	assert_string_equal(cell(&t, 0, "id"), "1");
	assert_string_equal(cell(&t, 0, "kind"), "benchmark");
	assert_string_equal(cell(&t, 0, "target"), "llama/llama-3.1-8b/q4_k_m");
	assert_string_equal(cell(&t, 0, "state"), "queued");
	assert_string_equal(cell(&t, 0, "progress"), "0.0");
	assert_string_equal(cell(&t, 0, "done_bytes"), "0");
	assert_string_equal(cell(&t, 0, "total_bytes"), "0");
	/* not about bytes: rate and ETA are empty cells */
	assert_string_equal(cell(&t, 0, "rate_bps"), "");
	assert_string_equal(cell(&t, 0, "eta_s"), "");
	assert_string_equal(cell(&t, 0, "message"), "");

	job_set(jl, id, "running", 42.25, 0, 0, "running llama-bench");
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "state"), "running");
	assert_string_equal(cell(&t, 0, "progress"), "42.2");
	assert_string_equal(cell(&t, 0, "rate_bps"), "");
	assert_string_equal(cell(&t, 0, "message"), "running llama-bench");

	/* with bytes: rate and ETA from them, counted from the first run */
	assert_int_equal(job_add(jl, "benchmark", "qwen/qwen3-8b/q8_0", &id2), 0);
	assert_int_equal(id2, 2);
	job_set(jl, id2, "running", 0, 0, 1000000, "downloading");
	usleep(50000);
	job_set(jl, id2, "running", 50, 500000, 1000000, "downloading");
	render(jl, &t);
	assert_int_equal(t.n, 2);
	assert_string_equal(cell(&t, 1, "done_bytes"), "500000");
	assert_string_equal(cell(&t, 1, "total_bytes"), "1000000");
	assert_true(is_number(cell(&t, 1, "rate_bps")));
	assert_true(strtoull(cell(&t, 1, "rate_bps"), NULL, 10) > 0);
	assert_true(strtoull(cell(&t, 1, "rate_bps"), NULL, 10) <= 500000ull * 20);
	assert_true(is_number(cell(&t, 1, "eta_s")));

	/* bytes that were there before the total was first given do not count */
	job_set(jl, id, "running", 90, 900000, 1000000, "downloading");
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "rate_bps"), "0");
	assert_string_equal(cell(&t, 0, "eta_s"), "0");
	job_set(jl, id, "running", 42.25, 0, 0, "running llama-bench");

	job_set(jl, id2, "failed", 50, 500000, 1000000, "llama-bench exited with status 1");
	job_set(jl, id, "done", 80, 0, 0, NULL);
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "state"), "done");
	assert_string_equal(cell(&t, 0, "progress"), "100.0");
	assert_string_equal(cell(&t, 0, "message"), "");
	assert_string_equal(cell(&t, 1, "state"), "failed");
	assert_string_equal(cell(&t, 1, "rate_bps"), "0");
	assert_string_equal(cell(&t, 1, "eta_s"), "0");
	assert_string_equal(cell(&t, 1, "message"), "llama-bench exited with status 1");
	job_list_free(jl);
}

static void test_hostile_values(void **state)
{
	struct job_list *jl;
	struct table t;
	unsigned id = 0;

	(void)state;
	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_add(jl, "", "a/b/c", &id), -EINVAL);
	assert_int_equal(job_add(jl, "benchmark", "", &id), -EINVAL);
	assert_int_equal(job_add(jl, NULL, "a/b/c", &id), -EINVAL);
	assert_int_equal(job_add(NULL, "benchmark", "a/b/c", &id), -EINVAL);
	assert_int_equal(id, 0);
	assert_int_equal(job_add(jl, "bench\tmark\n", "a/b\r\n/c\x1b[2J", &id), 0);
	render(jl, &t);
	assert_int_equal(t.n, 1);
	assert_string_equal(cell(&t, 0, "kind"), "bench mark ");
	assert_string_equal(cell(&t, 0, "target"), "a/b  /c [2J");
	/* unknown state, unknown id: nothing changes */
	job_set(jl, id, "finished", 10, 0, 0, "x");
	job_set(jl, id, NULL, 10, 0, 0, "x");
	job_set(jl, id + 7, "done", 10, 0, 0, "x");
	job_set(NULL, id, "done", 10, 0, 0, "x");
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "state"), "queued");
	assert_string_equal(cell(&t, 0, "message"), "");
	job_set(jl, id, "running", NAN, 0, 0, "line one\nline two\tcell\x7f");
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "progress"), "0.0");
	assert_string_equal(cell(&t, 0, "message"), "line one line two cell ");
	job_set(jl, id, "running", 150, 0, 0, NULL);
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "progress"), "100.0");
	job_set(jl, id, "running", -3, 0, 0, NULL);
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "progress"), "0.0");
	job_set(jl, id, "running", INFINITY, 0, 0, NULL);
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "progress"), "0.0");
	job_list_free(jl);
}

static void test_finished_jobs_trimmed(void **state)
{
	struct job_list *jl;
	struct table t;
	unsigned id, i, running = 0;

	(void)state;
	assert_int_equal(job_list_new(NULL, &jl), 0);
	for (i = 1; i <= JOB_MAX_KEPT + 10; i++) {
		char target[32];

		snprintf(target, sizeof(target), "f/v/q%u", i);
		assert_int_equal(job_add(jl, "benchmark", target, &id), 0);
		assert_int_equal(id, i);
		if (i == 3)
			running = id;
		else
			job_set(jl, id, "done", 100, 0, 0, NULL);
	}
	job_set(jl, running, "running", 5, 0, 0, NULL);
	render(jl, &t);
	/* the oldest finished ones went; the running one stays */
	assert_int_equal(t.n, JOB_MAX_KEPT + 1);
	assert_string_equal(cell(&t, 0, "id"), "3");
	assert_string_equal(cell(&t, 1, "id"), "11");
	assert_string_equal(cell(&t, t.n - 1, "id"), "74");
	job_list_free(jl);
}

/* ------------------------------------------------------------------------
 * History across mounts
 * ------------------------------------------------------------------------ */

struct saved {
	size_t n;
	int64_t id[MAX_ROWS];
	char state[MAX_ROWS][16];
	char message[MAX_ROWS][128];
};

static int saved_row(void *ctx, const struct registry_job_row *row)
{
	struct saved *s = ctx;

	assert_true(s->n < MAX_ROWS);
	s->id[s->n] = row->id;
	snprintf(s->state[s->n], sizeof(s->state[0]), "%s", row->state);
	snprintf(s->message[s->n], sizeof(s->message[0]), "%s", row->message ? row->message : "");
	s->n++;
	return 0;
}

static void test_history_across_lists(void **state)
{
	struct fixture *fx = *state;
	struct job_list *jl;
	struct saved s;
	struct table t;
	unsigned a, b, c, d;

	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), -EINVAL);
	assert_int_equal(job_add(jl, "benchmark", "f/v/qa", &a), 0);
	assert_int_equal(job_add(jl, "benchmark", "f/v/qb", &b), 0);
	assert_int_equal(job_add(jl, "benchmark", "f/v/qc", &c), 0);
	job_set(jl, b, "running", 10, 0, 0, "measuring");
	job_set(jl, c, "done", 100, 2048, 2048, "tg 42.0 tokens/s");
	/* written as they happen: a mount killed now leaves these rows */
	memset(&s, 0, sizeof(s));
	assert_int_equal(registry_job_list(fx->reg, 100, saved_row, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.state[0], "queued");
	assert_string_equal(s.state[1], "running");
	assert_string_equal(s.state[2], "done");
	job_list_free(jl);

	/* the next mount */
	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	render(jl, &t);
	assert_int_equal(t.n, 3);
	assert_string_equal(cell(&t, 0, "id"), "1");
	assert_string_equal(cell(&t, 0, "state"), "failed");
	assert_string_equal(cell(&t, 0, "message"), INTERRUPTED);
	assert_string_equal(cell(&t, 1, "state"), "failed");
	assert_string_equal(cell(&t, 1, "message"), INTERRUPTED);
	assert_string_equal(cell(&t, 1, "progress"), "10.0");
	assert_string_equal(cell(&t, 2, "state"), "done");
	assert_string_equal(cell(&t, 2, "kind"), "benchmark");
	assert_string_equal(cell(&t, 2, "target"), "f/v/qc");
	assert_string_equal(cell(&t, 2, "progress"), "100.0");
	assert_string_equal(cell(&t, 2, "done_bytes"), "2048");
	assert_string_equal(cell(&t, 2, "total_bytes"), "2048");
	assert_string_equal(cell(&t, 2, "rate_bps"), "0");
	assert_string_equal(cell(&t, 2, "message"), "tg 42.0 tokens/s");
	/* stored failed too, not only shown */
	memset(&s, 0, sizeof(s));
	assert_int_equal(registry_job_list(fx->reg, 100, saved_row, &s), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.state[0], "failed");
	assert_string_equal(s.message[1], INTERRUPTED);
	/* a history job is not someone's to change */
	job_set(jl, c, "running", 1, 0, 0, "again");
	render(jl, &t);
	assert_string_equal(cell(&t, 2, "state"), "done");
	/* new ids continue above the history */
	assert_int_equal(job_add(jl, "benchmark", "f/v/qd", &d), 0);
	assert_int_equal(d, 4);
	job_set(jl, d, "done", 100, 0, 0, NULL);
	job_list_free(jl);

	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	render(jl, &t);
	assert_int_equal(t.n, 4);
	assert_string_equal(cell(&t, 3, "id"), "4");
	assert_string_equal(cell(&t, 3, "state"), "done");
	assert_string_equal(cell(&t, 3, "rate_bps"), "");
	assert_int_equal(job_add(jl, "benchmark", "f/v/qe", &d), 0);
	assert_int_equal(d, 5);
	job_list_free(jl);
}

static void test_history_keeps_newest(void **state)
{
	struct fixture *fx = *state;
	struct job_list *jl;
	struct table t;
	unsigned id, i;

	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_add(jl, "benchmark", "f/v/early", &id), 0);
	/* attach comes before the first job */
	assert_int_equal(job_list_attach(jl, fx->reg), -EINVAL);
	job_list_free(jl);
	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	for (i = 0; i < JOB_MAX_KEPT + 6; i++) {
		assert_int_equal(job_add(jl, "benchmark", "f/v/q", &id), 0);
		job_set(jl, id, "done", 100, 0, 0, NULL);
	}
	job_list_free(jl);
	assert_int_equal(job_list_new(NULL, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	render(jl, &t);
	assert_int_equal(t.n, JOB_MAX_KEPT);
	assert_string_equal(cell(&t, 0, "id"), "7");
	assert_string_equal(cell(&t, t.n - 1, "id"), "70");
	assert_int_equal(job_add(jl, "benchmark", "f/v/q", &id), 0);
	assert_int_equal(id, 71);
	job_list_free(jl);
}

/* ------------------------------------------------------------------------
 * Download jobs and their history
 * ------------------------------------------------------------------------ */

static struct blob_source source(const struct fixture *fx)
{
	struct blob_source src;

	memset(&src, 0, sizeof(src));
	src.repo_id = "org/repo";
	src.path = "model-Q4_K_M.gguf";
	src.size_bytes = FILE_SIZE;
	src.sha256 = fx->fake.sha;
	return src;
}

/* Renders until row `row` is in state want. */
static void wait_state(struct job_list *jl, size_t row, const char *want)
{
	struct table t;
	int i;

	for (i = 0; i < 1000; i++) {
		render(jl, &t);
		if (strcmp(cell(&t, row, "state"), want) == 0)
			return;
		usleep(10000);
	}
	fail_msg("job %zu never reached '%s' (is '%s')", row, want, cell(&t, row, "state"));
}

static void test_download_history(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx);
	struct job_list *jl;
	struct saved s;
	struct table t;
	unsigned id, id2;

	fake_hold(&fx->fake, true);
	assert_int_equal(job_list_new(fx->bs, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	assert_int_equal(job_download(jl, "f/v/q4_k_m", &src, 1, &id, NULL), 0);
	assert_int_equal(id, 1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(registry_job_list(fx->reg, 10, saved_row, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.state[0], "running");
	fake_hold(&fx->fake, false);
	wait_state(jl, 0, "done");
	render(jl, &t);
	assert_string_equal(cell(&t, 0, "kind"), "download");
	assert_string_equal(cell(&t, 0, "progress"), "100.0");
	assert_string_equal(cell(&t, 0, "done_bytes"), cell(&t, 0, "total_bytes"));
	/* rendering does not write: the row still says running */
	memset(&s, 0, sizeof(s));
	assert_int_equal(registry_job_list(fx->reg, 10, saved_row, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.state[0], "running");
	job_list_free(jl);
	memset(&s, 0, sizeof(s));
	assert_int_equal(registry_job_list(fx->reg, 10, saved_row, &s), 0);
	assert_string_equal(s.state[0], "done");

	/* next mount: the done download is listed; a new one is left running */
	assert_int_equal(blob_store_evict(fx->bs, &src, NULL), 0);
	fake_hold(&fx->fake, true);
	assert_int_equal(job_list_new(fx->bs, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	assert_int_equal(job_download(jl, "f/v/q4_k_m", &src, 1, &id2, NULL), 0);
	assert_int_equal(id2, 2);
	render(jl, &t);
	assert_int_equal(t.n, 2);
	assert_string_equal(cell(&t, 0, "state"), "done");
	assert_string_equal(cell(&t, 0, "kind"), "download");
	assert_string_equal(cell(&t, 0, "target"), "f/v/q4_k_m");
	assert_string_equal(cell(&t, 1, "state"), "running");
	assert_true(is_number(cell(&t, 1, "rate_bps")));
	job_list_free(jl);

	assert_int_equal(job_list_new(fx->bs, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	render(jl, &t);
	assert_int_equal(t.n, 2);
	assert_string_equal(cell(&t, 1, "id"), "2");
	assert_string_equal(cell(&t, 1, "kind"), "download");
	assert_string_equal(cell(&t, 1, "state"), "failed");
	assert_string_equal(cell(&t, 1, "message"), INTERRUPTED);
	job_list_free(jl);
	fake_hold(&fx->fake, false);
}

static void test_download_cancel_is_saved(void **state)
{
	struct fixture *fx = *state;
	struct blob_source src = source(fx);
	struct job_list *jl;
	struct saved s;
	unsigned id;

	fake_hold(&fx->fake, true);
	assert_int_equal(job_list_new(fx->bs, &jl), 0);
	assert_int_equal(job_list_attach(jl, fx->reg), 0);
	assert_int_equal(job_download(jl, "f/v/q4_k_m", &src, 1, &id, NULL), 0);
	job_cancel_target(jl, "f/v/q4_k_m");
	memset(&s, 0, sizeof(s));
	assert_int_equal(registry_job_list(fx->reg, 10, saved_row, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.state[0], "cancelled");
	job_list_free(jl);
	fake_hold(&fx->fake, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_empty),
		cmocka_unit_test(test_add_and_set),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_finished_jobs_trimmed),
		cmocka_unit_test_setup_teardown(test_history_across_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_keeps_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_download_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_download_cancel_is_saved, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
