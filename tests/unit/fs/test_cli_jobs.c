/*
 * test_cli_jobs.c - `modelfs jobs MOUNTPOINT [--follow]` through its
 * public entry, fs_main(), on directories that hold a hand-written
 * .control/jobs (the command reads nothing else, so no mount is needed):
 * usage and exit codes, a directory that is not a mount, the drawing
 * without a terminal, a hostile-line table (each bad row skipped with one
 * warning, the good row beside it drawn), escape sequences neutralised,
 * and --follow printing a new block only on change and stopping when no
 * job is left queued or running.
 *
 * stdout and stderr are files here, so the output is the plain form; the
 * terminal form is checked by tests/integration/test_jobs.py under a pty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

#define HEADER "id\tkind\ttarget\tstate\tprogress\tdone_bytes\ttotal_bytes\trate_bps\teta_s\tmessage\n"
#define HEADER_CRLF "id\tkind\ttarget\tstate\tprogress\tdone_bytes\ttotal_bytes\trate_bps\teta_s\tmessage\r\n"
#define GOOD   "7\tdownload\tllama/llama-3.1-8b/q4_k_m\trunning\t50.0\t1048576\t2097152\t1500000\t1\t\n"

struct fixture {
	char dir[64];
	char ctl[96];
	char jobs[128];
	char out[128];
	char err[128];
};

struct result {
	int status;
	char *out;
	char *err;
};

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

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mf-test-clijobs-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->ctl, sizeof(fx->ctl), "%s/mnt/.control", fx->dir);
	snprintf(fx->jobs, sizeof(fx->jobs), "%s/jobs", fx->ctl);
	snprintf(fx->out, sizeof(fx->out), "%s/stdout", fx->dir);
	snprintf(fx->err, sizeof(fx->err), "%s/stderr", fx->dir);
	snprintf(fx->ctl, sizeof(fx->ctl), "%s/mnt", fx->dir);
	assert_int_equal(mkdir(fx->ctl, 0700), 0);
	snprintf(fx->ctl, sizeof(fx->ctl), "%s/mnt/.control", fx->dir);
	assert_int_equal(mkdir(fx->ctl, 0700), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Replaces the jobs file atomically (as a mount's render is). */
static void write_jobs(const struct fixture *fx, const char *text, size_t len)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", fx->jobs);
	f = fopen(tmp, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, fx->jobs), 0);
}

static char *slurp(const char *path)
{
	struct stat st;
	char *buf;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	return buf;
}

/* Runs fs_main with argv (NULL-terminated, without "modelfs"), stdout and
 * stderr caught in files. */
static struct result run(const struct fixture *fx, const char *const *args)
{
	char *argv[16];
	struct result r;
	int argc = 0, o, e, fo, fe;

	argv[argc++] = (char *)"modelfs";
	while (*args) {
		assert_true(argc < 15);
		argv[argc++] = (char *)*args++;
	}
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	o = dup(STDOUT_FILENO);
	e = dup(STDERR_FILENO);
	fo = open(fx->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fe = open(fx->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(o >= 0 && e >= 0 && fo >= 0 && fe >= 0);
	dup2(fo, STDOUT_FILENO);
	dup2(fe, STDERR_FILENO);
	r.status = fs_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(o, STDOUT_FILENO);
	dup2(e, STDERR_FILENO);
	close(o);
	close(e);
	close(fo);
	close(fe);
	r.out = slurp(fx->out);
	r.err = slurp(fx->err);
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	while ((s = strstr(s, needle))) {
		n++;
		s += strlen(needle);
	}
	return n;
}

static char *mnt(const struct fixture *fx)
{
	static char path[96];

	snprintf(path, sizeof(path), "%s/mnt", fx->dir);
	return path;
}

static void test_usage(void **state)
{
	struct fixture *fx = *state;
	const char *none[] = { "jobs", NULL };
	const char *unknown[] = { "jobs", "--folow", mnt(fx), NULL };
	const char *two[] = { "jobs", mnt(fx), mnt(fx), NULL };
	const char *help[] = { "jobs", "--help", NULL };
	struct result r;

	r = run(fx, none);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "usage: modelfs jobs MOUNTPOINT [--follow]"));
	result_free(&r);
	r = run(fx, unknown);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "unknown option '--folow'"));
	result_free(&r);
	r = run(fx, two);
	assert_int_equal(r.status, 2);
	result_free(&r);
	r = run(fx, help);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: modelfs jobs"));
	result_free(&r);
}

