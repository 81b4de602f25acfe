/* libFuzzer target: the guest agent's line reader and frame decoder
 * (core/agent_proto.c), used by both the agent and the host client.
 *
 * Properties: nothing is read or written outside the buffers (ASan); the
 * line reader hands out lines no longer than the bound, fed in arbitrary
 * pieces; every frame the decoder accepts re-encodes to exactly the bytes it
 * came from (one meaning per frame); every accepted frame's fields respect
 * the verb's bounds; hello's feature list (agent_version_has) is read
 * within its string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *line, size_t len)
{
	static struct agent_frame fr;
	static char copy[AGENT_LINE_MAX + 1];
	struct berr err;
	struct sbuf out;

	if (len > AGENT_LINE_MAX)
		abort();
	memcpy(copy, line, len);
	copy[len] = '\0';
	if (agent_frame_decode(copy, len, &fr, &err) != 0)
		return;
	if (fr.nf > AGENT_FIELDS_MAX)
		abort();
	for (size_t i = 0; i < fr.nf; i++)
		if (fr.f[i].type == 'd' && (fr.f[i].len == 0 || fr.f[i].len > AGENT_DATA_MAX))
			abort();
	/* hello's version and features: a listed feature is in the text */
	if (fr.v->verb == AV_HELLO && fr.nf > 2 && agent_version_has(fr.f[2].s, "ident-mac") &&
	    !strstr(fr.f[2].s, " ident-mac"))
		abort();
	sbuf_init(&out);
	agent_frame_encode(&fr, &out);
	if (out.len != len + 1 || memcmp(out.buf, line, len) != 0 || out.buf[len] != '\n')
		abort();
	sbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_lines l;
	size_t off = 0;

	if (size < 1)
		return 0;
	/* The first byte sets the piece size the reader is fed in. */
	size_t piece = (size_t)data[0] * 37 + 1;
	data++, size--;

	/* The whole input as one line, then the reader over pieces. */
	if (size < AGENT_LINE_MAX && !memchr(data, '\n', size))
		check_line((const char *)data, size);

	agent_lines_init(&l);
	while (off < size) {
		size_t room;
		char *p;
		char *line;
		size_t len;
		int r;
		while ((r = agent_lines_next(&l, &line, &len)) != 0) {
			if (r == 1)
				check_line(line, len);
		}
		p = agent_lines_space(&l, &room);
		if (!p || room == 0)
			abort();
		size_t n = size - off < piece ? size - off : piece;
		if (n > room)
			n = room;
		memcpy(p, data + off, n);
		agent_lines_commit(&l, n);
		off += n;
	}
	{
		char *line;
		size_t len;
		int r;
		while ((r = agent_lines_next(&l, &line, &len)) != 0)
			if (r == 1)
				check_line(line, len);
	}
	agent_lines_free(&l);
	return 0;
}
