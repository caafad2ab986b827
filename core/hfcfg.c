/*
 * hfcfg.c - the architecture from a Hugging Face config.json.
 *
 * config.json is what transformers reads to build a model, and for a model
 * we have no GGUF header for yet it is the only exact source of its shape.
 * It is outside data from the internet, so the reader is strict on types (a
 * head count that is a string is an error naming the field) and tolerant of
 * what real files do:
 *
 *  - Names differ across families: layers are num_hidden_layers, n_layer,
 *    n_layers or num_layers; the width is hidden_size, n_embd, d_model or
 *    model_dim; and so on.  Each field has a list of aliases, tried in order,
 *    chosen as llama.cpp's convert_hf_to_gguf.py find_hparam() lists do.
 *    Keys that mean something else in some families are left out (top_k and
 *    max_length are generation settings in PretrainedConfig.to_dict() dumps;
 *    DeepSeek's n_group counts expert groups, not SSM groups; Mamba2's
 *    num_heads and head_dim are SSM heads).
 *  - Multimodal models nest the language model in text_config (Gemma 3,
 *    Llama 4, Mistral 3) and the encoder in vision_config; older layouts
 *    (Qwen2.5-VL) keep the text fields at the top.  Text fields are looked
 *    up in text_config first, then at the top.
 *  - Some configs leave fields to the defaults of the transformers config
 *    class (the original Gemma 3 4B config omits heads, KV heads, head_dim,
 *    vocabulary and context).  A small table holds those defaults for the
 *    families known to rely on them; a value taken from it has the source
 *    "default" and a warning naming it.
 *  - Python's json module writes float("inf") as the bare token Infinity
 *    (Mamba2's time_step_limit), and NaN likewise; they are not JSON and
 *    jansson refuses them.  Before parsing, a small scanner that knows
 *    strings and escapes replaces the bare tokens Infinity, -Infinity, NaN
 *    and -NaN outside strings by null (no field we read can be infinite).
 *    The text is copied only when such a token exists.
 *
 * Values that follow from others are "derived": KV heads equal heads when a
 * config gives none (transformers' rule), head_dim is hidden / heads, K and
 * V head sizes equal head_dim except for MLA (qk_nope + qk_rope and
 * v_head_dim), rope_dim is head_dim times partial_rotary_factor, Gemma 2
 * alternates sliding and full layers (pattern 2, fixed in its code), Llama
 * 4 uses chunked attention on three layers of four.  The model_type and
 * architecture class map to the GGUF architecture name llama.cpp would
 * write (convert_hf_to_gguf.py's ModelBase.register table and
 * llama-arch.cpp's LLM_ARCH_NAMES).
 *
 * The result is built in a private struct arch and merged into the
 * caller's only on success, so a failed parse changes nothing, and fields
 * the caller already has (from a GGUF header) win.
 *
 * Caps: the text is at most CAP_CONFIG_JSON_BYTES (4 MiB; real configs are
 * 1-30 KiB, the largest with rope factor lists), integers at most 2^40
 * (2^53 would do for JSON, but no real dimension comes near 2^40 and the
 * products the estimator forms must not overflow), layers at most
 * ARCH_MAX_LAYERS.  jansson bounds nesting depth itself (2048 levels).
 */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define HFCFG_MAX_INT  (1ull << 40)    /* largest integer field we accept */

#define HF_KEYS(...) ((const char *const[]){ __VA_ARGS__, NULL })

struct hfcfg {
	json_t *root;             /* the whole config */
	json_t *text;             /* text_config, or root */
	json_t *vision;           /* vision_config, or NULL */
	const char *model_type;   /* the text model's model_type, or NULL */
	const char *arch;         /* GGUF architecture name, or NULL */
	bool recurrent;           /* pure recurrent (Mamba, RWKV): no attention fields */
	struct arch *a;           /* the result being built */
	struct diag *d;
};

/* ------------------------------------------------------------------------
 * Architecture names
 * ------------------------------------------------------------------------ */

struct hfcfg_name {
	const char *from;
	const char *arch;
};

/* HF architecture class -> GGUF architecture (convert_hf_to_gguf.py). */
static const struct hfcfg_name hfcfg_classes[] = {
	{ "LlamaForCausalLM", "llama" },
	{ "MistralForCausalLM", "llama" },
	{ "MixtralForCausalLM", "llama" },
	{ "LlavaForConditionalGeneration", "llama" },
	{ "Ministral3ForCausalLM", "mistral3" },
	{ "Llama4ForConditionalGeneration", "llama4" },
	{ "Llama4ForCausalLM", "llama4" },
	{ "Qwen2ForCausalLM", "qwen2" },
	{ "Qwen2MoeForCausalLM", "qwen2moe" },
	{ "Qwen2VLForConditionalGeneration", "qwen2vl" },
	{ "Qwen2_5_VLForConditionalGeneration", "qwen2vl" },
	{ "Qwen3ForCausalLM", "qwen3" },
	{ "Qwen3MoeForCausalLM", "qwen3moe" },
	{ "Qwen3NextForCausalLM", "qwen3next" },
	{ "Qwen3VLForConditionalGeneration", "qwen3vl" },
	{ "Qwen3VLMoeForConditionalGeneration", "qwen3vlmoe" },
	{ "GemmaForCausalLM", "gemma" },
	{ "Gemma2ForCausalLM", "gemma2" },
	{ "Gemma3ForCausalLM", "gemma3" },
	{ "Gemma3ForConditionalGeneration", "gemma3" },
	{ "Gemma3nForConditionalGeneration", "gemma3n" },
	{ "PhiForCausalLM", "phi2" },
	{ "Phi3ForCausalLM", "phi3" },
	{ "PhiMoEForCausalLM", "phimoe" },
	{ "DeepseekForCausalLM", "deepseek" },
	{ "DeepseekV2ForCausalLM", "deepseek2" },
	{ "DeepseekV3ForCausalLM", "deepseek2" },
	{ "MambaForCausalLM", "mamba" },
	{ "MambaLMHeadModel", "mamba" },
	{ "FalconMambaForCausalLM", "mamba" },
	{ "Mamba2ForCausalLM", "mamba2" },
	{ "JambaForCausalLM", "jamba" },
	{ "FalconH1ForCausalLM", "falcon-h1" },
	{ "NemotronHForCausalLM", "nemotron_h" },
	{ "OlmoForCausalLM", "olmo" },
	{ "Olmo2ForCausalLM", "olmo2" },
	{ "OlmoeForCausalLM", "olmoe" },
	{ "GraniteForCausalLM", "granite" },
	{ "GraniteMoeForCausalLM", "granitemoe" },
	{ "GraniteMoeHybridForCausalLM", "granitehybrid" },
	{ "FalconForCausalLM", "falcon" },
	{ "RWForCausalLM", "falcon" },
	{ "Starcoder2ForCausalLM", "starcoder2" },
	{ "GPTBigCodeForCausalLM", "starcoder" },
	{ "GPT2LMHeadModel", "gpt2" },
	{ "GPTNeoXForCausalLM", "gptneox" },
	{ "BloomForCausalLM", "bloom" },
	{ "MPTForCausalLM", "mpt" },
	{ "CohereForCausalLM", "command-r" },
	{ "Cohere2ForCausalLM", "cohere2" },
	{ "InternLM2ForCausalLM", "internlm2" },
	{ "ChatGLMModel", "chatglm" },
	{ "ChatGLMForConditionalGeneration", "chatglm" },
	{ "Glm4ForCausalLM", "glm4" },
	{ "Glm4MoeForCausalLM", "glm4moe" },
	{ "OpenELMForCausalLM", "openelm" },
	{ "BaichuanForCausalLM", "baichuan" },
	{ "StableLmForCausalLM", "stablelm" },
	{ "MiniCPMForCausalLM", "minicpm" },
	{ "MiniCPM3ForCausalLM", "minicpm3" },
	{ "Rwkv6ForCausalLM", "rwkv6" },
	{ "RWKV7ForCausalLM", "rwkv7" },
	{ "NemotronForCausalLM", "nemotron" },
	{ "ExaoneForCausalLM", "exaone" },
	{ "Exaone4ForCausalLM", "exaone4" },
	{ "GptOssForCausalLM", "gpt-oss" },
	{ "SmolLM3ForCausalLM", "smollm3" },
	{ "Ernie4_5_ForCausalLM", "ernie4_5" },
	{ "Ernie4_5_MoeForCausalLM", "ernie4_5-moe" },
	{ "HunYuanMoEV1ForCausalLM", "hunyuan-moe" },
	{ "Lfm2ForCausalLM", "lfm2" },
	{ "ArceeForCausalLM", "arcee" },
	{ "DbrxForCausalLM", "dbrx" },
	{ "ArcticForCausalLM", "arctic" },
	{ "XverseForCausalLM", "xverse" },
	{ "OrionForCausalLM", "orion" },
	{ "BitnetForCausalLM", "bitnet" },
	{ "Dots1ForCausalLM", "dots1" },
	{ "SeedOssForCausalLM", "seed_oss" },
	{ "ApertusForCausalLM", "apertus" },
	{ "Plamo2ForCausalLM", "plamo2" },
	{ "T5ForConditionalGeneration", "t5" },
	{ "BertModel", "bert" },
};

