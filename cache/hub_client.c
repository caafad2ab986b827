/*
 * hub_client.c - the Hugging Face Hub's API: model info, tree listings,
 * and files through /resolve, over libcurl.
 *
 * A registration makes a handful of calls (one model info, a config.json,
 * then one range reader per GGUF file), and a mount may make them from
 * several FUSE threads at once.  Connections are the expensive part: a TLS
 * handshake to huggingface.co costs two or three round trips, more than
 * the small answers themselves.  So a hub holds a curl share of DNS
 * answers, TLS sessions and the connection cache, and a pool of at most
 * HUB_POOL_HANDLES idle easy handles; each call takes a handle, resets it,
 * and gives it back, and the share lets any handle reuse any idle
 * connection.  The share keeps up to HUB_KEEP_CONNECTIONS idle
 * connections: with libcurl's default of 5, six threads at once closed
 * nearly every connection after its request (60 connections for 60
 * requests; 6 with the higher limit).  The share's locks are one mutex
 * per kind of data, as libcurl asks.  The pool's lock is never held
 * across a transfer.
 *
 * Redirects are followed by hand, never by libcurl, for the same reason as
 * in hub.c: the token must reach only the endpoint's origin, and the Hub
 * sends LFS files to a CDN on another host with a signed query string
 * (itself a secret, so messages show URLs without queries).  Renamed repos
 * answer 307 with a relative Location on the same origin, which keeps the
 * token.  A HEAD follows only such same-origin hops, as huggingface_hub's
 * get_hf_file_metadata does, so the LFS headers (X-Linked-Etag,
 * X-Linked-Size) of the redirect itself are what it reports.
 *
 * Failures that may pass are retried: 5xx, 429, and transfers that broke
 * (reset, nothing received, cut short).  The pause starts at backoff_ms
 * and doubles, with up to 50% jitter so that many clients do not retry in
 * step; a 429 or 503 with Retry-After waits at least that long.  A call
 * gives up after max_retries or when the next pause would pass
 * retry_budget_ms (the Hub's "wait 300 s" then fails at once with -EAGAIN
 * rather than blocking a write() for five minutes).  A refused connection
 * is retried once: a hub that is down should fail fast with -ENETDOWN.
 * Timeouts are not retried: the caller already waited timeout_ms.
 *
 * Every answer body has a cap (CAP_HUB_JSON_BYTES for the API, the
 * caller's sbuf cap for files), enforced as bytes arrive.  The Hub's own
 * error codes (X-Error-Code) pick the errno and the message, so a user
 * reads "revision 'v9' not found in 'org/repo'" rather than "HTTP 404".
 */
#include "cache.h"
#include "cache_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HUB_USER_AGENT_CLIENT  "modelfs/" MODELFS_VERSION
#define HUB_ERROR_BODY_BYTES   2048       /* bytes of an error answer kept */
#define HUB_RETRY_AFTER_MAX_S  3600       /* a longer Retry-After is taken as this */
#define HUB_BACKOFF_MAX_MS     8000       /* one pause at most, before Retry-After */
#define HUB_LINK_MAX_BYTES     4096       /* a Link header's next URL */
#define HUB_KEEP_CONNECTIONS   32         /* idle connections the share keeps (curl's default: 5) */

struct hub {
	char *endpoint;                   /* without a trailing '/' */
	char *origin;                     /* "scheme://host:port" of endpoint, lowercase */
	char *auth_header;                /* "Authorization: Bearer ...", or NULL */
	char *token_source;               /* "" when unknown */
	struct hub_options opt;           /* string fields NULL: see above */
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *pool[HUB_POOL_HANDLES];     /* idle handles; protected by pool_lock */
	size_t n_pool;                    /* protected by pool_lock */
	pthread_mutex_t stats_lock;
	struct hub_stats stats;           /* protected by stats_lock */
	uint64_t rng;                     /* jitter; protected by stats_lock */
};

enum hub_follow {
	HUB_FOLLOW_NONE = 0,
	HUB_FOLLOW_SAME_ORIGIN,           /* relative redirects (renamed repos) */
	HUB_FOLLOW_ALL,
};

/* One call: a request, its redirects and retries. */
struct hub_call {
	struct hub *h;
	bool head;                        /* HEAD, else GET */
	enum hub_follow follow;
	bool ranged;
	uint64_t off;                     /* ranged: first byte */
	size_t len;                       /* ranged: bytes */
	bool api;                         /* an API call: Accept JSON, whole-call timeout */
	struct sbuf *body;                /* 2xx body (not ranged), or NULL to drop it */
	unsigned char *dst;               /* ranged: where the bytes go */
	size_t got;                       /* ranged: bytes stored */
	/* context for messages */
	const char *repo_id;
	const char *revision;
	const char *path;
	/* the last answer */
	CURL *curl;
	CURLcode res;
	long status;
	bool cut;                         /* transfer stopped on purpose */
	bool over_cap;                    /* the body passed its cap */
	char error_code[64];
	char error_message[256];
	char commit[48];
	char etag[136];
	char linked_etag[136];
	uint64_t linked_size;
	bool has_linked_size;
	uint64_t content_length;
	bool has_content_length;
	bool cr_seen;
	uint64_t cr_start;
	long retry_after_s;               /* -1 when not sent */
	char *next_link;                  /* Link rel="next", new */
	struct sbuf err_body;             /* non-2xx body, capped */
	char errbuf[CURL_ERROR_SIZE];
	char *url;                        /* current URL, new */
	unsigned tries;                   /* retries made */
	uint32_t waited_ms;
	bool gave_up_budget;              /* stopped retrying: budget or count */
};

