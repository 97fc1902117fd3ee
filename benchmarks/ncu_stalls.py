"""Where a kernel's warps wait, from an Nsight Compute source page exported as CSV
(`ncu -i REPORT --page source --csv --print-source sass > source.csv`; one or more kernels):

    python benchmarks/ncu_stalls.py source.csv [--top 25]

Prints, per kernel: the share of warp-stall samples by stall reason, by SASS opcode (with how
many instructions of it there are and how often they ran), and the instructions that hold the
most samples with their main reasons.
"""

import argparse
import csv
import re
from collections import Counter

SAMPLES = "Warp Stall Sampling (All Samples)"


def kernels(path):
    """(kernel name, header, rows) for each kernel of the CSV."""
    name, header, rows = None, None, []
    for row in csv.reader(open(path)):
        if row and row[0] == "Kernel Name":
            if name is not None:
                yield name, header, rows
            name, header, rows = row[1], None, []
        elif header is None:
            header = row
        elif row:
            rows.append(row)
    if name is not None:
        yield name, header, rows


def report(name, header, rows, top):
    col = {h: i for i, h in enumerate(header)}
    reasons = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]

    def count(row, key):
        value = row[col[key]]
        return int(value) if value.isdigit() else 0
    total = sum(count(r, SAMPLES) for r in rows) or 1
    print(f"## {name}: {total} samples, {len(rows)} instructions")
    by_reason = Counter({h[6:]: sum(count(r, h) for r in rows) for h in reasons})
    print("reasons: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in by_reason.most_common()
                                  if v))
    samples, static, executed = Counter(), Counter(), Counter()
    for r in rows:
        opcode = re.sub(r"^@!?U?P\w+\s+", "", r[1].strip()).split(" ")[0].split(".")[0]
        samples[opcode] += count(r, SAMPLES)
        static[opcode] += 1
        executed[opcode] += count(r, "Instructions Executed")
    print(f"{'opcode':<12} {'samples':>7} {'static':>6} {'executed':>12}")
    for opcode, n in samples.most_common(top):
        print(f"{opcode:<12} {100 * n / total:6.1f}% {static[opcode]:6d} {executed[opcode]:12,d}")
    print(f"{'#':>5} {'samples':>7} {'executed':>9}  instruction / main reasons")
    order = sorted(range(len(rows)), key=lambda i: -count(rows[i], SAMPLES))
    for i in order[:top]:
        r = rows[i]
        main = sorted(((count(r, h), h[6:]) for h in reasons), reverse=True)[:2]
        why = ", ".join(f"{h} {n}" for n, h in main if n)
        print(f"{i:5d} {100 * count(r, SAMPLES) / total:6.1f}% {count(r, 'Instructions Executed'):9d}"
              f"  {r[1].strip()[:60]:<60} {why}")
    print()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for name, header, rows in kernels(args.csv):
        report(name, header, rows, args.top)


if __name__ == "__main__":
    main()
