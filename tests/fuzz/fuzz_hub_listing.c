/*
 * fuzz_hub_listing.c - libFuzzer target for the Hub's JSON answers: a tree
 * listing page or a model info (registry_listing_parse,
 * hub_model_info_parse), and the plan built from what they list
 * (registry_plan_build, registry_plan_finish_names).
 *
 * Checks: a refused answer leaves the listing as it was; every kept path
 * is relative and clean and every sha256 64 lowercase hex digits; a plan
 * points only at GGUF files of the listing, each file in at most one
 * quant, and its finished names are unique names.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_listing(const struct registry_listing *l)
{
	size_t i, k;

	for (i = 0; i < l->n; i++) {
		const char *p = l->entries[i].path, *s = p;

		if (!*p || *p == '/')
			abort();
		while (*s) {
			size_t n = strcspn(s, "/");

			if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
				abort();
			s += n;
			if (*s == '/')
				s++;
		}
		if (l->entries[i].sha256) {
			if (strlen(l->entries[i].sha256) != 64)
				abort();
			for (k = 0; k < 64; k++)
				if (!strchr("0123456789abcdef", l->entries[i].sha256[k]))
					abort();
		}
	}
}

static void fuzz_check_plan(const struct registry_listing *l)
{
	struct registry_plan p;
	unsigned char *used;
	size_t i, j, k;

	if (registry_plan_build(l, NULL, NULL, &p, NULL))
		return;
	used = calloc(l->n ? l->n : 1, 1);
	if (!used || registry_plan_finish_names(&p, l))
		abort();
	for (i = 0; i < p.n_quants; i++) {
		if (!p.quants[i].n_files || !parse_is_name(p.quants[i].name))
			abort();
		for (k = 0; k < i; k++)
			if (!strcmp(p.quants[i].name, p.quants[k].name))
				abort();
		for (j = 0; j < p.quants[i].n_files; j++) {
			size_t e = p.quants[i].files[j];

			if (e >= l->n || used[e]++ || l->entries[e].is_dir)
				abort();
		}
	}
	for (i = 0; i < p.n_mmproj; i++)
		if (p.mmproj[i] >= l->n || used[p.mmproj[i]]++)
			abort();
	free(used);
	registry_plan_release(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry_listing l;
	struct hub_model_info mi;

	registry_listing_init(&l);
	if (registry_listing_parse(&l, (const char *)data, size, NULL) != 0) {
		if (l.n)
			abort();
	} else {
		fuzz_check_listing(&l);
		fuzz_check_plan(&l);
	}
	registry_listing_release(&l);
	registry_listing_init(&l);
	if (hub_model_info_parse((const char *)data, size, &mi, &l, NULL) != 0) {
		if (l.n || mi.id || mi.sha)
			abort();
	} else {
		if (!parse_is_repo_id(mi.id) || (mi.sha && strlen(mi.sha) != 40))
			abort();
		fuzz_check_listing(&l);
		hub_model_info_release(&mi);
	}
	registry_listing_release(&l);
	return 0;
}
