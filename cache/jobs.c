/*
 * jobs.c - the job list: download jobs (SPEC §6 download), jobs run by
 * someone else (benchmarks), their history across mounts, and
 * .control/jobs (SPEC §4).
 *
 * A download job is a quant's files fetched in the background: each file
 * is opened (a HEAD when its sha256 is not known), pinned, and handed to
 * blob_download(), which queues every missing chunk at low priority (the
 * store's bulk queue, behind any reader's read-ahead) and keeps the blob
 * alive until it is verified.  The job itself owns no thread and no blob
 * reference: it remembers its files, and its state, progress, rate and
 * ETA are read from the blob store when .control/jobs is rendered, so a
 * job can never disagree with the cache it describes.  The rate is the
 * average since the job started (bytes fetched by it over its age), the
 * ETA what is left at that rate.  States: running until every file is
 * cached (done), or until a file has stopped with an error and nothing of
 * it is running (failed, with the error as message), or until the quant
 * is evicted (cancelled).
 *
 * A job added with job_add() belongs to its caller (fs/bench.c runs
 * benchmarks): it starts queued, and job_set() moves it and reports its
 * progress.  When the caller gives byte counts, its rate and ETA come
 * from them as for a download, counted from the first running call that
 * gave this total (a benchmark reports "starting" without bytes, then its
 * download, whose bytes may start at what was already cached); when it
 * does not, those two cells are empty.
 *
 * History.  With a registry attached, every job is a row of the jobs
 * table (core/registry_jobs.c), keyed by its id: written when it is
 * created, when its state changes and when it finishes.  Rendering never
 * touches the database, so a download found finished while rendering is
 * only marked dirty, and written by the next call that may block (a new
 * job, a job_set, a cancel) or at job_list_free().  At attach, rows that a
 * mount which ended left queued or running are marked failed
 * ("interrupted"), and the newest JOB_MAX_KEPT rows are loaded as
 * finished jobs, listed first; new ids continue above the highest.  The
 * in-memory list keeps at most JOB_MAX_KEPT finished jobs, dropping the
 * oldest; the table keeps REGISTRY_JOBS_MAX rows.
 *
 * Locks: jl->lock protects the list and every job's fields; jl->save_lock
 * serializes writers of the table, so rows are written in the order their
 * changes were collected, and is never taken with jl->lock held.  No lock
 * of the list is held across a database call.
 *
 * Texts shown in .control/jobs (kind, target, message) are kept free of
 * tabs, line breaks and other control bytes, so every job stays one line
 * of ten cells.
 */
#include "cache.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_STATE_MAX 16                  /* bytes of a state name incl. NUL */
#define JOB_INTERRUPTED "interrupted: modelfs stopped while it ran"

struct job_file {
	char *repo_id, *revision, *path, *sha256;
	uint64_t size_bytes;
};

struct job {
	struct job *next;            /* newest last */
	unsigned id;
	char *kind;                  /* "download", "benchmark", ... */
	char *target;                /* FAMILY/VARIANT/QUANT */
	struct job_file *files;      /* download jobs only */
	size_t n_files;
	bool download;               /* state read from the blob store */
	bool history;                /* loaded from the registry: never changes */
	struct timespec started;     /* CLOCK_MONOTONIC; for job_add jobs, when it first ran */
	bool ran;                    /* job_add jobs: started is set */
	uint64_t done_at_start;      /* bytes already there when it started */
	bool cancelled;              /* download jobs: evicted */
	bool finished;               /* done, failed or cancelled, sticky for downloads */
	bool dirty;                  /* changed since the registry row was written */
	char state[JOB_STATE_MAX];   /* job_add and history jobs; downloads once finished */
	double progress;             /* job_add and history jobs: percent */
	uint64_t done_bytes;         /* job_add and history jobs */
	uint64_t total_bytes;        /* job_add and history jobs, 0 = not about bytes */
	char message[DIAG_MSG_MAX];
};

