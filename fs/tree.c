/*
 * tree.c - the shape of the mount: which path names what.
 *
 * The mount is a pure function of a registry snapshot (SPEC §3):
 *
 *   /README /registry.json /models.tsv
 *   /by-repo/ORG/REPO -> ../../FAMILY/VARIANT
 *   /.control/NAME                          (the table in ctl.c)
 *   /FAMILY/VARIANT/{info.json,architecture.json,config.json}
 *   /FAMILY/VARIANT/QUANT/{info.json,status}
 *   /FAMILY/VARIANT/QUANT/{vram@...,fit@...}  (SPEC §5)
 *   /recommend@...  /fits@.../FAMILY--VARIANT--QUANT -> ../FAMILY/VARIANT/QUANT
 *
 * Parameterized names are parsed here, by core's vram_parse_params(), so
 * that a bad one fails at lookup with EINVAL and the parser's message
 * (the node carries the parsed parameters); a name whose KIND does not
 * belong in the directory is simply absent.  Which quants fit, and the
 * names that depend on the hardware profile, are fs's business (ops.c):
 * the tree is a function of the snapshot alone.  A fits@ link name joins
 * three names with "--", which names may hold themselves, so its lookup
 * tries every split; each try is three binary searches.
 *
 * A struct tree is a small index built once per snapshot generation and
 * then shared, read-only, by every FUSE thread.  The snapshot already
 * keeps variants sorted by (family, variant) and quants by name, so
 * FAMILY/VARIANT/QUANT lookups are core's binary searches; what the
 * snapshot lacks is an index of families (for "/FAMILY" and the root
 * listing) and of repo ids (for by-repo/).  The first is one pass over the
 * sorted variants; the second is the variants with a usable "ORG/REPO" id,
 * sorted by (ORG, REPO) so that one organisation's repos are contiguous,
 * and the list of organisations over it.  Both make every lookup
 * O(log n): `ls -lR` of 10,000 models performs some 100,000 lookups, and a
 * linear scan of the repos for each by-repo link alone would cost 10^8
 * string compares.  Building the index for 10,000 variants takes about a
 * millisecond, once per registry change.
 *
 * Names the user can type are compared byte for byte.  Repo ids keep the
 * case the Hub gave them.  Fixed names win over registered ones: a family
 * called "by-repo" or a quant called "info.json" (both valid names under
 * SPEC §3's pattern) are neither listed nor reachable, rather than listed
 * twice with one of them unreachable.
 *
 * The resolver is strict about shapes the kernel never sends: empty
 * components, "." and "..", over-long names and paths are -ENOENT, so no
 * caller has to wonder what "/a//b" or "/a/../b" mean here.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"

#define TREE_PATH_MAX 4095     /* bytes, as the kernel's PATH_MAX less the NUL */
#define TREE_NAME_MAX 255      /* bytes of one component */

struct tree_family {
	const char *name;      /* borrowed from the snapshot's first variant of the family */
	size_t first;          /* index of that variant in snap->variants */
	size_t n;              /* how many variants follow, all of this family */
};

struct tree_org {
	char *name;            /* new: the ORG of a repo id */
	size_t first;          /* index into tree.repos */
	size_t n;              /* repos of this organisation */
};

struct tree {
	const struct registry_snapshot *snap;   /* borrowed */
	struct tree_family *families;           /* sorted by name (strcmp) */
	size_t n_families;
	const struct model_variant **repos;     /* sorted by (ORG, REPO); one per repo id */
	size_t n_repos;
	struct tree_org *orgs;                  /* sorted by name (strcmp) */
	size_t n_orgs;
};

static const char *const root_fixed[] = { "README", "registry.json", "models.tsv", "by-repo", ".control" };
static const char *const variant_fixed[] = { "info.json", "architecture.json", "config.json" };

static bool name_is_listable(const char *s)
{
	size_t len;

	if (!s || !s[0] || strchr(s, '/'))
		return false;
	len = strlen(s);
	if (len > TREE_NAME_MAX)
		return false;
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static bool name_in(const char *name, const char *const *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, set[i]) == 0)
			return true;
	return false;
}

/* The ORG/REPO split of a usable repo id: exactly one '/', both sides
 * listable names. */
