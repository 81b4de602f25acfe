/* core/catoci.c: OCI images into images/ (see catoci.h).
 *
 * Each build runs oci_pull or oci_import_layout in a worker thread of its
 * own (at niceness 10, like the pull engine, so the tree keeps its
 * latency), into STATE/images/.oci-NAME (the builder's own temporary
 * directory, .oci-NAME.tmp-*, beside it), with banger's init and sshd
 * injected; catalog_register() then renames it to STATE/images/NAME.
 * Progress events land in the entry's record (catjobs.h); a cancel (rmdir,
 * echo cancel) sets the record's flag, which the builder checks. */
#define _GNU_SOURCE
#include "catoci.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "catjobs.h"
#include "log.h"
#include "manifest.h"
#include "oci.h"
#include "util.h"

struct ocijob {
	struct catalog *c;
	struct catjob *jr;
	bool layout, insecure;
	char *ref;
};

static void changed(struct catalog *c)
{
	if (c->changed)
		c->changed(c->ctx);
}

/* The builder's events (its thread). */
static void on_progress(const struct oci_progress *p, void *ctx)
{
	struct ocijob *oj = ctx;
	struct catjobs *j = oj->c->jobs;
	struct catjob_oci *o = &oj->jr->oci;

	pthread_mutex_lock(&j->lock);
	if (p->layers)
		o->layers = p->layers;
	if (p->phase != o->phase) {
		o->phase = p->phase;
		o->phase_ms = mono_ms();
	}
	if (p->layer >= 1 && p->layer <= CATJOB_LAYERS) {
		struct catjob_layer *l = &o->layer[p->layer - 1];
		l->seen = true;
		l->phase = p->phase;
		l->done = p->done;
		if (p->total)
			l->total = p->total;
		if (p->phase == OCI_PHASE_FETCH)
			l->cached = p->cached;
		if (p->digest)
			snprintf(l->digest, sizeof(l->digest), "%s", p->digest);
	}
	pthread_mutex_unlock(&j->lock);
}

static void *worker(void *arg)
{
	struct ocijob *oj = arg;
	struct catalog *c = oj->c;
	struct catjob *jr = oj->jr;
	struct berr err = { 0 };
	sigset_t all;
	int r;

	/* Signals are the main thread's (libfuse's handler). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);

	_cleanup_free_ char *bundle = xasprintf("%s/images/.oci-%s", c->state_dir, jr->name);
	rm_rf(bundle); /* an earlier daemon's */
	struct oci_opts o = {
		.cache_dir = c->cache_dir, .auth_file = c->docker_config, .insecure = oj->insecure,
		.headroom = c->oci_headroom, .no_headroom = c->oci_headroom == 0,
		.inject_dir = c->inject_dir, .progress = on_progress, .progress_ctx = oj,
		.cancel = &jr->cancel,
	};
	blog("image %s: %s %s", jr->name, oj->layout ? "importing the OCI layout" : "pulling",
	     oj->ref);
	if (oj->layout)
		r = oci_import_layout(oj->ref, jr->name, bundle, &o, &err);
	else
		r = oci_pull(oj->ref, jr->name, bundle, &o, &err);
	if (r == 0) {
		_cleanup_free_ char *from = xasprintf("oci:%s", oj->ref);
		r = catalog_register(c, bundle, from, "image", jr->name, NULL, 0, &err);
		if (r < 0)
			rm_rf(bundle);
	}
	pthread_mutex_lock(&c->jobs->lock);
	if (r == 0 || jr->hidden) {
		/* registered, or removed meanwhile: nothing more to show */
		jr->state = CJS_IDLE;
		jr->type = CJ_NONE;
		jr->err[0] = '\0';
	} else {
		jr->state = CJS_FAILED;
		snprintf(jr->err, sizeof(jr->err), "%s", err.msg);
	}
	jr->hidden = false;
	jr->finished = true;
	pthread_mutex_unlock(&c->jobs->lock);
	if (r < 0)
		blog("image %s: %s", jr->name, err.msg);
	free(oj->ref);
	free(oj);
	changed(c);
	return NULL;
}

/* A reference or a layout argument: printable, no spaces (a ctl word). */
static int check_ref(const char *ref, bool layout, struct berr *err)
{
	size_t n = strlen(ref);
	if (n == 0 || n > 480)
		return berr_set(err, EINVAL, "an OCI %s must be 1-480 characters",
				layout ? "layout path" : "reference");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)ref[i] <= 0x20 || ref[i] == 0x7f)
			return berr_set(err, EINVAL, "an OCI %s cannot hold spaces or control characters",
					layout ? "layout path" : "reference");
	if (layout && ref[0] != '/')
		return berr_set(err, EINVAL, "import-oci needs an absolute layout path, not '%.200s'",
				ref);
	return 0;
}

