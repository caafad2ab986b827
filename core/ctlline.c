/*
 * ctlline.c - the grammar of the lines written to .control/ files (SPEC §6).
 *
 * Every byte written to a control file is outside input, and most of it is
 * pasted: a repo id from a README, a URL from the browser's address bar
 * (with "?download=true" or "#model-card" on the end), a huggingface.co
 * link from a chat, or the whole text of a model page.  This file turns
 * such text into a struct control_request, or refuses it with -EINVAL and a
 * message that says which word was wrong and what to write instead.  It is
 * pure: it does not know whether a repo exists or a model is registered;
 * fs resolves the request against a snapshot and cache fetches it.
 *
 * A line is split on blanks into words (a value may be quoted, for name=).
 * The first word is the target, the others KEY=VALUE.  Targets are checked
 * by shape, strictly, because each ends up in a URL or a path:
 *
 *  - repo ids follow the Hub's own validation (huggingface_hub's
 *    validate_repo_id): [A-Za-z0-9_.-], at most 96 bytes a part, no "--"
 *    or "..", starting and ending with a word character.  This alone shuts
 *    out "../../etc" and "%2e%2e";
 *  - revisions follow git's ref rules (no "..", blanks, ~^:?*[\, and no '@'),
 *    and may hold '/' (refs/pr/1), percent-encoded or not in URLs;
 *  - paths inside a repo and local paths have no "." or ".." component,
 *    no empty component and no control byte.  Percent-decoding happens per
 *    URL segment before these checks, so "%2F" cannot smuggle a separator
 *    into a path segment and "%00" is refused like a NUL.
 *
 * URLs are parsed by hand rather than with libcurl's URL API because core
 * does not link libcurl; the forms accepted are the ones the Hub's web
 * pages produce (/ORG/REPO, /tree|blob|resolve|raw/REV[/PATH], the
 * /discussions and /settings tabs, /api/models/ORG/REPO), on huggingface.co,
 * www.huggingface.co, hf.co, or the configured endpoint's host and port,
 * so URLs copied from a mirror work against that mirror.
 *
 * A pasted model page is recognised only when line-by-line parsing fails
 * and the text either has two or more of the Hub page's fixed labels
 * ("Model card", "Files and versions", "Use this model" ...) or holds a
 * strong clue.  Strong clues name the page's own repo: "Model tree for
 * ORG/REPO", the title (ORG, "/", REPO on three lines, or ORG/REPO on one,
 * followed within a few lines by "like" and the like count), and the tab
 * title "ORG/REPO · Hugging Face".  Weak clues are huggingface.co links,
 * which a model card also uses for base models and datasets.  Strong clues
 * that disagree, or several distinct weak ones and no strong one, are
 * refused as ambiguous: registering the wrong model silently is worse than
 * asking for ORG/REPO.
 */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CL_QUOTE_MAX       120   /* bytes of user text quoted in a message */
#define CL_MAX_WORDS       16    /* words on one line */
#define CL_REPO_PART_MAX   96    /* bytes of ORG or of REPO */
#define CL_PAGE_MAX_CANDS  64    /* distinct repo ids a page scan keeps */
#define CL_PAGE_LIKE_LINES 6     /* lines after a title in which "like" must come */

static const char cl_register_keys[] = "family=, variant=, quant=, revision=, base=, name=";

const char *parse_control_verb_name(enum control_verb v)
{
	switch (v) {
	case CONTROL_REGISTER:
		return "register";
	case CONTROL_UNREGISTER:
		return "unregister";
	case CONTROL_REFRESH:
		return "refresh";
	case CONTROL_DOWNLOAD:
		return "download";
	case CONTROL_EVICT:
		return "evict";
	case CONTROL_BENCHMARK:
		return "benchmark";
	}
	return "?";
}

/* Copies s (n bytes) for quoting: control and non-ASCII bytes become '?',
 * long text is cut with "...". */
static const char *cl_quote_n(const char *s, size_t n, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 4 < size && i < CL_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (i < n && o + 4 <= size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static const char *cl_quote(const char *s, char *out, size_t size)
{
	return cl_quote_n(s, strlen(s), out, size);
}

static bool cl_is_word_char(char c)
{
	return isascii((unsigned char)c) && (isalnum((unsigned char)c) || c == '_');
}

static bool cl_is_repo_part(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CL_REPO_PART_MAX || !cl_is_word_char(s[0]) || !cl_is_word_char(s[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!cl_is_word_char(c) && c != '-' && c != '.')
			return false;
		if (i > 0 && ((c == '-' && s[i - 1] == '-') || (c == '.' && s[i - 1] == '.')))
			return false;
	}
	return true;
}

static bool cl_is_repo_id_n(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);

	if (!slash)
		return false;
	return cl_is_repo_part(s, (size_t)(slash - s)) &&
	       cl_is_repo_part(slash + 1, n - (size_t)(slash - s) - 1);
}

bool parse_is_repo_id(const char *s)
{
	return s && cl_is_repo_id_n(s, strlen(s));
}

/* git's ref-name rules, plus: printable ASCII, no '%', '#' or '@' (left
 * over from a URL or a target's @REV), no component starting with '.'. */
static bool cl_is_revision(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= CONTROL_REVISION_MAX || s[0] == '/' || s[0] == '-' || s[n - 1] == '/' ||
	    s[n - 1] == '.')
		return false;
	if (strstr(s, "..") || strstr(s, "//"))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("\\~^:?*[%#@", c))
			return false;
		if (c == '.' && (i == 0 || s[i - 1] == '/'))
			return false;
	}
	return true;
}

/* A relative path inside a repo: components of printable bytes, none empty,
 * ".", ".." or holding '\'. */
static bool cl_is_repo_path(const char *s)
{
	const char *p = s;
	size_t n = strlen(s);

	if (n == 0 || n >= REGISTRY_PATH_MAX_BYTES || s[0] == '/')
		return false;
	while (*p) {
		size_t len = strcspn(p, "/"), i;

		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)p[i];

			if (c < 0x20 || c == 0x7f || c == '\\')
				return false;
		}
		p += len;
		if (*p == '/') {
			p++;
			if (!*p)
				return false;
		}
	}
	return true;
}

/* An absolute local path: the same component rules; one trailing '/' is
 * dropped by the caller. */
static bool cl_is_local_path(const char *s)
{
	return s[0] == '/' && s[1] != '\0' && cl_is_repo_path(s + 1);
}

static int cl_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into out (size bytes).  A decoded '/' is
 * refused unless allow_slash; a decoded control byte always. */
static int cl_unescape(const char *s, size_t n, bool allow_slash, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= n)
				return -EINVAL;
			hi = cl_hexval(s[i + 1]);
			lo = cl_hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
			if (c == '/' && !allow_slash)
				return -EINVAL;
		}
		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
		if (o + 1 >= size)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static int cl_copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------------------
 * Targets
 * ------------------------------------------------------------------------ */

struct cl_url_host {
	char host[256];          /* lowercase */
	unsigned port;           /* 0 = the scheme's default */
	char prefix[512];        /* path prefix of the endpoint, without a trailing '/' */
};

