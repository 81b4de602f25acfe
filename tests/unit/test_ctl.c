/* Unit tests: ctl and config write parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl.h"

static const struct ctl_cmd tab[] = {
	{ 1, "start", 0, 0, "start" },
	{ 2, "import", 1, 1, "import DIR" },
	{ 3, "pair", 1, 2, "pair A [B]" },
};
#define N (sizeof(tab) / sizeof(tab[0]))

static int parse(const char *s, struct ctl_req *req, struct berr *err)
{
	return ctl_parse(s, strlen(s), tab, N, req, err);
}

static void test_ctl_ok(void **state)
{
	struct ctl_req *req = malloc(sizeof(*req));
	struct berr err = { 0 };
	(void)state;
	assert_int_equal(parse("start\n", req, &err), 0);
	assert_int_equal(req->cmd->id, 1);
	assert_int_equal(req->argc, 0);
	assert_int_equal(parse("  import\t/some/dir  \n", req, &err), 0);
	assert_int_equal(req->cmd->id, 2);
	assert_string_equal(req->argv[0], "/some/dir");
	assert_int_equal(parse("pair a b", req, &err), 0);
	assert_int_equal(req->argc, 2);
	assert_string_equal(req->argv[1], "b");
	free(req);
}

static void test_ctl_errors(void **state)
{
	struct ctl_req *req = malloc(sizeof(*req));
	struct berr err = { 0 };
	(void)state;
	assert_int_equal(parse("", req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(parse("\n", req, &err), -EINVAL);
	assert_int_equal(parse("strat", req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown command 'strat'"));
	assert_non_null(strstr(err.msg, "start, import, pair"));
	assert_int_equal(parse("start now", req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "usage: start"));
	assert_int_equal(parse("import", req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "usage: import DIR"));
	assert_int_equal(parse("pair a b c d e f", req, &err), -EINVAL);
	assert_int_equal(parse("start\nstop\n", req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "one command per line"));
	assert_int_equal(parse("st\x01" "art", req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "control character"));
	assert_int_equal(ctl_parse("start\0x", 7, tab, N, req, &err), -EINVAL);
	char *big = malloc(CTL_WRITE_MAX + 2);
	memset(big, 'a', CTL_WRITE_MAX + 1);
	big[CTL_WRITE_MAX + 1] = '\0';
	assert_int_equal(parse(big, req, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "4096"));
	free(big);
	free(req);
}

static void test_kv(void **state)
{
	struct kv_req *req = malloc(sizeof(*req));
	struct berr err = { 0 };
	(void)state;
	const char *in = "vcpu 2\n\nmemory_mib 1024\n";
	assert_int_equal(kv_parse(in, strlen(in), NULL, req, &err), 0);
	assert_int_equal(req->n, 2);
	assert_string_equal(req->kv[0].key, "vcpu");
	assert_string_equal(req->kv[0].value, "2");
	assert_string_equal(req->kv[1].value, "1024");
	assert_int_equal(kv_parse("4\n", 2, "vcpu", req, &err), 0);
	assert_string_equal(req->kv[0].key, "vcpu");
	assert_string_equal(req->kv[0].value, "4");

	assert_int_equal(kv_parse("vcpu\n", 5, NULL, req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "line 1"));
	assert_int_equal(kv_parse("vcpu 1 2", 8, NULL, req, &err), -EINVAL);
	assert_int_equal(kv_parse("vcpu 1\nvcpu 2", 13, NULL, req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "twice"));
	assert_int_equal(kv_parse("\n\n", 2, NULL, req, &err), -EINVAL);
	assert_int_equal(kv_parse("1 2", 3, "vcpu", req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "one value"));
	assert_int_equal(kv_parse("1\n2\n", 4, "vcpu", req, &err), -EINVAL);
	assert_int_equal(kv_parse("", 0, "vcpu", req, &err), -EINVAL);
	struct sbuf s;
	sbuf_init(&s);
	for (int i = 0; i < KV_MAX_LINES + 1; i++)
		sbuf_printf(&s, "k%d v\n", i);
	assert_int_equal(kv_parse(s.buf, s.len, NULL, req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too many"));
	sbuf_free(&s);
	free(req);
}

static void test_parse_numbers(void **state)
{
	uint64_t u;
	int64_t i;
	(void)state;
	assert_int_equal(parse_u64("42", &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(parse_u64("", &u), -EINVAL);
	assert_int_equal(parse_u64("4x", &u), -EINVAL);
	assert_int_equal(parse_u64("-1", &u), -EINVAL);
	assert_int_equal(parse_u64(" 1", &u), -EINVAL);
	assert_int_equal(parse_u64("18446744073709551616", &u), -ERANGE);
	assert_int_equal(parse_i64("-9223372036854775808", &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(parse_i64("9223372036854775808", &i), -ERANGE);
	assert_int_equal(parse_size("8G", &u), 0);
	assert_true(u == 8ULL << 30);
	assert_int_equal(parse_size("512MiB", &u), 0);
	assert_true(u == 512ULL << 20);
	assert_int_equal(parse_size("4096", &u), 0);
	assert_int_equal(u, 4096);
	assert_int_equal(parse_size("lots", &u), -EINVAL);
	assert_int_equal(parse_size("8X", &u), -EINVAL);
	assert_int_equal(parse_size("8Gx", &u), -EINVAL);
	assert_int_equal(parse_size("99999999999T", &u), -ERANGE);
	char buf[32];
	format_size(8ULL << 30, buf, sizeof(buf));
	assert_string_equal(buf, "8G");
	format_size(1536ULL << 20, buf, sizeof(buf));
	assert_string_equal(buf, "1536M");
	format_size(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1000");
}

static void test_shquote(void **state)
{
	struct sbuf s;
	(void)state;
	sbuf_init(&s);
	sbuf_shquote(&s, "/plain/path-1.x");
	sbuf_puts(&s, " ");
	sbuf_shquote(&s, "it's a b");
	sbuf_puts(&s, " ");
	sbuf_shquote(&s, "");
	assert_string_equal(s.buf, "/plain/path-1.x 'it'\\''s a b' ''");
	sbuf_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctl_ok), cmocka_unit_test(test_ctl_errors),
		cmocka_unit_test(test_kv), cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_shquote),
	};
	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
