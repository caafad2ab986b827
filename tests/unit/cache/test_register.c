/*
 * test_register.c - registration end to end: hub_register() on every repo
 * of tests/hub/scenarios.standard_manifest() (plus big_repo(), a 40 GB
 * 70B-shaped replica), served by hubsim, and registry_put_variant() of
 * the result into a registry in a temporary directory.
 *
 * Checked: names, quants, files (upstream paths, sizes, LFS sha256, shard
 * and projector names), revision, exact parameter count and bits per
 * weight, architecture.json and config.json; each error of SPEC §6 with
 * its message (gated without a token and with one not granted, private,
 * no GGUF, malformed and truncated headers, unknown revision, offline, a
 * hub that is down or rate-limits); the bytes fetched against the header
 * sizes, from the client's counters and from hubsim's log (the 40 GB
 * file must register for under 2x its header); every TARGET form through
 * parse_control_line(); refresh keeping names; a file URL keeping the
 * other quants; a name clash between repos; and local folders and files
 * written by tests/gguf/ggufgen.py.
 */
#include "cache.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "hubsim_client.h"

#define GRANTED "hf_granted0123456789"
#define OTHER   "hf_nogrant0123456789"
#define MIB     (1024.0 * 1024.0)

static struct hubsim sim;
static char local_dir[400];

static int setup(void **state)
{
	char script[2048];
	char *argv[] = { (char *)"/usr/bin/python3", (char *)"-c", script, NULL };

	(void)state;
	if (hubsim_start(&sim, "dict(scenarios.standard_manifest(), repos=scenarios.standard_repos() + "
			 "[scenarios.big_repo()])"))
		return -1;
	snprintf(local_dir, sizeof(local_dir), "%s/local", sim.dir);
	snprintf(script, sizeof(script),
		 "import json, os, sys\nsys.path.insert(0, '%s/gguf')\nimport ggufgen\n"
		 "d = '%s'\nos.makedirs(d + '/Local-Model-GGUF/Q8_0')\n"
		 "os.makedirs(d + '/models--acme--Widget-GGUF/snapshots/abc')\n"
		 "os.makedirs(d + '/Tiny-Llama-GGUF')\n"
		 "t = dict(arch='llama', n_layers=2, hidden=256, heads=4, kv_heads=2, ffn=512, vocab=1024)\n"
		 "ggufgen.replica(d + '/Local-Model-GGUF/local-Q4_K_M.gguf', ftype='q4_k_m', **t)\n"
		 "ggufgen.replica(d + '/Local-Model-GGUF/Q8_0/local-Q8_0', ftype='q8_0', n_shards=2, **t)\n"
		 "ggufgen.replica(d + '/Local-Model-GGUF/mmproj-local-f16.gguf', arch='clip', ftype='f16', "
		 "n_layers=1, hidden=64, heads=2, kv_heads=2, ffn=128, vocab=32, vocab_arrays=False)\n"
		 "open(d + '/Local-Model-GGUF/README.md', 'w').write('hi')\n"
		 "json.dump({'model_type': 'llama', 'architectures': ['LlamaForCausalLM'], "
		 "'max_position_embeddings': 4096}, open(d + '/Local-Model-GGUF/config.json', 'w'))\n"
		 "ggufgen.replica(d + '/models--acme--Widget-GGUF/snapshots/abc/w-Q4_0.gguf', ftype='q4_0', **t)\n"
		 "ggufgen.replica(d + '/Tiny-Llama-GGUF/x-Q4_0.gguf', ftype='q4_0', **t)\n"
		 "open(d + '/notes.txt', 'w').write('x')\n",
		 MF_TESTS_DIR, local_dir);
	return hubsim_spawn_wait(argv);
}

static int teardown(void **state)
{
	(void)state;
	hubsim_stop(&sim);
	return 0;
}

static struct hub *new_hub(const char *token, bool offline)
{
	struct hub_options o;
	struct hub *h = NULL;

	hub_options_init(&o);
	o.endpoint = sim.url;
	o.token = token;
	o.token_source = token ? "/root/.cache/huggingface/token" : NULL;
	o.offline = offline;
	o.backoff_ms = 50;
	o.retry_budget_ms = 2000;
	assert_int_equal(hub_new(&o, &h, NULL), 0);
	return h;
}