struct job_list {
	struct blob_store *bs;       /* NULL: job_add jobs only */
	struct registry *reg;        /* NULL until attached */
	pthread_mutex_t lock;
	pthread_mutex_t save_lock;   /* serializes registry writes; taken before lock */
	struct job *head;            /* protected by lock */
	unsigned next_id;            /* protected by lock */
	bool save_failed;            /* protected by save_lock: a failure was logged */
};

/* A job's row, copied out under jl->lock to be written without it. */
struct job_row_copy {
	unsigned id;
	char *kind, *target;
	char state[JOB_STATE_MAX];
	double progress;
	uint64_t done_bytes, total_bytes;
	char message[DIAG_MSG_MAX];
};

static const char *const job_states[] = { "queued", "running", "done", "failed", "cancelled" };

static bool job_state_valid(const char *s)
{
	size_t i;

	for (i = 0; s && i < sizeof(job_states) / sizeof(job_states[0]); i++)
		if (strcmp(s, job_states[i]) == 0)
			return true;
	return false;
}

static bool job_state_final(const char *s)
{
	return strcmp(s, "done") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0;
}

/* Copies s into dst, control bytes (tab, line breaks, ESC ...) made spaces. */
static void job_text_copy(char *dst, size_t size, const char *s)
{
	size_t i;

	snprintf(dst, size, "%s", s ? s : "");
	for (i = 0; dst[i]; i++)
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			dst[i] = ' ';
}

static char *job_text_dup(const char *s)
{
	size_t len = strlen(s);
	char *d = malloc(len + 1);

	if (d)
		job_text_copy(d, len + 1, s);
	return d;
}

static double job_clamp_progress(double p)
{
	if (!isfinite(p) || p < 0)
		return 0;
	return p > 100 ? 100 : p;
}

static void job_free(struct job *j)
{
	size_t i;

	for (i = 0; i < j->n_files; i++) {
		free(j->files[i].repo_id);
		free(j->files[i].revision);
		free(j->files[i].path);
		free(j->files[i].sha256);
	}
	free(j->files);
	free(j->kind);
	free(j->target);
	free(j);
}

static struct job *job_alloc(const char *kind, const char *target)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->kind = job_text_dup(kind);
	j->target = job_text_dup(target);
	if (!j->kind || !j->target) {
		job_free(j);
		return NULL;
	}
	return j;
}

int job_list_new(struct blob_store *bs, struct job_list **out)
{
	struct job_list *jl = calloc(1, sizeof(*jl));

	*out = NULL;
	if (!jl)
		return -ENOMEM;
	jl->bs = bs;
	jl->next_id = 1;
	pthread_mutex_init(&jl->lock, NULL);
	pthread_mutex_init(&jl->save_lock, NULL);
	*out = jl;
	return 0;
}

static void job_source(const struct job_file *f, struct blob_source *src)
{
	memset(src, 0, sizeof(*src));
	src->repo_id = f->repo_id;
	src->revision = f->revision;
	src->path = f->path;
	src->size_bytes = f->size_bytes;
	src->sha256 = f->sha256;
}

/* Where a download job stands now; jl->lock held.  Marks it finished (and
 * dirty) the first time it is seen done or failed. */
