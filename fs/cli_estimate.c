/*
 * cli_estimate.c - `modelfs estimate FILE.gguf|URL --ctx N ...` (SPEC §1).
 *
 * The same estimator as the mount's vram@ and fit@ files, run on one GGUF
 * header without a mount: a local file is read through core's file reader,
 * an http(s) URL through cache's range reader, so a remote model costs its
 * header (a few MiB) and never its weights.  A split model's first shard
 * names the others (-00001-of-00003.gguf): their headers are read too, so
 * every tensor is counted.
 *
 * The options are SPEC §5's keys spelled as long options; they are joined
 * into a KEY=VALUE,... string and parsed by vram_parse_params(), so the
 * command accepts and refuses exactly what the file names do, with the
 * same messages.  Extras a file name cannot carry: --backend cpu (what
 * llama.cpp allocates without a GPU, which is what the accuracy benchmark
 * compares with llama.cpp's CPU runs), --mmproj FILE (count a projector
 * file), --vram SIZE (print fit@'s lines instead), and the bandwidths
 * fit@'s speed estimate needs.  Output is the text breakdown unless
 * --format or --json says otherwise.
 *
 * Exit status: 0, 1 for any error (message on stderr), 2 for bad usage.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "fs_int.h"
#include "mountopts.h"

extern char **environ;


#define CLI_EST_MAX_SHARDS 256       /* shards of one split model we read */
#define CLI_EST_PATH_BYTES 4096

static const char cli_est_usage[] =
	"usage: modelfs estimate FILE.gguf|URL --ctx N [--kv T] [--ctk T] [--ctv T] [--fa on|off]\n"
	"                        [--ngl N|all] [--ubatch N] [--batch N] [--par N] [--mmproj FILE|on|off]\n"
	"                        [--vram SIZE] [--backend cuda|cpu] [--unit mib|gib|b]\n"
	"                        [--format num|text|json|env] [--json]\n"
	"                        [--gpu-bandwidth GBPS] [--ram-bandwidth GBPS]\n";

/* Long options that map onto SPEC §5 keys. */
static const struct {
	const char *opt;
	const char *key;
} cli_est_keys[] = {
	{ "--ctx", "ctx" }, { "--kv", "kv" }, { "--ctk", "ctk" }, { "--ctv", "ctv" },
	{ "--fa", "fa" }, { "--ngl", "ngl" }, { "--ubatch", "ubatch" }, { "--batch", "batch" },
	{ "--par", "par" }, { "--unit", "unit" }, { "--format", "format" }, { "--vram", "vram" },
};

struct cli_est {
	const char *target;          /* FILE or URL */
	const char *mmproj;          /* --mmproj FILE, or NULL */
	int mmproj_flag;             /* --mmproj on|off: 1, 0; -1 none */
	bool fit;                    /* --vram given */
	bool json;                   /* --json */
	bool format_set;             /* --format given */
	enum vram_backend backend;
	struct hw_profile hw;
	struct sbuf params;          /* KEY=VALUE,... for vram_parse_params */
};

static bool cli_est_is_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static int cli_est_open(const char *target, const char *token, struct reader *r, struct diag *d)
{
	int rc;

	if (cli_est_is_url(target))
		return hub_reader_open(target, token, r, d);
	rc = reader_file_open(r, target);
	if (rc)
		return diag_fail(d, rc, "cannot open '%s': %s", target, strerror(-rc));
	return 0;
}

static void cli_est_close(const char *target, struct reader *r)
{
	if (cli_est_is_url(target))
		hub_reader_close(r);
	else
		reader_file_close(r);
}

static int cli_est_header(const char *target, const char *token, struct gguf **g, struct diag *d)
{
	struct reader r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = cli_est_open(target, token, &r, d);
	if (rc)
		return rc;
	rc = gguf_open(&r, g, d);
	cli_est_close(target, &r);
	return rc;
}

/* The name of shard no (1-based) of count, from the first shard's name:
 * "...-00001-of-00003.gguf" (llama.cpp's llama_split_path). */
