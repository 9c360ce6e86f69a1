"""workers.courier: a subscription's delivery thread runs one job at a time and hands back its outcome."""
import threading

import pytest

from workers.courier import Courier


def test_a_job_runs_in_the_couriers_thread_and_gives_its_result():
    courier = Courier("tower-subscription-test")
    future = courier.submit(lambda: threading.current_thread().name)
    assert future.result(timeout=5) == "tower-subscription-test"
    assert not courier.busy
    courier.stop()


def test_an_exception_is_handed_back_for_the_loop_to_raise():
    courier = Courier("tower-subscription-test")

    def fail():
        raise ValueError("the target refused")

    future = courier.submit(fail)
    with pytest.raises(ValueError, match="the target refused"):
        future.result(timeout=5)
    courier.stop()


def test_busy_while_a_job_runs_and_one_job_at_a_time():
    courier = Courier("tower-subscription-test")
    release = threading.Event()
    future = courier.submit(release.wait, 5)
    assert courier.busy
    with pytest.raises(RuntimeError, match="one job at a time"):
        courier.submit(lambda: None)
    release.set()
    assert future.result(timeout=5) is True
    assert not courier.busy
    courier.stop()


def test_stop_runs_its_last_step_after_the_job_in_flight():
    courier = Courier("tower-subscription-test")
    release, order = threading.Event(), []
    future = courier.submit(lambda: (release.wait(5), order.append("job")))
    closed = threading.Event()
    courier.stop(then=lambda: (order.append("close"), closed.set()))
    assert not closed.is_set()  # the hung job comes first
    release.set()
    future.result(timeout=5)
    assert closed.wait(5) and order == ["job", "close"]
