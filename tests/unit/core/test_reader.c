/*
 * test_reader.c - the memory and file readers: exact reads, -ENODATA for
 * any range that passes the end (including offsets near UINT64_MAX that
 * would wrap), size, and the errors of opening.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const char data[] = "0123456789abcdef";

static void check_reader(struct reader *r)
{
	char buf[32];

	assert_true(r->size == 16);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(r->read_at(r->ctx, 0, buf, 16), 0);
	assert_memory_equal(buf, data, 16);
	assert_int_equal(r->read_at(r->ctx, 10, buf, 6), 0);
	assert_memory_equal(buf, "abcdef", 6);
	assert_int_equal(r->read_at(r->ctx, 16, buf, 0), 0);
	assert_int_equal(r->read_at(r->ctx, 10, buf, 7), -ENODATA);
	assert_int_equal(r->read_at(r->ctx, 16, buf, 1), -ENODATA);
	assert_int_equal(r->read_at(r->ctx, 1000, buf, 1), -ENODATA);
	assert_int_equal(r->read_at(r->ctx, UINT64_MAX, buf, 2), -ENODATA);
	assert_int_equal(r->read_at(r->ctx, UINT64_MAX - 1, buf, 4), -ENODATA);
	assert_int_equal(r->read_at(r->ctx, 1, buf, SIZE_MAX), -ENODATA);
}

static void test_memory(void **state)
{
	struct reader r;

	reader_from_memory(&r, data, 16);
	check_reader(&r);
	reader_from_memory(&r, NULL, 0);
	assert_true(r.size == 0);
	assert_int_equal(r.read_at(r.ctx, 0, NULL, 0), 0);
	assert_int_equal(r.read_at(r.ctx, 0, (char[1]){ 0 }, 1), -ENODATA);
}

static void test_file(void **state)
{
	char path[] = "/tmp/mf_test_reader_XXXXXX";
	struct reader r;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, 16), 16);
	close(fd);
	assert_int_equal(reader_file_open(&r, path), 0);
	check_reader(&r);
	reader_file_close(&r);
	unlink(path);

	assert_int_equal(reader_file_open(&r, "/nonexistent/mf/x.gguf"), -ENOENT);
	assert_int_equal(reader_file_open(&r, "/tmp"), -EISDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
