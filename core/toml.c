/* core/toml.c: a strict reader for the TOML subset described in toml.h.
 *
 * One pass over the text, line by line.  Every value is allocated as a
 * struct node whose first member is the public struct toml_value, so the
 * tree handed out is plain toml_value pointers while the parser keeps the
 * bookkeeping TOML's redefinition rules need (was a table defined by a
 * header, created implicitly by a header, or created by dotted keys; is an
 * array a static array or an array of tables).
 *
 * Anything outside the subset is refused with a sentence naming file:line;
 * nothing is guessed. */
#include "toml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define TOML_MAX_INPUT (1u << 20)
#define TOML_MAX_DEPTH 32
#define TOML_MAX_KEYS 1024      /* per table: keeps lookups cheap */
#define MSG_ITEM_MAX 64         /* longest key/token quoted in a message */

enum {
	N_IMPLICIT = 1,  /* table created as the parent in a [a.b] header */
	N_EXPLICIT = 2,  /* table defined by a [header] or [[header]] */
	N_DOTTED = 4,    /* table created by a dotted key (a.b = 1) */
	N_AOT = 8,       /* array created by [[header]] */
};

struct node {
	struct toml_value v;   /* must stay first: toml_value* == node* */
	unsigned flags;
	int depth;             /* root table is 0 */
	size_t cap;            /* allocated slots in keys/vals or items */
};

struct keypath {
	char *part[TOML_MAX_DEPTH];
	int n;
};

struct parser {
	const char *p, *end;
	const char *name;
	int line;
	struct berr *err;
	struct node *root, *cur;
};

static struct node *N(struct toml_value *v)
{
	return (struct node *)v;
}

static int perr(struct parser *ps, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct parser *ps, int code, const char *fmt, ...)
{
	char msg[BERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return berr_set(ps->err, code, "%s:%d: %s", ps->name, ps->line, msg);
}

/* Copy s (len bytes) into buf for a message: bounded, control bytes
 * shown as '?', so a message stays one printable line. */
static const char *msg_text(char *buf, size_t size, const char *s, size_t len)
{
	size_t i, n = len < MSG_ITEM_MAX ? len : MSG_ITEM_MAX;

	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n < len && n >= 3)
		memcpy(buf + n - 3, "...", 3);
	buf[n] = '\0';
	return buf;
}

static const char *key_text(char *buf, size_t size, const struct keypath *k, int upto)
{
	struct sbuf s;
	char part[MSG_ITEM_MAX + 1];

	sbuf_init(&s);
	for (int i = 0; i < upto && i < k->n; i++) {
		if (i)
			sbuf_puts(&s, ".");
		sbuf_puts(&s, msg_text(part, sizeof(part), k->part[i], strlen(k->part[i])));
	}
	snprintf(buf, size, "%s", s.buf ? s.buf : "");
	sbuf_free(&s);
	return buf;
}

static bool at_newline(const struct parser *ps);

/* What the parser is looking at, for "expected X, found Y". */
static const char *found(const struct parser *ps, char *buf, size_t size)
{
	if (ps->p >= ps->end)
		return "end of file";
	unsigned char c = (unsigned char)*ps->p;
	if (at_newline(ps))
		return "end of line";
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", c);
	return buf;
}

const char *toml_type_name(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE: return "table";
	case TOML_ARRAY: return "array";
	case TOML_STRING: return "string";
	case TOML_INT: return "integer";
	case TOML_BOOL: return "boolean";
	}
	return "unknown";
}

void toml_free(struct toml_value *v)
{
	size_t i;

	if (!v)
		return;
	switch (v->type) {
	case TOML_TABLE:
		for (i = 0; i < v->u.t.n; i++) {
			free(v->u.t.keys[i]);
			toml_free(v->u.t.vals[i]);
		}
		free(v->u.t.keys);
		free(v->u.t.vals);
		break;
	case TOML_ARRAY:
		for (i = 0; i < v->u.a.n; i++)
			toml_free(v->u.a.items[i]);
		free(v->u.a.items);
		break;
	case TOML_STRING:
		free(v->u.s);
		break;
	case TOML_INT:
	case TOML_BOOL:
		break;
	}
	free(N(v));
}

