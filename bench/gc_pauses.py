"""What the garbage collector's full passes cost a page, with the loaded objects frozen or not.

A gunicorn worker freezes what it loaded once the app is up (``portal/web/gunicorn_conf.py``,
``post_worker_init``). This measures why, in one process over a schema that ``bench/scale.py``
loaded: the officer's queue, signed in, many requests in blocks, the blocks alternating between
"not frozen" and "frozen" (``gc.freeze()`` / ``gc.unfreeze()``), so that other work on the
machine falls on both alike. Prints, for each, the 50th, 95th and 99th percentiles, the
slowest request, and the full passes seen (how many, the longest). Usage::

    .venv/bin/python bench/scale.py --database portal_bench_stats --sizes 1000000 --load-only
    .venv/bin/python bench/gc_pauses.py --database portal_bench_stats --size 1000000
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import instance_for, make_app, sign_in

BLOCKS = 4  # per state, alternating
REQUESTS_PER_BLOCK = 150


class FullPasses:
    """The full (oldest generation) collections seen while installed, and their durations."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.durations.append(time.perf_counter() - self._began)


def block(client: Any, path: str, passes: FullPasses) -> list[float]:
    times = []
    gc.callbacks.append(passes)
    try:
        for _ in range(REQUESTS_PER_BLOCK):
            began = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, response.status_code
    finally:
        gc.callbacks.remove(passes)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", required=True, help="PostgreSQL database name")
    parser.add_argument("--host", default="127.0.0.1:5432")
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    url = (
        f"postgresql+psycopg://postgres@{args.host}/{args.database}"
        f"?options=-csearch_path%3Dportal_bench_{args.size}"
    )
    app = make_app(url, instance_for(args.database, args.size))
    officer = sign_in(app, "bench-officer")
    for _ in range(10):  # templates compiled, connections open, as in service
        officer.get("/officer/")
    times: dict[str, list[float]] = {"not frozen": [], "frozen": []}
    passes = {state: FullPasses() for state in times}
    for _ in range(BLOCKS):
        for state in times:
            if state == "frozen":
                gc.freeze()
            times[state] += block(officer, "/officer/", passes[state])
            gc.unfreeze()
    print(
        f"officer queue, {args.size} reports, {BLOCKS * REQUESTS_PER_BLOCK} requests each way "
        f"in alternating blocks; ms"
    )
    for state, samples in times.items():
        cuts = statistics.quantiles(samples, n=100)
        seen = passes[state].durations
        print(
            f"{state:>10}: p50 {cuts[49] * 1000:.1f}  p95 {cuts[94] * 1000:.1f}  "
            f"p99 {cuts[98] * 1000:.1f}  slowest {max(samples) * 1000:.1f}; full passes "
            f"{len(seen)}, longest {max(seen, default=0.0) * 1000:.1f}"
        )
    app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main()
