/*
 * test_repoplan.c - from repo listings to quants and names: real layouts
 * (bartowski's one file per quant, unsloth's folders of split shards,
 * projectors in several precisions), incomplete splits, odd names and
 * clashes, subpath and quant filters, the Hub listing parser against good
 * and hostile JSON, and name derivation against the built-in catalog's
 * names.
 */
#include "core.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define END ((const char *)NULL)

static void listing_of(struct registry_listing *l, const char *const *paths)
{
	size_t i;

	registry_listing_init(l);
	for (i = 0; paths[i]; i++)
		assert_int_equal(registry_listing_add(l, paths[i], 1000 + i, NULL, false, NULL), 0);
}

/* "name:path,path;name:path" for the plan, mmproj first as "mmproj:...". */
static void describe(const struct registry_plan *p, const struct registry_listing *l, char *out,
		     size_t size)
{
	size_t i, j, o = 0;

	out[0] = '\0';
	for (i = 0; i < p->n_quants; i++) {
		o += (size_t)snprintf(out + o, size - o, "%s%s:", i ? ";" : "", p->quants[i].name);
		for (j = 0; j < p->quants[i].n_files; j++)
			o += (size_t)snprintf(out + o, size - o, "%s%s", j ? "," : "",
					      l->entries[p->quants[i].files[j]].path);
	}
	if (p->n_mmproj) {
		o += (size_t)snprintf(out + o, size - o, ";mmproj:");
		for (j = 0; j < p->n_mmproj; j++)
			o += (size_t)snprintf(out + o, size - o, "%s%s", j ? "," : "",
					      l->entries[p->mmproj[j]].path);
	}
}

struct layout {
	const char *what;
	const char *paths[24];
	const char *subpath;
	const char *quant;
	int rc;
	const char *want;     /* describe() after registry_plan_finish_names */
};

