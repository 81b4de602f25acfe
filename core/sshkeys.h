/* core/sshkeys.h: banger's SSH identity, its own known_hosts, and the
 * readiness wait (libssh).  See docs/ssh.md for the policy.
 *
 * Host key lines are "TYPE BASE64" as OpenSSH prints them
 * ("ssh-ed25519 AAAAC3Nz..."); an optional trailing comment is accepted on
 * input and never produced.  Every function returns 0 or a negative errno and
 * fills err with a sentence.  Nothing here prints. */
#ifndef BANGER_SSHKEYS_H
#define BANGER_SSHKEYS_H

#include <stdbool.h>

#include "err.h"

/* "SHA256:" + 43 base64 characters + NUL fits with room to spare. */
#define SSH_FINGERPRINT_MAX 64

/* Cap on the files we read (private keys, known_hosts). */
#define SSH_KEY_FILE_MAX (64 * 1024)
#define KH_FILE_MAX (1024 * 1024)

/* --- identity (core/sshkeys.c) ------------------------------------------ */

/* Load the private key at key_path, or create one.
 *
 * Existing key: it must be a regular file owned by us with no group/other
 * permission bits (like OpenSSH, we refuse "unprotected private key files":
 * -EPERM), unencrypted, in a format libssh reads.  key_path + ".pub" is
 * (re)written when it is missing or does not match the private key.
 *
 * Missing key: the parent directory is created 0700, an ed25519 key pair is
 * generated, the private key is written in OpenSSH format with mode 0600
 * (a temporary file linked into place, so a concurrent caller either wins or
 * loads the winner's key) and the public key goes to key_path + ".pub".
 *
 * *ret_pubkey_line (malloc'ed, no newline): "ssh-ed25519 AAAA... banger". */
int ssh_identity_ensure(const char *key_path, char **ret_pubkey_line, struct berr *err);

/* OpenSSH-style SHA256 fingerprint of a host key line: "SHA256:<base64, no
 * padding>".  -EINVAL if the line is not a valid public key. */
int ssh_fingerprint(const char *hostkey_line, char out[SSH_FINGERPRINT_MAX], struct berr *err);

/* Connect to ip:port (no authentication) and return the server's host key as
 * "TYPE BASE64".  Never reads or writes ~/.ssh/known_hosts, ~/.ssh/config or
 * /etc/ssh/ssh_config.  timeout_ms bounds the whole call (> 0). */
int ssh_fetch_hostkey(const char *ip, int port, int timeout_ms, char **ret_hostkey_line,
		      struct berr *err);

/* Wait until root@ip:port accepts key_path and runs `true`, for at most
 * timeout_ms.  Each attempt: connect, fetch the host key, kh_check() it
 * against known_hosts under host_alias (pinning it on first use), publickey
 * auth as root, exec `true` and require exit status 0.  Attempts start every
 * ~250 ms.
 *
 * Returns 0 when ready; -ETIMEDOUT with the last attempt's error in the
 * message when the bound passes; a host key mismatch (-EKEYREJECTED), a bad
 * key file or a bad known_hosts file fail at once without retrying. */
int ssh_wait_ready(const char *ip, int port, const char *key_path, const char *known_hosts,
		   const char *host_alias, int timeout_ms, struct berr *err);

/* --- known hosts (core/knownhosts.c) ------------------------------------ */

/* Trust on first use, exact match after.
 *
 * known_hosts is banger's own file (never ~/.ssh/known_hosts), in OpenSSH
 * format, one line per host: "ALIAS,IP TYPE BASE64".  The whole check runs
 * under an exclusive flock on known_hosts + ".lock".
 *
 * No entry for host_alias: append one (atomic rewrite, file 0600, directory
 * created 0700), *ret_first_use = true.  An entry exists: the key must be
 * exactly the pinned one (*ret_first_use = false); if the IP changed the
 * entry is rewritten with the new IP.  A different key: -EKEYREJECTED with a
 * "possible MITM" sentence naming both SHA256 fingerprints.
 *
 * The file is parsed strictly: comments and blank lines are kept, anything
 * else that is not "HOSTS TYPE BASE64 [COMMENT]" with plain host names is
 * -EBADMSG naming the line.  A file writable by group/other or owned by
 * someone else is refused (-EPERM). */
int kh_check(const char *known_hosts, const char *host_alias, const char *ip,
	     const char *hostkey_line, bool *ret_first_use, struct berr *err);

/* Remove every line naming host_alias (atomic rewrite under the lock).
 * A missing file or no such line is success. */
int kh_remove(const char *known_hosts, const char *host_alias, struct berr *err);

/* The pinned "TYPE BASE64" for host_alias, or -ENOENT.  Read-only (shared
 * lock); used to ask the server for the pinned key type. */
int kh_lookup(const char *known_hosts, const char *host_alias, char **ret_hostkey_line,
	      struct berr *err);

/* --- shared by sshkeys.c and knownhosts.c ------------------------------- */

/* Validate "TYPE BASE64 [COMMENT]" (the blob must decode as a key of TYPE
 * and re-encode to the same text) and return the canonical "TYPE BASE64". */
int ssh_hostkey_canon(const char *hostkey_line, char **ret_canon, struct berr *err);

#endif
