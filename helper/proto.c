/* helper/proto.c: encoder and decoder of the bangerd <-> bangerd-root
 * messages (see proto.h for the format).  The decoders are fuzzed
 * (tests/fuzz/fuzz_helper_proto.c): every length is checked against what is
 * left of the buffer before it is used. */
#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const struct proto_op_info op_table[] = {
    {PROTO_OP_PING, "PING", 0, false},
    {PROTO_OP_NET_ENSURE, "NET_ENSURE", 2, false},
    {PROTO_OP_TAP_CREATE, "TAP_CREATE", 2, false},
    {PROTO_OP_TAP_DELETE, "TAP_DELETE", 1, false},
    {PROTO_OP_TAP_LIST, "TAP_LIST", 0, false},
    {PROTO_OP_CHOWN_TO_OWNER, "CHOWN_TO_OWNER", 1, false},
    {PROTO_OP_RESOLVED_LINK, "RESOLVED_LINK", 2, false},
    {PROTO_OP_RESOLVED_REVERT, "RESOLVED_REVERT", 1, false},
    {PROTO_OP_JAIL_LAUNCH, "JAIL_LAUNCH", 2, false},
    {PROTO_OP_TAP_OPEN, "TAP_OPEN", 2, true},
    {PROTO_OP_FUSE_MOUNT, "FUSE_MOUNT", 1, true},
    {PROTO_OP_FUSE_UNMOUNT, "FUSE_UNMOUNT", 1, false},
    {PROTO_OP_DM_CLONE, "DM_CLONE", 2, false},
    {PROTO_OP_DM_REMOVE, "DM_REMOVE", 1, false},
    {PROTO_OP_DM_LIST, "DM_LIST", 0, false},
};

const struct proto_op_info *proto_op_lookup(unsigned op)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_table); i++)
		if (op_table[i].op == op)
			return &op_table[i];
	return NULL;
}

const struct proto_op_info *proto_op_by_name(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(op_table); i++)
		if (strcmp(op_table[i].name, name) == 0)
			return &op_table[i];
	return NULL;
}

const char *proto_op_name(unsigned op)
{
	const struct proto_op_info *o = proto_op_lookup(op);
	return o ? o->name : "UNKNOWN";
}

/* ---- big-endian cursor ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void put(struct wbuf *w, const void *data, size_t n)
{
	if (w->overflow || n > w->cap - w->len) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void put_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(w, b, 2);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(w, b, 4);
}

/* Patch a u32 at off (the payload length once it is known). */
static void set_u32(struct wbuf *w, size_t off, uint32_t v)
{
	if (w->overflow || off + 4 > w->len)
		return;
	w->p[off] = (uint8_t)(v >> 24);
	w->p[off + 1] = (uint8_t)(v >> 16);
	w->p[off + 2] = (uint8_t)(v >> 8);
	w->p[off + 3] = (uint8_t)v;
}

struct rbuf {
	const uint8_t *p;
	size_t len, off;
};

