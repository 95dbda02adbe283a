"""A UDP echo for round-trip time and DSCP per edge: one socket per mesh group, in the supervisor.

The host that initiates a pair's iperf3 tests (it can reach the other, even from behind NAT) sends small
requests to the other's echo socket, marked with the group's DSCP; the other answers each with a reply of
the same size, marked the same. Both read the TOS byte of what arrives (IP_RECVTOS): the reflector copies
the request's into its reply, so the requester knows the DSCP as it arrived in both directions.

Not an open reflector: a request is answered only when it carries a valid MAC under the pair's key (derived
from the pair's iperf3 credential, which both ends hold: `sha256("{user}password")`, the users file's
hash), a sequence number above the last one answered for that user (no replay), and the user's token
bucket allows it; the reply is never larger than the request, and one request gets at most one reply.
Anything else is dropped and counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import socket
import struct
from dataclasses import dataclass
from typing import Callable, Optional

MAGIC = b"SYE1"
REQUEST, REPLY = 1, 2
# magic, kind, user (NUL-padded), sequence, the requester's clock (ns), the TOS the reflector saw
_BODY = struct.Struct("!4sB32sQQB")
MAC_SIZE = 16
SIZE = _BODY.size + MAC_SIZE
KEY_CONTEXT = b"syntraf echo v1"


def echo_key(users_hash: str) -> bytes:
    """The pair's echo key from its iperf3 users-file hash (hex): a key of its own, not the credential."""
    return hmac.new(bytes.fromhex(users_hash), KEY_CONTEXT, hashlib.sha256).digest()


def users_hash(username: str, password: str) -> str:
    """What iperf3's users file holds for a user: sha256 of `{username}password`, lowercase hex."""
    return hashlib.sha256(f"{{{username}}}{password}".encode()).hexdigest()


@dataclass(frozen=True)
class Message:
    kind: int
    user: str
    sequence: int
    sent_ns: int
    tos_seen: int


def pack(message: Message, key: bytes) -> bytes:
    body = _BODY.pack(
        MAGIC, message.kind, message.user.encode(), message.sequence, message.sent_ns, message.tos_seen
    )
    return body + hmac.new(key, body, hashlib.sha256).digest()[:MAC_SIZE]


