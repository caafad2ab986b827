/*
 * fetch.c - the blob store's fetcher over HTTP (libcurl): ranged GETs and
 * HEADs of Hub files.
 *
 * A Hub file lives at ENDPOINT/ORG/REPO/resolve/REV/PATH.  For a file in
 * LFS the Hub answers 302 to a CDN URL with a signed, short-lived query
 * string, plus X-Linked-Size and X-Linked-Etag (the LFS sha256), which is
 * all a HEAD needs (huggingface_hub's get_hf_file_metadata reads the same
 * headers).  Redirects are followed by hand, not by libcurl, so that the
 * token is sent only to the endpoint's own origin (scheme, host, port)
 * and never to a CDN, and so that the final URL can be kept: every later
 * range of that file goes straight to the CDN, one request instead of
 * two, which matters at 40 ms a round trip.  When a kept URL stops
 * working (an expired signature answers 403), it is dropped and the
 * request starts again from the resolve URL, once.  Signed query strings
 * are secrets: messages name the repo and path, never a URL.
 *
 * Connections.  A get takes an easy handle from an idle pool and gives it
 * back after, so each handle's keep-alive connection serves the next
 * range without a new handshake.  The pool keeps at most
 * FETCH_IDLE_HANDLES; concurrency is the callers' business (the store
 * runs `connections` workers plus readers fetching for themselves).
 * TCP_NODELAY is libcurl's default: without it a kept-alive connection
 * pays Nagle plus delayed ACK, 40 ms per small request (lazy-download
 * notes).  The receive buffer is FETCH_BUFFER_BYTES, so one 1 Gbit/s
 * stream costs some thousands of sink calls a second, not tens of
 * thousands.
 *
 * Ranges.  A 206 must start at the offset asked for (Content-Range); a 200
 * is accepted only for a range starting at 0, and the transfer is cut once
 * the bytes are in.  A server that ignores Range elsewhere is an -EIO that
 * retrying will not fix.  Bytes beyond the range asked (a server clamping
 * differently) are never handed to the sink.
 *
 * Errors follow hub_errno() (SPEC §6): 401/403 -EACCES, 404 -ENOENT,
 * unreachable -ENETDOWN, stalled -ETIMEDOUT, 429 -EAGAIN, the rest -EIO.
 * Which of them may succeed on a retry (5xx, 429, resets, stalls, an
 * unreachable host) is said in res->transient, with Retry-After in
 * milliseconds; the retry policy itself belongs to the store, which knows
 * how long its reader may wait.
 */
#include "cache.h"
#include "cache_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FETCH_USER_AGENT    "modelfs/" MODELFS_VERSION
#define FETCH_IDLE_HANDLES  16           /* easy handles (and their connections) kept idle */
#define FETCH_BUFFER_BYTES  (256L << 10) /* libcurl receive buffer, bytes */
#define FETCH_URL_MAX       8192         /* bytes of a URL we build or accept */
#define FETCH_FINAL_MAX     256          /* final URLs remembered */
#define FETCH_FINAL_TTL_S   600          /* a remembered final URL is dropped after this long */
#define FETCH_RETRY_AFTER_MAX_S 60       /* a larger Retry-After is clamped */

struct fetch_final {
	char *resolve_url;           /* new: the key */
	char *final_url;             /* new: where its redirects ended */
	time_t since;                /* when it was learnt */
};

struct fetch_http {
	char *endpoint;              /* no trailing '/' */
	char *origin;                /* "scheme://host:port" of the endpoint, lowercase */
	struct curl_slist *auth;     /* "Authorization: Bearer ..." or NULL; read-only after open */
	long connect_timeout_ms;
	long stall_timeout_s;
	pthread_mutex_t lock;
	CURL *idle[FETCH_IDLE_HANDLES];              /* protected by lock */
	size_t n_idle;                               /* protected by lock */
	struct fetch_final finals[FETCH_FINAL_MAX];  /* protected by lock; ring */
	size_t next_final;                           /* protected by lock */
	uint64_t requests;           /* atomic */
	uint64_t bytes;              /* atomic */
};