/* HF model_type -> GGUF architecture, when the class is unknown or absent. */
static const struct hfcfg_name hfcfg_types[] = {
	{ "llama", "llama" },
	{ "mistral", "llama" },
	{ "mixtral", "llama" },
	{ "llava", "llama" },
	{ "ministral3", "mistral3" },
	{ "llama4", "llama4" },
	{ "llama4_text", "llama4" },
	{ "qwen2", "qwen2" },
	{ "qwen2_moe", "qwen2moe" },
	{ "qwen2_vl", "qwen2vl" },
	{ "qwen2_5_vl", "qwen2vl" },
	{ "qwen3", "qwen3" },
	{ "qwen3_moe", "qwen3moe" },
	{ "qwen3_next", "qwen3next" },
	{ "gemma", "gemma" },
	{ "gemma2", "gemma2" },
	{ "gemma3", "gemma3" },
	{ "gemma3_text", "gemma3" },
	{ "phi", "phi2" },
	{ "phi3", "phi3" },
	{ "phimoe", "phimoe" },
	{ "deepseek_v2", "deepseek2" },
	{ "deepseek_v3", "deepseek2" },
	{ "mamba", "mamba" },
	{ "falcon_mamba", "mamba" },
	{ "mamba2", "mamba2" },
	{ "jamba", "jamba" },
	{ "falcon_h1", "falcon-h1" },
	{ "nemotron_h", "nemotron_h" },
	{ "olmo", "olmo" },
	{ "olmo2", "olmo2" },
	{ "olmoe", "olmoe" },
	{ "granite", "granite" },
	{ "granitemoe", "granitemoe" },
	{ "granitemoehybrid", "granitehybrid" },
	{ "falcon", "falcon" },
	{ "starcoder2", "starcoder2" },
	{ "gpt_bigcode", "starcoder" },
	{ "gpt2", "gpt2" },
	{ "gpt_neox", "gptneox" },
	{ "bloom", "bloom" },
	{ "mpt", "mpt" },
	{ "cohere", "command-r" },
	{ "cohere2", "cohere2" },
	{ "internlm2", "internlm2" },
	{ "chatglm", "chatglm" },
	{ "glm4", "glm4" },
	{ "glm4_moe", "glm4moe" },
	{ "openelm", "openelm" },
	{ "stablelm", "stablelm" },
	{ "minicpm", "minicpm" },
	{ "minicpm3", "minicpm3" },
	{ "rwkv6", "rwkv6" },
	{ "rwkv7", "rwkv7" },
	{ "nemotron", "nemotron" },
	{ "exaone", "exaone" },
	{ "exaone4", "exaone4" },
	{ "gpt_oss", "gpt-oss" },
	{ "smollm3", "smollm3" },
	{ "lfm2", "lfm2" },
	{ "dbrx", "dbrx" },
};

static const char *hfcfg_name_find(const struct hfcfg_name *t, size_t n, const char *key)
{
	size_t i;

	for (i = 0; key && i < n; i++)
		if (strcmp(t[i].from, key) == 0)
			return t[i].arch;
	return NULL;
}

const char *hfcfg_model_type_to_arch(const char *model_type, const char *hf_class)
{
	const char *arch;

	if (hf_class && strcmp(hf_class, "Mistral3ForConditionalGeneration") == 0)
		return model_type && strcmp(model_type, "ministral3") == 0 ? "mistral3" : "llama";
	arch = hfcfg_name_find(hfcfg_classes, sizeof(hfcfg_classes) / sizeof(hfcfg_classes[0]),
			       hf_class);
	if (arch)
		return arch;
	return hfcfg_name_find(hfcfg_types, sizeof(hfcfg_types) / sizeof(hfcfg_types[0]), model_type);
}

/* ------------------------------------------------------------------------
 * Non-standard tokens
 * ------------------------------------------------------------------------ */

static bool hfcfg_is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of a bare non-finite token at s[i] (outside strings), else 0. */
static size_t hfcfg_nonfinite_at(const char *s, size_t len, size_t i)
{
	size_t start = i, end;

	if (s[i] == '-')
		start++;
	if (start >= len || !(s[start] == 'I' || s[start] == 'N'))
		return 0;
	if (i > 0 && hfcfg_is_word(s[i - 1]))
		return 0;
	for (end = start; end < len && hfcfg_is_word(s[end]); end++)
		;
	if ((end - start == 8 && memcmp(s + start, "Infinity", 8) == 0) ||
	    (end - start == 3 && memcmp(s + start, "NaN", 3) == 0))
		return end - i;
	return 0;
}

/* Walks s outside strings; with out == NULL only counts the tokens. */
static size_t hfcfg_scan_nonfinite(const char *s, size_t len, struct sbuf *out)
{
	bool in_str = false, esc = false;
	size_t i, n = 0, copied = 0, tok;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
			continue;
		}
		if (c != '-' && c != 'I' && c != 'N')
			continue;
		tok = hfcfg_nonfinite_at(s, len, i);
		if (!tok)
			continue;
		n++;
		if (out) {
			sbuf_add(out, s + copied, i - copied);
			sbuf_addstr(out, "null");
			copied = i + tok;
		}
		i += tok - 1;
	}
	if (out)
		sbuf_add(out, s + copied, len - copied);
	return n;
}

/* ------------------------------------------------------------------------
 * Typed lookups.  Each returns 1 when found, 0 when absent or null, and
 * -EBADMSG (with a diag naming the field) on a wrong type or value.
 * ------------------------------------------------------------------------ */

static const char *hfcfg_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "a list";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* Finds the first non-null alias, in text_config first when scope is the
 * text model.  *path_out names it for messages ("text_config.head_dim"). */
static json_t *hfcfg_find(struct hfcfg *c, json_t *scope, const char *const *keys,
			  char *path_out, size_t path_size)
{
	json_t *scopes[2] = { scope, scope == c->text && c->text != c->root ? c->root : NULL };
	size_t s, k;

	for (s = 0; s < 2 && scopes[s]; s++) {
		for (k = 0; keys[k]; k++) {
			json_t *v = json_object_get(scopes[s], keys[k]);

			if (!v || json_is_null(v))
				continue;
			snprintf(path_out, path_size, "%s%s",
				 scopes[s] == c->root ? "" :
				 scopes[s] == c->vision ? "vision_config." : "text_config.", keys[k]);
			return v;
		}
	}
	return NULL;
}

