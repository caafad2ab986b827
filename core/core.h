/*
 * core.h - the public interface of modelfs's core.
 *
 * core is the bottom layer: the registry (SQLite), the built-in catalog,
 * the readers of outside formats (GGUF, config.json), the normalized
 * architecture, the renderers of the files the mount shows, and the small
 * utilities everything else uses (sbuf, diag, log, parse).  It knows nothing
 * of FUSE or HTTP: it uses only libc, pthreads, jansson and sqlite3.
 *
 * Conventions (STYLE.md §3, §4):
 *  - actions return 0 or a negative errno; counts return >= 0 or -errno;
 *  - constructors hand their object through an out-parameter;
 *  - functions that judge outside input take a nullable struct diag * and
 *    leave the reason there;
 *  - pointers are borrowed for the call unless the comment says "new" or
 *    "takes ownership".
 */
#ifndef MODELFS_CORE_H
#define MODELFS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MF_WUR __attribute__((warn_unused_result))
#define MF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ------------------------------------------------------------------------
 * Caps: every buffer that grows from outside data has a named limit.
 * ------------------------------------------------------------------------ */
#define CAP_CONTROL_WRITE_BYTES   (1u << 20)   /* one open/write/close on a control file (a pasted model page) */
#define CAP_RENDER_BYTES          (256u << 20) /* one rendered file (registry.json of 10k models is ~40 MiB) */
#define CAP_CONFIG_JSON_BYTES     (4u << 20)   /* an upstream config.json */
#define CAP_CATALOG_BYTES         (16u << 20)  /* a catalog file (catalog=PATH) */
#define CAP_LINE_BYTES            4096         /* one control or hardware line */
#define DIAG_MSG_MAX              512          /* one diagnostic message, bytes incl. NUL */
#define LOG_RING_LINES            1024         /* lines .control/log keeps */
#define LOG_LINE_MAX              600          /* one log line, bytes incl. NUL */
#define NAME_MAX_BYTES            128          /* FAMILY, VARIANT or QUANT name */

/* ------------------------------------------------------------------------
 * sbuf: a growable byte buffer with a mandatory cap.
 *
 * The buffer is always NUL-terminated after a successful add.  Errors are
 * sticky: after the first failed add (-ENOMEM, or -EFBIG past the cap),
 * every later add returns the same error and changes nothing, so a renderer
 * may add many pieces and check sb->err once at the end.
 * ------------------------------------------------------------------------ */
struct sbuf {
	char *buf;        /* NUL-terminated contents, or NULL before the first add */
	size_t len;       /* bytes used, excluding the NUL */
	size_t alloc;     /* bytes allocated */
	size_t cap;       /* most bytes len may reach */
	int err;          /* 0, or the first error of an add */
};

/* Life cycle */
void sbuf_init(struct sbuf *sb, size_t cap);
void sbuf_release(struct sbuf *sb);          /* frees; sb may be reused after sbuf_init */
void sbuf_reset(struct sbuf *sb);            /* len = 0, err = 0, keeps the allocation */
char *sbuf_detach(struct sbuf *sb, size_t *len_out); /* new: free with free(); never NULL on err == 0 */

/* Mutation: return 0 or sb->err */
int sbuf_add(struct sbuf *sb, const void *data, size_t len);
int sbuf_addstr(struct sbuf *sb, const char *s);
int sbuf_addch(struct sbuf *sb, char c);
int sbuf_addf(struct sbuf *sb, const char *fmt, ...) MF_PRINTF(2, 3);
/* Appends s as a JSON string literal, quotes included, escaped per RFC 8259. */
int sbuf_add_json_str(struct sbuf *sb, const char *s);

/* ------------------------------------------------------------------------
 * diag: the detail that travels with an error code.
 *
 * Messages follow git: lowercase, no final full stop, what is wrong first,
 * the subject quoted, then what to do ("unknown key 'foo'; known keys: ...").
 * ------------------------------------------------------------------------ */
struct diag {
	int code;                 /* 0 or the negative errno of the first failure */
	char msg[DIAG_MSG_MAX];   /* its message, "" if none */
};

void diag_init(struct diag *d);
/* Records code and message in d (if d is not NULL and holds no error yet)
 * and returns code, so callers write `return diag_fail(d, -EINVAL, ...)`. */
int diag_fail(struct diag *d, int code, const char *fmt, ...) MF_PRINTF(3, 4);

/* MALFORMED(d, ...): a parser's verdict on bad outside data: -EBADMSG, with
 * the file and line logged at debug level. */
int diag_malformed(struct diag *d, const char *file, int line, const char *fmt, ...) MF_PRINTF(4, 5);
#define MALFORMED(d, ...) diag_malformed((d), __FILE__, __LINE__, __VA_ARGS__)

/* ------------------------------------------------------------------------
 * log: one process-wide facility.  Lines go to a fixed ring that backs
 * .control/log and, when enabled, to stderr.  Thread-safe.  Identical
 * consecutive messages are folded ("... (repeated N times)").  Never pass a
 * secret: callers redact tokens before formatting.
 * ------------------------------------------------------------------------ */
enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_configure(enum log_level max_level, bool to_stderr);
void log_msg(enum log_level level, const char *fmt, ...) MF_PRINTF(2, 3);
/* Appends the ring, oldest first, one line each: "2026-11-23T17:30:00Z error MSG\n". */
int log_render(struct sbuf *out);
void log_clear(void);                         /* tests only */

/* ------------------------------------------------------------------------
 * parse: strict parsers of numbers and sizes from outside text.  Each one
 * accepts the whole string or fails with -EINVAL (and -ERANGE on overflow).
 * ------------------------------------------------------------------------ */
int parse_u64(const char *s, uint64_t *out) MF_WUR;          /* decimal digits only */
int parse_double(const char *s, double *out) MF_WUR;         /* finite decimal */
/* SPEC §2: 123, 512M, 24G, 24GiB, 1.5T, 512K, 16MB (binary units; B, K, M,
 * G, T, P with optional "iB" or "B"; case-insensitive).  Bytes. */
int parse_size(const char *s, uint64_t *out_bytes) MF_WUR;
/* http:// or https:// URL with a host; no spaces or control bytes. */
int parse_url(const char *s, struct diag *d) MF_WUR;
/* Names of SPEC §3: [a-z0-9][a-z0-9._-]*, at most NAME_MAX_BYTES - 1 bytes. */
bool parse_is_name(const char *s);
/* Turns free text into a name: lowercase, runs of other bytes become '-',
 * trimmed.  Returns -EINVAL when nothing is left. */
int parse_to_name(const char *s, char *out, size_t out_size) MF_WUR;

/* ------------------------------------------------------------------------
 * hw: the hardware profile (SPEC §4 .control/hardware).
 * ------------------------------------------------------------------------ */
struct hw_profile {
	char gpu_name[128];          /* "" when unknown */
	uint64_t gpu_vram_mib;       /* 0 when unknown */
	double gpu_bandwidth_gbps;   /* 0 when unknown */
	uint64_t ram_mib;            /* 0 when unknown */
	double ram_bandwidth_gbps;   /* 0 when unknown */
	/* Derived, never persisted nor shown in .control/hardware: measured
	 * decode speed over the bandwidth ceiling on this machine, from the
	 * benchmarks (bench_efficiency); 0 = not calibrated (1.0 is used). */
	double tg_efficiency;
};

/* Applies one KEY=VALUE line to hw (keys: gpu_name, gpu_vram_mib,
 * gpu_bandwidth_gbps, ram_mib, ram_bandwidth_gbps; gpu_vram_mib and ram_mib
 * also take SIZE with a unit).  An empty value clears the key.  Blank lines
 * and '#' comments are accepted and change nothing.  -EINVAL with d filled
 * on anything else; hw is unchanged then. */
int hw_apply_line(struct hw_profile *hw, const char *line, struct diag *d) MF_WUR;
/* Applies every line of text; all or nothing. */
int hw_apply_text(struct hw_profile *hw, const char *text, size_t len, struct diag *d) MF_WUR;
/* Renders the five KEY=VALUE lines (empty value when unknown). */
int hw_render(const struct hw_profile *hw, struct sbuf *out);
/* Fills ram_mib from /proc/meminfo-format text. */
int hw_parse_meminfo(struct hw_profile *hw, const char *text);
/* Fills gpu_name, gpu_vram_mib (and gpu_bandwidth_gbps from
 * hw_known_bandwidth() when it is unknown) from the first line of
 * `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`.
 * -EINVAL when the text is not such a line; hw unchanged then. */
int hw_parse_nvidia_smi(struct hw_profile *hw, const char *text);
/* The memory bandwidth in GB/s of a GPU known by name (a data table of
 * common NVIDIA, AMD and Apple parts, matched ASCII case-insensitively on
 * the model, "NVIDIA GeForce RTX 4090" -> 1008); 0 when not known. */
double hw_known_bandwidth(const char *gpu_name);

/* ------------------------------------------------------------------------
 * The registry's data model.  These are plain data: the write side fills
 * them and calls registry_put_variant(); the read side gets them, immutable,
 * from a snapshot.  All strings are NUL-terminated UTF-8; NULL means absent.
 * ------------------------------------------------------------------------ */
enum file_role { FILE_ROLE_MODEL = 0, FILE_ROLE_MMPROJ = 1 };

struct model_file {
	char *name;              /* name in the QUANT directory: model.gguf, model-00001-of-00003.gguf, mmproj.gguf */
	char *upstream;          /* path in the repo, e.g. Llama-3.1-8B-Instruct-Q4_K_M.gguf */
	uint64_t size_bytes;     /* exact size; 0 when not known yet */
	char *sha256;            /* lowercase hex LFS oid, or NULL */
	enum file_role role;
};

struct bench_run;

struct model_quant {
	char *name;              /* q4_k_m, ud-iq1_s ... */
	char *file_pattern;      /* upstream file name of the first model file */
	uint64_t size_bytes;     /* total of the model files; exact when size_exact */
	bool size_exact;         /* false: estimated from parameter count and bits per weight */
	double bits_per_weight;  /* 0 when unknown */
	int quality_stars;       /* 1..5, 0 when unknown */
	struct model_file *files;
	size_t n_files;
	/* Where the weight bytes sit over llama.cpp's layers, from the tensor
	 * tables of the model files and the projector (vram_layout_encode()),
	 * so vram@ of a registered quant is that of its file; NULL (and 0)
	 * when not known: catalog entries, quants registered before schema 3. */
	unsigned char *weights_layout;
	size_t weights_layout_bytes;
	/* Snapshots only (registry_put_* ignores them): the benchmark runs
	 * of this quant, oldest first. */
	struct bench_run *bench;
	size_t n_bench;
};

struct model_variant {
	char *family;            /* llama */
	char *variant;           /* llama-3.1-8b-instruct */
	char *full_name;         /* Llama 3.1 8B Instruct */
	char *repo_id;           /* bartowski/Meta-Llama-3.1-8B-Instruct-GGUF */
	char *revision;          /* commit or branch seen at registration, NULL when unknown */
	char *base_repo;         /* repo config.json comes from, NULL when the same */
	char *architecture;      /* llama, qwen2, gemma3, deepseek2 ... (GGUF general.architecture) */
	char *origin;            /* "catalog", "hub" or "local" */
	double parameter_count_b;        /* billions, 0 when unknown */
	uint64_t parameter_count_exact;  /* 0 when unknown */
	uint64_t context_window;         /* tokens, 0 when unknown */
	bool multimodal;
	char *arch_json;         /* architecture.json (SPEC §4) as JSON text, or NULL */
	char *config_json;       /* upstream config.json text, or NULL */
	char *extra_json;        /* JSON object text: recommended_parameters, additional_files, sources; or NULL */
	struct model_quant *quants;
	size_t n_quants;
};

/* Frees everything a model_variant holds (not v itself) and zeroes it. */
void registry_variant_release(struct model_variant *v);

