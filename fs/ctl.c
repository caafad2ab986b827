/*
 * ctl.c - the control files of .control/ (SPEC §3, §6).
 *
 * A control file is a row of one table: a name, a mode, whether its
 * content changes without a registry change (then it is opened with
 * direct_io and never cached), a renderer for reads and a handler for
 * writes (download, evict and jobs are in ctl_cache.c, benchmark in
 * bench.c); ops.c and tree.c only ever see the table.
 *
 * Writes follow SPEC §6: each write() is a batch of lines carried out
 * before write() returns (a last line without a newline counts; blank
 * lines and '#' comments are skipped; the file offset is ignored, so
 * `echo`, `printf >>` and `tee` all work).  Lines are parsed by core's
 * parse_control_text(), the one grammar of SPEC §6 (also fuzzed), and all
 * of them before anything happens, so a line that does not parse fails
 * the write with EINVAL and changes nothing.  A batch is all or nothing:
 * unregister resolves every line against one registry snapshot before it
 * removes anything; register and refresh build every variant first (all
 * the network work: hub_register() writes nothing) and store them in one
 * transaction (registry_put_batch).  A failure returns the errno of SPEC
 * §6 and leaves exactly one line in .control/log, in git's form:
 * "unregister: 'x/y' is not registered; see models.tsv".
 *
 * Registration talks to the hub for seconds, and ctl_lock, which
 * serializes control writes, is never held across the network: register
 * and refresh take register_lock (one registration at a time, so two
 * cannot name their models against the same snapshot and then overwrite
 * each other), and ctl_lock only around the SQLite write.  Within one
 * batch, lines of one repo (quant=q4_k_m, then quant=q8_0) fold into one
 * variant; two repos that would get the same FAMILY/VARIANT are refused
 * with EINVAL, because each was named against a registry that did not yet
 * hold the other (written separately, the second gets "-ORG").  "refresh
 * all" re-reads what came from the hub or a local path; catalog entries
 * stay as shipped unless refreshed by name.
 *
 * Pasted pages.  Writing the whole text of a Hub model page registers its
 * model (SPEC §6), and such text is long enough that writers cut it: bash's
 * builtin echo writes through stdio in st_blksize (4 KiB) blocks, cat in
 * 128 KiB pieces, and the kernel splits at max_write.  So register holds
 * text that may be the first piece of more: text that reads as a page,
 * and text that does not parse and either stops mid-line or fills whole
 * 4 KiB blocks.  Once an open file holds text, each later write() of it is
 * added to it, and the whole is carried out at flush, that is at close(),
 * which returns the request's errno (Python's close() raises it, cat and
 * /bin/echo report it; bash's builtin echo ignores errors of close, so the
 * log line is then the only trace).  Everything else, such as lines ending
 * in a newline or `echo -n ORG/REPO`, is carried out at once and write()
 * returns the errno.
 *
 * After a change, what the kernel caches of the changed entries (their
 * attributes and pages; entries are cached for a second) is dropped with
 * fs_invalidate(): the root, registry.json, models.tsv, by-repo/ and every
 * file of the variants written or removed.  Model files whose bytes did
 * not change (same upstream path, size and sha256) are left alone, so a
 * refresh does not throw away the page cache of a model being read.
 *
 * .control/hardware is read/write: a write is applied to a copy of the
 * effective profile with hw_apply_text (all or nothing), persisted, and
 * only then made visible.  What is persisted is just what writes set,
 * kept apart from what was detected or given with -o, so that a profile
 * persisted on one boot does not freeze the RAM size detected then.
 */
#include "fs.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_int.h"

#define CTL_QUOTE_MAX    200   /* bytes of user text quoted in a message */
#define CTL_STDIO_BLOCK  4096  /* bytes: st_blksize, where stdio cuts long text */
#define CTL_PATH_MAX     1024  /* bytes of a path invalidated */

/* Text an open control file holds until flush (h->pending; protected by
 * fs_ctx.handles_lock). */
struct ctl_pending {
	struct sbuf text;      /* capped at CAP_CONTROL_WRITE_BYTES */
	int failed;            /* 0, or the -errno a write already returned: later
				  writes fail alike without another log line */
};

