/*
 * bench.c - benchmark jobs (SPEC §6 benchmark, §4 benchmark.json; issue 7).
 *
 * `echo FAMILY/VARIANT/QUANT [ctx=N] [ngl=N] > .control/benchmark` is
 * checked when written (a line that parses, a registered quant, a
 * bench_cmd that expands) and then queued: the run is stored in the
 * registry as "queued", with the hardware profile, the command, and the
 * estimate at the same settings (vram@ and the bandwidth ceiling of the
 * decode speed), and a job appears in .control/jobs.  write() returns at
 * once.
 *
 * One worker thread runs the queue, one benchmark at a time, because two
 * runners on one machine would measure each other.  For each run it:
 *
 *   1. downloads the quant when it is not cached, as .control/download
 *      does (the files are pinned), and waits for it, showing the
 *      download's progress in the benchmark's job;
 *   2. runs bench_cmd as argv with no shell (posix_spawnp: PATH is
 *      searched, a missing runner is ENOENT at once), {model} being the
 *      first model file's path in this mount, so split models keep
 *      llama.cpp's shard naming and the runner reads what a user's
 *      llama.cpp would; stdin is /dev/null, stdout goes to
 *      state/bench/ID.out and stderr to state/bench/ID.log, and no other
 *      descriptor of the daemon is inherited;
 *   3. polls the runner every 200 ms: wait4() gives its peak RSS when it
 *      exits, nvidia-smi (when it is installed) the GPU memory used above
 *      what was used before the start, sampled every second; past
 *      bench_timeout (or at unmount) the runner's process group gets
 *      SIGTERM, then SIGKILL 5 s later;
 *   4. parses stdout as llama-bench JSON (core/bench.c) and stores the
 *      run as tested, or failed with why and what to do: a runner that is
 *      not installed, a non-zero exit (with the last line it printed on
 *      stderr), a signal, a timeout, output that is not llama-bench's.
 *
 * Runs survive the mount as history in the registry.  A run that was
 * running when the daemon stopped is marked failed at the next mount
 * (registry_bench_recover); runs still queued are queued again, oldest
 * first, since the user asked for them and nothing of them has happened.
 *
 * Locks: bench->lock protects the queue, the stop flag and the running
 * runner's pid; it is never held across the registry, the blob store or
 * a wait for the runner (the waits are timed waits on bench->cond, so an
 * unmount wakes them).
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fs_int.h"

extern char **environ;

#define BENCH_POLL_MS 200u              /* runner and download polling period */
#define BENCH_GPU_SAMPLE_MS 1000u       /* nvidia-smi sampling period */
#define BENCH_KILL_GRACE_MS 5000u       /* SIGTERM to SIGKILL */
#define BENCH_SMI_TIMEOUT_MS 5000u      /* one nvidia-smi call */
#define BENCH_TAIL_BYTES 4096           /* of the runner's stderr, for a failure's message */
#define BENCH_MSG_BYTES 512

struct bench_item {
	struct bench_item *next;
	struct bench_run run;            /* owns its strings */
	char family[NAME_MAX_BYTES];
	char variant[NAME_MAX_BYTES];
	char quant[NAME_MAX_BYTES];
	unsigned job_id;
};

struct ctl_bench {
	struct fs_ctx *ctx;
	pthread_mutex_t lock;
	pthread_cond_t cond;             /* CLOCK_MONOTONIC */
	pthread_t thread;
	bool thread_started;
	bool stopping;                   /* protected by lock */
	pid_t pid;                       /* the runner (its process group), 0 = none; protected by lock */
	struct bench_item *head, *tail;  /* the queue, oldest first; protected by lock */
	bool has_smi;                    /* nvidia-smi is in PATH */
	char dir[PATH_MAX];              /* state/bench */
};

static uint64_t bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t bench_wall_s(void)
{
	return (int64_t)time(NULL);
}

static void bench_item_free(struct bench_item *it)
{
	if (!it)
		return;
	bench_run_release(&it->run);
	free(it);
}

/* Waits on bench->cond for at most ms (bench->lock held); true when the
 * mount is stopping. */
static bool bench_sleep_locked(struct ctl_bench *b, unsigned ms)
{
	struct timespec ts;

	if (b->stopping)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000u;
	ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&b->cond, &b->lock, &ts);
	return b->stopping;
}

static bool bench_sleep(struct ctl_bench *b, unsigned ms)
{
	bool stop;

	pthread_mutex_lock(&b->lock);
	stop = bench_sleep_locked(b, ms);
	pthread_mutex_unlock(&b->lock);
	return stop;
}

