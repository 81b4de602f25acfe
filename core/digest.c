/* core/digest.c: SHA-256 streams and files (see digest.h). */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define ZERO_CHUNK (256 * 1024)
static const unsigned char zeros[ZERO_CHUNK];

int sha256_begin(struct sha256 *h)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	h->ctx = NULL;
	h->bytes = 0;
	if (!c)
		return -ENOMEM;
	if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		return -ENOMEM;
	}
	h->ctx = c;
	return 0;
}

void sha256_feed(struct sha256 *h, const void *data, size_t len)
{
	if (!len)
		return;
	EVP_DigestUpdate(h->ctx, data, len);
	h->bytes += len;
}

void sha256_feed_zeros(struct sha256 *h, uint64_t len)
{
	while (len > 0) {
		size_t n = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
		sha256_feed(h, zeros, n);
		len -= n;
	}
}

void sha256_end(struct sha256 *h, char out[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	static const char hex[] = "0123456789abcdef";

	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[SHA256_HEX_LEN] = '\0';
	sha256_abort(h);
}

void sha256_abort(struct sha256 *h)
{
	if (h && h->ctx) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
	}
}

int sha256_fd(int fd, char out[SHA256_HEX_LEN + 1], uint64_t *ret_size, struct berr *err)
{
	struct sha256 h;
	size_t cap = 1 << 20;
	unsigned char *buf;

	if (sha256_begin(&h) < 0)
		return berr_set(err, ENOMEM, "cannot start a sha256 digest");
	buf = malloc(cap);
	if (!buf) {
		sha256_abort(&h);
		return berr_set(err, ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			sha256_abort(&h);
			return berr_set(err, e, "read failed: %s", strerror(e));
		}
		if (n == 0)
			break;
		sha256_feed(&h, buf, (size_t)n);
	}
	free(buf);
	if (ret_size)
		*ret_size = h.bytes;
	sha256_end(&h, out);
	return 0;
}

bool sha256_hex_valid(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < SHA256_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[SHA256_HEX_LEN] == '\0';
}

/* ---- a digest in a thread of its own ------------------------------- */

#define BG_SLOTS 8
#define BG_SLOT_BYTES (1u << 20)

struct bg_slot {
	size_t len;      /* data bytes in buf, hashed first */
	uint64_t zeros;  /* then this many zero bytes */
	unsigned char *buf;
};

struct sha256_bg {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct sha256 h;
	struct bg_slot slot[BG_SLOTS];
	unsigned head, tail;  /* slots [tail, head) are full; head is being filled */
	bool done;            /* guarded by lock: no more slots will come */
	bool discard;         /* guarded by lock: aborted, skip what is left */
};

static void *bg_main(void *arg)
{
	struct sha256_bg *b = arg;
	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (b->tail == b->head && !b->done)
			pthread_cond_wait(&b->cond, &b->lock);
		if (b->tail == b->head)
			break;
		struct bg_slot *s = &b->slot[b->tail % BG_SLOTS];
		bool skip = b->discard;
		pthread_mutex_unlock(&b->lock);
		if (!skip) {
			sha256_feed(&b->h, s->buf, s->len);
			sha256_feed_zeros(&b->h, s->zeros);
		}
		s->len = 0;
		s->zeros = 0;
		pthread_mutex_lock(&b->lock);
		b->tail++;
		pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int sha256_bg_start(struct sha256_bg **ret)
{
	struct sha256_bg *b = xcalloc(1, sizeof(*b));
	int r;

	if ((r = sha256_begin(&b->h)) < 0) {
		free(b);
		return r;
	}
	for (int i = 0; i < BG_SLOTS; i++)
		b->slot[i].buf = xmalloc(BG_SLOT_BYTES);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	r = pthread_create(&b->thread, NULL, bg_main, b);
	if (r != 0) {
		for (int i = 0; i < BG_SLOTS; i++)
			free(b->slot[i].buf);
		sha256_abort(&b->h);
		free(b);
		return -r;
	}
	*ret = b;
	return 0;
}

/* Hand the slot being filled to the thread; wait for a free one. */
static void bg_commit(struct sha256_bg *b)
{
	pthread_mutex_lock(&b->lock);
	b->head++;
	pthread_cond_broadcast(&b->cond);
	while (b->head - b->tail >= BG_SLOTS)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

void sha256_bg_feed(struct sha256_bg *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		struct bg_slot *s = &b->slot[b->head % BG_SLOTS];
		if (s->zeros || s->len == BG_SLOT_BYTES) {
			bg_commit(b);
			continue;
		}
		size_t n = BG_SLOT_BYTES - s->len;
		if (n > len)
			n = len;
		memcpy(s->buf + s->len, p, n);
		s->len += n;
		p += n;
		len -= n;
	}
}

void sha256_bg_zeros(struct sha256_bg *b, uint64_t len)
{
	b->slot[b->head % BG_SLOTS].zeros += len;
}

static void bg_stop(struct sha256_bg *b, bool discard)
{
	pthread_mutex_lock(&b->lock);
	b->head++;
	b->done = true;
	b->discard = discard;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	for (int i = 0; i < BG_SLOTS; i++)
		free(b->slot[i].buf);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
}

void sha256_bg_end(struct sha256_bg *b, char out[SHA256_HEX_LEN + 1])
{
	bg_stop(b, false);
	sha256_end(&b->h, out);
	free(b);
}

void sha256_bg_abort(struct sha256_bg *b)
{
	if (!b)
		return;
	bg_stop(b, true);
	sha256_abort(&b->h);
	free(b);
}
