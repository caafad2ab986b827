/*
 * ctl_cache.c - the control files of the cache (SPEC §6): download,
 * evict, and the read-only jobs.
 *
 *   download FAMILY/VARIANT/QUANT   checked (registered, files openable,
 *                                   online or cached), then queued as a job
 *                                   that fetches, verifies and pins every
 *                                   file of the quant; write() returns once
 *                                   queued
 *   evict FAMILY/VARIANT/QUANT      drops the quant's cached bytes and its
 *                                   pin, cancelling its download; EBUSY
 *                                   while a file of it is open
 *   jobs                            one line per job (cache/jobs.c)
 *
 * All lines of one write are checked before any is carried out.  Neither
 * changes the registry, so neither takes ctl_lock: a download's HEADs
 * must not hold up other control files.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

#define CTL_TARGET_MAX (3 * NAME_MAX_BYTES)   /* FAMILY/VARIANT/QUANT incl. NUL */

/* The quant a request names in s: 0, or -ENOENT/-EINVAL with d. */
static int ctl_cache_quant(const struct registry_snapshot *s, const char *verb, const struct control_request *r,
			   const struct model_variant **v_out, const struct model_quant **q_out, struct diag *d)
{
	const struct model_variant *v;
	const struct model_quant *q;

	if (r->target != CONTROL_TARGET_MODEL || !r->quant[0])
		return diag_fail(d, -EINVAL, "%s: give FAMILY/VARIANT/QUANT, as in models.tsv", verb);
	v = registry_find_variant(s, r->family, r->variant);
	q = v ? registry_find_quant(v, r->quant) : NULL;
	if (!q)
		return diag_fail(d, -ENOENT, "%s: '%s/%s/%s' is not registered; see models.tsv", verb, r->family,
				 r->variant, r->quant);
	*v_out = v;
	*q_out = q;
	return 0;
}

struct blob_source *ctl_cache_sources(const struct model_variant *v, const struct model_quant *q)
{
	struct blob_source *src = calloc(q->n_files ? q->n_files : 1, sizeof(*src));
	size_t i;

	if (!src)
		return NULL;
	for (i = 0; i < q->n_files; i++) {
		src[i].repo_id = v->repo_id;
		src[i].revision = v->revision;
		src[i].path = q->files[i].upstream;
		src[i].size_bytes = q->files[i].size_bytes;
		src[i].sha256 = q->files[i].sha256;
	}
	return src;
}

/* Runs fn on every request of one write, after checking them all. */
static int ctl_cache_each(struct fs_ctx *ctx, enum control_verb verb, const char *buf, size_t len,
			  int (*fn)(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
				    struct diag *d),
			  struct diag *d)
{
	const char *name = parse_control_verb_name(verb);
	const struct model_variant *v = NULL;
	const struct model_quant *q = NULL;
	struct control_request *reqs;
	struct registry_snapshot *s;
	ssize_t n;
	size_t i;
	int pass, rc;

	n = parse_control_text(verb, buf, len, ctx->mo ? ctx->mo->endpoint : NULL, &reqs, d);
	if (n <= 0)
		return (int)n;
	if (!ctx->blobs || !ctx->jobs) {
		free(reqs);
		return diag_fail(d, -EIO, "%s: the cache is not available in this mount; see the log", name);
	}
	rc = registry_snapshot_get(ctx->reg, &s);
	if (rc) {
		free(reqs);
		return diag_fail(d, rc, "%s: cannot read the registry: %s", name, strerror(-rc));
	}
	for (pass = 0; pass < 2 && !rc; pass++) {
		for (i = 0; i < (size_t)n && !rc; i++) {
			rc = ctl_cache_quant(s, name, &reqs[i], &v, &q, d);
			if (rc == 0 && pass == 1)
				rc = fn(ctx, v, q, d);
		}
	}
	registry_snapshot_put(ctx->reg, s);
	free(reqs);
	return rc;
}

static int ctl_download_one(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
			    struct diag *d)
{
	char target[CTL_TARGET_MAX];
	struct blob_source *src;
	struct diag d2;
	int rc;

	snprintf(target, sizeof(target), "%s/%s/%s", v->family, v->variant, q->name);
	if (fs_variant_is_local(v)) {
		log_msg(LOG_INFO, "download: '%s' is a local file; nothing to download", target);
		return 0;
	}
	src = ctl_cache_sources(v, q);
	if (!src)
		return -ENOMEM;
	diag_init(&d2);
	rc = job_download(ctx->jobs, target, src, q->n_files, NULL, &d2);
	free(src);
	if (rc)
		return diag_fail(d, rc, "download: '%s': %s", target, d2.msg[0] ? d2.msg : strerror(-rc));
	return 0;
}

static int ctl_evict_one(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
			 struct diag *d)
{
	char target[CTL_TARGET_MAX];
	struct blob_source *src;
	struct diag d2;
	bool linked = false;
	size_t i;
	int rc = 0;

	snprintf(target, sizeof(target), "%s/%s/%s", v->family, v->variant, q->name);
	if (fs_variant_is_local(v)) {
		log_msg(LOG_INFO, "evict: '%s' is a local file, not a cached copy; nothing to evict", target);
		return 0;
	}
	src = ctl_cache_sources(v, q);
	if (!src)
		return -ENOMEM;
	for (i = 0; i < q->n_files && !linked; i++)
		linked = fs_model_is_link(ctx, v, q, &q->files[i]);
	for (i = 0; i < q->n_files && !rc; i++) {
		diag_init(&d2);
		rc = blob_store_evict(ctx->blobs, &src[i], &d2);
		if (rc)
			diag_fail(d, rc, "evict: '%s': %s", target, d2.msg[0] ? d2.msg : strerror(-rc));
	}
	free(src);
	if (rc == 0) {
		job_cancel_target(ctx->jobs, target);
		/* the kernel's pages of the files go too (none is open, so no
		 * read is in flight): evict means the bytes are gone */
		for (i = 0; i < q->n_files; i++) {
			char path[4 * NAME_MAX_BYTES];

			snprintf(path, sizeof(path), "/%s/%s", target, q->files[i].name);
			fs_invalidate(ctx, path);
		}
		if (linked)
			fs_entry_expire_wait();
		log_msg(LOG_INFO, "evicted '%s' from the cache", target);
	}
	return rc;
}

int ctl_download_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	return ctl_cache_each(ctx, CONTROL_DOWNLOAD, buf, len, ctl_download_one, d);
}

int ctl_evict_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	return ctl_cache_each(ctx, CONTROL_EVICT, buf, len, ctl_evict_one, d);
}

int ctl_jobs_render(struct fs_ctx *ctx, struct sbuf *out)
{
	return job_list_render(ctx->jobs, out);
}