static bool repo_split(const char *repo_id, size_t *org_len, const char **repo)
{
	const char *slash;
	size_t olen;

	if (!repo_id)
		return false;
	slash = strchr(repo_id, '/');
	if (!slash || strchr(slash + 1, '/'))
		return false;
	olen = (size_t)(slash - repo_id);
	if (olen == 0 || olen > TREE_NAME_MAX || !name_is_listable(slash + 1))
		return false;
	if ((olen == 1 && repo_id[0] == '.') || (olen == 2 && repo_id[0] == '.' && repo_id[1] == '.'))
		return false;
	*org_len = olen;
	*repo = slash + 1;
	return true;
}

static int org_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = memcmp(a, b, n);

	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

static int repo_cmp(const void *pa, const void *pb)
{
	const struct model_variant *a = *(const struct model_variant *const *)pa;
	const struct model_variant *b = *(const struct model_variant *const *)pb;
	size_t alen = 0, blen = 0;
	const char *arepo = "", *brepo = "";
	int c;

	repo_split(a->repo_id, &alen, &arepo);
	repo_split(b->repo_id, &blen, &brepo);
	c = org_cmp(a->repo_id, alen, b->repo_id, blen);
	if (c)
		return c;
	c = strcmp(arepo, brepo);
	if (c)
		return c;
	return (a > b) - (a < b);
}

static int family_cmp(const void *pa, const void *pb)
{
	const struct tree_family *a = pa, *b = pb;

	return strcmp(a->name, b->name);
}

static int tree_index_families(struct tree *t)
{
	const struct registry_snapshot *s = t->snap;
	size_t i;

	t->families = calloc(s->n_variants ? s->n_variants : 1, sizeof(*t->families));
	if (!t->families)
		return -ENOMEM;
	for (i = 0; i < s->n_variants; i++) {
		const char *fam = s->variants[i].family;
		struct tree_family *last = t->n_families ? &t->families[t->n_families - 1] : NULL;

		if (!name_is_listable(fam) || !name_is_listable(s->variants[i].variant))
			continue;
		if (last && strcmp(last->name, fam) == 0 && last->first + last->n == i) {
			last->n++;
			continue;
		}
		t->families[t->n_families].name = fam;
		t->families[t->n_families].first = i;
		t->families[t->n_families].n = 1;
		t->n_families++;
	}
	qsort(t->families, t->n_families, sizeof(*t->families), family_cmp);
	return 0;
}

static int tree_index_repos(struct tree *t)
{
	const struct registry_snapshot *s = t->snap;
	size_t i, n = 0, kept = 0;

	t->repos = calloc(s->n_variants ? s->n_variants : 1, sizeof(*t->repos));
	if (!t->repos)
		return -ENOMEM;
	for (i = 0; i < s->n_variants; i++) {
		const struct model_variant *v = &s->variants[i];
		size_t olen;
		const char *repo;

		if (!name_is_listable(v->family) || !name_is_listable(v->variant) ||
		    name_in(v->family, root_fixed, sizeof(root_fixed) / sizeof(root_fixed[0])))
			continue;
		if (repo_split(v->repo_id, &olen, &repo))
			t->repos[n++] = v;
	}
	qsort(t->repos, n, sizeof(*t->repos), repo_cmp);
	for (i = 0; i < n; i++) {
		if (kept && strcmp(t->repos[kept - 1]->repo_id, t->repos[i]->repo_id) == 0)
			continue;
		t->repos[kept++] = t->repos[i];
	}
	t->n_repos = kept;

	t->orgs = calloc(kept ? kept : 1, sizeof(*t->orgs));
	if (!t->orgs)
		return -ENOMEM;
	for (i = 0; i < kept; i++) {
		const char *id = t->repos[i]->repo_id;
		const char *repo;
		size_t olen;
		struct tree_org *last = t->n_orgs ? &t->orgs[t->n_orgs - 1] : NULL;

		repo_split(id, &olen, &repo);
		if (last && strlen(last->name) == olen && memcmp(last->name, id, olen) == 0) {
			last->n++;
			continue;
		}
		t->orgs[t->n_orgs].name = strndup(id, olen);
		if (!t->orgs[t->n_orgs].name)
			return -ENOMEM;
		t->orgs[t->n_orgs].first = i;
		t->orgs[t->n_orgs].n = 1;
		t->n_orgs++;
	}
	return 0;
}