static int hfcfg_int_value(struct hfcfg *c, json_t *v, const char *path, uint64_t min,
			   uint64_t max, uint64_t *out)
{
	double r;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
			return MALFORMED(c->d, "config.json field '%s' is %lld, outside %llu..%llu",
					 path, (long long)i, (unsigned long long)min,
					 (unsigned long long)max);
		*out = (uint64_t)i;
		return 1;
	}
	if (json_is_real(v)) {
		r = json_real_value(v);
		if (r != floor(r) || r < (double)min || r > (double)max)
			return MALFORMED(c->d, "config.json field '%s' is %g, not a whole number in %llu..%llu",
					 path, r, (unsigned long long)min, (unsigned long long)max);
		*out = (uint64_t)r;
		return 1;
	}
	return MALFORMED(c->d, "config.json field '%s' must be an integer, not %s", path,
			 hfcfg_type_name(v));
}

static int hfcfg_int(struct hfcfg *c, json_t *scope, const char *const *keys, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	char path[128];
	json_t *v;

	if (!scope)
		return 0;
	v = hfcfg_find(c, scope, keys, path, sizeof(path));
	if (!v)
		return 0;
	return hfcfg_int_value(c, v, path, min, max, out);
}

static int hfcfg_real(struct hfcfg *c, json_t *scope, const char *const *keys, double *out)
{
	char path[128];
	json_t *v;

	if (!scope)
		return 0;
	v = hfcfg_find(c, scope, keys, path, sizeof(path));
	if (!v)
		return 0;
	if (!json_is_number(v))
		return MALFORMED(c->d, "config.json field '%s' must be a number, not %s", path,
				 hfcfg_type_name(v));
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < 0 || *out > 1e300)
		return MALFORMED(c->d, "config.json field '%s' is out of range", path);
	return 1;
}

static int hfcfg_bool(struct hfcfg *c, json_t *scope, const char *const *keys, bool *out)
{
	char path[128];
	json_t *v;

	if (!scope)
		return 0;
	v = hfcfg_find(c, scope, keys, path, sizeof(path));
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return MALFORMED(c->d, "config.json field '%s' must be true or false, not %s", path,
				 hfcfg_type_name(v));
	*out = json_is_true(v);
	return 1;
}

static int hfcfg_string(struct hfcfg *c, json_t *scope, const char *const *keys, const char **out)
{
	char path[128];
	json_t *v;

	if (!scope)
		return 0;
	v = hfcfg_find(c, scope, keys, path, sizeof(path));
	if (!v)
		return 0;
	if (!json_is_string(v))
		return MALFORMED(c->d, "config.json field '%s' must be a string, not %s", path,
				 hfcfg_type_name(v));
	*out = json_string_value(v);
	return 1;
}

/* Reads an integer field into a with source config.json.  min 1 for sizes
 * that divide or count something that must exist. */
static int hfcfg_field(struct hfcfg *c, enum arch_field f, json_t *scope, const char *const *keys,
		       uint64_t min)
{
	uint64_t v = 0, max = f == ARCH_F_NUM_LAYERS ? ARCH_MAX_LAYERS : HFCFG_MAX_INT;
	int rc;

	if (arch_has(c->a, f))
		return 0;
	rc = hfcfg_int(c, scope, keys, min, max, &v);
	if (rc <= 0)
		return rc;
	rc = arch_set_u64(c->a, f, v, ARCH_SRC_CONFIG);
	return rc == -EINVAL ? MALFORMED(c->d, "config.json field '%s' does not match the layer count",
					 arch_field_name(f)) : rc;
}

/* Like hfcfg_field, but 0 means "none" and leaves the field absent. */
static int hfcfg_field_nz(struct hfcfg *c, enum arch_field f, json_t *scope,
			  const char *const *keys)
{
	uint64_t v = 0;
	int rc;

	if (arch_has(c->a, f))
		return 0;
	rc = hfcfg_int(c, scope, keys, 0, HFCFG_MAX_INT, &v);
	if (rc <= 0 || v == 0)
		return rc < 0 ? rc : 0;
	return arch_set_u64(c->a, f, v, ARCH_SRC_CONFIG);
}

static enum arch_source hfcfg_derived(enum arch_source from)
{
	return from == ARCH_SRC_DEFAULT ? ARCH_SRC_DEFAULT : ARCH_SRC_DERIVED;
}

/* ------------------------------------------------------------------------
 * Identity: scopes, model type, architecture name
 * ------------------------------------------------------------------------ */

static int hfcfg_identity(struct hfcfg *c)
{
	const char *root_type = NULL, *hf_class = NULL;
	json_t *v, *archs;
	int rc;

	v = json_object_get(c->root, "text_config");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return MALFORMED(c->d, "config.json field 'text_config' must be an object, not %s",
					 hfcfg_type_name(v));
		c->text = v;
	}
	v = json_object_get(c->root, "vision_config");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return MALFORMED(c->d, "config.json field 'vision_config' must be an object, not %s",
					 hfcfg_type_name(v));
		c->vision = v;
	}
	rc = hfcfg_string(c, c->root, HF_KEYS("model_type"), &root_type);
	if (rc < 0)
		return rc;
	c->model_type = root_type;
	if (c->text != c->root) {
		v = json_object_get(c->text, "model_type");
		if (v && !json_is_null(v) && !json_is_string(v))
			return MALFORMED(c->d, "config.json field 'text_config.model_type' must be a string, not %s",
					 hfcfg_type_name(v));
		if (json_is_string(v))
			c->model_type = json_string_value(v);
	}
	archs = json_object_get(c->root, "architectures");
	if (archs && !json_is_null(archs)) {
		if (!json_is_array(archs) ||
		    (json_array_size(archs) > 0 && !json_is_string(json_array_get(archs, 0))))
			return MALFORMED(c->d, "config.json field 'architectures' must be a list of strings");
		hf_class = json_string_value(json_array_get(archs, 0));
	}
	c->arch = hfcfg_model_type_to_arch(c->model_type, hf_class);
	if (!c->arch && c->model_type != root_type)
		c->arch = hfcfg_model_type_to_arch(root_type, NULL);
	if (c->arch)
		return arch_set_str(c->a, ARCH_F_ARCHITECTURE, c->arch, ARCH_SRC_CONFIG);
	if (!root_type && !hf_class)
		return arch_warn(c->a, "config.json names no model_type or architectures; architecture unknown");
	return arch_warn(c->a, "model_type '%s' (%s) has no llama.cpp architecture known to modelfs",
			 c->model_type ? c->model_type : "", hf_class ? hf_class : "no class");
}

static bool hfcfg_arch_is(const struct hfcfg *c, const char *name)
{
	return c->arch && strcmp(c->arch, name) == 0;
}

/* ------------------------------------------------------------------------
 * The text model
 * ------------------------------------------------------------------------ */

static int hfcfg_layer_array(struct hfcfg *c, json_t *scope, const char *const *keys, bool kv)
{
	uint32_t *arr;
	char path[128];
	uint64_t x = 0;
	json_t *v;
	size_t i, n;
	int rc;

	v = hfcfg_find(c, scope, keys, path, sizeof(path));
	if (!json_is_array(v))
		return 0;
	n = json_array_size(v);
	if (n == 0 || n > ARCH_MAX_LAYERS ||
	    (arch_has(c->a, ARCH_F_NUM_LAYERS) && n != c->a->num_layers))
		return MALFORMED(c->d, "config.json field '%s' has %zu entries, not one per layer", path, n);
	arr = calloc(n, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		rc = hfcfg_int_value(c, json_array_get(v, i), path, 1, UINT16_MAX, &x);
		if (rc < 0)
			goto out_free;
		arr[i] = (uint32_t)x;
	}
	rc = kv ? arch_set_layer_kv_heads(c->a, arr, n, ARCH_SRC_CONFIG)
		: arch_set_layer_heads(c->a, arr, n, ARCH_SRC_CONFIG);
	if (rc == 0)
		rc = 1;
out_free:
	free(arr);
	return rc;
}

