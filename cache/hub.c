/*
 * hub.c - HTTP access to a Hub: the errno mapping and the range reader.
 *
 * The range reader turns a URL into a struct reader, so core's GGUF parser
 * reads a remote header with the code that reads local files.  Reading a
 * header remotely costs what the parser asks for and little more: opening
 * sends one GET for the first HUB_READER_PREFETCH_BYTES (1 MiB, the same
 * as the parser's first read), which both answers that first read and
 * learns the file's size from Content-Range ("bytes 0-1048575/4920734976"),
 * so no HEAD request is spent.  A header bigger than 1 MiB then costs one
 * ranged GET per doubling of the parser's buffer: a 9 MiB Llama 3 header
 * is 4 more requests.
 *
 * Hub file URLs (/resolve/REV/PATH) answer with a redirect to a CDN with a
 * signed, short-lived query string.  Redirects are followed by hand rather
 * than by libcurl, for two reasons: the token must reach only the origin
 * (scheme, host, port) of the URL the user gave, and the final URL is
 * worth keeping, so later ranges go straight to the CDN (one request
 * instead of two).  If the kept URL stops working (an expired signature
 * gives 403), the next request starts again from the original URL.  The
 * signed query string is a secret too: messages show a URL without its
 * query.
 *
 * Servers that ignore Range answer 200 with the whole file.  For a range
 * starting at 0 that is still the right bytes, so the transfer is cut as
 * soon as they have arrived; for any other offset it would mean reading
 * the file from the start, and the read fails with -EIO instead.
 *
 * One CURL easy handle per reader keeps the connection alive between
 * ranges.  5xx answers and broken transfers are tried HUB_READER_RETRIES
 * more times with a short pause; the full Hub client (later) owns the
 * real retry policy with Retry-After and backoff.
 */
#include "cache.h"
#include "cache_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HUB_USER_AGENT "modelfs/" MODELFS_VERSION

