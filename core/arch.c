/*
 * arch.c - the normalized architecture (SPEC §4 architecture.json).
 *
 * A model's shape reaches modelfs from up to four places: a GGUF header
 * (exact: it is what llama.cpp will load), the upstream config.json (what
 * transformers would build), the catalog and the user.  struct arch holds
 * the union of what they said, field by field, each with the source it came
 * from, so the estimator can tell an exact KV head count from a default and
 * architecture.json can show where every number came from.
 *
 * One table, arch_fields[], describes every field once: its JSON name, its
 * type and where it lives in struct arch.  The setters, arch_merge(),
 * arch_to_json() and arch_from_json() are loops over that table, so a new
 * field is one enum member, one struct member and one table row.
 *
 * Merging is "first writer wins": the caller merges in order of trust
 * (GGUF, then config.json, then catalog), and a field keeps the value and
 * source of the first source that knew it.  Per-layer arrays belong to
 * their field (num_kv_heads' array moves with num_kv_heads) and are taken
 * only when their length matches the layer count already known.
 *
 * The JSON written is deterministic: fields in the order SPEC §4 lists them,
 * then our additions, then "source", "field_sources" and "warnings"; two
 * space indents and 15 significant digits for reals, as render.c writes
 * every other file.  Integers are capped at 2^53 so every reader, including
 * JavaScript's, sees them exactly.  Warnings are kept to printable ASCII
 * (other bytes become '?') because they may quote GGUF keys from a hostile
 * file, and JSON output must stay valid UTF-8.
 *
 * arch_from_gguf() reads the <arch>.* keys llama.cpp's loader reads (see
 * llama-arch.cpp LLM_KV_NAMES and llama-model.cpp load_hparams); it lives
 * at the end of this file.
 */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define ARCH_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

enum arch_type {
	AT_U64,          /* uint64_t */
	AT_DOUBLE,       /* double, finite */
	AT_NAME,         /* char[], [a-z0-9._-] */
	AT_JSON,         /* char *, a JSON object's compact text */
	AT_BOOL,         /* bool */
	AT_KINDS,        /* no scalar: the layer_kind array */
};

struct arch_field_desc {
	const char *name;        /* JSON key, "ssm.d_state" for nested ones */
	enum arch_type type;
	size_t off;              /* offset of the value in struct arch */
	size_t size;             /* bytes of an AT_NAME buffer */
};

#define AF(f, n, t, m) [f] = { n, t, offsetof(struct arch, m), sizeof(((struct arch *)0)->m) }

static const struct arch_field_desc arch_fields[ARCH_F_COUNT] = {
	AF(ARCH_F_ARCHITECTURE, "architecture", AT_NAME, architecture),
	AF(ARCH_F_NUM_LAYERS, "num_layers", AT_U64, num_layers),
	AF(ARCH_F_HIDDEN_SIZE, "hidden_size", AT_U64, hidden_size),
	AF(ARCH_F_INTERMEDIATE_SIZE, "intermediate_size", AT_U64, intermediate_size),
	AF(ARCH_F_NUM_ATTENTION_HEADS, "num_attention_heads", AT_U64, num_attention_heads),
	AF(ARCH_F_NUM_KV_HEADS, "num_kv_heads", AT_U64, num_kv_heads),
	AF(ARCH_F_HEAD_DIM, "head_dim", AT_U64, head_dim),
	AF(ARCH_F_HEAD_DIM_K, "head_dim_k", AT_U64, head_dim_k),
	AF(ARCH_F_HEAD_DIM_V, "head_dim_v", AT_U64, head_dim_v),
	AF(ARCH_F_VOCAB_SIZE, "vocab_size", AT_U64, vocab_size),
	AF(ARCH_F_CONTEXT_LENGTH, "context_length", AT_U64, context_length),
	AF(ARCH_F_MAX_POSITION_EMBEDDINGS, "max_position_embeddings", AT_U64, max_position_embeddings),
	AF(ARCH_F_ROPE_THETA, "rope_theta", AT_DOUBLE, rope_theta),
	AF(ARCH_F_ROPE_SCALING, "rope_scaling", AT_JSON, rope_scaling),
	AF(ARCH_F_SLIDING_WINDOW, "sliding_window", AT_U64, sliding_window),
	AF(ARCH_F_SLIDING_WINDOW_PATTERN, "sliding_window_pattern", AT_U64, sliding_window_pattern),
	AF(ARCH_F_EXPERT_COUNT, "expert_count", AT_U64, expert_count),
	AF(ARCH_F_EXPERT_USED_COUNT, "expert_used_count", AT_U64, expert_used_count),
	AF(ARCH_F_EXPERT_SHARED_COUNT, "expert_shared_count", AT_U64, expert_shared_count),
	AF(ARCH_F_KV_LORA_RANK, "kv_lora_rank", AT_U64, kv_lora_rank),
	AF(ARCH_F_Q_LORA_RANK, "q_lora_rank", AT_U64, q_lora_rank),
	AF(ARCH_F_ROPE_DIM, "rope_dim", AT_U64, rope_dim),
	AF(ARCH_F_SSM_D_CONV, "ssm.d_conv", AT_U64, ssm.d_conv),
	AF(ARCH_F_SSM_D_INNER, "ssm.d_inner", AT_U64, ssm.d_inner),
	AF(ARCH_F_SSM_D_STATE, "ssm.d_state", AT_U64, ssm.d_state),
	AF(ARCH_F_SSM_DT_RANK, "ssm.dt_rank", AT_U64, ssm.dt_rank),
	AF(ARCH_F_SSM_N_GROUP, "ssm.n_group", AT_U64, ssm.n_group),
	AF(ARCH_F_SSM_HEAD_SIZE, "ssm.head_size", AT_U64, ssm.head_size),
	AF(ARCH_F_VISION_IMAGE_SIZE, "vision.image_size", AT_U64, vision.image_size),
	AF(ARCH_F_VISION_PATCH_SIZE, "vision.patch_size", AT_U64, vision.patch_size),
	AF(ARCH_F_VISION_NUM_LAYERS, "vision.num_layers", AT_U64, vision.num_layers),
	AF(ARCH_F_VISION_HIDDEN_SIZE, "vision.hidden_size", AT_U64, vision.hidden_size),
	AF(ARCH_F_KV_PRECISION, "kv_precision", AT_NAME, kv_precision),
	AF(ARCH_F_QK_NOPE_HEAD_DIM, "qk_nope_head_dim", AT_U64, qk_nope_head_dim),
	AF(ARCH_F_EXPERT_FFN_SIZE, "expert_intermediate_size", AT_U64, expert_ffn_size),
	AF(ARCH_F_EXPERT_SHARED_FFN_SIZE, "expert_shared_intermediate_size", AT_U64, expert_shared_ffn_size),
	AF(ARCH_F_LEADING_DENSE_LAYERS, "leading_dense_layers", AT_U64, leading_dense_layers),
	AF(ARCH_F_TIE_WORD_EMBEDDINGS, "tie_word_embeddings", AT_BOOL, tie_word_embeddings),
	AF(ARCH_F_LAYER_TYPES, "layer_types", AT_KINDS, layer_kind),
};