/* One HTTP exchange's view of the response headers and body. */
struct fetch_xfer {
	struct fetch_http *h;
	long status;                 /* of the last status line seen */
	char location[FETCH_URL_MAX];
	bool has_range;              /* Content-Range seen */
	uint64_t range_start;        /* its first byte */
	uint64_t content_length;     /* UINT64_MAX when not said */
	uint64_t linked_size;        /* X-Linked-Size, UINT64_MAX when not said */
	char linked_etag[80];        /* X-Linked-Etag, unquoted */
	char commit[41];             /* X-Repo-Commit */
	unsigned retry_after_ms;
	/* body delivery, for GETs */
	uint64_t off;                /* first byte asked */
	uint64_t want;               /* bytes asked */
	uint64_t got;                /* bytes handed to the sink */
	bool checked;                /* status and range checked at the first body byte */
	bool body_ok;                /* this response's body is the bytes asked for */
	bool done;                   /* all bytes in: the transfer was cut on purpose */
	int sink_err;                /* the sink's code, or a range error */
	blob_sink_fn sink;
	void *arg;
};

static pthread_once_t fetch_curl_once = PTHREAD_ONCE_INIT;

static void fetch_curl_init(void)
{
	/* ignored: a failed global init makes every curl_easy_init fail,
	 * which each request reports as -ENOMEM */
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------------------
 * URLs
 * ------------------------------------------------------------------------ */
static bool fetch_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends s percent-encoded; '/' is kept when keep_slash. */
static void fetch_add_encoded(struct sbuf *sb, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (fetch_unreserved(c) || (keep_slash && c == '/')) {
			sbuf_addch(sb, (char)c);
		} else {
			sbuf_addch(sb, '%');
			sbuf_addch(sb, hex[c >> 4]);
			sbuf_addch(sb, hex[c & 15]);
		}
	}
}

static int fetch_resolve_url(struct fetch_http *h, const struct blob_source *src, struct sbuf *out)
{
	const char *rev = src->revision && *src->revision ? src->revision : "main";

	if (!src->repo_id || !*src->repo_id || !src->path || !*src->path)
		return -EINVAL;
	sbuf_addstr(out, h->endpoint);
	sbuf_addch(out, '/');
	fetch_add_encoded(out, src->repo_id, true);
	sbuf_addstr(out, "/resolve/");
	fetch_add_encoded(out, rev, false);
	sbuf_addch(out, '/');
	fetch_add_encoded(out, src->path, true);
	return out->err;
}

/* ------------------------------------------------------------------------
 * Remembered final URLs
 * ------------------------------------------------------------------------ */
static char *fetch_final_get(struct fetch_http *h, const char *resolve_url)
{
	time_t now = time(NULL);
	char *out = NULL;
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < FETCH_FINAL_MAX; i++) {
		struct fetch_final *f = &h->finals[i];

		if (f->resolve_url && strcmp(f->resolve_url, resolve_url) == 0) {
			if (now - f->since < FETCH_FINAL_TTL_S && now >= f->since)
				out = strdup(f->final_url);
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return out;
}

static void fetch_final_clear(struct fetch_final *f)
{
	free(f->resolve_url);
	free(f->final_url);
	memset(f, 0, sizeof(*f));
}

static void fetch_final_drop(struct fetch_http *h, const char *resolve_url)
{
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < FETCH_FINAL_MAX; i++)
		if (h->finals[i].resolve_url && strcmp(h->finals[i].resolve_url, resolve_url) == 0)
			fetch_final_clear(&h->finals[i]);
	pthread_mutex_unlock(&h->lock);
}

/* Remembers final for resolve_url; failing for want of memory only costs
 * a redirect next time. */
static void fetch_final_put(struct fetch_http *h, const char *resolve_url, const char *final)
{
	char *k = strdup(resolve_url), *v = strdup(final);
	struct fetch_final *slot = NULL;
	size_t i;

	if (!k || !v) {
		free(k);
		free(v);
		return;
	}
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < FETCH_FINAL_MAX; i++)
		if (h->finals[i].resolve_url && strcmp(h->finals[i].resolve_url, resolve_url) == 0)
			slot = &h->finals[i];
	if (!slot) {
		slot = &h->finals[h->next_final];
		h->next_final = (h->next_final + 1) % FETCH_FINAL_MAX;
	}
	fetch_final_clear(slot);
	slot->resolve_url = k;
	slot->final_url = v;
	slot->since = time(NULL);
	pthread_mutex_unlock(&h->lock);
}

