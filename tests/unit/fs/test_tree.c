/*
 * test_tree.c - tree_resolve, tree_lookup and tree_list on a hand-built
 * snapshot: every path shape of SPEC §3, the hostile paths the resolver
 * must refuse, listings, and the invariant that ties them together (every
 * listed entry resolves, to what it was listed as).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define Q(n) { .name = (char *)(n) }

static struct model_quant q_gemma[] = { Q("q4_k_m"), Q("q8_0") };
static struct model_quant q_llama31[] = { Q("config.json"), Q("info.json"), Q("iq4_xs"), Q("q4_k_m"), Q("ud-iq1_s") };
static struct model_quant q_llama32[] = { Q("f16") };
static struct model_quant q_local[] = { Q("q4_0") };
static struct model_quant q_dup[] = { Q("q4_0") };

#define V(fam, var, repo, qs) { .family = (char *)(fam), .variant = (char *)(var), \
	.repo_id = (char *)(repo), .quants = (qs), .n_quants = sizeof(qs) / sizeof((qs)[0]) }

/* Sorted by (family, variant), as snapshots are. */
static struct model_variant variants[] = {
	V("by-repo", "shadowed", "shadow/repo", q_local),
	V("gemma", "gemma-3-4b-it", "unsloth/gemma-3-4b-it-GGUF", q_gemma),
	V("llama", "llama-3.1-8b-instruct", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", q_llama31),
	V("llama", "llama-3.2-1b", "bartowski/Llama-3.2-1B-GGUF", q_llama32),
	V("local", "my-model", NULL, q_local),
	V("odd", "deep-repo", "a/b/c", q_local),
	V("odd", "dot-org", "../x", q_local),
	V("odd", "no-org", "gpt2", q_local),
	V("zeta", "dup-a", "same/repo", q_dup),
	V("zeta", "dup-b", "same/repo", q_dup),
};

static struct registry_snapshot snap = {
	.generation = 7,
	.variants = variants,
	.n_variants = sizeof(variants) / sizeof(variants[0]),
};

static int setup(void **state)
{
	struct tree *t;

	variants[1].config_json = (char *)"{\"model_type\": \"gemma3\"}";
	assert_int_equal(tree_new(&snap, &t), 0);
	assert_non_null(t);
	assert_ptr_equal(tree_snapshot(t), &snap);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	tree_free(*state);
	return 0;
}

static void check_resolves(const struct tree *t, const char *path, enum tree_kind kind, const char *name)
{
	struct tree_node n;
	int rc;

	rc = tree_resolve(t, path, &n);
	if (rc != 0)
		fail_msg("'%s': expected kind %d, got %d", path, kind, rc);
	if (n.kind != kind)
		fail_msg("'%s': expected kind %d, got kind %d", path, kind, n.kind);
	assert_non_null(n.name);
	assert_string_equal(n.name, name);
}

static void test_shapes(void **state)
{
	const struct tree *t = *state;
	struct tree_node n;

	check_resolves(t, "/", TREE_ROOT, "");
	check_resolves(t, "/README", TREE_README, "README");
	check_resolves(t, "/registry.json", TREE_REGISTRY_JSON, "registry.json");
	check_resolves(t, "/models.tsv", TREE_MODELS_TSV, "models.tsv");
	check_resolves(t, "/by-repo", TREE_BY_REPO, "by-repo");
	check_resolves(t, "/.control", TREE_CONTROL, ".control");
	check_resolves(t, "/llama", TREE_FAMILY, "llama");
	check_resolves(t, "/llama/llama-3.2-1b", TREE_VARIANT, "llama-3.2-1b");
	check_resolves(t, "/llama/llama-3.2-1b/info.json", TREE_VARIANT_INFO, "info.json");
	check_resolves(t, "/llama/llama-3.2-1b/architecture.json", TREE_VARIANT_ARCH, "architecture.json");
	check_resolves(t, "/gemma/gemma-3-4b-it/config.json", TREE_VARIANT_CONFIG, "config.json");
	check_resolves(t, "/llama/llama-3.2-1b/f16", TREE_QUANT, "f16");
	check_resolves(t, "/llama/llama-3.2-1b/f16/info.json", TREE_QUANT_INFO, "info.json");
	check_resolves(t, "/llama/llama-3.2-1b/f16/status", TREE_QUANT_STATUS, "status");
	check_resolves(t, "/llama/llama-3.2-1b/f16/benchmark.json", TREE_QUANT_BENCHMARK, "benchmark.json");
	check_resolves(t, "/llama/llama-3.2-1b/f16/compare.tsv", TREE_QUANT_COMPARE, "compare.tsv");
	check_resolves(t, "/llama/llama-3.1-8b-instruct/ud-iq1_s", TREE_QUANT, "ud-iq1_s");
	check_resolves(t, "/by-repo/bartowski", TREE_REPO_ORG, "bartowski");
	check_resolves(t, "/by-repo/bartowski/Llama-3.2-1B-GGUF", TREE_REPO_LINK, "Llama-3.2-1B-GGUF");
	check_resolves(t, "/by-repo/same/repo", TREE_REPO_LINK, "repo");
	check_resolves(t, "/.control/unregister", TREE_CONTROL_FILE, "unregister");
	check_resolves(t, "/.control/hardware", TREE_CONTROL_FILE, "hardware");
	check_resolves(t, "/.control/log", TREE_CONTROL_FILE, "log");
	check_resolves(t, "/.control/config", TREE_CONTROL_FILE, "config");

	assert_int_equal(tree_resolve(t, "/llama/llama-3.1-8b-instruct/q4_k_m/status", &n), 0);
	assert_ptr_equal(n.variant, &variants[2]);
	assert_ptr_equal(n.quant, &q_llama31[3]);
	assert_string_equal(n.family, "llama");
	assert_null(tree_ctl_name(&n));

	assert_int_equal(tree_resolve(t, "/by-repo/unsloth/gemma-3-4b-it-GGUF", &n), 0);
	assert_ptr_equal(n.variant, &variants[1]);
	assert_string_equal(n.org, "unsloth");

	assert_int_equal(tree_resolve(t, "/by-repo/same/repo", &n), 0);
	assert_ptr_equal(n.variant, &variants[8]);

	assert_int_equal(tree_resolve(t, "/.control/unregister", &n), 0);
	assert_non_null(n.ctl);
	assert_string_equal(tree_ctl_name(&n), "unregister");
}

static void test_hostile(void **state)
{
	static const char *const bad[] = {
		"", "README", "llama", "//", "///", "/llama/", "/llama//llama-3.2-1b", "//llama",
		"/.", "/..", "/./llama", "/../llama", "/llama/.", "/llama/..", "/llama/../llama",
		"/llama/llama-3.2-1b/f16/..", "/README/x", "/registry.json/", "/models.tsv/x",
		"/llama/llama-3.2-1b/info.json/x", "/llama/llama-3.2-1b/f16/status/x",
		"/llama/llama-3.2-1b/f16/info.json/x", "/by-repo/bartowski/Llama-3.2-1B-GGUF/x",
		"/.control/log/x", "/.control/", "/.control/nope", "/.control/registe",
		"/LLAMA", "/Llama/llama-3.2-1b", "/llama/LLAMA-3.2-1B", "/llama/llama-3.2-1b/F16",
		"/llama/llama-3.2-1b/config.json", "/llama/llama-3.2-1b/q4_k_m",
		"/llama/llama-3.1-8b-instruct/info.json/status", "/llama/llama-3.1-8b-instruct/config.json",
		"/llama/llama-3.1-8b-instruct/config.json/status",
		"/by-repo/Bartowski", "/by-repo/bartowski/llama-3.2-1b-gguf", "/by-repo/bartowski/",
		"/by-repo/a", "/by-repo/a/b", "/by-repo/a/b/c", "/by-repo/..", "/by-repo/../x",
		"/by-repo/gpt2", "/by-repo/shadow/repo/x", "/by-repo/samE",
		"/by-repo/same/repo/..",
		"/local/my-model/q4_0/model.gguf", "/llama/llama-3.2-1b/f16/foo@ctx=8192",
		"/llama/llama-3.2-1b/f16/recommend@vram=24G", "/llama/llama-3.2-1b/f16/fits@vram=24G",
		"/llama/llama-3.2-1b/f16/@ctx=1", "/llama/llama-3.2-1b/f16/VRAM@ctx=8192",
		"/vram@ctx=8192", "/fit@vram=24G", "/llama/vram@ctx=8192", "/llama/llama-3.2-1b/vram@ctx=8192",
		"/fits@vram=24G/llama--llama-3.2-1b--q9", "/fits@vram=24G/nolink", "/fits@vram=24G/--",
		"/fits@vram=24G/llama--llama-3.2-1b--f16/x", "/fits@vram=24G/llama--llama-3.2-1b",
		"/fits@vram=24G/llama--llama-3.1-8b-instruct--info.json", "/fits@vram=24G/by-repo--shadowed--q4_0",
		"/fits@vram=24G/fits@vram=24G", "/recommend@vram=24G/x",
		"/nofamily", "/nofamily/x/y/z",
		"/llama/llama-3.2-1b\n", "/llama\t", "/ llama", "/llama ", "/%s%n%x", "/\xff\xfe",
		"/llama/llama-3.2-1b/f16/info.json/../status",
		"/llama/llama-3.2-1b/f16/status/a/b/c/d/e/f",
		"/odd/no-org/q4_0/x", "/zeta/dup-a/q4_0/status/",
		"/by-repo/shadowed", "/by-repo/shadow/shadowed", "/by-repo/shadow", "/by-repo/shadow/repo",
		"/by-repo/shadowed/info.json",
	};
	const struct tree *t = *state;
	struct tree_node n;
	char *longp;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = tree_resolve(t, bad[i], &n);

		if (rc != -ENOENT)
			fail_msg("'%s': expected -ENOENT, got %d (kind %d)", bad[i], rc, rc == 0 ? n.kind : 0);
	}
	assert_int_equal(tree_resolve(t, NULL, &n), -ENOENT);

