/*
 * test_mountopts.c - the -o grammar, environment and defaults of SPEC §2.
 *
 * Every case runs the three passes the daemon runs (parse, apply_env,
 * validate) on a fake command line and a fake environment, re-checks the
 * struct's invariants after each pass (assert_sane), and compares the
 * result through mountopts_describe(), which is also what .control/config
 * shows.  Tables cover good command lines, a malformed value for every
 * option, unknown options, fstab noise, what stays in args for libfuse,
 * precedence (-o over environment over default), environment-only setups,
 * and the token, which must never appear in any output.
 */
#include "mountopts.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TOKEN "hf_ZqX7secretTOKENvalue42Zq"

/* A fake environment or argv from string literals; fuse_opt never writes to
 * the argv it is given, and apply_env only reads envp. */
#define ENV(...) ((char *const *)(const char *const[]){ __VA_ARGS__, NULL })
#define ARGV(...) ((const char *const[]){ "modelfs", __VA_ARGS__, NULL })

static char *const *const env_home = ENV("HOME=/home/u");

struct run {
	struct fuse_args args;
	struct mountopts mo;
	struct diag d;
	int rc;            /* first failure, or 0 */
	int stage;         /* where it failed: 1 parse, 2 apply_env, 3 validate */
	struct sbuf out;   /* describe output after a full run */
};

static bool str_has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static void assert_sane(const struct run *r, int stage)
{
	const struct mountopts *mo = &r->mo;

	if (mo->set_by_opt & MO_SET_STATE)
		assert_non_null(mo->state_dir);
	if (mo->set_by_opt & MO_SET_CACHE)
		assert_non_null(mo->cache_dir);
	if (mo->set_by_opt & MO_SET_HF_CACHE)
		assert_non_null(mo->hf_cache_dir);
	if (mo->set_by_opt & MO_SET_ENDPOINT)
		assert_non_null(mo->endpoint);
	if (mo->set_by_opt & MO_SET_TOKENFILE)
		assert_non_null(mo->token_file);
	if (mo->set_by_opt & MO_SET_OFFLINE)
		assert_true(mo->offline);
	if (mo->debug)
		assert_true(mo->foreground);
	if (stage >= 2 && r->rc == 0) {
		assert_non_null(mo->endpoint);
		assert_non_null(mo->catalog);
		assert_non_null(mo->bench_cmd);
		if (mo->hf_cache_dir)
			assert_null(mo->hf_cache_probe);
	}
	if (stage >= 3 && r->rc == 0) {
		size_t n = strlen(mo->endpoint);

		assert_non_null(mo->state_dir);
		assert_non_null(mo->cache_dir);
		assert_true(n > 0 && mo->endpoint[n - 1] != '/');
		assert_true(mo->connections >= 1 && mo->connections <= 64);
		assert_true(mo->chunk_bytes >= (64u << 10) && mo->chunk_bytes <= (1u << 30));
		assert_true(mo->readahead_bytes <= (4ull << 30));
		assert_true(mo->verify == VERIFY_LAZY || mo->verify == VERIFY_STRICT);
		assert_true(mo->catalog[0] != '\0');
		assert_true(str_has(mo->bench_cmd, "{model}"));
		assert_true(mo->gpu_bandwidth_gbps >= 0 && mo->ram_bandwidth_gbps >= 0);
		assert_null(mo->unknown);
	}
	if (r->rc && r->stage != 2) {
		assert_int_equal(r->d.code, r->rc);
		assert_true(r->d.msg[0] != '\0');
	}
	if (r->rc == 0)
		assert_int_equal(r->d.code, 0);
}

/* Runs parse, apply_env and validate, stopping at the first failure; on
 * success renders describe into r->out. */
static int run_argv(struct run *r, const char *const *argv, char *const *envp)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	memset(r, 0, sizeof(*r));
	r->args = (struct fuse_args)FUSE_ARGS_INIT(argc, (char **)argv);
	mountopts_init(&r->mo);
	diag_init(&r->d);
	sbuf_init(&r->out, 1 << 16);

	r->stage = 1;
	r->rc = mountopts_parse(&r->args, &r->mo, &r->d);
	assert_sane(r, 1);
	if (r->rc)
		return r->rc;
	r->stage = 2;
	r->rc = mountopts_apply_env(&r->mo, envp);
	assert_sane(r, 2);
	if (r->rc)
		return r->rc;
	r->stage = 3;
	r->rc = mountopts_validate(&r->mo, &r->d);
	assert_sane(r, 3);
	if (r->rc)
		return r->rc;
	assert_int_equal(mountopts_describe(&r->mo, &r->out), 0);
	r->stage = 0;
	return 0;
}

static int run_opts(struct run *r, const char *opts, char *const *envp)
{
	return run_argv(r, ARGV("/mnt", "-o", opts), envp);
}

static void run_release(struct run *r)
{
	mountopts_release(&r->mo);
	fuse_opt_free_args(&r->args);
	sbuf_release(&r->out);
}