static void test_not_a_mount(void **state)
{
	struct fixture *fx = *state;
	char missing[128], file[128];
	const char *args[] = { "jobs", fx->dir, NULL };
	const char *args_missing[] = { "jobs", missing, NULL };
	const char *args_file[] = { "jobs", file, NULL };
	const char *args_mnt[] = { "jobs", mnt(fx), NULL };
	struct result r;

	r = run(fx, args);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "is not a modelfs mount (it has no .control/jobs)"));
	assert_string_equal(r.out, "");
	result_free(&r);
	snprintf(missing, sizeof(missing), "%s/nowhere", fx->dir);
	r = run(fx, args_missing);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "cannot access"));
	result_free(&r);
	snprintf(file, sizeof(file), "%s/stdout", fx->dir);
	r = run(fx, args_file);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "is not a directory"));
	result_free(&r);
	/* a file that is not SPEC §4's */
	write_jobs(fx, "id\tkind\n1\tdownload\n", strlen("id\tkind\n1\tdownload\n"));
	r = run(fx, args_mnt);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "is not a modelfs jobs file"));
	result_free(&r);
	write_jobs(fx, "", 0);
	r = run(fx, args_mnt);
	assert_int_equal(r.status, 1);
	result_free(&r);
	write_jobs(fx, HEADER_CRLF, strlen(HEADER_CRLF));
	r = run(fx, args_mnt);
	assert_int_equal(r.status, 1);
	result_free(&r);
}

static void test_draw_plain(void **state)
{
	struct fixture *fx = *state;
	const char *args[] = { "jobs", mnt(fx), NULL };
	const char text[] = HEADER
		"1\tdownload\tqwen/qwen3-8b/q8_0\tdone\t100.0\t8589934592\t8589934592\t0\t0\t\n"
		GOOD
		"12\tbenchmark\tgemma/gemma-3-4b-it/q4_k_m\tqueued\t0.0\t0\t0\t\t\t\n"
		"13\tbenchmark\tgemma/gemma-3-4b-it/q4_0\tfailed\t30.0\t0\t0\t\t\tllama-bench not found; set bench_cmd\n";
	struct result r;
	char *line2;

	write_jobs(fx, HEADER, strlen(HEADER));
	r = run(fx, args);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "no jobs\n");
	result_free(&r);

	write_jobs(fx, text, strlen(text));
	r = run(fx, args);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_int_equal(count(r.out, "\n"), 4);
	assert_null(strchr(r.out, '\x1b'));
	assert_non_null(strstr(r.out, " 1  download   qwen/qwen3-8b/q8_0  "));
	assert_non_null(strstr(r.out, "100.0%"));
	assert_non_null(strstr(r.out, "8.0 GiB/8.0 GiB"));
	assert_non_null(strstr(r.out, "1.0 MiB/2.0 MiB"));
	assert_non_null(strstr(r.out, "1.5 MB/s"));
	assert_non_null(strstr(r.out, "0:00:01"));
	assert_non_null(strstr(r.out, "  running\n"));
	assert_non_null(strstr(r.out, "  queued\n"));
	assert_non_null(strstr(r.out, "  failed: llama-bench not found; set bench_cmd\n"));
	/* a half-done job's bar is half full */
	line2 = strchr(r.out, '\n') + 1;
	{
		const char *open_b = strchr(line2, '[');
		const char *close_b = strchr(line2, ']');
		size_t hashes = 0, dashes = 0;
		const char *p;

		assert_non_null(open_b);
		assert_non_null(close_b);
		for (p = open_b + 1; p < close_b; p++) {
			hashes += *p == '#';
			dashes += *p == '-';
		}
		assert_true(hashes + dashes >= 10 && hashes + dashes <= 50);
		assert_true(hashes == dashes || hashes == dashes + 1);
	}
	result_free(&r);
}

