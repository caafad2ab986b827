/*
 * render.c - the computed files of the tree (SPEC §3, §4).
 *
 * Every file the mount shows that is not model bytes is produced here from
 * plain data: a registry snapshot, one variant, one quant.  fs/ renders a
 * file once at open() into an sbuf and reports the size of that same
 * rendering in getattr(), so each renderer must be deterministic: the same
 * input gives the same bytes, with no clock, no locale and no hash order in
 * the output.  Nothing here touches the network or the database.
 *
 * JSON files are built as jansson trees and dumped with two-space indents
 * in insertion order, reals with 15 significant digits (enough for every
 * value we print and free of the 0.30000000000000004 noise of 17), then a
 * final newline, streamed into the sbuf so its cap holds.  jansson refuses
 * strings that are not UTF-8; a string from outside (a GGUF name) that is
 * not is passed through sbuf_add_json_str(), which replaces the bad bytes
 * with U+FFFD, so a rendering never fails on data.
 *
 * A value that is not known is null (or, for the optional fields SPEC §4
 * marks "when known", absent); nothing is invented.  Derived values are
 * computed only from known inputs: size_factor is the quant's size over the
 * f16 size (2 bytes per parameter) when both are known, quality_stars comes
 * from the parameter count and bits per weight when the registry has none.
 * The VRAM figures (estimated_vram_gb, vram_mib_8k, info.json's estimate)
 * are core/vram.c's estimate at SPEC §4's settings, ctx 8192 with an f16
 * cache fully offloaded, from the variant's architecture and the quant's
 * size; a quant it cannot judge (no architecture) shows null or an empty
 * cell.  Speeds need the hardware profile the caller passes.  One
 * estimate costs some 40 us, mostly parsing architecture.json, so
 * registry.json of the built-in catalog pays a few milliseconds for them.
 *
 * Benchmarks (issue 7) come from the snapshot: model_quant.bench holds a
 * quant's runs, oldest first.  What a user reads of them follows two
 * rules.  The state (models.tsv's benchmark column, status's benchmark=,
 * info.json's benchmark and status) is the latest run's, whatever its
 * outcome, so a queued or failed run shows at once.  The numbers
 * (tg_tokens_per_s, pp_tokens_per_s, the measured peaks, compare.tsv's
 * measured basis) are the latest tested run's, so a failed retry does not
 * erase the last good measurement.  Measured speeds print with two
 * decimals, as llama-bench prints them; estimates with one, as fit@ does,
 * so the two are told apart at a glance even without compare.tsv's basis
 * column.  compare.tsv ranks every other registered quant by decode
 * speed, measured where a run measured it and estimated (fit@ at ctx 8192
 * with the caller's hardware profile, as models.tsv) elsewhere: one
 * estimate per quant, the cost of models.tsv.
 *
 * models.tsv has one row per quant, sorted by the bytes of its path
 * FAMILY/VARIANT/QUANT (which differs from the snapshot's (family,
 * variant) order when one variant name is a prefix of another), so rows
 * are built first and sorted with qsort.
 */
#include "core.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define RENDER_JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

static const char render_tsv_header[] =
	"path\tfamily\tvariant\tquant\tparams_b\tbits_per_weight\tsize_bytes\tvram_mib_8k\tstars\t"
	"est_tg_tokens_per_s\ttg_tokens_per_s\tpp_tokens_per_s\tcache\tbenchmark\n";

/*
 * Quality stars, 1..5, from an "effective size" in GB-like units:
 *
 *   eff = params_b * min(bpw, 8) / 16 * penalty,  penalty = (bpw / 3)^2 below 3 bits, else 1
 *
 * that is the parameter count scaled by the fraction of f16 precision kept,
 * where precision beyond 8 bits adds nothing (q8_0 is indistinguishable
 * from f16 in practice) and precision below 3 bits costs more than its
 * share (the steep perplexity rise of 2-bit quants).  Stars by eff:
 * >= 12: 5, >= 4: 4, >= 1.5: 3, >= 0.5: 2, else 1.  So a 70B q4_k_m
 * (4.85 bpw, eff 21) is 5, a 32B q4_k_m (9.7) is 4, an 8B q4_k_m (2.4) is
 * 3, an 8B q8_0 (4.0) is 4, a 3B q4_k_m (0.9) is 2, a 1B q4_0 (0.28) is 1.
 * eff grows with both inputs, so the stars are monotonic in both.
 */