static struct registry *new_registry(const char *name)
{
	char dir[512];
	struct registry *reg = NULL;
	struct diag d;

	snprintf(dir, sizeof(dir), "%s/state-%s", sim.dir, name);
	mkdir(dir, 0700);
	diag_init(&d);
	if (registry_open(dir, &reg, &d))
		fail_msg("registry_open: %s", d.msg);
	return reg;
}

/* Parses line and registers it (snap nullable). */
static int reg_line(struct hub *h, const char *line, const struct registry_snapshot *snap,
		    struct model_variant *v, struct hub_register_stats *st, struct diag *d)
{
	struct control_request req;
	struct diag pd;

	diag_init(&pd);
	if (parse_control_line(CONTROL_REGISTER, line, sim.url, &req, &pd) != 1)
		fail_msg("'%s' does not parse: %s", line, pd.msg);
	diag_init(d);
	return hub_register(h, &req, snap, v, st, d);
}

static void quant_names(const struct model_variant *v, char *out, size_t size)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < v->n_quants; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "," : "", v->quants[i].name);
}

/* Puts v into reg and checks the snapshot shows it as given. */
static void put_and_check(struct registry *reg, const struct model_variant *v)
{
	struct registry_snapshot *snap;
	const struct model_variant *got;
	struct diag d;

	diag_init(&d);
	if (registry_put_variant(reg, v, &d))
		fail_msg("registry_put_variant %s/%s: %s", v->family, v->variant, d.msg);
	assert_int_equal(registry_snapshot_get(reg, &snap), 0);
	got = registry_find_variant(snap, v->family, v->variant);
	assert_non_null(got);
	assert_string_equal(got->repo_id, v->repo_id);
	assert_int_equal(got->n_quants, v->n_quants);
	assert_string_equal(registry_find_repo(snap, v->repo_id)->repo_id, v->repo_id);
	registry_snapshot_put(reg, snap);
}

struct std_case {
	const char *line;
	const char *token;
	int rc;
	const char *family, *variant, *quants;  /* success */
	const char *msg;                        /* failure: substring */
	bool multimodal;
	size_t files_of_last;                   /* files of the last quant */
};

static const struct std_case std_cases[] = {
	{ "test-org/Tiny-Llama-GGUF", NULL, 0, "llama", "tiny-llama", "q4_k_m,q8_0", NULL, false, 1 },
	{ "test-org/Multi-Quant-GGUF", NULL, 0, "llama", "multi-quant", "q4_k_m,q5_k_m,q8_0", NULL, false, 2 },
	{ "test-org/Split-GGUF", NULL, 0, "llama", "split", "q4_k_m", NULL, false, 3 },
	{ "test-org/Vision-GGUF", NULL, 0, "llama", "vision", "q4_k_m", NULL, true, 2 },
	{ "test-org/Gated-GGUF", NULL, -EACCES, NULL, NULL, NULL, "licence", false, 0 },
	{ "test-org/Gated-GGUF", OTHER, -EACCES, NULL, NULL, NULL, "/root/.cache/huggingface/token", false, 0 },
	{ "test-org/Gated-GGUF", GRANTED, 0, "llama", "gated", "q4_k_m", NULL, false, 1 },
	{ "test-org/Private-GGUF", NULL, -ENOENT, NULL, NULL, NULL, "private", false, 0 },
	{ "test-org/Private-GGUF", GRANTED, 0, "llama", "private", "q4_k_m", NULL, false, 1 },
	{ "test-org/No-GGUF", NULL, -ENOENT, NULL, NULL, NULL, "no GGUF", false, 0 },
	{ "test-org/Bad-Header-GGUF", NULL, -EIO, NULL, NULL, NULL, "bad-Q4_K_M.gguf", false, 0 },
	{ "test-org/Truncated-GGUF", NULL, -EIO, NULL, NULL, NULL, "truncated-Q4_K_M.gguf", false, 0 },
	{ "test-org/Two-Revisions-GGUF", NULL, 0, "llama", "two-revisions", "q4_k_m,q8_0", NULL, false, 1 },
	{ "test-org/Two-Revisions-GGUF@v1", NULL, 0, "llama", "two-revisions", "q4_k_m", NULL, false, 1 },
	{ "test-org/Two-Revisions-GGUF@v9", NULL, -ENOENT, NULL, NULL, NULL, "revision 'v9'", false, 0 },
	{ "test-org/With-Config-GGUF", NULL, 0, "llama", "with-config", "q4_k_m", NULL, false, 1 },
	{ "test-org/Old-Name-GGUF", NULL, 0, "llama", "tiny-llama", "q4_k_m,q8_0", NULL, false, 1 },
	{ "test-org/Nothing-Here", NULL, -ENOENT, NULL, NULL, NULL, "not found", false, 0 },
	{ "test-org/Tiny-Llama-GGUF quant=q2_k", NULL, -ENOENT, NULL, NULL, NULL, "q2_k", false, 0 },
};

