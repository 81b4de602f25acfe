/* core/catoci.h: OCI images into images/ (docs/oci.md, "Wiring"): a
 * registry pull or a local layout import in a worker thread, with banger's
 * init injected; the bundle is registered by catalog_register(). */
#ifndef BANGER_CATOCI_H
#define BANGER_CATOCI_H

#include <stdbool.h>

#include "catalog.h"

#define CATOCI_MAX_RUNNING 4

/* ref is a registry reference (layout false) or an OCI image layout
 * DIR[:TAG] with DIR absolute (layout true).  images/NAME shows the build
 * at once (pulling, progress per layer); it ends ready, or failed with
 * the sentence in images/NAME/err.  insecure: plain HTTP to the registry. */
int catoci_start(struct catalog *c, bool layout, const char *ref, const char *name,
		 bool insecure, struct berr *err);
/* Cancel every build and join the workers (the daemon stops). */
void catoci_stop(struct catalog *c);

#endif
