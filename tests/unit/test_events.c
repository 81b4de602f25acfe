/* tests/unit/test_events.c: core/events.c (the change log: lines for wait
 * and events, generations and touched ids for caches, unlinks) and
 * core/treecache.c (text kept per generation and second). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "events.h"
#include "treecache.h"
#include "util.h"

static void read_all(struct events *e, uint64_t *cur, struct sbuf *out)
{
	while (events_read(e, cur, out, 4096) > 0)
		;
}

static void test_lines(void **state)
{
	(void)state;
	struct events *e = events_new();
	struct sbuf s;
	sbuf_init(&s);
	uint64_t cur = events_seq(e);

	events_known(e, 7, "old", "running");
	events_state(e, 7, "old", "running");   /* no change: no line */
	events_state(e, 1, "web", "created");
	events_state(e, 1, "web", "created");   /* the same again: no line */
	events_state(e, 1, "web", "starting");
	events_line(e, 1, NULL, "ready");       /* the name it knows */
	events_state(e, 7, NULL, "stopped");
	events_line(e, 1, NULL, "deleted");
	read_all(e, &cur, &s);
	assert_non_null(s.buf);
	assert_string_equal(s.buf, "web created\nweb starting\nweb ready\nold stopped\nweb deleted\n");
	/* nothing new */
	assert_int_equal(events_read(e, &cur, &s, 4096), 0);
	/* a small reader gets whole lines, at least one */
	uint64_t c2 = 1;
	struct sbuf t;
	sbuf_init(&t);
	assert_int_equal(events_read(e, &c2, &t, 5), strlen("web created\n"));
	assert_int_equal(c2, 2);
	sbuf_free(&t);
	sbuf_free(&s);
	events_free(e);
}

static void test_lost(void **state)
{
	(void)state;
	struct events *e = events_new();
	struct sbuf s;
	sbuf_init(&s);
	uint64_t cur = events_seq(e);
	char name[16];
	for (int i = 0; i < EVENTS_LINES + 100; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		events_line(e, i + 1, name, "created");
	}
	events_read(e, &cur, &s, 4096);
	assert_non_null(s.buf);
	assert_true(strncmp(s.buf, "lost 100\n", 9) == 0);
	assert_non_null(strstr(s.buf, "v100 created\n"));
	assert_null(strstr(s.buf, "v99 created\n"));
	read_all(e, &cur, &s);
	assert_non_null(strstr(s.buf, "v611 created\n"));
	assert_int_equal(cur, events_seq(e));
	sbuf_free(&s);
	events_free(e);
}

