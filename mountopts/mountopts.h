/*
 * mountopts.h - the mount options of SPEC §2: -o parsing, environment,
 * defaults and validation.
 *
 * No side effects: nothing here creates directories, reads files or touches
 * the network.  The order is parse (mountopts_parse), then environment
 * (mountopts_apply_env), then validate (mountopts_validate); precedence is
 * -o over environment over default.
 *
 * The bearer token is held in exactly one field (token) and never reaches a
 * format string: mountopts_describe() redacts it.
 */
#ifndef MODELFS_MOUNTOPTS_H
#define MODELFS_MOUNTOPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <fuse_opt.h>

#include "core.h"

enum verify_mode { VERIFY_LAZY = 0, VERIFY_STRICT = 1 };

struct mountopts {
	/* SPEC §2 options, after validation.  Strings are heap copies owned by
	 * the struct (NULL when unset); sizes are bytes unless named otherwise. */
	char *state_dir;             /* state=DIR */
	char *cache_dir;             /* cache=DIR */
	uint64_t cache_max_bytes;    /* cache_max=SIZE, 0 = unlimited */
	char *hf_cache_dir;          /* hf_cache=DIR; NULL: caller may probe ~/.cache/huggingface/hub */
	char *hf_cache_probe;        /* the default to use if it exists (set by apply_env), or NULL */
	char *endpoint;              /* endpoint=URL, without trailing slash */
	char *token_file;            /* token_file=PATH, or the default file path */
	char *token;                 /* from $HF_TOKEN; secret: never printed */
	bool offline;                /* offline, or HF_HUB_OFFLINE=1 */
	char *catalog;               /* "builtin", "none" or a path */
	uint64_t gpu_vram_mib;       /* gpu_vram=SIZE (SIZE without unit is MiB), 0 = detect */
	double gpu_bandwidth_gbps;   /* 0 = unknown */
	double ram_bandwidth_gbps;   /* 0 = unknown */
	char *bench_cmd;             /* bench_cmd=TEMPLATE */
	unsigned bench_timeout_s;    /* bench_timeout=SECONDS, 1..604800 */
	unsigned timeout_s;          /* timeout=SECONDS, 1..3600; 0 = the hub client's defaults */
	unsigned connections;        /* connections=N, 1..64 */
	uint64_t chunk_bytes;        /* chunk=SIZE */
	uint64_t readahead_bytes;    /* readahead=SIZE */
	enum verify_mode verify;     /* verify=lazy|strict */
	bool symlinks;               /* symlinks=yes|no: cached model files are symlinks to the cache */
	bool allow_other;            /* allow_other was given (it also goes to libfuse) */

	bool show_help;              /* -h / --help */
	bool show_version;           /* -V / --version */
	bool foreground;             /* -f (or -d) seen; the option stays in args for libfuse */
	bool debug;                  /* -d seen */

	/* private: raw -o values before validation, and what -o set */
	char *raw_cache_max, *raw_gpu_vram, *raw_gpu_bw, *raw_ram_bw, *raw_connections;
	char *raw_chunk, *raw_readahead, *raw_verify, *raw_bench_timeout, *raw_timeout, *raw_symlinks;
	char *unknown;               /* first unknown -o option, for the error */
	unsigned set_by_opt;         /* bit per MO_SET_* below */
};

#define MO_SET_STATE     (1u << 0)
#define MO_SET_CACHE     (1u << 1)
#define MO_SET_HF_CACHE  (1u << 2)
#define MO_SET_ENDPOINT  (1u << 3)
#define MO_SET_TOKENFILE (1u << 4)
#define MO_SET_OFFLINE   (1u << 5)

#define MO_DEFAULT_ENDPOINT    "https://huggingface.co"
#define MO_DEFAULT_BENCH_CMD   "llama-bench -m {model} -p 512 -n 128 -r 3 -o json"
#define MO_DEFAULT_BENCH_TIMEOUT 3600u   /* seconds: llama-bench of a 70B model on a CPU takes tens of minutes */
#define MO_BENCH_TIMEOUT_MAX 604800u
#define MO_TIMEOUT_MAX 3600u
#define MO_DEFAULT_CONNECTIONS 8   /* cache/blob.c: 8 x 25 MB/s streams beat aria2c -x8 on a CDN-like link */
#define MO_DEFAULT_CHUNK       (8u << 20)
#define MO_DEFAULT_READAHEAD   (64u << 20)
/* fs/ops.c: a symlink to the cache file is read at the disk's speed,
 * the FUSE read path at some 0.8x of it (tests/bench/bench_lazy.py) */
