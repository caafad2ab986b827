/*
 * fuzz_hfcfg.c - libFuzzer target for config.json (arch_from_hfcfg).
 *
 * Feeds the input to the config reader and checks its invariants: a
 * rejected input leaves the architecture untouched (no field, no warning);
 * an accepted one renders to architecture.json that arch_from_json reads
 * back into an architecture rendering to the very same bytes.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_empty(const struct arch *a)
{
	size_t f;

	for (f = 0; f < ARCH_F_COUNT; f++)
		if (a->src[f] != ARCH_SRC_NONE)
			abort();
	if (a->n_warnings || a->rope_scaling || a->layer_kind || a->layer_heads || a->layer_kv_heads)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sbuf one, two;
	struct arch a, b;

	arch_init(&a);
	if (arch_from_hfcfg((const char *)data, size, &a, NULL) != 0) {
		fuzz_check_empty(&a);
		arch_release(&a);
		return 0;
	}
	sbuf_init(&one, CAP_RENDER_BYTES);
	sbuf_init(&two, CAP_RENDER_BYTES);
	arch_init(&b);
	if (arch_to_json(&a, &one) || arch_from_json(one.buf, one.len, ARCH_SRC_MANUAL, &b, NULL) ||
	    arch_to_json(&b, &two) || one.len != two.len || memcmp(one.buf, two.buf, one.len) != 0)
		abort();
	sbuf_release(&one);
	sbuf_release(&two);
	arch_release(&a);
	arch_release(&b);
	return 0;
}
