/* core/agent_proto.c: encoder and decoder of the agent's line frames (see
 * agent_proto.h for the format, docs/agent.md for the protocol).  Shared by
 * the guest agent and the host client; fuzzed by tests/fuzz/fuzz_agent_proto.c. */
#include "agent_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct agent_verb_info verbs[] = {
	{ AV_HELLO, "hello", "ns?s", 3 },   /* VERSION NONCE [AGENT_VERSION] */
	{ AV_PING, "ping", "", 0 },
	{ AV_EXEC, "exec", "wsnns*", AGENT_FIELDS_MAX }, /* STDIN CWD ARGC ENVC ARG.. ENV.. */
	{ AV_IN, "in", "d", 1 },
	{ AV_EOF, "eof", "", 0 },
	{ AV_KILL, "kill", "n", 1 },
	{ AV_PUT, "put", "snn", 3 },         /* PATH MODE SIZE */
	{ AV_DATA, "data", "d", 1 },
	{ AV_GET, "get", "sn", 2 },          /* PATH MAX */
	{ AV_IDENT, "ident", "k*", 8 },
	{ AV_HOSTKEY, "hostkey", "", 0 },
	{ AV_CLOCK, "clock", "nn", 2 },      /* SEC NSEC */
	{ AV_RNG, "rng", "d", 1 },
	{ AV_SHUTDOWN, "shutdown", "w?w", 2 }, /* poweroff|reboot [force] */
	{ AV_OK, "ok", "s*", 4 },
	{ AV_ERR, "err", "ns", 2 },          /* ERRNO SENTENCE */
	{ AV_STARTED, "started", "n", 1 },   /* PID */
	{ AV_OUT, "out", "nd", 2 },          /* 1|2 DATA */
	{ AV_ACK, "ack", "n", 1 },           /* BYTES */
	{ AV_EXIT, "exit", "wn", 2 },        /* code|signal N */
};

static const char *const ident_keys[] = { "hostname", "iface", "addr", "gw", "dns", "machine_id",
					   "mac", "mount" };

const struct agent_verb_info *agent_verb_lookup(enum agent_verb v)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (verbs[i].verb == v)
			return &verbs[i];
	return NULL;
}

const struct agent_verb_info *agent_verb_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strlen(verbs[i].name) == len && memcmp(verbs[i].name, name, len) == 0)
			return &verbs[i];
	return NULL;
}

/* The type of field i under schema, 0 when the schema has no field i. */
static char schema_type(const char *sch, size_t i)
{
	size_t pos = 0;
	for (const char *c = sch; *c; c++) {
		if (*c == '?')
			continue;
		if (c[1] == '*')
			return *c;
		if (pos == i)
			return *c;
		pos++;
	}
	return 0;
}

static size_t schema_min(const char *sch)
{
	size_t n = 0;
	for (const char *c = sch; *c && *c != '?'; c++)
		if (*c != '*' && c[1] != '*')
			n++;
	return n;
}

/* ---- base64 ---- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t agent_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void agent_b64_encode(const void *in, size_t n, char *out)
{
	const uint8_t *p = in;
	size_t o = 0, i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = b64chars[v >> 6 & 63];
		out[o++] = b64chars[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = b64chars[v >> 6 & 63];
		out[o++] = '=';
	}
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int agent_b64_decode(const char *in, size_t n, uint8_t *out, size_t *ret_len)
{
	size_t o = 0;
	if (n % 4 != 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		bool last = i + 4 == n;
		for (int k = 0; k < 4; k++) {
			char c = in[i + k];
			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* "=" then a letter */
				return -EINVAL;
			v[k] = b64val(c);
			if (v[k] < 0)
				return -EINVAL;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* canonical: the bits padding leaves unused are zero */
		if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
			return -EINVAL;
		/* in and out may alias: o never passes i */
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*ret_len = o;
	return 0;
}

/* ---- percent strings ---- */

