/*
 * ops.c - the FUSE operations: the file system as the kernel sees it.
 *
 * modelfs uses libfuse's high-level, path-based API (FUSE 3.14): every
 * operation receives a path, and every operation has the same shape
 * (STYLE §8): take a view of the registry, resolve the path with
 * tree_resolve() to a struct tree_node, switch on its kind, call core to
 * render, and format.  No parsing or estimation happens here.
 *
 * Views.  A view is a registry snapshot plus the tree that indexes it.
 * Each operation holds one for its whole run (two refcount bumps), so a
 * registry change in another thread never pulls data out from under it.
 * The newest view is cached in the context and rebuilt when the
 * snapshot's generation moves; its build time is the mtime the mount
 * reports, so `make`-style tools see a change when the registry changes.
 *
 * Rendered files.  Computed files are rendered once, at open, into a
 * refcounted blob that the handle (fi->fh) holds and read serves from; a
 * reader therefore sees one consistent rendering however it reads.  stat
 * must report the real size (SPEC §3), so getattr renders too; a small
 * cache keyed by (generation, path) makes the getattr, open and read of one
 * file cost one rendering, and `ls -lR` of 10,000 models cost one
 * rendering per file.  The cache holds at most FS_RCACHE_SLOTS renders and
 * FS_RCACHE_MAX_BYTES (registry.json of 10,000 models is some 40 MiB); the
 * least recently used render goes first, and a new generation drops the
 * old renders at once.  Files whose content changes without a registry
 * change (.control/log, config, hardware, QUANT/status) are never cached:
 * getattr renders them afresh, and they are opened with direct_io so that
 * the kernel's page cache never serves a stale copy.
 *
 * Timeouts.  The kernel caches entries and attributes for one second, so
 * `ls -lR` needs one round trip per entry, not three.  A control write
 * that changes the registry invalidates what it changed (fs_invalidate),
 * so `echo ... > .control/unregister; ls` shows the change at once.
 * Negative entries are not cached: a model registered now is visible now.
 *
 * Refusals (SPEC §3, §6): creating, removing, renaming or linking fails
 * with EROFS; chmod, chown and utimens with EPERM; opening a 0444 file for
 * writing or a write-only control file for reading with EACCES.
 * Truncating a control file is a no-op that succeeds, so `echo x >
 * .control/unregister` works; truncating anything else is EACCES.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fuse.h>
#include <jansson.h>

#include "fs_int.h"

#define FS_ENTRY_TIMEOUT_S 1.0   /* seconds the kernel may cache a name */
#define FS_ATTR_TIMEOUT_S 1.0    /* seconds the kernel may cache attributes */
#define FS_BLKSIZE 4096          /* bytes, st_blksize and f_bsize */

static const char fs_readme[] =
	"modelfs: a registry of LLM models, as files.\n"
	"\n"
	"  FAMILY/VARIANT/info.json           model metadata (JSON)\n"
	"  FAMILY/VARIANT/architecture.json   normalized architecture (JSON)\n"
	"  FAMILY/VARIANT/config.json         the upstream config.json, when known\n"
	"  FAMILY/VARIANT/QUANT/info.json     one quantization: files, size, estimate\n"
	"  FAMILY/VARIANT/QUANT/status        cache and benchmark state (KEY=VALUE)\n"
	"  registry.json                      every model, one JSON document\n"
	"  models.tsv                         one row per FAMILY/VARIANT/QUANT\n"
	"  by-repo/ORG/REPO                   symlinks to FAMILY/VARIANT\n"
	"  .control/                          requests, one per line, written with echo\n"
	"\n"
	"Examples:\n"
	"  column -t -s \"$(printf '\\t')\" models.tsv\n"
	"  jq . llama/llama-3.1-8b-instruct/info.json\n"
	"  echo llama/llama-3.1-8b-instruct >.control/unregister\n"
	"  echo gpu_vram_mib=24G >.control/hardware\n"
	"  tail .control/log\n"
	"\n"
	"Unmount with `fusermount3 -u MOUNTPOINT`.  See `modelfs --help`.\n";

