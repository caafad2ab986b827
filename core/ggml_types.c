/*
 * ggml_types.c - the tensor types of ggml and the file types of llama.cpp.
 *
 * A GGUF tensor info gives a type id and a shape; how many bytes the tensor
 * occupies follows from two numbers per type, the elements in one block
 * and the bytes one block takes.  They are ggml's type_traits (blck_size,
 * type_size) in ggml/src/ggml.c, whose type_size is the sizeof of a block
 * struct in ggml/src/ggml-common.h (github:ggml-org/llama.cpp, read in
 * 2026: the enum in ggml/include/ggml.h runs to GGML_TYPE_Q2_0 = 42).  The
 * struct sizes, worked out from their members with QK_K = 256:
 *
 *   q4_0  d + qs[16]                          = 18 per 32
 *   q4_1  d, m + qs[16]                       = 20 per 32
 *   q5_0  d + qh[4] + qs[16]                  = 22 per 32
 *   q5_1  d, m + qh[4] + qs[16]               = 24 per 32
 *   q8_0  d + qs[32]                          = 34 per 32
 *   q8_1  d, s + qs[32]                       = 36 per 32
 *   q2_K  scales[16] + qs[64] + d, dmin       = 84 per 256
 *   q3_K  hmask[32] + qs[64] + scales[12] + d = 110 per 256
 *   q4_K  d, dmin + scales[12] + qs[128]      = 144 per 256
 *   q5_K  d, dmin + scales[12] + qh[32] + qs[128] = 176 per 256
 *   q6_K  ql[128] + qh[64] + scales[16] + d   = 210 per 256
 *   q8_K  float d + qs[256] + bsums[16] int16 = 292 per 256
 *   iq2_xxs d + qs[32] uint16                 = 66 per 256
 *   iq2_xs  d + qs[32] uint16 + scales[8]     = 74 per 256
 *   iq2_s   d + qs[64] + qh[8] + scales[8]    = 82 per 256
 *   iq3_xxs d + qs[96]                        = 98 per 256
 *   iq3_s   d + qs[64] + qh[8] + signs[32] + scales[4] = 110 per 256
 *   iq1_s   d + qs[32] + qh[8] uint16         = 50 per 256
 *   iq1_m   qs[32] + qh[16] + scales[8]       = 56 per 256
 *   iq4_nl  d + qs[16]                        = 18 per 32
 *   iq4_xs  d + scales_h + scales_l[4] + qs[128] = 136 per 256
 *   tq1_0   qs[48] + qh[4] + d                = 54 per 256
 *   tq2_0   qs[64] + d                        = 66 per 256
 *   mxfp4   e + qs[16]                        = 17 per 32
 *   nvfp4   d[4] + qs[32]                     = 36 per 64
 *   q1_0    d + qs[16]                        = 18 per 128
 *   q2_0    d + qs[16]                        = 18 per 64
 *
 * Ids 4 and 5 (Q4_2, Q4_3), 31-33 (Q4_0_4_4 ...) and 36-38 (IQ4_NL_4_4 ...)
 * were removed from ggml; ggml's table keeps them with a block size of 0
 * and so does not load them, and neither do we: lookups answer NULL.
 *
 * The second table is llama.h's enum llama_ftype, the value of
 * general.file_type: a label for the whole file's mix ("Q4_K_M" is mostly
 * q4_K with some q6_K), not a tensor type.  Its registry name is the name
 * llama-quantize takes, in lowercase.
 *
 * The last piece reads the quant label out of a file name, the way people
 * name GGUF files on the Hub: the label is a token between separators
 * (- . _ or space), in any case, optionally after "UD-" (Unsloth Dynamic),
 * and the last such token in the name wins, because labels come after the
 * model name.
 */
