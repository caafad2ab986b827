/*
 * test_hub_client.c - the Hub client against tests/hub/hubsim.py, started
 * for the run on scenarios.standard_manifest() with tree pages of 2
 * entries and the CDN on another host name (localhost), so that
 * pagination and the token policy are exercised.
 *
 * Checked, each against hubsim's request log where it tells more than the
 * return code: model info (sizes and LFS sha256 of every file, renames,
 * revisions), every Hub error code and its errno (RepoNotFound for a
 * missing and for a private repo, RevisionNotFound, EntryNotFound,
 * GatedRepo without and with a token that was not granted, a bad token),
 * the paged tree listing, HEAD/GET/range through the LFS redirect with the
 * token sent to the endpoint and never to the CDN host, retries under 503,
 * 429 with Retry-After, dropped connections, the retry budget, timeouts,
 * a hub that is down, offline mode (no request at all), caps, connection
 * reuse across threads, and the model-info parser's hostile inputs.
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hubsim_client.h"

#define GRANTED "hf_granted0123456789"
#define OTHER   "hf_nogrant0123456789"

static struct hubsim sim;

static int setup(void **state)
{
	(void)state;
	return hubsim_start(&sim, "scenarios.standard_manifest(tree_page_size=2, cdn={'host': 'localhost'})");
}

static int teardown(void **state)
{
	(void)state;
	hubsim_stop(&sim);
	return 0;
}

static struct hub *new_hub(const char *token, void (*tweak)(struct hub_options *))
{
	struct hub_options o;
	struct hub *h = NULL;
	struct diag d;

	hub_options_init(&o);
	o.endpoint = sim.url;
	o.token = token;
	o.token_source = token ? "/tmp/test-token-file" : NULL;
	o.backoff_ms = 50;
	if (tweak)
		tweak(&o);
	diag_init(&d);
	if (hub_new(&o, &h, &d))
		fail_msg("hub_new: %s", d.msg);
	return h;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct registry_listing_entry *find(const struct registry_listing *l, const char *path)
{
	ssize_t i = registry_listing_find(l, path);

	return i >= 0 ? &l->entries[i] : NULL;
}

static void test_model_info(void **state)
{
	struct hub *h = new_hub(NULL, NULL);
	struct registry_listing l;
	struct hub_model_info mi;
	const struct registry_listing_entry *e;
	struct diag d;

	(void)state;
	registry_listing_init(&l);
	diag_init(&d);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, &l, &mi, &d), 0);
	assert_string_equal(mi.id, "test-org/Tiny-Llama-GGUF");
	assert_non_null(mi.sha);
	assert_int_equal(strlen(mi.sha), 40);
	assert_false(mi.gated);
	assert_false(mi.is_private);
	assert_int_equal(l.n, 3);
	e = find(&l, "tiny-llama-Q4_K_M.gguf");
	assert_non_null(e);
	assert_true(e->size_bytes > 100000);
	assert_non_null(e->sha256);
	assert_int_equal(strlen(e->sha256), 64);
	e = find(&l, "README.md");
	assert_non_null(e);
	assert_null(e->sha256);
	hub_model_info_release(&mi);
	registry_listing_release(&l);

	/* a renamed repo: the canonical id, through a relative 307 */
	registry_listing_init(&l);
	assert_int_equal(hub_model_info(h, "test-org/Old-Name-GGUF", NULL, &l, &mi, &d), 0);
	assert_string_equal(mi.id, "test-org/Tiny-Llama-GGUF");
	assert_int_equal(l.n, 3);
	hub_model_info_release(&mi);
	registry_listing_release(&l);

	/* revisions: a tag sees the older files */
	registry_listing_init(&l);
	assert_int_equal(hub_model_info(h, "test-org/Two-Revisions-GGUF", "v1", &l, &mi, &d), 0);
	assert_null(find(&l, "two-Q8_0.gguf"));
	assert_non_null(find(&l, "two-Q4_K_M.gguf"));
	{
		struct hub_model_info main_mi;

		assert_int_equal(hub_model_info(h, "test-org/Two-Revisions-GGUF", NULL, NULL, &main_mi, &d), 0);
		assert_string_not_equal(main_mi.sha, mi.sha);
		hub_model_info_release(&main_mi);
	}
	hub_model_info_release(&mi);
	registry_listing_release(&l);
	/* a gated repo's info is public */
	assert_int_equal(hub_model_info(h, "test-org/Gated-GGUF", NULL, NULL, &mi, &d), 0);
	assert_true(mi.gated);
	hub_model_info_release(&mi);
	assert_int_equal(d.code, 0);
	hub_free(h);
}

