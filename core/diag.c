/*
 * diag.c - the detail that travels with an error code.
 *
 * An errno says what kind of failure happened; a user who wrote a bad line
 * into .control/register also needs to know which word was wrong and what
 * to write instead.  Functions that judge outside input therefore take a
 * nullable struct diag * and leave one message there, in git's form:
 * lowercase, the subject quoted, then what to do.
 *
 * Only the first failure is kept.  A parser that fails deep inside a helper
 * and then again in its caller reports the inner, more precise, reason; the
 * outer call sees d->code already set and leaves it alone.  The message
 * lives inside the struct (DIAG_MSG_MAX bytes), so recording it never
 * allocates and cannot fail; a longer message is cut at a UTF-8 character
 * boundary.
 *
 * diag_malformed() is the verdict of a parser on bad outside data: the
 * errno is -EBADMSG, and the source file and line of the check that failed
 * go to the log at debug level, which is what a maintainer needs to find
 * which of a GGUF parser's hundred checks tripped.
 */
#include "core.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

void diag_init(struct diag *d)
{
	d->code = 0;
	d->msg[0] = '\0';
}

/* Cuts a truncated message back to the last whole UTF-8 character. */
static void diag_trim_utf8(char *msg, size_t len)
{
	size_t end = len;

	while (end > 0 && ((unsigned char)msg[end - 1] & 0xc0) == 0x80)
		end--;
	if (end > 0 && (unsigned char)msg[end - 1] >= 0xc0) {
		unsigned char lead = (unsigned char)msg[end - 1];
		size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

		if (len - (end - 1) < want)
			msg[end - 1] = '\0';
	}
}

static void diag_vrecord(struct diag *d, int code, const char *fmt, va_list ap) MF_PRINTF(3, 0);

static void diag_vrecord(struct diag *d, int code, const char *fmt, va_list ap)
{
	int n;

	if (!d || d->code)
		return;
	d->code = code;
	n = vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	if (n < 0)
		d->msg[0] = '\0';
	else if ((size_t)n >= sizeof(d->msg))
		diag_trim_utf8(d->msg, sizeof(d->msg) - 1);
}

int diag_fail(struct diag *d, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vrecord(d, code, fmt, ap);
	va_end(ap);
	return code;
}

int diag_malformed(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	const char *base = file ? strrchr(file, '/') : NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		msg[0] = '\0';
	else if ((size_t)n >= sizeof(msg))
		diag_trim_utf8(msg, sizeof(msg) - 1);
	base = base ? base + 1 : (file ? file : "?");
	log_msg(LOG_DEBUG, "malformed input at %s:%d: %s", base, line, msg);
	return diag_fail(d, -EBADMSG, "%s", msg);
}
