/*
 * parse.c - strict parsers of numbers, sizes, URLs and names.
 *
 * Everything here judges text that came from outside: -o options, control
 * lines, hardware lines, parameterized file names.  The rule is the one
 * curl's strparse and git's strtoul_ui follow: a parser accepts the whole
 * string or nothing.  No leading or trailing blanks, no sign where none
 * makes sense, no hex or octal, no "inf" or "nan", and overflow is -ERANGE,
 * never a silently clamped value.  strtoull() and strtod() do the
 * arithmetic, but only after a hand-written check of the grammar, because
 * they accept blanks, signs, hex floats and "infinity" on their own.
 *
 * strtod() reads the decimal separator of the current locale; a daemon whose
 * user has LC_NUMERIC=de_DE would read "1.5" as 1.  So doubles go through
 * strtod_l() with a "C" locale created once.
 *
 * Sizes (SPEC §2) are binary: K = 2^10 ... P = 2^50, with an optional "B"
 * or "iB" after the letter, case-insensitive ("24G", "24GiB", "24gb" are
 * the same).  A fraction is allowed with a unit ("1.5T") and computed
 * exactly in 128-bit integers, then rounded down to whole bytes; a fraction
 * of plain bytes ("1.5", "1.5B") is refused.  At most 18 fraction digits
 * count (finer than a byte of an exbibyte); more digits must still be
 * digits.
 */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <float.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_FRAC_DIGITS_MAX 18
#define PARSE_URL_QUOTE_MAX 200