/* Splits "http[s]://HOST[:PORT][/PREFIX]" (the endpoint) into h; false
 * when it is not such a URL. */
static bool cl_parse_endpoint(const char *endpoint, struct cl_url_host *h)
{
	const char *p, *host, *end;
	size_t hn, i;
	unsigned long port = 0;
	bool https;

	memset(h, 0, sizeof(*h));
	if (!endpoint)
		return false;
	if (strncasecmp(endpoint, "https://", 8) == 0) {
		https = true;
		host = endpoint + 8;
	} else if (strncasecmp(endpoint, "http://", 7) == 0) {
		https = false;
		host = endpoint + 7;
	} else {
		return false;
	}
	end = host + strcspn(host, "/?#");
	p = memchr(host, ':', (size_t)(end - host));
	hn = (size_t)((p ? p : end) - host);
	if (hn == 0 || hn >= sizeof(h->host))
		return false;
	for (i = 0; i < hn; i++)
		h->host[i] = (char)tolower((unsigned char)host[i]);
	h->host[hn] = '\0';
	if (p) {
		for (p++; p < end; p++) {
			if (!isdigit((unsigned char)*p))
				return false;
			port = port * 10 + (unsigned long)(*p - '0');
			if (port > 65535)
				return false;
		}
	}
	if ((https && port == 443) || (!https && port == 80))
		port = 0;
	h->port = (unsigned)port;
	if (*end == '/') {
		size_t pn = strcspn(end, "?#");

		while (pn > 0 && end[pn - 1] == '/')
			pn--;
		if (pn >= sizeof(h->prefix))
			return false;
		memcpy(h->prefix, end, pn);
		h->prefix[pn] = '\0';
	}
	return true;
}

static bool cl_is_hub_host(const char *host)
{
	return strcmp(host, "huggingface.co") == 0 || strcmp(host, "www.huggingface.co") == 0 ||
	       strcmp(host, "hf.co") == 0;
}

/* Sets the revision, refusing a second different one. */
static int cl_set_revision(struct control_request *out, const char *rev, const char *what,
			   struct diag *d)
{
	char q[CL_QUOTE_MAX + 8];

	if (!cl_is_revision(rev))
		return diag_fail(d, -EINVAL, "invalid revision '%s' in %s; give a branch, tag or commit",
				 cl_quote(rev, q, sizeof(q)), what);
	if (out->revision[0] && strcmp(out->revision, rev) != 0)
		return diag_fail(d, -EINVAL, "two revisions given ('%s' and '%s'); give one",
				 out->revision, rev);
	return cl_copy(out->revision, sizeof(out->revision), rev, strlen(rev)) ?
	       diag_fail(d, -EINVAL, "revision is too long") : 0;
}

static int cl_set_repo(struct control_request *out, const char *s, size_t n, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8];

	if (!cl_is_repo_id_n(s, n))
		return diag_fail(d, -EINVAL, "'%s' is not a repo id; write ORG/REPO as on the Hub",
				 cl_quote_n(s, n, q, sizeof(q)));
	out->target = CONTROL_TARGET_REPO;
	return cl_copy(out->repo_id, sizeof(out->repo_id), s, n);
}

/* Path segments of a URL (after the host) or of an hf:// path, each
 * percent-decoded; at most CL_MAX_SEGS. */
#define CL_MAX_SEGS 64
struct cl_segs {
	char buf[CAP_LINE_BYTES];
	char *seg[CL_MAX_SEGS];
	size_t n;
};

/* Splits s (n bytes, no query or fragment) on '/'.  Empty segments are
 * refused except a trailing one (dropped).  Segments are decoded. */
static int cl_split(const char *s, size_t n, struct cl_segs *sg, const char *what, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8];
	size_t o = 0, i = 0;

	sg->n = 0;
	while (i < n) {
		size_t len = 0;
		int rc;

		while (i + len < n && s[i + len] != '/')
			len++;
		if (len == 0) {
			if (i + 1 >= n)
				break;
			return diag_fail(d, -EINVAL, "%s '%s' has an empty path segment; check the URL",
					 what, cl_quote_n(s, n, q, sizeof(q)));
		}
		if (sg->n >= CL_MAX_SEGS)
			return diag_fail(d, -EINVAL, "%s has too many path segments", what);
		rc = cl_unescape(s + i, len, true, sg->buf + o, sizeof(sg->buf) - o);
		if (rc)
			return diag_fail(d, -EINVAL, "%s '%s' has a bad percent-escape or a control byte; "
					 "check the URL", what, cl_quote_n(s, n, q, sizeof(q)));
		sg->seg[sg->n++] = sg->buf + o;
		o += strlen(sg->buf + o) + 1;
		i += len + 1;
	}
	return 0;
}

/* Joins segments [from, sg->n) with '/' into out; each segment must be a
 * clean path component (a decoded '/' inside one is refused). */
static int cl_join_path(const struct cl_segs *sg, size_t from, char *out, size_t size,
			struct diag *d)
{
	char q[CL_QUOTE_MAX + 8];
	size_t i, o = 0;

	out[0] = '\0';
	for (i = from; i < sg->n; i++) {
		size_t len = strlen(sg->seg[i]);

		if (strchr(sg->seg[i], '/') || strcmp(sg->seg[i], ".") == 0 ||
		    strcmp(sg->seg[i], "..") == 0)
			return diag_fail(d, -EINVAL, "path segment '%s' is not allowed in a repo path; "
					 "give a file inside the repo", cl_quote(sg->seg[i], q, sizeof(q)));
		if (o + len + 2 >= size || o + len + 2 >= REGISTRY_PATH_MAX_BYTES)
			return diag_fail(d, -EINVAL, "the path in the URL is too long");
		if (o)
			out[o++] = '/';
		memcpy(out + o, sg->seg[i], len);
		o += len;
		out[o] = '\0';
	}
	if (o && !cl_is_repo_path(out))
		return diag_fail(d, -EINVAL, "'%s' is not a clean path inside the repo",
				 cl_quote(out, q, sizeof(q)));
	return 0;
}

/* Reads REV at sg->seg[*i] (a decoded segment, which may hold '/'; an
 * unencoded refs/pr/N or refs/convert/X takes three segments). */
static int cl_take_revision(struct control_request *out, const struct cl_segs *sg, size_t *i,
			    struct diag *d)
{
	char rev[CONTROL_REVISION_MAX];

	if (*i >= sg->n)
		return diag_fail(d, -EINVAL, "the URL names no revision after /tree, /blob or /resolve; "
				 "copy the whole URL");
	if (strcmp(sg->seg[*i], "refs") == 0) {
		if (*i + 2 >= sg->n)
			return diag_fail(d, -EINVAL, "incomplete revision 'refs/...'; copy the whole URL");
		if ((size_t)snprintf(rev, sizeof(rev), "refs/%s/%s", sg->seg[*i + 1], sg->seg[*i + 2]) >=
		    sizeof(rev))
			return diag_fail(d, -EINVAL, "revision is too long");
		*i += 3;
	} else {
		if (cl_copy(rev, sizeof(rev), sg->seg[*i], strlen(sg->seg[*i])))
			return diag_fail(d, -EINVAL, "revision is too long");
		*i += 1;
	}
	return cl_set_revision(out, rev, "the URL", d);
}