int tree_new(const struct registry_snapshot *snap, struct tree **out)
{
	struct tree *t;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->snap = snap;
	rc = tree_index_families(t);
	if (rc)
		goto out_free;
	rc = tree_index_repos(t);
	if (rc)
		goto out_free;
	*out = t;
	return 0;

out_free:
	tree_free(t);
	return rc;
}

void tree_free(struct tree *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n_orgs; i++)
		free(t->orgs[i].name);
	free(t->orgs);
	free(t->repos);
	free(t->families);
	free(t);
}

const struct registry_snapshot *tree_snapshot(const struct tree *t)
{
	return t->snap;
}

bool tree_is_dir(enum tree_kind kind)
{
	switch (kind) {
	case TREE_ROOT:
	case TREE_BY_REPO:
	case TREE_REPO_ORG:
	case TREE_CONTROL:
	case TREE_FAMILY:
	case TREE_VARIANT:
	case TREE_QUANT:
	case TREE_FITS:
		return true;
	default:
		return false;
	}
}

static const struct tree_family *family_find(const struct tree *t, const char *name)
{
	size_t lo = 0, hi = t->n_families;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, t->families[mid].name);

		if (c == 0)
			return &t->families[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct tree_org *org_find(const struct tree *t, const char *name)
{
	size_t lo = 0, hi = t->n_orgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, t->orgs[mid].name);

		if (c == 0)
			return &t->orgs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct model_variant *org_find_repo(const struct tree *t, const struct tree_org *o,
						 const char *repo)
{
	size_t lo = o->first, hi = o->first + o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		size_t olen;
		const char *mrepo;
		int c;

		repo_split(t->repos[mid]->repo_id, &olen, &mrepo);
		c = strcmp(repo, mrepo);
		if (c == 0)
			return t->repos[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void node_set(struct tree_node *n, enum tree_kind kind, const char *name)
{
	const char *family = n->family;
	const struct model_variant *v = n->variant;
	const struct model_quant *q = n->quant;
	const char *org = n->org;
	struct vram_params params = n->params;

	memset(n, 0, sizeof(*n));
	n->params = params;
	n->kind = kind;
	n->name = name;
	n->family = family;
	n->variant = v;
	n->quant = q;
	n->org = org;
}

static int lookup_root(const struct tree *t, const char *name, struct tree_node *out)
{
	const struct tree_family *f;

	memset(out, 0, sizeof(*out));
	if (strcmp(name, "README") == 0)
		node_set(out, TREE_README, "README");
	else if (strcmp(name, "registry.json") == 0)
		node_set(out, TREE_REGISTRY_JSON, "registry.json");
	else if (strcmp(name, "models.tsv") == 0)
		node_set(out, TREE_MODELS_TSV, "models.tsv");
	else if (strcmp(name, "by-repo") == 0)
		node_set(out, TREE_BY_REPO, "by-repo");
	else if (strcmp(name, ".control") == 0)
		node_set(out, TREE_CONTROL, ".control");
	else if ((f = family_find(t, name)) != NULL) {
		out->family = f->name;
		node_set(out, TREE_FAMILY, f->name);
	} else
		return -ENOENT;
	return 0;
}

static int lookup_variant_child(const struct tree_node *dir, const char *name, struct tree_node *out)
{
	const struct model_variant *v = dir->variant;
	const struct model_quant *q;

	*out = *dir;
	out->ctl = NULL;
	out->org = NULL;
	if (strcmp(name, "info.json") == 0) {
		node_set(out, TREE_VARIANT_INFO, "info.json");
		return 0;
	}
	if (strcmp(name, "architecture.json") == 0) {
		node_set(out, TREE_VARIANT_ARCH, "architecture.json");
		return 0;
	}
	if (strcmp(name, "config.json") == 0) {
		if (!v->config_json)
			return -ENOENT;
		node_set(out, TREE_VARIANT_CONFIG, "config.json");
		return 0;
	}
	q = registry_find_quant(v, name);
	if (!q || !name_is_listable(q->name))
		return -ENOENT;
	out->quant = q;
	node_set(out, TREE_QUANT, q->name);
	return 0;
}

/* The file of q shown as name (model.gguf, a shard, mmproj.gguf): the
 * first with that name, or NULL.  The registry keeps names unique per
 * quant; the check keeps a listing and a lookup in agreement anyway. */
static const struct model_file *quant_file_find(const struct model_quant *q, const char *name)
{
	size_t i;

	for (i = 0; q && i < q->n_files; i++)
		if (q->files[i].name && strcmp(q->files[i].name, name) == 0)
			return &q->files[i];
	return NULL;
}

/* A parameterized name "KIND@..." whose KIND is in allowed (bits 1 <<
 * enum vram_kind): out->params parsed, and the node kind that shows it.
 * -ENOENT for another KIND, -EINVAL with d for bad parameters. */
static int lookup_param(const char *name, unsigned allowed, struct tree_node *out, struct diag *d)
{
	static const enum vram_kind kinds[] = {
		VRAM_KIND_VRAM, VRAM_KIND_FIT, VRAM_KIND_RECOMMEND, VRAM_KIND_FITS,
	};
	static const enum tree_kind shown_as[] = {
		TREE_QUANT_PARAM, TREE_QUANT_PARAM, TREE_RECOMMEND, TREE_FITS,
	};
	const char *at = strchr(name, '@');
	size_t klen, i;
	int rc;

	if (!at)
		return -ENOENT;
	klen = (size_t)(at - name);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *kn = vram_kind_name(kinds[i]);

		if (!(allowed & (1u << kinds[i])) || strlen(kn) != klen || memcmp(kn, name, klen) != 0)
			continue;
		rc = vram_parse_params(kinds[i], at + 1, &out->params, d);
		if (rc)
			return rc;
		node_set(out, shown_as[i], name);
		return 0;
	}
	return -ENOENT;
}

static int tree_lookup_diag(const struct tree *t, const struct tree_node *dir, const char *name,
			    struct tree_node *out, struct diag *d);

/* A fits@ link, FAMILY--VARIANT--QUANT, found as the tree finds the three
 * names (so its target resolves): every split at "--" is tried, the
 * shortest family and variant first. */
static int lookup_fits_link(const struct tree *t, const struct tree_node *dir, const char *name,
			    struct tree_node *out)
{
	char family[TREE_NAME_MAX + 1], variant[TREE_NAME_MAX + 1];
	struct tree_node fn, vn, qn;
	const char *s1, *s2;
	size_t flen, vlen;

	for (s1 = strstr(name, "--"); s1; s1 = strstr(s1 + 1, "--")) {
		flen = (size_t)(s1 - name);
		memcpy(family, name, flen);
		family[flen] = '\0';
		if (lookup_root(t, family, &fn) != 0 || fn.kind != TREE_FAMILY)
			continue;
		for (s2 = strstr(s1 + 2, "--"); s2; s2 = strstr(s2 + 1, "--")) {
			vlen = (size_t)(s2 - (s1 + 2));
			memcpy(variant, s1 + 2, vlen);
			variant[vlen] = '\0';
			if (tree_lookup_diag(t, &fn, variant, &vn, NULL) != 0 || vn.kind != TREE_VARIANT)
				continue;
			if (tree_lookup_diag(t, &vn, s2 + 2, &qn, NULL) != 0 || qn.kind != TREE_QUANT)
				continue;
			*out = qn;
			out->params = dir->params;
			node_set(out, TREE_FITS_LINK, name);
			return 0;
		}
	}
	return -ENOENT;
}

int tree_lookup(const struct tree *t, const struct tree_node *dir, const char *name, struct tree_node *out)
{
	return tree_lookup_diag(t, dir, name, out, NULL);
}

static int tree_lookup_diag(const struct tree *t, const struct tree_node *dir, const char *name,
			    struct tree_node *out, struct diag *d)
{
	const struct model_file *file;
	const struct tree_family *f;
	const struct tree_org *o;
	const struct model_variant *v;
	const struct ctl_file *ctl;

	if (!tree_is_dir(dir->kind))
		return -ENOTDIR;
	if (!name_is_listable(name))
		return -ENOENT;
	switch (dir->kind) {
	case TREE_ROOT:
		if (strchr(name, '@')) {
			memset(out, 0, sizeof(*out));
			return lookup_param(name, 1u << VRAM_KIND_RECOMMEND | 1u << VRAM_KIND_FITS, out, d);
		}
		return lookup_root(t, name, out);
	case TREE_FITS:
		return lookup_fits_link(t, dir, name, out);
	case TREE_BY_REPO:
		o = org_find(t, name);
		if (!o)
			return -ENOENT;
		memset(out, 0, sizeof(*out));
		out->org = o->name;
		node_set(out, TREE_REPO_ORG, o->name);
		return 0;
	case TREE_REPO_ORG:
		o = org_find(t, dir->org);
		v = o ? org_find_repo(t, o, name) : NULL;
		if (!v)
			return -ENOENT;
		memset(out, 0, sizeof(*out));
		out->org = o->name;
		out->family = v->family;
		out->variant = v;
		node_set(out, TREE_REPO_LINK, strchr(v->repo_id, '/') + 1);
		return 0;
	case TREE_CONTROL:
		ctl = ctl_find(name);
		if (!ctl)
			return -ENOENT;
		memset(out, 0, sizeof(*out));
		node_set(out, TREE_CONTROL_FILE, ctl->name);
		out->ctl = ctl;
		return 0;
	case TREE_FAMILY:
		f = family_find(t, dir->family);
		if (!f)
			return -ENOENT;
		v = registry_find_variant(t->snap, f->name, name);
		if (!v || !name_is_listable(v->variant))
			return -ENOENT;
		memset(out, 0, sizeof(*out));
		out->family = f->name;
		out->variant = v;
		node_set(out, TREE_VARIANT, v->variant);
		return 0;
	case TREE_VARIANT:
		return lookup_variant_child(dir, name, out);
	case TREE_QUANT:
		*out = *dir;
		if (strcmp(name, "info.json") == 0)
			node_set(out, TREE_QUANT_INFO, "info.json");
		else if (strcmp(name, "status") == 0)
			node_set(out, TREE_QUANT_STATUS, "status");
		else if (strcmp(name, "benchmark.json") == 0)
			node_set(out, TREE_QUANT_BENCHMARK, "benchmark.json");
		else if (strcmp(name, "compare.tsv") == 0)
			node_set(out, TREE_QUANT_COMPARE, "compare.tsv");
		else if ((file = quant_file_find(dir->quant, name)) != NULL) {
			node_set(out, TREE_QUANT_FILE, file->name);
			out->file = file;
		} else if (strchr(name, '@'))
			return lookup_param(name, 1u << VRAM_KIND_VRAM | 1u << VRAM_KIND_FIT, out, d);
		else
			return -ENOENT;
		return 0;
	default:
		return -ENOTDIR;
	}
}

int tree_resolve(const struct tree *t, const char *path, struct tree_node *out)
{
	return tree_resolve_diag(t, path, out, NULL);
}

int tree_resolve_diag(const struct tree *t, const char *path, struct tree_node *out, struct diag *d)
{
	char comp[TREE_NAME_MAX + 1];
	struct tree_node cur, next;
	const char *p, *end;
	size_t len;
	int rc;

	if (!path || path[0] != '/')
		return -ENOENT;
	len = strnlen(path, TREE_PATH_MAX + 1);
	if (len > TREE_PATH_MAX)
		return -ENOENT;
	memset(&cur, 0, sizeof(cur));
	cur.kind = TREE_ROOT;
	cur.name = "";
	if (len == 1) {
		*out = cur;
		return 0;
	}
	p = path + 1;
	for (;;) {
		end = strchr(p, '/');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0 || len > TREE_NAME_MAX)
			return -ENOENT;
		memcpy(comp, p, len);
		comp[len] = '\0';
		rc = tree_lookup_diag(t, &cur, comp, &next, d);
		if (rc)
			return rc == -EINVAL ? -EINVAL : -ENOENT;
		if (next.name == comp)
			next.name = end ? "" : p;
		cur = next;
		if (!end)
			break;
		p = end + 1;
	}
	*out = cur;
	return 0;
}

static int list_root(const struct tree *t, tree_fill_fn fill, void *arg)
{
	struct tree_node n;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(root_fixed) / sizeof(root_fixed[0]); i++) {
		rc = lookup_root(t, root_fixed[i], &n);
		if (rc == 0)
			rc = fill(arg, n.name, &n);
		if (rc)
			return rc;
	}
	for (i = 0; i < t->n_families; i++) {
		const struct tree_family *f = &t->families[i];

		if (name_in(f->name, root_fixed, sizeof(root_fixed) / sizeof(root_fixed[0])))
			continue;
		memset(&n, 0, sizeof(n));
		n.family = f->name;
		node_set(&n, TREE_FAMILY, f->name);
		rc = fill(arg, n.name, &n);
		if (rc)
			return rc;
	}
	return 0;
}