/* ------------------------------------------------------------------------
 * Handles
 * ------------------------------------------------------------------------ */
static CURL *fetch_handle_take(struct fetch_http *h)
{
	CURL *c = NULL;

	pthread_mutex_lock(&h->lock);
	if (h->n_idle)
		c = h->idle[--h->n_idle];
	pthread_mutex_unlock(&h->lock);
	if (c)
		return c;
	pthread_once(&fetch_curl_once, fetch_curl_init);
	return curl_easy_init();
}

static void fetch_handle_give(struct fetch_http *h, CURL *c)
{
	pthread_mutex_lock(&h->lock);
	if (h->n_idle < FETCH_IDLE_HANDLES) {
		h->idle[h->n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (c)
		curl_easy_cleanup(c);
}

/* ------------------------------------------------------------------------
 * One exchange
 * ------------------------------------------------------------------------ */
static bool fetch_header_is(const char *line, size_t len, const char *name, const char **value,
			    size_t *value_len)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	line += n + 1;
	len -= n + 1;
	while (len && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
		len--;
	*value = line;
	*value_len = len;
	return true;
}

static bool fetch_parse_u64(const char *s, size_t len, uint64_t *out)
{
	char tmp[32];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return parse_u64(tmp, out) == 0;
}

static void fetch_copy_value(char *dst, size_t size, const char *v, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static size_t fetch_on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct fetch_xfer *x = ud;
	size_t len = size * nmemb;
	const char *v;
	size_t vlen;
	uint64_t n;

	if (len > 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* a new response (a redirect's target, or after a 100
		 * Continue): forget the last */
		const char *sp = memchr(ptr, ' ', len);

		x->status = 0;
		if (sp && (size_t)(sp - ptr) + 4 <= len && fetch_parse_u64(sp + 1, 3, &n))
			x->status = (long)n;
		x->checked = x->body_ok = false;
		x->has_range = false;
		x->content_length = UINT64_MAX;
		x->linked_size = UINT64_MAX;
		x->location[0] = x->linked_etag[0] = x->commit[0] = '\0';
		x->retry_after_ms = 0;
		return len;
	}
	if (fetch_header_is(ptr, len, "content-range", &v, &vlen)) {
		if (vlen > 6 && strncasecmp(v, "bytes ", 6) == 0) {
			size_t dash = 6;

			while (dash < vlen && v[dash] != '-')
				dash++;
			if (fetch_parse_u64(v + 6, dash - 6, &n)) {
				x->has_range = true;
				x->range_start = n;
			}
		}
	} else if (fetch_header_is(ptr, len, "content-length", &v, &vlen)) {
		if (fetch_parse_u64(v, vlen, &n))
			x->content_length = n;
	} else if (fetch_header_is(ptr, len, "x-linked-size", &v, &vlen)) {
		if (fetch_parse_u64(v, vlen, &n))
			x->linked_size = n;
	} else if (fetch_header_is(ptr, len, "x-linked-etag", &v, &vlen)) {
		if (vlen >= 2 && v[0] == 'W' && v[1] == '/') {
			v += 2;
			vlen -= 2;
		}
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		fetch_copy_value(x->linked_etag, sizeof(x->linked_etag), v, vlen);
	} else if (fetch_header_is(ptr, len, "x-repo-commit", &v, &vlen)) {
		fetch_copy_value(x->commit, sizeof(x->commit), v, vlen);
	} else if (fetch_header_is(ptr, len, "retry-after", &v, &vlen)) {
		if (fetch_parse_u64(v, vlen, &n))
			x->retry_after_ms = (unsigned)((n > FETCH_RETRY_AFTER_MAX_S ? FETCH_RETRY_AFTER_MAX_S : n) * 1000);
		else
			x->retry_after_ms = 1000;
	}
	return len;
}

static size_t fetch_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct fetch_xfer *x = ud;
	size_t len = size * nmemb, take;
	int rc;

	__atomic_add_fetch(&x->h->bytes, len, __ATOMIC_RELAXED);
	if (!x->checked) {
		x->checked = true;
		if (x->status == 206) {
			x->body_ok = x->has_range && x->range_start == x->off;
			if (!x->body_ok)
				x->sink_err = -EIO;
		} else if (x->status == 200) {
			x->body_ok = x->off == 0;
			if (!x->body_ok)
				x->sink_err = -EIO;
		}
		if (x->sink_err)
			return 0;
	}
	if (!x->body_ok || !x->sink)
		return len;
	take = len;
	if (take > x->want - x->got)
		take = (size_t)(x->want - x->got);
	if (take) {
		rc = x->sink(x->arg, ptr, take);
		if (rc) {
			x->sink_err = rc;
			return 0;
		}
		x->got += take;
	}
	if (x->got == x->want && take < len) {
		x->done = true;
		return 0;
	}
	return len;
}

/* Runs one request (no redirect following): method GET with a range when
 * want > 0, else HEAD. */
static CURLcode fetch_perform(struct fetch_http *h, CURL *c, const char *url, bool auth, struct fetch_xfer *x)
{
	char range[64];
	CURLcode res;

	x->status = 0;
	x->location[0] = '\0';
	x->has_range = false;
	x->content_length = UINT64_MAX;
	x->linked_size = UINT64_MAX;
	x->linked_etag[0] = x->commit[0] = '\0';
	x->retry_after_ms = 0;
	x->checked = x->body_ok = x->done = false;
	x->got = 0;
	x->sink_err = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, FETCH_USER_AGENT);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, auth ? h->auth : NULL);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->stall_timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, FETCH_BUFFER_BYTES);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fetch_on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL);
	if (x->want) {
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)x->off,
			 (unsigned long long)(x->off + x->want - 1));
		curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	} else {
		curl_easy_setopt(c, CURLOPT_RANGE, NULL);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	}
	__atomic_add_fetch(&h->requests, 1, __ATOMIC_RELAXED);
	res = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status >= 300 && x->status < 400) {
		char *loc = NULL;

		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc &&
		    strlen(loc) < sizeof(x->location))
			snprintf(x->location, sizeof(x->location), "%s", loc);
	}
	return res;
}

