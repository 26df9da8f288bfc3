"""Tries to reach the network from student code: sends a UDP datagram to this machine
(127.0.0.1, the discard port) and to a documentation address, and opens a TCP socket (a
submission that can do this can hand its grader's secrets to anyone listening). It only
looks, sends one harmless byte, and says so in the exception it raises if any of it worked,
which ends up in its report."""

import socket

REACHED = []


def attack(obj):
    if not REACHED:
        for host in ("127.0.0.1", "192.0.2.1"):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    s.sendto(b"x", (host, 9))
                    REACHED.append(f"udp to {host}")
                finally:
                    s.close()
            except OSError:
                pass
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
            REACHED.append("a TCP socket")
        except OSError:
            pass
        REACHED.append("")                      # looked once: the list is not empty any more
    found = [r for r in REACHED if r]
    if found:
        raise RuntimeError(f"REACHED the network: {', '.join(found)}")
