"""A UDP echo for round-trip time and DSCP per edge: one socket per mesh group, in the supervisor.

One exchange per pair of hosts, whatever edges they have: a host of the pair that initiates iperf3 tests
with the other (it can reach it, even from behind NAT; of two, the lower uid: voice.py) sends small
requests to the other's echo socket, marked with the group's DSCP; the other answers each with a reply of
the same size, marked the same. Both read the TOS byte of what arrives (IP_RECVTOS): the reflector copies
the request's into its reply, so the requester knows the DSCP as it arrived in both directions. The
reflector also copies the jitter and loss of its last iperf3 interval of the edge it receives from the
requester (`heard`), so the requester can score that edge's MOS too; requests carry room for it.

Cheap at any number of peers: the socket is read in batches on the supervisor's timer (`drain`), not woken
per datagram. Round trips stay exact: the kernel stamps each datagram's arrival (SO_TIMESTAMPNS), and a
reply says how long its request waited at the reflector (`held_ns`), which the requester subtracts.

Not an open reflector: a request is answered only when it carries a valid MAC (keyed BLAKE2s, 16 bytes)
under the pair's key (derived
from the pair's iperf3 credential, which both ends hold: `sha256("{user}password")`, the users file's
hash), a sequence number above the last one answered for that user (no replay), and the user's token
bucket allows it; the reply is never larger than the request, and one request gets at most one reply.
Anything else is dropped and counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Optional

MAGIC = b"SYE3"  # SYE2 had no `heard`: a mixed pair's packets differ in size and magic, and are dropped
REQUEST, REPLY = 1, 2
USER_SIZE = 32
# magic, kind, user (NUL-padded), sequence, the requester's clock (ns), the TOS the reflector saw, how long
# the reflector held the request (ns, from its arrival to the reply), the jitter (ms) and loss (%) of the
# reflector's last iperf3 interval of the requester's edge to it (NaN: none, or down; a request's are NaN)
_BODY = struct.Struct(f"!4sB{USER_SIZE}sQQBIdd")
_REPLY_KIND = bytes([REPLY])  # the kind byte of a reply, after the magic
MAC_SIZE = 16
SIZE = _BODY.size + MAC_SIZE
KEY_CONTEXT = b"syntraf echo v1"
MacKey = hashlib.blake2s  # a pair's key, as a keyed BLAKE2s that has absorbed it (echo_key)
HELD_MAX = 2**32 - 1
NAN = math.nan
Heard = Callable[[bytes], Optional[tuple[float, float]]]  # user field -> (jitter ms, loss %) of its edge
SO_TIMESTAMPNS = 35  # Linux; Python's socket module names it only from 3.14
_TIMESPEC = struct.Struct("@qq")  # the kernel's receive time (CLOCK_REALTIME): seconds, nanoseconds
_ANCILLARY_SPACE = socket.CMSG_SPACE(1) + socket.CMSG_SPACE(_TIMESPEC.size)


def echo_key(users_hash: str) -> MacKey:
    """The pair's echo key from its iperf3 users-file hash (hex): a key of its own, not the credential,
    as a keyed BLAKE2s that has absorbed it (copied for each packet: half the cost of keying anew)."""
    key = hmac.new(bytes.fromhex(users_hash), KEY_CONTEXT, hashlib.sha256).digest()
    return hashlib.blake2s(key=key, digest_size=MAC_SIZE)


def users_hash(username: str, password: str) -> str:
    """What iperf3's users file holds for a user: sha256 of `{username}password`, lowercase hex."""
    return hashlib.sha256(f"{{{username}}}{password}".encode()).hexdigest()


def user_field(user: str) -> bytes:
    """A user name as the packets carry it (NUL-padded): the reflector looks keys up by it, undecoded."""
    return user.encode().ljust(USER_SIZE, b"\0")[:USER_SIZE]


class Message(NamedTuple):
    kind: int
    user: bytes  # user_field(name)
    sequence: int
    sent_ns: int
    tos_seen: int
    held_ns: int
    heard_jitter_ms: float = NAN
    heard_loss_pct: float = NAN