/* Copies s into out for quoting in a message: control bytes become '?',
 * long text is cut with "...". */
static const char *ctl_quote(const char *s, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] && n + 4 < size && i < CTL_QUOTE_MAX; i++)
		out[n++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (s[i] && n + 4 <= size) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* The hub's endpoint, so that URLs of a mirror parse like huggingface.co
 * ones. */
static const char *ctl_endpoint(const struct fs_ctx *ctx)
{
	if (ctx->hub)
		return hub_endpoint(ctx->hub);
	return ctx->mo ? ctx->mo->endpoint : NULL;
}

/* What a request names, quoted for a message. */
static const char *ctl_target(const struct control_request *r, char *out, size_t size)
{
	char text[CAP_LINE_BYTES + 2 * NAME_MAX_BYTES];

	switch (r->target) {
	case CONTROL_TARGET_REPO:
		snprintf(text, sizeof(text), "%s", r->repo_id);
		break;
	case CONTROL_TARGET_LOCAL:
		snprintf(text, sizeof(text), "%s", r->path);
		break;
	case CONTROL_TARGET_MODEL:
		snprintf(text, sizeof(text), "%s/%s%s%s", r->family, r->variant, r->quant[0] ? "/" : "",
			 r->quant);
		break;
	case CONTROL_TARGET_ALL:
		snprintf(text, sizeof(text), "all");
		break;
	}
	return ctl_quote(text, out, size);
}

/* Whether s holds word, ASCII case folded (repo ids are compared so). */
static bool ctl_mentions(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; n && *s; s++)
		if (strncasecmp(s, word, n) == 0)
			return true;
	return false;
}

/* Fills d with "WHO: MSG" from inner, naming target (quoted, nullable)
 * when the message does not, and returns code. */
static int ctl_fail_from(struct diag *d, int code, const char *who, const char *target,
			 const struct diag *inner)
{
	const char *msg = inner->msg[0] ? inner->msg : strerror(-code);
	size_t wl = strlen(who);

	if (strncmp(msg, who, wl) == 0 && msg[wl] == ':' && msg[wl + 1] == ' ')
		msg += wl + 2;
	if (target && !ctl_mentions(msg, target))
		return diag_fail(d, code, "%s: '%s': %s", who, target, msg);
	return diag_fail(d, code, "%s: %s", who, msg);
}

/* ------------------------------------------------------------------------
 * Invalidation
 * ------------------------------------------------------------------------ */
MF_PRINTF(2, 3)
static void ctl_inval(struct fs_ctx *ctx, const char *fmt, ...)
{
	char path[CTL_PATH_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(path))
		fs_invalidate(ctx, path);
}

/* The files that depend on the whole registry. */
static void ctl_inval_views(struct fs_ctx *ctx)
{
	fs_invalidate(ctx, "/");
	fs_invalidate(ctx, "/registry.json");
	fs_invalidate(ctx, "/models.tsv");
	fs_invalidate(ctx, "/by-repo");
}

static const struct model_quant *ctl_quant_of(const struct model_variant *v, const char *name)
{
	size_t i;

	for (i = 0; v && i < v->n_quants; i++)
		if (v->quants[i].name && strcmp(v->quants[i].name, name) == 0)
			return &v->quants[i];
	return NULL;
}

/* True when nv (the variant replacing v, nullable) serves the same bytes
 * as f of quant q under the same name. */
static bool ctl_file_unchanged(const struct model_variant *v, const struct model_quant *q,
			       const struct model_file *f, const struct model_variant *nv)
{
	const struct model_quant *nq = ctl_quant_of(nv, q->name);
	size_t i;

	for (i = 0; nq && i < nq->n_files; i++) {
		const struct model_file *g = &nq->files[i];

		if (strcmp(g->name, f->name) != 0)
			continue;
		if (strcmp(g->upstream, f->upstream) != 0 || g->size_bytes != f->size_bytes)
			return false;
		if (f->sha256 && g->sha256)
			return strcmp(f->sha256, g->sha256) == 0;
		return !f->sha256 && !g->sha256 && v->revision && nv->revision &&
		       strcmp(v->revision, nv->revision) == 0;
	}
	return false;
}

