/* Unit tests: VM names and the state machine. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmstate.h"

static void test_names_valid(void **state)
{
	(void)state;
	const char *ok[] = { "a", "sandbox", "web-1", "0", "a-b-c",
		"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0" };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(vm_name_validate(ok[i], NULL), 0);
}

static void test_names_invalid(void **state)
{
	struct berr err = { 0 };
	(void)state;
	assert_int_equal(vm_name_validate("", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(vm_name_validate("Sandbox", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "lower case"));
	assert_int_equal(vm_name_validate("-a", &err), -EINVAL);
	assert_int_equal(vm_name_validate("a-", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "start or end"));
	assert_int_equal(vm_name_validate("a_b", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'_'"));
	assert_int_equal(vm_name_validate("a.b", &err), -EINVAL);
	assert_int_equal(vm_name_validate("a/b", &err), -EINVAL);
	assert_int_equal(vm_name_validate("..", &err), -EINVAL);
	assert_int_equal(vm_name_validate("a\nb", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "control"));
	char long_name[65];
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_int_equal(vm_name_validate(long_name, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "63"));
}

static void test_state_names(void **state)
{
	enum vm_state s;
	(void)state;
	for (int i = 0; i < VM_STATE_COUNT; i++) {
		assert_int_equal(vm_state_parse(vm_state_name((enum vm_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(vm_state_parse("runnin", &s), -EINVAL);
	assert_string_equal(vm_state_name(VM_STOPPING), "stopping");
}

static void test_transitions(void **state)
{
	struct berr err = { 0 };
	(void)state;
	/* The happy path. */
	assert_int_equal(vm_transition_check("x", VM_CREATED, VM_STARTING, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_STARTING, VM_RUNNING, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_RUNNING, VM_STOPPING, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_STOPPING, VM_STOPPED, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_STOPPED, VM_STARTING, &err), 0);
	/* Failures and guest-initiated power-off. */
	assert_int_equal(vm_transition_check("x", VM_STARTING, VM_FAILED, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_STARTING, VM_STOPPING, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_RUNNING, VM_STOPPED, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_RUNNING, VM_FAILED, &err), 0);
	assert_int_equal(vm_transition_check("x", VM_FAILED, VM_STARTING, &err), 0);
	/* Illegal ones. */
	assert_int_equal(vm_transition_check("x", VM_CREATED, VM_RUNNING, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "created"));
	assert_non_null(strstr(err.msg, "running"));
	assert_int_equal(vm_transition_check("x", VM_STOPPED, VM_STOPPING, &err), -EBUSY);
	assert_int_equal(vm_transition_check("x", VM_RUNNING, VM_STARTING, &err), -EBUSY);
	assert_int_equal(vm_transition_check("x", VM_CREATED, VM_CREATED, &err), -EBUSY);
	assert_int_equal(vm_transition_check("x", VM_STATE_COUNT, VM_CREATED, &err), -EINVAL);
	/* Exhaustive: every pair is either legal or refused with EBUSY. */
	int legal = 0;
	for (int a = 0; a < VM_STATE_COUNT; a++)
		for (int b = 0; b < VM_STATE_COUNT; b++) {
			int r = vm_transition_check("x", (enum vm_state)a, (enum vm_state)b, NULL);
			assert_true(r == 0 || r == -EBUSY);
			legal += r == 0;
		}
	assert_int_equal(legal, 12);
}

static void test_verbs(void **state)
{
	struct berr err = { 0 };
	char buf[64];
	(void)state;
	assert_int_equal(vm_verb_check("x", VM_CREATED, VERB_START, &err), 0);
	assert_int_equal(vm_verb_check("x", VM_RUNNING, VERB_STOP, &err), 0);
	assert_int_equal(vm_verb_check("x", VM_RUNNING, VERB_START, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "running"));
	assert_non_null(strstr(err.msg, "stop kill restart"));
	assert_int_equal(vm_verb_check("x", VM_STOPPED, VERB_STOP, &err), -EBUSY);
	assert_int_equal(vm_verb_check("x", VM_STOPPING, VERB_KILL, &err), 0);
	assert_int_equal(vm_verb_check("x", VM_STARTING, VERB_STOP, &err), -EBUSY);
	vm_verbs_valid(VM_CREATED, buf, sizeof(buf));
	assert_string_equal(buf, "start restart workspace");
	/* A workspace goes into a new VM only. */
	assert_int_equal(vm_verb_check("x", VM_CREATED, VERB_WORKSPACE, &err), 0);
	assert_int_equal(vm_verb_check("x", VM_STOPPED, VERB_WORKSPACE, &err), -EBUSY);
	assert_int_equal(vm_verb_check("x", VM_FAILED, VERB_WORKSPACE, &err), -EBUSY);
	/* The ctl table is indexed by the enum, every verb named once. */
	for (int v = 0; v < VERB_COUNT; v++) {
		assert_int_equal(vm_verb_cmds[v].id, v);
		assert_string_equal(vm_verb_cmds[v].name, vm_verb_name((enum vm_verb)v));
	}
	vm_verbs_valid(VM_RUNNING, buf, sizeof(buf));
	assert_string_equal(buf, "stop kill restart snapshot");
	/* A snapshot is of a running VM only (docs/snapshots.md). */
	assert_int_equal(vm_verb_check("x", VM_RUNNING, VERB_SNAPSHOT, &err), 0);
	assert_int_equal(vm_verb_check("x", VM_STOPPED, VERB_SNAPSHOT, &err), -EBUSY);
	assert_int_equal(vm_verb_check("x", VM_CREATED, VERB_SNAPSHOT, &err), -EBUSY);
	vm_verbs_valid(VM_STOPPING, buf, sizeof(buf));
	assert_string_equal(buf, "kill");
	assert_true(vm_state_live(VM_RUNNING));
	assert_false(vm_state_live(VM_STOPPED));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_valid),  cmocka_unit_test(test_names_invalid),
		cmocka_unit_test(test_state_names),  cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_verbs),
	};
	return cmocka_run_group_tests_name("vmstate", tests, NULL, NULL);
}
