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
 * the kernel's page cache never serves a stale copy.  Files that depend
 * on the hardware profile (fit@, recommend@, models.tsv) are cached under
 * their path plus the profile's text, so a write to .control/hardware is
 * seen at the next open.
 *
 * Parameterized names (SPEC §5).  vram@... and fit@... in a QUANT
 * directory, recommend@... and fits@.../ at the root are parsed by the
 * tree at lookup; a bad one fails with EINVAL and leaves the parser's
 * message in .control/log.  What depends on the hardware profile is
 * decided here with core's estimator: whether a recommend@ or fits@ name
 * without vram= has a VRAM size, which quants a fits@ directory lists and
 * whether a link in it exists, and the example names listings add (fit@
 * in a QUANT directory, recommend@ and fits@ at the root, when the
 * profile knows the GPU's VRAM).  A vram@ read of a catalog model costs
 * one estimate (some 40 us) at its first lookup and a render-cache hit
 * after that.
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
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
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
	"  FAMILY/VARIANT/QUANT/vram@ctx=8192 VRAM to run it, MiB (also kv= fa= ngl= par= format=json ...)\n"
	"  FAMILY/VARIANT/QUANT/fit@vram=24G  whether it fits a GPU: fits= ngl= max_ctx= (KEY=VALUE)\n"
	"  recommend@vram=24G,ctx=8192        the quants to run on such a GPU, best first (TSV)\n"
	"  fits@vram=24G,ctx=8192/            symlinks to every quant that fits fully\n"
	"  registry.json                      every model, one JSON document\n"
	"  models.tsv                         one row per FAMILY/VARIANT/QUANT\n"
	"  by-repo/ORG/REPO                   symlinks to FAMILY/VARIANT\n"
	"  .control/                          requests, one per line, written with echo\n"
	"\n"
	"Examples:\n"
	"  column -t -s \"$(printf '\\t')\" models.tsv\n"
	"  jq . llama/llama-3.1-8b-instruct/info.json\n"
	"  [ \"$(cat llama/llama-3.1-8b-instruct/q4_k_m/vram@ctx=32k)\" -le 24576 ] && echo fits\n"
	"  echo bartowski/Qwen2.5-7B-Instruct-GGUF >.control/register\n"
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
	pthread_mutex_init(&ctx->register_lock, NULL);
	pthread_mutex_init(&ctx->ctl_lock, NULL);
	pthread_mutex_init(&ctx->view_lock, NULL);
	pthread_mutex_init(&ctx->rcache.lock, NULL);
	pthread_mutex_init(&ctx->handles_lock, NULL);
	pthread_mutex_init(&ctx->files_lock, NULL);
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
	pthread_mutex_destroy(&v->eff_lock);
	tree_free(v->tree);
	registry_snapshot_put(ctx->reg, v->snap);
	free(v);
}

