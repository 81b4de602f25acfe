/* core/portname.h: the name of a forward in vms/NAME/ports/ (docs/tree.md):
 * "PORT" or "PORT-HOSTPORT", each decimal 1-65535 with no sign and no
 * leading zero, so every forward has exactly one name.  Outside input
 * (mkdir's name): fuzzed by tests/fuzz/fuzz_portname.c. */
#ifndef BANGER_PORTNAME_H
#define BANGER_PORTNAME_H

#include <stdint.h>

/* 0 with *guest and *host (0 for the PORT form), or -EINVAL. */
int portname_parse(const char *name, int64_t *guest, int64_t *host);

#endif
