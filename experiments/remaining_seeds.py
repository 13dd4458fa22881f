"""The seeds of a part of a comparison that its run.json does not list yet.

Usage: ``python experiments/remaining_seeds.py RUN_JSON A-B`` prints them as ``reproduce
--seeds`` reads them (a list ``A,B,C``; one seed as the range ``A-A``, since one number
alone would be a count), or nothing when the part is done. The comparisons' ``run.sh``
scripts resume an interrupted part with it.
"""

from __future__ import annotations

import json
import sys


def remaining(run_json: str, seed_range: str) -> str:
    with open(run_json) as stream:
        done = {seed for part in json.load(stream)["parts"] for seed in part["seeds"]}
    first, last = (int(value) for value in seed_range.split("-"))
    left = [seed for seed in range(first, last + 1) if seed not in done]
    return f"{left[0]}-{left[0]}" if len(left) == 1 else ",".join(map(str, left))


if __name__ == "__main__":
    print(remaining(*sys.argv[1:3]))
