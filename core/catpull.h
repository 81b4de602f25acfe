/* core/catpull.h: pulls from the configured catalogs into images/ and
 * kernels/ (docs/catalog.md, "Pulling"), through the daemon's pull
 * engine; a pulled bundle is registered by catalog_register(). */
#ifndef BANGER_CATPULL_H
#define BANGER_CATPULL_H

#include "catalog.h"
#include "util.h"

/* Start pulling kind/name from the first catalog listing it; returns at
 * once (0, also when it is being pulled already).  The entry shows
 * pulling, then ready, or failed with the sentence in its err. */
int catpull_start(struct catalog *c, const char *kind, const char *name, struct berr *err);
/* Fetch every catalog's index again; waits up to wait_ms for them, and
 * fails (EHOSTUNREACH) naming the catalogs that could not be refreshed
 * (their last good index stays in use). */
int catpull_refresh(struct catalog *c, int wait_ms, struct berr *err);
/* images/catalogs: one line per catalog (catsync_status). */
void catpull_status(struct catalog *c, struct sbuf *out);

#endif
