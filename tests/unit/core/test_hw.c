/*
 * test_hw.c - the hardware profile: KEY=VALUE lines, units, clearing, the
 * all-or-nothing rule of multi-line writes, a table of hostile lines that
 * must change nothing, the exact rendering, and /proc/meminfo; nvidia-smi's
 * CSV line (and a hostile table that must change nothing), the table of
 * known bandwidths (longest match on word boundaries, laptop parts
 * unknown), and tg_efficiency staying out of the text.
 */
#include "core.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static char *render(const struct hw_profile *hw)
{
	struct sbuf sb;

	sbuf_init(&sb, 4096);
	assert_int_equal(hw_render(hw, &sb), 0);
	return sbuf_detach(&sb, NULL);
}

static void test_render_unknown(void **state)
{
	struct hw_profile hw;
	char *text;

	memset(&hw, 0, sizeof(hw));
	text = render(&hw);
	assert_string_equal(text, "gpu_name=\ngpu_vram_mib=\ngpu_bandwidth_gbps=\nram_mib=\nram_bandwidth_gbps=\n");
	free(text);
}

static void test_lines(void **state)
{
	struct hw_profile hw;
	struct diag d;
	char *text;

	memset(&hw, 0, sizeof(hw));
	diag_init(&d);
	assert_int_equal(hw_apply_line(&hw, "gpu_name=NVIDIA GeForce RTX 4090", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "gpu_vram_mib=24564", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "  gpu_bandwidth_gbps = 1008 ", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "ram_mib=64G", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "ram_bandwidth_gbps=89.6\r\n", &d), 0);
	assert_int_equal(d.code, 0);
	assert_string_equal(hw.gpu_name, "NVIDIA GeForce RTX 4090");
	assert_true(hw.gpu_vram_mib == 24564);
	assert_true(hw.gpu_bandwidth_gbps == 1008);
	assert_true(hw.ram_mib == 65536);
	assert_true(hw.ram_bandwidth_gbps == 89.6);
	text = render(&hw);
	assert_string_equal(text,
			    "gpu_name=NVIDIA GeForce RTX 4090\n"
			    "gpu_vram_mib=24564\n"
			    "gpu_bandwidth_gbps=1008\n"
			    "ram_mib=65536\n"
			    "ram_bandwidth_gbps=89.6\n");
	free(text);

	assert_int_equal(hw_apply_line(&hw, "gpu_vram_mib=24GiB", &d), 0);
	assert_true(hw.gpu_vram_mib == 24576);
	assert_int_equal(hw_apply_line(&hw, "gpu_vram_mib=1.5G", &d), 0);
	assert_true(hw.gpu_vram_mib == 1536);
	assert_int_equal(hw_apply_line(&hw, "gpu_vram_mib=1536K", &d), 0);
	assert_true(hw.gpu_vram_mib == 2);
	assert_int_equal(hw_apply_line(&hw, "gpu_bandwidth_gbps=936.5", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "gpu_name=Caf\xc3\xa9 = GPU #1", &d), 0);
	assert_string_equal(hw.gpu_name, "Caf\xc3\xa9 = GPU #1");
	text = render(&hw);
	assert_non_null(strstr(text, "gpu_bandwidth_gbps=936.5\n"));
	free(text);

	assert_int_equal(hw_apply_line(&hw, "", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "   ", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "# a comment=with equals", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "  # indented comment", &d), 0);
	assert_string_equal(hw.gpu_name, "Caf\xc3\xa9 = GPU #1");

	assert_int_equal(hw_apply_line(&hw, "gpu_name=", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "gpu_vram_mib=", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "gpu_bandwidth_gbps=  ", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "ram_mib=0", &d), 0);
	assert_int_equal(hw_apply_line(&hw, "ram_bandwidth_gbps=0", &d), 0);
	assert_int_equal(d.code, 0);
	text = render(&hw);
	assert_string_equal(text, "gpu_name=\ngpu_vram_mib=\ngpu_bandwidth_gbps=\nram_mib=\nram_bandwidth_gbps=\n");
	free(text);
}

struct hostile_case {
	const char *line;
	const char *msg_part;
};