#include "core.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static const struct ggml_type_info ggml_type_table[] = {
	{ GGML_TYPE_F32, "f32", 1, 4, false },
	{ GGML_TYPE_F16, "f16", 1, 2, false },
	{ GGML_TYPE_Q4_0, "q4_0", 32, 18, true },
	{ GGML_TYPE_Q4_1, "q4_1", 32, 20, true },
	{ GGML_TYPE_Q5_0, "q5_0", 32, 22, true },
	{ GGML_TYPE_Q5_1, "q5_1", 32, 24, true },
	{ GGML_TYPE_Q8_0, "q8_0", 32, 34, true },
	{ GGML_TYPE_Q8_1, "q8_1", 32, 36, true },
	{ GGML_TYPE_Q2_K, "q2_K", 256, 84, true },
	{ GGML_TYPE_Q3_K, "q3_K", 256, 110, true },
	{ GGML_TYPE_Q4_K, "q4_K", 256, 144, true },
	{ GGML_TYPE_Q5_K, "q5_K", 256, 176, true },
	{ GGML_TYPE_Q6_K, "q6_K", 256, 210, true },
	{ GGML_TYPE_Q8_K, "q8_K", 256, 292, true },
	{ GGML_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, true },
	{ GGML_TYPE_IQ2_XS, "iq2_xs", 256, 74, true },
	{ GGML_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, true },
	{ GGML_TYPE_IQ1_S, "iq1_s", 256, 50, true },
	{ GGML_TYPE_IQ4_NL, "iq4_nl", 32, 18, true },
	{ GGML_TYPE_IQ3_S, "iq3_s", 256, 110, true },
	{ GGML_TYPE_IQ2_S, "iq2_s", 256, 82, true },
	{ GGML_TYPE_IQ4_XS, "iq4_xs", 256, 136, true },
	{ GGML_TYPE_I8, "i8", 1, 1, false },
	{ GGML_TYPE_I16, "i16", 1, 2, false },
	{ GGML_TYPE_I32, "i32", 1, 4, false },
	{ GGML_TYPE_I64, "i64", 1, 8, false },
	{ GGML_TYPE_F64, "f64", 1, 8, false },
	{ GGML_TYPE_IQ1_M, "iq1_m", 256, 56, true },
	{ GGML_TYPE_BF16, "bf16", 1, 2, false },
	{ GGML_TYPE_TQ1_0, "tq1_0", 256, 54, true },
	{ GGML_TYPE_TQ2_0, "tq2_0", 256, 66, true },
	{ GGML_TYPE_MXFP4, "mxfp4", 32, 17, true },
	{ GGML_TYPE_NVFP4, "nvfp4", 64, 36, true },
	{ GGML_TYPE_Q1_0, "q1_0", 128, 18, true },
	{ GGML_TYPE_Q2_0, "q2_0", 64, 18, true },
};

#define N_TYPES (sizeof(ggml_type_table) / sizeof(ggml_type_table[0]))

struct ftype_entry {
	uint32_t id;              /* llama_ftype */
	const char *name;         /* enum name without LLAMA_FTYPE_ */
	const char *quant;        /* registry name, NULL when removed */
};

