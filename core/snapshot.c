/*
 * snapshot.c - immutable, refcounted in-memory copies of the registry.
 *
 * Every FUSE operation needs to know what is registered: a lookup of
 * FAMILY/VARIANT/QUANT, a readdir, rendering registry.json.  Asking SQLite
 * each time would put a query, the connection's mutex and possibly a
 * checkpoint's fsync on the hot path of every stat.  Instead the registry
 * keeps a snapshot: the whole content of the variants, quants and files
 * tables as plain C structs, sorted by (family, variant) with each
 * variant's quants sorted by name, so lookups are binary searches over
 * memory that never changes.
 *
 * A snapshot is built from the database inside the writing transaction
 * (registry.c: registry_tx_publish), after the changes and before the
 * COMMIT, so the four queries below see one consistent state and a failed
 * build rolls the change back.  Each query walks an index in order and
 * joins nothing: variants in (family, variant) order, quants in (variant
 * id, name) order, files in (quant id, position) order, benchmark runs in
 * (quant id, started, id) order.  Children therefore arrive grouped
 * by parent id, ascending, and are attached by walking a parent id map
 * (sorted once with qsort) with a cursor that only moves forward.  SQLite's
 * ORDER BY uses the BINARY collation, memcmp order, which is strcmp order,
 * the order the binary searches assume.  Joins ordered by the parent's
 * names cost twice as much: SQLite then sorts the files in a temp b-tree.
 *
 * Lifetime: the registry holds one reference to the current snapshot; each
 * reader takes one more with registry_snapshot_get() and drops it with
 * registry_snapshot_put().  Publishing a new snapshot swaps the pointer and
 * drops the registry's reference to the old one, which is freed when its
 * last reader lets go.  The reference counts and the pointer are protected
 * by reg->snap_lock, a lock held only for the swap or an increment, never
 * across database work.  Memory: a snapshot holds each variant's JSON texts
 * (architecture.json, config.json: a few KiB each), so 10,000 variants
 * take some tens of MiB, and a writer briefly holds two.
 *
 * by_repo is a second index, the variants sorted by repo_id with ASCII case
 * folded (the Hub treats repo ids case-insensitively), for by-repo/ORG/REPO
 * lookups.  A snapshot built by hand (tests, renderers) may leave it NULL;
 * registry_find_repo() then scans.
 *
 * Benchmark runs (registry_bench.c) are stored as the JSON text of
 * bench_run_to_json() and read back with bench_run_from_json(), oldest
 * first, into model_quant.bench.  A row that does not read back (written
 * by hand, or by a modelfs that wrote another form) is skipped, not
 * fatal: a benchmark's history must never make the registry unreadable.
 * It is logged once per process (the highest such row id is remembered),
 * not at every rebuild.  A run costs one JSON parse per rebuild, some
 * 10-20 us for a typical llama-bench output kept in raw, so even a
 * thousand runs add little to the figure below.
 *
 * A quant's weights layout (quant_layouts, schema 3) comes with its row
 * through a LEFT JOIN on the layout's primary key: one b-tree lookup per
 * quant, no sort.
 *
 * Speed: for 10,000 variants with 5 quants of one file each (110,000 rows),
 * a registry_put_variant() with its rebuild takes about 0.2 s of CPU on
 * this machine (test_registry prints the figure), about half of it SQLite
 * decoding rows and most of the rest one allocation per string.  The
 * ordered joins this replaced took three times as long.
 */
#include "core.h"
#include "registry_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sqlite3.h>

static const char snapshot_sql_count[] = "SELECT count(*) FROM variants";

static const char snapshot_sql_variants[] =
	"SELECT v.id, v.family, v.variant, v.full_name, r.repo_id, r.revision, r.base_repo,"
	" v.architecture, r.origin, v.params_b, v.params_exact, v.context_window, v.multimodal,"
	" v.arch_json, v.config_json, v.extra_json"
	" FROM variants v JOIN repos r ON r.id = v.repo"
	" ORDER BY v.family, v.variant";

