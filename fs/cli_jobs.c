/*
 * cli_jobs.c - `modelfs jobs MOUNTPOINT [--follow]` (SPEC §1): the jobs of
 * a mount drawn as progress bars.
 *
 * The command is a reader of MOUNTPOINT/.control/jobs (SPEC §4) and
 * nothing else: it needs no registry, no FUSE session and no rights beyond
 * reading that file, so it works for any user who can see the mount.  The
 * file is outside data to it (another version of modelfs, or a directory
 * that only looks like a mount, may have written it), so it is parsed
 * strictly by cli_jobs_parse(): the header must be SPEC §4's, every row
 * must have its ten cells with numbers in range, and a row that does not
 * is left out with a warning on stderr rather than drawn wrongly.  Every
 * text cell is cleaned before it reaches the terminal: control bytes
 * (ESC above all, which could move the cursor or retitle the window),
 * C1 controls and malformed UTF-8 are shown as '?'.
 *
 * One line per job:
 *
 *    3  download   llama/llama-3.1-8b/q4_k_m  [#######-------]  48.2%  2.3 GiB/4.6 GiB  81.4 MB/s  0:00:29  running
 *
 * id, kind, target, a bar, percent, sizes done/total (binary units), rate
 * in MB/s, ETA (h:mm:ss), then the state and message.  On a terminal the
 * line is fitted to its width (TIOCGWINSZ; 80 when unknown): the bar
 * takes what the other cells leave, between CLI_JOBS_BAR_MIN and
 * CLI_JOBS_BAR_MAX cells; when even the shortest bar does not fit, the
 * gaps narrow, a long target is cut in its middle (its quant stays
 * visible), and the sizes, kind, ETA and rate columns go, in that order;
 * a message is cut with "..." and a line never reaches the last column,
 * so no line wraps and --follow can redraw in place: it moves the cursor
 * up over the previous block (ESC [ N A), clears and rewrites each line
 * (ESC [ 2 K), and clears what is left below (ESC [ J).  Without a
 * terminal the lines are plain (80 columns for the bar, nothing cut) and
 * --follow prints a new block, after a blank line, only when the text
 * changed.  --follow reads the file every CLI_JOBS_FOLLOW_MS and stops
 * once no job is queued or running; Ctrl-C (or SIGTERM) stops it too,
 * cleanly, with the last block left on the screen.
 *
 * Exit status: 0; 1 when MOUNTPOINT is not a modelfs mount (no
 * .control/jobs, or a file that is not one), cannot be read, or stops
 * being mounted while followed; 2 for bad usage.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

#define CLI_JOBS_FILE_BYTES  (4u << 20)   /* .control/jobs read at most */
#define CLI_JOBS_MAX_ROWS    10000        /* rows parsed; more are left out */
#define CLI_JOBS_MAX_WARN    20           /* warnings kept per read */
#define CLI_JOBS_COLS        80           /* width without a terminal */
#define CLI_JOBS_BAR_MIN     10
#define CLI_JOBS_BAR_MAX     50
#define CLI_JOBS_TARGET_MIN  16           /* a target is cut no shorter than this on a terminal */
#define CLI_JOBS_FOLLOW_MS   500
#define CLI_JOBS_FIELDS      10

static const char cli_jobs_usage[] = "usage: modelfs jobs MOUNTPOINT [--follow]\n";

static const char cli_jobs_header[] =
	"id\tkind\ttarget\tstate\tprogress\tdone_bytes\ttotal_bytes\trate_bps\teta_s\tmessage";

static const char *const cli_jobs_states[] = { "queued", "running", "done", "failed", "cancelled" };

static volatile sig_atomic_t cli_jobs_stop;

static void cli_jobs_on_signal(int sig)
{
	(void)sig;
	cli_jobs_stop = 1;
}

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