static const char *const arch_source_names[] = {
	[ARCH_SRC_NONE] = "none",
	[ARCH_SRC_GGUF] = "gguf",
	[ARCH_SRC_CONFIG] = "config.json",
	[ARCH_SRC_CATALOG] = "catalog",
	[ARCH_SRC_MANUAL] = "manual",
	[ARCH_SRC_DERIVED] = "derived",
	[ARCH_SRC_DEFAULT] = "default",
};

static const char *const arch_kind_names[] = {
	[ARCH_LAYER_FULL] = "full_attention",
	[ARCH_LAYER_SLIDING] = "sliding_attention",
	[ARCH_LAYER_CHUNKED] = "chunked_attention",
	[ARCH_LAYER_RECURRENT] = "recurrent",
};

#define ARCH_N_SOURCES (sizeof(arch_source_names) / sizeof(arch_source_names[0]))
#define ARCH_N_KINDS (sizeof(arch_kind_names) / sizeof(arch_kind_names[0]))

void arch_init(struct arch *a)
{
	memset(a, 0, sizeof(*a));
}

void arch_release(struct arch *a)
{
	size_t i;

	free(a->rope_scaling);
	free(a->layer_heads);
	free(a->layer_kv_heads);
	free(a->layer_kind);
	for (i = 0; i < a->n_warnings; i++)
		free(a->warnings[i]);
	free(a->warnings);
	memset(a, 0, sizeof(*a));
}

const char *arch_source_name(enum arch_source s)
{
	if ((size_t)s >= ARCH_N_SOURCES)
		return "none";
	return arch_source_names[s];
}

const char *arch_field_name(enum arch_field f)
{
	if ((size_t)f >= ARCH_F_COUNT)
		return NULL;
	return arch_fields[f].name;
}

static bool arch_source_valid(enum arch_source s)
{
	return (size_t)s < ARCH_N_SOURCES && s != ARCH_SRC_NONE;
}

static void *arch_slot(struct arch *a, enum arch_field f)
{
	return (char *)a + arch_fields[f].off;
}

static const void *arch_cslot(const struct arch *a, enum arch_field f)
{
	return (const char *)a + arch_fields[f].off;
}

