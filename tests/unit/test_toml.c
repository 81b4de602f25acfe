/* tests/unit/test_toml.c: the strict TOML reader (core/toml.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "toml.h"
#include "util.h"

static struct toml_value *parse_ok(const char *text)
{
	struct toml_value *root = NULL;
	struct berr err = { 0 };
	int r = toml_parse(text, strlen(text), "t.toml", &root, &err);
	if (r < 0)
		fail_msg("unexpected error %d: %s", r, err.msg);
	assert_non_null(root);
	assert_int_equal(root->type, TOML_TABLE);
	return root;
}

/* Parse must fail with -code and a message starting "t.toml:line:"
 * and containing want (if given). */
static void expect_err_len(const char *text, size_t len, int code, int line, const char *want)
{
	struct toml_value *root = NULL;
	struct berr err = { 0 };
	char prefix[32];
	int r = toml_parse(text, len, "t.toml", &root, &err);

	if (r >= 0) {
		toml_free(root);
		fail_msg("parse of [%s] succeeded, expected errno %d", text, code);
	}
	assert_null(root);
	if (r != -code)
		fail_msg("parse of [%s]: got %d (%s), expected %d", text, r, err.msg, -code);
	assert_int_equal(err.code, code);
	snprintf(prefix, sizeof(prefix), "t.toml:%d: ", line);
	if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err.msg, prefix);
	if (want && !strstr(err.msg, want))
		fail_msg("message '%s' does not contain '%s'", err.msg, want);
}

static void expect_err(const char *text, int code, int line, const char *want)
{
	expect_err_len(text, strlen(text), code, line, want);
}

static const struct toml_value *get(const struct toml_value *t, const char *key,
				    enum toml_type type)
{
	const struct toml_value *v = toml_get(t, key);
	if (!v)
		fail_msg("key '%s' missing", key);
	assert_int_equal(v->type, type);
	return v;
}