/* ORG/REPO[/tree|blob|resolve|raw/REV[/PATH]][/discussions...] from
 * segments, starting at index 0. */
static int cl_repo_from_segs(struct control_request *out, const struct cl_segs *sg,
			     const char *url, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8], repo[CONTROL_REPO_ID_MAX];
	size_t i = 0;
	int rc;

	if (sg->n >= 1 && (strcmp(sg->seg[0], "datasets") == 0 || strcmp(sg->seg[0], "spaces") == 0))
		return diag_fail(d, -EINVAL, "'%s' is a %s, not a model; give a model repo URL",
				 cl_quote(url, q, sizeof(q)),
				 sg->seg[0][0] == 'd' ? "dataset" : "space");
	if (sg->n >= 2 && strcmp(sg->seg[0], "api") == 0 && strcmp(sg->seg[1], "models") == 0) {
		i = 2;
	} else if (sg->n >= 1 && strcmp(sg->seg[0], "models") == 0 && sg->n >= 3) {
		i = 1;
	}
	if (sg->n < i + 2)
		return diag_fail(d, -EINVAL, "'%s' names no repo; give https://huggingface.co/ORG/REPO",
				 cl_quote(url, q, sizeof(q)));
	if ((size_t)snprintf(repo, sizeof(repo), "%s/%s", sg->seg[i], sg->seg[i + 1]) >= sizeof(repo) ||
	    strchr(sg->seg[i], '/') || strchr(sg->seg[i + 1], '/'))
		return diag_fail(d, -EINVAL, "'%s' names no valid repo; give https://huggingface.co/ORG/REPO",
				 cl_quote(url, q, sizeof(q)));
	rc = cl_set_repo(out, repo, strlen(repo), d);
	if (rc)
		return rc;
	i += 2;
	if (i >= sg->n)
		return 0;
	if (strcmp(sg->seg[i], "tree") == 0 || strcmp(sg->seg[i], "blob") == 0 ||
	    strcmp(sg->seg[i], "resolve") == 0 || strcmp(sg->seg[i], "raw") == 0 ||
	    (strcmp(sg->seg[i], "revision") == 0 && i == 4)) {
		i++;
		rc = cl_take_revision(out, sg, &i, d);
		if (rc)
			return rc;
		return cl_join_path(sg, i, out->path, sizeof(out->path), d);
	}
	if (strcmp(sg->seg[i], "commit") == 0 || strcmp(sg->seg[i], "commits") == 0) {
		i++;
		if (i >= sg->n)
			return 0;
		return cl_take_revision(out, sg, &i, d);
	}
	if (strcmp(sg->seg[i], "discussions") == 0 || strcmp(sg->seg[i], "settings") == 0 ||
	    strcmp(sg->seg[i], "community") == 0)
		return 0;
	return diag_fail(d, -EINVAL, "'%s' is not a page of a model repo; give "
			 "https://huggingface.co/ORG/REPO", cl_quote(url, q, sizeof(q)));
}

/* [http[s]://]HOST[:PORT]/PATH[?QUERY][#FRAGMENT] */
static int cl_parse_url(struct control_request *out, const char *s, const char *endpoint,
			struct diag *d)
{
	char q[CL_QUOTE_MAX + 8], host[256];
	struct cl_url_host ep;
	const char *rest, *auth, *end, *colon;
	struct cl_segs *sg;
	unsigned long port = 0;
	size_t hn, i, pn;
	bool https = false, have_ep, ok_host;
	int rc;

	if (strncasecmp(s, "https://", 8) == 0) {
		https = true;
		auth = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		auth = s + 7;
	} else {
		auth = s;
		https = true;
	}
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)))
		return diag_fail(d, -EINVAL, "url '%s' holds a user name; give the URL without it",
				 cl_quote(s, q, sizeof(q)));
	colon = memchr(auth, ':', (size_t)(end - auth));
	hn = (size_t)((colon ? colon : end) - auth);
	if (hn == 0 || hn >= sizeof(host))
		return diag_fail(d, -EINVAL, "url '%s' has no host; give https://huggingface.co/ORG/REPO",
				 cl_quote(s, q, sizeof(q)));
	for (i = 0; i < hn; i++)
		host[i] = (char)tolower((unsigned char)auth[i]);
	host[hn] = '\0';
	if (colon) {
		const char *p = colon + 1;

		if (p == end)
			return diag_fail(d, -EINVAL, "url '%s' has an empty port", cl_quote(s, q, sizeof(q)));
		for (; p < end; p++) {
			if (!isdigit((unsigned char)*p) || port > 65535)
				return diag_fail(d, -EINVAL, "url '%s' has a bad port",
						 cl_quote(s, q, sizeof(q)));
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return diag_fail(d, -EINVAL, "url '%s' has a bad port", cl_quote(s, q, sizeof(q)));
		if ((https && port == 443) || (!https && port == 80))
			port = 0;
	}
	have_ep = cl_parse_endpoint(endpoint, &ep);
	rest = end;
	ok_host = cl_is_hub_host(host) && port == 0;
	if (!ok_host && have_ep && strcmp(host, ep.host) == 0 && port == ep.port) {
		ok_host = true;
		pn = strlen(ep.prefix);
		if (pn) {
			if (strncmp(rest, ep.prefix, pn) != 0 || (rest[pn] && !strchr("/?#", rest[pn])))
				return diag_fail(d, -EINVAL, "url '%s' is outside the hub endpoint '%s'",
						 cl_quote(s, q, sizeof(q)), endpoint);
			rest += pn;
		}
	}
	if (!ok_host)
		return diag_fail(d, -EINVAL, "url '%s' is not on huggingface.co%s%s; give a Hugging Face URL "
				 "or ORG/REPO", cl_quote(s, q, sizeof(q)), have_ep ? " or " : "",
				 have_ep ? endpoint : "");
	if (*rest == '/')
		rest++;
	pn = strcspn(rest, "?#");
	sg = calloc(1, sizeof(*sg));
	if (!sg)
		return diag_fail(d, -ENOMEM, "out of memory");
	rc = cl_split(rest, pn, sg, "url", d);
	if (!rc)
		rc = cl_repo_from_segs(out, sg, s, d);
	free(sg);
	return rc;
}