static int list_variant(const struct tree_node *dir, tree_fill_fn fill, void *arg)
{
	const struct model_variant *v = dir->variant;
	struct tree_node n;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(variant_fixed) / sizeof(variant_fixed[0]); i++) {
		if (lookup_variant_child(dir, variant_fixed[i], &n))
			continue;
		rc = fill(arg, n.name, &n);
		if (rc)
			return rc;
	}
	for (i = 0; i < v->n_quants; i++) {
		const struct model_quant *q = &v->quants[i];

		if (!name_is_listable(q->name) ||
		    name_in(q->name, variant_fixed, sizeof(variant_fixed) / sizeof(variant_fixed[0])))
			continue;
		n = *dir;
		n.quant = q;
		node_set(&n, TREE_QUANT, q->name);
		rc = fill(arg, n.name, &n);
		if (rc)
			return rc;
	}
	return 0;
}

/* vram_model_from_variant's needs. */
bool tree_has_estimate(const struct tree_node *dir)
{
	const struct model_quant *q = dir->quant;
	uint64_t model = 0;
	bool all_sized;
	size_t i;

	if (!q || !dir->variant || !dir->variant->arch_json)
		return false;
	all_sized = q->n_files > 0;
	for (i = 0; i < q->n_files; i++) {
		if (q->files[i].role == FILE_ROLE_MMPROJ)
			continue;
		model += q->files[i].size_bytes;
		all_sized &= q->files[i].size_bytes != 0;
	}
	return (all_sized && model) || q->size_bytes;
}

