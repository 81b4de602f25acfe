/* helper/proto.h: the wire protocol between bangerd and bangerd-root, and
 * the helper's dispatch entry point (helper/ops.c).  See docs/privileges.md.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket, so every message is one
 * datagram and the kernel keeps the boundaries.  One request, one reply.
 * Every integer is big-endian.  No message is longer than PROTO_MSG_MAX.
 *
 * Request:
 *     u32 magic   PROTO_REQ_MAGIC ("BGRQ")
 *     u16 version PROTO_VERSION
 *     u16 op      one of enum proto_op
 *     u32 length  of the payload: the datagram minus these 12 bytes
 *     payload     exactly proto_op_lookup(op)->nargs strings, each
 *                 { u16 len; len bytes }, len <= PROTO_ARG_MAX, no NUL
 *
 * Reply:
 *     u32 magic   PROTO_REP_MAGIC ("BGRP")
 *     u16 version PROTO_VERSION
 *     u16 count   of list strings, <= PROTO_LIST_MAX
 *     i32 status  0, or a negative errno (-4095..-1)
 *     u32 length  of the payload: the datagram minus these 16 bytes
 *     payload     { u16 len; len bytes } the message (a sentence,
 *                 <= PROTO_TEXT_MAX bytes, may be empty), then count
 *                 strings { u16 len; len bytes }, 1..PROTO_ARG_MAX, no NUL
 *
 * The decoders check all of it (magic, version, known op, exact string
 * count, every length inside the datagram, no NUL byte, no trailing byte)
 * and never read outside the buffer they are given. */
#ifndef BANGER_HELPER_PROTO_H
#define BANGER_HELPER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define PROTO_REQ_MAGIC 0x42475251u /* "BGRQ" */
#define PROTO_REP_MAGIC 0x42475250u /* "BGRP" */
#define PROTO_VERSION 1
#define PROTO_MSG_MAX 4096 /* a whole datagram, header included */
#define PROTO_REQ_HDR 12
#define PROTO_REP_HDR 16
#define PROTO_ARG_MAX 1024 /* one request argument or list string, bytes */
#define PROTO_ARGS_MAX 2   /* the most arguments any op takes */
#define PROTO_TEXT_MAX 511 /* a reply sentence (BERR_MSG_MAX - 1) */
#define PROTO_LIST_MAX 256 /* strings in one reply */

/* The closed set of operations.  Numbers are part of the wire format:
 * never reuse one. */
enum proto_op {
	PROTO_OP_PING = 1,
	PROTO_OP_NET_ENSURE = 2,     /* bridge, gateway_cidr */
	PROTO_OP_TAP_CREATE = 3,     /* tap, bridge */
	PROTO_OP_TAP_DELETE = 4,     /* tap */
	PROTO_OP_TAP_LIST = 5,	     /* (none) -> list of tap names */
	PROTO_OP_CHOWN_TO_OWNER = 6, /* path */
	PROTO_OP_RESOLVED_LINK = 7,   /* bridge, "ADDR:PORT" */
	PROTO_OP_RESOLVED_REVERT = 8, /* bridge */
	PROTO_OP_JAIL_LAUNCH = 9,     /* jail id, "api"|"stdout" -> the Firecracker pid */
	PROTO_OP_TAP_OPEN = 10,       /* tap, bridge -> a descriptor of the tap */
	PROTO_OP_FUSE_MOUNT = 11,     /* mount point -> the /dev/fuse descriptor */
	PROTO_OP_FUSE_UNMOUNT = 12,   /* mount point */
	PROTO_OP_DM_CLONE = 13,       /* vm, image path -> the device node, milliseconds */
	PROTO_OP_DM_REMOVE = 14,      /* vm */
	PROTO_OP_DM_LIST = 15,        /* (none) -> names of the VMs with a device */
};

/* Descriptor passing: a successful reply to an op with fd_reply carries
 * exactly one descriptor as SCM_RIGHTS ancillary data of its datagram;
 * every other reply carries none.  The byte format is the same. */
struct proto_op_info {
	uint16_t op;
	const char *name;
	uint8_t nargs;
	bool fd_reply;
};

