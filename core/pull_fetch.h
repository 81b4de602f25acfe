/* core/pull_fetch.h: small documents fetched into memory by the pull
 * engine (pull_fetch.c, on the engine's thread; see pull.h, which includes
 * this header).  A catalog index and its signature come this way. */
#ifndef BANGER_PULL_FETCH_H
#define BANGER_PULL_FETCH_H

#include <stddef.h>

#include "err.h"

struct pull_engine;

/* A small document fetched into memory (a catalog index, its signature). */
struct pull_fetch_result {
	int status;          /* 200 (body), 304 (not modified), 404 (absent), 0 = failed (err) */
	char *body;          /* status 200: NUL-terminated; the callback may steal it */
	size_t len;
	char *etag;          /* the response's strong or weak ETag, or NULL; may be stolen */
	struct berr err;
};
typedef void (*pull_fetch_fn)(void *opaque, struct pull_fetch_result *res);

/* GET url (If-None-Match: if_none_match when not NULL) into memory, at most
 * max_bytes (a larger body fails), one attempt, bounded in time.  file URLs
 * read the file (status 200, or 404 when absent).  cb runs on the engine
 * thread without any engine lock held; it always runs exactly once, also
 * when the engine stops (status 0, -ECANCELED). */
int pull_fetch(struct pull_engine *e, const char *url, const char *if_none_match,
	       size_t max_bytes, pull_fetch_fn cb, void *opaque, struct berr *err);

#endif