#define MO_DEFAULT_SYMLINKS      true
#define MO_DEFAULT_SYMLINKS_NAME "yes"

/* Life cycle */
void mountopts_init(struct mountopts *mo);
void mountopts_release(struct mountopts *mo);

/* Takes our options out of args (a fuse_args for the whole command line,
 * argv[0] included); what stays is for libfuse: the mountpoint, -f, -d, -s
 * and the FUSE mount options it knows (allow_other, default_permissions,
 * auto_unmount, fsname=, ...; the list and its libfuse 3.14 sources are in
 * mountopts.c), its kept -o options joined into one "-o" right after
 * argv[0].  -h/--help and -V/--version are ours and removed (show_help,
 * show_version).  The high-level options kernel_cache, auto_cache, umask=,
 * uid=, gid=, *_timeout=, noforget, remember= are kept too, but only
 * fuse_new() parses them: a low-level main must take them out itself.
 * fstab noise (_netdev, auto, noauto, user, users, nofail, defaults, rw,
 * dev, suid, exec and their no- forms, comment=, x-*) is dropped.  An option
 * that is neither ours nor libfuse's fails with -EINVAL naming it (its name
 * only, never its value); -ENOMEM.  Values are checked later, by
 * mountopts_validate().  On failure args is unchanged.  d may be NULL. */
int mountopts_parse(struct fuse_args *args, struct mountopts *mo, struct diag *d) MF_WUR;

/* Fills what -o left unset from envp (HF_ENDPOINT, HF_TOKEN, HF_HOME,
 * HF_HUB_CACHE, HF_HUB_OFFLINE, XDG_DATA_HOME, XDG_CACHE_HOME, HOME) and
 * then from the defaults of SPEC §2.  envp is a NULL-terminated array of
 * "KEY=VALUE" strings (main passes environ, tests a fake one); an empty
 * variable counts as unset, a relative XDG_* one is ignored (XDG spec).
 * The Hugging Face home is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else
 * ~/.cache/huggingface (as huggingface_hub); token_file defaults to its
 * "token" file, and hf_cache to $HF_HUB_CACHE, else $HF_HOME/hub, else
 * hf_cache_probe is set to the derived home's "hub".  token is taken from
 * $HF_TOKEN unless -o token_file was given.  A default that cannot be
 * chosen (no HOME) is left NULL and reported by mountopts_validate().
 * Returns 0 or -ENOMEM.  Values are not checked here. */
int mountopts_apply_env(struct mountopts *mo, char *const envp[]) MF_WUR;

/* Checks and converts the raw values: sizes with units, URL (trailing
 * slashes removed in place), paths (non-empty, no control bytes; relative
 * paths made absolute against cwd is the caller's job), catalog, bench_cmd
 * (with {model}, no unknown {placeholder}), the token's bytes, verify mode,
 * ranges.  -EINVAL naming the option (or the environment variable it came
 * from) and its accepted forms; also when state or cache has no value (no
 * HOME).  Stops at the first error, in SPEC §2 order.  d may be NULL. */
int mountopts_validate(struct mountopts *mo, struct diag *d) MF_WUR;

/* .control/config: one KEY=VALUE line per option in SPEC §2 order, the
 * token shown only as "token=(set, redacted)" or "token=(unset)"; NULL
 * strings as empty values, control bytes as \xNN.  Appends to out;
 * returns 0 or out's sticky error (-ENOMEM, -EFBIG past its cap). */
int mountopts_describe(const struct mountopts *mo, struct sbuf *out);

/* Usage text of our options (before libfuse's own). */
void mountopts_help(FILE *out);

#endif /* MODELFS_MOUNTOPTS_H */
