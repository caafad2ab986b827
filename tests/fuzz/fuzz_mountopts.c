/*
 * fuzz_mountopts.c - libFuzzer target for the -o grammar (SPEC §2): the
 * input is one -o argument, split on commas by fuse_opt, run through parse,
 * apply_env with a fixed fake environment, validate and describe.  The
 * oracle for the token: describe's output must not depend on its value.
 */
#include "mountopts.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const env[] = { "HOME=/home/fuzz", "HF_HOME=/hf", "HF_TOKEN=hf_fuzz", NULL };
	char *opts = strndup((const char *)data, size), *token;
	const char *argv[] = { "modelfs", "/mnt", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(4, (char **)argv);
	struct mountopts mo;
	struct diag d;
	struct sbuf sb, other;
	int rc;

	if (!opts)
		return 0;
	mountopts_init(&mo);
	diag_init(&d);
	sbuf_init(&sb, 1 << 20);
	sbuf_init(&other, 1 << 20);
	if (mountopts_parse(&args, &mo, &d) == 0 && mountopts_apply_env(&mo, (char *const *)env) == 0 &&
	    mountopts_validate(&mo, &d) == 0 && mo.token) {
		token = mo.token;
		mo.token = (char *)"hf_other";
		rc = mountopts_describe(&mo, &other);
		mo.token = token;
		if (rc || mountopts_describe(&mo, &sb) || strcmp(sb.buf, other.buf) != 0)
			abort();
	}
	sbuf_release(&sb);
	sbuf_release(&other);
	mountopts_release(&mo);
	fuse_opt_free_args(&args);
	free(opts);
	return 0;
}
