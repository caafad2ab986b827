/*
 * fs.h - the FUSE layer and the command line.  Only main.c and tests
 * include this header.
 */
#ifndef MODELFS_FS_H
#define MODELFS_FS_H

#include "core.h"

/* The modelfs command: `modelfs MOUNTPOINT [-f] [-d] [-s] [-o ...]`,
 * `modelfs inspect ...`, `modelfs estimate ...`, `modelfs jobs ...`,
 * `--help`, `--version` (SPEC §1).  Returns the process exit status. */
int fs_main(int argc, char *argv[]);

/* @@FS@@ */

/* ------------------------------------------------------------------------
 * tree: the shape of the mount (SPEC §3).
 *
 * A tree is an index over one registry snapshot: the families, and the
 * repo ids grouped by organisation for by-repo/.  It answers two questions,
 * "what is at this path" (tree_resolve) and "what is in this directory"
 * (tree_list), and knows nothing of FUSE, rendering or errno beyond
 * -ENOENT and -ENOTDIR.  Every FUSE operation starts with tree_resolve().
 *
 * Later issues add kinds (model.gguf, vram@..., fits@.../) to the enum and
 * names to the control table; the resolver is the one place paths are
 * matched.
 * ------------------------------------------------------------------------ */
enum tree_kind {
	TREE_ROOT = 1,           /* / */
	TREE_README,             /* /README */
	TREE_REGISTRY_JSON,      /* /registry.json */
	TREE_MODELS_TSV,         /* /models.tsv */
	TREE_BY_REPO,            /* /by-repo/ */
	TREE_REPO_ORG,           /* /by-repo/ORG/ */
	TREE_REPO_LINK,          /* /by-repo/ORG/REPO -> ../../FAMILY/VARIANT */
	TREE_CONTROL,            /* /.control/ */
	TREE_CONTROL_FILE,       /* /.control/NAME (node.ctl says which) */
	TREE_FAMILY,             /* /FAMILY/ */
	TREE_VARIANT,            /* /FAMILY/VARIANT/ */
	TREE_VARIANT_INFO,       /* /FAMILY/VARIANT/info.json */
	TREE_VARIANT_ARCH,       /* /FAMILY/VARIANT/architecture.json */
	TREE_VARIANT_CONFIG,     /* /FAMILY/VARIANT/config.json (when the variant has one) */
	TREE_QUANT,              /* /FAMILY/VARIANT/QUANT/ */
	TREE_QUANT_INFO,         /* /FAMILY/VARIANT/QUANT/info.json */
	TREE_QUANT_STATUS,       /* /FAMILY/VARIANT/QUANT/status */
	TREE_QUANT_BENCHMARK,    /* /FAMILY/VARIANT/QUANT/benchmark.json */
	TREE_QUANT_COMPARE,      /* /FAMILY/VARIANT/QUANT/compare.tsv */
	TREE_QUANT_FILE,         /* /FAMILY/VARIANT/QUANT/model.gguf, shards, mmproj.gguf (node.file says which) */
	TREE_QUANT_PARAM,        /* /FAMILY/VARIANT/QUANT/vram@... and fit@... (SPEC §5; node.params) */
	TREE_RECOMMEND,          /* /recommend@... (node.params) */
	TREE_FITS,               /* /fits@.../ (node.params) */
	TREE_FITS_LINK,          /* /fits@.../FAMILY--VARIANT--QUANT -> ../FAMILY/VARIANT/QUANT */
};

struct tree;
struct ctl_file;             /* a row of the control table (fs/ctl.c) */

/* What a path names.  Every pointer is borrowed: valid while the tree and
 * its snapshot are. */
struct tree_node {
	enum tree_kind kind;
	const char *name;                    /* last path component; "" for the root; for a
						parameterized name, points into the name or path
						the lookup was given */
	const char *family;                  /* FAMILY, for kinds at or below TREE_FAMILY and links */
	const struct model_variant *variant; /* for kinds at or below TREE_VARIANT, and TREE_REPO_LINK */
	const struct model_quant *quant;     /* for kinds at or below TREE_QUANT */
	const char *org;                     /* ORG, for TREE_REPO_ORG and TREE_REPO_LINK */
	const struct ctl_file *ctl;          /* for TREE_CONTROL_FILE */
	const struct model_file *file;       /* for TREE_QUANT_FILE */
	struct vram_params params;           /* parsed name, for TREE_QUANT_PARAM, TREE_RECOMMEND,
						TREE_FITS and TREE_FITS_LINK (the directory's) */
};