/* hf://ORG/REPO[@REV][/PATH] */
static int cl_parse_hf(struct control_request *out, const char *s, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8], rev[CONTROL_REVISION_MAX];
	const char *body = s + 5, *slash, *at, *repo_end, *p;
	struct cl_segs *sg;
	size_t i = 0;
	int rc;

	if (strncmp(body, "datasets/", 9) == 0 || strncmp(body, "spaces/", 7) == 0)
		return diag_fail(d, -EINVAL, "'%s' is not a model; give hf://ORG/REPO",
				 cl_quote(s, q, sizeof(q)));
	if (strpbrk(body, "?#"))
		return diag_fail(d, -EINVAL, "'%s' holds '?' or '#'; give hf://ORG/REPO[@REV]",
				 cl_quote(s, q, sizeof(q)));
	slash = strchr(body, '/');
	if (!slash)
		return diag_fail(d, -EINVAL, "'%s' names no repo; give hf://ORG/REPO[@REV]",
				 cl_quote(s, q, sizeof(q)));
	repo_end = slash + 1 + strcspn(slash + 1, "@/");
	rc = cl_set_repo(out, body, (size_t)(repo_end - body), d);
	if (rc)
		return rc;
	p = repo_end;
	if (*p == '@') {
		at = p + 1;
		p = at + strcspn(at, "/");
		if (p - at == 4 && strncmp(at, "refs", 4) == 0 && *p == '/') {
			p += 1 + strcspn(p + 1, "/");
			if (*p == '/')
				p += 1 + strcspn(p + 1, "/");
		}
		rc = cl_unescape(at, (size_t)(p - at), true, rev, sizeof(rev));
		if (rc || !rev[0])
			return diag_fail(d, -EINVAL, "'%s' has a bad revision after '@'",
					 cl_quote(s, q, sizeof(q)));
		rc = cl_set_revision(out, rev, "the hf:// URL", d);
		if (rc)
			return rc;
	}
	if (!*p)
		return 0;
	sg = calloc(1, sizeof(*sg));
	if (!sg)
		return diag_fail(d, -ENOMEM, "out of memory");
	rc = cl_split(p + 1, strlen(p + 1), sg, "hf:// URL", d);
	for (i = 0; !rc && i < sg->n; i++)
		if (strchr(sg->seg[i], '/'))
			rc = diag_fail(d, -EINVAL, "'%s' has an encoded '/' in its path",
				       cl_quote(s, q, sizeof(q)));
	if (!rc)
		rc = cl_join_path(sg, 0, out->path, sizeof(out->path), d);
	free(sg);
	return rc;
}

static int cl_parse_local(struct control_request *out, const char *s, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8];
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		n--;
	if (cl_copy(out->path, sizeof(out->path), s, n))
		return diag_fail(d, -EINVAL, "path is too long");
	if (!cl_is_local_path(out->path))
		return diag_fail(d, -EINVAL, "'%s' is not a clean absolute path (no '.', '..' or empty "
				 "components); give the full path of a .gguf file or folder",
				 cl_quote(s, q, sizeof(q)));
	out->target = CONTROL_TARGET_LOCAL;
	return 0;
}

static int cl_set_name(char *dst, const char *val, const char *key, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8], low[NAME_MAX_BYTES];
	size_t i, n = strlen(val);

	if (n == 0 || n >= sizeof(low))
		return diag_fail(d, -EINVAL, "%s must be 1 to %d bytes", key, NAME_MAX_BYTES - 1);
	for (i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)val[i]);
	if (!parse_is_name(low))
		return diag_fail(d, -EINVAL, "invalid %s '%s'; use lowercase letters, digits, '.', '_' "
				 "and '-', starting with a letter or digit", key, cl_quote(val, q, sizeof(q)));
	memcpy(dst, low, n + 1);
	return 0;
}

/* ORG/REPO[@REV][:QUANT] */
static int cl_parse_bare_repo(struct control_request *out, const char *s, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8], rev[CONTROL_REVISION_MAX];
	size_t n = strcspn(s, "@:");
	const char *p = s + n;
	int rc;

	rc = cl_set_repo(out, s, n, d);
	if (rc)
		return rc;
	if (*p == '@') {
		size_t rn = strcspn(p + 1, ":");

		if (cl_copy(rev, sizeof(rev), p + 1, rn))
			return diag_fail(d, -EINVAL, "revision is too long");
		rc = cl_set_revision(out, rev, "the target", d);
		if (rc)
			return rc;
		p += 1 + rn;
	}
	if (*p == ':') {
		if (!p[1])
			return diag_fail(d, -EINVAL, "'%s' has an empty quant after ':'",
					 cl_quote(s, q, sizeof(q)));
		return cl_set_name(out->quant, p + 1, "quant", d);
	}
	return 0;
}

/* A register TARGET. */
static int cl_parse_repo_target(struct control_request *out, const char *t, const char *endpoint,
				struct diag *d)
{
	char q[CL_QUOTE_MAX + 8];

	if (strncasecmp(t, "hf://", 5) == 0)
		return cl_parse_hf(out, t, d);
	if (strncasecmp(t, "file://", 7) == 0) {
		if (t[7] != '/')
			return diag_fail(d, -EINVAL, "'%s' is not a local file URL; give file:///PATH",
					 cl_quote(t, q, sizeof(q)));
		return cl_parse_local(out, t + 7, d);
	}
	if (t[0] == '/')
		return cl_parse_local(out, t, d);
	if (strstr(t, "://"))
		return cl_parse_url(out, t, endpoint, d);
	if (strncasecmp(t, "huggingface.co/", 15) == 0 || strncasecmp(t, "www.huggingface.co/", 19) == 0 ||
	    strncasecmp(t, "hf.co/", 6) == 0)
		return cl_parse_url(out, t, endpoint, d);
	if (t[0] == '~' || t[0] == '.')
		return diag_fail(d, -EINVAL, "'%s' is not an absolute path; give the full path (/...)",
				 cl_quote(t, q, sizeof(q)));
	if (strchr(t, '/') && strchr(strchr(t, '/') + 1, '/'))
		return diag_fail(d, -EINVAL, "'%s' has more than ORG/REPO; give ORG/REPO, a Hugging Face "
				 "URL or an absolute path", cl_quote(t, q, sizeof(q)));
	return cl_parse_bare_repo(out, t, d);
}

/* FAMILY/VARIANT[/QUANT] (parts as names); repo ids and URLs too when
 * allow_repo. */
static int cl_parse_model_target(struct control_request *out, const char *t, int min_parts,
				 int max_parts, bool allow_repo, const char *endpoint, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8], part[3][NAME_MAX_BYTES];
	const char *p = t;
	int n = 0;
	bool names = true;

	if (allow_repo && (strstr(t, "://") || strncasecmp(t, "huggingface.co/", 15) == 0 ||
			   strncasecmp(t, "hf.co/", 6) == 0)) {
		int rc = cl_parse_repo_target(out, t, endpoint, d);

		if (!rc && (out->target != CONTROL_TARGET_REPO || out->path[0] || out->revision[0]))
			return diag_fail(d, -EINVAL, "'%s': give the repo only (no revision, file or "
					 "local path)", cl_quote(t, q, sizeof(q)));
		return rc;
	}
	while (*p && n < 3) {
		size_t len = strcspn(p, "/");

		if (len == 0 || len >= NAME_MAX_BYTES) {
			names = false;
		} else {
			memcpy(part[n], p, len);
			part[n][len] = '\0';
			names = names && parse_is_name(part[n]);
		}
		n++;
		p += len;
		if (*p == '/')
			p++;
		else
			break;
	}
	if (*p)
		n = 4;
	if (names && n >= min_parts && n <= max_parts) {
		out->target = CONTROL_TARGET_MODEL;
		memcpy(out->family, part[0], strlen(part[0]) + 1);
		memcpy(out->variant, part[1], strlen(part[1]) + 1);
		if (n == 3)
			memcpy(out->quant, part[2], strlen(part[2]) + 1);
		if (allow_repo && n == 2 && parse_is_repo_id(t))
			memcpy(out->repo_id, t, strlen(t) + 1);
		return 0;
	}
	if (allow_repo && parse_is_repo_id(t)) {
		out->target = CONTROL_TARGET_REPO;
		memcpy(out->repo_id, t, strlen(t) + 1);
		return 0;
	}
	if (max_parts == 3 && min_parts == 3)
		return diag_fail(d, -EINVAL, "'%s' is not FAMILY/VARIANT/QUANT; see models.tsv for the "
				 "registered quants", cl_quote(t, q, sizeof(q)));
	return diag_fail(d, -EINVAL, "'%s' is not FAMILY/VARIANT%s%s; see models.tsv",
			 cl_quote(t, q, sizeof(q)), max_parts == 3 ? "[/QUANT]" : "",
			 allow_repo ? " or ORG/REPO" : "");
}