static int hfcfg_heads(struct hfcfg *c)
{
	bool mq = false;
	uint64_t v = 0;
	int rc;

	rc = hfcfg_layer_array(c, c->text, HF_KEYS("num_query_heads", "num_attention_heads"), false);
	if (rc == 0)
		rc = hfcfg_field(c, ARCH_F_NUM_ATTENTION_HEADS, c->text,
				 HF_KEYS("num_attention_heads", "n_head", "n_heads", "num_heads",
					 "num_query_heads"), 1);
	if (rc < 0)
		return rc;
	rc = hfcfg_layer_array(c, c->text, HF_KEYS("num_kv_heads", "num_key_value_heads"), true);
	if (rc == 0)
		rc = hfcfg_field(c, ARCH_F_NUM_KV_HEADS, c->text,
				 HF_KEYS("num_key_value_heads", "n_head_kv", "num_kv_heads",
					 "n_kv_heads", "num_kv"), 1);
	if (rc < 0)
		return rc;
	if (rc == 0 && !arch_has(c->a, ARCH_F_NUM_KV_HEADS)) {
		rc = hfcfg_bool(c, c->text, HF_KEYS("multi_query_attention"), &mq);
		if (rc < 0)
			return rc;
		if (mq) {
			rc = hfcfg_field(c, ARCH_F_NUM_KV_HEADS, c->text, HF_KEYS("multi_query_group_num"), 1);
			if (rc < 0)
				return rc;
		}
		mq = false;
		rc = hfcfg_bool(c, c->text, HF_KEYS("multi_query"), &mq);
		if (rc < 0)
			return rc;
		if (mq && !arch_has(c->a, ARCH_F_NUM_KV_HEADS)) {
			rc = arch_set_u64(c->a, ARCH_F_NUM_KV_HEADS, 1, ARCH_SRC_CONFIG);
			if (rc)
				return rc;
		}
	}
	rc = hfcfg_field(c, ARCH_F_HEAD_DIM, c->text, HF_KEYS("head_dim", "kv_channels", "attention_head_dim"), 1);
	if (rc < 0)
		return rc;
	rc = hfcfg_int(c, c->text, HF_KEYS("rotary_dim", "rotary_emb_dim", "rope_dim"), 1, HFCFG_MAX_INT, &v);
	if (rc > 0)
		rc = arch_set_u64(c->a, ARCH_F_ROPE_DIM, v, ARCH_SRC_CONFIG);
	return rc < 0 ? rc : 0;
}

static int hfcfg_rope(struct hfcfg *c)
{
	json_t *params, *sc = NULL, *full;
	char path[128];
	double theta;
	int rc;

	rc = hfcfg_real(c, c->text, HF_KEYS("rope_theta", "rotary_emb_base", "rope_base"), &theta);
	if (rc < 0)
		return rc;
	if (rc > 0 && theta > 0) {
		rc = arch_set_double(c->a, ARCH_F_ROPE_THETA, theta, ARCH_SRC_CONFIG);
		if (rc)
			return rc;
	}
	sc = hfcfg_find(c, c->text, HF_KEYS("rope_scaling"), path, sizeof(path));
	if (sc && !json_is_object(sc))
		return MALFORMED(c->d, "config.json field '%s' must be an object, not %s", path,
				 hfcfg_type_name(sc));
	params = hfcfg_find(c, c->text, HF_KEYS("rope_parameters"), path, sizeof(path));
	if (params && !json_is_object(params))
		return MALFORMED(c->d, "config.json field '%s' must be an object, not %s", path,
				 hfcfg_type_name(params));
	full = json_object_get(params, "full_attention");
	if (json_is_object(full))
		params = full;
	if (params && !arch_has(c->a, ARCH_F_ROPE_THETA)) {
		json_t *t = json_object_get(params, "rope_theta");

		if (t && !json_is_number(t))
			return MALFORMED(c->d, "config.json field 'rope_parameters.rope_theta' must be a number, not %s",
					 hfcfg_type_name(t));
		if (t && isfinite(json_number_value(t)) && json_number_value(t) > 0) {
			rc = arch_set_double(c->a, ARCH_F_ROPE_THETA, json_number_value(t), ARCH_SRC_CONFIG);
			if (rc)
				return rc;
		}
	}
	if (!sc && params) {
		const char *type = json_string_value(json_object_get(params, "rope_type"));

		if (type && strcmp(type, "default") != 0)
			sc = params;
	}
	if (sc && json_object_size(sc) > 0) {
		char *text = json_dumps(sc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));

		if (!text)
			return -ENOMEM;
		rc = arch_set_str(c->a, ARCH_F_ROPE_SCALING, text, ARCH_SRC_CONFIG);
		free(text);
		if (rc)
			return rc == -EINVAL ? MALFORMED(c->d, "config.json field 'rope_scaling' is not valid") : rc;
	}
	return 0;
}

static int hfcfg_dtype(struct hfcfg *c)
{
	static const struct hfcfg_name dtypes[] = {
		{ "bfloat16", "bf16" }, { "float16", "f16" }, { "half", "f16" },
		{ "float32", "f32" }, { "float", "f32" },
	};
	const char *s = NULL, *name;
	int rc;

	rc = hfcfg_string(c, c->text, HF_KEYS("torch_dtype", "dtype"), &s);
	if (rc <= 0)
		return rc;
	name = hfcfg_name_find(dtypes, sizeof(dtypes) / sizeof(dtypes[0]), s);
	if (!name)
		return 0;
	return arch_set_str(c->a, ARCH_F_KV_PRECISION, name, ARCH_SRC_CONFIG);
}

static int hfcfg_text(struct hfcfg *c)
{
	uint64_t v = 0;
	bool tie = false;
	int rc;

	rc = hfcfg_field(c, ARCH_F_NUM_LAYERS, c->text,
			 HF_KEYS("num_hidden_layers", "n_layer", "n_layers", "num_layers", "num_transformer_layers"), 1);
	if (rc < 0)
		return rc;
	rc = hfcfg_field(c, ARCH_F_HIDDEN_SIZE, c->text, HF_KEYS("hidden_size", "n_embd", "d_model", "model_dim"), 1);
	if (rc < 0)
		return rc;
	if (!c->recurrent) {
		if (hfcfg_arch_is(c, "llama4")) {
			rc = hfcfg_field(c, ARCH_F_INTERMEDIATE_SIZE, c->text, HF_KEYS("intermediate_size_mlp"), 1);
			if (rc == 0)
				rc = hfcfg_field(c, ARCH_F_EXPERT_FFN_SIZE, c->text, HF_KEYS("intermediate_size"), 1);
		} else {
			rc = hfcfg_field(c, ARCH_F_INTERMEDIATE_SIZE, c->text,
					 HF_KEYS("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size",
						 "d_ff"), 1);
		}
		if (rc < 0)
			return rc;
		rc = hfcfg_heads(c);
		if (rc < 0)
			return rc;
	}
	rc = hfcfg_field(c, ARCH_F_VOCAB_SIZE, c->text, HF_KEYS("padded_vocab_size", "vocab_size", "n_vocab"), 1);
	if (rc < 0)
		return rc;
	rc = hfcfg_int(c, c->text,
		       HF_KEYS("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length",
			       "seq_length", "max_seq_len", "max_context_length"), 1, HFCFG_MAX_INT, &v);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		rc = arch_set_u64(c->a, ARCH_F_MAX_POSITION_EMBEDDINGS, v, ARCH_SRC_CONFIG);
		if (rc == 0)
			rc = arch_set_u64(c->a, ARCH_F_CONTEXT_LENGTH, v, ARCH_SRC_CONFIG);
		if (rc)
			return rc;
	}
	rc = hfcfg_rope(c);
	if (rc < 0)
		return rc;
	rc = hfcfg_bool(c, c->text, HF_KEYS("tie_word_embeddings"), &tie);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		c->a->tie_word_embeddings = tie;
		c->a->src[ARCH_F_TIE_WORD_EMBEDDINGS] = ARCH_SRC_CONFIG;
	}
	return hfcfg_dtype(c);
}

