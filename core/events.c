/* core/events.c: see events.h. */
#define _GNU_SOURCE
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

struct line {
	uint64_t seq;
	int64_t id;
	bool state;                 /* a state line (or "deleted"): wait reads these */
	char text[EVENTS_LINE_MAX]; /* "NAME WHAT\n" */
	char what[24];
};

struct known {
	int64_t id;
	char name[STORE_NAME_MAX];
	char state[16];
};

struct touch {
	uint64_t gen;
	int64_t id;
};

struct events {
	pthread_mutex_t lock;        /* everything below */
	struct line lines[EVENTS_LINES];
	uint64_t next;               /* the next line's number; the first is 1 */
	struct touch touches[EVENTS_TOUCHES];
	uint64_t gen;                /* the last touch's generation */
	struct known *vms;
	size_t nvms, capvms;
	struct events_unlink unlinks[EVENTS_UNLINKS];
	uint64_t nunlinks;           /* unlinks ever made */
};

struct events *events_new(void)
{
	struct events *e = xcalloc(1, sizeof(*e));
	pthread_mutex_init(&e->lock, NULL);
	e->next = 1;
	e->gen = 1;
	return e;
}

void events_free(struct events *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->lock);
	free(e->vms);
	free(e);
}

/* e->lock held. */
static void touch(struct events *e, int64_t id)
{
	e->gen++;
	e->touches[e->gen % EVENTS_TOUCHES] = (struct touch){ e->gen, id };
}

static struct known *find(struct events *e, int64_t id)
{
	for (size_t i = 0; i < e->nvms; i++)
		if (e->vms[i].id == id)
			return &e->vms[i];
	return NULL;
}

static struct known *remember(struct events *e, int64_t id, const char *name)
{
	struct known *k = find(e, id);
	if (!k) {
		if (e->nvms == e->capvms) {
			e->capvms = e->capvms ? e->capvms * 2 : 16;
			e->vms = xrealloc(e->vms, e->capvms * sizeof(*e->vms));
		}
		k = &e->vms[e->nvms++];
		memset(k, 0, sizeof(*k));
		k->id = id;
	}
	if (name && name[0])
		snprintf(k->name, sizeof(k->name), "%s", name);
	return k;
}

static void forget(struct events *e, int64_t id)
{
	struct known *k = find(e, id);
	if (k)
		*k = e->vms[--e->nvms];
}

static void add_line(struct events *e, int64_t id, const char *name, const char *what,
		     bool state)
{
	struct line *l = &e->lines[e->next % EVENTS_LINES];
	l->seq = e->next++;
	l->id = id;
	l->state = state;
	snprintf(l->what, sizeof(l->what), "%s", what);
	snprintf(l->text, sizeof(l->text), "%s %s\n", name[0] ? name : "-", what);
}

void events_touch(struct events *e, int64_t id)
{
	pthread_mutex_lock(&e->lock);
	touch(e, id);
	pthread_mutex_unlock(&e->lock);
}

uint64_t events_gen(struct events *e)
{
	pthread_mutex_lock(&e->lock);
	uint64_t g = e->gen;
	pthread_mutex_unlock(&e->lock);
	return g;
}

void events_known(struct events *e, int64_t id, const char *name, const char *state)
{
	pthread_mutex_lock(&e->lock);
	struct known *k = remember(e, id, name);
	snprintf(k->state, sizeof(k->state), "%s", state);
	pthread_mutex_unlock(&e->lock);
}

void events_state(struct events *e, int64_t id, const char *name, const char *state)
{
	pthread_mutex_lock(&e->lock);
	struct known *k = remember(e, id, name);
	if (strcmp(k->state, state) != 0) {
		snprintf(k->state, sizeof(k->state), "%s", state);
		add_line(e, id, k->name, state, true);
	}
	touch(e, id);
	pthread_mutex_unlock(&e->lock);
}