static void fs_handle_free(struct fs_handle *h)
{
	fs_blob_unref(h->blob);
	blob_close(h->model);
	if (h->local_fd >= 0)
		close(h->local_fd);
	free(h->path);
	ctl_pending_free(h->pending);
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
	for (i = 0; i < ctx->files_seen.cap; i++)
		free(ctx->files_seen.slots[i]);
	free(ctx->files_seen.slots);
	memset(&ctx->files_seen, 0, sizeof(ctx->files_seen));
	pthread_mutex_destroy(&ctx->files_lock);
	if (ctx->view)
		fs_view_put(ctx, ctx->view);
	ctx->view = NULL;
	for (i = 0; i < FS_RCACHE_SLOTS; i++)
		rcache_clear_slot(&ctx->rcache, &ctx->rcache.slots[i]);
	pthread_mutex_destroy(&ctx->rcache.lock);
	pthread_mutex_destroy(&ctx->view_lock);
	pthread_mutex_destroy(&ctx->ctl_lock);
	pthread_mutex_destroy(&ctx->register_lock);
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
	pthread_mutex_init(&v->eff_lock, NULL);

	pthread_mutex_lock(&ctx->view_lock);
	if (ctx->view && ctx->view->snap->generation >= snap->generation) {
		ctx->view->refs++;
		*out = ctx->view;
		pthread_mutex_unlock(&ctx->view_lock);
		pthread_mutex_destroy(&v->whole_lock);
		pthread_mutex_destroy(&v->eff_lock);
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
	if (n->kind == TREE_QUANT_STATUS || n->kind == TREE_QUANT_INFO)
		return true;
	return n->kind == TREE_CONTROL_FILE && n->ctl->direct_io;
}

/* Files whose size may change behind the kernel's back: the volatile ones,
 * and those the benchmark worker rewrites from its own thread.  Their
 * renderings are cached per generation like any other, but they are
 * opened with direct_io, so a read runs to the end of what was rendered
 * at open even when the kernel still holds the size of an older
 * rendering (attributes are cached for a second). */
static bool node_is_direct(const struct tree_node *n)
{
	return node_is_volatile(n) || n->kind == TREE_QUANT_BENCHMARK || n->kind == TREE_QUANT_COMPARE;
}

static mode_t node_mode(const struct tree_node *n)
{
	if (tree_is_dir(n->kind))
		return S_IFDIR | 0555;
	if (n->kind == TREE_REPO_LINK || n->kind == TREE_FITS_LINK)
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

/* The Hub file behind a model file node. */
static void model_source(const struct tree_node *n, struct blob_source *src)
{
	memset(src, 0, sizeof(*src));
	src->repo_id = n->variant->repo_id;
	src->revision = n->variant->revision;
	src->path = n->file->upstream;
	src->size_bytes = n->file->size_bytes;
	src->sha256 = n->file->sha256;
}

/* A model registered from a local path (origin "local"): repo_id is its
 * directory and upstream the file's path inside it.  Such files are read
 * where they are, with pread, and never enter the blob store: copying a
 * file the user already has would only double it.  The quant counts as
 * cached. */
static bool model_is_local(const struct tree_node *n)
{
	return fs_variant_is_local(n->variant);
}

static int model_local_path(const struct tree_node *n, char *buf, size_t size)
{
	if ((size_t)snprintf(buf, size, "%s/%s", n->variant->repo_id, n->file->upstream) >= size)
		return -ENAMETOOLONG;
	return 0;
}

bool fs_variant_is_local(const struct model_variant *v)
{
	return v->origin && strcmp(v->origin, "local") == 0 && v->repo_id && v->repo_id[0] == '/';
}

/* What the cache holds of the quant of n, for info.json and status: the
 * sum over its files, "cached" only when every file is.  Never touches
 * the network. */
static void quant_cache(struct fs_ctx *ctx, const struct tree_node *n, struct render_cache *cache,
			char *local_path, size_t size)
{
	bool all = n->quant->n_files > 0, downloading = false;
	struct blob_source src;
	struct blob_info info;
	struct tree_node fn;
	size_t i;

	memset(cache, 0, sizeof(*cache));
	cache->state = "remote";
	local_path[0] = '\0';
	if (n->quant->n_files && model_is_local(n)) {
		for (i = 0; i < n->quant->n_files; i++)
			cache->cached_bytes += n->quant->files[i].size_bytes;
		fn = *n;
		fn.file = &n->quant->files[0];
		if (model_local_path(&fn, local_path, size) == 0)
			cache->local_path = local_path;
		cache->state = "cached";
		return;
	}
	if (!ctx->blobs)
		return;
	for (i = 0; i < n->quant->n_files; i++) {
		fn = *n;
		fn.file = &n->quant->files[i];
		model_source(&fn, &src);
		if (blob_store_query(ctx->blobs, &src, &info) != 0) {
			all = false;
			continue;
		}
		cache->cached_bytes += info.cached_bytes;
		cache->pinned |= info.pinned;
		all &= info.state == BLOB_CACHED;
		downloading |= info.state == BLOB_DOWNLOADING;
		if (i == 0 && info.state == BLOB_CACHED) {
			snprintf(local_path, size, "%s", info.local_path);
			cache->local_path = local_path;
		}
	}
	if (all)
		cache->state = "cached";
	else if (downloading)
		cache->state = "downloading";
	else if (cache->cached_bytes)
		cache->state = "partial";
}

/* The text of the hardware profile a rendering depends on (FS_HW_KEY_BYTES). */
static void fs_hw_key(const struct hw_profile *hw, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIu64 "/%.17g/%" PRIu64 "/%.17g/%.6g", hw->gpu_vram_mib, hw->gpu_bandwidth_gbps,
		 hw->ram_mib, hw->ram_bandwidth_gbps, hw->tg_efficiency);
}

/* The profile with its decode efficiency as the view's benchmarks
 * calibrate it (bench_efficiency), computed once per view and profile. */
static void fs_view_hw(struct fs_ctx *ctx, struct fs_view *view, struct hw_profile *hw)
{
	char key[sizeof(view->tg_efficiency_hw)];

	fs_hw_get(ctx, hw);
	hw->tg_efficiency = 0;
	snprintf(key, sizeof(key), "%.127s/%.17g/%.17g", hw->gpu_name, hw->gpu_bandwidth_gbps,
		 hw->ram_bandwidth_gbps);
	pthread_mutex_lock(&view->eff_lock);
	if (strcmp(view->tg_efficiency_hw, key) != 0) {
		view->tg_efficiency = bench_efficiency(view->snap, hw);
		snprintf(view->tg_efficiency_hw, sizeof(view->tg_efficiency_hw), "%s", key);
	}
	hw->tg_efficiency = view->tg_efficiency;
	pthread_mutex_unlock(&view->eff_lock);
}

static bool node_uses_hw(const struct tree_node *n)
{
	return n->kind == TREE_RECOMMEND || n->kind == TREE_MODELS_TSV || n->kind == TREE_QUANT_COMPARE ||
	       (n->kind == TREE_QUANT_PARAM && n->params.kind == VRAM_KIND_FIT);
}

/* Renders n for the hardware profile hw; d says why a parameterized file
 * cannot be rendered for this model (SPEC §5: EINVAL and a log line). */
static int node_render(struct fs_ctx *ctx, const struct fs_view *view, const struct tree_node *n,
		       const struct hw_profile *hw, struct sbuf *out, struct diag *d)
{
	char local_path[4096];
	struct render_cache cache;

	switch (n->kind) {
	case TREE_README:
		return sbuf_addstr(out, fs_readme);
	case TREE_REGISTRY_JSON:
		return render_registry_json(view->snap, out);
	case TREE_MODELS_TSV:
		return render_models_tsv(view->snap, hw, out);
	case TREE_VARIANT_INFO:
		return render_variant_info(n->variant, out);
	case TREE_VARIANT_ARCH:
		return render_variant_arch(n->variant, out);
	case TREE_VARIANT_CONFIG:
		return render_config_json(n->variant->config_json, out);
	case TREE_QUANT_INFO:
		quant_cache(ctx, n, &cache, local_path, sizeof(local_path));
		return render_quant_info(n->variant, n->quant, &cache, hw, out);
	case TREE_QUANT_STATUS:
		quant_cache(ctx, n, &cache, local_path, sizeof(local_path));
		return render_quant_status(n->variant, n->quant, &cache, out);
	case TREE_QUANT_BENCHMARK:
		return render_quant_benchmark(n->quant, out);
	case TREE_QUANT_COMPARE:
		return render_quant_compare(view->snap, n->variant, n->quant, hw, out);
	case TREE_CONTROL_FILE:
		return n->ctl->render ? n->ctl->render(ctx, out) : 0;
	case TREE_QUANT_PARAM:
		return vram_render_quant(n->variant, n->quant, &n->params, hw, out, d);
	case TREE_RECOMMEND:
		return vram_render_recommend(view->snap, &n->params, hw, out, d);
	default:
		return -EISDIR;
	}
}

static int node_render_blob(struct fs_ctx *ctx, const struct fs_view *view, const char *path,
			    const struct tree_node *n, const struct hw_profile *hw, struct fs_blob **out)
{
	struct sbuf sb;
	struct diag d;
	int rc;

	sbuf_init(&sb, CAP_RENDER_BYTES);
	diag_init(&d);
	rc = node_render(ctx, view, n, hw, &sb, &d);
	if (rc == 0)
		rc = sb.err;
	if (rc) {
		sbuf_release(&sb);
		if (d.msg[0])
			log_msg(LOG_ERROR, "%s: %s", path, d.msg);
		else
			log_msg(LOG_ERROR, "cannot render '%s': %s", path, strerror(-rc));
		return rc;
	}
	return fs_blob_take(&sb, out);
}

/* registry.json and models.tsv: rendered once per view, by one thread
 * while the others wait, and kept with the view rather than in the LRU
 * cache, which `ls -lR` would flush. */
static int node_whole_blob(struct fs_ctx *ctx, struct fs_view *view, const char *path,
			   const struct tree_node *n, const struct hw_profile *hw, const char *hw_key,
			   struct fs_blob **out)
{
	struct fs_blob **slot = n->kind == TREE_REGISTRY_JSON ? &view->registry_json : &view->models_tsv;
	int rc = 0;

	pthread_mutex_lock(&view->whole_lock);
	if (*slot && n->kind == TREE_MODELS_TSV && strcmp(view->models_tsv_hw, hw_key) != 0) {
		fs_blob_unref(*slot);
		*slot = NULL;
	}
	if (!*slot) {
		rc = node_render_blob(ctx, view, path, n, hw, slot);
		if (rc == 0 && n->kind == TREE_MODELS_TSV)
			snprintf(view->models_tsv_hw, sizeof(view->models_tsv_hw), "%s", hw_key);
	}
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
	char hw_key[FS_HW_KEY_BYTES], key[PATH_MAX + FS_HW_KEY_BYTES + 2];
	const char *k = path;
	struct hw_profile hw;
	int rc;

	*out = NULL;
	fs_view_hw(ctx, view, &hw);
	fs_hw_key(&hw, hw_key, sizeof(hw_key));
	if (n->kind == TREE_REGISTRY_JSON || n->kind == TREE_MODELS_TSV)
		return node_whole_blob(ctx, view, path, n, &hw, hw_key, out);
	if (node_uses_hw(n)) {
		snprintf(key, sizeof(key), "%s//%s", path, hw_key);
		k = key;
	}
	if (cacheable) {
		*out = rcache_get(&ctx->rcache, view->snap->generation, k);
		if (*out)
			return 0;
	}
	rc = node_render_blob(ctx, view, path, n, &hw, out);
	if (rc)
		return rc;
	if (cacheable)
		rcache_put(&ctx->rcache, view->snap->generation, k, *out);
	return 0;
}

/* ------------------------------------------------------------------------
 * Model files (QUANT/model.gguf, shards, mmproj.gguf): bytes from the blob
 * store (cache/blob.c), fetched on read.
 *
 * Their content never changes under one path and revision, so they are
 * opened with keep_cache: the kernel's page cache survives close and
 * reopen, warm reads and mmap faults never reach the daemon (8.1 vs 2.0
 * GB/s in the lazy-download notes), and an open costs no 80-130 ms
 * invalidation of a big file's pages.  The one exception is a blob whose
 * sha256 failed in this mount: pages cached from it may be wrong, so its
 * opens drop them (blob_is_stable).  Never direct_io: llama.cpp maps GGUF
 * files MAP_SHARED, which direct_io refuses on libfuse 3.14.  Their mtime
 * is the mount time, not the registry generation's, because a changed
 * mtime makes the kernel drop the page cache of the file.  The size comes
 * from the registry, else from one HEAD (remembered in the registry);
 * when neither can say (offline, hub unreachable) stat shows 0 rather
 * than failing, so ls and find still work, and open fails with ENETDOWN.
 * A read failing with ENOSPC (a full cache) is logged at debug level: the
 * store says why once per blob, and the kernel's read-ahead would repeat
 * it for every request in flight.
 * ------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------
 * Symlinked model files (symlinks=yes, the default).
 *
 * Reads through FUSE reach some 0.8x of the disk at best here, mmap less
 * (the lazy-download notes; tests/bench/bench_lazy.py).  So a model file
 * whose bytes are all in the cache is shown as a symlink to the file that
 * holds them: blobs/<key>, the hf_cache blob it is served from, or a
 * local model's own file, as the huggingface_hub cache's snapshots point
 * at its blobs.  llama.cpp then reads and maps the real file at the
 * disk's speed, and the daemon sees none of it.
 *
 * The kernel must never see a path turn from a file into a symlink while
 * it may still use the file's inode: on a type change it marks the old
 * inode bad (fuse_stale_inode), and every later read or page fault of it
 * fails, including those of a process that mapped the model and closed
 * its descriptor, as llama.cpp does; no count of open handles can tell
 * that.  So a path's first appearance as a regular file in a mount is
 * final for that mount (files_seen): a model downloaded through a mount
 * stays a FUSE file until the next mount, and is a symlink from then on.
 * The other way is safe, since a symlink's inode holds no data: a linked
 * blob that is evicted turns back into a file (and joins files_seen).
 *
 * What a symlink gives up: the daemon no longer sees opens, so `evict`
 * and cache_max cannot tell that a linked blob is in use (an evicted blob
 * stays readable by the processes that have it open or mapped, being
 * unlinked and not truncated, but its space returns only when they close
 * it), and its last_used stops moving.  With verify=strict only blobs of
 * our own cache are linked, never an hf_cache file this mount may not
 * have hashed.
 * ------------------------------------------------------------------------ */

static uint64_t pathset_hash(const char *p)
{
	uint64_t h = 1469598103934665603ull;

	while (*p)
		h = (h ^ (unsigned char)*p++) * 1099511628211ull;
	return h;
}

static bool pathset_has(const struct fs_pathset *set, const char *p)
{
	size_t i;

	if (!set->cap)
		return false;
	for (i = pathset_hash(p) & (set->cap - 1); set->slots[i]; i = (i + 1) & (set->cap - 1))
		if (strcmp(set->slots[i], p) == 0)
			return true;
	return false;
}

static void pathset_put(char **slots, size_t cap, char *p)
{
	size_t i = pathset_hash(p) & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = p;
}

/* Adds p (absent): 0 or -ENOMEM. */
static int pathset_add(struct fs_pathset *set, const char *p)
{
	char *copy;
	size_t i;

	if ((set->n + 1) * 2 > set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		char **slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (i = 0; i < set->cap; i++)
			if (set->slots[i])
				pathset_put(slots, cap, set->slots[i]);
		free(set->slots);
		set->slots = slots;
		set->cap = cap;
	}
	copy = strdup(p);
	if (!copy)
		return -ENOMEM;
	pathset_put(set->slots, set->cap, copy);
	set->n++;
	return 0;
}

/* The file that holds every byte of model file n, when there is one
 * that may be linked: true with its path in buf. */
static bool model_whole_file(struct fs_ctx *ctx, const struct tree_node *n, char *buf, size_t size)
{
	struct blob_source src;
	struct blob_info info;
	char blobs[PATH_MAX];
	struct stat st;

	if (model_is_local(n))
		return model_local_path(n, buf, size) == 0 && stat(buf, &st) == 0 && S_ISREG(st.st_mode);
	if (!ctx->blobs)
		return false;
	model_source(n, &src);
	if (blob_store_query(ctx->blobs, &src, &info) != 0 || info.state != BLOB_CACHED || !info.local_path[0])
		return false;
	if (ctx->mo->verify == VERIFY_STRICT) {
		int len = snprintf(blobs, sizeof(blobs), "%s/blobs/", ctx->mo->cache_dir);

		if (len < 0 || (size_t)len >= sizeof(blobs) || strncmp(info.local_path, blobs, (size_t)len) != 0)
			return false;
	}
	if (strlen(info.local_path) >= size)
		return false;
	memcpy(buf, info.local_path, strlen(info.local_path) + 1);
	return true;
}

/* Whether model file n at path is shown as a symlink (1, its target in
 * buf) or a regular file (0).  settle: the answer goes to the kernel as
 * an inode (getattr, readdirplus), so a regular file is recorded as final
 * for the mount; without it (readlink, d_type) nothing is recorded.
 * -ENOMEM when it cannot be recorded: a file the set forgot could turn
 * into a symlink later. */
static int model_link(struct fs_ctx *ctx, const char *path, const struct tree_node *n, char *buf, size_t size,
		      bool settle)
{
	bool whole;
	int rc = 0;

	if (!ctx->mo || !ctx->mo->symlinks)
		return 0;
	whole = model_whole_file(ctx, n, buf, size);
	pthread_mutex_lock(&ctx->files_lock);
	if (pathset_has(&ctx->files_seen, path))
		rc = 0;
	else if (whole)
		rc = 1;
	else if (settle)
		rc = pathset_add(&ctx->files_seen, path);
	pthread_mutex_unlock(&ctx->files_lock);
	return rc;
}

bool fs_model_is_link(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
		      const struct model_file *file)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct tree_node n;
	int len;

	len = snprintf(path, sizeof(path), "/%s/%s/%s/%s", v->family, v->variant, q->name, file->name);
	if (len < 0 || (size_t)len >= sizeof(path))
		return false;
	memset(&n, 0, sizeof(n));
	n.kind = TREE_QUANT_FILE;
	n.variant = v;
	n.quant = q;
	n.file = file;
	return model_link(ctx, path, &n, target, sizeof(target), false) == 1;
}

