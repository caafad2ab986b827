/*
 * test_hub_reader.c - the HTTP range reader against tests/gguf/rangeserver.py
 * (Python's http.server with Range support and switchable misbehaviour),
 * started on 127.0.0.1 for the test run, serving files ggufgen.py writes.
 *
 * Checked: the size from Content-Range, the prefetched first MiB answering
 * the parser's first read, the request count and bytes of a remote GGUF
 * header (the 8B replica's 2.6 MB header: 3 requests, 4 MiB), redirects
 * (followed, capped, kept for later ranges, restarted when the kept URL
 * expires), the token (sent to the origin only: a redirect to another host
 * name must arrive without it, as the server's request log shows), servers
 * that ignore Range, 416 and the end of the file, HTTP errors mapped per
 * SPEC §6, one retry after a 503, and an unreachable port.
 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static char dir[256];
static char log_path[300];
static pid_t server_pid = -1;
static int port;

static int spawn_wait(char **argv)
{
	pid_t pid;
	int status;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ))
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char gen[512], srv[512], empty[300], line[32];
	char *gen_argv[] = { (char *)"/usr/bin/python3", gen, (char *)"suite", dir, NULL };
	char *srv_argv[] = { (char *)"/usr/bin/python3", srv, dir, log_path, NULL };
	posix_spawn_file_actions_t fa;
	int pipefd[2];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/mf-hub-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(gen, sizeof(gen), "%s/gguf/ggufgen.py", MF_TESTS_DIR);
	snprintf(srv, sizeof(srv), "%s/gguf/rangeserver.py", MF_TESTS_DIR);
	snprintf(log_path, sizeof(log_path), "%s/requests.log", dir);
	if (spawn_wait(gen_argv))
		return -1;
	snprintf(empty, sizeof(empty), "%s/zero.bin", dir);
	f = fopen(empty, "we");
	if (!f)
		return -1;
	fclose(f);
	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (posix_spawn(&server_pid, srv_argv[0], &fa, NULL, srv_argv, environ)) {
		server_pid = -1;
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	if (!f || !fgets(line, sizeof(line), f))
		return -1;
	fclose(f);
	port = (int)strtol(line, NULL, 10);
	return port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void url_of(char *out, size_t size, const char *path)
{
	snprintf(out, size, "http://127.0.0.1:%d/%s", port, path);
}

static uint64_t file_size(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* Lines of the server's request log holding needle, counted from line
 * `from` (1-based). */
