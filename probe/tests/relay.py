"""A loopback TCP+UDP relay that delays every TCP chunk and UDP datagram, and drops, duplicates or holds
chosen datagrams while counting them: a long path with exact ground truth, for iperf3 between two 127.0.0.x
addresses.

The initiator connects to the relay's address; the relay forwards to the listener on another address and
port. TCP is piped chunk by chunk, UDP datagram by datagram (one upstream socket per client address, as a
NAT would), each after `delay` seconds, in order. `copies(payload)` decides for each datagram from the
listener to the initiator (the direction of a `-R` test's data): 0 drops it, 2 duplicates it; the relay
counts both. `hold(seconds)` stalls that direction and then releases everything queued (no loss).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Callable, Optional

Copies = Callable[[bytes], int]


class _DelayLine:
    """Delivers items in order, each `delay` seconds after it was put."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay: float, deliver: Callable[[bytes], None]
    ) -> None:
        self.loop, self.delay, self.deliver = loop, delay, deliver
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = loop.create_task(self._run())

    def put(self, item: Optional[bytes], not_before: float = 0.0) -> None:
        self.queue.put_nowait((max(self.loop.time(), not_before) + self.delay, item))

    async def _run(self) -> None:
        while True:
            deadline, item = await self.queue.get()
            await asyncio.sleep(max(0.0, deadline - self.loop.time()))
            self.deliver(item)
            if item is None:
                return


class _Upstream(asyncio.DatagramProtocol):
    """The relay's socket towards the listener for one client address."""

    def __init__(self, relay: Relay, client: tuple) -> None:
        self.relay, self.client = relay, client
        self.transport: Optional[asyncio.DatagramTransport] = None
        self.back = _DelayLine(relay.loop, relay.delay, self._to_client)
        self.forth = _DelayLine(relay.loop, relay.delay, lambda data: self.transport.sendto(data))

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        copies = self.relay.copies(data)
        self.relay.dropped += copies == 0
        self.relay.duplicated += max(copies - 1, 0)
        for _ in range(copies):
            self.back.put(data, self.relay.held_until)

    def _to_client(self, data: bytes) -> None:
        self.relay.front.sendto(data, self.client)


class _Front(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr) -> None:
        upstream = self.relay.upstreams.get(addr)
        if upstream is None:
            upstream = self.relay.upstreams[addr] = _Upstream(self.relay, addr)
            self.relay.loop.create_task(
                self.relay.loop.create_datagram_endpoint(lambda: upstream, remote_addr=self.relay.target)
            )
        upstream.forth.put(data)


class Relay:
    def __init__(self, listen: tuple, target: tuple, delay: float, copies: Copies) -> None:
        self.listen, self.target, self.delay, self.copies = listen, target, delay, copies
        self.dropped = self.duplicated = self.connections = 0
        self.held_until = 0.0
        self.upstreams: dict = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.front: Optional[asyncio.DatagramTransport] = None
        self.server: Optional[asyncio.AbstractServer] = None

    def __enter__(self) -> Relay:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)
        return self

    def hold(self, seconds: float) -> None:
        """From now, datagrams to the initiator wait until `seconds` have passed, then all go, in order."""

        def start() -> None:
            self.held_until = self.loop.time() + seconds

        self.loop.call_soon_threadsafe(start)

    def __exit__(self, *exc) -> None:
        async def stop() -> None:
            self.server.close()
            self.front.close()
            for upstream in self.upstreams.values():
                if upstream.transport is not None:
                    upstream.transport.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._pipe_connection, *self.listen)
        self.front, _ = await self.loop.create_datagram_endpoint(lambda: _Front(self), local_addr=self.listen)

    async def _pipe_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def deliver(chunk: Optional[bytes]) -> None:
            if chunk is None:
                writer.close()
            elif not writer.is_closing():
                writer.write(chunk)

        line = _DelayLine(self.loop, self.delay, deliver)
        try:
            while True:
                chunk = await reader.read(65536)
                line.put(chunk or None)
                if not chunk:
                    return
        except OSError:
            line.put(None)