void fs_entry_expire_wait(void)
{
	struct timespec ts = { (time_t)FS_ENTRY_TIMEOUT_S, 100 * 1000000L };

	(void)nanosleep(&ts, NULL);
}

static int model_stat(struct fs_ctx *ctx, const char *path, const struct tree_node *n, struct stat *st)
{
	struct blob_source src;
	uint64_t size = n->file->size_bytes;
	char local[PATH_MAX];
	struct stat lst;
	struct diag d;
	int rc;

	st->st_atim = ctx->mount_time;
	st->st_mtim = ctx->mount_time;
	st->st_ctim = ctx->mount_time;
	rc = model_link(ctx, path, n, local, sizeof(local), true);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)strlen(local);
		return 0;
	}
	if (model_is_local(n)) {
		rc = model_local_path(n, local, sizeof(local));
		if (rc == 0 && stat(local, &lst) != 0)
			rc = -errno;
		if (rc) {
			log_msg(LOG_WARN, "'%s' is registered from '%s', which cannot be read: %s; register it "
				"again or unregister it", path, n->variant->repo_id, strerror(-rc));
			return rc;
		}
		size = (uint64_t)lst.st_size;
	}
	if (!size) {
		if (!ctx->blobs)
			return -EIO;
		model_source(n, &src);
		diag_init(&d);
		rc = blob_store_size(ctx->blobs, &src, &size, &d);
		if (rc == -ENETDOWN) {
			/* offline or unreachable: the size is not knowable now;
			 * stat still works (ls, find) and shows 0, and open
			 * fails with ENETDOWN */
			log_msg(LOG_DEBUG, "size of '%s' unknown: %s", path, d.msg[0] ? d.msg : strerror(-rc));
			size = 0;
		} else if (rc) {
			log_msg(LOG_WARN, "cannot tell the size of '%s': %s", path, d.msg[0] ? d.msg : strerror(-rc));
			return rc;
		}
	}
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