static const struct layout layouts[] = {
	{ "bartowski", { "README.md", ".gitattributes", "Meta-Llama-3.1-8B-Instruct.imatrix",
			 "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "Meta-Llama-3.1-8B-Instruct-Q8_0.gguf",
			 "Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", "Meta-Llama-3.1-8B-Instruct-f32.gguf",
			 "Meta-Llama-3.1-8B-Instruct-Q6_K_L.gguf", END }, NULL, NULL, 0,
	  "iq4_xs:Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf;q4_k_m:Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf;"
	  "q6_k_l:Meta-Llama-3.1-8B-Instruct-Q6_K_L.gguf;q8_0:Meta-Llama-3.1-8B-Instruct-Q8_0.gguf;"
	  "f32:Meta-Llama-3.1-8B-Instruct-f32.gguf" },
	{ "unsloth folders", { "README.md", "config.json",
			       "UD-Q4_K_XL/DeepSeek-R1-UD-Q4_K_XL-00002-of-00003.gguf",
			       "UD-Q4_K_XL/DeepSeek-R1-UD-Q4_K_XL-00001-of-00003.gguf",
			       "UD-Q4_K_XL/DeepSeek-R1-UD-Q4_K_XL-00003-of-00003.gguf",
			       "Q8_0/DeepSeek-R1-Q8_0-00001-of-00002.gguf",
			       "Q8_0/DeepSeek-R1-Q8_0-00002-of-00002.gguf",
			       "DeepSeek-R1-UD-IQ1_S-00001-of-00002.gguf",
			       "DeepSeek-R1-UD-IQ1_S-00002-of-00002.gguf", END }, NULL, NULL, 0,
	  "ud-iq1_s:DeepSeek-R1-UD-IQ1_S-00001-of-00002.gguf,DeepSeek-R1-UD-IQ1_S-00002-of-00002.gguf;"
	  "q8_0:Q8_0/DeepSeek-R1-Q8_0-00001-of-00002.gguf,Q8_0/DeepSeek-R1-Q8_0-00002-of-00002.gguf;"
	  "ud-q4_k_xl:UD-Q4_K_XL/DeepSeek-R1-UD-Q4_K_XL-00001-of-00003.gguf,"
	  "UD-Q4_K_XL/DeepSeek-R1-UD-Q4_K_XL-00002-of-00003.gguf,"
	  "UD-Q4_K_XL/DeepSeek-R1-UD-Q4_K_XL-00003-of-00003.gguf" },
	{ "projectors", { "gemma-3-4b-it-Q4_K_M.gguf", "mmproj-F32.gguf", "mmproj-BF16.gguf",
			  "mmproj-F16.gguf", "gemma-3-4b-it-Q8_0.gguf", END }, NULL, NULL, 0,
	  "q4_k_m:gemma-3-4b-it-Q4_K_M.gguf;q8_0:gemma-3-4b-it-Q8_0.gguf;"
	  "mmproj:mmproj-F16.gguf,mmproj-BF16.gguf,mmproj-F32.gguf" },
	{ "incomplete split", { "x-Q4_K_M-00001-of-00003.gguf", "x-Q4_K_M-00003-of-00003.gguf",
				"x-Q8_0.gguf", END }, NULL, NULL, 0, "q8_0:x-Q8_0.gguf" },
	{ "only incomplete", { "x-Q4_K_M-00001-of-00002.gguf", END }, NULL, NULL, -ENOENT, NULL },
	{ "no gguf", { "README.md", "config.json", "model.safetensors", END }, NULL, NULL, -ENOENT, NULL },
	{ "only mmproj", { "mmproj-f16.gguf", END }, NULL, NULL, -ENOENT, NULL },
	{ "odd names", { "model.gguf", "X.GGUF", ".cache/y-Q4_K_M.gguf", "imatrix.gguf", "notes.gguf.txt", END },
	  NULL, NULL, 0, "x:X.GGUF;model:model.gguf" },
	{ "names from folders", { "Q4_K_M/model.gguf", "Q8_0/model-00001-of-00002.gguf",
				  "Q8_0/model-00002-of-00002.gguf", END }, NULL, NULL, 0,
	  "q4_k_m:Q4_K_M/model.gguf;q8_0:Q8_0/model-00001-of-00002.gguf,Q8_0/model-00002-of-00002.gguf" },
	{ "clash", { "a/qwen3-8b-Q4_K_M.gguf", "b/qwen3-14b-Q4_K_M.gguf", "c/qwen3-14b-Q4_K_M.gguf", END },
	  NULL, NULL, 0, "qwen3-8b-q4_k_m:a/qwen3-8b-Q4_K_M.gguf;qwen3-14b-q4_k_m:b/qwen3-14b-Q4_K_M.gguf;"
	  "qwen3-14b-q4_k_m-2:c/qwen3-14b-Q4_K_M.gguf" },
	{ "subpath file", { "x-Q4_K_M.gguf", "x-Q8_0.gguf", "mmproj-f16.gguf", END }, "x-Q8_0.gguf", NULL, 0,
	  "q8_0:x-Q8_0.gguf;mmproj:mmproj-f16.gguf" },
	{ "subpath shard", { "Q8_0/x-Q8_0-00001-of-00002.gguf", "Q8_0/x-Q8_0-00002-of-00002.gguf", "x-Q4_0.gguf", END },
	  "Q8_0/x-Q8_0-00002-of-00002.gguf", NULL, 0,
	  "q8_0:Q8_0/x-Q8_0-00001-of-00002.gguf,Q8_0/x-Q8_0-00002-of-00002.gguf" },
	{ "subpath folder", { "Q8_0/x-Q8_0-00001-of-00002.gguf", "Q8_0/x-Q8_0-00002-of-00002.gguf", "x-Q4_0.gguf", END },
	  "Q8_0", NULL, 0, "q8_0:Q8_0/x-Q8_0-00001-of-00002.gguf,Q8_0/x-Q8_0-00002-of-00002.gguf" },
	{ "subpath readme", { "README.md", "x-Q4_0.gguf", "x-Q8_0.gguf", END }, "README.md", NULL, 0,
	  "q4_0:x-Q4_0.gguf;q8_0:x-Q8_0.gguf" },
	{ "subpath mmproj", { "mmproj-f16.gguf", "x-Q4_0.gguf", "x-Q8_0.gguf", END }, "mmproj-f16.gguf", NULL, 0,
	  "q4_0:x-Q4_0.gguf;q8_0:x-Q8_0.gguf;mmproj:mmproj-f16.gguf" },
	{ "subpath missing", { "x-Q4_0.gguf", END }, "nope.gguf", NULL, -ENOENT, NULL },
	{ "subpath folder without gguf", { "x-Q4_0.gguf", "docs/a.md", END }, "docs", NULL, -ENOENT, NULL },
	{ "subpath prefix is not a folder", { "Q8_0x/a-Q8_0.gguf", "x-Q4_0.gguf", END }, "Q8_0", NULL,
	  -ENOENT, NULL },
	{ "quant filter", { "x-Q4_0.gguf", "x-Q8_0.gguf", "model.gguf", END }, NULL, "q8_0", 0,
	  "model:model.gguf;q8_0:x-Q8_0.gguf" },
	{ "quant filter miss", { "x-Q4_0.gguf", "x-Q8_0.gguf", END }, NULL, "q2_k", -ENOENT, NULL },
};

