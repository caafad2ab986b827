/*
 * test_log.c - the log ring: line format, levels, folding of repeats,
 * flattening of embedded newlines, truncation, wrap-around after
 * LOG_RING_LINES lines, errno preservation and concurrent writers.
 */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int setup(void **state)
{
	log_configure(LOG_DEBUG, false);
	log_clear();
	return 0;
}

/* Renders the ring; returns a new string and its line count. */
static char *render(size_t *n_lines)
{
	struct sbuf sb;
	char *text, *p;
	size_t n = 0;

	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(log_render(&sb), 0);
	text = sbuf_detach(&sb, NULL);
	assert_non_null(text);
	for (p = text; *p; p++) {
		if (*p == '\n')
			n++;
	}
	if (*text)
		assert_int_equal(text[strlen(text) - 1], '\n');
	*n_lines = n;
	return text;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "2026-11-23T17:30:00Z " */
static void assert_timestamp(const char *line)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ ";
	size_t i;

	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd')
			assert_true(is_digit(line[i]));
		else
			assert_int_equal(line[i], shape[i]);
	}
}

static void test_format_and_levels(void **state)
{
	size_t n;
	char *text;

	log_msg(LOG_ERROR, "unknown key '%s'; known keys: %s", "foo", "a, b");
	log_msg(LOG_WARN, "w %d", 2);
	log_msg(LOG_INFO, "i");
	log_msg(LOG_DEBUG, "d");
	text = render(&n);
	assert_int_equal(n, 4);
	assert_timestamp(text);
	assert_non_null(strstr(text, "Z error unknown key 'foo'; known keys: a, b\n"));
	assert_non_null(strstr(text, "Z warn w 2\n"));
	assert_non_null(strstr(text, "Z info i\n"));
	assert_non_null(strstr(text, "Z debug d\n"));
	assert_true(strstr(text, "error") < strstr(text, "warn"));
	assert_true(strstr(text, "info i") < strstr(text, "debug d"));
	free(text);

	log_clear();
	log_configure(LOG_INFO, false);
	log_msg(LOG_DEBUG, "hidden");
	log_msg(LOG_INFO, "shown");
	log_configure(LOG_ERROR, false);
	log_msg(LOG_WARN, "hidden too");
	log_msg(LOG_ERROR, "shown too");
	text = render(&n);
	assert_int_equal(n, 2);
	assert_null(strstr(text, "hidden"));
	free(text);
	log_configure(LOG_DEBUG, false);
}

static void test_folding(void **state)
{
	size_t n;
	char *text;

	log_msg(LOG_WARN, "hub answered %d", 429);
	log_msg(LOG_WARN, "hub answered %d", 429);
	log_msg(LOG_WARN, "hub answered %d", 429);
	log_msg(LOG_ERROR, "hub answered %d", 429);
	log_msg(LOG_WARN, "hub answered %d", 429);
	log_msg(LOG_INFO, "other");
	text = render(&n);
	assert_int_equal(n, 4);
	assert_non_null(strstr(text, "warn hub answered 429 (repeated 3 times)\n"));
	assert_non_null(strstr(text, "error hub answered 429\n"));
	assert_non_null(strstr(text, "other\n"));
	assert_null(strstr(text, "repeated 1 "));
	assert_null(strstr(text, "repeated 2 "));
	free(text);
}

static void test_flatten(void **state)
{
	size_t n;
	char *text;

	log_msg(LOG_ERROR, "bad name '%s'", "evil\n2026-01-01T00:00:00Z error forged");
	log_msg(LOG_ERROR, "crlf\r\nand\ttab\x01\x02" "end\n\n");
	text = render(&n);
	assert_int_equal(n, 2);
	assert_non_null(strstr(text, "bad name 'evil 2026-01-01T00:00:00Z error forged'\n"));
	assert_non_null(strstr(text, "crlf and tab end\n"));
	free(text);
}

static void test_truncation(void **state)
{
	char big[4 * LOG_LINE_MAX];
	size_t n, i;
	char *text;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i + 2 < sizeof(big); i += 2) {
		big[i] = '\xc3';
		big[i + 1] = '\xa9';
	}
	log_msg(LOG_INFO, "%s", big);
	text = render(&n);
	assert_int_equal(n, 1);
	assert_true(strlen(text) < LOG_LINE_MAX);
	assert_int_equal((unsigned char)text[strlen(text) - 2], 0xa9);
	free(text);
}

static void test_ring_wraps(void **state)
{
	size_t n, i;
	char *text, *line;

	for (i = 0; i < LOG_RING_LINES + 10; i++)
		log_msg(LOG_INFO, "line %zu", i);
	text = render(&n);
	assert_int_equal(n, LOG_RING_LINES);
	assert_null(strstr(text, "info line 9\n"));
	assert_non_null(strstr(text, "info line 10\n"));
	line = strchr(text, '\n');
	assert_non_null(line);
	*line = '\0';
	assert_non_null(strstr(text, "info line 10"));
	assert_non_null(strstr(line + 1, "info line 11\n"));
	assert_non_null(strstr(line + 1, "info line 1033\n"));
	assert_int_equal(strcmp(text + strlen(text) - strlen("line 10"), "line 10"), 0);
	free(text);

	log_clear();
	text = render(&n);
	assert_int_equal(n, 0);
	assert_string_equal(text, "");
	free(text);
}

static void test_keeps_errno(void **state)
{
	errno = ENOSPC;
	log_msg(LOG_ERROR, "disk full");
	assert_int_equal(errno, ENOSPC);
	errno = EIO;
	log_msg(LOG_DEBUG + 0, "x");
	assert_int_equal(errno, EIO);
}

static void test_render_respects_cap(void **state)
{
	struct sbuf sb;

	log_msg(LOG_INFO, "a message longer than the cap");
	sbuf_init(&sb, 10);
	assert_int_equal(log_render(&sb), -EFBIG);
	sbuf_release(&sb);
}

#define THREADS 4
#define PER_THREAD 200

static void *writer(void *arg)
{
	size_t id = (size_t)(uintptr_t)arg, i;

	for (i = 0; i < PER_THREAD; i++)
		log_msg(LOG_INFO, "thread %zu message %zu", id, i);
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[THREADS];
	size_t i, n;
	char *text;

	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)i), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	text = render(&n);
	assert_int_equal(n, THREADS * PER_THREAD);
	assert_non_null(strstr(text, "thread 3 message 199\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_format_and_levels, setup),
		cmocka_unit_test_setup(test_folding, setup),
		cmocka_unit_test_setup(test_flatten, setup),
		cmocka_unit_test_setup(test_truncation, setup),
		cmocka_unit_test_setup(test_ring_wraps, setup),
		cmocka_unit_test_setup(test_keeps_errno, setup),
		cmocka_unit_test_setup(test_render_respects_cap, setup),
		cmocka_unit_test_setup(test_threads, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
