/* core/pull_int.h: what the files of the pull engine share (pull.c the
 * engine, its jobs and its thread; pull_http.c transfers and the partial
 * file; pull_unpack.c the unpacking thread; pull_fetch.c small fetches).
 * Not an API: only those files include it.
 *
 * Threads: the engine thread owns the curl multi handle, every easy
 * handle, the .part descriptors and every field marked "engine"; each
 * bundle pull has an unpacking thread that reads the .part as it grows.
 * e->lock guards the job list, the fields marked "lock", and the history;
 * e->cond wakes unpackers waiting for bytes.  Callbacks to the caller run
 * on the engine thread with no lock held. */
#ifndef BANGER_PULL_INT_H
#define BANGER_PULL_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pull.h"
#include "util.h"

#define HISTORY_MAX 64
#define RATE_SAMPLES 24          /* one per 250 ms: 6 s of history */
#define SAMPLE_MS 250
#define BACKOFF_MAX_MS 30000
#define FETCH_TIMEOUT_S 60
#ifndef BANGER_VERSION
#define BANGER_VERSION "dev"
#endif

enum xfer_type { T_JOB, T_FETCH };

enum verdict {
	V_NONE,
	V_TRANSIENT,  /* retry, resuming */
	V_DISCARD,    /* drop the partial file, retry from zero */
	V_FATAL,      /* give up, keep the partial file */
	V_FATAL_BAD,  /* give up, the partial file is wrong: drop it */
};

struct waiter {
	pull_done_fn done;
	void *opaque;
};

struct job {
	enum xfer_type type;     /* T_JOB: first, for CURLOPT_PRIVATE */
	struct job *next;        /* lock */
	struct pull_engine *e;
	char sha[SHA256_HEX_LEN + 1];
	char *url, *kind, *name, *dest;
	uint64_t size, max_unpacked;
	bool trusted;            /* archive_trusted */
	struct waiter *w;        /* lock */
	size_t nw;               /* lock */

	/* engine */
	bool started, local, cancelling, fresh_retry_done, xfer_running;
	bool resumed;            /* bytes from an earlier attempt or pull were kept */
	char *src_path, *meta_path;
	int part_fd;
	CURL *easy;
	struct curl_slist *hdrs;
	uint64_t req_from, attempt_from;
	long status;
	bool headers_done;
	char etag[256], last_modified[128];          /* validators of the .part */
	char r_etag[256], r_lm[128], r_range[128];   /* of the response */
	int64_t r_length;                            /* Content-Length, -1 = none */
	enum verdict verdict;
	struct berr dl_err;
	int attempts, total_attempts;
	int64_t retry_at;        /* mono ms, 0 = none */
	int64_t sample_t[RATE_SAMPLES];
	uint64_t sample_b[RATE_SAMPLES];
	unsigned nsamples;       /* lock (read by pull_get_progress) */

	/* lock: shared with the unpacker */
	uint64_t have;           /* bytes in the .part (local: the file's size) */
	unsigned gen;            /* bumped when the .part restarts from zero */
	bool dl_complete, dl_failed;
	uint64_t xpos;           /* bytes the unpacker has read */
	bool cancel_req;
	enum pull_state state;
	char last_err[BERR_MSG_MAX];
	atomic_bool cancel;

	/* unpacker */
	pthread_t xthread;
	bool xrunning;           /* engine: created, not joined */
	bool xdone;              /* lock */
	int xresult;
	struct berr xerr;
};

struct fetch {
	enum xfer_type type;     /* T_FETCH */
	struct fetch *next;
	char *url, *inm;
	size_t max;
	pull_fetch_fn cb;
	void *opaque;
	CURL *easy;
	struct curl_slist *hdrs;
	struct sbuf body;
	bool too_big;
	char etag[256];
};

struct hist {
	char sha[SHA256_HEX_LEN + 1];
	struct pull_progress p;
};

struct pull_engine {
	struct pull_config cfg;
	char *blob_dir;
	pthread_t thread;
	bool running;              /* thread started (deferred engines: by pull_engine_start) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	CURLM *multi;
	struct job *jobs;          /* lock */
	struct fetch *new_fetches; /* lock */
	struct fetch *fetches;     /* engine */
	struct hist hist[HISTORY_MAX]; /* lock */
	unsigned nhist;            /* lock */
	bool stopping;             /* lock */
	atomic_uint tmp_seq;
};

/* Wake the engine thread (from any thread): its loop runs again.  Here,
 * not in pull.c, because the files below the engine (pull_fetch.c, the
 * unpacker) wake it too. */
static inline void pull_wake(struct pull_engine *e)
{
	curl_multi_wakeup(e->multi);
}

/* pull_http.c: transfers of bundle jobs and their partial files */
void pull_meta_load(struct job *j);
void pull_part_reset(struct pull_engine *e, struct job *j);
void pull_part_remove(struct job *j);
void pull_header_value(const char *line, size_t n, size_t skip, char *out, size_t len);
typedef size_t (*curl_cb)(char *, size_t, size_t, void *);
void pull_easy_common(struct pull_engine *e, CURL *c, const char *u, void *priv, curl_cb on_hdr,
		      curl_cb on_data);
void pull_xfer_start(struct pull_engine *e, struct job *j);
void pull_xfer_stop(struct pull_engine *e, struct job *j);
void pull_xfer_done(struct pull_engine *e, struct job *j, CURLcode res);

/* pull_unpack.c */
void *pull_unpack_main(void *job);
char *pull_dir_of(const char *path); /* xmalloc'ed */

/* pull_fetch.c */
void pull_fetch_begin(struct pull_engine *e, struct fetch *f);
void pull_fetch_done(struct pull_engine *e, struct fetch *f, CURLcode res);
void pull_fetch_end(struct fetch *f, int status, struct berr *err);

#endif