static struct fs_ctx *fs_ctx_get(void)
{
	return fuse_get_context()->private_data;
}

/* ------------------------------------------------------------------------
 * Blobs
 * ------------------------------------------------------------------------ */
int fs_blob_take(struct sbuf *sb, struct fs_blob **out)
{
	struct fs_blob *b;

	*out = NULL;
	if (sb->err) {
		int err = sb->err;

		sbuf_release(sb);
		return err;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		sbuf_release(sb);
		return -ENOMEM;
	}
	if (!sb->buf) {
		b->data = strdup("");
		sbuf_release(sb);
		if (!b->data) {
			free(b);
			return -ENOMEM;
		}
	} else {
		b->data = sbuf_detach(sb, &b->len);
	}
	b->refs = 1;
	*out = b;
	return 0;
}

struct fs_blob *fs_blob_ref(struct fs_blob *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void fs_blob_unref(struct fs_blob *b)
{
	if (!b)
		return;
	if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(b->data);
		free(b);
	}
}

/* ------------------------------------------------------------------------
 * The render cache
 * ------------------------------------------------------------------------ */
static uint64_t fs_path_hash(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h ? h : 1;
}

static void rcache_clear_slot(struct fs_rcache *rc, struct fs_rcache_slot *slot)
{
	if (!slot->hash)
		return;
	rc->bytes -= slot->blob->len;
	fs_blob_unref(slot->blob);
	free(slot->path);
	memset(slot, 0, sizeof(*slot));
}

static struct fs_blob *rcache_get(struct fs_rcache *rc, uint64_t generation, const char *path)
{
	uint64_t hash = fs_path_hash(path);
	struct fs_blob *found = NULL;
	size_t i;

	pthread_mutex_lock(&rc->lock);
	for (i = 0; i < FS_RCACHE_SLOTS; i++) {
		struct fs_rcache_slot *slot = &rc->slots[i];

		if (slot->hash == hash && slot->generation == generation && strcmp(slot->path, path) == 0) {
			slot->used = ++rc->clock;
			found = fs_blob_ref(slot->blob);
			break;
		}
	}
	pthread_mutex_unlock(&rc->lock);
	return found;
}

/* Keeps a reference to blob under (generation, path).  Failing to cache
 * (no memory for the key, or a blob over the byte bound) is not an error:
 * the next lookup renders again. */
static void rcache_put(struct fs_rcache *rc, uint64_t generation, const char *path, struct fs_blob *blob)
{
	uint64_t hash = fs_path_hash(path);
	struct fs_rcache_slot *slot;
	char *key;
	size_t i;

	if (blob->len > FS_RCACHE_MAX_BYTES / 2)
		return;
	key = strdup(path);
	if (!key)
		return;
	pthread_mutex_lock(&rc->lock);
	for (;;) {
		struct fs_rcache_slot *victim = NULL, *empty = NULL;

		for (i = 0; i < FS_RCACHE_SLOTS; i++) {
			slot = &rc->slots[i];
			if (slot->hash == hash && slot->generation == generation && strcmp(slot->path, path) == 0)
				rcache_clear_slot(rc, slot);
			if (!slot->hash) {
				if (!empty)
					empty = slot;
			} else if (!victim || slot->used < victim->used) {
				victim = slot;
			}
		}
		if ((empty && rc->bytes + blob->len <= FS_RCACHE_MAX_BYTES) || !victim) {
			slot = empty;
			break;
		}
		rcache_clear_slot(rc, victim);
	}
	slot->generation = generation;
	slot->hash = hash;
	slot->path = key;
	slot->blob = fs_blob_ref(blob);
	slot->used = ++rc->clock;
	rc->bytes += blob->len;
	pthread_mutex_unlock(&rc->lock);
}

static void rcache_drop_older(struct fs_rcache *rc, uint64_t generation)
{
	size_t i;

	pthread_mutex_lock(&rc->lock);
	for (i = 0; i < FS_RCACHE_SLOTS; i++)
		if (rc->slots[i].hash && rc->slots[i].generation < generation)
			rcache_clear_slot(rc, &rc->slots[i]);
	pthread_mutex_unlock(&rc->lock);
}