static void check_variant(struct hub *h, const struct model_variant *v, const char *line)
{
	struct registry_listing l;
	struct hub_model_info mi;
	size_t i, j;

	assert_string_equal(v->origin, "hub");
	assert_string_equal(v->architecture, "llama");
	assert_non_null(v->revision);
	assert_non_null(v->arch_json);
	assert_non_null(strstr(v->arch_json, "\"num_layers\": 2"));
	assert_non_null(v->extra_json);
	assert_true(v->parameter_count_exact > 1000000);
	assert_true(v->parameter_count_b > 0.001);
	assert_int_equal(v->context_window, 8192);
	registry_listing_init(&l);
	assert_int_equal(hub_model_info(h, v->repo_id, v->revision, &l, &mi, NULL), 0);
	assert_string_equal(mi.sha, v->revision);
	for (i = 0; i < v->n_quants; i++) {
		const struct model_quant *q = &v->quants[i];
		uint64_t sum = 0;

		assert_true(q->size_exact);
		if (q->bits_per_weight < 4.0 || q->bits_per_weight > 9.0)
			fail_msg("%s: quant %s has %.2f bits per weight", line, q->name, q->bits_per_weight);
		assert_true(q->quality_stars >= 1 && q->quality_stars <= 5);
		for (j = 0; j < q->n_files; j++) {
			const struct model_file *f = &q->files[j];
			ssize_t k = registry_listing_find(&l, f->upstream);

			assert_true(k >= 0);
			assert_int_equal(f->size_bytes, l.entries[k].size_bytes);
			assert_non_null(f->sha256);
			assert_string_equal(f->sha256, l.entries[k].sha256);
			if (f->role == FILE_ROLE_MODEL)
				sum += f->size_bytes;
			else
				assert_string_equal(f->name, "mmproj.gguf");
		}
		assert_int_equal(sum, q->size_bytes);
		if (q->n_files == 1)
			assert_string_equal(q->files[0].name, "model.gguf");
	}
	hub_model_info_release(&mi);
	registry_listing_release(&l);
}

static void test_standard_repos(void **state)
{
	struct registry *reg = new_registry("std");
	char names[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(std_cases) / sizeof(std_cases[0]); i++) {
		const struct std_case *c = &std_cases[i];
		struct hub *h = new_hub(c->token, false);
		struct hub_register_stats st;
		struct model_variant v;
		struct diag d;
		int rc;

		rc = reg_line(h, c->line, NULL, &v, &st, &d);
		if (rc != c->rc)
			fail_msg("'%s': rc %d, want %d: %s", c->line, rc, c->rc, d.msg);
		if (rc) {
			if (!strstr(d.msg, c->msg))
				fail_msg("'%s': message '%s' lacks '%s'", c->line, d.msg, c->msg);
			if (c->token && strstr(d.msg, c->token))
				fail_msg("'%s': the token is in the message", c->line);
			assert_null(v.family);
			assert_null(v.quants);
			hub_free(h);
			continue;
		}
		assert_string_equal(v.family, c->family);
		assert_string_equal(v.variant, c->variant);
		quant_names(&v, names, sizeof(names));
		if (strcmp(names, c->quants))
			fail_msg("'%s': quants %s, want %s", c->line, names, c->quants);
		assert_int_equal(v.multimodal, c->multimodal);
		assert_int_equal(v.quants[v.n_quants - 1].n_files, c->files_of_last);
		check_variant(h, &v, c->line);
		put_and_check(reg, &v);
		registry_variant_release(&v);
		hub_free(h);
	}
	registry_close(reg);
}