int render_quality_stars(double params_b, double bits_per_weight)
{
	double eff;

	if (!(params_b > 0) || !(bits_per_weight > 0) || !isfinite(params_b) ||
	    !isfinite(bits_per_weight))
		return 0;
	eff = params_b * fmin(bits_per_weight, 8.0) / 16.0;
	if (bits_per_weight < 3.0)
		eff *= (bits_per_weight / 3.0) * (bits_per_weight / 3.0);
	if (eff >= 12.0)
		return 5;
	if (eff >= 4.0)
		return 4;
	if (eff >= 1.5)
		return 3;
	if (eff >= 0.5)
		return 2;
	return 1;
}

/* A JSON string for s: null for NULL, bad UTF-8 replaced by U+FFFD. */
static json_t *render_str(const char *s)
{
	struct sbuf sb;
	json_t *j;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	sbuf_init(&sb, CAP_RENDER_BYTES);
	if (sbuf_add_json_str(&sb, s) == 0)
		j = json_loadb(sb.buf, sb.len, JSON_DECODE_ANY, NULL);
	sbuf_release(&sb);
	return j;
}

static json_t *render_u64(uint64_t v)
{
	if (v == 0 || v > (uint64_t)INT64_MAX)
		return json_null();
	return json_integer((json_int_t)v);
}

static json_t *render_real(double v)
{
	if (!(v > 0) || !isfinite(v))
		return json_null();
	return json_real(v);
}

static double render_round(double v, double scale)
{
	return round(v * scale) / scale;
}

/* Parameter count in billions: the registry's, or derived from the exact count. */
static double render_params_b(const struct model_variant *v)
{
	if (v->parameter_count_b > 0 && isfinite(v->parameter_count_b))
		return v->parameter_count_b;
	if (v->parameter_count_exact)
		return render_round((double)v->parameter_count_exact / 1e9, 100.0);
	return 0;
}

static int render_stars(const struct model_variant *v, const struct model_quant *q)
{
	if (q->quality_stars >= 1 && q->quality_stars <= 5)
		return q->quality_stars;
	return render_quality_stars(render_params_b(v), q->bits_per_weight);
}

/* SPEC §4's estimate of q: vram@ctx=8192 (f16 cache, full offload) in
 * *est, and when fit is not NULL and hw gives a VRAM size, fit@ there
 * (*fit_known).  false when the estimator cannot judge q (no
 * architecture, no size): that is an unknown value, not an error. */
/* A profile with no GPU at all, but the RAM's bandwidth: models run on
 * the CPU there, and the speed estimates are the CPU's. */
static bool render_hw_is_cpu(const struct hw_profile *hw)
{
	return !hw->gpu_vram_mib && !(hw->gpu_bandwidth_gbps > 0) && !hw->gpu_name[0] &&
	       hw->ram_bandwidth_gbps > 0;
}

/* The "fit" of a CPU-only machine: nothing on a GPU (fits no, ngl 0),
 * everything in RAM, and the decode speed at the RAM's bandwidth. */
static bool render_cpu_fit(const struct vram_model *m, const struct vram_params *base,
			   const struct hw_profile *hw, struct vram_fit *fit)
{
	struct vram_params p = *base;

	memset(fit, 0, sizeof(*fit));
	p.backend = VRAM_BACKEND_CPU;
	p.ngl = 0;
	if (vram_estimate(m, &p, &fit->est, NULL) != 0)
		return false;
	fit->fits = VRAM_FITS_NO;
	fit->layers = fit->est.layers;
	fit->cpu_bytes = fit->est.total_bytes;
	fit->tg_known = vram_estimate_tg(&fit->est, hw, &fit->est_tg_tokens_per_s);
	return true;
}

static bool render_estimate(const struct model_variant *v, const struct model_quant *q,
			    const struct hw_profile *hw, struct vram_estimate *est,
			    struct vram_fit *fit, bool *fit_known)
{
	struct vram_params p;
	struct vram_model m;
	bool ok = false;