/* ------------------------------------------------------------------------
 * The context and its views
 * ------------------------------------------------------------------------ */
int fs_ctx_init(struct fs_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	pthread_mutex_init(&ctx->hw_lock, NULL);
	pthread_mutex_init(&ctx->ctl_lock, NULL);
	pthread_mutex_init(&ctx->view_lock, NULL);
	pthread_mutex_init(&ctx->rcache.lock, NULL);
	pthread_mutex_init(&ctx->handles_lock, NULL);
	ctx->uid = getuid();
	ctx->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &ctx->mount_time);
	return 0;
}

static void fs_view_free(struct fs_ctx *ctx, struct fs_view *v)
{
	fs_blob_unref(v->registry_json);
	fs_blob_unref(v->models_tsv);
	pthread_mutex_destroy(&v->whole_lock);
	tree_free(v->tree);
	registry_snapshot_put(ctx->reg, v->snap);
	free(v);
}

static void fs_handle_free(struct fs_handle *h)
{
	fs_blob_unref(h->blob);
	free(h);
}

void fs_ctx_release(struct fs_ctx *ctx)
{
	size_t i;

	while (ctx->handles) {
		struct fs_handle *h = ctx->handles;

		ctx->handles = h->next;
		fs_handle_free(h);
	}
	pthread_mutex_destroy(&ctx->handles_lock);
	if (ctx->view)
		fs_view_put(ctx, ctx->view);
	ctx->view = NULL;
	for (i = 0; i < FS_RCACHE_SLOTS; i++)
		rcache_clear_slot(&ctx->rcache, &ctx->rcache.slots[i]);
	pthread_mutex_destroy(&ctx->rcache.lock);
	pthread_mutex_destroy(&ctx->view_lock);
	pthread_mutex_destroy(&ctx->ctl_lock);
	pthread_mutex_destroy(&ctx->hw_lock);
}

void fs_view_put(struct fs_ctx *ctx, struct fs_view *v)
{
	int refs;

	if (!v)
		return;
	pthread_mutex_lock(&ctx->view_lock);
	refs = --v->refs;
	pthread_mutex_unlock(&ctx->view_lock);
	if (refs == 0)
		fs_view_free(ctx, v);
}

int fs_view_get(struct fs_ctx *ctx, struct fs_view **out)
{
	struct registry_snapshot *snap;
	struct fs_view *v, *old = NULL;
	int rc;

	*out = NULL;
	rc = registry_snapshot_get(ctx->reg, &snap);
	if (rc)
		return rc;
	pthread_mutex_lock(&ctx->view_lock);
	v = ctx->view;
	if (v && v->snap->generation >= snap->generation) {
		v->refs++;
		pthread_mutex_unlock(&ctx->view_lock);
		registry_snapshot_put(ctx->reg, snap);
		*out = v;
		return 0;
	}
	pthread_mutex_unlock(&ctx->view_lock);

	v = calloc(1, sizeof(*v));
	if (!v) {
		registry_snapshot_put(ctx->reg, snap);
		return -ENOMEM;
	}
	v->snap = snap;
	rc = tree_new(snap, &v->tree);
	if (rc) {
		registry_snapshot_put(ctx->reg, snap);
		free(v);
		return rc;
	}
	v->refs = 2;
	pthread_mutex_init(&v->whole_lock, NULL);

	pthread_mutex_lock(&ctx->view_lock);
	if (ctx->view && ctx->view->snap->generation >= snap->generation) {
		ctx->view->refs++;
		*out = ctx->view;
		pthread_mutex_unlock(&ctx->view_lock);
		pthread_mutex_destroy(&v->whole_lock);
		tree_free(v->tree);
		registry_snapshot_put(ctx->reg, snap);
		free(v);
		return 0;
	}
	if (ctx->view)
		clock_gettime(CLOCK_REALTIME, &v->mtime);
	else
		v->mtime = ctx->mount_time;
	old = ctx->view;
	ctx->view = v;
	pthread_mutex_unlock(&ctx->view_lock);

	fs_view_put(ctx, old);
	rcache_drop_older(&ctx->rcache, snap->generation);
	*out = v;
	return 0;
}