/* ------------------------------------------------------------------------
 * Sliding windows and layer kinds
 * ------------------------------------------------------------------------ */

static int hfcfg_kind_of(const char *s)
{
	static const struct { const char *name; int kind; } kinds[] = {
		{ "full_attention", ARCH_LAYER_FULL }, { "attention", ARCH_LAYER_FULL },
		{ "global", ARCH_LAYER_FULL }, { "global_attention", ARCH_LAYER_FULL },
		{ "sliding_attention", ARCH_LAYER_SLIDING }, { "sliding", ARCH_LAYER_SLIDING },
		{ "local", ARCH_LAYER_SLIDING }, { "local_attention", ARCH_LAYER_SLIDING },
		{ "chunked_attention", ARCH_LAYER_CHUNKED },
		{ "mamba", ARCH_LAYER_RECURRENT }, { "mamba2", ARCH_LAYER_RECURRENT },
		{ "linear_attention", ARCH_LAYER_RECURRENT }, { "conv", ARCH_LAYER_RECURRENT },
		{ "recurrent", ARCH_LAYER_RECURRENT }, { "ssm", ARCH_LAYER_RECURRENT },
	};
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].name, s) == 0)
			return kinds[i].kind;
	return -1;
}

static int hfcfg_set_kinds(struct hfcfg *c, const uint8_t *kinds, size_t n, enum arch_source s)
{
	int rc;

	if (!arch_has(c->a, ARCH_F_NUM_LAYERS)) {
		rc = arch_set_u64(c->a, ARCH_F_NUM_LAYERS, n, ARCH_SRC_DERIVED);
		if (rc)
			return rc;
	}
	rc = arch_set_layer_kinds(c->a, kinds, n, s);
	return rc == -EINVAL ? MALFORMED(c->d, "config.json layer pattern does not match the layer count") : rc;
}

static int hfcfg_layer_types(struct hfcfg *c)
{
	char path[128];
	uint8_t *kinds;
	json_t *v;
	size_t i, n;
	int rc = 0, k;

	v = hfcfg_find(c, c->text, HF_KEYS("layer_types"), path, sizeof(path));
	if (!v)
		return 0;
	if (!json_is_array(v))
		return MALFORMED(c->d, "config.json field '%s' must be a list, not %s", path, hfcfg_type_name(v));
	n = json_array_size(v);
	if (n == 0 || n > ARCH_MAX_LAYERS || (arch_has(c->a, ARCH_F_NUM_LAYERS) && n != c->a->num_layers))
		return MALFORMED(c->d, "config.json field '%s' has %zu entries, not one per layer", path, n);
	kinds = calloc(n, sizeof(*kinds));
	if (!kinds)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(v, i));

		if (!s) {
			rc = MALFORMED(c->d, "config.json field '%s' must hold strings", path);
			goto out_free;
		}
		k = hfcfg_kind_of(s);
		if (k < 0) {
			rc = arch_warn(c->a, "layer type '%s' in config.json not understood; layer pattern unknown", s);
			goto out_free;
		}
		kinds[i] = (uint8_t)k;
	}
	rc = hfcfg_set_kinds(c, kinds, n, ARCH_SRC_CONFIG);
out_free:
	free(kinds);
	return rc;
}

/* Qwen2's use_sliding_window: layers from max_window_layers on slide. */
static int hfcfg_qwen2_window(struct hfcfg *c, uint64_t max_window_layers)
{
	uint8_t *kinds;
	size_t i, n = c->a->num_layers;
	int rc;

	if (!arch_has(c->a, ARCH_F_NUM_LAYERS) || c->a->layer_kind || max_window_layers == 0)
		return 0;
	kinds = calloc(n, sizeof(*kinds));
	if (!kinds)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		kinds[i] = i >= max_window_layers ? ARCH_LAYER_SLIDING : ARCH_LAYER_FULL;
	rc = hfcfg_set_kinds(c, kinds, n, ARCH_SRC_DERIVED);
	free(kinds);
	return rc;
}

/* Llama 4: chunked attention, except every no_rope_layer_interval-th layer
 * (no_rope_layers[il] == 0 marks them when given). */
static int hfcfg_llama4_chunks(struct hfcfg *c)
{
	uint64_t chunk = 0, interval = 4;
	char path[128];
	uint8_t *kinds;
	json_t *nope;
	size_t i, n;
	int rc;

	rc = hfcfg_int(c, c->text, HF_KEYS("attention_chunk_size"), 1, HFCFG_MAX_INT, &chunk);
	if (rc <= 0 || !arch_has(c->a, ARCH_F_NUM_LAYERS))
		return rc;
	rc = arch_set_u64(c->a, ARCH_F_SLIDING_WINDOW, chunk, ARCH_SRC_CONFIG);
	if (rc)
		return rc;
	rc = hfcfg_int(c, c->text, HF_KEYS("no_rope_layer_interval"), 1, ARCH_MAX_LAYERS, &interval);
	if (rc < 0)
		return rc;
	n = c->a->num_layers;
	nope = hfcfg_find(c, c->text, HF_KEYS("no_rope_layers"), path, sizeof(path));
	if (nope && !json_is_array(nope))
		return MALFORMED(c->d, "config.json field '%s' must be a list, not %s", path, hfcfg_type_name(nope));
	if (json_array_size(nope) != n)
		nope = NULL;
	kinds = calloc(n, sizeof(*kinds));
	if (!kinds)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		json_t *x = nope ? json_array_get(nope, i) : NULL;

		if (x && !json_is_integer(x) && !json_is_boolean(x)) {
			free(kinds);
			return MALFORMED(c->d, "config.json field '%s' must hold integers", path);
		}
		if (x)
			kinds[i] = (json_is_integer(x) ? json_integer_value(x) != 0 : json_is_true(x))
				   ? ARCH_LAYER_CHUNKED : ARCH_LAYER_FULL;
		else
			kinds[i] = (i + 1) % interval != 0 ? ARCH_LAYER_CHUNKED : ARCH_LAYER_FULL;
	}
	rc = hfcfg_set_kinds(c, kinds, n, nope ? ARCH_SRC_CONFIG : ARCH_SRC_DERIVED);
	free(kinds);
	if (rc == 0 && !nope)
		rc = arch_set_u64(c->a, ARCH_F_SLIDING_WINDOW_PATTERN, interval, ARCH_SRC_DERIVED);
	return rc;
}

/* Jamba: attention on layers il % period == offset, Mamba elsewhere. */
static int hfcfg_jamba_layers(struct hfcfg *c)
{
	uint64_t period = 8, offset = 4;
	bool dflt = false;
	uint8_t *kinds;
	size_t i, n;
	int rc;

	if (!arch_has(c->a, ARCH_F_NUM_LAYERS) || c->a->layer_kind)
		return 0;
	rc = hfcfg_int(c, c->text, HF_KEYS("attn_layer_period"), 1, ARCH_MAX_LAYERS, &period);
	if (rc < 0)
		return rc;
	dflt |= rc == 0;
	rc = hfcfg_int(c, c->text, HF_KEYS("attn_layer_offset"), 0, ARCH_MAX_LAYERS, &offset);
	if (rc < 0)
		return rc;
	dflt |= rc == 0;
	if (offset >= period)
		return MALFORMED(c->d, "config.json field 'attn_layer_offset' must be below 'attn_layer_period'");
	if (dflt) {
		rc = arch_warn(c->a, "config.json does not give attn_layer_period/offset; using the jamba defaults 8/4");
		if (rc)
			return rc;
	}
	n = c->a->num_layers;
	kinds = calloc(n, sizeof(*kinds));
	if (!kinds)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		kinds[i] = i % period == offset ? ARCH_LAYER_FULL : ARCH_LAYER_RECURRENT;
	rc = hfcfg_set_kinds(c, kinds, n, dflt ? ARCH_SRC_DEFAULT : ARCH_SRC_DERIVED);
	free(kinds);
	return rc;
}