/* "key=value" is one whole line of the describe output. */
static bool has_line(const struct run *r, const char *line)
{
	const char *p = r->out.buf;
	size_t n = strlen(line);

	while (p && *p) {
		if (strncmp(p, line, n) == 0 && p[n] == '\n')
			return true;
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static void assert_line(const struct run *r, const char *line)
{
	if (!has_line(r, line))
		fail_msg("describe lacks '%s':\n%s", line, r->out.buf ? r->out.buf : "");
}

static void assert_args(const struct run *r, const char *const *want)
{
	int n = 0;

	while (want[n])
		n++;
	if (r->args.argc != n) {
		int i;

		for (i = 0; i < r->args.argc; i++)
			print_message("args[%d] = '%s'\n", i, r->args.argv[i]);
	}
	assert_int_equal(r->args.argc, n);
	for (n = 0; want[n]; n++)
		assert_string_equal(r->args.argv[n], want[n]);
	assert_null(r->args.argv[n]);
}

/* ------------------------------------------------------------------------
 * Good command lines
 * ------------------------------------------------------------------------ */

struct good_case {
	const char *opts;
	const char *lines[6];   /* describe lines that must appear */
};

static const struct good_case good_cases[] = {
	{ "state=/s", { "state=/s", "cache=/home/u/.cache/modelfs", NULL } },
	{ "state=rel/dir", { "state=rel/dir", NULL } },
	{ "cache=/c,cache_max=512M", { "cache=/c", "cache_max=536870912", NULL } },
	{ "cache_max=24GiB", { "cache_max=25769803776", NULL } },
	{ "cache_max=1.5T", { "cache_max=1649267441664", NULL } },
	{ "cache_max=0", { "cache_max=unlimited", NULL } },
	{ "cache_max=123", { "cache_max=123", NULL } },
	{ "hf_cache=/hf", { "hf_cache=/hf", NULL } },
	{ "endpoint=https://hf-mirror.com/", { "endpoint=https://hf-mirror.com", NULL } },
	{ "endpoint=http://127.0.0.1:8080///", { "endpoint=http://127.0.0.1:8080", NULL } },
	{ "endpoint=https://host/mirror/", { "endpoint=https://host/mirror", NULL } },
	{ "token_file=/t", { "token_file=/t", "token=(unset)", NULL } },
	{ "offline", { "offline=1", NULL } },
	{ "catalog=none", { "catalog=none", NULL } },
	{ "catalog=builtin", { "catalog=builtin", NULL } },
	{ "catalog=/etc/modelfs/catalog.json", { "catalog=/etc/modelfs/catalog.json", NULL } },
	{ "gpu_vram=24G", { "gpu_vram_mib=24576", NULL } },
	{ "gpu_vram=24576", { "gpu_vram_mib=24576", NULL } },
	{ "gpu_vram=1.5", { "gpu_vram_mib=1", NULL } },
	{ "gpu_vram=0", { "gpu_vram_mib=0", NULL } },
	{ "gpu_vram=8GiB", { "gpu_vram_mib=8192", NULL } },
	{ "gpu_bandwidth=936,ram_bandwidth=89.6",
	  { "gpu_bandwidth_gbps=936", "ram_bandwidth_gbps=89.6", NULL } },
	{ "bench_cmd=llama-bench -m {model} -c {ctx} -ngl {ngl}",
	  { "bench_cmd=llama-bench -m {model} -c {ctx} -ngl {ngl}", NULL } },
	{ "bench_cmd=run {model} {\"json\": 1}", { "bench_cmd=run {model} {\"json\": 1}", NULL } },
	{ "connections=1", { "connections=1", NULL } },
	{ "connections=64", { "connections=64", NULL } },
	{ "chunk=64K", { "chunk=65536", NULL } },
	{ "chunk=1G", { "chunk=1073741824", NULL } },
	{ "readahead=0", { "readahead=0", NULL } },
	{ "readahead=4G", { "readahead=4294967296", NULL } },
	{ "verify=strict", { "verify=strict", NULL } },
	{ "verify=lazy", { "verify=lazy", NULL } },
	{ "symlinks=no", { "symlinks=no", NULL } },
	{ "symlinks=yes", { "symlinks=yes", NULL } },
	{ "state=/a,state=/b,cache_max=1G,cache_max=2G,verify=strict,verify=lazy",
	  { "state=/b", "cache_max=2147483648", "verify=lazy", NULL } },
	{ "allow_other", { "state=/home/u/.local/share/modelfs", "cache=/home/u/.cache/modelfs",
			   "endpoint=https://huggingface.co", "catalog=builtin", "verify=lazy", NULL } },
	{ "allow_other,verify=lazy", { "symlinks=no", NULL } },
	{ "allow_other,symlinks=yes", { "symlinks=yes", NULL } },
	{ "cache_max=1G", { "symlinks=yes", NULL } },
};

static void test_good_table(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		struct run r;

		if (run_opts(&r, good_cases[i].opts, env_home))
			fail_msg("'%s' failed at stage %d: %s", good_cases[i].opts, r.stage, r.d.msg);
		for (j = 0; good_cases[i].lines[j]; j++)
			if (!has_line(&r, good_cases[i].lines[j]))
				fail_msg("'%s': describe lacks '%s':\n%s", good_cases[i].opts,
					 good_cases[i].lines[j], r.out.buf);
		run_release(&r);
	}
}

static void test_defaults_fields(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("/mnt"), env_home), 0);
	assert_string_equal(r.mo.state_dir, "/home/u/.local/share/modelfs");
	assert_string_equal(r.mo.cache_dir, "/home/u/.cache/modelfs");
	assert_int_equal(r.mo.cache_max_bytes, 0);
	assert_null(r.mo.hf_cache_dir);
	assert_string_equal(r.mo.hf_cache_probe, "/home/u/.cache/huggingface/hub");
	assert_string_equal(r.mo.endpoint, MO_DEFAULT_ENDPOINT);
	assert_string_equal(r.mo.token_file, "/home/u/.cache/huggingface/token");
	assert_null(r.mo.token);
	assert_false(r.mo.offline);
	assert_string_equal(r.mo.catalog, "builtin");
	assert_int_equal(r.mo.gpu_vram_mib, 0);
	assert_true(r.mo.gpu_bandwidth_gbps == 0 && r.mo.ram_bandwidth_gbps == 0);
	assert_string_equal(r.mo.bench_cmd, MO_DEFAULT_BENCH_CMD);
	assert_int_equal(r.mo.connections, MO_DEFAULT_CONNECTIONS);
	assert_int_equal(r.mo.chunk_bytes, MO_DEFAULT_CHUNK);
	assert_int_equal(r.mo.readahead_bytes, MO_DEFAULT_READAHEAD);
	assert_int_equal(r.mo.verify, VERIFY_LAZY);
	assert_int_equal(r.mo.set_by_opt, 0);
	assert_false(r.mo.show_help || r.mo.show_version || r.mo.foreground || r.mo.debug);
	assert_args(&r, ARGV("/mnt"));
	run_release(&r);
}

