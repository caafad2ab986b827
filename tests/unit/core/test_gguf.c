/*
 * test_gguf.c - the GGUF header reader on files tests/gguf/ggufgen.py
 * writes: every metadata value type (versions 2 and 3), every ggml tensor
 * type, alignments, empty and scalar tensors, llama-style replicas (an 8B
 * one with a 128k vocabulary, to count the reads a big header costs),
 * split shards, and a table of hostile files with the exact error each
 * must give.  The hostile table includes the classic llama.cpp GGUF parser
 * bugs: counts whose allocation overflows (n_tensors, n_kv, array length
 * of 2^63), a string length of 2^64-1 whose +1 wraps, n_dims past
 * GGML_MAX_DIMS, extents whose product overflows, offset + size wrapping,
 * misaligned offsets and unknown type ids.  Beyond the table, every
 * truncation of a valid file and a few thousand random byte flips must
 * fail cleanly (the ASan build makes "cleanly" mean something).
 *
 * The files are generated at setup by running ggufgen.py with
 * /usr/bin/python3 into a temporary directory, removed at teardown.
 */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
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

static char suite_dir[256];

static int run_ggufgen(const char *cmd, const char *dir)
{
	char script[512];
	char *argv[5];
	pid_t pid;
	int status, rc;

	snprintf(script, sizeof(script), "%s/gguf/ggufgen.py", MF_TESTS_DIR);
	argv[0] = (char *)"/usr/bin/python3";
	argv[1] = script;
	argv[2] = (char *)cmd;
	argv[3] = (char *)dir;
	argv[4] = NULL;
	rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
	if (rc)
		return -rc;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char hostile[300];

	snprintf(suite_dir, sizeof(suite_dir), "%s/mf-gguf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(suite_dir))
		return -1;
	snprintf(hostile, sizeof(hostile), "%s/hostile", suite_dir);
	if (run_ggufgen("suite", suite_dir) || run_ggufgen("hostile", hostile)) {
		fprintf(stderr, "ggufgen.py failed\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	if (suite_dir[0])
		nftw(suite_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", suite_dir, name);
}

/* Opens a suite file; asserts success and shows the diag when not. */
static struct gguf *open_ok(const char *name, struct reader *r)
{
	char path[512];
	struct gguf *g = NULL;
	struct diag d;
	int rc;

	diag_init(&d);
	path_of(path, sizeof(path), name);
	assert_int_equal(reader_file_open(r, path), 0);
	rc = gguf_open(r, &g, &d);
	if (rc)
		fail_msg("%s: %d %s", name, rc, d.msg);
	assert_non_null(g);
	return g;
}

static void close_ok(struct gguf *g, struct reader *r)
{
	gguf_free(g);
	reader_file_close(r);
}

static void assert_sane(const struct gguf *g)
{
	uint64_t weight = 0, params = 0;
	size_t i;

	assert_true(gguf_version(g) == 2 || gguf_version(g) == 3);
	assert_true(gguf_alignment(g) > 0);
	assert_int_equal(gguf_alignment(g) & (gguf_alignment(g) - 1), 0);
	assert_true(gguf_data_offset(g) >= gguf_header_bytes(g));
	assert_int_equal(gguf_data_offset(g) % gguf_alignment(g), 0);
	assert_true(gguf_data_offset(g) - gguf_header_bytes(g) < gguf_alignment(g));
	for (i = 0; i < gguf_kv_count(g); i++) {
		assert_non_null(gguf_kv_key(g, i));
		assert_int_equal(gguf_find_key(g, gguf_kv_key(g, i)), (ssize_t)i);
	}
	for (i = 0; i < gguf_tensor_count(g); i++) {
		const struct gguf_tensor_info *t = gguf_tensor(g, i);
		uint64_t bytes;

		assert_non_null(t);
		assert_int_equal(gguf_find_tensor(g, t->name), (ssize_t)i);
		assert_int_equal(t->offset % gguf_alignment(g), 0);
		assert_int_equal(ggml_tensor_bytes(t->type, t->ne, t->n_dims, &bytes), 0);
		assert_int_equal(bytes, t->size_bytes);
		if (gguf_file_size(g) != UINT64_MAX && t->size_bytes)
			assert_true(gguf_data_offset(g) + t->offset + t->size_bytes <=
				    gguf_file_size(g));
		weight += t->size_bytes;
		params += t->n_elements;
	}
	assert_int_equal(weight, gguf_weight_bytes(g));
	assert_int_equal(params, gguf_param_count(g));
	assert_null(gguf_kv_key(g, gguf_kv_count(g)));
	assert_null(gguf_tensor(g, gguf_tensor_count(g)));
}

/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */
static void expect_type(const struct gguf *g, const char *key, enum gguf_type type,
			struct gguf_value *v)
{
	ssize_t i = gguf_find_key(g, key);

	if (i < 0)
		fail_msg("key '%s' missing", key);
	gguf_kv_value(g, (size_t)i, v);
	if (v->type != type)
		fail_msg("key '%s': type %s, expected %s", key, gguf_type_name(v->type),
			 gguf_type_name(type));
}

static void expect_u(const struct gguf *g, const char *key, enum gguf_type type, uint64_t want)
{
	struct gguf_value v;

	expect_type(g, key, type, &v);
	assert_int_equal(v.u64, want);
}

static void expect_i(const struct gguf *g, const char *key, enum gguf_type type, int64_t want)
{
	struct gguf_value v;

	expect_type(g, key, type, &v);
	assert_true(v.i64 == want);
}

static void expect_f(const struct gguf *g, const char *key, enum gguf_type type, double want)
{
	struct gguf_value v;

	expect_type(g, key, type, &v);
	assert_true(v.f64 == want);
}

static void expect_arr(const struct gguf *g, const char *key, enum gguf_type item,
		       uint64_t n, struct gguf_value *v)
{
	expect_type(g, key, GGUF_TYPE_ARRAY, v);
	assert_int_equal(v->arr.type, item);
	assert_int_equal(v->arr.n, n);
}

static void check_all_types(const struct gguf *g)
{
	struct gguf_value v, it, it2;
	const char *s;
	size_t len;

	expect_u(g, "t.uint8", GGUF_TYPE_UINT8, 255);
	expect_i(g, "t.int8", GGUF_TYPE_INT8, -128);
	expect_u(g, "t.uint16", GGUF_TYPE_UINT16, 65535);
	expect_i(g, "t.int16", GGUF_TYPE_INT16, -32768);
	expect_u(g, "t.uint32", GGUF_TYPE_UINT32, 4294967295u);
	expect_i(g, "t.int32", GGUF_TYPE_INT32, INT32_MIN);
	expect_f(g, "t.float32", GGUF_TYPE_FLOAT32, (double)0.1f);
	expect_f(g, "t.float32.neg", GGUF_TYPE_FLOAT32, (double)-1.5e-30f);
	expect_u(g, "t.bool.true", GGUF_TYPE_BOOL, 1);
	expect_u(g, "t.bool.false", GGUF_TYPE_BOOL, 0);
	expect_u(g, "t.uint64", GGUF_TYPE_UINT64, UINT64_MAX);
	expect_i(g, "t.int64", GGUF_TYPE_INT64, INT64_MIN);
	expect_f(g, "t.float64", GGUF_TYPE_FLOAT64, 3.141592653589793);

	expect_type(g, "t.string", GGUF_TYPE_STRING, &v);
	assert_string_equal(v.str.ptr, "h\xc3\xa9llo, w\xc3\xb6rld \"quoted\" \\ \t tab");
	assert_int_equal(v.str.len, strlen(v.str.ptr));
	assert_int_equal(gguf_get_str(g, "t.string.empty", &s, &len), 0);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);

	expect_arr(g, "t.arr.uint8", GGUF_TYPE_UINT8, 3, &v);
	assert_int_equal(gguf_array_item(&v, 2, &it), 0);
	assert_int_equal(it.type, GGUF_TYPE_UINT8);
	assert_int_equal(it.u64, 255);
	assert_int_equal(gguf_array_item(&v, 3, &it), -EINVAL);
	expect_arr(g, "t.arr.int8", GGUF_TYPE_INT8, 3, &v);
	assert_int_equal(gguf_array_item(&v, 0, &it), 0);
	assert_true(it.i64 == -128);
	expect_arr(g, "t.arr.uint16", GGUF_TYPE_UINT16, 2, &v);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_int_equal(it.u64, 65535);
	expect_arr(g, "t.arr.int16", GGUF_TYPE_INT16, 2, &v);
	assert_int_equal(gguf_array_item(&v, 0, &it), 0);
	assert_true(it.i64 == -32768);
	expect_arr(g, "t.arr.uint32", GGUF_TYPE_UINT32, 2, &v);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_int_equal(it.u64, 4294967295u);
	expect_arr(g, "t.arr.int32", GGUF_TYPE_INT32, 2, &v);
	assert_int_equal(gguf_array_item(&v, 0, &it), 0);
	assert_true(it.i64 == INT32_MIN);
	expect_arr(g, "t.arr.float32", GGUF_TYPE_FLOAT32, 3, &v);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_true(it.f64 == -2.25);
	assert_int_equal(gguf_array_item(&v, 2, &it), 0);
	assert_true(it.f64 == 1e10);
	expect_arr(g, "t.arr.bool", GGUF_TYPE_BOOL, 3, &v);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_int_equal(it.type, GGUF_TYPE_BOOL);
	assert_int_equal(it.u64, 0);
	expect_arr(g, "t.arr.string", GGUF_TYPE_STRING, 4, &v);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_int_equal(it.type, GGUF_TYPE_STRING);
	assert_int_equal(it.str.len, 0);
	assert_int_equal(gguf_array_item(&v, 2, &it), 0);
	assert_string_equal(it.str.ptr, "\xc3\xbcn\xc3\xaf");
	assert_int_equal(gguf_array_item(&v, 3, &it), 0);
	assert_int_equal(it.str.len, 300);
	expect_arr(g, "t.arr.uint64", GGUF_TYPE_UINT64, 2, &v);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_int_equal(it.u64, UINT64_MAX);
	expect_arr(g, "t.arr.int64", GGUF_TYPE_INT64, 2, &v);
	assert_int_equal(gguf_array_item(&v, 0, &it), 0);
	assert_true(it.i64 == INT64_MIN);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_true(it.i64 == INT64_MAX);
	expect_arr(g, "t.arr.float64", GGUF_TYPE_FLOAT64, 2, &v);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_true(it.f64 == -0.125);
	expect_arr(g, "t.arr.empty", GGUF_TYPE_UINT32, 0, &v);
	assert_int_equal(gguf_array_item(&v, 0, &it), -EINVAL);
	expect_arr(g, "t.arr.long", GGUF_TYPE_INT32, 1000, &v);
	assert_int_equal(gguf_array_item(&v, 999, &it), 0);
	assert_true(it.i64 == 999);

	expect_arr(g, "t.arr.nested", GGUF_TYPE_ARRAY, 4, &v);
	assert_int_equal(gguf_array_item(&v, 0, &it), 0);
	assert_int_equal(it.type, GGUF_TYPE_ARRAY);
	assert_int_equal(it.arr.type, GGUF_TYPE_UINT8);
	assert_int_equal(it.arr.n, 2);
	assert_int_equal(gguf_array_item(&it, 1, &it2), 0);
	assert_int_equal(it2.u64, 2);
	assert_int_equal(gguf_array_item(&v, 1, &it), 0);
	assert_int_equal(it.arr.type, GGUF_TYPE_STRING);
	assert_int_equal(gguf_array_item(&it, 1, &it2), 0);
	assert_string_equal(it2.str.ptr, "y");
	assert_int_equal(gguf_array_item(&v, 2, &it), 0);
	assert_int_equal(it.arr.type, GGUF_TYPE_ARRAY);
	assert_int_equal(gguf_array_item(&it, 0, &it2), 0);
	assert_int_equal(it2.arr.type, GGUF_TYPE_INT32);
	assert_int_equal(gguf_array_item(&it2, 0, &it), 0);
	assert_true(it.i64 == -7);
	assert_int_equal(gguf_array_item(&v, 3, &it), 0);
	assert_int_equal(it.arr.type, GGUF_TYPE_FLOAT32);
	assert_int_equal(it.arr.n, 0);
	assert_int_equal(gguf_array_item(&it2, 1, &it), -EINVAL);
	assert_int_equal(gguf_array_item(&it, 0, &it2), -EINVAL);
	expect_type(g, "t.uint8", GGUF_TYPE_UINT8, &v);
	assert_int_equal(gguf_array_item(&v, 0, &it), -EINVAL);
}

static void test_all_value_types(void **state)
{
	static const char *const files[] = { "all_types_v3.gguf", "all_types_v2.gguf" };
	struct reader r;
	size_t k;

	for (k = 0; k < 2; k++) {
		struct gguf *g = open_ok(files[k], &r);

		assert_int_equal(gguf_version(g), k == 0 ? 3 : 2);
		assert_int_equal(gguf_kv_count(g), 31);
		assert_string_equal(gguf_kv_key(g, 0), "general.architecture");
		assert_string_equal(gguf_kv_key(g, 30), "t.arr.long");
		check_all_types(g);
		assert_sane(g);
		close_ok(g, &r);
	}
}

static void test_getters(void **state)
{
	struct reader r;
	struct gguf *g = open_ok("all_types_v3.gguf", &r);
	struct gguf_value v;
	uint64_t u;
	int64_t i;
	double f;
	bool b;
	const char *s;

	assert_int_equal(gguf_get_u64(g, "t.uint8", &u), 0);
	assert_int_equal(u, 255);
	assert_int_equal(gguf_get_u64(g, "t.uint64", &u), 0);
	assert_int_equal(u, UINT64_MAX);
	assert_int_equal(gguf_get_u64(g, "t.int8", &u), -ERANGE);
	assert_int_equal(gguf_get_u64(g, "t.bool.true", &u), 0);
	assert_int_equal(u, 1);
	assert_int_equal(gguf_get_u64(g, "t.string", &u), -EINVAL);
	assert_int_equal(gguf_get_u64(g, "t.float32", &u), -EINVAL);
	assert_int_equal(gguf_get_u64(g, "no.such.key", &u), -ENOENT);
	assert_int_equal(gguf_get_i64(g, "t.int64", &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(gguf_get_i64(g, "t.uint32", &i), 0);
	assert_true(i == 4294967295ll);
	assert_int_equal(gguf_get_i64(g, "t.uint64", &i), -ERANGE);
	assert_int_equal(gguf_get_i64(g, "t.arr.int8", &i), -EINVAL);
	assert_int_equal(gguf_get_f64(g, "t.float64", &f), 0);
	assert_true(f == 3.141592653589793);
	assert_int_equal(gguf_get_f64(g, "t.int16", &f), 0);
	assert_true(f == -32768.0);
	assert_int_equal(gguf_get_f64(g, "t.uint64", &f), 0);
	assert_int_equal(gguf_get_f64(g, "t.string", &f), -EINVAL);
	assert_int_equal(gguf_get_bool(g, "t.bool.true", &b), 0);
	assert_true(b);
	assert_int_equal(gguf_get_bool(g, "t.uint8", &b), -EINVAL);
	assert_int_equal(gguf_get_str(g, "general.architecture", &s, NULL), 0);
	assert_string_equal(s, "llama");
	assert_int_equal(gguf_get_str(g, "t.uint8", &s, NULL), -EINVAL);
	assert_int_equal(gguf_get_array(g, "t.arr.string", &v), 0);
	assert_int_equal(v.arr.n, 4);
	assert_int_equal(gguf_get_array(g, "t.string", &v), -EINVAL);
	assert_int_equal(gguf_get_array(g, "nope", &v), -ENOENT);
	assert_int_equal(gguf_find_key(g, ""), -ENOENT);
	assert_int_equal(gguf_find_key(g, NULL), -ENOENT);
	assert_int_equal(gguf_find_key(g, "t.uint"), -ENOENT);
	assert_int_equal(gguf_file_type(g), -ENOENT);
	gguf_kv_value(g, 9999, &v);
	assert_int_equal(v.type, GGUF_TYPE_COUNT);
	assert_string_equal(gguf_type_name(GGUF_TYPE_FLOAT64), "float64");
	assert_string_equal(gguf_type_name(GGUF_TYPE_COUNT), "?");
	close_ok(g, &r);
}

/* ------------------------------------------------------------------------
 * Tensors and layout
 * ------------------------------------------------------------------------ */
static uint64_t align_up(uint64_t n, uint64_t a)
{
	return (n + a - 1) / a * a;
}

static void test_all_tensor_types(void **state)
{
	struct reader r;
	struct gguf *g = open_ok("all_types_v3.gguf", &r);
	const struct ggml_type_info *types;
	size_t n_types, i;
	uint64_t off = 0, weight = 0, params = 0;

	types = ggml_types(&n_types);
	assert_int_equal(gguf_tensor_count(g), n_types);
	for (i = 0; i < n_types; i++) {
		const struct gguf_tensor_info *t = gguf_tensor(g, i);
		char name[64];

		snprintf(name, sizeof(name), "t_%s", types[i].name);
		assert_string_equal(t->name, name);
		assert_int_equal(t->type, types[i].id);
		assert_int_equal(t->n_dims, 2);
		assert_int_equal(t->ne[0], 2 * types[i].block_elems);
		assert_int_equal(t->ne[1], 2);
		assert_int_equal(t->ne[2], 1);
		assert_int_equal(t->ne[3], 1);
		assert_int_equal(t->n_elements, 4 * types[i].block_elems);
		assert_int_equal(t->size_bytes, 4 * types[i].block_bytes);
		assert_int_equal(t->offset, off);
		off = align_up(off + t->size_bytes, 32);
		weight += t->size_bytes;
		params += t->n_elements;
	}
	assert_int_equal(gguf_weight_bytes(g), weight);
	assert_int_equal(gguf_param_count(g), params);
	assert_true(fabs(gguf_bits_per_weight(g) - weight * 8.0 / params) < 1e-12);
	assert_int_equal(gguf_alignment(g), 32);
	assert_int_equal(gguf_data_offset(g), align_up(gguf_header_bytes(g), 32));
	assert_int_equal(gguf_find_tensor(g, "t_q4_K"), 10);
	assert_int_equal(gguf_find_tensor(g, "t_q4_k"), -ENOENT);
	assert_int_equal(gguf_find_tensor(g, NULL), -ENOENT);
	assert_sane(g);
	close_ok(g, &r);
}

static void test_alignments(void **state)
{
	static const unsigned aligns[] = { 1, 8, 64, 4096 };
	size_t k;

	for (k = 0; k < 4; k++) {
		struct reader r;
		struct gguf *g;
		char name[32];
		uint64_t a = aligns[k], ob, oc;

		snprintf(name, sizeof(name), "align_%u.gguf", aligns[k]);
		g = open_ok(name, &r);
		assert_int_equal(gguf_alignment(g), a);
		assert_int_equal(gguf_data_offset(g), align_up(gguf_header_bytes(g), a));
		assert_int_equal(gguf_tensor(g, 0)->offset, 0);
		assert_int_equal(gguf_tensor(g, 0)->size_bytes, 12);
		ob = align_up(12, a);
		assert_int_equal(gguf_tensor(g, 1)->offset, ob);
		assert_int_equal(gguf_tensor(g, 1)->size_bytes, 2 * 34 * 3);
		oc = align_up(ob + 204, a);
		assert_int_equal(gguf_tensor(g, 2)->offset, oc);
		assert_int_equal(gguf_tensor(g, 2)->size_bytes, 70);
		assert_int_equal(gguf_file_size(g), gguf_data_offset(g) + oc + 70);
		assert_sane(g);
		close_ok(g, &r);
	}
}

static void test_empty_and_scalar(void **state)
{
	struct reader r;
	struct gguf *g;
	const struct gguf_tensor_info *t;

	g = open_ok("empty.gguf", &r);
	assert_int_equal(gguf_kv_count(g), 0);
	assert_int_equal(gguf_tensor_count(g), 0);
	assert_int_equal(gguf_header_bytes(g), 24);
	assert_int_equal(gguf_data_offset(g), 32);
	assert_int_equal(gguf_param_count(g), 0);
	assert_true(gguf_bits_per_weight(g) == 0);
	assert_int_equal(gguf_find_key(g, "x"), -ENOENT);
	assert_int_equal(gguf_find_tensor(g, "x"), -ENOENT);
	assert_sane(g);
	close_ok(g, &r);

	g = open_ok("no_tensors.gguf", &r);
	assert_int_equal(gguf_kv_count(g), 2);
	assert_int_equal(gguf_tensor_count(g), 0);
	assert_int_equal(gguf_weight_bytes(g), 0);
	close_ok(g, &r);

	g = open_ok("scalar_tensor.gguf", &r);
	t = gguf_tensor(g, 0);
	assert_int_equal(t->n_dims, 0);
	assert_int_equal(t->n_elements, 1);
	assert_int_equal(t->size_bytes, 4);
	t = gguf_tensor(g, 1);
	assert_int_equal(t->n_elements, 0);
	assert_int_equal(t->size_bytes, 0);
	assert_sane(g);
	close_ok(g, &r);
}

/* llama-style parameter count (ggufgen.replica_tensors). */
static uint64_t llama_params(uint64_t layers, uint64_t hidden, uint64_t heads, uint64_t kv_heads,
			     uint64_t ffn, uint64_t vocab, bool tied)
{
	uint64_t hd = hidden / heads;
	uint64_t per_layer = 2 * hidden + hidden * heads * hd + 2 * hidden * kv_heads * hd +
			     heads * hd * hidden + 3 * hidden * ffn;

	return vocab * hidden * (tied ? 1 : 2) + layers * per_layer + hidden;
}

static void test_replicas(void **state)
{
	struct reader r;
	struct gguf *g;
	uint64_t u;
	double f;
	const char *s;
	ssize_t i;

	g = open_ok("replica_q4_k_m.gguf", &r);
	assert_int_equal(gguf_file_type(g), 15);
	assert_string_equal(ggml_ftype_quant((uint32_t)gguf_file_type(g)), "q4_k_m");
	assert_int_equal(gguf_get_u64(g, "llama.block_count", &u), 0);
	assert_int_equal(u, 2);
	assert_int_equal(gguf_get_f64(g, "llama.rope.freq_base", &f), 0);
	assert_true(f == 500000.0);
	assert_int_equal(gguf_get_str(g, "general.architecture", &s, NULL), 0);
	assert_string_equal(s, "llama");
	assert_int_equal(gguf_param_count(g), llama_params(2, 256, 4, 2, 512, 1024, false));
	assert_int_equal(gguf_tensor_count(g), 2 + 2 * 9 + 1);
	i = gguf_find_tensor(g, "blk.1.ffn_down.weight");
	assert_true(i >= 0);
	assert_int_equal(gguf_tensor(g, (size_t)i)->type, GGML_TYPE_Q4_K);
	assert_int_equal(gguf_tensor(g, (size_t)i)->ne[0], 512);
	i = gguf_find_tensor(g, "output_norm.weight");
	assert_true(i >= 0);
	assert_int_equal(gguf_tensor(g, (size_t)i)->type, GGML_TYPE_F32);
	assert_true(gguf_find_tensor(g, "output.weight") >= 0);
	assert_sane(g);
	close_ok(g, &r);

	g = open_ok("replica_tied_bf16.gguf", &r);
	assert_int_equal(gguf_file_type(g), 32);
	assert_int_equal(gguf_find_tensor(g, "output.weight"), -ENOENT);
	assert_int_equal(gguf_param_count(g), llama_params(2, 256, 4, 2, 512, 1024, true));
	close_ok(g, &r);
}

/* The 8B replica has the real Llama 3.1 8B shapes: 8,030,261,248
 * parameters, a 2.6 MB header (128,256 token strings), a 4.5 GB sparse
 * file.  Reading it takes 1 + 2 + 4 MiB in three reads. */
static void test_replica_8b_reads(void **state)
{
	struct reader r;
	struct gguf *g = open_ok("replica_8b_q4_k_m.gguf", &r);
	struct gguf_value v, it;

	assert_int_equal(gguf_param_count(g), 8030261248ull);
	assert_int_equal(gguf_param_count(g), llama_params(32, 4096, 32, 8, 14336, 128256, false));
	assert_int_equal(gguf_tensor_count(g), 291);
	assert_int_equal(gguf_get_array(g, "tokenizer.ggml.tokens", &v), 0);
	assert_int_equal(v.arr.n, 128256);
	assert_int_equal(gguf_array_item(&v, 128255, &it), 0);
	assert_string_equal(it.str.ptr, "tok128255");
	assert_true(gguf_header_bytes(g) > 2 * 1024 * 1024);
	assert_int_equal(gguf_reads(g), 3);
	assert_int_equal(gguf_bytes_read(g), 4 * 1024 * 1024);
	assert_true(gguf_bytes_read(g) <= 2 * gguf_header_bytes(g));
	assert_true(gguf_file_size(g) > 4000000000ull);
	assert_true(fabs(gguf_bits_per_weight(g) - 4.5) < 0.01);
	assert_sane(g);
	close_ok(g, &r);
}

static void test_split(void **state)
{
	uint64_t total = 0, k;

	for (k = 0; k < 3; k++) {
		struct reader r;
		struct gguf *g;
		char name[64];
		uint64_t no, count, tensors;

		snprintf(name, sizeof(name), "replica_split-%05llu-of-00003.gguf",
			 (unsigned long long)k + 1);
		g = open_ok(name, &r);
		assert_true(gguf_split(g, &no, &count, &tensors));
		assert_int_equal(no, k);
		assert_int_equal(count, 3);
		assert_int_equal(tensors, 3 * 9 + 3);
		assert_int_equal(gguf_kv_count(g), k == 0 ? 20 : 3);
		total += gguf_tensor_count(g);
		assert_sane(g);
		close_ok(g, &r);
	}
	assert_int_equal(total, 30);
	{
		struct reader r;
		struct gguf *g = open_ok("replica_q4_k_m.gguf", &r);
		uint64_t no = 9, count = 9, tensors = 9;

		assert_false(gguf_split(g, &no, &count, &tensors));
		assert_int_equal(no, 0);
		assert_int_equal(count, 0);
		assert_int_equal(tensors, 0);
		close_ok(g, &r);
	}
}

/* ------------------------------------------------------------------------
 * Hostile files
 * ------------------------------------------------------------------------ */
struct hostile_case {
	const char *file;
	int rc;
	const char *msg;         /* a substring of the diag */
};

static const struct hostile_case hostile_cases[] = {
	{ "bad_magic", -EBADMSG, "not a GGUF file" },
	{ "version0", -EBADMSG, "unsupported GGUF version 0" },
	{ "version1", -EBADMSG, "GGUF version 1 is not supported" },
	{ "version4", -EBADMSG, "unsupported GGUF version 4" },
	{ "version_huge", -EBADMSG, "unsupported GGUF version 4294967295" },
	{ "big_endian", -EBADMSG, "big-endian GGUF is not supported" },
	{ "n_tensors_2p63", -EBADMSG, "9223372036854775808 items of at least 24 bytes cannot fit" },
	{ "n_kv_max", -EBADMSG, "18446744073709551615 items of at least 13 bytes cannot fit" },
	{ "n_kv_over_cap", -EFBIG, "70000 metadata keys, more than the limit of 65536" },
	{ "n_kv_past_end", -EBADMSG, "70000 items of at least 13 bytes cannot fit" },
	{ "key_len_2p63", -EBADMSG, "string of 9223372036854775808 bytes at offset 24 passes the end" },
	{ "key_len_max", -EBADMSG, "string of 18446744073709551615 bytes" },
	{ "key_len_over_cap", -EFBIG, "string of 5000 bytes at offset 24 is longer than the limit" },
	{ "string_past_end", -EBADMSG, "truncated GGUF file: key 'general.name' needs 1000 bytes" },
	{ "string_len_2p63", -EBADMSG, "string of 9223372036854775808 bytes" },
	{ "value_type_13", -EBADMSG, "key 'k' has unknown value type 13" },
	{ "value_type_max", -EBADMSG, "unknown value type 4294967295" },
	{ "array_elem_type_bad", -EBADMSG, "array of unknown value type 99" },
	{ "array_len_2p62", -EBADMSG, "4611686018427387904 items of at least 4 bytes cannot fit" },
	{ "array_strings_huge", -EBADMSG, "1099511627776 items of at least 8 bytes cannot fit" },
	{ "array_of_arrays_huge", -EBADMSG, "1099511627776 items of at least 12 bytes cannot fit" },
	{ "array_bomb", -EBADMSG, "1099511627776 items of at least 12 bytes cannot fit" },
	{ "array_nested_5", -EBADMSG, "arrays nested more than 4 levels deep" },
	{ "array_nested_100", -EBADMSG, "arrays nested more than 4 levels deep" },
	{ "n_dims_5", -EBADMSG, "tensor 't' has 5 dimensions, more than 4" },
	{ "n_dims_max", -EBADMSG, "has 4294967295 dimensions" },
	{ "dims_product_overflow", -EBADMSG, "more elements than an int64 holds" },
	{ "dim_negative", -EBADMSG, "negative extent in dimension 0" },
	{ "type_out_of_range", -EBADMSG, "unknown or removed ggml type 99" },
	{ "type_removed_q4_2", -EBADMSG, "unknown or removed ggml type 4" },
	{ "type_removed_q4_0_4_4", -EBADMSG, "unknown or removed ggml type 31" },
	{ "ne0_not_block_multiple", -EBADMSG, "33 columns, not a multiple of the block size 32" },
	{ "offset_misaligned", -EBADMSG, "offset 1, not a multiple of the alignment 32" },
	{ "offset_size_overflow", -EBADMSG, "past any file" },
	{ "size_overflow", -EBADMSG, "too large to address" },
	{ "data_truncated", -EBADMSG, "the file is truncated" },
	{ "tensors_overlap", -EBADMSG, "tensors 'a' and 'b' overlap" },
	{ "tensors_dup_name", -EBADMSG, "duplicate tensor 'a'" },
	{ "keys_dup", -EBADMSG, "duplicate key 'general.name'" },
	{ "alignment_zero", -EBADMSG, "'general.alignment' is 0, not a power of two" },
	{ "alignment_not_pow2", -EBADMSG, "'general.alignment' is 48, not a power of two" },
	{ "alignment_string", -EBADMSG, "'general.alignment' is a string, not an integer" },
	{ "alignment_huge", -EBADMSG, "'general.alignment' is 1099511627776" },
	{ "truncated_in_kv", -EBADMSG, "truncated GGUF file: key 'llama.block_count' needs 4 bytes" },
	{ "truncated_in_tensor_info", -EBADMSG, "truncated GGUF file: a tensor info needs 8 bytes" },
	{ "tensor_name_nul", -EBADMSG, "holds a NUL byte" },
	{ "header_over_cap", -EFBIG, "passes the 64 MiB limit on headers" },
	{ "empty", -EBADMSG, "truncated GGUF file: the magic needs 4 bytes" },
	{ "magic_only", -EBADMSG, "truncated GGUF file: the version needs 4 bytes" },
};

#define N_HOSTILE (sizeof(hostile_cases) / sizeof(hostile_cases[0]))

static void test_hostile(void **state)
{
	char path[512], dir[300];
	size_t i, n_files = 0;
	struct dirent *e;
	DIR *dp;

	for (i = 0; i < N_HOSTILE; i++) {
		const struct hostile_case *c = &hostile_cases[i];
		struct reader r;
		struct gguf *g = (struct gguf *)&g;
		struct diag d;
		int rc;

		snprintf(path, sizeof(path), "%s/hostile/%s.gguf", suite_dir, c->file);
		assert_int_equal(reader_file_open(&r, path), 0);
		diag_init(&d);
		rc = gguf_open(&r, &g, &d);
		reader_file_close(&r);
		if (rc != c->rc || !strstr(d.msg, c->msg))
			fail_msg("%s: got %d '%s', expected %d '%s'", c->file, rc, d.msg, c->rc,
				 c->msg);
		assert_int_equal(d.code, c->rc);
		assert_null(g);
		assert_int_equal(reader_file_open(&r, path), 0);
		assert_int_equal(gguf_open(&r, &g, NULL), c->rc);
		reader_file_close(&r);
	}
	snprintf(dir, sizeof(dir), "%s/hostile", suite_dir);
	dp = opendir(dir);
	assert_non_null(dp);
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.')
			n_files++;
	closedir(dp);
	assert_int_equal(n_files, N_HOSTILE);
}

static unsigned char *slurp(const char *name, size_t *len)
{
	char path[512];
	unsigned char *buf;
	struct stat st;
	FILE *f;

	path_of(path, sizeof(path), name);
	f = fopen(path, "rbe");
	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

/* Every prefix of a valid file must fail as truncated, whichever field it
 * cuts: every byte of the header and the padding, and the data section in
 * steps (a cut there always meets the same check). */
static void test_truncated_everywhere(void **state)
{
	static const char *const files[] = { "all_types_v3.gguf", "align_1.gguf",
					     "replica_split-00002-of-00003.gguf" };
	size_t k, len, cut;

	for (k = 0; k < 3; k++) {
		unsigned char *buf = slurp(files[k], &len);
		size_t dense;

		{
			struct reader r;
			struct gguf *g;

			reader_from_memory(&r, buf, len);
			assert_int_equal(gguf_open(&r, &g, NULL), 0);
			dense = (size_t)gguf_data_offset(g) + 64;
			gguf_free(g);
		}
		for (cut = 0; cut < len; cut += cut < dense ? 1 : 997) {
			struct reader r;
			struct gguf *g;
			struct diag d;
			int rc;

			reader_from_memory(&r, buf, cut);
			diag_init(&d);
			rc = gguf_open(&r, &g, &d);
			if (rc != -EBADMSG || !strstr(d.msg, "truncated"))
				fail_msg("%s cut at %zu: %d '%s'", files[k], cut, rc, d.msg);
		}
		free(buf);
	}
}

/* Random byte flips of a valid file: any verdict is fine, a crash, a leak or
 * a sanitizer report is not. */
static void test_random_flips(void **state)
{
	size_t len, i, j;
	unsigned char *orig = slurp("all_types_v3.gguf", &len);
	unsigned char *buf = malloc(len);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned ok = 0;

	assert_non_null(buf);
	for (i = 0; i < 3000; i++) {
		struct reader r;
		struct gguf *g;

		memcpy(buf, orig, len);
		for (j = 0; j < 1 + i % 4; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[(x >> 8) % 7200] ^= (unsigned char)(1u << (x % 8));
		}
		reader_from_memory(&r, buf, len);
		if (gguf_open(&r, &g, NULL) == 0) {
			ok++;
			assert_sane(g);
			gguf_free(g);
		}
	}
	assert_true(ok > 0);
	free(buf);
	free(orig);
}

/* ------------------------------------------------------------------------
 * Readers
 * ------------------------------------------------------------------------ */
struct test_reader {
	struct reader inner;
	int fail_at_call;        /* 1-based call that fails with -EIO, 0: never */
	int calls;
	uint64_t bytes;
};

static int test_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct test_reader *t = ctx;

	t->calls++;
	if (t->fail_at_call && t->calls == t->fail_at_call)
		return -EIO;
	t->bytes += len;
	return t->inner.read_at(t->inner.ctx, off, buf, len);
}

static void test_reader_error_and_unknown_size(void **state)
{
	size_t len;
	unsigned char *buf = slurp("replica_q4_k_m.gguf", &len);
	struct test_reader t = { 0 };
	struct reader r;
	struct gguf *g;
	struct diag d;

	reader_from_memory(&t.inner, buf, len);
	r.read_at = test_read_at;
	r.ctx = &t;
	r.size = len;
	t.fail_at_call = 1;
	diag_init(&d);
	assert_int_equal(gguf_open(&r, &g, &d), -EIO);
	assert_non_null(strstr(d.msg, "cannot read the GGUF header at offset 0"));

	t.fail_at_call = 0;
	t.calls = 0;
	assert_int_equal(gguf_open(&r, &g, NULL), 0);
	assert_int_equal(t.calls, 1);
	assert_int_equal(gguf_reads(g), 1);
	assert_int_equal(gguf_bytes_read(g), len < GGUF_FIRST_READ_BYTES ? len : GGUF_FIRST_READ_BYTES);
	gguf_free(g);

	r.size = UINT64_MAX;
	t.calls = 0;
	diag_init(&d);
	if (gguf_open(&r, &g, &d))
		fail_msg("unknown size: %s", d.msg);
	assert_int_equal(gguf_param_count(g), llama_params(2, 256, 4, 2, 512, 1024, false));
	assert_int_equal(gguf_file_size(g), UINT64_MAX);
	assert_true(t.calls < 40);
	assert_int_equal(gguf_reads(g), (unsigned)t.calls);
	gguf_free(g);

	reader_from_memory(&t.inner, buf, 100);
	t.calls = 0;
	diag_init(&d);
	assert_int_equal(gguf_open(&r, &g, &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "truncated"));
	assert_true(t.calls < 40);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_value_types),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_all_tensor_types),
		cmocka_unit_test(test_alignments),
		cmocka_unit_test(test_empty_and_scalar),
		cmocka_unit_test(test_replicas),
		cmocka_unit_test(test_replica_8b_reads),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_random_flips),
		cmocka_unit_test(test_reader_error_and_unknown_size),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