static const struct hostile_case hostile_cases[] = {
	{ "gpu_vram_mib", "no '='" },
	{ "=5", "unknown hardware key" },
	{ "vram=5", "unknown hardware key" },
	{ "GPU_NAME=x", "unknown hardware key" },
	{ "gpu_name_x=1", "unknown hardware key" },
	{ "gpu_vram_mib=-1", "gpu_vram_mib" },
	{ "gpu_vram_mib=1.5", "gpu_vram_mib" },
	{ "gpu_vram_mib=abc", "gpu_vram_mib" },
	{ "gpu_vram_mib=0x10", "gpu_vram_mib" },
	{ "gpu_vram_mib=24 G", "gpu_vram_mib" },
	{ "gpu_vram_mib=1K", "less than 1 MiB" },
	{ "gpu_vram_mib=99999999999999999999", "out of range" },
	{ "ram_mib=inf", "ram_mib" },
	{ "gpu_bandwidth_gbps=-1", "gpu_bandwidth_gbps" },
	{ "gpu_bandwidth_gbps=nan", "gpu_bandwidth_gbps" },
	{ "gpu_bandwidth_gbps=inf", "gpu_bandwidth_gbps" },
	{ "gpu_bandwidth_gbps=1e999", "gpu_bandwidth_gbps" },
	{ "gpu_bandwidth_gbps=1,5", "gpu_bandwidth_gbps" },
	{ "ram_bandwidth_gbps=fast", "ram_bandwidth_gbps" },
	{ "ram_bandwidth_gbps=0x1p3", "ram_bandwidth_gbps" },
	{ "gpu_name=a\tb", "control bytes" },
	{ "gpu_name=a\rb", "control bytes" },
	{ "gpu_name=a\x1b[31mred", "control bytes" },
	{ "gpu_name=a\x7f", "control bytes" },
	{ "gpu_name=\xc3", "invalid UTF-8" },
	{ "gpu_name=\xc0\xaf", "invalid UTF-8" },
	{ "gpu_name=\xed\xa0\x80", "invalid UTF-8" },
	{ "gpu_name=\xc2\x85", "control bytes" },
	{ "gpu_name=\xff", "invalid UTF-8" },
};

static void test_hostile_lines(void **state)
{
	struct hw_profile hw, before;
	size_t i;
	static const char full[] = "gpu_name=X\ngpu_vram_mib=8192\ngpu_bandwidth_gbps=448\n"
				   "ram_mib=32768\nram_bandwidth_gbps=51.2\n";

	memset(&hw, 0, sizeof(hw));
	assert_int_equal(hw_apply_text(&hw, full, strlen(full), NULL), 0);
	assert_true(hw.ram_bandwidth_gbps == 51.2);
	before = hw;
	for (i = 0; i < N_ELEMS(hostile_cases); i++) {
		struct diag d;
		int rc;

		diag_init(&d);
		rc = hw_apply_line(&hw, hostile_cases[i].line, &d);
		if (rc != -EINVAL || d.code != -EINVAL)
			fail_msg("hw case %zu '%s': rc %d", i, hostile_cases[i].line, rc);
		if (!strstr(d.msg, hostile_cases[i].msg_part))
			fail_msg("hw case %zu: message '%s' lacks '%s'", i, d.msg, hostile_cases[i].msg_part);
		assert_memory_equal(&hw, &before, sizeof(hw));
	}
}

