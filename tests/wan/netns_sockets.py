"""Sockets in other network namespaces, made by this process (setns on this thread, then back), so one
test sends from one site and receives at another with one clock and no helper processes."""

from __future__ import annotations

import ctypes
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """Sockets created in this block belong to network namespace `netns`."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        yield
    finally:
        _setns(original)
        os.close(original)
        os.close(target)


def udp_socket(netns: str, address: str, port: int = 0) -> socket.socket:
    with inside(netns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    return sock


def tcp_socket(netns: str) -> socket.socket:
    with inside(netns):
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
