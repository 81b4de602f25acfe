/* core/catview.c: images/ and kernels/ as the tree shows them (see
 * catview.h): which names exist, what state each is in, their progress,
 * removing and cancelling. */
#define _GNU_SOURCE
#include "catview.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catsync.h"
#include "log.h"
#include "pull.h"
#include "util.h"

/* A listing starts at most one background refresh a minute (a catalog
 * that is offline is not asked on every ls). */
#define AUTO_REFRESH_MS 60000

const char *cv_state_name(enum cv_state s)
{
	static const char *const names[] = { "ready", "pulling", "failed", "available",
					     "buildable" };
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

/* A record that shows by itself: a pull or build running, or failed. */
static bool job_shows(struct catjobs *j, struct catjob *r, enum cv_state *ret)
{
	bool yes = false;
	if (!r)
		return false;
	pthread_mutex_lock(&j->lock);
	if (r->type != CJ_NONE && !r->hidden && r->state != CJS_IDLE) {
		yes = true;
		if (ret)
			*ret = r->state == CJS_RUNNING ? CV_PULLING : CV_FAILED;
	}
	pthread_mutex_unlock(&j->lock);
	return yes;
}

static void auto_refresh(struct catalog *c)
{
	if (!c->sync)
		return;
	int64_t now = mono_ms();
	bool go = false;
	pthread_mutex_lock(&c->jobs->lock);
	if (!c->jobs->auto_refresh_ms || now - c->jobs->auto_refresh_ms >= AUTO_REFRESH_MS) {
		c->jobs->auto_refresh_ms = now;
		go = true;
	}
	pthread_mutex_unlock(&c->jobs->lock);
	if (go)
		catsync_refresh(c->sync, false); /* only those older than catalog_ttl */
}

/* ---- listing and lookup -------------------------------------------- */

struct cand {
	char name[STORE_NAME_MAX];
	int64_t id;
	int prio;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	return r ? r : x->prio - y->prio;
}

static void cand_add(struct cand **v, size_t *n, size_t *cap, const char *name, int64_t id,
		     int prio)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	snprintf((*v)[*n].name, sizeof((*v)[*n].name), "%s", name);
	(*v)[*n].id = id;
	(*v)[*n].prio = prio;
	(*n)++;
}

int catview_list(struct catalog *c, const char *kind, struct cv_entry **ret, size_t *ret_n)
{
	struct image_rec *all = NULL;
	struct cand *v = NULL;
	size_t nall = 0, n = 0, cap = 0;
	int r;

	*ret = NULL;
	*ret_n = 0;
	auto_refresh(c);
	if ((r = store_image_list(c->store, kind, &all, &nall, NULL)) < 0)
		return r;
	for (size_t i = 0; i < nall; i++) {
		struct catjob *jr = catalog_name_reserved(all[i].name)
					    ? NULL : catjobs_get(c->jobs, kind, all[i].name);
		cand_add(&v, &n, &cap, all[i].name, jr ? jr->id : all[i].id, 0);
	}
	image_rec_array_free(all, nall);

	pthread_mutex_lock(&c->jobs->lock);
	for (size_t i = 0; i < c->jobs->n; i++) {
		struct catjob *jr = c->jobs->v[i];
		if (strcmp(jr->kind, kind) == 0 && jr->type != CJ_NONE && !jr->hidden &&
		    jr->state != CJS_IDLE)
			cand_add(&v, &n, &cap, jr->name, jr->id, 1);
	}
	pthread_mutex_unlock(&c->jobs->lock);

	if (c->sync) {
		size_t nn = 0;
		char **names = catsync_names(c->sync, kind, &nn);
		for (size_t i = 0; i < nn; i++) {
			struct catjob *jr = catalog_name_reserved(names[i])
						    ? NULL : catjobs_get(c->jobs, kind, names[i]);
			if (jr)
				cand_add(&v, &n, &cap, names[i], jr->id, 2);
			free(names[i]);
		}
		free(names);
	}
	const struct catalog_known *k[8];
	size_t nk = catalog_recipes(kind, k, ARRAY_SIZE(k));
	for (size_t i = 0; i < nk; i++) {
		struct catjob *jr = catjobs_get(c->jobs, kind, k[i]->name);
		if (jr)
			cand_add(&v, &n, &cap, k[i]->name, jr->id, 3);
	}

	if (n)
		qsort(v, n, sizeof(*v), cand_cmp);
	*ret = xcalloc(n ? n : 1, sizeof(**ret));
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(v[i].name, v[i - 1].name) == 0)
			continue;
		(*ret)[*ret_n].id = v[i].id;
		snprintf((*ret)[*ret_n].name, sizeof((*ret)[*ret_n].name), "%s", v[i].name);
		(*ret_n)++;
	}
	free(v);
	return 0;
}

