/* guest/init.c: banger's init for container images (/.banger/init, passed
 * as init= by the kernel command line).  Static (musl), no dependencies in
 * the image.  As PID 1 it:
 *   - mounts /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run, /tmp
 *     (those the initramfs moved over stay as they are);
 *   - sets the hostname (/etc/hostname, else the ip= hostname);
 *   - configures lo and the NIC from ip=CLIENT::GW:MASK:HOST:DEV:off and
 *     writes /etc/resolv.conf from banger.dns=A[,B...];
 *   - mounts the work disk (/dev/vdb) at /root: authorized_keys is there;
 *   - runs banger's guest agent (/.banger/agent, docs/agent.md) on its
 *     channel to the host (QEMU's virtio-serial port, Firecracker's
 *     vsock): from then on the host can run commands; restarted if it
 *     dies (at most once a second), left alone if it exits 0 (it found no
 *     channel to the host);
 *   - runs an sshd: the image's (/usr/sbin/sshd; its host keys replaced by
 *     a fresh ed25519 key on a VM's first boot, since every copy of the
 *     image shares them), else banger's own from /.banger/ssh (the host's
 *     Debian sshd with its libraries, run through their loader);
 *     either with banger's posture: keys only, root without password;
 *   - reaps every orphan, restarts sshd if it dies (at most once a second);
 *   - powers off on the ACPI power button (evdev), SIGTERM, SIGINT
 *     (ctrl-alt-del) or SIGPWR: everything gets SIGTERM, then SIGKILL
 *     after 3 s, filesystems are unmounted or made read-only, power off.
 *
 * Not as PID 1, "init run -- CMD ARGS..." runs a command the way the
 * image's config says: its Env (/.banger/env, NUL-separated) added to the
 * environment, in its WorkingDir (/.banger/workdir), as its User
 * (/.banger/user: name, uid, name:group or uid:gid, with that user's
 * groups, HOME, USER and LOGNAME).  banger runs `vm run -- CMD` of a
 * container image through it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/input.h>
#include <net/if.h>
#include <net/route.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SSH_DIR "/.banger/ssh"
#define SSH_LOADER SSH_DIR "/ld-linux-x86-64.so.2"
#define SSH_LIBS SSH_DIR "/lib"
#define SSH_KEYS SSH_DIR "/keys"
#define SSH_CONF "/run/banger/sshd_config"
#define KEYS_DONE "/.banger/host-keys-done"
#define AGENT "/.banger/agent"
#define MAX_BUTTONS 8

static char cmdline[4096];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("banger-init: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The value of KEY= on the kernel command line, or NULL (static buffer). */
static const char *param(const char *key)
{
	static char val[1024];
	size_t kn = strlen(key);

	for (const char *p = cmdline; *p;) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " \n");
		if (n > kn && !strncmp(p, key, kn) && p[kn] == '=') {
			size_t vn = n - kn - 1;
			if (vn >= sizeof(val))
				vn = sizeof(val) - 1;
			memcpy(val, p + kn + 1, vn);
			val[vn] = '\0';
			return val;
		}
		p += n;
		if (*p)
			p++;
	}
	return NULL;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	size_t n = strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* --- filesystems --- */