/* One bad line between a header and a good line: one warning, one job. */
static void test_hostile_lines(void **state)
{
	struct fixture *fx = *state;
	const char *args[] = { "jobs", mnt(fx), NULL };
	static const struct {
		const char *line;
		size_t len;          /* 0: strlen */
		const char *why;
	} bad[] = {
		{ "1\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\n", 0, "9 tab-separated fields" },
		{ "1\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\tmsg\textra\n", 0, "more than 10" },
		{ "\n", 0, "1 tab-separated field," },
		{ "no tabs at all\n", 0, "1 tab-separated field," },
		{ "0\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\t\n", 0, "id" },
		{ "-1\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\t\n", 0, "id" },
		{ "x\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\t\n", 0, "id" },
		{ " 1\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\t\n", 0, "id" },
		{ "18446744073709551616\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\t\n", 0, "id" },
		{ "1\t\ta/b/c\trunning\t50.0\t1\t2\t3\t4\t\n", 0, "kind" },
		{ "1\tdownload\t\trunning\t50.0\t1\t2\t3\t4\t\n", 0, "target" },
		{ "1\tdownload\ta/b/c\tRunning\t50.0\t1\t2\t3\t4\t\n", 0, "state" },
		{ "1\tdownload\ta/b/c\tfinished\t50.0\t1\t2\t3\t4\t\n", 0, "state" },
		{ "1\tdownload\ta/b/c\t\t50.0\t1\t2\t3\t4\t\n", 0, "state" },
		{ "1\tdownload\ta/b/c\trunning\t100.5\t1\t2\t3\t4\t\n", 0, "progress" },
		{ "1\tdownload\ta/b/c\trunning\t-1\t1\t2\t3\t4\t\n", 0, "progress" },
		{ "1\tdownload\ta/b/c\trunning\tnan\t1\t2\t3\t4\t\n", 0, "progress" },
		{ "1\tdownload\ta/b/c\trunning\t1e400\t1\t2\t3\t4\t\n", 0, "progress" },
		{ "1\tdownload\ta/b/c\trunning\t\t1\t2\t3\t4\t\n", 0, "progress" },
		{ "1\tdownload\ta/b/c\trunning\t50%\t1\t2\t3\t4\t\n", 0, "progress" },
		{ "1\tdownload\ta/b/c\trunning\t50.0\t1.5\t2\t3\t4\t\n", 0, "done_bytes" },
		{ "1\tdownload\ta/b/c\trunning\t50.0\t1\t-2\t3\t4\t\n", 0, "total_bytes" },
		{ "1\tdownload\ta/b/c\trunning\t50.0\t\t2\t3\t4\t\n", 0, "done_bytes" },
		{ "1\tdownload\ta/b/c\trunning\t50.0\t1\t2\tfast\t4\t\n", 0, "rate_bps" },
		{ "1\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t1.0\t\n", 0, "eta_s" },
		{ "1\tdownload\ta/b/c\trunning\t50.0\t1\t2\t3\t4\tnul\0byte\n", 47, "NUL" },
	};
	char text[512];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].line);
		struct result r;

		n = 0;
		memcpy(text + n, HEADER, strlen(HEADER));
		n += strlen(HEADER);
		memcpy(text + n, bad[i].line, len);
		n += len;
		memcpy(text + n, GOOD, strlen(GOOD));
		n += strlen(GOOD);
		write_jobs(fx, text, n);
		r = run(fx, args);
		if (r.status != 0 || count(r.err, "warning: line 2 of .control/jobs") != 1 ||
		    count(r.err, "\n") != 1 || !strstr(r.err, bad[i].why) || count(r.out, "\n") != 1 ||
		    !strstr(r.out, "llama/llama-3.1-8b/q4_k_m"))
			fail_msg("case %zu: status %d\nstdout: %s\nstderr: %s", i, r.status, r.out, r.err);
		result_free(&r);
	}
}

