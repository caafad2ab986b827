/*
 * cli.c - the modelfs command: subcommand dispatch, and the mount.
 *
 * `modelfs MOUNTPOINT [-f] [-d] [-s] [-o ...]` follows sshfs's main():
 * parse, then validate, then act, with every error of the user's making
 * reported on the terminal before anything is mounted:
 *
 *   mountopts_parse -> mountopts_apply_env -> mountopts_validate
 *   -> fuse_parse_cmdline (mountpoint, -f, -d, -s)
 *   -> absolute state/cache/hf_cache paths; mkdir -p state and cache (0700)
 *   -> preflight: open the registry, load the catalog, close it
 *   -> fuse_new, fuse_mount, fuse_daemonize
 *   -> open the registry again, build the hardware profile
 *   -> signal handlers, the loop, then unmount and free everything.
 *
 * The registry is opened twice because SQLite connections must not cross
 * fork(), and fuse_daemonize() forks: the preflight open reports a bad
 * state directory or catalog on the terminal (exit status 1), and the
 * daemon's own connection is made after the fork.  The catalog is loaded
 * only by the preflight; catalog_load() remembers what it loaded, so the
 * second open finds it there.
 *
 * The hardware profile is layered, later layers winning field by field:
 * what is detected (RAM from /proc/meminfo), then what writes to
 * .control/hardware persisted, then -o gpu_vram=, gpu_bandwidth=,
 * ram_bandwidth= given on this command line.
 *
 * libfuse's own messages are routed into log_msg(), so they reach
 * .control/log and, in the foreground or with -d, stderr.
 *
 * Exit status: 0 after a clean unmount (fusermount3 -u, or Ctrl-C in the
 * foreground), 1 for an error; subcommands have their own (2 for bad
 * usage).
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <jansson.h>
#include <sqlite3.h>

#include "fs_int.h"
#include "mountopts.h"

extern char **environ;

static const char cli_synopsis[] =
	"usage: modelfs MOUNTPOINT [-f] [-d] [-s] [-o OPTION[,OPTION...]]   mount (background unless -f)\n"
	"       modelfs inspect FILE.gguf|URL [--json]                   print a GGUF header\n"
	"       modelfs estimate FILE.gguf|URL --ctx N [--kv T] [--fa on|off] [--ngl N] [--json]\n"
	"       modelfs jobs MOUNTPOINT [--follow]                       show jobs with progress bars\n"
	"       modelfs --help | --version\n"
	"\n"
	"Unmount with `fusermount3 -u MOUNTPOINT`.\n";

static void cli_help(const char *argv0)
{
	char *argv[] = { (char *)argv0, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);

	fputs(cli_synopsis, stdout);
	fputs("\n", stdout);
	fflush(stdout);
	mountopts_help(stdout);
	fputs("\nFUSE options:\n", stdout);
	fflush(stdout);
	fuse_cmdline_help();
	fuse_lib_help(&args);
	fflush(stdout);
	fuse_opt_free_args(&args);
}

static void cli_version(void)
{
	printf("modelfs %s\n", MODELFS_VERSION);
	printf("libfuse %s (FUSE API %d.%d)\n", fuse_pkgversion(), FUSE_USE_VERSION / 100,
	       FUSE_USE_VERSION % 100);
	printf("sqlite %s\n", sqlite3_libversion());
	printf("jansson %s\n", jansson_version_str());
}

__attribute__((format(printf, 2, 0)))
static void cli_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	enum log_level to;
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (!len)
		return;
	if (level <= FUSE_LOG_ERR)
		to = LOG_ERROR;
	else if (level == FUSE_LOG_WARNING)
		to = LOG_WARN;
	else if (level == FUSE_LOG_DEBUG)
		to = LOG_DEBUG;
	else
		to = LOG_INFO;
	log_msg(to, "%s", line);
}

/* Makes *path absolute against the working directory. */
static int cli_make_absolute(char **path)
{
	char cwd[PATH_MAX];
	char *abs;

	if (!*path || (*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if (asprintf(&abs, "%s/%s", cwd, *path) < 0)
		return -ENOMEM;
	free(*path);
	*path = abs;
	return 0;
}

/* mkdir -p: missing parents 0755, the directory itself 0700. */
static int cli_mkdirs(const char *path)
{
	char *copy, *p;
	struct stat st;
	int rc = 0;

	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
			rc = -errno;
			goto out_free;
		}
		*p = '/';
	}
	if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		goto out_free;
	}
	if (stat(copy, &st) != 0)
		rc = -errno;
	else if (!S_ISDIR(st.st_mode))
		rc = -ENOTDIR;