	longp = malloc(8192);
	assert_non_null(longp);
	longp[0] = '/';
	memset(longp + 1, 'a', 300);
	longp[301] = '\0';
	assert_int_equal(tree_resolve(t, longp, &n), -ENOENT);
	memset(longp + 1, 'a', 255);
	longp[256] = '\0';
	assert_int_equal(tree_resolve(t, longp, &n), -ENOENT);
	for (i = 0; i + 6 < 8000; i += 6)
		memcpy(longp + i, "/llama", 6);
	longp[i] = '\0';
	assert_int_equal(tree_resolve(t, longp, &n), -ENOENT);
	for (i = 0; i + 3 < 8000; i += 3)
		memcpy(longp + i, "/..", 3);
	longp[i] = '\0';
	assert_int_equal(tree_resolve(t, longp, &n), -ENOENT);
	free(longp);
}

struct listing {
	char names[64][300];
	enum tree_kind kinds[64];
	size_t n;
};

static int collect(void *arg, const char *name, const struct tree_node *child)
{
	struct listing *l = arg;

	assert_true(l->n < 64);
	assert_string_equal(name, child->name);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	l->kinds[l->n] = child->kind;
	l->n++;
	return 0;
}

static void list_path(const struct tree *t, const char *path, struct listing *l)
{
	struct tree_node n;

	memset(l, 0, sizeof(*l));
	assert_int_equal(tree_resolve(t, path, &n), 0);
	assert_int_equal(tree_list(t, &n, collect, l), 0);
}

