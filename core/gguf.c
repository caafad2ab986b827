/*
 * gguf.c - the GGUF header reader.
 *
 * A GGUF file (llama.cpp's gguf.h, versions 2 and 3) is a header and a data
 * section.  The header is the magic "GGUF", a uint32 version, uint64
 * counts of tensors and of metadata pairs, the pairs (a length-prefixed
 * key, a uint32 value type, the value), then one info per tensor (name,
 * uint32 n_dims, n_dims uint64 extents, uint32 ggml type, uint64 offset
 * into the data section).  The data section starts at the header's end
 * rounded up to general.alignment (32 unless the file says otherwise).
 * Everything is little-endian; a big-endian file, which llama.cpp's
 * converter can write, shows as a version whose low 16 bits are zero, and
 * is refused by name rather than as garbage.
 *
 * Only the header is read.  The parser reads through a struct reader (a
 * local file, memory, or cache/'s HTTP range reader) into one buffer that
 * always holds the file's first bytes: the first read takes
 * GGUF_FIRST_READ_BYTES (1 MiB), and whenever the parser needs a byte past
 * the buffer it is doubled (at least to what is needed), so a header of H
 * bytes costs about log2(H / 1 MiB) + 1 reads and at most 2H bytes fetched
 * (a Llama 3 header with its 128k-token vocabulary is ~9 MiB: 5 reads).
 * The buffer never passes GGUF_MAX_HEADER_BYTES nor the file's size.
 *
 * The file is hostile until proven otherwise.  Before anything is
 * allocated for a count (pairs, tensors, array items, string bytes), the
 * count is checked against its cap and against the bytes left in the file
 * and under the header cap, counting the fewest bytes one item can take
 * (an array item of arrays takes at least 12), so what is allocated is
 * proportional to bytes actually present.  All parsed data lives in an
 * arena (chunks of 4 KiB doubling to 1 MiB, so a small header costs little)
 * that counts its bytes and stops at GGUF_MAX_MEMORY_BYTES.  Arrays
 * nest at most GGUF_MAX_ARRAY_DEPTH levels (the @huggingface/gguf limit;
 * llama.cpp itself takes none), so recursion is bounded.  Tensor infos are
 * checked as llama.cpp checks them (at most 4 dimensions, extents whose
 * product fits int64, a known type, ne[0] a multiple of the block size, no
 * duplicate names) and more: offsets aligned, inside the data section, and
 * not overlapping once sorted.  Keys must be unique too.
 *
 * Scalar arrays (the vocabulary scores and token types, hundreds of
 * thousands of items) are kept as the file's bytes and decoded on access;
 * string arrays as (pointer, length) pairs into the arena.  Lookups by key
 * or tensor name are binary searches over sorted indexes.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC "GGUF"
#define ARENA_FIRST_CHUNK_BYTES (4u << 10)
#define ARENA_CHUNK_BYTES (1u << 20)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;                  /* bytes handed out */
	size_t size;                  /* bytes in data[] */
	unsigned char data[];
};

struct arena {
	struct arena_chunk *head;     /* newest chunk first */
	size_t total_bytes;           /* allocated, chunks included */
};

struct gguf_str {
	const char *ptr;              /* NUL-terminated */
	uint64_t len;
};

struct gguf_node {
	uint8_t type;                 /* enum gguf_type */
	uint8_t elem_type;            /* ARRAY: type of the items */
	uint64_t n;                   /* STRING: bytes; ARRAY: items */
	union {
		uint64_t u64;
		int64_t i64;
		double f64;
		const char *str;                  /* STRING */
		const unsigned char *raw;         /* ARRAY of scalars: the file's bytes */
		const struct gguf_str *strs;      /* ARRAY of STRING */
		const struct gguf_node *items;    /* ARRAY of ARRAY */
	};
};

struct gguf_kv {
	const char *key;
	size_t key_len;
	struct gguf_node val;
};

struct gguf {
	struct arena arena;
	uint32_t version;
	uint64_t alignment;           /* bytes */
	uint64_t header_bytes;        /* end of the tensor infos */
	uint64_t data_offset;         /* bytes from the file start */
	uint64_t file_size;           /* UINT64_MAX when unknown */
	uint64_t bytes_read;          /* fetched through the reader */
	unsigned reads;               /* read_at calls */
	uint64_t weight_bytes;
	uint64_t param_count;
	struct gguf_kv *kvs;
	size_t n_kv;
	const struct gguf_kv **kv_sorted;          /* kvs by key */
	struct gguf_tensor_info *tensors;
	size_t n_tensors;
	const struct gguf_tensor_info **tensor_sorted; /* tensors by name */
};

/* The parser's view of the file: a growing prefix of it in buf. */
struct gguf_src {
	struct reader *r;
	struct diag *d;
	struct gguf *g;
	uint64_t size;                /* the reader's size, UINT64_MAX when unknown */
	uint64_t limit;               /* bytes the header may span: min(size, cap) */
	unsigned char *buf;           /* bytes [0, have) of the file */
	size_t have;
	uint64_t pos;                 /* next byte to parse */
};