static void ctl_inval_quant(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
			    const struct model_variant *nv)
{
	static const char *const files[] = {
		"info.json", "status", "benchmark.json", "compare.tsv",
		"vram@ctx=4096", "vram@ctx=8192", "vram@ctx=32768", "vram@ctx=max",
	};
	size_t i;

	ctl_inval(ctx, "/%s/%s/%s", v->family, v->variant, q->name);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		ctl_inval(ctx, "/%s/%s/%s/%s", v->family, v->variant, q->name, files[i]);
	for (i = 0; i < q->n_files; i++)
		if (!ctl_file_unchanged(v, q, &q->files[i], nv))
			ctl_inval(ctx, "/%s/%s/%s/%s", v->family, v->variant, q->name, q->files[i].name);
}

/* Everything of v, which nv (nullable) replaces. */
static void ctl_inval_variant(struct fs_ctx *ctx, const struct model_variant *v, const struct model_variant *nv)
{
	static const char *const files[] = { "info.json", "architecture.json", "config.json" };
	const char *slash;
	size_t i;

	ctl_inval(ctx, "/%s", v->family);
	ctl_inval(ctx, "/%s/%s", v->family, v->variant);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		ctl_inval(ctx, "/%s/%s/%s", v->family, v->variant, files[i]);
	for (i = 0; i < v->n_quants; i++)
		ctl_inval_quant(ctx, v, &v->quants[i], nv);
	slash = v->repo_id ? strchr(v->repo_id, '/') : NULL;
	if (slash && slash > v->repo_id) {
		ctl_inval(ctx, "/by-repo/%.*s", (int)(slash - v->repo_id), v->repo_id);
		ctl_inval(ctx, "/by-repo/%s", v->repo_id);
	}
}

/* ------------------------------------------------------------------------
 * register and refresh: build every variant, then store them at once
 * ------------------------------------------------------------------------ */
static bool ctl_same_repo(const struct model_variant *a, const struct model_variant *b)
{
	return a->repo_id && b->repo_id && strcasecmp(a->repo_id, b->repo_id) == 0;
}

/* Moves the quants of from that into lacks into into, and releases from
 * (two lines of one repo in one write). */
static int ctl_fold(struct model_variant *from, struct model_variant *into)
{
	struct model_quant *q;
	size_t i;

	if (from->n_quants) {
		q = realloc(into->quants, (into->n_quants + from->n_quants) * sizeof(*q));
		if (!q)
			return -ENOMEM;
		into->quants = q;
		for (i = 0; i < from->n_quants; i++) {
			if (ctl_quant_of(into, from->quants[i].name))
				continue;
			into->quants[into->n_quants++] = from->quants[i];
			memset(&from->quants[i], 0, sizeof(from->quants[i]));
		}
	}
	registry_variant_release(from);
	return 0;
}

/* Folds variants of one name and repo into the last of them, refuses one
 * name for two repos, and packs vs.  Returns the variants left (>= 1), or
 * -errno with d. */
static ssize_t ctl_merge(struct model_variant *vs, size_t n, const char *who, struct diag *d)
{
	char q1[CTL_QUOTE_MAX + 8], q2[CTL_QUOTE_MAX + 8];
	size_t i, j, m = 0;
	int rc;

	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n && vs[i].family; j++) {
			if (!vs[j].family || strcmp(vs[i].family, vs[j].family) != 0 || strcmp(vs[i].variant, vs[j].variant) != 0)
				continue;
			if (!ctl_same_repo(&vs[i], &vs[j]))
				return diag_fail(d, -EINVAL, "%s: '%s' and '%s' would both be '%s/%s'; give one "
						 "of them variant=, or register them in separate writes", who,
						 ctl_quote(vs[i].repo_id ? vs[i].repo_id : "?", q1, sizeof(q1)),
						 ctl_quote(vs[j].repo_id ? vs[j].repo_id : "?", q2, sizeof(q2)),
						 vs[j].family, vs[j].variant);
			rc = ctl_fold(&vs[i], &vs[j]);
			if (rc)
				return diag_fail(d, rc, "out of memory");
			break;
		}
	}
	for (i = 0; i < n; i++) {
		if (!vs[i].family)
			continue;
		if (m != i) {
			vs[m] = vs[i];
			memset(&vs[i], 0, sizeof(vs[i]));
		}
		m++;
	}
	return (ssize_t)m;
}