static void test_details(void **state)
{
	struct hub *h = new_hub(NULL, false);
	struct hub_register_stats st;
	struct model_variant v;
	struct diag d;

	(void)state;
	assert_int_equal(reg_line(h, "test-org/Multi-Quant-GGUF", NULL, &v, &st, &d), 0);
	assert_string_equal(v.quants[2].name, "q8_0");
	assert_string_equal(v.quants[2].files[0].name, "model-00001-of-00002.gguf");
	assert_string_equal(v.quants[2].files[1].name, "model-00002-of-00002.gguf");
	assert_string_equal(v.quants[2].files[0].upstream, "Q8_0/multi-Q8_0-00001-of-00002.gguf");
	assert_string_equal(v.quants[2].file_pattern, "Q8_0/multi-Q8_0-00001-of-00002.gguf");
	assert_int_equal(st.headers, 4);
	{
		struct gguf *g;
		struct reader r;

		/* the exact count is the tensor table's, also across shards */
		assert_int_equal(hub_file_reader_open(h, "test-org/Multi-Quant-GGUF", v.revision,
						      "Q4_K_M/multi-Q4_K_M.gguf", &r, NULL), 0);
		assert_int_equal(gguf_open(&r, &g, NULL), 0);
		assert_int_equal(v.parameter_count_exact, gguf_param_count(g));
		assert_int_equal(v.quants[0].bits_per_weight * 1e6,
				 (double)gguf_weight_bytes(g) * 8.0 / (double)gguf_param_count(g) * 1e6);
		gguf_free(g);
		hub_reader_close(&r);
	}
	registry_variant_release(&v);

	assert_int_equal(reg_line(h, "test-org/With-Config-GGUF", NULL, &v, &st, &d), 0);
	assert_non_null(v.config_json);
	assert_non_null(strstr(v.config_json, "LlamaForCausalLM"));
	assert_non_null(strstr(v.arch_json, "\"max_position_embeddings\": 8192"));
	registry_variant_release(&v);

	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF base=test-org/With-Config-GGUF name='My Tiny'",
				  NULL, &v, &st, &d), 0);
	assert_non_null(v.config_json);
	assert_string_equal(v.base_repo, "test-org/With-Config-GGUF");
	assert_string_equal(v.full_name, "My Tiny");
	registry_variant_release(&v);
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF base=test-org/Split-GGUF", NULL, &v, &st, &d),
			 -ENOENT);
	assert_non_null(strstr(d.msg, "config.json"));

	assert_int_equal(reg_line(h, "test-org/Vision-GGUF", NULL, &v, &st, &d), 0);
	assert_int_equal(v.quants[0].files[1].role, FILE_ROLE_MMPROJ);
	assert_string_equal(v.quants[0].files[1].upstream, "mmproj-vision-f16.gguf");
	assert_non_null(strstr(v.extra_json, "mmproj-vision-f16.gguf"));
	registry_variant_release(&v);
	hub_free(h);
}

/* The 2x target: bytes fetched against header bytes, from the counters and
 * from hubsim's log. */