/* ------------------------------------------------------------------------
 * Words and keys
 * ------------------------------------------------------------------------ */

struct cl_words {
	char buf[CAP_LINE_BYTES];
	char *w[CL_MAX_WORDS];
	size_t n;
};

/* Splits line into words on blanks; KEY="..." and KEY='...' keep their
 * blanks (quotes removed). */
static int cl_split_words(const char *line, struct cl_words *ws, struct diag *d)
{
	const char *p = line;
	size_t o = 0;

	ws->n = 0;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return 0;
		if (ws->n >= CL_MAX_WORDS)
			return diag_fail(d, -EINVAL, "too many words (at most %d); one request per line",
					 CL_MAX_WORDS);
		ws->w[ws->n++] = ws->buf + o;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '=' && (p[1] == '"' || p[1] == '\'')) {
				char quote = p[1];
				const char *close = strchr(p + 2, quote);

				if (!close)
					return diag_fail(d, -EINVAL, "unterminated %c quote; close it",
							 quote);
				if (close[1] && close[1] != ' ' && close[1] != '\t')
					return diag_fail(d, -EINVAL, "text after a closing quote; put a "
							 "blank after it");
				ws->buf[o++] = '=';
				memcpy(ws->buf + o, p + 2, (size_t)(close - p - 2));
				o += (size_t)(close - p - 2);
				p = close + 1;
				break;
			}
			ws->buf[o++] = *p++;
		}
		ws->buf[o++] = '\0';
	}
}

static int cl_register_key(struct control_request *out, const char *key, const char *val,
			   unsigned *seen, struct diag *d)
{
	static const char *const keys[] = { "family", "variant", "quant", "revision", "base", "name" };
	char q[CL_QUOTE_MAX + 8];
	unsigned k;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strcasecmp(key, keys[k]) == 0)
			break;
	if (k == sizeof(keys) / sizeof(keys[0]))
		return diag_fail(d, -EINVAL, "unknown key '%s'; known keys: %s",
				 cl_quote(key, q, sizeof(q)), cl_register_keys);
	if (*seen & (1u << k))
		return diag_fail(d, -EINVAL, "%s= given twice; give it once", keys[k]);
	*seen |= 1u << k;
	if (!*val)
		return diag_fail(d, -EINVAL, "%s= has no value", keys[k]);
	switch (k) {
	case 0:
		return cl_set_name(out->family, val, "family", d);
	case 1:
		return cl_set_name(out->variant, val, "variant", d);
	case 2: {
		char quant[NAME_MAX_BYTES];
		int rc = cl_set_name(quant, val, "quant", d);

		if (rc)
			return rc;
		if (out->quant[0] && strcmp(out->quant, quant) != 0)
			return diag_fail(d, -EINVAL, "two quants given ('%s' and '%s'); give one",
					 out->quant, quant);
		memcpy(out->quant, quant, strlen(quant) + 1);
		return 0;
	}
	case 3:
		if (out->target == CONTROL_TARGET_LOCAL)
			return diag_fail(d, -EINVAL, "revision= does not apply to a local path");
		return cl_set_revision(out, val, "revision=", d);
	case 4:
		if (!parse_is_repo_id(val))
			return diag_fail(d, -EINVAL, "base= '%s' is not a repo id; write base=ORG/REPO",
					 cl_quote(val, q, sizeof(q)));
		memcpy(out->base, val, strlen(val) + 1);
		return 0;
	default: {
		size_t i, n = strlen(val);

		if (n >= sizeof(out->full_name))
			return diag_fail(d, -EINVAL, "name= is too long (at most %d bytes)",
					 CONTROL_FULL_NAME_MAX - 1);
		for (i = 0; i < n; i++)
			if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f)
				return diag_fail(d, -EINVAL, "name= holds a control byte");
		memcpy(out->full_name, val, n + 1);
		return 0;
	}
	}
}

static int cl_benchmark_key(struct control_request *out, const char *key, const char *val,
			    unsigned *seen, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8], num[32];
	uint64_t v, mult = 1;
	size_t n = strlen(val);

	if (strcasecmp(key, "ctx") == 0) {
		if (*seen & 1u)
			return diag_fail(d, -EINVAL, "ctx= given twice; give it once");
		*seen |= 1u;
		if (n > 0 && (val[n - 1] == 'k' || val[n - 1] == 'K')) {
			mult = 1024;
			n--;
		}
		if (n == 0 || n >= sizeof(num))
			return diag_fail(d, -EINVAL, "bad ctx= '%s'; give tokens, e.g. ctx=8192 or ctx=8k",
					 cl_quote(val, q, sizeof(q)));
		memcpy(num, val, n);
		num[n] = '\0';
		if (parse_u64(num, &v) || v == 0 || v > VRAM_MAX_CTX_TOKENS / mult)
			return diag_fail(d, -EINVAL, "bad ctx= '%s'; give tokens from 1 to %llu, e.g. "
					 "ctx=8192 or ctx=8k", cl_quote(val, q, sizeof(q)),
					 (unsigned long long)VRAM_MAX_CTX_TOKENS);
		out->ctx_tokens = v * mult;
		return 0;
	}
	if (strcasecmp(key, "ngl") == 0) {
		if (*seen & 2u)
			return diag_fail(d, -EINVAL, "ngl= given twice; give it once");
		*seen |= 2u;
		out->has_ngl = true;
		if (strcasecmp(val, "all") == 0) {
			out->ngl = UINT32_MAX;
			return 0;
		}
		if (parse_u64(val, &v) || v > ARCH_MAX_LAYERS + 1)
			return diag_fail(d, -EINVAL, "bad ngl= '%s'; give a layer count or 'all'",
					 cl_quote(val, q, sizeof(q)));
		out->ngl = (uint32_t)v;
		return 0;
	}
	return diag_fail(d, -EINVAL, "unknown key '%s'; known keys: ctx=, ngl=", cl_quote(key, q, sizeof(q)));
}