static void ctl_log_stored(const char *who, const struct model_variant *v, const struct model_variant *old)
{
	char q[CTL_QUOTE_MAX + 8];
	const char *rev = v->revision ? v->revision : "";
	const char *repo = ctl_quote(v->repo_id ? v->repo_id : "", q, sizeof(q));

	if (old && old->revision && v->revision && strcmp(old->revision, v->revision) != 0)
		log_msg(LOG_INFO, "%s: '%s/%s' from '%s': revision %.12s -> %.12s, %zu quant%s", who,
			v->family, v->variant, repo, old->revision, rev,
			v->n_quants, v->n_quants == 1 ? "" : "s");
	else
		log_msg(LOG_INFO, "%s: '%s/%s' from '%s'%s%.12s, %zu quant%s", who, v->family, v->variant,
			repo, *rev ? " at revision " : "", rev, v->n_quants,
			v->n_quants == 1 ? "" : "s");
}

/* Builds the variants of reqs[0..n) against snap and stores them in one
 * transaction.  The caller holds register_lock (not ctl_lock). */
static int ctl_register_batch(struct fs_ctx *ctx, const struct registry_snapshot *snap,
			      const struct control_request *reqs, size_t n, const char *who, struct diag *d)
{
	char q[CTL_QUOTE_MAX + 8];
	struct model_variant *vs;
	struct hub_register_stats st;
	struct diag rd;
	ssize_t m = 0;
	size_t i;
	int rc = 0;

	vs = calloc(n, sizeof(*vs));
	if (!vs)
		return diag_fail(d, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const struct control_request *r = &reqs[i];

		if (!ctx->hub && (r->target == CONTROL_TARGET_REPO || r->base[0])) {
			rc = diag_fail(d, -ENETDOWN, "%s: '%s' needs the hub, which this mount could not set up "
				       "(see the log at mount); fix endpoint= or the token and mount again", who,
				       ctl_target(r, q, sizeof(q)));
			goto out_free;
		}
		diag_init(&rd);
		rc = hub_register(ctx->hub, r, snap, &vs[i], &st, &rd);
		if (rc) {
			ctl_fail_from(d, rc, who, ctl_target(r, q, sizeof(q)), &rd);
			goto out_free;
		}
		log_msg(LOG_DEBUG, "%s: '%s': %u header%s of %" PRIu64 " bytes read with %" PRIu64
			" bytes in %u requests", who, ctl_target(r, q, sizeof(q)), st.headers,
			st.headers == 1 ? "" : "s", st.header_bytes, st.fetched_bytes, st.reader_requests);
	}
	m = ctl_merge(vs, n, who, d);
	if (m < 0) {
		rc = (int)m;
		goto out_free;
	}
	diag_init(&rd);
	pthread_mutex_lock(&ctx->ctl_lock);
	rc = registry_put_batch(ctx->reg, vs, (size_t)m, 0, NULL, NULL, &rd);
	pthread_mutex_unlock(&ctx->ctl_lock);
	if (rc) {
		ctl_fail_from(d, rc, who, NULL, &rd);
		goto out_free;
	}
	for (i = 0; i < (size_t)m; i++) {
		const struct model_variant *old = registry_find_variant(snap, vs[i].family, vs[i].variant);

		ctl_log_stored(who, &vs[i], old);
		if (old)
			ctl_inval_variant(ctx, old, &vs[i]);
		else
			ctl_inval_variant(ctx, &vs[i], NULL);
	}
	ctl_inval_views(ctx);

out_free:
	for (i = 0; i < n; i++)
		registry_variant_release(&vs[i]);
	free(vs);
	return rc;
}

