/*
 * cache_int.h - helpers shared by the files of the cache module only.
 * Never included from another directory.
 */
#ifndef MODELFS_CACHE_INT_H
#define MODELFS_CACHE_INT_H

#include <stdbool.h>

/* "scheme://host:port" of url, lowercase, the default port made explicit,
 * as libcurl parses it: the key that decides whether a Bearer token may be
 * sent to url (only to the endpoint's own origin, never across a redirect
 * to another host).  New: free with free(); NULL on a URL libcurl cannot
 * parse or on ENOMEM.  Thread-safe. */
char *hub_url_origin(const char *url);

/* True when url has exactly the origin given (as hub_url_origin writes
 * it); false on any parse failure. */
bool hub_url_has_origin(const char *url, const char *origin);

#endif /* MODELFS_CACHE_INT_H */