/* What kind/name is now, without copies: the state and the id. */
static int resolve(struct catalog *c, const char *kind, const char *name, enum cv_state *ret_state,
		   int64_t *ret_id)
{
	struct image_rec rec = { 0 };
	enum cv_state st;
	if (strlen(name) >= STORE_NAME_MAX)
		return -ENOENT;
	if (store_image_get_by_name(c->store, kind, name, &rec, NULL) == 0) {
		/* The name's id, not the store's: it stays when a pull or a
		 * build ends (a path walked meanwhile keeps working). */
		struct catjob *r = catalog_name_reserved(name) ? NULL
							       : catjobs_get(c->jobs, kind, name);
		*ret_id = r ? r->id : rec.id;
		*ret_state = CV_READY;
		image_rec_clear(&rec);
		return 0;
	}
	struct catjob *jr = catjobs_find(c->jobs, kind, name);
	if (job_shows(c->jobs, jr, &st)) {
		*ret_id = jr->id;
		*ret_state = st;
		return 0;
	}
	if (catalog_name_reserved(name))
		return -ENOENT;
	if (catalog_listed(c, kind, name))
		st = CV_AVAILABLE;
	else if (catalog_recipe(kind, name))
		st = CV_BUILDABLE;
	else
		return -ENOENT;
	if (!jr && !(jr = catjobs_get(c->jobs, kind, name)))
		return -ENOENT;
	*ret_id = jr->id;
	*ret_state = st;
	return 0;
}

int catview_lookup(struct catalog *c, const char *kind, const char *name, int64_t *ret_id)
{
	enum cv_state st;
	return resolve(c, kind, name, &st, ret_id);
}

/* The kind and name of entry id (a store id or a virtual one); kind NULL
 * takes whichever it is. */
static int name_of(struct catalog *c, const char *kind, int64_t id, char ret_kind[16],
		   char name[STORE_NAME_MAX])
{
	if (id < CATALOG_VIRT_ID) {
		struct image_rec rec = { 0 };
		int r = store_image_get(c->store, id, &rec, NULL);
		bool ok = r == 0 && (!kind || strcmp(rec.kind, kind) == 0);
		if (ok) {
			snprintf(name, STORE_NAME_MAX, "%s", rec.name);
			snprintf(ret_kind, 16, "%s", rec.kind);
		}
		image_rec_clear(&rec);
		return ok ? 0 : -ENOENT;
	}
	struct catjob *jr = catjobs_by_id(c->jobs, id);
	if (!jr || (kind && strcmp(jr->kind, kind) != 0))
		return -ENOENT;
	snprintf(name, STORE_NAME_MAX, "%s", jr->name); /* fixed once made */
	snprintf(ret_kind, 16, "%s", jr->kind);
	return 0;
}

int catview_exists(struct catalog *c, const char *kind, int64_t id)
{
	char name[STORE_NAME_MAX], k[16];
	enum cv_state st;
	int64_t now;
	if (id < CATALOG_VIRT_ID)
		return name_of(c, kind, id, k, name);
	if (name_of(c, kind, id, k, name) < 0 || resolve(c, k, name, &st, &now) < 0 || now != id)
		return -ENOENT;
	return 0;
}