static int ctl_register_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	struct control_request *reqs;
	struct registry_snapshot *snap;
	ssize_t n;
	int rc;

	n = parse_control_text(CONTROL_REGISTER, buf, len, ctl_endpoint(ctx), &reqs, d);
	if (n <= 0)
		return (int)n;
	pthread_mutex_lock(&ctx->register_lock);
	rc = registry_snapshot_get(ctx->reg, &snap);
	if (rc) {
		diag_fail(d, rc, "register: cannot read the registry: %s", strerror(-rc));
	} else {
		rc = ctl_register_batch(ctx, snap, reqs, (size_t)n, "register", d);
		registry_snapshot_put(ctx->reg, snap);
	}
	pthread_mutex_unlock(&ctx->register_lock);
	free(reqs);
	return rc;
}

/* Marks in want[] the variants r names; -ENOENT with d when none. */
static int ctl_refresh_pick(const struct registry_snapshot *s, const struct control_request *r, bool *want,
			    struct diag *d)
{
	char q[CTL_QUOTE_MAX + 8];
	const struct model_variant *v;
	bool found = false;
	size_t i;

	if (r->target == CONTROL_TARGET_ALL) {
		for (i = 0; i < s->n_variants; i++)
			if (s->variants[i].origin && s->variants[i].repo_id &&
			    (strcmp(s->variants[i].origin, "hub") == 0 || strcmp(s->variants[i].origin, "local") == 0))
				want[i] = true;
		return 0;
	}
	if (r->target == CONTROL_TARGET_MODEL) {
		v = registry_find_variant(s, r->family, r->variant);
		if (v) {
			i = (size_t)(v - s->variants);
			if (!v->repo_id)
				return diag_fail(d, -ENOENT, "refresh: '%s/%s' has no repo to read it from; "
						 "register a repo instead", v->family, v->variant);
			want[i] = true;
			return 0;
		}
	}
	for (i = 0; r->repo_id[0] && i < s->n_variants; i++) {
		if (s->variants[i].repo_id && strcasecmp(s->variants[i].repo_id, r->repo_id) == 0) {
			want[i] = true;
			found = true;
		}
	}
	if (found)
		return 0;
	return diag_fail(d, -ENOENT, "refresh: '%s' is not registered; see models.tsv, or register it",
			 ctl_target(r, q, sizeof(q)));
}

static int ctl_refresh_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	struct control_request *reqs, *todo = NULL;
	struct registry_snapshot *snap;
	bool *want = NULL;
	size_t i, m = 0;
	ssize_t n;
	int rc;

	n = parse_control_text(CONTROL_REFRESH, buf, len, ctl_endpoint(ctx), &reqs, d);
	if (n <= 0)
		return (int)n;
	pthread_mutex_lock(&ctx->register_lock);
	rc = registry_snapshot_get(ctx->reg, &snap);
	if (rc) {
		diag_fail(d, rc, "refresh: cannot read the registry: %s", strerror(-rc));
		goto out_unlock;
	}
	want = calloc(snap->n_variants + 1, sizeof(*want));
	if (!want) {
		rc = diag_fail(d, -ENOMEM, "out of memory");
		goto out_put;
	}
	for (i = 0; i < (size_t)n; i++) {
		rc = ctl_refresh_pick(snap, &reqs[i], want, d);
		if (rc)
			goto out_put;
	}
	for (i = 0; i < snap->n_variants; i++)
		m += want[i];
	if (m == 0) {
		log_msg(LOG_INFO, "refresh: nothing to refresh (no model came from the hub or a local path)");
		goto out_put;
	}
	todo = calloc(m, sizeof(*todo));
	if (!todo) {
		rc = diag_fail(d, -ENOMEM, "out of memory");
		goto out_put;
	}
	for (i = 0, m = 0; i < snap->n_variants; i++)
		if (want[i])
			hub_refresh_request(&snap->variants[i], &todo[m++]);
	rc = ctl_register_batch(ctx, snap, todo, m, "refresh", d);

out_put:
	registry_snapshot_put(ctx->reg, snap);
out_unlock:
	pthread_mutex_unlock(&ctx->register_lock);
	free(todo);
	free(want);
	free(reqs);
	return rc;
}

/* ------------------------------------------------------------------------
 * unregister: FAMILY/VARIANT[/QUANT] [purge] | ORG/REPO [purge]
 *
 * purge drops the cached bytes of every file first, as evict does, so a
 * file that is open fails the request with EBUSY before anything is
 * unregistered.
 * ------------------------------------------------------------------------ */