/* ------------------------------------------------------------------------
 * Arena
 * ------------------------------------------------------------------------ */
/* 0, -EFBIG past GGUF_MAX_MEMORY_BYTES, or -ENOMEM. */
static int arena_alloc(struct arena *a, uint64_t size, void **out)
{
	struct arena_chunk *c = a->head;
	uint64_t chunk_size;

	if (size > GGUF_MAX_MEMORY_BYTES)
		return -EFBIG;
	size = (size + 7) & ~(uint64_t)7;
	if (size == 0)
		size = 8;
	if (!c || c->size - c->used < size) {
		chunk_size = c ? (uint64_t)c->size * 2 : ARENA_FIRST_CHUNK_BYTES;
		if (chunk_size > ARENA_CHUNK_BYTES)
			chunk_size = ARENA_CHUNK_BYTES;
		if (chunk_size < size)
			chunk_size = size;
		if (a->total_bytes + chunk_size + sizeof(*c) > GGUF_MAX_MEMORY_BYTES)
			return -EFBIG;
		c = malloc(sizeof(*c) + (size_t)chunk_size);
		if (!c)
			return -ENOMEM;
		c->size = (size_t)chunk_size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->total_bytes += sizeof(*c) + (size_t)chunk_size;
	}
	*out = c->data + c->used;
	c->used += (size_t)size;
	return 0;
}

