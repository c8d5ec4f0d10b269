#!/usr/bin/env python3
"""p50/p99 of `GET /api/search?q=...` against a running `magpie serve`, over one keep-alive
loopback connection (so connection set-up is not counted): distinct queries first, then the same
queries again (the server's text-embedding cache).

    http_latency.py --url http://127.0.0.1:8080 [--distinct 100] [--repeats 3]

Prints one JSON object on stdout.
"""

import argparse
import http.client
import json
import sys
import time
import urllib.parse

SUBJECTS = ["dog", "kids", "old tram", "red bicycle", "birthday cake", "cat", "mountain", "sailboat", "grandmother", "fireworks"]
PLACES = ["beach", "snow", "city street", "kitchen", "forest", "harbour", "garden", "desert", "market", "lake"]
TIMES = ["at sunset", "at night", "in the rain", "in the morning", "in summer"]


def queries(count):
    short = [f"{s} {p}" for s in SUBJECTS for p in PLACES][: count // 2]
    long = [f"a {s} in the {p} {t}" for s in SUBJECTS for p in PLACES for t in TIMES][: count - count // 2]
    # Different from querybench's texts, so an in-process run before this one leaves no cache hits.
    return [q + " (http)" for q in short] + [q + " photographed over http" for q in long]


def stats(samples):
    ms = sorted(s * 1e3 for s in samples)
    rank = lambda p: ms[max(1, min(len(ms), -(-len(ms) * p // 100))) - 1]
    return {"count": len(ms), "mean_ms": sum(ms) / len(ms), "p50_ms": rank(50), "p90_ms": rank(90), "p99_ms": rank(99), "max_ms": ms[-1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--distinct", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    url = urllib.parse.urlparse(args.url)
    connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)

    def get(text):
        started = time.perf_counter()
        connection.request("GET", "/api/search?" + urllib.parse.urlencode({"q": text}))
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"GET /api/search?q={text!r}: HTTP {response.status}: {body[:300]!r}")
        return elapsed

    get("warm up the sessions over http")
    texts = queries(args.distinct)
    distinct = [get(t) for t in texts]
    cached = [get(t) for _ in range(args.repeats) for t in texts]
    print(json.dumps({"bench": "http", "url": args.url, "distinct": stats(distinct), "cached_repeats": stats(cached)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