static void test_bytes(void **state)
{
	struct hub *h = new_hub(NULL, false);
	struct hub_register_stats st;
	struct model_variant v;
	struct diag d;
	long seq = hubsim_seq(&sim);
	json_t *log, *e;
	uint64_t logged = 0;
	size_t i;

	(void)state;
	assert_int_equal(reg_line(h, "test-org/Big-GGUF", NULL, &v, &st, &d), 0);
	assert_true(v.quants[0].size_bytes > (30ull << 30));
	assert_int_equal(st.headers, 1);
	log = hubsim_log(&sim, seq);
	json_array_foreach(log, i, e) {
		const char *key = json_string_value(json_object_get(e, "file_key"));

		if (key && strstr(key, "Big-GGUF/big-Q4_K_M.gguf") && json_is_true(json_object_get(e, "content")))
			logged += (uint64_t)json_integer_value(json_object_get(e, "bytes"));
	}
	json_decref(log);
	print_message("Big-GGUF (%.1f GB): header %.2f MiB, fetched %.2f MiB (hub log %.2f MiB), "
		      "ratio %.2f, %u reader requests\n", (double)v.quants[0].size_bytes / 1e9,
		      (double)st.header_bytes / MIB, (double)st.fetched_bytes / MIB, (double)logged / MIB,
		      (double)st.fetched_bytes / (double)st.header_bytes, st.reader_requests);
	assert_true(st.header_bytes > (1u << 20));
	assert_true(st.fetched_bytes < 2 * st.header_bytes);
	assert_true(logged < 2 * st.header_bytes);
	/* the client also counts the redirects' own small bodies */
	assert_true(logged <= st.fetched_bytes && st.fetched_bytes - logged < 4096 * st.reader_requests);
	registry_variant_release(&v);

	/* small files: the parser's first read is 1 MiB, so a header costs
	 * at most max(2 x header, 1 MiB) */
	seq = hubsim_seq(&sim);
	assert_int_equal(reg_line(h, "test-org/Multi-Quant-GGUF", NULL, &v, &st, &d), 0);
	assert_true(st.fetched_bytes <= 2 * st.header_bytes + (uint64_t)st.headers * (1u << 20));
	for (i = 0; i < v.n_quants; i++)
		assert_true(st.fetched_bytes < v.quants[i].size_bytes * 4);
	print_message("Multi-Quant-GGUF: %u headers, %.2f MiB of headers, fetched %.2f MiB\n", st.headers,
		      (double)st.header_bytes / MIB, (double)st.fetched_bytes / MIB);
	registry_variant_release(&v);
	hub_free(h);
}

static void test_target_forms(void **state)
{
	static const struct {
		bool on_hub;          /* prefix the hub's URL */
		const char *target;
		const char *quants;
	} forms[] = {
		{ true, "/test-org/Tiny-Llama-GGUF", "q4_k_m,q8_0" },
		{ true, "/test-org/Tiny-Llama-GGUF/tree/main", "q4_k_m,q8_0" },
		{ true, "/test-org/Tiny-Llama-GGUF/blob/main/tiny-llama-Q8_0.gguf", "q8_0" },
		{ true, "/test-org/Tiny-Llama-GGUF/resolve/main/tiny-llama-Q4_K_M.gguf?download=true", "q4_k_m" },
		{ true, "/test-org/Multi-Quant-GGUF/tree/main/Q8_0", "q8_0" },
		{ true, "/test-org/Vision-GGUF/blob/main/mmproj-vision-f16.gguf", "q4_k_m" },
		{ false, "https://huggingface.co/test-org/Split-GGUF", "q4_k_m" },
		{ false, "hf://test-org/Two-Revisions-GGUF@v1", "q4_k_m" },
		{ false, "hf://test-org/Multi-Quant-GGUF/Q5_K_M", "q5_k_m" },
		{ false, "test-org/Tiny-Llama-GGUF:Q8_0", "q8_0" },
		{ false, "test-org/Multi-Quant-GGUF quant=q5_k_m", "q5_k_m" },
	};
	struct hub *h = new_hub(NULL, false);
	char line[512], names[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct model_variant v;
		struct diag d;

		snprintf(line, sizeof(line), "%s%s", forms[i].on_hub ? sim.url : "", forms[i].target);
		if (reg_line(h, line, NULL, &v, NULL, &d))
			fail_msg("'%s': %s", line, d.msg);
		quant_names(&v, names, sizeof(names));
		if (strcmp(names, forms[i].quants))
			fail_msg("'%s': quants %s, want %s", line, names, forms[i].quants);
		registry_variant_release(&v);
	}
	/* a pasted page */
	{
		static const char page[] = "Hugging Face\nModels\ntest-org\n/\nSplit-GGUF\n\nlike\n0\n"
					   "Model card\nFiles and versions\nCommunity\n";
		struct control_request *reqs = NULL;
		struct model_variant v;

		assert_int_equal(parse_control_text(CONTROL_REGISTER, page, sizeof(page) - 1, sim.url, &reqs, NULL), 1);
		assert_int_equal(hub_register(h, &reqs[0], NULL, &v, NULL, NULL), 0);
		assert_string_equal(v.repo_id, "test-org/Split-GGUF");
		registry_variant_release(&v);
		free(reqs);
	}
	hub_free(h);
}

