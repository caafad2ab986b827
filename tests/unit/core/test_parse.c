/*
 * test_parse.c - tables of good and hostile inputs for every strict parser
 * in core: parse_u64, parse_double, parse_size, parse_url, parse_is_name and
 * parse_to_name.  Each hostile case names the errno it must give; a parser
 * that accepts too much (blanks, signs, hex, "inf", trailing junk) fails.
 */
#include "core.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct u64_case {
	const char *in;
	int rc;
	uint64_t want;
};

static const struct u64_case u64_cases[] = {
	{ "0", 0, 0 },
	{ "7", 0, 7 },
	{ "007", 0, 7 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551616", -ERANGE, 0 },
	{ "99999999999999999999999", -ERANGE, 0 },
	{ "", -EINVAL, 0 },
	{ " 1", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "1e3", -EINVAL, 0 },
	{ "1.0", -EINVAL, 0 },
	{ "12a", -EINVAL, 0 },
	{ "\t5", -EINVAL, 0 },
	{ "5\n", -EINVAL, 0 },
	{ "inf", -EINVAL, 0 },
	{ "\xd9\xa3", -EINVAL, 0 },
};

static void test_u64(void **state)
{
	size_t i;

	for (i = 0; i < N_ELEMS(u64_cases); i++) {
		uint64_t v = 12345;
		int rc = parse_u64(u64_cases[i].in, &v);

		if (rc != u64_cases[i].rc)
			fail_msg("parse_u64 case %zu '%s': rc %d want %d", i, u64_cases[i].in, rc,
				 u64_cases[i].rc);
		if (rc == 0)
			assert_true(v == u64_cases[i].want);
		else
			assert_true(v == 12345);
	}
	assert_int_equal(parse_u64(NULL, &(uint64_t){ 0 }), -EINVAL);
}

struct double_case {
	const char *in;
	int rc;
	double want;
};

static const struct double_case double_cases[] = {
	{ "0", 0, 0 },
	{ "936", 0, 936 },
	{ "936.5", 0, 936.5 },
	{ "0.25", 0, 0.25 },
	{ "-2.5", 0, -2.5 },
	{ "1e3", 0, 1000 },
	{ "1.5E+2", 0, 150 },
	{ "25e-1", 0, 2.5 },
	{ "1e999", -ERANGE, 0 },
	{ "-1e999", -ERANGE, 0 },
	{ "1e-400", -ERANGE, 0 },
	{ "", -EINVAL, 0 },
	{ "-", -EINVAL, 0 },
	{ ".5", -EINVAL, 0 },
	{ "5.", -EINVAL, 0 },
	{ "+5", -EINVAL, 0 },
	{ " 5", -EINVAL, 0 },
	{ "5 ", -EINVAL, 0 },
	{ "1e", -EINVAL, 0 },
	{ "1e+", -EINVAL, 0 },
	{ "inf", -EINVAL, 0 },
	{ "-inf", -EINVAL, 0 },
	{ "infinity", -EINVAL, 0 },
	{ "nan", -EINVAL, 0 },
	{ "NaN", -EINVAL, 0 },
	{ "0x1p3", -EINVAL, 0 },
	{ "1,5", -EINVAL, 0 },
	{ "1.2.3", -EINVAL, 0 },
	{ "--1", -EINVAL, 0 },
	{ "5GB", -EINVAL, 0 },
};

static void test_double(void **state)
{
	size_t i;

	for (i = 0; i < N_ELEMS(double_cases); i++) {
		double v = 42;
		int rc = parse_double(double_cases[i].in, &v);

		if (rc != double_cases[i].rc)
			fail_msg("parse_double case %zu '%s': rc %d want %d", i, double_cases[i].in, rc,
				 double_cases[i].rc);
		if (rc == 0)
			assert_true(v == double_cases[i].want);
		else
			assert_true(v == 42);
	}
}

static void test_double_ignores_locale(void **state)
{
	double v = 0;

	if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8"))
		skip();
	assert_int_equal(parse_double("1.5", &v), 0);
	setlocale(LC_NUMERIC, "C");
	assert_true(v == 1.5);
}

struct size_case {
	const char *in;
	int rc;
	uint64_t want;
};

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define TIB (1024ull * GIB)
#define PIB (1024ull * TIB)

static const struct size_case size_cases[] = {
	{ "0", 0, 0 },
	{ "123", 0, 123 },
	{ "123B", 0, 123 },
	{ "123b", 0, 123 },
	{ "512K", 0, 512 * KIB },
	{ "512k", 0, 512 * KIB },
	{ "512M", 0, 512 * MIB },
	{ "16MB", 0, 16 * MIB },
	{ "24G", 0, 24 * GIB },
	{ "24GiB", 0, 24 * GIB },
	{ "24gib", 0, 24 * GIB },
	{ "24gb", 0, 24 * GIB },
	{ "24GIB", 0, 24 * GIB },
	{ "1.5T", 0, 3 * TIB / 2 },
	{ "1.5TiB", 0, 3 * TIB / 2 },
	{ "0.5K", 0, 512 },
	{ "0.1K", 0, 102 },
	{ "2P", 0, 2 * PIB },
	{ "15.999999999999999999999P", 0, 16 * PIB - 1 },
	{ "007G", 0, 7 * GIB },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551616", -ERANGE, 0 },
	{ "16384P", -ERANGE, 0 },
	{ "16383.9999P", 0, 16383 * PIB + 9999 * PIB / 10000 },
	{ "17179869184G", -ERANGE, 0 },
	{ "999999999999999999999999999999999K", -ERANGE, 0 },
	{ "", -EINVAL, 0 },
	{ "G", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ "-1G", -EINVAL, 0 },
	{ "+1G", -EINVAL, 0 },
	{ " 1G", -EINVAL, 0 },
	{ "1G ", -EINVAL, 0 },
	{ "1 G", -EINVAL, 0 },
	{ "1.5", -EINVAL, 0 },
	{ "1.5B", -EINVAL, 0 },
	{ ".5G", -EINVAL, 0 },
	{ "1.G", -EINVAL, 0 },
	{ "1..5G", -EINVAL, 0 },
	{ "1GG", -EINVAL, 0 },
	{ "1GiBx", -EINVAL, 0 },
	{ "1Gi", -EINVAL, 0 },
	{ "1iB", -EINVAL, 0 },
	{ "1BiB", -EINVAL, 0 },
	{ "1BB", -EINVAL, 0 },
	{ "1E", -EINVAL, 0 },
	{ "1X", -EINVAL, 0 },
	{ "inf", -EINVAL, 0 },
	{ "nan", -EINVAL, 0 },
	{ "0x10", -EINVAL, 0 },
	{ "0x10G", -EINVAL, 0 },
	{ "1e3", -EINVAL, 0 },
	{ "1,5G", -EINVAL, 0 },
	{ "1G\n", -EINVAL, 0 },
};

static void test_size(void **state)
{
	size_t i;

	for (i = 0; i < N_ELEMS(size_cases); i++) {
		uint64_t v = 777;
		int rc = parse_size(size_cases[i].in, &v);

		if (rc != size_cases[i].rc)
			fail_msg("parse_size case %zu '%s': rc %d want %d", i, size_cases[i].in, rc,
				 size_cases[i].rc);
		if (rc == 0 && v != size_cases[i].want)
			fail_msg("parse_size case %zu '%s': got %llu want %llu", i, size_cases[i].in,
				 (unsigned long long)v, (unsigned long long)size_cases[i].want);
		if (rc != 0)
			assert_true(v == 777);
	}
}

struct url_case {
	const char *in;
	const char *msg_part;  /* NULL: must be accepted */
};

static const struct url_case url_cases[] = {
	{ "https://huggingface.co", NULL },
	{ "https://huggingface.co/", NULL },
	{ "http://127.0.0.1:8080", NULL },
	{ "http://127.0.0.1:8080/api?x=1#frag", NULL },
	{ "HTTPS://hf-mirror.com/path/to", NULL },
	{ "http://[::1]:5000/", NULL },
	{ "http://localhost:1", NULL },
	{ "http://localhost:65535", NULL },
	{ "http://my_host.local", NULL },
	{ "https://x.co?q", NULL },
	{ "", "not http" },
	{ "huggingface.co", "not http" },
	{ "ftp://huggingface.co", "not http" },
	{ "file:///etc/passwd", "not http" },
	{ "https:/huggingface.co", "not http" },
	{ "http://", "no host" },
	{ "http:///path", "no host" },
	{ "http://:80", "no host" },
	{ "http://host:", "bad port" },
	{ "http://host:0", "bad port" },
	{ "http://host:65536", "bad port" },
	{ "http://host:123456", "bad port" },
	{ "http://host:-1", "bad port" },
	{ "http://host:8a", "bad character" },
	{ "http://host:80:80", "bad character" },
	{ "http://user:pass@host/", "credentials" },
	{ "http://@host/", "credentials" },
	{ "http://host/a b", "space or control" },
	{ " http://host/", "space or control" },
	{ "http://host/\n", "space or control" },
	{ "http://host/\t", "space or control" },
	{ "http://host/\x7f", "space or control" },
	{ "http://h\xc3\xa9st/", "non-ascii" },
	{ "http://ho%st/", "bad character" },
	{ "http://ho\\st/", "bad character" },
	{ "http://[::1/", "ipv6" },
	{ "http://[]/", "ipv6" },
	{ "http://[zz]/", "ipv6" },
};

static void test_url(void **state)
{
	size_t i;

	for (i = 0; i < N_ELEMS(url_cases); i++) {
		struct diag d;
		int rc;

		diag_init(&d);
		rc = parse_url(url_cases[i].in, &d);
		if (!url_cases[i].msg_part) {
			if (rc != 0)
				fail_msg("parse_url case %zu '%s': rc %d (%s)", i, url_cases[i].in, rc, d.msg);
			assert_int_equal(d.code, 0);
			continue;
		}
		if (rc != -EINVAL || d.code != -EINVAL)
			fail_msg("parse_url case %zu '%s': rc %d, want -EINVAL", i, url_cases[i].in, rc);
		if (!strstr(d.msg, url_cases[i].msg_part))
			fail_msg("parse_url case %zu: message '%s' lacks '%s'", i, d.msg, url_cases[i].msg_part);
		assert_null(strchr(d.msg, '\n'));
	}
	assert_int_equal(parse_url(NULL, NULL), -EINVAL);
	assert_int_equal(parse_url("gopher://x", NULL), -EINVAL);
}

static void test_url_long_is_quoted_short(void **state)
{
	char url[3000];
	struct diag d;

	memcpy(url, "http://host/", 12);
	memset(url + 12, 'a', sizeof(url) - 13);
	url[sizeof(url) - 2] = ' ';
	url[sizeof(url) - 1] = '\0';
	diag_init(&d);
	assert_int_equal(parse_url(url, &d), -EINVAL);
	assert_true(strlen(d.msg) < 400);
	assert_non_null(strstr(d.msg, "..."));
}

struct name_case {
	const char *in;
	bool ok;
};

static void test_is_name(void **state)
{
	static const struct name_case cases[] = {
		{ "llama", true },
		{ "llama-3.1-8b-instruct", true },
		{ "q4_k_m", true },
		{ "ud-iq1_s", true },
		{ "0", true },
		{ "3b", true },
		{ "", false },
		{ "-x", false },
		{ ".x", false },
		{ "_x", false },
		{ ".", false },
		{ "..", false },
		{ "Llama", false },
		{ "a b", false },
		{ "a/b", false },
		{ "a@b", false },
		{ "a=b", false },
		{ "caf\xc3\xa9", false },
		{ "a\n", false },
	};
	char longest[NAME_MAX_BYTES + 1];
	size_t i;

	for (i = 0; i < N_ELEMS(cases); i++) {
		if (parse_is_name(cases[i].in) != cases[i].ok)
			fail_msg("parse_is_name case %zu '%s' want %d", i, cases[i].in, cases[i].ok);
	}
	assert_false(parse_is_name(NULL));
	memset(longest, 'a', sizeof(longest));
	longest[NAME_MAX_BYTES - 1] = '\0';
	assert_true(parse_is_name(longest));
	memset(longest, 'a', sizeof(longest));
	longest[NAME_MAX_BYTES] = '\0';
	assert_false(parse_is_name(longest));
}

struct to_name_case {
	const char *in;
	const char *want;  /* NULL: -EINVAL */
};

static void test_to_name(void **state)
{
	static const struct to_name_case cases[] = {
		{ "Llama 3.1 8B Instruct", "llama-3.1-8b-instruct" },
		{ "  Qwen2.5-Coder  ", "qwen2.5-coder" },
		{ "Q4_K_M", "q4_k_m" },
		{ "a -- b", "a-b" },
		{ "a / b \\ c", "a-b-c" },
		{ "...hidden", "hidden" },
		{ "trail.", "trail" },
		{ "caf\xc3\xa9 noir", "caf-noir" },
		{ "x\ny", "x-y" },
		{ "", NULL },
		{ "   ", NULL },
		{ "---", NULL },
		{ "\xc3\xa9\xc3\xa9", NULL },
		{ "._-", NULL },
	};
	char out[NAME_MAX_BYTES];
	char longest[1000];
	size_t i;

	for (i = 0; i < N_ELEMS(cases); i++) {
		int rc = parse_to_name(cases[i].in, out, sizeof(out));

		if (!cases[i].want) {
			if (rc != -EINVAL)
				fail_msg("parse_to_name case %zu '%s': rc %d want -EINVAL", i, cases[i].in, rc);
			continue;
		}
		if (rc != 0 || strcmp(out, cases[i].want) != 0)
			fail_msg("parse_to_name case %zu '%s': rc %d got '%s' want '%s'", i, cases[i].in, rc,
				 rc ? "" : out, cases[i].want);
		assert_true(parse_is_name(out));
	}
	memset(longest, 'Z', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	longest[NAME_MAX_BYTES - 2] = ' ';
	assert_int_equal(parse_to_name(longest, out, sizeof(out)), 0);
	assert_true(parse_is_name(out));
	assert_int_equal(strlen(out), NAME_MAX_BYTES - 2);
	assert_int_equal(parse_to_name("Hello World", out, 6), 0);
	assert_string_equal(out, "hello");
	assert_int_equal(parse_to_name("x", out, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_double),
		cmocka_unit_test(test_double_ignores_locale),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_url_long_is_quoted_short),
		cmocka_unit_test(test_is_name),
		cmocka_unit_test(test_to_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
