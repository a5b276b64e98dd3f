"""The fault-matrix soak (streams/devtools/faults.py): workers on the embedded broker and a
real redis-server, a synthetic stream plus malformed and fuzzed messages, a fault schedule;
prints the figures as a table and exits 1 unless nothing was lost, doubled or misfiled.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/faults.py            # the long form
    PYTHONPATH=$PWD .venv/bin/python benchmarks/faults.py --short    # what CI runs
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import orjson

from streams.devtools.embedded import start_tansu
from streams.devtools.faults import SHORT_FORM, SoakConfig, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI form (about two minutes)")
    parser.add_argument("--events", type=int)
    parser.add_argument("--users", type=int)
    parser.add_argument("--bad", type=int)
    parser.add_argument("--kills", type=int)
    parser.add_argument("--rate", type=float, help="messages per second produced")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--no-replay", action="store_true", help="skip the fault-free replay")
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temp dir)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    config = SHORT_FORM if args.short else SoakConfig()
    changes = {
        name: getattr(args, name)
        for name in ("events", "users", "bad", "kills", "rate", "seed")
        if getattr(args, name) is not None
    }
    if args.no_replay:
        changes["replay"] = False
    config = dataclasses.replace(config, **changes)
    with tempfile.TemporaryDirectory(prefix="interests-faults-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        broker = start_tansu(workdir)
        try:
            result = run_soak(f"127.0.0.1:{broker.port}", workdir, config)
        finally:
            broker.stop()
    print("\n".join(result.timeline))
    print(result.table())
    if args.out:
        figures = {**dataclasses.asdict(result), "config": dataclasses.asdict(config)}
        args.out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