const struct toml_value *toml_get(const struct toml_value *table, const char *key)
{
	if (!table || table->type != TOML_TABLE || !key)
		return NULL;
	for (size_t i = 0; i < table->u.t.n; i++)
		if (strcmp(table->u.t.keys[i], key) == 0)
			return table->u.t.vals[i];
	return NULL;
}

static struct node *node_new(struct parser *ps, enum toml_type type, int depth)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->v.type = type;
	n->v.line = ps->line;
	n->depth = depth;
	return n;
}

static struct node *table_find(struct node *t, const char *key)
{
	return N((struct toml_value *)toml_get(&t->v, key));
}

static int check_depth(struct parser *ps, int depth)
{
	if (depth > TOML_MAX_DEPTH)
		return perr(ps, E2BIG, "nesting deeper than %d levels", TOML_MAX_DEPTH);
	return 0;
}

/* Takes ownership of key and val in every case. */
static int table_add(struct parser *ps, struct node *t, char *key, struct node *val)
{
	size_t n = t->v.u.t.n;

	if (n >= TOML_MAX_KEYS) {
		free(key);
		toml_free(&val->v);
		return perr(ps, E2BIG, "table has more than %d keys", TOML_MAX_KEYS);
	}
	if (n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->v.u.t.keys = xrealloc(t->v.u.t.keys, t->cap * sizeof(char *));
		t->v.u.t.vals = xrealloc(t->v.u.t.vals, t->cap * sizeof(struct toml_value *));
	}
	t->v.u.t.keys[n] = key;
	t->v.u.t.vals[n] = &val->v;
	t->v.u.t.n = n + 1;
	return 0;
}

static void array_add(struct node *a, struct node *val)
{
	size_t n = a->v.u.a.n;

	if (n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->v.u.a.items = xrealloc(a->v.u.a.items, a->cap * sizeof(struct toml_value *));
	}
	a->v.u.a.items[n] = &val->v;
	a->v.u.a.n = n + 1;
}

static void keypath_free(struct keypath *k)
{
	for (int i = 0; i < k->n; i++)
		free(k->part[i]);
	k->n = 0;
}

/* ---- lexical helpers ---------------------------------------------- */

/* Length (1..4) of the valid UTF-8 sequence at s, or 0: no overlong
 * forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned c = s[0];
	size_t n, i;
	uint32_t cp, min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2; cp = c & 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3; cp = c & 0x0f; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4; cp = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static bool at_newline(const struct parser *ps)
{
	if (ps->p >= ps->end)
		return false;
	if (*ps->p == '\n')
		return true;
	return *ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n';
}

static void eat_newline(struct parser *ps)
{
	ps->p += *ps->p == '\r' ? 2 : 1;
	ps->line++;
}

/* ps->p at '#': skip to the end of the line (not past the newline). */
static int skip_comment(struct parser *ps)
{
	ps->p++;
	while (ps->p < ps->end && !at_newline(ps)) {
		unsigned char c = (unsigned char)*ps->p;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return perr(ps, EINVAL, "control character 0x%02x in comment", c);
		size_t n = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
		if (!n)
			return perr(ps, EILSEQ, "invalid UTF-8 in comment");
		ps->p += n;
	}
	return 0;
}

/* Whitespace, newlines and comments (inside arrays). */
static int skip_blank(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (at_newline(ps)) {
			eat_newline(ps);
		} else if (ps->p < ps->end && *ps->p == '#') {
			int r = skip_comment(ps);
			if (r < 0)
				return r;
		} else {
			return 0;
		}
	}
}

/* After a key/value pair or a header: only a comment may follow. */
static int expect_eol(struct parser *ps, const char *after)
{
	char fb[16];

	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '#') {
		int r = skip_comment(ps);
		if (r < 0)
			return r;
	}
	if (ps->p >= ps->end)
		return 0;
	if (at_newline(ps)) {
		eat_newline(ps);
		return 0;
	}
	return perr(ps, EINVAL, "unexpected %s after %s", found(ps, fb, sizeof(fb)), after);
}

/* ---- strings ------------------------------------------------------ */

static void put_utf8(struct sbuf *s, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp; n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f)); n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
	}
	sbuf_add(s, b, n);
}

