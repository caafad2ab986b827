/*
 * hubsim_client.h - what the cache tests need of tests/hub/hubsim.py: start
 * it on a manifest written by tests/hub/scenarios.py, talk to its control
 * port (faults, request log, stats) over plain HTTP/1.0, and stop it.
 *
 * Header-only so each test binary stays one file plus this; everything is
 * static.  Uses only POSIX, jansson and cmocka.
 */
#ifndef MODELFS_TEST_HUBSIM_CLIENT_H
#define MODELFS_TEST_HUBSIM_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct hubsim {
	char dir[256];          /* scratch directory */
	pid_t pid;
	int port;
	int control_port;
	char url[64];           /* http://127.0.0.1:PORT */
};

static int hubsim_spawn_wait(char **argv)
{
	pid_t pid;
	int status;

	if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ))
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Writes DIR/manifest.json from a Python expression over scenarios.py
 * (e.g. "scenarios.standard_manifest()"), then starts hubsim on it. */
static int hubsim_start(struct hubsim *s, const char *manifest_expr)
{
	const char *tmp = getenv("TMPDIR");
	char script[4096], sim[512], manifest[300], log[300], line[128];
	char *py_argv[] = { (char *)"/usr/bin/python3", (char *)"-c", script, NULL };
	char *sim_argv[] = { (char *)"/usr/bin/python3", sim, (char *)"--manifest", manifest,
			     (char *)"--log", log, (char *)"--max-lifetime", (char *)"600", NULL };
	posix_spawn_file_actions_t fa;
	int pipefd[2];
	FILE *f;

	memset(s, 0, sizeof(*s));
	s->pid = -1;
	snprintf(s->dir, sizeof(s->dir), "%s/mf-hubsim-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(manifest, sizeof(manifest), "%s/manifest.json", s->dir);
	snprintf(log, sizeof(log), "%s/requests.jsonl", s->dir);
	snprintf(sim, sizeof(sim), "%s/hub/hubsim.py", MF_TESTS_DIR);
	snprintf(script, sizeof(script),
		 "import json, sys\nsys.path.insert(0, '%s/hub')\nimport scenarios\n"
		 "json.dump(%s, open('%s', 'w'))\n", MF_TESTS_DIR, manifest_expr, manifest);
	if (hubsim_spawn_wait(py_argv))
		return -1;
	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	if (posix_spawn(&s->pid, sim_argv[0], &fa, NULL, sim_argv, environ)) {
		posix_spawn_file_actions_destroy(&fa);
		s->pid = -1;
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f) || strncmp(line, "READY ", 6) != 0) {
		fclose(f);
		return -1;
	}
	fclose(f);
	{
		char *end;

		s->port = (int)strtol(line + 6, &end, 10);
		s->control_port = (int)strtol(end, NULL, 10);
	}
	if (s->port <= 0 || s->control_port <= 0)
		return -1;
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	return 0;
}

static int hubsim_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void hubsim_stop(struct hubsim *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = -1;
	}
	if (s->dir[0])
		nftw(s->dir, hubsim_rm, 16, FTW_DEPTH | FTW_PHYS);
	s->dir[0] = '\0';
}

/* One HTTP/1.0 request to the control port; the body of the answer goes
 * to out (NUL-terminated, malloc'd; may be NULL).  Returns the status, or
 * -1. */
static int hubsim_control(const struct hubsim *s, const char *method, const char *path,
			  const char *body, char **out)
{
	struct sockaddr_in sa;
	size_t blen = body ? strlen(body) : 0, n = 0, alloc = 65536;
	char head[512], *buf, *p;
	ssize_t k;
	int fd, status = -1;

	if (out)
		*out = NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->control_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	snprintf(head, sizeof(head), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", method, path, blen);
	if (write(fd, head, strlen(head)) < 0 || (blen && write(fd, body, blen) < 0)) {
		close(fd);
		return -1;
	}
	buf = malloc(alloc);
	while (buf && (k = read(fd, buf + n, alloc - n - 1)) > 0) {
		n += (size_t)k;
		if (n + 1 == alloc) {
			char *nb = realloc(buf, alloc * 2);

			if (!nb)
				break;
			buf = nb;
			alloc *= 2;
		}
	}
	close(fd);
	if (!buf)
		return -1;
	buf[n] = '\0';
	if (n > 12 && strncmp(buf, "HTTP/1.", 7) == 0)
		status = (int)strtol(buf + 9, NULL, 10);
	p = strstr(buf, "\r\n\r\n");
	if (out && p) {
		*out = strdup(p + 4);
	}
	free(buf);
	return status;
}

static void hubsim_faults(const struct hubsim *s, const char *json)
{
	int st = json ? hubsim_control(s, "PUT", "/_sim/faults", json, NULL) :
		 hubsim_control(s, "DELETE", "/_sim/faults", NULL, NULL);

	if (st != 200)
		fail_msg("hubsim refused faults %s (status %d)", json ? json : "(clear)", st);
}

/* The request log after seq since, as a JSON array (new reference). */
static json_t *hubsim_log(const struct hubsim *s, long since)
{
	char path[64], *body = NULL, *line, *nl;
	json_t *arr = json_array();

	snprintf(path, sizeof(path), "/_sim/log?since=%ld", since);
	if (hubsim_control(s, "GET", path, NULL, &body) != 200 || !body)
		fail_msg("cannot read hubsim's log");
	for (line = body; *line; line = nl ? nl + 1 : line + strlen(line)) {
		json_t *j;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		j = json_loads(line, 0, NULL);
		if (j)
			json_array_append_new(arr, j);
	}
	free(body);
	return arr;
}

/* The last seq of the log (clears nothing). */
static long hubsim_seq(const struct hubsim *s)
{
	json_t *log = hubsim_log(s, 0), *last;
	long seq = 0;

	last = json_array_size(log) ? json_array_get(log, json_array_size(log) - 1) : NULL;
	if (last)
		seq = (long)json_integer_value(json_object_get(last, "seq"));
	json_decref(log);
	return seq;
}

#endif /* MODELFS_TEST_HUBSIM_CLIENT_H */
