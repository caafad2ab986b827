/*
 * test_vram_layout.c - weights layouts: a registered quant estimated from
 * its files' tensor tables.
 *
 * The reference is what `modelfs estimate FILE` computes: the model
 * vram_model_from_gguf() and vram_model_add_gguf() build from the real
 * headers.  For replicas of real architectures that tests/gguf/replica.py
 * writes here (Llama 3.1 8B whole and in three shards, a 70B-shaped Llama,
 * Qwen2.5 7B, Phi-4, Gemma 3 4B with sliding windows and tied embeddings,
 * Qwen3-30B-A3B's experts, DeepSeek-V2-Lite's MLA), the path registration
 * takes (tensor lists, a layout, architecture.json, the registry's
 * snapshot, vram_model_from_variant) must give the same model and the
 * same estimate, byte for byte, at every context, cache type, flash
 * attention setting and -ngl tried, partial offload included.  The 70B
 * layout's size is printed and bounded.
 *
 * The layout decoder reads bytes from the database, so it gets a table of
 * hostile inputs and every truncation and byte flip of a real layout.  The
 * registry keeps layouts through a round trip, replaces and drops them on
 * re-registration, deletes them with their quant, refuses a bad one, and
 * migrates a version 2 database.
 */
#include "core.h"

#include <errno.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

extern char **environ;

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define LAYOUT_70B_MAX_BYTES 256

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	assert_non_null(p);
	return p;
}

static void rm_tree(const char *dir)
{
	char *argv[] = { (char *)"rm", (char *)"-rf", (char *)dir, NULL };
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0)
		waitpid(pid, &status, 0);
}

/* A model with n blocks of the given sizes, as from a header. */
static void synth_model(struct vram_model *m, size_t n, const uint64_t *layer, const uint64_t *expert)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	arch_init(&m->arch);
	m->source = VRAM_SRC_GGUF;
	m->n_layers = n;
	m->layer_bytes = calloc(n ? n : 1, sizeof(uint64_t));
	m->layer_expert_bytes = calloc(n ? n : 1, sizeof(uint64_t));
	assert_non_null(m->layer_bytes);
	assert_non_null(m->layer_expert_bytes);
	for (i = 0; i < n; i++) {
		m->layer_bytes[i] = layer[i];
		m->layer_expert_bytes[i] = expert ? expert[i] : 0;
	}
}

static void assert_same_weights(const struct vram_model *a, const struct vram_model *b)
{
	assert_int_equal(a->source, b->source);
	assert_int_equal(a->n_layers, b->n_layers);
	if (a->n_layers) {
		assert_memory_equal(a->layer_bytes, b->layer_bytes, a->n_layers * sizeof(uint64_t));
		assert_memory_equal(a->layer_expert_bytes, b->layer_expert_bytes, a->n_layers * sizeof(uint64_t));
	}
	assert_int_equal(a->input_bytes, b->input_bytes);
	assert_int_equal(a->output_bytes, b->output_bytes);
	assert_int_equal(a->output_matrix_bytes, b->output_matrix_bytes);
	assert_int_equal(a->output_tied, b->output_tied);
	assert_int_equal(a->mmproj_file_bytes, b->mmproj_file_bytes);
}

