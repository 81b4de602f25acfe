/* fs/main.c: bangerd, the daemon: parse flags, open the domain, mount
 * the tree, serve until SIGTERM/SIGINT, unmount.  VMs keep running. */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#include <errno.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banger.h"
#include "fs.h"
#include "log.h"
#include "p9.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bangerd [options]\n"
		"  --mount DIR        where to mount the tree (default /run/banger/fs; $BANGER_MOUNT)\n"
		"  --state-dir DIR    database and disks ($BANGER_STATE_DIR; default ~/.local/state/banger)\n"
		"  --runtime-dir DIR  sockets, 0700 ($BANGER_RUNTIME_DIR)\n"
		"  --cache-dir DIR    downloads ($BANGER_CACHE_DIR; default ~/.cache/banger)\n"
		"  --image-cache DIR  bundles built by 'make images', imported at start\n"
		"                     ($BANGER_IMAGE_CACHE; default /var/cache/banger/build)\n"
		"  --config FILE      config.toml ($BANGER_CONFIG; default ~/.config/banger/config.toml)\n"
		"  --root-socket PATH bangerd-root's socket, used when not root\n"
		"                     ($BANGER_ROOT_SOCKET; default /run/banger-root/root.sock)\n"
		"  --9p-socket PATH   the tree over 9P (default 9p.sock beside the mount; none = off)\n"
		"  --9p-listen tcp!ADDR!PORT  also over TCP: no authentication, see docs/9p.md\n"
		"  --foreground       do not detach (logs go to stderr)\n"
		"  --help, --version\n");
}

/* The monitor's notification goes to both adapters. */
static struct p9_server *p9srv;
static void notify_all(void *arg)
{
	fs_notify(arg);
	p9_notify(p9srv);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mount", required_argument, NULL, 'm' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "cache-dir", required_argument, NULL, 'c' },
		{ "image-cache", required_argument, NULL, 'i' },
		{ "config", required_argument, NULL, 'f' },
		{ "root-socket", required_argument, NULL, 'R' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "9p-socket", required_argument, NULL, '9' }, { "9p-listen", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct banger_paths paths;
	const char *env_mount = getenv("BANGER_MOUNT");
	char *mountpoint = xstrdup(env_mount && *env_mount ? env_mount : "/run/banger/fs");
	char *p9_sock = NULL, *p9_tcp = NULL;
	bool foreground = false;
	int c, r, ret = 1;

	umask(077);
	banger_paths_default(&paths);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		char **slot = NULL;
		switch (c) {
		case 'm': slot = &mountpoint; break;
		case 's': slot = &paths.state_dir; break;
		case 'r': slot = &paths.runtime_dir; break;
		case 'c': slot = &paths.cache_dir; break;
		case 'i': slot = &paths.image_cache; break;
		case 'f':
			slot = &paths.config_path;
			paths.config_must_exist = true;
			break;
		case 'R': slot = &paths.root_socket; break;
		case 'F': foreground = true; break;
		case '9': slot = &p9_sock; break;
		case 'T': slot = &p9_tcp; break;
		case 'h': usage(stdout); ret = 0; goto args_done;
		case 'V': printf("bangerd %s\n", BANGER_VERSION); ret = 0; goto args_done;
		default: usage(stderr); ret = 2; goto args_done;
		}
		if (slot) {
			free(*slot);
			*slot = xstrdup(optarg);
		}
	}
	if (optind != argc) {
		usage(stderr);
		ret = 2;
		goto args_done;
	}

	struct berr err = { 0 };
	struct banger *b = NULL;
	struct fuse_session *se = NULL;
	int fuse_fd = -1;
	bool mounted = false;
	char devfd[32];

	/* Open, then run (STYLE.md): everything up to fuse_daemonize() starts
	 * no thread, so the detached child has all of them. */
	if (banger_open(&b, &paths, &err) < 0) {
		fprintf(stderr, "bangerd: %s\n", err.msg);
		goto out;
	}
	if (banger_mount_tree(b, mountpoint, &fuse_fd, &err) < 0) {
		fprintf(stderr, "bangerd: %s\n", err.msg);
		goto out;
	}
	mounted = true;
	if (p9_open(&p9srv, b, p9_sock, p9_tcp, mountpoint, &err) < 0) {
		/* Asked for: an error.  The default place (beside the mount
		 * point) may not be ours to write: the export is off, said once. */
		if (p9_sock || p9_tcp) {
			fprintf(stderr, "bangerd: %s\n", err.msg);
			goto out;
		}
		blog("%s; the 9P export is off (give it a place with --9p-socket)", err.msg);
		p9srv = NULL;
	}
	/* The mount is made (core/priv.h); libfuse serves the descriptor. */
	char *fargv[] = { "bangerd" };
	se = fs_new(b, 1, fargv);
	if (!se) {
		fprintf(stderr, "bangerd: cannot create the FUSE session\n");
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		fprintf(stderr, "bangerd: cannot install signal handlers\n");
		goto out;
	}
	snprintf(devfd, sizeof(devfd), "/dev/fd/%d", fuse_fd);
	if (fuse_session_mount(se, devfd) != 0) {
		fprintf(stderr, "bangerd: cannot serve %s\n", devfd);
		goto out;
	}
	fuse_fd = -1; /* the session's now */
	blog("serving %s (state %s)", mountpoint, paths.state_dir);
	/* Detach only now, so a caller that waits for us finds the tree. */
	if (fuse_daemonize(foreground) != 0)
		goto out;
	if ((r = fs_start()) < 0) {
		blog("cannot start the tree's threads: %s", strerror(-r));
		goto out;
	}
	if (p9srv && p9_start(p9srv, &err) < 0)
		blog("%s; the 9P export is off", err.msg);
	if ((r = banger_run(b, notify_all, NULL)) < 0) {
		blog("cannot start the daemon's threads: %s", strerror(-r));
		goto out;
	}
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 64);
	ret = fuse_session_loop_mt(se, cfg) < 0 ? 1 : 0;
	fuse_loop_cfg_destroy(cfg);
	fs_drain();
	blog("unmounting %s; VMs keep running", mountpoint);
out:
	p9_stop(p9srv);
	fs_stop();
	if (mounted)
		banger_unmount_tree(b, mountpoint);
	if (se) {
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	if (fuse_fd >= 0)
		close(fuse_fd);
	banger_close(b);
	p9_free(p9srv);
args_done: /* what the options took */
	free(p9_sock), free(p9_tcp);
	banger_paths_free(&paths);
	free(mountpoint);
	return ret;
}