static const struct ftype_entry ftype_table[] = {
	{ 0, "ALL_F32", "f32" },
	{ 1, "MOSTLY_F16", "f16" },
	{ 2, "MOSTLY_Q4_0", "q4_0" },
	{ 3, "MOSTLY_Q4_1", "q4_1" },
	{ 4, "MOSTLY_Q4_1_SOME_F16 (removed)", NULL },
	{ 5, "MOSTLY_Q4_2 (removed)", NULL },
	{ 6, "MOSTLY_Q4_3 (removed)", NULL },
	{ 7, "MOSTLY_Q8_0", "q8_0" },
	{ 8, "MOSTLY_Q5_0", "q5_0" },
	{ 9, "MOSTLY_Q5_1", "q5_1" },
	{ 10, "MOSTLY_Q2_K", "q2_k" },
	{ 11, "MOSTLY_Q3_K_S", "q3_k_s" },
	{ 12, "MOSTLY_Q3_K_M", "q3_k_m" },
	{ 13, "MOSTLY_Q3_K_L", "q3_k_l" },
	{ 14, "MOSTLY_Q4_K_S", "q4_k_s" },
	{ 15, "MOSTLY_Q4_K_M", "q4_k_m" },
	{ 16, "MOSTLY_Q5_K_S", "q5_k_s" },
	{ 17, "MOSTLY_Q5_K_M", "q5_k_m" },
	{ 18, "MOSTLY_Q6_K", "q6_k" },
	{ 19, "MOSTLY_IQ2_XXS", "iq2_xxs" },
	{ 20, "MOSTLY_IQ2_XS", "iq2_xs" },
	{ 21, "MOSTLY_Q2_K_S", "q2_k_s" },
	{ 22, "MOSTLY_IQ3_XS", "iq3_xs" },
	{ 23, "MOSTLY_IQ3_XXS", "iq3_xxs" },
	{ 24, "MOSTLY_IQ1_S", "iq1_s" },
	{ 25, "MOSTLY_IQ4_NL", "iq4_nl" },
	{ 26, "MOSTLY_IQ3_S", "iq3_s" },
	{ 27, "MOSTLY_IQ3_M", "iq3_m" },
	{ 28, "MOSTLY_IQ2_S", "iq2_s" },
	{ 29, "MOSTLY_IQ2_M", "iq2_m" },
	{ 30, "MOSTLY_IQ4_XS", "iq4_xs" },
	{ 31, "MOSTLY_IQ1_M", "iq1_m" },
	{ 32, "MOSTLY_BF16", "bf16" },
	{ 33, "MOSTLY_Q4_0_4_4 (removed)", NULL },
	{ 34, "MOSTLY_Q4_0_4_8 (removed)", NULL },
	{ 35, "MOSTLY_Q4_0_8_8 (removed)", NULL },
	{ 36, "MOSTLY_TQ1_0", "tq1_0" },
	{ 37, "MOSTLY_TQ2_0", "tq2_0" },
	{ 38, "MOSTLY_MXFP4_MOE", "mxfp4_moe" },
	{ 39, "MOSTLY_NVFP4", "nvfp4" },
	{ 40, "MOSTLY_Q1_0", "q1_0" },
	{ 41, "MOSTLY_Q2_0", "q2_0" },
	{ 1024, "GUESSED", NULL },
};

#define N_FTYPES (sizeof(ftype_table) / sizeof(ftype_table[0]))

const struct ggml_type_info *ggml_type_by_id(uint32_t id)
{
	size_t i;

	for (i = 0; i < N_TYPES; i++)
		if (ggml_type_table[i].id == id)
			return &ggml_type_table[i];
	return NULL;
}

const struct ggml_type_info *ggml_type_by_name(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < N_TYPES; i++)
		if (strcasecmp(ggml_type_table[i].name, name) == 0)
			return &ggml_type_table[i];
	return NULL;
}

const struct ggml_type_info *ggml_types(size_t *n_out)
{
	*n_out = N_TYPES;
	return ggml_type_table;
}

double ggml_type_bits_per_weight(const struct ggml_type_info *t)
{
	return (double)t->block_bytes * 8.0 / (double)t->block_elems;
}

int ggml_nelements(const uint64_t *ne, unsigned n_dims, uint64_t *out)
{
	uint64_t n = 1;
	unsigned i;

	if (n_dims > GGML_MAX_DIMS)
		return -EINVAL;
	for (i = 0; i < n_dims; i++) {
		if (ne[i] > (uint64_t)INT64_MAX)
			return -EOVERFLOW;
		if (ne[i] != 0 && n > (uint64_t)INT64_MAX / ne[i])
			return -EOVERFLOW;
		n *= ne[i];
	}
	*out = n;
	return 0;
}

int ggml_row_bytes(uint32_t type, uint64_t ne0, uint64_t *out_bytes)
{
	const struct ggml_type_info *t = ggml_type_by_id(type);
	uint64_t blocks;

	if (!t)
		return -EINVAL;
	if (ne0 % t->block_elems)
		return -EINVAL;
	blocks = ne0 / t->block_elems;
	if (blocks > UINT64_MAX / t->block_bytes)
		return -EOVERFLOW;
	*out_bytes = blocks * t->block_bytes;
	return 0;
}

int ggml_tensor_bytes(uint32_t type, const uint64_t *ne, unsigned n_dims, uint64_t *out_bytes)
{
	uint64_t n, bytes, rows = 1;
	unsigned i;
	int rc;

	rc = ggml_nelements(ne, n_dims, &n);
	if (rc)
		return rc;
	rc = ggml_row_bytes(type, n_dims ? ne[0] : 1, &bytes);
	if (rc)
		return rc;
	for (i = 1; i < n_dims; i++)
		rows *= ne[i];
	if (rows && bytes > UINT64_MAX / rows)
		return -EOVERFLOW;
	*out_bytes = bytes * rows;
	return 0;
}

