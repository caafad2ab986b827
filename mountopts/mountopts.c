/*
 * mountopts.c - the mount options of SPEC §2, from the command line, the
 * environment and the defaults, checked before anything is mounted.
 *
 * Three passes, each with one job.  mountopts_parse() runs fuse_opt over
 * the whole command line with one table: string options land in the struct
 * through offsetof templates (fuse_opt frees the previous value of a %s
 * field, so the last -o wins and every string is a heap copy), options that
 * need code go through one processing function (mo_opt_proc), the options
 * libfuse knows stay in args for fuse_parse_cmdline()/fuse_session_new(),
 * fstab noise is discarded, and anything else stops the parse with the name
 * of the option.  Values are not judged here: SIZE, numbers and verify= are
 * kept raw.  mountopts_apply_env() then fills what -o left unset from the
 * environment (an envp array, never getenv) and from the defaults;
 * mountopts_validate() converts the raw values and checks every field,
 * whether it came from -o, the environment or a default, and names its
 * source in the error.
 *
 * The split between "ours", "libfuse's" and "noise" is the whole contract
 * with fs/.  libfuse 3.14 parses the command line in four tables, all read
 * at tag fuse-3.14.0:
 *   lib/helper.c   fuse_helper_opts (fuse_parse_cmdline): -h --help -V
 *                  --version -d debug -f -s fsname= subtype= clone_fd
 *                  max_idle_threads= max_threads=;
 *   lib/fuse_lowlevel.c  fuse_ll_opts (fuse_session_new): debug -d --debug
 *                  allow_root;
 *   lib/mount.c    fuse_mount_opts (fuse_session_new): allow_other blkdev
 *                  auto_unmount fsname= max_read= subtype= blksize=
 *                  default_permissions context= fscontext= defcontext=
 *                  rootcontext= user= -n -r ro rw suid nosuid dev nodev exec
 *                  noexec async sync dirsync atime noatime;
 *   lib/fuse.c     fuse_lib_opts (fuse_new, the high-level API only):
 *                  debug kernel_cache auto_cache noauto_cache no_rofd_flush
 *                  umask= uid= gid= entry_timeout= attr_timeout=
 *                  ac_attr_timeout= negative_timeout= noforget remember=
 *                  modules=.
 * fuse_session_new() rejects whatever is left ("fuse: unknown option(s)").
 * We keep all of these except: -h/--help and -V/--version (ours: main
 * prints our text first), user= -n -r (mtab bookkeeping), rw suid dev exec
 * and their no- forms (fstab noise, SPEC §2), modules= (stacking modules
 * would change the paths our operations see), and --debug.  use_ino,
 * readdir_ino, direct_io, hard_remove and nonempty were fuse 2 options that
 * 3.14 no longer parses, and max_write=, max_readahead= and the other
 * fuse_conn_info options are parsed only by fuse_parse_conn_info_opts(),
 * which libfuse never calls itself; all of them are unknown here, as they
 * would be to libfuse.
 *
 * Escaping is fuse_opt's: a backslash makes the next byte literal, so
 * bench_cmd=a\,b is "a,b", and options kept for libfuse are re-escaped when
 * fuse_opt joins them into one "-o" argument placed right after argv[0].
 *
 * The bearer token ($HF_TOKEN) is copied into one field and read back only
 * by mountopts_validate(), which checks its bytes without printing them;
 * mountopts_describe() writes "(set, redacted)".  An unknown option is named
 * without its value, so "-o tokne=hf_..." does not echo a secret.
 */
#include "mountopts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MO_SIZE_EXPECT     "SIZE such as 512M, 24G, 1.5T"
#define MO_GBPS_MAX        100000.0     /* GB/s; HBM3e parts are below 10000 */
#define MO_CHUNK_MIN       (64ull << 10)
#define MO_CHUNK_MAX       (1ull << 30)
#define MO_READAHEAD_MAX   (4ull << 30)
#define MO_CONNECTIONS_MAX 64
#define MO_RAW_MAX         64           /* bytes of a number we append a unit to */

#define MO_OPT(t, field, v) { t, offsetof(struct mountopts, field), v }