static void round_trip(const struct vram_model *m, size_t *len_out)
{
	unsigned char *buf = NULL;
	struct vram_model back;
	struct diag d;
	size_t len = 0;

	assert_int_equal(vram_layout_encode(m, &buf, &len), 0);
	assert_non_null(buf);
	assert_true(len > 0 && len <= VRAM_LAYOUT_MAX_BYTES);
	diag_init(&d);
	if (vram_layout_check(buf, len, &d))
		fail_msg("check: %s", d.msg);
	assert_int_equal(vram_model_from_layout(&back, &m->arch, buf, len, &d), 0);
	assert_same_weights(m, &back);
	vram_model_release(&back);
	free(buf);
	if (len_out)
		*len_out = len;
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

static void test_round_trip(void **state)
{
	static const uint64_t mix[] = { 7, 7, 9, 7, 9, 9, 9, 7, 11, 11 };
	static const uint64_t moe[] = { 100, 100, 200, 200 };
	static const uint64_t moe_x[] = { 0, 0, 150, 150 };
	uint64_t *big, top[2] = { INT64_MAX, INT64_MAX };
	struct vram_model m;
	unsigned char *buf;
	size_t len, i;

	(void)state;
	synth_model(&m, 0, NULL, NULL);
	m.input_bytes = 5;
	m.output_bytes = 6;
	round_trip(&m, &len);
	vram_model_release(&m);

	synth_model(&m, N_ELEMS(mix), mix, NULL);
	m.input_bytes = 1000;
	m.output_bytes = 2000;
	m.output_matrix_bytes = 1500;
	m.mmproj_file_bytes = 123456789;
	round_trip(&m, &len);
	/* version, flags, blocks, 1000, 2000, 1500 (2 bytes each), the
	 * projector (4), 3 sizes of one byte each and their experts, 6 runs */
	assert_int_equal(len, 1 + 1 + 1 + 3 * 2 + 4 + 1 + 3 * 2 + 6 * 2);
	m.output_tied = true;
	round_trip(&m, NULL);
	vram_model_release(&m);

	synth_model(&m, N_ELEMS(moe), moe, moe_x);
	round_trip(&m, NULL);
	vram_model_release(&m);

	synth_model(&m, 2, top, top);
	m.input_bytes = m.output_bytes = m.output_matrix_bytes = m.mmproj_file_bytes = INT64_MAX;
	round_trip(&m, NULL);
	/* out of range, not from a header, experts over the block */
	m.layer_bytes[1] = (uint64_t)INT64_MAX + 1;
	assert_int_equal(vram_layout_encode(&m, &buf, &len), -EINVAL);
	m.layer_bytes[1] = 10;
	assert_int_equal(vram_layout_encode(&m, &buf, &len), -EINVAL);
	m.layer_expert_bytes[1] = 10;
	m.source = VRAM_SRC_FILE_SIZE;
	assert_int_equal(vram_layout_encode(&m, &buf, &len), -EINVAL);
	assert_null(buf);
	m.source = VRAM_SRC_GGUF;
	m.mmproj_file_bytes = UINT64_MAX;
	assert_int_equal(vram_layout_encode(&m, &buf, &len), -EINVAL);
	vram_model_release(&m);

	/* the worst case: the most blocks, all of different large sizes */
	big = calloc(ARCH_MAX_LAYERS, sizeof(*big));
	assert_non_null(big);
	for (i = 0; i < ARCH_MAX_LAYERS; i++)
		big[i] = (uint64_t)INT64_MAX - i;
	synth_model(&m, ARCH_MAX_LAYERS, big, big);
	round_trip(&m, &len);
	assert_true(len <= VRAM_LAYOUT_MAX_BYTES);
	vram_model_release(&m);
	free(big);
}

/* ------------------------------------------------------------------------
 * Hostile layouts
 * ------------------------------------------------------------------------ */

static void test_hostile(void **state)
{
	static const struct {
		const char *what;
		unsigned char bytes[24];
		size_t len;
		const char *words;
	} table[] = {
		{ "empty", { 0 }, 0, "empty" },
		{ "version 0", { 0, 0, 0, 0, 0, 0, 0, 0 }, 8, "version 0" },
		{ "version 2", { 2, 0, 0, 0, 0, 0, 0, 0 }, 8, "version 2" },
		{ "only the version", { 1 }, 1, "ends inside flags" },
		{ "unknown flag", { 1, 2, 0, 0, 0, 0, 0, 0 }, 8, "flags 2" },
		{ "no blocks", { 1, 0, 0, 0, 0, 0, 0, 0 }, 8, NULL },
		{ "byte left over", { 1, 0, 0, 0, 0, 0, 0, 0, 0 }, 9, "left over" },
		{ "too many blocks", { 1, 0, 0x81, 0x20, 0, 0, 0, 0, 1, 5, 0, 1, 0 }, 13, "block count" },
		{ "overlong varint", { 1, 0, 0x80, 0x00, 0, 0, 0, 0, 0 }, 9, "overlong" },
		{ "size over INT64_MAX", { 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
					   0, 0, 0, 0 }, 17, "is over" },
		{ "varint past 64 bits", { 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
					   0, 0, 0, 0 }, 17, "64 bits" },
		{ "endless varint", { 1, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
				      0x80 }, 15, "64 bits" },
		{ "blocks without sizes", { 1, 0, 2, 0, 0, 0, 0, 0 }, 8, "block sizes" },
		{ "sizes without blocks", { 1, 0, 0, 0, 0, 0, 0, 1, 5, 0 }, 10, "count of block sizes" },
		{ "more sizes than blocks", { 1, 0, 1, 0, 0, 0, 0, 2, 5, 0, 6, 0, 1, 0 }, 14, "count of block sizes" },
		{ "experts over the block", { 1, 0, 1, 0, 0, 0, 0, 1, 5, 6, 1, 0 }, 12, "expert size" },
		{ "empty run", { 1, 0, 1, 0, 0, 0, 0, 1, 5, 0, 0, 0 }, 12, "empty run" },
		{ "run past the blocks", { 1, 0, 2, 0, 0, 0, 0, 1, 5, 0, 3, 0 }, 12, "run length" },
		{ "index past the sizes", { 1, 0, 2, 0, 0, 0, 0, 1, 5, 0, 2, 1 }, 12, "index" },
		{ "runs short of the blocks", { 1, 0, 3, 0, 0, 0, 0, 1, 5, 0, 2, 0 }, 12, "ends inside" },
		{ "valid", { 1, 1, 3, 9, 8, 7, 6, 2, 5, 0, 6, 2, 2, 0, 1, 1 }, 16, NULL },
	};
	unsigned char big[VRAM_LAYOUT_MAX_BYTES + 1];
	struct vram_model m;
	struct arch a;
	struct diag d;
	size_t i;
	int rc;

	(void)state;
	arch_init(&a);
	for (i = 0; i < N_ELEMS(table); i++) {
		diag_init(&d);
		rc = vram_layout_check(table[i].bytes, table[i].len, &d);
		if (!table[i].words) {
			if (rc)
				fail_msg("%s: refused: %s", table[i].what, d.msg);
			assert_int_equal(vram_model_from_layout(&m, &a, table[i].bytes, table[i].len, NULL), 0);
			vram_model_release(&m);
			continue;
		}
		if (rc != -EBADMSG)
			fail_msg("%s: got %d, want -EBADMSG", table[i].what, rc);
		if (!strstr(d.msg, table[i].words))
			fail_msg("%s: message '%s' lacks '%s'", table[i].what, d.msg, table[i].words);
		assert_int_equal(vram_model_from_layout(&m, &a, table[i].bytes, table[i].len, NULL), -EBADMSG);
		assert_int_equal(m.n_layers, 0);
		assert_null(m.layer_bytes);
	}
	assert_int_equal(vram_layout_check(NULL, 5, NULL), -EBADMSG);
	memset(big, 0, sizeof(big));
	big[0] = VRAM_LAYOUT_VERSION;
	diag_init(&d);
	assert_int_equal(vram_layout_check(big, sizeof(big), &d), -EBADMSG);
	assert_non_null(strstr(d.msg, "limit"));

	/* the valid row decodes to what it says */
	assert_int_equal(vram_model_from_layout(&m, &a, table[N_ELEMS(table) - 1].bytes,
						table[N_ELEMS(table) - 1].len, NULL), 0);
	assert_int_equal(m.n_layers, 3);
	assert_true(m.output_tied);
	assert_int_equal(m.input_bytes, 9);
	assert_int_equal(m.output_bytes, 8);
	assert_int_equal(m.output_matrix_bytes, 7);
	assert_int_equal(m.mmproj_file_bytes, 6);
	assert_int_equal(m.layer_bytes[0], 5);
	assert_int_equal(m.layer_bytes[1], 5);
	assert_int_equal(m.layer_bytes[2], 6);
	assert_int_equal(m.layer_expert_bytes[2], 2);
	assert_int_equal(m.source, VRAM_SRC_GGUF);
	vram_model_release(&m);
	arch_release(&a);
}

/* Every truncation and every byte flip of a real layout is refused or
 * read without harm (the sanitizers watch). */
static void test_mutations(void **state)
{
	static const uint64_t mix[] = { 700, 700, 900, 700, 900, 300000000000ull, 1, 1 };
	static const uint64_t mix_x[] = { 0, 0, 800, 0, 800, 200000000000ull, 0, 1 };
	unsigned char *buf = NULL, *copy;
	struct vram_model m, back;
	size_t len = 0, i;
	unsigned bit;

	(void)state;
	synth_model(&m, N_ELEMS(mix), mix, mix_x);
	m.input_bytes = 1ull << 40;
	m.output_bytes = 77;
	assert_int_equal(vram_layout_encode(&m, &buf, &len), 0);
	copy = malloc(len);
	assert_non_null(copy);
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, i);
		assert_int_equal(vram_layout_check(copy, i, NULL), -EBADMSG);
	}
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, len);
			copy[i] ^= (unsigned char)(1u << bit);
			if (vram_model_from_layout(&back, &m.arch, copy, len, NULL) == 0) {
				assert_true(back.n_layers <= ARCH_MAX_LAYERS);
				vram_model_release(&back);
			}
		}
	}
	free(copy);
	free(buf);
	vram_model_release(&m);
}

