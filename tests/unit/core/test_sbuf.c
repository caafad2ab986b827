/*
 * test_sbuf.c - the capped buffer: growth, the cap, sticky errors, detach,
 * and the JSON string escaper against a table that includes every kind of
 * ill-formed UTF-8 (each output is also checked to be valid JSON by
 * decoding it back with a small strict decoder).
 */
#include "core.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

static void assert_sane(const struct sbuf *sb)
{
	assert_true(sb->len <= sb->cap);
	if (sb->buf) {
		assert_true(sb->len < sb->alloc);
		assert_int_equal(sb->buf[sb->len], '\0');
	} else {
		assert_int_equal(sb->len, 0);
	}
}

static void test_grow(void **state)
{
	struct sbuf sb;
	size_t i;

	sbuf_init(&sb, 1 << 20);
	assert_null(sb.buf);
	for (i = 0; i < 10000; i++) {
		assert_int_equal(sbuf_addch(&sb, (char)('a' + i % 26)), 0);
		assert_sane(&sb);
	}
	assert_int_equal(sb.len, 10000);
	assert_int_equal(sb.buf[27], 'b');
	assert_int_equal(sbuf_addf(&sb, "%05d|%s", 42, "x"), 0);
	assert_string_equal(sb.buf + 10000, "00042|x");
	assert_sane(&sb);
	sbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
	assert_sane(&sb);
	sbuf_release(&sb);
	assert_null(sb.buf);
}

static void test_empty_add_terminates(void **state)
{
	struct sbuf sb;

	sbuf_init(&sb, 16);
	assert_int_equal(sbuf_add(&sb, "", 0), 0);
	assert_non_null(sb.buf);
	assert_string_equal(sb.buf, "");
	sbuf_release(&sb);
	sbuf_init(&sb, 16);
	assert_int_equal(sbuf_addf(&sb, "%s", ""), 0);
	assert_non_null(sb.buf);
	assert_string_equal(sb.buf, "");
	sbuf_release(&sb);
}

static void test_cap_and_sticky(void **state)
{
	struct sbuf sb;

	sbuf_init(&sb, 8);
	assert_int_equal(sbuf_addstr(&sb, "12345678"), 0);
	assert_int_equal(sb.len, 8);
	assert_sane(&sb);
	assert_int_equal(sbuf_addch(&sb, '9'), -EFBIG);
	assert_int_equal(sb.err, -EFBIG);
	assert_string_equal(sb.buf, "12345678");
	assert_int_equal(sbuf_addstr(&sb, ""), -EFBIG);
	assert_int_equal(sbuf_addf(&sb, "%d", 1), -EFBIG);
	assert_int_equal(sbuf_add_json_str(&sb, "x"), -EFBIG);
	assert_int_equal(sb.len, 8);
	assert_sane(&sb);
	assert_null(sbuf_detach(&sb, NULL));
	assert_null(sb.buf);

	sbuf_init(&sb, 8);
	assert_int_equal(sbuf_addstr(&sb, "1234"), 0);
	assert_int_equal(sbuf_addf(&sb, "%s", "56789"), -EFBIG);
	assert_string_equal(sb.buf, "1234");
	assert_int_equal(sb.len, 4);
	assert_sane(&sb);
	sbuf_reset(&sb);
	assert_int_equal(sb.err, 0);
	assert_int_equal(sbuf_addf(&sb, "%s", "abcdefgh"), 0);
	assert_string_equal(sb.buf, "abcdefgh");
	sbuf_release(&sb);

	sbuf_init(&sb, 0);
	assert_int_equal(sbuf_addch(&sb, 'x'), -EFBIG);
	sbuf_release(&sb);
	sbuf_init(&sb, 100);
	assert_int_equal(sbuf_add(&sb, "x", SIZE_MAX), -EFBIG);
	sbuf_release(&sb);
}

static void test_addf_long(void **state)
{
	struct sbuf sb;
	char big[5000];

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sbuf_init(&sb, 1 << 16);
	assert_int_equal(sbuf_addstr(&sb, "ab"), 0);
	assert_int_equal(sbuf_addf(&sb, "<%s>", big), 0);
	assert_int_equal(sb.len, 2 + 2 + 4999);
	assert_int_equal(sb.buf[3], 'q');
	assert_int_equal(sb.buf[sb.len - 1], '>');
	assert_sane(&sb);
	sbuf_release(&sb);
}