static const char *job_download_state(struct job_list *jl, struct job *j, uint64_t *done, uint64_t *total)
{
	bool all_cached = true, failed = false;
	struct blob_source src;
	struct blob_info info;
	int err = 0;
	size_t i;

	*done = *total = 0;
	for (i = 0; i < j->n_files; i++) {
		job_source(&j->files[i], &src);
		*total += j->files[i].size_bytes;
		if (blob_store_query(jl->bs, &src, &info) != 0) {
			all_cached = false;
			continue;
		}
		*done += info.cached_bytes;
		if (info.state != BLOB_CACHED) {
			all_cached = false;
			if (info.error || (!info.job && !j->cancelled)) {
				failed = true;
				err = info.error ? info.error : -ECANCELED;
			}
		}
	}
	if (j->cancelled)
		return "cancelled";
	if (j->finished)
		return j->state;
	if (all_cached) {
		j->finished = true;
		j->dirty = true;
		snprintf(j->state, sizeof(j->state), "done");
	} else if (failed) {
		j->finished = true;
		j->dirty = true;
		snprintf(j->state, sizeof(j->state), "failed");
		snprintf(j->message, sizeof(j->message), "%s", err == -ECANCELED ?
			 "the download stopped (evicted, or the mount restarted); write the request again" :
			 strerror(-err));
	}
	return j->finished ? j->state : "running";
}

/* State, bytes and progress of any job; jl->lock held. */
static const char *job_state(struct job_list *jl, struct job *j, uint64_t *done, uint64_t *total,
			     double *progress)
{
	const char *state;

	if (!j->download) {
		*done = j->done_bytes;
		*total = j->total_bytes;
		*progress = strcmp(j->state, "done") == 0 ? 100.0 : job_clamp_progress(j->progress);
		return j->state;
	}
	state = job_download_state(jl, j, done, total);
	*progress = *total ? 100.0 * (double)*done / (double)*total : 0;
	if (strcmp(state, "done") == 0)
		*progress = 100.0;
	else if (*progress > 99.9)
		*progress = 99.9;
	return state;
}

/* Drops finished jobs beyond JOB_MAX_KEPT, oldest first; lock held. */
static void job_trim(struct job_list *jl)
{
	struct job **pp, *j;
	size_t finished = 0;

	for (j = jl->head; j; j = j->next)
		finished += j->finished || j->cancelled;
	for (pp = &jl->head; *pp && finished > JOB_MAX_KEPT;) {
		j = *pp;
		if (j->finished || j->cancelled) {
			*pp = j->next;
			job_free(j);
			finished--;
		} else {
			pp = &j->next;
		}
	}
}

/* Gives j an id and appends it; lock held. */
static void job_link(struct job_list *jl, struct job *j)
{
	struct job **pp;

	j->id = jl->next_id++;
	for (pp = &jl->head; *pp; pp = &(*pp)->next)
		;
	*pp = j;
}

static void job_rows_free(struct job_row_copy *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(rows[i].kind);
		free(rows[i].target);
	}
	free(rows);
}

/* Copies the dirty jobs out and clears their flag; lock held.  A job
 * whose copy cannot be made stays dirty. */
static size_t job_collect(struct job_list *jl, struct job_row_copy **out)
{
	struct job_row_copy *rows;
	size_t n = 0, cap = 0;
	struct job *j;

	*out = NULL;
	for (j = jl->head; j; j = j->next)
		cap += j->dirty;
	if (!cap)
		return 0;
	rows = calloc(cap, sizeof(*rows));
	if (!rows)
		return 0;
	for (j = jl->head; j && n < cap; j = j->next) {
		struct job_row_copy *r = &rows[n];
		const char *state;

		if (!j->dirty)
			continue;
		r->kind = strdup(j->kind);
		r->target = strdup(j->target);
		if (!r->kind || !r->target) {
			free(r->kind);
			free(r->target);
			r->kind = r->target = NULL;
			continue;
		}
		state = job_state(jl, j, &r->done_bytes, &r->total_bytes, &r->progress);
		r->id = j->id;
		snprintf(r->state, sizeof(r->state), "%s", state);
		snprintf(r->message, sizeof(r->message), "%s", j->message);
		j->dirty = false;
		n++;
	}
	*out = rows;
	return n;
}

/* Writes the dirty jobs to the registry (when attached).  Never called
 * with jl->lock held; never on a read path. */