static bool mounted(const char *dir)
{
	struct stat a, b;
	char parent[256];

	snprintf(parent, sizeof(parent), "%s/..", dir);
	return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static void mnt(const char *src, const char *dir, const char *type, unsigned long flags,
		const char *data)
{
	mkdir(dir, 0755);
	if (mounted(dir))
		return;
	if (mount(src, dir, type, flags, data) < 0)
		say("mounting %s on %s: %s", type, dir, strerror(errno));
}

static void mount_basics(void)
{
	const unsigned long ns = MS_NOSUID | MS_NODEV, nse = ns | MS_NOEXEC;

	mnt("proc", "/proc", "proc", nse, NULL);
	mnt("sysfs", "/sys", "sysfs", nse, NULL);
	mnt("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mnt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666");
	mnt("tmpfs", "/dev/shm", "tmpfs", ns, "mode=1777");
	mnt("tmpfs", "/run", "tmpfs", ns, "mode=0755");
	mnt("tmpfs", "/tmp", "tmpfs", ns, "mode=1777");
	if (access("/dev/ptmx", F_OK) != 0)
		symlink("pts/ptmx", "/dev/ptmx");
	mkdir("/run/banger", 0700);
}

/* The work disk at /root, waiting a little for its device. */
static void mount_work(void)
{
	for (int i = 0; i < 30 && access("/dev/vdb", F_OK) != 0; i++)
		usleep(100000);
	if (access("/dev/vdb", F_OK) != 0)
		return;
	mkdir("/root", 0700);
	if (mount("/dev/vdb", "/root", "ext4", MS_NOSUID | MS_NODEV, NULL) < 0)
		say("mounting the work disk on /root: %s", strerror(errno));
}

/* --- network --- */

static int set_addr(int s, const char *dev, unsigned long req, const char *addr)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return -1;
	return ioctl(s, req, &ifr);
}

static int link_up(int s, const char *dev)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr);
}

/* ip=CLIENT:SERVER:GW:MASK:HOST:DEV:AUTOCONF; fields[] get up to 7. */
static int split_ip(const char *ip, char fields[7][64])
{
	int n = 0;

	memset(fields, 0, 7 * 64);
	for (const char *p = ip; n < 7; n++) {
		size_t k = strcspn(p, ":");
		snprintf(fields[n], 64, "%.*s", (int)(k < 63 ? k : 63), p);
		if (!p[k])
			return n + 1;
		p += k + 1;
	}
	return n;
}

static void network(char host_out[64])
{
	const char *ip = param("ip");
	char f[7][64], path[96];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	if (set_addr(s, "lo", SIOCSIFADDR, "127.0.0.1") < 0 || link_up(s, "lo") < 0)
		say("lo: %s", strerror(errno));
	if (!ip || split_ip(ip, f) < 4) {
		close(s);
		return;
	}
	memcpy(host_out, f[4], 64);
	const char *dev = f[5][0] ? f[5] : "eth0";
	snprintf(path, sizeof(path), "/sys/class/net/%s", dev);
	for (int i = 0; i < 50 && access(path, F_OK) != 0; i++)
		usleep(100000);
	if (set_addr(s, dev, SIOCSIFADDR, f[0]) < 0 ||
	    (f[3][0] && set_addr(s, dev, SIOCSIFNETMASK, f[3]) < 0) || link_up(s, dev) < 0) {
		say("%s: cannot set %s/%s: %s", dev, f[0], f[3], strerror(errno));
	} else if (f[2][0]) {
		struct rtentry rt;
		memset(&rt, 0, sizeof(rt));
		((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
		((struct sockaddr_in *)&rt.rt_gateway)->sin_family = AF_INET;
		inet_pton(AF_INET, f[2], &((struct sockaddr_in *)&rt.rt_gateway)->sin_addr);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = (char *)dev;
		if (ioctl(s, SIOCADDRT, &rt) < 0)
			say("default route via %s: %s", f[2], strerror(errno));
	}
	close(s);

	const char *dns = param("banger.dns");
	if (dns) {
		char text[512] = "", one[64];
		for (const char *p = dns; *p;) {
			size_t k = strcspn(p, ",");
			struct in_addr a;
			snprintf(one, sizeof(one), "%.*s", (int)(k < 63 ? k : 63), p);
			if (inet_pton(AF_INET, one, &a) == 1 && strlen(text) + k + 13 < sizeof(text))
				snprintf(text + strlen(text), sizeof(text) - strlen(text), "nameserver %s\n", one);
			p += k + (p[k] == ',');
		}
		unlink("/etc/resolv.conf"); /* maybe a symlink into a resolver's dir */
		mkdir("/etc", 0755);
		if (write_text("/etc/resolv.conf", text, 0644) < 0)
			say("writing /etc/resolv.conf: %s", strerror(errno));
	}
}

static void hostname(const char *from_ip)
{
	char name[65] = "";
	FILE *f = fopen("/etc/hostname", "re");

	if (f) {
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, " \t\n")] = '\0';
		fclose(f);
	}
	if (!name[0] && from_ip)
		snprintf(name, sizeof(name), "%s", from_ip);
	if (name[0] && sethostname(name, strlen(name)) < 0)
		say("sethostname %s: %s", name, strerror(errno));
}