struct err_case {
	const char *token;
	const char *repo, *rev, *path;   /* path: HEAD of a file, else model info */
	int rc;
	const char *msg;                 /* a substring of the message */
};

static void test_errors(void **state)
{
	static const struct err_case cases[] = {
		{ NULL, "test-org/Missing-GGUF", NULL, NULL, -ENOENT, "not found" },
		{ NULL, "test-org/Missing-GGUF", NULL, NULL, -ENOENT, "HF_TOKEN" },
		{ NULL, "test-org/Private-GGUF", NULL, NULL, -ENOENT, "private" },
		{ GRANTED, "test-org/Private-GGUF", NULL, NULL, 0, NULL },
		{ OTHER, "test-org/Private-GGUF", NULL, NULL, -ENOENT, "/tmp/test-token-file" },
		{ "hf_bogus", "test-org/Tiny-Llama-GGUF", NULL, NULL, -EACCES, "/tmp/test-token-file" },
		{ NULL, "test-org/Tiny-Llama-GGUF", "nope", NULL, -ENOENT, "revision 'nope'" },
		{ NULL, "test-org/Tiny-Llama-GGUF", NULL, "nope.gguf", -ENOENT, "'nope.gguf'" },
		{ NULL, "test-org/Gated-GGUF", NULL, "gated-Q4_K_M.gguf", -EACCES, "licence" },
		{ OTHER, "test-org/Gated-GGUF", NULL, "gated-Q4_K_M.gguf", -EACCES, "/tmp/test-token-file" },
		{ GRANTED, "test-org/Gated-GGUF", NULL, "gated-Q4_K_M.gguf", 0, NULL },
		{ NULL, "test-org/Tiny-Llama-GGUF", NULL, "README.md", 0, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct err_case *c = &cases[i];
		struct hub *h = new_hub(c->token, NULL);
		struct hub_model_info mi;
		struct hub_file_meta fm;
		struct diag d;
		int rc;

		diag_init(&d);
		if (c->path)
			rc = hub_file_head(h, c->repo, c->rev, c->path, &fm, &d);
		else
			rc = hub_model_info(h, c->repo, c->rev, NULL, &mi, &d);
		if (rc != c->rc)
			fail_msg("case %zu: rc %d, want %d: %s", i, rc, c->rc, d.msg);
		if (c->msg && !strstr(d.msg, c->msg))
			fail_msg("case %zu: message '%s' lacks '%s'", i, d.msg, c->msg);
		if (c->token && strstr(d.msg, c->token))
			fail_msg("case %zu: the token is in the message", i);
		if (!rc && !c->path)
			hub_model_info_release(&mi);
		hub_free(h);
	}
}

static void test_listing_pages(void **state)
{
	struct hub *h = new_hub(NULL, NULL);
	struct registry_listing tree, info;
	struct hub_model_info mi;
	long seq = hubsim_seq(&sim);
	json_t *log, *e;
	size_t i, n_tree = 0, files = 0;
	bool cursor = false;

	(void)state;
	registry_listing_init(&tree);
	registry_listing_init(&info);
	assert_int_equal(hub_list_files(h, "test-org/Multi-Quant-GGUF", NULL, NULL, &tree, NULL), 0);
	assert_int_equal(hub_model_info(h, "test-org/Multi-Quant-GGUF", NULL, &info, &mi, NULL), 0);
	for (i = 0; i < tree.n; i++) {
		const struct registry_listing_entry *t = &tree.entries[i], *s;

		if (t->is_dir)
			continue;
		files++;
		s = find(&info, t->path);
		assert_non_null(s);
		assert_int_equal(s->size_bytes, t->size_bytes);
		if (s->sha256)
			assert_string_equal(s->sha256, t->sha256);
	}
	assert_int_equal(files, info.n);
	assert_non_null(find(&tree, "Q8_0"));
	assert_true(find(&tree, "Q8_0")->is_dir);
	log = hubsim_log(&sim, seq);
	json_array_foreach(log, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		const char *path = json_string_value(json_object_get(e, "path"));

		if (kind && strcmp(kind, "tree") == 0) {
			n_tree++;
			cursor |= path && strstr(path, "cursor=") != NULL;
		}
	}
	assert_true(n_tree >= 3);
	assert_true(cursor);
	json_decref(log);
	/* a subfolder alone; a missing one */
	registry_listing_release(&tree);
	registry_listing_init(&tree);
	assert_int_equal(hub_list_files(h, "test-org/Multi-Quant-GGUF", mi.sha, "Q8_0", &tree, NULL), 0);
	assert_int_equal(tree.n, 2);
	{
		struct diag d;

		diag_init(&d);
		assert_int_equal(hub_list_files(h, "test-org/Multi-Quant-GGUF", NULL, "nope", &tree, &d), -ENOENT);
		assert_int_equal(tree.n, 2);
	}
	hub_model_info_release(&mi);
	registry_listing_release(&tree);
	registry_listing_release(&info);
	hub_free(h);
}

/* The token goes to the endpoint (127.0.0.1) and never to the CDN host
 * (localhost). */
static void test_files_and_token(void **state)
{
	struct hub *h = new_hub(GRANTED, NULL);
	struct registry_listing l;
	struct hub_model_info mi;
	struct hub_file_meta fm;
	unsigned char buf[64];
	struct sbuf sb;
	long seq;
	json_t *log, *e;
	size_t i, n_cdn = 0, n_auth_resolve = 0;
	const struct registry_listing_entry *q4;
	struct diag d;
	char *url;

	(void)state;
	registry_listing_init(&l);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, &l, &mi, NULL), 0);
	q4 = find(&l, "tiny-llama-Q4_K_M.gguf");
	seq = hubsim_seq(&sim);
	diag_init(&d);
	assert_int_equal(hub_file_head(h, "test-org/Tiny-Llama-GGUF", NULL, "tiny-llama-Q4_K_M.gguf", &fm, &d), 0);
	assert_true(fm.is_lfs);
	assert_int_equal(fm.status, 302);
	assert_string_equal(fm.linked_etag, q4->sha256);
	assert_int_equal(fm.size_bytes, q4->size_bytes);
	assert_string_equal(fm.commit, mi.sha);
	assert_int_equal(hub_file_get_range(h, "test-org/Tiny-Llama-GGUF", mi.sha, "tiny-llama-Q4_K_M.gguf", 0,
					    buf, 8, &fm, &d), 8);
	assert_memory_equal(buf, "GGUF", 4);
	assert_int_equal(hub_file_get_range(h, "test-org/Tiny-Llama-GGUF", mi.sha, "tiny-llama-Q4_K_M.gguf",
					    q4->size_bytes - 4, buf, 64, NULL, &d), 4);
	assert_int_equal(hub_file_get_range(h, "test-org/Tiny-Llama-GGUF", mi.sha, "tiny-llama-Q4_K_M.gguf",
					    q4->size_bytes + 10, buf, 64, NULL, &d), 0);
	/* a non-LFS file */
	assert_int_equal(hub_file_head(h, "test-org/Tiny-Llama-GGUF", NULL, "README.md", &fm, &d), 0);
	assert_false(fm.is_lfs);
	assert_int_equal(fm.size_bytes, find(&l, "README.md")->size_bytes);
	assert_true(fm.etag[0]);
	sbuf_init(&sb, 1 << 20);
	assert_int_equal(hub_file_get(h, "test-org/Tiny-Llama-GGUF", NULL, "README.md", &sb, &fm, &d), 0);
	assert_int_equal(sb.len, find(&l, "README.md")->size_bytes);
	assert_memory_equal(sb.buf, "---", 3);
	sbuf_release(&sb);
	/* caps */
	sbuf_init(&sb, 16);
	assert_int_equal(hub_file_get(h, "test-org/Tiny-Llama-GGUF", NULL, "README.md", &sb, NULL, &d), -EFBIG);
	sbuf_release(&sb);
	/* an LFS file through the CDN, whole */
	sbuf_init(&sb, 4 << 20);
	assert_int_equal(hub_file_get(h, "test-org/Tiny-Llama-GGUF", NULL, "tiny-llama-Q4_K_M.gguf", &sb, NULL,
				      NULL), 0);
	assert_int_equal(sb.len, q4->size_bytes);
	sbuf_release(&sb);
	/* and a reader over it */
	{
		struct reader r;

		assert_int_equal(hub_file_reader_open(h, "test-org/Tiny-Llama-GGUF", mi.sha,
						      "tiny-llama-Q4_K_M.gguf", &r, NULL), 0);
		assert_int_equal(r.size, q4->size_bytes);
		assert_int_equal(r.read_at(r.ctx, 0, buf, 4), 0);
		assert_memory_equal(buf, "GGUF", 4);
		hub_reader_close(&r);
	}
	log = hubsim_log(&sim, seq);
	json_array_foreach(log, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		bool auth = json_is_true(json_object_get(e, "auth"));

		if (kind && strcmp(kind, "cdn") == 0) {
			n_cdn++;
			if (auth)
				fail_msg("the token went to the CDN: %s",
					 json_string_value(json_object_get(e, "path")));
		}
		if (kind && strcmp(kind, "resolve") == 0 && auth)
			n_auth_resolve++;
	}
	assert_true(n_cdn >= 4);
	assert_true(n_auth_resolve >= 4);
	json_decref(log);
	assert_int_equal(hub_file_url(h, "test-org/X", "refs/pr/1", "a b/c.gguf", &url), 0);
	assert_non_null(strstr(url, "/test-org/X/resolve/refs%2Fpr%2F1/a%20b/c.gguf"));
	free(url);
	assert_int_equal(hub_file_url(h, "test-org/X", NULL, "../etc", &url), -EINVAL);
	assert_int_equal(hub_file_url(h, "../X", NULL, "a", &url), -EINVAL);
	hub_model_info_release(&mi);
	registry_listing_release(&l);
	hub_free(h);
}