static int unreg_purge(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
		       struct diag *d)
{
	struct blob_source src;
	struct diag bd;
	size_t i;
	int rc;

	for (i = 0; ctx->blobs && i < q->n_files; i++) {
		memset(&src, 0, sizeof(src));
		src.repo_id = v->repo_id;
		src.revision = v->revision;
		src.path = q->files[i].upstream;
		src.size_bytes = q->files[i].size_bytes;
		src.sha256 = q->files[i].sha256;
		diag_init(&bd);
		rc = blob_store_evict(ctx->blobs, &src, &bd);
		if (rc)
			return diag_fail(d, rc, "unregister: cannot purge '%s/%s/%s': %s", v->family, v->variant,
					 q->name, bd.msg[0] ? bd.msg : strerror(-rc));
	}
	return 0;
}

static int unreg_remove_one(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
			    bool purge, struct diag *d)
{
	struct diag rd;
	size_t i;
	int rc = 0;

	for (i = 0; purge && !rc && i < v->n_quants; i++)
		if (!q || q == &v->quants[i])
			rc = unreg_purge(ctx, v, &v->quants[i], d);
	if (rc)
		return rc;
	diag_init(&rd);
	rc = registry_remove(ctx->reg, v->family, v->variant, q ? q->name : NULL, &rd);
	/* -ENOENT: an earlier line of this write removed it already (say
	 * "a/b" before "a/b/q4_0"); the check against the snapshot passed. */
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		return diag_fail(d, rc, "unregister: cannot remove '%s/%s': %s", v->family, v->variant,
				 rd.msg[0] ? rd.msg : strerror(-rc));
	}
	if (q) {
		log_msg(LOG_INFO, "unregister: removed '%s/%s/%s'", v->family, v->variant, q->name);
		ctl_inval(ctx, "/%s/%s", v->family, v->variant);
		ctl_inval_quant(ctx, v, q, NULL);
	} else {
		log_msg(LOG_INFO, "unregister: removed '%s/%s'", v->family, v->variant);
		ctl_inval_variant(ctx, v, NULL);
	}
	ctl_inval_views(ctx);
	return 0;
}

/* Checks (apply false) or carries out (apply true) one request against s:
 * a variant or quant by name, else every variant of the repo (ASCII case
 * folded, as the Hub compares repo ids).  -ENOENT with d when r names
 * nothing registered. */
static int unreg_one(struct fs_ctx *ctx, const struct registry_snapshot *s, const struct control_request *r,
		     bool apply, struct diag *d)
{
	char q[CTL_QUOTE_MAX + 8];
	const struct model_variant *v = NULL;
	const struct model_quant *mq;
	bool found = false;
	size_t i;
	int rc;

	if (r->target == CONTROL_TARGET_MODEL)
		v = registry_find_variant(s, r->family, r->variant);
	if (v && r->quant[0]) {
		mq = registry_find_quant(v, r->quant);
		if (!mq)
			goto out_absent;
		return apply ? unreg_remove_one(ctx, v, mq, r->purge, d) : 0;
	}
	if (v)
		return apply ? unreg_remove_one(ctx, v, NULL, r->purge, d) : 0;
	for (i = 0; r->repo_id[0] && i < s->n_variants; i++) {
		if (!s->variants[i].repo_id || strcasecmp(s->variants[i].repo_id, r->repo_id) != 0)
			continue;
		found = true;
		if (apply) {
			rc = unreg_remove_one(ctx, &s->variants[i], NULL, r->purge, d);
			if (rc)
				return rc;
		}
	}
	if (found)
		return 0;

out_absent:
	return diag_fail(d, -ENOENT, "unregister: '%s' is not registered; see models.tsv",
			 ctl_target(r, q, sizeof(q)));
}