/* ------------------------------------------------------------------------
 * Replicas: the registered quant against its file
 * ------------------------------------------------------------------------ */

/* Writes replicas with tests/gguf/replica.py.  A job is
 * "NAME,SPEC.json,FTYPE,SHARDS[,KEY=VALUE;...]" (hparams overrides); the
 * file is DIR/NAME.gguf, or DIR/NAME-0000K-of-0000N.gguf. */
static const char replica_script[] =
	"import os, sys\n"
	"sys.path.insert(0, sys.argv[1])\n"
	"import replica, ggufgen\n"
	"out = sys.argv[2]\n"
	"for job in sys.argv[3:]:\n"
	"    f = job.split(',')\n"
	"    spec = replica.load_spec(f[1])\n"
	"    for kv in (f[4].split(';') if len(f) > 4 else []):\n"
	"        k, v = kv.split('=')\n"
	"        spec['hparams'][k] = int(v)\n"
	"    md, t = replica.build(spec, f[2])\n"
	"    if int(f[3]) > 1:\n"
	"        ggufgen.write_split(os.path.join(out, f[0]), md, t, int(f[3]))\n"
	"    else:\n"
	"        ggufgen.write(os.path.join(out, f[0] + '.gguf'), md, t, data='sparse')\n";

struct replica {
	const char *name;
	const char *spec;            /* under MF_FIXTURES_DIR/groundtruth or MF_TESTS_DIR/bench/... */
	bool in_tests;
	const char *ftype;
	unsigned shards;
	const char *overrides;
};

static const struct replica replicas[] = {
	{ "llama8b", "llama-3.1-8b", false, "q4_k_m", 1, NULL },
	{ "llama8b-split", "llama-3.1-8b", false, "q4_k_m", 3, NULL },
	{ "llama70b", "llama-3.1-8b", false, "q4_k_m", 1,
	  "block_count=80;embedding_length=8192;feed_forward_length=28672;attention.head_count=64" },
	{ "qwen25", "qwen2.5-7b", false, "q4_k_m", 1, NULL },
	{ "phi4", "phi-4", false, "q8_0", 1, NULL },
	{ "tiny", "tiny", false, "f16", 1, NULL },
	{ "gemma3", "gemma-3-4b", true, "q4_k_m", 1, NULL },
	{ "qwen3moe", "qwen3-30b-a3b", true, "q4_k_m", 2, NULL },
	{ "dsv2lite", "deepseek-v2-lite", true, "q4_k_m", 1, NULL },
};