/* ------------------------------------------------------------------------
 * registry: the SQLite database under state=DIR (registry.db, WAL mode).
 *
 * Thread-safe: one connection, serialized by the registry's own lock; every
 * write is one transaction.  Readers never touch the database on the hot
 * path: they take a snapshot (below), which the registry rebuilds after each
 * committed change.
 * ------------------------------------------------------------------------ */
struct registry;
struct registry_snapshot;

#define REGISTRY_SCHEMA_VERSION 3

/* Opens or creates state_dir/registry.db (state_dir must exist), applies
 * migrations up to REGISTRY_SCHEMA_VERSION.  A database from a newer
 * modelfs is refused with -EPROTO.  *out: new, free with registry_close(). */
int registry_open(const char *state_dir, struct registry **out, struct diag *d) MF_WUR;
/* Every snapshot taken must have been put back first. */
void registry_close(struct registry *reg);               /* NULL is a no-op */
int registry_errno(int sqlite_rc);                        /* SQLITE_* -> -errno */
int registry_schema_version(struct registry *reg);       /* >= 0, or -errno */

/* Inserts or replaces the variant (keyed by family/variant), its quants and
 * files, in one transaction.  Validates names (parse_is_name) and required
 * fields; -EINVAL with d filled otherwise.  Replacing keeps the benchmark
 * history of quants that still exist.
 * Required: family, variant, quant and file names that are names and do not
 * hide a fixed file of the tree (registry.json, info.json, status ...);
 * repo_id; origin "catalog", "hub" or "local"; at least one
 * FILE_ROLE_MODEL file per quant; upstream paths relative, without "." or
 * ".." components; sha256 NULL or 64 lowercase hex digits; arch_json,
 * config_json, extra_json NULL or a JSON object; integers <= INT64_MAX.
 * revision, origin and base_repo belong to the repo (repo_id compared
 * ASCII case-insensitively): the last variant written sets them for all
 * variants of that repo.  Database errors: registry_errno(). */
int registry_put_variant(struct registry *reg, const struct model_variant *v, struct diag *d) MF_WUR;
/* registry_put_batch() flags */
#define REGISTRY_PUT_KEEP_FOREIGN 0x1u  /* skip a variant already registered with another origin */
/* Validates every variant of v[0..n), then writes them, and meta_key =
 * meta_value when meta_key is not NULL, in one transaction, and publishes
 * one new snapshot: all or nothing (a control write of several register
 * lines).  Errors as registry_put_variant(). */
int registry_put_batch(struct registry *reg, const struct model_variant *v, size_t n,
		       unsigned flags, const char *meta_key, const char *meta_value,
		       struct diag *d) MF_WUR;
/* Removes a variant, or one quant of it when quant is not NULL (the
 * variant stays, possibly with no quant).  -ENOENT when it is not
 * registered, -EINVAL when a name is not a name; d says which. */
int registry_remove(struct registry *reg, const char *family, const char *variant,
		    const char *quant, struct diag *d) MF_WUR;

/* Small key/value settings (catalog version loaded, ...). *out: new string
 * or NULL when unset.  A NULL value deletes the key.  -EINVAL on an empty key. */
int registry_meta_get(struct registry *reg, const char *key, char **out) MF_WUR;
int registry_meta_set(struct registry *reg, const char *key, const char *value) MF_WUR;

/* The persisted hardware profile; a never-set profile is all unknown.
 * registry_hardware_set() refuses (-EINVAL) a gpu_name that is not a
 * NUL-terminated line, negative or non-finite bandwidths, sizes > INT64_MAX. */
int registry_hardware_get(struct registry *reg, struct hw_profile *out) MF_WUR;
int registry_hardware_set(struct registry *reg, const struct hw_profile *hw) MF_WUR;

/* Appends one row to the events table (the persistent twin of the log). */
int registry_event_add(struct registry *reg, enum log_level level, const char *msg) MF_WUR;

/* Job history (core/registry_jobs.c), the jobs table; cache/jobs.c is its
 * user.  Direct, locked calls, one statement each; none is on a read path.
 * The table keeps the REGISTRY_JOBS_MAX newest rows (by id). */
#define REGISTRY_JOBS_MAX       1000     /* rows the jobs table keeps */
#define REGISTRY_JOB_TEXT_MAX   1024     /* bytes of a kind, target or message stored */
struct registry_job_row {
	int64_t id;                  /* > 0; the job's id, chosen by the caller */
	const char *kind;            /* "download", "benchmark", ...: non-empty */
	const char *target;          /* FAMILY/VARIANT/QUANT: non-empty */
	const char *state;           /* queued|running|done|failed|cancelled */
	double progress;             /* percent, 0-100 */
	uint64_t done_bytes;         /* <= INT64_MAX */
	uint64_t total_bytes;        /* <= INT64_MAX, 0 when not about bytes */
	const char *message;         /* nullable */
	int64_t created, updated;    /* Unix seconds; set by save, filled by list */
};
/* Inserts or replaces row->id (created kept from the first save, updated
 * now); texts longer than REGISTRY_JOB_TEXT_MAX are cut at a UTF-8
 * boundary.  -EINVAL for a bad field, or registry_errno(). */
int registry_job_save(struct registry *reg, const struct registry_job_row *row) MF_WUR;
/* Calls cb for the newest max rows, oldest first; the row's strings are
 * borrowed for the call.  A non-zero cb return stops and is returned.
 * Else 0 or registry_errno(). */
typedef int (*registry_job_fn)(void *ctx, const struct registry_job_row *row);
int registry_job_list(struct registry *reg, size_t max, registry_job_fn cb, void *ctx) MF_WUR;
/* Marks every queued or running row failed with message msg (jobs of a
 * mount that ended while they ran).  The number of rows changed, or -errno. */
int registry_job_interrupt(struct registry *reg, const char *msg) MF_WUR;

/* ------------------------------------------------------------------------
 * Snapshots: an immutable, refcounted, in-memory copy of every registered
 * variant, sorted by (family, variant), quants sorted by name.  Lookups are
 * binary searches; nothing here touches the database.
 * ------------------------------------------------------------------------ */
struct registry_snapshot {
	uint64_t generation;             /* increases with every committed change */
	struct model_variant *variants;  /* sorted by family, then variant */
	size_t n_variants;
	/* private below: */
	int refs;                        /* protected by the registry's snapshot lock */
	const struct model_variant **by_repo; /* variants sorted by repo_id (ASCII case-insensitive), or NULL */
};

/* Returns the current snapshot with a new reference: release it with
 * registry_snapshot_put().  Thread-safe. */
int registry_snapshot_get(struct registry *reg, struct registry_snapshot **out) MF_WUR;
void registry_snapshot_put(struct registry *reg, struct registry_snapshot *snap);
/* Borrowed pointers, valid while the snapshot is held; NULL when absent.
 * registry_find_repo() returns the first variant, in (family, variant)
 * order, whose repo_id matches, ASCII case folded. */
const struct model_variant *registry_find_variant(const struct registry_snapshot *s,
						  const char *family, const char *variant);
const struct model_quant *registry_find_quant(const struct model_variant *v, const char *quant);
const struct model_variant *registry_find_repo(const struct registry_snapshot *s, const char *repo_id);

/* ------------------------------------------------------------------------
 * bench: benchmark runs (SPEC §4 benchmark.json, compare.tsv, status,
 * models.tsv; issue 7).  Section owned by core/bench.c (parsing, the
 * command template, rendering, calibration) and core/registry_bench.c
 * (persistence).  Running the command is fs/bench.c's.
 * ------------------------------------------------------------------------ */
enum bench_status { BENCH_UNTESTED = 0, BENCH_QUEUED, BENCH_RUNNING, BENCH_TESTED, BENCH_FAILED };
/* "untested", "queued", "running", "tested", "failed". */
const char *bench_status_name(enum bench_status s);

#define BENCH_MAX_OUTPUT_BYTES (4u << 20)   /* runner stdout kept and parsed */
#define BENCH_MAX_ARGS 64                   /* words of bench_cmd */
#define BENCH_DEFAULT_CTX 8192              /* {ctx} when the request gives none */

/* What a runner printed in llama-bench's format: `-o json` (an array of
 * test objects) or `-o jsonl` (one object per line), possibly after other
 * lines.  A test with n_prompt > 0 and n_gen == 0 is prompt processing,
 * n_gen > 0 and n_prompt == 0 generation; avg_ts and stddev_ts are its
 * tokens/s.  Several tests of one kind: the first is taken. */
struct bench_measure {
	bool has_pp, has_tg;
	double pp_tokens_per_s, pp_stddev;
	double tg_tokens_per_s, tg_stddev;
	uint32_t n_prompt, n_gen;        /* of the pp and tg tests */
	char build[64];                  /* build_commit (+ build_number), "" when absent */
	char model_type[96];             /* model_type, "" when absent */
};
/* -EINVAL with d (what was expected, with a hint to pass `-o json`) when
 * text holds no such test, a value is not a finite non-negative number,
 * or the JSON is malformed; -E2BIG above BENCH_MAX_OUTPUT_BYTES.  The
 * JSON starts at the first line beginning (after blanks) with '[' or '{'
 * that reads as tests; lines that do not are skipped, at most 8 of them
 * (core/bench.c says which).  avg_ts above 1e9 is refused.  build and
 * model_type are printable ASCII.  out is written only on success. */
int bench_parse_output(const char *text, size_t len, struct bench_measure *out,
		       struct diag *d) MF_WUR;

/* bench_cmd (SPEC §2) into argv: words split on blanks; '...' and "..."
 * group (no other escapes); {model}, {ctx}, {ngl} replaced anywhere in a
 * word (ngl UINT32_MAX is "all" -> 999, llama.cpp's "every layer"; ctx
 * 0 is BENCH_DEFAULT_CTX).  A '{' followed by a letter must be one of
 * the three, closed; any other '{' is text ('{"a":1}', "{}").
 * -EINVAL with d for an empty template or one over CAP_LINE_BYTES, an
 * unclosed quote, an unknown or unclosed {name} ("{foo}", "{model"), a
 * NULL model with {model}, more than BENCH_MAX_ARGS words, a word over
 * 64 KiB.  *argv_out: new, NULL-terminated, free with bench_argv_free();
 * NULL on error.  argc_out may be NULL. */
int bench_argv_expand(const char *tmpl, const char *model, uint64_t ctx_tokens, uint32_t ngl,
		      char ***argv_out, size_t *argc_out, struct diag *d) MF_WUR;
void bench_argv_free(char **argv);                 /* NULL is a no-op */

/* One benchmark of one quant: a row of the benchmarks table and an
 * entry of benchmark.json.  Strings new (bench_run_release frees them). */
struct bench_run {
	int64_t id;                      /* registry row id, 0 before it is stored */
	enum bench_status status;        /* QUEUED, RUNNING, TESTED or FAILED */
	int64_t queued;                  /* unix seconds */
	int64_t started, finished;       /* unix seconds, 0 = not yet */
	struct hw_profile hw;            /* the profile when it ran */
	char **argv;                     /* command run (NULL-terminated), or NULL before */
	uint64_t ctx_tokens;             /* {ctx} used */
	uint32_t ngl;                    /* {ngl} used (UINT32_MAX = all) */
	struct bench_measure m;          /* when TESTED */
	uint64_t peak_rss_mib;           /* of the runner; 0 = unknown */
	int64_t peak_vram_mib;           /* from nvidia-smi while it ran; -1 = not measurable */
	uint64_t estimate_vram_mib;      /* vram@ at ctx_tokens and ngl when queued; 0 = unknown */
	double est_tg_ceiling;           /* decode speed from bandwidth alone (efficiency 1)
					    at these settings; 0 = unknown */
	char *raw;                       /* what the runner printed (capped), or NULL */
	char *error;                     /* FAILED: why, and what to do */
	char *log_path;                  /* the runner's stdout+stderr, or NULL */
};
void bench_run_release(struct bench_run *r);       /* frees strings, zeroes r */
/* The run as the JSON object of benchmark.json (and the row's stored
 * form): status, queued, started, finished (ISO 8601 UTC, null when not
 * yet), hardware{the five keys of SPEC §4, null when unknown}, command[],
 * ctx, ngl (a number or "all"), pp_tokens_per_s, pp_stddev, n_prompt
 * (null without a pp test), tg_tokens_per_s, tg_stddev, n_gen (null
 * without a tg test), build, model_type, peak_rss_mib, peak_vram_mib
 * (null when not measurable), estimate_vram_mib, est_tg_ceiling, raw,
 * error, log; unknown values are null.  Neither id nor hw.tg_efficiency
 * is in it.  Invalid UTF-8 in a string becomes U+FFFD.  *out new
 * (json_decref); -ENOMEM, or -EINVAL for a NULL argument. */
