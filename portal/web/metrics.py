"""``/metrics`` for Prometheus, and the request and upload counters behind it.

Labels are endpoint names (``officer.report_page``), methods and status codes: never a path
(paths carry report references), never an address, receipt or user agent.

Several processes (gunicorn workers, ``portal worker``) each count in their own memory unless
``PROMETHEUS_MULTIPROC_DIR`` names a directory shared by all of them (empty at each start, as
the systemd units make it): then ``prometheus-client`` sums their files at each scrape.

Who may scrape: clients whose address is in ``METRICS_ALLOW`` (addresses or networks; loopback
by default), or any client sending ``Authorization: Bearer <METRICS_TOKEN>`` when a token is
set. Anyone else gets the ordinary 404. The address is the one ``TRUSTED_PROXY_HOPS`` yields;
a request that carries forwarding headers the configuration does not trust is judged only by
its token, so a public request relayed by a reverse proxy on loopback is never taken for a
local scraper.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Iterable, Iterator

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from portal.extensions import csrf
from portal.jobs.queue import jobs_of

bp = Blueprint("metrics", __name__)
csrf.exempt(bp)

_METHODS = {"GET", "HEAD", "POST"}

REQUESTS = Counter(
    "portal_http_requests_total",
    "HTTP requests by endpoint, method and status code.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to produce a response (a streamed body not included), by endpoint.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMITED = Counter(
    "portal_http_rate_limited_total", "Requests refused with 429, by endpoint.", ["endpoint"]
)
EVIDENCE_FILES = Counter(
    "portal_evidence_files_total", "Evidence files received, by outcome.", ["outcome"]
)
EVIDENCE_BYTES = Counter("portal_evidence_bytes_total", "Bytes of evidence files kept.")


def _endpoint() -> str:
    # No rule matched (a 404 for an unknown path): the path itself is never a label.
    return request.endpoint or "none"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        endpoint = _endpoint()
        if endpoint == "metrics.metrics":
            return response
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        if response.status_code == 429:
            RATE_LIMITED.labels(endpoint).inc()
        _count_uploads()
        return response


def _count_uploads() -> None:
    intake = getattr(request, "evidence_intake", None)
    for staged in getattr(intake, "files", ()):
        if staged.state == "kept":
            EVIDENCE_FILES.labels("kept").inc()
            EVIDENCE_BYTES.inc(staged.size)
        elif staged.problem is not None:
            EVIDENCE_FILES.labels("refused").inc()


def _networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(value, strict=False) for value in values]


def _forwarded_headers_present() -> bool:
    return any(name in request.headers for name in ("X-Forwarded-For", "Forwarded", "X-Real-IP"))


def _address_allowed() -> bool:
    if _forwarded_headers_present() and int(current_app.config["TRUSTED_PROXY_HOPS"]) == 0:
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(current_app.config["METRICS_ALLOW"]))


def _token_valid() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), str(token).encode())


class _QueueState:
    """Read from the queue's storage at each scrape: right whichever process did the work."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "portal_job_queue_depth", "Jobs waiting in the queue (due now or later)."
        )
        failed = GaugeMetricFamily(
            "portal_job_failures_recorded",
            "Jobs that failed their last attempt, as recorded by the workers.",
            labels=["job"],
        )
        try:
            queue = jobs_of(self.app)
            depth.add_metric([], queue.depth())
            counts: dict[str, int] = {}
            for failure in queue.failures():
                counts[failure["job"]] = counts.get(failure["job"], 0) + 1
            for job, count in sorted(counts.items()):
                failed.add_metric([job], count)
        except Exception:  # the queue's store is down: the scrape still answers
            depth.add_metric([], float("nan"))
        yield depth
        yield failed


@bp.get("/metrics")
def metrics() -> Response:
    if not (_address_allowed() or _token_valid()):
        abort(404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    live = CollectorRegistry()
    live.register(_QueueState(current_app._get_current_object()))  # type: ignore[attr-defined]
    response = Response(body + generate_latest(live), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
