/*
 * cli_hub.c - the mount's Hub client: one struct hub (cache/hub_client.c)
 * made from the -o options after the fork, used by .control/register and
 * .control/refresh for the whole mount.
 *
 * The token follows SPEC §2: $HF_TOKEN when it is set and token_file= was
 * not given (mountopts leaves it in mo->token), else the first line of
 * token_file (by default $HF_HOME/token or ~/.cache/huggingface/token, as
 * huggingface_hub writes it with `hf auth login`).  mountopts reads no
 * files, so the file is read here, once, at mount: a token written later
 * needs a remount, as with huggingface_hub's own cache of it.  The hub
 * keeps its own copy; ours is wiped before it is freed.  Where the token
 * came from ("HF_TOKEN" or the file's path, never the token) goes to the
 * hub as token_source, so a refusal can say which token the Hub refused.
 *
 * A hub is made even when offline: it then refuses every call with
 * ENETDOWN and a message saying so, which keeps that wording in one place
 * (cache/hub_client.c).  Local registrations need no hub at all, so a hub
 * that cannot be made (an endpoint or token that hub_new refuses) is
 * logged and the mount goes on; register then answers ENETDOWN for repos.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_int.h"

#define CLI_HUB_TOKEN_MAX_BYTES 4096        /* a token file's first line */

/* The first line of path, blanks trimmed, in buf: 0, -ENOENT for a
 * missing or empty file, -errno. */
static int cli_hub_read_token(const char *path, char *buf, size_t size)
{
	ssize_t n;
	size_t len;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	close(fd);
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	return len ? 0 : -ENOENT;
}

int cli_hub_open(struct fs_ctx *ctx)
{
	const struct mountopts *mo = ctx->mo;
	struct hub_options o;
	char *token;
	struct diag d;
	int rc;

	token = calloc(1, CLI_HUB_TOKEN_MAX_BYTES);
	if (!token)
		return -ENOMEM;
	hub_options_init(&o);
	o.endpoint = mo->endpoint;
	o.offline = mo->offline;
	if (mo->timeout_s) {
		o.timeout_ms = mo->timeout_s * 1000u;
		o.stall_timeout_ms = mo->timeout_s * 1000u;
	}
	if (mo->token && *mo->token) {
		o.token = mo->token;
		o.token_source = "HF_TOKEN";
	} else if (mo->token_file) {
		rc = cli_hub_read_token(mo->token_file, token, CLI_HUB_TOKEN_MAX_BYTES);
		if (rc == 0) {
			o.token = token;
			o.token_source = mo->token_file;
		} else if (rc != -ENOENT) {
			log_msg(LOG_WARN, "cannot read the token file '%s': %s; gated and private repos "
				"will be refused", mo->token_file, strerror(-rc));
		}
	}
	diag_init(&d);
	rc = hub_new(&o, &ctx->hub, &d);
	memset(token, 0, CLI_HUB_TOKEN_MAX_BYTES);
	free(token);
	if (rc) {
		ctx->hub = NULL;
		log_msg(LOG_ERROR, "cannot use the hub: %s", d.msg[0] ? d.msg : strerror(-rc));
		return rc;
	}
	log_msg(LOG_DEBUG, "hub %s%s, token %s%s", hub_endpoint(ctx->hub),
		hub_is_offline(ctx->hub) ? " (offline)" : "",
		hub_has_token(ctx->hub) ? "from " : "unset",
		hub_has_token(ctx->hub) ? hub_token_source(ctx->hub) : "");
	return 0;
}

void cli_hub_close(struct fs_ctx *ctx)
{
	hub_free(ctx->hub);
	ctx->hub = NULL;
}
