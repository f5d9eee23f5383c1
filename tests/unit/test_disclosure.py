"""Small-cell suppression: no published figure, nor any difference of published figures,
rests on fewer reports than the threshold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portal.domain.disclosure import published_share, suppress_margin

T = 10


def test_a_small_cell_takes_a_second_one_with_it() -> None:
    total, cells = suppress_margin(60, {"fraud": 45, "threats": 12, "trafficking": 3}, T)
    assert total.value == 60
    assert cells["fraud"].value == 45
    # 3 alone would be 60 - 45 - 12: the next smallest is held back too.
    assert cells["trafficking"].suppressed and cells["threats"].suppressed


def test_zero_is_published_and_a_small_total_hides_everything() -> None:
    _total, cells = suppress_margin(30, {"a": 30, "b": 0}, T)
    assert cells["b"].value == 0 and cells["a"].value == 30
    total, cells = suppress_margin(7, {"a": 4, "b": 3}, T)
    assert total.suppressed and all(cell.suppressed for cell in cells.values())


def test_two_small_cells_that_add_up_to_little_take_a_third() -> None:
    _total, cells = suppress_margin(100, {"a": 85, "b": 10, "c": 2, "d": 3}, T)
    hidden = {key for key, cell in cells.items() if cell.suppressed}
    assert hidden == {"b", "c", "d"}


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 60), max_size=12))
def test_no_published_figure_or_difference_isolates_fewer_than_the_threshold(cells) -> None:
    total = sum(cells.values())
    total_cell, published = suppress_margin(total, cells, T)
    shown = {key: cell.value for key, cell in published.items() if not cell.suppressed}
    assert all(value == 0 or value >= T for value in shown.values())
    if total_cell.suppressed:
        assert not shown or total < T
        return
    hidden_sum = total - sum(value for value in shown.values() if value)
    assert hidden_sum == 0 or hidden_sum >= T


def test_a_share_needs_enough_on_both_sides() -> None:
    total, _cells = suppress_margin(40, {"x": 40}, T)
    assert published_share(30, 40, total, T) == 0.75
    assert published_share(35, 40, total, T) is None  # the 5 not removed would stand out
    assert published_share(3, 40, total, T) is None
