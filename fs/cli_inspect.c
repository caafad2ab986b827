/*
 * cli_inspect.c - `modelfs inspect FILE.gguf|URL [--json]` (SPEC §1).
 *
 * Prints what a GGUF header says: the header's numbers (version,
 * alignment, data offset, counts, file type, sizes, parameters, bits per
 * weight, split shard), every metadata pair, the tensor table, and the
 * normalized architecture core derives from them (arch_from_gguf).  Like
 * squashfuse_ls, it proves the layering: core and cache do all the work and
 * no FUSE session exists.
 *
 * A URL is read through cache's range reader, so only the header crosses
 * the network (the header lines say how many bytes in how many requests).
 * The Hub token ($HF_TOKEN, else the token file, as for the mount) is sent
 * only when the URL is on the configured endpoint ($HF_ENDPOINT, else
 * https://huggingface.co): a URL elsewhere must not receive it.
 *
 * The text form is for people: long arrays show their first
 * INSPECT_ARRAY_ITEMS items and their length, long strings their first
 * INSPECT_STRING_BYTES bytes.  The JSON form is for programs and holds
 * everything, arrays in full: integers exactly (uint64 included), floats
 * in the shortest form that reads back to the same float32 or float64,
 * NaN and infinities as null, strings escaped as valid UTF-8 JSON (NUL
 * bytes as \u0000).  Both are deterministic.
 *
 * Exit status: 0, 1 when the file cannot be read or parsed (the reason on
 * stderr), 2 for a usage error.
 */
#include "fs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "fs_int.h"
#include "mountopts.h"

extern char **environ;

#define INSPECT_ARRAY_ITEMS 8
#define INSPECT_STRING_BYTES 72
#define INSPECT_TOKEN_BYTES 4096

static const char inspect_usage[] = "usage: modelfs inspect FILE.gguf|URL [--json]\n";

struct inspect {
	const char *target;          /* the path or URL given (borrowed) */
	char *shown;                 /* target as printed: a URL without its query */
	bool is_url;
	bool json;
	struct reader r;
	bool reader_open;
	struct gguf *g;
	struct arch arch;
	bool have_arch;
	char arch_error[DIAG_MSG_MAX];
	char quant[NAME_MAX_BYTES];  /* "" when unknown */
};

/* ------------------------------------------------------------------------
 * Formatting helpers
 * ------------------------------------------------------------------------ */