	if (fit_known)
		*fit_known = false;
	vram_params_init(&p, VRAM_KIND_VRAM);
	p.ctx_tokens = VRAM_DEFAULT_CTX;
	if (vram_model_from_variant(&m, v, q, NULL) == 0) {
		ok = vram_estimate(&m, &p, est, NULL) == 0;
		if (ok && fit && fit_known && hw && hw->gpu_vram_mib) {
			p.kind = VRAM_KIND_FIT;
			*fit_known = vram_fit(&m, &p, hw, fit, NULL) == 0;
		} else if (ok && fit && fit_known && hw && render_hw_is_cpu(hw)) {
			*fit_known = render_cpu_fit(&m, &p, hw, fit);
		}
	}
	vram_model_release(&m);
	return ok;
}

static uint64_t render_ceil_mib(uint64_t bytes)
{
	return bytes / (1024 * 1024) + (bytes % (1024 * 1024) != 0);
}

/* estimated_vram_gb: GiB rounded up to 0.01 as vram@...,unit=gib prints
 * it, so that comparing it with a GPU's size never says yes wrongly. */
static json_t *render_vram_gb(const struct model_variant *v, const struct model_quant *q)
{
	const uint64_t gib = 1024ull * 1024 * 1024;
	struct vram_estimate e;

	if (!render_estimate(v, q, NULL, &e, NULL, NULL) || e.total_bytes > (UINT64_MAX - gib) / 100)
		return json_null();
	return json_real((double)((e.total_bytes * 100 + gib - 1) / gib) / 100.0);
}

static int render_dump_cb(const char *buffer, size_t size, void *data)
{
	return sbuf_add(data, buffer, size) ? -1 : 0;
}

static int render_dump(json_t *j, struct sbuf *out)
{
	if (json_dump_callback(j, render_dump_cb, out, RENDER_JSON_FLAGS) != 0)
		return out->err ? out->err : -ENOMEM;
	return sbuf_addch(out, '\n');
}

/* Parses v->extra_json; NULL when absent or not a JSON object. */
static json_t *render_extra(const struct model_variant *v)
{
	json_error_t err;
	json_t *j;

	if (!v->extra_json)
		return NULL;
	j = json_loads(v->extra_json, 0, &err);
	if (!j || !json_is_object(j)) {
		log_msg(LOG_WARN, "extra metadata of '%s/%s' is not a JSON object; ignoring it",
			v->family ? v->family : "", v->variant ? v->variant : "");
		json_decref(j);
		return NULL;
	}
	return j;
}

