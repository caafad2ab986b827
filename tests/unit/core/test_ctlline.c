/*
 * test_ctlline.c - the control-line grammar (SPEC §6): a table of good
 * forms with what each must parse to, the hostile corpus of
 * data/bad_control_lines.txt (each line refused with EINVAL and a message,
 * through parse_control_line and parse_control_text), overlong lines,
 * whole writes (batches, all or nothing), and pasted model pages.
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

struct good {
	enum control_verb verb;
	const char *line;
	const char *endpoint;
	enum control_target target;
	const char *repo_id;
	const char *revision;
	const char *path;
	const char *family;
	const char *variant;
	const char *quant;
	const char *base;
	const char *full_name;
	bool purge;
	uint64_t ctx;
	int64_t ngl;            /* -1 = not given */
};

#define R CONTROL_REGISTER
#define REPO CONTROL_TARGET_REPO
#define LOCAL CONTROL_TARGET_LOCAL
#define MODEL CONTROL_TARGET_MODEL

static const struct good goods[] = {
	{ R, "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", NULL, REPO,
	  "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "  bartowski/Llama-3.2-1B-Instruct-GGUF \t \r", NULL, REPO,
	  "bartowski/Llama-3.2-1B-Instruct-GGUF", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "org/repo@v1", NULL, REPO, "org/repo", "v1", "", "", "", "", "", "", false, 0, -1 },
	{ R, "org/repo:Q4_K_M", NULL, REPO, "org/repo", "", "", "", "", "q4_k_m", "", "", false, 0, -1 },
	{ R, "org/repo@main:q8_0", NULL, REPO, "org/repo", "main", "", "", "", "q8_0", "", "", false, 0, -1 },
	{ R, "unsloth/gemma-3-1b-it-GGUF", NULL, REPO, "unsloth/gemma-3-1b-it-GGUF", "", "", "", "", "",
	  "", "", false, 0, -1 },
	{ R, "my_org/Qwen2.5-7B", NULL, REPO, "my_org/Qwen2.5-7B", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/bartowski/X-GGUF", NULL, REPO, "bartowski/X-GGUF", "", "", "", "",
	  "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/bartowski/X-GGUF/", NULL, REPO, "bartowski/X-GGUF", "", "", "", "",
	  "", "", "", false, 0, -1 },
	{ R, "http://huggingface.co/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "huggingface.co/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "https://www.huggingface.co/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "",
	  false, 0, -1 },
	{ R, "https://hf.co/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "hf.co/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "HTTPS://HuggingFace.CO/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co:443/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "",
	  false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/tree/main", NULL, REPO, "org/repo", "main", "", "", "", "",
	  "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/tree/main/Q4_K_M", NULL, REPO, "org/repo", "main", "Q4_K_M",
	  "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/blob/main/x-Q4_K_M.gguf", NULL, REPO, "org/repo", "main",
	  "x-Q4_K_M.gguf", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/resolve/main/x-Q4_K_M.gguf?download=true", NULL, REPO,
	  "org/repo", "main", "x-Q4_K_M.gguf", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/raw/v2/sub/config.json", NULL, REPO, "org/repo", "v2",
	  "sub/config.json", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/resolve/0123456789abcdef0123456789abcdef01234567/x.gguf#frag",
	  NULL, REPO, "org/repo", "0123456789abcdef0123456789abcdef01234567", "x.gguf", "", "", "", "",
	  "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/tree/refs%2Fpr%2F1", NULL, REPO, "org/repo", "refs/pr/1",
	  "", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/blob/refs%2Fpr%2F1/a%20b.gguf", NULL, REPO, "org/repo",
	  "refs/pr/1", "a b.gguf", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/tree/refs/pr/1/sub", NULL, REPO, "org/repo", "refs/pr/1",
	  "sub", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo?library=gguf", NULL, REPO, "org/repo", "", "", "", "", "",
	  "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo#model-card", NULL, REPO, "org/repo", "", "", "", "", "", "",
	  "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/discussions/3", NULL, REPO, "org/repo", "", "", "", "", "",
	  "", "", false, 0, -1 },
	{ R, "https://huggingface.co/api/models/org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "",
	  "", false, 0, -1 },
	{ R, "https://huggingface.co/api/models/org/repo/revision/v1", NULL, REPO, "org/repo", "v1", "",
	  "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/api/models/org/repo/tree/main/sub", NULL, REPO, "org/repo", "main",
	  "sub", "", "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo/commit/0123456789abcdef0123456789abcdef01234567", NULL, REPO,
	  "org/repo", "0123456789abcdef0123456789abcdef01234567", "", "", "", "", "", "", false, 0, -1 },
	{ R, "hf://org/repo", NULL, REPO, "org/repo", "", "", "", "", "", "", "", false, 0, -1 },
	{ R, "hf://org/repo@v1", NULL, REPO, "org/repo", "v1", "", "", "", "", "", "", false, 0, -1 },
	{ R, "hf://org/repo@refs%2Fpr%2F2/sub/file.gguf", NULL, REPO, "org/repo", "refs/pr/2",
	  "sub/file.gguf", "", "", "", "", "", false, 0, -1 },
	{ R, "hf://org/repo@refs/pr/2/file.gguf", NULL, REPO, "org/repo", "refs/pr/2", "file.gguf", "", "",
	  "", "", "", false, 0, -1 },
	{ R, "hf://org/repo/Q4_K_M", NULL, REPO, "org/repo", "", "Q4_K_M", "", "", "", "", "", false, 0, -1 },
	{ R, "/models/llama", NULL, LOCAL, "", "", "/models/llama", "", "", "", "", "", false, 0, -1 },
	{ R, "/models/llama/", NULL, LOCAL, "", "", "/models/llama", "", "", "", "", "", false, 0, -1 },
	{ R, "/models/x-Q4_K_M.gguf", NULL, LOCAL, "", "", "/models/x-Q4_K_M.gguf", "", "", "", "", "",
	  false, 0, -1 },
	{ R, "file:///models/x.gguf", NULL, LOCAL, "", "", "/models/x.gguf", "", "", "", "", "", false, 0, -1 },
	{ R, "/models/x.gguf family=llama quant=Q8_0", NULL, LOCAL, "", "", "/models/x.gguf", "llama", "",
	  "q8_0", "", "", false, 0, -1 },
	{ R, "org/repo family=Llama variant=my-llama quant=Q4_K_M revision=v2 "
	  "base=meta-llama/Llama-3.1-8B name=\"My Llama 3\"", NULL, REPO, "org/repo", "v2", "", "llama",
	  "my-llama", "q4_k_m", "meta-llama/Llama-3.1-8B", "My Llama 3", false, 0, -1 },
	{ R, "org/repo NAME='a  b' Revision=refs/pr/3", NULL, REPO, "org/repo", "refs/pr/3", "", "", "", "",
	  "", "a  b", false, 0, -1 },
	{ R, "org/repo@v1 revision=v1 quant=q4_0", NULL, REPO, "org/repo", "v1", "", "", "", "q4_0", "",
	  "", false, 0, -1 },
	{ R, "http://127.0.0.1:8080/org/repo/tree/main", "http://127.0.0.1:8080", REPO, "org/repo", "main",
	  "", "", "", "", "", "", false, 0, -1 },
	{ R, "http://127.0.0.1:8080/hf/org/repo", "http://127.0.0.1:8080/hf/", REPO, "org/repo", "", "",
	  "", "", "", "", "", false, 0, -1 },
	{ R, "https://mirror.example/org/repo", "https://mirror.example:443", REPO, "org/repo", "", "", "",
	  "", "", "", "", false, 0, -1 },
	{ R, "https://huggingface.co/org/repo", "http://127.0.0.1:8080", REPO, "org/repo", "", "", "", "",
	  "", "", "", false, 0, -1 },
	{ CONTROL_UNREGISTER, "llama/llama-3.1-8b-instruct", NULL, MODEL, "llama/llama-3.1-8b-instruct", "",
	  "", "llama", "llama-3.1-8b-instruct", "", "", "", false, 0, -1 },
	{ CONTROL_UNREGISTER, "llama/llama-3.1-8b-instruct/q4_k_m purge", NULL, MODEL, "", "", "", "llama",
	  "llama-3.1-8b-instruct", "q4_k_m", "", "", true, 0, -1 },
	{ CONTROL_UNREGISTER, "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", NULL, REPO,
	  "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF", "", "", "", "", "", "", "", false, 0, -1 },
	{ CONTROL_UNREGISTER, "https://huggingface.co/org/Repo purge", NULL, REPO, "org/Repo", "", "", "",
	  "", "", "", "", true, 0, -1 },
	{ CONTROL_REFRESH, "all", NULL, CONTROL_TARGET_ALL, "", "", "", "", "", "", "", "", false, 0, -1 },
	{ CONTROL_REFRESH, "llama/x", NULL, MODEL, "llama/x", "", "", "llama", "x", "", "", "", false, 0, -1 },
	{ CONTROL_REFRESH, "Org/Repo", NULL, REPO, "Org/Repo", "", "", "", "", "", "", "", false, 0, -1 },
	{ CONTROL_DOWNLOAD, "llama/x/q4_k_m", NULL, MODEL, "", "", "", "llama", "x", "q4_k_m", "", "",
	  false, 0, -1 },
	{ CONTROL_EVICT, "gemma/gemma-3-1b-it/ud-iq1_s", NULL, MODEL, "", "", "", "gemma", "gemma-3-1b-it",
	  "ud-iq1_s", "", "", false, 0, -1 },
	{ CONTROL_BENCHMARK, "llama/x/q4_k_m ctx=8k ngl=all", NULL, MODEL, "", "", "", "llama", "x",
	  "q4_k_m", "", "", false, 8192, UINT32_MAX },
	{ CONTROL_BENCHMARK, "llama/x/q4_k_m CTX=4096 ngl=20", NULL, MODEL, "", "", "", "llama", "x",
	  "q4_k_m", "", "", false, 4096, 20 },
	{ CONTROL_BENCHMARK, "llama/x/q4_k_m", NULL, MODEL, "", "", "", "llama", "x", "q4_k_m", "", "",
	  false, 0, -1 },
};