void fs_invalidate(struct fs_ctx *ctx, const char *path)
{
	/* -ENOENT: the kernel never looked the path up, so it caches nothing
	 * of it; other errors only mean the kernel keeps a copy until the
	 * one-second timeout. */
	if (ctx->fuse)
		(void)fuse_invalidate_path(ctx->fuse, path);
}

void fs_hw_get(struct fs_ctx *ctx, struct hw_profile *out)
{
	pthread_mutex_lock(&ctx->hw_lock);
	*out = ctx->hw;
	pthread_mutex_unlock(&ctx->hw_lock);
}

/* ------------------------------------------------------------------------
 * Nodes: mode, rendering, attributes
 * ------------------------------------------------------------------------ */
static bool node_is_volatile(const struct tree_node *n)
{
	if (n->kind == TREE_QUANT_STATUS)
		return true;
	return n->kind == TREE_CONTROL_FILE && n->ctl->direct_io;
}

static mode_t node_mode(const struct tree_node *n)
{
	if (tree_is_dir(n->kind))
		return S_IFDIR | 0555;
	if (n->kind == TREE_REPO_LINK)
		return S_IFLNK | 0777;
	if (n->kind == TREE_CONTROL_FILE)
		return S_IFREG | n->ctl->mode;
	return S_IFREG | 0444;
}

static bool node_is_readable(const struct tree_node *n)
{
	return n->kind != TREE_CONTROL_FILE || n->ctl->render != NULL;
}

static int render_config_json(const char *text, struct sbuf *out)
{
	json_error_t jerr;
	json_t *root;
	char *pretty;

	root = json_loads(text, JSON_ALLOW_NUL, &jerr);
	if (!root)
		return sbuf_addstr(out, text);
	pretty = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!pretty)
		return -ENOMEM;
	sbuf_addstr(out, pretty);
	free(pretty);
	return sbuf_addch(out, '\n');
}

static int node_render(struct fs_ctx *ctx, const struct fs_view *view, const struct tree_node *n,
		       struct sbuf *out)
{
	switch (n->kind) {
	case TREE_README:
		return sbuf_addstr(out, fs_readme);
	case TREE_REGISTRY_JSON:
		return render_registry_json(view->snap, out);
	case TREE_MODELS_TSV:
		return render_models_tsv(view->snap, out);
	case TREE_VARIANT_INFO:
		return render_variant_info(n->variant, out);
	case TREE_VARIANT_ARCH:
		return render_variant_arch(n->variant, out);
	case TREE_VARIANT_CONFIG:
		return render_config_json(n->variant->config_json, out);
	case TREE_QUANT_INFO:
		return render_quant_info(n->variant, n->quant, out);
	case TREE_QUANT_STATUS:
		return render_quant_status(n->variant, n->quant, out);
	case TREE_CONTROL_FILE:
		return n->ctl->render ? n->ctl->render(ctx, out) : 0;
	default:
		return -EISDIR;
	}
}

static int node_render_blob(struct fs_ctx *ctx, const struct fs_view *view, const char *path,
			    const struct tree_node *n, struct fs_blob **out)
{
	struct sbuf sb;
	int rc;

	sbuf_init(&sb, CAP_RENDER_BYTES);
	rc = node_render(ctx, view, n, &sb);
	if (rc == 0)
		rc = sb.err;
	if (rc) {
		sbuf_release(&sb);
		log_msg(LOG_ERROR, "cannot render '%s': %s", path, strerror(-rc));
		return rc;
	}
	return fs_blob_take(&sb, out);
}

/* registry.json and models.tsv: rendered once per view, by one thread
 * while the others wait, and kept with the view rather than in the LRU
 * cache, which `ls -lR` would flush. */
static int node_whole_blob(struct fs_ctx *ctx, struct fs_view *view, const char *path,
			   const struct tree_node *n, struct fs_blob **out)
{
	struct fs_blob **slot = n->kind == TREE_REGISTRY_JSON ? &view->registry_json : &view->models_tsv;
	int rc = 0;

	pthread_mutex_lock(&view->whole_lock);
	if (!*slot)
		rc = node_render_blob(ctx, view, path, n, slot);
	if (rc == 0)
		*out = fs_blob_ref(*slot);
	pthread_mutex_unlock(&view->whole_lock);
	return rc;
}

