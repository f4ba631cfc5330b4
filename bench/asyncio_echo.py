"""asyncio_echo.py: the asyncio streams echo server of the benchmarks, written the idiomatic way.

usage: /usr/bin/python3 asyncio_echo.py PORT [line|bytes]
  line  (default): line = await reader.readline(); writer.write(line); await writer.drain()
  bytes:           data = await reader.read(65536); writer.write(data); await writer.drain()
Listens on 127.0.0.1 only; PORT 0 picks a free port. Prints "listening on 127.0.0.1:N" once
ready. asyncio sets TCP_NODELAY on every TCP transport (since Python 3.6), like the other
servers. SIGTERM ends it (the default action); SIGINT too (KeyboardInterrupt).
"""
import asyncio
import sys


async def echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():  # b"" at the end of the stream
            writer.write(line)
            await writer.drain()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass  # a reset, or a line above the 64 KiB default limit: drop the connection
    finally:
        writer.close()


async def echo_bytes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port: int, mode: str) -> None:
    handler = echo_lines if mode == "line" else echo_bytes
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] not in ("line", "bytes")):
        sys.exit("usage: asyncio_echo.py PORT [line|bytes]")
    try:
        asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) == 3 else "line"))
    except KeyboardInterrupt:
        pass
