#!/usr/bin/env python3
"""Runs a server command for a test and makes sure it ends with the test.

  guard.py PARENT_PID LOGFILE -- COMMAND...

Starts COMMAND in a process group of its own (output to LOGFILE) and kills that group with SIGKILL
when PARENT_PID is gone, when this script gets SIGTERM or SIGINT, or when COMMAND exits.
"""
import os, signal, subprocess, sys, time

# The test's Process may start children with signals blocked: take SIGTERM and SIGINT back.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
parent = int(sys.argv[1])
log = open(sys.argv[2], "ab")
command = sys.argv[sys.argv.index("--") + 1:]
child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while not stopping and child.poll() is None:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    time.sleep(0.2)
try:
    os.killpg(child.pid, signal.SIGKILL)
except ProcessLookupError:
    pass
child.wait()