static void test_refresh_merge_clash(void **state)
{
	struct registry *reg = new_registry("merge");
	struct hub *h = new_hub(NULL, false);
	struct registry_snapshot *snap;
	struct control_request req;
	struct model_variant v;
	char names[256], line[512];
	struct diag d;

	(void)state;
	/* custom names, then a refresh keeps them */
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF family=custom variant=mine", NULL, &v, NULL, &d), 0);
	put_and_check(reg, &v);
	registry_variant_release(&v);
	assert_int_equal(registry_snapshot_get(reg, &snap), 0);
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF", snap, &v, NULL, &d), 0);
	assert_string_equal(v.family, "custom");
	assert_string_equal(v.variant, "mine");
	registry_variant_release(&v);
	hub_refresh_request(registry_find_variant(snap, "custom", "mine"), &req);
	assert_int_equal(req.target, CONTROL_TARGET_REPO);
	assert_int_equal(hub_register(h, &req, snap, &v, NULL, &d), 0);
	assert_string_equal(v.variant, "mine");
	assert_int_equal(v.n_quants, 2);
	registry_variant_release(&v);
	registry_snapshot_put(reg, snap);

	/* one quant by file URL: the other registered quant stays */
	assert_int_equal(registry_remove(reg, "custom", "mine", "q8_0", NULL), 0);
	assert_int_equal(registry_snapshot_get(reg, &snap), 0);
	assert_int_equal(registry_find_variant(snap, "custom", "mine")->n_quants, 1);
	snprintf(line, sizeof(line), "%s/test-org/Tiny-Llama-GGUF/blob/main/tiny-llama-Q8_0.gguf", sim.url);
	assert_int_equal(reg_line(h, line, snap, &v, NULL, &d), 0);
	quant_names(&v, names, sizeof(names));
	assert_string_equal(names, "q8_0,q4_k_m");
	put_and_check(reg, &v);
	registry_variant_release(&v);
	registry_snapshot_put(reg, snap);

	registry_close(reg);

	/* another repo deriving the same names gets its org appended */
	reg = new_registry("clash");
	snprintf(line, sizeof(line), "%s/Tiny-Llama-GGUF", local_dir);
	assert_int_equal(reg_line(NULL, line, NULL, &v, NULL, &d), 0);
	assert_string_equal(v.family, "llama");
	assert_string_equal(v.variant, "tiny-llama");
	registry_variant_release(&v);
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF", NULL, &v, NULL, &d), 0);
	put_and_check(reg, &v);
	registry_variant_release(&v);
	assert_int_equal(registry_snapshot_get(reg, &snap), 0);
	assert_int_equal(reg_line(NULL, line, snap, &v, NULL, &d), 0);
	assert_string_equal(v.variant, "tiny-llama-local");
	put_and_check(reg, &v);
	registry_variant_release(&v);
	/* ... and keeps it when registered again */
	registry_snapshot_put(reg, snap);
	assert_int_equal(registry_snapshot_get(reg, &snap), 0);
	assert_int_equal(reg_line(NULL, line, snap, &v, NULL, &d), 0);
	assert_string_equal(v.variant, "tiny-llama-local");
	registry_variant_release(&v);
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF", snap, &v, NULL, &d), 0);
	assert_string_equal(v.variant, "tiny-llama");
	registry_variant_release(&v);
	registry_snapshot_put(reg, snap);
	registry_close(reg);
	hub_free(h);
}

