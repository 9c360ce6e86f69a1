"""compat.base.whole_list: the cyclic garbage collector is paused while a whole-list view runs, and only then."""
import gc

import pytest

from console.api import ticdc
from console.api.compat import bifrost, ccr, metrics
from console.api.compat.base import whole_list


@whole_list
def probe(fail=False):
    seen = gc.isenabled()
    if fail:
        raise ValueError("boom")
    return seen


def test_paused_while_the_view_runs_and_back_after():
    assert gc.isenabled()
    assert probe() is False
    assert gc.isenabled()


def test_back_after_a_view_that_raises():
    with pytest.raises(ValueError):
        probe(fail=True)
    assert gc.isenabled()


def test_a_pause_made_by_someone_else_is_left_to_them():
    gc.disable()
    try:
        assert probe() is False
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("view", [ticdc.changefeeds, ticdc.processors, bifrost.db_list, bifrost.synclist,
                                  bifrost.flow_get, ccr.list_jobs, metrics.metrics])
def test_every_whole_list_endpoint_pauses_it(view):
    wrapped = view
    while hasattr(wrapped, "__wrapped__"):  # the surface's endpoint decorator, then whole_list
        if wrapped.__code__ is whole_list(lambda: None).__code__:
            return
        wrapped = wrapped.__wrapped__
    pytest.fail(f"{view.__name__} is not a whole_list view")