static const char *cli_jobs_state(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(cli_jobs_states) / sizeof(cli_jobs_states[0]); i++)
		if (strcmp(s, cli_jobs_states[i]) == 0)
			return cli_jobs_states[i];
	return NULL;
}

static bool cli_jobs_opt_u64(const char *s, bool *has, uint64_t *out)
{
	*has = false;
	*out = 0;
	if (!*s)
		return true;
	*has = true;
	return parse_u64(s, out) == 0;
}

/* Checks the ten cells of one row into *r; NULL, or what is wrong. */
static const char *cli_jobs_row(char **f, struct cli_job_row *r)
{
	memset(r, 0, sizeof(*r));
	if (parse_u64(f[0], &r->id) != 0 || r->id == 0)
		return "id is not a positive number";
	if (!*f[1])
		return "kind is empty";
	if (!*f[2])
		return "target is empty";
	r->kind = f[1];
	r->target = f[2];
	r->state = cli_jobs_state(f[3]);
	if (!r->state)
		return "unknown state";
	if (parse_double(f[4], &r->progress) != 0 || r->progress < 0 || r->progress > 100)
		return "progress is not a number from 0 to 100";
	if (parse_u64(f[5], &r->done_bytes) != 0 || parse_u64(f[6], &r->total_bytes) != 0)
		return "done_bytes or total_bytes is not a number";
	if (!cli_jobs_opt_u64(f[7], &r->has_rate, &r->rate_bps))
		return "rate_bps is not a number";
	if (!cli_jobs_opt_u64(f[8], &r->has_eta, &r->eta_s))
		return "eta_s is not a number";
	r->message = f[9];
	return NULL;
}

static void cli_jobs_warn(struct sbuf *warn, unsigned *n_warn, size_t line, const char *why)
{
	if (!warn)
		return;
	if (++*n_warn == CLI_JOBS_MAX_WARN + 1)
		sbuf_addstr(warn, "further malformed lines not shown\n");
	if (*n_warn > CLI_JOBS_MAX_WARN)
		return;
	sbuf_addf(warn, "line %zu of .control/jobs: %s; line skipped\n", line, why);
}

ssize_t cli_jobs_parse(char *text, size_t len, struct cli_job_row **rows_out, struct sbuf *warn)
{
	struct cli_job_row *rows = NULL;
	char *p = text, *end = text + len;
	size_t n = 0, cap = 0, lineno = 0;
	unsigned n_warn = 0;
	bool header = true;

	*rows_out = NULL;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol = nl ? nl : end;
		char *f[CLI_JOBS_FIELDS];
		struct cli_job_row r;
		const char *why;
		size_t nf = 0;
		char *q;

		lineno++;
		if (memchr(p, '\0', (size_t)(eol - p))) {
			if (header)
				goto out_not_jobs;
			cli_jobs_warn(warn, &n_warn, lineno, "it holds a NUL byte");
			p = eol + (nl != NULL);
			continue;
		}
		*eol = '\0';
		if (header) {
			if (strcmp(p, cli_jobs_header) != 0)
				goto out_not_jobs;
			header = false;
			p = eol + (nl != NULL);
			continue;
		}
		f[nf++] = p;
		for (q = p; *q; q++) {
			if (*q != '\t')
				continue;
			*q = '\0';
			if (nf == CLI_JOBS_FIELDS) {
				nf++;
				break;
			}
			f[nf++] = q + 1;
		}
		p = eol + (nl != NULL);
		if (nf != CLI_JOBS_FIELDS) {
			char why_buf[64];

			if (nf > CLI_JOBS_FIELDS)
				snprintf(why_buf, sizeof(why_buf), "more than %d tab-separated fields", CLI_JOBS_FIELDS);
			else
				snprintf(why_buf, sizeof(why_buf), "%zu tab-separated field%s, not %d", nf,
					 nf == 1 ? "" : "s", CLI_JOBS_FIELDS);
			cli_jobs_warn(warn, &n_warn, lineno, why_buf);
			continue;
		}
		why = cli_jobs_row(f, &r);
		if (why) {
			cli_jobs_warn(warn, &n_warn, lineno, why);
			continue;
		}
		if (n == CLI_JOBS_MAX_ROWS) {
			cli_jobs_warn(warn, &n_warn, lineno, "too many jobs");
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct cli_job_row *nr = realloc(rows, ncap * sizeof(*rows));

			if (!nr) {
				free(rows);
				return -ENOMEM;
			}
			rows = nr;
			cap = ncap;
		}
		rows[n++] = r;
	}
	if (header)
		goto out_not_jobs;
	*rows_out = rows;
	return (ssize_t)n;