struct json_t;
int bench_run_to_json(const struct bench_run *r, struct json_t **out) MF_WUR;
/* The inverse, for rows read back: every field bench_run_to_json() wrote
 * comes back exactly; missing keys are unknown, other keys are ignored.
 * -EINVAL on a malformed object (a wrong type, a bad time or value),
 * -ENOMEM; *out is zeroed then. */
int bench_run_from_json(const struct json_t *o, struct bench_run *out) MF_WUR;

/* Decode efficiency on this machine: the median, over the tested runs of
 * s whose hardware matches hw (the same gpu_name, both bandwidths within
 * 1%), of measured tg_tokens_per_s / est_tg_ceiling (even count: the mean
 * of the middle two); 0 when there is none (or memory ran out).  Clamped
 * to [0.05, 2]. */
double bench_efficiency(const struct registry_snapshot *s, const struct hw_profile *hw);
/* The latest run of q (NULL when untested) and the latest TESTED one. */
const struct bench_run *bench_latest(const struct model_quant *q);
const struct bench_run *bench_latest_tested(const struct model_quant *q);

/* registry glue (core/registry_bench.c).  Each call is one transaction
 * and publishes a new snapshot.  registry_bench_add() stores r (status
 * QUEUED) for FAMILY/VARIANT/QUANT and sets r->id (and r->status QUEUED
 * when it was UNTESTED, r->queued to now when 0); -ENOENT with d when the
 * quant is not registered, -EINVAL with d for a bad name or run.
 * registry_bench_update() rewrites row r->id (status, times, result);
 * -ENOENT when it is gone (the quant was unregistered).
 * registry_bench_recover() marks every RUNNING row FAILED with msg (a
 * mount that ended mid-run; NULL: a default message) and returns how
 * many, or -errno.  A quant's runs are listed oldest first by the time
 * they started (queued, until they start).  Thread-safe. */
int registry_bench_add(struct registry *reg, const char *family, const char *variant,
		       const char *quant, struct bench_run *r, struct diag *d) MF_WUR;
int registry_bench_update(struct registry *reg, const struct bench_run *r) MF_WUR;
int registry_bench_recover(struct registry *reg, const char *msg) MF_WUR;

/* ------------------------------------------------------------------------
 * catalog: the models present on first start (SPEC §2 catalog=).
 *
 * A catalog is JSON: {"catalog_version": N, "models": [ENTRY...]}, the
 * format documented in core/catalog/README.md.  The built-in one is
 * core/catalog/builtin.json, compiled into the binary.
 * ------------------------------------------------------------------------ */
/* The embedded catalog (borrowed, static). */
const char *catalog_builtin(size_t *len_out);
/* Parses a catalog into variants.  *out: new array of *n_out variants; free
 * each with registry_variant_release() and the array with free(). */
int catalog_parse(const char *json, size_t len, struct model_variant **out, size_t *n_out,
		  struct diag *d) MF_WUR;
/* Loads a catalog into the registry once: when the registry has already
 * loaded this catalog (same name and version), nothing changes, so models
 * the user unregistered stay gone.  name is "builtin" or the path. */
int catalog_load(struct registry *reg, const char *name, const char *json, size_t len,
		 struct diag *d) MF_WUR;

/* ------------------------------------------------------------------------
 * render: the files of the tree (SPEC §3, §4), deterministic for a given
 * snapshot and state, appended to out.  Return 0 or out->err.
 * ------------------------------------------------------------------------ */
int render_registry_json(const struct registry_snapshot *s, struct sbuf *out);
/* hw (nullable) is the hardware profile: with its VRAM size known, a
 * row's est_tg_tokens_per_s is the speed of the fit there (fit@). */
int render_models_tsv(const struct registry_snapshot *s, const struct hw_profile *hw, struct sbuf *out);
int render_variant_info(const struct model_variant *v, struct sbuf *out);
int render_variant_arch(const struct model_variant *v, struct sbuf *out);
/* What the cache holds of a quant (SPEC §4 info.json "cache", status
 * "cache="), gathered by fs from the blob store; plain data. */
struct render_cache {
	const char *state;           /* "remote", "partial", "downloading", "cached" */
	uint64_t cached_bytes;       /* of all the quant's files */
	bool pinned;                 /* .control/download pinned it */
	const char *local_path;      /* the cached first model file, or NULL */
	const char *error;           /* the last failed operation's message, or NULL */
};
/* cache NULL renders "remote" with nothing cached.  estimate is vram@'s
 * at ctx 8192 and, when hw (nullable) gives a VRAM size, fit@'s there;
 * null when the estimator cannot judge the quant. */
int render_quant_info(const struct model_variant *v, const struct model_quant *q,
		      const struct render_cache *cache, const struct hw_profile *hw, struct sbuf *out);
int render_quant_status(const struct model_variant *v, const struct model_quant *q,
			const struct render_cache *cache, struct sbuf *out);
/* benchmark.json: {"status":"untested"}, or the latest run's object
 * (bench_run_to_json) with "history": the earlier runs, newest first. */
int render_quant_benchmark(const struct model_quant *q, struct sbuf *out);
/* compare.tsv: header `path\ttg_tokens_per_s\tratio\tbasis`, then one row
 * per other quant of s with a known speed (measured: the latest tested
 * run's tg_tokens_per_s; else estimated: fit@'s est_tg_tokens_per_s with
 * hw at ctx 8192), fastest first, ties by path; ratio other/this with
 * two decimals, empty when this quant's speed is unknown. */
int render_quant_compare(const struct registry_snapshot *s, const struct model_variant *v,
			 const struct model_quant *q, const struct hw_profile *hw, struct sbuf *out);
/* 1..5 from parameter count and bits per weight (0 when either unknown). */
int render_quality_stars(double params_b, double bits_per_weight);

/* ------------------------------------------------------------------------
 * reader: random access to bytes (a local file, memory, or in cache/ an
 * HTTP range reader).  Parsers of outside formats read through it.
 * ------------------------------------------------------------------------ */
struct reader {
	/* Reads exactly len bytes at off into buf: 0, -ENODATA past the end,
	 * or another -errno. */
	int (*read_at)(void *ctx, uint64_t off, void *buf, size_t len);
	uint64_t size;           /* total bytes, UINT64_MAX when unknown */
	void *ctx;
	const void *mem;         /* private: a memory reader's bytes */
};

/* A memory reader's ctx points at r itself: pass r by pointer, don't copy
 * it.  data is borrowed and must outlive r.  Never fails. */
void reader_from_memory(struct reader *r, const void *data, size_t len);
/* Opens path read-only; *r is valid until reader_file_close(). */
int reader_file_open(struct reader *r, const char *path) MF_WUR;
void reader_file_close(struct reader *r);

/* ------------------------------------------------------------------------
 * ggml types and GGUF headers (issue: exact architecture from GGUF).
 * Section owned by core/ggml_types.c and core/gguf.c.
 * ------------------------------------------------------------------------ */
/*
 * ggml: the tensor types llama.cpp writes and the llama_ftype values of
 * general.file_type.  The tables follow ggml's type_traits (ggml/src/ggml.c)
 * and block structs (ggml/src/ggml-common.h), and llama.h's enum
 * llama_ftype; see core/ggml_types.c for the exact source.  Thread-safe:
 * the tables are constant.
 * ------------------------------------------------------------------------ */
#define GGML_MAX_DIMS 4          /* dimensions of a tensor (ggml.h) */

/* ggml.h enum ggml_type; ids 4, 5, 31-33 and 36-38 were removed upstream. */
enum ggml_type {
	GGML_TYPE_F32 = 0,
	GGML_TYPE_F16 = 1,
	GGML_TYPE_Q4_0 = 2,
	GGML_TYPE_Q4_1 = 3,
	GGML_TYPE_Q5_0 = 6,
	GGML_TYPE_Q5_1 = 7,
	GGML_TYPE_Q8_0 = 8,
	GGML_TYPE_Q8_1 = 9,
	GGML_TYPE_Q2_K = 10,
	GGML_TYPE_Q3_K = 11,
	GGML_TYPE_Q4_K = 12,
	GGML_TYPE_Q5_K = 13,
	GGML_TYPE_Q6_K = 14,
	GGML_TYPE_Q8_K = 15,
	GGML_TYPE_IQ2_XXS = 16,
	GGML_TYPE_IQ2_XS = 17,
	GGML_TYPE_IQ3_XXS = 18,
	GGML_TYPE_IQ1_S = 19,
	GGML_TYPE_IQ4_NL = 20,
	GGML_TYPE_IQ3_S = 21,
	GGML_TYPE_IQ2_S = 22,
	GGML_TYPE_IQ4_XS = 23,
	GGML_TYPE_I8 = 24,
	GGML_TYPE_I16 = 25,
	GGML_TYPE_I32 = 26,
	GGML_TYPE_I64 = 27,
	GGML_TYPE_F64 = 28,
	GGML_TYPE_IQ1_M = 29,
	GGML_TYPE_BF16 = 30,
	GGML_TYPE_TQ1_0 = 34,
	GGML_TYPE_TQ2_0 = 35,
	GGML_TYPE_MXFP4 = 39,
	GGML_TYPE_NVFP4 = 40,
	GGML_TYPE_Q1_0 = 41,
	GGML_TYPE_Q2_0 = 42,
	GGML_TYPE_ID_END = 43,   /* one past the highest id this table knows */
};

struct ggml_type_info {
	uint32_t id;              /* enum ggml_type */
	const char *name;         /* ggml's type_name: "f32", "q4_K", "iq2_xxs", "mxfp4" */
	uint32_t block_elems;     /* elements per block */
	uint32_t block_bytes;     /* bytes per block */
	bool quantized;
};

/* Lookup.  NULL for an id that ggml never had or has removed, and for an
 * unknown name.  Names compare ASCII case-insensitively ("Q4_K" works). */
const struct ggml_type_info *ggml_type_by_id(uint32_t id);
const struct ggml_type_info *ggml_type_by_name(const char *name);
/* The known types in id order: *n_out entries, static. */
const struct ggml_type_info *ggml_types(size_t *n_out);
/* Bits per element: block_bytes * 8 / block_elems (4.5 for q4_K). */
double ggml_type_bits_per_weight(const struct ggml_type_info *t);

/* Elements of a shape (ne[0..n_dims-1]; n_dims <= GGML_MAX_DIMS; 0 dims is
 * one element).  -EOVERFLOW when the product passes INT64_MAX (ggml counts
 * in int64_t), -EINVAL for n_dims > GGML_MAX_DIMS. */
int ggml_nelements(const uint64_t *ne, unsigned n_dims, uint64_t *out) MF_WUR;
/* Bytes of one row of ne0 elements: ne0 / block_elems * block_bytes.
 * -EINVAL for an unknown type or an ne0 that is not a multiple of the
 * block size, -EOVERFLOW. */
int ggml_row_bytes(uint32_t type, uint64_t ne0, uint64_t *out_bytes) MF_WUR;
/* Bytes of a whole tensor: row bytes times the other dimensions (ggml's
 * ggml_nbytes for a contiguous tensor).  Errors as above. */
