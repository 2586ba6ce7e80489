"""W6 loopback server for Python asyncio (BENCHMARKS.md): start_server, and
for each "req\\n" a 1 ms blocking call through asyncio.to_thread (the default
executor), then "ok\\n". Prints "listening on <port>"; runs until SIGTERM.
Driven by w6_load (benchmarks/w6/load.cpp)."""
import asyncio
import sys
import time


def blocking_call():
    time.sleep(0.001)


async def handle(reader, writer):
    try:
        while await reader.readline():
            await asyncio.to_thread(blocking_call)
            writer.write(b"ok\n")
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