static int hfcfg_windows(struct hfcfg *c)
{
	uint64_t mwl = 0;
	bool use = true;
	int rc, explicit_use;

	if (c->recurrent)
		return 0;
	rc = hfcfg_layer_types(c);
	if (rc < 0)
		return rc;
	if (hfcfg_arch_is(c, "llama4"))
		return hfcfg_llama4_chunks(c);
	if (hfcfg_arch_is(c, "jamba"))
		return hfcfg_jamba_layers(c);
	explicit_use = hfcfg_bool(c, c->text, HF_KEYS("use_sliding_window"), &use);
	if (explicit_use < 0 || !use)
		return explicit_use < 0 ? explicit_use : 0;
	rc = hfcfg_field_nz(c, ARCH_F_SLIDING_WINDOW, c->text, HF_KEYS("sliding_window", "sliding_window_size"));
	if (rc < 0)
		return rc;
	if (!arch_has(c->a, ARCH_F_SLIDING_WINDOW))
		return 0;
	rc = hfcfg_field_nz(c, ARCH_F_SLIDING_WINDOW_PATTERN, c->text, HF_KEYS("sliding_window_pattern"));
	if (rc < 0)
		return rc;
	if (rc == 0 && explicit_use > 0 && !c->a->layer_kind) {
		rc = hfcfg_int(c, c->text, HF_KEYS("max_window_layers"), 0, ARCH_MAX_LAYERS, &mwl);
		if (rc > 0)
			rc = hfcfg_qwen2_window(c, mwl);
	}
	if (rc >= 0 && hfcfg_arch_is(c, "gemma2") && !arch_has(c->a, ARCH_F_SLIDING_WINDOW_PATTERN) &&
	    !c->a->layer_kind)
		rc = arch_set_u64(c->a, ARCH_F_SLIDING_WINDOW_PATTERN, 2, ARCH_SRC_DERIVED);
	return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------
 * Mixture of experts, MLA
 * ------------------------------------------------------------------------ */

static int hfcfg_moe(struct hfcfg *c)
{
	uint64_t v = 0;
	int rc;

	rc = hfcfg_field_nz(c, ARCH_F_EXPERT_COUNT, c->text,
			    HF_KEYS("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"));
	if (rc == 0)
		rc = hfcfg_field_nz(c, ARCH_F_EXPERT_USED_COUNT, c->text,
				    HF_KEYS("num_experts_per_tok", "num_selected_experts", "moe_top_k",
					    "num_experts_per_token"));
	if (rc == 0)
		rc = hfcfg_field_nz(c, ARCH_F_EXPERT_SHARED_COUNT, c->text,
				    HF_KEYS("n_shared_experts", "num_shared_experts", "moe_num_shared_experts"));
	if (rc == 0)
		rc = hfcfg_field_nz(c, ARCH_F_EXPERT_FFN_SIZE, c->text,
				    HF_KEYS("moe_intermediate_size", "expert_intermediate_size"));
	if (rc == 0)
		rc = hfcfg_field_nz(c, ARCH_F_EXPERT_SHARED_FFN_SIZE, c->text,
				    HF_KEYS("shared_expert_intermediate_size"));
	if (rc < 0)
		return rc;
	rc = hfcfg_int(c, c->text, HF_KEYS("first_k_dense_replace"), 0, ARCH_MAX_LAYERS, &v);
	if (rc > 0 && arch_has(c->a, ARCH_F_EXPERT_COUNT))
		rc = arch_set_u64(c->a, ARCH_F_LEADING_DENSE_LAYERS, v, ARCH_SRC_CONFIG);
	return rc < 0 ? rc : 0;
}

static int hfcfg_mla(struct hfcfg *c)
{
	uint64_t nope = 0, rope = 0;
	int rc, has_nope, has_rope;

	rc = hfcfg_field_nz(c, ARCH_F_KV_LORA_RANK, c->text, HF_KEYS("kv_lora_rank"));
	if (rc < 0 || !arch_has(c->a, ARCH_F_KV_LORA_RANK))
		return rc;
	rc = hfcfg_field_nz(c, ARCH_F_Q_LORA_RANK, c->text, HF_KEYS("q_lora_rank"));
	if (rc < 0)
		return rc;
	has_nope = hfcfg_int(c, c->text, HF_KEYS("qk_nope_head_dim"), 0, HFCFG_MAX_INT, &nope);
	if (has_nope < 0)
		return has_nope;
	has_rope = hfcfg_int(c, c->text, HF_KEYS("qk_rope_head_dim"), 0, HFCFG_MAX_INT, &rope);
	if (has_rope < 0)
		return has_rope;
	if (has_nope)
		rc = arch_set_u64(c->a, ARCH_F_QK_NOPE_HEAD_DIM, nope, ARCH_SRC_CONFIG);
	if (rc == 0 && has_rope)
		rc = arch_set_u64(c->a, ARCH_F_ROPE_DIM, rope, ARCH_SRC_CONFIG);
	if (rc == 0 && has_nope && has_rope)
		rc = arch_set_u64(c->a, ARCH_F_HEAD_DIM_K, nope + rope, ARCH_SRC_DERIVED);
	if (rc)
		return rc;
	return hfcfg_field_nz(c, ARCH_F_HEAD_DIM_V, c->text, HF_KEYS("v_head_dim"));
}

/* ------------------------------------------------------------------------
 * Recurrent state (Mamba, Mamba2, RWKV) and hybrids
 * ------------------------------------------------------------------------ */

static bool hfcfg_has_ssm(const struct hfcfg *c)
{
	static const char *const ssm_archs[] = {
		"mamba", "mamba2", "jamba", "falcon-h1", "granitehybrid", "nemotron_h", "plamo2",
	};
	size_t i;

	for (i = 0; c->arch && i < sizeof(ssm_archs) / sizeof(ssm_archs[0]); i++)
		if (strcmp(c->arch, ssm_archs[i]) == 0)
			return true;
	return false;
}

static int hfcfg_dt_rank(struct hfcfg *c)
{
	const char *const *keys = HF_KEYS("time_step_rank", "dt_rank", "mamba_dt_rank");
	char path[128];
	uint64_t v = 0;
	json_t *j;

	j = hfcfg_find(c, c->text, keys, path, sizeof(path));
	if (json_is_string(j) && strcmp(json_string_value(j), "auto") == 0) {
		if (!arch_has(c->a, ARCH_F_HIDDEN_SIZE))
			return 0;
		return arch_set_u64(c->a, ARCH_F_SSM_DT_RANK, (c->a->hidden_size + 15) / 16,
				    ARCH_SRC_DERIVED);
	}
	if (!j)
		return 0;
	if (hfcfg_int_value(c, j, path, 1, HFCFG_MAX_INT, &v) < 0)
		return -EBADMSG;
	return arch_set_u64(c->a, ARCH_F_SSM_DT_RANK, v, ARCH_SRC_CONFIG);
}

static int hfcfg_ssm(struct hfcfg *c)
{
	uint64_t expand = 0, heads = 0, head_dim = 0, hidden = c->a->hidden_size;
	bool mamba2 = hfcfg_arch_is(c, "mamba2") || hfcfg_arch_is(c, "granitehybrid") ||
		      hfcfg_arch_is(c, "falcon-h1") || hfcfg_arch_is(c, "nemotron_h");
	int rc;

	if (hfcfg_arch_is(c, "rwkv6") || hfcfg_arch_is(c, "rwkv7"))
		return hfcfg_field(c, ARCH_F_SSM_HEAD_SIZE, c->text, HF_KEYS("head_size", "head_dim"), 1);
	if (!hfcfg_has_ssm(c))
		return 0;
	rc = hfcfg_field(c, ARCH_F_SSM_D_STATE, c->text,
			 HF_KEYS("state_size", "d_state", "mamba_d_state", "ssm_state_size"), 1);
	if (rc == 0)
		rc = hfcfg_field(c, ARCH_F_SSM_D_CONV, c->text,
				 HF_KEYS("conv_kernel", "d_conv", "mamba_d_conv"), 1);
	if (rc == 0)
		rc = hfcfg_field(c, ARCH_F_SSM_N_GROUP, c->text, HF_KEYS("n_groups", "mamba_n_groups", "ngroups"), 1);
	if (rc == 0 && c->recurrent)
		rc = hfcfg_field(c, ARCH_F_SSM_D_INNER, c->text, HF_KEYS("intermediate_size", "d_inner"), 1);
	if (rc == 0)
		rc = hfcfg_field(c, ARCH_F_SSM_D_INNER, c->text, HF_KEYS("mamba_d_ssm", "d_inner"), 1);
	if (rc < 0)
		return rc;
	rc = hfcfg_int(c, c->text, HF_KEYS("expand", "mamba_expand"), 1, 1024, &expand);
	if (rc < 0)
		return rc;
	rc = hfcfg_int(c, c->text, HF_KEYS(mamba2 && c->recurrent ? "num_heads" : "mamba_n_heads"), 1,
		       HFCFG_MAX_INT, &heads);
	if (rc < 0)
		return rc;
	rc = hfcfg_int(c, c->text, HF_KEYS(mamba2 && c->recurrent ? "head_dim" : "mamba_d_head"), 1,
		       HFCFG_MAX_INT, &head_dim);
	if (rc < 0)
		return rc;
	if (!arch_has(c->a, ARCH_F_SSM_D_INNER)) {
		uint64_t inner = heads && head_dim ? heads * head_dim : expand && hidden ? expand * hidden : 0;

		if (!inner && c->recurrent && hidden)
			inner = 2 * hidden;
		if (inner) {
			rc = arch_set_u64(c->a, ARCH_F_SSM_D_INNER, inner, ARCH_SRC_DERIVED);
			if (rc)
				return rc;
		}
	}
	if (!mamba2)
		return hfcfg_dt_rank(c);
	if (!heads && head_dim && arch_has(c->a, ARCH_F_SSM_D_INNER))
		heads = c->a->ssm.d_inner / head_dim;
	if (heads)
		return arch_set_u64(c->a, ARCH_F_SSM_DT_RANK, heads, ARCH_SRC_DERIVED);
	return 0;
}

/* ------------------------------------------------------------------------
 * Vision encoder
 * ------------------------------------------------------------------------ */

static int hfcfg_vision(struct hfcfg *c)
{
	int rc;
	json_t *v;

	if (!c->vision)
		return 0;
	v = json_object_get(c->vision, "image_size");
	if (json_is_array(v)) {
		rc = arch_warn(c->a, "vision_config.image_size is a list; image size left unknown");
		if (rc)
			return rc;
	} else {
		rc = hfcfg_field(c, ARCH_F_VISION_IMAGE_SIZE, c->vision, HF_KEYS("image_size"), 1);
		if (rc < 0)
			return rc;
	}
	v = json_object_get(c->vision, "patch_size");
	if (!json_is_array(v)) {
		rc = hfcfg_field(c, ARCH_F_VISION_PATCH_SIZE, c->vision, HF_KEYS("patch_size"), 1);
		if (rc < 0)
			return rc;
	}
	rc = hfcfg_field(c, ARCH_F_VISION_NUM_LAYERS, c->vision,
			 HF_KEYS("num_hidden_layers", "depth", "num_layers", "n_layers"), 1);
	if (rc < 0)
		return rc;
	return hfcfg_field(c, ARCH_F_VISION_HIDDEN_SIZE, c->vision,
			   HF_KEYS("hidden_size", "embed_dim", "width", "d_model"), 1);
}

/* ------------------------------------------------------------------------
 * Defaults of the transformers config classes
 * ------------------------------------------------------------------------ */

struct hfcfg_default {
	const char *model_type;  /* text model_type */
	enum arch_field field;
	const char *key;         /* the config.json key, for the warning */
	double value;
};

/* Gemma3TextConfig (transformers 4.50) and GemmaConfig/Gemma2Config. */
static const struct hfcfg_default hfcfg_defaults_table[] = {
	{ "gemma3_text", ARCH_F_NUM_LAYERS, "num_hidden_layers", 26 },
	{ "gemma3_text", ARCH_F_HIDDEN_SIZE, "hidden_size", 2304 },
	{ "gemma3_text", ARCH_F_INTERMEDIATE_SIZE, "intermediate_size", 9216 },
	{ "gemma3_text", ARCH_F_NUM_ATTENTION_HEADS, "num_attention_heads", 8 },
	{ "gemma3_text", ARCH_F_NUM_KV_HEADS, "num_key_value_heads", 4 },
	{ "gemma3_text", ARCH_F_HEAD_DIM, "head_dim", 256 },
	{ "gemma3_text", ARCH_F_VOCAB_SIZE, "vocab_size", 262208 },
	{ "gemma3_text", ARCH_F_MAX_POSITION_EMBEDDINGS, "max_position_embeddings", 131072 },
	{ "gemma3_text", ARCH_F_CONTEXT_LENGTH, "max_position_embeddings", 131072 },
	{ "gemma3_text", ARCH_F_ROPE_THETA, "rope_theta", 1000000 },
	{ "gemma3_text", ARCH_F_SLIDING_WINDOW, "sliding_window", 4096 },
	{ "gemma3_text", ARCH_F_SLIDING_WINDOW_PATTERN, "sliding_window_pattern", 6 },
	{ "gemma3_text", ARCH_F_TIE_WORD_EMBEDDINGS, "tie_word_embeddings", 1 },
	{ "gemma2", ARCH_F_TIE_WORD_EMBEDDINGS, "tie_word_embeddings", 1 },
	{ "gemma", ARCH_F_TIE_WORD_EMBEDDINGS, "tie_word_embeddings", 1 },
};

static int hfcfg_defaults(struct hfcfg *c)
{
	const char *type = c->model_type;
	size_t i;
	int rc;

	if (!type)
		return 0;
	if (strcmp(type, "gemma3") == 0 && c->text != c->root)
		type = "gemma3_text";
	for (i = 0; i < sizeof(hfcfg_defaults_table) / sizeof(hfcfg_defaults_table[0]); i++) {
		const struct hfcfg_default *df = &hfcfg_defaults_table[i];

		if (strcmp(df->model_type, type) != 0 || arch_has(c->a, df->field))
			continue;
		if (df->field == ARCH_F_SLIDING_WINDOW_PATTERN && c->a->layer_kind)
			continue;
		if (df->field == ARCH_F_TIE_WORD_EMBEDDINGS) {
			c->a->tie_word_embeddings = df->value != 0;
			c->a->src[df->field] = ARCH_SRC_DEFAULT;
			rc = 0;
		} else if (df->field == ARCH_F_ROPE_THETA) {
			rc = arch_set_double(c->a, df->field, df->value, ARCH_SRC_DEFAULT);
		} else {
			rc = arch_set_u64(c->a, df->field, (uint64_t)df->value, ARCH_SRC_DEFAULT);
		}
		if (rc == -EINVAL)
			continue;
		if (rc == 0 && df->field == ARCH_F_TIE_WORD_EMBEDDINGS)
			rc = arch_warn(c->a, "config.json does not give '%s'; using the %s default %s",
				       df->key, type, df->value != 0 ? "true" : "false");
		else if (rc == 0)
			rc = arch_warn(c->a, "config.json does not give '%s'; using the %s default %.15g",
				       df->key, type, df->value);
		if (rc)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Derived values
 * ------------------------------------------------------------------------ */

static int hfcfg_derive_kinds(struct hfcfg *c)
{
	struct arch *a = c->a;
	uint32_t *kv;
	size_t i, n = a->n_layer_info;
	uint64_t p;
	bool recurrent = false, full = false, other = false;
	int rc = 0;

	if (!a->layer_kind)
		return 0;
	for (i = 0; i < n; i++) {
		recurrent |= a->layer_kind[i] == ARCH_LAYER_RECURRENT;
		full |= a->layer_kind[i] == ARCH_LAYER_FULL;
		other |= a->layer_kind[i] == ARCH_LAYER_CHUNKED;
	}
	if (recurrent && arch_has(a, ARCH_F_NUM_KV_HEADS) && !a->layer_kv_heads) {
		kv = calloc(n, sizeof(*kv));
		if (!kv)
			return -ENOMEM;
		for (i = 0; i < n; i++)
			kv[i] = a->layer_kind[i] == ARCH_LAYER_RECURRENT ? 0 : (uint32_t)a->num_kv_heads;
		rc = arch_set_layer_kv_heads(a, kv, n, hfcfg_derived(a->src[ARCH_F_NUM_KV_HEADS]));
		free(kv);
		if (rc)
			return rc;
	}
	if (recurrent || other || !full || arch_has(a, ARCH_F_SLIDING_WINDOW_PATTERN) ||
	    !arch_has(a, ARCH_F_SLIDING_WINDOW))
		return 0;
	for (p = 1; p <= n; p++) {
		for (i = 0; i < n; i++)
			if (a->layer_kind[i] != (i % p < p - 1 ? ARCH_LAYER_SLIDING : ARCH_LAYER_FULL))
				break;
		if (i == n)
			return arch_set_u64(a, ARCH_F_SLIDING_WINDOW_PATTERN, p, ARCH_SRC_DERIVED);
	}
	return 0;
}

static int hfcfg_derive(struct hfcfg *c)
{
	struct arch *a = c->a;
	double prf = 1.0;
	int rc = 0;

	if (!c->recurrent && !arch_has(a, ARCH_F_NUM_KV_HEADS) && arch_has(a, ARCH_F_NUM_ATTENTION_HEADS)) {
		if (a->layer_heads)
			rc = arch_set_layer_kv_heads(a, a->layer_heads, a->n_layer_info,
						     hfcfg_derived(a->src[ARCH_F_NUM_ATTENTION_HEADS]));
		else
			rc = arch_set_u64(a, ARCH_F_NUM_KV_HEADS, a->num_attention_heads,
					  hfcfg_derived(a->src[ARCH_F_NUM_ATTENTION_HEADS]));
		if (rc)
			return rc;
	}
	if (!c->recurrent && !arch_has(a, ARCH_F_HEAD_DIM) && !arch_has(a, ARCH_F_KV_LORA_RANK) &&
	    arch_has(a, ARCH_F_HIDDEN_SIZE) && arch_has(a, ARCH_F_NUM_ATTENTION_HEADS) && !a->layer_heads) {
		if (a->hidden_size % a->num_attention_heads == 0)
			rc = arch_set_u64(a, ARCH_F_HEAD_DIM, a->hidden_size / a->num_attention_heads,
					  hfcfg_derived(a->src[ARCH_F_NUM_ATTENTION_HEADS] == ARCH_SRC_DEFAULT ?
							ARCH_SRC_DEFAULT : a->src[ARCH_F_HIDDEN_SIZE]));
		else
			rc = arch_warn(a, "hidden_size %llu is not a multiple of num_attention_heads %llu; "
				       "head_dim unknown", (unsigned long long)a->hidden_size,
				       (unsigned long long)a->num_attention_heads);
		if (rc)
			return rc;
	}
	if (arch_has(a, ARCH_F_HEAD_DIM)) {
		if (!arch_has(a, ARCH_F_HEAD_DIM_K))
			rc = arch_set_u64(a, ARCH_F_HEAD_DIM_K, a->head_dim, hfcfg_derived(a->src[ARCH_F_HEAD_DIM]));
		if (rc == 0 && !arch_has(a, ARCH_F_HEAD_DIM_V))
			rc = arch_set_u64(a, ARCH_F_HEAD_DIM_V, a->head_dim, hfcfg_derived(a->src[ARCH_F_HEAD_DIM]));
		if (rc)
			return rc;
	}
	if (!arch_has(a, ARCH_F_ROPE_DIM) && arch_has(a, ARCH_F_HEAD_DIM) && arch_has(a, ARCH_F_ROPE_THETA)) {
		rc = hfcfg_real(c, c->text, HF_KEYS("partial_rotary_factor", "rotary_pct"), &prf);
		if (rc < 0)
			return rc;
		if (prf > 0 && prf <= 1) {
			rc = arch_set_u64(a, ARCH_F_ROPE_DIM, (uint64_t)(a->head_dim * prf),
					  hfcfg_derived(a->src[ARCH_F_HEAD_DIM]));
			if (rc)
				return rc;
		}
	}
	if (arch_has(a, ARCH_F_EXPERT_COUNT) && !arch_has(a, ARCH_F_EXPERT_FFN_SIZE) &&
	    arch_has(a, ARCH_F_INTERMEDIATE_SIZE)) {
		rc = arch_set_u64(a, ARCH_F_EXPERT_FFN_SIZE, a->intermediate_size, ARCH_SRC_DERIVED);
		if (rc)
			return rc;
	}
	return hfcfg_derive_kinds(c);
}

/* ------------------------------------------------------------------------
 * Entry point
 * ------------------------------------------------------------------------ */

static int hfcfg_read(struct hfcfg *c)
{
	int rc;

	rc = hfcfg_identity(c);
	if (rc)
		return rc;
	c->recurrent = hfcfg_arch_is(c, "mamba") || hfcfg_arch_is(c, "mamba2") ||
		       hfcfg_arch_is(c, "rwkv6") || hfcfg_arch_is(c, "rwkv7");
	rc = hfcfg_text(c);
	if (rc == 0)
		rc = hfcfg_mla(c);
	if (rc == 0)
		rc = hfcfg_windows(c);
	if (rc == 0)
		rc = hfcfg_moe(c);
	if (rc == 0)
		rc = hfcfg_ssm(c);
	if (rc == 0)
		rc = hfcfg_vision(c);
	if (rc == 0)
		rc = hfcfg_defaults(c);
	if (rc == 0)
		rc = hfcfg_derive(c);
	return rc;
}

int arch_from_hfcfg(const char *json, size_t len, struct arch *out, struct diag *d)
{
	struct hfcfg c = { 0 };
	struct sbuf clean;
	json_error_t err;
	struct arch tmp;
	int rc;

	if (!json || !out)
		return -EINVAL;
	if (len > CAP_CONFIG_JSON_BYTES)
		return diag_fail(d, -EFBIG, "config.json of %zu bytes is over the %u-byte limit; "
				 "is it really a config.json?", len, CAP_CONFIG_JSON_BYTES);
	sbuf_init(&clean, 2 * (size_t)CAP_CONFIG_JSON_BYTES);
	if (hfcfg_scan_nonfinite(json, len, NULL) > 0) {
		hfcfg_scan_nonfinite(json, len, &clean);
		if (clean.err) {
			rc = clean.err;
			goto out_clean;
		}
		json = clean.buf;
		len = clean.len;
	}
	c.root = json_loadb(json, len, JSON_DECODE_ANY, &err);
	if (!c.root) {
		rc = MALFORMED(d, "config.json is not JSON: %s (line %d, column %d)", err.text, err.line,
			       err.column);
		goto out_clean;
	}
	if (!json_is_object(c.root)) {
		rc = MALFORMED(d, "config.json is not a JSON object");
		goto out_json;
	}
	arch_init(&tmp);
	c.text = c.root;
	c.a = &tmp;
	c.d = d;
	rc = hfcfg_read(&c);
	if (rc == 0)
		rc = arch_merge(out, &tmp);
	arch_release(&tmp);
out_json:
	json_decref(c.root);
out_clean:
	sbuf_release(&clean);
	return rc;
}