int hub_errno(int curl_code, long http_status)
{
	switch (curl_code) {
	case CURLE_OK:
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return -ENETDOWN;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
	if (http_status >= 200 && http_status < 300)
		return 0;
	switch (http_status) {
	case 401:
	case 403:
		return -EACCES;
	case 404:
	case 410:
		return -ENOENT;
	case 429:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

struct hub_reader {
	CURL *curl;
	char *url;                    /* as given */
	char *cur_url;                /* where the last redirect chain ended */
	char *origin;                 /* "scheme://host:port" of url, lowercase */
	char *auth_header;            /* "Authorization: Bearer ...", or NULL */
	char *safe_url;               /* url without its query, for messages */
	unsigned char *head;          /* the file's first head_len bytes */
	size_t head_len;
	uint64_t size;                /* bytes, UINT64_MAX when unknown */
	unsigned requests;
	uint64_t bytes;               /* body bytes received */
	struct diag last;             /* the last failed read */
	char errbuf[CURL_ERROR_SIZE];
	/* one transfer: */
	unsigned char *dst;           /* where the body goes */
	uint64_t off;                 /* first byte asked for */
	size_t len;                   /* bytes asked for */
	size_t got;                   /* bytes stored in dst */
	long status;                  /* HTTP status of the response */
	bool cut;                     /* the transfer was stopped on purpose */
	bool cr_seen;                 /* a Content-Range header came */
	uint64_t cr_start;            /* its first byte */
	uint64_t cr_total;            /* its total, UINT64_MAX for '*' */
};

static pthread_once_t hub_curl_once = PTHREAD_ONCE_INIT;
static CURLcode hub_curl_init_rc;

static void hub_curl_init(void)
{
	hub_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *url_without_query(const char *url)
{
	size_t n = strcspn(url, "?#");
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, url, n);
		s[n] = '\0';
	}
	return s;
}

char *hub_url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL, *p;
	size_t n;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out_free;
	n = strlen(scheme) + strlen(host) + strlen(port) + 5;
	out = malloc(n);
	if (!out)
		goto out_free;
	snprintf(out, n, "%s://%s:%s", scheme, host, port);
	for (p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');

out_free:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

bool hub_url_has_origin(const char *url, const char *origin)
{
	char *o = hub_url_origin(url);
	bool same = o && origin && strcmp(o, origin) == 0;

	free(o);
	return same;
}

static size_t hub_on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct hub_reader *h = ud;
	size_t n = size * nmemb;
	static const char name[] = "content-range:";
	char line[256], *p, *end;
	unsigned long long a;

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		h->cr_seen = false;
		return n;
	}
	if (n < sizeof(name) - 1 || n >= sizeof(line) || strncasecmp(ptr, name, sizeof(name) - 1))
		return n;
	memcpy(line, ptr + sizeof(name) - 1, n - (sizeof(name) - 1));
	line[n - (sizeof(name) - 1)] = '\0';
	p = line + strspn(line, " \t");
	if (strncasecmp(p, "bytes ", 6) != 0)
		return n;
	p += 6;
	h->cr_start = UINT64_MAX;
	if (*p != '*') {
		errno = 0;
		a = strtoull(p, &end, 10);
		if (errno || end == p || *end != '-')
			return n;
		h->cr_start = a;
	}
	p = strchr(p, '/');
	if (!p)
		return n;
	p++;
	h->cr_total = UINT64_MAX;
	if (*p != '*') {
		errno = 0;
		a = strtoull(p, &end, 10);
		if (errno || end == p)
			return n;
		h->cr_total = a;
	}
	h->cr_seen = true;
	return n;
}

static size_t hub_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct hub_reader *h = ud;
	size_t n = size * nmemb, room, take;

	h->bytes += n;
	if (h->status == 0)
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
	if (h->status != 200 && h->status != 206)
		return n;
	if (h->status == 200 && h->off != 0) {
		h->cut = true;
		return 0;
	}
	room = h->len - h->got;
	take = n < room ? n : room;
	memcpy(h->dst + h->got, ptr, take);
	h->got += take;
	if (n > room || (h->status == 200 && h->got == h->len)) {
		h->cut = true;
		return 0;
	}
	return n;
}