def unpack(data: bytes, key_of: Callable[[str], Optional[bytes]]) -> Optional[Message]:
    """The message if `data` is well formed and its MAC is valid under the key of the user it names."""
    if len(data) != SIZE:
        return None
    body, mac = data[: _BODY.size], data[_BODY.size :]
    magic, kind, user, sequence, sent_ns, tos_seen = _BODY.unpack(body)
    if magic != MAGIC or kind not in (REQUEST, REPLY):
        return None
    try:
        name = user.rstrip(b"\0").decode()
    except UnicodeDecodeError:
        return None
    key = key_of(name)
    if key is None or not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()[:MAC_SIZE]):
        return None
    return Message(kind, name, sequence, sent_ns, tos_seen)


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, None

    def allow(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Reflector:
    """Answers the requests of known users: `keys` maps a user to the pair's echo key."""

    def __init__(self, keys: dict[str, bytes], rate: float) -> None:
        self.keys = keys
        self.rate = rate  # requests per second per user it answers (twice what a requester sends)
        self.buckets: dict[str, TokenBucket] = {}
        self.last_sequence: dict[str, int] = {}
        self.dropped = 0  # junk, unknown users, bad MACs, replays, over the rate

    def answer(self, data: bytes, tos: int, now: float) -> Optional[bytes]:
        message = unpack(data, self.keys.get)
        bucket = self.buckets.setdefault(message.user, TokenBucket(self.rate, self.rate)) if message else None
        if (
            message is None
            or message.kind != REQUEST
            or message.sequence <= self.last_sequence.get(message.user, -1)
            or not bucket.allow(now)
        ):
            self.dropped += 1
            return None
        self.last_sequence[message.user] = message.sequence
        reply = Message(REPLY, message.user, message.sequence, message.sent_ns, tos)
        return pack(reply, self.keys[message.user])


@dataclass(frozen=True)
class EchoStats:
    """One interval of a pair's echo: requests sent in it, and what came back."""

    sent: int
    lost: int  # no valid reply within the timeout
    rtt_ms: tuple[float, ...]  # of the replies, in sending order
    dscp_there: Optional[int]  # the DSCP most requests had on arrival at the reflector
    dscp_here: Optional[int]  # the DSCP most replies had on arrival here
    remarked_there_pct: Optional[float]  # requests that arrived with another DSCP than marked
    remarked_here_pct: Optional[float]

    @property
    def rtt_p95_ms(self) -> Optional[float]:
        if not self.rtt_ms:
            return None
        ordered = sorted(self.rtt_ms)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    @property
    def rtt_variation_ms(self) -> Optional[float]:
        """Mean absolute difference of consecutive round trips (IPDV, RFC 3393)."""
        steps = [abs(b - a) for a, b in zip(self.rtt_ms, self.rtt_ms[1:])]
        return sum(steps) / len(steps) if steps else None


class Requester:
    """The requesting side of one pair: requests out, replies in, per-interval statistics."""

    def __init__(self, user: str, key: bytes, dscp: int, first_sequence: int, timeout_ns: int) -> None:
        self.user, self.key, self.dscp, self.timeout_ns = user, key, dscp, timeout_ns
        self.sequence = first_sequence  # wall-clock based: above what the reflector saw before a restart
        self.sent: dict[int, int] = {}  # sequence -> sent (ns)
        self.replies: dict[int, tuple[int, int, int]] = {}  # sequence -> (rtt ns, TOS there, TOS here)

    def request(self, now_ns: int) -> bytes:
        self.sequence += 1
        self.sent[self.sequence] = now_ns
        return pack(Message(REQUEST, self.user, self.sequence, now_ns, 0), self.key)

    def on_reply(self, data: bytes, tos: int, now_ns: int) -> bool:
        message = unpack(data, lambda user: self.key if user == self.user else None)
        sent = self.sent.get(message.sequence) if message and message.kind == REPLY else None
        if sent is None or sent != message.sent_ns or message.sequence in self.replies:
            return False  # junk, foreign, a duplicate, or for a request already accounted
        if now_ns - sent > self.timeout_ns:
            return False  # too late: counted as lost
        self.replies[message.sequence] = (now_ns - sent, message.tos_seen, tos)
        return True

    def stats(self, start_ns: int, end_ns: int) -> EchoStats:
        """The requests sent in [start, end) (whose replies had `timeout` to come); forgets them."""
        sequences = sorted(seq for seq, sent in self.sent.items() if start_ns <= sent < end_ns)
        answered = [self.replies.pop(seq) for seq in sequences if seq in self.replies]
        for seq in sequences:
            del self.sent[seq]
        there = [tos >> 2 for _, tos, _ in answered]
        here = [tos >> 2 for _, _, tos in answered]
        return EchoStats(
            sent=len(sequences),
            lost=len(sequences) - len(answered),
            rtt_ms=tuple(rtt / 1e6 for rtt, _, _ in answered),
            dscp_there=_most_common(there),
            dscp_here=_most_common(here),
            remarked_there_pct=_remarked(there, self.dscp),
            remarked_here_pct=_remarked(here, self.dscp),
        )


def _most_common(values: list[int]) -> Optional[int]:
    return max(set(values), key=values.count) if values else None


def _remarked(values: list[int], dscp: int) -> Optional[float]:
    return 100.0 * sum(value != dscp for value in values) / len(values) if values else None


def tos_of(ancillary: list) -> int:
    """The TOS byte IP_RECVTOS attached to a datagram (0 if absent)."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == socket.IP_TOS and data:
            return data[0]
    return 0


class EchoSocket:
    """The group's one echo socket (IPv4): answers requests, and hands replies to the requester of the
    peer they come from. Non-blocking; `readable` is called by the event loop and reads what is queued."""

    READ_MAX = 256  # datagrams per wake-up: a flood cannot hold the supervisor's loop

    def __init__(self, address: str, port: int, dscp: int, reflector: Reflector) -> None:
        self.reflector = reflector
        self.requesters: dict[tuple[str, int], Requester] = {}  # peer's (address, echo port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        self.sock.setblocking(False)
        self.sock.bind((address, port))

    def send_requests(self, now_ns: int) -> None:
        for peer, requester in self.requesters.items():
            with contextlib.suppress(OSError):  # unreachable now: the request is lost, and counted so
                self.sock.sendto(requester.request(now_ns), peer)

    def readable(self, now_ns: int) -> None:
        for _ in range(self.READ_MAX):
            try:
                data, ancillary, _, source = self.sock.recvmsg(SIZE + 1, socket.CMSG_SPACE(1))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error queued on the socket (a peer not listening)
            tos = tos_of(ancillary)
            requester = self.requesters.get(source[:2])
            if requester is not None and requester.on_reply(data, tos, now_ns):
                continue
            reply = self.reflector.answer(data, tos, now_ns / 1e9)
            if reply is not None:
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply, source)

    def close(self) -> None:
        self.sock.close()
