/* core/vmstate.h: VM names and the VM state machine.
 *
 *   created -> starting -> running -> stopping -> stopped
 *                  \           \          \
 *                   +-> failed  +-> stopped (guest powered off)
 *                   +-> stopping (kill)  +-> failed  (VMM died)
 *   stopped|failed -> starting
 *
 * Verbs are checked against the state before anything is done; a refusal
 * says what state the VM is in and which verbs it accepts now. */
#ifndef BANGER_VMSTATE_H
#define BANGER_VMSTATE_H

#include <stdbool.h>

#include "ctl.h"
#include "err.h"

enum vm_state {
	VM_CREATED,
	VM_STARTING,
	VM_RUNNING,
	VM_STOPPING,
	VM_STOPPED,
	VM_FAILED,
	VM_STATE_COUNT
};

enum vm_verb { VERB_START, VERB_STOP, VERB_KILL, VERB_RESTART, VERB_WORKSPACE, VERB_SNAPSHOT,
	       VERB_COUNT };
/* The verbs as a ctl table (core/ctl.h), indexed by enum vm_verb. */
extern const struct ctl_cmd vm_verb_cmds[VERB_COUNT];

const char *vm_state_name(enum vm_state s);
int vm_state_parse(const char *s, enum vm_state *ret);
const char *vm_verb_name(enum vm_verb v);

/* 0 if name is a DNS label: 1-63 chars of [a-z0-9-], no leading or
 * trailing '-'.  -EINVAL with a sentence otherwise. */
int vm_name_validate(const char *name, struct berr *err);

/* Is the transition from -> to legal?  0, or -EBUSY/-EINVAL with a
 * message naming the VM. */
int vm_transition_check(const char *vm, enum vm_state from, enum vm_state to,
			struct berr *err);

/* Is verb valid in state s?  0, or -EBUSY (or -EINVAL for a verb that
 * can never apply) with a message listing the verbs valid now. */
int vm_verb_check(const char *vm, enum vm_state s, enum vm_verb v, struct berr *err);

/* Space-separated verbs valid in state s ("start restart"). */
void vm_verbs_valid(enum vm_state s, char *buf, size_t len);

/* States in which the VMM process may exist. */
static inline bool vm_state_live(enum vm_state s)
{
	return s == VM_STARTING || s == VM_RUNNING || s == VM_STOPPING;
}

#endif
