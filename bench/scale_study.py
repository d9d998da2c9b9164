"""Scale study (issue 16): generation and measures of one area at several scales, each step in a fresh process.

For each scale (default 1, 5 and 30; 30 is about England: some 8,550 practices), with the practices scaled as
``study.yaml``'s 285 at scale 1, the extract (population and the area's events) is generated with ``--jobs``
processes, then the area's data contract is checked and its measures computed (``compute_partitioned``, local
engine, ``--jobs`` processes), each step timed by ``run_bench._run_step``: wall and CPU seconds (the step's process
and its workers), peak resident memory of the process and of its largest worker, and the load average, in a fresh
Python process per step.

Resumable: every scale's record is written to ``bench/results/scale_study.json`` (atomically) as soon as its
generation ends and again when its measures end; a scale whose record is complete is skipped, and with
``--extract-root DIR`` the extracts are kept in ``DIR/scale_<s>`` and one already generated is reused (its recorded
generation times kept). Without it each extract goes to a temporary folder removed after its scale. Before
generating, the free disk space is checked against an estimate (the recorded size per unit of scale of the largest
scale done so far, else :data:`MB_PER_SCALE`, times :data:`DISK_MARGIN`), and the scale is refused with one line
naming the folder, the space needed and the space free.

Usage: ``python bench/scale_study.py [--scales 1,5,30] [--jobs 2] [--area AREA] [--extract-root DIR]
[--results PATH] [--quick]`` (``--quick``: scales 0.02 and 0.05, into a results file of their own, in about a
minute). ``main(argv)`` prints the table and returns the results as a JSON-ready dict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench files import each other: `_run_step` is run_bench's, not a copy

from run_bench import _run_step, write_results

RESULTS = HERE / "results" / "scale_study.json"
QUICK_RESULTS = HERE / "results" / "scale_study_quick.json"
# Extract size (population + one area's events, zstd Parquet) per unit of scale, before any scale has been recorded.
# Measured: 73 MB per unit of scale at scales 0.05, 0.1 and 0.3 (hypertension case finding; `extract_mb` of a run).
MB_PER_SCALE = 75.0
DISK_MARGIN = 1.5  # atomic writes hold a temporary copy of the file being written; stay clear of a full disk
PRACTICES_AT_SCALE_1 = 285
STEPS = ("population", "area", "check", "measures")


def _key(scale: float) -> str:
    return f"{scale:g}"


def _load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"scales": {}}


def _mb_per_scale(results: dict) -> float:
    """Extract size per unit of scale from the largest scale recorded (the most representative), else the default."""
    done = [r for r in results["scales"].values() if r.get("extract_mb")]
    if not done:
        return MB_PER_SCALE
    largest = max(done, key=lambda r: r["scale"])
    return largest["extract_mb"] / largest["scale"]


def _check_disk(folder: Path, scale: float, results: dict) -> float:
    """The MB the scale needs; an error naming folder, need and free space if it does not fit."""
    need = DISK_MARGIN * scale * _mb_per_scale(results)
    free = shutil.disk_usage(folder).free / 2**20
    if need > free:
        raise SystemExit(f"error: scale {_key(scale)} needs about {need:,.0f} MB in {folder} "
                         f"({DISK_MARGIN} x {_mb_per_scale(results):,.0f} MB per unit of scale); {free:,.0f} MB free. "
                         "Free some space or pass --extract-root on a larger disk.")
    return need


def _extract_stats(folder: Path, area: str) -> dict:
    import pyarrow.parquet as pq

    files = [folder / "patients.parquet", folder / f"events_{area}.parquet"]
    return {"patients": pq.ParquetFile(files[0]).metadata.num_rows, "events": pq.ParquetFile(files[1]).metadata.num_rows,
            "extract_mb": sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**20}


def _generated(folder: Path, area: str) -> bool:
    # Every file is written atomically: present means complete.
    return all((folder / n).exists() for n in ("patients.parquet", "practices.parquet", f"events_{area}.parquet",
                                                f"programme_{area}.parquet"))


def run_scale(scale: float, area: str, jobs: int, folder: Path, record: dict, save, log=print) -> dict:
    """Generate (unless already there) and measure one scale into ``record``; ``save()`` after each half."""
    over = {"scale": scale, "n_practices": max(1, round(PRACTICES_AT_SCALE_1 * scale)), "jobs": jobs}
    record.update(scale=scale, practices=over["n_practices"], jobs=jobs, area=area)
    if not (_generated(folder, area) and "population" in record and "area" in record):
        record["population"] = _run_step("population", folder, **over)
        log(f"  scale {_key(scale)}: population {record['population']['seconds']:.1f} s")
        record["area"] = _run_step("area", folder, area, **over)
        log(f"  scale {_key(scale)}: events {record['area']['seconds']:.1f} s")
    record.update(_extract_stats(folder, area))
    save()
    record["check"] = _run_step("check", folder, area)
    record["measures"] = _run_step("measures", folder, area, jobs=jobs)
    log(f"  scale {_key(scale)}: check {record['check']['seconds']:.1f} s, measures "
        f"{record['measures']['seconds']:.1f} s, peak {record['measures']['peak_rss_mb']:.0f} MB "
        f"(+ largest worker {record['measures']['worker_peak_rss_mb']:.0f} MB)")
    record["complete"] = True
    save()
    return record


def table(results: dict):
    """One row per scale and step: wall, CPU, peak RSS of the process and of its largest worker, load."""
    import pandas as pd

    rows = []
    for record in sorted(results["scales"].values(), key=lambda r: r["scale"]):
        for step in STEPS:
            run = record.get(step)
            if not run:
                continue
            rows.append({"scale": _key(record["scale"]), "practices": record["practices"],
                         "patients": record.get("patients"), "events": record.get("events"),
                         "step": "events" if step == "area" else step, "wall_s": run["seconds"],
                         "cpu_s": run["cpu_seconds"], "peak_mb": run["peak_rss_mb"],
                         "worker_peak_mb": run["worker_peak_rss_mb"], "load_1min": run["load_average_1min"],
                         "extract_mb": record.get("extract_mb")})
    return pd.DataFrame(rows)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scales", default=None, help="comma-separated scales (default 1,5,30; --quick 0.02,0.05)")
    p.add_argument("--jobs", type=int, default=2, help="processes for generation and measures (default 2)")
    p.add_argument("--area", default=None, help="the area generated and measured (default: study.yaml's)")
    p.add_argument("--extract-root", type=Path, help="keep the extracts in DIR/scale_<s> (and reuse them)")
    p.add_argument("--results", type=Path, default=None, help=f"results JSON (default {RESULTS})")
    p.add_argument("--quick", action="store_true", help="small scales, to check the script in about a minute")
    a = p.parse_args(argv)
    from beyond_averages import config

    area = a.area or config.load_study().default_area
    scales = [float(s) for s in (a.scales or ("0.02,0.05" if a.quick else "1,5,30")).split(",")]
    path = a.results or (QUICK_RESULTS if a.quick else RESULTS)
    results = _load(path)
    results.update(cpu_count=os.cpu_count(), python=sys.version.split()[0])

    def save() -> None:
        results["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_results(results, path)

    print(f"Scale study ({area}, {a.jobs} processes), results in {path}:")
    for scale in scales:
        record = results["scales"].setdefault(_key(scale), {})
        if record.get("complete"):
            print(f"  scale {_key(scale)}: recorded already, skipped")
            continue
        root = a.extract_root or Path(tempfile.gettempdir())
        root.mkdir(parents=True, exist_ok=True)
        folder = (a.extract_root / f"scale_{_key(scale)}") if a.extract_root else None
        if folder is None or not _generated(folder, area):
            need = _check_disk(root, scale, results)
            print(f"  scale {_key(scale)}: about {need:,.0f} MB of disk needed, "
                  f"{shutil.disk_usage(root).free / 2**20:,.0f} MB free")
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            run_scale(scale, area, a.jobs, folder, record, save)
        else:
            with tempfile.TemporaryDirectory(prefix=f"scale_{_key(scale)}_", dir=root) as tmp:
                run_scale(scale, area, a.jobs, Path(tmp), record, save)
    tab = table(results)
    print("\nWall and CPU seconds, peak RSS (MB) of each step's process and of its largest worker:")
    print(tab.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    return results


if __name__ == "__main__":
    main()