static void hub_pause_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool hub_is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* One request (no redirects followed) for [off, off + len) of url. */
static CURLcode hub_perform(struct hub_reader *h, const char *url, uint64_t off, size_t len)
{
	struct curl_slist *hdrs = NULL, *tmp;
	char range[64];
	CURLcode res;

	snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	tmp = curl_slist_append(hdrs, range);
	if (!tmp)
		return CURLE_OUT_OF_MEMORY;
	hdrs = tmp;
	if (h->auth_header && hub_url_has_origin(url, h->origin)) {
		tmp = curl_slist_append(hdrs, h->auth_header);
		if (!tmp) {
			curl_slist_free_all(hdrs);
			return CURLE_OUT_OF_MEMORY;
		}
		hdrs = tmp;
	}
	h->got = 0;
	h->status = 0;
	h->cut = false;
	h->cr_seen = false;
	h->errbuf[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	h->requests++;
	res = curl_easy_perform(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
	if (res == CURLE_WRITE_ERROR && h->cut)
		res = CURLE_OK;
	return res;
}

static int hub_set_cur_url(struct hub_reader *h, const char *url, struct diag *d)
{
	char *copy = strdup(url);

	if (!copy)
		return diag_fail(d, -ENOMEM, "out of memory");
	free(h->cur_url);
	h->cur_url = copy;
	return 0;
}

static bool hub_is_transient(CURLcode res, long status)
{
	if (res == CURLE_OK)
		return status >= 500 && status <= 599;
	return res == CURLE_RECV_ERROR || res == CURLE_SEND_ERROR || res == CURLE_GOT_NOTHING ||
	       res == CURLE_PARTIAL_FILE || res == CURLE_HTTP2 || res == CURLE_HTTP2_STREAM;
}

/* GETs [off, off + len) into dst following redirects; *got_out < len means
 * the file ended (or, for 416, that off is past it). */
static int hub_get(struct hub_reader *h, uint64_t off, size_t len, unsigned char *dst,
		   size_t *got_out, struct diag *d)
{
	unsigned hops = 0, tries = 0;
	bool restarted = false;
	CURLcode res;
	char *next;
	int rc;

	h->dst = dst;
	h->off = off;
	h->len = len;
	for (;;) {
		res = hub_perform(h, h->cur_url, off, len);
		if (res == CURLE_OK && hub_is_redirect(h->status)) {
			next = NULL;
			curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &next);
			if (!next)
				return diag_fail(d, -EIO, "'%s' answered %ld without a Location; "
						 "check the URL", h->safe_url, h->status);
			if (++hops > HUB_READER_MAX_REDIRECTS)
				return diag_fail(d, -EIO, "'%s' redirects more than %d times",
						 h->safe_url, HUB_READER_MAX_REDIRECTS);
			rc = hub_set_cur_url(h, next, d);
			if (rc)
				return rc;
			continue;
		}
		if (hub_is_transient(res, h->status) && tries < HUB_READER_RETRIES) {
			hub_pause_ms(200L << tries);
			tries++;
			continue;
		}
		if (res == CURLE_OK && h->status >= 400 && h->status != 416 && !restarted &&
		    strcmp(h->cur_url, h->url) != 0) {
			restarted = true;
			hops = 0;
			rc = hub_set_cur_url(h, h->url, d);
			if (rc)
				return rc;
			continue;
		}
		break;
	}
	if (res != CURLE_OK)
		return diag_fail(d, hub_errno(res, 0), "cannot fetch '%s': %s", h->safe_url,
				 h->errbuf[0] ? h->errbuf : curl_easy_strerror(res));
	if (h->status == 416) {
		if (h->cr_seen && h->cr_total != UINT64_MAX)
			h->size = h->cr_total;
		*got_out = 0;
		return 0;
	}
	if (h->status == 200 && off != 0)
		return diag_fail(d, -EIO, "'%s' ignores range requests (answered 200 to a range "
				 "at offset %llu); use a server with range support",
				 h->safe_url, (unsigned long long)off);
	if (h->status == 206 && (!h->cr_seen || h->cr_start != off))
		return diag_fail(d, -EIO, "'%s' answered a range request for offset %llu with "
				 "other bytes", h->safe_url, (unsigned long long)off);
	if (h->status != 200 && h->status != 206)
		return diag_fail(d, hub_errno(CURLE_OK, h->status), "cannot fetch '%s': HTTP %ld%s",
				 h->safe_url, h->status,
				 h->status == 401 || h->status == 403 ?
				 "; check the token and that you have access to the repo" : "");
	if (h->status == 206 && h->cr_total != UINT64_MAX)
		h->size = h->cr_total;
	*got_out = h->got;
	return 0;
}

static int hub_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct hub_reader *h = ctx;
	unsigned char *out = buf;
	size_t got, from_head = 0;
	int rc;

	if (len == 0)
		return 0;
	if (h->size != UINT64_MAX && (off > h->size || len > h->size - off))
		return -ENODATA;
	if (off < h->head_len) {
		from_head = h->head_len - off < len ? (size_t)(h->head_len - off) : len;
		memcpy(out, h->head + off, from_head);
		if (from_head == len)
			return 0;
	}
	diag_init(&h->last);
	rc = hub_get(h, off + from_head, len - from_head, out + from_head, &got, &h->last);
	if (rc)
		return rc;
	if (got < len - from_head) {
		diag_fail(&h->last, -ENODATA, "'%s' ends before byte %llu", h->safe_url,
			  (unsigned long long)(off + len));
		return -ENODATA;
	}
	return 0;
}