static int parse_escape(struct parser *ps, struct sbuf *s)
{
	char c;
	int digits;
	uint32_t cp = 0;

	ps->p++; /* backslash */
	if (ps->p >= ps->end || at_newline(ps))
		return perr(ps, EINVAL, "unterminated string");
	c = *ps->p++;
	switch (c) {
	case 'b': sbuf_add(s, "\b", 1); return 0;
	case 't': sbuf_add(s, "\t", 1); return 0;
	case 'n': sbuf_add(s, "\n", 1); return 0;
	case 'f': sbuf_add(s, "\f", 1); return 0;
	case 'r': sbuf_add(s, "\r", 1); return 0;
	case '"': sbuf_add(s, "\"", 1); return 0;
	case '\\': sbuf_add(s, "\\", 1); return 0;
	case 'u': digits = 4; break;
	case 'U': digits = 8; break;
	default:
		if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
			return perr(ps, EINVAL, "invalid escape '\\%c' in string", c);
		return perr(ps, EINVAL, "invalid escape in string");
	}
	for (int i = 0; i < digits; i++) {
		int h = ps->p < ps->end ? hex_digit(*ps->p) : -1;
		if (h < 0)
			return perr(ps, EINVAL, "escape '\\%c' needs %d hex digits", c, digits);
		cp = (cp << 4) | (uint32_t)h;
		ps->p++;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return perr(ps, EINVAL, "escape '\\%c' is not a Unicode scalar value", c);
	if (cp == 0)
		return perr(ps, EINVAL, "NUL character (\\%c0000) in string is not allowed", c);
	put_utf8(s, cp);
	return 0;
}

/* ps->p at the opening quote ('"' or '\''). */
static int parse_string(struct parser *ps, char **ret)
{
	char q = *ps->p;
	bool basic = q == '"';
	struct sbuf s;
	int r;

	if (ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q)
		return perr(ps, ENOTSUP, "multi-line strings are not supported");
	ps->p++;
	sbuf_init(&s);
	sbuf_add(&s, "", 0); /* "" must come back as a NUL-terminated empty string */
	for (;;) {
		if (ps->p >= ps->end || *ps->p == '\n' || at_newline(ps)) {
			r = perr(ps, EINVAL, "unterminated string");
			goto fail;
		}
		unsigned char c = (unsigned char)*ps->p;
		if (c == (unsigned char)q) {
			ps->p++;
			break;
		}
		if (basic && c == '\\') {
			r = parse_escape(ps, &s);
			if (r < 0)
				goto fail;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			r = perr(ps, EINVAL, "control character 0x%02x in string", c);
			goto fail;
		}
		size_t n = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
		if (!n) {
			r = perr(ps, EILSEQ, "invalid UTF-8 in string");
			goto fail;
		}
		sbuf_add(&s, ps->p, n);
		ps->p += n;
	}
	*ret = sbuf_steal(&s);
	return 0;
fail:
	sbuf_free(&s);
	return r;
}

/* ---- keys --------------------------------------------------------- */

static bool is_bare(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int parse_key(struct parser *ps, struct keypath *k)
{
	char fb[16];
	int r;

	k->n = 0;
	for (;;) {
		char *part;

		skip_ws(ps);
		if (k->n == TOML_MAX_DEPTH)
			return perr(ps, E2BIG, "key has more than %d parts", TOML_MAX_DEPTH);
		if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '\'')) {
			r = parse_string(ps, &part);
			if (r < 0)
				return r;
		} else if (ps->p < ps->end && is_bare(*ps->p)) {
			const char *b = ps->p;
			while (ps->p < ps->end && is_bare(*ps->p))
				ps->p++;
			part = xmalloc((size_t)(ps->p - b) + 1);
			memcpy(part, b, (size_t)(ps->p - b));
			part[ps->p - b] = '\0';
		} else {
			return perr(ps, EINVAL, "expected a key, found %s", found(ps, fb, sizeof(fb)));
		}
		k->part[k->n++] = part;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '.') {
			ps->p++;
			continue;
		}
		return 0;
	}
}

/* ---- values ------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_token_char(char c)
{
	return is_bare(c) || c == '+' || c == '.' || c == ':';
}

/* Digits of the given base with '_' only between two digits. */
static int parse_digits(const char *s, size_t len, unsigned base, uint64_t limit,
			uint64_t *ret)
{
	uint64_t v = 0;
	bool prev_digit = false;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int d = s[i] == '_' ? -2 : hex_digit(s[i]);
		if (d == -2) {
			if (!prev_digit || i + 1 == len)
				return -EINVAL;
			prev_digit = false;
			continue;
		}
		if (d < 0 || (unsigned)d >= base)
			return -EINVAL;
		if (v > (limit - (unsigned)d) / base)
			return -ERANGE;
		v = v * base + (unsigned)d;
		prev_digit = true;
	}
	*ret = v;
	return 0;
}