static bool arch_name_ok(const char *v, size_t size)
{
	size_t i, n = strlen(v);

	if (n == 0 || n >= size)
		return false;
	for (i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

int arch_set_u64(struct arch *a, enum arch_field f, uint64_t v, enum arch_source s)
{
	if ((size_t)f >= ARCH_F_COUNT || arch_fields[f].type != AT_U64 || !arch_source_valid(s))
		return -EINVAL;
	if (v > ARCH_MAX_VALUE)
		return -EINVAL;
	if (f == ARCH_F_NUM_LAYERS &&
	    (v > ARCH_MAX_LAYERS || (a->n_layer_info && v != a->n_layer_info)))
		return -EINVAL;
	*(uint64_t *)arch_slot(a, f) = v;
	a->src[f] = s;
	return 0;
}

int arch_set_double(struct arch *a, enum arch_field f, double v, enum arch_source s)
{
	if ((size_t)f >= ARCH_F_COUNT || arch_fields[f].type != AT_DOUBLE || !arch_source_valid(s))
		return -EINVAL;
	if (!isfinite(v))
		return -EINVAL;
	*(double *)arch_slot(a, f) = v;
	a->src[f] = s;
	return 0;
}

static int arch_set_bool(struct arch *a, enum arch_field f, bool v, enum arch_source s)
{
	if ((size_t)f >= ARCH_F_COUNT || arch_fields[f].type != AT_BOOL || !arch_source_valid(s))
		return -EINVAL;
	*(bool *)arch_slot(a, f) = v;
	a->src[f] = s;
	return 0;
}

/* Stores a JSON object as compact text; takes nothing, j is borrowed. */
static int arch_set_json_obj(struct arch *a, enum arch_field f, json_t *j, enum arch_source s)
{
	char *text;
	char **slot;

	if (!json_is_object(j))
		return -EINVAL;
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
	if (!text)
		return -ENOMEM;
	slot = arch_slot(a, f);
	free(*slot);
	*slot = text;
	a->src[f] = s;
	return 0;
}

int arch_set_str(struct arch *a, enum arch_field f, const char *v, enum arch_source s)
{
	const struct arch_field_desc *fd;
	json_error_t err;
	json_t *j;
	int rc;

	if ((size_t)f >= ARCH_F_COUNT || !v || !arch_source_valid(s))
		return -EINVAL;
	fd = &arch_fields[f];
	if (fd->type == AT_NAME) {
		if (strlen(v) >= fd->size)
			return -ENAMETOOLONG;
		if (!arch_name_ok(v, fd->size))
			return -EINVAL;
		memcpy(arch_slot(a, f), v, strlen(v) + 1);
		a->src[f] = s;
		return 0;
	}
	if (fd->type != AT_JSON)
		return -EINVAL;
	j = json_loads(v, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		return -EINVAL;
	rc = arch_set_json_obj(a, f, j, s);
	json_decref(j);
	return rc;
}

static uint64_t arch_max_u32(const uint32_t *v, size_t n)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static uint64_t arch_min_u32(const uint32_t *v, size_t n)
{
	uint64_t m = UINT32_MAX;
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static int arch_check_layers(const struct arch *a, size_t n)
{
	if (n == 0 || n > ARCH_MAX_LAYERS)
		return -EINVAL;
	if (a->n_layer_info && n != a->n_layer_info &&
	    (a->layer_heads || a->layer_kv_heads || a->layer_kind))
		return -EINVAL;
	if (arch_has(a, ARCH_F_NUM_LAYERS) && a->num_layers != n)
		return -EINVAL;
	return 0;
}

static int arch_set_layer_u32(struct arch *a, uint32_t **slot, enum arch_field f,
			      const uint32_t *v, size_t n, enum arch_source s)
{
	uint32_t *copy;
	int rc;

	if (!v || !arch_source_valid(s))
		return -EINVAL;
	rc = arch_check_layers(a, n);
	if (rc)
		return rc;
	copy = calloc(n, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, v, n * sizeof(*copy));
	free(*slot);
	*slot = copy;
	a->n_layer_info = n;
	*(uint64_t *)arch_slot(a, f) = arch_max_u32(v, n);
	a->src[f] = s;
	return 0;
}

int arch_set_layer_heads(struct arch *a, const uint32_t *v, size_t n, enum arch_source s)
{
	return arch_set_layer_u32(a, &a->layer_heads, ARCH_F_NUM_ATTENTION_HEADS, v, n, s);
}

int arch_set_layer_kv_heads(struct arch *a, const uint32_t *v, size_t n, enum arch_source s)
{
	return arch_set_layer_u32(a, &a->layer_kv_heads, ARCH_F_NUM_KV_HEADS, v, n, s);
}

int arch_set_layer_kinds(struct arch *a, const uint8_t *kinds, size_t n, enum arch_source s)
{
	uint8_t *copy;
	size_t i;
	int rc;

	if (!kinds || !arch_source_valid(s))
		return -EINVAL;
	rc = arch_check_layers(a, n);
	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		if (kinds[i] >= ARCH_N_KINDS)
			return -EINVAL;
	copy = calloc(n, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, kinds, n);
	free(a->layer_kind);
	a->layer_kind = copy;
	a->n_layer_info = n;
	a->src[ARCH_F_LAYER_TYPES] = s;
	return 0;
}

enum arch_layer_kind arch_layer_kind(const struct arch *a, size_t il)
{
	uint64_t p;

	if (a->layer_kind && il < a->n_layer_info)
		return (enum arch_layer_kind)a->layer_kind[il];
	if ((arch_has(a, ARCH_F_SSM_D_STATE) || arch_has(a, ARCH_F_SSM_HEAD_SIZE)) &&
	    (!arch_has(a, ARCH_F_NUM_KV_HEADS) || a->num_kv_heads == 0))
		return ARCH_LAYER_RECURRENT;
	if (!arch_has(a, ARCH_F_SLIDING_WINDOW) || a->sliding_window == 0)
		return ARCH_LAYER_FULL;
	if (!arch_has(a, ARCH_F_SLIDING_WINDOW_PATTERN) || a->sliding_window_pattern == 0)
		return ARCH_LAYER_SLIDING;
	p = a->sliding_window_pattern;
	return il % p < p - 1 ? ARCH_LAYER_SLIDING : ARCH_LAYER_FULL;
}

static bool arch_has_warning(const struct arch *a, const char *w)
{
	size_t i;

	for (i = 0; i < a->n_warnings; i++)
		if (strcmp(a->warnings[i], w) == 0)
			return true;
	return false;
}

/* Takes ownership of w (already sanitized). */
static int arch_warn_take(struct arch *a, char *w)
{
	char **grown;

	if (a->n_warnings >= ARCH_MAX_WARNINGS || arch_has_warning(a, w)) {
		free(w);
		return 0;
	}
	grown = realloc(a->warnings, (a->n_warnings + 1) * sizeof(*grown));
	if (!grown) {
		free(w);
		return -ENOMEM;
	}
	a->warnings = grown;
	a->warnings[a->n_warnings++] = w;
	return 0;
}

int arch_warn(struct arch *a, const char *fmt, ...)
{
	char buf[DIAG_MSG_MAX];
	va_list ap;
	char *w;
	size_t i;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	for (i = 0; buf[i]; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
			buf[i] = '?';
	w = strdup(buf);
	if (!w)
		return -ENOMEM;
	return arch_warn_take(a, w);
}

static int arch_copy_field(struct arch *dst, const struct arch *fill, enum arch_field f)
{
	const struct arch_field_desc *fd = &arch_fields[f];
	const void *from = arch_cslot(fill, f);
	void *to = arch_slot(dst, f);

	switch (fd->type) {
	case AT_U64:
		if (f == ARCH_F_NUM_LAYERS && dst->n_layer_info &&
		    *(const uint64_t *)from != dst->n_layer_info)
			return 0;
		*(uint64_t *)to = *(const uint64_t *)from;
		break;
	case AT_DOUBLE:
		*(double *)to = *(const double *)from;
		break;
	case AT_BOOL:
		*(bool *)to = *(const bool *)from;
		break;
	case AT_NAME:
		memcpy(to, from, fd->size);
		break;
	case AT_JSON: {
		const char *text = *(char *const *)from;
		char *copy = text ? strdup(text) : NULL;

		if (!copy)
			return text ? -ENOMEM : 0;
		free(*(char **)to);
		*(char **)to = copy;
		break;
	}
	case AT_KINDS:
		return 0;
	}
	dst->src[f] = fill->src[f];
	return 0;
}

static bool arch_layers_fit(const struct arch *dst, const struct arch *fill)
{
	if (dst->n_layer_info && (dst->layer_heads || dst->layer_kv_heads || dst->layer_kind))
		return dst->n_layer_info == fill->n_layer_info;
	return !arch_has(dst, ARCH_F_NUM_LAYERS) || dst->num_layers == fill->n_layer_info;
}

int arch_merge(struct arch *dst, const struct arch *fill)
{
	size_t f, i;
	int rc;

	for (f = 0; f < ARCH_F_COUNT; f++) {
		if (arch_has(dst, f) || !arch_has(fill, f))
			continue;
		if (f == ARCH_F_NUM_ATTENTION_HEADS && fill->layer_heads) {
			if (!arch_layers_fit(dst, fill))
				continue;
			rc = arch_set_layer_heads(dst, fill->layer_heads, fill->n_layer_info, fill->src[f]);
		} else if (f == ARCH_F_NUM_KV_HEADS && fill->layer_kv_heads) {
			if (!arch_layers_fit(dst, fill))
				continue;
			rc = arch_set_layer_kv_heads(dst, fill->layer_kv_heads, fill->n_layer_info,
						     fill->src[f]);
		} else if (f == ARCH_F_LAYER_TYPES) {
			if (!fill->layer_kind || !arch_layers_fit(dst, fill))
				continue;
			rc = arch_set_layer_kinds(dst, fill->layer_kind, fill->n_layer_info, fill->src[f]);
		} else {
			rc = arch_copy_field(dst, fill, f);
		}
		if (rc)
			return rc;
	}
	for (i = 0; i < fill->n_warnings; i++) {
		char *w;

		if (arch_has_warning(dst, fill->warnings[i]))
			continue;
		w = strdup(fill->warnings[i]);
		if (!w)
			return -ENOMEM;
		rc = arch_warn_take(dst, w);
		if (rc)
			return rc;
	}
	arch_update_source(dst);
	return 0;
}

static enum arch_source arch_overall(const enum arch_source *src)
{
	static const enum arch_source order[] = { ARCH_SRC_CONFIG, ARCH_SRC_CATALOG, ARCH_SRC_MANUAL };
	size_t count[ARCH_N_SOURCES] = { 0 };
	enum arch_source s = ARCH_SRC_NONE;
	size_t f, i, best = 0;

	for (f = 0; f < ARCH_F_COUNT; f++)
		if ((size_t)src[f] < ARCH_N_SOURCES)
			count[src[f]]++;
	if (count[ARCH_SRC_GGUF])
		return ARCH_SRC_GGUF;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (count[order[i]] > best) {
			best = count[order[i]];
			s = order[i];
		}
	}
	return s;
}

void arch_update_source(struct arch *a)
{
	a->source = arch_overall(a->src);
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

static json_t *arch_u32_array(const uint32_t *v, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	if (!arr)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(arr, json_integer(v[i]))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *arch_kinds_array(const uint8_t *v, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	if (!arr)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *name = v[i] < ARCH_N_KINDS ? arch_kind_names[v[i]] : "full_attention";

		if (json_array_append_new(arr, json_string(name))) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *arch_value_json(const struct arch *a, enum arch_field f)
{
	const void *p = arch_cslot(a, f);

	if (f == ARCH_F_NUM_ATTENTION_HEADS && a->layer_heads)
		return arch_u32_array(a->layer_heads, a->n_layer_info);
	if (f == ARCH_F_NUM_KV_HEADS && a->layer_kv_heads)
		return arch_u32_array(a->layer_kv_heads, a->n_layer_info);
	switch (arch_fields[f].type) {
	case AT_U64:
		return json_integer((json_int_t)*(const uint64_t *)p);
	case AT_DOUBLE:
		return json_real(*(const double *)p);
	case AT_NAME:
		return json_string((const char *)p);
	case AT_BOOL:
		return json_boolean(*(const bool *)p);
	case AT_JSON: {
		const char *text = *(char *const *)p;

		return text ? json_loads(text, 0, NULL) : NULL;
	}
	case AT_KINDS:
		return a->layer_kind ? arch_kinds_array(a->layer_kind, a->n_layer_info) : NULL;
	}
	return NULL;
}

/* Sets key in obj, or in obj's sub-object for a "sub.key" name. */
static int arch_json_put(json_t *obj, const char *name, json_t *val)
{
	const char *dot = strchr(name, '.');
	char sub[16];
	json_t *child;

	if (!val)
		return -ENOMEM;
	if (!dot)
		return json_object_set_new(obj, name, val) ? -ENOMEM : 0;
	if ((size_t)(dot - name) >= sizeof(sub)) {
		json_decref(val);
		return -EINVAL;
	}
	memcpy(sub, name, (size_t)(dot - name));
	sub[dot - name] = '\0';
	child = json_object_get(obj, sub);
	if (!child) {
		child = json_object();
		if (!child || json_object_set_new(obj, sub, child)) {
			json_decref(val);
			return -ENOMEM;
		}
	}
	return json_object_set_new(child, dot + 1, val) ? -ENOMEM : 0;
}

static int arch_dump_cb(const char *buf, size_t size, void *data)
{
	return sbuf_add(data, buf, size) ? -1 : 0;
}

int arch_to_json(const struct arch *a, struct sbuf *out)
{
	json_t *root, *sources = NULL, *warnings = NULL;
	size_t f, i;
	int rc = -ENOMEM;

	root = json_object();
	sources = json_object();
	warnings = json_array();
	if (!root || !sources || !warnings)
		goto out_free;
	for (f = 0; f < ARCH_F_COUNT; f++) {
		if (!arch_has(a, f))
			continue;
		if (f == ARCH_F_LAYER_TYPES && !a->layer_kind)
			continue;
		rc = arch_json_put(root, arch_fields[f].name, arch_value_json(a, f));
		if (rc)
			goto out_free;
		if (json_object_set_new(sources, arch_fields[f].name,
					json_string(arch_source_name(a->src[f])))) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	for (i = 0; i < a->n_warnings; i++) {
		if (json_array_append_new(warnings, json_string(a->warnings[i]))) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	if (json_object_set_new(root, "source", json_string(arch_source_name(arch_overall(a->src)))) ||
	    json_object_set(root, "field_sources", sources) ||
	    json_object_set(root, "warnings", warnings)) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (json_dump_callback(root, arch_dump_cb, out, ARCH_JSON_FLAGS) != 0 || sbuf_addch(out, '\n'))
		rc = out->err ? out->err : -ENOMEM;
	else
		rc = 0;
out_free:
	json_decref(warnings);
	json_decref(sources);
	json_decref(root);
	return rc;
}

static enum arch_source arch_source_parse(const char *s)
{
	size_t i;

	for (i = 1; s && i < ARCH_N_SOURCES; i++)
		if (strcmp(s, arch_source_names[i]) == 0)
			return (enum arch_source)i;
	return ARCH_SRC_NONE;
}

static json_t *arch_json_lookup(json_t *root, const char *name)
{
	const char *dot = strchr(name, '.');
	char sub[16];
	json_t *child;

	if (!dot)
		return json_object_get(root, name);
	if ((size_t)(dot - name) >= sizeof(sub))
		return NULL;
	memcpy(sub, name, (size_t)(dot - name));
	sub[dot - name] = '\0';
	child = json_object_get(root, sub);
	return json_is_object(child) ? json_object_get(child, dot + 1) : NULL;
}

static int arch_json_u64(json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > ARCH_MAX_VALUE)
			return -EBADMSG;
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	return -EBADMSG;
}

static int arch_json_layers(json_t *v, uint32_t **out, size_t *n_out)
{
	size_t i, n = json_array_size(v);
	uint32_t *arr;
	uint64_t x = 0;

	if (n == 0 || n > ARCH_MAX_LAYERS)
		return -EBADMSG;
	arr = calloc(n, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (arch_json_u64(json_array_get(v, i), &x) || x > UINT32_MAX) {
			free(arr);
			return -EBADMSG;
		}
		arr[i] = (uint32_t)x;
	}
	*out = arr;
	*n_out = n;
	return 0;
}

static int arch_json_kinds(json_t *v, uint8_t **out, size_t *n_out)
{
	size_t i, k, n = json_array_size(v);
	uint8_t *arr;

	if (n == 0 || n > ARCH_MAX_LAYERS)
		return -EBADMSG;
	arr = calloc(n, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(v, i));

		for (k = 0; s && k < ARCH_N_KINDS; k++)
			if (strcmp(s, arch_kind_names[k]) == 0)
				break;
		if (!s || k == ARCH_N_KINDS) {
			free(arr);
			return -EBADMSG;
		}
		arr[i] = (uint8_t)k;
	}
	*out = arr;
	*n_out = n;
	return 0;
}

static int arch_from_json_field(struct arch *a, enum arch_field f, json_t *v, enum arch_source s)
{
	const struct arch_field_desc *fd = &arch_fields[f];
	uint32_t *layers = NULL;
	uint8_t *kinds = NULL;
	size_t n = 0;
	uint64_t u = 0;
	int rc;

	if ((f == ARCH_F_NUM_ATTENTION_HEADS || f == ARCH_F_NUM_KV_HEADS) && json_is_array(v)) {
		rc = arch_json_layers(v, &layers, &n);
		if (rc)
			return rc;
		rc = f == ARCH_F_NUM_KV_HEADS ? arch_set_layer_kv_heads(a, layers, n, s)
					      : arch_set_layer_heads(a, layers, n, s);
		free(layers);
		return rc == -EINVAL ? -EBADMSG : rc;
	}
	switch (fd->type) {
	case AT_U64:
		rc = arch_json_u64(v, &u);
		if (rc)
			return rc;
		rc = arch_set_u64(a, f, u, s);
		break;
	case AT_DOUBLE:
		if (!json_is_number(v))
			return -EBADMSG;
		rc = arch_set_double(a, f, json_number_value(v), s);
		break;
	case AT_NAME:
		if (!json_is_string(v))
			return -EBADMSG;
		rc = arch_set_str(a, f, json_string_value(v), s);
		break;
	case AT_BOOL:
		if (!json_is_boolean(v))
			return -EBADMSG;
		rc = arch_set_bool(a, f, json_is_true(v), s);
		break;
	case AT_JSON:
		rc = arch_set_json_obj(a, f, v, s);
		break;
	case AT_KINDS:
		if (!json_is_array(v))
			return -EBADMSG;
		rc = arch_json_kinds(v, &kinds, &n);
		if (rc)
			return rc;
		rc = arch_set_layer_kinds(a, kinds, n, s);
		free(kinds);
		break;
	default:
		rc = -EINVAL;
	}
	return rc == -EINVAL || rc == -ENAMETOOLONG ? -EBADMSG : rc;
}

int arch_from_json(const char *json, size_t len, enum arch_source dflt, struct arch *out,
		   struct diag *d)
{
	json_t *root, *sources, *warnings, *v;
	enum arch_source overall, s;
	json_error_t err;
	struct arch tmp;
	size_t f, i;
	int rc = 0;

	if (!json || !out)
		return -EINVAL;
	if (len > CAP_CONFIG_JSON_BYTES)
		return diag_fail(d, -EFBIG, "architecture JSON of %zu bytes is over the %u-byte limit",
				 len, CAP_CONFIG_JSON_BYTES);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!root)
		return MALFORMED(d, "architecture JSON does not parse: %s (line %d)", err.text, err.line);
	if (!json_is_object(root)) {
		rc = MALFORMED(d, "architecture JSON is not an object");
		goto out_json;
	}
	overall = arch_source_parse(json_string_value(json_object_get(root, "source")));
	if (overall == ARCH_SRC_NONE)
		overall = dflt;
	if (!arch_source_valid(overall))
		overall = ARCH_SRC_MANUAL;
	sources = json_object_get(root, "field_sources");
	arch_init(&tmp);
	for (f = 0; f < ARCH_F_COUNT; f++) {
		v = arch_json_lookup(root, arch_fields[f].name);
		if (!v || json_is_null(v))
			continue;
		s = arch_source_parse(json_string_value(json_object_get(sources, arch_fields[f].name)));
		if (s == ARCH_SRC_NONE)
			s = overall;
		rc = arch_from_json_field(&tmp, f, v, s);
		if (rc == -EBADMSG) {
			rc = MALFORMED(d, "architecture field '%s' has a wrong type or value",
				       arch_fields[f].name);
			goto out_free;
		}
		if (rc)
			goto out_free;
	}
	warnings = json_object_get(root, "warnings");
	if (warnings && !json_is_array(warnings)) {
		rc = MALFORMED(d, "architecture field 'warnings' is not a list");
		goto out_free;
	}
	for (i = 0; i < json_array_size(warnings); i++) {
		const char *w = json_string_value(json_array_get(warnings, i));

		if (!w) {
			rc = MALFORMED(d, "architecture field 'warnings' holds a non-string");
			goto out_free;
		}
		rc = arch_warn(&tmp, "%s", w);
		if (rc)
			goto out_free;
	}
	rc = arch_merge(out, &tmp);
out_free:
	arch_release(&tmp);
out_json:
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------------------
 * From a GGUF header
 * ------------------------------------------------------------------------ */

struct arch_gguf {
	const struct gguf *g;
	const char *name;        /* general.architecture */
	struct arch *a;
	struct diag *d;
};

/* "<arch>.<suffix>", or the suffix itself when it starts with '@'. */
static const char *arch_gguf_key(const struct arch_gguf *x, const char *suffix, char *buf, size_t size)
{
	if (suffix[0] == '@')
		return suffix + 1;
	snprintf(buf, size, "%s.%s", x->name, suffix);
	return buf;
}

/* 1 found, 0 absent, -EBADMSG wrong type. */
static int arch_gguf_u64(const struct arch_gguf *x, const char *suffix, uint64_t *out)
{
	char buf[128];
	const char *key = arch_gguf_key(x, suffix, buf, sizeof(buf));
	struct gguf_value v;
	ssize_t i;
	int rc;

	rc = gguf_get_u64(x->g, key, out);
	if (rc == 0)
		return 1;
	if (rc == -ENOENT)
		return 0;
	i = gguf_find_key(x->g, key);
	if (i >= 0)
		gguf_kv_value(x->g, (size_t)i, &v);
	return MALFORMED(x->d, "GGUF key '%s' must be a non-negative integer, not %s", key,
			 i >= 0 ? gguf_type_name(v.type) : "?");
}

static int arch_gguf_f64(const struct arch_gguf *x, const char *suffix, double *out)
{
	char buf[128];
	const char *key = arch_gguf_key(x, suffix, buf, sizeof(buf));
	int rc;

	rc = gguf_get_f64(x->g, key, out);
	if (rc == 0 && isfinite(*out))
		return 1;
	if (rc == -ENOENT)
		return 0;
	return MALFORMED(x->d, "GGUF key '%s' must be a finite number", key);
}

/* Sets an integer field from a key; 0 leaves it absent when zero_is_none. */
static int arch_gguf_field(struct arch_gguf *x, enum arch_field f, const char *suffix, bool zero_is_none)
{
	uint64_t v = 0;
	int rc;

	if (arch_has(x->a, f))
		return 0;
	rc = arch_gguf_u64(x, suffix, &v);
	if (rc <= 0 || (zero_is_none && v == 0))
		return rc < 0 ? rc : 0;
	rc = arch_set_u64(x->a, f, v, ARCH_SRC_GGUF);
	if (rc == -EINVAL)
		return MALFORMED(x->d, "GGUF key '%s.%s' is out of range", x->name, suffix);
	return rc;
}

/* An integer value from an array item. */
static int arch_gguf_item_u64(const struct gguf_value *v, uint64_t *out)
{
	switch (v->type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_UINT64:
	case GGUF_TYPE_BOOL:
		*out = v->u64;
		return 0;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64:
		if (v->i64 < 0)
			return -ERANGE;
		*out = (uint64_t)v->i64;
		return 0;
	default:
		return -EINVAL;
	}
}

/* A per-layer integer array: 1 read into *out (new, n_layers entries),
 * 0 absent or a scalar, -EBADMSG malformed. */
static int arch_gguf_layers(struct arch_gguf *x, const char *suffix, uint32_t **out)
{
	char buf[128];
	const char *key = arch_gguf_key(x, suffix, buf, sizeof(buf));
	struct gguf_value arr, item;
	uint32_t *v;
	uint64_t i, u;
	int rc;

	rc = gguf_get_array(x->g, key, &arr);
	if (rc)
		return 0;
	if (!arch_has(x->a, ARCH_F_NUM_LAYERS) || arr.arr.n != x->a->num_layers)
		return MALFORMED(x->d, "GGUF key '%s' has %llu entries, not one per layer", key,
				 (unsigned long long)arr.arr.n);
	v = calloc((size_t)arr.arr.n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < arr.arr.n; i++) {
		if (gguf_array_item(&arr, i, &item) || arch_gguf_item_u64(&item, &u) || u > UINT32_MAX) {
			free(v);
			return MALFORMED(x->d, "GGUF key '%s' must hold non-negative integers", key);
		}
		v[i] = (uint32_t)u;
	}
	*out = v;
	return 1;
}

static int arch_gguf_heads(struct arch_gguf *x)
{
	uint32_t *v = NULL;
	int rc;

	rc = arch_gguf_layers(x, "attention.head_count", &v);
	if (rc > 0) {
		rc = arch_max_u32(v, x->a->num_layers) == arch_min_u32(v, x->a->num_layers)
			? arch_set_u64(x->a, ARCH_F_NUM_ATTENTION_HEADS, v[0], ARCH_SRC_GGUF)
			: arch_set_layer_heads(x->a, v, x->a->num_layers, ARCH_SRC_GGUF);
		free(v);
	} else if (rc == 0) {
		rc = arch_gguf_field(x, ARCH_F_NUM_ATTENTION_HEADS, "attention.head_count", false);
	}
	if (rc < 0)
		return rc;
	v = NULL;
	rc = arch_gguf_layers(x, "attention.head_count_kv", &v);
	if (rc > 0) {
		rc = arch_max_u32(v, x->a->num_layers) == arch_min_u32(v, x->a->num_layers)
			? arch_set_u64(x->a, ARCH_F_NUM_KV_HEADS, v[0], ARCH_SRC_GGUF)
			: arch_set_layer_kv_heads(x->a, v, x->a->num_layers, ARCH_SRC_GGUF);
		free(v);
	} else if (rc == 0) {
		rc = arch_gguf_field(x, ARCH_F_NUM_KV_HEADS, "attention.head_count_kv", false);
	}
	return rc < 0 ? rc : 0;
}

static int arch_gguf_head_dims(struct arch_gguf *x)
{
	struct arch *a = x->a;
	uint64_t k = 0, v = 0;
	int rc, has_k, has_v;

	has_k = arch_gguf_u64(x, "attention.key_length_mla", &k);
	if (has_k < 0)
		return has_k;
	has_v = arch_gguf_u64(x, "attention.value_length_mla", &v);
	if (has_v < 0)
		return has_v;
	if (!has_k) {
		has_k = arch_gguf_u64(x, "attention.key_length", &k);
		if (has_k < 0)
			return has_k;
		has_v = arch_gguf_u64(x, "attention.value_length", &v);
		if (has_v < 0)
			return has_v;
	}
	if (has_k && k) {
		rc = arch_set_u64(a, ARCH_F_HEAD_DIM_K, k, ARCH_SRC_GGUF);
		if (rc)
			return rc == -EINVAL ? MALFORMED(x->d, "GGUF key length is out of range") : rc;
	}
	if (has_v && v) {
		rc = arch_set_u64(a, ARCH_F_HEAD_DIM_V, v, ARCH_SRC_GGUF);
		if (rc)
			return rc == -EINVAL ? MALFORMED(x->d, "GGUF value length is out of range") : rc;
	}
	if (!arch_has(a, ARCH_F_HEAD_DIM_K) && !arch_has(a, ARCH_F_KV_LORA_RANK) &&
	    arch_has(a, ARCH_F_HIDDEN_SIZE) && arch_has(a, ARCH_F_NUM_ATTENTION_HEADS) &&
	    !a->layer_heads && a->num_attention_heads > 0 &&
	    a->hidden_size % a->num_attention_heads == 0) {
		rc = arch_set_u64(a, ARCH_F_HEAD_DIM_K, a->hidden_size / a->num_attention_heads,
				  ARCH_SRC_DERIVED);
		if (rc)
			return rc;
	}
	if (arch_has(a, ARCH_F_HEAD_DIM_K) && !arch_has(a, ARCH_F_HEAD_DIM_V) &&
	    !arch_has(a, ARCH_F_KV_LORA_RANK)) {
		rc = arch_set_u64(a, ARCH_F_HEAD_DIM_V, a->head_dim_k, a->src[ARCH_F_HEAD_DIM_K]);
		if (rc)
			return rc;
	}
	if (arch_has(a, ARCH_F_HEAD_DIM_K) && arch_has(a, ARCH_F_HEAD_DIM_V) &&
	    a->head_dim_k == a->head_dim_v) {
		rc = arch_set_u64(a, ARCH_F_HEAD_DIM, a->head_dim_k,
				  a->src[ARCH_F_HEAD_DIM_K] == ARCH_SRC_GGUF ? ARCH_SRC_GGUF : ARCH_SRC_DERIVED);
		if (rc)
			return rc;
	}
	if (arch_has(a, ARCH_F_KV_LORA_RANK) && arch_has(a, ARCH_F_HEAD_DIM_K) &&
	    arch_has(a, ARCH_F_ROPE_DIM) && a->head_dim_k > a->rope_dim)
		return arch_set_u64(a, ARCH_F_QK_NOPE_HEAD_DIM, a->head_dim_k - a->rope_dim, ARCH_SRC_DERIVED);
	return 0;
}

static int arch_gguf_rope_scaling(struct arch_gguf *x)
{
	static const struct { const char *suffix; const char *name; } keys[] = {
		{ "rope.scaling.factor", "factor" },
		{ "rope.scaling.original_context_length", "original_max_position_embeddings" },
		{ "rope.scaling.attn_factor", "attn_factor" },
		{ "rope.scaling.yarn_log_multiplier", "yarn_log_multiplier" },
		{ "rope.scaling.yarn_beta_fast", "beta_fast" },
		{ "rope.scaling.yarn_beta_slow", "beta_slow" },
	};
	char buf[128];
	const char *type = NULL;
	json_t *obj;
	double v;
	size_t i;
	int rc;

	rc = gguf_get_str(x->g, arch_gguf_key(x, "rope.scaling.type", buf, sizeof(buf)), &type, NULL);
	if (rc == -ENOENT || (rc == 0 && strcmp(type, "none") == 0))
		return 0;
	if (rc || !arch_name_ok(type, 64))
		return MALFORMED(x->d, "GGUF key '%s' must be a rope scaling name", buf);
	obj = json_pack("{s:s}", "rope_type", type);
	if (!obj)
		return -ENOMEM;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		rc = arch_gguf_f64(x, keys[i].suffix, &v);
		if (rc < 0)
			goto out_free;
		if (rc > 0 && json_object_set_new(obj, keys[i].name, json_real(v))) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	rc = arch_set_json_obj(x->a, ARCH_F_ROPE_SCALING, obj, ARCH_SRC_GGUF);
out_free:
	json_decref(obj);
	return rc < 0 ? rc : 0;
}

/* llama.cpp's llama-model.cpp fixes the pattern in code for these. */
static uint64_t arch_gguf_fixed_pattern(const char *name)
{
	static const struct { const char *arch; uint64_t pattern; } fixed[] = {
		{ "gemma2", 2 }, { "gemma3", 6 }, { "cohere2", 4 }, { "gpt-oss", 2 },
	};
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (strcmp(fixed[i].arch, name) == 0)
			return fixed[i].pattern;
	return 0;
}

static int arch_gguf_windows(struct arch_gguf *x)
{
	struct arch *a = x->a;
	struct gguf_value arr, item;
	char buf[128];
	uint8_t *kinds;
	uint64_t i, u, p;
	int rc;

	rc = arch_gguf_field(x, ARCH_F_SLIDING_WINDOW, "attention.sliding_window", true);
	if (rc < 0 || !arch_has(a, ARCH_F_SLIDING_WINDOW))
		return rc;
	if (gguf_get_array(x->g, arch_gguf_key(x, "attention.sliding_window_pattern", buf, sizeof(buf)),
			   &arr) == 0) {
		if (!arch_has(a, ARCH_F_NUM_LAYERS) || arr.arr.n != a->num_layers)
			return MALFORMED(x->d, "GGUF key '%s' has %llu entries, not one per layer", buf,
					 (unsigned long long)arr.arr.n);
		kinds = calloc((size_t)arr.arr.n, sizeof(*kinds));
		if (!kinds)
			return -ENOMEM;
		for (i = 0; i < arr.arr.n; i++) {
			if (gguf_array_item(&arr, i, &item) || arch_gguf_item_u64(&item, &u)) {
				free(kinds);
				return MALFORMED(x->d, "GGUF key '%s' must hold booleans", buf);
			}
			kinds[i] = u ? ARCH_LAYER_SLIDING : ARCH_LAYER_FULL;
		}
		rc = arch_set_layer_kinds(a, kinds, (size_t)arr.arr.n, ARCH_SRC_GGUF);
		free(kinds);
		return rc;
	}
	rc = arch_gguf_field(x, ARCH_F_SLIDING_WINDOW_PATTERN, "attention.sliding_window_pattern", true);
	if (rc < 0 || arch_has(a, ARCH_F_SLIDING_WINDOW_PATTERN))
		return rc;
	p = arch_gguf_fixed_pattern(x->name);
	return p ? arch_set_u64(a, ARCH_F_SLIDING_WINDOW_PATTERN, p, ARCH_SRC_DERIVED) : 0;
}

/* Hybrids (Jamba, Granite 4, LFM2 ...): a layer with no KV heads is recurrent. */
static int arch_gguf_hybrid(struct arch_gguf *x)
{
	struct arch *a = x->a;
	uint8_t *kinds;
	size_t i, n = a->n_layer_info;
	int rc;

	if (!a->layer_kv_heads || a->layer_kind || strcmp(x->name, "nemotron_h") == 0)
		return 0;
	kinds = calloc(n, sizeof(*kinds));
	if (!kinds)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		kinds[i] = a->layer_kv_heads[i] ? ARCH_LAYER_FULL : ARCH_LAYER_RECURRENT;
	rc = arch_set_layer_kinds(a, kinds, n, ARCH_SRC_DERIVED);
	free(kinds);
	return rc;
}

static int arch_gguf_vocab(struct arch_gguf *x)
{
	struct gguf_value arr;
	const struct gguf_tensor_info *t;
	ssize_t i;
	int rc;

	rc = arch_gguf_field(x, ARCH_F_VOCAB_SIZE, "vocab_size", true);
	if (rc < 0 || arch_has(x->a, ARCH_F_VOCAB_SIZE))
		return rc;
	if (gguf_get_array(x->g, "tokenizer.ggml.tokens", &arr) == 0 && arr.arr.n > 0)
		return arch_set_u64(x->a, ARCH_F_VOCAB_SIZE, arr.arr.n, ARCH_SRC_GGUF);
	i = gguf_find_tensor(x->g, "token_embd.weight");
	t = i >= 0 ? gguf_tensor(x->g, (size_t)i) : NULL;
	if (t && t->n_dims == 2 && t->ne[1] > 0)
		return arch_set_u64(x->a, ARCH_F_VOCAB_SIZE, t->ne[1], ARCH_SRC_GGUF);
	return 0;
}

static int arch_gguf_vision(struct arch_gguf *x)
{
	int rc;

	rc = arch_gguf_field(x, ARCH_F_VISION_IMAGE_SIZE, "@clip.vision.image_size", true);
	if (rc == 0)
		rc = arch_gguf_field(x, ARCH_F_VISION_PATCH_SIZE, "@clip.vision.patch_size", true);
	if (rc == 0)
		rc = arch_gguf_field(x, ARCH_F_VISION_NUM_LAYERS, "@clip.vision.block_count", true);
	if (rc == 0)
		rc = arch_gguf_field(x, ARCH_F_VISION_HIDDEN_SIZE, "@clip.vision.embedding_length", true);
	return rc;
}

static int arch_gguf_read(struct arch_gguf *x)
{
	static const struct { enum arch_field f; const char *suffix; bool zero_is_none; } simple[] = {
		{ ARCH_F_HIDDEN_SIZE, "embedding_length", true },
		{ ARCH_F_CONTEXT_LENGTH, "context_length", true },
		{ ARCH_F_MAX_POSITION_EMBEDDINGS, "context_length", true },
		{ ARCH_F_ROPE_DIM, "rope.dimension_count", true },
		{ ARCH_F_EXPERT_COUNT, "expert_count", true },
		{ ARCH_F_EXPERT_USED_COUNT, "expert_used_count", true },
		{ ARCH_F_EXPERT_SHARED_COUNT, "expert_shared_count", true },
		{ ARCH_F_EXPERT_FFN_SIZE, "expert_feed_forward_length", true },
		{ ARCH_F_EXPERT_SHARED_FFN_SIZE, "expert_shared_feed_forward_length", true },
		{ ARCH_F_LEADING_DENSE_LAYERS, "leading_dense_block_count", false },
		{ ARCH_F_KV_LORA_RANK, "attention.kv_lora_rank", true },
		{ ARCH_F_Q_LORA_RANK, "attention.q_lora_rank", true },
		{ ARCH_F_SSM_D_CONV, "ssm.conv_kernel", true },
		{ ARCH_F_SSM_D_INNER, "ssm.inner_size", true },
		{ ARCH_F_SSM_D_STATE, "ssm.state_size", true },
		{ ARCH_F_SSM_DT_RANK, "ssm.time_step_rank", true },
		{ ARCH_F_SSM_N_GROUP, "ssm.group_count", true },
		{ ARCH_F_SSM_HEAD_SIZE, "wkv.head_size", true },
	};
	uint32_t *ffn = NULL;
	double theta;
	size_t i;
	int rc;

	rc = arch_gguf_field(x, ARCH_F_NUM_LAYERS, "block_count", false);
	for (i = 0; rc == 0 && i < sizeof(simple) / sizeof(simple[0]); i++)
		rc = arch_gguf_field(x, simple[i].f, simple[i].suffix, simple[i].zero_is_none);
	if (rc < 0)
		return rc;
	rc = arch_gguf_layers(x, "feed_forward_length", &ffn);
	if (rc > 0) {
		if (arch_max_u32(ffn, x->a->num_layers) == arch_min_u32(ffn, x->a->num_layers) && ffn[0])
			rc = arch_set_u64(x->a, ARCH_F_INTERMEDIATE_SIZE, ffn[0], ARCH_SRC_GGUF);
		free(ffn);
	} else if (rc == 0) {
		rc = arch_gguf_field(x, ARCH_F_INTERMEDIATE_SIZE, "feed_forward_length", true);
	}
	if (rc < 0)
		return rc;
	rc = arch_gguf_heads(x);
	if (rc == 0)
		rc = arch_gguf_head_dims(x);
	if (rc < 0)
		return rc;
	rc = arch_gguf_f64(x, "rope.freq_base", &theta);
	if (rc > 0 && theta > 0)
		rc = arch_set_double(x->a, ARCH_F_ROPE_THETA, theta, ARCH_SRC_GGUF);
	if (rc >= 0)
		rc = arch_gguf_rope_scaling(x);
	if (rc == 0)
		rc = arch_gguf_windows(x);
	if (rc == 0)
		rc = arch_gguf_hybrid(x);
	if (rc == 0)
		rc = arch_gguf_vocab(x);
	if (rc == 0 && strcmp(x->name, "clip") == 0)
		rc = arch_gguf_vision(x);
	if (rc == 0 && gguf_tensor_count(x->g) > 0 && gguf_find_tensor(x->g, "token_embd.weight") >= 0) {
		x->a->tie_word_embeddings = gguf_find_tensor(x->g, "output.weight") < 0;
		x->a->src[ARCH_F_TIE_WORD_EMBEDDINGS] = ARCH_SRC_GGUF;
	}
	return rc < 0 ? rc : 0;
}

int arch_from_gguf(const struct gguf *g, struct arch *out, struct diag *d)
{
	struct arch_gguf x = { .g = g, .d = d };
	struct arch tmp;
	size_t len;
	int rc;

	if (!g || !out)
		return -EINVAL;
	rc = gguf_get_str(g, "general.architecture", &x.name, &len);
	if (rc == -ENOENT)
		return MALFORMED(d, "GGUF header has no 'general.architecture'; is it a model file?");
	if (rc || len != strlen(x.name) || !arch_name_ok(x.name, ARCH_NAME_BYTES))
		return MALFORMED(d, "GGUF key 'general.architecture' is not an architecture name");
	arch_init(&tmp);
	x.a = &tmp;
	rc = arch_set_str(&tmp, ARCH_F_ARCHITECTURE, x.name, ARCH_SRC_GGUF);
	if (rc == 0)
		rc = arch_gguf_read(&x);
	if (rc == 0)
		rc = arch_merge(out, &tmp);
	arch_release(&tmp);
	return rc;
}