static void few_retries(struct hub_options *o)
{
	o->max_retries = 2;
}

static void small_budget(struct hub_options *o)
{
	o->retry_budget_ms = 1500;
}

static void short_timeout(struct hub_options *o)
{
	o->timeout_ms = 400;
	o->max_retries = 0;
}

static void test_retries(void **state)
{
	struct hub *h = new_hub(NULL, NULL);
	struct hub_model_info mi;
	struct hub_stats st0, st1;
	struct diag d;
	double t0;

	(void)state;
	/* every other info request fails with 503: retried */
	hubsim_faults(&sim, "{\"errors\": {\"status\": 503, \"every\": 2, \"kinds\": [\"info\"]}}");
	hub_get_stats(h, &st0);
	for (int i = 0; i < 4; i++) {
		diag_init(&d);
		if (hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d))
			fail_msg("503 every 2: %s", d.msg);
		hub_model_info_release(&mi);
	}
	hub_get_stats(h, &st1);
	assert_true(st1.retries - st0.retries >= 1);
	/* always 503: EIO after max_retries + 1 requests */
	hub_free(h);
	h = new_hub(NULL, few_retries);
	hubsim_faults(&sim, "{\"errors\": {\"status\": 503, \"kinds\": [\"info\"]}}");
	hub_get_stats(h, &st0);
	diag_init(&d);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d), -EIO);
	assert_non_null(strstr(d.msg, "503"));
	hub_get_stats(h, &st1);
	assert_int_equal(st1.requests - st0.requests, 3);
	/* a burst of two 429s with Retry-After: 1 s: waited for, then fine */
	hubsim_faults(&sim, "{\"throttle\": {\"count\": 2, \"retry_after\": 1, \"kinds\": [\"info\"]}}");
	t0 = now_s();
	diag_init(&d);
	if (hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d))
		fail_msg("429 burst: %s", d.msg);
	hub_model_info_release(&mi);
	assert_true(now_s() - t0 >= 1.9);
	hub_free(h);
	/* 429 past the budget: EAGAIN */
	h = new_hub(NULL, small_budget);
	hubsim_faults(&sim, "{\"throttle\": {\"retry_after\": 1, \"kinds\": [\"info\"]}}");
	diag_init(&d);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d), -EAGAIN);
	assert_non_null(strstr(d.msg, "429"));
	/* a Retry-After beyond the budget fails at once */
	hubsim_faults(&sim, "{\"throttle\": {\"retry_after\": 300, \"kinds\": [\"info\"]}}");
	t0 = now_s();
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, NULL), -EAGAIN);
	assert_true(now_s() - t0 < 1.0);
	hub_free(h);
	/* dropped connections (reset in the middle of the body) are retried */
	h = new_hub(NULL, NULL);
	hubsim_faults(&sim, "{\"drop\": {\"after_bytes\": 10, \"reset\": true, \"every\": 2, \"kinds\": [\"info\"]}}");
	for (int i = 0; i < 3; i++) {
		diag_init(&d);
		if (hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d))
			fail_msg("drops: %s", d.msg);
		hub_model_info_release(&mi);
	}
	/* range GETs through the CDN under 503s */
	hubsim_faults(&sim, "{\"errors\": {\"status\": 503, \"every\": 2, \"kinds\": [\"cdn\"]}}");
	{
		unsigned char buf[16];

		for (int i = 0; i < 3; i++)
			assert_int_equal(hub_file_get_range(h, "test-org/Tiny-Llama-GGUF", NULL,
							    "tiny-llama-Q8_0.gguf", 0, buf, 16, NULL, NULL), 16);
	}
	hubsim_faults(&sim, NULL);
	hub_free(h);
}

