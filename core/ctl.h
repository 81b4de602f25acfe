/* core/ctl.h: parsing what users write into ctl and config files.
 *
 * A ctl write is one command line: a verb and its arguments separated by
 * blanks, an optional trailing newline.  Commands come from a table of
 * {id, name, min args, max args, usage}; the table also produces what a
 * read of ctl shows.  A config write is one or more "key value" lines. */
#ifndef BANGER_CTL_H
#define BANGER_CTL_H

#include <stddef.h>

#include "err.h"
#include "util.h"

#define CTL_WRITE_MAX 4096
#define CTL_MAX_ARGS 4
#define KV_MAX_LINES 16

struct ctl_cmd {
	int id;
	const char *name;
	int min_args, max_args;
	const char *usage;   /* e.g. "import DIR" */
};

struct ctl_req {
	const struct ctl_cmd *cmd;
	int argc;
	char *argv[CTL_MAX_ARGS];        /* point into buf */
	char buf[CTL_WRITE_MAX + 1];
};

/* Parse one command.  Errors: -EFBIG for writes over CTL_WRITE_MAX,
 * -EINVAL for empty input, control characters, several lines, an unknown
 * verb (the message lists the known ones) or a wrong argument count (the
 * message shows the usage). */
int ctl_parse(const char *data, size_t len, const struct ctl_cmd *tab, size_t n,
	      struct ctl_req *req, struct berr *err);

struct kv {
	char *key, *value;   /* point into kv_req.buf */
};
struct kv_req {
	size_t n;
	struct kv kv[KV_MAX_LINES];
	char buf[CTL_WRITE_MAX + 1];
};

/* Parse "key value" lines (blank lines ignored; exactly two fields per
 * line).  If single_key is not NULL the input is a bare value for that
 * key (one line, one field), as written to single-value files. */
int kv_parse(const char *data, size_t len, const char *single_key, struct kv_req *req,
	     struct berr *err);

#endif