/* The op's wire facts, or NULL for a number that is not an op. */
const struct proto_op_info *proto_op_lookup(unsigned op);
/* By name ("TAP_CREATE"), for tools and tests; NULL when unknown. */
const struct proto_op_info *proto_op_by_name(const char *name);
/* The op's name, or "UNKNOWN". */
const char *proto_op_name(unsigned op);

/* A decoded request.  Fixed storage: decoding allocates nothing. */
struct proto_req {
	uint16_t op;
	size_t nargs;
	char args[PROTO_ARGS_MAX][PROTO_ARG_MAX + 1];
};

/* A decoded reply.  list is NULL-terminated (NULL when n == 0); free it
 * with proto_reply_done(). */
struct proto_reply {
	int status;
	char msg[PROTO_TEXT_MAX + 1];
	char **list;
	size_t n;
};

/* Encode a request into buf (cap >= PROTO_MSG_MAX is always enough).
 * The op must be known and nargs its count; each argument at most
 * PROTO_ARG_MAX bytes.  -EINVAL / -EMSGSIZE otherwise. */
int proto_encode_request(unsigned op, const char *const args[], size_t nargs, uint8_t *buf,
			 size_t cap, size_t *ret_len, struct berr *err);

/* Decode and validate a request datagram of len bytes.  -EBADMSG for any
 * malformed message (the sentence says what), -EPROTO for a version we do
 * not speak, -EOPNOTSUPP for an unknown op, -EMSGSIZE when too long. */
int proto_decode_request(const uint8_t *buf, size_t len, struct proto_req *ret, struct berr *err);

/* Encode a reply.  status is 0 or a negative errno; msg may be NULL (empty)
 * and is cut to PROTO_TEXT_MAX bytes (control characters become '?').  A list
 * that does not fit in one message is -EMSGSIZE. */
int proto_encode_reply(int status, const char *msg, const char *const list[], size_t n,
		       uint8_t *buf, size_t cap, size_t *ret_len, struct berr *err);

/* Decode and validate a reply datagram (same rules as for requests). */
int proto_decode_reply(const uint8_t *buf, size_t len, struct proto_reply *ret, struct berr *err);
void proto_reply_done(struct proto_reply *r);

/* ---- the helper side: configuration and dispatch (helper/ops.c) ---- */

/* What bangerd-root was started with.  Only these values are ever acted
 * on: a request may name the bridge or the subnet, but it must name these,
 * and the owner is the one uid that may connect. */
struct helper_conf {
	uid_t owner_uid;
	gid_t owner_gid;       /* (gid_t)-1 when the owner has no passwd entry */
	const char *bridge;    /* validated interface name */
	const char *subnet;    /* validated gateway form, "172.16.0.1/24" */
	const char *state_dir; /* managed roots: canonical, existing directories */
	const char *runtime_dir;
	const char *cache_dir;
	const char *jailer;      /* --jailer, canonical; NULL: JAIL_LAUNCH is not offered */
	const char *firecracker; /* --firecracker, canonical (the jailer's --exec-file) */
	const char *mountpoint;  /* --mount, clean absolute; NULL: FUSE_MOUNT is not offered */
};

/* The outcome of one request: the reply's sentence and list.  rejected is
 * set when the request was refused by validation (as opposed to an
 * operation that was allowed and then failed). */
struct ops_result {
	char msg[PROTO_TEXT_MAX + 1];
	int fd;      /* the descriptor a fd_reply op hands back, else -1; owned */
	char **list; /* NULL-terminated, owned; free with ops_result_done() */
	size_t n;
	bool rejected;
};

/* Run one decoded request for the peer uid.  Returns 0 or a negative errno
 * with err filled; res->msg holds the success sentence.  Logs one line to
 * stderr for every refusal ("rejected priv operation OP from uid N: why")
 * and every failure or change. */
int ops_run(const struct helper_conf *conf, uid_t peer, const struct proto_req *req,
	    struct ops_result *res, struct berr *err);
void ops_result_done(struct ops_result *res);

/* 0 when the ops table and the wire table agree (every op handled, same
 * name and count); checked at helper start and by the unit test. */
int ops_selfcheck(struct berr *err);

#endif
