/*
 * register.c - from a register request to a struct model_variant: the
 * Hub repo (or local folder) is listed once, its GGUF files grouped into
 * quants, every model file's header read, config.json merged, and the
 * names derived (SPEC §3, §6).
 *
 * What it costs, on the Hub: one model-info call with blobs=true (the
 * file list with sizes and LFS sha256; the paged tree listing only when a
 * mirror's answer lacks sizes), one GET of config.json when there is one,
 * and per GGUF file one hub_reader: a redirect and a 1 MiB ranged GET to
 * the CDN, then one ranged GET per doubling of the parser's buffer.  A
 * header of H bytes therefore costs at most max(2H, 1 MiB) (the parser's
 * first read is 1 MiB), never the file: a 70B Q4_K_M of 40 GB registers
 * for about 10 MiB.  Every file of a quant is read, shards included,
 * because only the tensor tables of all shards give the exact parameter
 * count and bits per weight.  Up to HUB_REGISTER_THREADS headers are read
 * at once (each reader has its own connection), which hides the CDN's
 * latency for repos of twenty quants.
 *
 * Memory stays small whatever the repo: a worker keeps of a header only
 * counts, the tensor names and sizes of a model file (vram_tensor_list,
 * about 40 bytes a tensor) and, for the first file of each quant and for
 * the projector, the normalized architecture (struct arch) and the
 * general.* names; the parsed header, which for a 256k vocabulary is tens
 * of MiB, is freed as soon as it has been read.  Once every header is
 * read, each quant's tensor lists become its weights layout (shards in
 * order, as `modelfs estimate` adds them; the projector's weight bytes
 * with them), about 100 bytes that the registry keeps so vram@ places the
 * real tensors, and the lists are freed.
 *
 * Failure is all or nothing: the result is built completely, or not at
 * all, and nothing is written here (the caller stores it with
 * registry_put_variant in one transaction).  A malformed or truncated
 * header leaves its quant out with a warning when other quants are fine,
 * and fails the registration with -EIO when no quant is left; a network or
 * access failure on any file fails the registration, since a partial
 * listing of quants would silently lose some on every refresh.
 *
 * Registering again is a refresh: when the snapshot knows the repo, its
 * registered family and variant are kept unless the request names others,
 * and a request for part of a repo (quant=, a file URL, one local file)
 * keeps the quants registered before.  A derived name that another repo
 * already holds (two uploads of Llama 3.1 8B Instruct) gets "-ORG"
 * appended rather than replacing the other repo's entry.
 */
#include "cache.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define REG_MAX_DEPTH    4       /* folders a local scan descends */
#define REG_NO_QUANT     ((size_t)-1)

struct reg_job {
	size_t entry;                /* listing index of the file */
	size_t quant;                /* plan quant index, REG_NO_QUANT for the projector */
	bool first;                  /* keep arch and names (a quant's first file, the projector) */
	int rc;                      /* 0 or -errno */
	struct diag diag;            /* why rc */
	uint64_t params;             /* elements of its tensors */
	uint64_t weight_bytes;       /* bytes of its tensors */
	uint64_t header_bytes;       /* gguf_header_bytes */
	uint64_t fetched_bytes;      /* body bytes its reader received */
	unsigned requests;           /* HTTP requests of its reader */
	uint64_t file_size;          /* the reader's size, UINT64_MAX when unknown */
	int64_t file_type;           /* general.file_type, -1 when absent */
	struct arch arch;            /* first files only */
	char *g_arch, *g_basename, *g_size_label, *g_finetune, *g_version, *g_name;
	struct vram_tensor_list tensors;  /* model files: names and bytes, until the layout is built */
	unsigned char *layout;       /* first files: the quant's weights layout, or NULL */
	size_t layout_bytes;
};

struct reg_ctx {
	struct hub *h;               /* NULL for local files */
	const char *repo_id;         /* canonical repo id (hub) */
	const char *rev;             /* commit to read at (hub) */
	const char *root;            /* local folder, NULL for the hub */
	const struct registry_listing *l;
	struct reg_job *jobs;
	size_t n_jobs;
	pthread_mutex_t lock;
	size_t next;                 /* next job to run; protected by lock */
};

static void reg_job_release(struct reg_job *j)
{
	arch_release(&j->arch);
	vram_tensor_list_release(&j->tensors);
	free(j->layout);
	free(j->g_arch);
	free(j->g_basename);
	free(j->g_size_label);
	free(j->g_finetune);
	free(j->g_version);
	free(j->g_name);
}

static char *reg_gguf_str(const struct gguf *g, const char *key)
{
	const char *s;
	size_t len;

	if (gguf_get_str(g, key, &s, &len) || len != strlen(s) || len == 0 || len > 512)
		return NULL;
	return strdup(s);
}

static bool reg_is_header_error(int rc)
{
	return rc == -EBADMSG || rc == -EFBIG || rc == -ENODATA;
}

static void reg_read_header(struct reg_ctx *x, struct reg_job *j, struct reader *r)
{
	const char *path = x->l->entries[j->entry].path;
	struct gguf *g = NULL;
	struct diag gd;
	int64_t ft;
	int rc;

	diag_init(&gd);
	rc = gguf_open(r, &g, &gd);
	if (rc) {
		const char *net = x->h ? hub_reader_last_error(r) : "";

		if (rc == -ENODATA)
			rc = -EBADMSG;
		j->rc = diag_fail(&j->diag, rc, "cannot read the GGUF header of '%s': %s", path,
				  reg_is_header_error(rc) || !net[0] ? gd.msg : net);
		return;
	}
	j->header_bytes = gguf_header_bytes(g);
	j->params = gguf_param_count(g);
	j->weight_bytes = gguf_weight_bytes(g);
	j->file_size = gguf_file_size(g);
	ft = gguf_file_type(g);
	j->file_type = ft >= 0 ? ft : -1;
	if (j->quant != REG_NO_QUANT && vram_tensor_list_from_gguf(&j->tensors, g)) {
		j->rc = diag_fail(&j->diag, -ENOMEM, "out of memory reading '%s'", path);
		gguf_free(g);
		return;
	}
	if (j->first) {
		diag_init(&gd);
		rc = arch_from_gguf(g, &j->arch, &gd);
		if (rc) {
			j->rc = diag_fail(&j->diag, rc, "cannot read the architecture in '%s': %s", path, gd.msg);
		} else {
			j->g_arch = reg_gguf_str(g, "general.architecture");
			j->g_basename = reg_gguf_str(g, "general.basename");
			j->g_size_label = reg_gguf_str(g, "general.size_label");
			j->g_finetune = reg_gguf_str(g, "general.finetune");
			j->g_version = reg_gguf_str(g, "general.version");
			j->g_name = reg_gguf_str(g, "general.name");
		}
	}
	gguf_free(g);
}