static json_t *render_quant_obj(const struct model_variant *v, const struct model_quant *q)
{
	json_t *o = json_object();
	double factor = 0;
	int bad = 0;

	if (!o)
		return NULL;
	if (q->size_bytes && v->parameter_count_exact)
		factor = render_round((double)q->size_bytes / ((double)v->parameter_count_exact * 2.0), 1e4);
	bad |= json_object_set_new(o, "name", render_str(q->name));
	bad |= json_object_set_new(o, "file_pattern", render_str(q->file_pattern));
	bad |= json_object_set_new(o, "size_bytes", render_u64(q->size_bytes));
	bad |= json_object_set_new(o, "size_exact", json_boolean(q->size_exact && q->size_bytes));
	bad |= json_object_set_new(o, "size_factor", render_real(factor));
	bad |= json_object_set_new(o, "bits_per_weight", render_real(q->bits_per_weight));
	bad |= json_object_set_new(o, "quality_stars", render_u64((uint64_t)render_stars(v, q)));
	bad |= json_object_set_new(o, "estimated_vram_gb", render_vram_gb(v, q));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *render_variant_obj(const struct model_variant *v)
{
	json_t *o = json_object(), *quants = json_array(), *extra = render_extra(v), *x;
	size_t i;
	int bad = 0;

	if (!o || !quants)
		goto out_fail;
	bad |= json_object_set_new(o, "family", render_str(v->family));
	bad |= json_object_set_new(o, "variant", render_str(v->variant));
	bad |= json_object_set_new(o, "full_name", render_str(v->full_name));
	bad |= json_object_set_new(o, "repo_id", render_str(v->repo_id));
	bad |= json_object_set_new(o, "revision", render_str(v->revision));
	bad |= json_object_set_new(o, "architecture", render_str(v->architecture));
	bad |= json_object_set_new(o, "parameter_count", render_real(render_params_b(v)));
	if (v->parameter_count_exact)
		bad |= json_object_set_new(o, "parameter_count_exact", render_u64(v->parameter_count_exact));
	bad |= json_object_set_new(o, "context_window", render_u64(v->context_window));
	bad |= json_object_set_new(o, "multimodal", json_boolean(v->multimodal));
	x = extra ? json_object_get(extra, "additional_files") : NULL;
	if (json_is_array(x))
		bad |= json_object_set(o, "additional_files", x);
	else
		bad |= json_object_set_new(o, "additional_files", json_array());
	for (i = 0; i < v->n_quants; i++)
		bad |= json_array_append_new(quants, render_quant_obj(v, &v->quants[i]));
	bad |= json_object_set(o, "quantizations", quants);
	x = extra ? json_object_get(extra, "recommended_parameters") : NULL;
	if (json_is_object(x))
		bad |= json_object_set(o, "recommended_parameters", x);
	x = extra ? json_object_get(extra, "sources") : NULL;
	if (x && !json_is_null(x))
		bad |= json_object_set(o, "sources", x);
	bad |= json_object_set_new(o, "origin", render_str(v->origin));
	if (bad)
		goto out_fail;
	json_decref(quants);
	json_decref(extra);
	return o;

out_fail:
	json_decref(o);
	json_decref(quants);
	json_decref(extra);
	return NULL;
}

int render_variant_info(const struct model_variant *v, struct sbuf *out)
{
	json_t *o;
	int rc;

	if (!v)
		return -EINVAL;
	o = render_variant_obj(v);
	if (!o)
		return -ENOMEM;
	rc = render_dump(o, out);
	json_decref(o);
	return rc;
}

int render_registry_json(const struct registry_snapshot *s, struct sbuf *out)
{
	json_t *root = json_object(), *models = json_array();
	size_t i;
	int bad = 0, rc;

	if (!root || !models) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (i = 0; s && i < s->n_variants && !bad; i++)
		bad |= json_array_append_new(models, render_variant_obj(&s->variants[i]));
	bad |= json_object_set(root, "models", models);
	if (bad) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = render_dump(root, out);
out_free:
	json_decref(models);
	json_decref(root);
	return rc;
}

/* One TSV cell: tabs and line breaks of a hostile string become spaces. */
static void render_tsv_cell(struct sbuf *sb, const char *s)
{
	size_t i;

	for (i = 0; s && s[i]; i++)
		sbuf_addch(sb, (s[i] == '\t' || s[i] == '\n' || s[i] == '\r') ? ' ' : s[i]);
}

static void render_tsv_real(struct sbuf *sb, double v)
{
	if (v > 0 && isfinite(v))
		sbuf_addf(sb, "%.15g", v);
}

/* A measured speed: two decimals, as llama-bench prints it. */
static void render_tsv_speed(struct sbuf *sb, double v)
{
	if (v >= 0 && isfinite(v))
		sbuf_addf(sb, "%.2f", v);
}

/* The latest run's state name, "untested" without one. */
static const char *render_bench_state(const struct model_quant *q)
{
	const struct bench_run *r = bench_latest(q);

	return r ? bench_status_name(r->status) : "untested";
}

struct render_row {
	char *line;              /* the whole row, newline included */
	size_t path_len;         /* bytes of its first cell */
	double tps;              /* compare.tsv: its decode speed */
};

static int render_row_cmp(const void *a, const void *b)
{
	const struct render_row *x = a, *y = b;
	size_t n = x->path_len < y->path_len ? x->path_len : y->path_len;
	int c = memcmp(x->line, y->line, n);

	if (c)
		return c;
	return (x->path_len > y->path_len) - (x->path_len < y->path_len);
}

static int render_tsv_row(const struct model_variant *v, const struct model_quant *q,
			  const struct hw_profile *hw, struct vram_fit *fit, struct render_row *row)
{
	const struct bench_run *tested = bench_latest_tested(q);
	struct vram_estimate est;
	struct sbuf sb;
	int stars = render_stars(v, q);
	size_t path_len;
	bool known, fit_known;

	sbuf_init(&sb, CAP_LINE_BYTES * 4);
	render_tsv_cell(&sb, v->family);
	sbuf_addch(&sb, '/');
	render_tsv_cell(&sb, v->variant);
	sbuf_addch(&sb, '/');
	render_tsv_cell(&sb, q->name);
	path_len = sb.len;
	sbuf_addch(&sb, '\t');
	render_tsv_cell(&sb, v->family);
	sbuf_addch(&sb, '\t');
	render_tsv_cell(&sb, v->variant);
	sbuf_addch(&sb, '\t');
	render_tsv_cell(&sb, q->name);
	sbuf_addch(&sb, '\t');
	render_tsv_real(&sb, render_params_b(v));
	sbuf_addch(&sb, '\t');
	render_tsv_real(&sb, q->bits_per_weight);
	sbuf_addch(&sb, '\t');
	if (q->size_bytes)
		sbuf_addf(&sb, "%" PRIu64, q->size_bytes);
	sbuf_addch(&sb, '\t');
	known = render_estimate(v, q, hw, &est, fit, &fit_known);
	if (known)
		sbuf_addf(&sb, "%" PRIu64, render_ceil_mib(est.total_bytes));
	sbuf_addch(&sb, '\t');
	if (stars)
		sbuf_addf(&sb, "%d", stars);
	sbuf_addch(&sb, '\t');
	if (known && fit_known && fit->tg_known)
		sbuf_addf(&sb, "%.1f", fit->est_tg_tokens_per_s);
	sbuf_addch(&sb, '\t');
	if (tested && tested->m.has_tg)
		render_tsv_speed(&sb, tested->m.tg_tokens_per_s);
	sbuf_addch(&sb, '\t');
	if (tested && tested->m.has_pp)
		render_tsv_speed(&sb, tested->m.pp_tokens_per_s);
	sbuf_addf(&sb, "\tremote\t%s\n", render_bench_state(q));
	if (sb.err) {
		int rc = sb.err;

		sbuf_release(&sb);
		return rc;
	}
	row->line = sbuf_detach(&sb, NULL);
	row->path_len = path_len;
	return row->line ? 0 : -ENOMEM;
}

int render_models_tsv(const struct registry_snapshot *s, const struct hw_profile *hw, struct sbuf *out)
{
	struct render_row *rows = NULL;
	size_t n_rows = 0, n = 0, i, j;
	struct vram_fit *fit;
	int rc = 0;

	for (i = 0; s && i < s->n_variants; i++)
		n_rows += s->variants[i].n_quants;
	fit = calloc(1, sizeof(*fit));
	if (!fit)
		return -ENOMEM;
	if (n_rows) {
		rows = calloc(n_rows, sizeof(*rows));
		if (!rows) {
			free(fit);
			return -ENOMEM;
		}
	}
	for (i = 0; s && i < s->n_variants && !rc; i++) {
		const struct model_variant *v = &s->variants[i];

		for (j = 0; j < v->n_quants && !rc; j++) {
			rc = render_tsv_row(v, &v->quants[j], hw, fit, &rows[n]);
			if (!rc)
				n++;
		}
	}
	if (rc)
		goto out_free;
	if (n)
		qsort(rows, n, sizeof(*rows), render_row_cmp);
	sbuf_addstr(out, render_tsv_header);
	for (i = 0; i < n; i++)
		sbuf_addstr(out, rows[i].line);
	rc = out->err;
out_free:
	for (i = 0; i < n; i++)
		free(rows[i].line);
	free(rows);
	free(fit);
	return rc;
}

int render_variant_arch(const struct model_variant *v, struct sbuf *out)
{
	json_error_t err;
	json_t *j;
	int rc;

	if (!v)
		return -EINVAL;
	if (v->arch_json) {
		j = json_loads(v->arch_json, JSON_REJECT_DUPLICATES, &err);
		if (!j || !json_is_object(j)) {
			log_msg(LOG_WARN, "stored architecture of '%s/%s' is not a JSON object: %s",
				v->family ? v->family : "", v->variant ? v->variant : "",
				j ? "wrong type" : err.text);
			json_decref(j);
			return -EBADMSG;
		}
	} else {
		j = json_pack("{s:s, s:[s]}", "source", "none", "warnings",
			      "architecture not known; register the model from a GGUF file, "
			      "or give base=ORG/REPO for a repo with a config.json");
		if (!j)
			return -ENOMEM;
	}
	rc = render_dump(j, out);
	json_decref(j);
	return rc;
}

static json_t *render_file_obj(const struct model_file *f)
{
	return json_pack("{s:o, s:o, s:o, s:o}",
			 "name", render_str(f->name),
			 "upstream", render_str(f->upstream),
			 "size_bytes", render_u64(f->size_bytes),
			 "sha256", render_str(f->sha256));
}

/* info.json's "estimate": vram@ctx=8192, the peak memory the latest
 * tested run measured (seed 003's reconciliation of estimate and
 * runtime) and, with hw's VRAM, its fit@ lines as JSON; null when the
 * estimator cannot judge q. */
static json_t *render_estimate_obj(const struct model_variant *v, const struct model_quant *q,
				   const struct hw_profile *hw)
{
	const struct bench_run *tested = bench_latest_tested(q);
	struct vram_estimate est;
	struct vram_fit *fit;
	json_t *o, *f = NULL;
	bool fit_known = false;

	fit = calloc(1, sizeof(*fit));
	if (!fit)
		return NULL;
	if (!render_estimate(v, q, hw, &est, fit, &fit_known)) {
		free(fit);
		return json_null();
	}
	if (fit_known)
		f = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:o}",
			      "gpu_vram_mib", (json_int_t)hw->gpu_vram_mib,
			      "fits", vram_fits_name(fit->fits),
			      "ngl", (json_int_t)fit->ngl,
			      "layers", (json_int_t)fit->layers,
			      "gpu_mib", (json_int_t)render_ceil_mib(fit->gpu_bytes),
			      "cpu_mib", (json_int_t)render_ceil_mib(fit->cpu_bytes),
			      "max_ctx", (json_int_t)fit->max_ctx,
			      "est_tg_tokens_per_s", fit->tg_known ?
			      json_real(round(fit->est_tg_tokens_per_s * 10.0) / 10.0) : json_null());
	o = json_pack("{s:I, s:I, s:o, s:o, s:s, s:o}", "ctx", (json_int_t)VRAM_DEFAULT_CTX,
		      "vram_mib", (json_int_t)render_ceil_mib(est.total_bytes),
		      "measured_peak_rss_mib", render_u64(tested ? tested->peak_rss_mib : 0),
		      "measured_peak_vram_mib", tested && tested->peak_vram_mib >= 0 ?
		      json_integer((json_int_t)tested->peak_vram_mib) : json_null(),
		      "weights_source", vram_source_name(est.source),
		      "fit", f ? f : json_null());
	free(fit);
	return o;
}