out_not_jobs:
	free(rows);
	return -EBADMSG;
}

/* ------------------------------------------------------------------------
 * Drawing
 * ------------------------------------------------------------------------ */

/* Bytes of the UTF-8 sequence at s (len bytes left) that is shown as it
 * is, or 0 when it must be shown as '?': control bytes, C1 controls,
 * malformed, overlong or surrogate sequences. */
static size_t cli_jobs_utf8(const unsigned char *s, size_t len)
{
	unsigned cp, need, i;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < need + 1)
		return 0;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < 0xa0 || (need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/* How cli_jobs_put() places a text. */
enum cli_jobs_put_flags {
	CLI_PUT_RIGHT = 1,           /* pad on the left */
	CLI_PUT_MIDDLE = 2,          /* cut in the middle, keeping the end (a target's quant) */
};

/* Appends s cleaned for a terminal, cut to at most max columns (one per
 * code point; "..." marks the cut; max 0: never cut), padded with spaces
 * to width.  Returns the columns used. */
static size_t cli_jobs_put(struct sbuf *out, const char *s, size_t width, size_t max, unsigned flags)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i, col, total = 0, head, tail, cols;
	struct sbuf tmp;

	for (i = 0; i < len; total++) {
		size_t k = cli_jobs_utf8(u + i, len - i);

		i += k ? k : 1;
	}
	head = total;
	tail = 0;
	if (max && total > max) {
		size_t keep = max > 3 ? max - 3 : 0;

		head = flags & CLI_PUT_MIDDLE ? keep / 3 : keep;
		tail = keep - head;
	}
	sbuf_init(&tmp, CLI_JOBS_FILE_BYTES);
	for (i = 0, col = 0; i < len; col++) {
		size_t k = cli_jobs_utf8(u + i, len - i);

		if (col == head && tail + head < total)
			sbuf_add(&tmp, "...", max < 3 ? max : 3);
		if (col < head || col >= total - tail) {
			if (k)
				sbuf_add(&tmp, s + i, k);
			else
				sbuf_addch(&tmp, '?');
		}
		i += k ? k : 1;
	}
	cols = head + tail < total ? head + tail + (max < 3 ? max : 3) : total;
	if (flags & CLI_PUT_RIGHT)
		for (i = cols; i < width; i++)
			sbuf_addch(out, ' ');
	if (tmp.len)
		sbuf_add(out, tmp.buf, tmp.len);
	sbuf_release(&tmp);
	if (!(flags & CLI_PUT_RIGHT))
		for (i = cols; i < width; i++)
			sbuf_addch(out, ' ');
	return cols > width ? cols : width;
}

/* Columns a cleaned s takes, uncut. */
static size_t cli_jobs_width(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n = 0;

	while (i < len) {
		size_t k = cli_jobs_utf8(u + i, len - i);

		i += k ? k : 1;
		n++;
	}
	return n;
}

static void cli_jobs_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* The cells of one row that are made of numbers. */
struct cli_jobs_cells {
	char id[24];
	char pct[16];
	char sizes[48];
	char rate[32];
	char eta[32];
};

