/* tests/unit/test_hostarch.c: which host architectures doctor accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hostarch.h"

static void x86_64_is_supported(void **state)
{
	char why[200] = "untouched";
	(void)state;
	assert_true(host_arch_supported("x86_64", why, sizeof(why)));
	assert_string_equal(why, "untouched");
}

static void others_are_refused_with_a_sentence(void **state)
{
	const char *others[] = { "aarch64", "i686", "riscv64", "ppc64le", "s390x", "x86_64 ", "X86_64" };
	char why[200];
	(void)state;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		why[0] = '\0';
		assert_false(host_arch_supported(others[i], why, sizeof(why)));
		assert_non_null(strstr(why, others[i]));
		assert_non_null(strstr(why, "x86_64 (amd64) only"));
	}
}

static void unknown_machine(void **state)
{
	char why[200];
	(void)state;
	assert_false(host_arch_supported("", why, sizeof(why)));
	assert_non_null(strstr(why, "unknown architecture"));
}

static void short_buffer_is_terminated(void **state)
{
	char why[8];
	(void)state;
	assert_false(host_arch_supported("aarch64", why, sizeof(why)));
	assert_int_equal(strlen(why), sizeof(why) - 1);
}

static void this_host(void **state)
{
	char machine[65], why[200];
	(void)state;
	/* The test machines are x86_64; the answer must agree with the
	 * machine field either way. */
	bool okay = host_arch_check(machine, sizeof(machine), why, sizeof(why));
	assert_int_equal(okay, strcmp(machine, "x86_64") == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(x86_64_is_supported),
		cmocka_unit_test(others_are_refused_with_a_sentence),
		cmocka_unit_test(unknown_machine),
		cmocka_unit_test(short_buffer_is_terminated),
		cmocka_unit_test(this_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