static int parse_scalar(struct parser *ps, struct node *val)
{
	const char *b = ps->p;
	char fb[16], tb[MSG_ITEM_MAX + 1];
	size_t len;
	uint64_t u;
	int r;

	while (ps->p < ps->end && is_token_char(*ps->p))
		ps->p++;
	len = (size_t)(ps->p - b);
	if (len == 0) {
		ps->p = b;
		return perr(ps, EINVAL, "expected a value, found %s", found(ps, fb, sizeof(fb)));
	}
	msg_text(tb, sizeof(tb), b, len);
	if ((len == 4 && memcmp(b, "true", 4) == 0) || (len == 5 && memcmp(b, "false", 5) == 0)) {
		val->v.type = TOML_BOOL;
		val->v.u.b = len == 4;
		return 0;
	}
	const char *num = b;
	size_t nlen = len;
	bool neg = false, sign = false;
	if (*num == '+' || *num == '-') {
		neg = *num == '-';
		sign = true;
		num++;
		nlen--;
	}
	if (nlen == 3 && (memcmp(num, "inf", 3) == 0 || memcmp(num, "nan", 3) == 0))
		return perr(ps, ENOTSUP, "floats are not supported ('%s')", tb);
	if (nlen == 0 || !is_digit(*num))
		return perr(ps, EINVAL, "invalid value '%s' (strings must be quoted)", tb);
	if (!sign && ((len >= 5 && is_digit(b[1]) && is_digit(b[2]) && is_digit(b[3]) && b[4] == '-') ||
		      (len >= 3 && is_digit(b[1]) && b[2] == ':')))
		return perr(ps, ENOTSUP, "dates and times are not supported ('%s')", tb);
	if (!sign && len >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'o' || b[1] == 'b')) {
		unsigned base = b[1] == 'x' ? 16 : b[1] == 'o' ? 8 : 2;
		r = parse_digits(b + 2, len - 2, base, INT64_MAX, &u);
		if (r == -ERANGE)
			return perr(ps, ERANGE, "integer '%s' is out of range", tb);
		if (r < 0)
			return perr(ps, EINVAL, "invalid integer '%s'", tb);
		val->v.type = TOML_INT;
		val->v.u.i = (int64_t)u;
		return 0;
	}
	if (memchr(num, '.', nlen) || memchr(num, 'e', nlen) || memchr(num, 'E', nlen))
		return perr(ps, ENOTSUP, "floats are not supported ('%s')", tb);
	if (nlen > 1 && num[0] == '0')
		return perr(ps, EINVAL, "invalid integer '%s' (leading zeros are not allowed)", tb);
	r = parse_digits(num, nlen, 10, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &u);
	if (r == -ERANGE)
		return perr(ps, ERANGE, "integer '%s' is out of range", tb);
	if (r < 0)
		return perr(ps, EINVAL, "invalid integer '%s'", tb);
	val->v.type = TOML_INT;
	if (neg)
		val->v.u.i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
	else
		val->v.u.i = (int64_t)u;
	return 0;
}

static int parse_value(struct parser *ps, int depth, struct node **ret);

static int parse_array(struct parser *ps, int depth, struct node **ret)
{
	struct node *a = node_new(ps, TOML_ARRAY, depth);
	int open_line = ps->line, r;
	char fb[16];

	ps->p++; /* '[' */
	for (;;) {
		struct node *item;

		r = skip_blank(ps);
		if (r < 0)
			goto fail;
		if (ps->p >= ps->end) {
			r = perr(ps, EINVAL, "unterminated array (opened at line %d)", open_line);
			goto fail;
		}
		if (*ps->p == ']')
			break;
		r = parse_value(ps, depth + 1, &item);
		if (r < 0)
			goto fail;
		array_add(a, item);
		r = skip_blank(ps);
		if (r < 0)
			goto fail;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']')
			break;
		if (ps->p >= ps->end)
			r = perr(ps, EINVAL, "unterminated array (opened at line %d)", open_line);
		else
			r = perr(ps, EINVAL, "expected ',' or ']' in array, found %s",
				 found(ps, fb, sizeof(fb)));
		goto fail;
	}
	ps->p++; /* ']' */
	*ret = a;
	return 0;