/* Called by tree_list() once per entry; a non-zero return stops the
 * listing and becomes tree_list()'s return value. */
typedef int (*tree_fill_fn)(void *arg, const char *name, const struct tree_node *child);

/* Life cycle.  tree_new() indexes snap, which it borrows: snap must outlive
 * the tree.  *out: new, free with tree_free().  -ENOMEM. */
int tree_new(const struct registry_snapshot *snap, struct tree **out) MF_WUR;
void tree_free(struct tree *t);              /* NULL is a no-op */

/* Queries; all thread-safe on a shared tree (it is immutable). */
const struct registry_snapshot *tree_snapshot(const struct tree *t);
/* Resolves an absolute path as libfuse passes it ("/", "/llama/x/q4_k_m").
 * 0 and *out filled, or -ENOENT for anything the tree does not show: empty
 * components ("//", a trailing '/'), "." and "..", components over 255
 * bytes, paths over 4095 bytes, and unknown names. */
int tree_resolve(const struct tree *t, const char *path, struct tree_node *out) MF_WUR;
/* The same, and -EINVAL with d (nullable) saying what is wrong when a
 * component is a parameterized name (SPEC §5) of a kind this directory
 * holds (vram@ and fit@ in a QUANT directory, recommend@ and fits@ at the
 * root) whose parameters do not parse.  A name of another kind is -ENOENT.
 * Whether the parameters suit the model (ctx=max of a model whose context
 * is unknown), or the quant behind a fits@ link fits, is the estimator's
 * question, not the tree's. */
int tree_resolve_diag(const struct tree *t, const char *path, struct tree_node *out,
		      struct diag *d) MF_WUR;
/* Resolves one name inside directory dir: 0, -ENOENT, -ENOTDIR, or
 * -EINVAL as tree_resolve_diag. */
int tree_lookup(const struct tree *t, const struct tree_node *dir, const char *name,
		struct tree_node *out) MF_WUR;
/* Calls fill for every entry of dir (not "." and ".."), in a stable order.
 * 0, fill's non-zero return, or -ENOTDIR.  A QUANT directory lists SPEC
 * §3's example names vram@ctx=4096, 8192, 32768 and max when its variant
 * has an architecture and the quant a size (ctx=max only with a known
 * context).  What depends on the hardware profile is not listed here: the
 * fit@ example, the root's recommend@ and fits@ examples, and the links of
 * a fits@ directory (none; tree_fits_name() names them). */
int tree_list(const struct tree *t, const struct tree_node *dir, tree_fill_fn fill, void *arg) MF_WUR;
/* Whether the estimator can judge the quant of n (a node at or below a
 * QUANT directory): its variant has an architecture and the quant a size.
 * Such a QUANT directory lists the vram@ examples. */
bool tree_has_estimate(const struct tree_node *n);
/* Number of subdirectories of dir (for st_nlink); 0 for non-directories. */
size_t tree_count_subdirs(const struct tree *t, const struct tree_node *dir);
bool tree_is_dir(enum tree_kind kind);
/* Appends a symlink's target ("../../FAMILY/VARIANT", or for a fits@ link
 * "../FAMILY/VARIANT/QUANT") to out: 0, -EINVAL when n is not a link, or
 * out->err. */
int tree_link_target(const struct tree_node *n, struct sbuf *out) MF_WUR;
/* The name of q's link in a fits@ directory, "FAMILY--VARIANT--QUANT", in
 * buf: 0, or -ENAMETOOLONG when it does not fit in size bytes or in one
 * component.  tree_lookup() of the name in a fits@ directory finds q again
 * (unless another quant's names join to the same string). */
int tree_fits_name(const struct model_variant *v, const struct model_quant *q, char *buf,
		   size_t size) MF_WUR;
/* The name of a control file ("unregister"), or NULL when n is not one. */
const char *tree_ctl_name(const struct tree_node *n);

#endif /* MODELFS_FS_H */