int ggml_tensor_bytes(uint32_t type, const uint64_t *ne, unsigned n_dims,
		      uint64_t *out_bytes) MF_WUR;

/* llama_ftype (general.file_type) -> the enum's name without its
 * LLAMA_FTYPE_ prefix ("MOSTLY_Q4_K_M", "ALL_F32"), or NULL when unknown.
 * Removed values (4-6, 33-35) have names ending in " (removed)". */
const char *ggml_ftype_name(uint32_t ftype);
/* llama_ftype -> registry quant name: the llama-quantize name in lowercase
 * ("q4_k_m", "iq1_s", "f16", "bf16", "f32", "mxfp4_moe"); NULL when unknown
 * or removed. */
const char *ggml_ftype_quant(uint32_t ftype);
/* The quant name in a file name (any directory part is ignored), as a
 * registry name: "...-Q4_K_M.gguf" -> "q4_k_m", "...-UD-IQ1_S-00001-of-00003.gguf"
 * -> "ud-iq1_s", "...Q5_K_M.gguf" (dot separated) -> "q5_k_m", "-fp16" ->
 * "f16".  The last quant-like token wins.  -ENOENT when there is none,
 * -ERANGE when out_size is too small. */
int ggml_quant_from_filename(const char *filename, char *out, size_t out_size) MF_WUR;

/* ------------------------------------------------------------------------
 * gguf: a GGUF header (versions 2 and 3, little-endian), read through a
 * struct reader.  The parser asks the reader for bytes as it needs them,
 * through a buffer that starts at GGUF_FIRST_READ_BYTES and doubles, so a
 * remote header costs a few range requests and never the tensor data.
 *
 * Every count, length and offset in the file is outside data: each is
 * checked against its cap below and against the bytes left before anything
 * is allocated, and all arithmetic is overflow-checked.  A hostile file
 * gets -EBADMSG (or -EFBIG past a cap) with a diag, never a crash, a hang or
 * an unbounded allocation.
 * ------------------------------------------------------------------------ */
#define GGUF_MAX_KV               65536        /* metadata keys */
#define GGUF_MAX_TENSORS          (1u << 20)   /* tensor infos (DeepSeek V3: ~1,100 per file) */
#define GGUF_MAX_NAME_BYTES       4096         /* one key or tensor name */
#define GGUF_MAX_STRING_BYTES     (16u << 20)  /* one string value (chat templates: ~100 KiB) */
#define GGUF_MAX_ARRAY_LEN        (1u << 23)   /* items of one array (vocabularies: ~260k) */
#define GGUF_MAX_ARRAY_DEPTH      4            /* array levels, the outermost included */
#define GGUF_MAX_HEADER_BYTES     (64u << 20)  /* bytes before the data section (real: <= ~10 MiB) */
#define GGUF_MAX_MEMORY_BYTES     (256u << 20) /* memory one parsed header may hold (<= ~3x its bytes) */
#define GGUF_MAX_ALIGNMENT        (1u << 30)   /* general.alignment */
#define GGUF_DEFAULT_ALIGNMENT    32
#define GGUF_FIRST_READ_BYTES     (1u << 20)   /* first read; later ones double the buffer */

/* GGUF metadata value types (gguf.h enum gguf_type). */
enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT = 13,
};

/* A view of one metadata value; pointers borrowed, valid until gguf_free(). */
struct gguf_value {
	enum gguf_type type;
	union {
		uint64_t u64;                /* UINT8, UINT16, UINT32, UINT64, BOOL (0 or 1) */
		int64_t i64;                 /* INT8, INT16, INT32, INT64 */
		double f64;                  /* FLOAT32 (exactly widened), FLOAT64 */
		struct {
			const char *ptr;     /* NUL-terminated; may hold NULs, so use len */
			size_t len;          /* bytes */
		} str;                       /* STRING */
		struct {
			enum gguf_type type; /* type of the items */
			uint64_t n;          /* number of items */
			const void *priv;    /* for gguf_array_item() */
		} arr;                       /* ARRAY */
	};
};

struct gguf_tensor_info {
	const char *name;                /* borrowed, valid until gguf_free() */
	uint32_t n_dims;                 /* 0..GGML_MAX_DIMS */
	uint64_t ne[GGML_MAX_DIMS];      /* elements per dimension; 1 past n_dims */
	uint32_t type;                   /* enum ggml_type */
	uint64_t offset;                 /* bytes, from the start of the data section */
	uint64_t size_bytes;             /* bytes of data, from the type table */
	uint64_t n_elements;
};

struct gguf;

/* Life cycle.  Parses the header r holds (r is only used during the call).
 * *out: new, free with gguf_free().  Errors: -EBADMSG malformed (bad magic,
 * big-endian, unsupported version, truncated, bad types, overlapping or
 * misaligned tensors, ...), -EFBIG past a cap, -ENOMEM, or the reader's
 * -errno (-ENODATA is reported as truncation).  d says what and where.
 * Thread-safe for different readers. */
int gguf_open(struct reader *r, struct gguf **out, struct diag *d) MF_WUR;
void gguf_free(struct gguf *g);                              /* NULL is a no-op */

/* Queries on the header; none of them fail on a parsed header. */
uint32_t gguf_version(const struct gguf *g);
uint64_t gguf_alignment(const struct gguf *g);               /* bytes */
uint64_t gguf_data_offset(const struct gguf *g);             /* bytes from the file start */
uint64_t gguf_header_bytes(const struct gguf *g);            /* end of the tensor infos */
uint64_t gguf_bytes_read(const struct gguf *g);              /* bytes fetched through the reader */
unsigned gguf_reads(const struct gguf *g);                   /* read_at calls made */
uint64_t gguf_file_size(const struct gguf *g);               /* reader's size, UINT64_MAX if unknown */
uint64_t gguf_weight_bytes(const struct gguf *g);            /* sum of tensor size_bytes */
uint64_t gguf_param_count(const struct gguf *g);             /* sum of tensor elements */
double gguf_bits_per_weight(const struct gguf *g);           /* weight bytes * 8 / params; 0 when no params */
/* general.file_type (llama_ftype) as an integer >= 0, or -ENOENT. */
int64_t gguf_file_type(const struct gguf *g);

/* Split files: split.no (0-based), split.count, split.tensors.count.
 * Returns true when the file says it is one shard of several
 * (split.count > 1); the outputs are filled (0 when absent) either way. */
bool gguf_split(const struct gguf *g, uint64_t *no, uint64_t *count, uint64_t *tensors_count);

/* Metadata, in file order. */
size_t gguf_kv_count(const struct gguf *g);
const char *gguf_kv_key(const struct gguf *g, size_t i);     /* borrowed */
void gguf_kv_value(const struct gguf *g, size_t i, struct gguf_value *out);
/* Index of key, or -ENOENT. */
ssize_t gguf_find_key(const struct gguf *g, const char *key);
/* Item i of an ARRAY value (i < arr.n); -EINVAL when v is no array or i is
 * out of range. */
int gguf_array_item(const struct gguf_value *v, uint64_t i, struct gguf_value *out) MF_WUR;

/* Typed getters by key: -ENOENT when absent, -EINVAL when the type does
 * not convert (u64: unsigned integers, bool, and signed ones >= 0; i64: any
 * integer <= INT64_MAX; f64: floats and integers), -ERANGE when a value
 * does not fit. */
int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out) MF_WUR;
int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out) MF_WUR;
int gguf_get_f64(const struct gguf *g, const char *key, double *out) MF_WUR;
int gguf_get_bool(const struct gguf *g, const char *key, bool *out) MF_WUR;
/* *out borrowed, NUL-terminated; *len_out (nullable) its length. */
int gguf_get_str(const struct gguf *g, const char *key, const char **out, size_t *len_out) MF_WUR;
int gguf_get_array(const struct gguf *g, const char *key, struct gguf_value *out) MF_WUR;
/* Name of a value type ("uint32", "string", "array"), "?" when unknown. */
const char *gguf_type_name(enum gguf_type t);

/* Tensors, in file order; borrowed, valid until gguf_free(). */
size_t gguf_tensor_count(const struct gguf *g);
const struct gguf_tensor_info *gguf_tensor(const struct gguf *g, size_t i);
ssize_t gguf_find_tensor(const struct gguf *g, const char *name);   /* index or -ENOENT */

/* ------------------------------------------------------------------------
 * hfcfg and arch: config.json reader and the normalized architecture.
 * Section owned by core/hfcfg.c and core/arch.c.
 * ------------------------------------------------------------------------ */
/*
 * struct arch is the normalized architecture of SPEC §4 architecture.json,
 * as plain data: the GGUF reader, the config.json reader and the catalog
 * fill it; the estimator (SPEC §5) and the renderers read it.
 *
 * Every scalar field has an entry in enum arch_field and a source in
 * a->src[field]; ARCH_SRC_NONE means "not known" and the field's value is
 * then meaningless (0, NULL or "").  Writers set a value and its source
 * together with arch_set_u64() and friends (or assign both by hand).
 *
 * Per-layer data: when heads, KV heads or the kind of layer vary across
 * layers (Gemma 2/3 sliding windows, OpenELM, Jamba and Granite hybrids),
 * the arrays below hold num_layers entries each (n_layer_info); a NULL
 * array means "uniform: use the scalar".  Read them through
 * arch_layer_heads(), arch_layer_kv_heads() and arch_layer_kind(), which
 * fall back to the scalar.  The scalar of a per-layer quantity is its
 * maximum over the layers.
 *
 * Meaning of the sizes (all counts, no units unless named):
 *  - head_dim_k / head_dim_v: per-head K and V widths (GGUF
 *    attention.key_length / value_length); head_dim is set only when they
 *    are equal;
 *  - MLA (kv_lora_rank known, DeepSeek V2/V3): head_dim_k and head_dim_v are
 *    the uncompressed qk_nope + qk_rope and v_head_dim (GGUF *_length_mla);
 *    llama.cpp caches kv_lora_rank + rope_dim values per token and layer.
 *    num_kv_heads is as the source says: config.json gives the attention
 *    heads (16 for V2-Lite), an MLA GGUF gives 1;
 *  - rope_dim: rotated dimensions per head (MLA qk_rope_head_dim);
 *  - sliding_window: tokens a sliding-window layer sees;
 *    sliding_window_pattern N: every Nth layer (il % N == N - 1) is full
 *    attention and the others slide (Gemma 3: 6; Gemma 2: 2);
 *  - expert_*: MoE; leading_dense_layers are the first layers with a dense
 *    FFN (DeepSeek first_k_dense_replace);
 *  - ssm: Mamba/Mamba2 (d_conv, d_inner, d_state, dt_rank, n_group) and
 *    RWKV (head_size); recurrent state per recurrent layer follows from them.
 * ------------------------------------------------------------------------ */
enum arch_source {
	ARCH_SRC_NONE = 0,       /* not known: the field is absent */
	ARCH_SRC_GGUF,           /* "gguf": a GGUF header */
	ARCH_SRC_CONFIG,         /* "config.json": the upstream config.json */
	ARCH_SRC_CATALOG,        /* "catalog": the catalog entry */
	ARCH_SRC_MANUAL,         /* "manual": set by the user */
	ARCH_SRC_DERIVED,        /* "derived": computed from other known fields */
	ARCH_SRC_DEFAULT,        /* "default": a library default the file leaves out (with a warning) */
};

