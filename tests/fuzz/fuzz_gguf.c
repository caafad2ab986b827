/*
 * fuzz_gguf.c - libFuzzer target for the GGUF header reader.
 *
 * The input is a whole file, handed to gguf_open() through a memory
 * reader; a header that parses is walked completely (every value, every
 * array item, every tensor info) so the accessors run on whatever the
 * parser accepted.  Corpus: tests/fuzz/corpus/gguf/: valid_* and hostile_*
 * are written by `tests/gguf/ggufgen.py corpus` (small valid files of every
 * value and tensor type, and the hostile cases); found-* are what a
 * 27.7M-execution libFuzzer campaign (20 minutes, ASan+UBSan, no crash)
 * added, minimized with -merge=1.
 */
#include "core.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the walk adds up, kept so the compiler cannot drop the walk. */
static volatile uint64_t fuzz_sink;

static uint64_t walk(const struct gguf_value *v, unsigned depth)
{
	struct gguf_value it;
	uint64_t i, sum = (uint64_t)v->type;

	if (v->type == GGUF_TYPE_STRING)
		sum += v->str.len + (unsigned char)v->str.ptr[v->str.len];
	if (v->type != GGUF_TYPE_ARRAY || depth > GGUF_MAX_ARRAY_DEPTH)
		return sum;
	for (i = 0; i < v->arr.n; i++)
		if (gguf_array_item(v, i, &it) == 0)
			sum += walk(&it, depth + 1);
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r;
	struct gguf *g;
	struct gguf_value v;
	uint64_t sink = 0;
	size_t i;

	reader_from_memory(&r, data, size);
	if (gguf_open(&r, &g, NULL) != 0)
		return 0;
	for (i = 0; i < gguf_kv_count(g); i++) {
		gguf_kv_value(g, i, &v);
		sink += walk(&v, 0) + (uint64_t)gguf_find_key(g, gguf_kv_key(g, i));
	}
	for (i = 0; i < gguf_tensor_count(g); i++) {
		const struct gguf_tensor_info *t = gguf_tensor(g, i);

		sink += t->size_bytes + (uint64_t)gguf_find_tensor(g, t->name);
	}
	sink += gguf_param_count(g) + gguf_data_offset(g) + (uint64_t)gguf_file_type(g);
	fuzz_sink = sink;
	gguf_free(g);
	return 0;
}