static void test_layouts(void **state)
{
	char got[4096];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		const struct layout *t = &layouts[i];
		struct registry_listing l;
		struct registry_plan p;
		struct diag d;
		int rc;

		listing_of(&l, t->paths);
		diag_init(&d);
		rc = registry_plan_build(&l, t->subpath, t->quant, &p, &d);
		if (rc != t->rc)
			fail_msg("%s: rc %d, want %d (%s)", t->what, rc, t->rc, d.msg);
		if (rc == 0) {
			assert_int_equal(registry_plan_finish_names(&p, &l), 0);
			describe(&p, &l, got, sizeof(got));
			if (strcmp(got, t->want) != 0)
				fail_msg("%s:\n got  %s\n want %s", t->what, got, t->want);
			for (size_t q = 0; q < p.n_quants; q++) {
				uint64_t sum = 0;

				assert_true(parse_is_name(p.quants[q].name));
				for (size_t f = 0; f < p.quants[q].n_files; f++)
					sum += l.entries[p.quants[q].files[f]].size_bytes;
				assert_int_equal(sum, p.quants[q].size_bytes);
			}
		} else {
			assert_true(d.msg[0]);
			assert_null(p.quants);
		}
		registry_plan_release(&p);
		registry_listing_release(&l);
	}
}

static void test_skipped_note(void **state)
{
	static const char *const paths[] = { "x-Q4_K_M-00001-of-00003.gguf", "x-Q4_K_M-00002-of-00003.gguf",
					     "y-Q8_0.gguf", END };
	struct registry_listing l;
	struct registry_plan p;
	struct diag d;

	(void)state;
	listing_of(&l, paths);
	assert_int_equal(registry_plan_build(&l, NULL, NULL, &p, NULL), 0);
	assert_int_equal(p.n_skipped, 1);
	assert_non_null(strstr(p.skipped, "incomplete split"));
	registry_plan_release(&p);
	diag_init(&d);
	assert_int_equal(registry_plan_build(&l, NULL, "q4_k_m", &p, &d), -ENOENT);
	assert_non_null(strstr(d.msg, "q8_0"));
	registry_listing_release(&l);
}

static const char tree_page[] =
	"[{\"type\":\"file\",\"oid\":\"8eb3\",\"size\":86,\"path\":\"README.md\"},"
	"{\"type\":\"directory\",\"oid\":\"aa\",\"size\":0,\"path\":\"Q8_0\"},"
	"{\"type\":\"file\",\"oid\":\"90f9\",\"size\":131,\"path\":\"Q8_0/x-Q8_0.gguf\","
	"\"lfs\":{\"oid\":\"6748631069F7A49CB44E2550A1425D5C739FDB620E0BEC61E2B2D23FCA858264\","
	"\"size\":983872,\"pointerSize\":131}},"
	"{\"type\":\"submodule\",\"path\":\"ext\"}]";

static const char info_page[] =
	"{\"id\":\"org/x\",\"sha\":\"ab8c\",\"siblings\":[{\"rfilename\":\"README.md\",\"size\":86},"
	"{\"rfilename\":\"x-Q4_K_M.gguf\",\"blobId\":\"90\",\"size\":983872,\"lfs\":{\"sha256\":"
	"\"4c7560d70eaea9163029d6f98e55100d4d9fd23655daf2d5192ad977d9e13dbe\",\"size\":983872}},"
	"{\"rfilename\":\"config.json\"}]}";

