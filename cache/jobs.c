/*
 * jobs.c - download jobs (SPEC §6 download, §4 .control/jobs).
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
 * ETA what is left at that rate.
 *
 * States: running until every file is cached (done), or until a file has
 * stopped with an error and nothing of it is running (failed, with the
 * error as message), or until the quant is evicted (cancelled).  Jobs live
 * for the mount; the list keeps at most JOB_MAX_KEPT finished ones.
 */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_MAX_KEPT 64              /* finished jobs kept in the list */

struct job_file {
	char *repo_id, *revision, *path, *sha256;
	uint64_t size_bytes;
};

struct job {
	struct job *next;            /* newest last */
	unsigned id;
	char *target;                /* FAMILY/VARIANT/QUANT */
	struct job_file *files;
	size_t n_files;
	struct timespec started;     /* CLOCK_MONOTONIC */
	uint64_t done_at_start;      /* bytes already cached when it started */
	bool cancelled;
	bool finished;               /* done or failed, sticky */
	char final_state[16];        /* "done" or "failed" once finished */
	char message[160];
};

struct job_list {
	struct blob_store *bs;
	pthread_mutex_t lock;
	struct job *head;            /* protected by lock */
	unsigned next_id;            /* protected by lock */
};

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
	free(j->target);
	free(j);
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
	*out = jl;
	return 0;
}

void job_list_free(struct job_list *jl)
{
	struct job *j;

	if (!jl)
		return;
	while ((j = jl->head)) {
		jl->head = j->next;
		job_free(j);
	}
	pthread_mutex_destroy(&jl->lock);
	free(jl);
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

int job_download(struct job_list *jl, const char *target, const struct blob_source *files, size_t n,
		 unsigned *id_out, struct diag *d)
{
	struct blob **blobs;
	struct blob_info info;
	bool fail = false;
	struct job *j, **pp;
	size_t i;
	int rc = 0;

	if (id_out)
		*id_out = 0;
	if (!target || !n)
		return diag_fail(d, -EINVAL, "download: nothing to download");
	blobs = calloc(n, sizeof(*blobs));
	j = calloc(1, sizeof(*j));
	if (!blobs || !j) {
		free(blobs);
		free(j);
		return -ENOMEM;
	}
	j->target = strdup(target);
	j->files = calloc(n, sizeof(*j->files));
	j->n_files = n;
	if (!j->target || !j->files) {
		j->n_files = 0;
		rc = -ENOMEM;
		goto out_close;
	}
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
	pthread_mutex_lock(&jl->lock);
	j->id = jl->next_id++;
	for (pp = &jl->head; *pp; pp = &(*pp)->next)
		;
	*pp = j;
	if (id_out)
		*id_out = j->id;
	job_trim(jl);
	pthread_mutex_unlock(&jl->lock);
	j = NULL;
	log_msg(LOG_INFO, "download of '%s' started", target);

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
		if (!j->finished && !j->cancelled && strcmp(j->target, target) == 0)
			j->cancelled = true;
	pthread_mutex_unlock(&jl->lock);
}

/* Where j stands now; jl->lock held. */
static const char *job_state(struct job_list *jl, struct job *j, uint64_t *done, uint64_t *total)
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
		return j->final_state;
	if (all_cached) {
		j->finished = true;
		snprintf(j->final_state, sizeof(j->final_state), "done");
	} else if (failed) {
		j->finished = true;
		snprintf(j->final_state, sizeof(j->final_state), "failed");
		snprintf(j->message, sizeof(j->message), "%s", err == -ECANCELED ?
			 "the download stopped (evicted, or the mount restarted); write the request again" :
			 strerror(-err));
	}
	return j->finished ? j->final_state : "running";
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
		uint64_t done, total, rate = 0, eta = 0;
		const char *state = job_state(jl, j, &done, &total);
		double age = (double)(now.tv_sec - j->started.tv_sec) +
			     (double)(now.tv_nsec - j->started.tv_nsec) / 1e9;
		double progress = total ? 100.0 * (double)done / (double)total : 0;

		if (strcmp(state, "running") == 0 && age > 0 && done > j->done_at_start) {
			rate = (uint64_t)((double)(done - j->done_at_start) / age);
			eta = rate ? (total - done + rate - 1) / rate : 0;
		}
		if (strcmp(state, "done") == 0)
			progress = 100.0;
		else if (progress > 99.9)
			progress = 99.9;
		sbuf_addf(out, "%u\tdownload\t%s\t%s\t%.1f\t%llu\t%llu\t", j->id, j->target, state, progress,
			  (unsigned long long)done, (unsigned long long)total);
		if (strcmp(state, "running") == 0)
			sbuf_addf(out, "%llu\t%llu", (unsigned long long)rate, (unsigned long long)eta);
		else
			sbuf_addstr(out, "0\t0");
		sbuf_addf(out, "\t%s\n", j->message);
	}
	pthread_mutex_unlock(&jl->lock);
	return out->err;
}