static pthread_once_t hub_client_once = PTHREAD_ONCE_INIT;
static CURLcode hub_client_init_rc;

static void hub_client_global_init(void)
{
	hub_client_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hub_options_init(struct hub_options *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = 10000;
	o->timeout_ms = 60000;
	o->stall_timeout_ms = 30000;
	o->retry_budget_ms = 30000;
	o->max_retries = 4;
	o->backoff_ms = 250;
}

/* ------------------------------------------------------------------------
 * URLs
 * ------------------------------------------------------------------------ */

static char *hub_strdup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* url without its query and fragment, for messages. */
static void hub_safe_url(const char *url, char *out, size_t size)
{
	size_t n = strcspn(url, "?#");

	if (n >= size)
		n = size - 1;
	memcpy(out, url, n);
	out[n] = '\0';
}

static bool hub_is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends s percent-encoded; '/' kept when keep_slash. */
static int hub_add_encoded(struct sbuf *sb, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (hub_is_unreserved(c) || (keep_slash && c == '/')) {
			sbuf_addch(sb, (char)c);
		} else {
			sbuf_addch(sb, '%');
			sbuf_addch(sb, hex[c >> 4]);
			sbuf_addch(sb, hex[c & 15]);
		}
	}
	return sb->err;
}

static bool hub_path_ok(const char *path)
{
	const char *p = path;

	if (!path || !*path || *path == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/"), i;

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return false;
		p += n;
		if (*p == '/' && !*++p)
			return false;
	}
	return true;
}

static bool hub_rev_ok(const char *rev)
{
	size_t i;

	if (!rev || !*rev || strstr(rev, ".."))
		return false;
	for (i = 0; rev[i]; i++)
		if ((unsigned char)rev[i] <= 0x20 || rev[i] == 0x7f)
			return false;
	return true;
}

/* endpoint/api/models/REPO[tail...] or endpoint/REPO/resolve/REV/PATH. */
static int hub_api_url(const struct hub *h, const char *repo_id, const char *kind, const char *rev,
		       const char *path, const char *query, char **out)
{
	struct sbuf sb;

	*out = NULL;
	if (!parse_is_repo_id(repo_id) || (rev && !hub_rev_ok(rev)) || (path && *path && !hub_path_ok(path)))
		return -EINVAL;
	sbuf_init(&sb, CAP_LINE_BYTES * 4);
	sbuf_addstr(&sb, h->endpoint);
	sbuf_addstr(&sb, "/api/models/");
	sbuf_addstr(&sb, repo_id);
	if (kind) {
		sbuf_addch(&sb, '/');
		sbuf_addstr(&sb, kind);
		sbuf_addch(&sb, '/');
		hub_add_encoded(&sb, rev ? rev : "main", false);
	}
	if (path && *path) {
		sbuf_addch(&sb, '/');
		hub_add_encoded(&sb, path, true);
	}
	if (query)
		sbuf_addstr(&sb, query);
	if (sb.err) {
		int rc = sb.err;

		sbuf_release(&sb);
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	*out = sbuf_detach(&sb, NULL);
	return 0;
}

int hub_file_url(const struct hub *h, const char *repo_id, const char *revision, const char *path,
		 char **out)
{
	struct sbuf sb;

	*out = NULL;
	if (!parse_is_repo_id(repo_id) || !hub_path_ok(path) || (revision && !hub_rev_ok(revision)))
		return -EINVAL;
	sbuf_init(&sb, CAP_LINE_BYTES * 4);
	sbuf_addstr(&sb, h->endpoint);
	sbuf_addch(&sb, '/');
	sbuf_addstr(&sb, repo_id);
	sbuf_addstr(&sb, "/resolve/");
	hub_add_encoded(&sb, revision ? revision : "main", false);
	sbuf_addch(&sb, '/');
	hub_add_encoded(&sb, path, true);
	if (sb.err) {
		int rc = sb.err;

		sbuf_release(&sb);
		return rc == -ENOMEM ? -ENOMEM : -EINVAL;
	}
	*out = sbuf_detach(&sb, NULL);
	return 0;
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

static void hub_share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ud)
{
	struct hub *h = ud;

	(void)handle;
	(void)access;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&h->share_lock[data]);
}

static void hub_share_unlock(CURL *handle, curl_lock_data data, void *ud)
{
	struct hub *h = ud;

	(void)handle;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&h->share_lock[data]);
}

static void hub_destroy(struct hub *h)
{
	size_t i;

	for (i = 0; i < h->n_pool; i++)
		curl_easy_cleanup(h->pool[i]);
	if (h->share)
		curl_share_cleanup(h->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->share_lock[i]);
	pthread_mutex_destroy(&h->pool_lock);
	pthread_mutex_destroy(&h->stats_lock);
	free(h->endpoint);
	free(h->origin);
	if (h->auth_header) {
		explicit_bzero(h->auth_header, strlen(h->auth_header));
		free(h->auth_header);
	}
	free(h->token_source);
	free(h);
}

void hub_free(struct hub *h)
{
	if (h)
		hub_destroy(h);
}