static int model_open(struct fs_ctx *ctx, const char *path, const struct tree_node *n, struct fs_handle *h,
		      struct fuse_file_info *fi)
{
	struct blob_source src;
	char local[PATH_MAX];
	struct diag d;
	int rc;

	if (model_is_local(n)) {
		rc = model_local_path(n, local, sizeof(local));
		if (rc == 0) {
			h->local_fd = open(local, O_RDONLY | O_CLOEXEC);
			rc = h->local_fd < 0 ? -errno : 0;
		}
		if (rc) {
			log_msg(LOG_ERROR, "cannot open '%s': its local file '%s' cannot be read: %s", path, local,
				strerror(-rc));
			return rc;
		}
		fi->keep_cache = 1;
		fi->direct_io = 0;
		return 0;
	}
	if (!ctx->blobs) {
		log_msg(LOG_ERROR, "cannot open '%s': the cache is not available (see the log at mount)", path);
		return -EIO;
	}
	model_source(n, &src);
	diag_init(&d);
	h->path = strdup(path);
	if (!h->path)
		return -ENOMEM;
	rc = blob_open(ctx->blobs, &src, &h->model, &d);
	if (rc) {
		log_msg(LOG_ERROR, "cannot open '%s': %s", path, d.msg[0] ? d.msg : strerror(-rc));
		free(h->path);
		h->path = NULL;
		return rc;
	}
	blob_stream_init(h->model, &h->stream);
	fi->keep_cache = blob_is_stable(h->model);
	fi->direct_io = 0;
	return 0;
}

