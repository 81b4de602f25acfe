/* core/priv_impl.h: what an implementation of core/priv.h provides.
 * Private to core/priv*.c. */
#ifndef BANGER_PRIV_IMPL_H
#define BANGER_PRIV_IMPL_H

#include "priv.h"

struct rootc;

struct priv_ops {
	const char *mount_how; /* for priv_tree_mount()'s *ret_how */
	int (*tree_mount)(struct priv *p, const char *mountpoint, int *ret_fd, struct berr *err);
	int (*tree_unmount)(struct priv *p, const char *mountpoint, struct berr *err);
	int (*net_ensure)(struct priv *p, const char *bridge, const char *cidr, struct berr *err);
	int (*tap_create)(struct priv *p, const char *tap, const char *bridge, struct berr *err);
	int (*tap_open)(struct priv *p, const char *tap, const char *bridge, int *ret_fd,
			struct berr *err);
	int (*tap_delete)(struct priv *p, const char *tap, struct berr *err);
	int (*tap_list)(struct priv *p, char ***ret, size_t *ret_n, struct berr *err);
	int (*resolved_link)(struct priv *p, const char *bridge, const char *addr, uint16_t port,
			     struct berr *err);
	int (*resolved_revert)(struct priv *p, const char *bridge, struct berr *err);
	int (*jail_launch)(struct priv *p, const struct priv_jail *j, pid_t *ret_pid,
			   bool *ret_child, char **ret_via, struct berr *err);
	int (*dm_clone)(struct priv *p, const char *state_dir, const char *vm, const char *image,
			char **ret_dev, int64_t *ret_ms, struct berr *err);
	int (*dm_remove)(struct priv *p, const char *state_dir, const char *vm, struct berr *err);
	int (*dm_list)(struct priv *p, const char *state_dir, char ***ret, size_t *ret_n,
		       struct berr *err);
};

struct priv {
	enum priv_mode mode;
	const struct priv_ops *ops;
	struct rootc *rootc; /* helper mode */
	char why[320];
	/* The tree handed over by the service manager ($LISTEN_FDS, named
	 * TREE_FDNAME: bangerd.service's ExecStartPre=+ mounted it), any
	 * mode; -1 once priv_tree_mount() gave it away or when none came. */
	int tree_fd;
	bool tree_handed;
};

extern const struct priv_ops priv_local_ops;  /* core/priv_local.c */
extern const struct priv_ops priv_helper_ops; /* core/priv_helper.c */

/* The tree through the setuid fusermount3 (core/priv.c): the way in when
 * neither root nor a helper with --mount is at hand. */
int priv_fusermount(const char *mountpoint, int *ret_fd, struct berr *err);
int priv_fusermount_unmount(const char *mountpoint, struct berr *err);

#endif