static void test_timeouts_and_down(void **state)
{
	struct hub_options o;
	struct hub *h = new_hub(NULL, short_timeout);
	struct hub_model_info mi;
	struct diag d;
	long seq;
	double t0;
	json_t *log;

	(void)state;
	hubsim_faults(&sim, "{\"latency_ms\": 1500}");
	diag_init(&d);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d), -ETIMEDOUT);
	assert_non_null(strstr(d.msg, "timed out"));
	hubsim_faults(&sim, NULL);
	hub_free(h);

	h = new_hub(NULL, NULL);
	hubsim_faults(&sim, "{\"down\": \"refuse\"}");
	t0 = now_s();
	diag_init(&d);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d), -ENETDOWN);
	assert_non_null(strstr(d.msg, "cannot reach"));
	assert_true(now_s() - t0 < 2.0);
	hubsim_faults(&sim, NULL);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, NULL), 0);
	hub_model_info_release(&mi);
	hub_free(h);

	/* offline: not one request */
	hub_options_init(&o);
	o.endpoint = sim.url;
	o.offline = true;
	assert_int_equal(hub_new(&o, &h, NULL), 0);
	assert_true(hub_is_offline(h));
	seq = hubsim_seq(&sim);
	diag_init(&d);
	assert_int_equal(hub_model_info(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &mi, &d), -ENETDOWN);
	assert_non_null(strstr(d.msg, "offline"));
	{
		struct registry_listing l;
		struct hub_file_meta fm;
		struct reader r;
		struct sbuf sb;
		unsigned char b[4];

		registry_listing_init(&l);
		assert_int_equal(hub_list_files(h, "test-org/Tiny-Llama-GGUF", NULL, NULL, &l, NULL), -ENETDOWN);
		assert_int_equal(hub_file_head(h, "test-org/Tiny-Llama-GGUF", NULL, "README.md", &fm, NULL), -ENETDOWN);
		sbuf_init(&sb, 100);
		assert_int_equal(hub_file_get(h, "test-org/Tiny-Llama-GGUF", NULL, "README.md", &sb, NULL, NULL),
				 -ENETDOWN);
		sbuf_release(&sb);
		assert_int_equal(hub_file_get_range(h, "test-org/Tiny-Llama-GGUF", NULL, "README.md", 0, b, 4,
						    NULL, NULL), -ENETDOWN);
		assert_int_equal(hub_file_reader_open(h, "test-org/Tiny-Llama-GGUF", NULL, "README.md", &r, NULL),
				 -ENETDOWN);
	}
	log = hubsim_log(&sim, seq);
	assert_int_equal(json_array_size(log), 0);
	json_decref(log);
	hub_free(h);

	/* nothing listens there */
	hub_options_init(&o);
	o.endpoint = "http://127.0.0.1:9";
	assert_int_equal(hub_new(&o, &h, NULL), 0);
	assert_int_equal(hub_model_info(h, "a/b", NULL, NULL, &mi, NULL), -ENETDOWN);
	hub_free(h);
}

