/*
 * sbuf.c - a growable byte buffer with a mandatory cap.
 *
 * Every file the mount shows is rendered into an sbuf, and so is every
 * message built from outside data, so the buffer has two jobs beyond
 * growing: it refuses to grow past a named cap (CAP_RENDER_BYTES for a
 * rendered file, CAP_LINE_BYTES for a line), and it makes errors sticky.
 * A renderer adds hundreds of pieces; checking each add would bury the
 * format under error handling, so the first failure (-ENOMEM, or -EFBIG
 * when an add would pass the cap) is remembered in sb->err, later adds
 * return it and change nothing, and the renderer checks once at the end.
 *
 * Growth doubles the allocation, clamped to cap + 1 (the NUL), so a
 * registry.json of 40 MiB costs about 26 reallocations and at most twice
 * its size in memory.  The contents are NUL-terminated after every
 * successful add, so sb->buf can be handed to string functions directly.
 *
 * sbuf_add_json_str() writes a JSON string literal (RFC 8259 §7): quotes,
 * backslash and control bytes are escaped (the usual short forms \b \f \n
 * \r \t, \u00XX for the others), valid UTF-8 passes through unchanged, and
 * every ill-formed UTF-8 sequence (stray continuation bytes, overlong
 * forms, surrogates, code points above U+10FFFF, truncated sequences) is
 * replaced by U+FFFD, one per maximal ill-formed subpart as Unicode §3.9
 * recommends.  The output is therefore always valid JSON, whatever bytes
 * a GGUF header or a Hub reply put in the string.
 */
#include "core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SBUF_MIN_ALLOC 64

void sbuf_init(struct sbuf *sb, size_t cap)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->alloc = 0;
	sb->cap = cap;
	sb->err = 0;
}

void sbuf_release(struct sbuf *sb)
{
	free(sb->buf);
	sbuf_init(sb, sb->cap);
}

void sbuf_reset(struct sbuf *sb)
{
	sb->len = 0;
	sb->err = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

/* Makes room for extra more bytes plus the NUL; sets the sticky error. */
static int sbuf_grow(struct sbuf *sb, size_t extra)
{
	size_t need, alloc;
	char *p;

	if (sb->err)
		return sb->err;
	if (extra > sb->cap || sb->len > sb->cap - extra) {
		sb->err = -EFBIG;
		return sb->err;
	}
	need = sb->len + extra + 1;
	if (need <= sb->alloc)
		return 0;
	alloc = sb->alloc ? sb->alloc : SBUF_MIN_ALLOC;
	while (alloc < need)
		alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
	if (alloc > sb->cap + 1 && sb->cap < SIZE_MAX)
		alloc = sb->cap + 1;
	if (alloc < need)
		alloc = need;
	p = realloc(sb->buf, alloc);
	if (!p) {
		sb->err = -ENOMEM;
		return sb->err;
	}
	sb->buf = p;
	sb->alloc = alloc;
	return 0;
}

char *sbuf_detach(struct sbuf *sb, size_t *len_out)
{
	char *p;
	size_t len = sb->len;

	if (!sb->err && !sb->buf)
		sbuf_grow(sb, 0);
	if (sb->err) {
		free(sb->buf);
		p = NULL;
		len = 0;
	} else {
		p = sb->buf;
		p[sb->len] = '\0';
	}
	if (len_out)
		*len_out = len;
	sbuf_init(sb, sb->cap);
	return p;
}

int sbuf_add(struct sbuf *sb, const void *data, size_t len)
{
	int rc = sbuf_grow(sb, len);

	if (rc)
		return rc;
	if (len)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return 0;
}

int sbuf_addstr(struct sbuf *sb, const char *s)
{
	return sbuf_add(sb, s, strlen(s));
}

int sbuf_addch(struct sbuf *sb, char c)
{
	return sbuf_add(sb, &c, 1);
}

int sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n, rc;

	if (sb->err)
		return sb->err;
	room = sb->alloc > sb->len ? sb->alloc - sb->len : 0;
	va_start(ap, fmt);
	n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->err = -EINVAL;
		if (sb->buf)
			sb->buf[sb->len] = '\0';
		return sb->err;
	}
	if ((size_t)n < room) {
		if (sb->len + (size_t)n > sb->cap) {
			sb->buf[sb->len] = '\0';
			sb->err = -EFBIG;
			return sb->err;
		}
		sb->len += (size_t)n;
		return 0;
	}
	if (sb->buf)
		sb->buf[sb->len] = '\0';
	rc = sbuf_grow(sb, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
	return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes available), or 0
 * with *bad set to the length of its maximal ill-formed subpart (>= 1).
 * Table 3-7 of the Unicode Standard gives the allowed second bytes.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t want, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		want = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		want = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		want = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*bad = 1;
		return 0;
	}
	for (i = 1; i < want; i++) {
		unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xbf;

		if (i >= n || s[i] < min || s[i] > max) {
			*bad = i;
			return 0;
		}
	}
	return want;
}

int sbuf_add_json_str(struct sbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n, run = 0;

	if (!s)
		return sbuf_addstr(sb, "null");
	n = strlen(s);
	sbuf_addch(sb, '"');
	while (n) {
		size_t bad = 0, k = utf8_seq_len(p + run, n, &bad);
		unsigned char c = p[run];
		char esc[7];
		const char *rep = NULL;

		if (k == 1 && c >= 0x20 && c != '"' && c != '\\') {
			run++;
			n--;
			continue;
		}
		if (k > 1) {
			run += k;
			n -= k;
			continue;
		}
		sbuf_add(sb, p, run);
		p += run;
		run = 0;
		if (k == 0) {
			sbuf_add(sb, "\xef\xbf\xbd", 3);
			p += bad;
			n -= bad;
			continue;
		}
		switch (c) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		default:
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			esc[6] = '\0';
			rep = esc;
			break;
		}
		sbuf_addstr(sb, rep);
		p++;
		n--;
	}
	sbuf_add(sb, p, run);
	return sbuf_addch(sb, '"');
}