fail:
	toml_free(&a->v);
	return r;
}

static int parse_value(struct parser *ps, int depth, struct node **ret)
{
	struct node *val;
	int r;

	r = check_depth(ps, depth);
	if (r < 0)
		return r;
	if (ps->p < ps->end && *ps->p == '[')
		return parse_array(ps, depth, ret);
	if (ps->p < ps->end && *ps->p == '{')
		return perr(ps, ENOTSUP, "inline tables are not supported");
	val = node_new(ps, TOML_STRING, depth);
	if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '\''))
		r = parse_string(ps, &val->v.u.s);
	else
		r = parse_scalar(ps, val);
	if (r < 0) {
		free(val);
		return r;
	}
	*ret = val;
	return 0;
}

/* ---- statements --------------------------------------------------- */

static int parse_keyval(struct parser *ps)
{
	struct keypath k = { .n = 0 };
	char kt[256], fb[16];
	struct node *t = ps->cur, *val;
	int r;

	r = parse_key(ps, &k);
	if (r < 0)
		goto out;
	key_text(kt, sizeof(kt), &k, k.n);
	if (ps->p >= ps->end || *ps->p != '=') {
		r = perr(ps, EINVAL, "expected '=' after key '%s', found %s", kt,
			 found(ps, fb, sizeof(fb)));
		goto out;
	}
	ps->p++;
	skip_ws(ps);
	for (int i = 0; i < k.n - 1; i++) {
		struct node *child = table_find(t, k.part[i]);
		char pt[256];

		if (!child) {
			r = check_depth(ps, t->depth + 1);
			if (r < 0)
				goto out;
			child = node_new(ps, TOML_TABLE, t->depth + 1);
			child->flags = N_DOTTED;
			r = table_add(ps, t, TAKE_PTR(k.part[i]), child);
			if (r < 0)
				goto out;
		} else if (child->v.type != TOML_TABLE) {
			r = perr(ps, EINVAL, "key '%s' redefines '%s', already defined as %s at line %d",
				 kt, key_text(pt, sizeof(pt), &k, i + 1),
				 toml_type_name(child->v.type), child->v.line);
			goto out;
		} else if (child->flags != N_DOTTED) {
			r = perr(ps, EINVAL, "key '%s' extends table '%s' defined by a header at line %d; "
				 "dotted keys cannot add to it", kt, key_text(pt, sizeof(pt), &k, i + 1),
				 child->v.line);
			goto out;
		}
		t = child;
	}
	struct node *old = table_find(t, k.part[k.n - 1]);
	if (old) {
		r = perr(ps, EINVAL, "duplicate key '%s' (first defined at line %d)", kt, old->v.line);
		goto out;
	}
	r = parse_value(ps, t->depth + 1, &val);
	if (r < 0)
		goto out;
	r = table_add(ps, t, TAKE_PTR(k.part[k.n - 1]), val);
out:
	keypath_free(&k);
	return r;
}

