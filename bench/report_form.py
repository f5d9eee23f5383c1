"""CPU time of GET /report (the empty form), per request, in the app alone.

Prints the median and 90th percentile of the process CPU time of 300 requests (after 30 to
warm up) through the Flask client, per language: first with every part rendered afresh (as
before ``portal.web.citizen.fragments``), then with the kept parts, and the ratio. Usage::

    .venv/bin/python bench/report_form.py [--requests 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal import create_app
from portal.crypto.instance_secrets import ensure_secrets
from portal.crypto.keyring import create_master_key
from portal.db import make_engine
from portal.services import schema
from portal.web.citizen import fragments


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="portal-bench-form-"))
    ensure_secrets(instance)
    create_master_key(instance)
    url = f"sqlite:///{instance / 'portal.sqlite3'}"
    schema.upgrade(make_engine(url))
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": url,
            "EVIDENCE_STORE": f"file://{instance / 'evidence'}",
            "RATELIMIT_ENABLED": False,
        }
    )
    print(f"GET /report, CPU ms per request over {args.requests} requests")
    for lang in ("ar", "fr", "en"):
        app.extensions[fragments.STORE] = _NothingKept()
        before = run(app, lang, args.requests)
        app.extensions[fragments.STORE] = {}
        after = run(app, lang, args.requests)
        print(
            f"{lang}: rendered afresh p50 {before[0]:.2f} ms (p90 {before[1]:.2f}); "
            f"with kept parts p50 {after[0]:.2f} ms (p90 {after[1]:.2f}); "
            f"{before[0] / after[0]:.1f}x less CPU"
        )


class _NothingKept(dict):  # type: ignore[type-arg]
    """A fragment store that keeps nothing: every request renders every part."""

    def __setitem__(self, key: object, value: object) -> None:
        return None


def run(app: object, lang: str, requests: int) -> tuple[float, float]:
    client = app.test_client()  # type: ignore[attr-defined]
    client.set_cookie("lang", lang)
    samples = []
    for index in range(30 + requests):
        began = time.process_time()
        response = client.get("/report")
        spent = time.process_time() - began
        assert response.status_code == 200, response.status_code
        if index >= 30:
            samples.append(spent * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


if __name__ == "__main__":
    main()