static void reg_run_job(struct reg_ctx *x, struct reg_job *j)
{
	const char *path = x->l->entries[j->entry].path;
	struct reader r;
	int rc;

	diag_init(&j->diag);
	arch_init(&j->arch);
	j->file_type = -1;
	j->file_size = UINT64_MAX;
	if (x->root) {
		char full[PATH_MAX];

		if ((size_t)snprintf(full, sizeof(full), "%s/%s", x->root, path) >= sizeof(full)) {
			j->rc = diag_fail(&j->diag, -ENAMETOOLONG, "path of '%s' is too long", path);
			return;
		}
		rc = reader_file_open(&r, full);
		if (rc) {
			j->rc = diag_fail(&j->diag, rc, "cannot open '%s': %s", full, strerror(-rc));
			return;
		}
		reg_read_header(x, j, &r);
		reader_file_close(&r);
		return;
	}
	rc = hub_file_reader_open(x->h, x->repo_id, x->rev, path, &r, &j->diag);
	if (rc) {
		j->rc = rc;
		return;
	}
	reg_read_header(x, j, &r);
	j->fetched_bytes = hub_reader_bytes_fetched(&r);
	j->requests = hub_reader_requests(&r);
	hub_reader_close(&r);
}

static void *reg_worker(void *arg)
{
	struct reg_ctx *x = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&x->lock);
		i = x->next++;
		pthread_mutex_unlock(&x->lock);
		if (i >= x->n_jobs)
			return NULL;
		reg_run_job(x, &x->jobs[i]);
	}
}

/* Runs every job, HUB_REGISTER_THREADS at a time (the caller is one). */
static void reg_run_all(struct reg_ctx *x)
{
	pthread_t tid[HUB_REGISTER_THREADS];
	size_t n = 0, want, i;

	pthread_mutex_init(&x->lock, NULL);
	x->next = 0;
	want = x->n_jobs < HUB_REGISTER_THREADS ? x->n_jobs : HUB_REGISTER_THREADS;
	for (i = 1; i < want; i++) {
		/* A thread that cannot start only means fewer at once. */
		if (pthread_create(&tid[n], NULL, reg_worker, x) == 0)
			n++;
	}
	reg_worker(x);
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&x->lock);
}

/* ------------------------------------------------------------------------
 * Local folders
 * ------------------------------------------------------------------------ */

static int reg_scan(const char *root, const char *rel, int depth, bool recurse,
		    struct registry_listing *l, struct diag *d)
{
	char dir[PATH_MAX], full[PATH_MAX], child[PATH_MAX];
	struct dirent *de;
	DIR *dh;
	int rc = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s%s%s", root, rel[0] ? "/" : "", rel) >= sizeof(dir))
		return 0;
	dh = opendir(dir);
	if (!dh) {
		rc = -errno;
		if (depth == 0)
			return diag_fail(d, rc, "cannot list '%s': %s", dir, strerror(-rc));
		/* A subfolder we cannot read is left out, as ls -R would go on. */
		return 0;
	}
	while (!rc && (de = readdir(dh))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
		    sizeof(child) ||
		    (size_t)snprintf(full, sizeof(full), "%s/%s", root, child) >= sizeof(full))
			continue;
		if (stat(full, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (recurse && depth + 1 < REG_MAX_DEPTH)
				rc = reg_scan(root, child, depth + 1, recurse, l, d);
			continue;
		}
		if (!S_ISREG(st.st_mode) || strlen(child) >= REGISTRY_PATH_MAX_BYTES)
			continue;
		rc = registry_listing_add(l, child, (uint64_t)st.st_size, NULL, false, NULL);
		if (rc == -EBADMSG)
			rc = 0;
		else if (rc)
			rc = diag_fail(d, rc, rc == -EFBIG ? "'%s' holds more than %d files" : "out of memory",
				       root, REGISTRY_LISTING_MAX_ENTRIES);
	}
	closedir(dh);
	return rc;
}

/* ORG/NAME from a Hugging Face cache path (.../models--ORG--NAME/snapshots/SHA). */
static bool reg_hf_cache_repo(const char *root, char *out, size_t size)
{
	const char *p = strstr(root, "/models--"), *sep, *end;
	size_t on, nn;

	if (!p)
		return false;
	p += 9;
	end = p + strcspn(p, "/");
	sep = strstr(p, "--");
	if (!sep || sep >= end)
		return false;
	on = (size_t)(sep - p);
	nn = (size_t)(end - sep - 2);
	if (on + nn + 2 > size)
		return false;
	memcpy(out, p, on);
	out[on] = '/';
	memcpy(out + on + 1, sep + 2, nn);
	out[on + 1 + nn] = '\0';
	return parse_is_repo_id(out);
}

static bool reg_ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Lists a local target: root (new, realpath of the folder), subpath (new:
 * the file, or ""). */
static int reg_local_listing(const char *path, char **root_out, char **subpath_out,
			     struct registry_listing *l, struct diag *d)
{
	char parent[PATH_MAX];
	const char *base;
	struct stat st;
	char *root;
	int rc;

