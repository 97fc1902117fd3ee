"""The command line that the tuning sweeps (sweep_*.py) share."""

import argparse


def sweep_parser(groups=(1, 4, 16)) -> argparse.ArgumentParser:
    """--seqlen, --groups, --variants N (the first N variants; 1: the launcher's defaults
    alone, which older launchers take too), --warm and --shard i/n (see variants_to_run)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=list(groups))
    parser.add_argument("--variants", type=int, default=None,
                        help="run only the first N variants (1: the default alone)")
    parser.add_argument("--warm", action="store_true",
                        help="run each variant once, untimed: fills Triton's cache, so several "
                             "processes can compile in parallel before one process times")
    parser.add_argument("--shard", default="0/1", help="i/n: only the variants v with v %% n == i")
    return parser


def variants_to_run(variants: list, args) -> list:
    """The variants this process runs: the first --variants of them, then its --shard."""
    shard, shards = map(int, args.shard.split("/"))
    return variants[:args.variants][shard::shards]