static void job_flush(struct job_list *jl)
{
	struct job_row_copy *rows;
	struct registry_job_row row;
	size_t i, n;
	int rc;

	pthread_mutex_lock(&jl->save_lock);
	if (!jl->reg) {
		pthread_mutex_unlock(&jl->save_lock);
		return;
	}
	pthread_mutex_lock(&jl->lock);
	n = job_collect(jl, &rows);
	pthread_mutex_unlock(&jl->lock);
	for (i = 0; i < n; i++) {
		memset(&row, 0, sizeof(row));
		row.id = rows[i].id;
		row.kind = rows[i].kind;
		row.target = rows[i].target;
		row.state = rows[i].state;
		row.progress = rows[i].progress;
		row.done_bytes = rows[i].done_bytes > INT64_MAX ? INT64_MAX : rows[i].done_bytes;
		row.total_bytes = rows[i].total_bytes > INT64_MAX ? INT64_MAX : rows[i].total_bytes;
		row.message = rows[i].message[0] ? rows[i].message : NULL;
		rc = registry_job_save(jl->reg, &row);
		/* a failed write loses history, never the job: logged once */
		if (rc && !jl->save_failed) {
			jl->save_failed = true;
			log_msg(LOG_WARN, "job %u ('%s') cannot be saved in the job history: %s", rows[i].id,
				rows[i].target, strerror(-rc));
		}
	}
	job_rows_free(rows, n);
	pthread_mutex_unlock(&jl->save_lock);
}