	*root_out = *subpath_out = NULL;
	if (stat(path, &st) < 0) {
		rc = -errno;
		if (rc == -ENOENT || rc == -ENOTDIR)
			return diag_fail(d, -ENOENT, "'%s' does not exist; give the path of a .gguf file or "
					 "a folder of them", path);
		return diag_fail(d, rc, "cannot read '%s': %s", path, strerror(-rc));
	}
	if (S_ISDIR(st.st_mode)) {
		root = realpath(path, NULL);
		if (!root)
			return diag_fail(d, -errno, "cannot resolve '%s': %s", path, strerror(errno));
		*subpath_out = strdup("");
		rc = *subpath_out ? reg_scan(root, "", 0, true, l, d) : diag_fail(d, -ENOMEM, "out of memory");
	} else if (S_ISREG(st.st_mode)) {
		if (!reg_ends_with_ci(path, ".gguf"))
			return diag_fail(d, -EINVAL, "'%s' is not a .gguf file; give a .gguf file or a folder "
					 "of them", path);
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		if ((size_t)(base - path) >= sizeof(parent))
			return diag_fail(d, -ENAMETOOLONG, "path too long");
		memcpy(parent, path, (size_t)(base - path));
		parent[base - path] = '\0';
		if (!parent[0])
			snprintf(parent, sizeof(parent), "/");
		root = realpath(parent, NULL);
		if (!root)
			return diag_fail(d, -errno, "cannot resolve '%s': %s", parent, strerror(errno));
		*subpath_out = strdup(base);
		rc = *subpath_out ? reg_scan(root, "", 0, false, l, d) : diag_fail(d, -ENOMEM, "out of memory");
	} else {
		return diag_fail(d, -EINVAL, "'%s' is neither a .gguf file nor a folder", path);
	}
	*root_out = root;
	return rc;
}

static int reg_read_local_file(const char *root, const char *name, struct sbuf *out, struct diag *d)
{
	char full[PATH_MAX], buf[65536];
	ssize_t n;
	int fd, rc = 0;

	if ((size_t)snprintf(full, sizeof(full), "%s/%s", root, name) >= sizeof(full))
		return diag_fail(d, -ENAMETOOLONG, "path too long");
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return diag_fail(d, -errno, "cannot open '%s': %s", full, strerror(errno));
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = diag_fail(d, -errno, "cannot read '%s': %s", full, strerror(errno));
			break;
		}
		if (sbuf_add(out, buf, (size_t)n)) {
			rc = diag_fail(d, out->err, "'%s' is over %zu bytes", full, out->cap);
			break;
		}
	}
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------------
 * Building the variant
 * ------------------------------------------------------------------------ */

/* Everything one registration gathers before the variant is built. */
struct reg_state {
	const struct control_request *req;
	struct hub *h;
	bool local;
	char *repo_id;               /* canonical id, or the local root */
	char *sha;                   /* commit read at, NULL when unknown */
	char *root;                  /* local root */
	char *subpath;               /* what the request selects, "" for all */
	char name_hint[CONTROL_REPO_ID_MAX]; /* repo id for names (local HF cache) */
	bool gated;
	struct registry_listing l;
	struct registry_plan plan;
	struct reg_job *jobs;
	size_t n_jobs;
	size_t *quant_job;           /* plan quant -> index of its first job */
	size_t mmproj_job;           /* REG_NO_QUANT when none */
	struct arch arch;
	char *config;                /* config.json text, NULL when none */
	char *config_from;           /* "ORG/REPO/config.json" */
};

static void reg_state_release(struct reg_state *s)
{
	size_t i;

	for (i = 0; i < s->n_jobs; i++)
		reg_job_release(&s->jobs[i]);
	free(s->jobs);
	free(s->quant_job);
	free(s->repo_id);
	free(s->sha);
	free(s->root);
	free(s->subpath);
	registry_plan_release(&s->plan);
	registry_listing_release(&s->l);
	arch_release(&s->arch);
	free(s->config);
	free(s->config_from);
}

static bool reg_listing_has_sizes(const struct registry_listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!l->entries[i].is_dir && reg_ends_with_ci(l->entries[i].path, ".gguf") &&
		    l->entries[i].size_bytes == 0)
			return false;
	return l->n > 0;
}

static int reg_hub_listing(struct reg_state *s, struct diag *d)
{
	const struct control_request *req = s->req;
	struct hub_model_info info;
	int rc;

	if (!s->h)
		return diag_fail(d, -EINVAL, "no hub configured to register '%s'", req->repo_id);
	rc = hub_model_info(s->h, req->repo_id, req->revision[0] ? req->revision : NULL, &s->l, &info, d);
	if (rc)
		return rc;
	s->repo_id = info.id;
	s->sha = info.sha;
	s->gated = info.gated;
	info.id = info.sha = NULL;
	hub_model_info_release(&info);
	if (!s->sha && req->revision[0]) {
		s->sha = strdup(req->revision);
		if (!s->sha)
			return diag_fail(d, -ENOMEM, "out of memory");
	}
	if (!reg_listing_has_sizes(&s->l)) {
		registry_listing_release(&s->l);
		registry_listing_init(&s->l);
		rc = hub_list_files(s->h, s->repo_id, s->sha, NULL, &s->l, d);
		if (rc)
			return rc;
	}
	s->subpath = strdup(req->path);
	return s->subpath ? 0 : diag_fail(d, -ENOMEM, "out of memory");
}

