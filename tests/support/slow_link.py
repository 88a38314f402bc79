"""A real TCP proxy whose replies are late: what the client sends goes through at once, what
the server answers is held back ``delay_s`` (a slow return path, or a broker that acknowledges
late). Not a fake: both ends talk to real sockets."""

from __future__ import annotations

import heapq
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class SlowReplies:
    def __init__(self, target_port: int, delay_s: float, host: str = "127.0.0.1") -> None:
        self.delay_s, self._target = delay_s, (host, target_port)
        self._listener = socket.create_server((host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, 0.0), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(server, client, self.delay_s), daemon=True
            ).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, delay_s: float) -> None:
        due: list[tuple[float, int, bytes]] = []
        count = 0
        src.settimeout(0.01)
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
                if not data:
                    return
                count += 1
                heapq.heappush(due, (time.monotonic() + delay_s, count, data))
            except TimeoutError:
                pass
            except OSError:
                return
            while due and due[0][0] <= time.monotonic():
                try:
                    dst.sendall(heapq.heappop(due)[2])
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        for sock in self._sockets:
            sock.close()


@contextmanager
def slow_replies(target_port: int, delay_s: float) -> Iterator[SlowReplies]:
    proxy = SlowReplies(target_port, delay_s)
    try:
        yield proxy
    finally:
        proxy.close()
