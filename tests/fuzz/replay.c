/*
 * replay.c - a main() that feeds saved inputs to a fuzz target.
 *
 * Every fuzz_<name>.c defines LLVMFuzzerTestOneInput().  Built with clang
 * and -fsanitize=fuzzer it is a libFuzzer binary; built with any compiler
 * against this file it is a regression test that runs each file of its
 * corpus (tests/fuzz/corpus/<name>/) through the target once, as SQLite's
 * fuzzcheck does.  So every crash a fuzzing campaign finds, once its input
 * is added to the corpus, is checked by ctest on every build, under the
 * sanitizers of the ASan build type.
 *
 * Arguments are directories (their regular files are replayed in name
 * order, dot files skipped; subdirectories are not entered) or single files
 * (to reproduce one crash).  Each input is copied into a heap block of
 * exactly its size, as libFuzzer does, so a read one byte past the end is
 * an AddressSanitizer report.  The target's own verdict is ignored, as
 * libFuzzer ignores it; a crash or sanitizer report ends the process.
 *
 * Exit status: 0 when every input ran, 1 on an unreadable input, 2 on a
 * missing or empty corpus (a replay that runs nothing checks nothing).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT_BYTES (64u << 20)

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT_BYTES) {
		fprintf(stderr, "replay: '%s' is not a readable input of at most %u bytes\n",
			path, REPLAY_MAX_INPUT_BYTES);
		rc = -EFBIG;
		goto out_close_fd;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out_close_fd;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "replay: short read of '%s'\n", path);
			rc = -EIO;
			goto out_free_buf;
		}
		got += (size_t)n;
	}
	LLVMFuzzerTestOneInput(buf, got);
out_free_buf:
	free(buf);
out_close_fd:
	close(fd);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the regular files of dir; returns how many, or -errno. */
static long replay_dir(const char *dir)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0, i;
	long count = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: cannot open corpus '%s': %s\n", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == alloc) {
			char **grown;

			alloc = alloc ? 2 * alloc : 64;
			grown = realloc(names, alloc * sizeof(*names));
			if (!grown) {
				count = -ENOMEM;
				goto out_free_names;
			}
			names = grown;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			count = -ENOMEM;
			goto out_free_names;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int rc;

		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path)) {
			count = -ENAMETOOLONG;
			goto out_free_names;
		}
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		rc = replay_file(path);
		if (rc < 0) {
			count = rc;
			goto out_free_names;
		}
		count++;
	}
out_free_names:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return count;
}

int main(int argc, char *argv[])
{
	long total = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		struct stat st;
		long n;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: no corpus at '%s': %s\n", argv[i], strerror(errno));
			return 2;
		}
		if (S_ISDIR(st.st_mode)) {
			n = replay_dir(argv[i]);
		} else {
			int rc = replay_file(argv[i]);

			n = rc < 0 ? rc : 1;
		}
		if (n < 0)
			return 1;
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "replay: the corpus is empty; add inputs under tests/fuzz/corpus/\n");
		return 2;
	}
	printf("replay: %ld inputs ran\n", total);
	return 0;
}
