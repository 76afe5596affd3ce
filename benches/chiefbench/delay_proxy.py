#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that delays every chunk it forwards, each way.

    benches/chiefbench/delay_proxy.py TARGET_HOST:PORT DELAY_MS

It listens on an ephemeral port of 127.0.0.1, prints `127.0.0.1:PORT` (one line) when
ready, and forwards each connection to the target, holding every chunk read from either
side DELAY_MS before writing it on (chunks are queued with their arrival time, so the
delay is a latency, not a cap on throughput: a round trip through it costs 2 x DELAY_MS).
Used by the benchmark program (benches/chiefbench, row peers-wan, once P3) in front of both
the API and the S3 server, so that every tool meets the same emulated distance. Serves
until killed.
"""
import asyncio
import socket
import sys


async def pump(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                break
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            queue.put_nowait((loop.time() + delay, data))
    except OSError:
        pass
    queue.put_nowait((loop.time() + delay, None))
    try:
        await sender
    except OSError:
        pass


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    delay = float(sys.argv[2]) / 1000

    async def handle(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        for w in (cwriter, uwriter):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pump(creader, uwriter, delay), pump(ureader, cwriter, delay))
        for w in (cwriter, uwriter):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print("127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