static void test_listing_parse(void **state)
{
	struct registry_listing l;

	(void)state;
	registry_listing_init(&l);
	assert_int_equal(registry_listing_parse(&l, tree_page, strlen(tree_page), NULL), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.entries[1].path, "Q8_0");
	assert_true(l.entries[1].is_dir);
	assert_string_equal(l.entries[2].path, "Q8_0/x-Q8_0.gguf");
	assert_int_equal(l.entries[2].size_bytes, 983872);
	assert_string_equal(l.entries[2].sha256,
			    "6748631069f7a49cb44e2550a1425d5c739fdb620e0bec61e2b2d23fca858264");
	assert_null(l.entries[0].sha256);
	assert_int_equal(registry_listing_find(&l, "Q8_0/x-Q8_0.gguf"), 2);
	assert_int_equal(registry_listing_find(&l, "nope"), -ENOENT);
	/* pages append */
	assert_int_equal(registry_listing_parse(&l, info_page, strlen(info_page), NULL), 0);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.entries[4].path, "x-Q4_K_M.gguf");
	assert_int_equal(l.entries[4].size_bytes, 983872);
	assert_non_null(l.entries[4].sha256);
	assert_int_equal(l.entries[5].size_bytes, 0);
	registry_listing_release(&l);
	assert_int_equal(l.n, 0);
}

static void test_listing_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"42",
		"\"x\"",
		"[1]",
		"[{\"type\":\"file\"}]",
		"[{\"type\":\"file\",\"path\":7}]",
		"[{\"type\":\"file\",\"path\":\"../etc/passwd\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"a/../../b\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"/abs\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"a//b\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"a/./b\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"a\\\\b\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"a\\u0000b\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"a\\nb\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"\",\"size\":1}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"size\":-1}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"size\":\"12\"}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"size\":1.5}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"lfs\":[]}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"lfs\":{\"oid\":5}}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"lfs\":{\"oid\":\"xyz\"}}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"lfs\":{\"oid\":\"0123\",\"size\":1}}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"lfs\":{\"oid\":\"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}}]",
		"[{\"type\":\"file\",\"path\":\"a\",\"lfs\":{\"size\":-5}}]",
		"[{\"type\":\"file\",\"path\":\"ok\"},{\"type\":\"file\",\"path\":\"..\"}]",
		"[{\"type\":\"file\",\"path\":\"ok\",\"size\":1,\"size\":2}]",
		"{}",
		"{\"siblings\":{}}",
		"{\"siblings\":[{\"size\":1}]}",
		"{\"siblings\":[{\"rfilename\":\"../x\"}]}",
		"{\"siblings\":[\"x\"]}",
		"[{\"type\":\"file\",\"path\":\"a\",\"size\":99999999999999999999}]",
	};
	struct registry_listing l;
	size_t i;

	(void)state;
	registry_listing_init(&l);
	assert_int_equal(registry_listing_add(&l, "keep.gguf", 1, NULL, false, NULL), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct diag d;
		int rc;

		diag_init(&d);
		rc = registry_listing_parse(&l, bad[i], strlen(bad[i]), &d);
		if (rc != -EBADMSG)
			fail_msg("bad listing %zu accepted (rc %d): %s", i, rc, bad[i]);
		assert_true(d.msg[0]);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.entries[0].path, "keep.gguf");
	}
	registry_listing_release(&l);
}

struct naming {
	const char *repo_id, *dir_name, *file_name, *arch, *basename, *size_label, *finetune, *version, *name;
	const char *family, *variant, *full_name;
};

