"""Evidence intake benchmark: prints throughput ratios measured in one run.

    .venv/bin/python bench/evidence.py [--size-mib 200] [--rss-size-mib 500]

1. End-to-end HTTP upload through ``/report`` (multipart parsing, sniffing, SHA-256, streaming
   encryption, blob store, database rows) against two bare endpoints on the same server: one
   that parses the same multipart body with Werkzeug's stock parser and saves the file (what a
   plain Flask upload does, and the baseline of the goal), and one that copies the raw body to
   a file without parsing it (the ceiling of the HTTP path). Goal: >= 0.5 of the first.
2. The encryption layer alone (the chunked AES-GCM stream written to a file exactly as the copy
   writes it) against a plain chunked file copy of the same data (+fsync). Goal: >= 0.8.
   Printed beside it: the same stream through the blob store (a nameless file, fsync, linked
   into place, directory fsync) and the whole intake pipeline (sniff + SHA-256 + encryption
   + store); SHA-256, the chain-of-custody hash, is the pipeline's largest cost.
3. The same data through ``gpg --symmetric`` (how SecureDrop stores submissions), if gpg exists.
4. Peak RSS growth of the server process during one large upload. Goal: <= 32 MiB.

The server is the real app in a temporary instance (SQLite, file store), served by Werkzeug's
threaded server on 127.0.0.1 in a child process; the bare endpoint exists only in that process.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
PIECE = 256 * 1024
BOUNDARY = "----portal-bench-5f0c1e"
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


# --- the server process -----------------------------------------------------------------------


def serve(instance: Path, port: int) -> None:
    from flask import request
    from werkzeug.serving import make_server

    from portal import create_app
    from portal.extensions import csrf

    app = create_app(_app_config(instance))

    @csrf.exempt
    def bare_upload() -> tuple[str, int]:
        # Only moves the body to a file: the baseline the real intake is compared with.
        target = instance / "bare-upload.bin"
        with open(target, "wb") as handle:
            while True:
                piece = request.stream.read(PIECE)
                if not piece:
                    break
                handle.write(piece)
        target.unlink()
        return "ok", 200

    @csrf.exempt
    def stock_multipart() -> tuple[str, int]:
        # Werkzeug's own parser and spooling, as a plain Flask app would receive the file.
        from werkzeug.formparser import parse_form_data

        _stream, _form, files = parse_form_data(request.environ)
        target = instance / "stock-upload.bin"
        files["evidence"].save(target)
        target.unlink()
        return "ok", 200

    app.add_url_rule("/bench/bare", "bench_bare", bare_upload, methods=["POST"])
    app.add_url_rule("/bench/stock", "bench_stock", stock_multipart, methods=["POST"])
    server = make_server("127.0.0.1", port, app, threaded=True)
    print("READY", flush=True)
    server.serve_forever()


def _app_config(instance: Path) -> dict[str, object]:
    return {
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'portal.sqlite3'}",
        "EVIDENCE_STORE": f"file://{instance / 'evidence'}",
        "RATELIMIT_ENABLED": False,
        "EVIDENCE_MAX_FILES": 10,
        "EVIDENCE_MAX_FILE_SIZE": 2048 * MiB,
        "EVIDENCE_MAX_REQUEST_SIZE": 2048 * MiB,
    }


def prepare_instance(instance: Path) -> None:
    from portal.crypto.instance_secrets import ensure_secrets
    from portal.crypto.keyring import create_master_key
    from portal.db import make_engine, make_session_factory
    from portal.services import schema
    from portal.services.reference_data import sync_reference_data

    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    ensure_secrets(instance)
    create_master_key(instance)
    engine = make_engine(f"sqlite:///{instance / 'portal.sqlite3'}")
    schema.upgrade(engine)
    with make_session_factory(engine)() as session:
        sync_reference_data(session)
        session.commit()
    engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- data and HTTP ----------------------------------------------------------------------------


def make_source(path: Path, size: int) -> None:
    """A JPEG-looking file of random data (incompressible, like real media)."""
    block = os.urandom(4 * MiB)
    with open(path, "wb") as handle:
        handle.write(JPEG_HEAD)
        remaining = size - len(JPEG_HEAD)
        while remaining > 0:
            piece = block[: min(len(block), remaining)]
            handle.write(piece)
            remaining -= len(piece)


def file_pieces(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while piece := handle.read(PIECE):
            yield piece


def multipart(fields: dict[str, str], path: Path) -> tuple[list[bytes], int, Path]:
    head = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="evidence"; '
        f'filename="capture.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return [head, tail], len(head) + path.stat().st_size + len(tail), path


def post_upload(
    port: int, url: str, fields: dict[str, str], path: Path, cookie: str
) -> tuple[float, http.client.HTTPResponse]:
    (head, tail), length, _ = multipart(fields, path)

    def body() -> Iterator[bytes]:
        yield head
        yield from file_pieces(path)
        yield tail

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request(
        "POST",
        url,
        body=body(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(length),
            "Cookie": cookie,
        },
    )
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status not in (200, 303):
        raise SystemExit(f"{url} answered {response.status}")
    return elapsed, response


class Browser:
    """Just enough of a browser: one cookie jar, GET and multipart POST."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {"lang": "en"}

    @property
    def cookie(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def _remember(self, response: http.client.HTTPResponse) -> None:
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = rest

    def request(self, method: str, url: str, body: bytes | None = None, **headers: str) -> str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        connection.request(method, url, body=body, headers={"Cookie": self.cookie, **headers})
        response = connection.getresponse()
        page = response.read().decode("utf-8", "replace")
        self._remember(response)
        connection.close()
        return page

    def csrf(self, url: str) -> str:
        match = re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"', self.request("GET", url)
        )
        if not match:
            raise SystemExit(f"no CSRF token on {url}")
        return match.group(1)

    def upload(self, url: str, fields: dict[str, str], path: Path) -> float:
        elapsed, response = post_upload(self.port, url, fields, path, self.cookie)
        self._remember(response)
        return elapsed


