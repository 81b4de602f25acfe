/* core/digest.h: SHA-256 (OpenSSL EVP) for streams and files, as lowercase
 * hex.  Bundles, blobs and catalog entries are named by these digests. */
#ifndef BANGER_DIGEST_H
#define BANGER_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SHA256_HEX_LEN 64

struct sha256 {
	void *ctx;      /* EVP_MD_CTX */
	uint64_t bytes; /* fed so far */
};

/* Start a digest; -ENOMEM when OpenSSL cannot. */
int sha256_begin(struct sha256 *h);
void sha256_feed(struct sha256 *h, const void *data, size_t len);
/* Feed len zero bytes (holes of sparse files). */
void sha256_feed_zeros(struct sha256 *h, uint64_t len);
/* Finish into out (65 bytes: 64 hex digits + NUL) and release the context. */
void sha256_end(struct sha256 *h, char out[SHA256_HEX_LEN + 1]);
/* Release without a result (error paths); NULL-safe, idempotent. */
void sha256_abort(struct sha256 *h);

/* Digest of a whole descriptor from its current offset to EOF. */
int sha256_fd(int fd, char out[SHA256_HEX_LEN + 1], uint64_t *ret_size, struct berr *err);

/* A digest computed by a thread of its own, so hashing a large file runs
 * beside the work that produces its bytes (decompression, writing).  feed
 * copies the data into a bounded ring and blocks only when the ring is
 * full; zeros costs nothing on the caller's side.  end waits for the
 * thread and frees everything; abort does the same without a result. */
struct sha256_bg;
int sha256_bg_start(struct sha256_bg **ret);
void sha256_bg_feed(struct sha256_bg *b, const void *data, size_t len);
void sha256_bg_zeros(struct sha256_bg *b, uint64_t len);
void sha256_bg_end(struct sha256_bg *b, char out[SHA256_HEX_LEN + 1]);
void sha256_bg_abort(struct sha256_bg *b);

/* 64 lowercase hex digits exactly. */
bool sha256_hex_valid(const char *s);

#endif
