/* core/knownhosts.h: banger's own known_hosts (trust on first use, exact
 * match after), see docs/ssh.md. */
#ifndef BANGER_KNOWNHOSTS_H
#define BANGER_KNOWNHOSTS_H

#include <stdbool.h>

#include "err.h"
#include "sshkeys.h"

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

#endif