static void add_double(struct sbuf *sb, double v, bool single, bool json)
{
	char buf[40];
	int prec;

	if (!isfinite(v)) {
		sbuf_addstr(sb, json ? "null" : isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		sbuf_addf(sb, "%.1f", v);
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (single ? (float)strtod(buf, NULL) == (float)v : strtod(buf, NULL) == v)
			break;
	}
	sbuf_addstr(sb, buf);
	if (json && !strpbrk(buf, ".en"))
		sbuf_addstr(sb, ".0");
}

/* A JSON string literal of len bytes that may hold NULs. */
static void add_json_bytes(struct sbuf *sb, const char *s, size_t len)
{
	struct sbuf tmp;
	size_t i = 0, seg;

	if (!memchr(s, '\0', len)) {
		sbuf_add_json_str(sb, s);
		return;
	}
	sbuf_init(&tmp, CAP_RENDER_BYTES);
	sbuf_addch(sb, '"');
	while (i <= len) {
		seg = strnlen(s + i, len - i);
		if (seg) {
			char *copy = strndup(s + i, seg);

			sbuf_reset(&tmp);
			if (!copy || sbuf_add_json_str(&tmp, copy)) {
				sb->err = sb->err ? sb->err : -ENOMEM;
				free(copy);
				break;
			}
			free(copy);
			sbuf_add(sb, tmp.buf + 1, tmp.len - 2);
		}
		i += seg;
		if (i < len)
			sbuf_addstr(sb, "\\u0000");
		i++;
	}
	sbuf_addch(sb, '"');
	sbuf_release(&tmp);
}

/* Text form of a string: quoted and escaped, cut at INSPECT_STRING_BYTES
 * (on a UTF-8 boundary) with its length when longer. */
static void add_text_string(struct sbuf *sb, const char *s, size_t len)
{
	size_t n = len;

	if (n > INSPECT_STRING_BYTES) {
		n = INSPECT_STRING_BYTES;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	add_json_bytes(sb, s, n);
	if (n < len)
		sbuf_addf(sb, "... (%zu bytes)", len);
}

/* A key or tensor name in the text form, padded to width: as it is when
 * it holds no control byte, else JSON-escaped, so a hostile name cannot
 * send escape sequences to the terminal. */
static void add_text_name(struct sbuf *sb, const char *s, int width)
{
	const unsigned char *p;
	size_t start = sb->len;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			break;
	if (*p)
		sbuf_add_json_str(sb, s);
	else
		sbuf_addstr(sb, s);
	while (!sb->err && sb->len - start < (size_t)width)
		sbuf_addch(sb, ' ');
}

static void add_value(struct sbuf *sb, const struct gguf_value *v, bool json, unsigned depth);

static void add_array(struct sbuf *sb, const struct gguf_value *v, bool json, unsigned depth)
{
	uint64_t i, shown = v->arr.n;
	struct gguf_value it;

	if (!json && shown > INSPECT_ARRAY_ITEMS)
		shown = INSPECT_ARRAY_ITEMS;
	sbuf_addch(sb, '[');
	for (i = 0; i < shown && !sb->err; i++) {
		if (i)
			sbuf_addstr(sb, json ? "," : ", ");
		if (gguf_array_item(v, i, &it) == 0)
			add_value(sb, &it, json, depth + 1);
	}
	if (shown < v->arr.n)
		sbuf_addstr(sb, ", ...");
	sbuf_addch(sb, ']');
}

static void add_value(struct sbuf *sb, const struct gguf_value *v, bool json, unsigned depth)
{
	switch (v->type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_UINT64:
		sbuf_addf(sb, "%llu", (unsigned long long)v->u64);
		break;
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_INT16:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_INT64:
		sbuf_addf(sb, "%lld", (long long)v->i64);
		break;
	case GGUF_TYPE_FLOAT32:
	case GGUF_TYPE_FLOAT64:
		add_double(sb, v->f64, v->type == GGUF_TYPE_FLOAT32, json);
		break;
	case GGUF_TYPE_BOOL:
		sbuf_addstr(sb, v->u64 ? "true" : "false");
		break;
	case GGUF_TYPE_STRING:
		if (json)
			add_json_bytes(sb, v->str.ptr, v->str.len);
		else
			add_text_string(sb, v->str.ptr, v->str.len);
		break;
	case GGUF_TYPE_ARRAY:
		add_array(sb, v, json, depth);
		break;
	default:
		sbuf_addstr(sb, "null");
		break;
	}
}

static void add_shape(struct sbuf *sb, const struct gguf_tensor_info *t, const char *sep)
{
	uint32_t j;

	for (j = 0; j < t->n_dims; j++)
		sbuf_addf(sb, "%s%llu", j ? sep : "", (unsigned long long)t->ne[j]);
}

static void add_gib(struct sbuf *sb, uint64_t bytes)
{
	sbuf_addf(sb, "%llu bytes (%.2f GiB)", (unsigned long long)bytes,
		  (double)bytes / (1024.0 * 1024.0 * 1024.0));
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

/* The token for a URL on the endpoint: $HF_TOKEN, else the token file;
 * *out is new (free with free()) or NULL. */
static int inspect_token(const char *url, char **out)
{
	struct mountopts mo;
	char buf[INSPECT_TOKEN_BYTES];
	size_t n = 0, elen;
	FILE *f;
	int rc;

	*out = NULL;
	mountopts_init(&mo);
	rc = mountopts_apply_env(&mo, environ);
	if (rc)
		goto out_release;
	elen = mo.endpoint ? strlen(mo.endpoint) : 0;
	while (elen > 0 && mo.endpoint[elen - 1] == '/')
		elen--;
	if (!elen || strncasecmp(url, mo.endpoint, elen) != 0 || url[elen] != '/')
		goto out_release;
	if (mo.token && *mo.token) {
		*out = strdup(mo.token);
		rc = *out ? 0 : -ENOMEM;
		goto out_release;
	}
	if (!mo.token_file)
		goto out_release;
	f = fopen(mo.token_file, "re");
	/* ENOENT and friends: no token file means no token, as huggingface_hub does */
	if (!f)
		goto out_release;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n) {
		*out = strdup(buf);
		rc = *out ? 0 : -ENOMEM;
	}
	explicit_bzero(buf, sizeof(buf));

out_release:
	mountopts_release(&mo);
	return rc;
}

static int inspect_open(struct inspect *in, struct diag *d)
{
	char *token = NULL;
	int rc;

	if (in->is_url) {
		rc = inspect_token(in->target, &token);
		if (rc)
			return diag_fail(d, rc, "cannot read the Hub token: %s", strerror(-rc));
		rc = hub_reader_open(in->target, token, &in->r, d);
		if (token) {
			explicit_bzero(token, strlen(token));
			free(token);
		}
		if (rc)
			return rc;
	} else {
		rc = reader_file_open(&in->r, in->target);
		if (rc)
			return diag_fail(d, rc, "cannot open '%s': %s", in->target, strerror(-rc));
	}
	in->reader_open = true;
	rc = gguf_open(&in->r, &in->g, d);
	if (rc && in->is_url && hub_reader_last_error(&in->r)[0]) {
		struct diag inner;

		diag_init(&inner);
		diag_fail(&inner, rc, "%s (%s)", d->msg, hub_reader_last_error(&in->r));
		*d = inner;
	}
	return rc;
}

static void inspect_quant(struct inspect *in)
{
	char name[1024];
	size_t n = strcspn(in->target, "?#");
	int64_t ft;
	const char *q;

	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, in->target, n);
	name[n] = '\0';
	if (ggml_quant_from_filename(name, in->quant, sizeof(in->quant)) == 0)
		return;
	in->quant[0] = '\0';
	ft = gguf_file_type(in->g);
	q = ft >= 0 && ft <= UINT32_MAX ? ggml_ftype_quant((uint32_t)ft) : NULL;
	if (q)
		snprintf(in->quant, sizeof(in->quant), "%s", q);
}

static void inspect_arch(struct inspect *in)
{
	struct diag d;

	diag_init(&d);
	arch_init(&in->arch);
	if (arch_from_gguf(in->g, &in->arch, &d) == 0) {
		in->have_arch = true;
		return;
	}
	snprintf(in->arch_error, sizeof(in->arch_error), "%s", d.msg[0] ? d.msg : "unknown error");
	arch_release(&in->arch);
}

/* ------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------ */
static void render_text(struct inspect *in, struct sbuf *sb)
{
	const struct gguf *g = in->g;
	uint64_t no, count, total;
	int64_t ft = gguf_file_type(g);
	struct gguf_value v;
	struct sbuf arch;
	size_t i;

	sbuf_addstr(sb, "file         ");
	add_text_name(sb, in->shown, 0);
	sbuf_addch(sb, '\n');
	sbuf_addstr(sb, "size         ");
	if (gguf_file_size(g) == UINT64_MAX)
		sbuf_addstr(sb, "unknown");
	else
		add_gib(sb, gguf_file_size(g));
	sbuf_addf(sb, "\nversion      %u\n", gguf_version(g));
	sbuf_addf(sb, "alignment    %llu\n", (unsigned long long)gguf_alignment(g));
	sbuf_addf(sb, "header       %llu bytes, data section at offset %llu\n",
		  (unsigned long long)gguf_header_bytes(g), (unsigned long long)gguf_data_offset(g));
	if (in->is_url)
		sbuf_addf(sb, "fetched      %llu bytes in %u requests\n",
			  (unsigned long long)hub_reader_bytes_fetched(&in->r),
			  hub_reader_requests(&in->r));
	else
		sbuf_addf(sb, "read         %llu bytes in %u reads\n",
			  (unsigned long long)gguf_bytes_read(g), gguf_reads(g));
	sbuf_addf(sb, "metadata     %zu keys\n", gguf_kv_count(g));
	sbuf_addf(sb, "tensors      %zu\n", gguf_tensor_count(g));
	if (ft >= 0)
		sbuf_addf(sb, "file type    %lld %s\n", (long long)ft,
			  ft <= UINT32_MAX && ggml_ftype_name((uint32_t)ft) ?
			  ggml_ftype_name((uint32_t)ft) : "(unknown)");
	if (in->quant[0])
		sbuf_addf(sb, "quant        %s\n", in->quant);
	sbuf_addstr(sb, "weights      ");
	add_gib(sb, gguf_weight_bytes(g));
	sbuf_addf(sb, "\nparameters   %llu (%.2f B)\n", (unsigned long long)gguf_param_count(g),
		  (double)gguf_param_count(g) / 1e9);
	sbuf_addf(sb, "bits/weight  %.4f\n", gguf_bits_per_weight(g));
	if (gguf_split(g, &no, &count, &total))
		sbuf_addf(sb, "split        shard %llu of %llu, %llu tensors in all\n",
			  (unsigned long long)no + 1, (unsigned long long)count,
			  (unsigned long long)total);

	sbuf_addstr(sb, "\nmetadata\n");
	for (i = 0; i < gguf_kv_count(g); i++) {
		gguf_kv_value(g, i, &v);
		sbuf_addstr(sb, "  ");
		add_text_name(sb, gguf_kv_key(g, i), 44);
		sbuf_addch(sb, ' ');
		if (v.type == GGUF_TYPE_ARRAY) {
			char t[32];

			snprintf(t, sizeof(t), "[%s]", gguf_type_name(v.arr.type));
			sbuf_addf(sb, "%-10s %llu items: ", t, (unsigned long long)v.arr.n);
		} else {
			sbuf_addf(sb, "%-10s ", gguf_type_name(v.type));
		}
		if (v.type == GGUF_TYPE_STRING)
			add_text_string(sb, v.str.ptr, v.str.len);
		else
			add_value(sb, &v, false, 1);
		sbuf_addch(sb, '\n');
	}

	sbuf_addf(sb, "\ntensors\n  %-5s %-36s %-8s %-24s %14s %14s\n", "#", "name", "type",
		  "shape", "offset", "bytes");
	for (i = 0; i < gguf_tensor_count(g); i++) {
		const struct gguf_tensor_info *t = gguf_tensor(g, i);
		const struct ggml_type_info *ti = ggml_type_by_id(t->type);
		struct sbuf shape;

		sbuf_init(&shape, CAP_LINE_BYTES);
		add_shape(&shape, t, " x ");
		sbuf_addf(sb, "  %-5zu ", i);
		add_text_name(sb, t->name, 36);
		sbuf_addf(sb, " %-8s %-24s %14llu %14llu\n", ti ? ti->name : "?",
			  shape.buf ? shape.buf : "", (unsigned long long)t->offset,
			  (unsigned long long)t->size_bytes);
		sbuf_release(&shape);
	}

	sbuf_addstr(sb, "\narchitecture\n");
	if (!in->have_arch) {
		sbuf_addf(sb, "  (not derived: %s)\n", in->arch_error);
		return;
	}
	sbuf_init(&arch, CAP_RENDER_BYTES);
	if (arch_to_json(&in->arch, &arch) == 0 && arch.buf) {
		sbuf_addstr(sb, arch.buf);
		if (arch.len && arch.buf[arch.len - 1] != '\n')
			sbuf_addch(sb, '\n');
	} else {
		sbuf_addstr(sb, "  (cannot render)\n");
	}
	sbuf_release(&arch);
}

static void render_json(struct inspect *in, struct sbuf *sb)
{
	const struct gguf *g = in->g;
	uint64_t no, count, total;
	int64_t ft = gguf_file_type(g);
	struct gguf_value v;
	struct sbuf arch;
	size_t i;

	sbuf_addstr(sb, "{\n  \"file\": ");
	sbuf_add_json_str(sb, in->shown);
	sbuf_addstr(sb, ",\n  \"size_bytes\": ");
	if (gguf_file_size(g) == UINT64_MAX)
		sbuf_addstr(sb, "null");
	else
		sbuf_addf(sb, "%llu", (unsigned long long)gguf_file_size(g));
	sbuf_addf(sb, ",\n  \"version\": %u", gguf_version(g));
	sbuf_addf(sb, ",\n  \"alignment\": %llu", (unsigned long long)gguf_alignment(g));
	sbuf_addf(sb, ",\n  \"header_bytes\": %llu", (unsigned long long)gguf_header_bytes(g));
	sbuf_addf(sb, ",\n  \"data_offset\": %llu", (unsigned long long)gguf_data_offset(g));
	sbuf_addf(sb, ",\n  \"bytes_read\": %llu", (unsigned long long)(in->is_url ?
		  hub_reader_bytes_fetched(&in->r) : gguf_bytes_read(g)));
	sbuf_addf(sb, ",\n  \"requests\": %u", in->is_url ? hub_reader_requests(&in->r) :
		  gguf_reads(g));
	sbuf_addf(sb, ",\n  \"kv_count\": %zu", gguf_kv_count(g));
	sbuf_addf(sb, ",\n  \"tensor_count\": %zu", gguf_tensor_count(g));
	if (ft >= 0) {
		const char *name = ft <= UINT32_MAX ? ggml_ftype_name((uint32_t)ft) : NULL;

		sbuf_addf(sb, ",\n  \"file_type\": %lld,\n  \"file_type_name\": ", (long long)ft);
		sbuf_add_json_str(sb, name);
	} else {
		sbuf_addstr(sb, ",\n  \"file_type\": null,\n  \"file_type_name\": null");
	}
	sbuf_addstr(sb, ",\n  \"quant\": ");
	sbuf_add_json_str(sb, in->quant[0] ? in->quant : NULL);
	sbuf_addf(sb, ",\n  \"weight_bytes\": %llu", (unsigned long long)gguf_weight_bytes(g));
	sbuf_addf(sb, ",\n  \"parameter_count\": %llu", (unsigned long long)gguf_param_count(g));
	sbuf_addstr(sb, ",\n  \"bits_per_weight\": ");
	add_double(sb, gguf_bits_per_weight(g), false, true);
	if (gguf_split(g, &no, &count, &total))
		sbuf_addf(sb, ",\n  \"split\": {\"no\": %llu, \"count\": %llu, \"tensors_count\": %llu}",
			  (unsigned long long)no, (unsigned long long)count,
			  (unsigned long long)total);
	else
		sbuf_addstr(sb, ",\n  \"split\": null");

	sbuf_addstr(sb, ",\n  \"metadata\": [");
	for (i = 0; i < gguf_kv_count(g) && !sb->err; i++) {
		gguf_kv_value(g, i, &v);
		sbuf_addstr(sb, i ? ",\n    {\"key\": " : "\n    {\"key\": ");
		add_json_bytes(sb, gguf_kv_key(g, i), strlen(gguf_kv_key(g, i)));
		sbuf_addf(sb, ", \"type\": \"%s\"", gguf_type_name(v.type));
		if (v.type == GGUF_TYPE_ARRAY)
			sbuf_addf(sb, ", \"item_type\": \"%s\", \"length\": %llu",
				  gguf_type_name(v.arr.type), (unsigned long long)v.arr.n);
		sbuf_addstr(sb, ", \"value\": ");
		add_value(sb, &v, true, 0);
		sbuf_addch(sb, '}');
	}
	sbuf_addstr(sb, gguf_kv_count(g) ? "\n  ]" : "]");

	sbuf_addstr(sb, ",\n  \"tensors\": [");
	for (i = 0; i < gguf_tensor_count(g) && !sb->err; i++) {
		const struct gguf_tensor_info *t = gguf_tensor(g, i);
		const struct ggml_type_info *ti = ggml_type_by_id(t->type);

		sbuf_addstr(sb, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
		sbuf_add_json_str(sb, t->name);
		sbuf_addstr(sb, ", \"type\": ");
		sbuf_add_json_str(sb, ti ? ti->name : NULL);
		sbuf_addf(sb, ", \"type_id\": %u, \"shape\": [", t->type);
		add_shape(sb, t, ", ");
		sbuf_addf(sb, "], \"offset\": %llu, \"size_bytes\": %llu, \"n_elements\": %llu}",
			  (unsigned long long)t->offset, (unsigned long long)t->size_bytes,
			  (unsigned long long)t->n_elements);
	}
	sbuf_addstr(sb, gguf_tensor_count(g) ? "\n  ]" : "]");

	sbuf_addstr(sb, ",\n  \"architecture\": ");
	sbuf_init(&arch, CAP_RENDER_BYTES);
	if (in->have_arch && arch_to_json(&in->arch, &arch) == 0 && arch.buf) {
		while (arch.len && arch.buf[arch.len - 1] == '\n')
			arch.buf[--arch.len] = '\0';
		sbuf_addstr(sb, arch.buf);
		sbuf_addstr(sb, ",\n  \"architecture_error\": null");
	} else {
		sbuf_addstr(sb, "null,\n  \"architecture_error\": ");
		sbuf_add_json_str(sb, in->arch_error[0] ? in->arch_error : "cannot render");
	}
	sbuf_release(&arch);
	sbuf_addstr(sb, "\n}\n");
}

int cli_inspect(int argc, char **argv)
{
	struct inspect in = { 0 };
	struct sbuf out;
	struct diag d;
	int i, rc, status = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			in.json = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(inspect_usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "modelfs inspect: unknown option '%s'\n%s", argv[i],
				inspect_usage);
			return 2;
		} else if (in.target) {
			fprintf(stderr, "modelfs inspect: one file or URL at a time\n%s",
				inspect_usage);
			return 2;
		} else {
			in.target = argv[i];
		}
	}
	if (!in.target) {
		fputs(inspect_usage, stderr);
		return 2;
	}
	in.is_url = strncasecmp(in.target, "http://", 7) == 0 ||
		    strncasecmp(in.target, "https://", 8) == 0;
	in.shown = strndup(in.target, in.is_url ? strcspn(in.target, "?#") : strlen(in.target));
	if (!in.shown) {
		fprintf(stderr, "modelfs inspect: out of memory\n");
		return 1;
	}

	diag_init(&d);
	rc = inspect_open(&in, &d);
	if (rc) {
		fprintf(stderr, "modelfs inspect: %s\n", d.msg[0] ? d.msg : strerror(-rc));
		goto out_close;
	}
	inspect_quant(&in);
	inspect_arch(&in);
	sbuf_init(&out, CAP_RENDER_BYTES);
	if (in.json)
		render_json(&in, &out);
	else
		render_text(&in, &out);
	if (out.err) {
		fprintf(stderr, "modelfs inspect: cannot render the header: %s\n",
			strerror(-out.err));
	} else if (fwrite(out.buf, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "modelfs inspect: cannot write the output: %s\n", strerror(errno));
	} else {
		status = 0;
	}
	sbuf_release(&out);
	if (in.have_arch)
		arch_release(&in.arch);

out_close:
	free(in.shown);
	gguf_free(in.g);
	if (in.reader_open) {
		if (in.is_url)
			hub_reader_close(&in.r);
		else
			reader_file_close(&in.r);
	}
	return status;
}
