"""``portal limits``: every route with the rate limits it declares, as this instance sets them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from portal.web import pow as proof_of_work
from portal.web import ratelimit

_KEYS: dict[Callable[..., Any], str] = {
    ratelimit.client_key: "per client",
    ratelimit.global_key: "all clients together",
    ratelimit.account_key: "per staff account",
}
_CONDITIONS: dict[Callable[..., Any], str] = {
    ratelimit.failed_attempt: "failed attempts only",
    ratelimit.charged_when_accepted: "charged when a report is accepted",
}
_EXEMPTIONS: dict[Callable[..., Any], str] = {
    proof_of_work.request_has_valid_solution: "not with a solved proof of work",
}


def _describe(windows: list[Any], *, default: bool) -> str:
    limit = windows[0]
    parts = [
        "; ".join(str(each.limit) for each in windows),
        _KEYS.get(limit.key_func, getattr(limit.key_func, "__name__", "?")),
    ]
    if limit.methods:
        parts.append("/".join(method.upper() for method in limit.methods) + " only")
    elif default:
        parts.append("POST only (default)")
    if limit.shared:
        parts.append(f"shared counter {limit.scope!r}")
    if limit.deduct_when is not None:
        parts.append(_CONDITIONS.get(limit.deduct_when, "counted when the answer says so"))
    if limit.exempt_when is not None and not default:
        parts.append(_EXEMPTIONS.get(limit.exempt_when, "with exemptions"))
    return ", ".join(parts)


def _grouped(limits: list[Any]) -> list[list[Any]]:
    """The windows of one declaration ("5/hour;20/day") together, in declaration order."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for limit in limits:
        declaration = (limit.scope, limit.key_func, limit.methods, limit.deduct_when)
        groups.setdefault(declaration, []).append(limit)
    return list(groups.values())


def route_limits(app: Flask) -> Iterator[tuple[str, str, list[str]]]:
    """(methods, rule, descriptions of its limits) for every route of the app."""
    limiter = ratelimit.limiter
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        blueprint = rule.endpoint.rpartition(".")[0] or None
        # Limits are resolved as for a POST, the only method the portal limits by default.
        with app.test_request_context(rule.rule, method="POST"):
            defaults, declared = limiter.limit_manager.resolve_limits(app, rule.endpoint, blueprint)
            # Decorators register bottom-up: reversed, they read in the order of the source.
            lines = [_describe(group, default=False) for group in reversed(_grouped(declared))]
            if "POST" in methods:
                lines += [_describe(group, default=True) for group in _grouped(defaults)]
            if ratelimit.is_refused_before_parsing(rule.endpoint):
                lines.append("client-keyed limits above refuse before the body is parsed")
        yield ",".join(methods), rule.rule, lines


@click.command("limits")
@with_appcontext
def limits_command() -> None:
    """Every route with its rate limits (as configured for this instance)."""
    if not ratelimit.limiter.enabled:
        click.echo("Rate limits are switched off (RATELIMIT_ENABLED).")
        return
    for methods, rule, lines in route_limits(current_app):
        click.echo(f"{methods} {rule}")
        for line in lines or ["no limit"]:
            click.echo(f"    {line}")
