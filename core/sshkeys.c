/* core/sshkeys.c: banger's SSH identity and key lines, with libssh.  Known
 * hosts live in core/knownhosts.c, connections (host key fetch, the
 * readiness wait) in core/sshready.c.
 *
 * libssh sessions are configured so they never touch the user's OpenSSH
 * files: no ~/.ssh/config or /etc/ssh/ssh_config processing, known_hosts
 * pointed at /dev/null (we check host keys ourselves, against banger's own
 * file), no agent, no default identities. */
#define _GNU_SOURCE
#include "sshkeys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "sshkeys_int.h"
#include "util.h"

#define PUBKEY_COMMENT "banger"



/* ---- key lines and fingerprints --------------------------------------- */

static bool is_b64(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n == 0 || n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			return false; /* data after padding */
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

/* "TYPE BASE64" of a public (or private) key; comment appended if given. */
int ssh_key_line(ssh_key key, const char *comment, char **ret, struct berr *err)
{
	_cleanup_ssh_key_ ssh_key pub = NULL;
	_cleanup_ssh_char_ char *b64 = NULL;
	const char *type = ssh_key_type_to_char(ssh_key_type(key));

	if (ssh_key_is_private(key)) {
		if (ssh_pki_export_privkey_to_pubkey(key, &pub) != SSH_OK)
			return berr_set(err, EINVAL, "cannot derive the public key");
		key = pub;
	}
	if (!type || ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
		return berr_set(err, EINVAL, "cannot encode the public key");
	*ret = comment ? xasprintf("%s %s %s", type, b64, comment) : xasprintf("%s %s", type, b64);
	return 0;
}

/* Parse and validate "TYPE BASE64 [COMMENT]" into a libssh key. */
static int line_to_key(const char *line, ssh_key *ret_key, char **ret_canon, struct berr *err)
{
	_cleanup_free_ char *copy = NULL;
	_cleanup_ssh_key_ ssh_key key = NULL;
	char *save = NULL, *type, *b64;
	enum ssh_keytypes_e kt;

	if (!line || !*line)
		return berr_set(err, EINVAL, "empty host key");
	if (strlen(line) > 16384)
		return berr_set(err, EINVAL, "host key line is too long");
	for (const char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n')
			return berr_set(err, EINVAL, "host key contains control characters");
	copy = xstrdup(line);
	type = strtok_r(copy, " \t\n", &save);
	b64 = strtok_r(NULL, " \t\n", &save);
	if (!type || !b64)
		return berr_set(err, EINVAL, "host key must be \"TYPE BASE64\", got '%.80s'", line);
	kt = ssh_key_type_from_name(type);
	if (kt == SSH_KEYTYPE_UNKNOWN || strstr(type, "-cert-"))
		return berr_set(err, EINVAL, "unsupported host key type '%.64s'", type);
	if (!is_b64(b64))
		return berr_set(err, EINVAL, "host key of type %s is not valid base64", type);
	if (ssh_pki_import_pubkey_base64(b64, kt, &key) != SSH_OK)
		return berr_set(err, EINVAL, "host key is not a valid %s key", type);
	/* libssh trusts the TYPE we pass; make sure the blob says the same by
	 * re-encoding it and comparing the text. */
	_cleanup_free_ char *canon = NULL;
	int r = ssh_key_line(key, NULL, &canon, err);
	if (r < 0)
		return r;
	size_t tl = strlen(type);
	if (strncmp(canon, type, tl) != 0 || canon[tl] != ' ' || strcmp(canon + tl + 1, b64) != 0)
		return berr_set(err, EINVAL, "host key blob does not match its type %s", type);
	if (ret_key)
		*ret_key = TAKE_PTR(key);
	if (ret_canon)
		*ret_canon = TAKE_PTR(canon);
	return 0;
}

int ssh_hostkey_canon(const char *hostkey_line, char **ret_canon, struct berr *err)
{
	return line_to_key(hostkey_line, NULL, ret_canon, err);
}

static int key_fingerprint(ssh_key key, char out[SSH_FINGERPRINT_MAX], struct berr *err)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != SSH_OK)
		return berr_set(err, EINVAL, "cannot hash the public key");
	_cleanup_ssh_char_ char *fp =
	    ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	if (!fp || strlen(fp) >= SSH_FINGERPRINT_MAX)
		return berr_set(err, EINVAL, "cannot format the key fingerprint");
	strcpy(out, fp);
	return 0;
}

int ssh_fingerprint(const char *hostkey_line, char out[SSH_FINGERPRINT_MAX], struct berr *err)
{
	_cleanup_ssh_key_ ssh_key key = NULL;
	int r = line_to_key(hostkey_line, &key, NULL, err);

	if (r < 0)
		return r;
	return key_fingerprint(key, out, err);
}

/* ---- identity ---------------------------------------------------------- */

/* Read a private key file we are willing to use.  -ENOENT (with a sentence)
 * when it does not exist. */
int ssh_load_private_key(const char *path, ssh_key *ret_key, struct berr *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_secret_ char *text = NULL;
	struct stat st;
	size_t len = 0;
	ssh_key key = NULL;

	if (fd < 0)
		return berr_set(err, errno, "cannot open private key %s: %s", path,
				strerror(errno));
	if (fstat(fd, &st) < 0)
		return berr_set(err, errno, "cannot stat private key %s: %s", path,
				strerror(errno));
	if (!S_ISREG(st.st_mode))
		return berr_set(err, EINVAL, "private key %s is not a regular file", path);
	if (st.st_uid != geteuid())
		return berr_set(
		    err, EPERM,
		    "private key %s belongs to uid %u, not to us (uid %u); refusing to use it",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 077)
		return berr_set(err, EPERM,
				"private key %s has mode %04o, so other users can read it; "
				"refusing to use it (run 'chmod 600 %s')",
				path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_size > SSH_KEY_FILE_MAX)
		return berr_set(err, EFBIG, "private key %s is larger than %d bytes", path,
				SSH_KEY_FILE_MAX);
	text = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return berr_set(err, errno, "cannot read private key %s: %s", path,
					strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	if (ssh_pki_import_privkey_base64(text, NULL, NULL, NULL, &key) != SSH_OK || !key)
		return berr_set(err, EINVAL,
				"cannot load private key %s: not a private key libssh can read, or "
				"it is passphrase-protected (banger needs an unencrypted key)",
				path);
	*ret_key = key;
	return 0;
}

/* Generate an ed25519 key and link it into place at path.  Returns
 * -EEXIST when someone else created path first (theirs wins). */
static int generate_private_key(const char *path, struct berr *err)
{
	_cleanup_ssh_key_ ssh_key key = NULL;
	_cleanup_secret_ char *b64 = NULL;
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	_cleanup_free_ char *dir = xstrdup(path);
	char *libssh_b64 = NULL;
	int r;

	r = mkdir_p(dirname(dir), 0700);
	if (r < 0)
		return berr_set(err, -r, "cannot create the key directory for %s: %s", path,
				strerror(-r));
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		return berr_set(err, EIO, "cannot generate an ed25519 key");
	/* libssh 0.10 writes ed25519 keys in the OpenSSH format. */
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &libssh_b64) != SSH_OK)
		return berr_set(err, EIO, "cannot encode the new private key");
	b64 = xstrdup(libssh_b64);
	explicit_bzero(libssh_b64, strlen(libssh_b64));
	ssh_string_free_char(libssh_b64);
	if (strncmp(b64, "-----BEGIN OPENSSH PRIVATE KEY-----", 35) != 0)
		return berr_set(err, EIO, "libssh did not produce an OpenSSH-format private key");

	/* mkostemp creates 0600; link() refuses to replace an existing key. */
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "cannot create %s: %s", tmp, strerror(errno));
	size_t len = strlen(b64), off = 0;
	if (b64[len - 1] != '\n') {
		char *nl = xasprintf("%s\n", b64);
		explicit_bzero(b64, len);
		free(b64);
		b64 = nl;
		len++;
	}
	while (off < len) {
		ssize_t n = write(fd, b64 + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = berr_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
			unlink(tmp);
			return r;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		r = berr_set(err, errno, "cannot sync %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return r;
	}
	if (link(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		if (e == EEXIST)
			return -EEXIST;
		return berr_set(err, e, "cannot create private key %s: %s", path, strerror(e));
	}
	unlink(tmp);
	return 0;
}

/* Keep key_path.pub equal to the public half of the private key. */
static int sync_pubkey_file(const char *key_path, const char *line, struct berr *err)
{
	_cleanup_free_ char *pub = xasprintf("%s.pub", key_path);
	_cleanup_free_ char *want = xasprintf("%s\n", line);
	_cleanup_free_ char *have = NULL;

	if (read_file(pub, SSH_KEY_FILE_MAX, &have, NULL) == 0 && strcmp(have, want) == 0)
		return 0;
	int r = write_file_atomic(pub, want, strlen(want), 0644);
	if (r < 0)
		return berr_set(err, -r, "cannot write public key %s: %s", pub, strerror(-r));
	return 0;
}

int ssh_identity_ensure(const char *key_path, char **ret_pubkey_line, struct berr *err)
{
	_cleanup_ssh_key_ ssh_key key = NULL;
	_cleanup_free_ char *line = NULL;
	int r;

	if (!key_path || !*key_path || strlen(key_path) >= PATH_MAX - 16)
		return berr_set(err, EINVAL, "invalid ssh key path");
	for (int attempt = 0; !key; attempt++) {
		r = ssh_load_private_key(key_path, &key, err);
		if (r == 0)
			break;
		if (r != -ENOENT || attempt > 0)
			return r;
		r = generate_private_key(key_path, err);
		if (r < 0 && r != -EEXIST)
			return r;
		/* created (or lost the race): load what is on disk now */
	}
	r = ssh_key_line(key, PUBKEY_COMMENT, &line, err);
	if (r < 0)
		return berr_wrap(err, "private key %s", key_path);
	r = sync_pubkey_file(key_path, line, err);
	if (r < 0)
		return r;
	berr_clear(err);
	*ret_pubkey_line = TAKE_PTR(line);
	return 0;
}

/* ---- sessions ---------------------------------------------------------- */