/* info.json's "benchmark": the latest run, or null. */
static json_t *render_bench_obj(const struct model_quant *q)
{
	const struct bench_run *r = bench_latest(q);
	json_t *o = NULL;

	if (!r)
		return json_null();
	if (bench_run_to_json(r, &o) != 0)
		return NULL;
	return o;
}

int render_quant_info(const struct model_variant *v, const struct model_quant *q,
		      const struct render_cache *cache, const struct hw_profile *hw, struct sbuf *out)
{
	json_t *o, *files;
	size_t i;
	int bad = 0, stars, rc;

	if (!v || !q)
		return -EINVAL;
	o = json_object();
	files = json_array();
	if (!o || !files) {
		rc = -ENOMEM;
		goto out_free;
	}
	stars = render_stars(v, q);
	for (i = 0; i < q->n_files; i++)
		bad |= json_array_append_new(files, render_file_obj(&q->files[i]));
	bad |= json_object_set_new(o, "family", render_str(v->family));
	bad |= json_object_set_new(o, "variant", render_str(v->variant));
	bad |= json_object_set_new(o, "quant", render_str(q->name));
	bad |= json_object_set_new(o, "repo_id", render_str(v->repo_id));
	bad |= json_object_set_new(o, "revision", render_str(v->revision));
	bad |= json_object_set(o, "files", files);
	bad |= json_object_set_new(o, "size_bytes", render_u64(q->size_bytes));
	bad |= json_object_set_new(o, "size_exact", json_boolean(q->size_exact && q->size_bytes));
	bad |= json_object_set_new(o, "bits_per_weight", render_real(q->bits_per_weight));
	bad |= json_object_set_new(o, "quality_stars", render_u64((uint64_t)stars));
	bad |= json_object_set_new(o, "cache", json_pack("{s:s, s:o, s:b, s:o}",
							"state", cache && cache->state ? cache->state : "remote",
							"cached_bytes", render_u64(cache ? cache->cached_bytes : 0),
							"pinned", cache && cache->pinned,
							"local_path", render_str(cache ? cache->local_path : NULL)));
	bad |= json_object_set_new(o, "estimate", render_estimate_obj(v, q, hw));
	bad |= json_object_set_new(o, "benchmark", render_bench_obj(q));
	bad |= json_object_set_new(o, "status", json_string(render_bench_state(q)));
	if (bad) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = render_dump(o, out);
out_free:
	json_decref(files);
	json_decref(o);
	return rc;
}

