/*
 * sockact - start a daemon with systemd-style socket activation.
 *
 *   sockact SOCKPATH -- pcscd -f -c CONFDIR
 *
 * Binds and listens on a Unix socket at SOCKPATH, puts it on fd 3, sets
 * LISTEN_FDS=1 and LISTEN_PID=<own pid> and execs the command (so the pid
 * stays the same). pcscd 1.9.9 has its socket path compiled in
 * (/run/pcscd/pcscd.comm) but takes a socket passed this way ("Started by
 * systemd"); clients then reach it with PCSCLITE_CSOCK_NAME=SOCKPATH. This
 * needs no privilege, and several private pcscd run side by side.
 *
 * A stale socket file at SOCKPATH is replaced; any other file is refused.
 * The socket file is not removed on exit: the caller does that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
usage(void)
{
	fprintf(stderr, "usage: sockact SOCKPATH -- COMMAND [ARG...]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[2], "--") != 0)
		return usage();
	const char *path = argv[1];

	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "sockact: socket path too long (max %zu): %s\n",
		    sizeof(sa.sun_path) - 1, path);
		return 1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "sockact: %s exists and is not a socket\n", path);
			return 1;
		}
		if (unlink(path) != 0) {
			fprintf(stderr, "sockact: unlink %s: %s\n", path, strerror(errno));
			return 1;
		}
	}

	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		fprintf(stderr, "sockact: socket: %s\n", strerror(errno));
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
		fprintf(stderr, "sockact: %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* pcscd lets any local user connect to the system socket, too */
	(void)chmod(path, 0666);

	if (fd != 3) {
		if (dup2(fd, 3) < 0) {
			fprintf(stderr, "sockact: dup2: %s\n", strerror(errno));
			return 1;
		}
		close(fd);
	}
	int fl = fcntl(3, F_GETFD);
	if (fl >= 0)
		(void)fcntl(3, F_SETFD, fl & ~FD_CLOEXEC);

	char pid[32];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (setenv("LISTEN_FDS", "1", 1) != 0 || setenv("LISTEN_PID", pid, 1) != 0) {
		fprintf(stderr, "sockact: setenv failed\n");
		return 1;
	}
	(void)unsetenv("LISTEN_FDNAMES");

	execvp(argv[3], argv + 3);
	fprintf(stderr, "sockact: exec %s: %s\n", argv[3], strerror(errno));
	return 127;
}