/* The whole .control/config rendering, in SPEC §2 order. */
static void test_describe_golden(void **state)
{
	static const char want[] =
		"state=/s\n"
		"cache=/c\n"
		"cache_max=1073741824\n"
		"hf_cache=/hf\n"
		"endpoint=https://hf.example\n"
		"token_file=/home/u/.cache/huggingface/token\n"
		"token=(set, redacted)\n"
		"offline=1\n"
		"catalog=none\n"
		"gpu_vram_mib=24576\n"
		"gpu_bandwidth_gbps=1008.5\n"
		"ram_bandwidth_gbps=0\n"
		"bench_cmd=b {model}\n"
		"bench_timeout=90\n"
		"timeout=5\n"
		"connections=8\n"
		"chunk=16777216\n"
		"readahead=0\n"
		"verify=strict\n"
		"symlinks=no\n";
	struct run r;

	(void)state;
	assert_int_equal(run_opts(&r, "state=/s,cache=/c,cache_max=1G,hf_cache=/hf,"
				  "endpoint=https://hf.example/,offline,catalog=none,gpu_vram=24G,"
				  "gpu_bandwidth=1008.5,bench_cmd=b {model},bench_timeout=90,timeout=5,"
				  "connections=8,chunk=16M,"
				  "readahead=0,verify=strict,symlinks=no",
				  ENV("HOME=/home/u", "HF_TOKEN=" TOKEN)), 0);
	assert_string_equal(r.out.buf, want);
	run_release(&r);
}

/* ------------------------------------------------------------------------
 * Malformed values: each option, -EINVAL at validate, named in the diag
 * ------------------------------------------------------------------------ */

struct bad_case {
	const char *opts;
	const char *msg;        /* the diag starts with this */
};

