/*
 * test_registry_jobs.c - the jobs table (core/registry_jobs.c): rows
 * saved, replaced and listed back (newest max, oldest first), refused
 * rows (a table of bad fields), long texts cut at a UTF-8 boundary,
 * interrupted rows, and the table trimmed to REGISTRY_JOBS_MAX.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core.h"

struct fixture {
	char dir[64];
	struct registry *reg;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct diag d;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/mf-test-regjobs-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	diag_init(&d);
	assert_int_equal(registry_open(fx->dir, &fx->reg, &d), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	registry_close(fx->reg);
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

#define MAX_ROWS 64

struct listed {
	size_t n;
	int stop_at;                 /* return 7 from the callback at this row (1-based), 0 = never */
	struct {
		int64_t id;
		char kind[32], target[64], state[16];
		double progress;
		uint64_t done_bytes, total_bytes;
		bool has_message;
		char message[REGISTRY_JOB_TEXT_MAX + 8];
		int64_t created, updated;
	} rows[MAX_ROWS];
};

static int collect(void *ctx, const struct registry_job_row *row)
{
	struct listed *l = ctx;

	assert_true(l->n < MAX_ROWS);
	l->rows[l->n].id = row->id;
	snprintf(l->rows[l->n].kind, sizeof(l->rows[0].kind), "%s", row->kind);
	snprintf(l->rows[l->n].target, sizeof(l->rows[0].target), "%s", row->target);
	snprintf(l->rows[l->n].state, sizeof(l->rows[0].state), "%s", row->state);
	l->rows[l->n].progress = row->progress;
	l->rows[l->n].done_bytes = row->done_bytes;
	l->rows[l->n].total_bytes = row->total_bytes;
	l->rows[l->n].has_message = row->message != NULL;
	snprintf(l->rows[l->n].message, sizeof(l->rows[0].message), "%s", row->message ? row->message : "");
	l->rows[l->n].created = row->created;
	l->rows[l->n].updated = row->updated;
	l->n++;
	if (l->stop_at && (int)l->n == l->stop_at)
		return 7;
	return 0;
}

static struct registry_job_row job(int64_t id, const char *state)
{
	struct registry_job_row r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.kind = "download";
	r.target = "llama/llama-3.1-8b/q4_k_m";
	r.state = state;
	r.progress = 12.5;
	r.done_bytes = 100;
	r.total_bytes = 800;
	return r;
}

