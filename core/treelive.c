/* core/treelive.c: the files whose reads wait for something to happen, and
 * the clone file (docs/tree.md):
 *
 *   vms/NAME/ready  the answer once ssh is ready ("ready") or cannot be
 *                   (the reason), then the end;
 *   vms/NAME/wait   the VM's next state after the open (or "deleted");
 *   events          one line per change for as long as it is open; a
 *                   reader that falls behind the log (core/events.h) gets
 *                   "lost N";
 *   vms/clone       opening it makes a VM that lives as long as the open
 *                   file: a read gives its name, writes are its ctl's (and
 *                   "keep" lets it outlive the file).
 *
 * Nothing here polls: a read that must wait returns *live, the adapter
 * parks it, and banger_changed() (a state change, ssh readiness) has the
 * adapter try again.  Each handle's state has its own lock: a handle may
 * be read from two threads (a parked read retried while a new one comes). */
#define _GNU_SOURCE
#include "treelive.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "treeint.h"

enum live_kind { LIVE_READY, LIVE_WAIT, LIVE_EVENTS };

struct live {
	enum live_kind kind;
	pthread_mutex_t lock;    /* everything below */
	int64_t id;
	char name[STORE_NAME_MAX];
	uint64_t seq;            /* wait: lines from here; events: the cursor */
	char state0[16];         /* wait: the state at open */
	bool decided;            /* ready, wait: text is the answer */
	struct sbuf text;        /* the answer; events: lines not yet read */
};

static struct live *live_new(enum live_kind kind, int64_t id)
{
	struct live *l = xcalloc(1, sizeof(*l));
	l->kind = kind;
	l->id = id;
	pthread_mutex_init(&l->lock, NULL);
	sbuf_init(&l->text);
	return l;
}

void live_release(struct banger *b, void *st)
{
	struct live *l = st;
	(void)b;
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	sbuf_free(&l->text);
	free(l);
}

/* ---- ready ------------------------------------------------------------------- */

/* The answer when there is one (l->lock held). */
static void ready_decide(struct banger *b, struct live *l)
{
	struct vm_rec r = { 0 };
	enum vm_state s = VM_FAILED;
	char ip[16], mac[18];

	if (store_vm_get(b->store, l->id, &r, NULL) < 0) {
		sbuf_printf(&l->text, "vm '%s' was deleted\n", l->name);
		l->decided = true;
		return;
	}
	vm_state_parse(r.state, &s);
	enum ssh_state ss = vmssh_state(b->vmssh, l->id);
	netplan_addr(&b->plan, r.net_slot, ip, mac);
	if (ss == SSH_READY) {
		sbuf_puts(&l->text, "ready\n");
	} else if (ss == SSH_FAILED) {
		sbuf_printf(&l->text, "%s\n", r.last_error && r.last_error[0] ? r.last_error
					     : "ssh to the guest failed");
	} else if (s == VM_RUNNING && !ip[0]) {
		sbuf_printf(&l->text, "vm '%s' has no network address, so ssh cannot reach it\n",
			    r.name);
	} else if (s == VM_STARTING || s == VM_RUNNING) {
		vm_rec_clear(&r);
		return; /* not yet */
	} else {
		sbuf_printf(&l->text, "vm '%s' is %s%s%s\n", r.name, r.state,
			    s == VM_FAILED && r.last_error ? ": " : "",
			    s == VM_FAILED && r.last_error ? r.last_error : "");
	}
	l->decided = true;
	vm_rec_clear(&r);
}

int live_ready_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		    struct berr *err)
{
	struct objmeta m;
	(void)who, (void)err;
	if (tree_meta(b, NK_VM, id, &m) < 0)
		return -ENOENT;
	struct live *l = live_new(LIVE_READY, id);
	snprintf(l->name, sizeof(l->name), "%s", m.name);
	*ret = l;
	return 0;
}

/* ---- wait --------------------------------------------------------------------- */

static void wait_decide(struct banger *b, struct live *l)
{
	char what[24];
	int r = events_next_state(b->events, l->id, l->seq, what, sizeof(what));
	if (r == -ESTALE) {
		/* Lines were lost: compare the state with the one at the open. */
		struct vm_rec v = { 0 };
		if (store_vm_get(b->store, l->id, &v, NULL) < 0)
			snprintf(what, sizeof(what), "deleted");
		else
			snprintf(what, sizeof(what), "%s", v.state);
		vm_rec_clear(&v);
		r = strcmp(what, l->state0) ? 0 : -EAGAIN;
		if (r < 0)
			l->seq = events_seq(b->events);
	}
	if (r == 0) {
		sbuf_printf(&l->text, "%s\n", what);
		l->decided = true;
	}
}

int live_wait_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		   struct berr *err)
{
	struct vm_rec v = { 0 };
	(void)who;
	/* The number first: a change after it is one this reader waits for. */
	uint64_t seq = events_seq(b->events);
	int r = store_vm_get(b->store, id, &v, err);
	if (r < 0)
		return r;
	struct live *l = live_new(LIVE_WAIT, id);
	l->seq = seq;
	snprintf(l->name, sizeof(l->name), "%s", v.name);
	snprintf(l->state0, sizeof(l->state0), "%s", v.state);
	vm_rec_clear(&v);
	*ret = l;
	return 0;
}