static unsigned log_count(const char *needle, unsigned from)
{
	char line[2048];
	unsigned n = 0, i = 0;
	FILE *f = fopen(log_path, "re");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (++i >= from && strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static unsigned log_lines(void)
{
	return log_count("", 1);
}

static void open_ok(const char *path, const char *token, struct reader *r)
{
	char url[256];
	struct diag d;
	int rc;

	url_of(url, sizeof(url), path);
	diag_init(&d);
	rc = hub_reader_open(url, token, r, &d);
	if (rc)
		fail_msg("%s: %d %s", url, rc, d.msg);
}

static int open_fail(const char *path, const char *token, struct diag *d)
{
	char url[256];
	struct reader r;
	int rc;

	url_of(url, sizeof(url), path);
	diag_init(d);
	rc = hub_reader_open(url, token, &r, d);
	assert_true(rc < 0);
	assert_int_equal(d->code, rc);
	assert_null(r.read_at);
	return rc;
}

static void test_small_file(void **state)
{
	struct reader r;
	struct gguf *g;
	unsigned char buf[64];
	uint64_t size = file_size("replica_q4_k_m.gguf");

	open_ok("f/replica_q4_k_m.gguf", NULL, &r);
	assert_int_equal(r.size, size);
	assert_int_equal(hub_reader_requests(&r), 1);
	assert_int_equal(hub_reader_bytes_fetched(&r), size);
	assert_int_equal(r.read_at(r.ctx, 0, buf, 4), 0);
	assert_memory_equal(buf, "GGUF", 4);
	assert_int_equal(r.read_at(r.ctx, size - 64, buf, 64), 0);
	assert_int_equal(r.read_at(r.ctx, size - 63, buf, 64), -ENODATA);
	assert_int_equal(r.read_at(r.ctx, size + 1, buf, 1), -ENODATA);
	assert_int_equal(gguf_open(&r, &g, NULL), 0);
	assert_int_equal(gguf_tensor_count(g), 21);
	gguf_free(g);
	assert_int_equal(hub_reader_requests(&r), 1);
	hub_reader_close(&r);
	hub_reader_close(&r);
}

static void test_big_header(void **state)
{
	struct reader r;
	struct gguf *g;
	struct diag d;
	uint64_t size = file_size("replica_8b_q4_k_m.gguf");
	unsigned first = log_lines() + 1;

	open_ok("f/replica_8b_q4_k_m.gguf", NULL, &r);
	assert_int_equal(r.size, size);
	diag_init(&d);
	if (gguf_open(&r, &g, &d))
		fail_msg("%s", d.msg);
	assert_int_equal(gguf_param_count(g), 8030261248ull);
	assert_int_equal(hub_reader_requests(&r), 3);
	assert_int_equal(hub_reader_bytes_fetched(&r), 4u << 20);
	assert_int_equal(gguf_bytes_read(g), 4u << 20);
	assert_true(hub_reader_bytes_fetched(&r) <= 2 * gguf_header_bytes(g));
	print_message("remote 8B replica: header %llu bytes, fetched %llu bytes in %u requests, "
		      "file %llu bytes\n", (unsigned long long)gguf_header_bytes(g),
		      (unsigned long long)hub_reader_bytes_fetched(&r), hub_reader_requests(&r),
		      (unsigned long long)size);
	assert_int_equal(log_count("\"range\": \"bytes=0-1048575\"", first), 1);
	assert_int_equal(log_count("\"range\": \"bytes=1048576-2097151\"", first), 1);
	assert_int_equal(log_count("\"range\": \"bytes=2097152-4194303\"", first), 1);
	gguf_free(g);
	hub_reader_close(&r);
}

static void test_auth(void **state)
{
	struct reader r;
	struct diag d;
	unsigned first;

	open_ok("auth/replica_q4_k_m.gguf", "secret-token", &r);
	hub_reader_close(&r);
	assert_int_equal(open_fail("auth/replica_q4_k_m.gguf", NULL, &d), -EACCES);
	assert_non_null(strstr(d.msg, "HTTP 401"));
	assert_non_null(strstr(d.msg, "check the token"));
	assert_int_equal(open_fail("auth/replica_q4_k_m.gguf", "wrong-token", &d), -EACCES);
	assert_null(strstr(d.msg, "wrong-token"));
	assert_int_equal(open_fail("f/x", "bad\ntoken", &d), -EINVAL);

	first = log_lines() + 1;
	open_ok("xredir/replica_q4_k_m.gguf", "secret-token", &r);
	assert_int_equal(hub_reader_requests(&r), 2);
	assert_int_equal(log_count("\"auth\": \"Bearer secret-token\"", first), 1);
	assert_int_equal(log_count("\"host\": \"localhost:", first), 1);
	assert_int_equal(log_count("\"auth\": null", first), 1);
	hub_reader_close(&r);
}

static void test_redirects(void **state)
{
	struct reader r;
	struct diag d;
	unsigned char buf[16];
	unsigned first;

	open_ok("redir/3/replica_8b_q4_k_m.gguf", NULL, &r);
	assert_int_equal(hub_reader_requests(&r), 5);
	assert_int_equal(r.read_at(r.ctx, 2u << 20, buf, 16), 0);
	assert_int_equal(hub_reader_requests(&r), 6);
	hub_reader_close(&r);

	assert_int_equal(open_fail("redir/20/replica_q4_k_m.gguf", NULL, &d), -EIO);
	assert_non_null(strstr(d.msg, "redirects more than 10 times"));
	assert_int_equal(open_fail("noloc/replica_q4_k_m.gguf", NULL, &d), -EIO);
	assert_non_null(strstr(d.msg, "without a Location"));

	first = log_lines() + 1;
	open_ok("expire/replica_8b_q4_k_m.gguf", NULL, &r);
	assert_int_equal(hub_reader_requests(&r), 2);
	assert_int_equal(r.read_at(r.ctx, 3u << 20, buf, 16), 0);
	assert_int_equal(hub_reader_requests(&r), 5);
	assert_int_equal(log_count("\"status\": 403", first), 1);
	assert_int_equal(log_count("sig=1", first), 1);
	assert_int_equal(r.read_at(r.ctx, 3u << 20, buf, 16), 0);
	assert_int_equal(hub_reader_requests(&r), 8);
	hub_reader_close(&r);
}

static void test_no_range_support(void **state)
{
	struct reader r;
	struct gguf *g;
	struct diag d;
	unsigned char buf[16];

	open_ok("norange/replica_q4_k_m.gguf", NULL, &r);
	assert_int_equal(r.size, file_size("replica_q4_k_m.gguf"));
	assert_int_equal(gguf_open(&r, &g, NULL), 0);
	gguf_free(g);
	hub_reader_close(&r);

	open_ok("norange/replica_8b_q4_k_m.gguf", NULL, &r);
	assert_int_equal(r.size, file_size("replica_8b_q4_k_m.gguf"));
	assert_true(hub_reader_bytes_fetched(&r) < (8u << 20));
	assert_int_equal(r.read_at(r.ctx, 5u << 20, buf, 16), -EIO);
	assert_non_null(strstr(hub_reader_last_error(&r), "ignores range requests"));
	diag_init(&d);
	assert_int_equal(gguf_open(&r, &g, &d), -EIO);
	assert_non_null(strstr(d.msg, "cannot read the GGUF header"));
	hub_reader_close(&r);

	open_ok("nototal/replica_8b_q4_k_m.gguf", NULL, &r);
	assert_int_equal(r.size, UINT64_MAX);
	assert_int_equal(gguf_open(&r, &g, NULL), 0);
	assert_int_equal(gguf_param_count(g), 8030261248ull);
	gguf_free(g);
	hub_reader_close(&r);
}

static void test_empty_file(void **state)
{
	struct reader r;
	struct gguf *g;
	struct diag d;
	unsigned char b;

	open_ok("f/zero.bin", NULL, &r);
	assert_int_equal(r.size, 0);
	assert_int_equal(r.read_at(r.ctx, 0, &b, 1), -ENODATA);
	diag_init(&d);
	assert_int_equal(gguf_open(&r, &g, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "truncated"));
	hub_reader_close(&r);
}

static void test_errors(void **state)
{
	struct diag d;
	char url[64];
	struct reader r;
	unsigned first;

	assert_int_equal(open_fail("f/no-such-file.gguf", NULL, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "HTTP 404"));
	assert_int_equal(open_fail("status/403/x", NULL, &d), -EACCES);
	assert_int_equal(open_fail("status/410/x", NULL, &d), -ENOENT);
	assert_int_equal(open_fail("status/429/x", NULL, &d), -EAGAIN);
	first = log_lines() + 1;
	assert_int_equal(open_fail("status/500/x", NULL, &d), -EIO);
	assert_int_equal(log_count("status/500", first), 1 + HUB_READER_RETRIES);

	first = log_lines() + 1;
	open_ok("flaky/replica_q4_k_m.gguf", NULL, &r);
	assert_int_equal(hub_reader_requests(&r), 2);
	assert_int_equal(log_count("\"status\": 503", first), 1);
	hub_reader_close(&r);

	diag_init(&d);
	assert_int_equal(hub_reader_open("ftp://127.0.0.1/x", NULL, &r, &d), -EINVAL);
	diag_init(&d);
	assert_int_equal(hub_reader_open("http://127.0.0.1:1/x?sig=SECRET", NULL, &r, &d),
			 -ENETDOWN);
	assert_null(strstr(d.msg, "SECRET"));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/f/x?sig=SECRET", port);
	diag_init(&d);
	assert_int_equal(hub_reader_open(url, NULL, &r, &d), -ENOENT);
	assert_null(strstr(d.msg, "SECRET"));

	assert_int_equal(hub_errno(0, 200), 0);
	assert_int_equal(hub_errno(0, 206), 0);
	assert_int_equal(hub_errno(0, 401), -EACCES);
	assert_int_equal(hub_errno(0, 502), -EIO);
	assert_int_equal(hub_errno(6, 0), -ENETDOWN);
	assert_int_equal(hub_errno(28, 0), -ETIMEDOUT);
	assert_int_equal(hub_errno(56, 200), -EIO);
	memset(&r, 0, sizeof(r));
	assert_int_equal(hub_reader_requests(&r), 0);
	hub_reader_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_file),
		cmocka_unit_test(test_big_header),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_no_range_support),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