int hub_new(const struct hub_options *o, struct hub **out, struct diag *d)
{
	const char *ep = o->endpoint && *o->endpoint ? o->endpoint : HUB_DEFAULT_ENDPOINT;
	struct hub *h;
	size_t n, i;
	int rc;

	*out = NULL;
	rc = parse_url(ep, d);
	if (rc)
		return rc;
	if (strpbrk(ep, "?#"))
		return diag_fail(d, -EINVAL, "endpoint '%s' has a query or fragment; give the hub's base URL",
				 ep);
	if (o->token) {
		for (i = 0; o->token[i]; i++)
			if ((unsigned char)o->token[i] < 0x20 || o->token[i] == 0x7f)
				return diag_fail(d, -EINVAL, "the token holds a line break or control byte; "
						 "check %s", o->token_source && *o->token_source ?
						 o->token_source : "the token");
	}
	pthread_once(&hub_client_once, hub_client_global_init);
	if (hub_client_init_rc != CURLE_OK)
		return diag_fail(d, -ENOMEM, "cannot initialize libcurl: %s",
				 curl_easy_strerror(hub_client_init_rc));
	h = calloc(1, sizeof(*h));
	if (!h)
		return diag_fail(d, -ENOMEM, "out of memory");
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->share_lock[i], NULL);
	pthread_mutex_init(&h->pool_lock, NULL);
	pthread_mutex_init(&h->stats_lock, NULL);
	h->opt = *o;
	h->opt.endpoint = NULL;
	h->opt.token = NULL;
	h->opt.token_source = NULL;
	n = strlen(ep);
	while (n > 0 && ep[n - 1] == '/')
		n--;
	h->endpoint = hub_strdup_n(ep, n);
	h->token_source = strdup(o->token_source ? o->token_source : "");
	if (!h->endpoint || !h->token_source)
		goto out_nomem;
	h->origin = hub_url_origin(h->endpoint);
	if (!h->origin) {
		hub_destroy(h);
		return diag_fail(d, -EINVAL, "cannot parse endpoint '%s'; give an http(s) URL", ep);
	}
	if (o->token && *o->token) {
		n = strlen(o->token) + sizeof("Authorization: Bearer ");
		h->auth_header = malloc(n);
		if (!h->auth_header)
			goto out_nomem;
		snprintf(h->auth_header, n, "Authorization: Bearer %s", o->token);
	}
	h->share = curl_share_init();
	if (!h->share)
		goto out_nomem;
	curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, hub_share_lock);
	curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, hub_share_unlock);
	curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	h->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)h ^ 0x9e3779b97f4a7c15ull;
	*out = h;
	return 0;

out_nomem:
	hub_destroy(h);
	return diag_fail(d, -ENOMEM, "out of memory");
}

const char *hub_endpoint(const struct hub *h)
{
	return h->endpoint;
}

bool hub_is_offline(const struct hub *h)
{
	return h->opt.offline;
}

bool hub_has_token(const struct hub *h)
{
	return h->auth_header != NULL;
}

const char *hub_token_source(const struct hub *h)
{
	return h->token_source;
}

void hub_get_stats(struct hub *h, struct hub_stats *out)
{
	pthread_mutex_lock(&h->stats_lock);
	*out = h->stats;
	pthread_mutex_unlock(&h->stats_lock);
}

static CURL *hub_take_handle(struct hub *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->pool_lock);
	if (h->n_pool)
		c = h->pool[--h->n_pool];
	pthread_mutex_unlock(&h->pool_lock);
	if (c)
		curl_easy_reset(c);
	else
		c = curl_easy_init();
	return c;
}

static void hub_give_handle(struct hub *h, CURL *c)
{
	pthread_mutex_lock(&h->pool_lock);
	if (h->n_pool < HUB_POOL_HANDLES) {
		h->pool[h->n_pool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->pool_lock);
	if (c)
		curl_easy_cleanup(c);
}

/* ------------------------------------------------------------------------
 * One request
 * ------------------------------------------------------------------------ */

static void hub_copy_value(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* An ETag value without W/ and quotes. */
static void hub_copy_etag(char *dst, size_t size, const char *v, size_t n)
{
	if (n >= 2 && v[0] == 'W' && v[1] == '/') {
		v += 2;
		n -= 2;
	}
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	hub_copy_value(dst, size, v, n);
}

static bool hub_parse_u64(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 19)
		return false;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

/* Link: <URL>; rel="next", <URL2>; rel="prev" */
static void hub_parse_link(struct hub_call *c, const char *v, size_t n)
{
	const char *p = v, *end = v + n;

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *gt, *next_lt, *params;

		if (!lt)
			return;
		gt = memchr(lt, '>', (size_t)(end - lt));
		if (!gt)
			return;
		params = gt + 1;
		next_lt = memchr(params, '<', (size_t)(end - params));
		if (!next_lt)
			next_lt = end;
		for (const char *q = params; q + 8 <= next_lt; q++) {
			if (strncasecmp(q, "rel=\"next\"", 10) == 0 || strncasecmp(q, "rel=next", 8) == 0) {
				size_t un = (size_t)(gt - lt - 1);

				if (un > 0 && un < HUB_LINK_MAX_BYTES && !c->next_link)
					c->next_link = hub_strdup_n(lt + 1, un);
				return;
			}
		}
		p = next_lt;
	}
}

static inline bool hub_hdr_is(const char *line, size_t name_len, const char *name)
{
	return name_len == strlen(name) && strncasecmp(line, name, name_len) == 0;
}

static size_t hub_on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct hub_call *c = ud;
	size_t n = size * nmemb, nn, vn;
	const char *colon, *v;

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		c->error_code[0] = c->error_message[0] = c->commit[0] = c->etag[0] = c->linked_etag[0] = '\0';
		c->has_linked_size = c->has_content_length = c->cr_seen = false;
		c->retry_after_s = -1;
		free(c->next_link);
		c->next_link = NULL;
		return n;
	}
	colon = memchr(ptr, ':', n);
	if (!colon)
		return n;
	nn = (size_t)(colon - ptr);
	v = colon + 1;
	vn = n - nn - 1;
	while (vn && (*v == ' ' || *v == '\t')) {
		v++;
		vn--;
	}
	while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
		vn--;
	if (hub_hdr_is(ptr, nn, "x-error-code")) {
		hub_copy_value(c->error_code, sizeof(c->error_code), v, vn);
	} else if (hub_hdr_is(ptr, nn, "x-error-message")) {
		hub_copy_value(c->error_message, sizeof(c->error_message), v, vn);
	} else if (hub_hdr_is(ptr, nn, "x-repo-commit")) {
		hub_copy_value(c->commit, sizeof(c->commit), v, vn);
	} else if (hub_hdr_is(ptr, nn, "etag")) {
		hub_copy_etag(c->etag, sizeof(c->etag), v, vn);
	} else if (hub_hdr_is(ptr, nn, "x-linked-etag")) {
		hub_copy_etag(c->linked_etag, sizeof(c->linked_etag), v, vn);
	} else if (hub_hdr_is(ptr, nn, "x-linked-size")) {
		c->has_linked_size = hub_parse_u64(v, vn, &c->linked_size);
	} else if (hub_hdr_is(ptr, nn, "content-length")) {
		c->has_content_length = hub_parse_u64(v, vn, &c->content_length);
	} else if (hub_hdr_is(ptr, nn, "retry-after")) {
		uint64_t s;
		char date[128];

		if (hub_parse_u64(v, vn, &s)) {
			c->retry_after_s = s > HUB_RETRY_AFTER_MAX_S ? HUB_RETRY_AFTER_MAX_S : (long)s;
		} else if (vn < sizeof(date)) {
			time_t when, now = time(NULL);

			memcpy(date, v, vn);
			date[vn] = '\0';
			when = curl_getdate(date, NULL);
			if (when > 0)
				c->retry_after_s = when <= now ? 0 :
						   (when - now > HUB_RETRY_AFTER_MAX_S ? HUB_RETRY_AFTER_MAX_S :
						    (long)(when - now));
		}
	} else if (hub_hdr_is(ptr, nn, "link")) {
		hub_parse_link(c, v, vn);
	} else if (hub_hdr_is(ptr, nn, "content-range")) {
		uint64_t a = 0;
		size_t i = 0;

		if (vn > 6 && strncasecmp(v, "bytes ", 6) == 0) {
			for (i = 6; i < vn && v[i] >= '0' && v[i] <= '9'; i++)
				a = a * 10 + (uint64_t)(v[i] - '0');
			if (i > 6 && i < vn && v[i] == '-') {
				c->cr_seen = true;
				c->cr_start = a;
			}
		}
	}
	return n;
}