def _mac(key: MacKey, body: bytes) -> bytes:
    # keyed BLAKE2s is a MAC by design (RFC 7693 §2.9); HMAC-SHA256 costs 4 times as much through
    # OpenSSL 3, which looks the digest up at every call
    mac = key.copy()
    mac.update(body)
    return mac.digest()


def pack(message: Message, key: MacKey) -> bytes:
    body = _BODY.pack(MAGIC, *message)
    return body + _mac(key, body)


def unpack(data: bytes, key_of: Callable[[bytes], Optional[MacKey]]) -> Optional[Message]:
    """The message if `data` is well formed and its MAC is valid under the key of the user it names
    (`key_of` gets the user field as sent, NUL-padded)."""
    if len(data) != SIZE or data[:4] != MAGIC:
        return None
    body = data[: _BODY.size]
    key = key_of(body[5 : 5 + USER_SIZE])
    if key is None or not hmac.compare_digest(data[_BODY.size :], _mac(key, body)):
        return None
    message = Message._make(_BODY.unpack(body)[1:])
    return message if message.kind in (REQUEST, REPLY) else None


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, None

    def allow(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _nothing_heard(user: bytes) -> None:
    return None


class Reflector:
    """Answers the requests of known users: `keys` maps a user to the pair's echo key, `heard` gives the
    iperf3 interval a reply copies (default: none)."""

    def __init__(self, keys: dict[str, MacKey], rate: float, heard: Heard = _nothing_heard) -> None:
        self.keys = {user_field(user): key for user, key in keys.items()}
        self.heard = heard
        self.answering = self.keys  # the users answered now: all, or a rotating group's current peers
        self.rate = rate  # requests per second per user it answers (twice what a requester sends)
        self.buckets: dict[bytes, TokenBucket] = {}
        self.last_sequence: dict[bytes, int] = {}
        self.dropped = 0  # junk, unknown users, bad MACs, replays, over the rate

    def answer(self, data: bytes, tos: int, received_ns: int, now_ns: int) -> Optional[bytes]:
        """The reply to `data` (arrived at `received_ns`, answered at `now_ns`: one clock), or None."""
        message = unpack(data, self.answering.get)
        if (
            message is None
            or message.kind != REQUEST
            or message.sequence <= self.last_sequence.get(message.user, -1)
            or not self._bucket(message.user).allow(now_ns / 1e9)
        ):
            self.dropped += 1
            return None
        self.last_sequence[message.user] = message.sequence
        held = min(HELD_MAX, max(0, now_ns - received_ns))
        jitter, loss = self.heard(message.user) or (NAN, NAN)
        reply = Message(REPLY, message.user, message.sequence, message.sent_ns, tos, held, jitter, loss)
        return pack(reply, self.answering[message.user])

    def answer_only(self, users: Iterable[str]) -> None:
        """Answer only these users from now on (those without a key stay unanswered)."""
        fields = {user_field(user) for user in users}
        self.answering = {field: key for field, key in self.keys.items() if field in fields}

    def _bucket(self, user: bytes) -> TokenBucket:
        bucket = self.buckets.get(user)
        if bucket is None:
            bucket = self.buckets[user] = TokenBucket(self.rate, self.rate)
        return bucket


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
    heard: Optional[tuple[float, float]] = None  # the reflector's last iperf3 interval (jitter, loss)

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

    def __init__(self, user: str, key: MacKey, dscp: int, first_sequence: int, timeout_ns: int) -> None:
        self.user, self.key, self.dscp, self.timeout_ns = user_field(user), key, dscp, timeout_ns
        self.sequence = first_sequence  # wall-clock based: above what the reflector saw before a restart
        self.sent: dict[int, int] = {}  # sequence -> sent (ns)
        self.replies: dict[int, tuple[int, int, int]] = {}  # sequence -> (rtt ns, TOS there, TOS here)
        self.heard: Optional[tuple[float, float]] = None  # as the latest reply said

    def request(self, now_ns: int) -> bytes:
        self.sequence += 1
        self.sent[self.sequence] = now_ns
        return pack(Message(REQUEST, self.user, self.sequence, now_ns, 0, 0), self.key)  # room for `heard`

    def on_reply(self, data: bytes, tos: int, received_ns: int) -> bool:
        message = unpack(data, self._key_of)
        sent = self.sent.get(message.sequence) if message and message.kind == REPLY else None
        if sent is None or sent != message.sent_ns or message.sequence in self.replies:
            return False  # junk, foreign, a duplicate, or for a request already accounted
        if received_ns - sent > self.timeout_ns:
            return False  # too late: counted as lost
        self.replies[message.sequence] = (received_ns - sent - message.held_ns, message.tos_seen, tos)
        jitter, loss = message.heard_jitter_ms, message.heard_loss_pct
        self.heard = None if math.isnan(jitter) else (jitter, loss)
        return True

    def _key_of(self, user: bytes) -> Optional[MacKey]:
        return self.key if user == self.user else None

    def stats(self, start_ns: int, end_ns: int) -> EchoStats:
        """The requests sent in [start, end) (whose replies had `timeout` to come), and the latest reply's
        `heard`; forgets them."""
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
            heard=self.heard,
        )