static void cli_jobs_cells(const struct cli_job_row *r, struct cli_jobs_cells *c)
{
	bool running = strcmp(r->state, "running") == 0;
	char done[20], total[20];

	snprintf(c->id, sizeof(c->id), "%llu", (unsigned long long)r->id);
	snprintf(c->pct, sizeof(c->pct), "%.1f%%", r->progress);
	if (r->total_bytes) {
		cli_jobs_size(r->done_bytes, done, sizeof(done));
		cli_jobs_size(r->total_bytes, total, sizeof(total));
		snprintf(c->sizes, sizeof(c->sizes), "%s/%s", done, total);
	} else {
		snprintf(c->sizes, sizeof(c->sizes), "-");
	}
	if (running && r->has_rate && r->rate_bps)
		snprintf(c->rate, sizeof(c->rate), "%.1f MB/s", (double)r->rate_bps / 1e6);
	else
		snprintf(c->rate, sizeof(c->rate), "-");
	if (running && r->has_eta && r->has_rate && r->rate_bps)
		snprintf(c->eta, sizeof(c->eta), "%llu:%02u:%02u", (unsigned long long)(r->eta_s / 3600),
			 (unsigned)(r->eta_s / 60 % 60), (unsigned)(r->eta_s % 60));
	else
		snprintf(c->eta, sizeof(c->eta), "-");
}

static size_t cli_jobs_max(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* The state and message cell, cut to max columns (0: never) without
 * cutting the state itself. */
static void cli_jobs_put_state(struct sbuf *out, const struct cli_job_row *r, size_t max)
{
	size_t slen = strlen(r->state);
	struct sbuf sm;

	if (!r->message[0] || (max && max < slen + 2 + 4)) {
		cli_jobs_put(out, r->state, 0, 0, 0);
		return;
	}
	sbuf_init(&sm, CLI_JOBS_FILE_BYTES);
	sbuf_addf(&sm, "%s: %s", r->state, r->message);
	if (sm.err == 0)
		cli_jobs_put(out, sm.buf, 0, max, 0);
	sbuf_release(&sm);
}

/* Column widths of one drawing. */
struct cli_jobs_layout {
	size_t id, kind, target, pct, sizes, rate, eta, state;   /* 0: column left out */
	size_t sep;                  /* spaces between cells */
	size_t bar;                  /* cells of the bar, brackets not counted */
};

/* Columns the line takes without the bar: cells, gaps, brackets, and one
 * spare so that no line touches the right margin. */
static size_t cli_jobs_fixed(const struct cli_jobs_layout *l)
{
	const size_t w[] = { l->id, l->kind, l->target, l->pct, l->sizes, l->rate, l->eta, l->state };
	size_t i, sum = 0, cells = 1;

	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		sum += w[i];
		cells += w[i] != 0;
	}
	return sum + (cells - 1) * l->sep + 2 + 1;
}

/* Fits the layout to cols on a terminal: the gaps shrink first, then the
 * target (to 24, then CLI_JOBS_TARGET_MIN columns), and the sizes, kind,
 * ETA and rate columns go, in that order, until the bar's minimum fits. */
static void cli_jobs_fit(struct cli_jobs_layout *l, size_t cols)
{
	size_t step;

	for (step = 0; step < 8 && cli_jobs_fixed(l) + CLI_JOBS_BAR_MIN > cols; step++) {
		size_t over = cli_jobs_fixed(l) + CLI_JOBS_BAR_MIN - cols;
		size_t floor_w = step < 3 ? 24 : CLI_JOBS_TARGET_MIN;

		switch (step) {
		case 0:
			l->sep = 1;
			break;
		case 1:
		case 4:
			if (l->target > floor_w)
				l->target -= over < l->target - floor_w ? over : l->target - floor_w;
			break;
		case 2:
			l->sizes = 0;
			break;
		case 3:
			l->kind = 0;
			break;
		case 5:
			l->eta = 0;
			break;
		case 6:
			l->rate = 0;
			break;
		default:
			break;
		}
	}
}

