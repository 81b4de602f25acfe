/* core/toml.h: a strict reader for the TOML subset banger's config uses.
 *
 * Supported: comments, bare and quoted keys, dotted keys, [tables],
 * [[arrays of tables]], basic and literal strings (single line; basic
 * strings with the TOML escapes), integers (decimal, with _ separators,
 * hex/octal/binary prefixes), booleans, arrays of those values.
 * Not supported (rejected with a clear error): floats, dates/times,
 * multi-line strings, inline tables.
 * Errors name "file:line: what". */
#ifndef BANGER_TOML_H
#define BANGER_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum toml_type { TOML_TABLE, TOML_ARRAY, TOML_STRING, TOML_INT, TOML_BOOL };

struct toml_value {
	enum toml_type type;
	int line;                 /* line where it was defined */
	union {
		char *s;
		int64_t i;
		bool b;
		struct {          /* TOML_TABLE */
			char **keys;
			struct toml_value **vals;
			size_t n;
		} t;
		struct {          /* TOML_ARRAY (also arrays of tables) */
			struct toml_value **items;
			size_t n;
		} a;
	} u;
};

/* Parse text of len bytes (need not be NUL-terminated).  name is used in
 * error messages ("config.toml:12: ...").  Input larger than 1 MiB or
 * nested deeper than 32 levels is rejected. */
int toml_parse(const char *text, size_t len, const char *name,
	       struct toml_value **ret, struct berr *err);
void toml_free(struct toml_value *v);

/* Lookup in a table; NULL when absent. */
const struct toml_value *toml_get(const struct toml_value *table, const char *key);
const char *toml_type_name(enum toml_type t);

#endif
