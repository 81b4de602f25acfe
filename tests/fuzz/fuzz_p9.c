/* libFuzzer target: the 9P message codec (p9/codec.c), which decodes
 * whatever a client on the socket sends.
 *
 * Beyond "no crash, no read past the buffer": in every dialect, a message
 * that decodes must encode back to the same bytes (the codec is exact:
 * no field is dropped or invented), except Tfsync, whose optional
 * datasync word the server ignores; an unknown type still yields its
 * header; the directory-entry parsers never claim more than they got. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p9msg.h"

static uint8_t out[1 << 17];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum p9_dialect ds[] = { P9_UNSET, P9_2000, P9_2000L };
	struct p9_msg m;

	if (size > sizeof(out))
		return 0;
	for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		int r = p9_decode(data, size, ds[i], &m);
		if (r == -ENOSYS) {
			if (m.type != data[4] || m.tag != (data[5] | data[6] << 8))
				abort();
			continue;
		}
		if (r == -EBADMSG)
			continue;
		if (r != 0)
			abort();
		size_t len = p9_encode(&m, ds[i], out, sizeof(out));
		if (m.type == P9_TFSYNC && (len == size || len + 4 == size))
			continue;
		if (len != size || memcmp(out, data, size) != 0)
			abort();
	}
	/* Directory payloads: entries one after another. */
	for (size_t off = 0; off < size;) {
		struct p9_stat9 st;
		size_t n = p9_stat9_get(data + off, size - off, &st);
		if (n == 0)
			break;
		if (n > size - off || n != (size_t)st.name.len + st.uid.len + st.gid.len +
						      st.muid.len + 49)
			abort();
		off += n;
	}
	for (size_t off = 0; off < size;) {
		struct p9_qid q;
		uint64_t o;
		uint8_t t;
		struct p9_str name;
		size_t n = p9_dirent_get(data + off, size - off, &q, &o, &t, &name);
		if (n == 0)
			break;
		if (n > size - off || n != (size_t)name.len + 24)
			abort();
		off += n;
	}
	return 0;
}