/* --- sshd --- */

static pid_t spawn(char *const argv[], bool quiet)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0)
				dup2(fd, 1), dup2(fd, 2);
		}
		execv(argv[0], argv);
		say("exec %s: %s", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static int run(char *const argv[])
{
	int status;
	pid_t pid = spawn(argv, true);

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* sshd needs its privilege-separation user and directory. */
static void sshd_prereqs(void)
{
	FILE *f = fopen("/etc/passwd", "re");
	char line[512];
	bool have = false;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "sshd:", 5))
			have = true;
	if (f)
		fclose(f);
	if (!have) {
		f = fopen("/etc/passwd", "ae");
		if (f) {
			fputs("sshd:x:65533:65534:sshd privilege separation:/run/sshd:/bin/false\n", f);
			fclose(f);
		}
	}
	mkdir("/run/sshd", 0755);
}

static bool image_sshd(void)
{
	return access("/usr/sbin/sshd", X_OK) == 0;
}

/* Host keys of this VM, made on its first boot: the image's own (shared
 * by every copy of the image) are replaced. */
static void host_keys(void)
{
	if (access(KEYS_DONE, F_OK) == 0)
		return;
	if (image_sshd() && access("/usr/bin/ssh-keygen", X_OK) == 0) {
		DIR *d = opendir("/etc/ssh");
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (!strncmp(de->d_name, "ssh_host_", 9)) {
				char p[300];
				snprintf(p, sizeof(p), "/etc/ssh/%s", de->d_name);
				unlink(p);
			}
		if (d)
			closedir(d);
		/* ed25519 only: an RSA key takes seconds to make under TCG. */
		char *argv[] = { "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
				 "/etc/ssh/ssh_host_ed25519_key", NULL };
		mkdir("/etc/ssh", 0755);
		if (run(argv) != 0)
			say("making the host key failed");
	} else {
		char *argv[] = { SSH_LOADER, "--library-path", SSH_LIBS, SSH_DIR "/ssh-keygen", "-q",
				 "-t", "ed25519", "-N", "", "-f", SSH_KEYS "/ssh_host_ed25519_key", NULL };
		mkdir(SSH_KEYS, 0700);
		unlink(SSH_KEYS "/ssh_host_ed25519_key");
		unlink(SSH_KEYS "/ssh_host_ed25519_key.pub");
		if (run(argv) != 0)
			say("making the host key failed");
	}
	write_text(KEYS_DONE, "", 0600);
}

#define POSTURE                                                                          \
	"-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no", "-o", \
		"KbdInteractiveAuthentication=no", "-o", "StrictModes=yes"

static pid_t start_sshd(void)
{
	if (image_sshd()) {
		char *argv[] = { "/usr/sbin/sshd", "-D", "-e", "-o",
				 "HostKey=/etc/ssh/ssh_host_ed25519_key", POSTURE, NULL };
		return spawn(argv, false);
	}
	if (access(SSH_LOADER, X_OK) != 0) {
		say("no sshd: the image has none and banger's is not in " SSH_DIR);
		return -1;
	}
	write_text(SSH_CONF,
		   "HostKey " SSH_KEYS "/ssh_host_ed25519_key\n"
		   "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
		   "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes yes\n"
		   "AuthorizedKeysFile .ssh/authorized_keys\nPidFile none\n"
		   "Subsystem sftp internal-sftp\n",
		   0600);
	/* -r: no re-exec (sshd would exec itself without the loader). */
	char *argv[] = { SSH_LOADER, "--library-path", SSH_LIBS, SSH_DIR "/sshd", "-D", "-e", "-r",
			 "-f", SSH_CONF, NULL };
	return spawn(argv, false);
}