enum mo_key {
	KEY_HELP = 100,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SET_STATE,
	KEY_SET_CACHE,
	KEY_SET_HF_CACHE,
	KEY_SET_ENDPOINT,
	KEY_SET_TOKENFILE,
	KEY_OFFLINE,
	KEY_CATALOG,
	KEY_CACHE_MAX,
	KEY_GPU_VRAM,
	KEY_GPU_BW,
	KEY_RAM_BW,
	KEY_CONNECTIONS,
	KEY_CHUNK,
	KEY_READAHEAD,
	KEY_VERIFY,
	KEY_BENCH_TIMEOUT,
	KEY_TIMEOUT,
	KEY_SYMLINKS,
	KEY_ALLOW_OTHER,
};

static const struct fuse_opt mo_opts[] = {
	/* ours: plain strings */
	MO_OPT("state=%s", state_dir, 0),
	MO_OPT("cache=%s", cache_dir, 0),
	MO_OPT("hf_cache=%s", hf_cache_dir, 0),
	MO_OPT("endpoint=%s", endpoint, 0),
	MO_OPT("token_file=%s", token_file, 0),
	MO_OPT("bench_cmd=%s", bench_cmd, 0),
	FUSE_OPT_KEY("state=", KEY_SET_STATE),
	FUSE_OPT_KEY("cache=", KEY_SET_CACHE),
	FUSE_OPT_KEY("hf_cache=", KEY_SET_HF_CACHE),
	FUSE_OPT_KEY("endpoint=", KEY_SET_ENDPOINT),
	FUSE_OPT_KEY("token_file=", KEY_SET_TOKENFILE),
	/* ours: values that need code */
	FUSE_OPT_KEY("offline", KEY_OFFLINE),
	FUSE_OPT_KEY("catalog=", KEY_CATALOG),
	FUSE_OPT_KEY("cache_max=", KEY_CACHE_MAX),
	FUSE_OPT_KEY("gpu_vram=", KEY_GPU_VRAM),
	FUSE_OPT_KEY("gpu_bandwidth=", KEY_GPU_BW),
	FUSE_OPT_KEY("ram_bandwidth=", KEY_RAM_BW),
	FUSE_OPT_KEY("connections=", KEY_CONNECTIONS),
	FUSE_OPT_KEY("chunk=", KEY_CHUNK),
	FUSE_OPT_KEY("readahead=", KEY_READAHEAD),
	FUSE_OPT_KEY("verify=", KEY_VERIFY),
	FUSE_OPT_KEY("bench_timeout=", KEY_BENCH_TIMEOUT),
	FUSE_OPT_KEY("timeout=", KEY_TIMEOUT),
	FUSE_OPT_KEY("symlinks=", KEY_SYMLINKS),
	/* ours: command-line switches */
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	/* libfuse's, noted and kept (lib/helper.c, lib/fuse_lowlevel.c) */
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("clone_fd", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("max_idle_threads=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("max_threads=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("allow_root", FUSE_OPT_KEY_KEEP),
	/* libfuse's mount options (lib/mount.c) */
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("auto_unmount", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("blkdev", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("blksize=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("default_permissions", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("fsname=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("subtype=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("max_read=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("context=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("fscontext=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("defcontext=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("rootcontext=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("ro", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("async", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("sync", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("dirsync", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("atime", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("noatime", FUSE_OPT_KEY_KEEP),
	/* libfuse's high-level options (lib/fuse.c): only fuse_new() takes them */
	FUSE_OPT_KEY("kernel_cache", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("auto_cache", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("noauto_cache", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("no_rofd_flush", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("umask=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("uid=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("gid=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("entry_timeout=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("attr_timeout=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("ac_attr_timeout=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("negative_timeout=", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("noforget", FUSE_OPT_KEY_KEEP),
	FUSE_OPT_KEY("remember=", FUSE_OPT_KEY_KEEP),
	/* fstab noise (mount(8), systemd), dropped */
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("rw", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("dev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nodev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("suid", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nosuid", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("exec", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noexec", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("", FUSE_OPT_KEY_DISCARD),       /* -o "", or a,,b */
	/* and every x-* option, in mo_opt_proc() */
	FUSE_OPT_END
};

/* Our options that take a value, for "option 'x' needs a value". */
static const char *const mo_valued[] = {
	"state", "cache", "cache_max", "hf_cache", "endpoint", "token_file",
	"catalog", "gpu_vram", "gpu_bandwidth", "ram_bandwidth", "bench_cmd",
	"connections", "chunk", "readahead", "verify", "bench_timeout", "timeout", "symlinks", NULL
};

void mountopts_init(struct mountopts *mo)
{
	memset(mo, 0, sizeof(*mo));
	mo->connections = MO_DEFAULT_CONNECTIONS;
	mo->chunk_bytes = MO_DEFAULT_CHUNK;
	mo->readahead_bytes = MO_DEFAULT_READAHEAD;
	mo->verify = VERIFY_LAZY;
	mo->symlinks = MO_DEFAULT_SYMLINKS;
	mo->bench_timeout_s = MO_DEFAULT_BENCH_TIMEOUT;
}

/* Frees every string and resets mo; the token's bytes are wiped first so
 * they do not outlive the struct. */
void mountopts_release(struct mountopts *mo)
{
	char **strs[] = {
		&mo->state_dir, &mo->cache_dir, &mo->hf_cache_dir,
		&mo->hf_cache_probe, &mo->endpoint, &mo->token_file,
		&mo->catalog, &mo->bench_cmd, &mo->raw_cache_max,
		&mo->raw_gpu_vram, &mo->raw_gpu_bw, &mo->raw_ram_bw,
		&mo->raw_connections, &mo->raw_chunk, &mo->raw_readahead,
		&mo->raw_verify, &mo->raw_bench_timeout, &mo->raw_timeout, &mo->raw_symlinks, &mo->unknown,
	};
	size_t i;

	if (mo->token) {
		explicit_bzero(mo->token, strlen(mo->token));
		free(mo->token);
	}
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	mountopts_init(mo);
}

/* Replaces *field with a copy of s: 0 or -ENOMEM. */
static int mo_set_str(char **field, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static char **mo_raw_field(struct mountopts *mo, int key)
{
	switch (key) {
	case KEY_CATALOG:     return &mo->catalog;
	case KEY_CACHE_MAX:   return &mo->raw_cache_max;
	case KEY_GPU_VRAM:    return &mo->raw_gpu_vram;
	case KEY_GPU_BW:      return &mo->raw_gpu_bw;
	case KEY_RAM_BW:      return &mo->raw_ram_bw;
	case KEY_CONNECTIONS: return &mo->raw_connections;
	case KEY_CHUNK:       return &mo->raw_chunk;
	case KEY_READAHEAD:   return &mo->raw_readahead;
	case KEY_VERIFY:      return &mo->raw_verify;
	case KEY_BENCH_TIMEOUT: return &mo->raw_bench_timeout;
	case KEY_TIMEOUT:     return &mo->raw_timeout;
	case KEY_SYMLINKS:    return &mo->raw_symlinks;
	default:              return NULL;
	}
}

/* fuse_opt's callback: 1 keeps arg for libfuse, 0 drops it, -1 stops.  On
 * -1, mo->unknown says whether it was an unknown option (else -ENOMEM).
 * -d and -o debug imply -f, as in libfuse's fuse_parse_cmdline().  Options
 * starting "x-" (x-systemd.automount, x-gvfs-hide) are fstab noise: mount(8)
 * reserves the prefix for userspace tools, and a template cannot match a
 * prefix without '='. */
static int mo_opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct mountopts *mo = data;
	char **raw;

	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		return 1;
	case FUSE_OPT_KEY_OPT:
		if (strncmp(arg, "x-", 2) == 0)
			return 0;
		free(mo->unknown);
		mo->unknown = strndup(arg, strcspn(arg, "="));
		return -1;
	case KEY_HELP:
		mo->show_help = true;
		return 0;
	case KEY_VERSION:
		mo->show_version = true;
		return 0;
	case KEY_DEBUG:
		mo->debug = true;
		mo->foreground = true;
		return 1;
	case KEY_FOREGROUND:
		mo->foreground = true;
		return 1;
	case KEY_ALLOW_OTHER:
		mo->allow_other = true;
		return 1;
	case KEY_SET_STATE:
		mo->set_by_opt |= MO_SET_STATE;
		return 0;
	case KEY_SET_CACHE:
		mo->set_by_opt |= MO_SET_CACHE;
		return 0;
	case KEY_SET_HF_CACHE:
		mo->set_by_opt |= MO_SET_HF_CACHE;
		return 0;
	case KEY_SET_ENDPOINT:
		mo->set_by_opt |= MO_SET_ENDPOINT;
		return 0;
	case KEY_SET_TOKENFILE:
		mo->set_by_opt |= MO_SET_TOKENFILE;
		return 0;
	case KEY_OFFLINE:
		mo->offline = true;
		mo->set_by_opt |= MO_SET_OFFLINE;
		return 0;
	}
	raw = mo_raw_field(mo, key);
	if (!raw)
		return 1;
	return mo_set_str(raw, strchr(arg, '=') + 1) ? -1 : 0;
}

static bool mo_is_valued(const char *name)
{
	size_t i;

	for (i = 0; mo_valued[i]; i++)
		if (strcmp(mo_valued[i], name) == 0)
			return true;
	return false;
}

int mountopts_parse(struct fuse_args *args, struct mountopts *mo, struct diag *d)
{
	int i;

	for (i = 1; i < args->argc; i++) {
		if (strcmp(args->argv[i], "--") == 0)
			break;
		if (strcmp(args->argv[i], "-o") == 0 && i + 1 == args->argc)
			return diag_fail(d, -EINVAL,
					 "missing argument after '-o'; see modelfs --help");
	}
	if (fuse_opt_parse(args, mo, mo_opts, mo_opt_proc) == 0)
		return 0;
	if (!mo->unknown)
		return diag_fail(d, -ENOMEM, "out of memory while parsing the command line");
	if (mo_is_valued(mo->unknown))
		return diag_fail(d, -EINVAL, "option '%s' needs a value: -o %s=VALUE; see modelfs --help",
				 mo->unknown, mo->unknown);
	return diag_fail(d, -EINVAL, "unknown option '%s'; see modelfs --help", mo->unknown);
}

/* ------------------------------------------------------------------------
 * Environment and defaults
 * ------------------------------------------------------------------------ */

/* The value of name in envp, or NULL when unset or empty (an empty variable
 * counts as unset, as XDG and huggingface_hub treat it). */
static const char *mo_env(char *const envp[], const char *name)
{
	size_t len = strlen(name);
	size_t i;

	if (!envp)
		return NULL;
	for (i = 0; envp[i]; i++) {
		if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
			return envp[i][len + 1] ? envp[i] + len + 1 : NULL;
	}
	return NULL;
}

/* An XDG base directory: the XDG spec says to ignore relative values. */
static const char *mo_env_xdg(char *const envp[], const char *name)
{
	const char *v = mo_env(envp, name);

	return v && v[0] == '/' ? v : NULL;
}

/* *field = base + suffix when *field is NULL and base is set: 0 or -ENOMEM. */
static int mo_default_path(char **field, const char *base, const char *suffix)
{
	size_t blen, slen;
	char *p;

	if (*field || !base)
		return 0;
	blen = strlen(base);
	slen = strlen(suffix);
	p = malloc(blen + slen + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, base, blen);
	memcpy(p + blen, suffix, slen + 1);
	*field = p;
	return 0;
}

static int mo_default_str(char **field, const char *value)
{
	if (*field || !value)
		return 0;
	return mo_set_str(field, value);
}

/* huggingface_hub's truthy values for HF_HUB_OFFLINE. */
static bool mo_env_is_true(const char *v)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	size_t i;

	for (i = 0; v && yes[i]; i++)
		if (strcasecmp(v, yes[i]) == 0)
			return true;
	return false;
}

/* SPEC §2 defaults.  The Hugging Face home follows huggingface_hub:
 * $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
 * An explicit HF_HOME makes $HF_HOME/hub the hub cache; a derived one only
 * names a directory to probe.  SPEC §2 precedence: -o token_file outranks
 * $HF_TOKEN, so the token is taken only when -o did not name a file. */
int mountopts_apply_env(struct mountopts *mo, char *const envp[])
{
	const char *home = mo_env(envp, "HOME");
	const char *hf_home = mo_env(envp, "HF_HOME");
	const char *xdg_data = mo_env_xdg(envp, "XDG_DATA_HOME");
	const char *xdg_cache = mo_env_xdg(envp, "XDG_CACHE_HOME");
	const char *token = mo_env(envp, "HF_TOKEN");
	char *hf_home_derived = NULL;
	const char *hf_base;
	int rc = 0;

	if (xdg_cache)
		rc = mo_default_path(&hf_home_derived, xdg_cache, "/huggingface");
	else
		rc = mo_default_path(&hf_home_derived, home, "/.cache/huggingface");
	if (rc)
		return rc;
	hf_base = hf_home ? hf_home : hf_home_derived;

	if (xdg_data)
		rc = mo_default_path(&mo->state_dir, xdg_data, "/modelfs");
	else
		rc = mo_default_path(&mo->state_dir, home, "/.local/share/modelfs");
	if (!rc && xdg_cache)
		rc = mo_default_path(&mo->cache_dir, xdg_cache, "/modelfs");
	else if (!rc)
		rc = mo_default_path(&mo->cache_dir, home, "/.cache/modelfs");
	if (!rc)
		rc = mo_default_str(&mo->hf_cache_dir, mo_env(envp, "HF_HUB_CACHE"));
	if (!rc && hf_home)
		rc = mo_default_path(&mo->hf_cache_dir, hf_home, "/hub");
	if (!rc && !mo->hf_cache_dir)
		rc = mo_default_path(&mo->hf_cache_probe, hf_home_derived, "/hub");
	if (!rc)
		rc = mo_default_str(&mo->endpoint, mo_env(envp, "HF_ENDPOINT"));
	if (!rc)
		rc = mo_default_str(&mo->endpoint, MO_DEFAULT_ENDPOINT);
	if (!rc && !(mo->set_by_opt & MO_SET_TOKENFILE))
		rc = mo_default_str(&mo->token, token);
	if (!rc)
		rc = mo_default_path(&mo->token_file, hf_base, "/token");
	if (!rc && mo_env_is_true(mo_env(envp, "HF_HUB_OFFLINE")))
		mo->offline = true;
	if (!rc)
		rc = mo_default_str(&mo->catalog, "builtin");
	if (!rc)
		rc = mo_default_str(&mo->bench_cmd, MO_DEFAULT_BENCH_CMD);
	free(hf_home_derived);
	return rc;
}

/* ------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------ */

static bool mo_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int mo_bad(struct diag *d, const char *name, const char *value, const char *expect)
{
	return diag_fail(d, -EINVAL, "invalid value '%s' for option '%s': expected %s",
			 value, name, expect);
}

/* A path option.  from_env names the variables it came from when -o did
 * not set it, or NULL when it has no default (the field may stay NULL). */
static int mo_check_path(struct diag *d, const char *name, const char *value,
			 bool by_opt, const char *from_env, const char *no_default)
{
	if (!value) {
		if (!no_default)
			return 0;
		return diag_fail(d, -EINVAL, "cannot choose a default for '%s': %s",
				 name, no_default);
	}
	if (value[0] && !mo_has_ctl(value))
		return 0;
	if (by_opt || !from_env)
		return mo_bad(d, name, value, "a non-empty path without control characters");
	return diag_fail(d, -EINVAL, "invalid value for '%s' from %s: contains a control character",
			 name, from_env);
}

static int mo_check_size(struct diag *d, const char *name, const char *raw,
			 uint64_t min, uint64_t max, const char *expect, uint64_t *out)
{
	uint64_t v;

	if (!raw)
		return 0;
	if (parse_size(raw, &v) || v < min || v > max)
		return mo_bad(d, name, raw, expect);
	*out = v;
	return 0;
}

/* gpu_vram=SIZE where a bare number means MiB (SPEC §2). */
static int mo_check_vram(struct diag *d, const char *raw, uint64_t *out_mib)
{
	static const char expect[] = "SIZE such as 24G or 24576 (MiB), or 0 to detect";
	char with_unit[MO_RAW_MAX + 2];
	size_t len;
	uint64_t bytes;
	int rc;

	if (!raw)
		return 0;
	len = strlen(raw);
	if (len == 0 || len > MO_RAW_MAX)
		return mo_bad(d, "gpu_vram", raw, expect);
	if ((raw[len - 1] >= '0' && raw[len - 1] <= '9') || raw[len - 1] == '.') {
		memcpy(with_unit, raw, len);
		memcpy(with_unit + len, "M", 2);
		rc = parse_size(with_unit, &bytes);
	} else {
		rc = parse_size(raw, &bytes);
	}
	if (rc || (bytes > 0 && bytes < (1u << 20)))
		return mo_bad(d, "gpu_vram", raw, expect);
	*out_mib = bytes >> 20;
	return 0;
}

static int mo_check_gbps(struct diag *d, const char *name, const char *raw, double *out)
{
	double v;

	if (!raw)
		return 0;
	if (parse_double(raw, &v) || !isfinite(v) || v < 0 || v > MO_GBPS_MAX)
		return mo_bad(d, name, raw, "GB/s such as 936 or 89.6, or 0 for unknown");
	*out = v;
	return 0;
}

/* bench_cmd: non-empty, with {model}, and no placeholder we would not
 * substitute (a typo such as {modle} would reach the runner verbatim). */
static int mo_check_bench(struct diag *d, const char *cmd)
{
	static const char *const known[] = { "{model}", "{ctx}", "{ngl}", NULL };
	const char *p;
	size_t i, n;

	if (!cmd[0] || mo_has_ctl(cmd) || !strstr(cmd, "{model}"))
		return mo_bad(d, "bench_cmd", cmd, "a command containing {model}, such as '"
			      MO_DEFAULT_BENCH_CMD "'");
	for (p = strchr(cmd, '{'); p; p = strchr(p + 1, '{')) {
		n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz_");
		if (n == 0 || p[1 + n] != '}')
			continue;
		for (i = 0; known[i]; i++)
			if (strncmp(p, known[i], n + 2) == 0 && known[i][n + 2] == '\0')
				break;
		if (!known[i])
			return diag_fail(d, -EINVAL, "unknown placeholder '%.*s' in option 'bench_cmd': "
					 "known ones are {model} {ctx} {ngl}", (int)(n + 2), p);
	}
	return 0;
}

/* endpoint: an http(s) base URL, trailing slashes removed in place; the
 * hub client appends paths, so a query or fragment is refused. */
static int mo_check_endpoint(struct mountopts *mo, struct diag *d)
{
	bool by_opt = mo->set_by_opt & MO_SET_ENDPOINT;
	struct diag why;
	size_t len;

	if (!mo->endpoint)
		return mo_bad(d, "endpoint", "", "an http(s) URL such as " MO_DEFAULT_ENDPOINT);
	len = strlen(mo->endpoint);
	while (len > 0 && mo->endpoint[len - 1] == '/')
		mo->endpoint[--len] = '\0';
	diag_init(&why);
	if (parse_url(mo->endpoint, &why) == 0 && strpbrk(mo->endpoint, "?#"))
		diag_fail(&why, -EINVAL, "url '%s' has a query or fragment; give the hub's base url",
			  mo->endpoint);
	else if (why.code == 0)
		return 0;
	if (by_opt)
		return diag_fail(d, -EINVAL, "invalid value for option 'endpoint': %s", why.msg);
	return diag_fail(d, -EINVAL, "invalid HF_ENDPOINT: %s; or use -o endpoint=URL", why.msg);
}

/* The token goes into an Authorization header: printable ASCII without
 * spaces, and never echoed. */
static int mo_check_token(const char *token, struct diag *d)
{
	const unsigned char *p;

	if (!token)
		return 0;
	for (p = (const unsigned char *)token; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return diag_fail(d, -EINVAL, "invalid HF_TOKEN: it contains a space, control "
					 "or non-ASCII byte; unset it or fix it");
	return 0;
}

int mountopts_validate(struct mountopts *mo, struct diag *d)
{
	unsigned by = mo->set_by_opt;
	uint64_t connections;
	int rc;

	rc = mo_check_path(d, "state", mo->state_dir, by & MO_SET_STATE,
			   "XDG_DATA_HOME or HOME", "set HOME or -o state=DIR");
	if (!rc)
		rc = mo_check_path(d, "cache", mo->cache_dir, by & MO_SET_CACHE,
				   "XDG_CACHE_HOME or HOME", "set HOME or -o cache=DIR");
	if (!rc)
		rc = mo_check_size(d, "cache_max", mo->raw_cache_max, 0, UINT64_MAX,
				   MO_SIZE_EXPECT " (0 for unlimited)", &mo->cache_max_bytes);
	if (!rc)
		rc = mo_check_path(d, "hf_cache", mo->hf_cache_dir, by & MO_SET_HF_CACHE,
				   "HF_HUB_CACHE or HF_HOME", NULL);
	if (!rc && mo->hf_cache_probe)
		rc = mo_check_path(d, "hf_cache", mo->hf_cache_probe, false,
				   "XDG_CACHE_HOME or HOME", NULL);
	if (!rc)
		rc = mo_check_endpoint(mo, d);
	if (!rc)
		rc = mo_check_path(d, "token_file", mo->token_file, by & MO_SET_TOKENFILE,
				   "HF_HOME or HOME", NULL);
	if (!rc)
		rc = mo_check_token(mo->token, d);
	if (!rc && !mo->catalog)
		rc = mo_bad(d, "catalog", "", "builtin, none or a file path");
	if (!rc && (!mo->catalog[0] || mo_has_ctl(mo->catalog)))
		rc = mo_bad(d, "catalog", mo->catalog, "builtin, none or a file path");
	if (!rc)
		rc = mo_check_vram(d, mo->raw_gpu_vram, &mo->gpu_vram_mib);
	if (!rc)
		rc = mo_check_gbps(d, "gpu_bandwidth", mo->raw_gpu_bw, &mo->gpu_bandwidth_gbps);
	if (!rc)
		rc = mo_check_gbps(d, "ram_bandwidth", mo->raw_ram_bw, &mo->ram_bandwidth_gbps);
	if (!rc && !mo->bench_cmd)
		rc = mo_bad(d, "bench_cmd", "", "a command containing {model}");
	if (!rc)
		rc = mo_check_bench(d, mo->bench_cmd);
	if (!rc && mo->raw_bench_timeout) {
		uint64_t secs;

		if (parse_u64(mo->raw_bench_timeout, &secs) || secs < 1 || secs > MO_BENCH_TIMEOUT_MAX)
			rc = mo_bad(d, "bench_timeout", mo->raw_bench_timeout, "seconds from 1 to 604800");
		else
			mo->bench_timeout_s = (unsigned)secs;
	}
	if (!rc && mo->raw_timeout) {
		uint64_t secs;

		if (parse_u64(mo->raw_timeout, &secs) || secs < 1 || secs > MO_TIMEOUT_MAX)
			rc = mo_bad(d, "timeout", mo->raw_timeout, "seconds from 1 to 3600");
		else
			mo->timeout_s = (unsigned)secs;
	}
	if (!rc && mo->raw_connections) {
		if (parse_u64(mo->raw_connections, &connections) || connections < 1 ||
		    connections > MO_CONNECTIONS_MAX)
			rc = mo_bad(d, "connections", mo->raw_connections, "a number from 1 to 64");
		else
			mo->connections = (unsigned)connections;
	}
	if (!rc)
		rc = mo_check_size(d, "chunk", mo->raw_chunk, MO_CHUNK_MIN, MO_CHUNK_MAX,
				   "SIZE from 64K to 1G such as 8M", &mo->chunk_bytes);
	if (!rc)
		rc = mo_check_size(d, "readahead", mo->raw_readahead, 0, MO_READAHEAD_MAX,
				   "SIZE from 0 to 4G such as 64M", &mo->readahead_bytes);
	if (!rc && mo->raw_verify) {
		if (strcmp(mo->raw_verify, "lazy") == 0)
			mo->verify = VERIFY_LAZY;
		else if (strcmp(mo->raw_verify, "strict") == 0)
			mo->verify = VERIFY_STRICT;
		else
			rc = mo_bad(d, "verify", mo->raw_verify, "lazy or strict");
	}
	/* other users could not follow a symlink into a 0700 cache */
	if (mo->allow_other)
		mo->symlinks = false;
	if (!rc && mo->raw_symlinks) {
		if (strcmp(mo->raw_symlinks, "yes") == 0)
			mo->symlinks = true;
		else if (strcmp(mo->raw_symlinks, "no") == 0)
			mo->symlinks = false;
		else
			rc = mo_bad(d, "symlinks", mo->raw_symlinks, "yes or no");
	}
	return rc;
}

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

/* KEY=VALUE\n, control bytes of VALUE written as \xNN so a line stays a
 * line; NULL is written as an empty value. */
static void mo_line(struct sbuf *out, const char *key, const char *value)
{
	const unsigned char *p;

	sbuf_addstr(out, key);
	sbuf_addch(out, '=');
	for (p = (const unsigned char *)(value ? value : ""); *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			sbuf_addf(out, "\\x%02x", *p);
		else
			sbuf_addch(out, (char)*p);
	}
	sbuf_addch(out, '\n');
}

int mountopts_describe(const struct mountopts *mo, struct sbuf *out)
{
	static const char *const verify_names[] = { "lazy", "strict" };

	mo_line(out, "state", mo->state_dir);
	mo_line(out, "cache", mo->cache_dir);
	if (mo->cache_max_bytes)
		sbuf_addf(out, "cache_max=%llu\n", (unsigned long long)mo->cache_max_bytes);
	else
		sbuf_addstr(out, "cache_max=unlimited\n");
	mo_line(out, "hf_cache", mo->hf_cache_dir);
	mo_line(out, "endpoint", mo->endpoint);
	mo_line(out, "token_file", mo->token_file);
	sbuf_addstr(out, mo->token ? "token=(set, redacted)\n" : "token=(unset)\n");
	sbuf_addf(out, "offline=%d\n", mo->offline ? 1 : 0);
	mo_line(out, "catalog", mo->catalog);
	sbuf_addf(out, "gpu_vram_mib=%llu\n", (unsigned long long)mo->gpu_vram_mib);
	sbuf_addf(out, "gpu_bandwidth_gbps=%g\n", mo->gpu_bandwidth_gbps);
	sbuf_addf(out, "ram_bandwidth_gbps=%g\n", mo->ram_bandwidth_gbps);
	mo_line(out, "bench_cmd", mo->bench_cmd);
	sbuf_addf(out, "bench_timeout=%u\n", mo->bench_timeout_s);
	if (mo->timeout_s)
		sbuf_addf(out, "timeout=%u\n", mo->timeout_s);
	else
		sbuf_addstr(out, "timeout=default\n");
	sbuf_addf(out, "connections=%u\n", mo->connections);
	sbuf_addf(out, "chunk=%llu\n", (unsigned long long)mo->chunk_bytes);
	sbuf_addf(out, "readahead=%llu\n", (unsigned long long)mo->readahead_bytes);
	sbuf_addf(out, "verify=%s\n", verify_names[mo->verify == VERIFY_STRICT]);
	sbuf_addf(out, "symlinks=%s\n", mo->symlinks ? "yes" : "no");
	return out->err;
}

void mountopts_help(FILE *out)
{
	fputs("modelfs options (-o OPTION[,OPTION...]; a backslash escapes a comma):\n"
	      "    -o state=DIR           registry, job history (default: $XDG_DATA_HOME/modelfs or ~/.local/share/modelfs)\n"
	      "    -o cache=DIR           downloaded blobs (default: $XDG_CACHE_HOME/modelfs or ~/.cache/modelfs)\n"
	      "    -o cache_max=SIZE      evict unused blobs above SIZE (default: unlimited)\n"
	      "    -o hf_cache=DIR        Hugging Face hub cache to share (default: $HF_HUB_CACHE, $HF_HOME/hub)\n"
	      "    -o endpoint=URL        the hub (default: $HF_ENDPOINT or " MO_DEFAULT_ENDPOINT ")\n"
	      "    -o token_file=PATH     bearer token file (default: $HF_TOKEN, else $HF_HOME/token)\n"
	      "    -o offline             never touch the network (default: off; on if HF_HUB_OFFLINE=1)\n"
	      "    -o catalog=builtin|none|PATH  models present on first start (default: builtin)\n"
	      "    -o gpu_vram=SIZE       GPU memory, a bare number is MiB (default: detected)\n"
	      "    -o gpu_bandwidth=GBPS  GPU memory bandwidth in GB/s (default: unknown)\n"
	      "    -o ram_bandwidth=GBPS  RAM bandwidth in GB/s (default: unknown)\n"
	      "    -o bench_cmd=TEMPLATE  {model} {ctx} {ngl} substituted (default: " MO_DEFAULT_BENCH_CMD ")\n"
	      "    -o bench_timeout=SECS  a benchmark run longer than this is stopped (default: 3600)\n"
	      "    -o timeout=SECS        a hub call slower, or a transfer stalled, this long fails (default: 60, 30)\n"
	      "    -o connections=N       parallel connections per download, 1-64 (default: 8)\n"
	      "    -o chunk=SIZE          download request size, 64K-1G (default: 8M)\n"
	      "    -o readahead=SIZE      bytes fetched ahead of a reader, 0-4G (default: 64M)\n"
	      "    -o verify=lazy|strict  strict: no byte served before its sha256 is verified (default: lazy)\n"
	      "    -o symlinks=yes|no     a model file cached whole when first looked up is a symlink to\n"
	      "                           the cache file, read at the disk's speed (default: " MO_DEFAULT_SYMLINKS_NAME ",\n"
	      "                           no with allow_other)\n"
	      "SIZE takes binary units: 512M, 24G, 24GiB, 1.5T.  $HF_HOME defaults to\n"
	      "$XDG_CACHE_HOME/huggingface or ~/.cache/huggingface, as in huggingface_hub.\n",
	      out);
}
