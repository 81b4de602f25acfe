/* core/accel.c: choosing QEMU's accelerator and reading the host TSC rate.
 *
 * `auto` must never pick KVM where a standard guest cannot boot: without a
 * usable /dev/kvm, and on a PVM nested host (module kvm_pvm), where
 * /dev/kvm exists but an ordinary kernel hangs under it. */
#define _GNU_SOURCE
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* Is the kvm_pvm module loaded under root? */
static bool kvm_is_pvm(const char *root)
{
	_cleanup_free_ char *sys = xasprintf("%s/sys/module/kvm_pvm", root);
	_cleanup_free_ char *mods = xasprintf("%s/proc/modules", root);
	_cleanup_fclose_ FILE *f = NULL;
	char line[512];
	struct stat st;

	if (stat(sys, &st) == 0)
		return true;
	f = fopen(mods, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "kvm_pvm ", 8) == 0)
			return true;
	return false;
}

/* 0 if the KVM device opens read-write, else -errno. */
static int kvm_usable(const char *root)
{
	_cleanup_free_ char *dev = xasprintf("%s/dev/kvm", root);
	_cleanup_close_ int fd = open(dev, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : 0;
}

int accel_resolve_in(const char *root, const char *want, const char **ret,
		     char *why, size_t whylen, struct berr *err)
{
	char dummy[1];
	int r;

	if (!why || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (!root)
		root = "";
	if (!want || strcmp(want, "auto") == 0) {
		r = kvm_usable(root);
		if (r < 0) {
			snprintf(why, whylen, "%s/dev/kvm cannot be opened (%s); using tcg",
				 root, strerror(-r));
			*ret = "tcg";
		} else if (kvm_is_pvm(root)) {
			snprintf(why, whylen,
				 "kvm is PVM (kvm_pvm): standard kernels hang; using tcg");
			*ret = "tcg";
		} else {
			snprintf(why, whylen, "%s/dev/kvm is usable; using kvm", root);
			*ret = "kvm";
		}
		return 0;
	}
	if (strcmp(want, "tcg") == 0) {
		snprintf(why, whylen, "tcg was requested");
		*ret = "tcg";
		return 0;
	}
	if (strcmp(want, "kvm") == 0) {
		r = kvm_usable(root);
		if (r < 0)
			return berr_set(err, -r == ENOENT ? ENODEV : -r,
					"kvm was requested but %s/dev/kvm cannot be opened: %s",
					root, strerror(-r));
		if (kvm_is_pvm(root))
			snprintf(why, whylen,
				 "kvm was requested; note: kvm is PVM (kvm_pvm) and standard kernels hang under it");
		else
			snprintf(why, whylen, "kvm was requested");
		*ret = "kvm";
		return 0;
	}
	return berr_set(err, EINVAL, "unknown accelerator \"%s\": use auto, kvm or tcg", want);
}

int accel_resolve(const char *want, const char **ret, char *why, size_t whylen,
		  struct berr *err)
{
	return accel_resolve_in("", want, ret, why, whylen, err);
}

/* Parse the value of a "cpu MHz : 2599.998" line into kHz, rounded. */
static int64_t parse_mhz(const char *v)
{
	int64_t mhz = 0, frac = 0;
	int digits = 0;
	const char *p = v;

	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (mhz > 10000000)
			return 0;
		mhz = mhz * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
			if (digits < 4)
				frac = frac * 10 + (*p - '0');
		}
	}
	if (*p && *p != '\n' && *p != ' ')
		return 0;
	while (digits < 4) {
		frac *= 10;
		digits++;
	}
	/* frac is in units of 0.1 kHz: round to whole kHz. */
	return mhz * 1000 + (frac + 5) / 10;
}

int64_t host_tsc_khz(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	bool at_start = true;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		bool whole = strchr(line, '\n') != NULL;
		if (at_start && strncmp(line, "cpu MHz", 7) == 0) {
			const char *c = strchr(line, ':');
			if (!c)
				return 0;
			c++;
			while (*c == ' ' || *c == '\t')
				c++;
			return parse_mhz(c);
		}
		at_start = whole;
	}
	return 0;
}