static const char snapshot_sql_quants[] =
	"SELECT q.variant, q.id, q.name, q.file_pattern, q.size_bytes, q.size_exact, q.bits_per_weight,"
	" q.quality_stars, l.layout"
	" FROM quants q LEFT JOIN quant_layouts l ON l.quant = q.id ORDER BY q.variant, q.name";

static const char snapshot_sql_files[] =
	"SELECT quant, name, upstream, size_bytes, sha256, role"
	" FROM files ORDER BY quant, position";

static const char snapshot_sql_bench[] =
	"SELECT quant, id, result_json FROM benchmarks ORDER BY quant, id";

/* The highest benchmarks row id already logged as unreadable. */
static _Atomic int64_t snapshot_bench_warned;

/* A row id and the struct built from that row. */
struct id_map {
	int64_t id;
	void *ptr;
};

/* A growable array of elements of one size: the rows of one parent while
 * they are read, or an id map. */
struct grow {
	void *items;
	size_t n, alloc, size;
};

static void *grow_push(struct grow *g)
{
	size_t alloc;
	void *p;

	if (g->n == g->alloc) {
		alloc = g->alloc ? 2 * g->alloc : 16;
		p = realloc(g->items, alloc * g->size);
		if (!p)
			return NULL;
		g->items = p;
		g->alloc = alloc;
	}
	p = (char *)g->items + g->n++ * g->size;
	memset(p, 0, g->size);
	return p;
}

/* Hands the first n items to a new exact-size array. */
static void *grow_take(struct grow *g)
{
	void *p;

	if (!g->n)
		return NULL;
	p = malloc(g->n * g->size);
	if (p)
		memcpy(p, g->items, g->n * g->size);
	return p;
}

/* The state of one build. */
struct snapshot_build {
	sqlite3 *db;
	struct registry_snapshot *s;
	struct grow variants;           /* struct id_map: id -> struct model_variant, sorted by id */
	struct grow quants;             /* struct id_map: id -> struct model_quant, sorted by id */
};

static int id_map_cmp(const void *a, const void *b)
{
	const struct id_map *ma = a, *mb = b;

	return ma->id < mb->id ? -1 : ma->id > mb->id;
}

/* Copies a text column: NULL stays NULL. */
static int col_dup(sqlite3_stmt *st, int col, char **out)
{
	const unsigned char *text;
	int len;

	*out = NULL;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	text = sqlite3_column_text(st, col);
	if (!text)
		return -ENOMEM;
	len = sqlite3_column_bytes(st, col);
	*out = malloc((size_t)len + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, text, (size_t)len);
	(*out)[len] = '\0';
	return 0;
}

/* Copies a blob column: NULL or empty gives NULL and 0. */
static int col_blob(sqlite3_stmt *st, int col, unsigned char **out, size_t *len_out)
{
	const void *blob;
	int len;

	*out = NULL;
	*len_out = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return 0;
	blob = sqlite3_column_blob(st, col);
	len = sqlite3_column_bytes(st, col);
	if (len <= 0)
		return 0;
	if (!blob)
		return -ENOMEM;
	*out = malloc((size_t)len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, blob, (size_t)len);
	*len_out = (size_t)len;
	return 0;
}

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
	int64_t v = sqlite3_column_int64(st, col);

	return v < 0 ? 0 : (uint64_t)v;
}

static int step_rc(int rc)
{
	return rc == SQLITE_DONE ? 0 : registry_errno(rc);
}

static int build_count(struct snapshot_build *b)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	int rc;

	rc = sqlite3_prepare_v2(b->db, snapshot_sql_count, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return registry_errno(rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return registry_errno(rc);
	if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(struct model_variant))
		return -EBADMSG;
	if (n) {
		b->s->variants = calloc((size_t)n, sizeof(*b->s->variants));
		if (!b->s->variants)
			return -ENOMEM;
	}
	b->s->n_variants = (size_t)n;
	return 0;
}