/* The rendering of file n at path: from the cache, or rendered now (and
 * cached unless volatile).  *out: one new reference. */
static int node_blob(struct fs_ctx *ctx, struct fs_view *view, const char *path,
		     const struct tree_node *n, struct fs_blob **out)
{
	bool cacheable = !node_is_volatile(n);
	int rc;

	*out = NULL;
	if (n->kind == TREE_REGISTRY_JSON || n->kind == TREE_MODELS_TSV)
		return node_whole_blob(ctx, view, path, n, out);
	if (cacheable) {
		*out = rcache_get(&ctx->rcache, view->snap->generation, path);
		if (*out)
			return 0;
	}
	rc = node_render_blob(ctx, view, path, n, out);
	if (rc)
		return rc;
	if (cacheable)
		rcache_put(&ctx->rcache, view->snap->generation, path, *out);
	return 0;
}

static int node_stat(struct fs_ctx *ctx, struct fs_view *view, const char *path,
		     const struct tree_node *n, struct stat *st)
{
	struct fs_blob *blob;
	struct sbuf target;
	int rc;

	memset(st, 0, sizeof(*st));
	st->st_mode = node_mode(n);
	st->st_uid = ctx->uid;
	st->st_gid = ctx->gid;
	st->st_nlink = 1;
	st->st_blksize = FS_BLKSIZE;
	st->st_atim = view->mtime;
	st->st_mtim = view->mtime;
	st->st_ctim = view->mtime;
	if (tree_is_dir(n->kind)) {
		st->st_nlink = 2 + tree_count_subdirs(view->tree, n);
		return 0;
	}
	if (n->kind == TREE_REPO_LINK) {
		sbuf_init(&target, PATH_MAX);
		rc = tree_link_target(n, &target);
		st->st_size = (off_t)target.len;
		sbuf_release(&target);
		return rc;
	}
	if (!node_is_readable(n))
		return 0;
	rc = node_blob(ctx, view, path, n, &blob);
	if (rc)
		return rc;
	st->st_size = (off_t)blob->len;
	st->st_blocks = (blkcnt_t)((blob->len + 511) / 512);
	fs_blob_unref(blob);
	return 0;
}