static void write_replicas(const char *dir)
{
	char *argv[6 + N_ELEMS(replicas) + 1], jobs[N_ELEMS(replicas)][1024], gguf_dir[512];
	size_t i, n = 0;
	pid_t pid;
	int status;

	snprintf(gguf_dir, sizeof(gguf_dir), "%s/gguf", MF_TESTS_DIR);
	argv[n++] = (char *)"python3";
	argv[n++] = (char *)"-B";
	argv[n++] = (char *)"-c";
	argv[n++] = (char *)replica_script;
	argv[n++] = gguf_dir;
	argv[n++] = (char *)dir;
	for (i = 0; i < N_ELEMS(replicas); i++) {
		const struct replica *r = &replicas[i];

		if (r->in_tests)
			snprintf(jobs[i], sizeof(jobs[i]), "%s,%s/bench/groundtruth/specs/%s.json,%s,%u%s%s",
				 r->name, MF_TESTS_DIR, r->spec, r->ftype, r->shards,
				 r->overrides ? "," : "", r->overrides ? r->overrides : "");
		else
			snprintf(jobs[i], sizeof(jobs[i]), "%s,%s/groundtruth/%s.json,%s,%u%s%s",
				 r->name, MF_FIXTURES_DIR, r->spec, r->ftype, r->shards,
				 r->overrides ? "," : "", r->overrides ? r->overrides : "");
		argv[n++] = jobs[i];
	}
	argv[n] = NULL;
	assert_true(n < N_ELEMS(argv));
	assert_int_equal(posix_spawnp(&pid, "python3", NULL, NULL, argv, environ), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("replica.py failed (status %d)", status);
}

static void shard_path(const char *dir, const struct replica *r, unsigned k, char *out, size_t size)
{
	if (r->shards > 1)
		snprintf(out, size, "%s/%s-%05u-of-%05u.gguf", dir, r->name, k + 1, r->shards);
	else
		snprintf(out, size, "%s/%s.gguf", dir, r->name);
}

static struct gguf *open_gguf(const char *path)
{
	struct gguf *g = NULL;
	struct reader rd;
	struct diag d;

	assert_int_equal(reader_file_open(&rd, path), 0);
	diag_init(&d);
	if (gguf_open(&rd, &g, &d))
		fail_msg("%s: %s", path, d.msg);
	reader_file_close(&rd);
	return g;
}

static void params_at(struct vram_params *p, uint64_t ctx, uint32_t ngl, bool fa, uint32_t kv,
		      enum vram_backend backend)
{
	vram_params_init(p, VRAM_KIND_VRAM);
	p->ctx_tokens = ctx;
	p->ngl = ngl;
	p->flash_attn = fa;
	p->type_k = p->type_v = kv;
	p->backend = backend;
}

/* Estimates of both models agree field by field, warnings included. */
static void assert_same_estimates(const char *name, const struct vram_model *file,
				  const struct vram_model *reg)
{
	static const uint64_t ctxs[] = { 512, 8192, 32768, 131072 };
	uint32_t ngls[6] = { VRAM_NGL_ALL, 0, 1, 2, 0, 0 };
	struct vram_estimate a, b;
	struct vram_params p;
	size_t c, g, k;
	int ra, rb;

	ngls[3] = (uint32_t)file->n_layers / 2;
	ngls[4] = (uint32_t)file->n_layers;
	ngls[5] = (uint32_t)file->n_layers + 1;
	for (c = 0; c < N_ELEMS(ctxs); c++) {
		for (g = 0; g < N_ELEMS(ngls); g++) {
			for (k = 0; k < 3; k++) {
				params_at(&p, ctxs[c], ngls[g], k != 1, k == 2 ? GGML_TYPE_Q8_0 : GGML_TYPE_F16,
					  g == 1 && k == 0 ? VRAM_BACKEND_CPU : VRAM_BACKEND_CUDA);
				memset(&a, 0x5a, sizeof(a));
				memset(&b, 0xa5, sizeof(b));
				ra = vram_estimate(file, &p, &a, NULL);
				rb = vram_estimate(reg, &p, &b, NULL);
				assert_int_equal(ra, rb);
				if (ra)
					continue;
				if (memcmp(&a, &b, sizeof(a)) != 0)
					fail_msg("%s ctx %llu ngl %u case %zu: total %llu from the file, %llu "
						 "registered", name, (unsigned long long)ctxs[c], ngls[g], k,
						 (unsigned long long)a.total_bytes, (unsigned long long)b.total_bytes);
				assert_int_equal(b.source, VRAM_SRC_GGUF);
			}
		}
	}
}

static void check_replica(const char *dir, const struct replica *r, size_t *layout_bytes)
{
	struct vram_tensor_list lists[4];
	struct vram_model file, listed, reg;
	struct model_variant v;
	struct model_quant q;
	struct model_file files[4];
	struct gguf *g[4];
	char path[1024];
	struct sbuf aj;
	struct arch a;
	struct diag d;
	unsigned k;

	assert_true(r->shards <= N_ELEMS(g));
	for (k = 0; k < r->shards; k++) {
		shard_path(dir, r, k, path, sizeof(path));
		g[k] = open_gguf(path);
	}
	/* what `modelfs estimate FILE` builds */
	arch_init(&a);
	diag_init(&d);
	assert_int_equal(arch_from_gguf(g[0], &a, &d), 0);
	assert_int_equal(vram_model_from_gguf(&file, &a, g[0], &d), 0);
	for (k = 1; k < r->shards; k++)
		assert_int_equal(vram_model_add_gguf(&file, g[k]), 0);

	/* what registration builds: lists, a layout, architecture.json */
	memset(&v, 0, sizeof(v));
	memset(&q, 0, sizeof(q));
	memset(files, 0, sizeof(files));
	for (k = 0; k < r->shards; k++) {
		assert_int_equal(vram_tensor_list_from_gguf(&lists[k], g[k]), 0);
		assert_int_equal(lists[k].n, gguf_tensor_count(g[k]));
		files[k].name = (char *)"model.gguf";
		files[k].size_bytes = gguf_file_size(g[k]);
		files[k].role = FILE_ROLE_MODEL;
	}
	assert_int_equal(vram_model_from_tensor_list(&listed, &a, &lists[0], &d), 0);
	for (k = 1; k < r->shards; k++)
		assert_int_equal(vram_model_add_tensor_list(&listed, &lists[k]), 0);
	listed.file_bytes = file.file_bytes;
	assert_same_weights(&file, &listed);
	assert_int_equal(vram_layout_encode(&listed, &q.weights_layout, &q.weights_layout_bytes), 0);
	*layout_bytes = q.weights_layout_bytes;

	sbuf_init(&aj, CAP_RENDER_BYTES);
	arch_update_source(&a);
	assert_int_equal(arch_to_json(&a, &aj), 0);
	v.family = (char *)"fam";
	v.variant = (char *)r->name;
	v.arch_json = aj.buf;
	q.name = (char *)r->ftype;
	q.files = files;
	q.n_files = r->shards;
	assert_int_equal(vram_model_from_variant(&reg, &v, &q, &d), 0);
	assert_same_weights(&file, &reg);
	assert_same_estimates(r->name, &file, &reg);

	/* without the layout the same quant is a file-size guess */
	free(q.weights_layout);
	q.weights_layout = NULL;
	q.weights_layout_bytes = 0;
	vram_model_release(&reg);
	assert_int_equal(vram_model_from_variant(&reg, &v, &q, &d), 0);
	assert_int_equal(reg.source, VRAM_SRC_FILE_SIZE);

	vram_model_release(&reg);
	vram_model_release(&listed);
	vram_model_release(&file);
	sbuf_release(&aj);
	arch_release(&a);
	for (k = 0; k < r->shards; k++) {
		vram_tensor_list_release(&lists[k]);
		gguf_free(g[k]);
	}
}

static int replicas_setup(void **state)
{
	char *dir = strdup("/tmp/mf-test-layout-XXXXXX");

	if (!dir || !mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int replicas_teardown(void **state)
{
	rm_tree(*state);
	free(*state);
	return 0;
}

static void test_replicas(void **state)
{
	const char *dir = *state;
	size_t i, bytes;

	write_replicas(dir);
	for (i = 0; i < N_ELEMS(replicas); i++) {
		check_replica(dir, &replicas[i], &bytes);
		print_message("%-14s %-7s %u shard(s): weights layout %zu bytes\n", replicas[i].name,
			      replicas[i].ftype, replicas[i].shards, bytes);
		if (strcmp(replicas[i].name, "llama70b") == 0)
			assert_true(bytes <= LAYOUT_70B_MAX_BYTES);
	}
}

/* A model file with an odd tensor table: blocks past the architecture's,
 * only in a later shard, rope tables, no output matrix until the last
 * shard.  The lists place every tensor as the headers do. */
static void test_lists_place_as_headers(void **state)
{
	static const char *const shard0[] = { "token_embd.weight", "blk.0.attn_q.weight", "rope_freqs.weight" };
	static const char *const shard1[] = { "blk.1.ffn_up_exps.weight", "blk.7.attn_q.weight",
					      "output_norm.weight", "output.weight", "rope_x.weight" };
	static const uint64_t sizes0[] = { 1000, 30, 4 };
	static const uint64_t sizes1[] = { 500, 9, 2, 800, 3 };
	struct vram_tensor_list l0 = { 0 }, l1 = { 0 };
	char names0[256], names1[256];
	struct vram_model m;
	struct arch a;
	size_t i, at;

	(void)state;
	for (i = 0, at = 0; i < N_ELEMS(shard0); i++) {
		memcpy(names0 + at, shard0[i], strlen(shard0[i]) + 1);
		at += strlen(shard0[i]) + 1;
	}
	for (i = 0, at = 0; i < N_ELEMS(shard1); i++) {
		memcpy(names1 + at, shard1[i], strlen(shard1[i]) + 1);
		at += strlen(shard1[i]) + 1;
	}
	l0.n = N_ELEMS(shard0);
	l0.names = names0;
	l0.size_bytes = (uint64_t *)sizes0;
	l1.n = N_ELEMS(shard1);
	l1.names = names1;
	l1.size_bytes = (uint64_t *)sizes1;
	arch_init(&a);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, 2, ARCH_SRC_GGUF), 0);
	assert_int_equal(vram_model_from_tensor_list(&m, &a, &l0, NULL), 0);
	assert_int_equal(m.n_layers, 2);
	assert_true(m.output_tied);
	assert_int_equal(m.output_matrix_bytes, 1000);
	assert_int_equal(m.layer_bytes[0], 34);
	assert_int_equal(vram_model_add_tensor_list(&m, &l1), 0);
	assert_int_equal(m.layer_bytes[1], 500);
	assert_int_equal(m.layer_expert_bytes[1], 500);
	assert_int_equal(m.output_bytes, 9 + 2 + 800);
	assert_int_equal(m.layer_bytes[0], 37);
	assert_false(m.output_tied);
	assert_int_equal(m.output_matrix_bytes, 800);
	assert_int_equal(m.input_bytes, 1000);
	vram_model_release(&m);
	arch_release(&a);
}

/* ------------------------------------------------------------------------
 * Rendering cost: registry.json and models.tsv estimate every quant
 * ------------------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A Llama-3.1-8B-shaped architecture.json and a Q4_K_M-like layout. */
static void llama8b(char **arch_json, unsigned char **layout, size_t *layout_bytes)
{
	uint64_t layer[32];
	struct vram_model m;
	struct sbuf sb;
	struct arch a;
	size_t i;

	arch_init(&a);
	assert_int_equal(arch_set_str(&a, ARCH_F_ARCHITECTURE, "llama", ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_LAYERS, 32, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_HIDDEN_SIZE, 4096, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_INTERMEDIATE_SIZE, 14336, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_ATTENTION_HEADS, 32, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_NUM_KV_HEADS, 8, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_VOCAB_SIZE, 128256, ARCH_SRC_GGUF), 0);
	assert_int_equal(arch_set_u64(&a, ARCH_F_CONTEXT_LENGTH, 131072, ARCH_SRC_GGUF), 0);
	a.tie_word_embeddings = false;
	a.src[ARCH_F_TIE_WORD_EMBEDDINGS] = ARCH_SRC_GGUF;
	sbuf_init(&sb, CAP_RENDER_BYTES);
	assert_int_equal(arch_to_json(&a, &sb), 0);
	*arch_json = sbuf_detach(&sb, NULL);
	for (i = 0; i < 32; i++)
		layer[i] = i % 3 ? 120000000 : 140000000;
	synth_model(&m, 32, layer, NULL);
	m.input_bytes = 290000000;
	m.output_bytes = 430000000;
	m.output_matrix_bytes = 430000000;
	assert_int_equal(vram_layout_encode(&m, layout, layout_bytes), 0);
	vram_model_release(&m);
	arch_release(&a);
}

/* Renders registry.json and models.tsv of 10,000 variants of 3 quants
 * each, registered from headers (layouts) or not; seconds of both. */
static double render_10k(bool layouts, const char *arch_json, const unsigned char *layout,
			 size_t layout_bytes)
{
	static const char *const qn[] = { "q4_k_m", "q5_k_m", "q8_0" };
	struct registry_snapshot s;
	struct model_file *files;
	struct sbuf out;
	char name[32];
	size_t i, j, n = 10000;
	double t0, t;

	memset(&s, 0, sizeof(s));
	s.variants = calloc(n, sizeof(*s.variants));
	files = calloc(n * N_ELEMS(qn), sizeof(*files));
	assert_non_null(s.variants);
	assert_non_null(files);
	s.n_variants = n;
	for (i = 0; i < n; i++) {
		struct model_variant *v = &s.variants[i];

		snprintf(name, sizeof(name), "model-%06zu", i);
		v->family = xstrdup("llama");
		v->variant = xstrdup(name);
		v->repo_id = xstrdup(name);
		v->origin = xstrdup("hub");
		v->architecture = xstrdup("llama");
		v->arch_json = xstrdup(arch_json);
		v->parameter_count_b = 8.03;
		v->parameter_count_exact = 8030261248ull;
		v->quants = calloc(N_ELEMS(qn), sizeof(*v->quants));
		assert_non_null(v->quants);
		v->n_quants = N_ELEMS(qn);
		for (j = 0; j < N_ELEMS(qn); j++) {
			struct model_quant *q = &v->quants[j];
			struct model_file *f = &files[i * N_ELEMS(qn) + j];

			q->name = (char *)qn[j];
			q->size_bytes = 4920000000ull + j * 1000000000ull;
			q->size_exact = true;
			q->bits_per_weight = 4.9 + (double)j;
			q->files = f;
			q->n_files = 1;
			f->name = (char *)"model.gguf";
			f->upstream = (char *)"x.gguf";
			f->size_bytes = q->size_bytes;
			if (layouts) {
				q->weights_layout = (unsigned char *)layout;
				q->weights_layout_bytes = layout_bytes;
			}
		}
	}
	t0 = now_s();
	sbuf_init(&out, 1u << 30);
	assert_int_equal(render_registry_json(&s, &out), 0);
	sbuf_reset(&out);
	assert_int_equal(render_models_tsv(&s, NULL, &out), 0);
	assert_non_null(strstr(out.buf, "model-009999"));
	t = now_s() - t0;
	sbuf_release(&out);
	for (i = 0; i < n; i++) {
		for (j = 0; j < N_ELEMS(qn); j++)
			s.variants[i].quants[j].name = NULL;
		free(s.variants[i].quants);
		s.variants[i].quants = NULL;
		s.variants[i].n_quants = 0;
		registry_variant_release(&s.variants[i]);
	}
	free(s.variants);
	free(files);
	return t;
}

static void test_render_10k(void **state)
{
	unsigned char *layout = NULL;
	char *arch_json = NULL;
	size_t layout_bytes = 0;
	double sizes, tables;

	(void)state;
	llama8b(&arch_json, &layout, &layout_bytes);
	sizes = render_10k(false, arch_json, layout, layout_bytes);
	tables = render_10k(true, arch_json, layout, layout_bytes);
	print_message("registry.json + models.tsv, 10,000 variants x 3 quants: %.3f s from file sizes, "
		      "%.3f s from weights layouts\n", sizes, tables);
	assert_true(tables < 2 * sizes + 0.1);
	free(arch_json);
	free(layout);
}

/* ------------------------------------------------------------------------
 * The registry
 * ------------------------------------------------------------------------ */

struct fixture {
	char dir[64];
	struct registry *reg;
};

static int reg_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct diag d;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mf-test-layout-reg-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	diag_init(&d);
	assert_int_equal(registry_open(f->dir, &f->reg, &d), 0);
	*state = f;
	return 0;
}

