"""asyncpg's pool under the load of `028_connection_pool --bench` (bench/pool_bench.sh).

usage: /usr/bin/python3 bench/asyncpg_pool.py DSN [--clients 32] [--pool 8] [--seconds 5]
                                                  [--warmup 1] [--scale 1]
Callers loop on pgbench -S's statement (SELECT abalance FROM pgbench_accounts WHERE aid = $1,
a random aid) through one asyncpg pool (min_size = max_size = --pool) on one event loop, and
the script prints queries/s over --seconds after --warmup, in the lesson's format.
DSN: a libpq key=value string or a postgresql:// URI (asyncpg takes only the URI: key=value
is converted here).
"""
import argparse
import asyncio
import random
import time

import asyncpg

SQL = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"


def as_uri(dsn: str) -> str:
    if dsn.startswith("postgres"):
        return dsn
    fields = dict(part.split("=", 1) for part in dsn.split())
    host = fields.get("host", "127.0.0.1")
    port = fields.get("port", "5432")
    user = fields.get("user", "postgres")
    dbname = fields.get("dbname", user)
    return f"postgresql://{user}@{host}:{port}/{dbname}"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dsn")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--pool", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()

    state = {"measuring": False, "stop": False, "queries": 0}
    accounts = 100000 * args.scale

    async def client(pool: asyncpg.Pool, seed: int) -> None:
        rng = random.Random(seed)
        while not state["stop"]:
            rows = await pool.fetch(SQL, rng.randint(1, accounts))
            if len(rows) != 1:
                raise RuntimeError("expected one row")
            if state["measuring"]:
                state["queries"] += 1

    async with asyncpg.create_pool(as_uri(args.dsn), min_size=args.pool,
                                   max_size=args.pool) as pool:
        tasks = [asyncio.create_task(client(pool, 1234 + i)) for i in range(args.clients)]
        await asyncio.sleep(args.warmup)
        state["measuring"] = True
        start = time.monotonic()
        await asyncio.sleep(args.seconds)
        queries, took = state["queries"], time.monotonic() - start
        state["stop"] = True
        await asyncio.gather(*tasks)
    print(f"asyncpg: {args.clients} callers, {args.pool} connections, {args.seconds:.1f}s: "
          f"{queries / took:.0f} queries/s")


if __name__ == "__main__":
    asyncio.run(main())