static void test_long_values(void **state)
{
	struct hw_profile hw;
	char line[CAP_LINE_BYTES + 16];
	struct diag d;

	memset(&hw, 0, sizeof(hw));
	memcpy(line, "gpu_name=", 9);
	memset(line + 9, 'n', 127);
	line[9 + 127] = '\0';
	assert_int_equal(hw_apply_line(&hw, line, NULL), 0);
	assert_int_equal(strlen(hw.gpu_name), 127);
	line[9 + 127] = 'n';
	line[9 + 128] = '\0';
	diag_init(&d);
	assert_int_equal(hw_apply_line(&hw, line, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "longer than"));
	assert_int_equal(strlen(hw.gpu_name), 127);

	memset(line, ' ', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	diag_init(&d);
	assert_int_equal(hw_apply_line(&hw, line, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "longer than"));
}

static void test_all_or_nothing(void **state)
{
	static const char good[] = "# my box\n\ngpu_vram_mib=16G\r\ngpu_name=RX 7800\nram_mib=32768";
	static const char bad[] = "gpu_vram_mib=8G\nram_mib=1\ngpu_bandwidth_gbps=oops\nram_bandwidth_gbps=50\n";
	static const char nul[] = "gpu_vram_mib=8G\n\0ram_mib=1\n";
	struct hw_profile hw, before;
	struct diag d;

	memset(&hw, 0, sizeof(hw));
	assert_int_equal(hw_apply_text(&hw, good, strlen(good), NULL), 0);
	assert_true(hw.gpu_vram_mib == 16384);
	assert_string_equal(hw.gpu_name, "RX 7800");
	assert_true(hw.ram_mib == 32768);
	before = hw;

	diag_init(&d);
	assert_int_equal(hw_apply_text(&hw, bad, strlen(bad), &d), -EINVAL);
	assert_memory_equal(&hw, &before, sizeof(hw));
	assert_non_null(strstr(d.msg, "line 3: "));
	assert_non_null(strstr(d.msg, "gpu_bandwidth_gbps"));

	diag_init(&d);
	assert_int_equal(hw_apply_text(&hw, nul, sizeof(nul) - 1, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "NUL"));
	assert_memory_equal(&hw, &before, sizeof(hw));

	assert_int_equal(hw_apply_text(&hw, "", 0, NULL), 0);
	assert_int_equal(hw_apply_text(&hw, NULL, 0, NULL), 0);
	assert_memory_equal(&hw, &before, sizeof(hw));
}

static void test_long_line_in_text(void **state)
{
	struct hw_profile hw;
	size_t len = CAP_LINE_BYTES + 100;
	char *text = malloc(len);
	struct diag d;

	assert_non_null(text);
	memset(&hw, 0, sizeof(hw));
	memset(text, '#', len);
	diag_init(&d);
	assert_int_equal(hw_apply_text(&hw, text, len, &d), -EINVAL);
	assert_non_null(strstr(d.msg, "line 1"));
	free(text);
}

static void test_round_trip(void **state)
{
	struct hw_profile hw, again;
	char *text, *text2;
	static const char in[] = "gpu_name=A100 80GB\ngpu_bandwidth_gbps=0.1\n"
				 "ram_bandwidth_gbps=1e300\ngpu_vram_mib=81920\n";

	memset(&hw, 0, sizeof(hw));
	assert_int_equal(hw_apply_text(&hw, in, strlen(in), NULL), 0);
	assert_true(hw.ram_bandwidth_gbps == 1e300);
	text = render(&hw);
	memset(&again, 0, sizeof(again));
	assert_int_equal(hw_apply_text(&again, text, strlen(text), NULL), 0);
	text2 = render(&again);
	assert_string_equal(text, text2);
	assert_non_null(strstr(text, "gpu_bandwidth_gbps=0.1\n"));
	free(text);
	free(text2);
}

static void test_meminfo(void **state)
{
	struct hw_profile hw;

	memset(&hw, 0, sizeof(hw));
	assert_int_equal(hw_parse_meminfo(&hw, "MemTotal:       65768156 kB\nMemFree:  1 kB\n"), 0);
	assert_true(hw.ram_mib == 64226);
	assert_int_equal(hw_parse_meminfo(&hw, "MemFree: 1 kB\n"), -ENOENT);
	assert_int_equal(hw_parse_meminfo(&hw, "MemTotal: lots kB\n"), -EBADMSG);
	assert_int_equal(hw_parse_meminfo(&hw, "MemTotal: 12 MB\n"), -EBADMSG);
	assert_int_equal(hw_parse_meminfo(&hw, "MemTotal: 99999999999999999999999 kB\n"), -EBADMSG);
	assert_int_equal(hw_parse_meminfo(&hw, ""), -ENOENT);
	assert_true(hw.ram_mib == 64226);
}

static void test_nvidia_smi(void **state)
{
	struct hw_profile hw;

	memset(&hw, 0, sizeof(hw));
	assert_int_equal(hw_parse_nvidia_smi(&hw, "NVIDIA GeForce RTX 4090, 24564\n"), 0);
	assert_string_equal(hw.gpu_name, "NVIDIA GeForce RTX 4090");
	assert_true(hw.gpu_vram_mib == 24564);
	assert_true(hw.gpu_bandwidth_gbps == 1008);

	/* the first GPU of several; blanks and a unit tolerated */
	memset(&hw, 0, sizeof(hw));
	assert_int_equal(hw_parse_nvidia_smi(&hw, "  Tesla T4 ,  15360 MiB\r\nNVIDIA A100-SXM4-80GB, 81920\n"), 0);
	assert_string_equal(hw.gpu_name, "Tesla T4");
	assert_true(hw.gpu_vram_mib == 15360);
	assert_true(hw.gpu_bandwidth_gbps == 320);

	/* a bandwidth already known (an option) is kept; an unknown GPU leaves 0 */
	memset(&hw, 0, sizeof(hw));
	hw.gpu_bandwidth_gbps = 900;
	assert_int_equal(hw_parse_nvidia_smi(&hw, "NVIDIA GeForce RTX 4090, 24564"), 0);
	assert_true(hw.gpu_bandwidth_gbps == 900);
	memset(&hw, 0, sizeof(hw));
	assert_int_equal(hw_parse_nvidia_smi(&hw, "NVIDIA Imaginary X1, 8192"), 0);
	assert_string_equal(hw.gpu_name, "NVIDIA Imaginary X1");
	assert_true(hw.gpu_bandwidth_gbps == 0);
}

static void test_nvidia_smi_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"No devices were found",
		"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
		", 24564",
		"   , 24564",
		"NVIDIA GeForce RTX 4090,",
		"NVIDIA GeForce RTX 4090, [N/A]",
		"NVIDIA GeForce RTX 4090, 0",
		"NVIDIA GeForce RTX 4090, -5",
		"NVIDIA GeForce RTX 4090, 24.5",
		"NVIDIA GeForce RTX 4090, 24564, 550.54.14",
		"NVIDIA GeForce RTX 4090, 99999999999999999999999",
		"NVIDIA GeForce RTX 4090, 9223372036854775808",
		"NVIDIA \x01 RTX, 24564",
		"NVIDIA \xff RTX, 24564",
		"\nNVIDIA GeForce RTX 4090, 24564",
		"name, MiB",
	};
	struct hw_profile hw, before;
	char longname[300];
	size_t i;

	memset(&before, 0, sizeof(before));
	memcpy(before.gpu_name, "kept", 5);
	before.gpu_vram_mib = 7;
	before.tg_efficiency = 0.5;
	for (i = 0; i < N_ELEMS(bad); i++) {
		hw = before;
		if (hw_parse_nvidia_smi(&hw, bad[i]) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_memory_equal(&hw, &before, sizeof(hw));
	}
	memset(longname, 'A', 200);
	memcpy(longname + 200, ", 1024", 7);
	hw = before;
	assert_int_equal(hw_parse_nvidia_smi(&hw, longname), -EINVAL);
	assert_memory_equal(&hw, &before, sizeof(hw));
	assert_int_equal(hw_parse_nvidia_smi(&hw, NULL), -EINVAL);
	assert_int_equal(hw_parse_nvidia_smi(NULL, "RTX 4090, 1"), -EINVAL);
}

