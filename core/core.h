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

struct model_quant {
	char *name;              /* q4_k_m, ud-iq1_s ... */
	char *file_pattern;      /* upstream file name of the first model file */
	uint64_t size_bytes;     /* total of the model files; exact when size_exact */
	bool size_exact;         /* false: estimated from parameter count and bits per weight */
	double bits_per_weight;  /* 0 when unknown */
	int quality_stars;       /* 1..5, 0 when unknown */
	struct model_file *files;
	size_t n_files;
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

#define REGISTRY_SCHEMA_VERSION 1

/* Opens or creates state_dir/registry.db (state_dir must exist), applies
 * migrations up to REGISTRY_SCHEMA_VERSION.  A database from a newer
 * modelfs is refused with -EPROTO.  *out: new, free with registry_close(). */
int registry_open(const char *state_dir, struct registry **out, struct diag *d) MF_WUR;
void registry_close(struct registry *reg);               /* NULL is a no-op */
int registry_errno(int sqlite_rc);                        /* SQLITE_* -> -errno */
int registry_schema_version(struct registry *reg);       /* >= 0, or -errno */

/* Inserts or replaces the variant (keyed by family/variant), its quants and
 * files, in one transaction.  Validates names (parse_is_name) and required
 * fields; -EINVAL with d filled otherwise.  Replacing keeps the benchmark
 * history of quants that still exist. */
int registry_put_variant(struct registry *reg, const struct model_variant *v, struct diag *d) MF_WUR;
/* Removes a variant, or one quant of it when quant is not NULL.  -ENOENT
 * when it is not registered. */
int registry_remove(struct registry *reg, const char *family, const char *variant,
		    const char *quant, struct diag *d) MF_WUR;

/* Small key/value settings (catalog version loaded, ...). *out: new string or NULL. */
int registry_meta_get(struct registry *reg, const char *key, char **out) MF_WUR;
int registry_meta_set(struct registry *reg, const char *key, const char *value) MF_WUR;

/* The persisted hardware profile; a never-set profile is all unknown. */
int registry_hardware_get(struct registry *reg, struct hw_profile *out) MF_WUR;
int registry_hardware_set(struct registry *reg, const struct hw_profile *hw) MF_WUR;

/* Appends one row to the events table (the persistent twin of the log). */
int registry_event_add(struct registry *reg, enum log_level level, const char *msg) MF_WUR;

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
	int refs;                        /* protected by the registry lock */
};

/* Returns the current snapshot with a new reference: release it with
 * registry_snapshot_put().  Thread-safe. */
int registry_snapshot_get(struct registry *reg, struct registry_snapshot **out) MF_WUR;
void registry_snapshot_put(struct registry *reg, struct registry_snapshot *snap);
/* Borrowed pointers, valid while the snapshot is held; NULL when absent. */
const struct model_variant *registry_find_variant(const struct registry_snapshot *s,
						  const char *family, const char *variant);
const struct model_quant *registry_find_quant(const struct model_variant *v, const char *quant);
const struct model_variant *registry_find_repo(const struct registry_snapshot *s, const char *repo_id);

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
int render_models_tsv(const struct registry_snapshot *s, struct sbuf *out);
int render_variant_info(const struct model_variant *v, struct sbuf *out);
int render_variant_arch(const struct model_variant *v, struct sbuf *out);
int render_quant_info(const struct model_variant *v, const struct model_quant *q, struct sbuf *out);
int render_quant_status(const struct model_variant *v, const struct model_quant *q, struct sbuf *out);
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
};

void reader_from_memory(struct reader *r, const void *data, size_t len);
/* Opens path read-only; *r is valid until reader_file_close(). */
int reader_file_open(struct reader *r, const char *path) MF_WUR;
void reader_file_close(struct reader *r);

/* ------------------------------------------------------------------------
 * ggml types and GGUF headers (issue: exact architecture from GGUF).
 * Section owned by core/ggml_types.c and core/gguf.c.
 * ------------------------------------------------------------------------ */
/* @@GGUF@@ */

/* ------------------------------------------------------------------------
 * hfcfg and arch: config.json reader and the normalized architecture.
 * Section owned by core/hfcfg.c and core/arch.c.
 * ------------------------------------------------------------------------ */
/* @@ARCH@@ */

#endif /* MODELFS_CORE_H */