/* Appends one cell (nothing when its width is 0) and the gap after it;
 * returns the columns used. */
static size_t cli_jobs_cell(struct sbuf *out, const char *s, size_t width, size_t max, unsigned flags,
			    size_t sep)
{
	if (!width)
		return 0;
	return cli_jobs_put(out, s, width, max, flags) + cli_jobs_put(out, "", sep, 0, 0);
}

int cli_jobs_draw(const struct cli_job_row *rows, size_t n, unsigned cols, bool tty, struct sbuf *out)
{
	struct cli_jobs_layout l;
	struct cli_jobs_cells c;
	struct sbuf line;
	size_t i, k, fixed;
	int rc = 0;

	if (!n) {
		sbuf_addstr(out, "no jobs\n");
		return out->err;
	}
	if (cols < 20)
		cols = 20;
	memset(&l, 0, sizeof(l));
	l.sep = 2;
	for (i = 0; i < n; i++) {
		cli_jobs_cells(&rows[i], &c);
		l.id = cli_jobs_max(l.id, strlen(c.id));
		l.kind = cli_jobs_max(l.kind, cli_jobs_width(rows[i].kind));
		l.target = cli_jobs_max(l.target, cli_jobs_width(rows[i].target));
		l.pct = cli_jobs_max(l.pct, strlen(c.pct));
		l.sizes = cli_jobs_max(l.sizes, strlen(c.sizes));
		l.rate = cli_jobs_max(l.rate, strlen(c.rate));
		l.eta = cli_jobs_max(l.eta, strlen(c.eta));
		l.state = cli_jobs_max(l.state, strlen(rows[i].state));
	}
	if (l.kind > 16)
		l.kind = 16;
	if (tty)
		cli_jobs_fit(&l, cols);
	fixed = cli_jobs_fixed(&l);
	l.bar = cols > fixed ? cols - fixed : 0;
	if (l.bar < CLI_JOBS_BAR_MIN)
		l.bar = CLI_JOBS_BAR_MIN;
	if (l.bar > CLI_JOBS_BAR_MAX)
		l.bar = CLI_JOBS_BAR_MAX;
	sbuf_init(&line, CLI_JOBS_FILE_BYTES);
	for (i = 0; i < n; i++) {
		const struct cli_job_row *r = &rows[i];
		size_t fill = (size_t)(r->progress / 100.0 * (double)l.bar + 0.5), used;
		struct sbuf *dst = out;

		if (tty) {
			sbuf_reset(&line);
			dst = &line;
		}
		if (fill > l.bar)
			fill = l.bar;
		cli_jobs_cells(r, &c);
		used = cli_jobs_cell(dst, c.id, l.id, 0, CLI_PUT_RIGHT, l.sep);
		used += cli_jobs_cell(dst, r->kind, l.kind, l.kind, 0, l.sep);
		used += cli_jobs_cell(dst, r->target, l.target, tty ? l.target : 0, CLI_PUT_MIDDLE, l.sep);
		sbuf_addch(dst, '[');
		for (k = 0; k < l.bar; k++)
			sbuf_addch(dst, k < fill ? '#' : '-');
		sbuf_addch(dst, ']');
		used += l.bar + 2 + cli_jobs_put(dst, "", l.sep, 0, 0);
		used += cli_jobs_cell(dst, c.pct, l.pct, 0, CLI_PUT_RIGHT, l.sep);
		used += cli_jobs_cell(dst, c.sizes, l.sizes, 0, CLI_PUT_RIGHT, l.sep);
		used += cli_jobs_cell(dst, c.rate, l.rate, 0, CLI_PUT_RIGHT, l.sep);
		used += cli_jobs_cell(dst, c.eta, l.eta, 0, CLI_PUT_RIGHT, l.sep);
		cli_jobs_put_state(dst, r, tty ? (cols > used + 1 ? cols - used - 1 : 1) : 0);
		/* a terminal line that wrapped would break the redraw */
		if (tty && line.err == 0)
			cli_jobs_put(out, line.buf ? line.buf : "", 0, cols - 1, 0);
		else if (tty)
			rc = line.err;
		sbuf_addch(out, '\n');
	}
	sbuf_release(&line);
	return rc ? rc : out->err;
}