static const char *cl_usage(enum control_verb verb)
{
	switch (verb) {
	case CONTROL_REGISTER:
		return "write ORG/REPO, a Hugging Face URL, hf://ORG/REPO[@REV] or an absolute path, then "
		       "KEY=VALUE words";
	case CONTROL_UNREGISTER:
		return "write FAMILY/VARIANT[/QUANT] or ORG/REPO, optionally followed by 'purge'";
	case CONTROL_REFRESH:
		return "write FAMILY/VARIANT, ORG/REPO or 'all'";
	case CONTROL_BENCHMARK:
		return "write FAMILY/VARIANT/QUANT [ctx=N] [ngl=N]";
	case CONTROL_DOWNLOAD:
	case CONTROL_EVICT:
		break;
	}
	return "write FAMILY/VARIANT/QUANT";
}

static int cl_parse_words(enum control_verb verb, struct cl_words *ws, const char *endpoint,
			  struct control_request *out, struct diag *d)
{
	char q[CL_QUOTE_MAX + 8];
	unsigned seen = 0;
	size_t i;
	int rc;

	switch (verb) {
	case CONTROL_REGISTER:
		rc = cl_parse_repo_target(out, ws->w[0], endpoint, d);
		break;
	case CONTROL_UNREGISTER:
		rc = cl_parse_model_target(out, ws->w[0], 2, 3, true, endpoint, d);
		break;
	case CONTROL_REFRESH:
		if (strcmp(ws->w[0], "all") == 0) {
			out->target = CONTROL_TARGET_ALL;
			rc = 0;
			break;
		}
		rc = cl_parse_model_target(out, ws->w[0], 2, 2, true, endpoint, d);
		break;
	default:
		rc = cl_parse_model_target(out, ws->w[0], 3, 3, false, endpoint, d);
		break;
	}
	if (rc)
		return rc;
	for (i = 1; i < ws->n; i++) {
		char *w = ws->w[i], *eq = strchr(w, '=');

		if (verb == CONTROL_UNREGISTER && strcmp(w, "purge") == 0 && !out->purge) {
			out->purge = true;
			continue;
		}
		if (!eq || eq == w || (verb != CONTROL_REGISTER && verb != CONTROL_BENCHMARK))
			return diag_fail(d, -EINVAL, "unexpected '%s' after the target; %s",
					 cl_quote(w, q, sizeof(q)), cl_usage(verb));
		*eq = '\0';
		if (verb == CONTROL_REGISTER)
			rc = cl_register_key(out, w, eq + 1, &seen, d);
		else
			rc = cl_benchmark_key(out, w, eq + 1, &seen, d);
		if (rc)
			return rc;
	}
	return 0;
}

int parse_control_line(enum control_verb verb, const char *line, const char *endpoint,
		       struct control_request *out, struct diag *d)
{
	const char *who = parse_control_verb_name(verb);
	struct diag inner;
	struct cl_words *ws;
	char *tmp;
	size_t n, i, start = 0;
	char q[CL_QUOTE_MAX + 8];
	int rc;

	memset(out, 0, sizeof(*out));
	out->verb = verb;
	if ((unsigned)verb > CONTROL_BENCHMARK)
		return diag_fail(d, -EINVAL, "unknown control verb");
	if (!line)
		return diag_fail(d, -EINVAL, "%s: missing line", who);
	n = strnlen(line, CAP_LINE_BYTES);
	if (n >= CAP_LINE_BYTES)
		return diag_fail(d, -EINVAL, "%s: line longer than %d bytes; write one request per line",
				 who, CAP_LINE_BYTES - 1);
	while (start < n && (line[start] == ' ' || line[start] == '\t'))
		start++;
	while (n > start && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
		n--;
	if (start == n || line[start] == '#')
		return 0;
	for (i = start; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return diag_fail(d, -EINVAL, "%s: line holds control byte 0x%02x at offset %zu; "
					 "write plain text", who, c, i);
	}
	ws = calloc(1, sizeof(*ws));
	tmp = malloc(CAP_LINE_BYTES);
	if (!ws || !tmp) {
		free(ws);
		free(tmp);
		return diag_fail(d, -ENOMEM, "out of memory");
	}
	memcpy(tmp, line + start, n - start);
	tmp[n - start] = '\0';
	diag_init(&inner);
	rc = cl_split_words(tmp, ws, &inner);
	if (!rc)
		rc = cl_parse_words(verb, ws, endpoint, out, &inner);
	if (rc == -ENAMETOOLONG)
		rc = -EINVAL;
	if (rc) {
		diag_fail(d, rc, "%s: %s", who, inner.msg[0] ? inner.msg : cl_quote(tmp, q, sizeof(q)));
		memset(out, 0, sizeof(*out));
		out->verb = verb;
	}
	free(tmp);
	free(ws);
	return rc ? rc : 1;
}

/* ------------------------------------------------------------------------
 * Pasted model pages
 * ------------------------------------------------------------------------ */

struct cl_cand {
	char id[CONTROL_REPO_ID_MAX];
	bool strong;
	unsigned hits;
};

struct cl_page {
	struct cl_cand cand[CL_PAGE_MAX_CANDS];
	size_t n;
	unsigned markers;        /* bit per page label seen */
	size_t n_lines;
};

/* Fixed labels of a Hub model page; prefix: the line only starts with it. */
static const struct {
	const char *text;
	bool prefix;
} cl_page_labels[] = {
	{ "Model card", false }, { "Files and versions", false }, { "Files", false },
	{ "Community", false }, { "Use this model", false }, { "Downloads last month", false },
	{ "Deploy", false }, { "Train", false }, { "Inference Providers", false },
	{ "Follow", false }, { "Hugging Face", false }, { "Text Generation", false },
	{ "Image-Text-to-Text", false }, { "Safetensors", false }, { "GGUF", false },
	{ "Model tree for", true }, { "Quantizations", false }, { "Spaces using", true },
	{ "Collection including", true }, { "Edit model card", false },
};

static void cl_page_add(struct cl_page *pg, const char *s, size_t n, bool strong)
{
	size_t i;

	if (!cl_is_repo_id_n(s, n) || n >= CONTROL_REPO_ID_MAX)
		return;
	for (i = 0; i < pg->n; i++) {
		if (strlen(pg->cand[i].id) == n && strncasecmp(pg->cand[i].id, s, n) == 0) {
			pg->cand[i].strong |= strong;
			pg->cand[i].hits++;
			return;
		}
	}
	if (pg->n >= CL_PAGE_MAX_CANDS)
		return;
	memcpy(pg->cand[pg->n].id, s, n);
	pg->cand[pg->n].id[n] = '\0';
	pg->cand[pg->n].strong = strong;
	pg->cand[pg->n].hits = 1;
	pg->n++;
}

struct cl_line {
	const char *s;
	size_t n;
};

static bool cl_line_is(const struct cl_line *l, const char *word)
{
	return l->n == strlen(word) && memcmp(l->s, word, l->n) == 0;
}

/* "like", "like 262", "like\t1.2k" */
static bool cl_line_is_like(const struct cl_line *l)
{
	size_t i;

	if (l->n < 4 || memcmp(l->s, "like", 4) != 0)
		return false;
	for (i = 4; i < l->n; i++)
		if (!(isdigit((unsigned char)l->s[i]) || strchr(" \t.,kKmM", l->s[i])))
			return false;
	return true;
}

static bool cl_like_follows(const struct cl_line *lines, size_t n, size_t from)
{
	size_t i;

	for (i = from; i < n && i < from + CL_PAGE_LIKE_LINES; i++)
		if (cl_line_is_like(&lines[i]))
			return true;
	return false;
}

static bool cl_reserved_org(const char *s, size_t n)
{
	static const char *const reserved[] = {
		"api", "datasets", "spaces", "docs", "blog", "models", "settings", "join", "login",
		"pricing", "tasks", "learn", "papers", "collections", "organizations", "chat", "posts",
		"enterprise", "inference-endpoints", "new", "search", "notifications", "terms-of-service",
		"privacy", "changelog", "huggingface", "welcome",
	};
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == n && strncasecmp(reserved[i], s, n) == 0)
			return true;
	return false;
}