enum arch_field {
	ARCH_F_ARCHITECTURE = 0,         /* architecture: GGUF general.architecture name */
	ARCH_F_NUM_LAYERS,               /* num_layers */
	ARCH_F_HIDDEN_SIZE,              /* hidden_size */
	ARCH_F_INTERMEDIATE_SIZE,        /* intermediate_size: dense FFN width */
	ARCH_F_NUM_ATTENTION_HEADS,      /* num_attention_heads (+ layer_heads) */
	ARCH_F_NUM_KV_HEADS,             /* num_kv_heads (+ layer_kv_heads) */
	ARCH_F_HEAD_DIM,                 /* head_dim */
	ARCH_F_HEAD_DIM_K,               /* head_dim_k */
	ARCH_F_HEAD_DIM_V,               /* head_dim_v */
	ARCH_F_VOCAB_SIZE,               /* vocab_size */
	ARCH_F_CONTEXT_LENGTH,           /* context_length: trained context, tokens */
	ARCH_F_MAX_POSITION_EMBEDDINGS,  /* max_position_embeddings, tokens */
	ARCH_F_ROPE_THETA,               /* rope_theta */
	ARCH_F_ROPE_SCALING,             /* rope_scaling: JSON object text */
	ARCH_F_SLIDING_WINDOW,           /* sliding_window, tokens */
	ARCH_F_SLIDING_WINDOW_PATTERN,   /* sliding_window_pattern */
	ARCH_F_EXPERT_COUNT,             /* expert_count: routed experts */
	ARCH_F_EXPERT_USED_COUNT,        /* expert_used_count */
	ARCH_F_EXPERT_SHARED_COUNT,      /* expert_shared_count */
	ARCH_F_KV_LORA_RANK,             /* kv_lora_rank (MLA) */
	ARCH_F_Q_LORA_RANK,              /* q_lora_rank (MLA) */
	ARCH_F_ROPE_DIM,                 /* rope_dim (MLA qk_rope_head_dim) */
	ARCH_F_SSM_D_CONV,               /* ssm.d_conv */
	ARCH_F_SSM_D_INNER,              /* ssm.d_inner */
	ARCH_F_SSM_D_STATE,              /* ssm.d_state */
	ARCH_F_SSM_DT_RANK,              /* ssm.dt_rank (Mamba2: number of heads) */
	ARCH_F_SSM_N_GROUP,              /* ssm.n_group */
	ARCH_F_SSM_HEAD_SIZE,            /* ssm.head_size (RWKV wkv head size) */
	ARCH_F_VISION_IMAGE_SIZE,        /* vision.image_size, pixels */
	ARCH_F_VISION_PATCH_SIZE,        /* vision.patch_size, pixels */
	ARCH_F_VISION_NUM_LAYERS,        /* vision.num_layers */
	ARCH_F_VISION_HIDDEN_SIZE,       /* vision.hidden_size */
	ARCH_F_KV_PRECISION,             /* kv_precision: "f16", "bf16", "f32" ... */
	/* beyond the SPEC §4 list, for the estimator: */
	ARCH_F_QK_NOPE_HEAD_DIM,         /* qk_nope_head_dim (MLA) */
	ARCH_F_EXPERT_FFN_SIZE,          /* expert_intermediate_size: one routed expert's FFN width */
	ARCH_F_EXPERT_SHARED_FFN_SIZE,   /* expert_shared_intermediate_size: the shared expert(s) FFN width */
	ARCH_F_LEADING_DENSE_LAYERS,     /* leading_dense_layers */
	ARCH_F_TIE_WORD_EMBEDDINGS,      /* tie_word_embeddings: output shares token_embd */
	ARCH_F_LAYER_TYPES,              /* layer_types: the layer_kind array */
	ARCH_F_COUNT
};

/* What one layer is, for the KV cache and recurrent state. */
enum arch_layer_kind {
	ARCH_LAYER_FULL = 0,     /* "full_attention": attention over the whole context */
	ARCH_LAYER_SLIDING,      /* "sliding_attention": attention over sliding_window tokens */
	ARCH_LAYER_CHUNKED,      /* "chunked_attention": attention within chunks of sliding_window tokens (Llama 4) */
	ARCH_LAYER_RECURRENT,    /* "recurrent": Mamba/RWKV/linear-attention state, no KV cache */
};

#define ARCH_MAX_LAYERS     4096   /* most layers any input may declare */
#define ARCH_MAX_WARNINGS   32     /* warnings kept; later ones are dropped */
#define ARCH_NAME_BYTES     48     /* architecture name incl. NUL */
#define ARCH_MAX_VALUE      (1ull << 53) /* largest integer field (exact in JSON doubles) */

struct arch_ssm {
	uint64_t d_conv;         /* convolution kernel width */
	uint64_t d_inner;        /* inner width (expand * hidden_size) */
	uint64_t d_state;        /* state size per channel */
	uint64_t dt_rank;        /* time-step rank; Mamba2: heads */
	uint64_t n_group;        /* groups (Mamba2), 1 for Mamba */
	uint64_t head_size;      /* RWKV wkv head size */
};

struct arch_vision {
	uint64_t image_size;     /* pixels per side */
	uint64_t patch_size;     /* pixels per side */
	uint64_t num_layers;
	uint64_t hidden_size;
};

struct arch {
	enum arch_source src[ARCH_F_COUNT];  /* per field; ARCH_SRC_NONE = absent */
	enum arch_source source;             /* overall: gguf when a header was used, else the most common */

	char architecture[ARCH_NAME_BYTES];  /* llama, qwen2, gemma3, deepseek2, mamba ... */
	uint64_t num_layers;
	uint64_t hidden_size;
	uint64_t intermediate_size;
	uint64_t num_attention_heads;        /* max over layers when layer_heads is set */
	uint64_t num_kv_heads;               /* max over layers when layer_kv_heads is set */
	uint64_t head_dim;
	uint64_t head_dim_k;
	uint64_t head_dim_v;
	uint64_t vocab_size;
	uint64_t context_length;
	uint64_t max_position_embeddings;
	double rope_theta;
	char *rope_scaling;                  /* owned: compact JSON object text */
	uint64_t sliding_window;
	uint64_t sliding_window_pattern;
	uint64_t expert_count;
	uint64_t expert_used_count;
	uint64_t expert_shared_count;
	uint64_t kv_lora_rank;
	uint64_t q_lora_rank;
	uint64_t rope_dim;
	struct arch_ssm ssm;
	struct arch_vision vision;
	char kv_precision[16];
	uint64_t qk_nope_head_dim;
	uint64_t expert_ffn_size;
	uint64_t expert_shared_ffn_size;
	uint64_t leading_dense_layers;
	bool tie_word_embeddings;

	/* Per-layer arrays, each NULL or n_layer_info entries (owned). */
	size_t n_layer_info;
	uint32_t *layer_heads;               /* attention heads of layer il */
	uint32_t *layer_kv_heads;            /* KV heads of layer il (0: no KV, e.g. recurrent) */
	uint8_t *layer_kind;                 /* enum arch_layer_kind; src[ARCH_F_LAYER_TYPES] */

	char **warnings;                     /* owned; n_warnings strings */
	size_t n_warnings;
};

/* Life cycle.  arch_init zeroes a (everything absent); arch_release frees
 * what a holds and zeroes it; a may be reused after either. */
void arch_init(struct arch *a);
void arch_release(struct arch *a);

/* "gguf", "config.json", "catalog", "manual", "derived", "default"; "none" for NONE. */
const char *arch_source_name(enum arch_source s);
/* The JSON key of a field ("num_layers", "ssm.d_state" for nested ones). */
const char *arch_field_name(enum arch_field f);

/* Queries */
static inline bool arch_has(const struct arch *a, enum arch_field f)
{
	return a->src[f] != ARCH_SRC_NONE;
}

static inline uint64_t arch_layer_heads(const struct arch *a, size_t il)
{
	return a->layer_heads && il < a->n_layer_info ? a->layer_heads[il] : a->num_attention_heads;
}

static inline uint64_t arch_layer_kv_heads(const struct arch *a, size_t il)
{
	return a->layer_kv_heads && il < a->n_layer_info ? a->layer_kv_heads[il] : a->num_kv_heads;
}

/* The kind of layer il: the layer_kind array when known; else recurrent
 * when ssm.d_state is known and num_kv_heads is unknown or 0; else, with a
 * sliding_window, sliding unless sliding_window_pattern makes it full (no
 * pattern: every layer slides, as Mistral 7B v0.1 defines it); else full.
 * sliding_window is what the upstream model defines: whether llama.cpp
 * honours it depends on the architecture (it ignores it for phi3). */
enum arch_layer_kind arch_layer_kind(const struct arch *a, size_t il);

/* Mutation.  Setters record the value and its source; -EINVAL for a field
 * of another type or a value out of range (integers above ARCH_MAX_VALUE,
 * num_layers above ARCH_MAX_LAYERS or unlike n_layer_info, non-finite
 * reals, rope_scaling that is not a JSON object).  arch_set_str copies (rope_scaling: JSON text;
 * architecture and kv_precision: names, -ENAMETOOLONG when too long). */
int arch_set_u64(struct arch *a, enum arch_field f, uint64_t v, enum arch_source s);
int arch_set_double(struct arch *a, enum arch_field f, double v, enum arch_source s);
int arch_set_str(struct arch *a, enum arch_field f, const char *v, enum arch_source s);
/* Sets the per-layer arrays (copies n values; n must be num_layers when
 * known, and at most ARCH_MAX_LAYERS), and the scalar to their maximum with
 * the same source.  -EINVAL otherwise. */
int arch_set_layer_heads(struct arch *a, const uint32_t *v, size_t n, enum arch_source s);
int arch_set_layer_kv_heads(struct arch *a, const uint32_t *v, size_t n, enum arch_source s);
int arch_set_layer_kinds(struct arch *a, const uint8_t *kinds, size_t n, enum arch_source s);
/* Appends a warning (printf format); beyond ARCH_MAX_WARNINGS it is dropped.
 * 0 or -ENOMEM. */
int arch_warn(struct arch *a, const char *fmt, ...) MF_PRINTF(2, 3);

/* Fills every field dst lacks from fill, keeping fill's sources, and
 * appends fill's warnings that dst lacks; per-layer arrays are taken only
 * when they match dst's num_layers.  Fields dst already has are kept.
 * dst->source is recomputed.  0 or -ENOMEM. */
int arch_merge(struct arch *dst, const struct arch *fill) MF_WUR;

/* Recomputes a->source: gguf when any field came from a GGUF header, else
 * the source most fields came from (ties: config.json, catalog, manual). */
void arch_update_source(struct arch *a);

/* SPEC §4 architecture.json: known fields only, plus "field_sources"
 * ({field: source}), "source" and "warnings".  num_kv_heads and
 * num_attention_heads become per-layer arrays when they vary.  Appends to
 * out; returns 0 or out->err. */
int arch_to_json(const struct arch *a, struct sbuf *out);
/* Reads architecture.json as arch_to_json writes it (the registry stores
 * it as text; a catalog may hold the same object).  A field's source is its
 * "field_sources" entry, else the "source" key, else dflt.  Unknown keys are
 * ignored.  -EBADMSG with d filled on malformed input, -ENOMEM. */
int arch_from_json(const char *json, size_t len, enum arch_source dflt, struct arch *out,
		   struct diag *d) MF_WUR;

/* Reads an upstream Hugging Face config.json (at most CAP_CONFIG_JSON_BYTES)
 * and merges it into out (arch_init'ed, or holding what a GGUF header said:
 * fields out already has are kept).  New fields have source config.json,
 * derived, or default (with a warning) for transformers defaults the file
 * leaves out.  All or nothing: on error out is unchanged.  Understands nested text_config/vision_config,
 * the field aliases of the families and the non-standard tokens Infinity,
 * -Infinity and NaN outside strings.  -EBADMSG with d naming the field on
 * non-JSON or wrong types, -EFBIG past the cap, -ENOMEM.  Thread-safe. */
int arch_from_hfcfg(const char *json, size_t len, struct arch *out, struct diag *d) MF_WUR;
/* The GGUF architecture name llama.cpp's converter writes for an HF
 * architectures[0] class (hf_class, nullable) or, when the class is unknown,
 * a model_type ("qwen2_5_vl" -> "qwen2vl", "deepseek_v3" -> "deepseek2").
 * Mistral3ForConditionalGeneration depends on the text model_type
 * ("ministral3" -> "mistral3", else "llama").  NULL when unknown. */
