/*
 * cli_cache.c - the mount's model-file cache: opening the blob store with
 * the -o options (SPEC §2 cache=, endpoint=, token_file=, offline,
 * connections=, chunk=, readahead=, verify=, cache_max=), and raising the
 * kernel's read-ahead for the mount.
 *
 * Read-ahead.  The kernel starts every FUSE mount's backing device with
 * read_ahead_kb = 128 (fuse_bdi_init), and the INIT reply can only lower
 * it.  The lazy-download notes measured a passthrough mount's sequential
 * read at 1.6 GB/s with 128 KiB, 2.4 GB/s with 1 MiB and 3.2-3.4 GB/s
 * with 4 MiB, and mmap faults following the same window; gcsfuse documents
 * the same sysfs write.  So, as root, modelfs writes CLI_READ_AHEAD_KB
 * into /sys/class/bdi/MAJ:MIN/read_ahead_kb, and it must do so after the
 * INIT exchange: the kernel sets the bdi's read-ahead to the smaller of
 * its current value and the INIT reply's max_readahead, which libfuse
 * copies from the kernel's own offer (128 KiB), so an earlier write is
 * undone.  A thread started before the loop stat()s the mount point,
 * which returns once the loop has answered INIT and a GETATTR, then
 * writes.  Without root the write fails with EACCES, logged at debug
 * level only.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs_int.h"

#define CLI_READ_AHEAD_KB   4096          /* the bdi read-ahead set after mounting */
#define CLI_TOKEN_MAX_BYTES 4096          /* a token file's first line */

/* The token: -o token_file= / $HF_TOKEN as mountopts found it, else the
 * first line of token_file when it exists.  *out: new (wiped and freed by
 * the caller), or NULL. */
static char *cli_token(const struct mountopts *mo)
{
	char buf[CLI_TOKEN_MAX_BYTES + 1];
	ssize_t n;
	size_t len;
	char *tok;
	int fd;

	if (mo->token && *mo->token)
		return strdup(mo->token);
	if (!mo->token_file)
		return NULL;
	fd = open(mo->token_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, CLI_TOKEN_MAX_BYTES);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	tok = len ? strdup(buf) : NULL;
	memset(buf, 0, sizeof(buf));
	return tok;
}

int cli_cache_open(struct fs_ctx *ctx)
{
	const struct mountopts *mo = ctx->mo;
	struct blob_store_config cfg;
	struct blob_http_config http;
	char *token = NULL;
	struct diag d;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.cache_dir = mo->cache_dir;
	cfg.reg = ctx->reg;
	cfg.offline = mo->offline;
	cfg.verify_strict = mo->verify == VERIFY_STRICT;
	cfg.connections = mo->connections;
	cfg.chunk_bytes = mo->chunk_bytes;
	cfg.readahead_bytes = mo->readahead_bytes;
	cfg.cache_max_bytes = mo->cache_max_bytes;
	cfg.discarded = fs_model_discarded;
	cfg.discarded_arg = ctx;
	diag_init(&d);
	if (!mo->offline) {
		memset(&http, 0, sizeof(http));
		http.endpoint = mo->endpoint;
		token = cli_token(mo);
		http.token = token;
		rc = blob_fetcher_http_open(&http, &cfg.fetcher, &d);
		if (token) {
			memset(token, 0, strlen(token));
			free(token);
		}
		if (rc) {
			log_msg(LOG_ERROR, "model files cannot be fetched: %s", d.msg[0] ? d.msg : strerror(-rc));
			return rc;
		}
	}
	rc = blob_store_open(&cfg, &ctx->blobs, &d);
	if (rc) {
		log_msg(LOG_ERROR, "model files cannot be cached: %s", d.msg[0] ? d.msg : strerror(-rc));
		return rc;
	}
	rc = job_list_new(ctx->blobs, &ctx->jobs);
	if (rc) {
		blob_store_close(ctx->blobs);
		ctx->blobs = NULL;
	}
	return rc;
}

void cli_cache_close(struct fs_ctx *ctx)
{
	job_list_free(ctx->jobs);
	ctx->jobs = NULL;
	blob_store_close(ctx->blobs);
	ctx->blobs = NULL;
}

static void cli_bdi_write(const char *mountpoint)
{
	char path[PATH_MAX], val[32];
	struct stat st;
	int fd, len;

	if (stat(mountpoint, &st) != 0) {
		log_msg(LOG_DEBUG, "cannot stat '%s' to raise its read-ahead: %s", mountpoint, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
	len = snprintf(val, sizeof(val), "%d\n", CLI_READ_AHEAD_KB);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, (size_t)len) != len) {
		log_msg(LOG_DEBUG, "cannot raise the read-ahead of '%s' (%s): %s; sequential reads are slower",
			mountpoint, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	log_msg(LOG_DEBUG, "read-ahead of '%s' set to %d KiB", mountpoint, CLI_READ_AHEAD_KB);
}

static void *cli_bdi_main(void *arg)
{
	cli_bdi_write(arg);
	free(arg);
	return NULL;
}

/* Detached: if the loop stops before answering, the stat waits until the
 * connection goes away, and nobody must wait for it. */
void cli_bdi_readahead_start(const char *mountpoint)
{
	pthread_attr_t attr;
	pthread_t thread;
	char *copy = strdup(mountpoint);

	if (!copy)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, cli_bdi_main, copy) != 0)
		free(copy);
	pthread_attr_destroy(&attr);
}