int render_quant_status(const struct model_variant *v, const struct model_quant *q,
			const struct render_cache *cache, struct sbuf *out)
{
	uint64_t cached = cache ? cache->cached_bytes : 0;
	const struct bench_run *last;
	const char *p, *error = NULL;
	double progress = 0;

	if (!v || !q)
		return -EINVAL;
	if (q->size_bytes)
		progress = cached >= q->size_bytes ? 100.0 : 100.0 * (double)cached / (double)q->size_bytes;
	if (cache && cache->state && strcmp(cache->state, "cached") == 0)
		progress = 100.0;
	else if (progress > 99.9)
		progress = 99.9;
	sbuf_addf(out, "cache=%s\ncached_bytes=%" PRIu64 "\nsize_bytes=",
		  cache && cache->state ? cache->state : "remote", cached);
	if (q->size_bytes)
		sbuf_addf(out, "%" PRIu64, q->size_bytes);
	sbuf_addf(out, "\nprogress=%.1f\nbenchmark=%s\n", progress, render_bench_state(q));
	last = bench_latest(q);
	if (cache && cache->error && *cache->error)
		error = cache->error;
	else if (last && last->status == BENCH_FAILED && last->error && *last->error)
		error = last->error;
	if (error) {
		sbuf_addstr(out, "error=");
		for (p = error; *p; p++)
			sbuf_addch(out, *p == '\n' || *p == '\r' ? ' ' : *p);
		sbuf_addch(out, '\n');
	}
	return out->err;
}

