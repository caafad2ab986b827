/*
 * hw.c - the hardware profile behind .control/hardware.
 *
 * Five values decide what fits and how fast it runs: the GPU's name, its
 * VRAM and memory bandwidth, and the host's RAM and its bandwidth.  The
 * mount shows them as KEY=VALUE lines and takes the same lines back, so
 * `echo gpu_vram_mib=24G > .control/hardware` works and `cat` then
 * `source` works the other way.  Unknown is 0 (or "") in the struct and an
 * empty value in the file, and writing an empty value makes a key unknown
 * again.
 *
 * The lines are outside input and are checked to the end: a known key, a
 * value the key's parser takes whole (parse_u64, parse_size, parse_double),
 * numbers finite and not negative, a GPU name of valid UTF-8 without
 * control bytes and shorter than 128 bytes.  Blanks around the key and the
 * value are ignored, as are blank lines and '#' comments.  A write of
 * several lines is all or nothing: the lines are applied to a copy, which
 * replaces the profile only when every line passed, so a bad third line
 * leaves the first two unapplied (SPEC §4: "changes nothing").
 *
 * VRAM and RAM are MiB.  A bare number is MiB (what nvidia-smi prints); a
 * number with a unit is a SIZE (SPEC §2), converted to MiB rounding to the
 * nearest, and refused when that rounds a non-zero size down to 0.
 * Doubles are printed with 15 significant digits ("%.15g"), the most that
 * survive a decimal -> double -> decimal round trip, so rendering and
 * re-applying the file gives the same file.
 */
#include "core.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#define HW_MIB (1024u * 1024u)

static const char hw_known_keys[] =
	"gpu_name, gpu_vram_mib, gpu_bandwidth_gbps, ram_mib, ram_bandwidth_gbps";

static bool hw_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True when s (n bytes) is valid UTF-8 without control bytes. */
static bool hw_is_printable_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t want, k;
		uint32_t cp;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			want = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			want = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			want = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < want)
			return false;
		for (k = 1; k < want; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((want == 3 && cp < 0x800) || (want == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
			return false;
		i += want;
	}
	return true;
}

static int hw_parse_mib(const char *key, const char *value, uint64_t *out, struct diag *d)
{
	uint64_t v, mib;
	size_t i;
	int rc;

	for (i = 0; value[i] >= '0' && value[i] <= '9'; i++)
		;
	if (value[i] == '\0') {
		rc = parse_u64(value, &v);
		if (rc)
			return diag_fail(d, -EINVAL, "value '%.64s' of %s is out of range; give MiB or a SIZE such as 24G",
					 value, key);
		*out = v;
		return 0;
	}
	rc = parse_size(value, &v);
	if (rc)
		return diag_fail(d, -EINVAL, "bad value '%.64s' for %s; give MiB (24576) or a SIZE (24G, 24GiB)",
				 value, key);
	mib = v / HW_MIB + (v % HW_MIB >= HW_MIB / 2);
	if (mib == 0 && v != 0)
		return diag_fail(d, -EINVAL, "value '%.64s' of %s is less than 1 MiB; give at least 1M", value, key);
	*out = mib;
	return 0;
}

static int hw_parse_gbps(const char *key, const char *value, double *out, struct diag *d)
{
	double v;

	if (parse_double(value, &v) || v < 0 || !isfinite(v))
		return diag_fail(d, -EINVAL, "bad value '%.64s' for %s; give GB/s as a number >= 0 such as 936",
				 value, key);
	*out = v == 0 ? 0 : v;
	return 0;
}

int hw_apply_line(struct hw_profile *hw, const char *line, struct diag *d)
{
	char buf[CAP_LINE_BYTES + 1];
	struct hw_profile next = *hw;
	size_t len, klen;
	char *key, *value, *eq, *end;
	int rc;

	if (!line)
		return diag_fail(d, -EINVAL, "missing hardware line");
	len = strnlen(line, CAP_LINE_BYTES + 1);
	if (len > CAP_LINE_BYTES)
		return diag_fail(d, -EINVAL, "hardware line longer than %u bytes; write one KEY=VALUE per line",
				 CAP_LINE_BYTES);
	memcpy(buf, line, len + 1);
	key = buf;
	while (hw_is_blank(*key))
		key++;
	if (*key == '\0' || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq)
		return diag_fail(d, -EINVAL, "hardware line '%.64s' has no '='; write KEY=VALUE, keys: %s",
				 key, hw_known_keys);
	for (end = eq; end > key && hw_is_blank(end[-1]); end--)
		;
	*end = '\0';
	klen = (size_t)(end - key);
	value = eq + 1;
	while (hw_is_blank(*value))
		value++;
	for (end = value + strlen(value); end > value && hw_is_blank(end[-1]); end--)
		;
	*end = '\0';

	if (strcmp(key, "gpu_name") == 0) {
		size_t n = strlen(value);

		if (n >= sizeof(next.gpu_name))
			return diag_fail(d, -EINVAL, "gpu_name is longer than %zu bytes; shorten it",
					 sizeof(next.gpu_name) - 1);
		if (!hw_is_printable_utf8((const unsigned char *)value, n))
			return diag_fail(d, -EINVAL,
					 "gpu_name has control bytes or invalid UTF-8; give printable text");
		memcpy(next.gpu_name, value, n + 1);
	} else if (strcmp(key, "gpu_vram_mib") == 0 || strcmp(key, "ram_mib") == 0) {
		uint64_t *field = key[0] == 'g' ? &next.gpu_vram_mib : &next.ram_mib;

		if (*value == '\0')
			*field = 0;
		else if ((rc = hw_parse_mib(key, value, field, d)) != 0)
			return rc;
	} else if (strcmp(key, "gpu_bandwidth_gbps") == 0 || strcmp(key, "ram_bandwidth_gbps") == 0) {
		double *field = key[0] == 'g' ? &next.gpu_bandwidth_gbps : &next.ram_bandwidth_gbps;

		if (*value == '\0')
			*field = 0;
		else if ((rc = hw_parse_gbps(key, value, field, d)) != 0)
			return rc;
	} else {
		return diag_fail(d, -EINVAL, "unknown hardware key '%.*s'; known keys: %s",
				 (int)(klen > 64 ? 64 : klen), key, hw_known_keys);
	}
	*hw = next;
	return 0;
}

int hw_apply_text(struct hw_profile *hw, const char *text, size_t len, struct diag *d)
{
	struct hw_profile next = *hw;
	char line[CAP_LINE_BYTES + 1];
	size_t pos = 0, lineno = 0;

	if (!text && len)
		return diag_fail(d, -EINVAL, "missing hardware text");
	if (len && memchr(text, '\0', len))
		return diag_fail(d, -EINVAL, "hardware text contains a NUL byte; write KEY=VALUE lines");
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		struct diag ld;
		int rc;

		lineno++;
		if (n > CAP_LINE_BYTES)
			return diag_fail(d, -EINVAL, "hardware line %zu is longer than %u bytes", lineno,
					 CAP_LINE_BYTES);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		diag_init(&ld);
		rc = hw_apply_line(&next, line, &ld);
		if (rc)
			return diag_fail(d, rc, "line %zu: %s", lineno, ld.msg);
		pos += n + (nl ? 1 : 0);
	}
	*hw = next;
	return 0;
}

