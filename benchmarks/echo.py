"""The physical floor: WebSocket round trips to a trivial picows echo server in another process.

``python -m benchmarks.echo --serve`` runs the server and prints ``{"port": N}``;
``python -m benchmarks.echo`` starts one and prints the client's round-trip times.
:func:`measure` is what ``benchmarks.run`` calls: sequential round trips of one text frame of
a given size, each awaited through an asyncio future (as a client awaiting an answer does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time

import picows

from benchmarks.common import summary_us

__all__ = ["EchoProcess", "measure", "serve"]


class _EchoServer(picows.WSListener):
    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind is picows.WSMsgType.TEXT or kind is picows.WSMsgType.BINARY:
            transport.send(kind, frame.get_payload_as_bytes())
        elif kind is picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Echo every text and binary frame until SIGTERM or SIGINT; prints ``{"port": N}``."""
    server = await picows.ws_create_server(lambda _request: _EchoServer(), host, port)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": bound}) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


class EchoProcess:
    """The echo server as a child process (a context manager); ``url`` once started."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> EchoProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.echo", "--serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("the echo server did not start")
        self.url = f"ws://127.0.0.1:{json.loads(line)['port']}/"
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


class _EchoClient(picows.WSListener):
    def __init__(self) -> None:
        self.waiter: asyncio.Future[None] | None = None

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        waiter = self.waiter
        if frame.msg_type is picows.WSMsgType.TEXT and waiter is not None and not waiter.done():
            frame.get_payload_as_bytes()
            waiter.set_result(None)


async def measure_async(url: str, size: int, count: int, warmup: int) -> dict[str, float]:
    transport, client = await picows.ws_connect(_EchoClient, url)
    assert isinstance(client, _EchoClient)
    loop = asyncio.get_running_loop()
    message = b"x" * size
    samples: list[int] = []
    clock = time.perf_counter_ns
    try:
        for i in range(warmup + count):
            waiter = client.waiter = loop.create_future()
            started = clock()
            transport.send(picows.WSMsgType.TEXT, message)
            await waiter
            if i >= warmup:
                samples.append(clock() - started)
    finally:
        transport.send_close(picows.WSCloseCode.OK)
        transport.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(transport.wait_disconnected(), 2.0)
    return {**summary_us(samples, "echo_rtt"), "echo_message_bytes": float(size)}


def measure(url: str, size: int = 160, count: int = 2000, warmup: int = 200) -> dict[str, float]:
    """Round-trip times (µs) of ``count`` sequential ``size``-byte text frames to ``url``."""
    return asyncio.run(measure_async(url, size, count, warmup))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.echo")
    parser.add_argument("--serve", action="store_true", help="run the echo server")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
        return
    with EchoProcess() as echo:
        for name, value in measure(echo.url, args.size, args.count).items():
            print(f"{name:24s} {value:12,.1f}")


if __name__ == "__main__":
    main()
