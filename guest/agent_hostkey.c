/* guest/agent_hostkey.c: sshd's ed25519 host key, made inside the agent.
 *
 * A restored guest used to run ssh-keygen for this; under TCG every new
 * program costs 0.5-1 s (empty translation cache).  Now the key pair comes
 * from Monocypher (guest/monocypher, vendored: crypto_ed25519_key_pair
 * from 32 bytes of getrandom(), after the host reseeded the CRNG) and the
 * agent writes the two files as ssh-keygen -t ed25519 -N "" -C "" does:
 *
 *   ssh_host_ed25519_key      0600, unencrypted "openssh-key-v1"
 *                             (OpenSSH's PROTOCOL.key)
 *   ssh_host_ed25519_key.pub  0644, "ssh-ed25519 BASE64 \n" (the empty
 *                             comment after the space, as ssh-keygen -C "")
 *
 * each written to a temporary name, fsync'ed and renamed; then a running
 * sshd is told to reload (SIGHUP).  No ed25519 arithmetic here: only the
 * file format. */
#define _GNU_SOURCE
#include "agent_sys.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "monocypher-ed25519.h"
#include "monocypher.h"

static const char keytype[] = "ssh-ed25519";

static void put_u32(struct sbuf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	sbuf_add(b, x, 4);
}

/* An SSH "string": uint32 length, then the bytes. */
static void put_string(struct sbuf *b, const void *s, size_t n)
{
	put_u32(b, (uint32_t)n);
	sbuf_add(b, s, n);
}

/* The public key blob: string "ssh-ed25519", string PK (32 bytes). */
static void put_pubblob(struct sbuf *b, const uint8_t pk[32])
{
	put_string(b, keytype, strlen(keytype));
	put_string(b, pk, 32);
}

static char *b64(const void *data, size_t n)
{
	char *s = xmalloc(agent_b64_len(n) + 1);
	agent_b64_encode(data, n, s);
	s[agent_b64_len(n)] = '\0';
	return s;
}

static void wipe_sbuf(struct sbuf *b)
{
	if (b->buf)
		crypto_wipe(b->buf, b->cap);
	sbuf_free(b);
}

/* The private key file's text (PROTOCOL.key, cipher "none"). */
static void private_text(const uint8_t sk[64], const uint8_t pk[32], uint32_t check, struct sbuf *out)
{
	struct sbuf bin, priv, blob;
	sbuf_init(&bin);
	sbuf_init(&priv);
	sbuf_init(&blob);
	put_pubblob(&blob, pk);

	/* the private section: checkints, the key, the comment, padding to
	 * the cipher's block size (8 for "none") with 1, 2, 3, ... */
	put_u32(&priv, check);
	put_u32(&priv, check);
	put_string(&priv, keytype, strlen(keytype));
	put_string(&priv, pk, 32);
	put_string(&priv, sk, 64); /* seed || public key */
	put_string(&priv, "", 0);   /* comment */
	for (uint8_t i = 1; priv.len % 8; i++)
		sbuf_add(&priv, &i, 1);

	sbuf_add(&bin, "openssh-key-v1", sizeof("openssh-key-v1")); /* with its NUL */
	put_string(&bin, "none", 4); /* cipher */
	put_string(&bin, "none", 4); /* kdf */
	put_string(&bin, "", 0);     /* kdf options */
	put_u32(&bin, 1);           /* keys */
	put_string(&bin, blob.buf, blob.len);
	put_string(&bin, priv.buf, priv.len);

	char *text = b64(bin.buf, bin.len);
	size_t n = strlen(text);
	sbuf_puts(out, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
	for (size_t i = 0; i < n; i += 70) {
		sbuf_add(out, text + i, n - i < 70 ? n - i : 70);
		sbuf_add(out, "\n", 1);
	}
	sbuf_puts(out, "-----END OPENSSH PRIVATE KEY-----\n");
	crypto_wipe(text, n);
	free(text);
	wipe_sbuf(&priv);
	wipe_sbuf(&bin);
	sbuf_free(&blob);
}

static int fill_random(void *buf, size_t n, struct berr *err)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return berr_set(err, r < 0 ? errno : EIO, "cannot get random bytes: %s",
					strerror(r < 0 ? errno : EIO));
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A running sshd re-executes itself on SIGHUP and loads the new key. */
static void reload_sshd(const struct agent_opts *o)
{
	_cleanup_free_ char *pidf = agent_path(o, "/run/sshd.pid");
	_cleanup_free_ char *pidtxt = NULL, *cpath = NULL, *ctext = NULL;
	size_t len;
	uint64_t pid;
	if (read_file(pidf, 64, &pidtxt, &len) < 0)
		return;
	pidtxt[strcspn(pidtxt, "\n")] = '\0';
	if (parse_u64(pidtxt, &pid) < 0 || pid <= 1 || pid >= INT32_MAX)
		return;
	cpath = xasprintf("/proc/%llu/comm", (unsigned long long)pid);
	if (read_file(cpath, 64, &ctext, &len) == 0 && strncmp(ctext, "sshd", 4) == 0)
		kill((pid_t)pid, SIGHUP);
}

int agent_sys_hostkey(const struct agent_opts *o, char **ret_pub, struct berr *err)
{
	_cleanup_free_ char *dir = agent_path(o, "/etc/ssh");
	_cleanup_free_ char *dst = NULL, *dstpub = NULL, *pubtext = NULL;
	uint8_t seed[32], sk[64], pk[32];
	uint32_t check;
	struct sbuf priv, blob;
	int r;

	r = mkdir_p(dir, 0755);
	if (r < 0)
		return berr_set(err, -r, "cannot create /etc/ssh: %s", strerror(-r));
	if ((r = fill_random(seed, sizeof(seed), err)) < 0 ||
	    (r = fill_random(&check, sizeof(check), err)) < 0)
		return r;
	crypto_ed25519_key_pair(sk, pk, seed); /* wipes seed */

	sbuf_init(&priv);
	private_text(sk, pk, check, &priv);
	crypto_wipe(sk, sizeof(sk));
	sbuf_init(&blob);
	put_pubblob(&blob, pk);
	char *key = b64(blob.buf, blob.len);
	sbuf_free(&blob);
	pubtext = xasprintf("%s %s \n", keytype, key);

	dst = xasprintf("%s/ssh_host_ed25519_key", dir);
	dstpub = xasprintf("%s/ssh_host_ed25519_key.pub", dir);
	r = write_file_atomic(dst, priv.buf, priv.len, 0600);
	wipe_sbuf(&priv);
	if (r == 0)
		r = write_file_atomic(dstpub, pubtext, strlen(pubtext), 0644);
	if (r < 0) {
		free(key);
		return berr_set(err, -r, "cannot install the host key: %s", strerror(-r));
	}
	reload_sshd(o);
	*ret_pub = xasprintf("%s %s", keytype, key);
	free(key);
	return 0;
}
