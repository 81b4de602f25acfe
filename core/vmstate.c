/* core/vmstate.c: names and the state machine (see vmstate.h). */
#include "vmstate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const state_names[VM_STATE_COUNT] = {
	[VM_CREATED] = "created",   [VM_STARTING] = "starting",
	[VM_RUNNING] = "running",   [VM_STOPPING] = "stopping",
	[VM_STOPPED] = "stopped",   [VM_FAILED] = "failed",
};

/* The verbs, named once: the tree's ctl table is this one. */
const struct ctl_cmd vm_verb_cmds[VERB_COUNT] = {
	[VERB_START] = { VERB_START, "start", 0, 0, "start" },
	[VERB_STOP] = { VERB_STOP, "stop", 0, 0, "stop" },
	[VERB_KILL] = { VERB_KILL, "kill", 0, 0, "kill" },
	[VERB_RESTART] = { VERB_RESTART, "restart", 0, 0, "restart" },
	/* Before the first start: a repository into the work disk. */
	[VERB_WORKSPACE] = { VERB_WORKSPACE, "workspace", 1, 1, "workspace DIR" },
	/* a snapshot of the running VM (docs/snapshots.md) */
	[VERB_SNAPSHOT] = { VERB_SNAPSHOT, "snapshot", 0, 0, "snapshot" },
};
#define verb_names(v) (vm_verb_cmds[v].name)

/* legal[from] is a bit mask of states reachable from `from`. */
#define B(s) (1u << (s))
static const unsigned legal[VM_STATE_COUNT] = {
	[VM_CREATED] = B(VM_STARTING),
	[VM_STARTING] = B(VM_RUNNING) | B(VM_FAILED) | B(VM_STOPPING), /* kill while starting */
	[VM_RUNNING] = B(VM_STOPPING) | B(VM_STOPPED) | B(VM_FAILED),
	[VM_STOPPING] = B(VM_STOPPED) | B(VM_FAILED),
	[VM_STOPPED] = B(VM_STARTING),
	[VM_FAILED] = B(VM_STARTING) | B(VM_STOPPED),
};

/* verbs[state] is a bit mask of verbs accepted in that state. */
static const unsigned verbs[VM_STATE_COUNT] = {
	[VM_CREATED] = B(VERB_START) | B(VERB_RESTART) | B(VERB_WORKSPACE),
	[VM_STARTING] = B(VERB_KILL),
	[VM_RUNNING] = B(VERB_STOP) | B(VERB_KILL) | B(VERB_RESTART) | B(VERB_SNAPSHOT),
	[VM_STOPPING] = B(VERB_KILL),
	[VM_STOPPED] = B(VERB_START) | B(VERB_RESTART),
	[VM_FAILED] = B(VERB_START) | B(VERB_RESTART) | B(VERB_KILL),
};
#undef B

const char *vm_state_name(enum vm_state s)
{
	return (unsigned)s < VM_STATE_COUNT ? state_names[s] : "unknown";
}

const char *vm_verb_name(enum vm_verb v)
{
	return (unsigned)v < VERB_COUNT ? verb_names(v) : "unknown";
}

int vm_state_parse(const char *s, enum vm_state *ret)
{
	for (int i = 0; i < VM_STATE_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0) {
			*ret = (enum vm_state)i;
			return 0;
		}
	return -EINVAL;
}

int vm_name_validate(const char *name, struct berr *err)
{
	size_t n = strlen(name);

	if (n == 0)
		return berr_set(err, EINVAL, "a VM name cannot be empty");
	if (n > 63)
		return berr_set(err, EINVAL,
				"VM name is %zu characters long; the limit is 63 (a DNS label)", n);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
			continue;
		if (c >= 'A' && c <= 'Z')
			return berr_set(err, EINVAL,
					"invalid VM name '%.63s': use lower case (names are DNS labels)", name);
		if ((unsigned char)c < 0x20 || c == 0x7f)
			return berr_set(err, EINVAL,
					"invalid VM name: control character at position %zu", i + 1);
		return berr_set(err, EINVAL,
				"invalid VM name '%.63s': '%c' is not allowed; use a-z, 0-9 and '-'",
				name, c);
	}
	if (name[0] == '-' || name[n - 1] == '-')
		return berr_set(err, EINVAL,
				"invalid VM name '%s': it cannot start or end with '-'", name);
	return 0;
}

int vm_transition_check(const char *vm, enum vm_state from, enum vm_state to,
			struct berr *err)
{
	if ((unsigned)from >= VM_STATE_COUNT || (unsigned)to >= VM_STATE_COUNT)
		return berr_set(err, EINVAL, "vm '%s': unknown state", vm);
	if (legal[from] & (1u << to))
		return 0;
	return berr_set(err, EBUSY, "vm '%s' is %s; it cannot become %s", vm,
			state_names[from], state_names[to]);
}

void vm_verbs_valid(enum vm_state s, char *buf, size_t len)
{
	size_t off = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	if ((unsigned)s >= VM_STATE_COUNT)
		return;
	for (int v = 0; v < VERB_COUNT; v++) {
		if (!(verbs[s] & (1u << v)))
			continue;
		int n = snprintf(buf + off, len - off, "%s%s", off ? " " : "", verb_names(v));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

int vm_verb_check(const char *vm, enum vm_state s, enum vm_verb v, struct berr *err)
{
	char valid[64];

	if ((unsigned)v >= VERB_COUNT || (unsigned)s >= VM_STATE_COUNT)
		return berr_set(err, EINVAL, "vm '%s': unknown verb", vm);
	if (verbs[s] & (1u << v))
		return 0;
	vm_verbs_valid(s, valid, sizeof(valid));
	return berr_set(err, EBUSY, "vm '%s' is %s: cannot %s (valid now: %s)", vm,
			state_names[s], verb_names(v), valid[0] ? valid : "none");
}