/* One start at a time: the checks, the join of a finished worker and the
 * new thread go together. */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

static int start_locked(struct catalog *c, bool layout, const char *ref, const char *name,
			bool insecure, struct berr *err);

int catoci_start(struct catalog *c, bool layout, const char *ref, const char *name,
		 bool insecure, struct berr *err)
{
	pthread_mutex_lock(&start_lock);
	int r = start_locked(c, layout, ref, name, insecure, err);
	pthread_mutex_unlock(&start_lock);
	return r;
}

static int start_locked(struct catalog *c, bool layout, const char *ref, const char *name,
			bool insecure, struct berr *err)
{
	struct catjob *jr;
	int r, running = 0;

	if ((r = check_ref(ref, layout, err)) < 0 || (r = bundle_name_check(name, err)) < 0)
		return r;
	if (catalog_name_reserved(name))
		return berr_set(err, EINVAL, "'%s' cannot name an image (the tree's own file)", name);
	if (!c->inject_dir)
		return berr_set(err, ENOENT, "banger's init for container images is not installed "
				"(make builds build/guest/inject; set oci_inject_dir in config.toml)");
	if (catalog_registered(c, "image", name))
		return berr_set(err, EEXIST, "image '%s' is already registered (rmdir images/%s "
				"first to replace it)", name, name);
	if (!(jr = catjobs_get(c->jobs, "image", name)))
		return berr_set(err, ENOSPC, "too many images and kernels are known");

	pthread_mutex_lock(&c->jobs->lock);
	if (c->jobs->stopping) {
		pthread_mutex_unlock(&c->jobs->lock);
		return berr_set(err, ESHUTDOWN, "the daemon is stopping");
	}
	for (size_t i = 0; i < c->jobs->n; i++)
		running += c->jobs->v[i]->type == CJ_OCI && c->jobs->v[i]->state == CJS_RUNNING;
	bool busy = jr->state == CJS_RUNNING, reap = jr->joinable && jr->finished;
	pthread_mutex_unlock(&c->jobs->lock);
	if (busy)
		return berr_set(err, EBUSY, "image '%s' is being %s already", name,
				jr->hidden ? "cancelled" : "pulled");
	if (running >= CATOCI_MAX_RUNNING)
		return berr_set(err, EBUSY, "%d OCI images are being built already; try again "
				"when one is done", running);
	if (reap) {
		pthread_join(jr->thread, NULL);
		jr->joinable = false;
	}

	struct ocijob *oj = xcalloc(1, sizeof(*oj));
	oj->c = c;
	oj->jr = jr;
	oj->layout = layout;
	oj->insecure = insecure;
	oj->ref = xstrdup(ref);
	pthread_mutex_lock(&c->jobs->lock);
	jr->type = CJ_OCI;
	jr->state = CJS_RUNNING;
	jr->hidden = false;
	jr->finished = false;
	jr->err[0] = '\0';
	jr->sha[0] = '\0';
	snprintf(jr->source, sizeof(jr->source), "%s", ref);
	memset(&jr->oci, 0, sizeof(jr->oci));
	jr->oci.phase_ms = mono_ms();
	atomic_store(&jr->cancel, 0);
	r = pthread_create(&jr->thread, NULL, worker, oj);
	if (r == 0) {
		jr->joinable = true;
	} else {
		jr->state = CJS_FAILED;
		snprintf(jr->err, sizeof(jr->err), "cannot start a worker thread: %s", strerror(r));
	}
	pthread_mutex_unlock(&c->jobs->lock);
	if (r != 0) {
		free(oj->ref);
		free(oj);
		return berr_set(err, r, "cannot start a worker thread: %s", strerror(r));
	}
	changed(c);
	return 0;
}

void catoci_stop(struct catalog *c)
{
	if (!c->jobs)
		return;
	pthread_mutex_lock(&start_lock);
	pthread_mutex_lock(&c->jobs->lock);
	c->jobs->stopping = true; /* no new worker from here on */
	pthread_mutex_unlock(&c->jobs->lock);
	/* Records are never freed before catjobs_free: walk them by index. */
	for (size_t i = 0;; i++) {
		struct catjob *jr = NULL;
		pthread_mutex_lock(&c->jobs->lock);
		if (i < c->jobs->n) {
			jr = c->jobs->v[i];
			atomic_store(&jr->cancel, 1);
		}
		bool join = jr && jr->joinable;
		pthread_mutex_unlock(&c->jobs->lock);
		if (!jr)
			break;
		if (join) {
			pthread_join(jr->thread, NULL);
			jr->joinable = false;
		}
	}
	pthread_mutex_unlock(&start_lock);
}