/* SPEC §3's example names of a QUANT directory. */
static int list_quant_examples(const struct tree *t, const struct tree_node *dir, tree_fill_fn fill,
			       void *arg)
{
	static const char *const examples[] = {
		"vram@ctx=4096", "vram@ctx=8192", "vram@ctx=32768", "vram@ctx=max",
	};
	struct tree_node n;
	size_t i;
	int rc;

	if (!tree_has_estimate(dir))
		return 0;
	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		if (strcmp(examples[i], "vram@ctx=max") == 0 && !dir->variant->context_window)
			continue;
		rc = tree_lookup(t, dir, examples[i], &n);
		if (rc == 0)
			rc = fill(arg, n.name, &n);
		if (rc)
			return rc;
	}
	return 0;
}

int tree_list(const struct tree *t, const struct tree_node *dir, tree_fill_fn fill, void *arg)
{
	static const char *const quant_fixed[] = { "info.json", "status", "benchmark.json", "compare.tsv" };
	const struct tree_family *f;
	const struct tree_org *o;
	const struct ctl_file *ctls;
	struct tree_node n;
	size_t i, n_ctl;
	int rc;

	switch (dir->kind) {
	case TREE_ROOT:
		return list_root(t, fill, arg);
	case TREE_BY_REPO:
		for (i = 0; i < t->n_orgs; i++) {
			memset(&n, 0, sizeof(n));
			n.org = t->orgs[i].name;
			node_set(&n, TREE_REPO_ORG, t->orgs[i].name);
			rc = fill(arg, n.name, &n);
			if (rc)
				return rc;
		}
		return 0;
	case TREE_REPO_ORG:
		o = org_find(t, dir->org);
		for (i = 0; o && i < o->n; i++) {
			const struct model_variant *v = t->repos[o->first + i];

			memset(&n, 0, sizeof(n));
			n.org = o->name;
			n.family = v->family;
			n.variant = v;
			node_set(&n, TREE_REPO_LINK, strchr(v->repo_id, '/') + 1);
			rc = fill(arg, n.name, &n);
			if (rc)
				return rc;
		}
		return 0;
	case TREE_CONTROL:
		ctls = ctl_table(&n_ctl);
		for (i = 0; i < n_ctl; i++) {
			memset(&n, 0, sizeof(n));
			node_set(&n, TREE_CONTROL_FILE, ctls[i].name);
			n.ctl = &ctls[i];
			rc = fill(arg, n.name, &n);
			if (rc)
				return rc;
		}
		return 0;
	case TREE_FAMILY:
		f = family_find(t, dir->family);
		for (i = 0; f && i < f->n; i++) {
			const struct model_variant *v = &t->snap->variants[f->first + i];

			memset(&n, 0, sizeof(n));
			n.family = f->name;
			n.variant = v;
			node_set(&n, TREE_VARIANT, v->variant);
			rc = fill(arg, n.name, &n);
			if (rc)
				return rc;
		}
		return 0;
	case TREE_VARIANT:
		return list_variant(dir, fill, arg);
	case TREE_QUANT:
		for (i = 0; i < sizeof(quant_fixed) / sizeof(quant_fixed[0]); i++) {
			rc = tree_lookup(t, dir, quant_fixed[i], &n);
			if (rc == 0)
				rc = fill(arg, n.name, &n);
			if (rc)
				return rc;
		}
		for (i = 0; dir->quant && i < dir->quant->n_files; i++) {
			const struct model_file *file = &dir->quant->files[i];

			if (quant_file_find(dir->quant, file->name) != file)
				continue;
			n = *dir;
			node_set(&n, TREE_QUANT_FILE, file->name);
			n.file = file;
			rc = fill(arg, n.name, &n);
			if (rc)
				return rc;
		}
		return list_quant_examples(t, dir, fill, arg);
	case TREE_FITS:
		return 0;
	default:
		return -ENOTDIR;
	}
}