static int reg_plan_jobs(struct reg_state *s, struct diag *d)
{
	size_t i, j, n = 0;

	for (i = 0; i < s->plan.n_quants; i++)
		n += s->plan.quants[i].n_files;
	n += s->plan.n_mmproj ? 1 : 0;
	s->jobs = calloc(n ? n : 1, sizeof(*s->jobs));
	s->quant_job = calloc(s->plan.n_quants ? s->plan.n_quants : 1, sizeof(*s->quant_job));
	if (!s->jobs || !s->quant_job)
		return diag_fail(d, -ENOMEM, "out of memory");
	for (i = 0; i < s->plan.n_quants; i++) {
		s->quant_job[i] = s->n_jobs;
		for (j = 0; j < s->plan.quants[i].n_files; j++) {
			struct reg_job *jb = &s->jobs[s->n_jobs++];

			jb->entry = s->plan.quants[i].files[j];
			jb->quant = i;
			jb->first = j == 0;
		}
	}
	s->mmproj_job = REG_NO_QUANT;
	if (s->plan.n_mmproj) {
		struct reg_job *jb = &s->jobs[s->n_jobs];

		jb->entry = s->plan.mmproj[0];
		jb->quant = REG_NO_QUANT;
		jb->first = true;
		s->mmproj_job = s->n_jobs++;
	}
	return 0;
}

/* The diag of a failed job, reworded for access failures. */
static int reg_job_fail(struct reg_state *s, const struct reg_job *j, struct diag *d)
{
	const char *path = s->l.entries[j->entry].path;

	if (j->rc == -EACCES && !s->local) {
		if (s->gated)
			return diag_fail(d, -EACCES, "'%s' is gated and the token from %s has no access to it; "
					 "accept its licence at %s/%s with the token's account", s->repo_id,
					 hub_token_source(s->h)[0] ? hub_token_source(s->h) : "the configuration",
					 hub_endpoint(s->h), s->repo_id);
		return diag_fail(d, -EACCES, "the hub refused '%s' of '%s' (%s); check the token%s%s",
				 path, s->repo_id, j->diag.msg, hub_has_token(s->h) ? " from " : "",
				 hub_has_token(s->h) ? hub_token_source(s->h) : "");
	}
	return diag_fail(d, j->rc, "%s", j->diag.msg[0] ? j->diag.msg : strerror(-j->rc));
}

/* Drops the quants whose files failed with a header error (logged); fails
 * on any other error, or when nothing is left, then logging nothing (SPEC
 * §6: a failed request leaves one line, the caller's). */
static int reg_check_jobs(struct reg_state *s, struct hub_register_stats *st, struct diag *d)
{
	const struct reg_job *first_bad = NULL;
	size_t i, q, keep = 0;

	for (i = 0; i < s->n_jobs; i++)
		if (s->jobs[i].rc && !reg_is_header_error(s->jobs[i].rc))
			return reg_job_fail(s, &s->jobs[i], d);
	for (q = 0; q < s->plan.n_quants && !keep; q++) {
		const struct registry_plan_quant *pq = &s->plan.quants[q];

		keep = 1;
		for (i = 0; i < pq->n_files; i++)
			if (s->jobs[s->quant_job[q] + i].rc) {
				if (!first_bad)
					first_bad = &s->jobs[s->quant_job[q] + i];
				keep = 0;
			}
	}
	if (!keep)
		return diag_fail(d, -EIO, "%s; the repo has no readable GGUF model file",
				 first_bad ? first_bad->diag.msg : "no quant left");
	keep = 0;
	first_bad = NULL;
	for (q = 0; q < s->plan.n_quants; q++) {
		const struct registry_plan_quant *pq = &s->plan.quants[q];
		const struct reg_job *bad = NULL;

		for (i = 0; i < pq->n_files && !bad; i++)
			if (s->jobs[s->quant_job[q] + i].rc)
				bad = &s->jobs[s->quant_job[q] + i];
		if (bad) {
			if (!first_bad)
				first_bad = bad;
			log_msg(LOG_WARN, "register: left out '%s' of '%s': %s",
				s->l.entries[pq->files[0]].path, s->repo_id, bad->diag.msg);
			free(s->plan.quants[q].files);
			if (st)
				st->skipped++;
			continue;
		}
		s->plan.quants[keep] = s->plan.quants[q];
		s->quant_job[keep] = s->quant_job[q];
		keep++;
	}
	s->plan.n_quants = keep;
	if (!keep)
		return diag_fail(d, -EIO, "%s; the repo has no readable GGUF model file",
				 first_bad ? first_bad->diag.msg : "no quant left");
	if (s->mmproj_job != REG_NO_QUANT && s->jobs[s->mmproj_job].rc) {
		log_msg(LOG_WARN, "register: left out the projector of '%s': %s", s->repo_id,
			s->jobs[s->mmproj_job].diag.msg);
		s->mmproj_job = REG_NO_QUANT;
	}
	return 0;
}

/* The weights layout of every quant left, from its files' tensor lists
 * and the projector's weight bytes (vram_model_from_gguf() and
 * vram_model_add_gguf() on the lists, as `modelfs estimate` builds the
 * model from the files).  A quant whose tensors the estimator refuses
 * (more blocks than it takes) keeps no layout and falls back to its file
 * size; only -ENOMEM fails. */
static int reg_layouts(struct reg_state *s, struct diag *d)
{
	const struct reg_job *mm = s->mmproj_job != REG_NO_QUANT ? &s->jobs[s->mmproj_job] : NULL;
	struct vram_model m;
	struct diag ld;
	size_t q, i;
	int rc = 0;

	for (q = 0; q < s->plan.n_quants && !rc; q++) {
		struct reg_job *first = &s->jobs[s->quant_job[q]];

		diag_init(&ld);
		rc = vram_model_from_tensor_list(&m, &first->arch, &first->tensors, &ld);
		if (rc == -EINVAL) {
			log_msg(LOG_WARN, "register: vram@ of '%s' uses its file size: %s",
				s->l.entries[s->plan.quants[q].files[0]].path, ld.msg);
			rc = 0;
			continue;
		}
		for (i = 1; !rc && i < s->plan.quants[q].n_files; i++)
			rc = vram_model_add_tensor_list(&m, &s->jobs[s->quant_job[q] + i].tensors);
		m.mmproj_file_bytes = mm ? mm->weight_bytes : 0;
		if (!rc)
			rc = vram_layout_encode(&m, &first->layout, &first->layout_bytes);
		vram_model_release(&m);
		for (i = 0; i < s->plan.quants[q].n_files; i++)
			vram_tensor_list_release(&s->jobs[s->quant_job[q] + i].tensors);
		if (rc == -EINVAL) {
			log_msg(LOG_WARN, "register: vram@ of '%s' uses its file size: a tensor is too large",
				s->l.entries[s->plan.quants[q].files[0]].path);
			rc = 0;
		}
	}
	return rc ? diag_fail(d, rc, "out of memory") : 0;
}