static void test_good_forms(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct control_request r;
		struct diag d;
		int rc;

		diag_init(&d);
		rc = parse_control_line(g->verb, g->line, g->endpoint, &r, &d);
		if (rc != 1)
			fail_msg("line %zu '%s': rc %d: %s", i, g->line, rc, d.msg);
		assert_int_equal(r.verb, g->verb);
		if ((int)r.target != (int)g->target)
			fail_msg("line %zu '%s': target %d, want %d", i, g->line, r.target, g->target);
		assert_string_equal(r.repo_id, g->repo_id);
		assert_string_equal(r.revision, g->revision);
		assert_string_equal(r.path, g->path);
		assert_string_equal(r.family, g->family);
		assert_string_equal(r.variant, g->variant);
		assert_string_equal(r.quant, g->quant);
		assert_string_equal(r.base, g->base);
		assert_string_equal(r.full_name, g->full_name);
		assert_int_equal(r.purge, g->purge);
		assert_int_equal(r.ctx_tokens, g->ctx);
		assert_int_equal(r.has_ngl, g->ngl >= 0);
		if (g->ngl >= 0)
			assert_int_equal(r.ngl, (uint32_t)g->ngl);
		assert_false(r.from_page);
		assert_int_equal(d.code, 0);
	}
}