static void test_next_state(void **state)
{
	(void)state;
	struct events *e = events_new();
	char buf[24];
	events_state(e, 3, "a", "created");
	uint64_t seq = events_seq(e);
	assert_int_equal(events_next_state(e, 3, seq, buf, sizeof(buf)), -EAGAIN);
	events_line(e, 3, NULL, "ready");       /* not a state */
	events_state(e, 4, "b", "created");     /* another VM */
	assert_int_equal(events_next_state(e, 3, seq, buf, sizeof(buf)), -EAGAIN);
	events_state(e, 3, NULL, "starting");
	events_state(e, 3, NULL, "running");
	assert_int_equal(events_next_state(e, 3, seq, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "starting");
	uint64_t seq2 = events_seq(e);
	events_line(e, 3, NULL, "deleted");
	assert_int_equal(events_next_state(e, 3, seq2, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "deleted");
	for (int i = 0; i < EVENTS_LINES; i++)
		events_line(e, 9, "x", "ready");
	assert_int_equal(events_next_state(e, 3, seq, buf, sizeof(buf)), -ESTALE);
	events_free(e);
}

static void test_touched(void **state)
{
	(void)state;
	struct events *e = events_new();
	int64_t ids[8];
	uint64_t gen = events_gen(e);
	assert_int_equal(events_touched(e, &gen, ids, 8), 0);
	events_touch(e, 5);
	events_touch(e, 5);
	events_touch(e, 0);
	events_state(e, 6, "v", "created");
	uint64_t before = gen;
	assert_int_equal(events_touched(e, &gen, ids, 8), 3);
	assert_int_equal(ids[0], 5);
	assert_int_equal(ids[1], 0);
	assert_int_equal(ids[2], 6);
	assert_true(gen > before);
	assert_int_equal(gen, events_gen(e));
	/* more ids than the caller has room for, or than the ring keeps */
	for (int i = 1; i <= 9; i++)
		events_touch(e, i);
	assert_int_equal(events_touched(e, &gen, ids, 8), -E2BIG);
	assert_int_equal(gen, events_gen(e));
	for (int i = 0; i < EVENTS_TOUCHES + 1; i++)
		events_touch(e, 1);
	assert_int_equal(events_touched(e, &gen, ids, 8), -E2BIG);
	events_free(e);
}

static void test_unlinks(void **state)
{
	(void)state;
	struct events *e = events_new();
	struct events_unlink u[4];
	uint64_t cur = 0;
	assert_int_equal(events_unlinked(e, &cur, u, 4), 0);
	events_unlink(e, 1, 0, "web");
	events_unlink(e, 7, 3, "8080");
	assert_int_equal(events_unlinked(e, &cur, u, 4), 2);
	assert_string_equal(u[0].name, "web");
	assert_int_equal(u[1].dir_kind, 7);
	assert_int_equal(u[1].dir_id, 3);
	assert_int_equal(events_unlinked(e, &cur, u, 4), 0);
	for (int i = 0; i < EVENTS_UNLINKS + 3; i++)
		events_unlink(e, 1, 0, "x");
	size_t total = 0, n;
	while ((n = events_unlinked(e, &cur, u, 4)) > 0)
		total += n;
	assert_int_equal(total, EVENTS_UNLINKS); /* the oldest went */
	events_free(e);
}

static void test_cache(void **state)
{
	(void)state;
	struct tcache *c = tcache_new();
	struct tcache_key k = { 4, 12, 2 }, k2 = { 4, 12, 3 };
	struct sbuf s;
	sbuf_init(&s);
	assert_false(tcache_get(c, &k, 1, -1, &s));
	tcache_put(c, &k, 5, -1, "state running\n", 14);
	assert_true(tcache_get(c, &k, 5, -1, &s));
	assert_int_equal(s.len, 14);
	assert_false(tcache_get(c, &k, 6, -1, &s));   /* a change since */
	assert_false(tcache_get(c, &k2, 5, -1, &s));  /* another file */
	tcache_put(c, &k, 7, 100, "uptime 1\n", 9);
	assert_false(tcache_get(c, &k, 7, 101, &s));  /* another second */
	s.len = 0;
	assert_true(tcache_get(c, &k, 7, 100, &s));
	assert_int_equal(s.len, 9);
	tcache_put(c, &k, 6, 100, "older\n", 6);       /* a slower render loses */
	s.len = 0;
	assert_true(tcache_get(c, &k, 7, 100, &s));
	assert_int_equal(memcmp(s.buf, "uptime 1\n", 9), 0);
	/* bounded: many keys, the newest stay findable */
	for (int i = 0; i < TCACHE_MAX + 10; i++) {
		struct tcache_key ki = { 4, i, 0 };
		tcache_put(c, &ki, 8, -1, "x", 1);
	}
	struct tcache_key last = { 4, TCACHE_MAX + 9, 0 };
	assert_true(tcache_get(c, &last, 8, -1, &s));
	tcache_put(c, &k, 8, -1, "", 0);
	s.len = 0;
	assert_true(tcache_get(c, &k, 8, -1, &s));
	assert_int_equal(s.len, 0);
	sbuf_free(&s);
	tcache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_next_state),
		cmocka_unit_test(test_touched),
		cmocka_unit_test(test_unlinks),
		cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
