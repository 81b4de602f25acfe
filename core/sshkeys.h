/* core/sshkeys.h: banger's SSH identity and its own known_hosts (libssh);
 * connections are core/sshready.h.  See docs/ssh.md for the policy.
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

/* Validate "TYPE BASE64 [COMMENT]" (the blob must decode as a key of TYPE
 * and re-encode to the same text) and return the canonical "TYPE BASE64". */
int ssh_hostkey_canon(const char *hostkey_line, char **ret_canon, struct berr *err);

#endif