static int reg_fetch_config(struct reg_state *s, struct diag *d)
{
	const struct control_request *req = s->req;
	struct sbuf cfg;
	struct diag cd;
	json_error_t err;
	json_t *j;
	int rc = 0;

	sbuf_init(&cfg, CAP_CONFIG_JSON_BYTES);
	diag_init(&cd);
	if (req->base[0]) {
		if (!s->h)
			return diag_fail(d, -ENETDOWN, "base='%s' needs the hub, and none is configured", req->base);
		rc = hub_file_get(s->h, req->base, NULL, "config.json", &cfg, NULL, &cd);
		if (rc) {
			sbuf_release(&cfg);
			if (rc == -ENOENT)
				return diag_fail(d, -ENOENT, "base '%s' has no config.json (%s); give a base repo "
						 "with one, or leave base= out", req->base, cd.msg);
			return diag_fail(d, rc, "base '%s': %s", req->base, cd.msg);
		}
		if (asprintf(&s->config_from, "%s/config.json", req->base) < 0)
			s->config_from = NULL;
	} else if (registry_listing_find(&s->l, "config.json") >= 0) {
		if (s->local)
			rc = reg_read_local_file(s->root, "config.json", &cfg, &cd);
		else
			rc = hub_file_get(s->h, s->repo_id, s->sha, "config.json", &cfg, NULL, &cd);
		if (rc == -EFBIG || rc == -EBADMSG) {
			log_msg(LOG_WARN, "register: ignoring config.json of '%s': %s", s->repo_id, cd.msg);
			sbuf_release(&cfg);
			return 0;
		}
		if (rc) {
			sbuf_release(&cfg);
			return diag_fail(d, rc, "config.json of '%s': %s", s->repo_id, cd.msg);
		}
		if (asprintf(&s->config_from, "%s/config.json", s->repo_id) < 0)
			s->config_from = NULL;
	} else {
		return 0;
	}
	j = json_loadb(cfg.buf ? cfg.buf : "", cfg.len, 0, &err);
	if (!json_is_object(j) || (cfg.buf && strlen(cfg.buf) != cfg.len)) {
		log_msg(LOG_WARN, "register: ignoring %s: not a JSON object", s->config_from ? s->config_from :
			"config.json");
		json_decref(j);
		sbuf_release(&cfg);
		return 0;
	}
	json_decref(j);
	diag_init(&cd);
	rc = arch_from_hfcfg(cfg.buf, cfg.len, &s->arch, &cd);
	if (rc == -ENOMEM) {
		sbuf_release(&cfg);
		return diag_fail(d, rc, "out of memory");
	}
	if (rc)
		log_msg(LOG_WARN, "register: architecture fields of %s not used: %s",
			s->config_from ? s->config_from : "config.json", cd.msg);
	s->config = sbuf_detach(&cfg, NULL);
	return s->config ? 0 : diag_fail(d, -ENOMEM, "out of memory");
}

/* The vision fields of the projector's header. */
static int reg_take_vision(struct arch *a, const struct arch *mm)
{
	static const enum arch_field fields[] = { ARCH_F_VISION_IMAGE_SIZE, ARCH_F_VISION_PATCH_SIZE,
						  ARCH_F_VISION_NUM_LAYERS, ARCH_F_VISION_HIDDEN_SIZE };
	const uint64_t values[] = { mm->vision.image_size, mm->vision.patch_size, mm->vision.num_layers,
				    mm->vision.hidden_size };
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]) && !rc; i++)
		if (arch_has(mm, fields[i]) && !arch_has(a, fields[i]))
			rc = arch_set_u64(a, fields[i], values[i], ARCH_SRC_GGUF);
	return rc;
}

static int reg_names(struct reg_state *s, const struct registry_snapshot *snap,
		     struct registry_names *names, struct diag *d)
{
	const struct control_request *req = s->req;
	const struct reg_job *p = &s->jobs[s->quant_job[0]];
	const struct model_variant *old = NULL;
	const char *dir_name = NULL;
	struct registry_name_hints hints;
	bool derived_variant = !req->variant[0];
	int rc;