static bool fetch_is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* The code and transience of a finished exchange that did not succeed. */
static int fetch_classify(CURLcode res, long status, bool *transient)
{
	int rc;

	*transient = false;
	switch (res) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		*transient = true;
		return -ENETDOWN;
	case CURLE_OPERATION_TIMEDOUT:
		*transient = true;
		return -ETIMEDOUT;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		*transient = true;
		return -EIO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
	if (status >= 500 || status == 408) {
		*transient = true;
		return -EIO;
	}
	if (status == 429) {
		*transient = true;
		return -EAGAIN;
	}
	rc = hub_errno(CURLE_OK, status);
	return rc ? rc : -EIO;
}

/* GET (want > 0) or HEAD of src, redirects followed by hand.  x holds the
 * last response.  On a redirect to another URL the final URL is
 * remembered for GETs. */
static int fetch_run(struct fetch_http *h, const struct blob_source *src, struct fetch_xfer *x,
		     struct blob_fetch_result *res, struct diag *d)
{
	struct sbuf resolve;
	char *url = NULL, *kept;
	bool used_kept = false, transient = false;
	unsigned hops, tries;
	CURLcode cres = CURLE_OK;
	CURL *c;
	int rc;

	memset(res, 0, sizeof(*res));
	sbuf_init(&resolve, FETCH_URL_MAX);
	rc = fetch_resolve_url(h, src, &resolve);
	if (rc) {
		sbuf_release(&resolve);
		return diag_fail(d, rc == -EFBIG ? -EINVAL : rc, "cannot make the URL of '%s' in '%s'",
				 src->path ? src->path : "", src->repo_id ? src->repo_id : "");
	}
	c = fetch_handle_take(h);
	if (!c) {
		sbuf_release(&resolve);
		return diag_fail(d, -ENOMEM, "cannot start an HTTP request: out of memory");
	}
	for (tries = 0; tries < 2; tries++) {
		kept = fetch_final_get(h, resolve.buf);
		used_kept = kept != NULL;
		free(url);
		url = kept ? kept : strdup(resolve.buf);
		if (!url) {
			rc = -ENOMEM;
			break;
		}
		for (hops = 0;; hops++) {
			cres = fetch_perform(h, c, url, h->auth && hub_url_has_origin(url, h->origin), x);
			if (cres == CURLE_WRITE_ERROR && x->done)
				cres = CURLE_OK;
			if (cres != CURLE_OK || !fetch_is_redirect(x->status))
				break;
			/* a HEAD has what it needs from the Hub's own redirect */
			if (!x->want && x->linked_size != UINT64_MAX)
				break;
			if (!x->location[0] || hops >= BLOB_HTTP_MAX_REDIRECTS)
				break;
			free(url);
			url = strdup(x->location);
			if (!url)
				break;
		}
		if (!url) {
			rc = -ENOMEM;
			break;
		}
		res->bytes = x->got;
		if (cres == CURLE_OK && !x->want && fetch_is_redirect(x->status) && x->linked_size != UINT64_MAX) {
			rc = 0;
			break;
		}
		if (cres == CURLE_OK && x->status >= 200 && x->status < 300 && !x->sink_err) {
			rc = 0;
			if (strcmp(url, resolve.buf) != 0 && x->want)
				fetch_final_put(h, resolve.buf, url);
			break;
		}
		if (x->sink_err) {
			rc = x->sink_err;
			transient = false;
			if (rc == -EIO)
				diag_fail(d, rc, "the hub sent other bytes than the range asked of '%s' in '%s' (status %ld)",
					  src->path, src->repo_id, x->status);
			break;
		}
		rc = fetch_classify(cres, x->status, &transient);
		if (used_kept && x->got == 0 && cres == CURLE_OK &&
		    (x->status == 401 || x->status == 403 || x->status == 404 || x->status == 410)) {
			fetch_final_drop(h, resolve.buf);
			continue;
		}
		if (cres != CURLE_OK)
			diag_fail(d, rc, "cannot fetch '%s' in '%s': %s", src->path, src->repo_id,
				  curl_easy_strerror(cres));
		else if (fetch_is_redirect(x->status))
			diag_fail(d, -EIO, "too many redirects for '%s' in '%s'", src->path, src->repo_id);
		else
			diag_fail(d, rc, "the hub answered %ld for '%s' in '%s'%s", x->status, src->path,
				  src->repo_id, rc == -EACCES ? "; check the token (token_file=, HF_TOKEN)" : "");
		if (fetch_is_redirect(x->status))
			rc = -EIO;
		break;
	}
	res->transient = rc != 0 && transient;
	res->retry_after_ms = x->retry_after_ms;
	free(url);
	sbuf_release(&resolve);
	fetch_handle_give(h, c);
	return rc;
}