static const struct bad_case bad_cases[] = {
	{ "cache_max=x", "invalid value 'x' for option 'cache_max': expected SIZE such as 512M, 24G, 1.5T" },
	{ "cache_max=", "invalid value '' for option 'cache_max'" },
	{ "cache_max=-1", "invalid value '-1' for option 'cache_max'" },
	{ "cache_max=1.5", "invalid value '1.5' for option 'cache_max'" },
	{ "cache_max=12Q", "invalid value '12Q' for option 'cache_max'" },
	{ "cache_max= 1G", "invalid value ' 1G' for option 'cache_max'" },
	{ "cache_max=99999999999999999999", "invalid value '99999999999999999999' for option 'cache_max'" },
	{ "cache_max=16384P", "invalid value '16384P' for option 'cache_max'" },
	{ "state=", "invalid value '' for option 'state'" },
	{ "state=/a\\001b", "invalid value '/a\001b' for option 'state'" },
	{ "cache=", "invalid value '' for option 'cache'" },
	{ "hf_cache=", "invalid value '' for option 'hf_cache'" },
	{ "token_file=", "invalid value '' for option 'token_file'" },
	{ "endpoint=", "invalid value for option 'endpoint': " },
	{ "endpoint=ftp://x", "invalid value for option 'endpoint': url 'ftp://x'" },
	{ "endpoint=huggingface.co", "invalid value for option 'endpoint': " },
	{ "endpoint=https://", "invalid value for option 'endpoint': " },
	{ "endpoint=https:///", "invalid value for option 'endpoint': " },
	{ "endpoint=https://u:p@h", "invalid value for option 'endpoint': " },
	{ "endpoint=https://h/?x=1", "invalid value for option 'endpoint': url 'https://h/?x=1' has a query" },
	{ "endpoint=https://h#f", "invalid value for option 'endpoint': " },
	{ "catalog=", "invalid value '' for option 'catalog': expected builtin, none or a file path" },
	{ "gpu_vram=abc", "invalid value 'abc' for option 'gpu_vram': expected SIZE" },
	{ "gpu_vram=", "invalid value '' for option 'gpu_vram'" },
	{ "gpu_vram=-1", "invalid value '-1' for option 'gpu_vram'" },
	{ "gpu_vram=1K", "invalid value '1K' for option 'gpu_vram'" },
	{ "gpu_vram=24X", "invalid value '24X' for option 'gpu_vram'" },
	{ "gpu_vram=99999999999999999999", "invalid value '99999999999999999999' for option 'gpu_vram'" },
	{ "gpu_vram=1234567890123456789012345678901234567890123456789012345678901234567890",
	  "invalid value '1234567890" },
	{ "gpu_bandwidth=fast", "invalid value 'fast' for option 'gpu_bandwidth': expected GB/s" },
	{ "gpu_bandwidth=-1", "invalid value '-1' for option 'gpu_bandwidth'" },
	{ "gpu_bandwidth=nan", "invalid value 'nan' for option 'gpu_bandwidth'" },
	{ "gpu_bandwidth=inf", "invalid value 'inf' for option 'gpu_bandwidth'" },
	{ "gpu_bandwidth=1e9", "invalid value '1e9' for option 'gpu_bandwidth'" },
	{ "gpu_bandwidth=", "invalid value '' for option 'gpu_bandwidth'" },
	{ "ram_bandwidth=0x10", "invalid value '0x10' for option 'ram_bandwidth'" },
	{ "ram_bandwidth=1e999", "invalid value '1e999' for option 'ram_bandwidth'" },
	{ "bench_cmd=", "invalid value '' for option 'bench_cmd': expected a command containing {model}" },
	{ "bench_cmd=llama-bench -m model.gguf", "invalid value 'llama-bench -m model.gguf' for option 'bench_cmd'" },
	{ "bench_cmd=b {model} -c {contx}", "unknown placeholder '{contx}' in option 'bench_cmd'" },
	{ "bench_cmd=b {model}\\012x", "invalid value 'b {model}\nx' for option 'bench_cmd'" },
	{ "connections=0", "invalid value '0' for option 'connections': expected a number from 1 to 64" },
	{ "connections=65", "invalid value '65' for option 'connections'" },
	{ "connections=-1", "invalid value '-1' for option 'connections'" },
	{ "connections=4.0", "invalid value '4.0' for option 'connections'" },
	{ "connections=four", "invalid value 'four' for option 'connections'" },
	{ "connections=", "invalid value '' for option 'connections'" },
	{ "connections=18446744073709551617", "invalid value '18446744073709551617' for option 'connections'" },
	{ "chunk=32K", "invalid value '32K' for option 'chunk': expected SIZE from 64K to 1G" },
	{ "chunk=2G", "invalid value '2G' for option 'chunk'" },
	{ "chunk=0", "invalid value '0' for option 'chunk'" },
	{ "chunk=8X", "invalid value '8X' for option 'chunk'" },
	{ "readahead=5G", "invalid value '5G' for option 'readahead': expected SIZE from 0 to 4G" },
	{ "readahead=-1", "invalid value '-1' for option 'readahead'" },
	{ "verify=eager", "invalid value 'eager' for option 'verify': expected lazy or strict" },
	{ "symlinks=maybe", "invalid value 'maybe' for option 'symlinks': expected yes or no" },
	{ "symlinks=", "invalid value '' for option 'symlinks': expected yes or no" },
	{ "verify=LAZY", "invalid value 'LAZY' for option 'verify'" },
	{ "verify=", "invalid value '' for option 'verify'" },
};

static void test_bad_values(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct run r;
		int rc = run_opts(&r, bad_cases[i].opts, env_home);

		if (rc != -EINVAL || r.stage != 3)
			fail_msg("'%s': rc %d at stage %d, want -EINVAL at validate (%s)",
				 bad_cases[i].opts, rc, r.stage, r.d.msg);
		if (strncmp(r.d.msg, bad_cases[i].msg, strlen(bad_cases[i].msg)) != 0)
			fail_msg("'%s': diag '%s', want '%s...'", bad_cases[i].opts, r.d.msg,
				 bad_cases[i].msg);
		run_release(&r);
	}
}

/* ------------------------------------------------------------------------
 * Unknown options, and what libfuse gets
 * ------------------------------------------------------------------------ */

struct unknown_case {
	const char *const *argv;
	const char *msg;
};

