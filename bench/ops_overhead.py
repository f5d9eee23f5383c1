"""What the operations hooks cost per request: prints ratios measured in one run.

    .venv/bin/python bench/ops_overhead.py [--requests 3000]

Every request now passes a request-id middleware, a keyring change check (two ``stat``
calls on the instance's key files) and the metrics hooks (a counter and a histogram). The
benchmark serves ``/healthz`` through the Flask test client (no sockets, so the hooks are a
visible share of the time) from the real app, and from the same app with those three hooks
taken off again; it prints the per-request time of each and their ratio (best of 5 rounds).
It also times the keyring check alone against one AES-GCM field decryption.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal import create_app  # noqa: E402
from portal.crypto.instance_secrets import ensure_secrets  # noqa: E402
from portal.crypto.keyring import create_master_key  # noqa: E402


def _per_request(app, requests: int) -> float:  # type: ignore[no-untyped-def]
    client = app.test_client()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(requests):
            client.get("/healthz").close()
        best = min(best, (time.perf_counter() - started) / requests)
    return best


def _strip_hooks(app):  # type: ignore[no-untyped-def]
    from portal.web.request_id import RequestIdMiddleware

    wsgi = app.wsgi_app
    if isinstance(wsgi, RequestIdMiddleware):
        app.wsgi_app = wsgi.wsgi_app
    for hooks in (app.before_request_funcs, app.after_request_funcs):
        for key, funcs in hooks.items():
            hooks[key] = [
                f for f in funcs if f.__name__ not in {"_reload_keys", "_start_timer", "_count"}
            ]
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir(mode=0o700)
        ensure_secrets(instance)
        create_master_key(instance)
        config = {"INSTANCE_PATH": str(instance), "RATELIMIT_ENABLED": False}
        full = create_app(dict(config))
        bare = _strip_hooks(create_app(dict(config)))
        with_hooks = _per_request(full, args.requests)
        without = _per_request(bare, args.requests)
        ring = full.extensions["keyring"]
        token = ring.encrypt_field("a short field", "ctx")
        check = min(timeit.repeat(ring.reload_if_changed, number=10000, repeat=5)) / 10000
        decrypt = (
            min(timeit.repeat(lambda: ring.decrypt_field(token, "ctx"), number=10000, repeat=5))
            / 10000
        )
    print(f"/healthz with the hooks:    {with_hooks * 1e6:8.1f} us per request")
    print(f"/healthz without them:      {without * 1e6:8.1f} us per request")
    print(f"ratio (with / without):     {with_hooks / without:8.2f}")
    print(f"keyring change check:       {check * 1e6:8.2f} us")
    print(f"one field decryption:       {decrypt * 1e6:8.2f} us  (ratio {check / decrypt:.2f})")


if __name__ == "__main__":
    main()
