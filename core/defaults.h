/* core/defaults.h: the defaults a VM gets for what it does not set, with
 * where each came from: the rows of the tree's defaults file, and their
 * lines in doctor. */
#ifndef BANGER_DEFAULTS_H
#define BANGER_DEFAULTS_H

#include <stddef.h>

#include "store.h"
#include "util.h"

struct banger;

#define DEFAULTS_MAX 8

struct default_row {
	const char *key;            /* vcpu memory_mib disk_size image kernel vmm accel */
	char value[STORE_NAME_MAX]; /* "-" when there is none */
	const char *prov;           /* config host floor default builtin auto none */
	char why[288];              /* the provenance in words, for doctor */
};

/* Fill rows (DEFAULTS_MAX of them) with the effective defaults, in the
 * order of the defaults file; returns how many. */
size_t defaults_rows(struct banger *b, struct default_row *rows);

/* doctor's lines: "ok defaults KEY VALUE (PROVENANCE: WHY)", one per row;
 * "warn" for an image or kernel that has no default. */
void defaults_doctor(struct banger *b, struct sbuf *out);

#endif