static void hw_add_double(struct sbuf *out, double v)
{
	if (v > 0 && isfinite(v))
		sbuf_addf(out, "%.15g", v);
}

int hw_render(const struct hw_profile *hw, struct sbuf *out)
{
	sbuf_addf(out, "gpu_name=%.*s\n", (int)strnlen(hw->gpu_name, sizeof(hw->gpu_name)), hw->gpu_name);
	sbuf_addstr(out, "gpu_vram_mib=");
	if (hw->gpu_vram_mib)
		sbuf_addf(out, "%" PRIu64, hw->gpu_vram_mib);
	sbuf_addstr(out, "\ngpu_bandwidth_gbps=");
	hw_add_double(out, hw->gpu_bandwidth_gbps);
	sbuf_addstr(out, "\nram_mib=");
	if (hw->ram_mib)
		sbuf_addf(out, "%" PRIu64, hw->ram_mib);
	sbuf_addstr(out, "\nram_bandwidth_gbps=");
	hw_add_double(out, hw->ram_bandwidth_gbps);
	return sbuf_addch(out, '\n');
}

int hw_parse_meminfo(struct hw_profile *hw, const char *text)
{
	const char *p = text;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		if (n > 9 && memcmp(p, "MemTotal:", 9) == 0) {
			char num[32];
			size_t i = 9, k = 0;
			uint64_t kib;

			while (i < n && (p[i] == ' ' || p[i] == '\t'))
				i++;
			while (i < n && p[i] >= '0' && p[i] <= '9' && k < sizeof(num) - 1)
				num[k++] = p[i++];
			num[k] = '\0';
			while (i < n && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (k == 0 || n - i != 2 || memcmp(p + i, "kB", 2) != 0 || parse_u64(num, &kib))
				return -EBADMSG;
			hw->ram_mib = kib / 1024;
			return 0;
		}
		p = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}
