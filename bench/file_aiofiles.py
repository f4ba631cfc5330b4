#!/usr/bin/python3
"""Lesson 024's benchmark, the asyncio side: one copy with aiofiles (Debian's python3-aiofiles),
1 MiB chunks like the C++ backends, to a temporary renamed on success, while a 1 ms ticker
on the same event loop measures how late it wakes. Prints the key=value line that
bench/file_copy.sh reads (the same keys as `024_file_io --bench`).
usage: /usr/bin/python3 bench/file_aiofiles.py FROM TO
"""
import asyncio
import os
import resource
import sys
import time

import aiofiles
import aiofiles.os

CHUNK = 1024 * 1024


async def copy(source, destination):
    temporary = f"{destination}.partial-{os.getpid()}"
    copied = 0
    try:
        async with aiofiles.open(source, "rb") as reader, aiofiles.open(temporary, "wb") as writer:
            while chunk := await reader.read(CHUNK):
                await writer.write(chunk)
                copied += len(chunk)
        await aiofiles.os.rename(temporary, destination)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return copied


async def ticker(late_ms, stop):
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.001
        await asyncio.sleep(0.001)
        late_ms.append((loop.time() - due) * 1000)


async def main(source, destination):
    late_ms, stop = [], asyncio.Event()
    ticking = asyncio.create_task(ticker(late_ms, stop))
    start = time.perf_counter()
    copied = await copy(source, destination)
    seconds = time.perf_counter() - start
    stop.set()
    await ticking
    late_ms.sort()
    longest = late_ms[-1] if late_ms else 0.0
    p99 = late_ms[min(len(late_ms) - 1, len(late_ms) * 99 // 100)] if late_ms else 0.0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"backend=aiofiles bytes={copied} seconds={seconds:.4f} "
          f"mib_per_s={copied / 1048576 / seconds:.0f} peak_rss_kib={peak_kib} "
          f"loop_longest_ms={longest:.2f} loop_p99_ms={p99:.2f} ticks={len(late_ms)}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
