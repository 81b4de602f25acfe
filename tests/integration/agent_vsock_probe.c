/* tests/integration/agent_vsock_probe.c: run inside a guest by agent.sh
 * (static, put there through the agent).  Connects to vsock CID 1 (the
 * guest's own loopback) port 52 as an ordinary guest process would, sends
 * a hello, and prints what the agent did:
 *   "closed"    the connection was closed without a byte (refused: the peer is not the host)
 *   "answered"  the agent spoke to it
 *   "noconnect <errno text>"  no connection at all */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

int main(void)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 1, .svm_port = 52 };
	char buf[256];
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("noconnect %s\n", strerror(errno));
		return 0;
	}
	const char *hello = "\nhello 0 1 probe\nping 1\n";
	if (write(fd, hello, strlen(hello)) < 0) {
		printf("closed\n");
		return 0;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 3000) <= 0) {
		printf("silent\n");
		return 0;
	}
	ssize_t n = read(fd, buf, sizeof(buf));
	printf("%s\n", n > 0 ? "answered" : "closed");
	return 0;
}
