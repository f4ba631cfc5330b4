#!/usr/bin/python3
"""Lesson 025's benchmark, the aiohttp side: GET URL over CONNECTIONS keep-alive connections
from one event loop, the same work as `025_http_client --bench`; prints `<n> requests/s`.
Run with Debian's /usr/bin/python3 (python3-aiohttp)."""
import argparse
import asyncio
import time

import aiohttp


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    args = parser.parse_args()
    state = {"measuring": False, "stop": False, "requests": 0}
    connector = aiohttp.TCPConnector(limit=args.connections)

    async with aiohttp.ClientSession(connector=connector) as session:
        async def caller():
            while not state["stop"]:
                async with session.get(args.url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"status {response.status}")
                if state["measuring"]:
                    state["requests"] += 1

        tasks = [asyncio.create_task(caller()) for _ in range(args.connections)]
        await asyncio.sleep(args.warmup)
        state["measuring"] = True
        start = time.monotonic()
        await asyncio.sleep(args.seconds)
        state["measuring"] = False
        took = time.monotonic() - start
        state["stop"] = True
        await asyncio.gather(*tasks)
    print(f"{args.connections} connections, {args.seconds:.1f} s: {state['requests'] / took:.0f} requests/s")


asyncio.run(main())
