/* core/hostarch.h: the host architectures banger's guests run on.  The
 * kernel bundle and the images are built for x86_64 (amd64) only, and the
 * VMMs are run as x86_64 machines (qemu-system-x86_64, Firecracker on
 * x86_64): on any other host no VM can start. */
#ifndef BANGER_HOSTARCH_H
#define BANGER_HOSTARCH_H

#include <stdbool.h>
#include <stddef.h>

/* Whether machine (uname(2)'s machine field, e.g. "x86_64", "aarch64")
 * can run banger's guests.  If not, a sentence saying so, naming machine,
 * is written to why (len bytes, NUL-terminated). */
bool host_arch_supported(const char *machine, char *why, size_t len);

/* The same for this host (uname(2)); machine gets its machine field. */
bool host_arch_check(char *machine, size_t mlen, char *why, size_t len);

#endif