static void test_blank_and_comment(void **state)
{
	static const char *const lines[] = { "", "   ", "\t", "# org/repo", "  # x", "\r" };
	struct control_request r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(parse_control_line(CONTROL_REGISTER, lines[i], NULL, &r, NULL), 0);
		assert_string_equal(r.repo_id, "");
	}
}

/* Decodes \xHH and \\ in place; returns the length. */
static size_t unescape(char *s)
{
	size_t i, o = 0;

	for (i = 0; s[i]; i++) {
		if (s[i] == '\\' && s[i + 1] == '\\') {
			s[o++] = '\\';
			i++;
		} else if (s[i] == '\\' && s[i + 1] == 'x' && s[i + 2] && s[i + 3]) {
			char hex[3] = { s[i + 2], s[i + 3], 0 };

			s[o++] = (char)strtol(hex, NULL, 16);
			i += 3;
		} else {
			s[o++] = s[i];
		}
	}
	s[o] = '\0';
	return o;
}

static enum control_verb verb_of(const char *name)
{
	static const enum control_verb verbs[] = { CONTROL_REGISTER, CONTROL_UNREGISTER, CONTROL_REFRESH,
						   CONTROL_DOWNLOAD, CONTROL_EVICT, CONTROL_BENCHMARK };
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(parse_control_verb_name(verbs[i]), name) == 0)
			return verbs[i];
	fail_msg("unknown verb '%s' in the corpus", name);
	return CONTROL_REGISTER;
}