static void test_strings(void **state)
{
	(void)state;
	struct toml_value *root = parse_ok(
		"plain = \"hello world\"\n"
		"esc = \"tab\\there\\n\\\"q\\\" back\\\\slash \\b\\f\\r\"\n"
		"uni = \"caf\\u00e9 \\U0001F600\"\n"
		"raw = 'C:\\path\\no\\escape \"q\"'\n"
		"empty = \"\"\n"
		"emptylit = ''\n"
		"utf8 = \"gr\xc3\xbc\xc3\x9f \xe2\x82\xac\"\n"
		"tabbed = \"a\tb\"\n");
	assert_string_equal(get(root, "plain", TOML_STRING)->u.s, "hello world");
	assert_string_equal(get(root, "esc", TOML_STRING)->u.s, "tab\there\n\"q\" back\\slash \b\f\r");
	assert_string_equal(get(root, "uni", TOML_STRING)->u.s, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	assert_string_equal(get(root, "raw", TOML_STRING)->u.s, "C:\\path\\no\\escape \"q\"");
	assert_string_equal(get(root, "empty", TOML_STRING)->u.s, "");
	assert_string_equal(get(root, "emptylit", TOML_STRING)->u.s, "");
	assert_string_equal(get(root, "utf8", TOML_STRING)->u.s, "gr\xc3\xbc\xc3\x9f \xe2\x82\xac");
	assert_string_equal(get(root, "tabbed", TOML_STRING)->u.s, "a\tb");
	assert_int_equal(get(root, "raw", TOML_STRING)->line, 4);
	toml_free(root);
}

static void test_integers_and_bools(void **state)
{
	(void)state;
	struct toml_value *root = parse_ok(
		"a = 42\n"
		"b = -17\n"
		"c = +99\n"
		"d = 0\n"
		"e = 1_000_000\n"
		"f = 0xDEAD_beef\n"
		"g = 0o755\n"
		"h = 0b1101\n"
		"max = 9223372036854775807\n"
		"min = -9223372036854775808\n"
		"hexmax = 0x7fffffffffffffff\n"
		"t = true\n"
		"f2 = false\n"
		"z = -0\n");
	assert_int_equal(get(root, "a", TOML_INT)->u.i, 42);
	assert_int_equal(get(root, "b", TOML_INT)->u.i, -17);
	assert_int_equal(get(root, "c", TOML_INT)->u.i, 99);
	assert_int_equal(get(root, "d", TOML_INT)->u.i, 0);
	assert_int_equal(get(root, "e", TOML_INT)->u.i, 1000000);
	assert_int_equal(get(root, "f", TOML_INT)->u.i, 0xdeadbeef);
	assert_int_equal(get(root, "g", TOML_INT)->u.i, 0755);
	assert_int_equal(get(root, "h", TOML_INT)->u.i, 13);
	assert_true(get(root, "max", TOML_INT)->u.i == INT64_MAX);
	assert_true(get(root, "min", TOML_INT)->u.i == INT64_MIN);
	assert_true(get(root, "hexmax", TOML_INT)->u.i == INT64_MAX);
	assert_true(get(root, "t", TOML_BOOL)->u.b);
	assert_false(get(root, "f2", TOML_BOOL)->u.b);
	assert_int_equal(get(root, "z", TOML_INT)->u.i, 0);
	toml_free(root);
}

static void test_arrays(void **state)
{
	(void)state;
	struct toml_value *root = parse_ok(
		"empty = []\n"
		"ints = [1, 2, 3]\n"
		"multi = [  # comment after open\n"
		"  \"a\",\n"
		"  # a whole comment line\n"
		"  'b', # trailing comment\n"
		"]\n"
		"nested = [[1, 2], [\"x\"], []]\n"
		"mixed = [1, \"two\", true]\n"
		"after = 1\n");
	assert_int_equal(get(root, "empty", TOML_ARRAY)->u.a.n, 0);
	const struct toml_value *ints = get(root, "ints", TOML_ARRAY);
	assert_int_equal(ints->u.a.n, 3);
	assert_int_equal(ints->u.a.items[2]->u.i, 3);
	const struct toml_value *multi = get(root, "multi", TOML_ARRAY);
	assert_int_equal(multi->u.a.n, 2);
	assert_string_equal(multi->u.a.items[0]->u.s, "a");
	assert_string_equal(multi->u.a.items[1]->u.s, "b");
	assert_int_equal(multi->line, 3);
	const struct toml_value *nested = get(root, "nested", TOML_ARRAY);
	assert_int_equal(nested->u.a.n, 3);
	assert_int_equal(nested->u.a.items[0]->type, TOML_ARRAY);
	assert_int_equal(nested->u.a.items[0]->u.a.items[1]->u.i, 2);
	assert_string_equal(nested->u.a.items[1]->u.a.items[0]->u.s, "x");
	assert_int_equal(nested->u.a.items[2]->u.a.n, 0);
	assert_int_equal(get(root, "mixed", TOML_ARRAY)->u.a.items[2]->type, TOML_BOOL);
	assert_int_equal(get(root, "after", TOML_INT)->line, 10);
	toml_free(root);
}

static void test_keys_and_tables(void **state)
{
	(void)state;
	struct toml_value *root = parse_ok(
		"# leading comment\n"
		"\n"
		"top = 1 # trailing\n"
		"\"quoted.key\" = 2\n"
		"'lit key' = 3\n"
		"site . \"x y\" . z = 4\n"
		"\"\" = 5\n"
		"[server]\n"
		"  host = \"h\"\n"
		"[a.b.c]\n"
		"d = 1\n"
		"[a]\n"
		"e = 2\n"
		"[ a . b . 'f' ]\n"
		"g = 3\n"
		"[fruit]\n"
		"apple.color = \"red\"\n"
		"apple.taste.sweet = true\n"
		"[fruit.apple.texture]\n"
		"smooth = true\n");
	assert_int_equal(get(root, "top", TOML_INT)->u.i, 1);
	assert_int_equal(get(root, "quoted.key", TOML_INT)->u.i, 2);
	assert_null(toml_get(root, "quoted"));
	assert_int_equal(get(root, "lit key", TOML_INT)->u.i, 3);
	const struct toml_value *site = get(root, "site", TOML_TABLE);
	assert_int_equal(get(get(site, "x y", TOML_TABLE), "z", TOML_INT)->u.i, 4);
	assert_int_equal(get(root, "", TOML_INT)->u.i, 5);
	const struct toml_value *server = get(root, "server", TOML_TABLE);
	assert_int_equal(server->line, 8);
	assert_string_equal(get(server, "host", TOML_STRING)->u.s, "h");
	const struct toml_value *a = get(root, "a", TOML_TABLE);
	assert_int_equal(a->line, 12); /* implicit at 10, defined at 12 */
	assert_int_equal(get(a, "e", TOML_INT)->u.i, 2);
	const struct toml_value *b = get(a, "b", TOML_TABLE);
	assert_int_equal(get(get(b, "c", TOML_TABLE), "d", TOML_INT)->u.i, 1);
	assert_int_equal(get(get(b, "f", TOML_TABLE), "g", TOML_INT)->u.i, 3);
	const struct toml_value *apple = get(get(root, "fruit", TOML_TABLE), "apple", TOML_TABLE);
	assert_string_equal(get(apple, "color", TOML_STRING)->u.s, "red");
	assert_true(get(get(apple, "taste", TOML_TABLE), "sweet", TOML_BOOL)->u.b);
	assert_true(get(get(apple, "texture", TOML_TABLE), "smooth", TOML_BOOL)->u.b);
	/* order of keys is kept */
	assert_string_equal(root->u.t.keys[0], "top");
	assert_null(toml_get(root, "missing"));
	assert_null(toml_get(get(root, "top", TOML_INT), "x"));
	toml_free(root);
}

static void test_array_of_tables(void **state)
{
	(void)state;
	struct toml_value *root = parse_ok(
		"[[products]]\n"
		"name = \"Hammer\"\n"
		"[products.dims]\n"
		"w = 1\n"
		"[[products]]\n"
		"\n"
		"[[products]]\n"
		"name = \"Nail\"\n"
		"[[products.variants]]\n"
		"color = \"grey\"\n");
	const struct toml_value *p = get(root, "products", TOML_ARRAY);
	assert_int_equal(p->u.a.n, 3);
	assert_int_equal(p->u.a.items[0]->type, TOML_TABLE);
	assert_int_equal(p->u.a.items[0]->line, 1);
	assert_int_equal(p->u.a.items[1]->line, 5);
	assert_string_equal(get(p->u.a.items[0], "name", TOML_STRING)->u.s, "Hammer");
	assert_int_equal(get(get(p->u.a.items[0], "dims", TOML_TABLE), "w", TOML_INT)->u.i, 1);
	assert_int_equal(p->u.a.items[1]->u.t.n, 0);
	const struct toml_value *var = get(p->u.a.items[2], "variants", TOML_ARRAY);
	assert_int_equal(var->u.a.n, 1);
	assert_string_equal(get(var->u.a.items[0], "color", TOML_STRING)->u.s, "grey");
	toml_free(root);
}

static void test_line_endings_and_empty(void **state)
{
	(void)state;
	struct toml_value *root = parse_ok("\xef\xbb\xbf" "a = 1\r\n# c\r\nb = 'x'\r\n[t]\r\nc = 2");
	assert_int_equal(get(root, "b", TOML_STRING)->line, 3);
	assert_int_equal(get(get(root, "t", TOML_TABLE), "c", TOML_INT)->line, 5);
	toml_free(root);
	root = parse_ok("");
	assert_int_equal(root->u.t.n, 0);
	toml_free(root);
	root = parse_ok("   \n\t\n# only comments\n");
	assert_int_equal(root->u.t.n, 0);
	toml_free(root);
	assert_string_equal(toml_type_name(TOML_TABLE), "table");
	assert_string_equal(toml_type_name(TOML_ARRAY), "array");
	assert_string_equal(toml_type_name(TOML_STRING), "string");
	assert_string_equal(toml_type_name(TOML_INT), "integer");
	assert_string_equal(toml_type_name(TOML_BOOL), "boolean");
	toml_free(NULL);
}

static void test_redefinition_errors(void **state)
{
	(void)state;
	expect_err("a = 1\nb = 2\na = 3\n", EINVAL, 3, "duplicate key 'a' (first defined at line 1)");
	expect_err("[t]\nx = 1\n[t]\n", EINVAL, 3, "table [t] is defined twice");
	expect_err("[t]\n[u]\n[t]\n", EINVAL, 3, "defined twice (first at line 1)");
	expect_err("a = 1\na.b = 2\n", EINVAL, 2, "redefines 'a'");
	expect_err("a.b = 1\na.b.c = 2\n", EINVAL, 2, "redefines 'a.b'");
	expect_err("a.b = 1\n[a]\n", EINVAL, 2, "already defined by dotted keys");
	expect_err("[fruit]\napple.color = 1\n[fruit.apple]\n", EINVAL, 3, "dotted keys");
	expect_err("[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", EINVAL, 4, "dotted keys cannot add");
	expect_err("a = [1]\n[[a]]\n", EINVAL, 2, "static array");
	expect_err("[[a]]\n[a]\n", EINVAL, 2, "array of tables");
	expect_err("[a]\n[[a]]\n", EINVAL, 2, "conflicts with table");
	expect_err("a = 1\n[a]\n", EINVAL, 2, "already defined as integer at line 1");
	expect_err("a = 's'\n[a.b]\n", EINVAL, 2, "goes through key 'a'");
	expect_err("[t]\n\"x\" = 1\nx = 2\n", EINVAL, 3, "duplicate key");
	expect_err("a.b = 1\n\"a\".'b' = 2\n", EINVAL, 2, "duplicate key 'a.b'");
}

static void test_string_errors(void **state)
{
	(void)state;
	expect_err("\n\na = \"abc\n", EINVAL, 3, "unterminated string");
	expect_err("a = \"abc", EINVAL, 1, "unterminated string");
	expect_err("a = 'abc\nb = 1\n", EINVAL, 1, "unterminated string");
	expect_err("a = \"bad \\q\"\n", EINVAL, 1, "invalid escape '\\q'");
	expect_err("a = \"\\u12\"\n", EINVAL, 1, "hex digits");
	expect_err("a = \"\\ud800\"\n", EINVAL, 1, "not a Unicode scalar");
	expect_err("a = \"\\U00110000\"\n", EINVAL, 1, "not a Unicode scalar");
	expect_err("a = \"\\u0000\"\n", EINVAL, 1, "NUL");
	expect_err("x = 1\na = \"\xff\"\n", EILSEQ, 2, "invalid UTF-8 in string");
	expect_err("a = \"\xc0\xaf\"\n", EILSEQ, 1, "invalid UTF-8");          /* overlong */
	expect_err("a = \"\xed\xa0\x80\"\n", EILSEQ, 1, "invalid UTF-8");      /* surrogate */
	expect_err("a = \"\xe2\x82\"\n", EILSEQ, 1, "invalid UTF-8");          /* truncated */
	expect_err("a = 'x\x01'\n", EINVAL, 1, "control character 0x01 in string");
	expect_err("a = \"x\x7f\"\n", EINVAL, 1, "control character 0x7f");
	expect_err("a = \"x\ry\"\n", EINVAL, 1, "control character 0x0d");
	expect_err_len("a = \"x\0y\"\n", 10, EINVAL, 1, "control character 0x00");
	expect_err("# ok\n# bad \x02\n", EINVAL, 2, "control character 0x02 in comment");
	expect_err("a = 1 # \xfe\n", EILSEQ, 1, "invalid UTF-8 in comment");
	expect_err("\"k\\x\" = 1\n", EINVAL, 1, "invalid escape");
}

static void test_value_errors(void **state)
{
	(void)state;
	expect_err("a = 9223372036854775808\n", ERANGE, 1, "out of range");
	expect_err("a = -9223372036854775809\n", ERANGE, 1, "out of range");
	expect_err("\na = 0x8000000000000000\n", ERANGE, 2, "out of range");
	expect_err("a = 99999999999999999999999\n", ERANGE, 1, "out of range");
	expect_err("a = 1 2\n", EINVAL, 1, "unexpected '2' after value");
	expect_err("a = \"x\" y\n", EINVAL, 1, "after value");
	expect_err("a = [1] ]\n", EINVAL, 1, "after value");
	expect_err("a = true false\n", EINVAL, 1, "after value");
	expect_err("a = truex\n", EINVAL, 1, "invalid value 'truex'");
	expect_err("a = hello\n", EINVAL, 1, "strings must be quoted");
	expect_err("a =\n", EINVAL, 1, "expected a value, found end of line");
	expect_err("a = ", EINVAL, 1, "expected a value, found end of file");
	expect_err("a = # c\n", EINVAL, 1, "expected a value");
	expect_err("a 1\n", EINVAL, 1, "expected '=' after key 'a'");
	expect_err("= 1\n", EINVAL, 1, "expected a key");
	expect_err("a. = 1\n", EINVAL, 1, "expected a key");
	expect_err("a = 012\n", EINVAL, 1, "leading zeros");
	expect_err("a = 1__2\n", EINVAL, 1, "invalid integer");
	expect_err("a = 1_\n", EINVAL, 1, "invalid integer");
	expect_err("a = 0x_1\n", EINVAL, 1, "invalid integer");
	expect_err("a = 0x\n", EINVAL, 1, "invalid integer");
	expect_err("a = 0b102\n", EINVAL, 1, "invalid integer");
	expect_err("a = -0x1\n", EINVAL, 1, "invalid integer");
	expect_err("a = [1, 2\n", EINVAL, 2, "unterminated array (opened at line 1)");
	expect_err("a = [1 2]\n", EINVAL, 1, "expected ',' or ']'");
	expect_err("a = [,]\n", EINVAL, 1, "expected a value");
	expect_err("a = [1,,2]\n", EINVAL, 1, "expected a value");
	expect_err("[t\n", EINVAL, 1, "expected ']'");
	expect_err("[[t]\n", EINVAL, 1, "expected ']]'");
	expect_err("[ [t]]\n", EINVAL, 1, "expected a key");
	expect_err("[t] x\n", EINVAL, 1, "after table header");
	expect_err("[]\n", EINVAL, 1, "expected a key");
	expect_err("a = 1\rb = 2\n", EINVAL, 1, "after value");
}

static void test_unsupported(void **state)
{
	(void)state;
	expect_err("a = 1.5\n", ENOTSUP, 1, "floats are not supported");
	expect_err("a = 1e3\n", ENOTSUP, 1, "floats are not supported");
	expect_err("a = -2E-2\n", ENOTSUP, 1, "floats");
	expect_err("a = inf\n", ENOTSUP, 1, "floats");
	expect_err("a = -nan\n", ENOTSUP, 1, "floats");
	expect_err("\na = 1979-05-27\n", ENOTSUP, 2, "dates and times are not supported");
	expect_err("a = 1979-05-27T07:32:00Z\n", ENOTSUP, 1, "dates");
	expect_err("a = 07:32:00\n", ENOTSUP, 1, "dates");
	expect_err("a = \"\"\"multi\nline\"\"\"\n", ENOTSUP, 1, "multi-line strings are not supported");
	expect_err("a = '''x'''\n", ENOTSUP, 1, "multi-line strings");
	expect_err("a = { x = 1 }\n", ENOTSUP, 1, "inline tables are not supported");
	expect_err("a = [{ x = 1 }]\n", ENOTSUP, 1, "inline tables");
}

static void test_limits(void **state)
{
	(void)state;
	struct toml_value *root = NULL;
	struct berr err = { 0 };
	size_t big = (1u << 20) + 1;
	char *text = xmalloc(big);
	memset(text, '\n', big);
	assert_int_equal(toml_parse(text, big, "t.toml", &root, &err), -EFBIG);
	assert_null(root);
	assert_non_null(strstr(err.msg, "t.toml"));
	/* exactly 1 MiB of blank lines is fine */
	assert_int_equal(toml_parse(text, big - 1, "t.toml", &root, &err), 0);
	toml_free(root);
	free(text);

	/* 32 nested arrays are fine, 33 are not */
	struct sbuf s;
	sbuf_init(&s);
	sbuf_puts(&s, "a = ");
	for (int i = 0; i < 31; i++)
		sbuf_puts(&s, "[");
	for (int i = 0; i < 31; i++)
		sbuf_puts(&s, "]");
	sbuf_puts(&s, "\n");
	root = parse_ok(s.buf);
	toml_free(root);
	sbuf_free(&s);
	sbuf_init(&s);
	sbuf_puts(&s, "\na = ");
	for (int i = 0; i < 100000; i++)
		sbuf_puts(&s, "[");
	expect_err(s.buf, E2BIG, 2, "nesting deeper than 32");
	sbuf_free(&s);

	sbuf_init(&s);
	sbuf_puts(&s, "[a");
	for (int i = 0; i < 40; i++)
		sbuf_puts(&s, ".a");
	sbuf_puts(&s, "]\n");
	expect_err(s.buf, E2BIG, 1, "more than 32 parts");
	sbuf_free(&s);

	/* deep nesting through headers and arrays of tables */
	sbuf_init(&s);
	for (int i = 0; i < 20; i++) {
		sbuf_puts(&s, "[[a");
		for (int j = 0; j < i; j++)
			sbuf_puts(&s, ".a");
		sbuf_puts(&s, "]]\n");
	}
	expect_err(s.buf, E2BIG, 17, "nesting deeper than 32"); /* element of line N sits at depth 2N */
	sbuf_free(&s);

	sbuf_init(&s);
	for (int i = 0; i < 1025; i++)
		sbuf_printf(&s, "k%d = %d\n", i, i);
	expect_err(s.buf, E2BIG, 1025, "more than 1024 keys");
	sbuf_free(&s);
}

static void test_error_without_berr(void **state)
{
	(void)state;
	struct toml_value *root = NULL;
	assert_int_equal(toml_parse("a = = 1", 7, "t.toml", &root, NULL), -EINVAL);
	assert_null(root);
	assert_int_equal(toml_parse("a = 1", 5, NULL, &root, NULL), 0);
	toml_free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_integers_and_bools),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_keys_and_tables),
		cmocka_unit_test(test_array_of_tables),
		cmocka_unit_test(test_line_endings_and_empty),
		cmocka_unit_test(test_redefinition_errors),
		cmocka_unit_test(test_string_errors),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_error_without_berr),
	};
	return cmocka_run_group_tests_name("toml", tests, NULL, NULL);
}
