/* helper/nat.c: IPv4 forwarding and the nftables table "inet banger"
 * (see net.h and docs/network.md).
 *
 * The ruleset is generated from parsed, re-validated values only (a
 * numeric subnet and an interface name of [A-Za-z0-9_.-]), never from the
 * caller's strings, and loaded through libnftables as one transaction:
 * "table" (create if missing) + "delete table" + the new table, so the
 * replacement is atomic and a second call leaves the same rules. */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "util.h"

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

static inline void nft_ctxp(struct nft_ctx **p) { if (*p) nft_ctx_free(*p); }
#define _cleanup_nft_ __attribute__((cleanup(nft_ctxp)))

int net_nat_ruleset(const char *bridge, const char *subnet_cidr, char **ret, struct berr *err)
{
	uint32_t addr;
	int prefix, r;
	char ns[16];

	if ((r = net_name_validate(bridge, NULL, err)) < 0 ||
	    (r = net_cidr_parse(subnet_cidr, &addr, &prefix, err)) < 0)
		return berr_wrap(err, "setting up NAT");
	net_addr_str(addr & ~(0xffffffffu >> prefix), ns);
	*ret = xasprintf(
		"table " NET_NFT_FAMILY " " NET_NFT_TABLE "\n"
		"delete table " NET_NFT_FAMILY " " NET_NFT_TABLE "\n"
		"table " NET_NFT_FAMILY " " NET_NFT_TABLE " {\n"
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\tip saddr %s/%d oifname != \"%s\" masquerade\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tiifname \"%s\" accept\n"
		"\t\toifname \"%s\" ct state established,related accept\n"
		"\t}\n"
		"}\n", ns, prefix, bridge, bridge, bridge);
	return 0;
}

/* Run an nft script in one transaction.  what: "adding NAT rules". */
static int nft_run(const char *script, const char *what, struct berr *err)
{
	_cleanup_nft_ struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx)
		return berr_set(err, ENOMEM, "%s: cannot set up libnftables", what);
	/* Keep nft's messages: library code does not print. */
	if (nft_ctx_buffer_output(ctx) < 0 || nft_ctx_buffer_error(ctx) < 0)
		return berr_set(err, ENOMEM, "%s: cannot set up libnftables buffers", what);
	if (nft_run_cmd_from_buffer(ctx, script) == 0)
		return 0;

	/* nft explains in several lines ("Error: ...", the input, a caret
	 * line); the first line is the sentence. */
	const char *msg = nft_ctx_get_error_buffer(ctx);
	if (!msg || !*msg)
		msg = "nft failed without a message";
	if (strncmp(msg, "Error: ", 7) == 0)
		msg += 7;
	size_t len = strcspn(msg, "\n");
	int code = EIO;
	if (strstr(msg, "Operation not permitted"))
		code = EPERM;
	else if (strstr(msg, "No such file or directory"))
		code = ENOENT; /* typically: no nf_tables support in the kernel */
	return berr_set(err, code, "%s: %.*s", what, (int)len, msg);
}

static int ip_forward_enable(struct berr *err)
{
	char cur[4] = "";
	{
		_cleanup_close_ int fd = open(IP_FORWARD, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return berr_set(err, errno, "reading " IP_FORWARD ": %s", strerror(errno));
		ssize_t n = read(fd, cur, sizeof(cur) - 1);
		if (n < 0)
			return berr_set(err, errno, "reading " IP_FORWARD ": %s", strerror(errno));
		cur[n] = '\0';
	}
	if (cur[0] == '1')
		return 0;

	_cleanup_close_ int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return berr_set(err, errno, "enabling IPv4 forwarding (" IP_FORWARD "): %s",
				strerror(errno));
	errno = 0;
	if (write(fd, "1\n", 2) != 2)
		return berr_set(err, errno ? errno : EIO, "enabling IPv4 forwarding ("
				IP_FORWARD "): %s", strerror(errno ? errno : EIO));
	return 0;
}

int net_nat_ensure(const char *bridge, const char *subnet_cidr, struct berr *err)
{
	_cleanup_free_ char *script = NULL;
	int r;

	if ((r = net_nat_ruleset(bridge, subnet_cidr, &script, err)) < 0)
		return r;
	/* Rules first: forwarding is never on without the masquerade. */
	if ((r = nft_run(script, "loading the NAT rules (table " NET_NFT_FAMILY " "
			 NET_NFT_TABLE ")", err)) < 0)
		return r;
	return ip_forward_enable(err);
}

int net_nat_remove(struct berr *err)
{
	/* Creating the table first makes the delete succeed when it is missing
	 * (nft 1.0.6 has no "destroy"). */
	return nft_run("table " NET_NFT_FAMILY " " NET_NFT_TABLE "\n"
		       "delete table " NET_NFT_FAMILY " " NET_NFT_TABLE "\n",
		       "removing the NAT rules (table " NET_NFT_FAMILY " " NET_NFT_TABLE ")", err);
}