static void test_save_and_list(void **state)
{
	struct fixture *fx = *state;
	struct registry_job_row r = job(1, "running");
	struct listed l;

	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	r = job(2, "queued");
	r.kind = "benchmark";
	r.message = "waiting for job 1";
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	r = job(1, "done");
	r.progress = 100;
	r.done_bytes = 800;
	r.message = "ok";
	assert_int_equal(registry_job_save(fx->reg, &r), 0);

	memset(&l, 0, sizeof(l));
	assert_int_equal(registry_job_list(fx->reg, 10, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.rows[0].id, 1);
	assert_string_equal(l.rows[0].state, "done");
	assert_string_equal(l.rows[0].kind, "download");
	assert_string_equal(l.rows[0].target, "llama/llama-3.1-8b/q4_k_m");
	assert_true(l.rows[0].progress == 100);
	assert_int_equal(l.rows[0].done_bytes, 800);
	assert_int_equal(l.rows[0].total_bytes, 800);
	assert_string_equal(l.rows[0].message, "ok");
	assert_true(l.rows[0].created > 0 && l.rows[0].updated >= l.rows[0].created);
	assert_int_equal(l.rows[1].id, 2);
	assert_string_equal(l.rows[1].kind, "benchmark");
	assert_string_equal(l.rows[1].state, "queued");
	assert_string_equal(l.rows[1].message, "waiting for job 1");

	/* the newest max rows, oldest first; a callback's code stops the list */
	r = job(5, "failed");
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(registry_job_list(fx->reg, 2, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.rows[0].id, 2);
	assert_int_equal(l.rows[1].id, 5);
	assert_false(l.rows[1].has_message);
	memset(&l, 0, sizeof(l));
	l.stop_at = 1;
	assert_int_equal(registry_job_list(fx->reg, 10, collect, &l), 7);
	assert_int_equal(l.n, 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(registry_job_list(fx->reg, 0, collect, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(registry_job_list(fx->reg, 10, NULL, NULL), -EINVAL);
}

static void test_refused_rows(void **state)
{
	struct fixture *fx = *state;
	struct registry_job_row r;
	struct listed l;
	int i;

	for (i = 0;; i++) {
		r = job(3, "running");
		switch (i) {
		case 0: r.id = 0; break;
		case 1: r.id = -4; break;
		case 2: r.kind = NULL; break;
		case 3: r.kind = ""; break;
		case 4: r.target = NULL; break;
		case 5: r.target = ""; break;
		case 6: r.state = NULL; break;
		case 7: r.state = "finished"; break;
		case 8: r.state = "RUNNING"; break;
		case 9: r.state = ""; break;
		case 10: r.progress = -0.5; break;
		case 11: r.progress = 100.01; break;
		case 12: r.progress = NAN; break;
		case 13: r.progress = INFINITY; break;
		case 14: r.done_bytes = (uint64_t)INT64_MAX + 1; break;
		case 15: r.total_bytes = UINT64_MAX; break;
		default: goto out;
		}
		assert_int_equal(registry_job_save(fx->reg, &r), -EINVAL);
	}
out:
	assert_int_equal(registry_job_save(fx->reg, NULL), -EINVAL);
	memset(&l, 0, sizeof(l));
	assert_int_equal(registry_job_list(fx->reg, 10, collect, &l), 0);
	assert_int_equal(l.n, 0);
	r = job(3, "running");
	r.done_bytes = INT64_MAX;
	r.total_bytes = INT64_MAX;
	r.progress = 0;
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
}

static void test_long_text_cut(void **state)
{
	struct fixture *fx = *state;
	struct registry_job_row r = job(1, "failed");
	char msg[REGISTRY_JOB_TEXT_MAX + 16];
	struct listed l;

	memset(msg, 'a', REGISTRY_JOB_TEXT_MAX - 1);
	/* a two-byte character across the limit is left out whole */
	memcpy(msg + REGISTRY_JOB_TEXT_MAX - 1, "\xc3\xa9tail", 7);
	r.message = msg;
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(registry_job_list(fx->reg, 10, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(strlen(l.rows[0].message), REGISTRY_JOB_TEXT_MAX - 1);
	assert_int_equal(strspn(l.rows[0].message, "a"), REGISTRY_JOB_TEXT_MAX - 1);
}

static void test_interrupt(void **state)
{
	struct fixture *fx = *state;
	static const char *const states[] = { "queued", "running", "done", "failed", "cancelled", "running" };
	struct registry_job_row r;
	struct listed l;
	size_t i;

	assert_int_equal(registry_job_interrupt(fx->reg, "interrupted"), 0);
	for (i = 0; i < 6; i++) {
		r = job((int64_t)i + 1, states[i]);
		r.message = "before";
		assert_int_equal(registry_job_save(fx->reg, &r), 0);
	}
	assert_int_equal(registry_job_interrupt(fx->reg, "interrupted: modelfs stopped while it ran"), 3);
	assert_int_equal(registry_job_interrupt(fx->reg, "again"), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(registry_job_list(fx->reg, 10, collect, &l), 0);
	assert_int_equal(l.n, 6);
	for (i = 0; i < 6; i++) {
		bool was_live = i == 0 || i == 1 || i == 5;

		assert_string_equal(l.rows[i].state, was_live ? "failed" : states[i]);
		assert_string_equal(l.rows[i].message,
				    was_live ? "interrupted: modelfs stopped while it ran" : "before");
	}
}

static void test_trimmed(void **state)
{
	struct fixture *fx = *state;
	struct registry_job_row r;
	struct listed l;

	r = job(1, "done");
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	r = job(2, "done");
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	r = job(3, "done");
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	r = job(REGISTRY_JOBS_MAX + 2, "done");
	assert_int_equal(registry_job_save(fx->reg, &r), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(registry_job_list(fx->reg, 10, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.rows[0].id, 3);
	assert_int_equal(l.rows[1].id, REGISTRY_JOBS_MAX + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_save_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_text_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trimmed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