static bool parse_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static size_t parse_digits(const char *s)
{
	size_t n = 0;

	while (parse_is_digit(s[n]))
		n++;
	return n;
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	size_t n;

	if (!s)
		return -EINVAL;
	n = parse_digits(s);
	if (n == 0 || s[n] != '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end != '\0')
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

static locale_t parse_c_locale;
static pthread_once_t parse_c_locale_once = PTHREAD_ONCE_INIT;

static void parse_c_locale_init(void)
{
	parse_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

int parse_double(const char *s, double *out)
{
	const char *p = s;
	size_t n;
	double v;
	char *end;

	if (!s)
		return -EINVAL;
	if (*p == '-')
		p++;
	n = parse_digits(p);
	if (n == 0)
		return -EINVAL;
	p += n;
	if (*p == '.') {
		p++;
		n = parse_digits(p);
		if (n == 0)
			return -EINVAL;
		p += n;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		n = parse_digits(p);
		if (n == 0)
			return -EINVAL;
		p += n;
	}
	if (*p != '\0')
		return -EINVAL;
	pthread_once(&parse_c_locale_once, parse_c_locale_init);
	errno = 0;
	v = parse_c_locale ? strtod_l(s, &end, parse_c_locale) : strtod(s, &end);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || !isfinite(v) || (v != 0 && fabs(v) < DBL_MIN))
		return -ERANGE;
	*out = v;
	return 0;
}

/* Power of 1024 for a unit letter, or -1. */
static int parse_unit_shift(char c)
{
	switch (c) {
	case 'b': case 'B': return 0;
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	case 'p': case 'P': return 50;
	default: return -1;
	}
}

int parse_size(const char *s, uint64_t *out_bytes)
{
	const char *p = s, *frac = NULL;
	unsigned __int128 frac_num = 0, frac_den = 1, total;
	size_t n_int, n_frac = 0, i;
	uint64_t int_part, mult;
	char digits[32];
	int shift = 0, rc;

	if (!s)
		return -EINVAL;
	n_int = parse_digits(p);
	if (n_int == 0 || n_int >= sizeof(digits))
		return n_int ? -ERANGE : -EINVAL;
	memcpy(digits, p, n_int);
	digits[n_int] = '\0';
	p += n_int;
	if (*p == '.') {
		frac = ++p;
		n_frac = parse_digits(p);
		if (n_frac == 0)
			return -EINVAL;
		p += n_frac;
	}
	if (*p) {
		shift = parse_unit_shift(*p);
		if (shift < 0)
			return -EINVAL;
		p++;
		if (shift > 0) {
			if ((p[0] == 'i' || p[0] == 'I') && (p[1] == 'b' || p[1] == 'B'))
				p += 2;
			else if (p[0] == 'b' || p[0] == 'B')
				p++;
		}
		if (*p)
			return -EINVAL;
	}
	if (frac && shift == 0)
		return -EINVAL;
	rc = parse_u64(digits, &int_part);
	if (rc)
		return rc;
	mult = (uint64_t)1 << shift;
	for (i = 0; frac && i < n_frac && i < PARSE_FRAC_DIGITS_MAX; i++) {
		frac_num = frac_num * 10 + (unsigned)(frac[i] - '0');
		frac_den *= 10;
	}
	total = (unsigned __int128)int_part * mult + frac_num * mult / frac_den;
	if (total > UINT64_MAX)
		return -ERANGE;
	*out_bytes = (uint64_t)total;
	return 0;
}

/* Quotes at most PARSE_URL_QUOTE_MAX bytes of s, control bytes as '?'. */
static void parse_url_quote(const char *s, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] && n + 4 < size && i < PARSE_URL_QUOTE_MAX; i++)
		out[n++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (s[i] && n + 4 < size) {
		out[n++] = '.';
		out[n++] = '.';
		out[n++] = '.';
	}
	out[n] = '\0';
}

static bool parse_is_host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int parse_url(const char *s, struct diag *d)
{
	char q[PARSE_URL_QUOTE_MAX + 8];
	const char *host, *p;
	size_t i, n_port;
	uint64_t port;
	char port_text[8];

	if (!s)
		return diag_fail(d, -EINVAL, "missing url; give an http:// or https:// url");
	parse_url_quote(s, q, sizeof(q));
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return diag_fail(d, -EINVAL,
					 "url '%s' has a space or control byte at offset %zu; percent-encode it",
					 q, i);
		if (c >= 0x80)
			return diag_fail(d, -EINVAL,
					 "url '%s' has a non-ascii byte at offset %zu; percent-encode it",
					 q, i);
	}
	if (strncasecmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return diag_fail(d, -EINVAL, "url '%s' is not http:// or https://; give an http(s) url", q);
	if (memchr(host, '@', strcspn(host, "/?#")))
		return diag_fail(d, -EINVAL,
				 "url '%s' carries credentials; remove them and use token_file= instead", q);
	p = host;
	if (*p == '[') {
		p++;
		while (isxdigit((unsigned char)*p) || *p == ':' || *p == '.')
			p++;
		if (*p != ']' || p == host + 1)
			return diag_fail(d, -EINVAL, "url '%s' has a bad ipv6 host; write it as [::1]", q);
		p++;
	} else {
		while (parse_is_host_char(*p))
			p++;
		if (p == host)
			return diag_fail(d, -EINVAL, "url '%s' has no host; give one as in https://huggingface.co", q);
	}
	if (*p == ':') {
		p++;
		n_port = parse_digits(p);
		if (n_port == 0 || n_port > 5)
			return diag_fail(d, -EINVAL, "url '%s' has a bad port; give a number from 1 to 65535", q);
		memcpy(port_text, p, n_port);
		port_text[n_port] = '\0';
		if (parse_u64(port_text, &port) || port < 1 || port > 65535)
			return diag_fail(d, -EINVAL, "url '%s' has a bad port; give a number from 1 to 65535", q);
		p += n_port;
	}
	if (*p && *p != '/' && *p != '?' && *p != '#')
		return diag_fail(d, -EINVAL, "url '%s' has a bad character '%c' in its host", q, *p);
	return 0;
}

static bool parse_is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || parse_is_digit(c) || c == '.' || c == '_' || c == '-';
}

bool parse_is_name(const char *s)
{
	size_t i;

	if (!s || !((s[0] >= 'a' && s[0] <= 'z') || parse_is_digit(s[0])))
		return false;
	for (i = 1; s[i]; i++) {
		if (i >= NAME_MAX_BYTES - 1 || !parse_is_name_char(s[i]))
			return false;
	}
	return true;
}

int parse_to_name(const char *s, char *out, size_t out_size)
{
	size_t limit, n = 0, i;
	bool dash = false;

	if (!s || !out || out_size < 2)
		return -EINVAL;
	limit = out_size < NAME_MAX_BYTES ? out_size - 1 : NAME_MAX_BYTES - 1;
	for (i = 0; s[i] && n < limit; i++) {
		char c = (char)tolower((unsigned char)s[i]);

		if ((unsigned char)s[i] >= 0x80 || !parse_is_name_char(c) || c == '-') {
			dash = true;
			continue;
		}
		if (n == 0 && (c == '.' || c == '_'))
			continue;
		if (dash && n > 0) {
			out[n++] = '-';
			if (n >= limit)
				break;
		}
		dash = false;
		out[n++] = c;
	}
	while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '.' || out[n - 1] == '_'))
		n--;
	out[n] = '\0';
	return n ? 0 : -EINVAL;
}