static void check_listing(const struct listing *l, const char *const *want, size_t n_want)
{
	size_t i;

	if (l->n != n_want) {
		for (i = 0; i < l->n; i++)
			print_message("  got '%s'\n", l->names[i]);
		fail_msg("expected %zu entries, got %zu", n_want, l->n);
	}
	for (i = 0; i < n_want; i++)
		assert_string_equal(l->names[i], want[i]);
}

#define CHECK_LISTING(t, path, ...) do { \
	static const char *const want_[] = { __VA_ARGS__ }; \
	struct listing l_; \
	list_path((t), (path), &l_); \
	check_listing(&l_, want_, sizeof(want_) / sizeof(want_[0])); \
} while (0)

static void test_listings(void **state)
{
	const struct tree *t = *state;
	struct tree_node n;
	struct listing l;

	CHECK_LISTING(t, "/", "README", "registry.json", "models.tsv", "by-repo", ".control",
		      "gemma", "llama", "local", "odd", "zeta");
	CHECK_LISTING(t, "/by-repo", "bartowski", "same", "unsloth");
	CHECK_LISTING(t, "/by-repo/bartowski", "Llama-3.2-1B-GGUF", "Meta-Llama-3.1-8B-Instruct-GGUF");
	CHECK_LISTING(t, "/by-repo/same", "repo");
	CHECK_LISTING(t, "/.control", "register", "unregister", "download", "evict", "refresh", "benchmark", "jobs", "log",
		      "hardware", "config");
	CHECK_LISTING(t, "/llama", "llama-3.1-8b-instruct", "llama-3.2-1b");
	CHECK_LISTING(t, "/gemma/gemma-3-4b-it", "info.json", "architecture.json", "config.json",
		      "q4_k_m", "q8_0");
	CHECK_LISTING(t, "/llama/llama-3.1-8b-instruct", "info.json", "architecture.json",
		      "iq4_xs", "q4_k_m", "ud-iq1_s");
	CHECK_LISTING(t, "/llama/llama-3.2-1b/f16", "info.json", "status", "benchmark.json", "compare.tsv");

	list_path(t, "/", &l);
	assert_int_equal(l.kinds[0], TREE_README);
	assert_int_equal(l.kinds[3], TREE_BY_REPO);
	assert_int_equal(l.kinds[5], TREE_FAMILY);

	assert_int_equal(tree_resolve(t, "/README", &n), 0);
	assert_int_equal(tree_list(t, &n, collect, &l), -ENOTDIR);
	assert_int_equal(tree_resolve(t, "/by-repo/same/repo", &n), 0);
	assert_int_equal(tree_list(t, &n, collect, &l), -ENOTDIR);
	assert_int_equal(tree_lookup(t, &n, "x", &n), -ENOTDIR);
}