static const struct naming namings[] = {
	{ "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", NULL, "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", "llama",
	  "Meta-Llama-3.1", "8B", "Instruct", NULL, "Meta Llama 3.1 8B Instruct",
	  "llama", "llama-3.1-8b-instruct", "Meta Llama 3.1 8B Instruct" },
	{ "unsloth/gemma-3-1b-it-GGUF", NULL, NULL, "gemma3", NULL, NULL, NULL, NULL, NULL,
	  "gemma", "gemma-3-1b-it", "gemma 3 1b it" },
	{ "bartowski/Mistral-Small-24B-Instruct-2501-GGUF", NULL, NULL, "llama", NULL, NULL, NULL, NULL, NULL,
	  "mistral", "mistral-small-24b-instruct-2501", "Mistral Small 24B Instruct 2501" },
	{ "bartowski/Qwen2.5-7B-Instruct-GGUF", NULL, NULL, "qwen2", NULL, NULL, NULL, NULL, NULL,
	  "qwen", "qwen2.5-7b-instruct", "Qwen2.5 7B Instruct" },
	{ "unsloth/QwQ-32B-GGUF", NULL, NULL, "qwen2", NULL, NULL, NULL, NULL, NULL, "qwen", "qwq-32b", "QwQ 32B" },
	{ "unsloth/DeepSeek-R1-GGUF", NULL, NULL, "deepseek2", NULL, NULL, NULL, NULL, NULL,
	  "deepseek", "deepseek-r1", "DeepSeek R1" },
	{ "bartowski/phi-4-GGUF", NULL, NULL, "phi3", NULL, NULL, NULL, NULL, NULL, "phi", "phi-4", "phi 4" },
	{ "bartowski/OLMo-2-1124-7B-Instruct-GGUF", NULL, NULL, "olmo2", NULL, NULL, NULL, NULL, NULL,
	  "olmo", "olmo-2-1124-7b-instruct", "OLMo 2 1124 7B Instruct" },
	{ "unsloth/Qwen2.5-VL-7B-Instruct-GGUF", NULL, NULL, "qwen2vl", NULL, NULL, NULL, NULL, NULL,
	  "qwen", "qwen2.5-vl-7b-instruct", "Qwen2.5 VL 7B Instruct" },
	{ "mradermacher/Llama-3.2-3B-Instruct-i1-GGUF", NULL, NULL, "llama", NULL, NULL, NULL, NULL, NULL,
	  "llama", "llama-3.2-3b-instruct", "Llama 3.2 3B Instruct" },
	{ "TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF", NULL, NULL, "llama", NULL, NULL, NULL, NULL, NULL,
	  "mistral", "mixtral-8x7b-instruct-v0.1", "Mixtral 8x7B Instruct v0.1" },
	{ "test-org/Tiny-Llama-GGUF", NULL, NULL, "llama", NULL, NULL, NULL, NULL, "Tiny Llama",
	  "llama", "tiny-llama", "Tiny Llama" },
	{ "test-org/Multi-Quant-GGUF", NULL, NULL, "llama", NULL, NULL, NULL, NULL, "Replica",
	  "llama", "multi-quant", "Replica" },
	{ "acme/Widget-GGUF", NULL, NULL, "starcoder2", NULL, NULL, NULL, NULL, NULL,
	  "starcoder", "widget", "Widget" },
	{ "acme/Widget-GGUF", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "widget", "widget", "Widget" },
	{ "acme/GGUF", NULL, "foo-bar-Q4_0.gguf", "llama", "Foo", "1B", NULL, NULL, NULL, "llama", "foo-1b", "Foo 1B" },
	{ NULL, "whatever", "x.gguf", "llama", "Meta-Llama-3.1", "8B", "Instruct", NULL, NULL,
	  "llama", "llama-3.1-8b-instruct", "Llama 3.1 8B Instruct" },
	{ NULL, NULL, "x.gguf", "qwen2", "Qwen2.5", "7B", "Instruct", NULL, "Qwen2.5 7B Instruct",
	  "qwen", "qwen2.5-7b-instruct", "Qwen2.5 7B Instruct" },
	{ NULL, NULL, "x.gguf", "llama", "Mistral-Small", "24B", "Instruct", "2501", NULL,
	  "mistral", "mistral-small-24b-instruct-2501", "Mistral Small 24B Instruct 2501" },
	{ NULL, NULL, "x.gguf", "llama", "Llama-3.1-8B", "8B", NULL, NULL, NULL,
	  "llama", "llama-3.1-8b", "Llama 3.1 8B" },
	{ NULL, "my-models", "sub/x.gguf", "gemma3", NULL, NULL, NULL, NULL, NULL,
	  "gemma", "my-models", "my models" },
	{ NULL, NULL, "Phi-3-mini-4k-instruct-q4.gguf", "phi3", NULL, NULL, NULL, NULL, NULL,
	  "phi", "phi-3-mini-4k-instruct-q4", "phi 3 mini 4k instruct q4" },
	{ NULL, NULL, "dir/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "llama", NULL, NULL, NULL, NULL, NULL,
	  "llama", "tinyllama-1.1b-chat-v1.0", "tinyllama 1.1b chat v1.0" },
	{ NULL, NULL, "Model-UD-IQ1_S-00001-of-00003.gguf", "deepseek2", NULL, NULL, NULL, NULL, NULL,
	  "deepseek", "model", "model" },
};