static size_t hub_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct hub_call *c = ud;
	size_t n = size * nmemb;
	long status = 0;

	pthread_mutex_lock(&c->h->stats_lock);
	c->h->stats.bytes += n;
	pthread_mutex_unlock(&c->h->stats_lock);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		if (status < 300 || status >= 400)
			sbuf_add(&c->err_body, ptr, n < HUB_ERROR_BODY_BYTES ? n : HUB_ERROR_BODY_BYTES);
		return n;
	}
	if (c->ranged) {
		size_t room = c->len - c->got, take = n < room ? n : room;

		if (status == 200 && c->off != 0) {
			c->cut = true;
			return 0;
		}
		memcpy(c->dst + c->got, ptr, take);
		c->got += take;
		if (take < n || (status == 200 && c->got == c->len)) {
			c->cut = true;
			return 0;
		}
		return n;
	}
	if (!c->body)
		return n;
	if (sbuf_add(c->body, ptr, n)) {
		c->over_cap = true;
		return 0;
	}
	return n;
}

/* Sends one request to c->url (no redirect followed). */
static void hub_perform(struct hub_call *c)
{
	struct hub *h = c->h;
	struct curl_slist *hdrs = NULL, *tmp;
	char range[80];
	bool send_token;

	c->status = 0;
	c->cut = false;
	c->over_cap = false;
	c->errbuf[0] = '\0';
	c->got = 0;
	c->retry_after_s = -1;
	sbuf_reset(&c->err_body);
	if (c->body)
		sbuf_reset(c->body);
	c->curl = hub_take_handle(h);
	if (!c->curl) {
		c->res = CURLE_OUT_OF_MEMORY;
		return;
	}
	send_token = h->auth_header && hub_url_has_origin(c->url, h->origin);
	if (send_token && !(tmp = curl_slist_append(hdrs, h->auth_header)))
		goto out_nomem;
	if (send_token)
		hdrs = tmp;
	if (c->ranged) {
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)c->off,
			 (unsigned long long)(c->off + c->len - 1));
		tmp = curl_slist_append(hdrs, range);
		if (!tmp)
			goto out_nomem;
		hdrs = tmp;
	}
	if (c->api) {
		tmp = curl_slist_append(hdrs, "Accept: application/json");
		if (!tmp)
			goto out_nomem;
		hdrs = tmp;
	}
	curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
	curl_easy_setopt(c->curl, CURLOPT_SHARE, h->share);
	curl_easy_setopt(c->curl, CURLOPT_MAXCONNECTS, (long)HUB_KEEP_CONNECTIONS);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, HUB_USER_AGENT_CLIENT);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)h->opt.connect_timeout_ms);
	if (c->ranged && h->opt.stall_timeout_ms) {
		curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME,
				 (long)((h->opt.stall_timeout_ms + 999) / 1000));
	} else {
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)h->opt.timeout_ms);
	}
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, hub_on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, hub_on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	if (c->head)
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	pthread_mutex_lock(&h->stats_lock);
	h->stats.requests++;
	pthread_mutex_unlock(&h->stats_lock);
	c->res = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
	if (c->res == CURLE_WRITE_ERROR && c->cut)
		c->res = CURLE_OK;
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return;