static bool needs_escape(unsigned char c)
{
	return c < 0x21 || c > 0x7e || c == '%' || c == '~';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* In place; strict: only bytes that must be escaped are, uppercase hex,
 * no NUL, "~" alone is the empty string. */
static int pct_decode(char *s, size_t n, size_t *ret_len)
{
	size_t o = 0;
	if (n == 0)
		return -EINVAL; /* the empty string is "~" */
	if (n == 1 && s[0] == '~') {
		s[0] = '\0';
		*ret_len = 0;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -EINVAL;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			unsigned char b = (unsigned char)(hi << 4 | lo);
			if (b == 0 || !needs_escape(b))
				return -EINVAL;
			s[o++] = (char)b;
			i += 2;
		} else if (needs_escape(c)) {
			return -EINVAL;
		} else {
			s[o++] = (char)c;
		}
	}
	s[o] = '\0';
	*ret_len = o;
	return 0;
}

void agent_put_str(struct sbuf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	sbuf_add(out, " ", 1);
	if (len == 0) {
		sbuf_add(out, "~", 1);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (needs_escape(c)) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sbuf_add(out, e, 3);
		} else {
			sbuf_add(out, &s[i], 1);
		}
	}
}

void agent_put_cstr(struct sbuf *out, const char *s)
{
	agent_put_str(out, s ? s : "", s ? strlen(s) : 0);
}

/* ---- frames ---- */

size_t agent_frame_begin(struct sbuf *out, enum agent_verb v, uint32_t id)
{
	size_t begin = out->len;
	const struct agent_verb_info *vi = agent_verb_lookup(v);
	sbuf_printf(out, "%s %u", vi ? vi->name : "?", (unsigned)id);
	return begin;
}

void agent_put_num(struct sbuf *out, uint64_t n)
{
	sbuf_printf(out, " %llu", (unsigned long long)n);
}

void agent_put_word(struct sbuf *out, const char *w)
{
	sbuf_add(out, " ", 1);
	sbuf_puts(out, w);
}

void agent_put_data(struct sbuf *out, const void *data, size_t len)
{
	size_t n = agent_b64_len(len);
	sbuf_add(out, " ", 1);
	size_t at = out->len;
	/* grow, then encode in place */
	for (size_t k = 0; k < n; k += 64) {
		static const char pad[64];
		sbuf_add(out, pad, n - k < 64 ? n - k : 64);
	}
	agent_b64_encode(data, len, out->buf + at);
}

void agent_put_kv(struct sbuf *out, const char *key, const char *val)
{
	sbuf_add(out, " ", 1);
	sbuf_puts(out, key);
	size_t at = out->len;
	agent_put_cstr(out, val); /* writes " VALUE": turn the space into '=' */
	out->buf[at] = '=';
}

int agent_frame_end(struct sbuf *out, size_t begin)
{
	sbuf_add(out, "\n", 1);
	if (out->len - begin > AGENT_LINE_MAX) {
		out->len = begin;
		if (out->buf)
			out->buf[begin] = '\0';
		return -E2BIG;
	}
	return 0;
}

void agent_frame_encode(const struct agent_frame *fr, struct sbuf *out)
{
	size_t b = agent_frame_begin(out, fr->v->verb, fr->id);
	for (size_t i = 0; i < fr->nf; i++) {
		const struct agent_field *f = &fr->f[i];
		switch (f->type) {
		case 'n':
			agent_put_num(out, f->n);
			break;
		case 'w':
			agent_put_word(out, f->s);
			break;
		case 's':
			agent_put_str(out, f->s, f->len);
			break;
		case 'd':
			agent_put_data(out, f->s, f->len);
			break;
		case 'k':
			agent_put_kv(out, f->s, f->val);
			break;
		}
	}
	(void)agent_frame_end(out, b);
}