int catview_get(struct catalog *c, const char *kind, int64_t id, struct cv_info *ret)
{
	char name[STORE_NAME_MAX], k[16];
	int64_t now;
	int r;

	memset(ret, 0, sizeof(*ret));
	if ((r = name_of(c, kind, id, k, name)) < 0)
		return r;
	kind = k;
	if ((r = resolve(c, kind, name, &ret->state, &now)) < 0 || now != id) {
		memset(ret, 0, sizeof(*ret));
		return -ENOENT;
	}
	snprintf(ret->kind, sizeof(ret->kind), "%s", kind);
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	if (ret->state == CV_READY) {
		if (store_image_get_by_name(c->store, kind, name, &ret->rec, NULL) < 0) {
			cv_info_clear(ret);
			return -ENOENT;
		}
		ret->registered = true;
	}
	if (c->sync && catsync_lookup(c->sync, kind, name, &ret->ent, NULL) == 0)
		ret->listed = true;
	ret->recipe = catalog_recipe(kind, name);
	struct catjob *jr = catjobs_find(c->jobs, kind, name);
	if (jr) {
		ret->job = xmalloc(sizeof(*ret->job));
		catjobs_snapshot(c->jobs, jr, ret->job);
		if (ret->job->type == CJ_PULL && c->engine && ret->job->sha[0] &&
		    (ret->state == CV_PULLING || ret->state == CV_FAILED) &&
		    pull_get_progress(c->engine, ret->job->sha, &ret->pp) == 0)
			ret->has_progress = true;
	}
	return 0;
}

void cv_info_clear(struct cv_info *i)
{
	image_rec_clear(&i->rec);
	cat_entry_clear(&i->ent);
	free(i->job);
	memset(i, 0, sizeof(*i));
}

/* ---- progress -------------------------------------------------------- */

static void rate_eta(uint64_t done, uint64_t total, int64_t ms, char *buf, size_t len)
{
	char rate[32] = "-", eta[32] = "-";
	if (ms > 500 && done) {
		uint64_t bps = done * 1000 / (uint64_t)ms;
		double v = (double)bps;
		const char *u[] = { "B/s", "kB/s", "MB/s", "GB/s" };
		unsigned k = 0;
		while (v >= 1000 && k + 1 < ARRAY_SIZE(u)) {
			v /= 1000;
			k++;
		}
		snprintf(rate, sizeof(rate), k ? "%.1f%s" : "%.0f%s", v, u[k]);
		if (bps && total >= done)
			snprintf(eta, sizeof(eta), "%llds", (long long)((total - done + bps - 1) / bps));
	}
	snprintf(buf, len, "rate %s eta %s", rate, eta);
}

static void oci_progress(const struct catjob *jr, struct sbuf *out)
{
	const struct catjob_oci *o = &jr->oci;
	enum oci_phase ph = o->phase;
	uint64_t done = 0, total = 0;
	unsigned nl = o->layers < CATJOB_LAYERS ? o->layers : CATJOB_LAYERS;
	char re[96];

	for (unsigned i = 0; i < nl; i++) {
		const struct catjob_layer *l = &o->layer[i];
		total += l->total;
		if (!l->seen)
			continue;
		if (l->phase > ph || ph == OCI_PHASE_DONE)
			done += l->total;
		else if (l->phase == ph)
			done += l->done;
	}
	rate_eta(done, total, mono_ms() - o->phase_ms, re, sizeof(re));
	sbuf_printf(out, "bytes %llu of %llu %s\n", (unsigned long long)done,
		    (unsigned long long)total, re);
	sbuf_printf(out, "phase %s\n", jr->state == CJS_FAILED ? "failed" : oci_phase_name(ph));
	for (unsigned i = 0; i < nl; i++) {
		const struct catjob_layer *l = &o->layer[i];
		sbuf_printf(out, "layer %u/%u %s %s %llu of %llu%s\n", i + 1, o->layers,
			    l->digest[0] ? l->digest : "-", l->seen ? oci_phase_name(l->phase) : "waiting",
			    (unsigned long long)(l->seen && l->phase < ph ? l->total : l->done),
			    (unsigned long long)l->total, l->cached ? " cached" : "");
	}
}