/* The blob store's discarded() hook: the pages the kernel keeps of every
 * open file of b came from bytes that failed their sha256.  Runs on the
 * store's thread, never a FUSE worker, and the readers of b return (with
 * EIO) without waiting for that thread, so the invalidation cannot wait
 * on itself (the deadlock hf-mount documents). */
void fs_model_discarded(void *arg, struct blob *b)
{
	struct fs_ctx *ctx = arg;
	char **paths = NULL, **grown;
	size_t n = 0, alloc = 0, i;
	struct fs_handle *h;

	pthread_mutex_lock(&ctx->handles_lock);
	for (h = ctx->handles; h; h = h->next) {
		if (h->model != b || !h->path)
			continue;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 4;
			grown = realloc(paths, alloc * sizeof(*paths));
			if (!grown)
				break;
			paths = grown;
		}
		paths[n] = strdup(h->path);
		if (paths[n])
			n++;
	}
	pthread_mutex_unlock(&ctx->handles_lock);
	for (i = 0; i < n; i++) {
		fs_invalidate(ctx, paths[i]);
		free(paths[i]);
	}
	free(paths);
}

/* ------------------------------------------------------------------------
 * Parameterized names (SPEC §5): what the tree cannot judge alone, since
 * it depends on the hardware profile.
 * ------------------------------------------------------------------------ */

