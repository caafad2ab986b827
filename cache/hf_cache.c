/*
 * hf_cache.c - a Hugging Face hub cache (hf_cache=, $HF_HUB_CACHE) read
 * and written in huggingface_hub's own layout, so that modelfs and
 * transformers, vLLM, huggingface-cli or llama.cpp keep one copy of each
 * model file between them (SPEC §2 hf_cache=, §7).
 *
 * The layout, as the Hub's "local cache" reference describes it for
 * reimplementations (huggingface_hub 0.8 and later):
 *
 *   ROOT/models--ORG--NAME/blobs/<etag>                  the bytes; etag is
 *        the LFS sha256 (64 hex digits) or, for a file kept in git, its
 *        blob sha1 (40)
 *   ROOT/models--ORG--NAME/snapshots/<commit>/<path>     a relative symlink
 *        to ../../blobs/<etag>, one more "../" per directory in path
 *   ROOT/models--ORG--NAME/refs/<branch or tag>          the commit, one line
 *   ROOT/models--ORG--NAME/.no_exist/<commit>/<path>     "known missing"
 *        markers; modelfs ignores them
 *   ROOT/.locks/models--ORG--NAME/<etag>.lock            huggingface_hub's
 *        per-blob download lock (flock)
 *
 * Finding a file.  With an LFS sha256 the answer is blobs/<sha256>,
 * whatever the revision: the name is the content, so no snapshot or ref
 * needs to agree.  Without one (a catalog entry, offline), the revision is
 * a commit when it is 40 hex digits, else a branch or tag read from
 * refs/, and the file is snapshots/<commit>/<path>.  Only a regular file
 * of the expected size counts, and only one whose real path stays inside
 * the repo's folder: a snapshot link to /etc/shadow in a cache someone
 * else prepared serves nothing.  Every name that comes from outside (the
 * repo id, the upstream path, a revision, the text of a ref) is checked
 * before it becomes part of a path: no "..", no empty or "." component, no
 * leading '/'.
 *
 * Publishing a verified blob follows huggingface_hub's own order, blob,
 * then snapshot link, then ref, so a reader that finds a snapshot link
 * always finds a whole blob behind it.  The blob is a hard link to the
 * store's own file when both caches are on one file system: instant, no
 * extra space, and the inode is immutable once verified (huggingface_hub
 * replaces blobs by rename, never in place).  Across file systems it is a
 * copy (copy_file_range, which the kernel turns into a server-side or
 * reflink copy where it can, else read/write in 8 MiB pieces) into an
 * unnamed O_TMPFILE, synced, then linked into place; where O_TMPFILE is
 * not supported, into "<sha256>.modelfs-<pid>.tmp".  Either way the final
 * name appears with link(), which never replaces: an existing blob of the
 * right size is kept (it is named by its content), one of another size is
 * left alone and the publication stops.  The snapshot link is one
 * symlink() call, atomic by itself; an existing entry is never replaced.
 * A ref is written to a temporary name and renamed over the old one, as
 * refs move.  While copying, huggingface_hub's lock for the blob is held
 * (flock, waited for at most CACHE_HF_LOCK_WAIT_MS), so a concurrent
 * hf_hub_download of the same file waits instead of fetching it again.
 *
 * Verified marks.  With verify=strict a file found here is hashed once
 * before it is served; the result is kept as cache_dir/hf-verified/<sha256>
 * holding the identity of the file that matched (device, inode, size,
 * mtime), so the next mount trusts the same file without reading 10 GB
 * again, and a file replaced since is hashed anew.
 */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache_int.h"

#define HF_REF_MAX_BYTES   128             /* a ref file: 40 hex digits and maybe a line break */
#define HF_COPY_STEP_BYTES (8u << 20)      /* one copy_file_range or read/write piece */
#define HF_LOCK_POLL_MS    50
#define HF_MARK_MAX_BYTES  160

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------ */
bool cache_hf_is_hex(const char *s, size_t n)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

/* A relative path of one or more components, none empty, "." or "..",
 * without control bytes or backslashes, shorter than NAME_MAX per part. */
static bool hf_is_rel_path(const char *s)
{
	const char *p = s, *end;
	size_t n;

	if (!s || !*s || strlen(s) >= CACHE_HF_PATH_MAX / 2)
		return false;
	for (;;) {
		end = strchr(p, '/');
		n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!end)
			break;
		p = end + 1;
	}
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	return true;
}

