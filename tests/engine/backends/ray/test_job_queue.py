"""A Ray actor's job queue, without Ray: jobs run in a thread of their own, a cut
takes effect at the task's next progress call, withdrawals race submits safely."""

from __future__ import annotations

import threading

from virnucpro_bridge.backends.ray.job_queue import JobControl, JobQueue
from virnucpro_bridge.backends.ray.protocol import CutAnswer, Job, UnitReply
from virnucpro_bridge.coordinator.messages import Cut, CutAt, Done
from virnucpro_bridge.inputs.units import Unit

COUNT = 100


def job(ticket: int, start: int = 1_000) -> Job:
    uid = f"f.fa#{ticket}"
    return Job(ticket, Unit(uid, "/in/f.fa", "f.fa", ticket, 9, start, COUNT, COUNT * 10, "x"), b"")


class Steps:
    """A task that does one record per step, each step released by the test."""

    def __init__(self) -> None:
        self.go = threading.Semaphore(0)
        self.at = threading.Semaphore(0)  # released once per progress call
        self.ends: list[int] = []

    def execute(self, job: Job, control: JobControl) -> UnitReply:
        done, end = 0, control(0)
        self.at.release()
        while done < end:
            self.go.acquire()
            done += 1
            end = control(done)
            self.at.release()
        self.ends.append(end)
        return UnitReply(job.ticket, Done(end, 0.0, 0.0, 0.0), b"%d" % end)


def drain(queue: JobQueue, n: int) -> list:
    """Collect until ``n`` items came back."""
    items: list = []
    while len(items) < n:
        items += queue.collect(5.0)
    return items


def started(steps: Steps, calls: int = 1) -> None:
    for _ in range(calls):
        assert steps.at.acquire(timeout=10)


def test_a_cut_is_applied_at_the_next_progress_call_and_answered_before_the_reply() -> None:
    steps = Steps()
    queue = JobQueue(steps.execute, lambda done: None)
    queue.start()
    queue.submit([job(1)])
    started(steps)
    for _ in range(10):
        steps.go.release()
    started(steps, 10)  # 10 records done
    queue.cut(1, Cut("f.fa#1", (1_005, 0), (1_080, 0)))  # asks for 1,005: already past it
    for _ in range(COUNT):
        steps.go.release()
    items = drain(queue, 2)
    assert items[0] == CutAnswer(1, CutAt("f.fa#1", (1_011, 0)))  # never before what is done (+ the step in flight)
    assert isinstance(items[1], UnitReply) and items[1].reply.sequences == 11 == steps.ends[0]
    assert queue.stop(5)


def test_a_cut_past_its_limit_or_for_a_job_that_ended_is_refused() -> None:
    steps = Steps()
    queue = JobQueue(steps.execute, lambda done: None)
    queue.start()
    queue.submit([job(1)])
    started(steps)
    queue.cut(1, Cut("f.fa#1", (1_090, 0), (1_080, 0)))  # past where a cut still pays
    for _ in range(COUNT):
        steps.go.release()
    items = drain(queue, 2)
    assert items[0] == CutAnswer(1, CutAt("f.fa#1", None)) and items[1].reply.sequences == COUNT
    queue.cut(1, Cut("f.fa#1", (1_050, 0), (1_099, 0)))  # over already
    assert drain(queue, 1) == [CutAnswer(1, CutAt("f.fa#1", None))]
    assert queue.stop(5)


def test_a_cut_for_a_job_not_started_applies_when_it_starts() -> None:
    steps = Steps()
    queue = JobQueue(steps.execute, lambda done: None)
    queue.cut(2, Cut("f.fa#2", (1_030, 0), (1_090, 0)))  # the cut overtook its job's submit
    queue.start()
    queue.submit([job(2)])
    started(steps)
    for _ in range(COUNT):
        steps.go.release()
    items = drain(queue, 2)
    assert items[0] == CutAnswer(2, CutAt("f.fa#2", (1_030, 0))) and items[1].reply.sequences == 30
    assert queue.stop(5)


def test_withdrawn_jobs_never_run_and_running_ones_are_not_withdrawn() -> None:
    steps = Steps()
    queue = JobQueue(steps.execute, lambda done: None)
    queue.start()
    assert queue.withdraw([4]) == [4]  # not arrived yet: refused when it does
    queue.submit([job(1), job(2), job(3), job(4)])
    started(steps)  # job 1 runs
    assert queue.withdraw([1, 2]) == [2]  # 1 is running: its reply comes; 2 never runs
    for _ in range(2 * COUNT):
        steps.go.release()
    items = drain(queue, 2)
    assert [i.ticket for i in items] == [1, 3]
    assert queue.withdraw([3]) == []  # done already
    assert queue.stop(5)


def test_stop_lets_the_running_job_end_and_runs_nothing_more() -> None:
    steps = Steps()
    queue = JobQueue(steps.execute, lambda done: None)
    queue.start()
    queue.submit([job(1), job(2)])
    started(steps)
    assert not queue.stop(0)  # job 1 still running
    for _ in range(COUNT):
        steps.go.release()
    queue.thread.join(10)
    assert not queue.thread.is_alive()
    assert [i.ticket for i in queue.collect(0)] == [1]  # job 2 never started