	memset(&hints, 0, sizeof(hints));
	if (s->local) {
		dir_name = strrchr(s->root, '/');
		dir_name = dir_name && dir_name[1] ? dir_name + 1 : NULL;
		hints.repo_id = s->name_hint[0] ? s->name_hint : NULL;
	} else {
		hints.repo_id = s->repo_id;
	}
	hints.dir_name = dir_name;
	hints.file_name = s->l.entries[s->plan.quants[0].files[0]].path;
	hints.architecture = p->g_arch;
	hints.basename = p->g_basename;
	hints.size_label = p->g_size_label;
	hints.finetune = p->g_finetune;
	hints.version = p->g_version;
	hints.name = p->g_name;
	rc = registry_plan_names(&hints, names, d);
	if (rc && !(req->family[0] && req->variant[0]))
		return rc;
	if (snap && !req->family[0] && !req->variant[0]) {
		old = registry_find_repo(snap, s->repo_id);
		if (old && old->family && old->variant) {
			snprintf(names->family, sizeof(names->family), "%s", old->family);
			snprintf(names->variant, sizeof(names->variant), "%s", old->variant);
			derived_variant = false;
		}
	}
	if (req->family[0])
		snprintf(names->family, sizeof(names->family), "%s", req->family);
	if (req->variant[0])
		snprintf(names->variant, sizeof(names->variant), "%s", req->variant);
	if (req->full_name[0])
		snprintf(names->full_name, sizeof(names->full_name), "%s", req->full_name);
	if (snap && derived_variant) {
		const struct model_variant *v = registry_find_variant(snap, names->family, names->variant);

		if (v && v->repo_id && strcasecmp(v->repo_id, s->repo_id) != 0) {
			char org[NAME_MAX_BYTES] = "local", tail[NAME_MAX_BYTES + 2];
			size_t n = strlen(names->variant);

			if (!s->local) {
				char o[CONTROL_REPO_ID_MAX];

				snprintf(o, sizeof(o), "%.*s", (int)strcspn(s->repo_id, "/"), s->repo_id);
				if (parse_to_name(o, org, sizeof(org)))
					snprintf(org, sizeof(org), "hub");
			}
			snprintf(tail, sizeof(tail), "-%s", org);
			if (n + strlen(tail) >= sizeof(names->variant))
				n = sizeof(names->variant) - 1 - strlen(tail);
			memcpy(names->variant + n, tail, strlen(tail) + 1);
		}
	}
	return 0;
}

static char *reg_strdup_or(const char *s, bool *oom)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		*oom = true;
	return p;
}

static int reg_copy_quant(struct model_quant *dst, const struct model_quant *src)
{
	bool oom = false;
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->name = reg_strdup_or(src->name, &oom);
	dst->file_pattern = reg_strdup_or(src->file_pattern, &oom);
	dst->size_bytes = src->size_bytes;
	dst->size_exact = src->size_exact;
	dst->bits_per_weight = src->bits_per_weight;
	dst->quality_stars = src->quality_stars;
	if (src->weights_layout) {
		dst->weights_layout = malloc(src->weights_layout_bytes);
		if (!dst->weights_layout)
			return -ENOMEM;
		memcpy(dst->weights_layout, src->weights_layout, src->weights_layout_bytes);
		dst->weights_layout_bytes = src->weights_layout_bytes;
	}
	dst->files = calloc(src->n_files ? src->n_files : 1, sizeof(*dst->files));
	if (!dst->files)
		return -ENOMEM;
	dst->n_files = src->n_files;
	for (i = 0; i < src->n_files; i++) {
		dst->files[i].name = reg_strdup_or(src->files[i].name, &oom);
		dst->files[i].upstream = reg_strdup_or(src->files[i].upstream, &oom);
		dst->files[i].sha256 = reg_strdup_or(src->files[i].sha256, &oom);
		dst->files[i].size_bytes = src->files[i].size_bytes;
		dst->files[i].role = src->files[i].role;
	}
	return oom ? -ENOMEM : 0;
}

static int reg_file(struct model_file *f, const char *name, const struct registry_listing_entry *e,
		    uint64_t reader_size, enum file_role role)
{
	bool oom = false;

	f->name = reg_strdup_or(name, &oom);
	f->upstream = reg_strdup_or(e->path, &oom);
	f->sha256 = reg_strdup_or(e->sha256, &oom);
	f->size_bytes = e->size_bytes ? e->size_bytes : (reader_size != UINT64_MAX ? reader_size : 0);
	f->role = role;
	return oom ? -ENOMEM : 0;
}

static int reg_build_quant(struct reg_state *s, size_t q, double params_b, struct model_quant *out)
{
	const struct registry_plan_quant *pq = &s->plan.quants[q];
	const struct reg_job *mm = s->mmproj_job != REG_NO_QUANT ? &s->jobs[s->mmproj_job] : NULL;
	uint64_t params = 0, weight = 0, size = 0;
	bool exact = true, oom = false;
	size_t i, n = pq->n_files + (mm ? 1 : 0);
	char fname[64];
	int rc;

	memset(out, 0, sizeof(*out));
	out->name = reg_strdup_or(pq->name, &oom);
	out->file_pattern = reg_strdup_or(s->l.entries[pq->files[0]].path, &oom);
	out->weights_layout = s->jobs[s->quant_job[q]].layout;
	out->weights_layout_bytes = s->jobs[s->quant_job[q]].layout_bytes;
	s->jobs[s->quant_job[q]].layout = NULL;
	s->jobs[s->quant_job[q]].layout_bytes = 0;
	out->files = calloc(n, sizeof(*out->files));
	if (oom || !out->files)
		return -ENOMEM;
	out->n_files = n;
	for (i = 0; i < pq->n_files; i++) {
		const struct reg_job *j = &s->jobs[s->quant_job[q] + i];

		if (pq->n_files == 1)
			snprintf(fname, sizeof(fname), "model.gguf");
		else
			snprintf(fname, sizeof(fname), "model-%05zu-of-%05zu.gguf", i + 1, pq->n_files);
		rc = reg_file(&out->files[i], fname, &s->l.entries[pq->files[i]], j->file_size, FILE_ROLE_MODEL);
		if (rc)
			return rc;
		params += j->params;
		weight += j->weight_bytes;
		size += out->files[i].size_bytes;
		exact &= out->files[i].size_bytes != 0;
	}
	if (mm) {
		rc = reg_file(&out->files[pq->n_files], "mmproj.gguf", &s->l.entries[mm->entry], mm->file_size,
			      FILE_ROLE_MMPROJ);
		if (rc)
			return rc;
	}
	out->size_bytes = size;
	out->size_exact = exact;
	out->bits_per_weight = params ? (double)weight * 8.0 / (double)params : 0;
	if (out->bits_per_weight > 64)
		out->bits_per_weight = 0;
	out->quality_stars = render_quality_stars(params_b, out->bits_per_weight);
	return 0;
}

