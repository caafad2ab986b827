/*
 * fuzz_hardware_line.c - libFuzzer target for .control/hardware writes.
 *
 * Feeds the input to hw_apply_text() and checks two invariants: a failed
 * write leaves the profile untouched, and an accepted profile renders to
 * text that applies again and renders identically (the file round-trips).
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hw_profile hw, zero, again;
	struct sbuf a, b;

	memset(&hw, 0, sizeof(hw));
	memset(&zero, 0, sizeof(zero));
	memset(&again, 0, sizeof(again));
	if (hw_apply_text(&hw, (const char *)data, size, NULL) != 0) {
		if (memcmp(&hw, &zero, sizeof(hw)) != 0)
			abort();
		return 0;
	}
	sbuf_init(&a, CAP_LINE_BYTES);
	sbuf_init(&b, CAP_LINE_BYTES);
	if (hw_render(&hw, &a) || hw_apply_text(&again, a.buf, a.len, NULL) ||
	    hw_render(&again, &b) || a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
		abort();
	sbuf_release(&a);
	sbuf_release(&b);
	return 0;
}
