/* core/tree_agent.c: the tree's files for the guest agent and snapshots
 * (docs/tree.md): execs/NAME/ (a command run in a VM through its agent),
 * snapshots/NAME/, a VM's agent file and an image's snapshots file.  The
 * tables tree.c lists; what they do is in vmexec.c and snapshot.c. */
#define _GNU_SOURCE
#include "tree_int.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "ctl.h"
#include "internal.h"

/* ---- execs/NAME/ --------------------------------------------------------- */

enum { XC_RUN, XC_EOF, XC_KILL };
static const struct ctl_cmd exec_cmds[] = {
	{ XC_RUN, "run", 1, 2, "run VM [stdin] (argv, env, cwd first)" },
	{ XC_EOF, "eof", 0, 0, "eof (end of the command's stdin)" },
	{ XC_KILL, "kill", 0, 1, "kill [SIGNAL] (a number or TERM, KILL, INT, HUP, QUIT, USR1, USR2)" },
};

static int parse_signal(const char *s, int *ret, struct berr *err)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "TERM", SIGTERM }, { "KILL", SIGKILL }, { "INT", SIGINT }, { "HUP", SIGHUP },
		{ "QUIT", SIGQUIT }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};
	const char *n = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(n, names[i].name) == 0) {
			*ret = names[i].sig;
			return 0;
		}
	int64_t v;
	if (parse_i64(s, &v) == 0 && v >= 1 && v <= 64) {
		*ret = (int)v;
		return 0;
	}
	return berr_set(err, EINVAL, "'%.32s' is not a signal (a number 1-64 or TERM, KILL, INT, "
			"HUP, QUIT, USR1, USR2)", s);
}

static int exec_ctl_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	(void)b, (void)id, (void)err;
	for (size_t i = 0; i < ARRAY_SIZE(exec_cmds); i++)
		sbuf_printf(out, "%s\n", exec_cmds[i].usage);
	return 0;
}

static int exec_ctl_write(struct banger *b, int64_t id, const char *data, size_t len,
			  const struct tree_caller *who, struct berr *err)
{
	struct ctl_req *req = xmalloc(sizeof(*req));
	int r = ctl_parse(data, len, exec_cmds, ARRAY_SIZE(exec_cmds), req, err);
	(void)who;
	if (r == 0) {
		switch (req->cmd->id) {
		case XC_RUN: {
			struct vm_rec vm = { 0 };
			bool in = req->argc == 2;
			if (in && strcmp(req->argv[1], "stdin") != 0) {
				r = berr_set(err, EINVAL, "run takes a VM and optionally 'stdin', not '%.32s'",
					     req->argv[1]);
			} else if (strlen(req->argv[0]) >= STORE_NAME_MAX ||
				   store_vm_get_by_name(b->store, req->argv[0], &vm, NULL) < 0) {
				r = berr_set(err, ENOENT, "no VM named '%.64s'", req->argv[0]);
			} else {
				r = vmexec_run(b->vmexec, id, vm.id, vm.name, in, err);
			}
			vm_rec_clear(&vm);
			break;
		}
		case XC_EOF:
			r = vmexec_eof(b->vmexec, id, err);
			break;
		case XC_KILL: {
			int sig = SIGTERM;
			if (req->argc == 1)
				r = parse_signal(req->argv[0], &sig, err);
			if (r == 0)
				r = vmexec_kill(b->vmexec, id, sig, err);
			break;
		}
		}
	}
	free(req);
	return r;
}

static int exec_argv_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vmexec_render_part(b->vmexec, id, EXEC_ARGV, out, err);
}

static int exec_argv_write(struct banger *b, int64_t id, const char *data, size_t len,
			   const struct tree_caller *who, struct berr *err)
{
	(void)who;
	return vmexec_append(b->vmexec, id, EXEC_ARGV, data, len, err);
}

static int exec_env_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vmexec_render_part(b->vmexec, id, EXEC_ENV, out, err);
}

static int exec_env_write(struct banger *b, int64_t id, const char *data, size_t len,
			  const struct tree_caller *who, struct berr *err)
{
	(void)who;
	return vmexec_append(b->vmexec, id, EXEC_ENV, data, len, err);
}

static int exec_cwd_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vmexec_render_cwd(b->vmexec, id, out, err);
}

static int exec_cwd_write(struct banger *b, int64_t id, const char *data, size_t len,
			  const struct tree_caller *who, struct berr *err)
{
	(void)who;
	return vmexec_set_cwd(b->vmexec, id, data, len, err);
}

static int exec_stdin_write(struct banger *b, int64_t id, const char *data, size_t len,
			    const struct tree_caller *who, struct berr *err)
{
	(void)who;
	return vmexec_stdin(b->vmexec, id, data, len, err);
}

static ssize_t exec_stdout(struct banger *b, int64_t id, off_t off, char *buf, size_t len,
			   bool *live)
{
	return vmexec_stream(b->vmexec, id, EXEC_STDOUT, off, buf, len, live);
}

static ssize_t exec_stderr(struct banger *b, int64_t id, off_t off, char *buf, size_t len,
			   bool *live)
{
	return vmexec_stream(b->vmexec, id, EXEC_STDERR, off, buf, len, live);
}

static ssize_t exec_status(struct banger *b, int64_t id, off_t off, char *buf, size_t len,
			   bool *live)
{
	return vmexec_stream(b->vmexec, id, EXEC_STATUS, off, buf, len, live);
}

static int exec_state_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vmexec_render_state(b->vmexec, id, out, err);
}

static int exec_err_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	return vmexec_render_err(b->vmexec, id, out, err);
}