static bool get_u16(struct rbuf *r, uint16_t *v)
{
	if (r->len - r->off < 2)
		return false;
	*v = (uint16_t)((unsigned)r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return true;
}

static bool get_u32(struct rbuf *r, uint32_t *v)
{
	if (r->len - r->off < 4)
		return false;
	*v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	     (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return true;
}

/* One { u16 len; bytes } string into out (max+1 bytes), NUL-terminated.
 * what names it in the error sentence. */
static int get_str(struct rbuf *r, char *out, size_t max, const char *what, size_t idx,
		   struct berr *err)
{
	uint16_t n;

	if (!get_u16(r, &n))
		return berr_set(err, EBADMSG, "malformed message: %s %zu: length cut off", what,
				idx);
	if (n > max)
		return berr_set(err, EBADMSG, "malformed message: %s %zu is %u bytes, at most %zu",
				what, idx, n, max);
	if (r->len - r->off < n)
		return berr_set(err, EBADMSG, "malformed message: %s %zu runs past the end", what,
				idx);
	if (memchr(r->p + r->off, '\0', n))
		return berr_set(err, EBADMSG, "malformed message: %s %zu contains a NUL byte", what,
				idx);
	memcpy(out, r->p + r->off, n);
	out[n] = '\0';
	r->off += n;
	return 0;
}

/* ---- requests ---- */

int proto_encode_request(unsigned op, const char *const args[], size_t nargs, uint8_t *buf,
			 size_t cap, size_t *ret_len, struct berr *err)
{
	const struct proto_op_info *o = proto_op_lookup(op);
	struct wbuf w = {.p = buf, .cap = cap < PROTO_MSG_MAX ? cap : PROTO_MSG_MAX};

	if (!o)
		return berr_set(err, EINVAL, "unknown helper operation %u", op);
	if (nargs != o->nargs)
		return berr_set(err, EINVAL, "%s takes %u argument%s, not %zu", o->name, o->nargs,
				o->nargs == 1 ? "" : "s", nargs);
	put_u32(&w, PROTO_REQ_MAGIC);
	put_u16(&w, PROTO_VERSION);
	put_u16(&w, (uint16_t)op);
	put_u32(&w, 0);
	for (size_t i = 0; i < nargs; i++) {
		size_t n = args[i] ? strlen(args[i]) : 0;
		if (n > PROTO_ARG_MAX)
			return berr_set(err, EMSGSIZE, "%s: argument %zu is %zu bytes, at most %d",
					o->name, i + 1, n, PROTO_ARG_MAX);
		put_u16(&w, (uint16_t)n);
		put(&w, args[i], n);
	}
	if (w.overflow)
		return berr_set(err, EMSGSIZE, "%s: the request does not fit in %zu bytes", o->name,
				w.cap);
	set_u32(&w, 8, (uint32_t)(w.len - PROTO_REQ_HDR));
	*ret_len = w.len;
	return 0;
}

int proto_decode_request(const uint8_t *buf, size_t len, struct proto_req *ret, struct berr *err)
{
	struct rbuf r = {.p = buf, .len = len};
	uint32_t magic, plen;
	uint16_t version, op;
	int rc;

	if (len > PROTO_MSG_MAX)
		return berr_set(err, EMSGSIZE, "message of %zu bytes is longer than %d", len,
				PROTO_MSG_MAX);
	if (!get_u32(&r, &magic) || !get_u16(&r, &version) || !get_u16(&r, &op) ||
	    !get_u32(&r, &plen))
		return berr_set(err, EBADMSG,
				"malformed message: %zu bytes is shorter than the "
				"%d-byte header",
				len, PROTO_REQ_HDR);
	if (magic != PROTO_REQ_MAGIC)
		return berr_set(err, EBADMSG, "malformed message: bad magic 0x%08x", magic);
	if (version != PROTO_VERSION)
		return berr_set(err, EPROTO,
				"protocol version %u is not supported (this helper "
				"speaks version %d)",
				version, PROTO_VERSION);
	if (plen != len - PROTO_REQ_HDR)
		return berr_set(err, EBADMSG,
				"malformed message: header says %u payload bytes, "
				"the message has %zu",
				plen, len - PROTO_REQ_HDR);
	const struct proto_op_info *o = proto_op_lookup(op);
	if (!o)
		return berr_set(err, EOPNOTSUPP, "unknown operation %u", op);
	ret->op = op;
	ret->nargs = o->nargs;
	for (size_t i = 0; i < o->nargs; i++)
		if ((rc = get_str(&r, ret->args[i], PROTO_ARG_MAX, "argument", i + 1, err)) < 0)
			return berr_wrap(err, "%s", o->name);
	if (r.off != r.len)
		return berr_set(err, EBADMSG,
				"malformed message: %s takes %u argument%s; %zu "
				"trailing bytes",
				o->name, o->nargs, o->nargs == 1 ? "" : "s", r.len - r.off);
	return 0;
}

/* ---- replies ---- */

int proto_encode_reply(int status, const char *msg, const char *const list[], size_t n,
		       uint8_t *buf, size_t cap, size_t *ret_len, struct berr *err)
{
	struct wbuf w = {.p = buf, .cap = cap < PROTO_MSG_MAX ? cap : PROTO_MSG_MAX};
	char text[PROTO_TEXT_MAX + 1];
	size_t tn = 0;

	if (status > 0 || status < -4095)
		return berr_set(err, EINVAL, "reply status %d is not 0 or a negative errno",
				status);
	if (n > PROTO_LIST_MAX)
		return berr_set(err, EMSGSIZE, "a reply holds at most %d strings, not %zu",
				PROTO_LIST_MAX, n);
	for (; msg && msg[tn] && tn < PROTO_TEXT_MAX; tn++) {
		unsigned char c = (unsigned char)msg[tn];
		text[tn] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	put_u32(&w, PROTO_REP_MAGIC);
	put_u16(&w, PROTO_VERSION);
	put_u16(&w, (uint16_t)n);
	put_u32(&w, (uint32_t)status);
	put_u32(&w, 0);
	put_u16(&w, (uint16_t)tn);
	put(&w, text, tn);
	for (size_t i = 0; i < n; i++) {
		size_t sn = list[i] ? strlen(list[i]) : 0;
		if (sn == 0 || sn > PROTO_ARG_MAX)
			return berr_set(err, EINVAL, "reply string %zu has %zu bytes, not 1..%d",
					i + 1, sn, PROTO_ARG_MAX);
		put_u16(&w, (uint16_t)sn);
		put(&w, list[i], sn);
	}
	if (w.overflow)
		return berr_set(err, EMSGSIZE, "the reply (%zu strings) does not fit in %zu bytes",
				n, w.cap);
	set_u32(&w, 12, (uint32_t)(w.len - PROTO_REP_HDR));
	*ret_len = w.len;
	return 0;
}

void proto_reply_done(struct proto_reply *r)
{
	if (!r || !r->list)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->list[i]);
	free(r->list);
	r->list = NULL;
	r->n = 0;
}

int proto_decode_reply(const uint8_t *buf, size_t len, struct proto_reply *ret, struct berr *err)
{
	struct rbuf r = {.p = buf, .len = len};
	uint32_t magic, ustatus, plen;
	uint16_t version, count;
	char tmp[PROTO_ARG_MAX + 1];
	int rc;

	ret->list = NULL;
	ret->n = 0;
	ret->msg[0] = '\0';
	if (len > PROTO_MSG_MAX)
		return berr_set(err, EMSGSIZE, "reply of %zu bytes is longer than %d", len,
				PROTO_MSG_MAX);
	if (!get_u32(&r, &magic) || !get_u16(&r, &version) || !get_u16(&r, &count) ||
	    !get_u32(&r, &ustatus) || !get_u32(&r, &plen))
		return berr_set(err, EBADMSG,
				"malformed reply: %zu bytes is shorter than the "
				"%d-byte header",
				len, PROTO_REP_HDR);
	if (magic != PROTO_REP_MAGIC)
		return berr_set(err, EBADMSG, "malformed reply: bad magic 0x%08x", magic);
	if (version != PROTO_VERSION)
		return berr_set(err, EPROTO, "reply in protocol version %u (we speak %d)", version,
				PROTO_VERSION);
	int32_t status = (int32_t)ustatus;
	if (status > 0 || status < -4095)
		return berr_set(err, EBADMSG, "malformed reply: status %d", (int)status);
	if (plen != len - PROTO_REP_HDR)
		return berr_set(err, EBADMSG,
				"malformed reply: header says %u payload bytes, the "
				"message has %zu",
				plen, len - PROTO_REP_HDR);
	if (count > PROTO_LIST_MAX)
		return berr_set(err, EBADMSG, "malformed reply: %u strings, at most %d", count,
				PROTO_LIST_MAX);
	if ((rc = get_str(&r, ret->msg, PROTO_TEXT_MAX, "message", 0, err)) < 0)
		return rc;
	char **v = xcalloc((size_t)count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		if ((rc = get_str(&r, tmp, PROTO_ARG_MAX, "list string", i + 1, err)) < 0 ||
		    (!tmp[0] && (rc = berr_set(err, EBADMSG,
					       "malformed reply: list string %zu is "
					       "empty",
					       i + 1)) < 0)) {
			ret->list = v;
			ret->n = i;
			proto_reply_done(ret);
			return rc;
		}
		v[i] = xstrdup(tmp);
	}
	if (r.off != r.len) {
		ret->list = v;
		ret->n = count;
		proto_reply_done(ret);
		return berr_set(err, EBADMSG, "malformed reply: %zu trailing bytes", r.len - r.off);
	}
	ret->status = status;
	ret->n = count;
	if (count > 0)
		ret->list = v;
	else
		free(v);
	return 0;
}