/* ------------------------------------------------------------------------
 * The interface
 * ------------------------------------------------------------------------ */
static bool fetch_is_sha256(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return s[64] == '\0';
}

static int fetch_head(void *ctx, const struct blob_source *src, struct blob_remote *out, struct diag *d)
{
	struct fetch_http *h = ctx;
	struct blob_fetch_result res;
	struct fetch_xfer x;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	x.h = h;
	rc = fetch_run(h, src, &x, &res, d);
	if (rc)
		return rc;
	if (x.linked_size != UINT64_MAX)
		out->size_bytes = x.linked_size;
	else if (x.content_length != UINT64_MAX)
		out->size_bytes = x.content_length;
	else
		return diag_fail(d, -EIO, "the hub did not say the size of '%s' in '%s'", src->path, src->repo_id);
	if (fetch_is_sha256(x.linked_etag)) {
		for (i = 0; i < 64; i++)
			out->sha256[i] = (char)tolower((unsigned char)x.linked_etag[i]);
		out->sha256[64] = '\0';
	}
	snprintf(out->commit, sizeof(out->commit), "%s", x.commit);
	return 0;
}

static int fetch_get(void *ctx, const struct blob_source *src, uint64_t off, uint64_t len, blob_sink_fn sink,
		     void *arg, struct blob_fetch_result *res, struct diag *d)
{
	struct fetch_http *h = ctx;
	struct fetch_xfer x;
	int rc;

	if (len == 0) {
		memset(res, 0, sizeof(*res));
		return 0;
	}
	if (off > UINT64_MAX - len)
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	x.h = h;
	x.off = off;
	x.want = len;
	x.sink = sink;
	x.arg = arg;
	rc = fetch_run(h, src, &x, res, d);
	if (rc == 0 && x.got < len) {
		res->transient = true;
		rc = diag_fail(d, -EIO, "the hub sent %llu of %llu bytes of '%s' in '%s'", (unsigned long long)x.got,
			       (unsigned long long)len, src->path, src->repo_id);
	}
	return rc;
}