REPORT_FIELDS = {
    "category": "sextortion",
    "urls": "https://www.instagram.com/some.blackmailer/",
    "platform": "instagram",
    "description": "Benchmark report",
    "territory": "MA-CAS",
    "good_faith": "y",
}


def upload_report(port: int, path: Path) -> float:
    browser = Browser(port)
    return browser.upload("/report", {"csrf_token": browser.csrf("/report"), **REPORT_FIELDS}, path)


def follow_up_browser(port: int, path: Path) -> Browser:
    """A reporter back on /follow-up with the receipt of a report sent with ``path``."""
    browser = Browser(port)
    browser.upload("/report", {"csrf_token": browser.csrf("/report"), **REPORT_FIELDS}, path)
    page = browser.request("GET", "/report/receipt")
    receipt = re.search(r'id="receipt">([\d ]+)<', page)
    if not receipt:
        raise SystemExit("no receipt shown")
    token = browser.csrf("/follow-up")
    form = f"csrf_token={token}&receipt={receipt.group(1).replace(' ', '')}".encode()
    browser.request(
        "POST", "/follow-up", form, **{"Content-Type": "application/x-www-form-urlencoded"}
    )
    return browser


# --- measurements -----------------------------------------------------------------------------


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for {pid}")


def peak_rss_growth(pid: int, upload: Callable[[], object]) -> tuple[float, str]:
    """Peak resident memory above the idle level while ``upload`` runs, in MiB."""
    baseline = rss_kib(pid)
    peak = baseline
    method = "VmHWM after clear_refs"
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        method = "VmRSS sampled every 20 ms"
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    upload()
    stop.set()
    sampler.join()
    if method.startswith("VmHWM"):
        peak = max(peak, rss_kib(pid, "VmHWM"))
    return (peak - baseline) / 1024, method


def plain_copy(source: Path, target: Path) -> float:
    started = time.perf_counter()
    with open(target, "wb") as out:
        for piece in file_pieces(source):
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def encryption_only(source: Path, target: Path) -> float:
    """The chunked AES-GCM stream written exactly as the plain copy writes (file + fsync)."""
    from portal.crypto.keyring import new_file_key
    from portal.crypto.streaming import StreamEncryptor

    started = time.perf_counter()
    encryptor = StreamEncryptor(new_file_key(), b"bench")
    with open(target, "wb") as out:
        out.write(encryptor.header())
        for piece in file_pieces(source):
            out.write(encryptor.update_view(piece))
        out.write(encryptor.finalize())
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def encryption_layer(source: Path, store_root: Path, *, custody: bool) -> float:
    """Encrypt into the blob store; with ``custody`` also sniff and hash, as intake does."""
    from portal.crypto.keyring import new_file_key
    from portal.crypto.streaming import StreamEncryptor
    from portal.evidence import sniff
    from portal.storage.blobs import FileBlobStore, new_blob_key

    store = FileBlobStore(store_root)
    started = time.perf_counter()
    key = new_blob_key()
    hasher = hashlib.sha256()
    encryptor = StreamEncryptor(new_file_key(), b"bench")
    with store.open_writer(key) as writer:
        writer.write(encryptor.header())
        first = True
        for piece in file_pieces(source):
            if custody:
                if first:
                    sniff.sniff(piece[: sniff.SNIFF_BYTES])
                    first = False
                hasher.update(piece)
            sealed = encryptor.update_view(piece)
            if sealed:
                writer.write(sealed)
        writer.write(encryptor.finalize())
        writer.commit()
    elapsed = time.perf_counter() - started
    store.delete(key)
    return elapsed


