/*
 * bench.c - benchmark runs: what llama-bench printed, the command that
 * runs it, a run's JSON form, and the decode efficiency the runs calibrate
 * (SPEC §2 bench_cmd, §4 benchmark.json; issue 7).  Running the command is
 * fs/bench.c's, storing runs core/registry_bench.c's.
 *
 * The output.  llama-bench (llama.cpp tools/llama-bench) measures a model
 * in "tests": with `-p 512 -n 128` it runs a prompt-processing test of 512
 * tokens (n_prompt 512, n_gen 0, the markdown table's "pp512") and a
 * generation test of 128 tokens (n_prompt 0, n_gen 128, "tg128"), each
 * repeated -r times; `-pg` adds tests with both non-zero, `-d` a depth.
 * `-o json` prints one JSON array of test objects, opened with "[" on a
 * line of its own; `-o jsonl` prints one object per line.  Each object
 * holds some forty fields: the build (build_commit a string, build_number
 * an integer), the machine (cpu_info, gpu_info, backends), the model
 * (model_filename, model_type such as "llama 8B Q4_K - Medium", model_size
 * in bytes, model_n_params), the settings (n_batch, n_ubatch, n_threads,
 * type_k, type_v, n_gpu_layers, flash_attn ...), the test (n_prompt,
 * n_gen, n_depth, test_time) and the result: avg_ns and stddev_ns
 * (integers, one repetition's time), avg_ts and stddev_ts (reals,
 * tokens/s: (n_prompt + n_gen) / time), samples_ns and samples_ts.
 * llama-bench writes its logs to stderr, but a runner that wraps it may
 * print anything before the JSON, so lines are skipped until one starts
 * (after blanks) with '[' (an array from there, anything after it
 * ignored) or '{' (JSON lines from there: every later line starting with
 * '{' must be an object, other lines are skipped).  A log line may itself
 * start with '[' ("[info] loading") or be a JSON log record: a candidate
 * that does not parse, an array whose first element is not an object, or
 * an object with none of n_prompt, n_gen and avg_ts, is passed over, at
 * most BENCH_PARSE_ATTEMPTS of them, which bounds the work at that many
 * parses of BENCH_MAX_OUTPUT_BYTES.  What was committed to is then judged
 * strictly: one bad test fails the whole output.
 *
 * The measure.  Of several tests of one kind (several -p or -n values,
 * several models) the first one counts: bench_cmd asks one question, and
 * the first answer is the one its first value asks for.  Tests with both
 * n_prompt and n_gen non-zero, or both zero, count for neither.  Every
 * test must carry n_prompt and n_gen (integers 0..2^32-1) and avg_ts (a
 * number, 0..BENCH_MAX_TOKENS_PER_S: nothing decodes a billion tokens a
 * second, and a larger figure is a broken runner); stddev_ts may be
 * absent (0).  The build and model type are information: a wrong type
 * leaves them empty rather than failing a run that measured fine, and
 * they are kept as printable ASCII so a TSV or JSON consumer never sees a
 * control byte.
 *
 * The command.  bench_cmd is split into words on blanks; '...' and "..."
 * group (nothing escapes inside, quotes concatenate as in sh:
 * a'b c'd is one word), and {model}, {ctx}, {ngl} are replaced anywhere,
 * quoted or not, after the split, so a model path with spaces stays one
 * word.  {ctx} 0 becomes BENCH_DEFAULT_CTX; ngl UINT32_MAX ("all") becomes
 * 999, which llama.cpp reads as "every layer" (more than any model has).
 * A '{' followed by a letter opens a placeholder, which must be one of
 * the three names closed by '}': "{foo}" and an unclosed "{model" are
 * errors, because a typo would otherwise reach the runner as a file name
 * and fail there with a worse message.  Any other '{' is text, so JSON
 * arguments ('{"a":1}') and "{}" pass through.
 *
 * The JSON form.  A run is one object, both in benchmark.json and in the
 * registry row, so the two cannot drift.  Times are ISO 8601 UTC to the
 * second ("2026-11-23T10:00:00Z"), null when not yet (or outside years
 * 1970-9999); unknown quantities are null (a speed, a size of 0, a peak
 * VRAM of -1, an empty string); ngl is a number or "all".  Everything
 * round-trips exactly through bench_run_from_json() except two fields the
 * object does not hold: id (the row's) and hw.tg_efficiency (derived).
 * Strings that are not valid UTF-8 (a runner's raw output) are stored with
 * U+FFFD for each bad byte, the one change a round trip can show.
 *
 * The calibration.  A queued run records est_tg_ceiling, the decode speed
 * that bandwidth alone allows at its settings: bytes read per token (the
 * active weights plus the KV cache, split between GPU and RAM) over the
 * bandwidth of each.  Real decoding reaches a share of that, typically
 * 0.5-0.8 on a GPU and less on a CPU, and the share is a property of the
 * machine and its software more than of the model.  bench_efficiency()
 * takes, over the tested runs made on this hardware (same GPU name, both
 * bandwidths within 1%, so a profile re-entered with rounding still
 * matches but a new GPU does not), the median of measured / ceiling: one
 * run disturbed by another load moves a median little.  The result is
 * clamped to [0.05, 2]; outside it the ceiling, not the machine, is wrong
 * (a bandwidth mistyped by ten times), and the clamp keeps one bad profile
 * from making every estimate absurd.  vram_tg_speed() multiplies its
 * ceiling by it (hw_profile.tg_efficiency).
 */