/* ready and wait: the answer, by offset, once there is one. */
ssize_t live_text_read(struct banger *b, void *st, off_t off, char *buf, size_t len, bool *live)
{
	struct live *l = st;
	ssize_t n = 0;
	pthread_mutex_lock(&l->lock);
	if (!l->decided) {
		if (l->kind == LIVE_READY)
			ready_decide(b, l);
		else
			wait_decide(b, l);
	}
	*live = !l->decided;
	if (l->decided && off >= 0 && (size_t)off < l->text.len) {
		n = (ssize_t)(l->text.len - (size_t)off < len ? l->text.len - (size_t)off : len);
		memcpy(buf, l->text.buf + off, (size_t)n);
	}
	pthread_mutex_unlock(&l->lock);
	return n;
}

bool live_text_ready(struct banger *b, void *st, off_t off)
{
	char c;
	bool live;
	return live_text_read(b, st, off, &c, 1, &live) > 0 || !live;
}

/* ---- events ------------------------------------------------------------------- */

int live_events_open(struct banger *b, int64_t id, const struct tree_caller *who, void **ret,
		     struct berr *err)
{
	(void)id, (void)who, (void)err;
	struct live *l = live_new(LIVE_EVENTS, 0);
	l->seq = events_seq(b->events); /* what happens from now on */
	*ret = l;
	return 0;
}

/* One sequence: offsets are ignored (a line is read once). */
ssize_t live_events_read(struct banger *b, void *st, off_t off, char *buf, size_t len,
			 bool *live)
{
	struct live *l = st;
	(void)off;
	pthread_mutex_lock(&l->lock);
	if (l->text.len == 0)
		events_read(b->events, &l->seq, &l->text, len > 4096 ? len : 4096);
	size_t n = l->text.len < len ? l->text.len : len;
	if (n) {
		memcpy(buf, l->text.buf, n);
		memmove(l->text.buf, l->text.buf + n, l->text.len - n);
		l->text.len -= n;
	}
	*live = n == 0;
	pthread_mutex_unlock(&l->lock);
	return (ssize_t)n;
}

bool live_events_ready(struct banger *b, void *st, off_t off)
{
	struct live *l = st;
	(void)off;
	pthread_mutex_lock(&l->lock);
	bool ready = l->text.len > 0 || l->seq < events_seq(b->events);
	pthread_mutex_unlock(&l->lock);
	return ready;
}

/* ---- clone -------------------------------------------------------------------- */

struct clone {
	pthread_mutex_t lock;
	int64_t id;
	char name[STORE_NAME_MAX];
	char text[STORE_NAME_MAX + 1];
	bool kept;
};

int live_clone_open(struct banger *b, int64_t dir, const struct tree_caller *who, void **ret,
		    struct berr *err)
{
	struct vm_owner own;
	int r;
	(void)dir;
	if ((r = tree_may_create(b, who, err)) < 0)
		return r;
	tree_owner_of(who, &own);
	own.ephemeral = true;
	struct clone *c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	/* "vm-" and six random hex digits; another try when taken. */
	for (int i = 0; i < 8; i++) {
		uint32_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)mono_ms() * 2654435761u + (uint32_t)i;
		snprintf(c->name, sizeof(c->name), "vm-%06x", rnd & 0xffffff);
		berr_clear(err);
		r = vm_create(b, c->name, &own, &c->id, err);
		if (r != -EEXIST)
			break;
	}
	if (r < 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return r;
	}
	snprintf(c->text, sizeof(c->text), "%s\n", c->name);
	*ret = c;
	return 0;
}

ssize_t live_clone_read(struct banger *b, void *st, off_t off, char *buf, size_t len, bool *live)
{
	struct clone *c = st;
	size_t tl = strlen(c->text);
	(void)b;
	*live = false;
	if (off < 0 || (size_t)off >= tl)
		return 0;
	size_t n = tl - (size_t)off < len ? tl - (size_t)off : len;
	memcpy(buf, c->text + off, n);
	return (ssize_t)n;
}

bool live_clone_ready(struct banger *b, void *st, off_t off)
{
	(void)b, (void)st, (void)off;
	return true;
}

/* "keep", or a verb of the VM's ctl. */
int live_clone_write(struct banger *b, void *st, const char *data, size_t len,
		     const struct tree_caller *who, struct berr *err)
{
	struct clone *c = st;
	size_t n = len;
	int r;
	while (n && (data[n - 1] == '\n' || data[n - 1] == ' '))
		n--;
	if (n == 4 && memcmp(data, "keep", 4) == 0) {
		r = vm_keep(b, c->id, err);
		if (r == 0) {
			pthread_mutex_lock(&c->lock);
			c->kept = true;
			pthread_mutex_unlock(&c->lock);
			blog("vm %s kept: it outlives its clone file", c->name);
		}
	} else {
		r = tree_vm_ctl(b, c->id, data, len, who, err);
	}
	if (r < 0) {
		if (!err->msg[0])
			berr_set(err, -r, "clone: %s", strerror(-r));
		tree_fail(b, NK_VM, c->id, err, "write to clone failed");
	}
	return r;
}

void live_clone_release(struct banger *b, void *st)
{
	struct clone *c = st;
	struct berr err = { 0 };
	if (!c)
		return;
	if (!c->kept) {
		if (vm_destroy(b, c->id, &err) < 0 && err.code != ENOENT)
			blog("vm %s: its clone file was closed, but it cannot be destroyed: %s",
			     c->name, err.msg);
		else
			blog("vm %s destroyed: its clone file was closed", c->name);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}
