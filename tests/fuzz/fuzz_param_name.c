/*
 * fuzz_param_name.c - libFuzzer target for parameterized file names
 * (vram@..., fit@..., recommend@..., fits@...: vram_parse_name).
 *
 * Checks the parser's contract: it accepts a name or refuses it with
 * -EINVAL or -ENOENT and a message; an accepted name has every value in
 * its documented range, and renders (vram@, fit@) for a small model
 * without a crash, into text that vram@'s num format keeps to one line.
 * Names are at most a path component, so the input is cut at 300 bytes
 * (past VRAM_NAME_MAX_BYTES, to reach the length check).
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_params(const struct vram_params *p)
{
	if (p->kind > VRAM_KIND_FITS || p->unit > VRAM_UNIT_B || p->format > VRAM_FORMAT_ENV ||
	    p->prefer > VRAM_PREFER_SPEED || p->ubatch == 0 || p->ubatch > VRAM_MAX_BATCH ||
	    p->batch == 0 || p->batch > VRAM_MAX_BATCH || p->par == 0 || p->par > VRAM_MAX_PAR ||
	    p->n == 0 || p->n > VRAM_MAX_N || p->mmproj < -1 || p->mmproj > 1 ||
	    p->backend != VRAM_BACKEND_CUDA || ggml_type_by_id(p->type_k) == NULL ||
	    ggml_type_by_id(p->type_v) == NULL)
		abort();
	if (p->ctx_tokens == 0 || (p->ctx_tokens != VRAM_CTX_MAX && p->ctx_tokens > VRAM_MAX_CTX_TOKENS))
		abort();
	if (p->kind == VRAM_KIND_FIT && p->vram_bytes == 0)
		abort();
	if (p->ngl != VRAM_NGL_ALL && p->ngl > ARCH_MAX_LAYERS + 1)
		abort();
}

static void fuzz_render(const struct vram_params *p)
{
	struct hw_profile hw = { .gpu_vram_mib = 8192, .gpu_bandwidth_gbps = 500, .ram_bandwidth_gbps = 50 };
	struct vram_model m;
	struct sbuf out;
	struct diag d;
	struct arch a;
	int rc;

	arch_init(&a);
	if (arch_set_str(&a, ARCH_F_ARCHITECTURE, "gemma3", ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_NUM_LAYERS, 6, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_HIDDEN_SIZE, 256, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_NUM_ATTENTION_HEADS, 4, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_NUM_KV_HEADS, 2, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_HEAD_DIM_K, 64, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_INTERMEDIATE_SIZE, 512, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_VOCAB_SIZE, 1024, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_CONTEXT_LENGTH, 32768, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_SLIDING_WINDOW, 512, ARCH_SRC_GGUF) ||
	    arch_set_u64(&a, ARCH_F_SLIDING_WINDOW_PATTERN, 3, ARCH_SRC_GGUF) ||
	    vram_model_from_size(&m, &a, 64ull << 20, VRAM_SRC_CATALOG, 0, NULL))
		abort();
	sbuf_init(&out, CAP_RENDER_BYTES);
	diag_init(&d);
	rc = vram_render(&m, p, &hw, &out, &d);
	if (rc == 0 && p->kind == VRAM_KIND_VRAM && p->format == VRAM_FORMAT_NUM &&
	    (!out.buf || strchr(out.buf, '\n') != out.buf + out.len - 1))
		abort();
	if (rc != 0 && (rc != -EINVAL || !d.msg[0]))
		abort();
	sbuf_release(&out);
	vram_model_release(&m);
	arch_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[301];
	struct vram_params p;
	struct diag d;
	int rc;

	if (size > sizeof(name) - 1)
		size = sizeof(name) - 1;
	memcpy(name, data, size);
	name[size] = '\0';
	diag_init(&d);
	rc = vram_parse_name(name, &p, &d);
	if (rc != 0) {
		if ((rc != -EINVAL && rc != -ENOENT) || d.code != rc || !d.msg[0])
			abort();
		return 0;
	}
	if (d.code != 0)
		abort();
	fuzz_check_params(&p);
	if (p.kind == VRAM_KIND_VRAM || p.kind == VRAM_KIND_FIT)
		fuzz_render(&p);
	return 0;
}