out_nomem:
	curl_slist_free_all(hdrs);
	c->res = CURLE_OUT_OF_MEMORY;
}

static bool hub_is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static bool hub_is_transient(const struct hub_call *c)
{
	switch (c->res) {
	case CURLE_OK:
		return c->status == 429 || c->status == 500 || c->status == 502 || c->status == 503 ||
		       c->status == 504;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	case CURLE_COULDNT_CONNECT:
		return c->tries == 0;
	default:
		return false;
	}
}

static uint32_t hub_jitter(struct hub *h, uint32_t ms)
{
	uint64_t x;

	pthread_mutex_lock(&h->stats_lock);
	x = h->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	h->rng = x;
	pthread_mutex_unlock(&h->stats_lock);
	return ms / 2 ? (uint32_t)(x % (ms / 2 + 1)) : 0;
}

static void hub_sleep_ms(uint32_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void hub_call_init(struct hub_call *c, struct hub *h)
{
	memset(c, 0, sizeof(*c));
	c->h = h;
	c->retry_after_s = -1;
	sbuf_init(&c->err_body, HUB_ERROR_BODY_BYTES);
}

static void hub_call_release(struct hub_call *c)
{
	if (c->curl)
		hub_give_handle(c->h, c->curl);
	c->curl = NULL;
	free(c->url);
	free(c->next_link);
	sbuf_release(&c->err_body);
}

static void hub_log_request(const struct hub_call *c)
{
	char url[512];

	hub_safe_url(c->url, url, sizeof(url));
	if (c->res != CURLE_OK)
		log_msg(LOG_DEBUG, "hub: %s %s: %s", c->head ? "HEAD" : "GET", url,
			c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->res));
	else
		log_msg(LOG_DEBUG, "hub: %s %s -> %ld%s%s", c->head ? "HEAD" : "GET", url, c->status,
			c->error_code[0] ? " " : "", c->error_code);
}

/* Runs c from url: redirects and retries.  Returns 0 when an answer came
 * (any status), or -EIO/-ENOMEM for too many redirects or no memory, with
 * c->res set for transport failures (checked by hub_call_errno). */
static int hub_call_run(struct hub_call *c, const char *url)
{
	struct hub *h = c->h;
	unsigned hops = 0;

	c->url = strdup(url);
	if (!c->url)
		return -ENOMEM;
	for (;;) {
		char *next = NULL;

		if (c->curl) {
			hub_give_handle(h, c->curl);
			c->curl = NULL;
		}
		hub_perform(c);
		if (c->res == CURLE_OUT_OF_MEMORY)
			return -ENOMEM;
		hub_log_request(c);
		if (c->res == CURLE_OK && hub_is_redirect(c->status) && c->follow != HUB_FOLLOW_NONE) {
			curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &next);
			if (next && (c->follow == HUB_FOLLOW_ALL || hub_url_has_origin(next, h->origin))) {
				char *copy;

				if (++hops > HUB_MAX_REDIRECTS)
					return -ELOOP;
				copy = strdup(next);
				if (!copy)
					return -ENOMEM;
				free(c->url);
				c->url = copy;
				continue;
			}
		}
		if (hub_is_transient(c)) {
			uint32_t wait = h->opt.backoff_ms, step;
			unsigned i;

			for (i = 0; i < c->tries && wait < HUB_BACKOFF_MAX_MS; i++)
				wait *= 2;
			if (wait > HUB_BACKOFF_MAX_MS)
				wait = HUB_BACKOFF_MAX_MS;
			wait += hub_jitter(h, wait);
			if (c->res == CURLE_OK && c->retry_after_s >= 0 &&
			    (uint64_t)c->retry_after_s * 1000 > wait)
				wait = (uint32_t)c->retry_after_s * 1000;
			step = wait;
			if (c->tries >= h->opt.max_retries ||
			    (uint64_t)c->waited_ms + step > h->opt.retry_budget_ms) {
				c->gave_up_budget = true;
				return 0;
			}
			hub_sleep_ms(step);
			c->waited_ms += step;
			c->tries++;
			pthread_mutex_lock(&h->stats_lock);
			h->stats.retries++;
			pthread_mutex_unlock(&h->stats_lock);
			continue;
		}
		return 0;
	}
}

static const char *hub_token_hint(const struct hub *h)
{
	return h->token_source[0] ? h->token_source : "the configured token";
}

/* The errno and message of a finished call; 0 for 2xx (and for
 * redirects when allow_redirect). */
