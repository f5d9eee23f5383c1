"""Work a transaction announces, handed over once it commits (alerts, reporters' notices).

A service calls :func:`announce` inside its transaction, under a channel name. After the
outermost commit, each channel's items, in order and without repeats, go to the dispatcher the
app put in the session factory's ``info`` under that name
(``portal.jobs.queue.install_dispatch``): a session without one (a script, a test) drops them.
A rollback drops them too. A dispatcher that fails is logged and never undoes the committed
change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("portal.after_commit")

_ANNOUNCED = "after_commit_items"  # Session.info key: channel -> items of the open transaction

Dispatch = Callable[..., None]


def announce(session: Session, channel: str, *item: Hashable) -> None:
    """Hand ``item`` to the ``channel``'s dispatcher (``dispatch(*item)``) once the transaction
    commits; an item already announced in this transaction is not repeated."""
    items: list[tuple[Hashable, ...]] = session.info.setdefault(_ANNOUNCED, {}).setdefault(
        channel, []
    )
    if item not in items:
        items.append(item)


@event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    if session.in_nested_transaction():
        return
    announced: dict[str, list[tuple[Hashable, ...]]] = session.info.pop(_ANNOUNCED, {})
    for channel, items in announced.items():
        dispatch: Dispatch | None = session.info.get(channel)
        if dispatch is None:
            continue
        for item in items:
            try:
                dispatch(*item)
            except Exception:  # the change is committed; what follows it must not undo it
                log.exception("%s could not be handed over: %r", channel, item)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_ANNOUNCED, None)