def _most_common(values: list[int]) -> Optional[int]:
    return max(set(values), key=values.count) if values else None


def _remarked(values: list[int], dscp: int) -> Optional[float]:
    return 100.0 * sum(value != dscp for value in values) / len(values) if values else None


def arrival(ancillary: list) -> tuple[int, Optional[int]]:
    """The TOS byte (IP_RECVTOS; 0 if absent) and the kernel's receive time in ns (SO_TIMESTAMPNS, wall
    clock; None if absent) of a datagram."""
    tos, received = 0, None
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == socket.IP_TOS and data:
            tos = data[0]
        elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            received = seconds * 1_000_000_000 + nanoseconds
    return tos, received


class EchoSocket:
    """The group's one echo socket (IPv4): answers requests, and hands replies to the requester of the
    peer they come from. Non-blocking; `drain` reads what is queued, on the caller's timer."""

    READ_MAX = 512  # datagrams per drain: a flood cannot hold the supervisor's loop

    def __init__(self, address: str, port: int, dscp: int, reflector: Reflector) -> None:
        self.reflector = reflector
        self.requesters: dict[tuple[str, int], Requester] = {}  # peer's (address, echo port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setblocking(False)
        self.sock.bind((address, port))

    def send_requests(self, peers: Optional[Iterable[tuple[str, int]]] = None) -> None:
        """A request to each of `peers` (default: every requester's peer)."""
        for peer in self.requesters if peers is None else peers:
            request = self.requesters[peer].request(time.monotonic_ns())
            with contextlib.suppress(OSError):  # unreachable now: the request is lost, and counted so
                self.sock.sendto(request, peer)

    def drain(self) -> None:
        """Read what is queued (at most READ_MAX): replies to their requesters, requests answered. Times
        are monotonic: each datagram's kernel arrival time is converted once per drain."""
        wall_ahead = time.time_ns() - time.monotonic_ns()
        for _ in range(self.READ_MAX):
            try:
                data, ancillary, _, source = self.sock.recvmsg(SIZE + 1, _ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error queued on the socket (a peer not listening)
            tos, received_wall = arrival(ancillary)
            received = time.monotonic_ns() if received_wall is None else received_wall - wall_ahead
            # only a reply goes to a requester: a peer asks from the address it answers from, and a
            # request tried as a reply first would be parsed twice
            requester = self.requesters.get(source) if data[4:5] == _REPLY_KIND else None
            if requester is not None and requester.on_reply(data, tos, received):
                continue
            reply = self.reflector.answer(data, tos, received, time.monotonic_ns())
            if reply is not None:
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply, source)

    def close(self) -> None:
        self.sock.close()