/* The rendered files change as the command runs, without a report: read
 * anew (TF_NOCACHE); the streams follow it (TF_BLOCKS). */
const struct tree_file exec_files[] = {
	{ "ctl", 0644, TF_NOCACHE, .read = exec_ctl_read, .write = exec_ctl_write },
	{ "argv", 0644, TF_NOCACHE, .read = exec_argv_read, .write = exec_argv_write },
	{ "env", 0644, TF_NOCACHE, .read = exec_env_read, .write = exec_env_write },
	{ "cwd", 0644, TF_NOCACHE, .read = exec_cwd_read, .write = exec_cwd_write },
	{ "stdin", 0200, 0, .write = exec_stdin_write },
	{ "stdout", 0444, TF_STREAM | TF_BLOCKS, .stream = exec_stdout },
	{ "stderr", 0444, TF_STREAM | TF_BLOCKS, .stream = exec_stderr },
	{ "status", 0444, TF_STREAM | TF_BLOCKS, .stream = exec_status },
	{ "state", 0444, TF_NOCACHE, .read = exec_state_read },
	{ "err", 0444, TF_NOCACHE, .read = exec_err_read },
};
const size_t n_exec_files = ARRAY_SIZE(exec_files);

/* ---- snapshots/NAME/ ------------------------------------------------------ */

/* A snapshot's id in the tree: 36 bits of its key (its name ends with the
 * key's first 12 hex digits). */
int64_t tree_snap_id(const char key[65])
{
	char h[10];
	memcpy(h, key, 9);
	h[9] = 0;
	return (int64_t)strtoll(h, NULL, 16) + 1;
}

int tree_snap_by_id(struct banger *b, int64_t id, struct snap_info *ret)
{
	struct snap_info *all = NULL;
	size_t n = 0;
	int r = -ENOENT;
	memset(ret, 0, sizeof(*ret));
	snapstore_list(b->snaps, &all, &n, NULL);
	for (size_t i = 0; i < n; i++)
		if (tree_snap_id(all[i].meta.key) == id) {
			*ret = all[i];
			memset(&all[i], 0, sizeof(all[i]));
			r = 0;
			break;
		}
	snap_info_array_free(all, n);
	return r;
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int snap_status_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct snap_info si;
	if (tree_snap_by_id(b, id, &si) < 0)
		return berr_set(err, ENOENT, "no such snapshot");
	char when[32], sz[32], ws[32];
	fmt_time(si.meta.created_ms, when, sizeof(when));
	format_size(si.bytes, sz, sizeof(sz));
	format_size(si.meta.work_size, ws, sizeof(ws));
	sbuf_printf(out, "name %s\nimage %s\nkernel %s\nvmm %s\nvcpu %lld\nmemory_mib %lld\n"
		    "disk_size %s\nfrom %s\ncreated %s\nsize %s\nkey %s\n",
		    si.meta.name, si.meta.image, si.meta.kernel, si.meta.vmm, (long long)si.meta.vcpu,
		    (long long)si.meta.memory_mib, ws, si.meta.source_vm[0] ? si.meta.source_vm : "-",
		    when, sz, si.meta.key);
	snap_meta_clear(&si.meta);
	return 0;
}

static int snap_key_read(struct banger *b, int64_t id, struct sbuf *out, struct berr *err)
{
	struct snap_info si;
	if (tree_snap_by_id(b, id, &si) < 0)
		return berr_set(err, ENOENT, "no such snapshot");
	sbuf_puts(out, si.meta.key_text);
	snap_meta_clear(&si.meta);
	return 0;
}

const struct tree_file snap_files[] = {
	{ "status", 0444, TF_NOCACHE, .read = snap_status_read },
	{ "key", 0444, TF_NOCACHE, .read = snap_key_read },
};
const size_t n_snap_files = ARRAY_SIZE(snap_files);

/* images/NAME/snapshots: one line per snapshot of the image. */
int tree_image_snapshots(struct banger *b, const char *image, struct sbuf *out)
{
	struct snap_info *all = NULL;
	size_t n = 0;
	snapstore_list(b->snaps, &all, &n, NULL);
	for (size_t i = 0; i < n; i++) {
		char when[32], ws[32];
		if (strcmp(all[i].meta.image, image) != 0)
			continue;
		fmt_time(all[i].meta.created_ms, when, sizeof(when));
		format_size(all[i].meta.work_size, ws, sizeof(ws));
		sbuf_printf(out, "%s %s vcpu %lld memory_mib %lld disk_size %s kernel %s created %s\n",
			    all[i].meta.name, all[i].meta.vmm, (long long)all[i].meta.vcpu,
			    (long long)all[i].meta.memory_mib, ws, all[i].meta.kernel, when);
	}
	snap_info_array_free(all, n);
	return 0;
}

/* ---- a VM's agent file ------------------------------------------------------- */

/* "ready", "failed", "none"; empty and following while the agent is being
 * waited for, so `cat agent` returns when the VM can run commands. */
ssize_t tree_vm_agent_stream(struct banger *b, int64_t id, off_t off, char *buf, size_t len,
			     bool *live)
{
	enum agent_state st = vmagent_state(b->vmagent, id, NULL, 0);
	const char *text = st == AGENT_READY ? "ready\n" : st == AGENT_FAILED ? "failed\n"
			 : st == AGENT_WAITING ? "" : "none\n";
	size_t tl = strlen(text);
	*live = st == AGENT_WAITING;
	if ((size_t)off >= tl)
		return 0;
	size_t n = tl - (size_t)off < len ? tl - (size_t)off : len;
	memcpy(buf, text + off, n);
	return (ssize_t)n;
}