/* ------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------ */

/* Reads path into sb (at most CLI_JOBS_FILE_BYTES). */
static int cli_jobs_read(const char *path, struct sbuf *sb)
{
	char buf[65536];
	ssize_t got;
	int fd, rc = 0;

	sbuf_reset(sb);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		got = read(fd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			break;
		}
		if (got == 0)
			break;
		rc = sbuf_add(sb, buf, (size_t)got);
		if (rc)
			break;
	}
	close(fd);
	return rc;
}

static unsigned cli_jobs_cols(bool tty)
{
	struct winsize ws;

	if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return CLI_JOBS_COLS;
}

static size_t cli_jobs_lines(const struct sbuf *sb)
{
	size_t i, n = 0;

	for (i = 0; i < sb->len; i++)
		n += sb->buf[i] == '\n';
	return n;
}

/* Prints block; on a terminal over the previous one (prev_lines high). */
static int cli_jobs_show(const struct sbuf *block, size_t prev_lines, bool tty, bool separate)
{
	const char *p = block->buf ? block->buf : "";
	const char *end = p + block->len;

	if (!tty) {
		if (separate)
			fputc('\n', stdout);
		fwrite(p, 1, block->len, stdout);
	} else {
		if (prev_lines)
			printf("\r\x1b[%zuA", prev_lines);
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

			fputs("\x1b[2K", stdout);
			fwrite(p, 1, len, stdout);
			p += len;
		}
		fputs("\x1b[J", stdout);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return -EIO;
	return 0;
}

static bool cli_jobs_active(const struct cli_job_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(rows[i].state, "queued") == 0 || strcmp(rows[i].state, "running") == 0)
			return true;
	return false;
}

/* Sleeps ms unless a signal asked to stop. */
static void cli_jobs_sleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (!cli_jobs_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Checks MOUNTPOINT and says what is wrong with it; 0 when it may be a
 * mount (.control/jobs decides). */
static int cli_jobs_check_dir(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st) != 0) {
		fprintf(stderr, "modelfs jobs: cannot access '%s': %s\n", mnt, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "modelfs jobs: '%s' is not a directory; give the mount point of a modelfs mount\n",
			mnt);
		return 1;
	}
	return 0;
}