static int reg_teardown(void **state)
{
	struct fixture *f = *state;

	registry_close(f->reg);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static void reg_reopen(struct fixture *f)
{
	struct diag d;

	registry_close(f->reg);
	f->reg = NULL;
	diag_init(&d);
	if (registry_open(f->dir, &f->reg, &d))
		fail_msg("reopen: %s", d.msg);
}

static sqlite3 *db_open(const struct fixture *f)
{
	char path[128];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/registry.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t db_count(const struct fixture *f, const char *sql)
{
	sqlite3 *db = db_open(f);
	sqlite3_stmt *st;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void db_exec_ok(const struct fixture *f, const char *sql)
{
	sqlite3 *db = db_open(f);
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
	sqlite3_close(db);
}

/* A layout of n blocks of size base, base + 1, ... */
static void make_layout(uint64_t base, size_t n, unsigned char **out, size_t *len)
{
	struct vram_model m;
	uint64_t sizes[8];
	size_t i;

	assert_true(n <= N_ELEMS(sizes));
	for (i = 0; i < n; i++)
		sizes[i] = base + i;
	synth_model(&m, n, sizes, NULL);
	m.input_bytes = base * 10;
	assert_int_equal(vram_layout_encode(&m, out, len), 0);
	vram_model_release(&m);
}

/* FAMILY/VARIANT with quants q4_k_m and q8_0; q4_k_m gets a layout when
 * base is not 0. */
static void make_variant(struct model_variant *v, uint64_t base)
{
	static const char *const names[] = { "q4_k_m", "q8_0" };
	size_t i;

	memset(v, 0, sizeof(*v));
	v->family = xstrdup("llama");
	v->variant = xstrdup("llama-test");
	v->repo_id = xstrdup("org/Llama-Test-GGUF");
	v->origin = xstrdup("hub");
	v->arch_json = xstrdup("{\"architecture\": \"llama\", \"num_layers\": 4}");
	v->quants = calloc(N_ELEMS(names), sizeof(*v->quants));
	assert_non_null(v->quants);
	v->n_quants = N_ELEMS(names);
	for (i = 0; i < N_ELEMS(names); i++) {
		struct model_quant *q = &v->quants[i];

		q->name = xstrdup(names[i]);
		q->files = calloc(1, sizeof(*q->files));
		assert_non_null(q->files);
		q->n_files = 1;
		q->files[0].name = xstrdup("model.gguf");
		q->files[0].upstream = xstrdup(names[i]);
		q->files[0].size_bytes = 1000;
		q->size_bytes = 1000;
		q->size_exact = true;
	}
	if (base)
		make_layout(base, 4, &v->quants[0].weights_layout, &v->quants[0].weights_layout_bytes);
}

static void put_ok(struct registry *reg, const struct model_variant *v)
{
	struct diag d;

	diag_init(&d);
	if (registry_put_variant(reg, v, &d))
		fail_msg("put: %s", d.msg);
}

/* The layout of FAMILY/VARIANT/QUANT in the current snapshot equals want
 * (NULL: none). */
static void assert_snapshot_layout(struct registry *reg, const char *quant, const unsigned char *want,
				   size_t want_len)
{
	struct registry_snapshot *s = NULL;
	const struct model_variant *v;
	const struct model_quant *q;

	assert_int_equal(registry_snapshot_get(reg, &s), 0);
	v = registry_find_variant(s, "llama", "llama-test");
	assert_non_null(v);
	q = registry_find_quant(v, quant);
	assert_non_null(q);
	if (!want) {
		assert_null(q->weights_layout);
		assert_int_equal(q->weights_layout_bytes, 0);
	} else {
		assert_int_equal(q->weights_layout_bytes, want_len);
		assert_memory_equal(q->weights_layout, want, want_len);
	}
	registry_snapshot_put(reg, s);
}

static void test_registry_round_trip(void **state)
{
	struct fixture *f = *state;
	struct model_variant v, w;
	unsigned char *bad;
	struct diag d;

	assert_int_equal(registry_schema_version(f->reg), 3);
	make_variant(&v, 100);
	put_ok(f->reg, &v);
	assert_snapshot_layout(f->reg, "q4_k_m", v.quants[0].weights_layout, v.quants[0].weights_layout_bytes);
	assert_snapshot_layout(f->reg, "q8_0", NULL, 0);
	reg_reopen(f);
	assert_snapshot_layout(f->reg, "q4_k_m", v.quants[0].weights_layout, v.quants[0].weights_layout_bytes);
	assert_int_equal(db_count(f, "SELECT count(*) FROM quant_layouts"), 1);

	/* re-registering replaces it, or drops it when it has none */
	make_variant(&w, 5000);
	put_ok(f->reg, &w);
	assert_snapshot_layout(f->reg, "q4_k_m", w.quants[0].weights_layout, w.quants[0].weights_layout_bytes);
	registry_variant_release(&w);
	make_variant(&w, 0);
	put_ok(f->reg, &w);
	assert_snapshot_layout(f->reg, "q4_k_m", NULL, 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM quant_layouts"), 0);
	registry_variant_release(&w);

	/* deleted with its quant and with its variant */
	put_ok(f->reg, &v);
	assert_int_equal(db_count(f, "SELECT count(*) FROM quant_layouts"), 1);
	diag_init(&d);
	assert_int_equal(registry_remove(f->reg, "llama", "llama-test", "q4_k_m", &d), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM quant_layouts"), 0);
	put_ok(f->reg, &v);
	assert_int_equal(registry_remove(f->reg, "llama", "llama-test", NULL, &d), 0);
	assert_int_equal(db_count(f, "SELECT count(*) FROM quant_layouts"), 0);

	/* a bad layout, or a length without it, is refused and changes nothing */
	put_ok(f->reg, &v);
	bad = v.quants[0].weights_layout;
	bad[0] = 9;
	diag_init(&d);
	assert_int_equal(registry_put_variant(f->reg, &v, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "q4_k_m"));
	assert_non_null(strstr(d.msg, "version 9"));
	bad[0] = VRAM_LAYOUT_VERSION;
	assert_snapshot_layout(f->reg, "q4_k_m", bad, v.quants[0].weights_layout_bytes);
	v.quants[1].weights_layout_bytes = 3;
	diag_init(&d);
	assert_int_equal(registry_put_variant(f->reg, &v, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "q8_0"));
	v.quants[1].weights_layout_bytes = 0;
	registry_variant_release(&v);
}

/* A version 2 database (no quant_layouts) migrates to 3, keeps its
 * variants, and then stores layouts. */
static void test_registry_migration(void **state)
{
	struct fixture *f = *state;
	struct model_variant v;
	struct registry_snapshot *s = NULL;

	make_variant(&v, 0);
	put_ok(f->reg, &v);
	registry_variant_release(&v);
	registry_close(f->reg);
	f->reg = NULL;
	db_exec_ok(f, "DROP TABLE quant_layouts; PRAGMA user_version = 2;");
	assert_int_equal(db_count(f, "SELECT count(*) FROM sqlite_schema WHERE name = 'quant_layouts'"), 0);

	reg_reopen(f);
	assert_int_equal(registry_schema_version(f->reg), 3);
	assert_int_equal(db_count(f, "SELECT count(*) FROM sqlite_schema WHERE name = 'quant_layouts'"), 1);
	assert_int_equal(registry_snapshot_get(f->reg, &s), 0);
	assert_int_equal(s->n_variants, 1);
	assert_int_equal(s->variants[0].n_quants, 2);
	registry_snapshot_put(f->reg, s);
	assert_snapshot_layout(f->reg, "q4_k_m", NULL, 0);

	make_variant(&v, 42);
	put_ok(f->reg, &v);
	assert_snapshot_layout(f->reg, "q4_k_m", v.quants[0].weights_layout, v.quants[0].weights_layout_bytes);

	/* set back to 1 by hand: the migrations run again and keep the rows */
	registry_close(f->reg);
	f->reg = NULL;
	db_exec_ok(f, "PRAGMA user_version = 1;");
	reg_reopen(f);
	assert_int_equal(registry_schema_version(f->reg), 3);
	assert_snapshot_layout(f->reg, "q4_k_m", v.quants[0].weights_layout, v.quants[0].weights_layout_bytes);
	registry_variant_release(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_lists_place_as_headers),
		cmocka_unit_test_setup_teardown(test_replicas, replicas_setup, replicas_teardown),
		cmocka_unit_test(test_render_10k),
		cmocka_unit_test_setup_teardown(test_registry_round_trip, reg_setup, reg_teardown),
		cmocka_unit_test_setup_teardown(test_registry_migration, reg_setup, reg_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
