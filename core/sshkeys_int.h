/* core/sshkeys_int.h: what core/sshkeys.c shares with core/sshready.c, in
 * libssh's types.  Not for the rest of the daemon. */
#ifndef BANGER_SSHKEYS_INT_H
#define BANGER_SSHKEYS_INT_H

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>

#include "err.h"

static inline void ssh_keyp(ssh_key *k)
{
	if (*k)
		ssh_key_free(*k);
}
static inline void ssh_sessionp(ssh_session *s)
{
	if (!*s)
		return;
	if (ssh_is_connected(*s))
		ssh_disconnect(*s);
	ssh_free(*s);
}
static inline void ssh_charp(char **p)
{
	if (*p)
		ssh_string_free_char(*p);
}
/* Private key text: the whole allocation is wiped before it is freed. */
static inline void secret_freep(char **p)
{
	if (*p) {
		explicit_bzero(*p, malloc_usable_size(*p));
		free(*p);
	}
}
#define _cleanup_ssh_key_ __attribute__((cleanup(ssh_keyp)))
#define _cleanup_ssh_session_ __attribute__((cleanup(ssh_sessionp)))
#define _cleanup_ssh_char_ __attribute__((cleanup(ssh_charp)))
#define _cleanup_secret_ __attribute__((cleanup(secret_freep)))

/* "TYPE BASE64" of a public (or private) key; comment appended if given. */
int ssh_key_line(ssh_key key, const char *comment, char **ret, struct berr *err);
/* Read a private key file we are willing to use (owned by us, no
 * group/other bits).  -ENOENT (with a sentence) when it does not exist. */
int ssh_load_private_key(const char *path, ssh_key *ret_key, struct berr *err);

#endif