/* Every corpus line is refused by both entry points, with a message. */
static void check_refused(enum control_verb verb, const char *line, size_t len, const char *endpoint)
{
	struct control_request r, *reqs = NULL;
	struct diag d;
	ssize_t n;
	int rc;

	if (!memchr(line, '\0', len)) {
		diag_init(&d);
		rc = parse_control_line(verb, line, endpoint, &r, &d);
		if (rc != -EINVAL)
			fail_msg("accepted (rc %d, target '%s%s'): %s", rc, r.repo_id, r.path, line);
		assert_int_equal(d.code, -EINVAL);
		assert_true(strlen(d.msg) > 10);
		assert_string_equal(r.repo_id, "");
	}
	if (!memchr(line, '\n', len)) {
		diag_init(&d);
		n = parse_control_text(verb, line, len, endpoint, &reqs, &d);
		if (n != -EINVAL)
			fail_msg("text accepted (n %zd): %s", n, line);
		assert_null(reqs);
		assert_true(strlen(d.msg) > 10);
	}
}

static void test_bad_corpus(void **state)
{
	char path[512], buf[8192];
	unsigned count = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/unit/core/data/bad_control_lines.txt", MF_TESTS_DIR);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f)) {
		enum control_verb verb = CONTROL_REGISTER;
		char *line = buf, *tab;
		size_t len;

		buf[strcspn(buf, "\n")] = '\0';
		if (buf[0] == '#' || !buf[0])
			continue;
		tab = strchr(buf, '\t');
		if (tab && tab - buf < 12) {
			*tab = '\0';
			verb = verb_of(buf);
			line = tab + 1;
		}
		len = unescape(line);
		check_refused(verb, line, len, NULL);
		check_refused(verb, line, len, "http://127.0.0.1:9");
		count++;
	}
	fclose(f);
	assert_true(count >= 200);
}

static void test_overlong(void **state)
{
	size_t sizes[] = { CAP_LINE_BYTES - 1, CAP_LINE_BYTES, CAP_LINE_BYTES + 1, 3 * CAP_LINE_BYTES };
	struct control_request r, *reqs = NULL;
	struct diag d;
	size_t i;
	char *s;

	(void)state;
	s = malloc(3 * CAP_LINE_BYTES + 1);
	assert_non_null(s);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(s, 'a', sizes[i]);
		memcpy(s, "org/", 4);
		s[sizes[i]] = '\0';
		diag_init(&d);
		assert_int_equal(parse_control_line(CONTROL_REGISTER, s, NULL, &r, &d), -EINVAL);
		assert_true(d.msg[0]);
		diag_init(&d);
		assert_int_equal(parse_control_text(CONTROL_REGISTER, s, sizes[i], NULL, &reqs, &d), -EINVAL);
		assert_null(reqs);
	}
	free(s);
	s = malloc(CAP_CONTROL_WRITE_BYTES + 2);
	assert_non_null(s);
	memset(s, '\n', CAP_CONTROL_WRITE_BYTES + 1);
	assert_int_equal(parse_control_text(CONTROL_REGISTER, s, CAP_CONTROL_WRITE_BYTES + 1, NULL, &reqs,
					    NULL), -EINVAL);
	free(s);
}