static int build_variant(struct model_variant *v, sqlite3_stmt *st)
{
	int rc;

	rc = col_dup(st, 1, &v->family);
	if (!rc)
		rc = col_dup(st, 2, &v->variant);
	if (!rc)
		rc = col_dup(st, 3, &v->full_name);
	if (!rc)
		rc = col_dup(st, 4, &v->repo_id);
	if (!rc)
		rc = col_dup(st, 5, &v->revision);
	if (!rc)
		rc = col_dup(st, 6, &v->base_repo);
	if (!rc)
		rc = col_dup(st, 7, &v->architecture);
	if (!rc)
		rc = col_dup(st, 8, &v->origin);
	if (!rc)
		rc = col_dup(st, 13, &v->arch_json);
	if (!rc)
		rc = col_dup(st, 14, &v->config_json);
	if (!rc)
		rc = col_dup(st, 15, &v->extra_json);
	if (rc)
		return rc;
	if (!v->family || !v->variant || !v->repo_id || !v->origin)
		return -EBADMSG;
	v->parameter_count_b = sqlite3_column_double(st, 9);
	v->parameter_count_exact = col_u64(st, 10);
	v->context_window = col_u64(st, 11);
	v->multimodal = sqlite3_column_int(st, 12) != 0;
	return 0;
}

