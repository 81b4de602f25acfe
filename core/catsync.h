/* core/catsync.h: the configured catalogs, their last good indexes and
 * their refresh (docs/catalog.md, "Catalogs").
 *
 * Each catalog_url names an index (URL, or URL "index.json" when it ends
 * with '/') and its signature (INDEX.sig).  A refresh fetches the index
 * with If-None-Match (304: nothing changed), then the signature, checks
 * them against catalog_pubkey (cat_index_trust), parses, and only then
 * replaces the last good index, in memory and on disk
 * (STATE/catalogs/<16 hex of sha256(URL)>/{index.json,index.json.sig,meta.json}),
 * so a bad or unreachable catalog never loses the previous one: its status
 * says how old that one is.  Lookups go through the catalogs in the
 * configured order; the first one listing kind/name for this arch wins.
 *
 * Refreshes run on the pull engine's thread; no function here waits for
 * the network except catsync_wait. */
#ifndef BANGER_CATSYNC_H
#define BANGER_CATSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catindex.h"
#include "err.h"
#include "pull.h"

struct catsync_config {
	const char *const *urls;  /* catalog_url, in order (first match wins) */
	size_t n_urls;
	const char *pubkey;       /* catalog_pubkey (cat_pubkey_load); NULL or "" = none */
	bool insecure;            /* catalog_insecure: file URLs may be unsigned */
	int64_t ttl_s;            /* catalog_ttl; 0 = 3600 */
	const char *state_dir;    /* last good indexes under state_dir/catalogs/ */
	const char *arch;         /* entries for this arch; NULL = uname's machine */
	/* Called on the engine thread, no lock held, after a refresh replaced
	 * an index (to invalidate caches of images/ and kernels/).  May be NULL. */
	void (*changed)(void *opaque);
	void *opaque;
};

struct catsync;

/* Load the key and the last good indexes from disk (each checked again);
 * no network.  A bad catalog_pubkey or URL is an error; a bad copy on
 * disk is not (it shows in the status). */
int catsync_new(const struct catsync_config *c, struct pull_engine *e, struct catsync **ret,
		struct berr *err);
/* Free after pull_engine_free (a fetch in flight calls back into it). */
struct catsync *catsync_free(struct catsync *s);

/* Start refreshing every catalog (force) or those not confirmed within
 * catalog_ttl; returns how many refreshes started. */
int catsync_refresh(struct catsync *s, bool force);
/* Wait until no refresh runs; -ETIMEDOUT after timeout_ms. */
int catsync_wait(struct catsync *s, int timeout_ms);

/* The first catalog entry for kind/name; -ENOENT (with a sentence naming
 * the catalogs) when none lists it. *ret is a copy: cat_entry_clear it. */
int catsync_lookup(struct catsync *s, const char *kind, const char *name, struct cat_entry *ret,
		   struct berr *err);

/* Names of kind across all catalogs, sorted, unique; free each and the
 * array. */
char **catsync_names(struct catsync *s, const char *kind, size_t *ret_n);

/* One line per catalog, in order:
 *   URL state ok|stale|offline|failed|new entries N age SECONDS|- signed yes|no|-[ error SENTENCE]
 * "age" is the time since the server last confirmed the index; "offline"
 * means the last refresh failed and the last good index (that old) is in
 * use.  xmalloc'ed. */
char *catsync_status(struct catsync *s);

#endif