static void test_text_batches(void **state)
{
	static const char batch[] = "# a comment\n\norg/one\r\n  hf://org/two@v1  \n/models/x.gguf";
	static const char bad[] = "org/one\norg/two\n../../etc\norg/three\n";
	static const char nul[] = "org/one\norg/t\0wo\n";
	struct control_request *reqs = NULL;
	struct diag d;
	ssize_t n;
	char *many;
	size_t i, o = 0;

	(void)state;
	n = parse_control_text(CONTROL_REGISTER, batch, strlen(batch), NULL, &reqs, NULL);
	assert_int_equal(n, 3);
	assert_string_equal(reqs[0].repo_id, "org/one");
	assert_string_equal(reqs[1].repo_id, "org/two");
	assert_string_equal(reqs[1].revision, "v1");
	assert_int_equal(reqs[2].target, CONTROL_TARGET_LOCAL);
	free(reqs);

	diag_init(&d);
	n = parse_control_text(CONTROL_REGISTER, bad, strlen(bad), NULL, &reqs, &d);
	assert_int_equal(n, -EINVAL);
	assert_null(reqs);
	assert_non_null(strstr(d.msg, "line 3"));

	diag_init(&d);
	n = parse_control_text(CONTROL_REGISTER, nul, sizeof(nul) - 1, NULL, &reqs, &d);
	assert_int_equal(n, -EINVAL);
	assert_non_null(strstr(d.msg, "line 2"));
	assert_non_null(strstr(d.msg, "NUL"));

	assert_int_equal(parse_control_text(CONTROL_DOWNLOAD, "\n# x\n", 5, NULL, &reqs, NULL), 0);
	assert_null(reqs);

	many = malloc((CONTROL_MAX_REQUESTS + 1) * 16);
	assert_non_null(many);
	for (i = 0; i <= CONTROL_MAX_REQUESTS; i++)
		o += (size_t)snprintf(many + o, 16, "org/r%zu\n", i);
	assert_int_equal(parse_control_text(CONTROL_REGISTER, many, o, NULL, &reqs, NULL), -EINVAL);
	assert_null(reqs);
	free(many);
}

/* A model page as a browser copies it (select all, copy), abridged. */
static const char page_bartowski[] =
	"Hugging Face's logo\nHugging Face\nModels\nDatasets\nSpaces\nCommunity\nDocs\nPricing\n\n"
	"Log In\nSign Up\n\nbartowski\n/\nMeta-Llama-3.1-8B-Instruct-GGUF \n\nlike\n262\nFollow\n"
	"bartowski\n8.69k\nText Generation\nGGUF\nEnglish\nfacebook\nmeta\npytorch\nllama\n"
	"License:\nllama3.1\nModel card\nFiles and versions\nCommunity\n16\nUse this model\n"
	"Llamacpp imatrix Quantizations of Meta-Llama-3.1-8B-Instruct\n"
	"Using llama.cpp release b3472 for quantization.\n"
	"Original model: https://huggingface.co/meta-llama/Meta-Llama-3.1-8B-Instruct\n"
	"All quants made using imatrix option with dataset from here\n"
	"Run them in LM Studio\nPrompt format\n<|begin_of_text|><|start_header_id|>system\n"
	"Download a file (not the whole branch) from below:\n"
	"Filename\tQuant type\tFile Size\tSplit\tDescription\n"
	"Meta-Llama-3.1-8B-Instruct-f32.gguf\tf32\t32.13GB\tfalse\tFull F32 weights.\n"
	"huggingface-cli download bartowski/Meta-Llama-3.1-8B-Instruct-GGUF --include "
	"\"Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf\" --local-dir ./\n"
	"Downloads last month\n123,456\nGGUF\nModel size\n8.03B params\nArchitecture\nllama\n"
	"Hardware compatibility\nLog In to view the estimation\n"
	"Model tree for bartowski/Meta-Llama-3.1-8B-Instruct-GGUF\nBase model\n"
	"meta-llama/Llama-3.1-8B\nFinetuned\nmeta-llama/Llama-3.1-8B-Instruct\nQuantized\n(405)\n"
	"this model\nSpaces using bartowski/Meta-Llama-3.1-8B-Instruct-GGUF 12\n";

static void test_page(void **state)
{
	struct control_request *reqs = NULL;
	char id[CONTROL_REPO_ID_MAX];
	struct diag d;
	ssize_t n;

	(void)state;
	assert_int_equal(parse_model_page(page_bartowski, strlen(page_bartowski), NULL, id, sizeof(id), NULL), 0);
	assert_string_equal(id, "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF");
	n = parse_control_text(CONTROL_REGISTER, page_bartowski, strlen(page_bartowski), NULL, &reqs, NULL);
	assert_int_equal(n, 1);
	assert_true(reqs[0].from_page);
	assert_int_equal(reqs[0].target, CONTROL_TARGET_REPO);
	assert_string_equal(reqs[0].repo_id, "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF");
	free(reqs);

	/* Only other verbs: the page is a bad line there. */
	diag_init(&d);
	assert_int_equal(parse_control_text(CONTROL_DOWNLOAD, page_bartowski, strlen(page_bartowski), NULL,
					    &reqs, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "line 1"));
}

