#!/usr/bin/env python3
"""pty_answer.py - runs a command on a pseudo-terminal, as an officer at a
terminal would, and answers its prompts.

    pty_answer.py [--timeout S] [--answer REGEX=TEXT]... -- COMMAND [ARG]...

Whenever the output since the last answer ends with a line matching one of
the REGEXes (tried in order), TEXT and a newline are typed. Prints the
whole transcript (what the terminal showed; typed text is not echoed where
the program turned echo off) and exits with the command's status, or 124
when it did not end within the timeout (it is then killed)."""
import os
import pty
import re
import select
import signal
import sys
import time


def main():
    args = sys.argv[1:]
    timeout = 60.0
    answers = []
    while args and args[0] != "--":
        if args[0] == "--timeout":
            timeout = float(args[1])
            args = args[2:]
        elif args[0] == "--answer":
            rx, _, text = args[1].partition("=")
            answers.append((re.compile(rx), text))
            args = args[2:]
        else:
            sys.exit("pty_answer.py: unknown option " + args[0])
    cmd = args[1:]
    if not cmd:
        sys.exit("pty_answer.py: no command")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    mark = 0
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            out += data
            tail = out[mark:].decode(errors="replace").rstrip(" ")
            last = tail.splitlines()[-1] if tail.strip() else ""
            for rx, text in answers:
                if not tail.endswith("\n") and rx.search(last):
                    os.write(fd, text.encode() + b"\n")
                    mark = len(out)
                    break
        else:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
                break
    if status is None:
        try:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
        except ChildProcessError:
            pass
    if status is None and time.time() >= deadline:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stdout.write(out.decode(errors="replace"))
        sys.exit(124)
    if status is None:
        _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
    sys.exit(os.waitstatus_to_exitcode(status))


main()