/* huggingface.co/ORG/REPO (and the endpoint's host) anywhere in a line. */
static void cl_page_links(struct cl_page *pg, const struct cl_line *l, const struct cl_url_host *ep,
			  bool have_ep)
{
	static const char *const hosts[] = { "huggingface.co/", "hf.co/" };
	size_t h, i;

	for (h = 0; h < 3; h++) {
		char hostbuf[sizeof(ep->host) + sizeof(ep->prefix) + 16];
		const char *host;
		size_t hn;
		int k;

		if (h < 2) {
			host = hosts[h];
		} else {
			if (!have_ep)
				break;
			if (ep->port)
				k = snprintf(hostbuf, sizeof(hostbuf), "%s:%u%s/", ep->host, ep->port, ep->prefix);
			else
				k = snprintf(hostbuf, sizeof(hostbuf), "%s%s/", ep->host, ep->prefix);
			if (k < 0 || (size_t)k >= sizeof(hostbuf))
				break;
			host = hostbuf;
		}
		hn = strlen(host);
		for (i = 0; i + hn <= l->n; i++) {
			const char *p, *end = l->s + l->n, *org, *repo_end;

			if (strncasecmp(l->s + i, host, hn) != 0)
				continue;
			if (i > 0 && (cl_is_word_char(l->s[i - 1]) || l->s[i - 1] == '.' ||
				      l->s[i - 1] == '-'))
				continue;
			org = p = l->s + i + hn;
			while (p < end && (cl_is_word_char(*p) || *p == '-' || *p == '.'))
				p++;
			if (p >= end || *p != '/' || cl_reserved_org(org, (size_t)(p - org)))
				continue;
			p++;
			while (p < end && (cl_is_word_char(*p) || *p == '-' || *p == '.'))
				p++;
			repo_end = p;
			while (repo_end > org && repo_end[-1] == '.')
				repo_end--;
			cl_page_add(pg, org, (size_t)(repo_end - org), false);
		}
	}
}

static void cl_trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t' || **s == '\r')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
		(*n)--;
}

/* Scans text into pg.  Lines are kept as views; blank lines dropped. */
static int cl_page_scan(const char *text, size_t len, const char *endpoint, struct cl_page *pg)
{
	struct cl_url_host ep;
	struct cl_line *lines;
	size_t n = 0, alloc = 0, i, k;
	const char *p = text, *end = text + len;
	bool have_ep = cl_parse_endpoint(endpoint, &ep);

	memset(pg, 0, sizeof(*pg));
	lines = NULL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		struct cl_line l = { p, (size_t)(stop - p) };

		p = nl ? nl + 1 : end;
		cl_trim(&l.s, &l.n);
		if (!l.n)
			continue;
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 256;
			struct cl_line *nl2 = realloc(lines, na * sizeof(*nl2));

			if (!nl2) {
				free(lines);
				return -ENOMEM;
			}
			lines = nl2;
			alloc = na;
		}
		lines[n++] = l;
	}
	pg->n_lines = n;
	for (i = 0; i < n; i++) {
		const struct cl_line *l = &lines[i];
		static const char tree_for[] = "Model tree for ";
		static const char tab[] = " \xc2\xb7 Hugging Face";

		for (k = 0; k < sizeof(cl_page_labels) / sizeof(cl_page_labels[0]); k++) {
			size_t ln = strlen(cl_page_labels[k].text);

			if (l->n >= ln && memcmp(l->s, cl_page_labels[k].text, ln) == 0 &&
			    (l->n == ln || cl_page_labels[k].prefix))
				pg->markers |= 1u << k;
		}
		if (cl_line_is_like(l))
			pg->markers |= 1u << 31;
		if (l->n > sizeof(tree_for) - 1 && memcmp(l->s, tree_for, sizeof(tree_for) - 1) == 0) {
			const char *s = l->s + sizeof(tree_for) - 1;
			size_t sn = l->n - (sizeof(tree_for) - 1);

			cl_trim(&s, &sn);
			cl_page_add(pg, s, sn, true);
		}
		if (l->n > sizeof(tab) - 1 && memcmp(l->s + l->n - (sizeof(tab) - 1), tab, sizeof(tab) - 1) == 0) {
			const char *s = l->s;
			size_t sn = l->n - (sizeof(tab) - 1);

			cl_trim(&s, &sn);
			cl_page_add(pg, s, sn, true);
		}
		if (i + 2 < n && cl_line_is(&lines[i + 1], "/") && cl_is_repo_part(l->s, l->n) &&
		    cl_is_repo_part(lines[i + 2].s, lines[i + 2].n) && cl_like_follows(lines, n, i + 3)) {
			char id[CONTROL_REPO_ID_MAX];

			if (l->n + lines[i + 2].n + 2 <= sizeof(id)) {
				memcpy(id, l->s, l->n);
				id[l->n] = '/';
				memcpy(id + l->n + 1, lines[i + 2].s, lines[i + 2].n);
				cl_page_add(pg, id, l->n + 1 + lines[i + 2].n, true);
			}
		}
		if (cl_is_repo_id_n(l->s, l->n) && cl_like_follows(lines, n, i + 1))
			cl_page_add(pg, l->s, l->n, true);
		cl_page_links(pg, l, &ep, have_ep);
	}
	free(lines);
	return 0;
}

static unsigned cl_popcount(unsigned v)
{
	unsigned c = 0;

	for (; v; v &= v - 1)
		c++;
	return c;
}

/* Picks the page's repo from pg: 1 when found (*pick set), 0 when there is
 * no clue, -EINVAL (d) when ambiguous. */