static const struct ftype_entry *ftype_find(uint32_t ftype)
{
	size_t i;

	for (i = 0; i < N_FTYPES; i++)
		if (ftype_table[i].id == ftype)
			return &ftype_table[i];
	return NULL;
}

const char *ggml_ftype_name(uint32_t ftype)
{
	const struct ftype_entry *e = ftype_find(ftype);

	return e ? e->name : NULL;
}

const char *ggml_ftype_quant(uint32_t ftype)
{
	const struct ftype_entry *e = ftype_find(ftype);

	return e ? e->quant : NULL;
}

/*
 * Quant labels as patterns: '#' is one digit, other characters match
 * themselves ASCII case-insensitively.  A label must fill a whole token;
 * when several patterns fit at one place, the longest that ends at a
 * separator wins (so "q4_0_4_4" is not read as "q4_0").  "fp16" and "fp32"
 * are spellings of f16 and f32.
 */
static const char *const quant_patterns[] = {
	"q#_k_xl", "q#_k_xs", "q#_k_s", "q#_k_m", "q#_k_l", "q#_k",
	"q#_#_#_#", "q#_#",
	"iq#_nl_#_#", "iq#_xxs", "iq#_xs", "iq#_nl", "iq#_s", "iq#_m",
	"iq#_k_xl", "iq#_k",
	"tq#_#",
	"mxfp4_moe", "mxfp4", "nvfp4",
	"bf16", "f16", "f32", "fp16", "fp32",
};

static bool quant_is_sep(char c)
{
	return c == '-' || c == '.' || c == '_' || c == ' ';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static size_t quant_pattern_match(const char *pat, const char *s, size_t n)
{
	size_t i;

	for (i = 0; pat[i]; i++) {
		if (i >= n)
			return 0;
		if (pat[i] == '#') {
			if (s[i] < '0' || s[i] > '9')
				return 0;
		} else if (ascii_lower(s[i]) != pat[i]) {
			return 0;
		}
	}
	return i;
}

/* Length of the longest label at s that ends a token, or 0. */
static size_t quant_match_at(const char *s, size_t n)
{
	size_t best = 0, i, len;

	for (i = 0; i < sizeof(quant_patterns) / sizeof(quant_patterns[0]); i++) {
		len = quant_pattern_match(quant_patterns[i], s, n);
		if (len > best && (len == n || quant_is_sep(s[len])))
			best = len;
	}
	return best;
}

static bool quant_has_ud_before(const char *name, size_t pos)
{
	if (pos < 3 || (name[pos - 1] != '-' && name[pos - 1] != '_'))
		return false;
	if (ascii_lower(name[pos - 3]) != 'u' || ascii_lower(name[pos - 2]) != 'd')
		return false;
	return pos == 3 || quant_is_sep(name[pos - 4]);
}

int ggml_quant_from_filename(const char *filename, char *out, size_t out_size)
{
	const char *base, *slash, *label;
	size_t n, i, len, at = 0, label_len = 0, o = 0;
	bool ud, fp;

	if (!filename)
		return -ENOENT;
	slash = strrchr(filename, '/');
	base = slash ? slash + 1 : filename;
	n = strlen(base);
	for (i = 0; i < n; i++) {
		if (i > 0 && !quant_is_sep(base[i - 1]))
			continue;
		len = quant_match_at(base + i, n - i);
		if (len) {
			at = i;
			label_len = len;
		}
	}
	if (!label_len)
		return -ENOENT;
	ud = quant_has_ud_before(base, at);
	label = base + at;
	fp = ascii_lower(label[0]) == 'f' && ascii_lower(label[1]) == 'p';
	if ((ud ? 3 : 0) + label_len - (fp ? 1 : 0) + 1 > out_size)
		return -ERANGE;
	if (ud) {
		memcpy(out, "ud-", 3);
		o = 3;
	}
	for (i = 0; i < label_len; i++) {
		if (fp && i == 1)
			continue;
		out[o++] = ascii_lower(label[i]);
	}
	out[o] = '\0';
	return 0;
}