/* --- the guest agent --- */

/* With no arguments the agent serves whichever channel the guest has and
 * exits 0 when it finds none within 10 s. */
static pid_t start_agent(void)
{
	char *argv[] = { AGENT, NULL };

	return spawn(argv, false);
}

/* --- power --- */

static int open_buttons(struct pollfd *pfd, int max)
{
	int n = 0;

	for (int i = 0; i < 32 && n < max; i++) {
		char path[32];
		unsigned long keys[KEY_MAX / (8 * sizeof(long)) + 1];
		snprintf(path, sizeof(path), "/dev/input/event%d", i);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(keys, 0, sizeof(keys));
		if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) >= 0 &&
		    (keys[KEY_POWER / (8 * sizeof(long))] >> (KEY_POWER % (8 * sizeof(long))) & 1)) {
			pfd[n].fd = fd;
			pfd[n].events = POLLIN;
			n++;
		} else {
			close(fd);
		}
	}
	return n;
}

static bool power_pressed(int fd)
{
	struct input_event ev[16];
	ssize_t n;

	while ((n = read(fd, ev, sizeof(ev))) > 0)
		for (size_t i = 0; i < (size_t)n / sizeof(ev[0]); i++)
			if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1)
				return true;
	return false;
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void power_off(void)
{
	struct timespec t0, t;

	say("powering off");
	kill(-1, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t p = waitpid(-1, NULL, WNOHANG);
		if (p < 0 && errno == ECHILD)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 3) {
			kill(-1, SIGKILL);
			reap_all();
			break;
		}
		if (p <= 0)
			usleep(50000);
	}
	sync();
	umount2("/root", MNT_DETACH);
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		say("remounting / read-only: %s", strerror(errno));
	sync();
	reboot(RB_POWER_OFF);
	say("power off failed: %s", strerror(errno));
	for (;;)
		pause();
}

