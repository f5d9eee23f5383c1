"""Background work on a job queue (Huey): periodic maintenance now, webhooks and alerts later.

Where things are
----------------
- ``registry.py``: the ``@job`` and ``@periodic`` decorators and ``JobContext``. A task is a
  plain function taking a ``JobContext`` (database session, config, keyring, evidence store,
  instance path, ``now``) and plain JSON arguments. It runs inside an app context; its
  session is committed when it returns and rolled back when it raises.
- ``serializer.py``: what the queue stores, JSON and never pickle (a forged entry in Redis or
  the SQLite file must not run code in the worker); entries of any other shape are refused.
- ``queue.py``: builds the queue from configuration (``QUEUE_URL``), runs consumers (a thread
  inside ``portal run`` in the embedded mode, ``portal worker`` otherwise), records failures.
- One module per family of tasks, listed in ``queue.TASK_MODULES``: ``maintenance.py`` (stats
  refresh, retention purge, audit head anchor).

Adding a task
-------------
1. In a module of its family (a new ``portal/jobs/<family>.py`` is added to ``TASK_MODULES``)::

       @job("webhooks.deliver", retries=5, retry_delay=60)
       def deliver(ctx: JobContext, delivery_id: int) -> None:
           ...

   or, to run on a schedule, ``@periodic("alerts.digest", default_seconds=3600)``: the period
   is the setting ``JOB_PERIODS["alerts.digest"]`` (seconds) when given.
2. Enqueue it from a view, a service caller or a command: ``enqueue(app, "webhooks.deliver",
   delivery.id)`` (``portal.jobs.queue.enqueue``). Pass ids, never personal data: arguments
   sit in the queue's storage (the SQLite file or Redis) until the task runs. Only plain JSON
   goes (None, booleans, numbers, strings, lists, dicts with string keys): a tuple, a datetime
   or an object raises ``NotPlainData`` at ``enqueue``; pass a time as an ISO string.

A task that raises is retried ``retries`` times, ``retry_delay`` seconds apart; after the last
attempt it is recorded as failed (log line, ``portal_job_failures_total`` metric, and the list
``portal worker --status`` prints). Tasks may run more than once (a worker killed mid-task runs
it again): make them idempotent.

Queue storage
-------------
``QUEUE_URL`` unset: ``sqlite:///<instance>/jobs.sqlite3`` (Huey's ``SqliteHuey``), consumed by
a worker thread inside ``portal run`` or by ``portal worker``. ``redis://host:port/db``:
``RedisHuey``, consumed by ``portal worker`` processes (run the periodic scheduler in one of
them only: ``portal worker --no-periodic`` for the others).
"""