static void fetch_close(void *ctx)
{
	struct fetch_http *h = ctx;
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->n_idle; i++)
		curl_easy_cleanup(h->idle[i]);
	for (i = 0; i < FETCH_FINAL_MAX; i++)
		fetch_final_clear(&h->finals[i]);
	curl_slist_free_all(h->auth);
	pthread_mutex_destroy(&h->lock);
	free(h->endpoint);
	free(h->origin);
	free(h);
}

static const struct blob_fetcher_ops fetch_http_ops = {
	.head = fetch_head,
	.get = fetch_get,
	.close = fetch_close,
};

int blob_fetcher_http_open(const struct blob_http_config *cfg, struct blob_fetcher *out, struct diag *d)
{
	struct fetch_http *h;
	struct sbuf hdr;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!cfg->endpoint || !(h = calloc(1, sizeof(*h))))
		return cfg->endpoint ? -ENOMEM : diag_fail(d, -EINVAL, "no hub endpoint; set endpoint=URL");
	pthread_mutex_init(&h->lock, NULL);
	h->endpoint = strdup(cfg->endpoint);
	if (!h->endpoint)
		goto out_nomem;
	len = strlen(h->endpoint);
	while (len > 0 && h->endpoint[len - 1] == '/')
		h->endpoint[--len] = '\0';
	h->origin = hub_url_origin(h->endpoint);
	if (!h->origin) {
		fetch_close(h);
		return diag_fail(d, -EINVAL, "endpoint '%s' is not an http or https URL; use endpoint=https://HOST",
				 cfg->endpoint);
	}
	if (cfg->token && *cfg->token) {
		sbuf_init(&hdr, 8192);
		sbuf_addstr(&hdr, "Authorization: Bearer ");
		sbuf_addstr(&hdr, cfg->token);
		if (hdr.err == 0)
			h->auth = curl_slist_append(NULL, hdr.buf);
		/* the token must not linger in freed memory */
		if (hdr.buf)
			memset(hdr.buf, 0, hdr.len);
		sbuf_release(&hdr);
		if (!h->auth)
			goto out_nomem;
	}
	h->connect_timeout_ms = cfg->connect_timeout_ms ? (long)cfg->connect_timeout_ms : BLOB_HTTP_CONNECT_TIMEOUT_MS;
	h->stall_timeout_s = cfg->stall_timeout_s ? (long)cfg->stall_timeout_s : BLOB_HTTP_STALL_TIMEOUT_S;
	pthread_once(&fetch_curl_once, fetch_curl_init);
	out->ops = &fetch_http_ops;
	out->ctx = h;
	return 0;

out_nomem:
	fetch_close(h);
	return diag_fail(d, -ENOMEM, "cannot set up the hub client: out of memory");
}

void blob_fetcher_http_stats(const struct blob_fetcher *f, uint64_t *requests, uint64_t *bytes)
{
	struct fetch_http *h = f && f->ops == &fetch_http_ops ? f->ctx : NULL;

	*requests = h ? __atomic_load_n(&h->requests, __ATOMIC_RELAXED) : 0;
	*bytes = h ? __atomic_load_n(&h->bytes, __ATOMIC_RELAXED) : 0;
}