static void test_names(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(namings) / sizeof(namings[0]); i++) {
		const struct naming *t = &namings[i];
		struct registry_name_hints h = {
			.repo_id = t->repo_id, .dir_name = t->dir_name, .file_name = t->file_name,
			.architecture = t->arch, .basename = t->basename, .size_label = t->size_label,
			.finetune = t->finetune, .version = t->version, .name = t->name,
		};
		struct registry_names n;
		struct diag d;
		int rc;

		diag_init(&d);
		rc = registry_plan_names(&h, &n, &d);
		if (rc)
			fail_msg("naming %zu: rc %d: %s", i, rc, d.msg);
		if (strcmp(n.family, t->family) || strcmp(n.variant, t->variant) || strcmp(n.full_name, t->full_name))
			fail_msg("naming %zu: got %s/%s '%s', want %s/%s '%s'", i, n.family, n.variant,
				 n.full_name, t->family, t->variant, t->full_name);
		assert_true(parse_is_name(n.family));
		assert_true(parse_is_name(n.variant));
	}
}

static void test_names_fail(void **state)
{
	struct registry_name_hints h = { .repo_id = "org/GGUF", .file_name = "---.gguf" };
	struct registry_names n;
	struct diag d;

	(void)state;
	diag_init(&d);
	assert_int_equal(registry_plan_names(&h, &n, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "family="));
}

static void test_family_words(void **state)
{
	(void)state;
	assert_string_equal(registry_plan_family("QwQ"), "qwen");
	assert_string_equal(registry_plan_family("qwen2.5"), "qwen");
	assert_string_equal(registry_plan_family("Mixtral"), "mistral");
	assert_string_equal(registry_plan_family("gemma3"), "gemma");
	assert_string_equal(registry_plan_family("deepseek2"), "deepseek");
	assert_string_equal(registry_plan_family("command-r"), "cohere");
	assert_null(registry_plan_family("instruct"));
	assert_null(registry_plan_family("8b"));
	assert_null(registry_plan_family(""));
	assert_null(registry_plan_family(NULL));
	assert_null(registry_plan_family("llamafoo"));
}

static void test_listing_caps(void **state)
{
	struct registry_listing l;
	char sha[65];
	struct diag d;

	(void)state;
	registry_listing_init(&l);
	memset(sha, 'A', 64);
	sha[64] = '\0';
	assert_int_equal(registry_listing_add(&l, "a.gguf", 5, sha, false, NULL), 0);
	assert_string_equal(l.entries[0].sha256, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	diag_init(&d);
	assert_int_equal(registry_listing_add(&l, "b", (uint64_t)INT64_MAX + 1, NULL, false, &d), -EBADMSG);
	assert_int_equal(registry_listing_add(&l, NULL, 1, NULL, false, NULL), -EBADMSG);
	assert_int_equal(registry_listing_add(&l, "dir", 9, NULL, true, NULL), 0);
	assert_int_equal(l.entries[1].size_bytes, 0);
	registry_listing_release(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_skipped_note),
		cmocka_unit_test(test_listing_parse),
		cmocka_unit_test(test_listing_hostile),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_names_fail),
		cmocka_unit_test(test_family_words),
		cmocka_unit_test(test_listing_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
