"""A raw HTTP/1.1 client socket for the hostile tests: what a browser library would not send."""

from __future__ import annotations

import socket
import time


class Wire:
    """A socket reading whole answers (Content-Length framed) off the wire."""

    def __init__(self, address: tuple[str, int], timeout: float = 10) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def trickle(self, data: bytes, every: float, step: int = 1) -> bool:
        """Send ``data`` ``step`` bytes at a time, ``every`` seconds apart; False as soon as
        the server closed or answered (then stop)."""
        for i in range(0, len(data), step):
            try:
                self.sock.sendall(data[i:i + step])
            except OSError:
                return False
            if self.answered_or_closed(every):
                return False
        return True

    def answered_or_closed(self, wait: float) -> bool:
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(10)
        self.buffer += chunk
        return True

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed mid-answer: {self.buffer[:200]!r}"
            self.buffer += chunk
        fields, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = fields.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        size = int(headers.get("content-length", "0"))
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed mid-body"
            self.buffer += chunk
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return int(status_line.split()[1]), headers, body

    def closed_within(self, seconds: float) -> bool:
        """True once the server has closed the connection (reading what it sent first)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            except OSError:
                return True
            if not chunk:
                return True
            self.buffer += chunk
        return False

    def close(self) -> None:
        self.sock.close()
