"""workers.dump.streaming_gc with several dumps in one process (TOWER_DUMPS_PER_PROCESS > 1): the first to start
tunes the collector, the last to end restores it, whatever the order they end in."""
import gc
import weakref

from workers.dump import GC_YOUNG_THRESHOLD, streaming_gc


def test_the_collector_is_tuned_while_any_dump_runs_and_restored_after_the_last():
    before = gc.get_threshold()
    first, second = streaming_gc(), streaming_gc()
    first.__enter__()
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD and gc.get_freeze_count() > 0
    second.__enter__()
    first.__exit__(None, None, None)  # the first one ends while the second runs
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD and gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_garbage_of_an_ended_dump_is_collected_at_the_next_start():
    class Cycle:
        pass

    outer = streaming_gc()
    outer.__enter__()
    try:
        garbage = Cycle()
        garbage.me = garbage  # a cycle: only the cyclic collector frees it
        alive = weakref.ref(garbage)
        frozen = streaming_gc()
        frozen.__enter__()  # freezes the cycle while it is still referenced
        frozen.__exit__(None, None, None)
        del garbage
        again = streaming_gc()
        again.__enter__()  # unfreezes, collects, freezes again
        again.__exit__(None, None, None)
        assert alive() is None
    finally:
        outer.__exit__(None, None, None)