static int build_variants(struct snapshot_build *b)
{
	struct id_map *m;
	sqlite3_stmt *st;
	size_t i = 0;
	int rc;

	rc = sqlite3_prepare_v2(b->db, snapshot_sql_variants, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return registry_errno(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (i >= b->s->n_variants) {
			rc = -EBADMSG;
			break;
		}
		m = grow_push(&b->variants);
		if (!m) {
			rc = -ENOMEM;
			break;
		}
		m->id = sqlite3_column_int64(st, 0);
		m->ptr = &b->s->variants[i];
		rc = build_variant(&b->s->variants[i++], st);
		if (rc)
			break;
	}
	rc = rc > 0 ? step_rc(rc) : rc;
	sqlite3_finalize(st);
	if (!rc && i != b->s->n_variants)
		rc = -EBADMSG;
	if (!rc && b->variants.n)
		qsort(b->variants.items, b->variants.n, sizeof(struct id_map), id_map_cmp);
	return rc;
}

/* Finds id in a map sorted by id, starting at *cursor: the rows of the
 * children come ordered by parent id, so the cursor only moves forward. */
static void *map_seek(struct grow *map, size_t *cursor, int64_t id)
{
	const struct id_map *m = map->items;

	while (*cursor < map->n && m[*cursor].id < id)
		(*cursor)++;
	return *cursor < map->n && m[*cursor].id == id ? m[*cursor].ptr : NULL;
}

static void quants_drop(struct grow *rows)
{
	struct model_variant tmp = { .quants = rows->items, .n_quants = rows->n };

	registry_variant_release(&tmp);
	rows->items = NULL;
	rows->n = rows->alloc = 0;
}

/* Moves the quant rows read for v into it, and their ids into the map. */
static int quants_flush(struct snapshot_build *b, struct model_variant *v, struct grow *rows,
			struct grow *ids)
{
	struct id_map *m;
	size_t i;

	if (!rows->n)
		return 0;
	if (v->quants)
		return -EBADMSG;
	v->quants = grow_take(rows);
	if (!v->quants)
		return -ENOMEM;
	v->n_quants = rows->n;
	rows->n = 0;
	for (i = 0; i < v->n_quants; i++) {
		m = grow_push(&b->quants);
		if (!m)
			return -ENOMEM;
		m->id = ((const int64_t *)ids->items)[i];
		m->ptr = &v->quants[i];
	}
	ids->n = 0;
	return 0;
}

static int build_quant(struct model_quant *q, sqlite3_stmt *st)
{
	int rc;

	rc = col_dup(st, 2, &q->name);
	if (!rc)
		rc = col_dup(st, 3, &q->file_pattern);
	if (rc)
		return rc;
	if (!q->name)
		return -EBADMSG;
	q->size_bytes = col_u64(st, 4);
	q->size_exact = sqlite3_column_int(st, 5) != 0;
	q->bits_per_weight = sqlite3_column_double(st, 6);
	q->quality_stars = sqlite3_column_int(st, 7);
	return col_blob(st, 8, &q->weights_layout, &q->weights_layout_bytes);
}

static int build_quants(struct snapshot_build *b)
{
	struct grow rows = { .size = sizeof(struct model_quant) };
	struct grow ids = { .size = sizeof(int64_t) };
	struct model_variant *v = NULL;
	struct model_quant *q;
	int64_t vid, *id;
	sqlite3_stmt *st;
	size_t cursor = 0;
	int rc;

	rc = sqlite3_prepare_v2(b->db, snapshot_sql_quants, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return registry_errno(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		vid = sqlite3_column_int64(st, 0);
		if (!v || vid != ((const struct id_map *)b->variants.items)[cursor].id) {
			rc = v ? quants_flush(b, v, &rows, &ids) : 0;
			v = rc ? NULL : map_seek(&b->variants, &cursor, vid);
			if (!rc && !v)
				rc = -EBADMSG;
			if (rc)
				break;
		}
		q = grow_push(&rows);
		id = q ? grow_push(&ids) : NULL;
		if (!id) {
			rc = -ENOMEM;
			break;
		}
		*id = sqlite3_column_int64(st, 1);
		rc = build_quant(q, st);
		if (rc)
			break;
	}
	rc = rc > 0 ? step_rc(rc) : rc;
	sqlite3_finalize(st);
	if (!rc && v)
		rc = quants_flush(b, v, &rows, &ids);
	quants_drop(&rows);
	free(ids.items);
	if (!rc && b->quants.n)
		qsort(b->quants.items, b->quants.n, sizeof(struct id_map), id_map_cmp);
	return rc;
}

static void files_drop(struct grow *rows)
{
	struct model_file *f = rows->items;
	size_t i;

	for (i = 0; i < rows->n; i++) {
		free(f[i].name);
		free(f[i].upstream);
		free(f[i].sha256);
	}
	free(rows->items);
	rows->items = NULL;
	rows->n = rows->alloc = 0;
}

static int files_flush(struct model_quant *q, struct grow *rows)
{
	if (!rows->n)
		return 0;
	if (q->files)
		return -EBADMSG;
	q->files = grow_take(rows);
	if (!q->files)
		return -ENOMEM;
	q->n_files = rows->n;
	rows->n = 0;
	return 0;
}

static int build_file(struct model_file *f, sqlite3_stmt *st)
{
	int rc, role;

	rc = col_dup(st, 1, &f->name);
	if (!rc)
		rc = col_dup(st, 2, &f->upstream);
	if (!rc)
		rc = col_dup(st, 4, &f->sha256);
	if (rc)
		return rc;
	if (!f->name || !f->upstream)
		return -EBADMSG;
	f->size_bytes = col_u64(st, 3);
	role = sqlite3_column_int(st, 5);
	f->role = role == FILE_ROLE_MMPROJ ? FILE_ROLE_MMPROJ : FILE_ROLE_MODEL;
	return 0;
}

static int build_files(struct snapshot_build *b)
{
	struct grow rows = { .size = sizeof(struct model_file) };
	struct model_quant *q = NULL;
	struct model_file *f;
	sqlite3_stmt *st;
	size_t cursor = 0;
	int64_t qid;
	int rc;

	rc = sqlite3_prepare_v2(b->db, snapshot_sql_files, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return registry_errno(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		qid = sqlite3_column_int64(st, 0);
		if (!q || qid != ((const struct id_map *)b->quants.items)[cursor].id) {
			rc = q ? files_flush(q, &rows) : 0;
			q = rc ? NULL : map_seek(&b->quants, &cursor, qid);
			if (!rc && !q)
				rc = -EBADMSG;
			if (rc)
				break;
		}
		f = grow_push(&rows);
		if (!f) {
			rc = -ENOMEM;
			break;
		}
		rc = build_file(f, st);
		if (rc)
			break;
	}
	rc = rc > 0 ? step_rc(rc) : rc;
	sqlite3_finalize(st);
	if (!rc && q)
		rc = files_flush(q, &rows);
	files_drop(&rows);
	return rc;
}

static void bench_drop(struct grow *rows)
{
	struct bench_run *r = rows->items;
	size_t i;

	for (i = 0; i < rows->n; i++)
		bench_run_release(&r[i]);
	free(rows->items);
	rows->items = NULL;
	rows->n = rows->alloc = 0;
}

static int bench_flush(struct model_quant *q, struct grow *rows)
{
	if (!rows->n)
		return 0;
	if (q->bench)
		return -EBADMSG;
	q->bench = grow_take(rows);
	if (!q->bench)
		return -ENOMEM;
	q->n_bench = rows->n;
	rows->n = 0;
	return 0;
}

/* Reads one run: 0, -ENOMEM, or -EBADMSG when the row does not read back. */
static int build_bench_run(struct bench_run *r, sqlite3_stmt *st)
{
	const char *text = (const char *)sqlite3_column_text(st, 2);
	json_t *j;
	int rc;

	if (!text)
		return sqlite3_column_type(st, 2) == SQLITE_NULL ? -EBADMSG : -ENOMEM;
	j = json_loadb(text, (size_t)sqlite3_column_bytes(st, 2), 0, NULL);
	if (!j)
		return -EBADMSG;
	rc = bench_run_from_json(j, r);
	json_decref(j);
	if (rc) {
		bench_run_release(r);
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	r->id = sqlite3_column_int64(st, 1);
	return 0;
}

static void bench_warn(size_t n_bad, int64_t max_bad, int64_t first_bad)
{
	int64_t seen = atomic_load(&snapshot_bench_warned);

	while (max_bad > seen) {
		if (atomic_compare_exchange_weak(&snapshot_bench_warned, &seen, max_bad)) {
			log_msg(LOG_WARN, "registry: skipped %zu benchmark row%s that do not read back "
				"(first id %lld); their history is not shown", n_bad, n_bad == 1 ? "" : "s",
				(long long)first_bad);
			return;
		}
	}
}

static int build_bench(struct snapshot_build *b)
{
	struct grow rows = { .size = sizeof(struct bench_run) };
	struct model_quant *q = NULL;
	int64_t qid, last_qid = 0, first_bad = 0, max_bad = 0;
	struct bench_run *r;
	sqlite3_stmt *st;
	size_t cursor = 0, n_bad = 0;
	int rc;

	rc = sqlite3_prepare_v2(b->db, snapshot_sql_bench, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return registry_errno(rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		qid = sqlite3_column_int64(st, 0);
		if (!q || qid != last_qid) {
			rc = q ? bench_flush(q, &rows) : 0;
			if (rc)
				break;
			q = map_seek(&b->quants, &cursor, qid);
			last_qid = qid;
		}
		r = q ? grow_push(&rows) : NULL;
		rc = q ? (r ? build_bench_run(r, st) : -ENOMEM) : -EBADMSG;
		if (rc == -EBADMSG) {
			if (r)
				rows.n--;
			if (!n_bad++)
				first_bad = sqlite3_column_int64(st, 1);
			if (sqlite3_column_int64(st, 1) > max_bad)
				max_bad = sqlite3_column_int64(st, 1);
			rc = 0;
		}
		if (rc)
			break;
	}
	rc = rc > 0 ? step_rc(rc) : rc;
	sqlite3_finalize(st);
	if (!rc && q)
		rc = bench_flush(q, &rows);
	bench_drop(&rows);
	if (n_bad)
		bench_warn(n_bad, max_bad, first_bad);
	return rc;
}

static int repo_cmp(const void *a, const void *b)
{
	const struct model_variant *va = *(const struct model_variant *const *)a;
	const struct model_variant *vb = *(const struct model_variant *const *)b;
	int c = strcasecmp(va->repo_id, vb->repo_id);

	if (c)
		return c;
	return va < vb ? -1 : va > vb;
}

static int build_repo_index(struct registry_snapshot *s)
{
	size_t i;

	if (!s->n_variants)
		return 0;
	s->by_repo = calloc(s->n_variants, sizeof(*s->by_repo));
	if (!s->by_repo)
		return -ENOMEM;
	for (i = 0; i < s->n_variants; i++)
		s->by_repo[i] = &s->variants[i];
	qsort(s->by_repo, s->n_variants, sizeof(*s->by_repo), repo_cmp);
	return 0;
}

int registry_snapshot_build(sqlite3 *db, uint64_t generation, struct registry_snapshot **out)
{
	struct snapshot_build b = {
		.db = db,
		.variants = { .size = sizeof(struct id_map) },
		.quants = { .size = sizeof(struct id_map) },
	};
	int rc;

	*out = NULL;
	b.s = calloc(1, sizeof(*b.s));
	if (!b.s)
		return -ENOMEM;
	b.s->generation = generation;
	b.s->refs = 1;
	rc = build_count(&b);
	if (!rc)
		rc = build_variants(&b);
	if (!rc)
		rc = build_quants(&b);
	if (!rc)
		rc = build_files(&b);
	if (!rc)
		rc = build_bench(&b);
	if (!rc)
		rc = build_repo_index(b.s);
	free(b.variants.items);
	free(b.quants.items);
	if (rc) {
		registry_snapshot_free(b.s);
		return rc;
	}
	*out = b.s;
	return 0;
}

void registry_snapshot_free(struct registry_snapshot *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_variants; i++)
		registry_variant_release(&s->variants[i]);
	free(s->variants);
	free(s->by_repo);
	free(s);
}

void registry_snapshot_replace(struct registry *reg, struct registry_snapshot *s)
{
	struct registry_snapshot *old;
	bool drop;

	pthread_mutex_lock(&reg->snap_lock);
	old = reg->snap;
	reg->snap = s;
	drop = old && --old->refs == 0;
	pthread_mutex_unlock(&reg->snap_lock);
	if (drop)
		registry_snapshot_free(old);
}

int registry_snapshot_get(struct registry *reg, struct registry_snapshot **out)
{
	struct registry_snapshot *s;

	*out = NULL;
	if (!reg)
		return -EINVAL;
	pthread_mutex_lock(&reg->snap_lock);
	s = reg->snap;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&reg->snap_lock);
	if (!s)
		return -EIO;
	*out = s;
	return 0;
}

void registry_snapshot_put(struct registry *reg, struct registry_snapshot *snap)
{
	bool drop;

	if (!snap)
		return;
	pthread_mutex_lock(&reg->snap_lock);
	drop = --snap->refs == 0;
	pthread_mutex_unlock(&reg->snap_lock);
	if (drop)
		registry_snapshot_free(snap);
}

const struct model_variant *registry_find_variant(const struct registry_snapshot *s,
						  const char *family, const char *variant)
{
	size_t lo = 0, hi, mid;
	int c;

	if (!s || !family || !variant)
		return NULL;
	hi = s->n_variants;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(s->variants[mid].family, family);
		if (!c)
			c = strcmp(s->variants[mid].variant, variant);
		if (!c)
			return &s->variants[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct model_quant *registry_find_quant(const struct model_variant *v, const char *quant)
{
	size_t lo = 0, hi, mid;
	int c;

	if (!v || !quant)
		return NULL;
	hi = v->n_quants;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(v->quants[mid].name, quant);
		if (!c)
			return &v->quants[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The first variant (in family/variant order) of repo_id. */
const struct model_variant *registry_find_repo(const struct registry_snapshot *s, const char *repo_id)
{
	size_t lo = 0, hi, mid, i;

	if (!s || !repo_id)
		return NULL;
	if (!s->by_repo) {
		for (i = 0; i < s->n_variants; i++) {
			if (s->variants[i].repo_id && !strcasecmp(s->variants[i].repo_id, repo_id))
				return &s->variants[i];
		}
		return NULL;
	}
	hi = s->n_variants;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcasecmp(s->by_repo[mid]->repo_id, repo_id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n_variants && !strcasecmp(s->by_repo[lo]->repo_id, repo_id))
		return s->by_repo[lo];
	return NULL;
}