int render_quant_benchmark(const struct model_quant *q, struct sbuf *out)
{
	const struct bench_run *last;
	json_t *o = NULL, *history = NULL, *h;
	size_t i;
	int bad = 0, rc;

	if (!q)
		return -EINVAL;
	last = bench_latest(q);
	if (!last) {
		o = json_pack("{s:s}", "status", "untested");
		if (!o)
			return -ENOMEM;
		rc = render_dump(o, out);
		json_decref(o);
		return rc;
	}
	rc = bench_run_to_json(last, &o);
	if (rc)
		return rc;
	history = json_array();
	bad |= !history;
	for (i = q->n_bench; i-- > 0 && !bad;) {
		if (&q->bench[i] == last)
			continue;
		h = NULL;
		rc = bench_run_to_json(&q->bench[i], &h);
		if (rc)
			goto out_free;
		bad |= json_array_append_new(history, h);
	}
	bad |= json_object_set(o, "history", history);
	if (bad) {
		rc = -ENOMEM;
		goto out_free;
	}
	rc = render_dump(o, out);
out_free:
	json_decref(history);
	json_decref(o);
	return rc;
}

/* q's decode speed for compare.tsv: the latest tested run's, else fit@'s
 * estimate at ctx 8192 with hw.  false when neither is known. */
