/*
 * fuzz_control_line.c - libFuzzer target for control-file writes
 * (parse_control_text, parse_model_page).
 *
 * The first byte picks the verb, the rest is what write() brought.  Checks
 * what fs and cache rely on: a refused write hands back nothing; every
 * accepted request has a repo id the Hub would accept, names that are
 * names, a revision and paths without "." or ".." components or control
 * bytes, and a local path that is absolute.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_clean_path(const char *p, bool absolute)
{
	const char *s = p;

	if (absolute != (*p == '/'))
		return false;
	if (absolute)
		s++;
	while (*s) {
		size_t n = strcspn(s, "/");

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
		if (*s == '/')
			s++;
	}
	for (s = p; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void fuzz_check(const struct control_request *r)
{
	if (r->repo_id[0] && !parse_is_repo_id(r->repo_id))
		abort();
	if ((r->family[0] && !parse_is_name(r->family)) || (r->variant[0] && !parse_is_name(r->variant)) ||
	    (r->quant[0] && !parse_is_name(r->quant)))
		abort();
	if (r->base[0] && !parse_is_repo_id(r->base))
		abort();
	if (r->revision[0] && (strstr(r->revision, "..") || !fuzz_clean_path(r->revision, false)))
		abort();
	if (r->target == CONTROL_TARGET_LOCAL && !fuzz_clean_path(r->path, true))
		abort();
	if (r->target == CONTROL_TARGET_REPO && (!r->repo_id[0] || (r->path[0] && !fuzz_clean_path(r->path, false))))
		abort();
	if (r->target == CONTROL_TARGET_MODEL && (!r->family[0] || !r->variant[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request *reqs = NULL;
	char id[CONTROL_REPO_ID_MAX];
	enum control_verb verb;
	ssize_t n, i;

	if (size < 1)
		return 0;
	verb = (enum control_verb)(data[0] % 6);
	n = parse_control_text(verb, (const char *)data + 1, size - 1, "http://127.0.0.1:8080/hf", &reqs, NULL);
	if (n < 0) {
		if (reqs || (n != -EINVAL && n != -ENOMEM))
			abort();
		return 0;
	}
	if (n > CONTROL_MAX_REQUESTS || (n > 0 && !reqs))
		abort();
	for (i = 0; i < n; i++) {
		if (reqs[i].verb != verb)
			abort();
		fuzz_check(&reqs[i]);
	}
	free(reqs);
	if (parse_model_page((const char *)data + 1, size - 1, NULL, id, sizeof(id), NULL) == 0 &&
	    !parse_is_repo_id(id))
		abort();
	return 0;
}