static void test_unknown(void **state)
{
	const struct unknown_case cases[] = {
		{ ARGV("/mnt", "-o", "foo"), "unknown option 'foo'; see modelfs --help" },
		{ ARGV("/mnt", "-o", "allow_other,foo=bar,state=/s"), "unknown option 'foo'; see modelfs --help" },
		{ ARGV("/mnt", "-ocachemax=1G"), "unknown option 'cachemax'; see modelfs --help" },
		{ ARGV("/mnt", "-x"), "unknown option '-x'; see modelfs --help" },
		{ ARGV("-f", "--foreground", "/mnt"), "unknown option '--foreground'" },
		{ ARGV("/mnt", "-o", "nonempty"), "unknown option 'nonempty'" },
		{ ARGV("/mnt", "-o", "use_ino"), "unknown option 'use_ino'" },
		{ ARGV("/mnt", "-o", "max_write=131072"), "unknown option 'max_write'" },
		{ ARGV("/mnt", "-o", "modules=subdir"), "unknown option 'modules'" },
		{ ARGV("/mnt", "-o", "Allow_Other"), "unknown option 'Allow_Other'" },
		{ ARGV("/mnt", "-o", "offline=1"), "unknown option 'offline'" },
		{ ARGV("/mnt", "-o", "state"), "option 'state' needs a value: -o state=VALUE" },
		{ ARGV("/mnt", "-o", "cache_max"), "option 'cache_max' needs a value" },
		{ ARGV("/mnt", "-o", "verify"), "option 'verify' needs a value" },
		{ ARGV("/mnt", "-o"), "missing argument after '-o'" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		int rc = run_argv(&r, cases[i].argv, env_home);

		if (rc != -EINVAL || r.stage != 1)
			fail_msg("case %zu: rc %d at stage %d (%s)", i, rc, r.stage, r.d.msg);
		if (strncmp(r.d.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("case %zu: diag '%s', want '%s...'", i, r.d.msg, cases[i].msg);
		assert_ptr_equal(r.args.argv, cases[i].argv);
		assert_int_equal(r.args.allocated, 0);
		run_release(&r);
	}
}

/* An unknown option is named without its value: the value may be a secret
 * pasted into the wrong option. */
static void test_unknown_hides_value(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_opts(&r, "tokne=" TOKEN, env_home), -EINVAL);
	assert_string_equal(r.d.msg, "unknown option 'tokne'; see modelfs --help");
	assert_false(str_has(r.d.msg, TOKEN));
	run_release(&r);
}

static void test_fstab_noise(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("/mnt", "-o",
		"_netdev,auto,noauto,user,users,nofail,defaults,rw,dev,nodev,suid,nosuid,exec,noexec,"
		"x-systemd.automount,x-systemd.device-timeout=10s,x-systemd.requires=net.target,"
		"comment=systemd.automount,user=alice,x-gvfs-hide"), env_home), 0);
	assert_args(&r, ARGV("/mnt"));
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt", "-o", ""), env_home), 0);
	assert_args(&r, ARGV("/mnt"));
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt", "-o", "rw,allow_other,,noauto,state=/s,"), env_home), 0);
	assert_args(&r, ARGV("-o", "allow_other", "/mnt"));
	assert_string_equal(r.mo.state_dir, "/s");
	run_release(&r);
}

static void test_fuse_kept_in_order(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("/mnt", "-f", "-o", "allow_other,state=/s,fsname=model\\,fs",
					   "-s", "-oauto_unmount,cache_max=1G,ro", "-o",
					   "default_permissions,kernel_cache,entry_timeout=1.5,"
					   "max_threads=8,clone_fd,subtype=modelfs,blksize=4096,"
					   "max_read=131072,uid=0,gid=0,umask=022,noforget,allow_root"),
				 env_home), 0);
	assert_args(&r, ARGV("-o", "allow_other,fsname=model\\,fs,auto_unmount,ro,default_permissions,"
			     "kernel_cache,entry_timeout=1.5,max_threads=8,clone_fd,subtype=modelfs,"
			     "blksize=4096,max_read=131072,uid=0,gid=0,umask=022,noforget,allow_root",
			     "/mnt", "-f", "-s"));
	assert_true(r.mo.foreground);
	assert_false(r.mo.debug);
	assert_string_equal(r.mo.state_dir, "/s");
	assert_int_equal(r.mo.cache_max_bytes, 1u << 30);
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("-d", "/mnt"), env_home), 0);
	assert_args(&r, ARGV("-d", "/mnt"));
	assert_true(r.mo.debug && r.mo.foreground);
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt", "-o", "debug"), env_home), 0);
	assert_args(&r, ARGV("-o", "debug", "/mnt"));
	assert_true(r.mo.debug && r.mo.foreground);
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt", "--", "-weird"), env_home), 0);
	assert_args(&r, ARGV("/mnt", "--", "-weird"));
	run_release(&r);
}

static void test_help_version(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("-h"), env_home), 0);
	assert_true(r.mo.show_help);
	assert_false(r.mo.show_version);
	assert_args(&r, ARGV(NULL));
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("--help", "/mnt", "-o", "allow_other"), env_home), 0);
	assert_true(r.mo.show_help);
	assert_args(&r, ARGV("-o", "allow_other", "/mnt"));
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("-V"), env_home), 0);
	assert_true(r.mo.show_version);
	assert_false(r.mo.show_help);
	assert_args(&r, ARGV(NULL));
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("--version"), env_home), 0);
	assert_true(r.mo.show_version);
	run_release(&r);
}

/* A template has spaces and braces; a backslash escapes a comma. */
static void test_bench_cmd_escapes(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_opts(&r, "bench_cmd=llama-bench -m {model} -p 512\\,1024 -n 128 -ngl {ngl},"
				  "verify=strict", env_home), 0);
	assert_string_equal(r.mo.bench_cmd, "llama-bench -m {model} -p 512,1024 -n 128 -ngl {ngl}");
	assert_int_equal(r.mo.verify, VERIFY_STRICT);
	assert_args(&r, ARGV("/mnt"));
	run_release(&r);

	assert_int_equal(run_opts(&r, "bench_cmd=run\\\\x {model}\\,", env_home), 0);
	assert_string_equal(r.mo.bench_cmd, "run\\x {model},");
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt", "-obench_cmd=b -m {model} -p 1\\,2\\,3"), env_home), 0);
	assert_string_equal(r.mo.bench_cmd, "b -m {model} -p 1,2,3");
	assert_line(&r, "bench_cmd=b -m {model} -p 1,2,3");
	run_release(&r);
}

