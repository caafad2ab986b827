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
 *
 * tg_efficiency is derived (bench_efficiency) and belongs to nobody's
 * text: hw_render never prints it, and hw_apply_* carry it over unchanged.
 *
 * Detection: `nvidia-smi --query-gpu=name,memory.total
 * --format=csv,noheader,nounits` prints one line per GPU, "NVIDIA GeForce
 * RTX 4090, 24564"; the first line names the GPU the profile describes.
 * nvidia-smi does not report memory bandwidth, so hw_known_bandwidth()
 * looks the name up in a table of vendor spec-sheet figures (GB/s = bus
 * width / 8 x data rate, as NVIDIA, AMD and Apple publish them).
 *
 * The lookup folds the name to lowercase words (every byte that is not an
 * ASCII letter or digit separates words, so "A100-SXM4-80GB" and "a100 sxm4
 * 80gb" are the same) and takes the longest table entry found in it on word
 * boundaries.  Word boundaries keep "T4" out of "T400" and "RX 7900 XT" out
 * of "RX 7900 XTX"; the longest match makes "RTX 4070 Ti SUPER" win over
 * "RTX 4070 Ti" and "RTX 4070", and "RTX 4090 D" over "RTX 4090".  Names of
 * laptop parts ("Laptop GPU", "Mobile", "with Max-Q Design") find nothing:
 * their memory clocks are the OEM's choice, so the desktop figure would be
 * wrong by up to half, and an unknown bandwidth asks the user for the real
 * one.  A name shared by two memory configurations (RTX 3060 8 GB and 12 GB,
 * RTX 3080 10 GB and 12 GB) gets the first one released.
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

int hw_parse_nvidia_smi(struct hw_profile *hw, const char *text)
{
	const char *eol, *comma, *p, *end;
	char name[sizeof(hw->gpu_name)];
	char num[24];
	uint64_t mib;
	size_t n;

	if (!hw || !text)
		return -EINVAL;
	eol = strchr(text, '\n');
	end = eol ? eol : text + strlen(text);
	comma = memchr(text, ',', (size_t)(end - text));
	if (!comma)
		return -EINVAL;
	for (p = text; p < comma && hw_is_blank(*p); p++)
		;
	n = (size_t)(comma - p);
	while (n > 0 && hw_is_blank(p[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(name) || !hw_is_printable_utf8((const unsigned char *)p, n))
		return -EINVAL;
	memcpy(name, p, n);
	name[n] = '\0';
	for (p = comma + 1; p < end && hw_is_blank(*p); p++)
		;
	while (end > p && hw_is_blank(end[-1]))
		end--;
	if (end - p >= 3 && memcmp(end - 3, "MiB", 3) == 0)
		for (end -= 3; end > p && hw_is_blank(end[-1]); end--)
			;
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, p, n);
	num[n] = '\0';
	if (parse_u64(num, &mib) || mib == 0 || mib > (uint64_t)INT64_MAX)
		return -EINVAL;
	memcpy(hw->gpu_name, name, strlen(name) + 1);
	hw->gpu_vram_mib = mib;
	if (!(hw->gpu_bandwidth_gbps > 0))
		hw->gpu_bandwidth_gbps = hw_known_bandwidth(name);
	return 0;
}

struct hw_gpu {
	const char *name;            /* model as vendors and nvidia-smi spell it */
	double bandwidth_gbps;       /* peak memory bandwidth, GB/s */
};

/* Spec-sheet peak memory bandwidth: NVIDIA product pages and datasheets
 * (GeForce specifications, data center datasheets), AMD product pages
 * (Radeon, Instinct), Apple's chip announcements (unified memory).  Where
 * two memory configurations share one name, the first one released. */
static const struct hw_gpu hw_gpus[] = {
	/* NVIDIA GeForce RTX 20 (Turing) */
	{ "RTX 2060", 336 }, { "RTX 2060 SUPER", 448 }, { "RTX 2070", 448 },
	{ "RTX 2070 SUPER", 448 }, { "RTX 2080", 448 }, { "RTX 2080 SUPER", 496 },
	{ "RTX 2080 Ti", 616 }, { "TITAN RTX", 672 },
	/* NVIDIA GeForce RTX 30 (Ampere) */
	{ "RTX 3050", 224 }, { "RTX 3060", 360 }, { "RTX 3060 Ti", 448 }, { "RTX 3070", 448 },
	{ "RTX 3070 Ti", 608 }, { "RTX 3080", 760 }, { "RTX 3080 Ti", 912 }, { "RTX 3090", 936 },
	{ "RTX 3090 Ti", 1008 },
	/* NVIDIA GeForce RTX 40 (Ada Lovelace) */
	{ "RTX 4060", 272 }, { "RTX 4060 Ti", 288 }, { "RTX 4070", 504 }, { "RTX 4070 SUPER", 504 },
	{ "RTX 4070 Ti", 504 }, { "RTX 4070 Ti SUPER", 672 }, { "RTX 4080", 716.8 },
	{ "RTX 4080 SUPER", 736 }, { "RTX 4090", 1008 }, { "RTX 4090 D", 1008 }, { "RTX 4090D", 1008 },
	/* NVIDIA GeForce RTX 50 (Blackwell) */
	{ "RTX 5050", 320 }, { "RTX 5060", 448 }, { "RTX 5060 Ti", 448 }, { "RTX 5070", 672 },
	{ "RTX 5070 Ti", 896 }, { "RTX 5080", 960 }, { "RTX 5090", 1792 },
	/* NVIDIA workstation */
	{ "Quadro RTX 6000", 672 }, { "Quadro RTX 8000", 672 }, { "RTX A4000", 448 },
	{ "RTX A5000", 768 }, { "RTX A6000", 768 }, { "RTX 4000 Ada", 360 }, { "RTX 5000 Ada", 576 },
	{ "RTX 6000 Ada", 960 }, { "RTX PRO 6000 Blackwell", 1792 },
	/* NVIDIA data center */
	{ "T4", 320 }, { "V100", 900 }, { "V100S", 1134 }, { "A10", 600 },
	{ "A10G", 600 }, { "A30", 933 }, { "A40", 696 }, { "A100", 1555 }, { "A100 80GB", 1935 },
	{ "A100 PCIE 80GB", 1935 }, { "A100 SXM4 80GB", 2039 }, { "A100 SXM 80GB", 2039 },
	{ "L4", 300 }, { "L40", 864 }, { "L40S", 864 }, { "H100", 2000 }, { "H100 PCIe", 2000 },
	{ "H100 SXM", 3350 }, { "H100 SXM5", 3350 }, { "H100 80GB HBM3", 3350 }, { "H100 NVL", 3900 },
	{ "H200", 4800 },
	/* AMD Radeon RX 6000, 7000, 9000 */
	{ "RX 6800", 512 }, { "RX 6800 XT", 512 }, { "RX 6900 XT", 512 }, { "RX 7600", 288 },
	{ "RX 7700 XT", 432 }, { "RX 7800 XT", 624 }, { "RX 7900 GRE", 576 }, { "RX 7900 XT", 800 },
	{ "RX 7900 XTX", 960 }, { "RX 9070", 640 }, { "RX 9070 XT", 640 },
	/* AMD Instinct */
	{ "MI100", 1228.8 }, { "MI210", 1638.4 }, { "MI250", 3276.8 }, { "MI250X", 3276.8 },
	{ "MI300A", 5300 }, { "MI300X", 5300 }, { "MI325X", 6000 },
	/* Apple silicon, unified memory (the binned M3 Max and M4 Max have less) */
	{ "M1", 68.25 }, { "M1 Pro", 200 }, { "M1 Max", 400 }, { "M1 Ultra", 800 },
	{ "M2", 100 }, { "M2 Pro", 200 }, { "M2 Max", 400 }, { "M2 Ultra", 800 },
	{ "M3", 100 }, { "M3 Pro", 150 }, { "M3 Max", 400 }, { "M3 Ultra", 819 },
	{ "M4", 120 }, { "M4 Pro", 273 }, { "M4 Max", 546 },
};

/* Words of a laptop part's name: its bandwidth is the OEM's choice. */
static const char *const hw_laptop_words[] = { "laptop", "mobile", "max q design" };

static bool hw_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* s folded into out: lowercase ASCII words separated by one space, no
 * leading or trailing space.  Returns the length, or 0 when s has no word
 * or does not fit. */
static size_t hw_fold_words(const char *s, char *out, size_t size)
{
	size_t n = 0;
	bool gap = false;

	for (; *s; s++) {
		char c = *s;

		if (!hw_is_alnum(c)) {
			gap = n > 0;
			continue;
		}
		if (n + (gap ? 2 : 1) >= size)
			return 0;
		if (gap)
			out[n++] = ' ';
		gap = false;
		out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	return n;
}

/* True when word (folded) occurs in text (folded) on word boundaries. */
static bool hw_has_words(const char *text, const char *word, size_t wlen)
{
	const char *p = text;

	while ((p = strstr(p, word)) != NULL) {
		if ((p == text || p[-1] == ' ') && (p[wlen] == '\0' || p[wlen] == ' '))
			return true;
		p++;
	}
	return false;
}

double hw_known_bandwidth(const char *gpu_name)
{
	char name[2 * sizeof(((struct hw_profile *)0)->gpu_name)];
	char entry[64];
	size_t i, n, best_len = 0;
	double best = 0;

	if (!gpu_name || hw_fold_words(gpu_name, name, sizeof(name)) == 0)
		return 0;
	for (i = 0; i < sizeof(hw_laptop_words) / sizeof(hw_laptop_words[0]); i++)
		if (hw_has_words(name, hw_laptop_words[i], strlen(hw_laptop_words[i])))
			return 0;
	for (i = 0; i < sizeof(hw_gpus) / sizeof(hw_gpus[0]); i++) {
		n = hw_fold_words(hw_gpus[i].name, entry, sizeof(entry));
		if (n > best_len && hw_has_words(name, entry, n)) {
			best_len = n;
			best = hw_gpus[i].bandwidth_gbps;
		}
	}
	return best;
}
