/* core/treecache.c: see treecache.h. */
#define _GNU_SOURCE
#include "treecache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096

struct entry {
	struct tcache_key key;
	uint64_t gen;
	int64_t sec;
	char *text;
	size_t len;
	struct entry *next;
};

struct tcache {
	pthread_mutex_t lock; /* everything below */
	struct entry *b[BUCKETS];
	size_t n;
};

static unsigned hash(const struct tcache_key *k)
{
	uint64_t h = (uint64_t)k->id * 0x9e3779b97f4a7c15ULL;
	h ^= ((uint64_t)k->kind << 40) ^ ((uint64_t)k->file << 20);
	h *= 0xff51afd7ed558ccdULL;
	return (unsigned)(h >> 52) % BUCKETS;
}

static bool same(const struct tcache_key *a, const struct tcache_key *b)
{
	return a->kind == b->kind && a->id == b->id && a->file == b->file;
}

struct tcache *tcache_new(void)
{
	struct tcache *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void drop(struct tcache *c, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->next;
	free(e->text);
	free(e);
	c->n--;
}

void tcache_free(struct tcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < BUCKETS; i++)
		while (c->b[i])
			drop(c, &c->b[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

bool tcache_get(struct tcache *c, const struct tcache_key *key, uint64_t gen, int64_t sec,
		struct sbuf *out)
{
	bool hit = false;
	pthread_mutex_lock(&c->lock);
	for (struct entry *e = c->b[hash(key)]; e; e = e->next)
		if (same(&e->key, key)) {
			if (e->gen == gen && e->sec == sec) {
				sbuf_add(out, e->text, e->len);
				hit = true;
			}
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

/* Room for one more (c->lock held): stale entries go, else everything. */
static void make_room(struct tcache *c, uint64_t gen)
{
	for (size_t i = 0; i < BUCKETS && c->n >= TCACHE_MAX; i++)
		for (struct entry **pp = &c->b[i]; *pp;)
			if ((*pp)->gen != gen)
				drop(c, pp);
			else
				pp = &(*pp)->next;
	for (size_t i = 0; i < BUCKETS && c->n >= TCACHE_MAX; i++)
		while (c->b[i])
			drop(c, &c->b[i]);
}

void tcache_put(struct tcache *c, const struct tcache_key *key, uint64_t gen, int64_t sec,
		const char *text, size_t len)
{
	pthread_mutex_lock(&c->lock);
	struct entry **pp = &c->b[hash(key)], *e = NULL;
	for (; *pp; pp = &(*pp)->next)
		if (same(&(*pp)->key, key)) {
			e = *pp;
			break;
		}
	if (e && e->gen > gen) {
		/* A newer render got here first: keep it. */
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (!e) {
		if (c->n >= TCACHE_MAX)
			make_room(c, gen);
		e = xcalloc(1, sizeof(*e));
		e->key = *key;
		unsigned h = hash(key);
		e->next = c->b[h];
		c->b[h] = e;
		c->n++;
	}
	free(e->text);
	e->text = xmalloc(len ? len : 1);
	if (len)
		memcpy(e->text, text, len);
	e->len = len;
	e->gen = gen;
	e->sec = sec;
	pthread_mutex_unlock(&c->lock);
}