/* ------------------------------------------------------------------------
 * Environment and precedence
 * ------------------------------------------------------------------------ */

static void test_precedence(void **state)
{
	char *const *env = ENV("HOME=/home/u", "HF_ENDPOINT=https://env.example/",
			       "XDG_DATA_HOME=/xd", "XDG_CACHE_HOME=/xc", "HF_HOME=/hfh",
			       "HF_HUB_CACHE=/hub", "HF_TOKEN=" TOKEN);
	struct run r;

	(void)state;
	/* -o wins */
	assert_int_equal(run_opts(&r, "endpoint=https://opt.example,state=/os,cache=/oc,"
				  "hf_cache=/oh,token_file=/ot", env), 0);
	assert_string_equal(r.mo.endpoint, "https://opt.example");
	assert_string_equal(r.mo.state_dir, "/os");
	assert_string_equal(r.mo.cache_dir, "/oc");
	assert_string_equal(r.mo.hf_cache_dir, "/oh");
	assert_null(r.mo.hf_cache_probe);
	assert_string_equal(r.mo.token_file, "/ot");
	assert_null(r.mo.token);
	assert_line(&r, "token=(unset)");
	assert_int_equal(r.mo.set_by_opt, MO_SET_STATE | MO_SET_CACHE | MO_SET_HF_CACHE |
			 MO_SET_ENDPOINT | MO_SET_TOKENFILE);
	run_release(&r);

	/* environment next */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), env), 0);
	assert_string_equal(r.mo.endpoint, "https://env.example");
	assert_string_equal(r.mo.state_dir, "/xd/modelfs");
	assert_string_equal(r.mo.cache_dir, "/xc/modelfs");
	assert_string_equal(r.mo.hf_cache_dir, "/hub");
	assert_null(r.mo.hf_cache_probe);
	assert_string_equal(r.mo.token_file, "/hfh/token");
	assert_string_equal(r.mo.token, TOKEN);
	assert_line(&r, "token=(set, redacted)");
	run_release(&r);

	/* then defaults */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), env_home), 0);
	assert_string_equal(r.mo.endpoint, "https://huggingface.co");
	assert_string_equal(r.mo.state_dir, "/home/u/.local/share/modelfs");
	assert_string_equal(r.mo.cache_dir, "/home/u/.cache/modelfs");
	assert_null(r.mo.hf_cache_dir);
	assert_string_equal(r.mo.hf_cache_probe, "/home/u/.cache/huggingface/hub");
	assert_string_equal(r.mo.token_file, "/home/u/.cache/huggingface/token");
	run_release(&r);

	/* -o offline with HF_HUB_OFFLINE=0 stays offline */
	assert_int_equal(run_opts(&r, "offline", ENV("HOME=/h", "HF_HUB_OFFLINE=0")), 0);
	assert_true(r.mo.offline);
	run_release(&r);
}

struct offline_case {
	const char *value;
	bool offline;
};

static void test_env_offline(void **state)
{
	static const struct offline_case cases[] = {
		{ "HF_HUB_OFFLINE=1", true }, { "HF_HUB_OFFLINE=true", true },
		{ "HF_HUB_OFFLINE=TRUE", true }, { "HF_HUB_OFFLINE=Yes", true },
		{ "HF_HUB_OFFLINE=on", true }, { "HF_HUB_OFFLINE=ON", true },
		{ "HF_HUB_OFFLINE=0", false }, { "HF_HUB_OFFLINE=false", false },
		{ "HF_HUB_OFFLINE=no", false }, { "HF_HUB_OFFLINE=", false },
		{ "HF_HUB_OFFLINE=2", false }, { "HF_HUB_OFFLINE= 1", false },
		{ "HF_HUB_OFFLINE=1 ", false }, { "HF_HUB_OFFLINEX=1", false },
		{ "XHF_HUB_OFFLINE=1", false }, { "HF_HUB_OFFLINE", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;

		assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", cases[i].value)), 0);
		if (r.mo.offline != cases[i].offline)
			fail_msg("'%s': offline=%d", cases[i].value, r.mo.offline);
		assert_line(&r, cases[i].offline ? "offline=1" : "offline=0");
		assert_false(r.mo.set_by_opt & MO_SET_OFFLINE);
		run_release(&r);
	}
}

static void test_env_hf_home_xdg(void **state)
{
	struct run r;

	(void)state;
	/* HF_HOME: a definite hub cache and token file */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", "HF_HOME=/hf")), 0);
	assert_string_equal(r.mo.hf_cache_dir, "/hf/hub");
	assert_null(r.mo.hf_cache_probe);
	assert_string_equal(r.mo.token_file, "/hf/token");
	assert_line(&r, "hf_cache=/hf/hub");
	run_release(&r);

	/* HF_HUB_CACHE beats HF_HOME for the hub, not for the token */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", "HF_HOME=/hf", "HF_HUB_CACHE=/hc")), 0);
	assert_string_equal(r.mo.hf_cache_dir, "/hc");
	assert_string_equal(r.mo.token_file, "/hf/token");
	run_release(&r);

	/* XDG_CACHE_HOME moves the derived Hugging Face home (huggingface_hub) */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", "XDG_CACHE_HOME=/xc",
							"XDG_DATA_HOME=/xd")), 0);
	assert_string_equal(r.mo.state_dir, "/xd/modelfs");
	assert_string_equal(r.mo.cache_dir, "/xc/modelfs");
	assert_null(r.mo.hf_cache_dir);
	assert_string_equal(r.mo.hf_cache_probe, "/xc/huggingface/hub");
	assert_string_equal(r.mo.token_file, "/xc/huggingface/token");
	assert_line(&r, "hf_cache=");
	run_release(&r);

	/* empty and relative XDG values are ignored, empty HF_* too */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", "XDG_CACHE_HOME=", "XDG_DATA_HOME=rel",
							"HF_HOME=", "HF_HUB_CACHE=", "HF_TOKEN=",
							"HF_ENDPOINT=")), 0);
	assert_string_equal(r.mo.state_dir, "/h/.local/share/modelfs");
	assert_string_equal(r.mo.cache_dir, "/h/.cache/modelfs");
	assert_null(r.mo.hf_cache_dir);
	assert_string_equal(r.mo.hf_cache_probe, "/h/.cache/huggingface/hub");
	assert_null(r.mo.token);
	assert_string_equal(r.mo.endpoint, MO_DEFAULT_ENDPOINT);
	run_release(&r);

	/* the first of two definitions wins, as with getenv() */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/first", "HOME=/second")), 0);
	assert_string_equal(r.mo.state_dir, "/first/.local/share/modelfs");
	run_release(&r);
}