out_free:
	free(copy);
	return rc;
}

static int cli_prepare_dirs(struct mountopts *mo)
{
	struct stat st;
	char **paths[] = { &mo->state_dir, &mo->cache_dir, &mo->hf_cache_dir, &mo->token_file };
	size_t i;
	int rc;

	if (!mo->hf_cache_dir && mo->hf_cache_probe && stat(mo->hf_cache_probe, &st) == 0 &&
	    S_ISDIR(st.st_mode)) {
		mo->hf_cache_dir = strdup(mo->hf_cache_probe);
		if (!mo->hf_cache_dir)
			return -ENOMEM;
	}
	if (mo->catalog && strcmp(mo->catalog, "builtin") != 0 && strcmp(mo->catalog, "none") != 0) {
		rc = cli_make_absolute(&mo->catalog);
		if (rc)
			return rc;
	}
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		rc = cli_make_absolute(paths[i]);
		if (rc)
			return rc;
	}
	if (!mo->state_dir || !mo->cache_dir) {
		fprintf(stderr, "modelfs: no state or cache directory; set -o state=DIR,cache=DIR or $HOME\n");
		return -EINVAL;
	}
	rc = cli_mkdirs(mo->state_dir);
	if (rc) {
		fprintf(stderr, "modelfs: cannot create state directory '%s': %s\n", mo->state_dir, strerror(-rc));
		return rc;
	}
	rc = cli_mkdirs(mo->cache_dir);
	if (rc) {
		fprintf(stderr, "modelfs: cannot create cache directory '%s': %s\n", mo->cache_dir, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Reads a whole file of at most cap bytes into sb. */
static int cli_read_file(const char *path, size_t cap, struct sbuf *sb)
{
	char buf[65536];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	sbuf_init(sb, cap);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = sbuf_add(sb, buf, (size_t)n);
		if (rc)
			break;
	}
	close(fd);
	return rc;
}

static int cli_load_catalog(struct registry *reg, const struct mountopts *mo)
{
	const char *json;
	struct sbuf file;
	struct diag d;
	size_t len;
	int rc;

	diag_init(&d);
	if (!mo->catalog || strcmp(mo->catalog, "builtin") == 0) {
		json = catalog_builtin(&len);
		rc = catalog_load(reg, "builtin", json, len, &d);
	} else if (strcmp(mo->catalog, "none") == 0) {
		return 0;
	} else {
		rc = cli_read_file(mo->catalog, CAP_CATALOG_BYTES, &file);
		if (rc == -EFBIG) {
			fprintf(stderr, "modelfs: catalog '%s' is larger than %u bytes; split it or use catalog=none\n",
				mo->catalog, CAP_CATALOG_BYTES);
			sbuf_release(&file);
			return rc;
		}
		if (rc) {
			fprintf(stderr, "modelfs: cannot read catalog '%s': %s\n", mo->catalog, strerror(-rc));
			sbuf_release(&file);
			return rc;
		}
		rc = catalog_load(reg, mo->catalog, file.buf ? file.buf : "", file.len, &d);
		sbuf_release(&file);
	}
	if (rc)
		fprintf(stderr, "modelfs: cannot load catalog '%s': %s\n", mo->catalog ? mo->catalog : "builtin",
			d.msg[0] ? d.msg : strerror(-rc));
	return rc;
}

static int cli_open_registry(const struct mountopts *mo, struct registry **out, bool to_terminal)
{
	struct diag d;
	int rc;

	diag_init(&d);
	rc = registry_open(mo->state_dir, out, &d);
	if (rc == 0)
		return 0;
	if (to_terminal && d.msg[0])
		fprintf(stderr, "modelfs: %s\n", d.msg);
	else if (to_terminal)
		fprintf(stderr, "modelfs: cannot open the registry in '%s': %s\n", mo->state_dir, strerror(-rc));
	else
		log_msg(LOG_ERROR, "cannot open the registry in '%s': %s", mo->state_dir,
			d.msg[0] ? d.msg : strerror(-rc));
	return rc;
}

/* Checks, before mounting, what would otherwise fail in the daemon. */
static int cli_preflight(const struct mountopts *mo)
{
	struct registry *reg;
	int rc;

	rc = cli_open_registry(mo, &reg, true);
	if (rc)
		return rc;
	rc = cli_load_catalog(reg, mo);
	registry_close(reg);
	return rc;
}

static void cli_hw_overlay(struct hw_profile *dst, const struct hw_profile *src)
{
	if (src->gpu_name[0])
		memcpy(dst->gpu_name, src->gpu_name, sizeof(dst->gpu_name));
	if (src->gpu_vram_mib)
		dst->gpu_vram_mib = src->gpu_vram_mib;
	if (src->gpu_bandwidth_gbps > 0)
		dst->gpu_bandwidth_gbps = src->gpu_bandwidth_gbps;
	if (src->ram_mib)
		dst->ram_mib = src->ram_mib;
	if (src->ram_bandwidth_gbps > 0)
		dst->ram_bandwidth_gbps = src->ram_bandwidth_gbps;
}

static void cli_hw_init(struct fs_ctx *ctx)
{
	struct hw_profile opt;
	struct sbuf meminfo;
	int rc;

	memset(&ctx->hw, 0, sizeof(ctx->hw));
	memset(&ctx->hw_persisted, 0, sizeof(ctx->hw_persisted));
	rc = cli_read_file("/proc/meminfo", 1u << 20, &meminfo);
	if (rc == 0 && meminfo.buf)
		rc = hw_parse_meminfo(&ctx->hw, meminfo.buf);
	if (rc)
		log_msg(LOG_WARN, "cannot read the RAM size from /proc/meminfo: %s", strerror(-rc));
	sbuf_release(&meminfo);
	ctl_bench_detect_gpu(&ctx->hw);
	rc = registry_hardware_get(ctx->reg, &ctx->hw_persisted);
	if (rc) {
		log_msg(LOG_WARN, "cannot read the saved hardware profile: %s", strerror(-rc));
		memset(&ctx->hw_persisted, 0, sizeof(ctx->hw_persisted));
	}
	cli_hw_overlay(&ctx->hw, &ctx->hw_persisted);
	memset(&opt, 0, sizeof(opt));
	opt.gpu_vram_mib = ctx->mo->gpu_vram_mib;
	opt.gpu_bandwidth_gbps = ctx->mo->gpu_bandwidth_gbps;
	opt.ram_bandwidth_gbps = ctx->mo->ram_bandwidth_gbps;
	cli_hw_overlay(&ctx->hw, &opt);
}

static int cli_loop(struct fuse *f, const struct fuse_cmdline_opts *opts)
{
	struct fuse_loop_config *cfg;
	int rc;

	if (opts->singlethread)
		return fuse_loop(f);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned int)opts->clone_fd);
	/* UINT_MAX is fuse_parse_cmdline's "not given"; libfuse 3.14 would
	 * log it as an invalid value. */
	if (opts->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, opts->max_idle_threads);
	fuse_loop_cfg_set_max_threads(cfg, opts->max_threads);
	rc = fuse_loop_mt(f, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/* From fuse_new to the unmount: the mounted life of the file system. */
static int cli_serve(struct fuse_args *args, struct mountopts *mo, const struct fuse_cmdline_opts *opts)
{
	struct cli_bdi *bdi;
	struct fs_ctx ctx;
	struct fuse *f;
	int rc, status = 1;

	if (fs_ctx_init(&ctx))
		return 1;
	ctx.mo = mo;
	f = fuse_new(args, fs_operations(), sizeof(struct fuse_operations), &ctx);
	if (!f)
		goto out_ctx;
	if (fuse_mount(f, opts->mountpoint) != 0)
		goto out_destroy;
	if (fuse_daemonize(opts->foreground) != 0)
		goto out_unmount;
	log_configure(opts->debug ? LOG_DEBUG : LOG_INFO, opts->foreground || opts->debug);
	if (cli_open_registry(mo, &ctx.reg, false))
		goto out_unmount;
	cli_hw_init(&ctx);
	/* without a cache, model files fail with EIO while the rest of the
	 * tree still works */
	if (cli_cache_open(&ctx) != 0)
		log_msg(LOG_WARN, "model files are unavailable in this mount");
	if (cli_hub_open(&ctx) != 0)
		log_msg(LOG_WARN, "only local paths can be registered in this mount");
	ctx.mountpoint = opts->mountpoint;
	if (ctx.jobs && ctl_bench_start(&ctx) != 0)
		log_msg(LOG_WARN, "benchmarks are unavailable in this mount");
	ctx.fuse = f;
	if (fuse_set_signal_handlers(fuse_get_session(f)) != 0)
		goto out_unmount;
	log_msg(LOG_INFO, "mounted on '%s' (state '%s')", opts->mountpoint, mo->state_dir);
	bdi = cli_bdi_readahead_start(opts->mountpoint, &ctx.inited);
	rc = cli_loop(f, opts);
	cli_bdi_readahead_stop(bdi);
	fuse_remove_signal_handlers(fuse_get_session(f));
	ctl_bench_stop(&ctx);
	/* libfuse 3.14 returns the number of the signal that ended the loop
	 * (SIGINT, SIGTERM, SIGHUP): a clean stop, as an unmount is. */
	if (rc >= 0)
		status = 0;
	else
		log_msg(LOG_ERROR, "the FUSE loop stopped: %s", strerror(-rc));

out_unmount:
	ctl_bench_stop(&ctx);
	ctx.fuse = NULL;
	fuse_unmount(f);
out_destroy:
	fuse_destroy(f);
out_ctx:
	fs_ctx_release(&ctx);
	cli_cache_close(&ctx);
	cli_hub_close(&ctx);
	registry_close(ctx.reg);
	return status;
}

static int cli_mount(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct mountopts mo;
	struct diag d;
	int status = 1;

	memset(&opts, 0, sizeof(opts));
	mountopts_init(&mo);
	diag_init(&d);
	if (mountopts_parse(&args, &mo, &d) != 0) {
		fprintf(stderr, "modelfs: %s\n", d.msg[0] ? d.msg : "cannot parse the options");
		goto out;
	}
	if (mo.show_help) {
		cli_help(argv[0]);
		status = 0;
		goto out;
	}
	if (mo.show_version) {
		cli_version();
		status = 0;
		goto out;
	}
	if (mountopts_apply_env(&mo, environ) != 0) {
		fprintf(stderr, "modelfs: cannot read the environment: out of memory\n");
		goto out;
	}
	if (mountopts_validate(&mo, &d) != 0) {
		fprintf(stderr, "modelfs: %s\n", d.msg[0] ? d.msg : "invalid options");
		goto out;
	}
	if (fuse_parse_cmdline(&args, &opts) != 0)
		goto out;
	if (opts.show_help) {
		cli_help(argv[0]);
		status = 0;
		goto out;
	}
	if (opts.show_version) {
		cli_version();
		status = 0;
		goto out;
	}
	if (!opts.mountpoint) {
		fprintf(stderr, "modelfs: no mount point given\n%s", cli_synopsis);
		goto out;
	}
	if (cli_prepare_dirs(&mo) != 0)
		goto out;
	if (cli_preflight(&mo) != 0)
		goto out;
	log_configure(opts.debug ? LOG_DEBUG : LOG_INFO, true);
	fuse_set_log_func(cli_fuse_log);
	status = cli_serve(&args, &mo, &opts);
	fuse_set_log_func(NULL);

out:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	mountopts_release(&mo);
	return status;
}

int fs_main(int argc, char *argv[])
{
	if (argc >= 2) {
		const char *cmd = argv[1];

		if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
			cli_help(argv[0]);
			return 0;
		}
		if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
			cli_version();
			return 0;
		}
		if (strcmp(cmd, "inspect") == 0)
			return cli_inspect(argc - 1, argv + 1);
		if (strcmp(cmd, "estimate") == 0)
			return cli_estimate(argc - 1, argv + 1);
		if (strcmp(cmd, "jobs") == 0)
			return cli_jobs(argc - 1, argv + 1);
	}
	return cli_mount(argc, argv);
}
