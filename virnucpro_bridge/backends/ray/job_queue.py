"""Inside a device actor: its queue of jobs, the thread that runs them, its outbox.

    submit ─▶ jobs ─▶ runner thread ─▶ execute(job, control) ─▶ outbox ─▶ collect
    cut ─────▶ control.pending ─▶ applied at the task's next progress call ─▶ outbox
    withdraw ─▶ a job not started is dropped (or refused on arrival)

The actor's Ray methods run on other threads than the runner, so a cut is
never applied from outside: it waits for the task's next progress call, on
the runner thread, exactly as a local worker reads a ``Cut`` from its pipe
inside that call. So the end the task sees never falls below what it has
already done, and the cut's answer is in the outbox before the job's reply.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ...coordinator.messages import Cut, CutAt
from ...inputs.work import records_started
from .protocol import CutAnswer, Job, UnitReply

LINGER_S = 0.005  # a reply waits this long for the next ones: batches, at a cost only units of ms would see


class JobControl:
    """The progress callback one job's task gets: returns where the job now stops, in
    the shape the task reported in (records relative to its start, or a (records,
    part) position), applying a cut asked for meanwhile. As ``worker.UnitControl``."""

    def __init__(self, queue: JobQueue, job: Job, cut: Cut | None,
                 on_progress: Callable[[int | tuple[int, int]], None]) -> None:
        self.queue, self.job, self.on_progress = queue, job, on_progress
        unit = job.unit
        self.start = unit.start
        self.first: tuple[int, int] = (unit.begin.record, unit.begin.part)
        self.stop: tuple[int, int] = (unit.stop.record, unit.stop.part)
        self.full = self.stop
        self.pending = cut

    def __call__(self, done: int | tuple[int, int]) -> int | tuple[int, int]:
        self.on_progress(done)
        if self.pending is not None:
            reached = (self.start + done[0], done[1]) if isinstance(done, tuple) else (self.start + int(done), 0)
            with self.queue.cond:
                if self.pending is not None:
                    self.settle(self._cut_at(self.pending, reached))
        rel = (self.stop[0] - self.start, self.stop[1])
        if isinstance(done, tuple):
            return rel
        return rel[0] + (1 if rel[1] else 0)

    @property
    def cut(self) -> bool:
        return self.stop != self.full

    def expected(self) -> int:
        """Sequences the task must report for what it now covers."""
        return records_started(self.first, self.stop)

    def _cut_at(self, cut: Cut, reached: tuple[int, int]) -> tuple[int, int] | None:
        """Where this job will stop (absolute position), or None: not this job, or
        already past where a cut would still pay. A job cut once may be cut again
        (a stop after a cut for an idle device): only ever shorter."""
        if cut.uid != self.job.unit.uid:
            return None
        at = max(cut.at, reached)  # never before what is done
        if at > cut.until or not self.first < at < self.stop:
            return None
        self.stop = at
        return at

    def settle(self, at: tuple[int, int] | None) -> None:
        """Caller holds queue.cond."""
        cut, self.pending = self.pending, None
        if cut is not None:
            self.queue.post(CutAnswer(self.job.ticket, CutAt(cut.uid, at)))


class JobQueue:
    """``execute(job, control)`` runs one job on the runner thread and returns its reply."""

    def __init__(self, execute: Callable[[Job, JobControl], UnitReply],
                 on_progress: Callable[[int | tuple[int, int]], None]) -> None:
        self.execute, self.on_progress = execute, on_progress
        self.cond = threading.Condition()
        self.jobs: deque[Job] = deque()
        self.dropped: set[int] = set()  # withdrawn before they arrived: refused on arrival
        self.cuts: dict[int, Cut] = {}  # cuts for jobs queued or not arrived yet
        self.seen: set[int] = set()  # tickets started or dropped: a late cut or withdraw is too late
        self.outbox: list[CutAnswer | UnitReply] = []
        self.control: JobControl | None = None  # the running job's
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="lbtui-jobs", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def post(self, item: CutAnswer | UnitReply) -> None:
        """Caller holds cond."""
        self.outbox.append(item)
        self.cond.notify_all()

    # -- the actor's calls (any thread) --------------------------------------------------
    def submit(self, jobs: list[Job]) -> None:
        with self.cond:
            for job in jobs:
                if job.ticket in self.dropped:
                    self.dropped.discard(job.ticket)
                    self._refuse_cut(job.ticket)
                else:
                    self.jobs.append(job)
            self.cond.notify_all()

    def withdraw(self, tickets: list[int]) -> list[int]:
        """Drop jobs not started yet; returns the tickets that will never run
        (the others are running or done: their replies come, or came)."""
        gone = []
        with self.cond:
            for ticket in tickets:
                queued = next((job for job in self.jobs if job.ticket == ticket), None)
                if queued is not None:
                    self.jobs.remove(queued)
                elif ticket in self.seen:
                    continue
                else:
                    self.dropped.add(ticket)  # the submit that carries it is still on its way
                self.seen.add(ticket)
                self._refuse_cut(ticket)
                gone.append(ticket)
        return gone

    def cut(self, ticket: int, cut: Cut) -> None:
        """Ask the job to stop early; the answer goes to the outbox."""
        with self.cond:
            control = self.control
            if control is not None and control.job.ticket == ticket:
                if control.pending is not None:
                    control.settle(None)  # a newer cut replaces an unanswered one
                control.pending = cut
            elif ticket in self.seen:
                self.post(CutAnswer(ticket, CutAt(cut.uid, None)))  # over, or withdrawn
            else:
                self._refuse_cut(ticket)
                self.cuts[ticket] = cut  # applied once the job starts

    def collect(self, timeout: float) -> list[CutAnswer | UnitReply]:
        """What the outbox holds, waiting up to ``timeout`` s for something, then
        up to LINGER_S more while jobs are still running or queued (short units
        then come back several to a call)."""
        with self.cond:
            self.cond.wait_for(lambda: self.outbox or self.stopping, timeout)
            until = time.monotonic() + LINGER_S
            while self.outbox and (self.jobs or self.control) and not self.stopping:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            items, self.outbox = self.outbox, []
            return items

    def stop(self, timeout: float) -> bool:
        """Run nothing more; True once the job running now (if any) has ended."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def _refuse_cut(self, ticket: int) -> None:
        """Caller holds cond."""
        cut = self.cuts.pop(ticket, None)
        if cut is not None:
            self.post(CutAnswer(ticket, CutAt(cut.uid, None)))

    # -- the runner thread ------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.jobs and not self.stopping:
                    self.cond.wait()
                if self.stopping:
                    return
                job = self.jobs.popleft()
                self.seen.add(job.ticket)
                control = self.control = JobControl(self, job, self.cuts.pop(job.ticket, None),
                                                    self.on_progress)
            reply = self.execute(job, control)
            with self.cond:
                control.settle(None)  # a cut never read: the job ran whole
                self.control = None
                self.post(reply)