static int count_dirs(void *arg, const char *name, const struct tree_node *child)
{
	size_t *count = arg;

	if (tree_is_dir(child->kind))
		(*count)++;
	return 0;
}

size_t tree_count_subdirs(const struct tree *t, const struct tree_node *dir)
{
	const struct tree_family *f;
	size_t count = 0;

	switch (dir->kind) {
	case TREE_BY_REPO:
		return t->n_orgs;
	case TREE_FAMILY:
		f = family_find(t, dir->family);
		return f ? f->n : 0;
	case TREE_REPO_ORG:
	case TREE_CONTROL:
		return 0;
	case TREE_ROOT:
	case TREE_VARIANT:
	case TREE_QUANT:
		if (tree_list(t, dir, count_dirs, &count))
			return 0;
		return count;
	default:
		return 0;
	}
}

int tree_link_target(const struct tree_node *n, struct sbuf *out)
{
	if (n->kind == TREE_FITS_LINK && n->variant && n->quant) {
		sbuf_addstr(out, "../");
		sbuf_addstr(out, n->variant->family);
		sbuf_addch(out, '/');
		sbuf_addstr(out, n->variant->variant);
		sbuf_addch(out, '/');
		return sbuf_addstr(out, n->quant->name);
	}
	if (n->kind != TREE_REPO_LINK || !n->variant)
		return -EINVAL;
	sbuf_addstr(out, "../../");
	sbuf_addstr(out, n->variant->family);
	sbuf_addch(out, '/');
	return sbuf_addstr(out, n->variant->variant);
}

int tree_fits_name(const struct model_variant *v, const struct model_quant *q, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%s--%s--%s", v->family, v->variant, q->name);

	if (len < 0 || (size_t)len >= size || len > TREE_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

const char *tree_ctl_name(const struct tree_node *n)
{
	if (n->kind != TREE_CONTROL_FILE || !n->ctl)
		return NULL;
	return n->ctl->name;
}
