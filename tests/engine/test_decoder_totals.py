"""An instance's decoder counters survive dump restarts: earlier totals plus this dump's growth."""
from workers.dump import decoder_totals


def snapshot(fast, fallback_rows, fallback_events, reasons):
    return {"fast_rows": fast, "fast_events": 0, "fallback_rows": fallback_rows, "fallback_events": fallback_events,
            "decoders_generated": 0, "fallback_reasons": reasons}


def test_adds_this_dumps_growth_to_what_earlier_dumps_wrote():
    base = {"generated_rows": 1000, "fallback_rows": 5, "fallback_events": 1, "fallback_reasons": {"bit size": 1}}
    # The pool process decoded for an earlier dump too: only the growth since this dump started counts.
    start = snapshot(700, 3, 1, {"enum size": 1})
    now = snapshot(950, 10, 3, {"enum size": 2, "bit size": 1})
    assert decoder_totals(base, start, now) == {
        "generated_rows": 1250, "fallback_rows": 12, "fallback_events": 3,
        "fallback_reasons": {"bit size": 2, "enum size": 1},
    }
    assert base["fallback_reasons"] == {"bit size": 1}  # not modified


def test_a_first_dump_starts_from_nothing():
    assert decoder_totals({}, snapshot(0, 0, 0, {}), snapshot(10, 0, 0, {})) == {
        "generated_rows": 10, "fallback_rows": 0, "fallback_events": 0, "fallback_reasons": {}}