static int hub_call_errno(struct hub_call *c, int run_rc, bool allow_redirect, struct diag *d)
{
	struct hub *h = c->h;
	char url[512], what[CONTROL_REPO_ID_MAX + CONTROL_REVISION_MAX + REGISTRY_PATH_MAX_BYTES + 32];
	const char *rev = c->revision ? c->revision : "main";

	hub_safe_url(c->url ? c->url : h->endpoint, url, sizeof(url));
	if (c->path && *c->path)
		snprintf(what, sizeof(what), "'%s' in '%s' at '%s'", c->path, c->repo_id, rev);
	else
		snprintf(what, sizeof(what), "'%s'", c->repo_id ? c->repo_id : url);
	if (run_rc == -ENOMEM)
		return diag_fail(d, -ENOMEM, "out of memory");
	if (run_rc == -ELOOP)
		return diag_fail(d, -EIO, "'%s' redirects more than %d times; check endpoint=", url,
				 HUB_MAX_REDIRECTS);
	if (c->res != CURLE_OK) {
		int e;

		if (c->over_cap)
			return diag_fail(d, -EIO, "the hub's answer for %s is over %zu bytes", what,
					 c->body ? c->body->cap : (size_t)0);
		e = hub_errno((int)c->res, 0);
		if (e == -ENETDOWN)
			return diag_fail(d, -ENETDOWN, "cannot reach the hub at %s: %s; check the network "
					 "or endpoint=", h->endpoint,
					 c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->res));
		if (e == -ETIMEDOUT)
			return diag_fail(d, -ETIMEDOUT, "the hub at %s timed out on %s: %s; try again later, or "
					 "mount with a larger -o timeout=",
					 h->endpoint, what,
					 c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->res));
		return diag_fail(d, -EIO, "fetching %s from %s failed%s: %s", what, url,
				 c->tries ? " after retries" : "",
				 c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->res));
	}
	if (c->status >= 200 && c->status < 300)
		return 0;
	if (allow_redirect && c->status >= 300 && c->status < 400)
		return 0;
	if (strcmp(c->error_code, "RepoNotFound") == 0) {
		if (!h->auth_header)
			return diag_fail(d, -ENOENT, "repository '%s' not found on %s; check the name, and if "
					 "it is private, set a token (HF_TOKEN or token_file=)",
					 c->repo_id ? c->repo_id : "?", h->endpoint);
		return diag_fail(d, -ENOENT, "repository '%s' not found on %s; check the name, and if it "
				 "is private, that the token from %s can read it", c->repo_id ? c->repo_id : "?",
				 h->endpoint, hub_token_hint(h));
	}
	if (strcmp(c->error_code, "RevisionNotFound") == 0)
		return diag_fail(d, -ENOENT, "revision '%s' not found in '%s'; give a branch, tag or commit "
				 "of the repo", rev, c->repo_id ? c->repo_id : "?");
	if (strcmp(c->error_code, "EntryNotFound") == 0)
		return diag_fail(d, -ENOENT, "%s not found; check the path", what);
	if (strcmp(c->error_code, "GatedRepo") == 0) {
		if (!h->auth_header)
			return diag_fail(d, -EACCES, "'%s' is gated: accept its licence at %s/%s, then set a "
					 "token of that account (HF_TOKEN or token_file=)",
					 c->repo_id ? c->repo_id : "?", h->endpoint, c->repo_id ? c->repo_id : "");
		return diag_fail(d, -EACCES, "'%s' is gated and the token from %s has no access: accept its "
				 "licence at %s/%s with the token's account", c->repo_id ? c->repo_id : "?",
				 hub_token_hint(h), h->endpoint, c->repo_id ? c->repo_id : "");
	}
	if (c->status == 401 || c->status == 403) {
		if (h->auth_header)
			return diag_fail(d, -EACCES, "the hub refused the token from %s for %s (HTTP %ld%s%s); "
					 "check the token", hub_token_hint(h), what, c->status,
					 c->error_message[0] ? ": " : "", c->error_message);
		return diag_fail(d, -EACCES, "the hub refused %s without a token (HTTP %ld); set a token "
				 "(HF_TOKEN or token_file=)", what, c->status);
	}
	if (c->status == 404 || c->status == 410)
		return diag_fail(d, -ENOENT, "%s not found on %s (HTTP %ld)", what, h->endpoint, c->status);
	if (c->status == 429)
		return diag_fail(d, -EAGAIN, "the hub kept answering 429 (rate limited) for %s after %u "
				 "retries; try again later", what, c->tries);
	if (c->status >= 500)
		return diag_fail(d, -EIO, "the hub answered HTTP %ld for %s%s; try again later", c->status,
				 what, c->tries ? " after retries" : "");
	if (c->status >= 300 && c->status < 400)
		return diag_fail(d, -EIO, "the hub answered HTTP %ld for %s with no usable Location",
				 c->status, what);
	return diag_fail(d, hub_errno(CURLE_OK, c->status), "the hub answered HTTP %ld for %s", c->status,
			 what);
}

static int hub_offline(const struct hub *h, const char *what, struct diag *d)
{
	return diag_fail(d, -ENETDOWN, "offline: not fetching '%s' (the mount has 'offline' or "
			 "HF_HUB_OFFLINE=1); unset it to reach %s", what, h->endpoint);
}

static void hub_fill_meta(const struct hub_call *c, struct hub_file_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->status = c->status;
	snprintf(m->commit, sizeof(m->commit), "%s", c->commit);
	snprintf(m->etag, sizeof(m->etag), "%s", c->etag);
	snprintf(m->linked_etag, sizeof(m->linked_etag), "%s", c->linked_etag);
	m->is_lfs = c->linked_etag[0] || c->has_linked_size;
	if (c->has_linked_size)
		m->size_bytes = c->linked_size;
	else if (c->has_content_length && !hub_is_redirect(c->status) && c->status != 206)
		m->size_bytes = c->content_length;
	else
		m->size_bytes = UINT64_MAX;
}

/* ------------------------------------------------------------------------
 * Model info and listings
 * ------------------------------------------------------------------------ */

void hub_model_info_release(struct hub_model_info *mi)
{
	free(mi->id);
	free(mi->sha);
	memset(mi, 0, sizeof(*mi));
}