/* The profile's VRAM as a SIZE for an example name ("24G", or MiB
 * "24564"): false when the profile does not know it. */
static bool fs_vram_size_name(const struct hw_profile *hw, char *buf, size_t size)
{
	if (!hw->gpu_vram_mib)
		return false;
	if (hw->gpu_vram_mib % 1024 == 0)
		snprintf(buf, size, "%" PRIu64 "G", hw->gpu_vram_mib / 1024);
	else
		snprintf(buf, size, "%" PRIu64, hw->gpu_vram_mib);
	return true;
}

static int fs_fits_found(void *arg, const struct model_variant *v, const struct model_quant *q)
{
	*(bool *)arg = true;
	return 0;
}

/* recommend@ and fits@ need a VRAM size, from vram= or the profile; a
 * fits@ link exists only while its quant fits.  Both are the estimator's
 * answers: vram_fits_each() over no quant checks the size alone, over a
 * one-quant copy of the snapshot judges that quant exactly as the listing
 * does. */
static int fs_fits_check(const struct tree_node *n, const struct hw_profile *hw, struct diag *d)
{
	struct registry_snapshot one;
	struct model_variant v;
	struct model_quant q;
	bool fits = false;
	int rc;

	memset(&one, 0, sizeof(one));
	if (n->kind == TREE_FITS_LINK) {
		v = *n->variant;
		q = *n->quant;
		v.quants = &q;
		v.n_quants = 1;
		one.variants = &v;
		one.n_variants = 1;
	}
	rc = vram_fits_each(&one, &n->params, hw, fs_fits_found, &fits, d);
	if (rc == 0 && n->kind == TREE_FITS_LINK && !fits)
		rc = -ENOENT;
	return rc;
}

