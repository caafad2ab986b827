/*
 * ctl.c - the control files of .control/ (SPEC §3, §6).
 *
 * A control file is a row of one table: a name, a mode, whether its
 * content changes without a registry change (then it is opened with
 * direct_io and never cached), a renderer for reads and a handler for
 * writes.  Later issues plug register, download, evict, benchmark,
 * refresh and jobs into the same table; ops.c and tree.c only ever see
 * the table.
 *
 * Writes follow SPEC §6: each write() is a batch of lines carried out
 * before write() returns (a last line without a newline counts; blank
 * lines and '#' comments are skipped; the file offset is ignored, so
 * `echo`, `printf >>` and `tee` all work).  A batch is all or nothing as
 * far as we can check before acting: every line is parsed and resolved
 * against one registry snapshot first, so a bad or unknown line fails
 * the write with EINVAL or ENOENT before anything changes.  A failure
 * returns the handler's errno and leaves exactly one line in
 * .control/log, in git's form: "unregister: 'x/y' is not registered; see
 * models.tsv".
 *
 * .control/hardware is read/write: a write is applied to a copy of the
 * effective profile with hw_apply_text (all or nothing), persisted, and
 * only then made visible.  What is persisted is just what writes set,
 * kept apart from what was detected or given with -o, so that a profile
 * persisted on one boot does not freeze the RAM size detected then.
 *
 * Writers are serialized by ctx->ctl_lock; it is held across the SQLite
 * write (never across a FUSE reply or the network) so that two racing
 * writers cannot interleave their check and their change.
 */
#include "fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_int.h"

#define CTL_QUOTE_MAX 200      /* bytes of user text quoted in a message */

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

/* The next request line of buf: 1 with line filled (trimmed), 0 at the
 * end, -EINVAL for a line over CAP_LINE_BYTES or holding a NUL byte.
 * Blank and '#' lines are skipped. */
static int ctl_next_line(const char **pos, const char *end, char *line, size_t size,
			 const char *who, struct diag *d)
{
	while (*pos < end) {
		const char *p = *pos;
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t len;

		*pos = nl ? nl + 1 : end;
		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r'))
			stop--;
		len = (size_t)(stop - p);
		if (len == 0 || *p == '#')
			continue;
		if (len >= size)
			return diag_fail(d, -EINVAL, "%s: line longer than %zu bytes; write one request per line",
					 who, size - 1);
		if (memchr(p, '\0', len))
			return diag_fail(d, -EINVAL, "%s: line holds a NUL byte; write plain text", who);
		memcpy(line, p, len);
		line[len] = '\0';
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * unregister: FAMILY/VARIANT[/QUANT] [purge] | ORG/REPO [purge]
 * ------------------------------------------------------------------------ */
struct unreg_req {
	const struct model_variant *variant;  /* set for FAMILY/VARIANT[/QUANT]; borrowed from the snapshot */
	const struct model_quant *quant;      /* set for FAMILY/VARIANT/QUANT */
	char repo_id[CAP_LINE_BYTES];         /* set for ORG/REPO (as registered) */
	bool purge;
};

static const char unreg_usage[] =
	"expected FAMILY/VARIANT[/QUANT] or ORG/REPO, optionally followed by 'purge'";

static bool repo_matches(const char *repo_id, const char *target, bool exact)
{
	if (!repo_id)
		return false;
	return exact ? strcmp(repo_id, target) == 0 : strcasecmp(repo_id, target) == 0;
}

/* Finds the registered repo id matching target (exactly, else ignoring
 * case as the Hub does): the registered spelling, or NULL. */
static const char *unreg_find_repo(const struct registry_snapshot *s, const char *target)
{
	size_t i;
	int pass;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < s->n_variants; i++)
			if (repo_matches(s->variants[i].repo_id, target, pass == 0))
				return s->variants[i].repo_id;
	return NULL;
}

/* The next word of *pos (split on blanks), NUL-terminated in place, or
 * NULL at the end. */
static char *ctl_next_word(char **pos)
{
	char *p = *pos, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p) {
		*pos = p;
		return NULL;
	}
	w = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*pos = p;
	return w;
}

static int unreg_parse(const struct registry_snapshot *s, char *line, struct unreg_req *req,
		       struct diag *d)
{
	char q1[CTL_QUOTE_MAX + 8], q2[CTL_QUOTE_MAX + 8];
	char parts[3][NAME_MAX_BYTES];
	const char *target, *word, *p, *repo;
	char *pos = line;
	size_t n = 0, tlen;

