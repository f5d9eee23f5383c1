"""Statistical disclosure control for public figures: small cells are suppressed.

A published table must not let anyone single out a report: "one report of trafficking in
Dakhla in March" points at a person. The rules, applied to every margin (a total and the cells
that add up to it, such as a month's reports by category):

1. **Primary suppression**: a count under the threshold (but above zero) is not published;
   it reads "< threshold". Zero is published: it tells nothing about anyone.
2. **Complementary suppression**: when the total is published, the suppressed cells add up to
   the total minus the published ones. So more cells are suppressed, smallest first, until the
   suppressed cells together hold at least the threshold: no published difference can then be
   smaller than the threshold (one lone suppressed cell is never left, and neither are two
   cells that together hold three reports).
3. A total under the threshold suppresses its whole margin.

Figures derived from a cell (a median time, a share) are published only when the cell is, and
only when they rest on at least the threshold of values themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    value: int | None  # None: suppressed

    @property
    def suppressed(self) -> bool:
        return self.value is None


def suppress_margin(
    total: int, cells: Mapping[str, int], threshold: int
) -> tuple[Cell, dict[str, Cell]]:
    """The published total and cells of one margin (the cells add up to ``total``)."""
    if sum(cells.values()) != total:
        raise ValueError("the cells of a margin must add up to its total")
    if 0 < total < threshold:
        return Cell(None), {key: Cell(None) for key in cells}
    hidden = {key for key, count in cells.items() if 0 < count < threshold}
    if hidden:
        others = sorted(
            (count, key) for key, count in cells.items() if key not in hidden and count > 0
        )
        while sum(cells[key] for key in hidden) < threshold and others:
            hidden.add(others.pop(0)[1])
    return Cell(total), {
        key: Cell(None if key in hidden else count) for key, count in cells.items()
    }


def published_share(part: int, whole: int, whole_cell: Cell, threshold: int) -> float | None:
    """A share (0-1) published only beside a published whole of at least ``threshold``, and
    only when neither the part nor the rest is a small cell on its own."""
    if whole_cell.suppressed or whole < threshold:
        return None
    if 0 < part < threshold or 0 < whole - part < threshold:
        return None
    return part / whole