static int ctl_unregister_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	struct control_request *reqs;
	struct registry_snapshot *s;
	ssize_t n;
	size_t i;
	int pass, rc;

	n = parse_control_text(CONTROL_UNREGISTER, buf, len, ctl_endpoint(ctx), &reqs, d);
	if (n <= 0)
		return (int)n;
	rc = registry_snapshot_get(ctx->reg, &s);
	if (rc) {
		diag_fail(d, rc, "unregister: cannot read the registry: %s", strerror(-rc));
		goto out_free;
	}
	for (pass = 0; pass < 2 && !rc; pass++)
		for (i = 0; i < (size_t)n && !rc; i++)
			rc = unreg_one(ctx, s, &reqs[i], pass == 1, d);
	registry_snapshot_put(ctx->reg, s);
out_free:
	free(reqs);
	return rc;
}

/* ------------------------------------------------------------------------
 * hardware: KEY=VALUE lines (SPEC §4)
 * ------------------------------------------------------------------------ */
static int ctl_hardware_render(struct fs_ctx *ctx, struct sbuf *out)
{
	struct hw_profile hw;

	fs_hw_get(ctx, &hw);
	return hw_render(&hw, out);
}

static int ctl_hardware_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	struct hw_profile eff, persisted;
	struct diag d2;
	int rc;

	fs_hw_get(ctx, &eff);
	persisted = ctx->hw_persisted;
	rc = hw_apply_text(&eff, buf, len, d);
	if (rc == 0) {
		diag_init(&d2);
		rc = hw_apply_text(&persisted, buf, len, &d2);
		if (rc)
			diag_fail(d, rc, "%s", d2.msg);
	}
	if (rc) {
		if (d->msg[0] && strncmp(d->msg, "hardware: ", 10) != 0) {
			char msg[DIAG_MSG_MAX];

			memcpy(msg, d->msg, sizeof(msg));
			snprintf(d->msg, sizeof(d->msg), "hardware: %.*s", (int)sizeof(d->msg) - 11, msg);
		}
		return rc;
	}
	rc = registry_hardware_set(ctx->reg, &persisted);
	if (rc)
		return diag_fail(d, rc, "hardware: cannot save the profile: %s", strerror(-rc));
	ctx->hw_persisted = persisted;
	pthread_mutex_lock(&ctx->hw_lock);
	ctx->hw = eff;
	pthread_mutex_unlock(&ctx->hw_lock);
	log_msg(LOG_INFO, "hardware: profile updated");
	return 0;
}

/* ------------------------------------------------------------------------
 * config, log
 * ------------------------------------------------------------------------ */
static int ctl_config_render(struct fs_ctx *ctx, struct sbuf *out)
{
	return mountopts_describe(ctx->mo, out);
}

static int ctl_log_render(struct fs_ctx *ctx, struct sbuf *out)
{
	return log_render(out);
}

/* SPEC §3 order. */
static const struct ctl_file ctl_files[] = {
	{ "register", 0200, true, NULL, ctl_register_write, true, true },
	{ "unregister", 0200, true, NULL, ctl_unregister_write, false, false },
	{ "download", 0200, true, NULL, ctl_download_write, true, false },
	{ "evict", 0200, true, NULL, ctl_evict_write, true, false },
	{ "refresh", 0200, true, NULL, ctl_refresh_write, true, false },
	{ "benchmark", 0200, true, NULL, ctl_benchmark_write, true, false },
	{ "jobs", 0444, true, ctl_jobs_render, NULL, false, false },
	{ "log", 0444, true, ctl_log_render, NULL, false, false },
	{ "hardware", 0600, true, ctl_hardware_render, ctl_hardware_write, false, false },
	{ "config", 0444, true, ctl_config_render, NULL, false, false },
};

const struct ctl_file *ctl_table(size_t *n_out)
{
	*n_out = sizeof(ctl_files) / sizeof(ctl_files[0]);
	return ctl_files;
}

const struct ctl_file *ctl_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_files) / sizeof(ctl_files[0]); i++)
		if (strcmp(ctl_files[i].name, name) == 0)
			return &ctl_files[i];
	return NULL;
}