static int hf_join(char *out, const char *a, const char *b)
{
	int n = snprintf(out, CACHE_HF_PATH_MAX, "%s/%s", a, b);

	return n < 0 || n >= CACHE_HF_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* ROOT/models--ORG--NAME */
static int hf_repo_dir(const char *root, const char *repo_id, char *out)
{
	const char *slash;
	int n;

	if (!root || !*root || !parse_is_repo_id(repo_id))
		return -EINVAL;
	slash = strchr(repo_id, '/');
	n = snprintf(out, CACHE_HF_PATH_MAX, "%s/models--%.*s--%s", root, (int)(slash - repo_id), repo_id,
		     slash + 1);
	return n < 0 || n >= CACHE_HF_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* mkdir -p of every missing directory of path from its start (mode 0777:
 * the umask decides, as for huggingface_hub's own). */
static int hf_mkdirs(const char *path)
{
	char buf[CACHE_HF_PATH_MAX];
	size_t len = strlen(path), i;
	struct stat st;

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = i < len ? '/' : '\0';
	}
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* The directory part of path (path without its last component). */
static int hf_mkdirs_parent(const char *path)
{
	char buf[CACHE_HF_PATH_MAX];
	char *slash;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	return hf_mkdirs(buf);
}

/* ------------------------------------------------------------------------
 * Refs
 * ------------------------------------------------------------------------ */
int cache_hf_read_ref(const char *root, const char *repo_id, const char *ref, char *commit_out)
{
	char repo[CACHE_HF_PATH_MAX], path[CACHE_HF_PATH_MAX], buf[HF_REF_MAX_BYTES + 1];
	ssize_t n;
	size_t len;
	int fd, rc;

	commit_out[0] = '\0';
	if (!hf_is_rel_path(ref))
		return -EINVAL;
	rc = hf_repo_dir(root, repo_id, repo);
	if (rc)
		return rc;
	if (snprintf(path, sizeof(path), "%s/refs/%s", repo, ref) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, HF_REF_MAX_BYTES + 1);
	close(fd);
	if (n < 0)
		return -EIO;
	if (n > HF_REF_MAX_BYTES)
		return -EBADMSG;
	len = (size_t)n;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	if (!cache_hf_is_hex(buf, 40))
		return -EBADMSG;
	memcpy(commit_out, buf, 41);
	return 0;
}

int cache_hf_write_ref(const char *root, const char *repo_id, const char *ref, const char *commit, struct diag *d)
{
	char repo[CACHE_HF_PATH_MAX], path[CACHE_HF_PATH_MAX], tmp[CACHE_HF_PATH_MAX];
	int fd, rc;

	if (!hf_is_rel_path(ref) || !cache_hf_is_hex(commit, 40))
		return diag_fail(d, -EINVAL, "ref '%s' or commit '%s' cannot go into the Hugging Face cache",
				 ref ? ref : "", commit ? commit : "");
	rc = hf_repo_dir(root, repo_id, repo);
	if (rc)
		return diag_fail(d, rc, "no Hugging Face cache folder for '%s'", repo_id);
	if (snprintf(path, sizeof(path), "%s/refs/%s", repo, ref) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.modelfs-%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return diag_fail(d, -ENAMETOOLONG, "ref '%s' of '%s' makes too long a path", ref, repo_id);
	rc = hf_mkdirs_parent(path);
	if (rc)
		return diag_fail(d, rc, "cannot create the folder of '%s': %s", path, strerror(-rc));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return diag_fail(d, -errno, "cannot write '%s': %s", tmp, strerror(errno));
	rc = write(fd, commit, 40) == 40 ? 0 : -EIO;
	if (close(fd) != 0 && !rc)
		rc = -EIO;
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc) {
		/* ignored: the temporary name may already be gone */
		(void)unlink(tmp);
		return diag_fail(d, rc, "cannot write '%s': %s", path, strerror(-rc));
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Finding
 * ------------------------------------------------------------------------ */

/* True when real (a resolved path) lies inside the resolved dir. */
static bool hf_inside(const char *dir, const char *real)
{
	char rdir[PATH_MAX];
	size_t n;

	if (!realpath(dir, rdir))
		return false;
	n = strlen(rdir);
	return strncmp(real, rdir, n) == 0 && real[n] == '/';
}

int cache_hf_find(const char *root, const struct cache_hf_query *q, bool open_it, struct cache_hf_found *out)
{
	char repo[CACHE_HF_PATH_MAX], cand[CACHE_HF_PATH_MAX], commit[41];
	const char *rev = q->revision && *q->revision ? q->revision : "main", *base;
	struct stat st;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	rc = hf_repo_dir(root, q->repo_id, repo);
	if (rc)
		return rc;
	if (q->sha256) {
		if (!cache_hf_is_hex(q->sha256, 64))
			return -EINVAL;
		if (snprintf(cand, sizeof(cand), "%s/blobs/%s", repo, q->sha256) >= (int)sizeof(cand))
			return -ENAMETOOLONG;
	} else {
		if (!hf_is_rel_path(q->path))
			return -EINVAL;
		if (cache_hf_is_hex(rev, 40)) {
			memcpy(commit, rev, sizeof(commit));
		} else {
			rc = cache_hf_read_ref(root, q->repo_id, rev, commit);
			if (rc)
				return rc == -EINVAL || rc == -ENAMETOOLONG ? rc : -ENOENT;
		}
		if (snprintf(cand, sizeof(cand), "%s/snapshots/%s/%s", repo, commit, q->path) >= (int)sizeof(cand))
			return -ENAMETOOLONG;
	}
	if (!realpath(cand, out->path))
		return errno == ENAMETOOLONG ? -ENAMETOOLONG : -ENOENT;
	if (!hf_inside(repo, out->path))
		return -ENOENT;
	if (open_it) {
		fd = open(out->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
		if (fd < 0)
			return errno == ELOOP ? -ENOENT : -errno;
		if (fstat(fd, &st) != 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (fcntl(fd, F_SETFL, 0) != 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
	} else if (stat(out->path, &st) != 0) {
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || (q->size_bytes && (uint64_t)st.st_size != q->size_bytes) || st.st_size <= 0) {
		if (fd >= 0)
			close(fd);
		return -ENOENT;
	}
	out->fd = fd;
	out->st = st;
	base = strrchr(out->path, '/');
	base = base ? base + 1 : out->path;
	if (cache_hf_is_hex(base, 64) || cache_hf_is_hex(base, 40))
		memcpy(out->blob_name, base, strlen(base) + 1);
	return 0;
}

/* ------------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------------ */
static bool hf_stopping(const struct cache_hf_publish *p)
{
	return p->stop && p->stop(p->stop_arg);
}

static void hf_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	/* ignored: a shorter sleep only polls sooner */
	(void)nanosleep(&ts, NULL);
}

/* Takes huggingface_hub's lock of the blob: the fd, -EBUSY when another
 * program holds it past CACHE_HF_LOCK_WAIT_MS, or another -errno when the
 * lock file cannot be made (the caller goes on without it). */
static int hf_lock(const char *root, const char *repo_id, const char *sha, const struct cache_hf_publish *p)
{
	char path[CACHE_HF_PATH_MAX];
	const char *slash = strchr(repo_id, '/');
	unsigned waited = 0;
	int fd, rc;

	if (snprintf(path, sizeof(path), "%s/.locks/models--%.*s--%s/%s.lock", root, (int)(slash - repo_id),
		     repo_id, slash + 1, sha) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	rc = hf_mkdirs_parent(path);
	if (rc)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK || errno == EINTR ? -EBUSY : -errno;
		if (rc != -EBUSY || waited >= CACHE_HF_LOCK_WAIT_MS || hf_stopping(p)) {
			close(fd);
			return rc;
		}
		hf_sleep_ms(HF_LOCK_POLL_MS);
		waited += HF_LOCK_POLL_MS;
	}
	return fd;
}

/* Copies size bytes of from (at offset 0) to to. */
static int hf_copy(int from, int to, uint64_t size, const struct cache_hf_publish *p)
{
	unsigned char *buf = NULL;
	bool plain = false;
	uint64_t off = 0;
	int rc = 0;

	while (off < size) {
		size_t want = size - off < HF_COPY_STEP_BYTES ? (size_t)(size - off) : HF_COPY_STEP_BYTES;
		ssize_t n;

		if (hf_stopping(p)) {
			rc = -ECANCELED;
			break;
		}
		if (!plain) {
			loff_t in = (loff_t)off, outo = (loff_t)off;

			n = copy_file_range(from, &in, to, &outo, want, 0);
			if (n > 0) {
				off += (uint64_t)n;
				continue;
			}
			if (n == 0) {
				rc = -EIO;
				break;
			}
			if (errno == EINTR)
				continue;
			if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP &&
			    errno != EBADF) {
				rc = -errno;
				break;
			}
			plain = true;
		}
		if (!buf) {
			buf = malloc(HF_COPY_STEP_BYTES);
			if (!buf) {
				rc = -ENOMEM;
				break;
			}
		}
		n = pread(from, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		for (size_t done = 0; done < (size_t)n;) {
			ssize_t w = pwrite(to, buf + done, (size_t)n - done, (off_t)(off + done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = w < 0 ? -errno : -EIO;
				break;
			}
			done += (size_t)w;
		}
		if (rc)
			break;
		off += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/* Copies p's bytes to blob (a final name in blobs_dir) without ever
 * showing a partial file there: 0, -EEXIST when blob appeared meanwhile,
 * -errno. */
static int hf_copy_into(const char *blobs_dir, const char *blob, const struct cache_hf_publish *p)
{
	char tmp[CACHE_HF_PATH_MAX], proc[64];
	bool named = false;
	int fd, rc;

	fd = open(blobs_dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
	if (fd < 0) {
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return -errno;
		if (snprintf(tmp, sizeof(tmp), "%s.modelfs-%ld.tmp", blob, (long)getpid()) >= (int)sizeof(tmp))
			return -ENAMETOOLONG;
		/* ignored: a leftover of this same pid, from an earlier failure */
		(void)unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
		if (fd < 0)
			return -errno;
		named = true;
	}
	rc = hf_copy(p->from_fd, fd, p->size_bytes, p);
	if (!rc && fsync(fd) != 0)
		rc = -errno;
	if (!rc) {
		if (named) {
			rc = link(tmp, blob) == 0 ? 0 : -errno;
		} else {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			rc = linkat(AT_FDCWD, proc, AT_FDCWD, blob, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
		}
	}
	close(fd);
	if (named)
		/* ignored: the bytes are under the final name now, or failed */
		(void)unlink(tmp);
	return rc;
}

static void hf_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* ignored: a power cut may then lose the new name, which costs only
	 * a later download by huggingface_hub or a new publication */
	(void)fsync(fd);
	close(fd);
}

/* "../" once per directory between the snapshot file and the repo folder,
 * then "blobs/<sha>". */
static int hf_link_target(const char *path, const char *sha, char *out, size_t size)
{
	size_t depth = 2, i, len = 0;
	const char *p;
	int n;

	for (p = path; *p; p++)
		depth += *p == '/';
	for (i = 0; i < depth; i++) {
		if (len + 3 >= size)
			return -ENAMETOOLONG;
		memcpy(out + len, "../", 3);
		len += 3;
	}
	n = snprintf(out + len, size - len, "blobs/%s", sha);
	return n < 0 || (size_t)n >= size - len ? -ENAMETOOLONG : 0;
}

/* Puts blob in place: a hard link to p->from_path, else a copy under
 * huggingface_hub's lock.  0 (*added set), or -errno with d. */
static int hf_put_blob(const struct cache_hf_publish *p, const char *blobs, const char *blob, bool *added,
		       struct diag *d)
{
	int lock_fd, rc = -ENOENT;

	if (p->from_path)
		rc = link(p->from_path, blob) == 0 ? 0 : -errno;
	if (rc == -ENOENT || rc == -EXDEV || rc == -EPERM || rc == -EMLINK || rc == -EACCES || rc == -ENOTSUP) {
		lock_fd = hf_lock(p->root, p->repo_id, p->sha256, p);
		if (lock_fd == -EBUSY)
			return diag_fail(d, -EBUSY, "'%s' is being downloaded by another program; not published this time",
					 blob);
		rc = access(blob, F_OK) == 0 ? -EEXIST : hf_copy_into(blobs, blob, p);
		if (lock_fd >= 0)
			close(lock_fd);
	}
	if (rc == 0)
		*added = true;
	if (rc && rc != -EEXIST)
		return diag_fail(d, rc, "cannot publish '%s' of '%s' into '%s': %s", p->path, p->repo_id, blobs,
				 strerror(-rc));
	hf_fsync_dir(blobs);
	return 0;
}

int cache_hf_publish(const struct cache_hf_publish *p, struct cache_hf_published *out, struct diag *d)
{
	char repo[CACHE_HF_PATH_MAX], blobs[CACHE_HF_PATH_MAX], blob[CACHE_HF_PATH_MAX];
	char snap[CACHE_HF_PATH_MAX], target[CACHE_HF_PATH_MAX], have[CACHE_HF_PATH_MAX];
	struct stat st;
	ssize_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!cache_hf_is_hex(p->sha256, 64) || !hf_is_rel_path(p->path) ||
	    (p->commit && !cache_hf_is_hex(p->commit, 40)))
		return diag_fail(d, -EINVAL, "'%s' cannot be named in a Hugging Face cache", p->path ? p->path : "");
	rc = hf_repo_dir(p->root, p->repo_id, repo);
	if (rc)
		return diag_fail(d, rc, "'%s' cannot be named in a Hugging Face cache", p->repo_id);
	rc = hf_join(blobs, repo, "blobs");
	if (!rc)
		rc = hf_join(blob, blobs, p->sha256);
	if (!rc && p->commit && snprintf(snap, sizeof(snap), "%s/snapshots/%s/%s", repo, p->commit, p->path) >=
				    (int)sizeof(snap))
		rc = -ENAMETOOLONG;
	if (!rc)
		rc = hf_link_target(p->path, p->sha256, target, sizeof(target));
	if (rc)
		return diag_fail(d, rc, "'%s' of '%s' makes too long a path in '%s'", p->path, p->repo_id, p->root);
	rc = hf_mkdirs(blobs);
	if (rc)
		return diag_fail(d, rc, "cannot create '%s': %s", blobs, strerror(-rc));
	if (lstat(blob, &st) != 0) {
		rc = hf_put_blob(p, blobs, blob, &out->added_blob, d);
		if (rc)
			return rc;
	}
	if (stat(blob, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != p->size_bytes)
		return diag_fail(d, -EEXIST, "'%s' is already in the Hugging Face cache with other content; it was left as it is",
				 blob);
	out->blob_st = st;
	out->have_blob = true;
	if (!p->commit)
		return 0;
	rc = hf_mkdirs_parent(snap);
	if (rc)
		return diag_fail(d, rc, "cannot create the folder of '%s': %s", snap, strerror(-rc));
	if (symlink(target, snap) == 0) {
		out->added_snapshot = true;
	} else if (errno == EEXIST) {
		n = readlink(snap, have, sizeof(have) - 1);
		if (n < 0 || (size_t)n != strlen(target) || memcmp(have, target, (size_t)n) != 0)
			log_msg(LOG_DEBUG, "'%s' exists and is not a link to '%s'; left as it is", snap, target);
	} else {
		return diag_fail(d, -errno, "cannot link '%s' into the Hugging Face cache: %s", snap, strerror(errno));
	}
	out->have_snapshot = true;
	return 0;
}

/* ------------------------------------------------------------------------
 * Verified marks
 * ------------------------------------------------------------------------ */
static int hf_mark_text(const struct stat *st, char *buf, size_t size)
{
	return snprintf(buf, size, "modelfs-verified 1 %llu %llu %lld %lld %ld\n", (unsigned long long)st->st_dev,
			(unsigned long long)st->st_ino, (long long)st->st_size, (long long)st->st_mtim.tv_sec,
			st->st_mtim.tv_nsec);
}

bool cache_hf_is_verified(const char *marks_dir, const char *sha256, const struct stat *st)
{
	char path[CACHE_HF_PATH_MAX], want[HF_MARK_MAX_BYTES], have[HF_MARK_MAX_BYTES];
	ssize_t n;
	int fd, len;

	if (!cache_hf_is_hex(sha256, 64) || hf_join(path, marks_dir, sha256))
		return false;
	len = hf_mark_text(st, want, sizeof(want));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	n = read(fd, have, sizeof(have));
	close(fd);
	return len > 0 && n == len && memcmp(have, want, (size_t)len) == 0;
}

int cache_hf_mark_verified(const char *marks_dir, const char *sha256, const struct stat *st)
{
	char path[CACHE_HF_PATH_MAX], tmp[CACHE_HF_PATH_MAX], text[HF_MARK_MAX_BYTES];
	int fd, len, rc;

	if (!cache_hf_is_hex(sha256, 64))
		return -EINVAL;
	if (hf_join(path, marks_dir, sha256) ||
	    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if (mkdir(marks_dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	len = hf_mark_text(st, text, sizeof(text));
	if (len <= 0 || len >= (int)sizeof(text))
		return -EINVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	rc = write(fd, text, (size_t)len) == len ? 0 : -EIO;
	if (close(fd) != 0 && !rc)
		rc = -EIO;
	if (!rc && rename(tmp, path) != 0)
		rc = -errno;
	if (rc)
		/* ignored: the temporary name may already be gone */
		(void)unlink(tmp);
	return rc;
}