/* Whether an executable named name is in PATH. */
static bool bench_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (n && (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name) < sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* Spawns argv with stdin from /dev/null, stdout to out_fd, stderr to
 * err_fd (-1: /dev/null), in its own process group, with no other
 * descriptor.  0 and *pid_out, or -errno (-ENOENT: not found). */
static int bench_spawn(char *const argv[], int out_fd, int err_fd, pid_t *pid_out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int rc;

	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		return -rc;
	rc = posix_spawnattr_init(&attr);
	if (rc) {
		posix_spawn_file_actions_destroy(&fa);
		return -rc;
	}
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (!rc && err_fd >= 0)
		rc = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	if (!rc && err_fd < 0)
		rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!rc)
		rc = posix_spawnattr_setpgroup(&attr, 0);
	if (!rc)
		rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	if (!rc)
		rc = posix_spawnp(pid_out, argv[0], &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

/* Runs argv to completion with a timeout and returns its stdout in out
 * (capped at cap bytes): 0 when it exited 0, else -errno (-ETIMEDOUT,
 * -EIO for a failed exit). */
static int bench_capture(char *const argv[], unsigned timeout_ms, size_t cap, struct sbuf *out)
{
	uint64_t until = bench_now_ms() + timeout_ms;
	int fds[2], status = 0, rc;
	char buf[4096];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	rc = bench_spawn(argv, fds[1], -1, &pid);
	close(fds[1]);
	if (rc) {
		close(fds[0]);
		return rc;
	}
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		uint64_t now = bench_now_ms();
		ssize_t n;

		if (now >= until) {
			rc = -ETIMEDOUT;
			break;
		}
		n = poll(&p, 1, (int)(until - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? -ETIMEDOUT : -errno;
			break;
		}
		n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out->len + (size_t)n <= cap)
			sbuf_add(out, buf, (size_t)n);
	}
	close(fds[0]);
	if (rc)
		(void)kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc)
		return rc;
	if (out->err)
		return out->err;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* GPU memory in use now (MiB, summed over the GPUs), from nvidia-smi. */
static int bench_gpu_used_mib(int64_t *out)
{
	static char smi[] = "nvidia-smi", query[] = "--query-gpu=memory.used",
		    format[] = "--format=csv,noheader,nounits";
	char *const argv[] = { smi, query, format, NULL };
	const char *p;
	struct sbuf sb;
	int64_t sum = 0;
	int rc;

	sbuf_init(&sb, 1u << 16);
	rc = bench_capture(argv, BENCH_SMI_TIMEOUT_MS, 1u << 16, &sb);
	if (rc == 0 && sbuf_addch(&sb, '\0') == 0) {
		rc = -EINVAL;
		for (p = sb.buf; p && *p; p += strcspn(p, "\n"), p += *p == '\n') {
			char line[64];
			uint64_t v;
			size_t n = strcspn(p, "\n");

			while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
				n--;
			if (n == 0 || n >= sizeof(line))
				continue;
			memcpy(line, p, n);
			line[n] = '\0';
			if (parse_u64(line, &v) != 0 || v > INT32_MAX)
				continue;
			sum += (int64_t)v;
			rc = 0;
		}
	}
	sbuf_release(&sb);
	if (rc == 0)
		*out = sum;
	return rc;
}

void ctl_bench_detect_gpu(struct hw_profile *hw)
{
	static char smi[] = "nvidia-smi", query[] = "--query-gpu=name,memory.total",
		    format[] = "--format=csv,noheader,nounits";
	char *const argv[] = { smi, query, format, NULL };
	struct sbuf sb;
	int rc;

	if (!bench_in_path("nvidia-smi")) {
		log_msg(LOG_DEBUG, "hardware: nvidia-smi is not installed; no GPU detected");
		return;
	}
	sbuf_init(&sb, 1u << 16);
	rc = bench_capture(argv, BENCH_SMI_TIMEOUT_MS, 1u << 16, &sb);
	if (rc == 0 && sbuf_addch(&sb, '\0') == 0)
		rc = hw_parse_nvidia_smi(hw, sb.buf);
	if (rc)
		log_msg(LOG_WARN, "hardware: nvidia-smi gave no GPU name and memory: %s", strerror(-rc));
	else
		log_msg(LOG_INFO, "hardware: detected '%s' with %" PRIu64 " MiB", hw->gpu_name, hw->gpu_vram_mib);
	sbuf_release(&sb);
}

/* The last non-blank line of a file (at most its last BENCH_TAIL_BYTES),
 * printable bytes only, in buf; "" when none. */
static void bench_tail_line(const char *path, char *buf, size_t size)
{
	char tail[BENCH_TAIL_BYTES + 1];
	ssize_t n = 0;
	off_t end;
	char *line, *p;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	end = lseek(fd, 0, SEEK_END);
	if (end > 0)
		n = pread(fd, tail, BENCH_TAIL_BYTES, end > BENCH_TAIL_BYTES ? end - BENCH_TAIL_BYTES : 0);
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
		tail[--n] = '\0';
	line = strrchr(tail, '\n');
	line = line ? line + 1 : tail;
	for (p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	snprintf(buf, size, "%.200s", line);
}

/* Reads at most cap bytes of path into a new NUL-terminated string. */
static int bench_read_file(const char *path, size_t cap, char **out, size_t *len_out)
{
	struct sbuf sb;
	char buf[65536];
	ssize_t n;
	int fd;

	*out = NULL;
	*len_out = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	sbuf_init(&sb, cap + 1);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			sbuf_release(&sb);
			return (int)n;
		}
		if (sb.len + (size_t)n > cap) {
			close(fd);
			sbuf_release(&sb);
			return -E2BIG;
		}
		sbuf_add(&sb, buf, (size_t)n);
	}
	close(fd);
	if (sb.err) {
		n = sb.err;
		sbuf_release(&sb);
		return (int)n;
	}
	*len_out = sb.len;
	if (sbuf_addch(&sb, '\0') != 0) {
		sbuf_release(&sb);
		return -ENOMEM;
	}
	*out = sbuf_detach(&sb, NULL);
	return *out ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------------
 * Settings of a run: {ngl}, {ctx}, the estimate
 * ------------------------------------------------------------------------ */

/* Whether the profile describes no GPU at all: the run is then a CPU run. */
static bool bench_hw_is_cpu(const struct hw_profile *hw)
{
	return hw->gpu_vram_mib == 0 && !(hw->gpu_bandwidth_gbps > 0) && hw->gpu_name[0] == '\0';
}

/* Fills the run's settings and estimates from the request and the profile. */
static void bench_settle(const struct model_variant *v, const struct model_quant *q,
			 const struct control_request *r, const struct hw_profile *hw, struct bench_run *run)
{
	struct hw_profile ceil_hw = *hw;
	struct vram_estimate e;
	struct vram_params p;
	struct vram_fit fit;
	double tps;

	run->hw = *hw;
	run->hw.tg_efficiency = 0;
	run->ctx_tokens = r->ctx_tokens ? r->ctx_tokens : BENCH_DEFAULT_CTX;
	vram_params_init(&p, VRAM_KIND_VRAM);
	p.ctx_tokens = run->ctx_tokens;
	if (r->has_ngl) {
		run->ngl = r->ngl;
	} else if (bench_hw_is_cpu(hw)) {
		run->ngl = 0;
	} else {
		run->ngl = VRAM_NGL_ALL;
		p.kind = VRAM_KIND_FIT;
		if (hw->gpu_vram_mib) {
			struct vram_model m;

			if (vram_model_from_variant(&m, v, q, NULL) == 0 && vram_fit(&m, &p, hw, &fit, NULL) == 0)
				run->ngl = fit.ngl;
			vram_model_release(&m);
		}
		p.kind = VRAM_KIND_VRAM;
	}
	if (bench_hw_is_cpu(hw)) {
		p.backend = VRAM_BACKEND_CPU;
		p.ngl = 0;
	} else {
		p.ngl = run->ngl;
	}
	if (vram_estimate_quant(v, q, &p, &e, NULL) == 0)
		run->estimate_vram_mib = e.total_bytes / (1024 * 1024) + (e.total_bytes % (1024 * 1024) != 0);
	ceil_hw.tg_efficiency = 0;
	if (vram_tg_quant(v, q, &p, &ceil_hw, &tps, NULL) == 0)
		run->est_tg_ceiling = tps;
}

/* The path {model} names: the quant's first model file in this mount. */
static int bench_model_path(struct fs_ctx *ctx, const struct model_variant *v, const struct model_quant *q,
			    char *buf, size_t size)
{
	const char *name = NULL;
	size_t i;

	for (i = 0; i < q->n_files && !name; i++)
		if (q->files[i].role == FILE_ROLE_MODEL)
			name = q->files[i].name;
	if (!name)
		return -ENOENT;
	if ((size_t)snprintf(buf, size, "%s/%s/%s/%s/%s", ctx->mountpoint ? ctx->mountpoint : "", v->family,
			     v->variant, q->name, name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* ------------------------------------------------------------------------
 * Running one benchmark
 * ------------------------------------------------------------------------ */

static void bench_fail(struct bench_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bench_fail(struct bench_run *run, const char *fmt, ...)
{
	char msg[BENCH_MSG_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(run->error);
	run->error = strdup(msg);
	run->status = BENCH_FAILED;
}

/* Stores the run's new state; a quant unregistered meanwhile is not an
 * error of the run's (the row went with it). */
static void bench_store(struct ctl_bench *b, struct bench_item *it)
{
	int rc = registry_bench_update(b->ctx->reg, &it->run);

	if (rc == 0) {
		/* the views listing benchmark columns; benchmark.json and
		 * compare.tsv are direct_io (fs/ops.c) */
		fs_invalidate(b->ctx, "/registry.json");
		fs_invalidate(b->ctx, "/models.tsv");
	}
	if (rc == -ENOENT)
		log_msg(LOG_INFO, "benchmark %s/%s/%s: the quant was unregistered; the result is dropped",
			it->family, it->variant, it->quant);
	else if (rc)
		log_msg(LOG_ERROR, "benchmark %s/%s/%s: cannot store the result: %s", it->family, it->variant,
			it->quant, strerror(-rc));
}

/* Step 1: every file of the quant cached, downloading what is missing.
 * 0, or -errno with the run failed. */
static int bench_download(struct ctl_bench *b, struct bench_item *it, const struct model_variant *v,
			  const struct model_quant *q)
{
	struct fs_ctx *ctx = b->ctx;
	char target[3 * NAME_MAX_BYTES + 2], msg[BENCH_MSG_BYTES];
	struct blob_source *src;
	bool started = false;
	struct diag d;
	size_t i;
	int rc = 0;

	if (fs_variant_is_local(v))
		return 0;
	if (!ctx->blobs || !ctx->jobs) {
		bench_fail(&it->run, "the model cache is not available in this mount; see .control/log");
		return -EIO;
	}
	snprintf(target, sizeof(target), "%s/%s/%s", v->family, v->variant, q->name);
	src = ctl_cache_sources(v, q);
	if (!src) {
		bench_fail(&it->run, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		uint64_t done = 0, total = 0;
		bool all = true;
		int err = 0;

		for (i = 0; i < q->n_files; i++) {
			struct blob_info info;

			if (blob_store_query(ctx->blobs, &src[i], &info) != 0) {
				all = false;
				continue;
			}
			done += info.cached_bytes;
			total += info.size_bytes ? info.size_bytes : src[i].size_bytes;
			all &= info.state == BLOB_CACHED;
			if (started && info.error && info.state != BLOB_DOWNLOADING && info.state != BLOB_CACHED)
				err = info.error;
		}
		if (all)
			break;
		if (err) {
			bench_fail(&it->run, "downloading '%s' failed: %s; see .control/log, then write the line "
				   "again", target, strerror(-err));
			rc = err;
			break;
		}
		if (!started) {
			diag_init(&d);
			rc = job_download(ctx->jobs, target, src, q->n_files, NULL, &d);
			if (rc) {
				bench_fail(&it->run, "cannot download '%s': %s", target,
					   d.msg[0] ? d.msg : strerror(-rc));
				break;
			}
			started = true;
			log_msg(LOG_INFO, "benchmark %s: downloading the model first", target);
		}
		snprintf(msg, sizeof(msg), "downloading the model");
		job_set(ctx->jobs, it->job_id, "running", total ? 100.0 * (double)done / (double)total : 0, done,
			total, msg);
		if (bench_sleep(b, 500)) {
			bench_fail(&it->run, "interrupted: modelfs was unmounted while downloading; write the line "
				   "again");
			rc = -ECANCELED;
			break;
		}
	}
	free(src);
	return rc;
}

/* Kills the runner's process group: SIGTERM, and SIGKILL after the grace. */
static void bench_kill(pid_t pid, uint64_t *term_at, uint64_t now)
{
	if (*term_at == 0) {
		(void)kill(-pid, SIGTERM);
		*term_at = now;
	} else if (now - *term_at >= BENCH_KILL_GRACE_MS) {
		(void)kill(-pid, SIGKILL);
	}
}

/* Steps 2-4. */
static void bench_execute(struct ctl_bench *b, struct bench_item *it, const char *model)
{
	struct fs_ctx *ctx = b->ctx;
	char out_path[PATH_MAX + 32], log_path[PATH_MAX + 32], tail[256];
	uint64_t start, deadline, term_at = 0, next_gpu = 0;
	int64_t gpu_base = -1, gpu_peak = -1;
	bool timed_out = false, stopped = false;
	int out_fd = -1, err_fd = -1, status = 0, rc;
	struct bench_measure m;
	struct rusage ru;
	size_t argc = 0, raw_len = 0;
	char **argv = NULL, *raw = NULL;
	struct diag d;
	pid_t pid;

	diag_init(&d);
	rc = bench_argv_expand(ctx->mo->bench_cmd, model, it->run.ctx_tokens, it->run.ngl, &argv, &argc, &d);
	if (rc) {
		bench_fail(&it->run, "bench_cmd: %s", d.msg[0] ? d.msg : strerror(-rc));
		return;
	}
	bench_argv_free(it->run.argv);
	it->run.argv = argv;
	snprintf(out_path, sizeof(out_path), "%s/%" PRId64 ".out", b->dir, it->run.id);
	snprintf(log_path, sizeof(log_path), "%s/%" PRId64 ".log", b->dir, it->run.id);
	free(it->run.log_path);
	it->run.log_path = strdup(log_path);
	out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	err_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out_fd < 0 || err_fd < 0) {
		bench_fail(&it->run, "cannot create '%s': %s; check the state directory", out_fd < 0 ? out_path :
			   log_path, strerror(errno));
		goto out_close;
	}
	if (b->has_smi && bench_gpu_used_mib(&gpu_base) != 0)
		gpu_base = -1;
	it->run.started = bench_wall_s();
	it->run.status = BENCH_RUNNING;
	bench_store(b, it);
	job_set(ctx->jobs, it->job_id, "running", 0, 0, 0, "running the benchmark");
	log_msg(LOG_INFO, "benchmark %s/%s/%s: running '%s'", it->family, it->variant, it->quant, argv[0]);
	rc = bench_spawn(argv, out_fd, err_fd, &pid);
	close(out_fd);
	close(err_fd);
	out_fd = err_fd = -1;
	if (rc == -ENOENT || rc == -EACCES) {
		bench_fail(&it->run, "the benchmark runner '%s' %s; install llama.cpp's llama-bench (build "
			   "llama.cpp, or a llama.cpp package) so it is in PATH, or mount with -o bench_cmd='...'",
			   argv[0], rc == -ENOENT ? "is not installed (not found in PATH)" : "cannot be executed");
		return;
	}
	if (rc) {
		bench_fail(&it->run, "cannot start '%s': %s", argv[0], strerror(-rc));
		return;
	}
	pthread_mutex_lock(&b->lock);
	b->pid = pid;
	pthread_mutex_unlock(&b->lock);
	start = bench_now_ms();
	deadline = start + (uint64_t)ctx->mo->bench_timeout_s * 1000u;
	for (;;) {
		uint64_t now;
		pid_t w;

		memset(&ru, 0, sizeof(ru));
		w = wait4(pid, &status, WNOHANG, &ru);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			bench_fail(&it->run, "lost the runner: %s", strerror(errno));
			break;
		}
		now = bench_now_ms();
		if (gpu_base >= 0 && now >= next_gpu) {
			int64_t used;

			if (bench_gpu_used_mib(&used) == 0 && used > gpu_peak)
				gpu_peak = used;
			next_gpu = now + BENCH_GPU_SAMPLE_MS;
		}
		if (now >= deadline)
			timed_out = true;
		if (timed_out || stopped)
			bench_kill(pid, &term_at, now);
		if (!stopped && bench_sleep(b, BENCH_POLL_MS)) {
			stopped = true;
			bench_kill(pid, &term_at, bench_now_ms());
		} else if (stopped) {
			struct timespec ts = { 0, BENCH_POLL_MS * 1000000L };

			(void)nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_lock(&b->lock);
	b->pid = 0;
	stopped |= b->stopping;
	pthread_mutex_unlock(&b->lock);
	/* An unmount detaches the mount before the FUSE loop ends and
	 * ctl_bench_stop() runs; a runner reading {model} in between fails on
	 * its own.  That is an interrupted run too, not the runner's fault,
	 * and the runs queued behind it wait for the next mount. */
	if (!stopped && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && ctx->mountpoint) {
		char dev[32];

		stopped = cli_mount_dev(ctx->mountpoint, dev, sizeof(dev)) == -ENOENT;
		if (stopped) {
			pthread_mutex_lock(&b->lock);
			b->stopping = true;
			pthread_mutex_unlock(&b->lock);
		}
	}
	it->run.finished = bench_wall_s();
	it->run.peak_rss_mib = (uint64_t)ru.ru_maxrss / 1024u;
	it->run.peak_vram_mib = gpu_base >= 0 && gpu_peak >= gpu_base ? gpu_peak - gpu_base : -1;
	if (it->run.status == BENCH_FAILED)
		return;
	bench_tail_line(log_path, tail, sizeof(tail));
	if (stopped) {
		bench_fail(&it->run, "interrupted: modelfs was unmounted while the benchmark ran; write the line "
			   "again");
		return;
	}
	if (timed_out) {
		bench_fail(&it->run, "timed out after %u s and was stopped; mount with a larger -o bench_timeout= "
			   "or a shorter bench_cmd (see %s)", ctx->mo->bench_timeout_s, log_path);
		return;
	}
	if (WIFSIGNALED(status)) {
		bench_fail(&it->run, "the runner was killed by signal %d (%s)%s%s; see %s", WTERMSIG(status),
			   strsignal(WTERMSIG(status)), tail[0] ? ": " : "", tail, log_path);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bench_fail(&it->run, "the runner exited with status %d%s%s; see %s", WEXITSTATUS(status),
			   tail[0] ? ": " : "", tail, log_path);
		return;
	}
	rc = bench_read_file(out_path, BENCH_MAX_OUTPUT_BYTES, &raw, &raw_len);
	if (rc) {
		bench_fail(&it->run, "cannot read the runner's output '%s': %s", out_path, strerror(-rc));
		return;
	}
	diag_init(&d);
	memset(&m, 0, sizeof(m));
	rc = bench_parse_output(raw, raw_len, &m, &d);
	free(it->run.raw);
	it->run.raw = raw;
	if (rc) {
		bench_fail(&it->run, "the runner's output is not llama-bench JSON: %s; bench_cmd must print "
			   "llama-bench's '-o json' (see %s)", d.msg[0] ? d.msg : strerror(-rc), out_path);
		return;
	}
	it->run.m = m;
	it->run.status = BENCH_TESTED;
	return;

out_close:
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
}

static void bench_run_one(struct ctl_bench *b, struct bench_item *it)
{
	struct fs_ctx *ctx = b->ctx;
	const struct model_variant *v;
	const struct model_quant *q;
	struct registry_snapshot *s;
	char model[PATH_MAX], msg[BENCH_MSG_BYTES];
	int rc;

	rc = registry_snapshot_get(ctx->reg, &s);
	if (rc) {
		bench_fail(&it->run, "cannot read the registry: %s", strerror(-rc));
		goto out_store;
	}
	v = registry_find_variant(s, it->family, it->variant);
	q = v ? registry_find_quant(v, it->quant) : NULL;
	fs_hw_get(ctx, &it->run.hw);
	it->run.hw.tg_efficiency = 0;
	if (!q) {
		bench_fail(&it->run, "'%s/%s/%s' is no longer registered", it->family, it->variant, it->quant);
	} else if (bench_model_path(ctx, v, q, model, sizeof(model)) != 0) {
		bench_fail(&it->run, "'%s/%s/%s' has no model file", it->family, it->variant, it->quant);
	} else {
		job_set(ctx->jobs, it->job_id, "running", 0, 0, 0, "starting");
		if (bench_download(b, it, v, q) == 0)
			bench_execute(b, it, model);
	}
	registry_snapshot_put(ctx->reg, s);

out_store:
	if (!it->run.finished)
		it->run.finished = bench_wall_s();
	bench_store(b, it);
	if (it->run.status == BENCH_TESTED) {
		snprintf(msg, sizeof(msg), "pp %.1f t/s, tg %.1f t/s", it->run.m.pp_tokens_per_s,
			 it->run.m.tg_tokens_per_s);
		job_set(ctx->jobs, it->job_id, "done", 100, 0, 0, msg);
		log_msg(LOG_INFO, "benchmark %s/%s/%s: %s", it->family, it->variant, it->quant, msg);
	} else {
		job_set(ctx->jobs, it->job_id, "failed", 0, 0, 0, it->run.error);
		log_msg(LOG_ERROR, "benchmark %s/%s/%s: %s", it->family, it->variant, it->quant,
			it->run.error ? it->run.error : "failed");
	}
}

static void *bench_thread(void *arg)
{
	struct ctl_bench *b = arg;
	struct bench_item *it;

	for (;;) {
		pthread_mutex_lock(&b->lock);
		while (!b->head && !b->stopping)
			(void)pthread_cond_wait(&b->cond, &b->lock);
		if (b->stopping) {
			pthread_mutex_unlock(&b->lock);
			break;
		}
		it = b->head;
		b->head = it->next;
		if (!b->head)
			b->tail = NULL;
		pthread_mutex_unlock(&b->lock);
		bench_run_one(b, it);
		bench_item_free(it);
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * The queue and the control file
 * ------------------------------------------------------------------------ */

static void bench_enqueue(struct ctl_bench *b, struct bench_item *it)
{
	pthread_mutex_lock(&b->lock);
	if (b->tail)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* A deep copy of src (through its JSON form, the one the registry keeps). */
static int bench_run_copy(const struct bench_run *src, struct bench_run *dst)
{
	json_t *o = NULL;
	int rc;

	memset(dst, 0, sizeof(*dst));
	rc = bench_run_to_json(src, (struct json_t **)&o);
	if (rc)
		return rc;
	rc = bench_run_from_json((struct json_t *)o, dst);
	json_decref(o);
	if (rc == 0)
		dst->id = src->id;
	return rc;
}

static int bench_item_new(const char *family, const char *variant, const char *quant, struct bench_item **out)
{
	struct bench_item *it = calloc(1, sizeof(*it));

	*out = NULL;
	if (!it)
		return -ENOMEM;
	snprintf(it->family, sizeof(it->family), "%s", family);
	snprintf(it->variant, sizeof(it->variant), "%s", variant);
	snprintf(it->quant, sizeof(it->quant), "%s", quant);
	*out = it;
	return 0;
}

/* Queues one checked request: stored as queued, listed as a job. */
static int bench_queue(struct ctl_bench *b, const struct model_variant *v, const struct model_quant *q,
		       const struct control_request *r, struct diag *d)
{
	struct fs_ctx *ctx = b->ctx;
	char target[3 * NAME_MAX_BYTES + 2];
	struct bench_item *it;
	struct hw_profile hw;
	int rc;

	rc = bench_item_new(v->family, v->variant, q->name, &it);
	if (rc)
		return rc;
	fs_hw_get(ctx, &hw);
	it->run.status = BENCH_QUEUED;
	it->run.queued = bench_wall_s();
	it->run.peak_vram_mib = -1;
	bench_settle(v, q, r, &hw, &it->run);
	rc = registry_bench_add(ctx->reg, v->family, v->variant, q->name, &it->run, d);
	if (rc) {
		bench_item_free(it);
		return rc;
	}
	snprintf(target, sizeof(target), "%s/%s/%s", v->family, v->variant, q->name);
	rc = job_add(ctx->jobs, "benchmark", target, &it->job_id);
	if (rc) {
		bench_fail(&it->run, "out of memory");
		bench_store(b, it);
		bench_item_free(it);
		return diag_fail(d, rc, "benchmark: cannot queue '%s': %s", target, strerror(-rc));
	}
	log_msg(LOG_INFO, "benchmark %s: queued (ctx %" PRIu64 ")", target, it->run.ctx_tokens);
	bench_enqueue(b, it);
	return 0;
}

int ctl_benchmark_write(struct fs_ctx *ctx, const char *buf, size_t len, struct diag *d)
{
	struct ctl_bench *b = ctx->bench;
	const struct model_variant *v;
	const struct model_quant *q;
	struct control_request *reqs;
	struct registry_snapshot *s;
	char model[PATH_MAX];
	ssize_t n;
	size_t i;
	int pass, rc;

	n = parse_control_text(CONTROL_BENCHMARK, buf, len, ctx->mo ? ctx->mo->endpoint : NULL, &reqs, d);
	if (n <= 0)
		return (int)n;
	if (!b || !ctx->jobs) {
		free(reqs);
		return diag_fail(d, -EIO, "benchmark: benchmarks need the model cache, which is not available in "
				 "this mount; see the log");
	}
	rc = registry_snapshot_get(ctx->reg, &s);
	if (rc) {
		free(reqs);
		return diag_fail(d, rc, "benchmark: cannot read the registry: %s", strerror(-rc));
	}
	for (pass = 0; pass < 2 && !rc; pass++) {
		for (i = 0; i < (size_t)n && !rc; i++) {
			const struct control_request *r = &reqs[i];
			char **argv = NULL;
			size_t argc;

			if (r->target != CONTROL_TARGET_MODEL || !r->quant[0]) {
				rc = diag_fail(d, -EINVAL, "benchmark: give FAMILY/VARIANT/QUANT [ctx=N] [ngl=N], "
					       "as in models.tsv");
				break;
			}
			v = registry_find_variant(s, r->family, r->variant);
			q = v ? registry_find_quant(v, r->quant) : NULL;
			if (!q) {
				rc = diag_fail(d, -ENOENT, "benchmark: '%s/%s/%s' is not registered; see models.tsv",
					       r->family, r->variant, r->quant);
				break;
			}
			if (pass == 1) {
				rc = bench_queue(b, v, q, r, d);
				continue;
			}
			if ((r->ctx_tokens && !strstr(ctx->mo->bench_cmd, "{ctx}")) ||
			    (r->has_ngl && !strstr(ctx->mo->bench_cmd, "{ngl}"))) {
				rc = diag_fail(d, -EINVAL, "benchmark: %s= is given but bench_cmd has no {%s} to "
					       "pass it on; mount with a bench_cmd that uses it (llama-bench: "
					       "-ngl {ngl}; -p {ctx} for a prompt of that length) or drop it",
					       r->ctx_tokens ? "ctx" : "ngl", r->ctx_tokens ? "ctx" : "ngl");
				break;
			}
			rc = bench_model_path(ctx, v, q, model, sizeof(model));
			if (rc) {
				rc = diag_fail(d, -ENOENT, "benchmark: '%s/%s/%s' has no model file", r->family,
					       r->variant, r->quant);
				break;
			}
			rc = bench_argv_expand(ctx->mo->bench_cmd, model, r->ctx_tokens ? r->ctx_tokens :
					       BENCH_DEFAULT_CTX, r->has_ngl ? r->ngl : VRAM_NGL_ALL, &argv, &argc, d);
			bench_argv_free(argv);
		}
	}
	registry_snapshot_put(ctx->reg, s);
	free(reqs);
	return rc;
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

static int bench_run_cmp(const void *a, const void *b)
{
	const struct bench_item *x = *(struct bench_item *const *)a, *y = *(struct bench_item *const *)b;

	return (x->run.id > y->run.id) - (x->run.id < y->run.id);
}

/* Queues again, oldest first, the runs an earlier mount left queued. */
static int bench_requeue(struct ctl_bench *b)
{
	struct fs_ctx *ctx = b->ctx;
	struct bench_item **items = NULL;
	struct registry_snapshot *s;
	size_t n = 0, cap = 0, i, j, k;
	int rc;

	rc = registry_snapshot_get(ctx->reg, &s);
	if (rc)
		return rc;
	for (i = 0; i < s->n_variants && !rc; i++) {
		const struct model_variant *v = &s->variants[i];

		for (j = 0; j < v->n_quants && !rc; j++) {
			const struct model_quant *q = &v->quants[j];

			for (k = 0; k < q->n_bench && !rc; k++) {
				struct bench_item *it;

				if (q->bench[k].status != BENCH_QUEUED)
					continue;
				if (n == cap) {
					struct bench_item **grown = realloc(items, (cap ? cap * 2 : 8) * sizeof(*items));

					if (!grown) {
						rc = -ENOMEM;
						break;
					}
					items = grown;
					cap = cap ? cap * 2 : 8;
				}
				rc = bench_item_new(v->family, v->variant, q->name, &it);
				if (rc == 0)
					rc = bench_run_copy(&q->bench[k], &it->run);
				if (rc) {
					bench_item_free(it);
					break;
				}
				items[n++] = it;
			}
		}
	}
	registry_snapshot_put(ctx->reg, s);
	if (n)
		qsort(items, n, sizeof(*items), bench_run_cmp);
	for (i = 0; i < n; i++) {
		char target[3 * NAME_MAX_BYTES + 2];

		snprintf(target, sizeof(target), "%s/%s/%s", items[i]->family, items[i]->variant, items[i]->quant);
		if (rc == 0 && job_add(ctx->jobs, "benchmark", target, &items[i]->job_id) == 0) {
			bench_enqueue(b, items[i]);
			continue;
		}
		bench_item_free(items[i]);
	}
	free(items);
	if (n && rc == 0)
		log_msg(LOG_INFO, "benchmark: %zu run(s) queued by an earlier mount are queued again", n);
	return rc;
}

int ctl_bench_start(struct fs_ctx *ctx)
{
	struct ctl_bench *b;
	pthread_condattr_t ca;
	int rc;

	if (!ctx->jobs)
		return -EIO;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctx = ctx;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	b->has_smi = bench_in_path("nvidia-smi");
	if ((size_t)snprintf(b->dir, sizeof(b->dir), "%s/bench", ctx->mo->state_dir) >= sizeof(b->dir)) {
		rc = -ENAMETOOLONG;
		goto out_free;
	}
	if (mkdir(b->dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		log_msg(LOG_ERROR, "benchmark: cannot create '%s': %s", b->dir, strerror(errno));
		goto out_free;
	}
	rc = registry_bench_recover(ctx->reg, "interrupted: modelfs stopped while the benchmark ran; write the "
				    "line to .control/benchmark again");
	if (rc > 0)
		log_msg(LOG_WARN, "benchmark: %d run(s) were interrupted when modelfs last stopped", rc);
	ctx->bench = b;
	rc = bench_requeue(b);
	if (rc < 0)
		log_msg(LOG_WARN, "benchmark: cannot queue again the runs of an earlier mount: %s", strerror(-rc));
	rc = pthread_create(&b->thread, NULL, bench_thread, b);
	if (rc) {
		ctx->bench = NULL;
		rc = -rc;
		goto out_free;
	}
	b->thread_started = true;
	return 0;

out_free:
	while (b->head) {
		struct bench_item *it = b->head;

		b->head = it->next;
		bench_item_free(it);
	}
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
	return rc;
}

void ctl_bench_stop(struct fs_ctx *ctx)
{
	struct ctl_bench *b = ctx->bench;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	if (b->pid > 0)
		(void)kill(-b->pid, SIGTERM);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->thread_started)
		pthread_join(b->thread, NULL);
	while (b->head) {
		struct bench_item *it = b->head;

		b->head = it->next;
		bench_item_free(it);
	}
	ctx->bench = NULL;
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
