/*
 * reader.c - random access to bytes in memory or in a local file.
 *
 * Parsers of outside formats (GGUF above all) read through a struct reader
 * instead of a FILE * or a buffer, in the manner of Redis's rio: one
 * parser then serves `modelfs inspect FILE`, `inspect URL` (cache/ supplies
 * an HTTP range reader), registration, and the fuzzer, which hands it
 * memory.  The contract is pread's with the short reads taken out: read_at
 * either fills all len bytes or fails, -ENODATA when the range passes the
 * end of the data, so a truncated file looks the same whatever its source.
 *
 * The memory reader keeps its bytes in r->mem and points ctx at the reader
 * itself, which costs no allocation and so cannot fail.  The file reader
 * keeps the descriptor in ctx (no allocation either), reads with pread in a
 * loop that retries EINTR and continues after short reads, and takes its
 * size from fstat when it opens.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int reader_memory_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct reader *r = ctx;

	if (off > r->size || len > r->size - off)
		return -ENODATA;
	if (len)
		memcpy(buf, (const unsigned char *)r->mem + off, len);
	return 0;
}

void reader_from_memory(struct reader *r, const void *data, size_t len)
{
	r->read_at = reader_memory_read_at;
	r->size = len;
	r->ctx = r;
	r->mem = data;
}

static int reader_file_fd(void *ctx)
{
	return (int)(intptr_t)ctx;
}

static int reader_file_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
	int fd = reader_file_fd(ctx);
	unsigned char *p = buf;

	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -ENODATA;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int reader_file_open(struct reader *r, const char *path)
{
	struct stat st;
	int fd, rc;

	do {
		fd = open(path, O_RDONLY | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out_close;
	}
	r->read_at = reader_file_read_at;
	r->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : UINT64_MAX;
	r->ctx = (void *)(intptr_t)fd;
	r->mem = NULL;
	return 0;

out_close:
	close(fd);
	return rc;
}

void reader_file_close(struct reader *r)
{
	if (r->read_at == reader_file_read_at && reader_file_fd(r->ctx) >= 0)
		close(reader_file_fd(r->ctx));
	r->read_at = NULL;
	r->ctx = (void *)(intptr_t)-1;
	r->size = 0;
	r->mem = NULL;
}