/* The loop: read, parse, draw, until done. */
static int cli_jobs_run(const char *mnt, const char *path, bool follow)
{
	struct sbuf text, block, prev, warn, prev_warn;
	bool tty = isatty(STDOUT_FILENO) == 1;
	struct cli_job_row *rows = NULL;
	size_t prev_lines = 0;
	char empty[1] = "";
	bool shown = false;
	int status = 0, rc;
	ssize_t n;

	sbuf_init(&text, CLI_JOBS_FILE_BYTES);
	sbuf_init(&block, CAP_RENDER_BYTES);
	sbuf_init(&prev, CAP_RENDER_BYTES);
	sbuf_init(&warn, 1u << 16);
	sbuf_init(&prev_warn, 1u << 16);
	for (;;) {
		rc = cli_jobs_read(path, &text);
		if (rc && cli_jobs_stop)
			break;
		if (rc == -ENOENT || rc == -ENOTCONN) {
			if (shown)
				fprintf(stderr, "modelfs jobs: '%s' is no longer mounted\n", mnt);
			else
				fprintf(stderr, "modelfs jobs: '%s' is not a modelfs mount (it has no .control/jobs); "
					"mount one with `modelfs %s`\n", mnt, mnt);
			status = 1;
			break;
		}
		if (rc == -EFBIG) {
			fprintf(stderr, "modelfs jobs: '%s' is larger than %u bytes; is '%s' a modelfs mount?\n",
				path, CLI_JOBS_FILE_BYTES, mnt);
			status = 1;
			break;
		}
		if (rc) {
			fprintf(stderr, "modelfs jobs: cannot read '%s': %s\n", path, strerror(-rc));
			status = 1;
			break;
		}
		sbuf_reset(&warn);
		free(rows);
		n = cli_jobs_parse(text.buf ? text.buf : empty, text.len, &rows, &warn);
		if (n == -EBADMSG) {
			fprintf(stderr, "modelfs jobs: '%s' is not a modelfs jobs file (its first line is not the "
				"header of SPEC §4); is '%s' a modelfs mount of this version?\n", path, mnt);
			status = 1;
			break;
		}
		if (n < 0) {
			fprintf(stderr, "modelfs jobs: %s\n", strerror((int)-n));
			status = 1;
			break;
		}
		if (warn.len && (warn.len != prev_warn.len || memcmp(warn.buf, prev_warn.buf, warn.len) != 0)) {
			const char *p = warn.buf, *nl;

			while ((nl = strchr(p, '\n'))) {
				fprintf(stderr, "modelfs jobs: warning: %.*s\n", (int)(nl - p), p);
				p = nl + 1;
			}
			sbuf_reset(&prev_warn);
			sbuf_add(&prev_warn, warn.buf, warn.len);
		}
		sbuf_reset(&block);
		rc = cli_jobs_draw(rows, (size_t)n, cli_jobs_cols(tty), tty, &block);
		if (rc) {
			fprintf(stderr, "modelfs jobs: %s\n", strerror(-rc));
			status = 1;
			break;
		}
		if (tty || !shown || block.len != prev.len || memcmp(block.buf, prev.buf, block.len) != 0) {
			if (cli_jobs_show(&block, prev_lines, tty, shown) != 0) {
				status = 1;
				break;
			}
			prev_lines = cli_jobs_lines(&block);
			shown = true;
			sbuf_reset(&prev);
			sbuf_add(&prev, block.buf, block.len);
		}
		if (!follow || !cli_jobs_active(rows, (size_t)n) || cli_jobs_stop)
			break;
		cli_jobs_sleep(CLI_JOBS_FOLLOW_MS);
		if (cli_jobs_stop)
			break;
	}
	free(rows);
	sbuf_release(&text);
	sbuf_release(&block);
	sbuf_release(&prev);
	sbuf_release(&warn);
	sbuf_release(&prev_warn);
	return status;
}

int cli_jobs(int argc, char **argv)
{
	struct sigaction sa, old_int, old_term;
	const char *mnt = NULL;
	bool follow = false, opts_done = false;
	char *path;
	int i, status;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = true;
		} else if (!opts_done && strcmp(a, "--follow") == 0) {
			follow = true;
		} else if (!opts_done && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			fputs(cli_jobs_usage, stdout);
			return 0;
		} else if (!opts_done && a[0] == '-' && a[1]) {
			fprintf(stderr, "modelfs jobs: unknown option '%s'\n%s", a, cli_jobs_usage);
			return 2;
		} else if (!mnt) {
			mnt = a;
		} else {
			fprintf(stderr, "modelfs jobs: one mount point only ('%s' and '%s')\n%s", mnt, a,
				cli_jobs_usage);
			return 2;
		}
	}
	if (!mnt || !*mnt) {
		fprintf(stderr, "modelfs jobs: no mount point given\n%s", cli_jobs_usage);
		return 2;
	}
	status = cli_jobs_check_dir(mnt);
	if (status)
		return status;
	if (asprintf(&path, "%s/.control/jobs", mnt) < 0) {
		fprintf(stderr, "modelfs jobs: out of memory\n");
		return 1;
	}
	cli_jobs_stop = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_jobs_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	status = cli_jobs_run(mnt, path, follow);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	free(path);
	return status;
}