	memset(req, 0, sizeof(*req));
	target = ctl_next_word(&pos);
	while ((word = ctl_next_word(&pos)) != NULL) {
		if (strcmp(word, "purge") != 0 || req->purge)
			return diag_fail(d, -EINVAL, "unregister: unexpected '%s' after '%s'; %s",
					 ctl_quote(word, q1, sizeof(q1)), ctl_quote(target, q2, sizeof(q2)),
					 unreg_usage);
		req->purge = true;
	}
	if (strncmp(target, "https://huggingface.co/", 23) == 0)
		target += 23;
	else if (strncmp(target, "hf://", 5) == 0)
		target += 5;
	tlen = strlen(target);
	if (tlen > 1 && target[tlen - 1] == '/')
		tlen--;
	for (p = target; p < target + tlen; ) {
		const char *slash = memchr(p, '/', (size_t)(target + tlen - p));
		size_t plen = slash ? (size_t)(slash - p) : (size_t)(target + tlen - p);

		if (n == 3 || plen == 0 || plen >= NAME_MAX_BYTES)
			goto out_bad;
		memcpy(parts[n], p, plen);
		parts[n++][plen] = '\0';
		if (!slash)
			break;
		p = slash + 1;
		if (p == target + tlen)
			goto out_bad;
	}
	if (n < 2)
		goto out_bad;
	req->variant = registry_find_variant(s, parts[0], parts[1]);
	if (n == 3) {
		req->quant = req->variant ? registry_find_quant(req->variant, parts[2]) : NULL;
		if (!req->quant)
			goto out_absent;
		return 0;
	}
	if (req->variant)
		return 0;
	snprintf(req->repo_id, sizeof(req->repo_id), "%.*s", (int)tlen, target);
	repo = unreg_find_repo(s, req->repo_id);
	if (!repo)
		goto out_absent;
	if (strlen(repo) >= sizeof(req->repo_id))
		goto out_bad;
	memcpy(req->repo_id, repo, strlen(repo) + 1);
	return 0;

out_absent:
	return diag_fail(d, -ENOENT, "unregister: '%s' is not registered; see models.tsv",
			 ctl_quote(target, q1, sizeof(q1)));
out_bad:
	return diag_fail(d, -EINVAL, "unregister: cannot parse '%s'; %s",
			 ctl_quote(target, q1, sizeof(q1)), unreg_usage);
}

static void unreg_invalidate(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q)
{
	struct sbuf path;

	sbuf_init(&path, CAP_LINE_BYTES * 2);
	sbuf_addf(&path, "/%s/%s", v->family, v->variant);
	if (q)
		sbuf_addf(&path, "/%s", q->name);
	if (path.err == 0)
		fs_invalidate(ctx, path.buf);
	sbuf_reset(&path);
	sbuf_addf(&path, "/%s/%s", v->family, v->variant);
	if (path.err == 0)
		fs_invalidate(ctx, path.buf);
	sbuf_reset(&path);
	sbuf_addf(&path, "/%s", v->family);
	if (path.err == 0)
		fs_invalidate(ctx, path.buf);
	if (v->repo_id && !q) {
		sbuf_reset(&path);
		sbuf_addf(&path, "/by-repo/%s", v->repo_id);
		if (path.err == 0)
			fs_invalidate(ctx, path.buf);
	}
	sbuf_release(&path);
	fs_invalidate(ctx, "/");
	fs_invalidate(ctx, "/registry.json");
	fs_invalidate(ctx, "/models.tsv");
}

static int unreg_remove_one(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
			    struct diag *d)
{
	int rc;

	rc = registry_remove(ctx->reg, v->family, v->variant, q ? q->name : NULL, d);
	/* -ENOENT: an earlier line of this write removed it already (say
	 * "a/b" before "a/b/q4_0"); the check against the snapshot passed. */
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		if (!d->msg[0])
			diag_fail(d, rc, "unregister: cannot remove '%s/%s': %s", v->family, v->variant,
				  strerror(-rc));
		return rc;
	}
	if (q)
		log_msg(LOG_INFO, "unregister: removed '%s/%s/%s'", v->family, v->variant, q->name);
	else
		log_msg(LOG_INFO, "unregister: removed '%s/%s'", v->family, v->variant);
	unreg_invalidate(ctx, v, q);
	return 0;
}

static int unreg_apply(struct fs_ctx *ctx, const struct registry_snapshot *s, const struct unreg_req *req,
		       struct diag *d)
{
	size_t i;
	int rc;

	if (req->variant)
		return unreg_remove_one(ctx, req->variant, req->quant, d);
	for (i = 0; i < s->n_variants; i++) {
		if (!s->variants[i].repo_id || strcmp(s->variants[i].repo_id, req->repo_id) != 0)
			continue;
		rc = unreg_remove_one(ctx, &s->variants[i], NULL, d);
		if (rc)
			return rc;
	}
	return 0;
}

static int ctl_unregister_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	struct registry_snapshot *s;
	struct unreg_req *req;
	const char *pos, *end = buf + len;
	char *line;
	int pass, rc;

	line = malloc(CAP_LINE_BYTES);
	req = calloc(1, sizeof(*req));
	if (!line || !req) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = registry_snapshot_get(ctx->reg, &s);
	if (rc) {
		diag_fail(d, rc, "unregister: cannot read the registry: %s", strerror(-rc));
		goto out_free;
	}
	for (pass = 0; pass < 2; pass++) {
		pos = buf;
		while ((rc = ctl_next_line(&pos, end, line, CAP_LINE_BYTES, "unregister", d)) == 1) {
			rc = unreg_parse(s, line, req, d);
			if (rc == 0 && pass == 1)
				rc = unreg_apply(ctx, s, req, d);
			if (rc)
				goto out_put;
		}
		if (rc)
			goto out_put;
	}

out_put:
	registry_snapshot_put(ctx->reg, s);
out_free:
	free(req);
	free(line);
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

/* SPEC §3 order; later issues add register, download, evict, benchmark,
 * refresh (0200) and jobs (0444, direct_io). */
static const struct ctl_file ctl_files[] = {
	{ "unregister", 0200, true, NULL, ctl_unregister_write },
	{ "log", 0444, true, ctl_log_render, NULL },
	{ "hardware", 0600, true, ctl_hardware_render, ctl_hardware_write },
	{ "config", 0444, true, ctl_config_render, NULL },
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