static int cli_est_shard_name(const char *first, uint64_t no, uint64_t count, char *out, size_t size)
{
	char tail[32];
	const char *p;
	int n;

	n = snprintf(tail, sizeof(tail), "-00001-of-%05llu.gguf", (unsigned long long)count);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return -EINVAL;
	p = strstr(first, tail);
	if (!p || p[strlen(tail)] != '\0')
		return -ENOENT;
	n = snprintf(out, size, "%.*s-%05llu-of-%05llu.gguf", (int)(p - first), first,
		     (unsigned long long)no, (unsigned long long)count);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int cli_est_model(struct cli_est *c, const char *token, struct vram_model *m, struct diag *d)
{
	char shard[CLI_EST_PATH_BYTES];
	struct gguf *g = NULL, *gs;
	uint64_t no, count, n_tensors, i;
	struct arch a;
	int rc;

	arch_init(&a);
	rc = cli_est_header(c->target, token, &g, d);
	if (rc)
		goto out;
	rc = arch_from_gguf(g, &a, d);
	if (rc)
		goto out;
	rc = vram_model_from_gguf(m, &a, g, d);
	if (rc)
		goto out;
	if (gguf_split(g, &no, &count, &n_tensors) && no == 0) {
		if (count > CLI_EST_MAX_SHARDS) {
			rc = diag_fail(d, -EINVAL, "'%s' says it has %llu shards, more than %d", c->target,
				       (unsigned long long)count, CLI_EST_MAX_SHARDS);
			goto out;
		}
		for (i = 2; i <= count; i++) {
			rc = cli_est_shard_name(c->target, i, count, shard, sizeof(shard));
			if (rc) {
				rc = diag_fail(d, -EINVAL, "'%s' is shard 1 of %llu but not named "
					       "NAME-00001-of-%05llu.gguf; give the first shard's path",
					       c->target, (unsigned long long)count, (unsigned long long)count);
				goto out;
			}
			gs = NULL;
			rc = cli_est_header(shard, token, &gs, d);
			if (rc == 0)
				rc = vram_model_add_gguf(m, gs);
			gguf_free(gs);
			if (rc)
				goto out;
		}
	}
	if (c->mmproj) {
		gs = NULL;
		rc = cli_est_header(c->mmproj, token, &gs, d);
		if (rc == 0)
			rc = arch_from_gguf(gs, &m->arch, d);
		if (rc == 0)
			m->mmproj_file_bytes = gguf_weight_bytes(gs);
		gguf_free(gs);
	}
out:
	if (rc)
		vram_model_release(m);
	arch_release(&a);
	gguf_free(g);
	return rc;
}

static int cli_est_bandwidth(const char *v, double *out)
{
	double x;

	if (parse_double(v, &x) != 0 || !(x > 0) || x > 1e6)
		return -EINVAL;
	*out = x;
	return 0;
}

/* Splits "--opt=value" or takes the next argument. */
static int cli_est_value(int argc, char **argv, int *i, const char *opt, const char **val)
{
	size_t n = strlen(opt);

	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 0;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "modelfs estimate: option '%s' needs a value\n%s", opt, cli_est_usage);
		return -EINVAL;
	}
	*val = argv[++*i];
	return 0;
}