/* ------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------ */
static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->entry_timeout = FS_ENTRY_TIMEOUT_S;
	cfg->attr_timeout = FS_ATTR_TIMEOUT_S;
	cfg->negative_timeout = 0;
	cfg->use_ino = 0;
	cfg->nullpath_ok = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->direct_io = 0;
	/* by-repo links change only with the registry, and a change
	 * invalidates them (fs_invalidate), so the kernel may keep them. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	return fs_ctx_get();
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_get();
	struct fs_view *view;
	struct tree_node n;
	int rc;

	rc = fs_view_get(ctx, &view);
	if (rc)
		return rc;
	rc = tree_resolve(view->tree, path, &n);
	if (rc == 0)
		rc = node_stat(ctx, view, path, &n, st);
	fs_view_put(ctx, view);
	return rc;
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	struct fs_ctx *ctx = fs_ctx_get();
	struct fs_view *view;
	struct tree_node n;
	struct sbuf target;
	int rc;

	if (size == 0)
		return -EINVAL;
	rc = fs_view_get(ctx, &view);
	if (rc)
		return rc;
	rc = tree_resolve(view->tree, path, &n);
	if (rc == 0) {
		sbuf_init(&target, PATH_MAX);
		rc = tree_link_target(&n, &target);
		if (rc == 0) {
			size_t len = target.len < size - 1 ? target.len : size - 1;

			memcpy(buf, target.buf, len);
			buf[len] = '\0';
		}
		sbuf_release(&target);
	}
	fs_view_put(ctx, view);
	return rc;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_get();
	int acc = fi->flags & O_ACCMODE;
	bool want_read = acc == O_RDONLY || acc == O_RDWR;
	bool want_write = acc == O_WRONLY || acc == O_RDWR;
	struct fs_handle *h = NULL;
	struct fs_view *view;
	struct tree_node n;
	int rc;

	rc = fs_view_get(ctx, &view);
	if (rc)
		return rc;
	rc = tree_resolve(view->tree, path, &n);
	if (rc)
		goto out_put;
	if (tree_is_dir(n.kind)) {
		rc = -EISDIR;
		goto out_put;
	}
	if (n.kind == TREE_CONTROL_FILE) {
		if ((want_read && !n.ctl->render) || (want_write && !n.ctl->write)) {
			rc = -EACCES;
			goto out_put;
		}
	} else if (want_write || (fi->flags & O_TRUNC)) {
		rc = -EACCES;
		goto out_put;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = -ENOMEM;
		goto out_put;
	}
	h->ctl = n.kind == TREE_CONTROL_FILE ? n.ctl : NULL;
	if (want_read) {
		rc = node_blob(ctx, view, path, &n, &h->blob);
		if (rc) {
			free(h);
			goto out_put;
		}
	}
	fi->direct_io = node_is_volatile(&n);
	fi->keep_cache = 0;
	fi->fh = (uint64_t)(uintptr_t)h;
	pthread_mutex_lock(&ctx->handles_lock);
	h->next = ctx->handles;
	if (h->next)
		h->next->prev = h;
	ctx->handles = h;
	pthread_mutex_unlock(&ctx->handles_lock);

out_put:
	fs_view_put(ctx, view);
	return rc;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	size_t n;

	if (!h || !h->blob)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= h->blob->len)
		return 0;
	n = h->blob->len - (size_t)off;
	if (n > size)
		n = size;
	memcpy(buf, h->blob->data + off, n);
	return (int)n;
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;
	ssize_t rc;

	if (!h || !h->ctl || !h->ctl->write)
		return -EBADF;
	if (size > INT_MAX)
		size = INT_MAX;
	rc = ctl_write(fs_ctx_get(), h->ctl, buf, size);
	return (int)rc;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_get();
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	if (!h)
		return 0;
	pthread_mutex_lock(&ctx->handles_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		ctx->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&ctx->handles_lock);
	fs_handle_free(h);
	fi->fh = 0;
	return 0;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs_ctx *ctx = fs_ctx_get();
	struct fs_view *view;
	struct tree_node n;
	int rc;

	rc = fs_view_get(ctx, &view);
	if (rc)
		return rc;
	rc = tree_resolve(view->tree, path, &n);
	if (rc == 0 && !(n.kind == TREE_CONTROL_FILE && n.ctl->write))
		rc = -EACCES;
	fs_view_put(ctx, view);
	return rc;
}

static int fs_access(const char *path, int mask)
{
	struct fs_ctx *ctx = fs_ctx_get();
	struct fs_view *view;
	struct tree_node n;
	mode_t mode;
	int rc;

	rc = fs_view_get(ctx, &view);
	if (rc)
		return rc;
	rc = tree_resolve(view->tree, path, &n);
	if (rc == 0) {
		mode = node_mode(&n);
		if (((mask & R_OK) && !(mode & 0444)) || ((mask & W_OK) && !(mode & 0222)) ||
		    ((mask & X_OK) && !(mode & 0111)))
			rc = -EACCES;
	}
	fs_view_put(ctx, view);
	return rc;
}

struct fs_fill {
	struct fs_ctx *ctx;
	struct fs_view *view;
	fuse_fill_dir_t filler;
	void *buf;
	bool plus;             /* READDIRPLUS: give each entry's attributes */
	off_t skip;            /* entries an earlier call already returned */
	off_t index;           /* of the next entry, "." and ".." being 0 and 1 */
	char path[PATH_MAX];   /* the directory's path, then each entry's */
	size_t dir_len;        /* bytes of the directory's path, with its trailing '/' */
};

#define FS_FILL_FULL 1     /* tree_list stopped: the reply buffer is full */