void events_line(struct events *e, int64_t id, const char *name, const char *what)
{
	bool gone = strcmp(what, "deleted") == 0;
	pthread_mutex_lock(&e->lock);
	struct known *k = remember(e, id, name);
	char shown[STORE_NAME_MAX];
	snprintf(shown, sizeof(shown), "%s", k->name);
	if (gone)
		forget(e, id);
	add_line(e, id, shown, what, gone);
	touch(e, id);
	touch(e, 0); /* a listing changed (created, deleted) or a root file might */
	pthread_mutex_unlock(&e->lock);
}

uint64_t events_seq(struct events *e)
{
	pthread_mutex_lock(&e->lock);
	uint64_t s = e->next;
	pthread_mutex_unlock(&e->lock);
	return s;
}

static uint64_t oldest(const struct events *e)
{
	return e->next > EVENTS_LINES ? e->next - EVENTS_LINES : 1;
}

size_t events_read(struct events *e, uint64_t *cursor, struct sbuf *out, size_t max)
{
	size_t added = 0;
	pthread_mutex_lock(&e->lock);
	uint64_t first = oldest(e);
	if (*cursor < first) {
		char lost[48];
		int n = snprintf(lost, sizeof(lost), "lost %llu\n",
				 (unsigned long long)(first - *cursor));
		if ((size_t)n > max && max)
			goto out; /* not even that fits: the next read */
		sbuf_add(out, lost, (size_t)n);
		added += (size_t)n;
		*cursor = first;
	}
	while (*cursor < e->next) {
		const struct line *l = &e->lines[*cursor % EVENTS_LINES];
		size_t n = strlen(l->text);
		if (added + n > max && added)
			break;
		sbuf_add(out, l->text, n);
		added += n;
		(*cursor)++;
	}
out:
	pthread_mutex_unlock(&e->lock);
	return added;
}

int events_next_state(struct events *e, int64_t id, uint64_t seq, char *buf, size_t len)
{
	int r = -EAGAIN;
	pthread_mutex_lock(&e->lock);
	if (seq < oldest(e)) {
		r = -ESTALE;
	} else {
		for (uint64_t s = seq; s < e->next; s++) {
			const struct line *l = &e->lines[s % EVENTS_LINES];
			if (l->id == id && l->state) {
				snprintf(buf, len, "%s", l->what);
				r = 0;
				break;
			}
		}
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

void events_unlink(struct events *e, unsigned dir_kind, int64_t dir_id, const char *name)
{
	pthread_mutex_lock(&e->lock);
	struct events_unlink *u = &e->unlinks[e->nunlinks++ % EVENTS_UNLINKS];
	u->dir_kind = dir_kind;
	u->dir_id = dir_id;
	snprintf(u->name, sizeof(u->name), "%s", name);
	pthread_mutex_unlock(&e->lock);
}

size_t events_unlinked(struct events *e, uint64_t *cursor, struct events_unlink *out, size_t cap)
{
	size_t n = 0;
	pthread_mutex_lock(&e->lock);
	if (e->nunlinks - *cursor > EVENTS_UNLINKS)
		*cursor = e->nunlinks - EVENTS_UNLINKS;
	while (*cursor < e->nunlinks && n < cap)
		out[n++] = e->unlinks[(*cursor)++ % EVENTS_UNLINKS];
	pthread_mutex_unlock(&e->lock);
	return n;
}

int events_touched(struct events *e, uint64_t *gen, int64_t *ids, size_t cap)
{
	size_t n = 0;
	int r = 0;
	pthread_mutex_lock(&e->lock);
	if (e->gen - *gen >= EVENTS_TOUCHES) {
		r = -E2BIG;
		goto out;
	}
	for (uint64_t g = *gen + 1; g <= e->gen; g++) {
		int64_t id = e->touches[g % EVENTS_TOUCHES].id;
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = ids[i] == id;
		if (seen)
			continue;
		if (n == cap) {
			r = -E2BIG;
			goto out;
		}
		ids[n++] = id;
	}
	r = (int)n;
out:
	*gen = e->gen;
	pthread_mutex_unlock(&e->lock);
	return r;
}
