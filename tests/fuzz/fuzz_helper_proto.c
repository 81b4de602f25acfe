/* libFuzzer target: the bangerd-root protocol decoders (helper/proto.c) and
 * the helper's path syntax check (helper/paths.c).
 *
 * Properties: the decoders never read outside the buffer (ASan), and
 * whatever they accept re-encodes to exactly the same bytes, so a message
 * has one meaning only.  The first byte picks the parser so one corpus
 * covers requests, replies and paths; the rest is the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Relative, so the target builds with FUZZ_CFLAGS' -Icore alone. */
#include "../../helper/paths.h"
#include "../../helper/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proto_req req;
	static uint8_t out[PROTO_MSG_MAX];
	struct proto_reply rep;
	struct berr err;
	size_t len;

	if (size < 1)
		return 0;
	uint8_t kind = data[0] % 3;
	data++, size--;

	if (kind == 0) {
		if (proto_decode_request(data, size, &req, &err) == 0) {
			const char *args[PROTO_ARGS_MAX];
			for (size_t i = 0; i < req.nargs; i++)
				args[i] = req.args[i];
			if (proto_encode_request(req.op, args, req.nargs, out, sizeof(out), &len,
						 &err) != 0 ||
			    len != size || memcmp(out, data, size) != 0)
				abort();
		}
	} else if (kind == 1) {
		if (proto_decode_reply(data, size, &rep, &err) == 0) {
			/* A message with control characters is valid on the wire but
			 * is re-encoded with '?': compare only when there are none. */
			bool plain = true;
			for (const char *c = rep.msg; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					plain = false;
			if (rep.n > 0 && (!rep.list || rep.list[rep.n]))
				abort();
			if (proto_encode_reply(rep.status, rep.msg, (const char *const *)rep.list,
					       rep.n, out, sizeof(out), &len, &err) != 0)
				abort();
			if (plain && (len != size || memcmp(out, data, size) != 0))
				abort();
			proto_reply_done(&rep);
		}
	} else {
		char path[PROTO_ARG_MAX + 1];
		size_t n = size < PROTO_ARG_MAX ? size : PROTO_ARG_MAX;
		memcpy(path, data, n);
		path[n] = '\0';
		size_t pl = strlen(path);
		if (path_clean_check(path, &err) == 0 &&
		    (path[0] != '/' || strstr(path, "//") || strstr(path, "/../") ||
		     strstr(path, "/./") || (pl > 1 && path[pl - 1] == '/') ||
		     (pl >= 2 && strcmp(path + pl - 2, "/.") == 0) ||
		     (pl >= 3 && strcmp(path + pl - 3, "/..") == 0)))
			abort();
	}
	return 0;
}
