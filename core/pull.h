/* core/pull.h: the pull engine: bundles downloaded with libcurl (multi) in
 * a thread of its own, resumed, verified and unpacked while they stream
 * (docs/catalog.md, "Pulling").
 *
 * One engine thread drives every transfer; each bundle pull also has an
 * unpacking thread that follows the partial download on disk (and a
 * hashing thread per file, bundle.h).  The caller's thread never waits for
 * the network or the disk: pull_start, pull_cancel, pull_get_progress and
 * pull_fetch take a mutex for a few field copies and return.
 *
 * Downloads go to a content-addressed cache, CACHE/blobs/sha256/HEX.part
 * (HEX.part.meta holds the URL and the validator).  A later pull of the
 * same bundle resumes it with Range + If-Range: 206 appends, 200 restarts
 * from zero (the resource changed), 416 discards the partial file.  When
 * the partial file came from another URL (a mirror) or the server gives no
 * ETag or Last-Modified, Range goes alone: the bytes are pinned by the
 * bundle's sha256, and a mismatch makes the pull start over once.  The
 * unpacking thread reads the partial file from its first byte, so what was
 * there before is hashed again before anything is appended.  The bundle's
 * sha256 and size (from the signed index) are checked on the stream, every
 * file against the manifest (bundle.h), and only then is the unpacked
 * directory renamed to its destination: a crash, kill -9, ENOSPC or a
 * lying server leaves at most a HEX.part and a dot-directory next to the
 * destination (".pull-NAME.*"), never a destination holding a broken
 * bundle.
 *
 * Transient failures (connection refused or cut, timeouts, 5xx, a short
 * body) are retried with exponential backoff, resuming where the partial
 * file ends.  Proxies come from the usual environment variables (libcurl:
 * http_proxy, https_proxy, all_proxy, no_proxy). */
#ifndef BANGER_PULL_H
#define BANGER_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "err.h"

struct pull_config {
	const char *cache_dir;   /* blobs go to cache_dir/blobs/sha256/ */
	long connect_timeout_s;  /* 0 = 20 */
	long stall_timeout_s;    /* below 1 KiB/s for this long = failed attempt; 0 = 30 */
	int max_attempts;        /* per pull, counting attempts that made no progress; 0 = 6 */
	long backoff_ms;         /* first retry delay, doubled each time, at most 30 s; 0 = 500 */
	bool keep_blobs;         /* keep the verified .tar.zst as CACHE/blobs/sha256/HEX */
	int nice;                /* niceness of the engine's threads (the unpacking and
				    hashing threads inherit it): 10 in a daemon, so its
				    own threads keep their latency while a pull saturates
				    the CPUs; 0 = unchanged */
	bool no_sync;            /* no fsync (tests) */
	bool deferred;           /* no thread until pull_engine_start(): a daemon makes
				    the engine before it forks, and starts it after */
};

struct pull_engine;

/* Start the engine thread (and initialise libcurl once: curl_global_init
 * is thread-safe in libcurl >= 7.84). */
int pull_engine_new(const struct pull_config *c, struct pull_engine **ret, struct berr *err);
/* Start the thread of an engine made with deferred (once; 0 if it runs). */
int pull_engine_start(struct pull_engine *e, struct berr *err);
/* Cancel every pull and fetch (their callbacks run with -ECANCELED), stop
 * the threads, free.  NULL-safe; returns NULL. */
struct pull_engine *pull_engine_free(struct pull_engine *e);

/* Called once when a pull ends, on the engine thread, without any engine
 * lock held (it may call pull_* functions).  result is 0 (dest now holds
 * the verified bundle: register it, or remove it if registering fails),
 * -ECANCELED, or another negative errno with err's sentence. */
typedef void (*pull_done_fn)(void *opaque, const char *dest, int result,
			     const struct berr *err);

struct pull_request {
	const char *url;          /* http, https or file URL of the .tar.zst */
	const char *sha256;       /* of the .tar.zst: the catalog entry's */
	uint64_t size;            /* of the .tar.zst */
	uint64_t max_unpacked;    /* the entry's unpacked_size (0: the bundle.h default) */
	const char *kind, *name;  /* the manifest must say these */
	const char *dest;         /* created by rename; must not exist; its parent must */
	bool archive_trusted;     /* sha256 and size come from a signed index, so matching
				     them proves every byte: the files' own sums are not
				     computed again (bundle_limits.no_file_sums) */
	pull_done_fn done;        /* may be NULL */
	void *opaque;
};

/* Start a pull, or join the running pull of the same sha256 (then done is
 * called for both).  Returns 0 (started), 1 (joined) or a negative errno:
 * -EINVAL for a bad request, -EBUSY when the same bundle is being pulled
 * to another destination, -ESHUTDOWN when the engine stops. */
int pull_start(struct pull_engine *e, const struct pull_request *r, struct berr *err);

/* Stop the pull of sha256: the transfer ends, the unpacked files are
 * removed, the partial download is kept for the next pull to resume.
 * -ENOENT when no such pull runs. */
int pull_cancel(struct pull_engine *e, const char *sha256, struct berr *err);

enum pull_state {
	PULL_RUNNING,    /* downloading (and unpacking) */
	PULL_RETRYING,   /* waiting before the next attempt */
	PULL_VERIFYING,  /* downloaded; unpacking/checking the rest */
	PULL_DONE,
	PULL_FAILED,
	PULL_CANCELLED,
};
const char *pull_state_name(enum pull_state s);

struct pull_progress {
	enum pull_state state;
	uint64_t done, total;     /* bytes of the .tar.zst */
	uint64_t rate;            /* bytes/s over the last seconds; 0 = unknown */
	int64_t eta_s;            /* -1 = unknown */
	int attempts;
	char err[BERR_MSG_MAX];   /* FAILED: the sentence; RETRYING: the last failure */
};

/* Progress of the running pull of sha256, or the outcome of the last one
 * (the engine remembers the last 64).  -ENOENT when unknown. */
int pull_get_progress(struct pull_engine *e, const char *sha256, struct pull_progress *ret);

/* "bytes 104857600 of 734003200 rate 52.1MB/s eta 12s" (rate and eta "-"
 * when unknown), for a progress file. */
void pull_progress_format(const struct pull_progress *p, char *buf, size_t len);

/* Small fetches into memory (pull_fetch, its result and callback). */
#include "pull_fetch.h"

#endif