const char *hfcfg_model_type_to_arch(const char *model_type, const char *hf_class);

/* Reads the normalized architecture from a parsed GGUF header (the
 * <arch>.* keys llama.cpp reads; clip.vision.* for an mmproj) and merges it
 * into out like arch_from_hfcfg.  Fields get source gguf, or derived for
 * what llama.cpp fixes in code (Gemma 2/3 sliding patterns, head sizes from
 * width / heads).  Vocabulary from <arch>.vocab_size, else the token list,
 * else token_embd's shape; tie_word_embeddings from the absence of
 * output.weight.  -EBADMSG with d naming the key on a wrong type or range,
 * -ENOMEM; out unchanged on error.  Thread-safe. */
struct gguf;
int arch_from_gguf(const struct gguf *g, struct arch *out, struct diag *d) MF_WUR;

/* ------------------------------------------------------------------------
 * vram: the VRAM estimator (SPEC §5 vram@, fit@, recommend@, fits@).
 * Section owned by core/vram.c.
 *
 * What llama.cpp allocates to run a model, buffer by buffer (weights, KV
 * cache or recurrent state, compute graph, logits output, CUDA context,
 * multimodal projector) and device by device (GPU, system RAM), for given
 * context parameters.  The model is llama.cpp build b10470 (commit
 * 34af94cd), the build of shared/fixtures/groundtruth; core/vram.c says at
 * each formula which llama.cpp behaviour it follows.  Everything here is a
 * pure function of its arguments: no database, no network, thread-safe.
 * ------------------------------------------------------------------------ */
enum vram_kind {
	VRAM_KIND_VRAM = 0,      /* vram@...      (QUANT directory) */
	VRAM_KIND_FIT,           /* fit@...       (QUANT directory) */
	VRAM_KIND_RECOMMEND,     /* recommend@... (root) */
	VRAM_KIND_FITS,          /* fits@.../     (root directory) */
};
enum vram_unit { VRAM_UNIT_MIB = 0, VRAM_UNIT_GIB, VRAM_UNIT_B };
enum vram_format { VRAM_FORMAT_NUM = 0, VRAM_FORMAT_TEXT, VRAM_FORMAT_JSON, VRAM_FORMAT_ENV };
enum vram_prefer { VRAM_PREFER_BALANCED = 0, VRAM_PREFER_QUALITY, VRAM_PREFER_SPEED };
/* The llama.cpp build modelled: CUDA (GPU offload, the default) or CPU only
 * (everything in system RAM; what the ground truth measures). */
enum vram_backend { VRAM_BACKEND_CUDA = 0, VRAM_BACKEND_CPU };
/* Where the weight bytes came from (SPEC §5 weights_source). */
enum vram_source { VRAM_SRC_GGUF = 0, VRAM_SRC_FILE_SIZE, VRAM_SRC_CATALOG };

#define VRAM_CTX_MAX          UINT64_MAX      /* ctx=max: the trained context */
#define VRAM_NGL_ALL          UINT32_MAX      /* ngl=all */
#define VRAM_NAME_MAX_BYTES   255             /* a parameterized name */
#define VRAM_MAX_CTX_TOKENS   (1ull << 24)    /* largest ctx= (16M tokens) */
#define VRAM_MAX_BATCH        (1u << 20)      /* largest ubatch= and batch= */
#define VRAM_MAX_PAR          256             /* largest par= (llama.cpp LLAMA_MAX_SEQ) */
#define VRAM_MAX_N            1000            /* largest recommend@ n= */
#define VRAM_DEFAULT_CTX      8192            /* fit@, recommend@, fits@ without ctx=; info.json */
#define VRAM_MAX_WARNINGS     8               /* warnings one estimate keeps */
#define VRAM_WARNING_BYTES    200             /* one warning, incl. NUL */

/* Parameters of SPEC §5's table, parsed from a name or set by a caller. */
struct vram_params {
	enum vram_kind kind;
	uint64_t ctx_tokens;         /* ctx=; VRAM_CTX_MAX for "max"; 0 = not given */
	uint32_t type_k;             /* enum ggml_type of the K cache (kv=, ctk=) */
	uint32_t type_v;             /* enum ggml_type of the V cache (kv=, ctv=) */
	bool flash_attn;             /* fa= */
	uint32_t ubatch;             /* ubatch=, tokens (llama.cpp -ub) */
	uint32_t batch;              /* batch=, tokens (llama.cpp -b) */
	uint32_t par;                /* par=, parallel sequences (-np) */
	uint32_t ngl;                /* ngl=, layers on the GPU; VRAM_NGL_ALL */
	int mmproj;                  /* mmproj=: -1 on when multimodal (default), 0 off, 1 on */
	enum vram_unit unit;         /* unit= */
	enum vram_format format;     /* format= */
	uint64_t vram_bytes;         /* vram= (fit@, recommend@, fits@); 0 = not given */
	enum vram_prefer prefer;     /* prefer= (recommend@) */
	uint32_t n;                  /* n= (recommend@) */
	enum vram_backend backend;   /* no name key: `modelfs estimate --backend` */
};

/* SPEC §5 defaults for kind: ctx not given, kv f16, fa on, ubatch 512,
 * batch 2048, par 1, ngl all, mmproj default, unit mib; format num (vram@)
 * or env (fit@); n 5, prefer balanced, backend CUDA. */
void vram_params_init(struct vram_params *p, enum vram_kind kind);
/* "vram", "fit", "recommend", "fits". */
const char *vram_kind_name(enum vram_kind kind);

/* Parses a whole parameterized name, "KIND@KEY=VALUE[,KEY=VALUE...]", into
 * *p (vram_params_init'ed for its kind first).  -ENOENT (d filled) when
 * name has no '@' or an unknown KIND, so it is simply not such a file;
 * -EINVAL with d naming the key when a key is unknown for the kind or
 * given twice, a value is bad, a required key is missing (vram@ needs
 * ctx=, fit@ needs vram=), or the values cannot go together (a quantized V
 * cache without flash attention, as llama.cpp refuses).  SIZE in vram=
 * without a unit is MiB.  *p is unspecified on error.  Thread-safe. */
int vram_parse_name(const char *name, struct vram_params *p, struct diag *d) MF_WUR;
/* The same for the part after '@' of a name of the given kind. */
int vram_parse_params(enum vram_kind kind, const char *params, struct vram_params *p,
		      struct diag *d) MF_WUR;

/*
 * vram_model: what the estimator knows of one model file: its architecture
 * and where its weight bytes are, per llama.cpp layer.  Built from a GGUF
 * header (exact per-tensor bytes) or from an architecture and a size (the
 * bytes spread over the layers by parameter count).
 */
struct vram_model {
	struct arch arch;            /* owned copy */
	enum vram_source source;     /* weights_source */
	size_t n_layers;             /* repeating layers (blocks) */
	uint64_t *layer_bytes;       /* [n_layers] weight bytes of block il */
	uint64_t *layer_expert_bytes;/* [n_layers] part of it in routed experts (MoE) */
	uint64_t input_bytes;        /* input layer (token embeddings): always in system RAM */
	uint64_t output_bytes;       /* output layer: output norm and output matrix */
	uint64_t output_matrix_bytes;/* the output matrix alone */
	bool output_tied;            /* no output matrix in the file: the token embeddings double as it */
	uint64_t file_bytes;         /* model file(s), 0 when unknown */
	uint64_t mmproj_file_bytes;  /* multimodal projector file, 0 when none or unknown */
};

/* Life cycle.  Both fill *m (which must not hold a model) and deep-copy a;
 * free with vram_model_release().  from_gguf: per-tensor bytes from the
 * header (blk.N.* -> block N, token_embd/position_embd/... -> input, the
 * rest -> output); -ENOMEM.  from_size: file_bytes of model file(s)
 * (source VRAM_SRC_FILE_SIZE when exact, VRAM_SRC_CATALOG when a catalog
 * guess) less the estimated header, spread by parameter count; -EINVAL when
 * file_bytes is 0, -ENOMEM. */
int vram_model_from_gguf(struct vram_model *m, const struct arch *a, const struct gguf *g,
			 struct diag *d) MF_WUR;
/* Adds the tensors of another shard of a split model (split.no > 0) to a
 * model from_gguf built from the first; blocks past the model's layers
 * count with the output layer.  Always 0. */
int vram_model_add_gguf(struct vram_model *m, const struct gguf *g) MF_WUR;
int vram_model_from_size(struct vram_model *m, const struct arch *a, uint64_t file_bytes,
			 enum vram_source source, uint64_t mmproj_file_bytes, struct diag *d) MF_WUR;
void vram_model_release(struct vram_model *m);   /* frees and zeroes; a zeroed m is a no-op */

/*
 * Tensor lists and weights layouts: a registered quant estimated from its
 * files' tensor tables without keeping the headers.
 *
 * Registration reads the headers of a quant's shards in parallel and frees
 * each at once; a vram_tensor_list keeps of one header what the model
 * builders read (tensor names and data bytes, about 40 bytes a tensor)
 * until every shard is read.  The model built from the lists is the one
 * vram_model_from_gguf() and vram_model_add_gguf() build from the headers.
 *
 * A weights layout is the part of a vram_model a tensor table gives
 * (blocks, their routed-expert bytes, input and output layers, tied
 * output, the projector's weight bytes) as a byte string: varints, the
 * distinct per-block sizes once and the blocks as runs of them; about 100
 * bytes for a 70B model.  The registry stores it per quant
 * (model_quant.weights_layout); vram_model_from_variant() uses it.
 */
struct vram_tensor_list {
	size_t n;                    /* tensors */
	char *names;                 /* n NUL-terminated names, back to back */
	uint64_t *size_bytes;        /* [n] data bytes */
};
#define VRAM_LAYOUT_VERSION   1
#define VRAM_LAYOUT_MAX_BYTES (1u << 17)      /* a layout of ARCH_MAX_LAYERS distinct blocks fits */

/* Fills *l (which must not hold a list) with g's tensors, in file order.
 * -ENOMEM.  Free with vram_tensor_list_release(). */
int vram_tensor_list_from_gguf(struct vram_tensor_list *l, const struct gguf *g) MF_WUR;
void vram_tensor_list_release(struct vram_tensor_list *l);   /* frees and zeroes */
/* vram_model_from_gguf() and vram_model_add_gguf() on lists: the first
 * shard's list, then each other shard's.  file_bytes is left 0.  Errors as
 * vram_model_from_gguf(); add always 0. */
int vram_model_from_tensor_list(struct vram_model *m, const struct arch *a,
				const struct vram_tensor_list *l, struct diag *d) MF_WUR;
int vram_model_add_tensor_list(struct vram_model *m, const struct vram_tensor_list *l) MF_WUR;
/* m's layout, with m->mmproj_file_bytes as the projector's bytes (the
 * weight bytes of its header, as `modelfs estimate --mmproj` counts them).
 * *out: new, free with free(); *len_out <= VRAM_LAYOUT_MAX_BYTES.  -ENOMEM,
 * -EINVAL when m is not a model from a header (source not GGUF) or a
 * value is above INT64_MAX. */
int vram_layout_encode(const struct vram_model *m, unsigned char **out, size_t *len_out) MF_WUR;
/* 0 when layout[0..len) is a layout vram_layout_encode() wrote; -EBADMSG
 * with d saying what is wrong otherwise (truncated, unknown version,
 * overlong varint, a value above INT64_MAX, a run past the blocks, bytes
 * left over, ...).  Thread-safe. */
int vram_layout_check(const unsigned char *layout, size_t len, struct diag *d) MF_WUR;
/* A model of architecture a (deep-copied) whose weights are the layout's:
 * source VRAM_SRC_GGUF, file_bytes 0.  -EBADMSG as vram_layout_check(),
 * -ENOMEM. */