static void test_detach(void **state)
{
	struct sbuf sb;
	size_t len = 99;
	char *p;

	sbuf_init(&sb, 64);
	p = sbuf_detach(&sb, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	assert_int_equal(sbuf_addstr(&sb, "hello"), 0);
	p = sbuf_detach(&sb, &len);
	assert_string_equal(p, "hello");
	assert_int_equal(len, 5);
	assert_null(sb.buf);
	assert_int_equal(sb.len, 0);
	assert_int_equal(sb.cap, 64);
	free(p);
	assert_int_equal(sbuf_addstr(&sb, "again"), 0);
	assert_string_equal(sb.buf, "again");
	sbuf_release(&sb);
}

struct json_case {
	const char *in;
	const char *out;
};

static const struct json_case json_cases[] = {
	{ "", "\"\"" },
	{ "plain", "\"plain\"" },
	{ "a\"b", "\"a\\\"b\"" },
	{ "back\\slash", "\"back\\\\slash\"" },
	{ "/", "\"/\"" },
	{ "\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"" },
	{ "\x01\x1f", "\"\\u0001\\u001f\"" },
	{ "\x7f", "\"\x7f\"" },
	{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
	{ "\xe2\x82\xac", "\"\xe2\x82\xac\"" },
	{ "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },
	{ "\xef\xbf\xbd", "\"\xef\xbf\xbd\"" },
	/* stray continuation byte */
	{ "a\x80z", "\"a\xef\xbf\xbdz\"" },
	/* two stray continuation bytes: two replacements */
	{ "\x80\xbf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
	/* overlong 2-byte form of '/' */
	{ "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
	/* overlong 3-byte form */
	{ "\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
	/* UTF-16 surrogate U+D800 */
	{ "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
	/* above U+10FFFF */
	{ "\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
	/* bytes never valid */
	{ "\xfe\xff", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
	/* truncated 3-byte sequence at end: one replacement for the subpart */
	{ "x\xe2\x82", "\"x\xef\xbf\xbd\"" },
	/* truncated 4-byte sequence followed by ASCII */
	{ "\xf0\x9f\x98z", "\"\xef\xbf\xbdz\"" },
	/* lead byte followed by a quote: the quote is still escaped */
	{ "\xc3\"", "\"\xef\xbf\xbd\\\"\"" },
};

/* A strict decoder of what sbuf_add_json_str emits: checks validity. */
static bool json_literal_is_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p++ != '"')
		return false;
	while (*p && *p != '"') {
		if (*p < 0x20)
			return false;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				int i;

				for (i = 1; i <= 4; i++) {
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return false;
				}
				p += 5;
				continue;
			}
			if (!*p || !strchr("\"\\/bfnrt", *p))
				return false;
			p++;
			continue;
		}
		if (*p >= 0x80) {
			int n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2, i;

			if (*p < 0xc2 || *p > 0xf4)
				return false;
			for (i = 1; i < n; i++) {
				if ((p[i] & 0xc0) != 0x80)
					return false;
			}
			p += n;
			continue;
		}
		p++;
	}
	return p[0] == '"' && p[1] == '\0';
}

/* jansson's decoder also refuses overlong forms and surrogates. */
static bool jansson_accepts(const char *literal)
{
	json_t *j = json_loads(literal, JSON_DECODE_ANY, NULL);
	bool ok = json_is_string(j);

	json_decref(j);
	return ok;
}

static void test_json_str_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		struct sbuf sb;

		sbuf_init(&sb, 1024);
		assert_int_equal(sbuf_add_json_str(&sb, json_cases[i].in), 0);
		if (strcmp(sb.buf, json_cases[i].out) != 0)
			fail_msg("case %zu: got [%s] want [%s]", i, sb.buf, json_cases[i].out);
		assert_true(json_literal_is_valid(sb.buf));
		assert_true(jansson_accepts(sb.buf));
		assert_sane(&sb);
		sbuf_release(&sb);
	}
}

static void test_json_str_all_bytes(void **state)
{
	char in[3];
	unsigned a, b;

	in[2] = '\0';
	for (a = 1; a < 256; a++) {
		for (b = 1; b < 256; b++) {
			struct sbuf sb;

			in[0] = (char)a;
			in[1] = (char)b;
			sbuf_init(&sb, 64);
			assert_int_equal(sbuf_add_json_str(&sb, in), 0);
			if (!json_literal_is_valid(sb.buf) || !jansson_accepts(sb.buf))
				fail_msg("bytes %02x %02x gave invalid JSON [%s]", a, b, sb.buf);
			sbuf_release(&sb);
		}
	}
}

static void test_json_str_three_bytes(void **state)
{
	static const unsigned char picks[] = { 0x01, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
					       0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef,
					       0xf0, 0xf1, 0xf4, 0xf5, 0xff };
	size_t a, b, c, n = sizeof(picks);
	char in[4];

	in[3] = '\0';
	for (a = 0; a < n; a++) {
		for (b = 0; b < n; b++) {
			for (c = 0; c < n; c++) {
				struct sbuf sb;

				in[0] = (char)picks[a];
				in[1] = (char)picks[b];
				in[2] = (char)picks[c];
				sbuf_init(&sb, 64);
				assert_int_equal(sbuf_add_json_str(&sb, in), 0);
				if (!jansson_accepts(sb.buf))
					fail_msg("bytes %02x %02x %02x gave invalid JSON", picks[a], picks[b],
						 picks[c]);
				sbuf_release(&sb);
			}
		}
	}
}

static void test_json_str_null(void **state)
{
	struct sbuf sb;

	sbuf_init(&sb, 16);
	assert_int_equal(sbuf_add_json_str(&sb, NULL), 0);
	assert_string_equal(sb.buf, "null");
	sbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_empty_add_terminates),
		cmocka_unit_test(test_cap_and_sticky),
		cmocka_unit_test(test_addf_long),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_json_str_table),
		cmocka_unit_test(test_json_str_all_bytes),
		cmocka_unit_test(test_json_str_three_bytes),
		cmocka_unit_test(test_json_str_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