static bool render_speed(const struct model_variant *v, const struct model_quant *q,
			 const struct hw_profile *hw, struct vram_fit *fit, double *tps, bool *measured)
{
	const struct bench_run *t = bench_latest_tested(q);
	struct vram_estimate est;
	bool fit_known;

	*measured = false;
	if (t && t->m.has_tg && t->m.tg_tokens_per_s > 0 && isfinite(t->m.tg_tokens_per_s)) {
		*tps = t->m.tg_tokens_per_s;
		*measured = true;
		return true;
	}
	if (!render_estimate(v, q, hw, &est, fit, &fit_known) || !fit_known || !fit->tg_known ||
	    !(fit->est_tg_tokens_per_s > 0) || !isfinite(fit->est_tg_tokens_per_s))
		return false;
	*tps = fit->est_tg_tokens_per_s;
	return true;
}

static bool render_same_quant(const struct model_variant *a, const struct model_quant *qa,
			      const struct model_variant *b, const struct model_quant *qb)
{
	return !strcmp(a->family, b->family) && !strcmp(a->variant, b->variant) &&
	       !strcmp(qa->name, qb->name);
}

/* Fastest first, ties by path. */
static int render_speed_cmp(const void *a, const void *b)
{
	const struct render_row *x = a, *y = b;

	if (x->tps != y->tps)
		return x->tps > y->tps ? -1 : 1;
	return render_row_cmp(a, b);
}

static int render_compare_row(const struct model_variant *v, const struct model_quant *q, double tps,
			      bool measured, bool this_known, double this_tps, struct render_row *row)
{
	struct sbuf sb;
	size_t path_len;

	sbuf_init(&sb, CAP_LINE_BYTES * 4);
	render_tsv_cell(&sb, v->family);
	sbuf_addch(&sb, '/');
	render_tsv_cell(&sb, v->variant);
	sbuf_addch(&sb, '/');
	render_tsv_cell(&sb, q->name);
	path_len = sb.len;
	sbuf_addch(&sb, '\t');
	if (measured)
		render_tsv_speed(&sb, tps);
	else
		sbuf_addf(&sb, "%.1f", tps);
	sbuf_addch(&sb, '\t');
	if (this_known)
		sbuf_addf(&sb, "%.2f", tps / this_tps);
	sbuf_addf(&sb, "\t%s\n", measured ? "measured" : "estimated");
	if (sb.err) {
		int rc = sb.err;

		sbuf_release(&sb);
		return rc;
	}
	row->line = sbuf_detach(&sb, NULL);
	row->path_len = path_len;
	row->tps = tps;
	return row->line ? 0 : -ENOMEM;
}

int render_quant_compare(const struct registry_snapshot *s, const struct model_variant *v,
			 const struct model_quant *q, const struct hw_profile *hw, struct sbuf *out)
{
	struct render_row *rows = NULL;
	size_t n_rows = 0, n = 0, i, j;
	struct vram_fit *fit;
	double this_tps = 0, tps;
	bool this_known, measured;
	int rc = 0;

	if (!v || !q || !v->family || !v->variant || !q->name)
		return -EINVAL;
	for (i = 0; s && i < s->n_variants; i++)
		n_rows += s->variants[i].n_quants;
	fit = calloc(1, sizeof(*fit));
	if (!fit)
		return -ENOMEM;
	if (n_rows) {
		rows = calloc(n_rows, sizeof(*rows));
		if (!rows) {
			free(fit);
			return -ENOMEM;
		}
	}
	this_known = render_speed(v, q, hw, fit, &this_tps, &measured);
	for (i = 0; s && i < s->n_variants && !rc; i++) {
		const struct model_variant *ov = &s->variants[i];

		for (j = 0; j < ov->n_quants && !rc; j++) {
			const struct model_quant *oq = &ov->quants[j];

			if (!ov->family || !ov->variant || !oq->name || render_same_quant(v, q, ov, oq) ||
			    !render_speed(ov, oq, hw, fit, &tps, &measured))
				continue;
			rc = render_compare_row(ov, oq, tps, measured, this_known, this_tps, &rows[n]);
			if (!rc)
				n++;
		}
	}
	if (rc)
		goto out_free;
	if (n)
		qsort(rows, n, sizeof(*rows), render_speed_cmp);
	sbuf_addstr(out, "path\ttg_tokens_per_s\tratio\tbasis\n");
	for (i = 0; i < n; i++)
		sbuf_addstr(out, rows[i].line);
	rc = out->err;
out_free:
	for (i = 0; i < n; i++)
		free(rows[i].line);
	free(rows);
	free(fit);
	return rc;
}
