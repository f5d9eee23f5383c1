"""The citizen reporting portal: app factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import (
    DefaultConfig,
    environment_overrides,
    instance_path_from_env,
    resolve_storage_defaults,
    resource_dir,
)

if TYPE_CHECKING:
    from argon2 import PasswordHasher


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    test_config = dict(test_config or {})
    instance_path = Path(test_config.pop("INSTANCE_PATH", None) or instance_path_from_env())
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(environment_overrides(app.config, os.environ))
    app.config.update(test_config)
    resolve_storage_defaults(app.config, instance_path)
    # The session cookie carries the staff token: Secure whenever the portal is on https.
    if app.config["PREFER_HTTPS"]:
        app.config["SESSION_COOKIE_SECURE"] = True

    _load_secrets(app, instance_path)
    _init_extensions(app)
    from portal.services.mailer import sender_warnings
    from portal.services.stats import target_warnings

    for warning in [*sender_warnings(app.config), *target_warnings(app.config)]:
        app.logger.warning(warning)
    _register_blueprints(app)
    _register_error_handlers(app)

    from portal import cli

    cli.register(app)

    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    from portal.web.request_id import RequestIdMiddleware

    app.wsgi_app = RequestIdMiddleware(app.wsgi_app, trust_incoming=hops > 0)  # type: ignore[method-assign]
    if hops > 0:
        # Only the configured number of proxies is believed; anything further left is the
        # client's own claim and is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app


def _load_secrets(app: Flask, instance_path: Path) -> None:
    from portal.crypto.blind_index import BlindIndexer
    from portal.crypto.instance_secrets import load_secrets
    from portal.crypto.keyring import ENV_MASTER_KEYS, Keyring
    from portal.domain.receipts import ReceiptHasher

    wanted = ("SECRET_KEY", "RECEIPT_PEPPER", "INDEX_PEPPER", "AUDIT_KEY", "CASEFILE_KEY")
    if not all(app.config.get(name) for name in wanted):
        secrets = load_secrets(instance_path)
        for name in wanted:
            app.config[name] = app.config.get(name) or getattr(secrets, name.lower())
    ring = app.config.get("KEYRING")
    if ring is None:
        ring = Keyring.load(instance_path, os.environ)
        if not os.environ.get(ENV_MASTER_KEYS, "").strip():
            # `portal keys rotate` in another process takes effect here without a restart.
            followed = ring.follow(instance_path, os.environ)

            @app.before_request
            def _reload_keys() -> None:
                followed.reload_if_changed()

    app.extensions["keyring"] = ring
    app.extensions["blind_indexer"] = BlindIndexer(app.config["INDEX_PEPPER"])
    app.extensions["password_hasher"] = _password_hasher(app.config)
    app.extensions["receipt_hasher"] = ReceiptHasher(
        pepper=app.config["RECEIPT_PEPPER"],
        time_cost=app.config["RECEIPT_ARGON2_TIME_COST"],
        memory_cost_kib=app.config["RECEIPT_ARGON2_MEMORY_KIB"],
        parallelism=app.config["RECEIPT_ARGON2_PARALLELISM"],
    )


def _password_hasher(config: Mapping[str, Any]) -> PasswordHasher:
    """argon2id for staff passwords: the library's recommended parameters unless configured."""
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY as floor

    from portal.services.staff_login import dummy_hash

    recommended = PasswordHasher()
    hasher = PasswordHasher(
        time_cost=config["STAFF_PASSWORD_ARGON2_TIME_COST"] or recommended.time_cost,
        memory_cost=config["STAFF_PASSWORD_ARGON2_MEMORY_KIB"] or recommended.memory_cost,
        parallelism=config["STAFF_PASSWORD_ARGON2_PARALLELISM"] or recommended.parallelism,
    )
    # Accounts are rehashed with these at their next sign-in: a setting below RFC 9106's
    # low-memory profile would quietly weaken every staff password, so only tests may use one.
    if not config.get("TESTING") and (
        hasher.time_cost < floor.time_cost or hasher.memory_cost < floor.memory_cost
    ):
        raise RuntimeError(
            "STAFF_PASSWORD_ARGON2_TIME_COST / _MEMORY_KIB are below RFC 9106's low-memory"
            f" profile ({floor.time_cost} passes over {floor.memory_cost} KiB): refusing to start"
        )
    dummy_hash(hasher)  # made now, not at the first sign-in with an unknown name
    return hasher


