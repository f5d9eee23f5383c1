"""What the report form's proof of work costs a phone, and a bot doing 10,000 submissions.

Phone: static/js/pow.js solves real challenges in headless Chromium (Playwright), with the CPU
slowed 4x through the DevTools protocol (Emulation.setCPUThrottlingRate), a common stand-in for a
mid-range phone. Bot: the expected number of hashes for 10,000 submissions divided by the native
SHA-256 rate of this machine (Python's hashlib, one core; a GPU is orders of magnitude faster,
which is why the proof of work is friction and the rate limits are the actual barrier).

    .venv/bin/python bench/pow_cost.py [--bits 16] [--runs 15]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from portal.web import pow as proof_of_work  # noqa: E402

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
ORIGIN = "http://localhost:8123"  # localhost is a secure context: crypto.subtle is available
PAGE = """<!doctype html><html><body>
<form class="report-form" method="post">
<input type="hidden" name="pow_challenge" value="{challenge}">
<input type="hidden" name="pow_solution" value="">
</form><script src="/static/js/pow.js"></script></body></html>"""


def native_rate(seconds: float = 1.5) -> float:
    challenge = proof_of_work.issue(b"bench", bits=30, ttl_seconds=60)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for n in range(count, count + 10_000):
            hashlib.sha256(f"{challenge}:{n}".encode()).digest()
        count += 10_000
    return count / (time.perf_counter() - start)


def browser_runs(bits: int, runs: int, throttle: float) -> list[tuple[float, int]]:
    from playwright.sync_api import Route, sync_playwright

    script = (ROOT / "static" / "js" / "pow.js").read_text()
    results: list[tuple[float, int]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        state = {"challenge": ""}

        def serve(route: Route) -> None:
            if route.request.url.endswith("/static/js/pow.js"):
                route.fulfill(body=script, content_type="text/javascript")
            else:
                route.fulfill(
                    body=PAGE.format(challenge=state["challenge"]), content_type="text/html"
                )

        page.route(f"{ORIGIN}/**", serve)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        for _ in range(runs):
            state["challenge"] = proof_of_work.issue(b"bench", bits=bits, ttl_seconds=600)
            page.goto(f"{ORIGIN}/report")
            page.wait_for_function(
                "document.querySelector('form').getAttribute('data-pow-ms') !== null",
                timeout=120_000,
            )
            ms = float(page.get_attribute("form", "data-pow-ms") or 0)
            nonce = int(page.input_value("input[name=pow_solution]"))
            assert proof_of_work.check(b"bench", state["challenge"], str(nonce), min_bits=bits)
            results.append((ms, nonce + 1))
        browser.close()
    return results


def describe(label: str, results: list[tuple[float, int]]) -> float:
    times = sorted(ms for ms, _ in results)
    hashes = sum(h for _, h in results)
    rate = hashes / (sum(times) / 1000)
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    print(
        f"{label:<28} median {statistics.median(times):7.0f} ms   p90 {p90:7.0f} ms   "
        f"max {times[-1]:7.0f} ms   {rate:,.0f} hashes/s"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=proof_of_work.DEFAULT_BITS)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--submissions", type=int, default=10_000)
    args = parser.parse_args()
    expected = 2**args.bits
    print(f"Difficulty: {args.bits} leading zero bits = {expected:,} hashes expected per form")
    print()
    print("Browser (static/js/pow.js, headless Chromium):")
    describe("  desktop, no throttle", browser_runs(args.bits, args.runs, 1))
    phone = describe("  phone (CPU throttled 4x)", browser_runs(args.bits, args.runs, 4))
    print(f"  -> a phone spends about {expected / phone:.2f} s on average per report")
    print()
    rate = native_rate()
    total = args.submissions * expected
    print(f"Bot (native SHA-256, one core of this machine): {rate:,.0f} hashes/s")
    print(
        f"  {args.submissions:,} submissions = {total:,} hashes = "
        f"{total / rate:,.0f} CPU-seconds ({total / rate / 3600:.2f} core-hours)"
    )
    print(
        "  The work is friction, not a barrier: the per-client limits decide how many of those "
        "submissions are accepted."
    )


if __name__ == "__main__":
    main()
