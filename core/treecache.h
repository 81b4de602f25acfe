/* core/treecache.h: the text of the tree's files as last rendered, so a
 * read (or a stat, which reports the length) does not render again while
 * nothing changed.
 *
 * An entry is keyed by (kind, object id, file) and tagged with the
 * generation of core/events.h it was rendered at (read before rendering)
 * and, for files that follow the clock, the second; it is good only while
 * both still hold, so a change makes every entry stale at once and no
 * reader ever gets text older than the last change.  Bounded: at most
 * TCACHE_MAX entries (stale ones are dropped first, then all). */
#ifndef BANGER_TREECACHE_H
#define BANGER_TREECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define TCACHE_MAX 8192

struct tcache;

struct tcache_key {
	unsigned kind;
	int64_t id;
	unsigned file;
};

struct tcache *tcache_new(void);
void tcache_free(struct tcache *c); /* accepts NULL */
/* The text cached for key at generation gen and second sec (-1: not a
 * clock-following file) appended to out: true; else false. */
bool tcache_get(struct tcache *c, const struct tcache_key *key, uint64_t gen, int64_t sec,
		struct sbuf *out);
void tcache_put(struct tcache *c, const struct tcache_key *key, uint64_t gen, int64_t sec,
		const char *text, size_t len);

#endif