static bool cli_est_is_opt(const char *arg, const char *opt)
{
	size_t n = strlen(opt);

	return strncmp(arg, opt, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static int cli_est_add_key(struct cli_est *c, const char *key, const char *val)
{
	if (strchr(val, ',') || !*val) {
		fprintf(stderr, "modelfs estimate: bad value '%s' for --%s\n", val, key);
		return -EINVAL;
	}
	if (strcmp(key, "vram") == 0)
		c->fit = true;
	if (strcmp(key, "format") == 0)
		c->format_set = true;
	sbuf_addf(&c->params, "%s%s=%s", c->params.len ? "," : "", key, val);
	return c->params.err;
}

static int cli_est_args(struct cli_est *c, int argc, char **argv)
{
	const char *val;
	size_t k;
	int i, rc;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(cli_est_usage, stdout);
			return 1;
		}
		if (strcmp(arg, "--json") == 0) {
			c->json = true;
			continue;
		}
		for (k = 0; k < sizeof(cli_est_keys) / sizeof(cli_est_keys[0]); k++)
			if (cli_est_is_opt(arg, cli_est_keys[k].opt))
				break;
		if (k < sizeof(cli_est_keys) / sizeof(cli_est_keys[0])) {
			rc = cli_est_value(argc, argv, &i, cli_est_keys[k].opt, &val);
			if (rc == 0)
				rc = cli_est_add_key(c, cli_est_keys[k].key, val);
			if (rc)
				return rc;
			continue;
		}
		if (cli_est_is_opt(arg, "--backend")) {
			if (cli_est_value(argc, argv, &i, "--backend", &val))
				return -EINVAL;
			if (strcmp(val, "cuda") == 0 || strcmp(val, "gpu") == 0) {
				c->backend = VRAM_BACKEND_CUDA;
			} else if (strcmp(val, "cpu") == 0) {
				c->backend = VRAM_BACKEND_CPU;
			} else {
				fprintf(stderr, "modelfs estimate: bad value '%s' for --backend; use cuda or cpu\n",
					val);
				return -EINVAL;
			}
			continue;
		}
		if (cli_est_is_opt(arg, "--mmproj")) {
			if (cli_est_value(argc, argv, &i, "--mmproj", &val))
				return -EINVAL;
			if (strcmp(val, "on") == 0 || strcmp(val, "off") == 0)
				c->mmproj_flag = strcmp(val, "on") == 0;
			else
				c->mmproj = val;
			continue;
		}
		if (cli_est_is_opt(arg, "--gpu-bandwidth") || cli_est_is_opt(arg, "--ram-bandwidth")) {
			bool gpu = arg[2] == 'g';

			if (cli_est_value(argc, argv, &i, gpu ? "--gpu-bandwidth" : "--ram-bandwidth", &val))
				return -EINVAL;
			if (cli_est_bandwidth(val, gpu ? &c->hw.gpu_bandwidth_gbps : &c->hw.ram_bandwidth_gbps)) {
				fprintf(stderr, "modelfs estimate: bad bandwidth '%s'; use GB/s such as 936\n", val);
				return -EINVAL;
			}
			continue;
		}
		if (arg[0] == '-' && arg[1] != '\0') {
			fprintf(stderr, "modelfs estimate: unknown option '%s'\n%s", arg, cli_est_usage);
			return -EINVAL;
		}
		if (c->target) {
			fprintf(stderr, "modelfs estimate: more than one model given ('%s', '%s')\n", c->target, arg);
			return -EINVAL;
		}
		c->target = arg;
	}
	if (!c->target) {
		fprintf(stderr, "modelfs estimate: no model given\n%s", cli_est_usage);
		return -EINVAL;
	}
	if (c->json)
		rc = cli_est_add_key(c, "format", "json");
	else if (!c->format_set && !c->fit)
		rc = cli_est_add_key(c, "format", "text");
	else
		rc = 0;
	return rc;
}

int cli_estimate(int argc, char **argv)
{
	struct vram_params p;
	struct vram_model m;
	struct mountopts mo;
	struct cli_est c;
	struct sbuf out;
	struct diag d;
	int rc, status = 1;

	memset(&c, 0, sizeof(c));
	memset(&m, 0, sizeof(m));
	c.mmproj_flag = -1;
	c.backend = VRAM_BACKEND_CUDA;
	sbuf_init(&c.params, VRAM_NAME_MAX_BYTES + 1);
	sbuf_init(&out, CAP_RENDER_BYTES);
	mountopts_init(&mo);
	diag_init(&d);

	rc = cli_est_args(&c, argc, argv);
	if (rc) {
		status = rc > 0 ? 0 : 2;
		goto out;
	}
	rc = vram_parse_params(c.fit ? VRAM_KIND_FIT : VRAM_KIND_VRAM, c.params.buf ? c.params.buf : "",
			       &p, &d);
	if (rc) {
		fprintf(stderr, "modelfs estimate: %s\n", d.msg);
		status = 2;
		goto out;
	}
	p.backend = c.backend;
	if (c.mmproj_flag >= 0)
		p.mmproj = c.mmproj_flag;
	if (c.mmproj)
		p.mmproj = 1;
	if (mountopts_apply_env(&mo, environ) != 0) {
		fprintf(stderr, "modelfs estimate: out of memory\n");
		goto out;
	}
	rc = cli_est_model(&c, mo.token, &m, &d);
	if (rc == 0)
		rc = vram_render(&m, &p, &c.hw, &out, &d);
	if (rc) {
		fprintf(stderr, "modelfs estimate: %s\n", d.msg[0] ? d.msg : strerror(-rc));
		goto out;
	}
	if (fwrite(out.buf, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		fprintf(stderr, "modelfs estimate: cannot write the output\n");
		goto out;
	}
	status = 0;
out:
	vram_model_release(&m);
	mountopts_release(&mo);
	sbuf_release(&out);
	sbuf_release(&c.params);
	return status;
}