ssize_t ctl_write(struct fs_ctx *ctx, const struct ctl_file *ctl, const char *buf, size_t len)
{
	struct diag d;
	int rc;

	if (!ctl->write)
		return -EACCES;
	diag_init(&d);
	if (len > CAP_CONTROL_WRITE_BYTES) {
		rc = diag_fail(&d, -EFBIG, "%s: a write of %zu bytes is over the %u-byte limit; write less at once",
			       ctl->name, len, CAP_CONTROL_WRITE_BYTES);
	} else if (ctl->locks_itself) {
		rc = ctl->write(ctx, buf, len, &d);
	} else {
		pthread_mutex_lock(&ctx->ctl_lock);
		rc = ctl->write(ctx, buf, len, &d);
		pthread_mutex_unlock(&ctx->ctl_lock);
	}
	if (rc) {
		if (d.msg[0])
			log_msg(LOG_ERROR, "%s", d.msg);
		else
			log_msg(LOG_ERROR, "%s: %s", ctl->name, strerror(-rc));
		return rc;
	}
	return (ssize_t)len;
}

/* ------------------------------------------------------------------------
 * Text held across write() calls until flush (see the top of this file)
 * ------------------------------------------------------------------------ */

/* Whether register text may be the first piece of a longer one: it reads
 * as a pasted page, or it does not parse and stops mid-line or fills whole
 * stdio blocks. */
static bool ctl_may_continue(struct fs_ctx *ctx, const char *buf, size_t len)
{
	struct control_request *reqs = NULL;
	bool page;
	ssize_t n;

	if (len == 0 || len > CAP_CONTROL_WRITE_BYTES)
		return false;
	n = parse_control_text(CONTROL_REGISTER, buf, len, ctl_endpoint(ctx), &reqs, NULL);
	page = n == 1 && reqs[0].from_page;
	free(reqs);
	if (n >= 0)
		return page;
	if (n == -ENOMEM)
		return false;
	return buf[len - 1] != '\n' || len % CTL_STDIO_BLOCK == 0;
}

void ctl_pending_free(struct ctl_pending *p)
{
	if (!p)
		return;
	sbuf_release(&p->text);
	free(p);
}

ssize_t ctl_handle_write(struct fs_ctx *ctx, struct fs_handle *h, const char *buf, size_t len)
{
	const struct ctl_file *ctl = h->ctl;
	struct ctl_pending *p;
	int rc = 0, first = 0;

	if (!ctl || !ctl->write)
		return -EBADF;
	pthread_mutex_lock(&ctx->handles_lock);
	p = h->pending;
	if (p && p->failed) {
		rc = p->failed;
	} else if (p) {
		rc = sbuf_add(&p->text, buf, len);
		if (rc) {
			first = p->failed = rc;
			sbuf_release(&p->text);
		}
	}
	pthread_mutex_unlock(&ctx->handles_lock);
	if (first == -EFBIG)
		log_msg(LOG_ERROR, "%s: over %u bytes written before close; write one request per line, or "
			"the text of one model page", ctl->name, CAP_CONTROL_WRITE_BYTES);
	else if (first)
		log_msg(LOG_ERROR, "%s: %s", ctl->name, strerror(-first));
	if (p)
		return rc ? rc : (ssize_t)len;
	if (!ctl->holds_pages || !ctl_may_continue(ctx, buf, len))
		return ctl_write(ctx, ctl, buf, len);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	sbuf_init(&p->text, CAP_CONTROL_WRITE_BYTES);
	rc = sbuf_add(&p->text, buf, len);
	if (rc) {
		ctl_pending_free(p);
		return rc;
	}
	pthread_mutex_lock(&ctx->handles_lock);
	h->pending = p;
	pthread_mutex_unlock(&ctx->handles_lock);
	log_msg(LOG_DEBUG, "%s: holding %zu bytes until close (a pasted page, or the start of one)", ctl->name,
		len);
	return (ssize_t)len;
}

int ctl_handle_flush(struct fs_ctx *ctx, struct fs_handle *h)
{
	struct ctl_pending *p;
	ssize_t rc = 0;

	pthread_mutex_lock(&ctx->handles_lock);
	p = h->pending;
	h->pending = NULL;
	pthread_mutex_unlock(&ctx->handles_lock);
	if (!p)
		return 0;
	if (!p->failed && p->text.len)
		rc = ctl_write(ctx, h->ctl, p->text.buf, p->text.len);
	ctl_pending_free(p);
	return rc < 0 ? (int)rc : 0;
}