static void hub_reader_free(struct hub_reader *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->url);
	free(h->cur_url);
	free(h->origin);
	if (h->auth_header) {
		explicit_bzero(h->auth_header, strlen(h->auth_header));
		free(h->auth_header);
	}
	free(h->safe_url);
	free(h->head);
	free(h);
}

static int hub_reader_setup(struct hub_reader *h, const char *url, const char *token,
			    struct diag *d)
{
	size_t n;

	h->url = strdup(url);
	h->cur_url = strdup(url);
	h->safe_url = url_without_query(url);
	if (!h->url || !h->cur_url || !h->safe_url)
		return diag_fail(d, -ENOMEM, "out of memory");
	h->origin = hub_url_origin(url);
	if (!h->origin)
		return diag_fail(d, -EINVAL, "cannot parse URL '%s'", h->safe_url);
	if (token && *token) {
		if (strpbrk(token, "\r\n"))
			return diag_fail(d, -EINVAL, "the token holds a line break; check the "
					 "token file");
		n = strlen(token) + sizeof("Authorization: Bearer ");
		h->auth_header = malloc(n);
		if (!h->auth_header)
			return diag_fail(d, -ENOMEM, "out of memory");
		snprintf(h->auth_header, n, "Authorization: Bearer %s", token);
	}
	h->curl = curl_easy_init();
	if (!h->curl)
		return diag_fail(d, -ENOMEM, "cannot start libcurl");
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, HUB_USER_AGENT);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)HUB_READER_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME, (long)HUB_READER_STALL_TIMEOUT_S);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, hub_on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, hub_on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	return 0;
}

int hub_reader_open(const char *url, const char *token, struct reader *r, struct diag *d)
{
	struct hub_reader *h;
	size_t got;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = parse_url(url, d);
	if (rc)
		return rc;
	pthread_once(&hub_curl_once, hub_curl_init);
	if (hub_curl_init_rc != CURLE_OK)
		return diag_fail(d, -ENOMEM, "cannot initialize libcurl: %s",
				 curl_easy_strerror(hub_curl_init_rc));
	h = calloc(1, sizeof(*h));
	if (!h)
		return diag_fail(d, -ENOMEM, "out of memory");
	h->size = UINT64_MAX;
	rc = hub_reader_setup(h, url, token, d);
	if (rc)
		goto out_free;
	h->head = malloc(HUB_READER_PREFETCH_BYTES);
	if (!h->head) {
		rc = diag_fail(d, -ENOMEM, "out of memory");
		goto out_free;
	}
	rc = hub_get(h, 0, HUB_READER_PREFETCH_BYTES, h->head, &got, d);
	if (rc)
		goto out_free;
	h->head_len = got;
	if (h->status == 200 && h->size == UINT64_MAX && !h->cut)
		h->size = got;
	if (h->status == 200 && h->size == UINT64_MAX) {
		curl_off_t cl = -1;

		curl_easy_getinfo(h->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (cl >= 0)
			h->size = (uint64_t)cl;
	}
	if (h->size == UINT64_MAX && got < HUB_READER_PREFETCH_BYTES)
		h->size = got;
	r->read_at = hub_read_at;
	r->ctx = h;
	r->size = h->size;
	return 0;

out_free:
	hub_reader_free(h);
	return rc;
}

void hub_reader_close(struct reader *r)
{
	if (r->read_at == hub_read_at)
		hub_reader_free(r->ctx);
	memset(r, 0, sizeof(*r));
}

unsigned hub_reader_requests(const struct reader *r)
{
	const struct hub_reader *h = r->read_at == hub_read_at ? r->ctx : NULL;

	return h ? h->requests : 0;
}

uint64_t hub_reader_bytes_fetched(const struct reader *r)
{
	const struct hub_reader *h = r->read_at == hub_read_at ? r->ctx : NULL;

	return h ? h->bytes : 0;
}

const char *hub_reader_last_error(const struct reader *r)
{
	const struct hub_reader *h = r->read_at == hub_read_at ? r->ctx : NULL;

	return h ? h->last.msg : "";
}
