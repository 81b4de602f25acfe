/* core/fc_api.h: a small client for the Firecracker API (HTTP/1.1 over the
 * API Unix socket, JSON bodies), see /work/shared/FIRECRACKER.md §1-2.
 *
 * One call = one connection: curl connects to the socket, sends the request
 * with a Content-Length body (never chunked, no "Expect: 100-continue"),
 * reads at most FC_API_MAX_RESPONSE bytes of response and closes.  The
 * response is turned into 0 (204, or 200 with a JSON body) or a negative
 * errno with the server's own words in err:
 *   400/413 {"fault_message": "..."}    API-level refusals
 *   400/503 { "error": "...\n..." }     micro-http errors (raw newline inside)
 *   500 plain text                      socket read error */
#ifndef BANGER_FC_API_H
#define BANGER_FC_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define FC_API_MAX_RESPONSE (64 * 1024)

/* Perform one API call.  method is "GET", "PUT" or "PATCH"; path starts
 * with '/'; body (may be NULL) is serialised compactly and not stolen.
 * On a 200 with a JSON body *ret (if ret is not NULL) gets the parsed
 * object (caller decrefs); on a 204 *ret is NULL.  Errors:
 *   -EREMOTEIO  the API answered with an error status; err is
 *               "firecracker refused METHOD PATH: <its message>"
 *   -ECONNREFUSED / -ENOENT  nothing listens on sock
 *   -ETIMEDOUT  no complete answer within timeout_ms
 *   -EMSGSIZE   response larger than FC_API_MAX_RESPONSE
 *   -EPROTO     a 200 whose body is not a JSON object, an unexpected status */
int fc_api_call(const char *sock, const char *method, const char *path, json_t *body,
		int timeout_ms, json_t **ret, struct berr *err);

/* The response half, separated so it can be fuzzed: turn an HTTP status and
 * a body (len bytes, not NUL-terminated) into 0 / negative errno as above.
 * what ("PUT /drives/rootfs") names the call in the message. */
int fc_api_parse_response(long status, const char *body, size_t len, const char *what,
			  json_t **ret, struct berr *err);

/* Extract the human message of an error body: the "fault_message" or
 * "error" string of a JSON object (also when the object holds raw control
 * characters inside strings, as micro-http writes it), else the body text
 * itself.  Newlines and other control characters become spaces; the
 * result is at most len-1 bytes, NUL-terminated.  Returns true when a
 * JSON message field was found. */
bool fc_api_error_text(const char *body, size_t len, char *out, size_t outlen);

/* Firecracker versions, "1.16.1", "v1.16.1", "1.17.0-dev". */
struct fc_version {
	unsigned major, minor, patch;
};
int fc_version_parse(const char *s, struct fc_version *ret);
/* a >= b */
bool fc_version_at_least(const struct fc_version *a, unsigned major, unsigned minor,
			 unsigned patch);

#endif
