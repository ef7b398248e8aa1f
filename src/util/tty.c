/* tty.c - one line asked on the controlling terminal (util.h): typed
 * values echoed, secrets (PINs, passphrases) with echo off and wiped on
 * error. raterm's PIN dialogs and cmhost's KEK passphrase use it. */
#include "raterm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

rt_err *
rt_tty_read(const char *prompt, bool echo, const char *hint, char *buf,
    size_t cap, size_t *len)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return rt_err_new(RT_E_USAGE, NULL, "no terminal to ask for the %s%s"
		    "%s", prompt, hint ? "; " : "", hint ? hint : "");
	bool restore = !echo && tcgetattr(fd, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		(void)tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	char p[500];
	int pl = snprintf(p, sizeof(p), "%s: ", prompt);
	ssize_t wr = write(fd, p, (size_t)(pl < (int)sizeof(p) ? pl :
	    (int)sizeof(p) - 1));
	(void)wr;	/* best effort */
	size_t n = 0;
	char c;
	bool too_long = false;
	rt_err *e = NULL;
	for (;;) {
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = rt_err_new(RT_E_USAGE, NULL, "%s: input ended", prompt);
			break;
		}
		if (c == '\n' || c == '\r')
			break;
		if (n < cap)
			buf[n++] = c;
		else
			too_long = true;
	}
	c = 0;
	if (restore) {
		(void)tcsetattr(fd, TCSAFLUSH, &old);
		wr = write(fd, "\n", 1);	/* the typed newline was not echoed */
		(void)wr;
	}
	close(fd);
	if (e == NULL && too_long)
		e = rt_err_new(RT_E_ARG, NULL, "%s: too long", prompt);
	if (e != NULL) {
		if (!echo)
			rt_wipe(buf, cap);
		return e;
	}
	*len = n;
	return NULL;
}
