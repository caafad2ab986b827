/*
 * cache.h - the public interface of modelfs's cache layer: the Hugging Face
 * Hub client (libcurl), and later the blob store and download jobs.
 *
 * cache may use core; it never includes FUSE or mountopts headers.
 */
#ifndef MODELFS_CACHE_H
#define MODELFS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"

/* ------------------------------------------------------------------------
 * hub: HTTP access to a Hub (or any HTTP server) with range requests.
 * ------------------------------------------------------------------------ */

/* Translates a curl result and an HTTP status into SPEC §6's errno:
 * 401/403 -> -EACCES, 404 -> -ENOENT, unreachable -> -ENETDOWN, timeout ->
 * -ETIMEDOUT, 429 past the retry budget -> -EAGAIN, anything else -> -EIO.
 * 0 for a 2xx status with CURLE_OK.  (curl_code is a CURLcode.) */
int hub_errno(int curl_code, long http_status);

/* @@HUB_READER@@ */

#endif /* MODELFS_CACHE_H */