/* --- init run -- CMD --- */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0, k;

	if (!f)
		return NULL;
	do {
		if (n + 4096 > cap) {
			char *nb = realloc(buf, cap = n + 65536);
			if (!nb || cap > (16u << 20)) {
				free(nb ? nb : buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		k = fread(buf + n, 1, cap - n - 1, f);
		n += k;
	} while (k > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int run_as(const char *spec)
{
	char user[256], *group;
	struct passwd *pw = NULL;
	uid_t uid;
	gid_t gid;
	char *end;

	snprintf(user, sizeof(user), "%s", spec);
	user[strcspn(user, "\n")] = '\0';
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	errno = 0;
	unsigned long n = strtoul(user, &end, 10);
	if (*user && !*end && !errno) {
		uid = (uid_t)n;
		pw = getpwuid(uid);
	} else if ((pw = getpwnam(user))) {
		uid = pw->pw_uid;
	} else {
		say("run: user \"%s\" is not in the image's /etc/passwd", user);
		return -1;
	}
	gid = pw ? pw->pw_gid : (gid_t)uid;
	if (group && *group) {
		struct group *gr;
		n = strtoul(group, &end, 10);
		if (!*end)
			gid = (gid_t)n;
		else if ((gr = getgrnam(group)))
			gid = gr->gr_gid;
		else {
			say("run: group \"%s\" is not in the image's /etc/group", group);
			return -1;
		}
	}
	if (pw && !group && initgroups(pw->pw_name, gid) < 0)
		setgroups(1, &gid);
	else if (!pw || group)
		setgroups(1, &gid);
	if (setgid(gid) < 0 || setuid(uid) < 0) {
		say("run: cannot become %u:%u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
		return -1;
	}
	if (pw) {
		setenv("HOME", pw->pw_dir, 1);
		setenv("USER", pw->pw_name, 1);
		setenv("LOGNAME", pw->pw_name, 1);
	}
	return 0;
}

static int run_cmd(int argc, char **argv)
{
	size_t len = 0;
	char *env, *text;
	int i = 2;

	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc) {
		fprintf(stderr, "usage: %s run -- CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	env = slurp("/.banger/env", &len);
	for (char *p = env; p && p < env + len; p += strlen(p) + 1)
		if (strchr(p, '=') && p[0] != '=')
			putenv(p);
	if ((text = slurp("/.banger/user", &len)) && run_as(text) < 0)
		return 126;
	free(text);
	if ((text = slurp("/.banger/workdir", &len))) {
		text[strcspn(text, "\n")] = '\0';
		if (*text && chdir(text) < 0) {
			say("run: cannot enter the image's working directory %s: %s", text, strerror(errno));
			return 126;
		}
		free(text);
	}
	execvp(argv[i], argv + i);
	say("run: %s: %s", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[1 + MAX_BUTTONS];
	struct signalfd_siginfo si;
	char host[64] = "";
	sigset_t set;
	pid_t sshd = -1, agent = -1;
	time_t last_start = 0, agent_last = 0;
	bool want_agent;
	int fd, nb;

	if (getpid() != 1 && argc >= 2 && !strcmp(argv[1], "run"))
		return run_cmd(argc, argv);
	if (getpid() != 1) {
		fprintf(stderr, "banger-init: not PID 1; this is the init of banger's container images\n"
				"usage: %s run -- CMD [ARGS...]\n", argv[0]);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPWR);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	reboot(RB_DISABLE_CAD); /* ctrl-alt-del: SIGINT to us */

	mount_basics();
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
		cmdline[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	network(host);
	hostname(host[0] ? host : NULL);
	mount_work();
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("HOME", "/root", 1);
	/* The agent first: /root is mounted, so once it answers the host can
	 * run commands; the host key below takes a while under TCG. */
	want_agent = access(AGENT, X_OK) == 0;
	if (want_agent) {
		agent_last = time(NULL);
		agent = start_agent();
	}
	sshd_prereqs();
	host_keys();

	pfd[0].fd = signalfd(-1, &set, SFD_CLOEXEC);
	pfd[0].events = POLLIN;
	nb = open_buttons(pfd + 1, MAX_BUTTONS);
	say("up (%d power button%s)", nb, nb == 1 ? "" : "s");

	for (;;) {
		if (sshd <= 0 && time(NULL) != last_start) {
			last_start = time(NULL);
			sshd = start_sshd();
		}
		if (want_agent && agent <= 0 && time(NULL) != agent_last) {
			agent_last = time(NULL);
			agent = start_agent();
		}
		bool waiting = sshd <= 0 || (want_agent && agent <= 0);
		if (poll(pfd, (nfds_t)(1 + nb), waiting ? 1000 : -1) < 0 && errno != EINTR)
			continue;
		for (int i = 1; i <= nb; i++)
			if ((pfd[i].revents & POLLIN) && power_pressed(pfd[i].fd))
				power_off();
		if (!(pfd[0].revents & POLLIN) || read(pfd[0].fd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD) {
			pid_t p;
			int status;
			while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
				if (p == sshd) {
					say("sshd exited (status %d); starting it again", status);
					sshd = -1;
				} else if (p == agent && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
					say("the guest agent found no channel to the host; not starting it again");
					agent = -1;
					want_agent = false;
				} else if (p == agent) {
					say("the guest agent exited (status %d); starting it again", status);
					agent = -1;
				}
			}
		} else if (si.ssi_signo != SIGHUP) {
			power_off();
		}
	}
}