static void test_known_bandwidth(void **state)
{
	static const struct {
		const char *name;
		double gbps;
	} cases[] = {
		{ "NVIDIA GeForce RTX 4090", 1008 },
		{ "NVIDIA GeForce RTX 4090 D", 1008 },
		{ "nvidia geforce rtx 4090", 1008 },
		{ "NVIDIA GeForce RTX 4070", 504 },
		{ "NVIDIA GeForce RTX 4070 Ti", 504 },
		{ "NVIDIA GeForce RTX 4070 Ti SUPER", 672 },
		{ "NVIDIA GeForce RTX 4080", 716.8 },
		{ "NVIDIA GeForce RTX 4080 SUPER", 736 },
		{ "NVIDIA GeForce RTX 4060 Ti", 288 },
		{ "NVIDIA GeForce RTX 3060", 360 },
		{ "NVIDIA GeForce RTX 3060 Ti", 448 },
		{ "NVIDIA GeForce RTX 3090 Ti", 1008 },
		{ "NVIDIA GeForce RTX 3090", 936 },
		{ "NVIDIA GeForce RTX 2080 Ti", 616 },
		{ "NVIDIA GeForce RTX 2080 SUPER", 496 },
		{ "NVIDIA GeForce RTX 5090", 1792 },
		{ "NVIDIA GeForce RTX 5070 Ti", 896 },
		{ "NVIDIA GeForce RTX 5060", 448 },
		{ "Tesla T4", 320 },
		{ "NVIDIA T400 4GB", 0 },
		{ "NVIDIA T4000", 0 },
		{ "Tesla V100-SXM2-16GB", 900 },
		{ "Tesla V100S-PCIE-32GB", 1134 },
		{ "NVIDIA A10", 600 },
		{ "NVIDIA A10G", 600 },
		{ "NVIDIA A100-SXM4-40GB", 1555 },
		{ "NVIDIA A100-PCIE-40GB", 1555 },
		{ "NVIDIA A100-SXM4-80GB", 2039 },
		{ "NVIDIA A100 80GB PCIe", 1935 },
		{ "NVIDIA H100 PCIe", 2000 },
		{ "NVIDIA H100 80GB HBM3", 3350 },
		{ "NVIDIA H100 NVL", 3900 },
		{ "NVIDIA L4", 300 },
		{ "NVIDIA L40S", 864 },
		{ "NVIDIA RTX A6000", 768 },
		{ "NVIDIA RTX 6000 Ada Generation", 960 },
		{ "AMD Radeon RX 7900 XTX", 960 },
		{ "AMD Radeon RX 7900 XT", 800 },
		{ "AMD Instinct MI250X", 3276.8 },
		{ "AMD Instinct MI250X/MI250", 3276.8 },
		{ "AMD Instinct MI300X", 5300 },
		{ "Apple M1", 68.25 },
		{ "Apple M1 Ultra", 800 },
		{ "Apple M2 Max", 400 },
		{ "Apple M3 Pro", 150 },
		{ "Apple M3 Ultra", 819 },
		{ "apple m4 pro", 273 },
		{ "M4 Max", 546 },
		{ "NVIDIA GeForce RTX 4090 Laptop GPU", 0 },
		{ "NVIDIA GeForce RTX 3060 Mobile", 0 },
		{ "NVIDIA GeForce RTX 2080 with Max-Q Design", 0 },
		{ "NVIDIA GeForce RTX 40900", 0 },
		{ "XRTX 4090", 0 },
		{ "NVIDIA Imaginary X1", 0 },
		{ "", 0 },
		{ "--- ---", 0 },
	};
	size_t i;

	for (i = 0; i < N_ELEMS(cases); i++)
		if (hw_known_bandwidth(cases[i].name) != cases[i].gbps)
			fail_msg("'%s': %g, want %g", cases[i].name, hw_known_bandwidth(cases[i].name),
				 cases[i].gbps);
	assert_true(hw_known_bandwidth(NULL) == 0);
}

/* tg_efficiency is derived: never rendered, never set by a write. */
static void test_efficiency_not_text(void **state)
{
	struct hw_profile hw;
	char *text;

	memset(&hw, 0, sizeof(hw));
	hw.tg_efficiency = 0.625;
	assert_int_equal(hw_apply_text(&hw, "gpu_name=x\ngpu_vram_mib=1\n", 26, NULL), 0);
	assert_true(hw.tg_efficiency == 0.625);
	text = render(&hw);
	assert_null(strstr(text, "efficiency"));
	assert_null(strstr(text, "0.625"));
	free(text);
	assert_int_equal(hw_apply_line(&hw, "tg_efficiency=0.9", NULL), -EINVAL);
	assert_true(hw.tg_efficiency == 0.625);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_unknown),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_hostile_lines),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_long_line_in_text),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_meminfo),
		cmocka_unit_test(test_nvidia_smi),
		cmocka_unit_test(test_nvidia_smi_hostile),
		cmocka_unit_test(test_known_bandwidth),
		cmocka_unit_test(test_efficiency_not_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
