#!/usr/bin/env python3
"""Reference CLIP tokenization: what Python's Hugging Face `tokenizers` makes of each query.

Why: Magpie tokenizes in Rust (the `tokenizers` crate plus its own padding/truncation). The
fidelity tests shell out to this script and require the Rust ids to match these bit for bit.

    tokenize.py --tokenizer PATH/tokenizer.json [--context-length 77] [--pad-id N] < queries

stdin: one query per line, each a JSON string (so tabs, newlines and odd Unicode survive intact);
blank lines are ignored. stdout: a JSON list with one list of ids per query, each exactly
`context-length` long: `tokenizers` with `enable_truncation(max_length=L)` (which keeps the
end-of-text token last) and `enable_padding(length=L, pad_id=…)`. The pad id defaults to the id of
the tokenizer's `<|endoftext|>` (what Hugging Face's CLIP tokenizer pads with). Errors go to
stderr with a non-zero exit status.
"""

import os
import sys

# This folder holds this `tokenize.py`, which would shadow the standard library's `tokenize` module
# (imported by `inspect`, `linecache`, ...) for every script run from here. Drop the folder from
# the import path before importing anything else.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description="Reference CLIP tokenization (Python tokenizers).")
    parser.add_argument("--tokenizer", required=True, help="path to a tokenizer.json")
    parser.add_argument("--context-length", type=int, default=77, help="ids per query (default 77)")
    parser.add_argument("--pad-id", type=int, default=None, help="padding id (default: the id of <|endoftext|>)")
    args = parser.parse_args()

    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(args.tokenizer)
    except Exception as e:  # noqa: BLE001
        print(f"tokenize.py: cannot load {args.tokenizer}: {e}", file=sys.stderr)
        return 1
    if args.context_length < 2:
        print("tokenize.py: --context-length must be at least 2", file=sys.stderr)
        return 2
    pad_id = args.pad_id
    if pad_id is None:
        pad_id = tok.token_to_id("<|endoftext|>")
        if pad_id is None:
            print("tokenize.py: the tokenizer has no <|endoftext|>; pass --pad-id", file=sys.stderr)
            return 1
    pad_token = tok.id_to_token(pad_id)
    if pad_token is None:
        print(f"tokenize.py: pad id {pad_id} is not in the vocabulary", file=sys.stderr)
        return 1
    tok.enable_truncation(max_length=args.context_length)
    tok.enable_padding(length=args.context_length, pad_id=pad_id, pad_token=pad_token)

    queries = []
    for number, line in enumerate(sys.stdin.buffer.read().decode("utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            query = json.loads(line)
        except ValueError as e:
            print(f"tokenize.py: stdin line {number} is not a JSON string: {e}", file=sys.stderr)
            return 1
        if not isinstance(query, str):
            print(f"tokenize.py: stdin line {number} is not a JSON string", file=sys.stderr)
            return 1
        queries.append(query)

    rows = [encoding.ids for encoding in tok.encode_batch(queries)] if queries else []
    for query, row in zip(queries, rows):
        if len(row) != args.context_length:
            print(f"tokenize.py: {query!r} gave {len(row)} ids, not {args.context_length}", file=sys.stderr)
            return 1
    json.dump(rows, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
