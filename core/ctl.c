/* core/ctl.c: ctl and config write parsing (see ctl.h). */
#include "ctl.h"

#include <errno.h>
#include <string.h>

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Copy data into buf, checking size and characters.  Strips one trailing
 * newline.  Rejects NUL and control characters other than tab, and (when
 * one_line) embedded newlines. */
static int take_input(const char *data, size_t len, char *buf, int one_line,
		      struct berr *err)
{
	if (len > CTL_WRITE_MAX)
		return berr_set(err, EFBIG, "write of %zu bytes exceeds the %d-byte limit",
				len, CTL_WRITE_MAX);
	if (len > 0 && data[len - 1] == '\n')
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == '\n') {
			if (one_line)
				return berr_set(err, EINVAL,
						"write one command per line (found a newline at byte %zu)",
						i + 1);
			continue;
		}
		if (c == '\t')
			continue;
		if (c < 0x20 || c == 0x7f)
			return berr_set(err, EINVAL,
					"control character 0x%02x at byte %zu is not allowed", c, i + 1);
	}
	memcpy(buf, data, len);
	buf[len] = '\0';
	return 0;
}

/* Split s in place into at most max fields; returns the count, or max+1
 * when there are more. */
static int split(char *s, char **fields, int max)
{
	int n = 0;
	for (;;) {
		while (*s && is_blank(*s))
			s++;
		if (!*s)
			return n;
		if (n == max)
			return max + 1;
		fields[n++] = s;
		while (*s && !is_blank(*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

int ctl_parse(const char *data, size_t len, const struct ctl_cmd *tab, size_t n,
	      struct ctl_req *req, struct berr *err)
{
	char *fields[CTL_MAX_ARGS + 1];
	int r, nf;

	memset(req, 0, sizeof(*req));
	r = take_input(data, len, req->buf, 1, err);
	if (r < 0)
		return r;
	nf = split(req->buf, fields, CTL_MAX_ARGS + 1);
	if (nf == 0)
		return berr_set(err, EINVAL, "empty command");
	for (size_t i = 0; i < n; i++) {
		const struct ctl_cmd *c = &tab[i];
		if (strcmp(fields[0], c->name) != 0)
			continue;
		int argc = nf - 1;
		if (nf > CTL_MAX_ARGS + 1 || argc < c->min_args || argc > c->max_args)
			return berr_set(err, EINVAL, "usage: %s", c->usage);
		req->cmd = c;
		req->argc = argc;
		for (int a = 0; a < argc; a++)
			req->argv[a] = fields[a + 1];
		return 0;
	}
	struct sbuf known;
	sbuf_init(&known);
	for (size_t i = 0; i < n; i++)
		sbuf_printf(&known, "%s%s", i ? ", " : "", tab[i].name);
	r = berr_set(err, EINVAL, "unknown command '%.64s' (known: %s)", fields[0],
		     known.buf ? known.buf : "none");
	sbuf_free(&known);
	return r;
}

int kv_parse(const char *data, size_t len, const char *single_key, struct kv_req *req,
	     struct berr *err)
{
	char *fields[3];
	int r;

	memset(req, 0, sizeof(*req));
	r = take_input(data, len, req->buf, single_key != NULL, err);
	if (r < 0)
		return r;
	if (single_key) {
		int nf = split(req->buf, fields, 1);
		if (nf == 0)
			return berr_set(err, EINVAL, "empty value for %s", single_key);
		if (nf > 1)
			return berr_set(err, EINVAL, "%s takes one value", single_key);
		req->kv[0].key = (char *)single_key;
		req->kv[0].value = fields[0];
		req->n = 1;
		return 0;
	}
	char *line = req->buf;
	int lineno = 0;
	while (line) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		int nf = split(line, fields, 2);
		if (nf == 1 || nf > 2)
			return berr_set(err, EINVAL, "line %d: expected 'key value'", lineno);
		if (nf == 2) {
			if (req->n == KV_MAX_LINES)
				return berr_set(err, EINVAL, "too many lines (limit %d)", KV_MAX_LINES);
			for (size_t i = 0; i < req->n; i++)
				if (strcmp(req->kv[i].key, fields[0]) == 0)
					return berr_set(err, EINVAL, "line %d: %s given twice",
							lineno, fields[0]);
			req->kv[req->n].key = fields[0];
			req->kv[req->n].value = fields[1];
			req->n++;
		}
		line = next;
	}
	if (req->n == 0)
		return berr_set(err, EINVAL, "nothing to set: write 'key value' lines");
	return 0;
}
