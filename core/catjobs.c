/* core/catjobs.c: the records behind images/ and kernels/ entries that
 * are not (only) in the store (see catjobs.h). */
#define _GNU_SOURCE
#include "catjobs.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

struct catjobs *catjobs_new(void)
{
	struct catjobs *j = xcalloc(1, sizeof(*j));
	pthread_mutex_init(&j->lock, NULL);
	return j;
}

struct catjobs *catjobs_free(struct catjobs *j)
{
	if (!j)
		return NULL;
	for (size_t i = 0; i < j->n; i++)
		free(j->v[i]);
	free(j->v);
	free(j->hash);
	pthread_mutex_destroy(&j->lock);
	free(j);
	return NULL;
}

/* FNV-1a of kind '/' name. */
static size_t slot_of(const char *kind, const char *name, size_t cap)
{
	uint64_t h = 14695981039346656037ULL;
	for (const char *p = kind; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (size_t)h & (cap - 1);
}

/* lock held */
static struct catjob **lookup_slot(struct catjobs *j, const char *kind, const char *name)
{
	if (!j->hcap)
		return NULL;
	for (size_t i = slot_of(kind, name, j->hcap);; i = (i + 1) & (j->hcap - 1)) {
		struct catjob *r = j->hash[i];
		if (!r || (strcmp(r->name, name) == 0 && strcmp(r->kind, kind) == 0))
			return &j->hash[i];
	}
}

/* lock held: keep the table at most half full */
static void hash_grow(struct catjobs *j)
{
	if (j->hcap && (j->n + 1) * 2 <= j->hcap)
		return;
	size_t cap = j->hcap ? j->hcap * 2 : 64;
	free(j->hash);
	j->hash = xcalloc(cap, sizeof(*j->hash));
	j->hcap = cap;
	for (size_t i = 0; i < j->n; i++)
		*lookup_slot(j, j->v[i]->kind, j->v[i]->name) = j->v[i];
}

struct catjob *catjobs_find(struct catjobs *j, const char *kind, const char *name)
{
	pthread_mutex_lock(&j->lock);
	struct catjob **s = lookup_slot(j, kind, name);
	struct catjob *r = s ? *s : NULL;
	pthread_mutex_unlock(&j->lock);
	return r;
}

struct catjob *catjobs_get(struct catjobs *j, const char *kind, const char *name)
{
	struct catjob *r = NULL, **s;
	if (strlen(kind) >= sizeof(r->kind) || strlen(name) >= sizeof(r->name))
		return NULL;
	pthread_mutex_lock(&j->lock);
	s = lookup_slot(j, kind, name);
	if ((s && *s) || j->n >= CATJOBS_MAX) {
		r = s ? *s : NULL;
		goto out;
	}
	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 32;
		j->v = xrealloc(j->v, j->cap * sizeof(*j->v));
	}
	r = xcalloc(1, sizeof(*r));
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->id = CATALOG_VIRT_ID + (int64_t)j->n;
	atomic_init(&r->cancel, 0);
	hash_grow(j);
	j->v[j->n++] = r;
	*lookup_slot(j, kind, name) = r;
out:
	pthread_mutex_unlock(&j->lock);
	return r;
}

struct catjob *catjobs_by_id(struct catjobs *j, int64_t id)
{
	struct catjob *r = NULL;
	pthread_mutex_lock(&j->lock);
	if (id >= CATALOG_VIRT_ID && id - CATALOG_VIRT_ID < (int64_t)j->n)
		r = j->v[id - CATALOG_VIRT_ID];
	pthread_mutex_unlock(&j->lock);
	return r;
}

void catjobs_set_err(struct catjobs *j, struct catjob *r, const char *msg)
{
	pthread_mutex_lock(&j->lock);
	snprintf(r->err, sizeof(r->err), "%s", msg ? msg : "");
	pthread_mutex_unlock(&j->lock);
}

void catjobs_snapshot(struct catjobs *j, const struct catjob *r, struct catjob *ret)
{
	pthread_mutex_lock(&j->lock);
	memcpy(ret, r, sizeof(*ret));
	pthread_mutex_unlock(&j->lock);
}