int vram_model_from_layout(struct vram_model *m, const struct arch *a, const unsigned char *layout,
			   size_t len, struct diag *d) MF_WUR;

/*
 * One estimate.  SPEC §5's fields: each *_bytes kind counts that kind of
 * memory wherever it lives; total_bytes is the part on the GPU and
 * cpu_bytes the part in system RAM, so total_bytes + cpu_bytes is their
 * sum.  With VRAM_BACKEND_CPU there is no GPU: total_bytes and cpu_bytes
 * are then both the whole sum.
 */
struct vram_estimate {
	uint64_t total_bytes;        /* VRAM */
	uint64_t weights_bytes;
	uint64_t kv_bytes;           /* KV cache and recurrent state */
	uint64_t compute_bytes;      /* compute buffers (GPU and host) */
	uint64_t output_bytes;       /* logits buffer (host memory) */
	uint64_t overhead_bytes;     /* CUDA context and pool */
	uint64_t mmproj_bytes;       /* projector weights and its compute buffer */
	uint64_t cpu_bytes;          /* system RAM */
	/* per device */
	uint64_t gpu_weights_bytes, gpu_kv_bytes, gpu_compute_bytes;
	uint64_t cpu_weights_bytes, cpu_kv_bytes, cpu_compute_bytes;
	/* per decoded token, for the speed estimate (active weights + KV) */
	uint64_t gpu_read_bytes, cpu_read_bytes;
	/* the parameters as llama.cpp resolves them */
	uint64_t ctx_tokens;         /* asked for (ctx=max resolved) */
	uint64_t n_ctx;              /* after llama.cpp pads it */
	uint64_t kv_cells;           /* cells of full-attention layers, all sequences */
	uint64_t kv_cells_swa;       /* cells of sliding-window layers (0: none) */
	uint32_t ubatch, batch;      /* effective (-ub is at most -b, -b at most n_ctx) */
	uint32_t ngl;                /* layers on the GPU, 0..layers */
	uint32_t layers;             /* offloadable layers: blocks + the output layer */
	bool mmproj;                 /* projector counted */
	enum vram_source source;
	size_t n_warnings;
	char warnings[VRAM_MAX_WARNINGS][VRAM_WARNING_BYTES];
};

/* Estimates m at p.  -EINVAL with d when p cannot apply to m: ctx=max and
 * the trained context is unknown, a quantized cache type whose block does
 * not divide the model's head size, par above the context.  Missing
 * architecture fields give warnings, not errors. */
int vram_estimate(const struct vram_model *m, const struct vram_params *p,
		  struct vram_estimate *out, struct diag *d) MF_WUR;

enum vram_fits { VRAM_FITS_NO = 0, VRAM_FITS_PARTIAL, VRAM_FITS_FULL };

/* fit@: the most layers that fit in p->vram_bytes (else the hardware
 * profile's gpu_vram_mib); max_ctx by binary search at full offload, up to
 * the trained context; decode speed from bandwidth when hw knows it. */
struct vram_fit {
	enum vram_fits fits;
	uint32_t ngl;                /* the -ngl to use */
	uint32_t layers;             /* offloadable layers */
	uint64_t gpu_bytes;          /* at ngl */
	uint64_t cpu_bytes;
	uint64_t max_ctx;            /* tokens; 0 when the weights alone do not fit */
	bool tg_known;               /* est_tg_tokens_per_s is known */
	double est_tg_tokens_per_s;
	struct vram_estimate est;    /* the estimate at ngl */
};
/* -EINVAL with d when no VRAM size is known, or as vram_estimate. */
int vram_fit(const struct vram_model *m, const struct vram_params *p, const struct hw_profile *hw,
	     struct vram_fit *out, struct diag *d) MF_WUR;
const char *vram_fits_name(enum vram_fits f);          /* "no", "partial", "full" */
const char *vram_source_name(enum vram_source s);      /* "gguf-header", "file-size", "catalog" */

/* Renders the file of p->kind (vram@ in every format, fit@ as KEY=VALUE
 * lines or JSON) for m, appended to out.  hw (nullable) gives bandwidths
 * and, for fit@ without vram=, the VRAM size.  0, out->err, or the errors
 * of vram_estimate/vram_fit with d filled. */
int vram_render(const struct vram_model *m, const struct vram_params *p,
		const struct hw_profile *hw, struct sbuf *out, struct diag *d) MF_WUR;

/* Registry glue: a model from a variant's architecture.json and one
 * quant's weights layout (weights_source gguf-header, placed as for the
 * file), else its files (model files' sizes, else q->size_bytes; its
 * mmproj file when listed).  -ENODATA with d when the variant has no
 * architecture or the quant no size; -EBADMSG for a bad layout. */
int vram_model_from_variant(struct vram_model *m, const struct model_variant *v,
			    const struct model_quant *q, struct diag *d) MF_WUR;
/* vram@/fit@ for a registered quant: vram_model_from_variant + vram_render. */
int vram_render_quant(const struct model_variant *v, const struct model_quant *q,
		      const struct vram_params *p, const struct hw_profile *hw,
		      struct sbuf *out, struct diag *d) MF_WUR;
/* The estimate alone (info.json's estimated_vram_gb, models.tsv ...). */
int vram_estimate_quant(const struct model_variant *v, const struct model_quant *q,
			const struct vram_params *p, struct vram_estimate *out,
			struct diag *d) MF_WUR;
/* Decode speed (tokens/s) of estimate e from memory bandwidth, as below;
 * false when hw lacks a bandwidth e needs. */
bool vram_estimate_tg(const struct vram_estimate *e, const struct hw_profile *hw, double *tps_out);
/* Decode speed (tokens/s) of a registered quant at p from memory
 * bandwidth (SPEC §5 est_tg_tokens_per_s): the estimate's GPU part read
 * at hw's GPU bandwidth, its CPU part at the RAM's, times
 * hw->tg_efficiency when calibrated.  -ENODATA with d when hw lacks a
 * bandwidth the estimate needs; vram_estimate_quant's errors. */
int vram_tg_quant(const struct model_variant *v, const struct model_quant *q,
		  const struct vram_params *p, const struct hw_profile *hw, double *tps_out,
		  struct diag *d) MF_WUR;
/* recommend@: the ranked TSV of SPEC §5 over every quant of s that fits
 * fully or partly (header line always).  -EINVAL with d when neither
 * vram= nor hw gives a VRAM size.  Quants the estimator cannot judge are
 * skipped. */
int vram_render_recommend(const struct registry_snapshot *s, const struct vram_params *p,
			  const struct hw_profile *hw, struct sbuf *out, struct diag *d) MF_WUR;
/* fits@: calls cb for every quant of s that fits fully, in snapshot order;
 * a non-zero return from cb stops the walk and is returned.  -EINVAL as
 * vram_render_recommend. */
typedef int (*vram_fits_cb)(void *ctx, const struct model_variant *v, const struct model_quant *q);
int vram_fits_each(const struct registry_snapshot *s, const struct vram_params *p,
		   const struct hw_profile *hw, vram_fits_cb cb, void *ctx, struct diag *d) MF_WUR;

/* ------------------------------------------------------------------------
 * control and plan: control-file requests and repo plans (issue 5).
 * Section owned by core/ctlline.c and core/repoplan.c.
 *
 * Pure functions of their input: no registry, no network, no file system.
 * Thread-safe.
 * ------------------------------------------------------------------------ */
/*
 * control: one request written to a .control/ file (SPEC §6), parsed into
 * plain data.  The grammar, per verb:
 *
 *   register    TARGET [family=F] [variant=V] [quant=Q] [revision=R]
 *               [base=ORG/REPO] [name=FULL NAME]
 *               TARGET: ORG/REPO[@REV][:QUANT], hf://ORG/REPO[@REV][/PATH],
 *               [http[s]://](huggingface.co|hf.co|ENDPOINT)/ORG/REPO
 *               [/tree|blob|resolve|raw/REV[/PATH]] (query and fragment
 *               ignored), or an absolute local path (also file:///PATH)
 *   unregister  FAMILY/VARIANT[/QUANT] | ORG/REPO | URL  [purge]
 *   refresh     FAMILY/VARIANT | ORG/REPO | URL | all
 *   download    FAMILY/VARIANT/QUANT
 *   evict       FAMILY/VARIANT/QUANT
 *   benchmark   FAMILY/VARIANT/QUANT [ctx=N|Nk] [ngl=N|all]
 *
 * Words are separated by blanks; a value may be quoted (name="Llama 3 8B").
 * Keys are case-insensitive; family=, variant= and quant= values are
 * lowercased and must then be names (parse_is_name).  A line holding a
 * control byte, a NUL, ".." or "." as a path component, or
 * CAP_LINE_BYTES or more bytes is refused.
 */
#define CONTROL_REPO_ID_MAX    200      /* ORG/REPO incl. NUL (the Hub allows 96 bytes a part) */
#define CONTROL_REVISION_MAX   256      /* a branch, tag, commit or refs/pr/N incl. NUL */
#define CONTROL_FULL_NAME_MAX  256      /* name= incl. NUL */
#define CONTROL_MAX_REQUESTS   256      /* request lines in one write */

enum control_verb {
	CONTROL_REGISTER = 0,
	CONTROL_UNREGISTER,
	CONTROL_REFRESH,
	CONTROL_DOWNLOAD,
	CONTROL_EVICT,
	CONTROL_BENCHMARK,
};

enum control_target {
	CONTROL_TARGET_REPO = 0, /* a Hub repo: repo_id, revision, path */
	CONTROL_TARGET_LOCAL,    /* an absolute local path: path */
	CONTROL_TARGET_MODEL,    /* FAMILY/VARIANT[/QUANT]: family, variant, quant */
	CONTROL_TARGET_ALL,      /* refresh all */
};

struct control_request {
	enum control_verb verb;
	enum control_target target;
	char repo_id[CONTROL_REPO_ID_MAX];     /* REPO: ORG/REPO as written; MODEL: also set when
						  FAMILY/VARIANT reads as a repo id too (try the
						  variant first, then the repo); else "" */
	char revision[CONTROL_REVISION_MAX];   /* REPO: @REV, /tree/REV, revision=; "" = default branch */
	char path[CAP_LINE_BYTES];             /* REPO: a file or folder in the repo from a URL
						  ("" = the whole repo); LOCAL: the absolute path,
						  without a trailing '/' */
	char family[NAME_MAX_BYTES];           /* MODEL target, or register's family= ("" = derive) */
	char variant[NAME_MAX_BYTES];          /* MODEL target, or register's variant= */
	char quant[NAME_MAX_BYTES];            /* MODEL target's QUANT, or register's quant= / :QUANT */
	char base[CONTROL_REPO_ID_MAX];        /* register base=ORG/REPO, "" when not given */
	char full_name[CONTROL_FULL_NAME_MAX]; /* register name=, "" when not given */
	bool purge;                            /* unregister ... purge */
	uint64_t ctx_tokens;                   /* benchmark ctx=, 0 = not given */
	bool has_ngl;                          /* benchmark ngl= given */
	uint32_t ngl;                          /* benchmark ngl=; UINT32_MAX for "all" */
	bool from_page;                        /* register: repo_id found in a pasted model page */
};

/* "register", "unregister", "refresh", "download", "evict", "benchmark". */
const char *parse_control_verb_name(enum control_verb v);
/* ORG/REPO by the Hub's rules: two parts of 1-96 bytes of [A-Za-z0-9_.-],
 * each starting and ending with a letter, digit or '_', without "--" or
 * "..". */
bool parse_is_repo_id(const char *s);

/* Parses one line (no '\n') of a control file for verb into *out.
 * endpoint (nullable) is the configured hub: URLs on its host and port are
 * accepted like huggingface.co ones.  Returns 1 for a request, 0 for a
 * blank or '#' line (*out zeroed), -EINVAL with d saying what is wrong and
 * what to write instead. */