void job_list_free(struct job_list *jl)
{
	uint64_t done, total;
	double progress;
	struct job *j;

	if (!jl)
		return;
	pthread_mutex_lock(&jl->lock);
	for (j = jl->head; j; j = j->next)
		if (j->download && !j->finished && !j->cancelled)
			(void)job_state(jl, j, &done, &total, &progress);
	pthread_mutex_unlock(&jl->lock);
	job_flush(jl);
	while ((j = jl->head)) {
		jl->head = j->next;
		job_free(j);
	}
	pthread_mutex_destroy(&jl->save_lock);
	pthread_mutex_destroy(&jl->lock);
	free(jl);
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

int job_download(struct job_list *jl, const char *target, const struct blob_source *files, size_t n,
		 unsigned *id_out, struct diag *d)
{
	struct blob **blobs;
	struct blob_info info;
	bool fail = false;
	struct job *j;
	size_t i;
	int rc = 0;

	if (id_out)
		*id_out = 0;
	if (!target || !*target || !n)
		return diag_fail(d, -EINVAL, "download: nothing to download");
	if (!jl->bs)
		return diag_fail(d, -EIO, "download: '%s': no cache in this job list", target);
	blobs = calloc(n, sizeof(*blobs));
	j = job_alloc("download", target);
	if (!blobs || !j) {
		free(blobs);
		if (j)
			job_free(j);
		return -ENOMEM;
	}
	j->download = true;
	snprintf(j->state, sizeof(j->state), "running");
	j->files = calloc(n, sizeof(*j->files));
	if (!j->files) {
		rc = -ENOMEM;
		goto out_close;
	}
	j->n_files = n;
	for (i = 0; i < n; i++) {
		j->files[i].repo_id = dup_or_null(files[i].repo_id, &fail);
		j->files[i].revision = dup_or_null(files[i].revision, &fail);
		j->files[i].path = dup_or_null(files[i].path, &fail);
		j->files[i].sha256 = dup_or_null(files[i].sha256, &fail);
		j->files[i].size_bytes = files[i].size_bytes;
	}
	if (fail) {
		rc = -ENOMEM;
		goto out_close;
	}
	/* open everything first: a file that cannot be opened (offline, not
	 * on the hub) fails the request before anything is pinned */
	for (i = 0; i < n && !rc; i++)
		rc = blob_open(jl->bs, &files[i], &blobs[i], d);
	if (rc)
		goto out_close;
	for (i = 0; i < n && !rc; i++) {
		rc = blob_pin(blobs[i], true);
		if (rc == 0)
			rc = blob_download(blobs[i]);
		if (rc)
			diag_fail(d, rc, "download: cannot start '%s': %s", files[i].path, strerror(-rc));
		j->files[i].size_bytes = blob_size(blobs[i]);
	}
	if (rc)
		goto out_close;
	for (i = 0; i < n; i++) {
		if (blob_store_query(jl->bs, &files[i], &info) == 0)
			j->done_at_start += info.cached_bytes;
	}
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	j->ran = true;
	j->dirty = true;
	pthread_mutex_lock(&jl->lock);
	job_link(jl, j);
	if (id_out)
		*id_out = j->id;
	job_trim(jl);
	pthread_mutex_unlock(&jl->lock);
	j = NULL;
	log_msg(LOG_INFO, "download of '%s' started", target);
	job_flush(jl);

out_close:
	for (i = 0; i < n; i++)
		blob_close(blobs[i]);
	free(blobs);
	if (j)
		job_free(j);
	return rc;
}

void job_cancel_target(struct job_list *jl, const char *target)
{
	struct job *j;

	pthread_mutex_lock(&jl->lock);
	for (j = jl->head; j; j = j->next)
		if (j->download && !j->finished && !j->cancelled && strcmp(j->target, target) == 0) {
			j->cancelled = true;
			j->dirty = true;
		}
	pthread_mutex_unlock(&jl->lock);
	job_flush(jl);
}

int job_add(struct job_list *jl, const char *kind, const char *target, unsigned *id_out)
{
	struct job *j;

	if (id_out)
		*id_out = 0;
	if (!jl || !kind || !*kind || !target || !*target)
		return -EINVAL;
	j = job_alloc(kind, target);
	if (!j)
		return -ENOMEM;
	snprintf(j->state, sizeof(j->state), "queued");
	j->dirty = true;
	pthread_mutex_lock(&jl->lock);
	job_link(jl, j);
	if (id_out)
		*id_out = j->id;
	job_trim(jl);
	pthread_mutex_unlock(&jl->lock);
	job_flush(jl);
	return 0;
}

void job_set(struct job_list *jl, unsigned id, const char *state, double progress,
	     uint64_t done_bytes, uint64_t total_bytes, const char *message)
{
	struct job *j;
	bool changed = false;

	if (!jl || !job_state_valid(state))
		return;
	pthread_mutex_lock(&jl->lock);
	for (j = jl->head; j && j->id != id; j = j->next)
		;
	if (j && !j->download && !j->history) {
		if (strcmp(j->state, state) != 0) {
			snprintf(j->state, sizeof(j->state), "%s", state);
			changed = true;
		}
		if (strcmp(state, "running") == 0 &&
		    (!j->ran || (total_bytes && total_bytes != j->total_bytes))) {
			clock_gettime(CLOCK_MONOTONIC, &j->started);
			j->done_at_start = done_bytes;
			j->ran = true;
		}
		j->progress = job_clamp_progress(progress);
		j->done_bytes = done_bytes;
		j->total_bytes = total_bytes;
		job_text_copy(j->message, sizeof(j->message), message);
		j->finished = job_state_final(state);
		if (changed) {
			j->dirty = true;
			if (j->finished)
				job_trim(jl);
		}
	}
	pthread_mutex_unlock(&jl->lock);
	if (changed)
		job_flush(jl);
}

struct job_attach_ctx {
	struct job_list *jl;
	struct job **tail;
	unsigned max_id;
	int err;
};

static int job_attach_row(void *arg, const struct registry_job_row *row)
{
	struct job_attach_ctx *c = arg;
	struct job *j;

	if (row->id > (int64_t)(UINT_MAX / 2))
		return 0;
	j = job_alloc(row->kind, row->target);
	if (!j)
		return -ENOMEM;
	j->id = (unsigned)row->id;
	j->history = true;
	j->finished = true;
	snprintf(j->state, sizeof(j->state), "%s", row->state);
	j->progress = job_clamp_progress(row->progress);
	j->done_bytes = row->done_bytes;
	j->total_bytes = row->total_bytes;
	job_text_copy(j->message, sizeof(j->message), row->message);
	*c->tail = j;
	c->tail = &j->next;
	if (j->id > c->max_id)
		c->max_id = j->id;
	return 0;
}

int job_list_attach(struct job_list *jl, struct registry *reg)
{
	struct job_attach_ctx c;
	struct job *loaded = NULL, *j;
	int rc;

	if (!jl || !reg)
		return -EINVAL;
	pthread_mutex_lock(&jl->lock);
	rc = jl->head || jl->reg ? -EINVAL : 0;
	pthread_mutex_unlock(&jl->lock);
	if (rc)
		return rc;
	rc = registry_job_interrupt(reg, JOB_INTERRUPTED);
	if (rc < 0)
		return rc;
	if (rc > 0)
		log_msg(LOG_INFO, "%d job%s of an earlier mount marked failed (interrupted)", rc, rc == 1 ? "" : "s");
	memset(&c, 0, sizeof(c));
	c.jl = jl;
	c.tail = &loaded;
	rc = registry_job_list(reg, JOB_MAX_KEPT, job_attach_row, &c);
	if (rc) {
		while ((j = loaded)) {
			loaded = j->next;
			job_free(j);
		}
		return rc;
	}
	pthread_mutex_lock(&jl->save_lock);
	pthread_mutex_lock(&jl->lock);
	*c.tail = jl->head;
	jl->head = loaded;
	if (c.max_id >= jl->next_id)
		jl->next_id = c.max_id + 1;
	jl->reg = reg;
	pthread_mutex_unlock(&jl->lock);
	pthread_mutex_unlock(&jl->save_lock);
	return 0;
}

/* The rate and ETA cells of a job; lock held. */
static void job_render_rate(struct sbuf *out, const struct job *j, const char *state, uint64_t done,
			    uint64_t total, const struct timespec *now)
{
	uint64_t rate = 0, eta = 0;
	double age;

	if (!total && !j->download && strcmp(j->kind, "download") != 0) {
		sbuf_addstr(out, "\t");
		return;
	}
	if (strcmp(state, "running") != 0 || !j->ran) {
		sbuf_addstr(out, "0\t0");
		return;
	}
	age = (double)(now->tv_sec - j->started.tv_sec) + (double)(now->tv_nsec - j->started.tv_nsec) / 1e9;
	if (age > 0 && done > j->done_at_start) {
		rate = (uint64_t)((double)(done - j->done_at_start) / age);
		eta = rate && total > done ? (total - done + rate - 1) / rate : 0;
	}
	sbuf_addf(out, "%llu\t%llu", (unsigned long long)rate, (unsigned long long)eta);
}

int job_list_render(struct job_list *jl, struct sbuf *out)
{
	struct timespec now;
	struct job *j;

	clock_gettime(CLOCK_MONOTONIC, &now);
	sbuf_addstr(out, "id\tkind\ttarget\tstate\tprogress\tdone_bytes\ttotal_bytes\trate_bps\teta_s\tmessage\n");
	if (!jl)
		return out->err;
	pthread_mutex_lock(&jl->lock);
	for (j = jl->head; j; j = j->next) {
		uint64_t done, total;
		double progress;
		const char *state = job_state(jl, j, &done, &total, &progress);

		sbuf_addf(out, "%u\t%s\t%s\t%s\t%.1f\t%llu\t%llu\t", j->id, j->kind, j->target, state, progress,
			  (unsigned long long)done, (unsigned long long)total);
		job_render_rate(out, j, state, done, total, &now);
		sbuf_addf(out, "\t%s\n", j->message);
	}
	pthread_mutex_unlock(&jl->lock);
	return out->err;
}