def _init_extensions(app: Flask) -> None:
    from portal import db
    from portal.domain.localtime import LOCAL_TZ_NAME
    from portal.extensions import babel, csrf
    from portal.jobs import alerts as alert_jobs
    from portal.jobs import notices as notice_jobs
    from portal.jobs.queue import build_queue
    from portal.storage.blobs import open_store
    from portal.web import body_limit, i18n, metrics, ratelimit, uploads
    from portal.web import csrf as csrf_checks
    from portal.web import headers as security

    db.init_app(app)
    csrf.init_app(app)
    csrf_checks.init_app(app)
    # After the origin check's hook, so that this one runs first of all.
    body_limit.init_app(app)
    ratelimit.init_app(app)
    # One clock: the zone of portal.domain.localtime, whatever a configuration file says.
    app.config["BABEL_DEFAULT_TIMEZONE"] = LOCAL_TZ_NAME
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(Path(__file__).parent / "translations"),
    )
    i18n.init_app(app)
    security.init_app(app)
    app.extensions["blob_store"] = open_store(
        app.config["EVIDENCE_STORE"],
        s3_endpoint_url=app.config.get("S3_ENDPOINT_URL"),
        s3_region=app.config.get("S3_REGION"),
    )
    uploads.init_app(app)
    metrics.init_app(app)
    app.extensions["jobs"] = build_queue(app)
    alert_jobs.connect(app)
    notice_jobs.connect(app)


def _register_blueprints(app: Flask) -> None:
    from portal.web.admin import partners as admin_partners  # noqa: F401
    from portal.web.admin.views import bp as admin_bp
    from portal.web.citizen import fragments, guidance_views, mandate_views  # noqa: F401
    from portal.web.citizen import views as citizen_views  # noqa: F401
    from portal.web.citizen.blueprint import bp as citizen_bp
    from portal.web.health import bp as health_bp

    # Importing the route modules attaches their routes to the blueprints.
    from portal.web.officer import (  # noqa: F401
        alert_views,
        campaign_views,
        case_file_views,
        evidence_views,
        partner_views,
        queue_views,
        takedown_views,
        views,
    )
    from portal.web.officer.blueprint import bp as officer_bp
    from portal.web.public.views import bp as public_bp
    from portal.web.staff import views as staff_views  # noqa: F401
    from portal.web.staff.blueprint import bp as staff_bp
    from portal.web.supervisor import takedown_views as _supervisor_takedowns  # noqa: F401
    from portal.web.supervisor.views import bp as supervisor_bp

    blueprints = (citizen_bp, staff_bp, officer_bp, supervisor_bp, admin_bp, health_bp, public_bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    from portal.web.api import views as api_views

    api_views.init_app(app)


def _register_error_handlers(app: Flask) -> None:
    from portal.web import errors
    from portal.web.api.problems import from_http_error
    from portal.web.ratelimit import breached_wait, refusal_page

    # error.html wears the staff layout under the staff prefixes, the reporter's elsewhere.
    errors.init_app(app)

    def handle_http_error(error: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return from_http_error(error)
        if error.code == 429:
            # A limit's own answer (flask-limiter's on_breach) if it has one.
            return error.response or (refusal_page(breached_wait()), 429)
        return render_template("error.html", error=error), error.code or 500

    app.register_error_handler(HTTPException, handle_http_error)
