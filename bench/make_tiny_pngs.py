#!/usr/bin/env python3
"""Writes N distinct tiny PNGs (8x8 RGB, 1,000 per folder) for the re-scan benchmark.

Every file's pixels encode its number, so no two files share content (the indexer would treat
identical files as copies). Written with zlib directly: 100,000 files take seconds.

    make_tiny_pngs.py --out DIR [--count 100000]
"""

import argparse
import os
import struct
import sys
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiny_png(number, side=8):
    rows = []
    for y in range(side):
        row = bytearray([0])  # filter: none
        for x in range(side):
            value = (number * 2654435761 + y * side + x) & 0xFFFFFF
            row += bytes(((value >> 16) & 255, (value >> 8) & 255, value & 255))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    for number in range(args.count):
        folder = os.path.join(args.out, f"{number // 1000:04d}")
        if number % 1000 == 0:
            os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"tiny_{number:06d}.png"), "wb") as f:
            f.write(tiny_png(number))
    print(f"{args.count} files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
