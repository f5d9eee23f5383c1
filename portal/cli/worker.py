"""``portal worker`` (the job queue's consumer) and ``portal run`` with its worker thread."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, get_debug_flag, with_appcontext
from flask.cli import run_command as flask_run_command
from sqlalchemy.engine import make_url
from werkzeug.serving import is_running_from_reloader

from portal import logging_setup
from portal.jobs.queue import jobs_of, make_consumer, start_in_process
from portal.jobs.registry import TASKS


def _describe_queue(url: str) -> str:
    if url.startswith("sqlite"):
        return f"SQLite {make_url(url).database}"
    return make_url(url).render_as_string(hide_password=True)


@click.command("worker")
@click.option("--workers", type=int, default=None, help="Worker threads (QUEUE_WORKERS).")
@click.option(
    "--no-periodic",
    is_flag=True,
    help="Do not schedule periodic jobs (when another worker already does).",
)
@click.option("--status", is_flag=True, help="Print the queue depth and failed jobs, then exit.")
@with_appcontext
def worker_command(workers: int | None, no_periodic: bool, status: bool) -> None:
    """Run the job queue's consumer: enqueued jobs and the periodic ones, until stopped."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    queue = jobs_of(app)
    url = queue.url
    if status:
        click.echo(f"Queue: {_describe_queue(url)}")
        click.echo(f"Waiting jobs: {queue.depth()}")
        failures = queue.failures()
        click.echo(f"Failed jobs: {len(failures)}")
        for failure in failures:
            click.echo(f"  {failure['at']}  {failure['job']}  {failure['error']}")
        return
    count = workers or int(app.config["QUEUE_WORKERS"])
    logging_setup.configure(str(app.config.get("LOG_LEVEL") or "INFO"))
    click.echo(
        f"Job worker on {_describe_queue(url)}: {count} thread(s), periodic jobs "
        f"{'off' if no_periodic else 'on'}: {', '.join(sorted(queue.tasks))}"
    )
    consumer = make_consumer(
        queue,
        workers=count,
        periodic=not no_periodic,
        check_seconds=int(app.config["QUEUE_PERIODIC_CHECK_SECONDS"]),
    )
    # Blocks; SIGTERM or SIGINT stop it after the running jobs finish (systemd's stop).
    consumer.run()


@click.pass_context
def _run(ctx: click.Context, **kwargs: Any) -> None:
    reload = kwargs.get("reload")
    if reload is None:
        reload = get_debug_flag()
    consumer = None
    # With the reloader, the watching parent serves nothing: only the serving child consumes.
    if not reload or is_running_from_reloader():
        app = ctx.ensure_object(ScriptInfo).load_app()
        if app.config["QUEUE_WORKER_IN_RUN"]:
            queue = jobs_of(app)
            count = int(app.config["QUEUE_WORKERS"])
            consumer = start_in_process(
                queue,
                workers=count,
                check_seconds=int(app.config["QUEUE_PERIODIC_CHECK_SECONDS"]),
            )
            url = queue.url
            click.echo(
                f" * Job worker: {count} thread(s) in this process on {_describe_queue(url)} "
                f"(periodic: {', '.join(sorted(n for n, s in TASKS.items() if s.period))})"
            )
    try:
        ctx.invoke(flask_run_command, **kwargs)
    finally:
        if consumer is not None:
            consumer.stop()


run_command = click.Command(
    "run",
    callback=_run,
    params=list(flask_run_command.params),
    help="Run the development server, with a job worker inside it (QUEUE_WORKER_IN_RUN).",
    short_help="Run a development server and a job worker.",
)
