/*
 * fuzz_bench_output.c - libFuzzer target for what a benchmark runner
 * prints and what a benchmark row holds (core/bench.c).
 *
 * The input goes three ways.  As runner output to bench_parse_output():
 * an accepted measure must have a test of some kind, speeds in range and
 * printable ASCII strings, and a run holding it (with the input as raw)
 * must render to JSON that reads back and renders to the same text.  As
 * a bench_cmd template to bench_argv_expand(): an accepted argv has 1 to
 * BENCH_MAX_ARGS words and ends with NULL.  As a stored row to
 * bench_run_from_json(): an accepted run renders, and the rendering reads
 * back to the same rendering.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_is_ascii(const char *s, size_t size)
{
	const char *end = memchr(s, '\0', size);

	if (!end)
		return false;
	for (; s < end; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* to_json(r) dumped, from_json'd and dumped again must give the same text. */
static void fuzz_round_trip(const struct bench_run *r)
{
	struct bench_run back;
	json_t *j = NULL, *k = NULL;
	char *a, *b;

	if (bench_run_to_json(r, &j) != 0)
		abort();
	a = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = a ? json_loads(a, 0, NULL) : NULL;
	if (!j || bench_run_from_json(j, &back) != 0 || bench_run_to_json(&back, &k) != 0)
		abort();
	b = json_dumps(k, JSON_COMPACT);
	if (!b || strcmp(a, b) != 0)
		abort();
	free(a);
	free(b);
	json_decref(j);
	json_decref(k);
	bench_run_release(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct bench_measure m;
	struct bench_run r;
	char **argv;
	size_t argc;
	json_t *j;

	memset(&m, 0, sizeof(m));
	if (bench_parse_output(text, size, &m, NULL) == 0) {
		if ((!m.has_pp && !m.has_tg) || !(m.pp_tokens_per_s >= 0 && m.pp_tokens_per_s <= 1e9) ||
		    !(m.tg_tokens_per_s >= 0 && m.tg_tokens_per_s <= 1e9) || !(m.pp_stddev >= 0) ||
		    !(m.tg_stddev >= 0) || (m.has_pp && m.n_prompt == 0) || (m.has_tg && m.n_gen == 0) ||
		    !fuzz_is_ascii(m.build, sizeof(m.build)) || !fuzz_is_ascii(m.model_type, sizeof(m.model_type)))
			abort();
		memset(&r, 0, sizeof(r));
		r.status = BENCH_TESTED;
		r.peak_vram_mib = -1;
		r.m = m;
		r.raw = strndup(text, size);
		if (r.raw)
			fuzz_round_trip(&r);
		bench_run_release(&r);
	}

	if (size <= CAP_LINE_BYTES) {
		char *tmpl = strndup(text, size);

		if (tmpl && bench_argv_expand(tmpl, "/mnt/m/f/v/q/model.gguf", 0, UINT32_MAX, &argv, &argc,
					      NULL) == 0) {
			if (argc == 0 || argc > BENCH_MAX_ARGS || argv[argc] != NULL)
				abort();
			bench_argv_free(argv);
		}
		free(tmpl);
	}

	j = json_loadb(text, size, 0, NULL);
	if (j && bench_run_from_json(j, &r) == 0) {
		fuzz_round_trip(&r);
		bench_run_release(&r);
	}
	json_decref(j);
	return 0;
}