static void test_many_bad_lines_warned_briefly(void **state)
{
	struct fixture *fx = *state;
	const char *args[] = { "jobs", mnt(fx), NULL };
	struct result r;
	char *text;
	size_t n = 0, i;

	text = malloc(64 * 1024);
	assert_non_null(text);
	memcpy(text, HEADER, strlen(HEADER));
	n = strlen(HEADER);
	for (i = 0; i < 1000; i++) {
		memcpy(text + n, "bad\n", 4);
		n += 4;
	}
	/* no final newline: the last line still counts */
	memcpy(text + n, GOOD, strlen(GOOD) - 1);
	n += strlen(GOOD) - 1;
	write_jobs(fx, text, n);
	free(text);
	r = run(fx, args);
	assert_int_equal(r.status, 0);
	assert_int_equal(count(r.err, "warning: line"), 20);
	assert_int_equal(count(r.err, "further malformed lines not shown"), 1);
	assert_int_equal(count(r.out, "\n"), 1);
	result_free(&r);
}

static void test_escapes_neutralised(void **state)
{
	struct fixture *fx = *state;
	const char *args[] = { "jobs", mnt(fx), NULL };
	const char text[] = HEADER
		"3\tbench\x1b[31mmark\tq/w/\x9b" "e\tfailed\t0.0\t0\t0\t\t\tbad \x1b]0;pwned\x07 \xc2\x9b \xff\xfe caf\xc3\xa9 \xed\xa0\x80 \xe2\x82\n";
	struct result r;
	const unsigned char *p;

	write_jobs(fx, text, strlen(text));
	r = run(fx, args);
	assert_int_equal(r.status, 0);
	for (p = (const unsigned char *)r.out; *p; p++)
		assert_true(*p == '\n' || (*p >= 0x20 && *p != 0x7f));
	assert_non_null(strstr(r.out, "bench?[31mmark"));
	assert_non_null(strstr(r.out, "q/w/?e"));
	/* C1 controls, bad bytes, surrogates and cut sequences become '?',
	 * good UTF-8 stays */
	assert_non_null(strstr(r.out, "failed: bad ?]0;pwned? ?? ?? caf\xc3\xa9 ??? ??\n"));
	result_free(&r);
}

static void test_follow_stops_when_idle(void **state)
{
	struct fixture *fx = *state;
	const char *args[] = { "jobs", mnt(fx), "--follow", NULL };
	const char text[] = HEADER "1\tdownload\ta/b/c\tdone\t100.0\t5\t5\t0\t0\t\n";
	struct result r;

	write_jobs(fx, text, strlen(text));
	r = run(fx, args);
	assert_int_equal(r.status, 0);
	assert_int_equal(count(r.out, "\n"), 1);
	assert_non_null(strstr(r.out, "  done\n"));
	result_free(&r);
}

struct later {
	const struct fixture *fx;
	unsigned delay_ms;
	const char *text;
};

static void *write_later(void *arg)
{
	struct later *l = arg;

	usleep(l->delay_ms * 1000u);
	write_jobs(l->fx, l->text, strlen(l->text));
	return NULL;
}

static void test_follow_prints_changes(void **state)
{
	struct fixture *fx = *state;
	const char *args_ok[] = { "jobs", "--follow", mnt(fx), NULL };
	const char running[] = HEADER "1\tdownload\ta/b/c\trunning\t40.0\t4\t10\t1\t6\t\n";
	const char done[] = HEADER "1\tdownload\ta/b/c\tdone\t100.0\t10\t10\t0\t0\t\n";
	struct later l = { fx, 1600, done };
	pthread_t t;
	struct result r;
	char *second;

	write_jobs(fx, running, strlen(running));
	assert_int_equal(pthread_create(&t, NULL, write_later, &l), 0);
	r = run(fx, args_ok);
	pthread_join(t, NULL);
	assert_int_equal(r.status, 0);
	/* unchanged reads print nothing: two blocks, a blank line between */
	assert_int_equal(count(r.out, "\n"), 3);
	assert_non_null(strstr(r.out, " 40.0%"));
	second = strstr(r.out, "\n\n");
	assert_non_null(second);
	assert_non_null(strstr(second, "100.0%"));
	assert_non_null(strstr(second, "  done\n"));
	result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_mount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_draw_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_bad_lines_warned_briefly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escapes_neutralised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_stops_when_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_prints_changes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