static int cl_page_pick(const struct cl_page *pg, const struct cl_cand **pick, struct diag *d)
{
	const struct cl_cand *strong = NULL, *weak = NULL;
	size_t i, n_strong = 0, n_weak = 0, listed = 0, o = 0;
	char list[3 * CONTROL_REPO_ID_MAX + 16];

	for (i = 0; i < pg->n; i++) {
		if (pg->cand[i].strong) {
			n_strong++;
			strong = &pg->cand[i];
		} else {
			n_weak++;
			weak = &pg->cand[i];
		}
	}
	if (n_strong == 1 || (n_strong == 0 && n_weak == 1)) {
		*pick = n_strong ? strong : weak;
		return 1;
	}
	if (n_strong == 0 && n_weak == 0)
		return 0;
	list[0] = '\0';
	for (i = 0; i < pg->n && listed < 3; i++) {
		if (n_strong && !pg->cand[i].strong)
			continue;
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s'%s'", o ? ", " : "", pg->cand[i].id);
		listed++;
	}
	return diag_fail(d, -EINVAL, "the pasted page names %zu repos (%s%s); write the one you mean "
			 "as ORG/REPO", n_strong ? n_strong : n_weak, list,
			 (n_strong ? n_strong : n_weak) > 3 ? ", ..." : "");
}

int parse_model_page(const char *text, size_t len, const char *endpoint, char *out, size_t size,
		     struct diag *d)
{
	const struct cl_cand *pick = NULL;
	struct cl_page *pg;
	int rc;

	if (!text || (len && memchr(text, '\0', len)))
		return diag_fail(d, -EINVAL, "the pasted page holds a NUL byte; paste plain text");
	if (len > CAP_CONTROL_WRITE_BYTES)
		return diag_fail(d, -EINVAL, "the pasted text is over %u bytes", CAP_CONTROL_WRITE_BYTES);
	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return diag_fail(d, -ENOMEM, "out of memory");
	rc = cl_page_scan(text, len, endpoint, pg);
	if (rc) {
		free(pg);
		return diag_fail(d, rc, "out of memory");
	}
	rc = cl_page_pick(pg, &pick, d);
	if (rc == 0)
		rc = diag_fail(d, -EINVAL, "found no repo id in the pasted text; write ORG/REPO");
	else if (rc == 1 && strlen(pick->id) >= size)
		rc = diag_fail(d, -EINVAL, "repo id too long");
	else if (rc == 1) {
		memcpy(out, pick->id, strlen(pick->id) + 1);
		rc = 0;
	}
	free(pg);
	return rc;
}

/* ------------------------------------------------------------------------
 * A whole write
 * ------------------------------------------------------------------------ */

/* Does text read as a model page: two page labels, or a strong clue? */
static int cl_try_page(const char *text, size_t len, const char *endpoint,
		       struct control_request *req, bool *is_page, struct diag *d)
{
	const struct cl_cand *pick = NULL;
	struct cl_page *pg = calloc(1, sizeof(*pg));
	struct diag inner;
	bool strong = false;
	size_t i;
	int rc;

	*is_page = false;
	if (!pg)
		return diag_fail(d, -ENOMEM, "out of memory");
	rc = cl_page_scan(text, len, endpoint, pg);
	if (rc) {
		free(pg);
		return diag_fail(d, rc, "out of memory");
	}
	for (i = 0; i < pg->n; i++)
		strong |= pg->cand[i].strong;
	if (!strong && cl_popcount(pg->markers) < 2) {
		free(pg);
		return 0;
	}
	*is_page = true;
	diag_init(&inner);
	rc = cl_page_pick(pg, &pick, &inner);
	if (rc == 0)
		rc = diag_fail(d, -EINVAL, "register: found no repo id in the pasted page; write ORG/REPO");
	else if (rc < 0)
		rc = diag_fail(d, rc, "register: %s", inner.msg);
	else {
		memset(req, 0, sizeof(*req));
		req->verb = CONTROL_REGISTER;
		req->target = CONTROL_TARGET_REPO;
		req->from_page = true;
		memcpy(req->repo_id, pick->id, strlen(pick->id) + 1);
		rc = 0;
	}
	free(pg);
	return rc;
}

ssize_t parse_control_text(enum control_verb verb, const char *text, size_t len, const char *endpoint,
			   struct control_request **out, struct diag *d)
{
	const char *who = parse_control_verb_name(verb);
	const char *p = text, *end = text + len;
	struct control_request *reqs = NULL, *r;
	size_t n = 0, alloc = 0, lineno = 0;
	char *line = NULL;
	struct diag first;
	int rc = 0;

	*out = NULL;
	if (len > CAP_CONTROL_WRITE_BYTES)
		return diag_fail(d, -EINVAL, "%s: over %u bytes in one write; write fewer lines", who,
				 CAP_CONTROL_WRITE_BYTES);
	if (len && !text)
		return diag_fail(d, -EINVAL, "%s: no text", who);
	if (len && memchr(text, '\0', len)) {
		const char *z = memchr(text, '\0', len), *q;
		size_t ln = 1;

		for (q = text; q < z; q++)
			ln += *q == '\n';
		return diag_fail(d, -EINVAL, "%s: line %zu holds a NUL byte; write plain text", who, ln);
	}
	line = malloc(CAP_LINE_BYTES + 1);
	if (!line)
		return diag_fail(d, -ENOMEM, "out of memory");
	diag_init(&first);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t ln = (size_t)(stop - p);
		struct control_request one;
		struct diag ld;

		lineno++;
		p = nl ? nl + 1 : end;
		diag_init(&ld);
		if (ln >= CAP_LINE_BYTES) {
			rc = diag_fail(&ld, -EINVAL, "%s: line longer than %d bytes; write one request per "
				       "line", who, CAP_LINE_BYTES - 1);
		} else {
			memcpy(line, stop - ln, ln);
			line[ln] = '\0';
			rc = parse_control_line(verb, line, endpoint, &one, &ld);
		}
		if (rc < 0) {
			if (lineno == 1 && p >= end)
				diag_fail(&first, rc, "%s", ld.msg);
			else
				diag_fail(&first, rc, "line %zu: %s", lineno, ld.msg);
			break;
		}
		if (rc == 0)
			continue;
		if (n >= CONTROL_MAX_REQUESTS) {
			rc = diag_fail(&first, -EINVAL, "%s: more than %d requests in one write; write "
				       "fewer lines", who, CONTROL_MAX_REQUESTS);
			break;
		}
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 4;

			r = realloc(reqs, na * sizeof(*r));
			if (!r) {
				rc = diag_fail(&first, -ENOMEM, "out of memory");
				break;
			}
			reqs = r;
			alloc = na;
		}
		reqs[n++] = one;
		rc = 0;
	}
	free(line);
	if (rc < 0 && rc != -ENOMEM && verb == CONTROL_REGISTER) {
		struct control_request page;
		bool is_page;
		int prc;

		prc = cl_try_page(text, len, endpoint, &page, &is_page, d);
		if (is_page || prc == -ENOMEM) {
			free(reqs);
			if (prc)
				return prc;
			r = malloc(sizeof(*r));
			if (!r)
				return diag_fail(d, -ENOMEM, "out of memory");
			*r = page;
			*out = r;
			return 1;
		}
	}
	if (rc < 0) {
		free(reqs);
		return diag_fail(d, rc, "%s", first.msg);
	}
	*out = reqs;
	return (ssize_t)n;
}