struct thread_arg {
	struct hub *h;
	int failures;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	struct hub_model_info mi;

	for (int i = 0; i < 10; i++) {
		if (hub_model_info(a->h, "test-org/Split-GGUF", NULL, NULL, &mi, NULL))
			a->failures++;
		else
			hub_model_info_release(&mi);
	}
	return NULL;
}

/* Threads share one hub; connections are reused. */
static void test_threads_reuse(void **state)
{
	struct hub *h = new_hub(NULL, NULL);
	struct thread_arg args[6];
	pthread_t tid[6];
	json_t *log, *e;
	long seq = hubsim_seq(&sim);
	size_t i, n_req = 0;
	long conns[64];
	size_t n_conns = 0;

	(void)state;
	for (i = 0; i < 6; i++) {
		args[i].h = h;
		args[i].failures = 0;
		assert_int_equal(pthread_create(&tid[i], NULL, thread_main, &args[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	/* hubsim logs a request after its response is sent: wait for the last */
	for (i = 0;; i++) {
		struct timespec ts = { 0, 10 * 1000000L };

		log = hubsim_log(&sim, seq);
		if (json_array_size(log) >= 60 || i == 200)
			break;
		json_decref(log);
		nanosleep(&ts, NULL);
	}
	json_array_foreach(log, i, e) {
		long conn = (long)json_integer_value(json_object_get(e, "conn"));
		size_t k;

		n_req++;
		for (k = 0; k < n_conns && conns[k] != conn; k++)
			;
		if (k == n_conns && n_conns < 64)
			conns[n_conns++] = conn;
	}
	assert_int_equal(n_req, 60);
	if (n_conns > 12)
		fail_msg("%zu connections for %zu requests", n_conns, n_req);
	json_decref(log);
	hub_free(h);
}

static void test_new_and_parse(void **state)
{
	static const char *const bad[] = {
		"", "[]", "null", "{}", "{\"id\": 5}", "{\"id\": \"noslash\"}", "{\"id\": \"../x\"}",
		"{\"id\": \"a/b\", \"sha\": 5}", "{\"id\": \"a/b\", \"sha\": \"abc\"}",
		"{\"id\": \"a/b\", \"sha\": \"ABCDEF0123456789ABCDEF0123456789ABCDEF01\"}",
		"{\"id\": \"a/b\", \"private\": \"yes\"}", "{\"id\": \"a/b\", \"gated\": 3}",
		"{\"id\": \"a/b\", \"siblings\": {}}", "{\"id\": \"a/b\", \"siblings\": [{\"rfilename\": \"../x\"}]}",
		"{\"id\": \"a/b\\u0000c\"}", "{\"id\": \"a/b\"",
	};
	struct hub_options o;
	struct registry_listing l;
	struct hub_model_info mi;
	struct hub *h;
	struct diag d;
	size_t i;
	const char *ok = "{\"id\": \"a/b\", \"sha\": \"0123456789abcdef0123456789abcdef01234567\", "
			 "\"gated\": \"manual\", \"private\": true, \"siblings\": [{\"rfilename\": \"x.gguf\", "
			 "\"size\": 5}]}";

	(void)state;
	hub_options_init(&o);
	o.endpoint = "ftp://x";
	diag_init(&d);
	assert_int_equal(hub_new(&o, &h, &d), -EINVAL);
	o.endpoint = "http://127.0.0.1:1/hf/";
	o.token = "hf_a\nb";
	assert_int_equal(hub_new(&o, &h, NULL), -EINVAL);
	o.token = "hf_ok";
	o.token_source = "HF_TOKEN";
	assert_int_equal(hub_new(&o, &h, NULL), 0);
	assert_string_equal(hub_endpoint(h), "http://127.0.0.1:1/hf");
	assert_true(hub_has_token(h));
	assert_string_equal(hub_token_source(h), "HF_TOKEN");
	hub_free(h);
	hub_free(NULL);

	registry_listing_init(&l);
	assert_int_equal(hub_model_info_parse(ok, strlen(ok), &mi, &l, NULL), 0);
	assert_string_equal(mi.id, "a/b");
	assert_true(mi.gated);
	assert_true(mi.is_private);
	assert_int_equal(l.n, 1);
	hub_model_info_release(&mi);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		diag_init(&d);
		if (hub_model_info_parse(bad[i], strlen(bad[i]), &mi, &l, &d) != -EBADMSG)
			fail_msg("bad model info %zu accepted: %s", i, bad[i]);
		assert_null(mi.id);
		assert_int_equal(l.n, 1);
		assert_true(d.msg[0]);
	}
	registry_listing_release(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_parse),
		cmocka_unit_test(test_model_info),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_listing_pages),
		cmocka_unit_test(test_files_and_token),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_timeouts_and_down),
		cmocka_unit_test(test_threads_reuse),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