static void arena_release(struct arena *a)
{
	struct arena_chunk *c = a->head, *next;

	while (c) {
		next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->total_bytes = 0;
}

/* count items of elem_size bytes from the arena, with the diag on failure. */
static int src_alloc(struct gguf_src *s, uint64_t count, size_t elem_size, const char *what,
		     void *out)
{
	void *p = NULL;
	int rc = -EFBIG;

	if (!elem_size || count <= GGUF_MAX_MEMORY_BYTES / elem_size)
		rc = arena_alloc(&s->g->arena, count * elem_size, &p);
	if (rc == -EFBIG)
		return diag_fail(s->d, rc, "GGUF header needs more than %u MiB of memory (at %s)",
				 GGUF_MAX_MEMORY_BYTES >> 20, what);
	if (rc)
		return diag_fail(s->d, rc, "out of memory reading the GGUF header");
	memcpy(out, &p, sizeof(p));
	return 0;
}

/* ------------------------------------------------------------------------
 * Reading bytes
 * ------------------------------------------------------------------------ */
static inline uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Past the bytes the header may span: the file ended (-EBADMSG), or it
 * goes on past GGUF_MAX_HEADER_BYTES (-EFBIG). */
static int src_truncated(struct gguf_src *s, uint64_t at, uint64_t n, const char *what)
{
	if (s->size != UINT64_MAX && s->size <= GGUF_MAX_HEADER_BYTES)
		return MALFORMED(s->d, "truncated GGUF file: %s needs %llu bytes at offset %llu "
				 "but the file has %llu bytes", what, (unsigned long long)n,
				 (unsigned long long)at, (unsigned long long)s->size);
	if (s->limit < GGUF_MAX_HEADER_BYTES)
		return MALFORMED(s->d, "truncated GGUF file: %s needs %llu bytes at offset %llu "
				 "past the end of the data", what, (unsigned long long)n,
				 (unsigned long long)at);
	return diag_fail(s->d, -EFBIG, "GGUF header too large: %s at offset %llu passes the "
			 "%u MiB limit on headers", what, (unsigned long long)at,
			 GGUF_MAX_HEADER_BYTES >> 20);
}

/* Makes bytes [pos, pos + n) available in s->buf. */
static int src_need(struct gguf_src *s, uint64_t n, const char *what)
{
	uint64_t end, want;
	unsigned char *nb;
	int rc;

	if (n > s->limit || s->pos > s->limit - n)
		return src_truncated(s, s->pos, n, what);
	end = s->pos + n;
	if (end <= s->have)
		return 0;
	want = (uint64_t)s->have * 2;
	if (want < GGUF_FIRST_READ_BYTES)
		want = GGUF_FIRST_READ_BYTES;
	if (want < end)
		want = end;
	if (want > s->limit)
		want = s->limit;
	nb = realloc(s->buf, (size_t)want);
	if (!nb)
		return diag_fail(s->d, -ENOMEM, "out of memory reading the GGUF header");
	s->buf = nb;
	for (;;) {
		s->g->reads++;
		rc = s->r->read_at(s->r->ctx, s->have, s->buf + s->have, (size_t)(want - s->have));
		if (rc != -ENODATA || want == end)
			break;
		s->limit = want - 1;
		want = end + (want - end) / 2;
	}
	if (rc == -ENODATA) {
		s->limit = end - 1;
		return src_truncated(s, s->pos, n, what);
	}
	if (rc < 0)
		return diag_fail(s->d, rc, "cannot read the GGUF header at offset %llu: %s",
				 (unsigned long long)s->have, strerror(-rc));
	s->g->bytes_read += want - s->have;
	s->have = (size_t)want;
	return 0;
}

static int src_bytes(struct gguf_src *s, size_t n, const unsigned char **out, const char *what)
{
	int rc = src_need(s, n, what);

	if (rc)
		return rc;
	*out = s->buf + s->pos;
	s->pos += n;
	return 0;
}

static int src_u32(struct gguf_src *s, uint32_t *v, const char *what)
{
	const unsigned char *p;
	int rc = src_bytes(s, 4, &p, what);

	if (!rc)
		*v = le32(p);
	return rc;
}

static int src_u64(struct gguf_src *s, uint64_t *v, const char *what)
{
	const unsigned char *p;
	int rc = src_bytes(s, 8, &p, what);

	if (!rc)
		*v = le64(p);
	return rc;
}

/* Checks that count items of at least min_bytes each can still follow. */
static int src_check_fit(struct gguf_src *s, uint64_t count, uint64_t min_bytes,
			 const char *what)
{
	uint64_t left_file = s->size == UINT64_MAX ? UINT64_MAX : s->size - s->pos;
	uint64_t left_cap = GGUF_MAX_HEADER_BYTES - (s->pos < GGUF_MAX_HEADER_BYTES ?
						     s->pos : GGUF_MAX_HEADER_BYTES);

	if (min_bytes == 0)
		return 0;
	if (count > left_file / min_bytes)
		return MALFORMED(s->d, "truncated GGUF file: %s: %llu items of at least %llu bytes "
				 "cannot fit in the %llu bytes left after offset %llu", what,
				 (unsigned long long)count, (unsigned long long)min_bytes,
				 (unsigned long long)left_file, (unsigned long long)s->pos);
	if (count > left_cap / min_bytes)
		return diag_fail(s->d, -EFBIG, "GGUF header too large: %s holds %llu items, "
				 "past the %u MiB limit on headers", what,
				 (unsigned long long)count, GGUF_MAX_HEADER_BYTES >> 20);
	return 0;
}

/* A length-prefixed string, copied into the arena. */
static int src_string(struct gguf_src *s, uint64_t cap, const char **out, uint64_t *len_out,
		      const char *what)
{
	const unsigned char *p;
	uint64_t len;
	char *str;
	int rc;

	rc = src_u64(s, &len, what);
	if (rc)
		return rc;
	if (len > cap) {
		if (s->size != UINT64_MAX && len > s->size)
			return MALFORMED(s->d, "truncated GGUF file: %s: string of %llu bytes at "
					 "offset %llu passes the end of the file", what, (unsigned long long)len,
					 (unsigned long long)(s->pos - 8));
		return diag_fail(s->d, -EFBIG, "%s: string of %llu bytes at offset %llu is longer "
				 "than the limit of %llu bytes", what, (unsigned long long)len,
				 (unsigned long long)(s->pos - 8), (unsigned long long)cap);
	}
	rc = src_bytes(s, (size_t)len, &p, what);
	if (rc)
		return rc;
	if (len == 0) {
		*out = "";
		*len_out = 0;
		return 0;
	}
	rc = src_alloc(s, len + 1, 1, what, &str);
	if (rc)
		return rc;
	memcpy(str, p, (size_t)len);
	str[len] = '\0';
	*out = str;
	*len_out = len;
	return 0;
}

/* ------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------ */
static size_t gguf_scalar_size(unsigned type)
{
	switch (type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_BOOL:
		return 1;
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_INT16:
		return 2;
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_FLOAT32:
		return 4;
	case GGUF_TYPE_UINT64:
	case GGUF_TYPE_INT64:
	case GGUF_TYPE_FLOAT64:
		return 8;
	default:
		return 0;
	}
}

static void scalar_decode(unsigned type, const unsigned char *p, struct gguf_node *n)
{
	uint32_t u32;
	uint64_t u64;
	float f;
	double d;

	n->type = (uint8_t)type;
	n->elem_type = 0;
	n->n = 1;
	switch (type) {
	case GGUF_TYPE_UINT8:
		n->u64 = p[0];
		break;
	case GGUF_TYPE_BOOL:
		n->u64 = p[0] != 0;
		break;
	case GGUF_TYPE_INT8:
		n->i64 = (int8_t)p[0];
		break;
	case GGUF_TYPE_UINT16:
		n->u64 = le16(p);
		break;
	case GGUF_TYPE_INT16:
		n->i64 = (int16_t)le16(p);
		break;
	case GGUF_TYPE_UINT32:
		n->u64 = le32(p);
		break;
	case GGUF_TYPE_INT32:
		n->i64 = (int32_t)le32(p);
		break;
	case GGUF_TYPE_FLOAT32:
		u32 = le32(p);
		memcpy(&f, &u32, sizeof(f));
		n->f64 = f;
		break;
	case GGUF_TYPE_UINT64:
		n->u64 = le64(p);
		break;
	case GGUF_TYPE_INT64:
		n->i64 = (int64_t)le64(p);
		break;
	case GGUF_TYPE_FLOAT64:
		u64 = le64(p);
		memcpy(&d, &u64, sizeof(d));
		n->f64 = d;
		break;
	}
}

static int parse_value(struct gguf_src *s, unsigned type, unsigned depth, struct gguf_node *out,
		       const char *what);

static int parse_array(struct gguf_src *s, unsigned depth, struct gguf_node *out, const char *what)
{
	const unsigned char *p;
	uint32_t elem_type;
	uint64_t n, i, min_bytes;
	size_t esize;
	int rc;

	if (depth >= GGUF_MAX_ARRAY_DEPTH)
		return MALFORMED(s->d, "%s: arrays nested more than %d levels deep at offset %llu",
				 what, GGUF_MAX_ARRAY_DEPTH, (unsigned long long)s->pos);
	rc = src_u32(s, &elem_type, what);
	if (rc)
		return rc;
	if (elem_type >= GGUF_TYPE_COUNT)
		return MALFORMED(s->d, "%s: array of unknown value type %u at offset %llu", what,
				 elem_type, (unsigned long long)(s->pos - 4));
	rc = src_u64(s, &n, what);
	if (rc)
		return rc;
	esize = gguf_scalar_size(elem_type);
	min_bytes = esize ? esize : elem_type == GGUF_TYPE_STRING ? 8 : 12;
	rc = src_check_fit(s, n, min_bytes, what);
	if (rc)
		return rc;
	if (n > GGUF_MAX_ARRAY_LEN)
		return diag_fail(s->d, -EFBIG, "%s: array of %llu items is longer than the limit "
				 "of %u items", what, (unsigned long long)n, GGUF_MAX_ARRAY_LEN);
	out->type = GGUF_TYPE_ARRAY;
	out->elem_type = (uint8_t)elem_type;
	out->n = n;
	if (esize) {
		unsigned char *raw;

		rc = src_bytes(s, (size_t)(n * esize), &p, what);
		if (rc)
			return rc;
		rc = src_alloc(s, n, esize, what, &raw);
		if (rc)
			return rc;
		if (n)
			memcpy(raw, p, (size_t)(n * esize));
		out->raw = raw;
		return 0;
	}
	if (elem_type == GGUF_TYPE_STRING) {
		struct gguf_str *strs;

		rc = src_alloc(s, n, sizeof(*strs), what, &strs);
		if (rc)
			return rc;
		for (i = 0; i < n; i++) {
			rc = src_string(s, GGUF_MAX_STRING_BYTES, &strs[i].ptr, &strs[i].len, what);
			if (rc)
				return rc;
		}
		out->strs = strs;
		return 0;
	}
	{
		struct gguf_node *items;

		rc = src_alloc(s, n, sizeof(*items), what, &items);
		if (rc)
			return rc;
		for (i = 0; i < n; i++) {
			rc = parse_value(s, GGUF_TYPE_ARRAY, depth + 1, &items[i], what);
			if (rc)
				return rc;
		}
		out->items = items;
	}
	return 0;
}

static int parse_value(struct gguf_src *s, unsigned type, unsigned depth, struct gguf_node *out,
		       const char *what)
{
	const unsigned char *p;
	size_t esize = gguf_scalar_size(type);
	int rc;

	memset(out, 0, sizeof(*out));
	if (esize) {
		rc = src_bytes(s, esize, &p, what);
		if (rc)
			return rc;
		scalar_decode(type, p, out);
		return 0;
	}
	if (type == GGUF_TYPE_STRING) {
		out->type = GGUF_TYPE_STRING;
		return src_string(s, GGUF_MAX_STRING_BYTES, &out->str, &out->n, what);
	}
	if (type == GGUF_TYPE_ARRAY)
		return parse_array(s, depth, out, what);
	return MALFORMED(s->d, "%s: unknown value type %u at offset %llu", what, type,
			 (unsigned long long)(s->pos - 4));
}

/* ------------------------------------------------------------------------
 * Sorted indexes
 * ------------------------------------------------------------------------ */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int kv_ptr_cmp(const void *a, const void *b)
{
	const struct gguf_kv *x = *(const struct gguf_kv *const *)a;
	const struct gguf_kv *y = *(const struct gguf_kv *const *)b;

	return bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}

static int tensor_name_cmp(const void *a, const void *b)
{
	const struct gguf_tensor_info *x = *(const struct gguf_tensor_info *const *)a;
	const struct gguf_tensor_info *y = *(const struct gguf_tensor_info *const *)b;

	return strcmp(x->name, y->name);
}

static int tensor_offset_cmp(const void *a, const void *b)
{
	const struct gguf_tensor_info *x = *(const struct gguf_tensor_info *const *)a;
	const struct gguf_tensor_info *y = *(const struct gguf_tensor_info *const *)b;

	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	if (x->size_bytes != y->size_bytes)
		return x->size_bytes < y->size_bytes ? -1 : 1;
	return 0;
}

/* ------------------------------------------------------------------------
 * The header
 * ------------------------------------------------------------------------ */
static int parse_preamble(struct gguf_src *s, uint64_t *n_tensors, uint64_t *n_kv)
{
	const unsigned char *p;
	uint32_t version, swapped;
	int rc;

	rc = src_bytes(s, 4, &p, "the magic");
	if (rc)
		return rc;
	if (memcmp(p, GGUF_MAGIC, 4) != 0)
		return MALFORMED(s->d, "not a GGUF file: it starts with %02x %02x %02x %02x, "
				 "not 'GGUF'", p[0], p[1], p[2], p[3]);
	rc = src_u32(s, &version, "the version");
	if (rc)
		return rc;
	swapped = __builtin_bswap32(version);
	if ((version & 0xffff) == 0 && swapped >= 1 && swapped <= 3)
		return MALFORMED(s->d, "big-endian GGUF is not supported (version %u, byte-swapped); "
				 "convert the file to little-endian", swapped);
	if (version == 1)
		return MALFORMED(s->d, "GGUF version 1 is not supported; convert the file with a "
				 "newer llama.cpp");
	if (version != 2 && version != 3)
		return MALFORMED(s->d, "unsupported GGUF version %u; versions 2 and 3 are known",
				 version);
	s->g->version = version;
	rc = src_u64(s, n_tensors, "the tensor count");
	if (rc)
		return rc;
	rc = src_u64(s, n_kv, "the metadata count");
	if (rc)
		return rc;
	rc = src_check_fit(s, *n_kv, 8 + 4 + 1, "the metadata");
	if (rc)
		return rc;
	if (*n_kv > GGUF_MAX_KV)
		return diag_fail(s->d, -EFBIG, "GGUF header has %llu metadata keys, more than the "
				 "limit of %u", (unsigned long long)*n_kv, GGUF_MAX_KV);
	return 0;
}

static int parse_kvs(struct gguf_src *s, uint64_t n_kv)
{
	struct gguf *g = s->g;
	uint64_t i;
	uint32_t type;
	uint64_t key_len;
	int rc;

	rc = src_alloc(s, n_kv, sizeof(*g->kvs), "the metadata", &g->kvs);
	if (rc)
		return rc;
	for (i = 0; i < n_kv; i++) {
		struct gguf_kv *kv = &g->kvs[i];
		char what[96];

		rc = src_string(s, GGUF_MAX_NAME_BYTES, &kv->key, &key_len, "a metadata key");
		if (rc)
			return rc;
		kv->key_len = (size_t)key_len;
		snprintf(what, sizeof(what), "key '%.64s'", kv->key);
		rc = src_u32(s, &type, what);
		if (rc)
			return rc;
		if (type >= GGUF_TYPE_COUNT)
			return MALFORMED(s->d, "key '%.64s' has unknown value type %u at offset %llu",
					 kv->key, type, (unsigned long long)(s->pos - 4));
		rc = parse_value(s, type, 0, &kv->val, what);
		if (rc)
			return rc;
		g->n_kv++;
	}
	return 0;
}

static int parse_tensor_infos(struct gguf_src *s, uint64_t n_tensors)
{
	struct gguf *g = s->g;
	uint64_t i, name_len;
	uint32_t j;
	int rc;

	rc = src_check_fit(s, n_tensors, 8 + 4 + 4 + 8, "the tensor infos");
	if (rc)
		return rc;
	if (n_tensors > GGUF_MAX_TENSORS)
		return diag_fail(s->d, -EFBIG, "GGUF header has %llu tensors, more than the limit "
				 "of %u", (unsigned long long)n_tensors, GGUF_MAX_TENSORS);
	rc = src_alloc(s, n_tensors, sizeof(*g->tensors), "the tensor infos", &g->tensors);
	if (rc)
		return rc;
	for (i = 0; i < n_tensors; i++) {
		struct gguf_tensor_info *t = &g->tensors[i];
		uint64_t ne;

		rc = src_string(s, GGUF_MAX_NAME_BYTES, &t->name, &name_len, "a tensor name");
		if (rc)
			return rc;
		if (strlen(t->name) != name_len)
			return MALFORMED(s->d, "tensor name '%.64s' holds a NUL byte", t->name);
		rc = src_u32(s, &t->n_dims, "a tensor info");
		if (rc)
			return rc;
		if (t->n_dims > GGML_MAX_DIMS)
			return MALFORMED(s->d, "tensor '%.64s' has %u dimensions, more than %d",
					 t->name, t->n_dims, GGML_MAX_DIMS);
		for (j = 0; j < GGML_MAX_DIMS; j++)
			t->ne[j] = 1;
		for (j = 0; j < t->n_dims; j++) {
			rc = src_u64(s, &ne, "a tensor info");
			if (rc)
				return rc;
			if (ne > (uint64_t)INT64_MAX)
				return MALFORMED(s->d, "tensor '%.64s' has a negative extent in "
						 "dimension %u", t->name, j);
			t->ne[j] = ne;
		}
		rc = src_u32(s, &t->type, "a tensor info");
		if (rc)
			return rc;
		rc = src_u64(s, &t->offset, "a tensor info");
		if (rc)
			return rc;
		g->n_tensors++;
	}
	return 0;
}

static int check_alignment(struct gguf_src *s)
{
	struct gguf_value v;
	ssize_t i = gguf_find_key(s->g, "general.alignment");
	uint64_t a;

	s->g->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (i < 0)
		return 0;
	gguf_kv_value(s->g, (size_t)i, &v);
	switch (v.type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_UINT64:
		a = v.u64;
		break;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64:
		a = v.i64 < 0 ? 0 : (uint64_t)v.i64;
		break;
	default:
		return MALFORMED(s->d, "key 'general.alignment' is a %s, not an integer",
				 gguf_type_name(v.type));
	}
	if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
		return MALFORMED(s->d, "key 'general.alignment' is %llu, not a power of two "
				 "between 1 and %u", (unsigned long long)a, GGUF_MAX_ALIGNMENT);
	s->g->alignment = a;
	return 0;
}

static int check_keys(struct gguf_src *s)
{
	struct gguf *g = s->g;
	size_t i;
	int rc;

	rc = src_alloc(s, g->n_kv, sizeof(*g->kv_sorted), "the key index", &g->kv_sorted);
	if (rc)
		return rc;
	for (i = 0; i < g->n_kv; i++)
		g->kv_sorted[i] = &g->kvs[i];
	qsort(g->kv_sorted, g->n_kv, sizeof(*g->kv_sorted), kv_ptr_cmp);
	for (i = 1; i < g->n_kv; i++) {
		const struct gguf_kv *a = g->kv_sorted[i - 1], *b = g->kv_sorted[i];

		if (bytes_cmp(a->key, a->key_len, b->key, b->key_len) == 0)
			return MALFORMED(s->d, "duplicate key '%.64s' in the GGUF metadata", a->key);
	}
	return 0;
}

static int check_tensors(struct gguf_src *s)
{
	struct gguf *g = s->g;
	const struct gguf_tensor_info **by_offset;
	size_t i;
	uint64_t end, data_size;
	int rc;

	for (i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor_info *t = &g->tensors[i];
		const struct ggml_type_info *ti = ggml_type_by_id(t->type);

		if (!ti)
			return MALFORMED(s->d, "tensor '%.64s' has unknown or removed ggml type %u",
					 t->name, t->type);
		if (ggml_nelements(t->ne, t->n_dims, &t->n_elements))
			return MALFORMED(s->d, "tensor '%.64s' has more elements than an int64 holds",
					 t->name);
		if (t->ne[0] % ti->block_elems)
			return MALFORMED(s->d, "tensor '%.64s' of type %s has %llu columns, not a "
					 "multiple of the block size %u", t->name, ti->name,
					 (unsigned long long)t->ne[0], ti->block_elems);
		rc = ggml_tensor_bytes(t->type, t->ne, t->n_dims, &t->size_bytes);
		if (rc)
			return MALFORMED(s->d, "tensor '%.64s' is too large to address", t->name);
		if (t->offset % g->alignment)
			return MALFORMED(s->d, "tensor '%.64s' has offset %llu, not a multiple of the "
					 "alignment %llu", t->name, (unsigned long long)t->offset,
					 (unsigned long long)g->alignment);
		if (t->size_bytes > UINT64_MAX - t->offset ||
		    t->offset + t->size_bytes > UINT64_MAX - g->data_offset)
			return MALFORMED(s->d, "tensor '%.64s' has offset %llu and %llu bytes, past "
					 "any file", t->name, (unsigned long long)t->offset,
					 (unsigned long long)t->size_bytes);
		if (g->weight_bytes > UINT64_MAX - t->size_bytes ||
		    g->param_count > UINT64_MAX - t->n_elements)
			return MALFORMED(s->d, "the tensors of this GGUF file add up to more bytes "
					 "than a file can hold");
		g->weight_bytes += t->size_bytes;
		g->param_count += t->n_elements;
	}

	rc = src_alloc(s, g->n_tensors, sizeof(*g->tensor_sorted), "the tensor index",
		       &g->tensor_sorted);
	if (rc)
		return rc;
	by_offset = malloc((g->n_tensors ? g->n_tensors : 1) * sizeof(*by_offset));
	if (!by_offset)
		return diag_fail(s->d, -ENOMEM, "out of memory reading the GGUF header");
	for (i = 0; i < g->n_tensors; i++)
		g->tensor_sorted[i] = by_offset[i] = &g->tensors[i];
	qsort(g->tensor_sorted, g->n_tensors, sizeof(*g->tensor_sorted), tensor_name_cmp);
	qsort(by_offset, g->n_tensors, sizeof(*by_offset), tensor_offset_cmp);

	for (i = 1; i < g->n_tensors; i++) {
		const struct gguf_tensor_info *a = g->tensor_sorted[i - 1], *b = g->tensor_sorted[i];

		if (strcmp(a->name, b->name) == 0) {
			rc = MALFORMED(s->d, "duplicate tensor '%.64s' in the GGUF header", a->name);
			goto out_free;
		}
	}
	for (i = 1; i < g->n_tensors; i++) {
		const struct gguf_tensor_info *a = by_offset[i - 1], *b = by_offset[i];

		if (a->offset + a->size_bytes > b->offset) {
			rc = MALFORMED(s->d, "tensors '%.64s' and '%.64s' overlap in the data section",
				       a->name, b->name);
			goto out_free;
		}
	}
	if (g->n_tensors && s->size != UINT64_MAX) {
		const struct gguf_tensor_info *last = by_offset[g->n_tensors - 1];

		end = last->offset + last->size_bytes;
		data_size = s->size > g->data_offset ? s->size - g->data_offset : 0;
		if (end > 0 && (g->data_offset > s->size || end > data_size)) {
			rc = MALFORMED(s->d, "tensor '%.64s' ends at byte %llu of the data section, "
				       "past the end of the file (%llu bytes); the file is truncated",
				       last->name, (unsigned long long)end,
				       (unsigned long long)data_size);
			goto out_free;
		}
	}

out_free:
	free(by_offset);
	return rc;
}

int gguf_open(struct reader *r, struct gguf **out, struct diag *d)
{
	struct gguf_src s = { 0 };
	struct gguf *g;
	uint64_t n_tensors = 0, n_kv = 0, rem;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return diag_fail(d, -ENOMEM, "out of memory reading a GGUF header");
	g->file_size = r->size;
	s.r = r;
	s.d = d;
	s.g = g;
	s.size = r->size;
	s.limit = r->size < GGUF_MAX_HEADER_BYTES ? r->size : GGUF_MAX_HEADER_BYTES;

	rc = parse_preamble(&s, &n_tensors, &n_kv);
	if (rc)
		goto out_fail;
	rc = parse_kvs(&s, n_kv);
	if (rc)
		goto out_fail;
	rc = check_keys(&s);
	if (rc)
		goto out_fail;
	rc = parse_tensor_infos(&s, n_tensors);
	if (rc)
		goto out_fail;
	rc = check_alignment(&s);
	if (rc)
		goto out_fail;
	g->header_bytes = s.pos;
	rem = s.pos % g->alignment;
	g->data_offset = s.pos + (rem ? g->alignment - rem : 0);
	rc = check_tensors(&s);
	if (rc)
		goto out_fail;
	free(s.buf);
	*out = g;
	return 0;

out_fail:
	free(s.buf);
	gguf_free(g);
	return rc;
}

void gguf_free(struct gguf *g)
{
	if (!g)
		return;
	arena_release(&g->arena);
	free(g);
}

/* ------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------ */
uint32_t gguf_version(const struct gguf *g)
{
	return g->version;
}

uint64_t gguf_alignment(const struct gguf *g)
{
	return g->alignment;
}

uint64_t gguf_data_offset(const struct gguf *g)
{
	return g->data_offset;
}

uint64_t gguf_header_bytes(const struct gguf *g)
{
	return g->header_bytes;
}

uint64_t gguf_bytes_read(const struct gguf *g)
{
	return g->bytes_read;
}

unsigned gguf_reads(const struct gguf *g)
{
	return g->reads;
}

uint64_t gguf_file_size(const struct gguf *g)
{
	return g->file_size;
}

uint64_t gguf_weight_bytes(const struct gguf *g)
{
	return g->weight_bytes;
}

uint64_t gguf_param_count(const struct gguf *g)
{
	return g->param_count;
}

double gguf_bits_per_weight(const struct gguf *g)
{
	if (!g->param_count)
		return 0;
	return (double)g->weight_bytes * 8.0 / (double)g->param_count;
}

int64_t gguf_file_type(const struct gguf *g)
{
	uint64_t v;
	int rc = gguf_get_u64(g, "general.file_type", &v);

	if (rc)
		return rc;
	if (v > (uint64_t)INT64_MAX)
		return -ERANGE;
	return (int64_t)v;
}

bool gguf_split(const struct gguf *g, uint64_t *no, uint64_t *count, uint64_t *tensors_count)
{
	uint64_t v;

	*no = gguf_get_u64(g, "split.no", &v) == 0 ? v : 0;
	*count = gguf_get_u64(g, "split.count", &v) == 0 ? v : 0;
	*tensors_count = gguf_get_u64(g, "split.tensors.count", &v) == 0 ? v : 0;
	return *count > 1;
}

size_t gguf_kv_count(const struct gguf *g)
{
	return g->n_kv;
}

const char *gguf_kv_key(const struct gguf *g, size_t i)
{
	return i < g->n_kv ? g->kvs[i].key : NULL;
}

static void node_to_value(const struct gguf_node *n, struct gguf_value *out)
{
	memset(out, 0, sizeof(*out));
	out->type = n->type;
	switch (n->type) {
	case GGUF_TYPE_STRING:
		out->str.ptr = n->str;
		out->str.len = (size_t)n->n;
		break;
	case GGUF_TYPE_ARRAY:
		out->arr.type = n->elem_type;
		out->arr.n = n->n;
		out->arr.priv = n;
		break;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64:
		out->i64 = n->i64;
		break;
	case GGUF_TYPE_FLOAT32:
	case GGUF_TYPE_FLOAT64:
		out->f64 = n->f64;
		break;
	default:
		out->u64 = n->u64;
		break;
	}
}

void gguf_kv_value(const struct gguf *g, size_t i, struct gguf_value *out)
{
	if (i >= g->n_kv) {
		memset(out, 0, sizeof(*out));
		out->type = GGUF_TYPE_COUNT;
		return;
	}
	node_to_value(&g->kvs[i].val, out);
}

ssize_t gguf_find_key(const struct gguf *g, const char *key)
{
	size_t lo = 0, hi = g->n_kv, len;

	if (!key || !g->kv_sorted)
		return -ENOENT;
	len = strlen(key);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gguf_kv *kv = g->kv_sorted[mid];
		int c = bytes_cmp(kv->key, kv->key_len, key, len);

		if (c == 0)
			return kv - g->kvs;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

int gguf_array_item(const struct gguf_value *v, uint64_t i, struct gguf_value *out)
{
	const struct gguf_node *n;
	struct gguf_node tmp;
	size_t esize;

	if (v->type != GGUF_TYPE_ARRAY || !v->arr.priv || i >= v->arr.n)
		return -EINVAL;
	n = v->arr.priv;
	esize = gguf_scalar_size(n->elem_type);
	if (esize) {
		scalar_decode(n->elem_type, n->raw + i * esize, &tmp);
		node_to_value(&tmp, out);
		return 0;
	}
	if (n->elem_type == GGUF_TYPE_STRING) {
		memset(out, 0, sizeof(*out));
		out->type = GGUF_TYPE_STRING;
		out->str.ptr = n->strs[i].ptr;
		out->str.len = (size_t)n->strs[i].len;
		return 0;
	}
	node_to_value(&n->items[i], out);
	return 0;
}

static int get_value(const struct gguf *g, const char *key, struct gguf_value *v)
{
	ssize_t i = gguf_find_key(g, key);

	if (i < 0)
		return -ENOENT;
	gguf_kv_value(g, (size_t)i, v);
	return 0;
}

int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out)
{
	struct gguf_value v;
	int rc = get_value(g, key, &v);

	if (rc)
		return rc;
	switch (v.type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_UINT64:
	case GGUF_TYPE_BOOL:
		*out = v.u64;
		return 0;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64:
		if (v.i64 < 0)
			return -ERANGE;
		*out = (uint64_t)v.i64;
		return 0;
	default:
		return -EINVAL;
	}
}

int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out)
{
	struct gguf_value v;
	int rc = get_value(g, key, &v);

	if (rc)
		return rc;
	switch (v.type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_UINT64:
	case GGUF_TYPE_BOOL:
		if (v.u64 > (uint64_t)INT64_MAX)
			return -ERANGE;
		*out = (int64_t)v.u64;
		return 0;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64:
		*out = v.i64;
		return 0;
	default:
		return -EINVAL;
	}
}