#include "core.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define BENCH_PARSE_ATTEMPTS 8          /* candidate lines tried before giving up */
#define BENCH_MAX_TOKENS_PER_S 1e9      /* a larger avg_ts is a broken runner */
#define BENCH_NGL_ALL 999               /* llama.cpp: more layers than any model has */
#define BENCH_ARG_MAX_BYTES (64u << 10) /* one expanded word */
#define BENCH_EFF_MIN 0.05
#define BENCH_EFF_MAX 2.0
#define BENCH_HW_TOLERANCE 0.01         /* bandwidths this close are the same hardware */
#define BENCH_TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static const char bench_expect[] =
	"expected llama-bench's JSON: an array of tests with n_prompt, n_gen and avg_ts; pass -o json";

const char *bench_status_name(enum bench_status s)
{
	switch (s) {
	case BENCH_UNTESTED:
		return "untested";
	case BENCH_QUEUED:
		return "queued";
	case BENCH_RUNNING:
		return "running";
	case BENCH_TESTED:
		return "tested";
	case BENCH_FAILED:
		return "failed";
	}
	return "unknown";
}

/* ------------------------------------------------------------------------
 * llama-bench output
 * ------------------------------------------------------------------------ */

/* src into dst (size bytes), printable ASCII only: other bytes become '?'. */
static void bench_copy_ascii(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < size; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static int bench_get_count(const json_t *t, const char *key, size_t index, uint32_t *out,
			   struct diag *d)
{
	const json_t *v = json_object_get(t, key);
	json_int_t n;

	if (!v)
		return diag_fail(d, -EINVAL, "llama-bench test %zu has no '%s'; %s", index, key, bench_expect);
	n = json_is_integer(v) ? json_integer_value(v) : -1;
	if (n < 0 || n > (json_int_t)UINT32_MAX)
		return diag_fail(d, -EINVAL, "'%s' of llama-bench test %zu is not a token count", key, index);
	*out = (uint32_t)n;
	return 0;
}

static int bench_get_speed(const json_t *t, const char *key, size_t index, bool required,
			   double *out, struct diag *d)
{
	const json_t *v = json_object_get(t, key);
	double x;

	*out = 0;
	if (!v) {
		if (required)
			return diag_fail(d, -EINVAL, "llama-bench test %zu has no '%s'; %s", index, key,
					 bench_expect);
		return 0;
	}
	x = json_is_number(v) ? json_number_value(v) : -1;
	if (!(x >= 0 && x <= BENCH_MAX_TOKENS_PER_S))
		return diag_fail(d, -EINVAL, "'%s' of llama-bench test %zu is not a speed in tokens/s "
				 "between 0 and 1e9", key, index);
	*out = x;
	return 0;
}

/* The build and model type of the first test that names them. */
static void bench_read_info(const json_t *t, struct bench_measure *m)
{
	const json_t *commit = json_object_get(t, "build_commit");
	const json_t *number = json_object_get(t, "build_number");
	const json_t *type = json_object_get(t, "model_type");
	char build[sizeof(m->build)];

	if (!m->build[0] && (json_is_string(commit) || json_is_integer(number))) {
		if (json_is_string(commit) && json_is_integer(number))
			snprintf(build, sizeof(build), "%.40s (%" JSON_INTEGER_FORMAT ")",
				 json_string_value(commit), json_integer_value(number));
		else if (json_is_string(commit))
			snprintf(build, sizeof(build), "%s", json_string_value(commit));
		else
			snprintf(build, sizeof(build), "%" JSON_INTEGER_FORMAT, json_integer_value(number));
		bench_copy_ascii(m->build, sizeof(m->build), build);
	}
	if (!m->model_type[0] && json_is_string(type))
		bench_copy_ascii(m->model_type, sizeof(m->model_type), json_string_value(type));
}

/* One test object (index counts from 1 for messages) into m. */
static int bench_read_test(const json_t *t, size_t index, struct bench_measure *m, struct diag *d)
{
	uint32_t n_prompt = 0, n_gen = 0;
	double avg = 0, stddev = 0;
	int rc;

	if (!json_is_object(t))
		return diag_fail(d, -EINVAL, "llama-bench test %zu is not a JSON object; %s", index,
				 bench_expect);
	if ((rc = bench_get_count(t, "n_prompt", index, &n_prompt, d)) != 0 ||
	    (rc = bench_get_count(t, "n_gen", index, &n_gen, d)) != 0 ||
	    (rc = bench_get_speed(t, "avg_ts", index, true, &avg, d)) != 0 ||
	    (rc = bench_get_speed(t, "stddev_ts", index, false, &stddev, d)) != 0)
		return rc;
	if (n_prompt > 0 && n_gen == 0 && !m->has_pp) {
		m->has_pp = true;
		m->pp_tokens_per_s = avg;
		m->pp_stddev = stddev;
		m->n_prompt = n_prompt;
	} else if (n_gen > 0 && n_prompt == 0 && !m->has_tg) {
		m->has_tg = true;
		m->tg_tokens_per_s = avg;
		m->tg_stddev = stddev;
		m->n_gen = n_gen;
	}
	bench_read_info(t, m);
	return 0;
}

static int bench_finish(const struct bench_measure *m, struct bench_measure *out, struct diag *d)
{
	if (!m->has_pp && !m->has_tg)
		return diag_fail(d, -EINVAL, "llama-bench printed no prompt test (n_prompt > 0, n_gen 0) and "
				 "no generation test (n_gen > 0, n_prompt 0); run it with -p N -n N");
	*out = *m;
	return 0;
}

static int bench_read_array(const json_t *a, struct bench_measure *out, struct diag *d)
{
	struct bench_measure m;
	size_t i;
	int rc;

	memset(&m, 0, sizeof(m));
	if (json_array_size(a) == 0)
		return diag_fail(d, -EINVAL, "llama-bench printed an empty list of tests; check its -p and -n");
	for (i = 0; i < json_array_size(a); i++) {
		rc = bench_read_test(json_array_get(a, i), i + 1, &m, d);
		if (rc)
			return rc;
	}
	return bench_finish(&m, out, d);
}

/* Position of the first byte of the line after the one at pos (len when
 * it is the last), and the end of the line's content in *eol. */
static size_t bench_next_line(const char *text, size_t len, size_t pos, size_t *eol)
{
	const char *nl = memchr(text + pos, '\n', len - pos);

	*eol = nl ? (size_t)(nl - text) : len;
	return nl ? *eol + 1 : len;
}

static size_t bench_skip_blanks(const char *text, size_t pos, size_t eol)
{
	while (pos < eol && (text[pos] == ' ' || text[pos] == '\t'))
		pos++;
	return pos;
}

/* JSON lines from the object line at [pos, eol) (already parsed as first,
 * lineno its line number) to the end. */
static int bench_read_lines(const char *text, size_t len, size_t next, json_t *first, size_t lineno,
			    struct bench_measure *out, struct diag *d)
{
	struct bench_measure m;
	size_t index = 1, eol, start;
	json_error_t err;
	json_t *t;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = bench_read_test(first, index, &m, d);
	while (rc == 0 && next < len) {
		start = next;
		next = bench_next_line(text, len, start, &eol);
		lineno++;
		start = bench_skip_blanks(text, start, eol);
		if (start == eol || text[start] != '{')
			continue;
		t = json_loadb(text + start, eol - start, 0, &err);
		if (!t)
			return diag_fail(d, -EINVAL, "line %zu of llama-bench's JSON lines is malformed: %s; %s",
					 lineno, err.text, bench_expect);
		rc = bench_read_test(t, ++index, &m, d);
		json_decref(t);
	}
	return rc ? rc : bench_finish(&m, out, d);
}

int bench_parse_output(const char *text, size_t len, struct bench_measure *out, struct diag *d)
{
	char first_err[256] = "";
	size_t pos = 0, next, eol, start, lineno = 0;
	int attempts = 0, rc;
	json_error_t err;
	json_t *j;

	if (!out || (!text && len))
		return diag_fail(d, -EINVAL, "no benchmark output given");
	if (len > BENCH_MAX_OUTPUT_BYTES)
		return diag_fail(d, -E2BIG, "the runner printed more than %u MiB; llama-bench's JSON is a few KiB, "
				 "so check bench_cmd", BENCH_MAX_OUTPUT_BYTES >> 20);
	for (; pos < len && attempts < BENCH_PARSE_ATTEMPTS; pos = next) {
		next = bench_next_line(text, len, pos, &eol);
		lineno++;
		start = bench_skip_blanks(text, pos, eol);
		if (start == eol || (text[start] != '[' && text[start] != '{'))
			continue;
		attempts++;
		if (text[start] == '[')
			j = json_loadb(text + start, len - start, JSON_DISABLE_EOF_CHECK, &err);
		else
			j = json_loadb(text + start, eol - start, 0, &err);
		if (j && json_is_array(j) &&
		    (json_array_size(j) == 0 || json_is_object(json_array_get(j, 0)))) {
			rc = bench_read_array(j, out, d);
			json_decref(j);
			return rc;
		}
		if (j && json_is_object(j) && (json_object_get(j, "n_prompt") || json_object_get(j, "n_gen") ||
					       json_object_get(j, "avg_ts"))) {
			rc = bench_read_lines(text, len, next, j, lineno, out, d);
			json_decref(j);
			return rc;
		}
		if (!j && !first_err[0])
			snprintf(first_err, sizeof(first_err), "JSON on line %zu is malformed: %s", lineno,
				 err.text);
		json_decref(j);
	}
	if (first_err[0])
		return diag_fail(d, -EINVAL, "%s; %s", first_err, bench_expect);
	return diag_fail(d, -EINVAL, "no JSON in the runner's output; %s", bench_expect);
}

/* ------------------------------------------------------------------------
 * bench_cmd
 * ------------------------------------------------------------------------ */

static bool bench_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool bench_is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool bench_is_name_char(char c)
{
	return bench_is_letter(c) || (c >= '0' && c <= '9') || c == '_';
}

void bench_argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* Ends the word in sb: appends it to argv. */
static int bench_push_word(char **argv, size_t *argc, struct sbuf *sb, struct diag *d)
{
	char *w;

	if (sb->err)
		return diag_fail(d, sb->err == -ENOMEM ? -ENOMEM : -EINVAL,
				 "a word of bench_cmd expands to more than %u KiB; shorten it",
				 BENCH_ARG_MAX_BYTES >> 10);
	if (*argc == BENCH_MAX_ARGS)
		return diag_fail(d, -EINVAL, "bench_cmd has more than %d words; shorten it", BENCH_MAX_ARGS);
	w = sb->buf ? sbuf_detach(sb, NULL) : strdup("");
	if (!w)
		return -ENOMEM;
	argv[(*argc)++] = w;
	sbuf_init(sb, BENCH_ARG_MAX_BYTES);
	return 0;
}

/* The placeholder at tmpl (which is '{' then a letter) appended to sb;
 * *used: its length in tmpl. */
static int bench_expand_one(const char *tmpl, const char *model, const char *ctx, const char *ngl,
			    struct sbuf *sb, size_t *used, struct diag *d)
{
	size_t n = 1;

	*used = 1;
	while (bench_is_name_char(tmpl[n]))
		n++;
	if (tmpl[n] != '}')
		return diag_fail(d, -EINVAL, "placeholder '%.*s' in bench_cmd is not closed; "
				 "write {model}, {ctx} or {ngl}", (int)(n > 40 ? 40 : n), tmpl);
	*used = n + 1;
	if (n == 6 && memcmp(tmpl, "{model", 6) == 0) {
		if (!model)
			return diag_fail(d, -EINVAL, "no model path to put in {model}");
		sbuf_addstr(sb, model);
	} else if (n == 4 && memcmp(tmpl, "{ctx", 4) == 0) {
		sbuf_addstr(sb, ctx);
	} else if (n == 4 && memcmp(tmpl, "{ngl", 4) == 0) {
		sbuf_addstr(sb, ngl);
	} else {
		return diag_fail(d, -EINVAL, "unknown placeholder '%.*s' in bench_cmd; "
				 "known: {model}, {ctx}, {ngl}", (int)(n + 1 > 40 ? 40 : n + 1), tmpl);
	}
	return 0;
}

int bench_argv_expand(const char *tmpl, const char *model, uint64_t ctx_tokens, uint32_t ngl,
		      char ***argv_out, size_t *argc_out, struct diag *d)
{
	char ctx_s[24], ngl_s[16];
	char quote = 0;
	bool in_word = false;
	struct sbuf sb;
	size_t argc = 0, used = 1;
	char **argv;
	const char *p;
	int rc = 0;

	if (!argv_out)
		return diag_fail(d, -EINVAL, "no argv to fill");
	*argv_out = NULL;
	if (argc_out)
		*argc_out = 0;
	if (!tmpl)
		return diag_fail(d, -EINVAL, "bench_cmd is empty; give a command such as "
				 "'llama-bench -m {model} -o json'");
	if (strnlen(tmpl, CAP_LINE_BYTES + 1) > CAP_LINE_BYTES)
		return diag_fail(d, -EINVAL, "bench_cmd is longer than %u bytes; shorten it", CAP_LINE_BYTES);
	snprintf(ctx_s, sizeof(ctx_s), "%" PRIu64, ctx_tokens ? ctx_tokens : (uint64_t)BENCH_DEFAULT_CTX);
	if (ngl == UINT32_MAX)
		snprintf(ngl_s, sizeof(ngl_s), "%d", BENCH_NGL_ALL);
	else
		snprintf(ngl_s, sizeof(ngl_s), "%" PRIu32, ngl);
	argv = calloc(BENCH_MAX_ARGS + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	sbuf_init(&sb, BENCH_ARG_MAX_BYTES);
	for (p = tmpl; *p && rc == 0; p++) {
		if (!quote && bench_is_blank(*p)) {
			if (in_word)
				rc = bench_push_word(argv, &argc, &sb, d);
			in_word = false;
		} else if (!quote && (*p == '\'' || *p == '"')) {
			quote = *p;
			in_word = true;
		} else if (quote && *p == quote) {
			quote = 0;
		} else if (*p == '{' && bench_is_letter(p[1])) {
			rc = bench_expand_one(p, model, ctx_s, ngl_s, &sb, &used, d);
			p += rc ? 0 : used - 1;
			in_word = true;
		} else {
			sbuf_addch(&sb, *p);
			in_word = true;
		}
	}
	if (rc == 0 && quote)
		rc = diag_fail(d, -EINVAL, "bench_cmd has an unclosed %c quote; close it", quote);
	if (rc == 0 && in_word)
		rc = bench_push_word(argv, &argc, &sb, d);
	if (rc == 0 && argc == 0)
		rc = diag_fail(d, -EINVAL, "bench_cmd is empty; give a command such as "
			       "'llama-bench -m {model} -o json'");
	sbuf_release(&sb);
	if (rc) {
		bench_argv_free(argv);
		return rc;
	}
	*argv_out = argv;
	if (argc_out)
		*argc_out = argc;
	return 0;
}

/* ------------------------------------------------------------------------
 * runs
 * ------------------------------------------------------------------------ */

void bench_run_release(struct bench_run *r)
{
	if (!r)
		return;
	bench_argv_free(r->argv);
	free(r->raw);
	free(r->error);
	free(r->log_path);
	memset(r, 0, sizeof(*r));
}

const struct bench_run *bench_latest(const struct model_quant *q)
{
	if (!q || !q->bench || q->n_bench == 0)
		return NULL;
	return &q->bench[q->n_bench - 1];
}

const struct bench_run *bench_latest_tested(const struct model_quant *q)
{
	size_t i;

	if (!q || !q->bench)
		return NULL;
	for (i = q->n_bench; i-- > 0;)
		if (q->bench[i].status == BENCH_TESTED)
			return &q->bench[i];
	return NULL;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid;
 * the rules of RFC 3629, which jansson enforces. */
static size_t bench_utf8_seq(const unsigned char *s, size_t n)
{
	size_t want, k;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		want = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		want = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		want = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < want)
		return 0;
	for (k = 1; k < want; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((want == 3 && cp < 0x800) || (want == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return want;
}

/* s as a JSON string (null for NULL), each byte of an invalid UTF-8
 * sequence replaced by U+FFFD. */
static json_t *bench_json_str(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n, i, k;
	struct sbuf sb;
	json_t *j;

	if (!s)
		return json_null();
	n = strlen(s);
	for (i = 0; i < n; i += k)
		if ((k = bench_utf8_seq(u + i, n - i)) == 0)
			break;
	if (i == n)
		return json_stringn(s, n);
	sbuf_init(&sb, 3 * n + 1);
	for (i = 0; i < n; i += k) {
		k = bench_utf8_seq(u + i, n - i);
		if (k)
			sbuf_add(&sb, s + i, k);
		else
			sbuf_add(&sb, "\xef\xbf\xbd", 3);
		k = k ? k : 1;
	}
	j = sb.err ? NULL : json_stringn(sb.buf, sb.len);
	sbuf_release(&sb);
	return j;
}

static json_t *bench_json_text(const char *s)
{
	return s && *s ? bench_json_str(s) : json_null();
}

static json_t *bench_json_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || t > BENCH_TIME_MAX || !gmtime_r(&tt, &tm) ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return json_null();
	return json_string(buf);
}

static json_t *bench_json_u64(uint64_t v)
{
	return v == 0 || v > (uint64_t)INT64_MAX ? json_null() : json_integer((json_int_t)v);
}

static json_t *bench_json_real(double v)
{
	return v >= 0 && isfinite(v) ? json_real(v) : json_null();
}

static json_t *bench_json_hw(const struct hw_profile *hw)
{
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	bad |= json_object_set_new(o, "gpu_name",
				   bench_json_text(hw->gpu_name[0] && memchr(hw->gpu_name, '\0', sizeof(hw->gpu_name)) ?
						   hw->gpu_name : NULL));
	bad |= json_object_set_new(o, "gpu_vram_mib", bench_json_u64(hw->gpu_vram_mib));
	bad |= json_object_set_new(o, "gpu_bandwidth_gbps",
				   hw->gpu_bandwidth_gbps > 0 ? bench_json_real(hw->gpu_bandwidth_gbps) : json_null());
	bad |= json_object_set_new(o, "ram_mib", bench_json_u64(hw->ram_mib));
	bad |= json_object_set_new(o, "ram_bandwidth_gbps",
				   hw->ram_bandwidth_gbps > 0 ? bench_json_real(hw->ram_bandwidth_gbps) : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *bench_json_argv(char *const *argv)
{
	json_t *a;
	size_t i;

	if (!argv)
		return json_null();
	a = json_array();
	for (i = 0; a && argv[i]; i++) {
		if (json_array_append_new(a, bench_json_str(argv[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int bench_run_to_json(const struct bench_run *r, struct json_t **out)
{
	const struct bench_measure *m;
	json_t *o;
	int bad;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!r)
		return -EINVAL;
	m = &r->m;
	o = json_object();
	if (!o)
		return -ENOMEM;
	bad = json_object_set_new(o, "status", json_string(bench_status_name(r->status)));
	bad |= json_object_set_new(o, "queued", bench_json_time(r->queued));
	bad |= json_object_set_new(o, "started", bench_json_time(r->started));
	bad |= json_object_set_new(o, "finished", bench_json_time(r->finished));
	bad |= json_object_set_new(o, "hardware", bench_json_hw(&r->hw));
	bad |= json_object_set_new(o, "command", bench_json_argv(r->argv));
	bad |= json_object_set_new(o, "ctx", r->ctx_tokens <= (uint64_t)INT64_MAX ?
				   json_integer((json_int_t)r->ctx_tokens) : json_null());
	bad |= json_object_set_new(o, "ngl", r->ngl == UINT32_MAX ? json_string("all") :
				   json_integer((json_int_t)r->ngl));
	bad |= json_object_set_new(o, "pp_tokens_per_s", m->has_pp ? bench_json_real(m->pp_tokens_per_s) :
				   json_null());
	bad |= json_object_set_new(o, "pp_stddev", m->has_pp ? bench_json_real(m->pp_stddev) : json_null());
	bad |= json_object_set_new(o, "n_prompt", m->has_pp ? json_integer(m->n_prompt) : json_null());
	bad |= json_object_set_new(o, "tg_tokens_per_s", m->has_tg ? bench_json_real(m->tg_tokens_per_s) :
				   json_null());
	bad |= json_object_set_new(o, "tg_stddev", m->has_tg ? bench_json_real(m->tg_stddev) : json_null());
	bad |= json_object_set_new(o, "n_gen", m->has_tg ? json_integer(m->n_gen) : json_null());
	bad |= json_object_set_new(o, "build", memchr(m->build, '\0', sizeof(m->build)) ?
				   bench_json_text(m->build) : json_null());
	bad |= json_object_set_new(o, "model_type", memchr(m->model_type, '\0', sizeof(m->model_type)) ?
				   bench_json_text(m->model_type) : json_null());
	bad |= json_object_set_new(o, "peak_rss_mib", bench_json_u64(r->peak_rss_mib));
	bad |= json_object_set_new(o, "peak_vram_mib", r->peak_vram_mib >= 0 ?
				   json_integer((json_int_t)r->peak_vram_mib) : json_null());
	bad |= json_object_set_new(o, "estimate_vram_mib", bench_json_u64(r->estimate_vram_mib));
	bad |= json_object_set_new(o, "est_tg_ceiling", r->est_tg_ceiling > 0 ?
				   bench_json_real(r->est_tg_ceiling) : json_null());
	bad |= json_object_set_new(o, "raw", bench_json_str(r->raw));
	bad |= json_object_set_new(o, "error", bench_json_str(r->error));
	bad |= json_object_set_new(o, "log", bench_json_str(r->log_path));
	if (bad) {
		json_decref(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (y >= 1970). */
static int64_t bench_days(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool bench_digits(const char *s, size_t n, int64_t *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/* "YYYY-MM-DDTHH:MM:SSZ" into unix seconds; null is 0. */
static int bench_get_time(const json_t *o, const char *key, int64_t *out)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const json_t *v = json_object_get(o, key);
	int64_t y, mo, d, h, mi, s;
	const char *t;
	bool leap;

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) != 20)
		return -EINVAL;
	t = json_string_value(v);
	if (t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != 'Z' ||
	    !bench_digits(t, 4, &y) || !bench_digits(t + 5, 2, &mo) || !bench_digits(t + 8, 2, &d) ||
	    !bench_digits(t + 11, 2, &h) || !bench_digits(t + 14, 2, &mi) || !bench_digits(t + 17, 2, &s))
		return -EINVAL;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    h > 23 || mi > 59 || s > 59)
		return -EINVAL;
	*out = bench_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	return 0;
}

/* An integer 0..max, null (or absent) giving null_value. */
static int bench_get_int(const json_t *o, const char *key, uint64_t max, uint64_t null_value,
			 uint64_t *out)
{
	const json_t *v = json_object_get(o, key);
	json_int_t n;

	*out = null_value;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -EINVAL;
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max)
		return -EINVAL;
	*out = (uint64_t)n;
	return 0;
}

/* A finite number >= 0; null (or absent) is 0 with *present false. */
static int bench_get_real(const json_t *o, const char *key, double *out, bool *present)
{
	const json_t *v = json_object_get(o, key);
	double x;

	*out = 0;
	if (present)
		*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return -EINVAL;
	x = json_number_value(v);
	if (!(x >= 0) || !isfinite(x))
		return -EINVAL;
	*out = x;
	if (present)
		*present = true;
	return 0;
}

/* A string into a fixed buffer; null is "".  -EINVAL when it does not fit
 * or holds a NUL. */
static int bench_get_fixed(const json_t *o, const char *key, char *buf, size_t size)
{
	const json_t *v = json_object_get(o, key);
	size_t n;

	buf[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	n = json_string_length(v);
	if (n >= size || strlen(json_string_value(v)) != n)
		return -EINVAL;
	memcpy(buf, json_string_value(v), n + 1);
	return 0;
}

/* A string as a new copy; null is NULL. */
static int bench_get_dup(const json_t *o, const char *key, char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return -EINVAL;
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

static int bench_get_hw(const json_t *o, struct hw_profile *hw)
{
	const json_t *h = json_object_get(o, "hardware");
	char line[sizeof(hw->gpu_name) + 16];
	uint64_t u;
	int rc;

	memset(hw, 0, sizeof(*hw));
	if (!h || json_is_null(h))
		return 0;
	if (!json_is_object(h))
		return -EINVAL;
	rc = bench_get_fixed(h, "gpu_name", line, sizeof(hw->gpu_name));
	if (rc == 0 && line[0]) {
		char name[sizeof(hw->gpu_name)];

		memcpy(name, line, strlen(line) + 1);
		snprintf(line, sizeof(line), "gpu_name=%s", name);
		if (hw_apply_line(hw, line, NULL) != 0 || strcmp(hw->gpu_name, name) != 0)
			rc = -EINVAL;
	}
	if (rc == 0 && (rc = bench_get_int(h, "gpu_vram_mib", INT64_MAX, 0, &u)) == 0)
		hw->gpu_vram_mib = u;
	if (rc == 0 && (rc = bench_get_int(h, "ram_mib", INT64_MAX, 0, &u)) == 0)
		hw->ram_mib = u;
	if (rc == 0)
		rc = bench_get_real(h, "gpu_bandwidth_gbps", &hw->gpu_bandwidth_gbps, NULL);
	if (rc == 0)
		rc = bench_get_real(h, "ram_bandwidth_gbps", &hw->ram_bandwidth_gbps, NULL);
	return rc;
}

static int bench_get_argv(const json_t *o, char ***out)
{
	const json_t *a = json_object_get(o, "command");
	char **argv;
	size_t i, n;

	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > BENCH_MAX_ARGS)
		return -EINVAL;
	n = json_array_size(a);
	argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const json_t *w = json_array_get(a, i);

		if (!json_is_string(w) || strlen(json_string_value(w)) != json_string_length(w)) {
			bench_argv_free(argv);
			return -EINVAL;
		}
		argv[i] = strdup(json_string_value(w));
		if (!argv[i]) {
			bench_argv_free(argv);
			return -ENOMEM;
		}
	}
	*out = argv;
	return 0;
}

static int bench_get_status(const json_t *o, enum bench_status *out)
{
	static const enum bench_status all[] = { BENCH_UNTESTED, BENCH_QUEUED, BENCH_RUNNING,
						  BENCH_TESTED, BENCH_FAILED };
	const json_t *v = json_object_get(o, "status");
	size_t i;

	if (!json_is_string(v))
		return -EINVAL;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(json_string_value(v), bench_status_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -EINVAL;
}

static int bench_get_ngl(const json_t *o, uint32_t *out)
{
	const json_t *v = json_object_get(o, "ngl");
	uint64_t n;
	int rc;

	if (json_is_string(v)) {
		if (strcmp(json_string_value(v), "all") != 0)
			return -EINVAL;
		*out = UINT32_MAX;
		return 0;
	}
	rc = bench_get_int(o, "ngl", UINT32_MAX - 1, 0, &n);
	*out = (uint32_t)n;
	return rc;
}

static int bench_get_measure(const json_t *o, struct bench_measure *m)
{
	uint64_t n;
	int rc;

	if ((rc = bench_get_real(o, "pp_tokens_per_s", &m->pp_tokens_per_s, &m->has_pp)) != 0 ||
	    (rc = bench_get_real(o, "tg_tokens_per_s", &m->tg_tokens_per_s, &m->has_tg)) != 0)
		return rc;
	if (m->has_pp) {
		if ((rc = bench_get_real(o, "pp_stddev", &m->pp_stddev, NULL)) != 0 ||
		    (rc = bench_get_int(o, "n_prompt", UINT32_MAX, 0, &n)) != 0)
			return rc;
		m->n_prompt = (uint32_t)n;
	}
	if (m->has_tg) {
		if ((rc = bench_get_real(o, "tg_stddev", &m->tg_stddev, NULL)) != 0 ||
		    (rc = bench_get_int(o, "n_gen", UINT32_MAX, 0, &n)) != 0)
			return rc;
		m->n_gen = (uint32_t)n;
	}
	if ((rc = bench_get_fixed(o, "build", m->build, sizeof(m->build))) != 0)
		return rc;
	return bench_get_fixed(o, "model_type", m->model_type, sizeof(m->model_type));
}

int bench_run_from_json(const struct json_t *o, struct bench_run *out)
{
	struct bench_run r;
	uint64_t u;
	int rc;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	if (!o || !json_is_object(o))
		return -EINVAL;
	rc = bench_get_status(o, &r.status);
	if (rc == 0)
		rc = bench_get_time(o, "queued", &r.queued);
	if (rc == 0)
		rc = bench_get_time(o, "started", &r.started);
	if (rc == 0)
		rc = bench_get_time(o, "finished", &r.finished);
	if (rc == 0)
		rc = bench_get_hw(o, &r.hw);
	if (rc == 0)
		rc = bench_get_argv(o, &r.argv);
	if (rc == 0)
		rc = bench_get_int(o, "ctx", INT64_MAX, 0, &r.ctx_tokens);
	if (rc == 0)
		rc = bench_get_ngl(o, &r.ngl);
	if (rc == 0)
		rc = bench_get_measure(o, &r.m);
	if (rc == 0)
		rc = bench_get_int(o, "peak_rss_mib", INT64_MAX, 0, &r.peak_rss_mib);
	if (rc == 0 && (rc = bench_get_int(o, "peak_vram_mib", INT64_MAX, UINT64_MAX, &u)) == 0)
		r.peak_vram_mib = u == UINT64_MAX ? -1 : (int64_t)u;
	if (rc == 0)
		rc = bench_get_int(o, "estimate_vram_mib", INT64_MAX, 0, &r.estimate_vram_mib);
	if (rc == 0)
		rc = bench_get_real(o, "est_tg_ceiling", &r.est_tg_ceiling, NULL);
	if (rc == 0)
		rc = bench_get_dup(o, "raw", &r.raw);
	if (rc == 0)
		rc = bench_get_dup(o, "error", &r.error);
	if (rc == 0)
		rc = bench_get_dup(o, "log", &r.log_path);
	if (rc) {
		bench_run_release(&r);
		return rc;
	}
	*out = r;
	return 0;
}

/* ------------------------------------------------------------------------
 * calibration
 * ------------------------------------------------------------------------ */

static bool bench_close(double a, double b)
{
	double big = fabs(a) > fabs(b) ? fabs(a) : fabs(b);

	return a == b || fabs(a - b) <= BENCH_HW_TOLERANCE * big;
}

static bool bench_hw_matches(const struct hw_profile *a, const struct hw_profile *b)
{
	return strncmp(a->gpu_name, b->gpu_name, sizeof(a->gpu_name)) == 0 &&
	       bench_close(a->gpu_bandwidth_gbps, b->gpu_bandwidth_gbps) &&
	       bench_close(a->ram_bandwidth_gbps, b->ram_bandwidth_gbps);
}

/* The run's measured / ceiling ratio, or 0 when it does not count. */
static double bench_ratio(const struct bench_run *r, const struct hw_profile *hw)
{
	double x;

	if (r->status != BENCH_TESTED || !r->m.has_tg || !(r->m.tg_tokens_per_s > 0) ||
	    !(r->est_tg_ceiling > 0) || !bench_hw_matches(&r->hw, hw))
		return 0;
	x = r->m.tg_tokens_per_s / r->est_tg_ceiling;
	return isfinite(x) && x > 0 ? x : 0;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_efficiency(const struct registry_snapshot *s, const struct hw_profile *hw)
{
	size_t i, j, k, n = 0, cap = 0;
	double *ratios, med, x;

	if (!s || !hw)
		return 0;
	for (i = 0; i < s->n_variants; i++)
		for (j = 0; j < s->variants[i].n_quants; j++)
			for (k = 0; k < s->variants[i].quants[j].n_bench; k++)
				cap += bench_ratio(&s->variants[i].quants[j].bench[k], hw) > 0;
	if (cap == 0)
		return 0;
	ratios = calloc(cap, sizeof(*ratios));
	if (!ratios)
		return 0;
	for (i = 0; i < s->n_variants; i++)
		for (j = 0; j < s->variants[i].n_quants; j++)
			for (k = 0; k < s->variants[i].quants[j].n_bench && n < cap; k++)
				if ((x = bench_ratio(&s->variants[i].quants[j].bench[k], hw)) > 0)
					ratios[n++] = x;
	qsort(ratios, n, sizeof(*ratios), bench_cmp_double);
	med = n % 2 ? ratios[n / 2] : (ratios[n / 2 - 1] + ratios[n / 2]) / 2;
	free(ratios);
	if (med < BENCH_EFF_MIN)
		return BENCH_EFF_MIN;
	return med > BENCH_EFF_MAX ? BENCH_EFF_MAX : med;
}
