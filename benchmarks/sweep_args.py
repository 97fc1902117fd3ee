"""What the tuning sweeps (sweep_*.py) share: their command line and the timing of one variant."""

import argparse

import triton.testing


def sweep_parser(groups=(1, 4, 16)) -> argparse.ArgumentParser:
    """--seqlen, --groups, --variants N (the first N variants; 1: the launcher's defaults
    alone, which older launchers take too), --pick i j ... (those variants, by number),
    --warm and --shard i/n (see variants_to_run)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seqlen", type=int, default=65536)
    parser.add_argument("--groups", type=int, nargs="+", default=list(groups))
    parser.add_argument("--variants", type=int, default=None,
                        help="run only the first N variants (1: the default alone)")
    parser.add_argument("--pick", type=int, nargs="+", default=None,
                        help="run only these variants, by number (0: the defaults)")
    parser.add_argument("--warm", action="store_true",
                        help="run each variant once, untimed: fills Triton's cache, so several "
                             "processes can compile in parallel before one process times")
    parser.add_argument("--shard", default="0/1", help="i/n: only the variants v with v %% n == i")
    return parser


def variants_to_run(variants: list, args) -> list:
    """The variants this process runs: the first --variants of them (or the --pick ones),
    then its --shard."""
    shard, shards = map(int, args.shard.split("/"))
    if args.pick:
        variants = [variants[i] for i in args.pick]
    return variants[:args.variants][shard::shards]


def time_variant(fn, args, name: str):
    """(fn's output, median ms) for one variant; None when --warm (fn ran once, untimed) or
    when fn failed (printed under `name`: out of shared memory or registers, say)."""
    try:
        out = fn()
        if args.warm:
            return None
        return out, triton.testing.do_bench(fn, warmup=10, rep=60, return_mode="median")
    except Exception as error:
        print(f"{name}: {type(error).__name__}: {str(error)[:80]}", flush=True)
        return None
