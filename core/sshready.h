/* core/sshready.h: connections to a guest's sshd (libssh): fetch its host
 * key, or wait until root can log in with banger's key, pinning the host key
 * on first use (core/knownhosts.c).  A wait can be cancelled from another
 * thread and then ends at once, also in the middle of a key exchange.  See
 * docs/ssh.md for the policy. */
#ifndef BANGER_SSHREADY_H
#define BANGER_SSHREADY_H

#include <pthread.h>
#include <stdbool.h>

#include "err.h"

/* A cancel for one wait: fire() from any thread. */
struct ssh_cancel {
	pthread_mutex_t lock;
	bool cancelled;  /* under lock */
	int efd;         /* eventfd, readable once cancelled */
	int sock;        /* the socket of the attempt under way, -1 (under lock) */
};
int ssh_cancel_init(struct ssh_cancel *c, struct berr *err);
void ssh_cancel_fire(struct ssh_cancel *c);
bool ssh_cancelled(struct ssh_cancel *c); /* accepts NULL */
void ssh_cancel_destroy(struct ssh_cancel *c);

/* Connect to ip:port (no authentication) and return the server's host key as
 * "TYPE BASE64".  Never reads or writes ~/.ssh/known_hosts, ~/.ssh/config or
 * /etc/ssh/ssh_config.  timeout_ms bounds the whole call (> 0). */
int ssh_fetch_hostkey(const char *ip, int port, int timeout_ms, char **ret_hostkey_line,
		      struct berr *err);

/* Wait until root@ip:port accepts key_path, for at most timeout_ms.  Each
 * attempt: connect, fetch the host key, kh_check() it against known_hosts
 * under host_alias (pinning it on first use), publickey auth as root.
 * Attempts start every ~250 ms.
 *
 * Returns 0 when ready; -ETIMEDOUT with the last attempt's error in the
 * message when the bound passes; -ECANCELED as soon as cancel (may be NULL)
 * fires; a host key mismatch (-EKEYREJECTED), a bad key file or a bad
 * known_hosts file fail at once without retrying. */
int ssh_wait_ready(const char *ip, int port, const char *key_path, const char *known_hosts,
		   const char *host_alias, int timeout_ms, struct ssh_cancel *cancel,
		   struct berr *err);

#endif
