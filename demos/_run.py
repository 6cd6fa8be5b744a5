"""The command line shared by the demonstration scripts: run one demo, print its numbers, save its picture."""

import argparse
import time


def main(demo, default_name: str, description: str, **options) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=f"{default_name}.png", help="where to write the picture (default: %(default)s)")
    parser.add_argument("--paths", type=int, default=None, help="number of paths (default: the demo's own)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args()
    if args.paths is not None:
        options["paths"] = args.paths
    start = time.perf_counter()
    result = demo(seed=args.seed, **options)
    result.save(args.out)
    print(result.table())
    print(f"picture: {args.out} ({time.perf_counter() - start:.1f} s)")
