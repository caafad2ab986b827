/*
 * cli_cache.c - the mount's model-file cache: opening the blob store with
 * the -o options (SPEC §2 cache=, hf_cache=, endpoint=, token_file=, offline,
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
 * undone.  A thread started before the loop finds the mount's device
 * number in /proc/self/mountinfo, waits until fs_init() has run (the INIT
 * reply follows it at once), gives the reply a moment, and writes; it
 * checks again a second later and writes once more if the value went
 * down.  It never touches the mount point itself: a stat() in flight
 * there pins the mount, and an unmount at that moment would fail with
 * EBUSY.  Without root the write fails with EACCES, logged at debug level
 * only.  The thread is joined at unmount.
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
#include <time.h>
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
	cfg.hf_cache_dir = mo->hf_cache_dir;
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
		http.stall_timeout_s = mo->timeout_s;
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
		return rc;
	}
	/* ignored: without the job history the jobs of this mount still run
	 * and show; the registry's own message is in the log */
	rc = job_list_attach(ctx->jobs, ctx->reg);
	if (rc)
		log_msg(LOG_WARN, "the job history of earlier mounts is unavailable: %s", strerror(-rc));
	return 0;
}

void cli_cache_close(struct fs_ctx *ctx)
{
	job_list_free(ctx->jobs);
	ctx->jobs = NULL;
	blob_store_close(ctx->blobs);
	ctx->blobs = NULL;
}

#define CLI_BDI_WAIT_MS   30000           /* longest wait for INIT */
#define CLI_BDI_STEP_MS   10

/* The "MAJ:MIN" of the mount at mountpoint, from /proc/self/mountinfo
 * (fields: id, parent, MAJ:MIN, root, mount point with \040-style escapes;
 * a mount point without such bytes compares as is): 0 or -ENOENT. */
int cli_mount_dev(const char *mountpoint, char *dev, size_t size)
{
	char line[8192];
	int rc = -ENOENT;
	FILE *f;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *fields[5], *p = line;
		size_t i;

		for (i = 0; i < 5; i++) {
			fields[i] = p;
			p += strcspn(p, " \n");
			if (*p)
				*p++ = '\0';
		}
		if (strcmp(fields[4], mountpoint) == 0 && strlen(fields[2]) < size) {
			memcpy(dev, fields[2], strlen(fields[2]) + 1);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

static void cli_bdi_sleep(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/* Reads the bdi's read_ahead_kb, writes ours when it is lower.  0 when
 * it is ours now, -errno otherwise. */
static int cli_bdi_write(const char *path)
{
	char val[32];
	ssize_t n;
	int fd, len;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, val, sizeof(val) - 1, 0);
	if (n > 0) {
		val[n] = '\0';
		if (strtol(val, NULL, 10) >= CLI_READ_AHEAD_KB) {
			close(fd);
			return 0;
		}
	}
	len = snprintf(val, sizeof(val), "%d\n", CLI_READ_AHEAD_KB);
	if (pwrite(fd, val, (size_t)len, 0) != len) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return 0;
}

static void *cli_bdi_main(void *arg)
{
	struct cli_bdi *b = arg;
	char dev[32], path[PATH_MAX];
	unsigned waited = 0;
	int rc;

	rc = cli_mount_dev(b->mountpoint, dev, sizeof(dev));
	if (rc) {
		log_msg(LOG_DEBUG, "cannot find the device of '%s' in mountinfo: %s; sequential reads are slower",
			b->mountpoint, strerror(-rc));
		return NULL;
	}
	while (!__atomic_load_n(b->inited, __ATOMIC_ACQUIRE) && !__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE) &&
	       waited < CLI_BDI_WAIT_MS) {
		cli_bdi_sleep(CLI_BDI_STEP_MS);
		waited += CLI_BDI_STEP_MS;
	}
	if (!__atomic_load_n(b->inited, __ATOMIC_ACQUIRE))
		return NULL;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	cli_bdi_sleep(100);
	rc = cli_bdi_write(path);
	if (rc == 0 && !__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		cli_bdi_sleep(1000);
		rc = cli_bdi_write(path);
	}
	if (rc)
		log_msg(LOG_DEBUG, "cannot raise the read-ahead of '%s' (%s): %s; sequential reads are slower",
			b->mountpoint, path, strerror(-rc));
	else
		log_msg(LOG_DEBUG, "read-ahead of '%s' set to %d KiB", b->mountpoint, CLI_READ_AHEAD_KB);
	return NULL;
}

struct cli_bdi *cli_bdi_readahead_start(const char *mountpoint, const int *inited)
{
	struct cli_bdi *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->mountpoint = strdup(mountpoint);
	b->inited = inited;
	if (!b->mountpoint || pthread_create(&b->thread, NULL, cli_bdi_main, b) != 0) {
		free(b->mountpoint);
		free(b);
		return NULL;
	}
	return b;
}

void cli_bdi_readahead_stop(struct cli_bdi *b)
{
	if (!b)
		return;
	__atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
	pthread_join(b->thread, NULL);
	free(b->mountpoint);
	free(b);
}