int parse_control_line(enum control_verb verb, const char *line, const char *endpoint,
		       struct control_request *out, struct diag *d) MF_WUR;
/* Parses what one write() brought: len bytes (not NUL-terminated, at most
 * CAP_CONTROL_WRITE_BYTES), one request per line; all lines must parse (all
 * or nothing).  For CONTROL_REGISTER, text that does not parse line by line
 * but reads as a Hugging Face model page copied from a browser becomes one
 * request for the page's repo (from_page set).  Returns the number of
 * requests (0 for blank text) and *out: new array, free with free() (NULL
 * when 0); -EINVAL with d ("line N: ...") otherwise; -ENOMEM. */
ssize_t parse_control_text(enum control_verb verb, const char *text, size_t len, const char *endpoint,
			   struct control_request **out, struct diag *d) MF_WUR;
/* Finds the repo a copied model page is about: "Model tree for ORG/REPO",
 * the title ("ORG", "/", "REPO" lines or "ORG/REPO", then "like N"), the tab
 * title "ORG/REPO · Hugging Face"; failing those, the one repo its
 * huggingface.co links name.  0 with out (size bytes) filled; -EINVAL with d
 * when no repo, or more than one, can be told apart. */
int parse_model_page(const char *text, size_t len, const char *endpoint, char *out, size_t size,
		     struct diag *d) MF_WUR;

/*
 * listing: the files of a repo (a Hub tree listing or a local directory).
 */
#define REGISTRY_LISTING_MAX_ENTRIES  100000   /* entries in one listing */
#define REGISTRY_PATH_MAX_BYTES       1024     /* one path inside a repo, incl. NUL */

struct registry_listing_entry {
	char *path;              /* relative, '/'-separated, no "." or ".." component */
	uint64_t size_bytes;     /* exact size (the LFS size for LFS files); 0 for folders */
	char *sha256;            /* lowercase hex LFS oid, or NULL */
	bool is_dir;
};

struct registry_listing {
	struct registry_listing_entry *entries;
	size_t n;                /* entries used */
	size_t alloc;            /* entries allocated */
};

void registry_listing_init(struct registry_listing *l);
void registry_listing_release(struct registry_listing *l);   /* frees; l may be reused after init */
/* Appends one entry (strings copied).  -EBADMSG with d for a path that is
 * not relative and clean or a sha256 that is not 64 hex digits (uppercase
 * is lowercased), -EFBIG past REGISTRY_LISTING_MAX_ENTRIES, -ENOMEM. */
int registry_listing_add(struct registry_listing *l, const char *path, uint64_t size_bytes,
			 const char *sha256, bool is_dir, struct diag *d) MF_WUR;
/* Appends one page of a Hub tree listing (GET /api/models/R/tree/REV?recursive=true:
 * a JSON array of {"type", "path", "size", "oid", "lfs": {"oid", "size"}}),
 * or, when the JSON is an object, the "siblings" of a model info asked with
 * blobs=true ({"rfilename", "size", "lfs": {"sha256", "size"}}).  Unknown
 * keys and entry types are ignored.  All or nothing: on error l is as
 * before.  -EBADMSG with d, -EFBIG, -ENOMEM. */
int registry_listing_parse(struct registry_listing *l, const char *json, size_t len,
			   struct diag *d) MF_WUR;
/* Index of the entry with this path, or -ENOENT. */
ssize_t registry_listing_find(const struct registry_listing *l, const char *path);

/*
 * plan: which files of a listing make which quant.  GGUF files (".gguf",
 * any case) are grouped: llama.cpp split shards PREFIX-0000K-of-0000N.gguf
 * make one quant when all N are present; files whose name holds "mmproj"
 * are projectors, added to every quant; files holding "imatrix" and files
 * in folders starting with '.' are left out.  A quant's name comes from its
 * file name (ggml_quant_from_filename), else from its folders; "" when
 * neither says (the caller then uses the header's general.file_type).
 */
#define REGISTRY_PLAN_MAX_QUANTS  512

struct registry_plan_quant {
	char name[NAME_MAX_BYTES];   /* q4_k_m, ud-iq1_s; "" = not known from the names */
	size_t *files;               /* listing indexes of its model files, shards in order */
	size_t n_files;
	uint64_t size_bytes;         /* sum of those files' sizes */
};

struct registry_plan {
	struct registry_plan_quant *quants;  /* in the listing's path order */
	size_t n_quants;
	size_t *mmproj;              /* listing indexes of projector files, preferred first
					(f16, bf16, q8_0, f32, then the rest by path) */
	size_t n_mmproj;
	size_t n_skipped;            /* .gguf files left out (incomplete splits, imatrix) */
	char skipped[DIAG_MSG_MAX];  /* why the first one was left out, "" if none */
};

/* Builds the plan of l.  subpath (nullable, "" = everything) keeps only the
 * quant holding that file, or the quants below that folder; a projector
 * file keeps every quant.  quant (nullable) keeps only quants of that name
 * and those whose name is not known yet.  -ENOENT with d when no GGUF model
 * file is left (or subpath is not in l), -EFBIG past
 * REGISTRY_PLAN_MAX_QUANTS, -ENOMEM.  Free with registry_plan_release(). */
int registry_plan_build(const struct registry_listing *l, const char *subpath, const char *quant,
			struct registry_plan *out, struct diag *d) MF_WUR;
void registry_plan_release(struct registry_plan *p);     /* frees and zeroes */
/* Makes every quant name non-empty and unique, once the caller has filled
 * the names it learnt from headers: an empty name, and every name shared by
 * several quants, becomes the name of the quant's file stem without its
 * shard suffix ("qwen3-14b-q4_k_m"), then "-2", "-3" ... if still shared. */
int registry_plan_finish_names(struct registry_plan *p, const struct registry_listing *l) MF_WUR;

/*
 * names: FAMILY, VARIANT and the full name of a model (SPEC §3).  The
 * variant is the repo name without its "-GGUF" suffix (and "-i1", and a
 * leading vendor word such as "Meta-"); for a local path, the GGUF
 * general.basename, size_label, finetune and version; then the folder
 * name; then the file name without quant and shard.  The family is the
 * first word of the variant that names a known family (Llama, Qwen, QwQ,
 * Gemma, Mistral, Mixtral, Phi, DeepSeek, OLMo ...), else the one
 * general.architecture implies, else the variant's first word.  The full
 * name is general.name, else the variant's words.
 */
struct registry_name_hints {
	const char *repo_id;         /* ORG/REPO, NULL for a local path */
	const char *dir_name;        /* a local path's folder name, NULL for a repo */
	const char *file_name;       /* the first model file's path in the repo or folder */
	const char *architecture;    /* general.architecture, nullable */
	const char *basename;        /* general.basename, nullable */
	const char *size_label;      /* general.size_label, nullable */
	const char *finetune;        /* general.finetune, nullable */
	const char *version;         /* general.version, nullable */
	const char *name;            /* general.name, nullable */
};

struct registry_names {
	char family[NAME_MAX_BYTES];
	char variant[NAME_MAX_BYTES];
	char full_name[CONTROL_FULL_NAME_MAX];
};

/* Derives the names from h.  -EINVAL with d when no source yields a name
 * (then family= and variant= must be given). */
int registry_plan_names(const struct registry_name_hints *h, struct registry_names *out,
			struct diag *d) MF_WUR;
/* The family a word or a GGUF architecture name belongs to ("qwq" ->
 * "qwen", "mixtral" -> "mistral", "gemma3" -> "gemma"), NULL when unknown. */
const char *registry_plan_family(const char *word);

/* ------------------------------------------------------------------------
 * registry_blob: the blob store's persistent bookkeeping (issue 6), in the
 * registry database (schema version 2).  Section owned by
 * core/registry_blob.c; cache/blob.c is its only user.
 *
 * A blob is one file's bytes in cache=DIR, keyed by its LFS sha256 (or a
 * key made from repo, revision and path for files without one).  For a
 * partial blob the rows of blob_ranges say which byte ranges of its sparse
 * file are on disk: the store adds a range only after fdatasync() of those
 * bytes, so a range listed here is never fetched again, across remounts
 * and kill -9.  file_id binds the ranges to one partial file (its inode):
 * a partial file replaced behind the store's back is not trusted.
 * remote_files remembers what a HEAD of a Hub file said (size, sha256), so
 * an open works offline after the first online one.
 *
 * Thread-safe (the registry's lock); every call is one transaction.  None
 * of these is on a read path: the store calls them when a batch of ranges
 * is synced, when a blob completes, and at open.
 * ------------------------------------------------------------------------ */
#define REGISTRY_BLOB_KEY_MAX 72     /* bytes of a blob key incl. NUL (64 hex + prefix) */

enum registry_blob_state { REGISTRY_BLOB_PARTIAL = 0, REGISTRY_BLOB_CACHED = 1 };

struct registry_blob {
	char key[REGISTRY_BLOB_KEY_MAX];
	uint64_t size_bytes;
	enum registry_blob_state state;
	uint64_t file_id;            /* inode of the partial file the ranges belong to, 0 = none */
	bool pinned;                 /* .control/download: eviction leaves it */
	int64_t last_used;           /* Unix seconds of the last open, 0 = never */
};

struct registry_range {
	uint64_t off;                /* bytes */
	uint64_t len;                /* bytes, > 0 */
};

struct registry_remote {
	uint64_t size_bytes;
	char sha256[65];             /* lowercase hex LFS oid, "" when the file is not in LFS */
	char commit[41];             /* commit the revision resolved to, "" when not said */
	int64_t checked;             /* Unix seconds of the HEAD */
};

/* One blob's row: 0, -ENOENT, or registry_errno(). */
int registry_blob_get(struct registry *reg, const char *key, struct registry_blob *out) MF_WUR;
/* Inserts or replaces b's row.  Setting state CACHED, or a file_id other
 * than the stored one, deletes the blob's ranges in the same transaction.
 * -EINVAL for an empty or over-long key or a size over INT64_MAX. */
int registry_blob_put(struct registry *reg, const struct registry_blob *b) MF_WUR;
/* Deletes the row and its ranges; 0 when there was none. */
int registry_blob_delete(struct registry *reg, const char *key) MF_WUR;
/* Sets last_used (and pinned when pinned >= 0) of an existing row; 0 when
 * there is none. */
int registry_blob_touch(struct registry *reg, const char *key, int64_t last_used, int pinned) MF_WUR;
/* Every blob row, ordered by last_used then key.  *out: new array (NULL
 * when n is 0), free with free(). */
int registry_blob_list(struct registry *reg, struct registry_blob **out, size_t *n_out) MF_WUR;
/* The ranges of a blob sorted by offset, overlapping and adjacent ones
 * merged.  *out: new array (NULL when none), free with free(). */
int registry_blob_ranges(struct registry *reg, const char *key, struct registry_range **out,
			 size_t *n_out) MF_WUR;
/* Adds n ranges to an existing row in one transaction: -ENOENT when the
 * row is gone (the blob was discarded or evicted meanwhile), -EINVAL for
 * an empty range or one ending past size_bytes. */
int registry_blob_add_ranges(struct registry *reg, const char *key, const struct registry_range *r,
			     size_t n) MF_WUR;
/* Replaces all ranges of a row by r[0..n) (compaction, or n = 0 to drop them). */
int registry_blob_set_ranges(struct registry *reg, const char *key, const struct registry_range *r,
			     size_t n) MF_WUR;

/* What the last HEAD of repo_id@revision:path said: 0, -ENOENT, errno. */
int registry_remote_get(struct registry *reg, const char *repo_id, const char *revision,
			const char *path, struct registry_remote *out) MF_WUR;
int registry_remote_put(struct registry *reg, const char *repo_id, const char *revision,
			const char *path, const struct registry_remote *r) MF_WUR;

#endif /* MODELFS_CORE_H */
