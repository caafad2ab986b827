/*
 * test_hw.c - the hardware profile: KEY=VALUE lines, units, clearing, the
 * all-or-nothing rule of multi-line writes, a table of hostile lines that
 * must change nothing, the exact rendering, and /proc/meminfo.
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