static int reg_extra_json(struct reg_state *s, struct model_variant *v)
{
	const struct reg_job *mm = s->mmproj_job != REG_NO_QUANT ? &s->jobs[s->mmproj_job] : NULL;
	const char *first = s->l.entries[s->plan.quants[0].files[0]].path;
	json_t *o = json_object(), *src = json_object(), *files = NULL;
	char arch_src[1024], sizes[512];
	int bad = 0;

	if (!o || !src)
		goto out_nomem;
	snprintf(arch_src, sizeof(arch_src), "GGUF header of %s%s%s%s%s", first,
		 s->sha ? " at " : "", s->sha ? s->sha : "", s->config_from ? "; config.json from " : "",
		 s->config_from ? s->config_from : "");
	snprintf(sizes, sizeof(sizes), "%s of %s%s%s", s->local ? "folder listing" : "hub listing",
		 s->repo_id, s->sha ? " at " : "", s->sha ? s->sha : "");
	bad |= json_object_set_new(src, "architecture", json_string(arch_src));
	bad |= json_object_set_new(src, "sizes", json_string(sizes));
	if (!s->local)
		bad |= json_object_set_new(src, "hub", json_sprintf("%s/%s", hub_endpoint(s->h), s->repo_id));
	bad |= json_object_set(o, "sources", src);
	if (mm) {
		files = json_array();
		bad |= !files;
		if (files) {
			bad |= json_array_append_new(files, json_pack("{s:s,s:s}", "name", "mmproj.gguf", "path",
								      s->l.entries[mm->entry].path));
			bad |= json_object_set(o, "additional_files", files);
		}
	}
	if (bad)
		goto out_nomem;
	v->extra_json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(files);
	json_decref(src);
	json_decref(o);
	return v->extra_json ? 0 : -ENOMEM;

out_nomem:
	json_decref(files);
	json_decref(src);
	json_decref(o);
	return -ENOMEM;
}

static bool reg_has_quant(const struct model_variant *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->n_quants; i++)
		if (strcmp(v->quants[i].name, name) == 0)
			return true;
	return false;
}

/* Keeps the quants the snapshot has for this variant and repo that the
 * request did not touch. */
static int reg_merge_old(struct reg_state *s, const struct registry_snapshot *snap,
			 struct model_variant *v)
{
	const struct model_variant *old = registry_find_variant(snap, v->family, v->variant);
	struct model_quant *q;
	size_t i, extra = 0;
	int rc;

	if (!old || !old->repo_id || strcasecmp(old->repo_id, s->repo_id) != 0)
		return 0;
	for (i = 0; i < old->n_quants; i++)
		extra += !reg_has_quant(v, old->quants[i].name);
	if (!extra)
		return 0;
	q = realloc(v->quants, (v->n_quants + extra) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	v->quants = q;
	for (i = 0; i < old->n_quants; i++) {
		if (reg_has_quant(v, old->quants[i].name))
			continue;
		rc = reg_copy_quant(&v->quants[v->n_quants], &old->quants[i]);
		v->n_quants++;
		if (rc)
			return rc;
	}
	return 0;
}

static int reg_build(struct reg_state *s, const struct registry_snapshot *snap, struct model_variant *v,
		     struct diag *d)
{
	const struct reg_job *p = &s->jobs[s->quant_job[0]];
	struct registry_names names;
	struct sbuf aj;
	bool oom = false, partial;
	double params_b;
	uint64_t params = 0;
	size_t i;
	int rc;