static bool hub_is_sha1_hex(const char *s)
{
	size_t i;

	for (i = 0; i < 40; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[40] == '\0';
}

int hub_model_info_parse(const char *json, size_t len, struct hub_model_info *out,
			 struct registry_listing *files, struct diag *d)
{
	json_error_t err;
	json_t *root, *id, *sha, *v;
	size_t before = files ? files->n : 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!json)
		return MALFORMED(d, "empty model info");
	root = json_loadb(json, len, 0, &err);
	if (!root)
		return MALFORMED(d, "the model info is not JSON: %s (line %d)", err.text, err.line);
	if (!json_is_object(root)) {
		rc = MALFORMED(d, "the model info is not a JSON object");
		goto out_free;
	}
	id = json_object_get(root, "id");
	if (!id)
		id = json_object_get(root, "modelId");
	if (!json_is_string(id) || json_string_length(id) != strlen(json_string_value(id)) ||
	    !parse_is_repo_id(json_string_value(id))) {
		rc = MALFORMED(d, "the model info has no valid \"id\"");
		goto out_free;
	}
	sha = json_object_get(root, "sha");
	if (sha && !json_is_null(sha) && (!json_is_string(sha) || !hub_is_sha1_hex(json_string_value(sha)))) {
		rc = MALFORMED(d, "the model info's \"sha\" is not a 40-digit commit");
		goto out_free;
	}
	v = json_object_get(root, "private");
	if (v && !json_is_boolean(v) && !json_is_null(v)) {
		rc = MALFORMED(d, "the model info's \"private\" is not a boolean");
		goto out_free;
	}
	out->is_private = json_is_true(v);
	v = json_object_get(root, "gated");
	if (v && !json_is_boolean(v) && !json_is_string(v) && !json_is_null(v)) {
		rc = MALFORMED(d, "the model info's \"gated\" is neither a boolean nor a string");
		goto out_free;
	}
	out->gated = json_is_true(v) || (json_is_string(v) && json_string_value(v)[0]);
	v = json_object_get(root, "disabled");
	out->disabled = json_is_true(v);
	out->id = strdup(json_string_value(id));
	if (sha && json_is_string(sha))
		out->sha = strdup(json_string_value(sha));
	if (!out->id || (sha && json_is_string(sha) && !out->sha)) {
		rc = diag_fail(d, -ENOMEM, "out of memory");
		goto out_free;
	}
	v = json_object_get(root, "siblings");
	if (files && v && !json_is_null(v)) {
		if (!json_is_array(v))
			rc = MALFORMED(d, "the model info's \"siblings\" is not an array");
		else
			rc = registry_listing_parse(files, json, len, d);
	}
out_free:
	json_decref(root);
	if (rc) {
		hub_model_info_release(out);
		if (files)
			while (files->n > before) {
				files->n--;
				free(files->entries[files->n].path);
				free(files->entries[files->n].sha256);
			}
	}
	return rc;
}

int hub_model_info(struct hub *h, const char *repo_id, const char *revision,
		   struct registry_listing *files, struct hub_model_info *out, struct diag *d)
{
	struct hub_call c;
	struct sbuf body;
	struct diag pd;
	char *url;
	int rc;

	memset(out, 0, sizeof(*out));
	if (h->opt.offline)
		return hub_offline(h, repo_id, d);
	rc = hub_api_url(h, repo_id, revision ? "revision" : NULL, revision, NULL,
			 files ? "?blobs=true" : NULL, &url);
	if (rc)
		return diag_fail(d, rc, rc == -ENOMEM ? "out of memory" :
				 "cannot make a URL of repo '%s' and revision '%s'", repo_id,
				 revision ? revision : "");
	hub_call_init(&c, h);
	sbuf_init(&body, CAP_HUB_JSON_BYTES);
	c.follow = HUB_FOLLOW_ALL;
	c.api = true;
	c.body = &body;
	c.repo_id = repo_id;
	c.revision = revision;
	rc = hub_call_errno(&c, hub_call_run(&c, url), false, d);
	free(url);
	if (!rc) {
		diag_init(&pd);
		rc = hub_model_info_parse(body.buf ? body.buf : "", body.len, out, files, &pd);
		if (rc == -ENOMEM)
			rc = diag_fail(d, rc, "out of memory");
		else if (rc)
			rc = diag_fail(d, -EIO, "the hub's model info for '%s' is malformed: %s", repo_id,
				       pd.msg);
	}
	sbuf_release(&body);
	hub_call_release(&c);
	return rc;
}

int hub_list_files(struct hub *h, const char *repo_id, const char *revision, const char *path,
		   struct registry_listing *out, struct diag *d)
{
	size_t before = out->n;
	unsigned pages = 0;
	struct sbuf body;
	char *url;
	int rc;

	if (h->opt.offline)
		return hub_offline(h, repo_id, d);
	rc = hub_api_url(h, repo_id, "tree", revision, path, "?recursive=true", &url);
	if (rc)
		return diag_fail(d, rc, rc == -ENOMEM ? "out of memory" :
				 "cannot make a URL of repo '%s', revision '%s' and path '%s'", repo_id,
				 revision ? revision : "", path ? path : "");
	sbuf_init(&body, CAP_HUB_JSON_BYTES);
	while (url && !rc) {
		struct hub_call c;
		struct diag pd;

		if (++pages > HUB_MAX_PAGES) {
			rc = diag_fail(d, -EIO, "the listing of '%s' has more than %d pages", repo_id,
				       HUB_MAX_PAGES);
			break;
		}
		if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
			rc = diag_fail(d, -EIO, "the hub's next-page link for '%s' is not an http(s) URL",
				       repo_id);
			break;
		}
		hub_call_init(&c, h);
		c.follow = HUB_FOLLOW_ALL;
		c.api = true;
		c.body = &body;
		c.repo_id = repo_id;
		c.revision = revision;
		c.path = path;
		rc = hub_call_errno(&c, hub_call_run(&c, url), false, d);
		free(url);
		url = NULL;
		if (!rc) {
			diag_init(&pd);
			rc = registry_listing_parse(out, body.buf ? body.buf : "", body.len, &pd);
			if (rc == -ENOMEM)
				rc = diag_fail(d, rc, "out of memory");
			else if (rc)
				rc = diag_fail(d, -EIO, "the hub's listing of '%s' is malformed: %s", repo_id,
					       pd.msg);
		}
		if (!rc && c.next_link) {
			url = c.next_link;
			c.next_link = NULL;
		}
		hub_call_release(&c);
	}
	free(url);
	sbuf_release(&body);
	if (rc)
		while (out->n > before) {
			out->n--;
			free(out->entries[out->n].path);
			free(out->entries[out->n].sha256);
		}
	return rc;
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

