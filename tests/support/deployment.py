"""The documented production shape, started for real: the project built as a wheel and installed
in a fresh virtualenv outside the source tree, `portal init`, gunicorn with the packaged settings,
and nginx with the checked-in recipe (deploy/nginx/portal.conf) terminating TLS."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "deploy" / "nginx" / "portal.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def required() -> bool:
    return os.environ.get("PORTAL_REQUIRE_BROWSER", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Skip, or fail when the run must exercise the production shape (CI)."""
    if required():
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=3, context=context)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{url} never answered:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the software, built and installed as an operator would ---------------------------------


@dataclass
class Installed:
    venv: Path
    dist: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def static_dir(self) -> Path:
        out = subprocess.run(
            [
                str(self.bin / "python"),
                "-c",
                "from portal.config import resource_dir; print(resource_dir('static'))",
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=self.venv,
        )
        return Path(out.stdout.strip())


def build_and_install(workdir: Path) -> Installed:
    """`python -m build` on a copy of the checkout, then `pip install` of the wheel into a fresh
    virtualenv: exactly what an image or a package build does."""
    from portal.cli.i18n_tools import compile_catalogues

    compile_catalogues()
    source = workdir / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "artifacts",
            "dist",
            "build",
            "instance",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            ".hypothesis",
        ),
    )
    dist = workdir / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
        cwd=workdir,
    )
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(dist.glob("*.whl"))
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        cwd=workdir,
    )
    shutil.rmtree(source)
    return Installed(venv=venv, dist=dist)


# --- TLS --------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "portal.crt", directory / "portal.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# --- nginx with the checked-in recipe ---------------------------------------------------------


@dataclass
class Nginx:
    prefix: Path
    https_port: int
    http_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def temp_dirs(self) -> list[Path]:
        return [self.prefix / "temp"]

    @property
    def logs(self) -> Path:
        return self.prefix / "logs"


def render_recipe(
    *,
    https_port: int,
    http_port: int,
    upstream: str,
    cert: Path,
    key: Path,
    static: Path,
    logs: Path,
) -> str:
    """The recipe with the values an operator edits, and nothing else, replaced."""
    text = RECIPE.read_text()
    replacements = [
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("server 127.0.0.1:8000;", f"server {upstream};"),
        ("/etc/ssl/certs/ssl-cert-snakeoil.pem", str(cert)),
        ("/etc/ssl/private/ssl-cert-snakeoil.key", str(key)),
        ("/srv/portal/static/", f"{static}/"),
        ("/var/log/nginx/", f"{logs}/"),
    ]
    for old, new in replacements:
        assert old in text, f"the recipe no longer has {old!r}"
        text = text.replace(old, new)
    return text


def main_config(prefix: Path, site: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides, confined to ``prefix``."""
    temp = prefix / "temp"
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/main-error.log info;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log {prefix}/logs/main-access.log;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""


@contextmanager
def nginx_in_front(
    prefix: Path, *, upstream: str, cert: Path, key: Path, static: Path
) -> Iterator[Nginx]:
    for sub in ("logs", "temp", "conf"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    server = Nginx(prefix=prefix, https_port=free_port(), http_port=free_port())
    site = prefix / "conf" / "portal.conf"
    site.write_text(
        render_recipe(
            https_port=server.https_port,
            http_port=server.http_port,
            upstream=upstream,
            cert=cert,
            key=key,
            static=static,
            logs=server.logs,
        )
    )
    main = prefix / "conf" / "nginx.conf"
    main.write_text(main_config(prefix, site))
    out = prefix / "logs" / "stdout.log"
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(main)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    with out.open("wb") as sink:
        server.process = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(main)], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        wait_until_up(server.url + "/healthz", server.process, out)
        yield server
    finally:
        stop(server.process)


# --- gunicorn from the installed software -----------------------------------------------------


@dataclass
class Portal:
    installed: Installed
    env: dict[str, str]
    workdir: Path
    bind: str
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default=Path())

    @property
    def instance(self) -> Path:
        return Path(self.env["PORTAL_INSTANCE_PATH"])


def run_portal(installed: Installed, workdir: Path, env: dict[str, str], *args: str) -> str:
    """The installed ``portal`` command, run from ``workdir``."""
    result = subprocess.run(
        [str(installed.bin / "portal"), *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def portal_environment(
    workdir: Path, *, database_url: str, redis_url: str | None, bind: str, hops: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_INSTANCE_PATH=str(workdir / "instance"),
        PORTAL_DATABASE_URL=database_url,
        PORTAL_EVIDENCE_STORE=f"file://{workdir / 'instance' / 'evidence'}",
        PORTAL_TRUSTED_PROXY_HOPS=str(hops),
        PORTAL_BIND=bind,
        PORTAL_WORKERS="2",
        # Temporary files of anything in the portal's processes land here, to be searched.
        TMPDIR=str(workdir / "tmp"),
    )
    if hops:
        env["PORTAL_PREFER_HTTPS"] = "1"
    if redis_url:
        env["PORTAL_RATELIMIT_STORAGE_URI"] = redis_url
    (workdir / "tmp").mkdir(exist_ok=True)
    return env


@contextmanager
def gunicorn_serving(installed: Installed, workdir: Path, env: dict[str, str]) -> Iterator[Portal]:
    portal = Portal(installed=installed, env=env, workdir=workdir, bind=env["PORTAL_BIND"])
    portal.log = workdir / "gunicorn.log"
    with portal.log.open("wb") as sink:
        portal.process = subprocess.Popen(
            [str(installed.bin / "gunicorn"), "-c", "python:portal.web.gunicorn_conf"],
            env=env,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://{portal.bind}/healthz", portal.process, portal.log)
        yield portal
    finally:
        stop(portal.process)


# --- what is on disk --------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        yield root
        return
    # os.walk skips what vanishes or cannot be read meanwhile (others' temporary files).
    for directory, _dirs, names in os.walk(root):
        for name in names:
            yield Path(directory) / name


def files_containing(
    roots: list[Path], needles: list[bytes], *, since: float | None = None
) -> list[str]:
    """Every readable file under ``roots`` (modified after ``since``) holding any needle."""
    found: list[str] = []
    longest = max(len(n) for n in needles)
    for root in roots:
        for path in _walk(root):
            try:
                if not str(path).startswith("/proc/") and (path.is_symlink() or not path.is_file()):
                    continue
                if since is not None and path.stat().st_mtime < since:
                    continue
                with path.open("rb") as handle:
                    tail = b""
                    while chunk := handle.read(1 << 20):
                        window = tail + chunk
                        if any(n in window for n in needles):
                            found.append(str(path))
                            break
                        tail = window[-longest:]
            except OSError:
                continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (nginx's workers, gunicorn's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def open_files_containing(pids: list[int], needles: list[bytes]) -> list[str]:
    """Files the processes hold open right now, deleted ones included (a temporary file that
    is unlinked at once still has its data on disk), that contain any needle."""
    found = []
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        try:
            fds = list(fd_dir.iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if not target.startswith("/") or target.startswith(("/dev/", "/proc/")):
                continue
            if files_containing([fd], needles):
                found.append(f"{pid}: {target}")
    return found