static int parse_header(struct parser *ps)
{
	struct keypath k = { .n = 0 };
	bool aot = ps->end - ps->p >= 2 && ps->p[1] == '[';
	char kt[256], fb[16];
	struct node *t = ps->root, *child;
	int r;

	ps->p += aot ? 2 : 1;
	r = parse_key(ps, &k);
	if (r < 0)
		goto out;
	key_text(kt, sizeof(kt), &k, k.n);
	if (ps->p >= ps->end || *ps->p != ']' ||
	    (aot && (ps->end - ps->p < 2 || ps->p[1] != ']'))) {
		r = perr(ps, EINVAL, "expected '%s' to close table header [%s%s, found %s",
			 aot ? "]]" : "]", aot ? "[" : "", kt, found(ps, fb, sizeof(fb)));
		goto out;
	}
	ps->p += aot ? 2 : 1;

	for (int i = 0; i < k.n - 1; i++) {
		char pt[256];

		child = table_find(t, k.part[i]);
		if (!child) {
			r = check_depth(ps, t->depth + 1);
			if (r < 0)
				goto out;
			child = node_new(ps, TOML_TABLE, t->depth + 1);
			child->flags = N_IMPLICIT;
			r = table_add(ps, t, TAKE_PTR(k.part[i]), child);
			if (r < 0)
				goto out;
		} else if (child->v.type == TOML_ARRAY && (child->flags & N_AOT)) {
			child = N(child->v.u.a.items[child->v.u.a.n - 1]);
		} else if (child->v.type != TOML_TABLE) {
			r = perr(ps, EINVAL, "table header [%s] goes through key '%s', "
				 "already defined as %s at line %d", kt,
				 key_text(pt, sizeof(pt), &k, i + 1),
				 toml_type_name(child->v.type), child->v.line);
			goto out;
		}
		t = child;
	}

	const char *last = k.part[k.n - 1];
	child = table_find(t, last);
	if (aot) {
		struct node *elem;

		if (!child) {
			r = check_depth(ps, t->depth + 2);
			if (r < 0)
				goto out;
			child = node_new(ps, TOML_ARRAY, t->depth + 1);
			child->flags = N_AOT;
			r = table_add(ps, t, TAKE_PTR(k.part[k.n - 1]), child);
			if (r < 0)
				goto out;
		} else if (child->v.type != TOML_ARRAY || !(child->flags & N_AOT)) {
			r = perr(ps, EINVAL, "array of tables [[%s]] conflicts with %s '%s' defined at line %d",
				 kt, child->v.type == TOML_ARRAY ? "static array" : toml_type_name(child->v.type),
				 kt, child->v.line);
			goto out;
		}
		elem = node_new(ps, TOML_TABLE, child->depth + 1);
		elem->flags = N_EXPLICIT;
		array_add(child, elem);
		ps->cur = elem;
	} else {
		if (!child) {
			r = check_depth(ps, t->depth + 1);
			if (r < 0)
				goto out;
			child = node_new(ps, TOML_TABLE, t->depth + 1);
			r = table_add(ps, t, TAKE_PTR(k.part[k.n - 1]), child);
			if (r < 0)
				goto out;
		} else if (child->v.type == TOML_ARRAY && (child->flags & N_AOT)) {
			r = perr(ps, EINVAL, "table [%s] conflicts with array of tables [[%s]] defined at line %d",
				 kt, kt, child->v.line);
			goto out;
		} else if (child->v.type != TOML_TABLE) {
			r = perr(ps, EINVAL, "table [%s] redefines key '%s', already defined as %s at line %d",
				 kt, kt, toml_type_name(child->v.type), child->v.line);
			goto out;
		} else if (child->flags & N_EXPLICIT) {
			r = perr(ps, EINVAL, "table [%s] is defined twice (first at line %d)",
				 kt, child->v.line);
			goto out;
		} else if (child->flags & N_DOTTED) {
			r = perr(ps, EINVAL, "table [%s] was already defined by dotted keys at line %d",
				 kt, child->v.line);
			goto out;
		}
		child->flags = N_EXPLICIT;
		child->v.line = ps->line;
		ps->cur = child;
	}
	r = 0;
out:
	keypath_free(&k);
	return r;
}

int toml_parse(const char *text, size_t len, const char *name,
	       struct toml_value **ret, struct berr *err)
{
	struct parser ps = {
		.p = text, .end = text + len, .name = name ? name : "<input>",
		.line = 1, .err = err,
	};
	int r = 0;

	if (len > TOML_MAX_INPUT)
		return berr_set(err, EFBIG, "%s: larger than %u bytes", ps.name, TOML_MAX_INPUT);
	if (!text && len)
		return berr_set(err, EINVAL, "%s: no text", ps.name);
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ps.p += 3;
	ps.root = node_new(&ps, TOML_TABLE, 0);
	ps.root->flags = N_EXPLICIT;
	ps.cur = ps.root;

	while (r >= 0) {
		skip_ws(&ps);
		if (ps.p >= ps.end)
			break;
		if (*ps.p == '#')
			r = skip_comment(&ps);
		else if (at_newline(&ps))
			eat_newline(&ps);
		else if (*ps.p == '[') {
			r = parse_header(&ps);
			if (r >= 0)
				r = expect_eol(&ps, "table header");
		} else {
			r = parse_keyval(&ps);
			if (r >= 0)
				r = expect_eol(&ps, "value");
		}
	}
	if (r < 0) {
		toml_free(&ps.root->v);
		return r;
	}
	*ret = &ps.root->v;
	return 0;
}