static int fs_fill_one(void *arg, const char *name, const struct tree_node *child)
{
	struct fs_fill *f = arg;
	size_t len = strlen(name);
	off_t index = f->index++;
	struct stat st;

	if (index < f->skip)
		return 0;
	memset(&st, 0, sizeof(st));
	st.st_mode = node_mode(child);
	if (f->plus && f->dir_len + len < sizeof(f->path)) {
		memcpy(f->path + f->dir_len, name, len + 1);
		if (node_stat(f->ctx, f->view, f->path, child, &st) == 0)
			return f->filler(f->buf, name, &st, index + 1, FUSE_FILL_DIR_PLUS) ? FS_FILL_FULL : 0;
		memset(&st, 0, sizeof(st));
		st.st_mode = node_mode(child);
	}
	return f->filler(f->buf, name, &st, index + 1, 0) ? FS_FILL_FULL : 0;
}

static int fs_fill_dot(struct fs_fill *f, const char *name)
{
	off_t index = f->index++;
	struct stat st;

	if (index < f->skip)
		return 0;
	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFDIR;
	return f->filler(f->buf, name, &st, index + 1, 0) ? FS_FILL_FULL : 0;
}

/* Lists in libfuse's offset mode: every entry carries its index + 1 as its
 * offset, and a call resumes after the offset it is given.  This is what
 * makes READDIRPLUS work with the high-level API (libfuse 3.14 sends the
 * attributes only in this mode, so that without it the kernel would still
 * LOOKUP every entry), halving the requests of `ls -lR`. */
static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fs_ctx *ctx = fs_ctx_get();
	struct fs_fill *f;
	struct fs_view *view;
	struct tree_node n;
	size_t len;
	int rc;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = fs_view_get(ctx, &view);
	if (rc)
		goto out_free;
	rc = tree_resolve(view->tree, path, &n);
	if (rc)
		goto out_put;
	if (!tree_is_dir(n.kind)) {
		rc = -ENOTDIR;
		goto out_put;
	}
	f->ctx = ctx;
	f->view = view;
	f->filler = filler;
	f->buf = buf;
	f->plus = (flags & FUSE_READDIR_PLUS) != 0;
	f->skip = off > 0 ? off : 0;
	len = strlen(path);
	if (len + 2 > sizeof(f->path)) {
		rc = -ENAMETOOLONG;
		goto out_put;
	}
	memcpy(f->path, path, len);
	if (len == 0 || path[len - 1] != '/')
		f->path[len++] = '/';
	f->dir_len = len;
	rc = fs_fill_dot(f, ".");
	if (rc == 0)
		rc = fs_fill_dot(f, "..");
	if (rc == 0)
		rc = tree_list(view->tree, &n, fs_fill_one, f);
	if (rc == FS_FILL_FULL)
		rc = 0;

out_put:
	fs_view_put(ctx, view);
out_free:
	free(f);
	return rc;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
	struct fs_ctx *ctx = fs_ctx_get();
	struct fs_view *view;
	int rc;

	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = FS_BLKSIZE;
	sv->f_frsize = FS_BLKSIZE;
	sv->f_namemax = 255;
	rc = fs_view_get(ctx, &view);
	if (rc)
		return rc;
	sv->f_files = view->snap->n_variants;
	fs_view_put(ctx, view);
	return 0;
}

static int fs_erofs_path(const char *path)
{
	return -EROFS;
}

static int fs_mknod(const char *path, mode_t mode, dev_t dev)
{
	return -EROFS;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	return -EROFS;
}

static int fs_erofs_2path(const char *from, const char *to)
{
	return -EROFS;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	return -EROFS;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EROFS;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EPERM;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	return -EPERM;
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	return -EPERM;
}

static const struct fuse_operations fs_ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readlink = fs_readlink,
	.access = fs_access,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.release = fs_release,
	.truncate = fs_truncate,
	.statfs = fs_statfs,
	.create = fs_create,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_erofs_path,
	.rmdir = fs_erofs_path,
	.symlink = fs_erofs_2path,
	.link = fs_erofs_2path,
	.rename = fs_rename,
	.chmod = fs_chmod,
	.chown = fs_chown,
	.utimens = fs_utimens,
};

const struct fuse_operations *fs_operations(void)
{
	return &fs_ops;
}
