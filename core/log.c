/*
 * log.c - the process-wide log: a ring of recent lines, and stderr.
 *
 * A user of a filesystem cannot see an error message: `cat` only says
 * "Invalid argument".  So every refused request and every failed download
 * leaves one line here, and .control/log shows the ring, oldest first.  In
 * the foreground (-f) or with -d the same lines also go to stderr.
 *
 * The ring is a fixed array of LOG_RING_LINES entries (1024 lines of at most
 * LOG_LINE_MAX = 600 bytes, about 600 KiB, allocated once in BSS), so logging
 * never allocates and never fails, and a flood of errors costs constant
 * memory: the oldest lines are overwritten.  One mutex guards the ring and
 * the stderr writes, so lines from different FUSE threads never interleave.
 *
 * Each line is "2026-11-23T17:30:00Z LEVEL MESSAGE": UTC ISO-8601 time, the
 * level word (error, warn, info, debug), the message flattened to one line
 * (each run of control bytes, newlines included, becomes one space, so a
 * hostile name cannot forge a second log line) and cut at a UTF-8 character
 * boundary.  A message identical to the previous one (same level, same
 * text) is folded into it: the entry's time moves forward and it renders as
 * "MESSAGE (repeated N times)", N counting every occurrence.  On stderr the
 * first occurrence is printed at once and the folded line when a different
 * message ends the run, in the manner of syslog.
 *
 * Messages above the configured level are dropped before formatting, so a
 * debug line costs one atomic load when -d is off.  log_msg() keeps errno,
 * so it can sit between a failing call and the `return -errno` that reports
 * it.
 */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

/* "2026-11-23T17:30:00Z error " plus " (repeated 4294967295 times)\n" fit in 64 bytes */
#define LOG_MSG_BYTES (LOG_LINE_MAX - 64)
#define LOG_TIME_BYTES 32

struct log_entry {
	time_t time;                 /* last occurrence, seconds since the epoch */
	enum log_level level;
	unsigned int count;          /* occurrences folded into this entry, >= 1 */
	char msg[LOG_MSG_BYTES];     /* one line, NUL-terminated */
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_max_level = LOG_INFO;          /* atomic */
static bool log_to_stderr;                    /* protected by log_lock */
static struct log_entry log_ring[LOG_RING_LINES]; /* protected by log_lock */
static size_t log_first;                      /* index of the oldest entry; protected by log_lock */
static size_t log_count;                      /* entries in use; protected by log_lock */

static const char *const log_words[] = { "error", "warn", "info", "debug" };

void log_configure(enum log_level max_level, bool to_stderr)
{
	pthread_mutex_lock(&log_lock);
	__atomic_store_n(&log_max_level, (int)max_level, __ATOMIC_RELAXED);
	log_to_stderr = to_stderr;
	pthread_mutex_unlock(&log_lock);
}

/* Replaces each run of control bytes by one space, drops trailing spaces,
 * and cuts a truncated message at a UTF-8 character boundary. */
static void log_flatten(char *msg, bool truncated)
{
	unsigned char *r = (unsigned char *)msg, *w = r;
	bool in_run = false;

	for (; *r; r++) {
		if (*r < 0x20 || *r == 0x7f) {
			if (!in_run)
				*w++ = ' ';
			in_run = true;
			continue;
		}
		in_run = false;
		*w++ = *r;
	}
	*w = '\0';
	if (truncated) {
		size_t end = (size_t)(w - (unsigned char *)msg);

		while (end > 0 && ((unsigned char)msg[end - 1] & 0xc0) == 0x80)
			end--;
		if (end > 0 && (unsigned char)msg[end - 1] >= 0xc0) {
			unsigned char lead = (unsigned char)msg[end - 1];
			size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

			if ((size_t)(w - (unsigned char *)msg) - (end - 1) < want)
				msg[end - 1] = '\0';
		}
	}
	for (size_t len = strlen(msg); len > 0 && msg[len - 1] == ' '; len--)
		msg[len - 1] = '\0';
}

static void log_format_time(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "1970-01-01T00:00:00Z");
}

static const char *log_word(enum log_level level)
{
	return (unsigned)level <= LOG_DEBUG ? log_words[level] : "debug";
}

/* Writes an entry to stderr; caller holds log_lock. */
static void log_print_stderr(const struct log_entry *e)
{
	char when[LOG_TIME_BYTES];

	log_format_time(e->time, when, sizeof(when));
	if (e->count > 1)
		fprintf(stderr, "%s %s %s (repeated %u times)\n", when, log_word(e->level),
			e->msg, e->count);
	else
		fprintf(stderr, "%s %s %s\n", when, log_word(e->level), e->msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	int saved_errno = errno;
	char msg[LOG_MSG_BYTES];
	struct log_entry *last, *e;
	va_list ap;
	int n;

	if ((int)level > __atomic_load_n(&log_max_level, __ATOMIC_RELAXED))
		goto out_errno;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unformattable log message)");
	log_flatten(msg, n >= (int)sizeof(msg));

	pthread_mutex_lock(&log_lock);
	last = log_count ? &log_ring[(log_first + log_count - 1) % LOG_RING_LINES] : NULL;
	if (last && last->level == level && strcmp(last->msg, msg) == 0) {
		last->time = time(NULL);
		if (last->count < UINT32_MAX)
			last->count++;
		goto out_unlock;
	}
	if (last && last->count > 1 && log_to_stderr)
		log_print_stderr(last);
	if (log_count < LOG_RING_LINES) {
		e = &log_ring[(log_first + log_count) % LOG_RING_LINES];
		log_count++;
	} else {
		e = &log_ring[log_first];
		log_first = (log_first + 1) % LOG_RING_LINES;
	}
	e->time = time(NULL);
	e->level = level;
	e->count = 1;
	memcpy(e->msg, msg, sizeof(e->msg));
	if (log_to_stderr)
		log_print_stderr(e);
out_unlock:
	pthread_mutex_unlock(&log_lock);
out_errno:
	errno = saved_errno;
}

int log_render(struct sbuf *out)
{
	char when[LOG_TIME_BYTES];
	size_t i;

	pthread_mutex_lock(&log_lock);
	for (i = 0; i < log_count && !out->err; i++) {
		const struct log_entry *e = &log_ring[(log_first + i) % LOG_RING_LINES];

		log_format_time(e->time, when, sizeof(when));
		sbuf_addf(out, "%s %s %s", when, log_word(e->level), e->msg);
		if (e->count > 1)
			sbuf_addf(out, " (repeated %u times)", e->count);
		sbuf_addch(out, '\n');
	}
	pthread_mutex_unlock(&log_lock);
	return out->err;
}

void log_clear(void)
{
	pthread_mutex_lock(&log_lock);
	log_first = 0;
	log_count = 0;
	pthread_mutex_unlock(&log_lock);
}
