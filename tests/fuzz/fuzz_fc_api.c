/* libFuzzer target: Firecracker API responses (status + body) as
 * fc_api_parse_response() and fc_api_error_text() see them, and version
 * strings.  The first byte picks the HTTP status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fc_api.h"

static const long statuses[] = { 200, 204, 400, 413, 500, 503, 100, 404 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct berr err;
	json_t *o = NULL;
	char small[16], msg[BERR_MSG_MAX];

	if (size < 1)
		return 0;
	long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	const char *body = (const char *)data + 1;
	size_t len = size - 1;

	int r = fc_api_parse_response(status, body, len, "PUT /fuzz", &o, &err);
	if (r == 0 && status == 200 && !json_is_object(o))
		abort();
	if (r < 0 && (o || strlen(err.msg) >= sizeof(err.msg)))
		abort();
	json_decref(o);
	fc_api_error_text(body, len, small, sizeof(small));
	if (strlen(small) >= sizeof(small))
		abort();
	fc_api_error_text(body, len, msg, sizeof(msg));
	for (const char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			abort(); /* one line, no control characters */

	char v[64];
	size_t n = len < sizeof(v) - 1 ? len : sizeof(v) - 1;
	memcpy(v, body, n);
	v[n] = '\0';
	struct fc_version fv;
	if (fc_version_parse(v, &fv) == 0)
		(void)fc_version_at_least(&fv, 1, 14, 0);
	return 0;
}