static int stop_after_two(void *arg, const char *name, const struct tree_node *child)
{
	int *count = arg;

	return ++*count == 2 ? 42 : 0;
}

static void test_list_stops(void **state)
{
	const struct tree *t = *state;
	struct tree_node n;
	int count = 0;

	assert_int_equal(tree_resolve(t, "/", &n), 0);
	assert_int_equal(tree_list(t, &n, stop_after_two, &count), 42);
	assert_int_equal(count, 2);
}

static void test_links_and_counts(void **state)
{
	const struct tree *t = *state;
	struct tree_node n;
	struct sbuf sb;

	sbuf_init(&sb, 4096);
	assert_int_equal(tree_resolve(t, "/by-repo/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", &n), 0);
	assert_int_equal(tree_link_target(&n, &sb), 0);
	assert_string_equal(sb.buf, "../../llama/llama-3.1-8b-instruct");
	sbuf_reset(&sb);
	assert_int_equal(tree_resolve(t, "/llama", &n), 0);
	assert_int_equal(tree_link_target(&n, &sb), -EINVAL);
	sbuf_release(&sb);

	assert_int_equal(tree_resolve(t, "/", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 2 + 5);
	assert_int_equal(tree_resolve(t, "/by-repo", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 3);
	assert_int_equal(tree_resolve(t, "/llama", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 2);
	assert_int_equal(tree_resolve(t, "/llama/llama-3.1-8b-instruct", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 3);
	assert_int_equal(tree_resolve(t, "/llama/llama-3.2-1b/f16", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 0);
	assert_int_equal(tree_resolve(t, "/README", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 0);

	assert_true(tree_is_dir(TREE_ROOT));
	assert_true(tree_is_dir(TREE_QUANT));
	assert_false(tree_is_dir(TREE_REPO_LINK));
	assert_false(tree_is_dir(TREE_QUANT_STATUS));
}

/* Walks the whole tree: every listed entry resolves by path to the kind
 * it was listed with, and every directory is listed by its parent. */
struct walk {
	const struct tree *t;
	char path[4096];
	size_t entries;
};

static int walk_one(void *arg, const char *name, const struct tree_node *child)
{
	struct walk *w = arg;
	size_t len = strlen(w->path);
	struct tree_node n;
	int rc;

	snprintf(w->path + len, sizeof(w->path) - len, "%s%s", len > 1 ? "/" : "", name);
	rc = tree_resolve(w->t, w->path, &n);
	if (rc != 0 || n.kind != child->kind || strcmp(n.name, name) != 0)
		fail_msg("'%s' listed as kind %d but resolves to %d/%d", w->path, child->kind, rc, n.kind);
	assert_ptr_equal(n.variant, child->variant);
	assert_ptr_equal(n.quant, child->quant);
	w->entries++;
	if (tree_is_dir(n.kind))
		assert_int_equal(tree_list(w->t, &n, walk_one, w), 0);
	w->path[len] = '\0';
	return 0;
}

static void test_walk(void **state)
{
	struct walk w = { .t = *state, .path = "/" };
	struct tree_node root;

	assert_int_equal(tree_resolve(w.t, "/", &root), 0);
	assert_int_equal(tree_list(w.t, &root, walk_one, &w), 0);
	assert_true(w.entries > 40);
}

static void test_empty(void **state)
{
	struct registry_snapshot empty = { .generation = 1 };
	struct tree *t;
	struct tree_node n;

	assert_int_equal(tree_new(&empty, &t), 0);
	CHECK_LISTING(t, "/", "README", "registry.json", "models.tsv", "by-repo", ".control");
	assert_int_equal(tree_resolve(t, "/by-repo", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 0);
	assert_int_equal(tree_resolve(t, "/llama", &n), -ENOENT);
	assert_int_equal(tree_resolve(t, "/by-repo/x", &n), -ENOENT);
	tree_free(t);
	tree_free(NULL);
}

/* SPEC §5's names: parsed at lookup, kinds by directory, EINVAL with the
 * parser's message for bad parameters, and fits@ links. */
static void test_parameterized(void **state)
{
	static const struct {
		const char *path;
		const char *words;       /* in the diag */
	} einval[] = {
		{ "/llama/llama-3.2-1b/f16/vram@ctx=abc", "bad value 'abc' for ctx" },
		{ "/llama/llama-3.2-1b/f16/vram@", "needs ctx=" },
		{ "/llama/llama-3.2-1b/f16/vram@kv=f16", "needs ctx=" },
		{ "/llama/llama-3.2-1b/f16/vram@ctx=1,ctx=2", "given twice" },
		{ "/llama/llama-3.2-1b/f16/vram@ctx=8192,x=1", "unknown key 'x'" },
		{ "/llama/llama-3.2-1b/f16/vram@ctx=8192,,", "empty parameter" },
		{ "/llama/llama-3.2-1b/f16/vram@ctx=8192,kv=q8_0,fa=off", "flash attention" },
		{ "/llama/llama-3.2-1b/f16/fit@ctx=8192", "needs vram=" },
		{ "/llama/llama-3.2-1b/f16/fit@vram=24G,unit=b", "unknown key 'unit'" },
		{ "/recommend@ngl=3", "unknown key 'ngl'" },
		{ "/recommend@vram=24G,n=0", "bad value '0' for n" },
		{ "/fits@vram=x", "bad value 'x' for vram" },
		{ "/fits@vram=x/llama--llama-3.2-1b--f16", "bad value 'x'" },
		{ "/fits@format=json", "unknown key 'format'" },
	};
	const struct tree *t = *state;
	struct tree_node n;
	struct diag d;
	struct sbuf sb;
	struct listing l;
	char name[300];
	size_t i;

	check_resolves(t, "/llama/llama-3.2-1b/f16/vram@ctx=8192", TREE_QUANT_PARAM, "vram@ctx=8192");
	assert_int_equal(tree_resolve(t, "/llama/llama-3.2-1b/f16/vram@ctx=8k,kv=q8_0", &n), 0);
	assert_int_equal(n.params.kind, VRAM_KIND_VRAM);
	assert_int_equal(n.params.ctx_tokens, 8192);
	assert_ptr_equal(n.variant, &variants[3]);
	assert_ptr_equal(n.quant, &q_llama32[0]);
	assert_string_equal(n.family, "llama");
	assert_false(tree_is_dir(n.kind));
	assert_int_equal(tree_resolve(t, "/llama/llama-3.1-8b-instruct/ud-iq1_s/fit@vram=24G,ctx=4k", &n), 0);
	assert_int_equal(n.kind, TREE_QUANT_PARAM);
	assert_int_equal(n.params.kind, VRAM_KIND_FIT);
	assert_true(n.params.vram_bytes == 24ull << 30);
	assert_int_equal(n.params.ctx_tokens, 4096);
	assert_ptr_equal(n.quant, &q_llama31[4]);
	check_resolves(t, "/recommend@vram=24G,n=3", TREE_RECOMMEND, "recommend@vram=24G,n=3");
	assert_int_equal(tree_resolve(t, "/recommend@prefer=speed", &n), 0);
	assert_int_equal(n.params.prefer, VRAM_PREFER_SPEED);
	assert_true(n.params.vram_bytes == 0);
	check_resolves(t, "/fits@vram=24G", TREE_FITS, "fits@vram=24G");
	assert_true(tree_is_dir(TREE_FITS));
	assert_int_equal(tree_resolve(t, "/fits@vram=16000,ctx=32k", &n), 0);
	assert_true(n.params.vram_bytes == 16000ull << 20);
	assert_int_equal(tree_count_subdirs(t, &n), 0);
	list_path(t, "/fits@vram=24G", &l);
	assert_int_equal(l.n, 0);

	check_resolves(t, "/fits@vram=24G,ctx=4096/llama--llama-3.1-8b-instruct--ud-iq1_s", TREE_FITS_LINK,
		       "llama--llama-3.1-8b-instruct--ud-iq1_s");
	assert_int_equal(tree_resolve(t, "/fits@vram=24G,ctx=4096/gemma--gemma-3-4b-it--q8_0", &n), 0);
	assert_ptr_equal(n.variant, &variants[1]);
	assert_ptr_equal(n.quant, &q_gemma[1]);
	assert_int_equal(n.params.kind, VRAM_KIND_FITS);
	assert_int_equal(n.params.ctx_tokens, 4096);
	assert_false(tree_is_dir(n.kind));
	sbuf_init(&sb, 4096);
	assert_int_equal(tree_link_target(&n, &sb), 0);
	assert_string_equal(sb.buf, "../gemma/gemma-3-4b-it/q8_0");
	sbuf_release(&sb);
	assert_int_equal(tree_fits_name(&variants[1], &q_gemma[1], name, sizeof(name)), 0);
	assert_string_equal(name, "gemma--gemma-3-4b-it--q8_0");
	assert_int_equal(tree_fits_name(&variants[1], &q_gemma[1], name, 10), -ENAMETOOLONG);

	for (i = 0; i < sizeof(einval) / sizeof(einval[0]); i++) {
		diag_init(&d);
		if (tree_resolve_diag(t, einval[i].path, &n, &d) != -EINVAL)
			fail_msg("'%s': expected -EINVAL", einval[i].path);
		if (!strstr(d.msg, einval[i].words))
			fail_msg("'%s': diag '%s' lacks '%s'", einval[i].path, d.msg, einval[i].words);
		assert_int_equal(tree_resolve(t, einval[i].path, &n), -EINVAL);
	}
	diag_init(&d);
	assert_int_equal(tree_resolve_diag(t, "/llama/llama-3.2-1b/f16/foo@ctx=1", &n, &d), -ENOENT);
	assert_int_equal(tree_resolve_diag(t, "/vram@ctx=1", &n, &d), -ENOENT);
	assert_int_equal(d.msg[0], '\0');

	/* Without an architecture the estimator cannot judge a quant: no examples. */
	assert_int_equal(tree_resolve(t, "/llama/llama-3.2-1b/f16", &n), 0);
	assert_false(tree_has_estimate(&n));
}

/* FAMILY--VARIANT--QUANT when names hold "--" themselves, and the example
 * names of a QUANT directory whose model the estimator can judge. */
static void test_parameterized_names(void **state)
{
	static struct model_file f_sized[] = {
		{ .name = (char *)"model.gguf", .upstream = (char *)"m.gguf", .size_bytes = 1000 },
	};
	static struct model_file f_unsized[] = {
		{ .name = (char *)"model.gguf", .upstream = (char *)"m.gguf" },
	};
	static struct model_quant q_ab[] = { { .name = (char *)"c--q", .files = f_sized, .n_files = 1 } };
	static struct model_quant q_abc[] = { { .name = (char *)"q", .files = f_unsized, .n_files = 1 } };
	static struct model_quant q_xyz[] = { { .name = (char *)"w", .size_bytes = 5 } };
	static struct model_variant vs[] = {
		{ .family = (char *)"a", .variant = (char *)"b", .quants = q_ab, .n_quants = 1,
		  .arch_json = (char *)"{}", .context_window = 4096 },
		{ .family = (char *)"a", .variant = (char *)"b--c", .quants = q_abc, .n_quants = 1,
		  .arch_json = (char *)"{}" },
		{ .family = (char *)"x", .variant = (char *)"y--z", .quants = q_xyz, .n_quants = 1,
		  .arch_json = (char *)"{}" },
	};
	struct registry_snapshot s = { .generation = 1, .variants = vs, .n_variants = 3 };
	struct walk w = { .path = "/" };
	struct tree_node n, root;
	struct tree *t;
	char name[300];

	assert_int_equal(tree_new(&s, &t), 0);
	assert_int_equal(tree_resolve(t, "/fits@vram=1G/a--b--c--q", &n), 0);
	assert_ptr_equal(n.quant, &q_ab[0]);
	assert_int_equal(tree_fits_name(&vs[1], &q_abc[0], name, sizeof(name)), 0);
	assert_string_equal(name, "a--b--c--q");
	assert_int_equal(tree_resolve(t, "/fits@vram=1G/x--y--z--w", &n), 0);
	assert_int_equal(n.kind, TREE_FITS_LINK);
	assert_ptr_equal(n.quant, &q_xyz[0]);
	assert_int_equal(tree_resolve(t, "/fits@vram=1G/x--y--z", &n), -ENOENT);
	assert_int_equal(tree_resolve(t, "/fits@vram=1G/x----y--z--w", &n), -ENOENT);

	CHECK_LISTING(t, "/a/b/c--q", "info.json", "status", "benchmark.json", "compare.tsv", "model.gguf", "vram@ctx=4096", "vram@ctx=8192",
		      "vram@ctx=32768", "vram@ctx=max");
	CHECK_LISTING(t, "/x/y--z/w", "info.json", "status", "benchmark.json", "compare.tsv", "vram@ctx=4096", "vram@ctx=8192",
		      "vram@ctx=32768");
	CHECK_LISTING(t, "/a/b--c/q", "info.json", "status", "benchmark.json", "compare.tsv", "model.gguf");
	assert_int_equal(tree_resolve(t, "/a/b/c--q/vram@ctx=max", &n), 0);
	assert_true(tree_has_estimate(&n));
	assert_int_equal(n.params.ctx_tokens, VRAM_CTX_MAX);
	assert_int_equal(tree_resolve(t, "/a/b/c--q", &n), 0);
	assert_int_equal(tree_count_subdirs(t, &n), 0);

	w.t = t;
	assert_int_equal(tree_resolve(t, "/", &root), 0);
	assert_int_equal(tree_list(t, &root, walk_one, &w), 0);
	tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parameterized, setup, teardown),
		cmocka_unit_test(test_parameterized_names),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