static int parse_num(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;
	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static bool word_ok(const char *s, size_t n)
{
	if (n == 0 || n > AGENT_WORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static bool in_set(const char *w, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w, set[i]) == 0)
			return true;
	return false;
}

#define BAD(...) berr_set(err, EPROTO, __VA_ARGS__)

static int decode_field(struct agent_field *f, char type, char *s, size_t n, size_t idx,
			struct berr *err)
{
	f->type = type;
	f->s = s;
	f->len = n;
	f->val = NULL;
	f->n = 0;
	switch (type) {
	case 'n':
		if (parse_num(s, n, &f->n) < 0)
			return BAD("field %zu is not a number", idx + 1);
		return 0;
	case 'w':
		if (!word_ok(s, n))
			return BAD("field %zu is not a word", idx + 1);
		return 0;
	case 's':
		if (pct_decode(s, n, &f->len) < 0)
			return BAD("field %zu is not a valid percent-encoded string", idx + 1);
		return 0;
	case 'd':
		if (n > agent_b64_len(AGENT_DATA_MAX))
			return BAD("field %zu holds more than %d bytes of data", idx + 1, AGENT_DATA_MAX);
		if (agent_b64_decode(s, n, (uint8_t *)s, &f->len) < 0 || f->len == 0)
			return BAD("field %zu is not canonical non-empty base64", idx + 1);
		s[f->len] = '\0';
		return 0;
	case 'k': {
		char *eq = memchr(s, '=', n);
		if (!eq || eq == s || (size_t)(eq - s) > AGENT_KEY_MAX)
			return BAD("field %zu is not key=value", idx + 1);
		for (char *c = s; c < eq; c++)
			if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
				return BAD("field %zu has a bad key", idx + 1);
		*eq = '\0';
		f->len = (size_t)(eq - s);
		f->val = eq + 1;
		size_t vl;
		if (pct_decode(f->val, n - f->len - 1, &vl) < 0)
			return BAD("field %zu's value is not a valid percent-encoded string", idx + 1);
		return 0;
	}
	}
	return BAD("internal: unknown field type");
}

/* The verb's own rules, once every field has its type. */
static int check_verb(struct agent_frame *fr, struct berr *err)
{
	const struct agent_field *f = fr->f;
	switch (fr->v->verb) {
	case AV_HELLO:
		if (fr->id != 0)
			return BAD("hello must have id 0");
		if (f[1].len == 0 || f[1].len > 64)
			return BAD("hello's nonce must be 1..64 bytes");
		return 0;
	case AV_ERR:
		if (f[0].n < 1 || f[0].n > 4095)
			return BAD("err's errno must be 1..4095");
		if (f[1].len > AGENT_TEXT_MAX)
			return BAD("err's sentence is longer than %d bytes", AGENT_TEXT_MAX);
		return 0;
	default:
		break;
	}
	if (fr->id == 0)
		return BAD("%s needs a request id (1 or more)", fr->v->name);
	switch (fr->v->verb) {
	case AV_EXEC: {
		static const char *const modes[] = { "pipe", "null" };
		if (!in_set(f[0].s, modes, ARRAY_SIZE(modes)))
			return BAD("exec's stdin must be pipe or null");
		if (f[2].n < 1 || f[2].n > fr->nf || f[3].n > fr->nf || 4 + f[2].n + f[3].n != fr->nf)
			return BAD("exec's argument and environment counts do not match its fields");
		if (f[1].len > AGENT_PATH_MAX)
			return BAD("exec's directory is longer than %d bytes", AGENT_PATH_MAX);
		for (size_t i = 4; i < fr->nf; i++) {
			if (strlen(f[i].s) != f[i].len)
				return BAD("field %zu contains a NUL byte", i + 1);
			if (i >= 4 + f[2].n && (f[i].s[0] == '=' || !strchr(f[i].s, '=')))
				return BAD("environment entry %zu is not NAME=value", i - 3 - (size_t)f[2].n);
		}
		if (f[4].len == 0)
			return BAD("exec's program name is empty");
		return 0;
	}
	case AV_KILL:
		if (f[0].n < 1 || f[0].n > 64)
			return BAD("kill's signal must be 1..64");
		return 0;
	case AV_PUT:
	case AV_GET:
		if (f[0].s[0] != '/' || f[0].len > AGENT_PATH_MAX)
			return BAD("%s's path must be absolute and at most %d bytes", fr->v->name,
				   AGENT_PATH_MAX);
		if (fr->v->verb == AV_PUT && f[1].n > 07777)
			return BAD("put's mode must be at most 07777");
		if (f[fr->v->verb == AV_PUT ? 2 : 1].n > AGENT_FILE_MAX)
			return BAD("%s's size is over %llu bytes", fr->v->name,
				   (unsigned long long)AGENT_FILE_MAX);
		return 0;
	case AV_IDENT:
		if (fr->nf < 1)
			return BAD("ident needs at least one key=value");
		for (size_t i = 0; i < fr->nf; i++) {
			if (!in_set(f[i].s, ident_keys, ARRAY_SIZE(ident_keys)))
				return BAD("ident has an unknown key %s", f[i].s);
			for (size_t j = 0; j < i; j++)
				if (strcmp(f[i].s, f[j].s) == 0)
					return BAD("ident repeats key %s", f[i].s);
			if (strlen(f[i].val) > 255)
				return BAD("ident's %s is longer than 255 bytes", f[i].s);
		}
		return 0;
	case AV_CLOCK:
		if (f[1].n >= 1000000000)
			return BAD("clock's nanoseconds must be below 10^9");
		if (f[0].n > (uint64_t)INT64_MAX)
			return BAD("clock's seconds are out of range");
		return 0;
	case AV_RNG:
		if (f[0].len < AGENT_RNG_MIN || f[0].len > AGENT_RNG_MAX)
			return BAD("rng takes %d..%d bytes", AGENT_RNG_MIN, AGENT_RNG_MAX);
		return 0;
	case AV_SHUTDOWN: {
		static const char *const modes[] = { "poweroff", "reboot" };
		if (!in_set(f[0].s, modes, ARRAY_SIZE(modes)))
			return BAD("shutdown's mode must be poweroff or reboot");
		if (fr->nf == 2 && strcmp(f[1].s, "force") != 0)
			return BAD("shutdown's second word can only be force");
		return 0;
	}
	case AV_OUT:
		if (f[0].n != 1 && f[0].n != 2)
			return BAD("out's stream must be 1 or 2");
		return 0;
	case AV_ACK:
		if (f[0].n < 1 || f[0].n > AGENT_WINDOW)
			return BAD("ack must be 1..%d bytes", AGENT_WINDOW);
		return 0;
	case AV_EXIT: {
		static const char *const kinds[] = { "code", "signal" };
		if (!in_set(f[0].s, kinds, ARRAY_SIZE(kinds)))
			return BAD("exit's kind must be code or signal");
		if (f[1].n > 255)
			return BAD("exit's status must be 0..255");
		return 0;
	}
	case AV_STARTED:
		if (f[0].n < 1 || f[0].n > INT32_MAX)
			return BAD("started's pid is out of range");
		return 0;
	default:
		return 0;
	}
}

int agent_frame_decode(char *line, size_t len, struct agent_frame *fr, struct berr *err)
{
	size_t i = 0, start;
	char *tok[2 + AGENT_FIELDS_MAX];
	size_t tl[2 + AGENT_FIELDS_MAX];
	size_t nt = 0;

	if (len >= AGENT_LINE_MAX)
		return BAD("line longer than %d bytes", AGENT_LINE_MAX - 1);
	/* Split on single spaces; every token printable, non-empty. */
	while (i <= len) {
		start = i;
		while (i < len && line[i] != ' ') {
			unsigned char c = (unsigned char)line[i];
			if (c < 0x21 || c > 0x7e)
				return BAD("byte 0x%02x at offset %zu is not printable ASCII", c, i);
			i++;
		}
		if (i == start)
			return BAD(len == 0 ? "empty frame" : "empty field at offset %zu", i);
		if (nt == ARRAY_SIZE(tok))
			return BAD("more than %d fields", AGENT_FIELDS_MAX);
		tok[nt] = line + start;
		tl[nt++] = i - start;
		i++; /* the space, or one past the end */
	}
	fr->v = agent_verb_by_name(tok[0], tl[0]);
	if (!fr->v)
		return BAD("unknown verb \"%.*s\"", (int)(tl[0] > 32 ? 32 : tl[0]), tok[0]);
	if (nt < 2)
		return BAD("%s has no id", fr->v->name);
	uint64_t id;
	if (parse_num(tok[1], tl[1], &id) < 0 || id > UINT32_MAX)
		return BAD("%s has a bad id", fr->v->name);
	fr->id = (uint32_t)id;
	fr->nf = nt - 2;
	if (fr->nf < schema_min(fr->v->schema) || fr->nf > fr->v->max)
		return BAD("%s takes %zu..%u fields, not %zu", fr->v->name, schema_min(fr->v->schema),
			   fr->v->max, fr->nf);
	/* NUL-terminate every token (the separators become NULs). */
	for (size_t k = 0; k < nt; k++)
		tok[k][tl[k]] = '\0';
	for (size_t k = 0; k < fr->nf; k++) {
		char type = schema_type(fr->v->schema, k);
		int r = decode_field(&fr->f[k], type, tok[k + 2], tl[k + 2], k, err);
		if (r < 0)
			return berr_wrap(err, "%s", fr->v->name);
	}
	return check_verb(fr, err);
}

bool agent_version_has(const char *version, const char *feature)
{
	size_t n = strlen(feature);
	if (n == 0)
		return false;
	for (const char *w = strchr(version, ' '); w; w = strchr(w + 1, ' '))
		if (strncmp(w + 1, feature, n) == 0 && (w[1 + n] == ' ' || w[1 + n] == '\0'))
			return true;
	return false;
}

/* ---- line reader ---- */

void agent_lines_init(struct agent_lines *l)
{
	l->buf = xmalloc(AGENT_LINE_MAX + 1);
	l->len = l->start = 0;
	l->skipping = false;
}

void agent_lines_free(struct agent_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->start = 0;
}

char *agent_lines_space(struct agent_lines *l, size_t *room)
{
	if (l->start > 0) {
		memmove(l->buf, l->buf + l->start, l->len - l->start);
		l->len -= l->start;
		l->start = 0;
	}
	if (l->len == AGENT_LINE_MAX) {
		/* Full without a LF: next() turns this into E2BIG + skipping. */
		*room = 0;
		return NULL;
	}
	*room = AGENT_LINE_MAX - l->len;
	return l->buf + l->len;
}

void agent_lines_commit(struct agent_lines *l, size_t n)
{
	l->len += n;
}

int agent_lines_next(struct agent_lines *l, char **line, size_t *len)
{
	for (;;) {
		char *b = l->buf + l->start;
		size_t avail = l->len - l->start;
		char *nl = memchr(b, '\n', avail);
		if (l->skipping) {
			if (!nl) {
				l->len = l->start = 0;
				return 0;
			}
			l->start += (size_t)(nl - b) + 1;
			l->skipping = false;
			continue;
		}
		if (!nl) {
			if (avail >= AGENT_LINE_MAX) {
				l->len = l->start = 0;
				l->skipping = true;
				return -E2BIG;
			}
			return 0;
		}
		size_t n = (size_t)(nl - b);
		l->start += n + 1;
		if (n == 0)
			continue; /* empty lines are ignored */
		*nl = '\0';
		*line = b;
		*len = n;
		return 1;
	}
}
