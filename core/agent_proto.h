/* core/agent_proto.h: the wire format between banger and its guest agent,
 * shared by both sides (guest/agent*.c and core/agent_client.c).  The
 * protocol itself (verbs, order, flow control) is in docs/agent.md.
 *
 * A frame is one line of printable ASCII:
 *
 *     VERB SP ID *(SP FIELD) LF          at most AGENT_LINE_MAX bytes, LF included
 *
 * VERB is a lowercase word from the verb table, ID a decimal number
 * (0 = the session, 1..2^32-1 = a request chosen by the host), fields are
 * separated by exactly one space and are, by the verb's schema:
 *   n  a decimal number, no sign, no leading zero, < 2^64
 *   w  a word: [a-z0-9-], 1..32 bytes
 *   s  a string, percent-encoded: every byte outside 0x21..0x7e, and '%'
 *      and '~', is written %XX (uppercase hex); nothing else may be; the
 *      empty string is written "~"; NUL is not allowed
 *   d  data, standard base64 with padding, canonical, 1..AGENT_DATA_MAX
 *      bytes once decoded
 *   k  key=value: key [a-z_], 1..16 bytes, value a string as above
 * So every frame has exactly one encoding: a decoded frame re-encodes to
 * the same bytes (the fuzz target checks it).  Empty lines are ignored.
 *
 * Decoding never reads outside the line it is given, allocates nothing and
 * works in place (decoded strings and data are never longer than their
 * encoding). */
#ifndef BANGER_AGENT_PROTO_H
#define BANGER_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "util.h"

#define AGENT_PROTO_VERSION 1
#define AGENT_LINE_MAX (128 * 1024)    /* one frame, LF included */
#define AGENT_DATA_MAX (48 * 1024)     /* decoded bytes in one d field */
#define AGENT_FIELDS_MAX 1024          /* fields after VERB and ID */
#define AGENT_TEXT_MAX 511             /* an err sentence (BERR_MSG_MAX - 1) */
#define AGENT_PATH_MAX 4095            /* a guest path */
#define AGENT_WORD_MAX 32
#define AGENT_KEY_MAX 16
#define AGENT_WINDOW (256 * 1024)      /* unacknowledged stdin/put bytes per request */
#define AGENT_REQS_MAX 64              /* requests in flight in one session */
#define AGENT_FILE_MAX (16ULL << 30)   /* put/get size */
#define AGENT_RNG_MIN 16
#define AGENT_RNG_MAX 512
#define AGENT_VSOCK_PORT 52            /* < 1024: only root in the guest can bind it */
#define AGENT_VPORT_NAME "banger.agent"

enum agent_verb {
	/* host -> agent */
	AV_HELLO = 1, /* also agent -> host, the handshake's answer */
	AV_PING,
	AV_EXEC,
	AV_IN,
	AV_EOF,
	AV_KILL,
	AV_PUT,
	AV_DATA, /* put: host -> agent; get: agent -> host */
	AV_GET,
	AV_IDENT,
	AV_HOSTKEY,
	AV_CLOCK,
	AV_RNG,
	AV_SHUTDOWN,
	/* agent -> host */
	AV_OK,
	AV_ERR,
	AV_STARTED,
	AV_OUT,
	AV_ACK,
	AV_EXIT,
};

struct agent_verb_info {
	enum agent_verb verb;
	const char *name;
	const char *schema; /* field types; '?' = the rest is optional, '*' = the last type repeats */
	uint16_t max;       /* most fields */
};

const struct agent_verb_info *agent_verb_lookup(enum agent_verb v);
const struct agent_verb_info *agent_verb_by_name(const char *name, size_t len);

struct agent_field {
	char type;   /* 'n' 'w' 's' 'd' 'k' */
	char *s;     /* w, s, d: decoded bytes, NUL-terminated (d may hold NULs);
		      * k: the key, NUL-terminated */
	size_t len;  /* of s (k: of the value) */
	char *val;   /* k: the decoded value, NUL-terminated */
	uint64_t n;  /* n */
};

struct agent_frame {
	const struct agent_verb_info *v;
	uint32_t id;
	size_t nf;
	struct agent_field f[AGENT_FIELDS_MAX];
};

/* Decode one line (without its LF: len bytes, plus line[len] which must be
 * writable and becomes NUL; decoded in place) into fr.  Checks the verb,
 * the id, the field count and every field against the verb's schema, plus
 * the verb's own rules (hello has id 0, everything else id >= 1 except err,
 * exec's counts add up).  -EPROTO with a sentence on error. */
int agent_frame_decode(char *line, size_t len, struct agent_frame *fr, struct berr *err);

/* Re-encode a decoded frame (its fields as decoded), LF included. */
void agent_frame_encode(const struct agent_frame *fr, struct sbuf *out);

/* Building a frame field by field: begin, the fields in schema order, end
 * (adds the LF).  The caller keeps within the bounds above; agent_frame_end
 * returns -E2BIG when the line came out longer than AGENT_LINE_MAX (the
 * caller then drops it: out->len is reset to where the frame began). */
size_t agent_frame_begin(struct sbuf *out, enum agent_verb v, uint32_t id);
void agent_put_num(struct sbuf *out, uint64_t n);
void agent_put_word(struct sbuf *out, const char *w);
void agent_put_str(struct sbuf *out, const char *s, size_t len);
void agent_put_cstr(struct sbuf *out, const char *s);
void agent_put_data(struct sbuf *out, const void *data, size_t len);
void agent_put_kv(struct sbuf *out, const char *key, const char *val);
int agent_frame_end(struct sbuf *out, size_t begin);

/* Incoming bytes -> lines.  Fixed buffer of AGENT_LINE_MAX bytes. */
struct agent_lines {
	char *buf;
	size_t len, start;
	bool skipping; /* inside an over-long line: drop bytes until its LF */
};
void agent_lines_init(struct agent_lines *l);
void agent_lines_free(struct agent_lines *l);
/* Where to read() into and how much room there is (never 0). */
char *agent_lines_space(struct agent_lines *l, size_t *room);
void agent_lines_commit(struct agent_lines *l, size_t n);
/* 1 and the next line (LF replaced by NUL, *len without it), 0 when no
 * complete line is buffered, -E2BIG once for each line longer than
 * AGENT_LINE_MAX (its bytes are dropped up to its LF). */
int agent_lines_next(struct agent_lines *l, char **line, size_t *len);

/* hello's answer carries AGENTVERSION, "VERSION[ FEATURE...]": does
 * version list feature (a whole word after the first)? */
bool agent_version_has(const char *version, const char *feature);

/* base64 (standard alphabet, padded).  decode: strict and canonical;
 * out may be in; returns 0 or -EINVAL. */
size_t agent_b64_len(size_t n);
void agent_b64_encode(const void *in, size_t n, char *out);
int agent_b64_decode(const char *in, size_t n, uint8_t *out, size_t *ret_len);

#endif
