/* core/catpull.c: pulls from the configured catalogs (see catpull.h).
 *
 * A pull downloads STATE/KINDS/.pulled-NAME through the pull engine (its
 * unpacking directory, .pull-NAME.*, sits beside it); when the engine
 * calls back with the verified bundle, catalog_register() renames it to
 * STATE/KINDS/NAME and inserts the record.  The callback runs on the
 * engine's thread; the record (catjobs.h) says pulling until then. */
#define _GNU_SOURCE
#include "catpull.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catindex.h"
#include "catjobs.h"
#include "catsync.h"
#include "log.h"
#include "pull.h"
#include "util.h"

struct pullctx {
	struct catalog *c;
	struct catjob *jr;
	char *url;
};

static void changed(struct catalog *c)
{
	if (c->changed)
		c->changed(c->ctx);
}

/* The engine's callback: register, or record why not. */
static void pulled(void *opaque, const char *dest, int result, const struct berr *perr)
{
	struct pullctx *px = opaque;
	struct catalog *c = px->c;
	struct catjob *jr = px->jr;
	struct berr err = { 0 };
	int r = result;

	if (r == 0) {
		r = catalog_register(c, dest, px->url, jr->kind, jr->name, NULL, 0, &err);
		if (r < 0)
			rm_rf(dest);
	} else if (perr) {
		err = *perr;
	} else {
		berr_set(&err, -r, "pull of %s failed: %s", jr->name, strerror(-r));
	}
	pthread_mutex_lock(&c->jobs->lock);
	if (r == 0) {
		jr->state = CJS_IDLE;
		jr->type = CJ_NONE;
		jr->err[0] = '\0';
	} else if (r == -ECANCELED) {
		jr->state = CJS_IDLE; /* back to available: the partial download is kept */
		jr->type = CJ_NONE;
		snprintf(jr->err, sizeof(jr->err), "%s", err.msg);
	} else {
		jr->state = CJS_FAILED;
		snprintf(jr->err, sizeof(jr->err), "%s", err.msg);
	}
	pthread_mutex_unlock(&c->jobs->lock);
	if (r < 0)
		blog("%s %s: %s", jr->kind, jr->name, err.msg);
	free(px->url);
	free(px);
	changed(c);
}

int catpull_start(struct catalog *c, const char *kind, const char *name, struct berr *err)
{
	struct cat_entry e = { 0 };
	_cleanup_free_ char *dest = NULL;
	struct catjob *jr;
	int r;

	if (!c->sync || !c->engine)
		return berr_set(err, ENOENT, "no catalog is configured (catalog_url in config.toml): "
				"%s '%s' cannot be pulled", kind, name);
	if (catalog_registered(c, kind, name))
		return berr_set(err, EEXIST, "%s '%s' is already registered (rmdir %ss/%s to pull "
				"it again)", kind, name, kind, name);
	if ((r = catsync_lookup(c->sync, kind, name, &e, err)) < 0)
		return r;
	if (!(jr = catjobs_get(c->jobs, kind, name))) {
		r = berr_set(err, ENOSPC, "too many images and kernels are known");
		goto out;
	}
	pthread_mutex_lock(&c->jobs->lock);
	if (jr->state == CJS_RUNNING) {
		bool same = jr->type == CJ_PULL;
		pthread_mutex_unlock(&c->jobs->lock);
		/* A second pull joins the first. */
		r = same ? 0 : berr_set(err, EBUSY, "%s '%s' is being built from an OCI image",
					kind, name);
		goto out;
	}
	jr->type = CJ_PULL;
	jr->state = CJS_RUNNING;
	jr->hidden = false;
	jr->err[0] = '\0';
	memcpy(jr->sha, e.sha256, sizeof(jr->sha));
	snprintf(jr->source, sizeof(jr->source), "%s", e.url);
	pthread_mutex_unlock(&c->jobs->lock);

	dest = xasprintf("%s/%ss/.pulled-%s", c->state_dir, kind, name);
	rm_rf(dest); /* what an earlier daemon left */
	struct pullctx *px = xcalloc(1, sizeof(*px));
	px->c = c;
	px->jr = jr;
	px->url = xstrdup(e.url);
	struct pull_request req = {
		.url = e.url, .sha256 = e.sha256, .size = e.size, .max_unpacked = e.unpacked_size,
		.kind = e.kind, .name = e.name, .dest = dest, .archive_trusted = c->trusted,
		.done = pulled, .opaque = px,
	};
	r = pull_start(c->engine, &req, err);
	if (r < 0) {
		free(px->url);
		free(px);
		pthread_mutex_lock(&c->jobs->lock);
		jr->state = CJS_FAILED;
		snprintf(jr->err, sizeof(jr->err), "%s", err->msg);
		pthread_mutex_unlock(&c->jobs->lock);
		goto out;
	}
	if (r == 1) /* joined a pull of the same archive (another name): fine */
		r = 0;
	blog("pulling %s %s from %s", kind, name, e.url);
	changed(c);
out:
	cat_entry_clear(&e);
	return r;
}

int catpull_refresh(struct catalog *c, int wait_ms, struct berr *err)
{
	if (!c->sync)
		return berr_set(err, ENOENT, "no catalog is configured (catalog_url in config.toml)");
	catsync_refresh(c->sync, true);
	if (catsync_wait(c->sync, wait_ms) < 0)
		return berr_set(err, ETIMEDOUT, "the catalogs did not answer within %d s (see "
				"images/catalogs)", wait_ms / 1000);
	_cleanup_free_ char *st = catsync_status(c->sync);
	struct sbuf bad;
	sbuf_init(&bad);
	for (char *line = st, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		const char *e = strstr(line, " error ");
		if (e) {
			const char *sp = strchr(line, ' ');
			sbuf_printf(&bad, "%s%.*s: %s", bad.len ? "; " : "", (int)(sp - line), line,
				    e + 7);
		}
	}
	int r = 0;
	if (bad.len)
		r = berr_set(err, EHOSTUNREACH, "catalog refresh failed: %.*s (the last good index "
			     "stays in use)", 800, bad.buf);
	sbuf_free(&bad);
	changed(c);
	return r;
}

void catpull_status(struct catalog *c, struct sbuf *out)
{
	if (!c->sync)
		return;
	_cleanup_free_ char *st = catsync_status(c->sync);
	sbuf_puts(out, st);
}