void catview_progress(const struct cv_info *i, struct sbuf *out)
{
	if (!i->job || (i->state != CV_PULLING && i->state != CV_FAILED))
		return;
	if (i->job->type == CJ_PULL && i->has_progress) {
		char line[256];
		pull_progress_format(&i->pp, line, sizeof(line));
		sbuf_printf(out, "%s\nphase %s\n", line, pull_state_name(i->pp.state));
	} else if (i->job->type == CJ_OCI) {
		oci_progress(i->job, out);
	}
}

/* ---- err, remove, cancel --------------------------------------------- */

void catview_set_err(struct catalog *c, const char *kind, int64_t id, const char *msg)
{
	char name[STORE_NAME_MAX], k[16];
	struct catjob *jr;
	if (name_of(c, kind, id, k, name) == 0 && (jr = catjobs_get(c->jobs, k, name)))
		catjobs_set_err(c->jobs, jr, msg);
}

/* Stop what runs for jr; its owner (the engine's callback, the worker)
 * settles the record. */
static int stop(struct catalog *c, struct catjob *jr, bool hide, struct berr *err)
{
	char sha[SHA256_HEX_LEN + 1] = "";
	enum catjob_type t;
	pthread_mutex_lock(&c->jobs->lock);
	t = jr->state == CJS_RUNNING ? jr->type : CJ_NONE;
	memcpy(sha, jr->sha, sizeof(sha));
	if (t == CJ_OCI) {
		atomic_store(&jr->cancel, 1);
		jr->hidden |= hide;
	}
	pthread_mutex_unlock(&c->jobs->lock);
	if (t == CJ_PULL && c->engine)
		return pull_cancel(c->engine, sha, err);
	if (t == CJ_NONE)
		return berr_set(err, ENOENT, "nothing is being pulled for %s '%s'", jr->kind, jr->name);
	return 0;
}

int catview_cancel(struct catalog *c, const char *kind, const char *name, struct berr *err)
{
	struct catjob *jr = catjobs_find(c->jobs, kind, name);
	if (!jr)
		return berr_set(err, ENOENT, "nothing is being pulled for %s '%s'", kind, name);
	return stop(c, jr, false, err);
}

int catview_remove(struct catalog *c, const char *kind, const char *name, struct berr *err)
{
	enum cv_state st;
	int64_t id;
	int r;

	if ((r = resolve(c, kind, name, &st, &id)) < 0)
		return r;
	struct catjob *jr = catjobs_find(c->jobs, kind, name);
	switch (st) {
	case CV_READY: {
		struct image_rec rec = { 0 };
		r = store_image_get_by_name(c->store, kind, name, &rec, err);
		if (r == 0)
			r = catalog_delete(c, rec.id, err);
		image_rec_clear(&rec);
		if (r == 0 && jr)
			catjobs_set_err(c->jobs, jr, NULL);
		return r;
	}
	case CV_PULLING:
		return stop(c, jr, true, err);
	case CV_FAILED:
		pthread_mutex_lock(&c->jobs->lock);
		if (jr->state == CJS_FAILED) {
			jr->state = CJS_IDLE;
			jr->type = CJ_NONE;
			jr->err[0] = '\0';
		}
		pthread_mutex_unlock(&c->jobs->lock);
		return 0;
	case CV_AVAILABLE:
		return berr_set(err, EPERM, "%s '%s' is not pulled: a catalog lists it, nothing is "
				"here to remove", kind, name);
	case CV_BUILDABLE:
		return berr_set(err, EPERM, "%s '%s' is not built: banger's recipes make it, nothing "
				"is here to remove", kind, name);
	}
	return -ENOENT;
}