/* tree_resolve_diag() and the checks above.  A refused parameterized name
 * leaves its one line in .control/log (SPEC §5); repeats fold there. */
static int fs_resolve(struct fs_ctx *ctx, struct fs_view *view, const char *path, struct tree_node *n)
{
	struct hw_profile hw;
	struct diag d;
	int rc;

	diag_init(&d);
	rc = tree_resolve_diag(view->tree, path, n, &d);
	if (rc == 0 && (n->kind == TREE_RECOMMEND || n->kind == TREE_FITS || n->kind == TREE_FITS_LINK)) {
		fs_hw_get(ctx, &hw);
		rc = fs_fits_check(n, &hw, &d);
	}
	if (rc && rc != -ENOENT && d.msg[0])
		log_msg(LOG_ERROR, "%s: %s", path, d.msg);
	return rc;
}

static int node_stat(struct fs_ctx *ctx, struct fs_view *view, const char *path,
		     const struct tree_node *n, struct stat *st)
{
	struct hw_profile hw;
	char size_name[32];

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
		if (n->kind == TREE_ROOT) {
			fs_hw_get(ctx, &hw);
			st->st_nlink += fs_vram_size_name(&hw, size_name, sizeof(size_name));
		}
		return 0;
	}
	if (n->kind == TREE_REPO_LINK || n->kind == TREE_FITS_LINK) {
		sbuf_init(&target, PATH_MAX);
		rc = tree_link_target(n, &target);
		st->st_size = (off_t)target.len;
		sbuf_release(&target);
		return rc;
	}
	if (n->kind == TREE_QUANT_FILE)
		return model_stat(ctx, path, n, st);
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
	__atomic_store_n(&fs_ctx_get()->inited, 1, __ATOMIC_RELEASE);
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
	rc = fs_resolve(ctx, view, path, &n);
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
	rc = fs_resolve(ctx, view, path, &n);
	if (rc == 0 && n.kind == TREE_QUANT_FILE) {
		char file[PATH_MAX];

		rc = model_link(ctx, path, &n, file, sizeof(file), false);
		if (rc == 1) {
			snprintf(buf, size, "%s", file);
			rc = 0;
		} else if (rc == 0) {
			rc = -EINVAL;
		}
	} else if (rc == 0) {
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
	rc = fs_resolve(ctx, view, path, &n);
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
	h->local_fd = -1;
	h->ctl = n.kind == TREE_CONTROL_FILE ? n.ctl : NULL;
	fi->direct_io = node_is_direct(&n);
	fi->keep_cache = 0;
	if (n.kind == TREE_QUANT_FILE) {
		rc = model_open(ctx, path, &n, h, fi);
		if (rc) {
			free(h);
			goto out_put;
		}
	} else if (want_read) {
		rc = node_blob(ctx, view, path, &n, &h->blob);
		if (rc) {
			free(h);
			goto out_put;
		}
	}
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
	ssize_t got;
	size_t n;

	if (h && h->local_fd >= 0) {
		if (off < 0)
			return -EINVAL;
		if (size > INT_MAX)
			size = INT_MAX;
		got = pread(h->local_fd, buf, size, off);
		if (got < 0) {
			got = -errno;
			log_msg(LOG_ERROR, "cannot read '%s' at %lld: %s", path, (long long)off, strerror(errno));
		}
		return (int)got;
	}
	if (h && h->model) {
		if (off < 0)
			return -EINVAL;
		if (size > INT_MAX)
			size = INT_MAX;
		got = blob_read(h->model, &h->stream, buf, size, (uint64_t)off);
		if (got < 0 && got != -ENETDOWN)
			log_msg(got == -ENOSPC ? LOG_DEBUG : LOG_ERROR, "cannot read '%s' at %lld: %s", path,
				(long long)off, strerror((int)-got));
		return (int)got;
	}
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
	rc = ctl_handle_write(fs_ctx_get(), h, buf, size);
	return (int)rc;
}