static void test_network_errors(void **state)
{
	struct hub *h = new_hub(NULL, true);
	struct model_variant v;
	struct diag d;
	long seq = hubsim_seq(&sim);
	json_t *log;

	(void)state;
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF", NULL, &v, NULL, &d), -ENETDOWN);
	assert_non_null(strstr(d.msg, "offline"));
	log = hubsim_log(&sim, seq);
	assert_int_equal(json_array_size(log), 0);
	json_decref(log);
	hub_free(h);

	h = new_hub(NULL, false);
	hubsim_faults(&sim, "{\"down\": \"refuse\"}");
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF", NULL, &v, NULL, &d), -ENETDOWN);
	hubsim_faults(&sim, "{\"throttle\": {\"retry_after\": 1}}");
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF", NULL, &v, NULL, &d), -EAGAIN);
	/* the CDN keeps failing: the header readers give up */
	hubsim_faults(&sim, "{\"errors\": {\"status\": 503, \"kinds\": [\"cdn\"]}}");
	assert_int_equal(reg_line(h, "test-org/Tiny-Llama-GGUF", NULL, &v, NULL, &d), -EIO);
	assert_null(v.quants);
	/* transient trouble is ridden out */
	hubsim_faults(&sim, "{\"errors\": {\"status\": 503, \"every\": 3}, "
			    "\"throttle\": {\"count\": 1, \"retry_after\": 1, \"kinds\": [\"info\"]}}");
	if (reg_line(h, "test-org/Multi-Quant-GGUF", NULL, &v, NULL, &d))
		fail_msg("transient faults: %s", d.msg);
	assert_int_equal(v.n_quants, 3);
	registry_variant_release(&v);
	hubsim_faults(&sim, NULL);
	hub_free(h);
}

static void test_local(void **state)
{
	struct registry *reg = new_registry("local");
	struct registry_snapshot *snap;
	struct model_variant v;
	char line[600], names[256], real[4096];
	struct diag d;

	(void)state;
	snprintf(line, sizeof(line), "%s/Local-Model-GGUF/", local_dir);
	if (reg_line(NULL, line, NULL, &v, NULL, &d))
		fail_msg("local folder: %s", d.msg);
	assert_string_equal(v.origin, "local");
	assert_non_null(realpath(line, real));
	assert_string_equal(v.repo_id, real);
	assert_null(v.revision);
	assert_string_equal(v.family, "llama");
	assert_string_equal(v.variant, "local-model");
	quant_names(&v, names, sizeof(names));
	assert_string_equal(names, "q8_0,q4_k_m");
	assert_int_equal(v.quants[0].n_files, 3);
	assert_string_equal(v.quants[0].files[1].upstream, "Q8_0/local-Q8_0-00002-of-00002.gguf");
	assert_null(v.quants[0].files[0].sha256);
	assert_true(v.multimodal);
	assert_non_null(v.config_json);
	put_and_check(reg, &v);
	registry_variant_release(&v);

	/* one file of it: that quant, the others kept */
	assert_int_equal(registry_remove(reg, "llama", "local-model", "q4_k_m", NULL), 0);
	assert_int_equal(registry_snapshot_get(reg, &snap), 0);
	snprintf(line, sizeof(line), "%s/Local-Model-GGUF/local-Q4_K_M.gguf", local_dir);
	assert_int_equal(reg_line(NULL, line, snap, &v, NULL, &d), 0);
	quant_names(&v, names, sizeof(names));
	assert_string_equal(names, "q4_k_m,q8_0");
	put_and_check(reg, &v);
	registry_variant_release(&v);
	registry_snapshot_put(reg, snap);

	/* a Hugging Face cache snapshot names the model after its repo */
	snprintf(line, sizeof(line), "%s/models--acme--Widget-GGUF/snapshots/abc", local_dir);
	assert_int_equal(reg_line(NULL, line, NULL, &v, NULL, &d), 0);
	assert_string_equal(v.variant, "widget");
	registry_variant_release(&v);

	snprintf(line, sizeof(line), "%s/nope", local_dir);
	assert_int_equal(reg_line(NULL, line, NULL, &v, NULL, &d), -ENOENT);
	snprintf(line, sizeof(line), "%s/notes.txt", local_dir);
	assert_int_equal(reg_line(NULL, line, NULL, &v, NULL, &d), -EINVAL);
	snprintf(line, sizeof(line), "%s", sim.dir);
	assert_int_equal(reg_line(NULL, line, NULL, &v, NULL, &d), 0);
	registry_variant_release(&v);
	snprintf(line, sizeof(line), "%s/Local-Model-GGUF base=test-org/With-Config-GGUF", local_dir);
	assert_int_equal(reg_line(NULL, line, NULL, &v, NULL, &d), -ENETDOWN);
	registry_close(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_repos),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_target_forms),
		cmocka_unit_test(test_refresh_merge_clash),
		cmocka_unit_test(test_network_errors),
		cmocka_unit_test(test_local),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