def gpg_symmetric(source: Path, target: Path, home: Path) -> float | None:
    gpg = shutil.which("gpg")
    if gpg is None:
        return None
    home.mkdir(mode=0o700, exist_ok=True)
    command = [
        gpg,
        "--homedir",
        str(home),
        "--batch",
        "--yes",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "benchmark",
        "--symmetric",
        "--cipher-algo",
        "AES256",
        "--compress-algo",
        "none",
        "--output",
        str(target),
        str(source),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def _argon2_mib() -> int:
    from portal.config import DefaultConfig

    return DefaultConfig.RECEIPT_ARGON2_MEMORY_KIB // 1024


def throughput(size: int, seconds: float) -> str:
    return f"{size / MiB / seconds:8.1f} MiB/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--rss-size-mib", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for each timing")
    parser.add_argument("--serve", nargs=2, metavar=("INSTANCE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return

    work = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    server: subprocess.Popen[str] | None = None
    try:
        instance = work / "instance"
        prepare_instance(instance)
        size = args.size_mib * MiB
        source = work / "source.jpg"
        make_source(source, size)

        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(instance), str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        if server.stdout.readline().strip() != "READY":
            raise SystemExit("server did not start")

        print(
            f"Evidence benchmark: {args.size_mib} MiB file, best of {args.repeat}, "
            f"server pid {server.pid}, load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs\n"
        )
        upload_report(port, work / "source.jpg")  # warm-up (imports, first connection)

        # Interleaved repeats, best of each: the machine's other load affects both alike.
        bares, stocks, reals = [], [], []
        for _ in range(args.repeat):
            bares.append(post_upload(port, "/bench/bare", {}, source, "")[0])
            stocks.append(post_upload(port, "/bench/stock", {}, source, "")[0])
            reals.append(upload_report(port, source))
        bare, stock, real = min(bares), min(stocks), min(reals)
        print("1. HTTP upload, same server")
        print(f"   raw body -> file (no parsing)    {throughput(size, bare)}")
        print(f"   stock multipart -> file          {throughput(size, stock)}")
        print(f"   /report (sniff+hash+encrypt+db)  {throughput(size, real)}")
        print(f"   ratio /report : stock multipart = {stock / real:.2f}   (goal >= 0.5)")
        print(f"   ratio /report : raw body        = {bare / real:.2f}\n")

        copies, encrypted, layers, pipelines = [], [], [], []
        for _ in range(max(args.repeat, 5)):
            copies.append(plain_copy(source, work / "copy.bin"))
            encrypted.append(encryption_only(source, work / "encrypted.bin"))
            layers.append(encryption_layer(source, work / "store", custody=False))
            pipelines.append(encryption_layer(source, work / "store", custody=True))
        copy, alone = min(copies), min(encrypted)
        layer, pipeline = min(layers), min(pipelines)
        print("2. Encryption layer alone (best of 5, interleaved)")
        print(f"   plain chunked copy (+fsync)      {throughput(size, copy)}")
        print(f"   AES-GCM chunks, same file writes {throughput(size, alone)}")
        print(f"   ratio encryption : copy = {copy / alone:.2f}   (goal >= 0.8)")
        print(f"   + blob store (fsync, linked into place)  {throughput(size, layer)}")
        print(f"   ratio encryption into the store : copy = {copy / layer:.2f}")
        print(f"   + sniff and SHA-256 (the intake) {throughput(size, pipeline)}")
        print(f"   ratio intake pipeline : copy = {copy / pipeline:.2f}\n")

        print("3. gpg --symmetric (AES256, no compression)")
        gpg = gpg_symmetric(source, work / "gpg.out", work / "gnupg")
        if gpg is None:
            print("   skipped: gpg is not installed\n")
        else:
            print(f"   gpg --symmetric                  {throughput(size, gpg)}")
            print(f"   ratio encryption layer : gpg = {gpg / layer:.2f}")
            print(f"   ratio intake pipeline : gpg = {gpg / pipeline:.2f}\n")

        small = work / "small.jpg"
        make_source(small, MiB)
        reporter = follow_up_browser(port, small)
        big = work / "big.jpg"
        source.unlink()
        make_source(big, args.rss_size_mib * MiB)
        print(f"4. Server peak RSS growth during a {args.rss_size_mib} MiB upload")
        growth, method = peak_rss_growth(
            server.pid,
            lambda: reporter.upload(
                "/follow-up/evidence", {"csrf_token": reporter.csrf("/follow-up")}, big
            ),
        )
        print(f"   /follow-up/evidence (intake only)   {growth:6.1f} MiB   (goal <= 32 MiB)")
        growth, method = peak_rss_growth(server.pid, lambda: upload_report(port, big))
        print(f"   /report (intake + new report)       {growth:6.1f} MiB")
        print(
            "   (a new report also hashes its receipt with argon2id, "
            f"{_argon2_mib()} MiB of memory by design)"
        )
        print(f"   measured by {method}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