int hub_file_head(struct hub *h, const char *repo_id, const char *revision, const char *path,
		  struct hub_file_meta *out, struct diag *d)
{
	struct hub_call c;
	char *url;
	int rc;

	memset(out, 0, sizeof(*out));
	out->size_bytes = UINT64_MAX;
	if (h->opt.offline)
		return hub_offline(h, path, d);
	rc = hub_file_url(h, repo_id, revision, path, &url);
	if (rc)
		return diag_fail(d, rc, rc == -ENOMEM ? "out of memory" : "cannot make a URL of '%s' in '%s'",
				 path ? path : "", repo_id ? repo_id : "");
	hub_call_init(&c, h);
	c.head = true;
	c.follow = HUB_FOLLOW_SAME_ORIGIN;
	c.repo_id = repo_id;
	c.revision = revision;
	c.path = path;
	rc = hub_call_errno(&c, hub_call_run(&c, url), true, d);
	free(url);
	if (!rc)
		hub_fill_meta(&c, out);
	hub_call_release(&c);
	return rc;
}

int hub_file_get(struct hub *h, const char *repo_id, const char *revision, const char *path,
		 struct sbuf *out, struct hub_file_meta *meta, struct diag *d)
{
	struct hub_call c;
	struct sbuf body;
	char *url;
	int rc;

	if (h->opt.offline)
		return hub_offline(h, path, d);
	rc = hub_file_url(h, repo_id, revision, path, &url);
	if (rc)
		return diag_fail(d, rc, rc == -ENOMEM ? "out of memory" : "cannot make a URL of '%s' in '%s'",
				 path ? path : "", repo_id ? repo_id : "");
	hub_call_init(&c, h);
	sbuf_init(&body, out->cap > out->len ? out->cap - out->len : 1);
	c.follow = HUB_FOLLOW_ALL;
	c.body = &body;
	c.repo_id = repo_id;
	c.revision = revision;
	c.path = path;
	rc = hub_call_run(&c, url);
	free(url);
	if (c.over_cap && c.res == CURLE_WRITE_ERROR)
		rc = diag_fail(d, -EFBIG, "'%s' in '%s' is over %zu bytes", path, repo_id, body.cap);
	else
		rc = hub_call_errno(&c, rc, false, d);
	if (!rc && body.len && sbuf_add(out, body.buf, body.len))
		rc = diag_fail(d, out->err == -EFBIG ? -EFBIG : -ENOMEM, "'%s' in '%s' does not fit",
			       path, repo_id);
	if (!rc && !body.len && sbuf_add(out, "", 0))
		rc = diag_fail(d, -ENOMEM, "out of memory");
	if (!rc && meta)
		hub_fill_meta(&c, meta);
	sbuf_release(&body);
	hub_call_release(&c);
	return rc;
}

ssize_t hub_file_get_range(struct hub *h, const char *repo_id, const char *revision, const char *path,
			   uint64_t off, void *buf, size_t len, struct hub_file_meta *meta,
			   struct diag *d)
{
	struct hub_call c;
	char *url;
	ssize_t got;
	int rc;

	if (len == 0)
		return 0;
	if (len > SSIZE_MAX || off > UINT64_MAX - len)
		return diag_fail(d, -EINVAL, "range too large");
	if (h->opt.offline)
		return hub_offline(h, path, d);
	rc = hub_file_url(h, repo_id, revision, path, &url);
	if (rc)
		return diag_fail(d, rc, rc == -ENOMEM ? "out of memory" : "cannot make a URL of '%s' in '%s'",
				 path ? path : "", repo_id ? repo_id : "");
	hub_call_init(&c, h);
	c.follow = HUB_FOLLOW_ALL;
	c.ranged = true;
	c.off = off;
	c.len = len;
	c.dst = buf;
	c.repo_id = repo_id;
	c.revision = revision;
	c.path = path;
	rc = hub_call_run(&c, url);
	free(url);
	if (rc == 0 && c.res == CURLE_OK && c.status == 416) {
		got = 0;
	} else {
		rc = hub_call_errno(&c, rc, false, d);
		if (rc)
			got = rc;
		else if (c.status == 200 && off != 0)
			got = diag_fail(d, -EIO, "the server ignores range requests for '%s'", path);
		else if (c.status == 206 && (!c.cr_seen || c.cr_start != off))
			got = diag_fail(d, -EIO, "the server answered a range of '%s' with other bytes", path);
		else
			got = (ssize_t)c.got;
	}
	if (got >= 0 && meta)
		hub_fill_meta(&c, meta);
	hub_call_release(&c);
	return got;
}

int hub_file_reader_open(struct hub *h, const char *repo_id, const char *revision, const char *path,
			 struct reader *r, struct diag *d)
{
	char *url, *token = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	if (h->opt.offline)
		return hub_offline(h, path, d);
	rc = hub_file_url(h, repo_id, revision, path, &url);
	if (rc)
		return diag_fail(d, rc, rc == -ENOMEM ? "out of memory" : "cannot make a URL of '%s' in '%s'",
				 path ? path : "", repo_id ? repo_id : "");
	if (h->auth_header)
		token = h->auth_header + strlen("Authorization: Bearer ");
	rc = hub_reader_open(url, token, r, d);
	free(url);
	return rc;
}