int gguf_get_f64(const struct gguf *g, const char *key, double *out)
{
	struct gguf_value v;
	int rc = get_value(g, key, &v);

	if (rc)
		return rc;
	switch (v.type) {
	case GGUF_TYPE_FLOAT32:
	case GGUF_TYPE_FLOAT64:
		*out = v.f64;
		return 0;
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_UINT64:
		*out = (double)v.u64;
		return 0;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64:
		*out = (double)v.i64;
		return 0;
	default:
		return -EINVAL;
	}
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out)
{
	struct gguf_value v;
	int rc = get_value(g, key, &v);

	if (rc)
		return rc;
	if (v.type != GGUF_TYPE_BOOL)
		return -EINVAL;
	*out = v.u64 != 0;
	return 0;
}

int gguf_get_str(const struct gguf *g, const char *key, const char **out, size_t *len_out)
{
	struct gguf_value v;
	int rc = get_value(g, key, &v);

	if (rc)
		return rc;
	if (v.type != GGUF_TYPE_STRING)
		return -EINVAL;
	*out = v.str.ptr;
	if (len_out)
		*len_out = v.str.len;
	return 0;
}

int gguf_get_array(const struct gguf *g, const char *key, struct gguf_value *out)
{
	struct gguf_value v;
	int rc = get_value(g, key, &v);

	if (rc)
		return rc;
	if (v.type != GGUF_TYPE_ARRAY)
		return -EINVAL;
	*out = v;
	return 0;
}

const char *gguf_type_name(enum gguf_type t)
{
	static const char *const names[GGUF_TYPE_COUNT] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
		"bool", "string", "array", "uint64", "int64", "float64",
	};

	return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "?";
}

size_t gguf_tensor_count(const struct gguf *g)
{
	return g->n_tensors;
}

const struct gguf_tensor_info *gguf_tensor(const struct gguf *g, size_t i)
{
	return i < g->n_tensors ? &g->tensors[i] : NULL;
}

ssize_t gguf_find_tensor(const struct gguf *g, const char *name)
{
	size_t lo = 0, hi = g->n_tensors;

	if (!name || !g->tensor_sorted)
		return -ENOENT;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gguf_tensor_info *t = g->tensor_sorted[mid];
		int c = strcmp(t->name, name);

		if (c == 0)
			return t - g->tensors;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}