	rc = reg_names(s, snap, &names, d);
	if (rc)
		return rc;
	for (i = 0; i < s->plan.quants[0].n_files; i++)
		params += s->jobs[s->quant_job[0] + i].params;
	params_b = (double)params / 1e9;
	memset(v, 0, sizeof(*v));
	v->family = reg_strdup_or(names.family, &oom);
	v->variant = reg_strdup_or(names.variant, &oom);
	v->full_name = reg_strdup_or(names.full_name[0] ? names.full_name : NULL, &oom);
	v->repo_id = reg_strdup_or(s->repo_id, &oom);
	v->revision = reg_strdup_or(s->sha, &oom);
	v->base_repo = reg_strdup_or(s->req->base[0] ? s->req->base : NULL, &oom);
	v->architecture = reg_strdup_or(arch_has(&s->arch, ARCH_F_ARCHITECTURE) ? s->arch.architecture :
					p->g_arch, &oom);
	v->origin = reg_strdup_or(s->local ? "local" : "hub", &oom);
	v->config_json = reg_strdup_or(s->config, &oom);
	if (oom)
		return diag_fail(d, -ENOMEM, "out of memory");
	v->parameter_count_exact = params;
	v->parameter_count_b = params_b;
	v->context_window = arch_has(&s->arch, ARCH_F_CONTEXT_LENGTH) ? s->arch.context_length : 0;
	v->multimodal = s->mmproj_job != REG_NO_QUANT;
	sbuf_init(&aj, CAP_RENDER_BYTES);
	arch_update_source(&s->arch);
	rc = arch_to_json(&s->arch, &aj);
	if (!rc)
		v->arch_json = sbuf_detach(&aj, NULL);
	sbuf_release(&aj);
	if (rc || !v->arch_json)
		return diag_fail(d, -ENOMEM, "out of memory");
	if (reg_extra_json(s, v))
		return diag_fail(d, -ENOMEM, "out of memory");
	v->quants = calloc(s->plan.n_quants, sizeof(*v->quants));
	if (!v->quants)
		return diag_fail(d, -ENOMEM, "out of memory");
	for (i = 0; i < s->plan.n_quants; i++) {
		rc = reg_build_quant(s, i, params_b, &v->quants[i]);
		v->n_quants++;
		if (rc)
			return diag_fail(d, rc, "out of memory");
	}
	partial = s->req->quant[0] || (s->subpath && s->subpath[0]);
	if (partial && snap && reg_merge_old(s, snap, v))
		return diag_fail(d, -ENOMEM, "out of memory");
	return 0;
}

/* Names the quants the file names did not name, from general.file_type;
 * then keeps only quant= when it was given. */
static int reg_quant_names(struct reg_state *s, struct diag *d)
{
	const char *want = s->req->quant;
	size_t q, keep = 0;

	for (q = 0; q < s->plan.n_quants; q++) {
		const struct reg_job *j = &s->jobs[s->quant_job[q]];
		const char *name;

		if (s->plan.quants[q].name[0] || j->file_type < 0)
			continue;
		name = ggml_ftype_quant((uint32_t)j->file_type);
		if (name && parse_is_name(name))
			snprintf(s->plan.quants[q].name, sizeof(s->plan.quants[q].name), "%s", name);
	}
	for (q = 0; want[0] && q < s->plan.n_quants; q++) {
		if (strcmp(s->plan.quants[q].name, want) != 0) {
			free(s->plan.quants[q].files);
			continue;
		}
		s->plan.quants[keep] = s->plan.quants[q];
		s->quant_job[keep] = s->quant_job[q];
		keep++;
	}
	if (want[0]) {
		s->plan.n_quants = keep;
		if (!keep)
			return diag_fail(d, -ENOENT, "no quant '%s' in '%s'; see its files on the hub", want,
					 s->repo_id);
	}
	if (registry_plan_finish_names(&s->plan, &s->l))
		return diag_fail(d, -ENOMEM, "out of memory");
	return 0;
}

int hub_register(struct hub *h, const struct control_request *req,
		 const struct registry_snapshot *snap, struct model_variant *out,
		 struct hub_register_stats *stats, struct diag *d)
{
	struct reg_state s;
	struct reg_ctx x;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (stats)
		memset(stats, 0, sizeof(*stats));
	if ((req->verb != CONTROL_REGISTER && req->verb != CONTROL_REFRESH) ||
	    (req->target != CONTROL_TARGET_REPO && req->target != CONTROL_TARGET_LOCAL))
		return diag_fail(d, -EINVAL, "register: needs a repo or a local path");
	memset(&s, 0, sizeof(s));
	s.req = req;
	s.h = h;
	s.local = req->target == CONTROL_TARGET_LOCAL;
	s.mmproj_job = REG_NO_QUANT;
	registry_listing_init(&s.l);
	arch_init(&s.arch);
	if (s.local) {
		rc = reg_local_listing(req->path, &s.root, &s.subpath, &s.l, d);
		if (!rc) {
			s.repo_id = strdup(s.root);
			if (!s.repo_id)
				rc = diag_fail(d, -ENOMEM, "out of memory");
			reg_hf_cache_repo(s.root, s.name_hint, sizeof(s.name_hint));
		}
	} else {
		rc = reg_hub_listing(&s, d);
	}
	if (rc)
		goto out_release;
	rc = registry_plan_build(&s.l, s.subpath, req->quant[0] ? req->quant : NULL, &s.plan, d);
	if (rc)
		goto out_release;
	if (!s.local && s.gated && !hub_has_token(h)) {
		rc = diag_fail(d, -EACCES, "'%s' is gated: accept its licence at %s/%s, then set a token of "
			       "that account (HF_TOKEN or token_file=)", s.repo_id, hub_endpoint(h), s.repo_id);
		goto out_release;
	}
	rc = reg_plan_jobs(&s, d);
	if (rc)
		goto out_release;
	memset(&x, 0, sizeof(x));
	x.h = s.local ? NULL : h;
	x.repo_id = s.repo_id;
	x.rev = s.sha;
	x.root = s.local ? s.root : NULL;
	x.l = &s.l;
	x.jobs = s.jobs;
	x.n_jobs = s.n_jobs;
	reg_run_all(&x);
	for (i = 0; stats && i < s.n_jobs; i++) {
		if (!s.jobs[i].rc)
			stats->headers++;
		stats->header_bytes += s.jobs[i].header_bytes;
		stats->fetched_bytes += s.jobs[i].fetched_bytes;
		stats->reader_requests += s.jobs[i].requests;
	}
	rc = reg_check_jobs(&s, stats, d);
	if (rc)
		goto out_release;
	if (stats)
		stats->skipped += (unsigned)s.plan.n_skipped;
	rc = reg_layouts(&s, d);
	if (rc)
		goto out_release;
	arch_release(&s.arch);
	s.arch = s.jobs[s.quant_job[0]].arch;
	arch_init(&s.jobs[s.quant_job[0]].arch);
	if (s.mmproj_job != REG_NO_QUANT && reg_take_vision(&s.arch, &s.jobs[s.mmproj_job].arch)) {
		rc = diag_fail(d, -ENOMEM, "out of memory");
		goto out_release;
	}
	rc = reg_fetch_config(&s, d);
	if (rc)
		goto out_release;
	rc = reg_quant_names(&s, d);
	if (rc)
		goto out_release;
	rc = reg_build(&s, snap, out, d);
	if (rc)
		registry_variant_release(out);

out_release:
	reg_state_release(&s);
	return rc;
}

void hub_refresh_request(const struct model_variant *v, struct control_request *out)
{
	memset(out, 0, sizeof(*out));
	out->verb = CONTROL_REGISTER;
	if (v->origin && strcmp(v->origin, "local") == 0) {
		out->target = CONTROL_TARGET_LOCAL;
		snprintf(out->path, sizeof(out->path), "%s", v->repo_id ? v->repo_id : "");
	} else {
		out->target = CONTROL_TARGET_REPO;
		snprintf(out->repo_id, sizeof(out->repo_id), "%s", v->repo_id ? v->repo_id : "");
		if (v->base_repo)
			snprintf(out->base, sizeof(out->base), "%s", v->base_repo);
	}
	if (v->family)
		snprintf(out->family, sizeof(out->family), "%s", v->family);
	if (v->variant)
		snprintf(out->variant, sizeof(out->variant), "%s", v->variant);
	if (v->full_name)
		snprintf(out->full_name, sizeof(out->full_name), "%s", v->full_name);
}
