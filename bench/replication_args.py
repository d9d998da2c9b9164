"""The command line every Monte Carlo part of the bench shares: replications, bootstrap draws, seed, --quick."""

from __future__ import annotations

import argparse


def parse_replication_args(argv: list[str] | None, description: str, quick: tuple[int, int]) -> argparse.Namespace:
    """``--replicates`` (500), ``--n-boot`` (999), ``--seed`` and ``--quick`` (``quick`` = replications and draws
    of the one-minute check); ``reps`` and ``n_boot`` hold what the run uses."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--replicates", type=int, default=500)
    p.add_argument("--n-boot", type=int, default=999)
    p.add_argument("--seed", type=int, default=20261202)
    p.add_argument("--quick", action="store_true",
                   help=f"{quick[0]} replications, {quick[1]} draws: a one-minute check")
    a = p.parse_args(argv)
    a.reps, a.n_boot = quick if a.quick else (a.replicates, a.n_boot)
    return a