static void test_page_forms(void **state)
{
	static const struct {
		const char *text;
		const char *want;        /* NULL: refused */
	} pages[] = {
		/* the title on one line, then the like count */
		{ "unsloth/gemma-3-1b-it-GGUF\nlike 12\nText Generation\n", "unsloth/gemma-3-1b-it-GGUF" },
		/* the tab title */
		{ "Qwen/Qwen2.5-7B-Instruct-GGUF \xc2\xb7 Hugging Face\nsome text\n", "Qwen/Qwen2.5-7B-Instruct-GGUF" },
		/* labels and one link */
		{ "Model card\nFiles and versions\nSee https://huggingface.co/org/the-model for more.\n",
		  "org/the-model" },
		/* links to a dataset and to docs are not repos */
		{ "Model card\nFiles and versions\nhttps://huggingface.co/datasets/a/b and "
		  "https://huggingface.co/docs/hub https://huggingface.co/org/one.\n", "org/one" },
		/* title and model tree agree, other repos in the card */
		{ "org\n/\nname\nlike\n3\nModel card\nbased on https://huggingface.co/base/model\n"
		  "Model tree for org/name\n", "org/name" },
		/* two titles disagree */
		{ "org\n/\nname\nlike\n3\nModel tree for other/name\n", NULL },
		/* labels and two different links, no title */
		{ "Model card\nFiles and versions\nhttps://huggingface.co/a/b https://huggingface.co/c/d\n", NULL },
		/* labels, nothing else */
		{ "Model card\nFiles and versions\nUse this model\n", NULL },
		/* a repo id on a line but no like: not a title */
		{ "Model card\nFiles and versions\nmeta-llama/Llama-3.1-8B\n", NULL },
	};
	struct control_request *reqs = NULL;
	char id[CONTROL_REPO_ID_MAX];
	struct diag d;
	size_t i;
	ssize_t n;

	(void)state;
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		diag_init(&d);
		n = parse_control_text(CONTROL_REGISTER, pages[i].text, strlen(pages[i].text), NULL, &reqs, &d);
		if (pages[i].want) {
			if (n != 1)
				fail_msg("page %zu: n %zd: %s", i, n, d.msg);
			assert_string_equal(reqs[0].repo_id, pages[i].want);
			assert_true(reqs[0].from_page);
			free(reqs);
			reqs = NULL;
		} else {
			if (n != -EINVAL)
				fail_msg("page %zu: accepted %zd ('%s')", i, n, n == 1 ? reqs[0].repo_id : "");
			assert_true(d.msg[0]);
		}
	}
	diag_init(&d);
	assert_int_equal(parse_model_page("nothing here\n", 13, NULL, id, sizeof(id), &d), -EINVAL);
	assert_non_null(strstr(d.msg, "no repo"));
	assert_int_equal(parse_model_page("a\0b", 3, NULL, id, sizeof(id), NULL), -EINVAL);
	/* The endpoint's own links count. */
	assert_int_equal(parse_model_page("see http://127.0.0.1:8080/org/mirror-model now", 46,
					  "http://127.0.0.1:8080", id, sizeof(id), NULL), 0);
	assert_string_equal(id, "org/mirror-model");
}

static void test_repo_id(void **state)
{
	static const char *const good[] = { "a/b", "org/repo", "my_org/Qwen2.5-7B", "_/_", "a.b/c-d_e" };
	static const char *const bad[] = { "", "a", "/a", "a/", "a/b/c", "a/.b", "a/b.", "a/-b", "a--b/c",
					   "a/b..c", "a b/c", "a/b!", "a/\xc3\xa9" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(parse_is_repo_id(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_is_repo_id(bad[i]))
			fail_msg("'%s' taken for a repo id", bad[i]);
	assert_false(parse_is_repo_id(NULL));
	assert_string_equal(parse_control_verb_name(CONTROL_EVICT), "evict");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_forms),
		cmocka_unit_test(test_blank_and_comment),
		cmocka_unit_test(test_bad_corpus),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_text_batches),
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_page_forms),
		cmocka_unit_test(test_repo_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