static void test_env_no_home(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("PATH=/bin")), -EINVAL);
	assert_int_equal(r.stage, 3);
	assert_string_equal(r.d.msg, "cannot choose a default for 'state': set HOME or -o state=DIR");
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt"), NULL), -EINVAL);
	assert_string_equal(r.d.msg, "cannot choose a default for 'state': set HOME or -o state=DIR");
	run_release(&r);

	assert_int_equal(run_opts(&r, "state=/s", ENV("HOME=")), -EINVAL);
	assert_string_equal(r.d.msg, "cannot choose a default for 'cache': set HOME or -o cache=DIR");
	run_release(&r);

	/* explicit values, or XDG, are enough; no token file, no probe */
	assert_int_equal(run_opts(&r, "state=/s,cache=/c", NULL), 0);
	assert_null(r.mo.token_file);
	assert_null(r.mo.hf_cache_probe);
	assert_line(&r, "token_file=");
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("XDG_DATA_HOME=/xd", "XDG_CACHE_HOME=/xc")), 0);
	assert_string_equal(r.mo.token_file, "/xc/huggingface/token");
	run_release(&r);
}

static void test_env_bad_values(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", "HF_ENDPOINT=ftp://mirror")), -EINVAL);
	assert_int_equal(r.stage, 3);
	assert_true(str_has(r.d.msg, "HF_ENDPOINT"));
	assert_true(strncmp(r.d.msg, "invalid HF_ENDPOINT: url 'ftp://mirror'", 39) == 0);
	run_release(&r);

	/* -o endpoint overrides a broken HF_ENDPOINT */
	assert_int_equal(run_opts(&r, "endpoint=https://ok.example",
				  ENV("HOME=/h", "HF_ENDPOINT=not a url")), 0);
	assert_string_equal(r.mo.endpoint, "https://ok.example");
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h\n")), -EINVAL);
	assert_string_equal(r.d.msg, "invalid value for 'state' from XDG_DATA_HOME or HOME: "
			    "contains a control character");
	run_release(&r);

	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", "HF_HUB_CACHE=/a\tb")), -EINVAL);
	assert_true(str_has(r.d.msg, "'hf_cache' from HF_HUB_CACHE or HF_HOME"));
	run_release(&r);
}

/* ------------------------------------------------------------------------
 * The token
 * ------------------------------------------------------------------------ */

static void test_token_never_printed(void **state)
{
	char *const *env = ENV("HOME=/home/u", "HF_TOKEN=" TOKEN);
	struct sbuf sb;
	struct run r;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("/mnt"), env), 0);
	assert_string_equal(r.mo.token, TOKEN);
	assert_false(str_has(r.out.buf, TOKEN));
	assert_false(str_has(r.out.buf, "ZqX7"));
	assert_line(&r, "token=(set, redacted)");
	sbuf_init(&sb, 1 << 16);
	assert_int_equal(mountopts_describe(&r.mo, &sb), 0);
	assert_false(str_has(sb.buf, TOKEN));
	sbuf_release(&sb);
	run_release(&r);

	/* a failing run leaves no token in its diag */
	assert_int_equal(run_opts(&r, "cache_max=huge", env), -EINVAL);
	assert_false(str_has(r.d.msg, TOKEN));
	run_release(&r);

	/* a token that cannot go into a header is refused without echoing it */
	assert_int_equal(run_argv(&r, ARGV("/mnt"), ENV("HOME=/h", "HF_TOKEN=hf_ab cd" TOKEN)), -EINVAL);
	assert_string_equal(r.d.msg, "invalid HF_TOKEN: it contains a space, control or non-ASCII byte; "
			    "unset it or fix it");
	assert_false(str_has(r.d.msg, TOKEN));
	run_release(&r);

	/* nor does the help text know it */
	f = open_memstream(&text, &len);
	assert_non_null(f);
	mountopts_help(f);
	assert_int_equal(fclose(f), 0);
	assert_false(str_has(text, TOKEN));
	free(text);
}

