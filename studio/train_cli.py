"""`train` command-line flags for training at scale (packing, several processes and machines)."""
from __future__ import annotations

import argparse

from studio.train.config import STRATEGIES


def add_scale_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--packing", action=argparse.BooleanOptionalAction, default=None,
                   help="fill rows of max length with whole examples (fewer, fuller steps)")
    p.add_argument("--num-processes", type=int, metavar="N",
                   help="processes in all, one per GPU (CPU: gloo); batch size is per process")
    p.add_argument("--strategy", choices=STRATEGIES, help="how the processes share the work (default ddp)")
    p.add_argument("--num-machines", type=int, metavar="M", help="machines taking part (each runs this command)")
    p.add_argument("--machine-rank", type=int, metavar="R", help="this machine's rank (0 = the main machine)")
    p.add_argument("--main-address", metavar="HOST", help="the main machine's address (several machines)")
    p.add_argument("--main-port", type=int, metavar="P", help="its rendezvous port (default: any free port on one "
                   "machine, 29500 on several)")