/* Each close() of a file: a control file carries out the text it held
 * (ctl.c), so close() returns that request's errno. */
static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs_handle *h = (struct fs_handle *)(uintptr_t)fi->fh;

	if (!h || !h->ctl)
		return 0;
	return ctl_handle_flush(fs_ctx_get(), h);
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
	rc = fs_resolve(ctx, view, path, &n);
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
	rc = fs_resolve(ctx, view, path, &n);
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
	if (f->dir_len + len >= sizeof(f->path))
		return f->filler(f->buf, name, &st, index + 1, 0) ? FS_FILL_FULL : 0;
	memcpy(f->path + f->dir_len, name, len + 1);
	if (f->plus) {
		if (node_stat(f->ctx, f->view, f->path, child, &st) == 0)
			return f->filler(f->buf, name, &st, index + 1, FUSE_FILL_DIR_PLUS) ? FS_FILL_FULL : 0;
		memset(&st, 0, sizeof(st));
		st.st_mode = node_mode(child);
	}
	if (child->kind == TREE_QUANT_FILE) {
		char file[PATH_MAX];

		if (model_link(f->ctx, f->path, child, file, sizeof(file), false) == 1)
			st.st_mode = S_IFLNK | 0777;
	}
	return f->filler(f->buf, name, &st, index + 1, 0) ? FS_FILL_FULL : 0;
}

struct fs_fits_fill {
	struct fs_fill *f;
	const struct tree_node *dir;   /* the fits@ directory */
};

static int fs_fits_fill_one(void *arg, const struct model_variant *v, const struct model_quant *q)
{
	struct fs_fits_fill *ff = arg;
	char name[256];
	struct tree_node c;

	if (tree_fits_name(v, q, name, sizeof(name)) != 0 ||
	    tree_lookup(ff->f->view->tree, ff->dir, name, &c) != 0 || c.quant != q)
		return 0;
	return fs_fill_one(ff->f, name, &c);
}

/* The entries tree_list() leaves to fs because they depend on the
 * hardware profile: with a known VRAM size, the root's recommend@ and
 * fits@ examples and a QUANT directory's fit@ example; and the links of a
 * fits@ directory.  0, FS_FILL_FULL, or -errno. */
static int fs_list_more(struct fs_fill *f, const struct tree_node *dir)
{
	char size_name[32], name[96];
	struct fs_fits_fill ff;
	struct hw_profile hw;
	struct tree_node c;
	struct diag d;
	int rc;

	fs_hw_get(f->ctx, &hw);
	if (dir->kind == TREE_FITS) {
		ff.f = f;
		ff.dir = dir;
		diag_init(&d);
		return vram_fits_each(f->view->snap, &dir->params, &hw, fs_fits_fill_one, &ff, &d);
	}
	if (!fs_vram_size_name(&hw, size_name, sizeof(size_name)))
		return 0;
	if (dir->kind == TREE_ROOT) {
		snprintf(name, sizeof(name), "recommend@vram=%s,ctx=%d", size_name, VRAM_DEFAULT_CTX);
		rc = tree_lookup(f->view->tree, dir, name, &c);
		if (rc == 0)
			rc = fs_fill_one(f, name, &c);
		if (rc)
			return rc;
		snprintf(name, sizeof(name), "fits@vram=%s,ctx=%d", size_name, VRAM_DEFAULT_CTX);
		rc = tree_lookup(f->view->tree, dir, name, &c);
		return rc ? rc : fs_fill_one(f, name, &c);
	}
	if (dir->kind == TREE_QUANT && tree_has_estimate(dir)) {
		snprintf(name, sizeof(name), "fit@vram=%s", size_name);
		rc = tree_lookup(f->view->tree, dir, name, &c);
		return rc ? rc : fs_fill_one(f, name, &c);
	}
	return 0;
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
	rc = fs_resolve(ctx, view, path, &n);
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
	if (rc == 0)
		rc = fs_list_more(f, &n);
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
	.flush = fs_flush,
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