/* ------------------------------------------------------------------------
 * Output details and life cycle
 * ------------------------------------------------------------------------ */

static void test_describe_escapes_control_bytes(void **state)
{
	struct mountopts mo;
	struct fuse_args args = FUSE_ARGS_INIT(4, (char **)ARGV("/mnt", "-o", "hf_cache=/a\\001b\\012c"));
	struct diag d;
	struct sbuf sb;

	(void)state;
	mountopts_init(&mo);
	diag_init(&d);
	sbuf_init(&sb, 1 << 16);
	assert_int_equal(mountopts_parse(&args, &mo, &d), 0);
	assert_string_equal(mo.hf_cache_dir, "/a\001b\nc");
	assert_int_equal(mountopts_describe(&mo, &sb), 0);
	assert_true(str_has(sb.buf, "\nhf_cache=/a\\x01b\\x0ac\n"));
	assert_int_equal(mountopts_validate(&mo, &d), -EINVAL);
	sbuf_release(&sb);
	mountopts_release(&mo);
	fuse_opt_free_args(&args);
}

static void test_describe_cap(void **state)
{
	struct run r;
	struct sbuf sb;

	(void)state;
	assert_int_equal(run_argv(&r, ARGV("/mnt"), env_home), 0);
	sbuf_init(&sb, 16);
	assert_true(mountopts_describe(&r.mo, &sb) < 0);
	sbuf_release(&sb);
	run_release(&r);
}

static void test_help_lists_options(void **state)
{
	static const char *const names[] = {
		"state=DIR", "cache=DIR", "cache_max=SIZE", "hf_cache=DIR", "endpoint=URL",
		"token_file=PATH", "offline", "catalog=builtin|none|PATH", "gpu_vram=SIZE",
		"gpu_bandwidth=GBPS", "ram_bandwidth=GBPS", "bench_cmd=TEMPLATE", "connections=N",
		"chunk=SIZE", "readahead=SIZE", "verify=lazy|strict", MO_DEFAULT_BENCH_CMD, NULL
	};
	char *text = NULL;
	size_t len = 0, i;
	FILE *f;

	(void)state;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	mountopts_help(f);
	assert_int_equal(fclose(f), 0);
	for (i = 0; names[i]; i++)
		if (!str_has(text, names[i]))
			fail_msg("help lacks '%s'", names[i]);
	free(text);
}

/* d is optional: the verdict is the same without it. */
static void test_null_diag(void **state)
{
	struct mountopts mo;
	struct fuse_args args = FUSE_ARGS_INIT(4, (char **)ARGV("/mnt", "-o", "bogus"));

	(void)state;
	mountopts_init(&mo);
	assert_int_equal(mountopts_parse(&args, &mo, NULL), -EINVAL);
	mountopts_release(&mo);
	fuse_opt_free_args(&args);

	args = (struct fuse_args)FUSE_ARGS_INIT(4, (char **)ARGV("/mnt", "-o", "chunk=1"));
	mountopts_init(&mo);
	assert_int_equal(mountopts_parse(&args, &mo, NULL), 0);
	assert_int_equal(mountopts_apply_env(&mo, env_home), 0);
	assert_int_equal(mountopts_validate(&mo, NULL), -EINVAL);
	mountopts_release(&mo);
	fuse_opt_free_args(&args);
}

static void test_release_reuse(void **state)
{
	struct run r;

	(void)state;
	assert_int_equal(run_opts(&r, "state=/s,cache_max=1G,verify=strict",
				  ENV("HOME=/h", "HF_TOKEN=" TOKEN)), 0);
	mountopts_release(&r.mo);
	assert_null(r.mo.state_dir);
	assert_null(r.mo.token);
	assert_null(r.mo.raw_cache_max);
	assert_int_equal(r.mo.connections, MO_DEFAULT_CONNECTIONS);
	assert_int_equal(r.mo.verify, VERIFY_LAZY);
	mountopts_release(&r.mo);
	run_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_table),
		cmocka_unit_test(test_defaults_fields),
		cmocka_unit_test(test_describe_golden),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_unknown_hides_value),
		cmocka_unit_test(test_fstab_noise),
		cmocka_unit_test(test_fuse_kept_in_order),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_bench_cmd_escapes),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_env_offline),
		cmocka_unit_test(test_env_hf_home_xdg),
		cmocka_unit_test(test_env_no_home),
		cmocka_unit_test(test_env_bad_values),
		cmocka_unit_test(test_token_never_printed),
		cmocka_unit_test(test_describe_escapes_control_bytes),
		cmocka_unit_test(test_describe_cap),
		cmocka_unit_test(test_help_lists_options),
		cmocka_unit_test(test_null_diag),
		cmocka_unit_test(test_release_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
