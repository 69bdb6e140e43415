"""The request coalescer: concurrent questions answered together by one ``Retriever.search_many`` call.

Embedding a question (the query encoder's forward pass, :class:`pipeline.embed.QueryEncoder`) is most of
what a hybrid question costs, and it costs less per question in a group: the layers' GEMMs run over every
token of the group at once. So ``/api/search`` does not embed each question on its own; it hands it to a
:class:`Coalescer`:

* ``submit(query, k, mode, docs=…, lang=…, parallel=…)`` queues the question and returns a
  :class:`concurrent.futures.Future` (the request awaits it with :func:`asyncio.wrap_future`; a plain
  thread can call ``.result()``).
* A worker thread takes the first queued question, then keeps collecting for at most ``window`` seconds
  or until ``max_batch`` are waiting (whatever queued up while the previous group was being answered is
  taken at once), groups them by ``(k, mode)`` and their filters (the documents, the language, whether
  parallel versions are wanted: questions asked of different documents are never answered together) and
  answers each group with one ``answer(queries, k, mode)`` call — with ``docs=``, ``lang=`` and
  ``parallel=`` keywords when the group has filters — i.e. :meth:`pipeline.retrieve.Retriever.search_many`,
  the very code path of ``pipeline search`` and ``pipeline batch``, so answers are identical to a direct
  search.
* ``workers`` threads do this side by side, taking from one queue, each computing its forward pass with
  one thread (the server's ``--blas-threads``: ONNX Runtime intra-op threads, or BLAS threads for the
  NumPy pass), so workers × threads stays within the cores. The forward pass releases the GIL, so on 2
  cores two workers keep both busy, one group's pass beside the other's Python work (planning, BM25,
  fusion, answer sentences) and the HTTP layer's. Measured on these machines (2026-12-06, ONNX Runtime,
  16 closed-loop clients, in process): two workers answer 126–128 questions/s in groups of 5–7, one worker
  80; through HTTP, with the load client on the same cores, about 100 (README, Performance). Groups stay
  small at 16 clients (5–7 questions on average; ``max_batch`` 16 and 32 measured alike).
* A question that cannot be answered gets an :class:`~pipeline.answer.Answer` with ``error`` set by
  ``search_many`` and does not disturb the others. A :class:`~pipeline.errors.PipelineError` raised for a
  whole group (an index problem) fails that group. Any other exception (a bug) makes the worker answer that
  group's questions one by one, so only the question that triggers it fails.
* A future cancelled before its group is answered (the client went away) is dropped from the group.
* ``close()`` lets each worker finish the group in hand, stops it, and fails whatever is still queued
  with :class:`CoalescerClosed`; ``submit`` after ``close`` raises it. (The server closes it at shutdown,
  after uvicorn has let the requests in flight finish.)

Lookups (paragraph and citation references) do not need the encoder and never come here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from pipeline import Answer, PipelineError, QueryPlan

log = logging.getLogger("pipeline.server")

#: ``answer(queries, k, mode, **filters) -> [Answer]``; ``filters`` (``docs``, ``lang``, ``parallel``) are
#: passed only when a group has any.
AnswerMany = Callable[..., list[Answer]]


@dataclass(frozen=True)
class Filters:
    """What a question is asked of: the documents (symbols), the language, and whether each hit should carry
    its paragraph in the document's other language versions. The default asks the whole library."""

    docs: tuple[str, ...] | None = None
    lang: str | None = None
    parallel: bool = False

    @classmethod
    def of(
        cls, docs: Sequence[str] | None = None, lang: str | None = None, parallel: bool = False
    ) -> Filters:
        """Filters with ``docs`` as a tuple (in the order given; None when empty)."""
        return cls(tuple(docs) if docs else None, lang or None, bool(parallel))

    def kwargs(self) -> dict[str, Any]:
        """The keywords of ``search_many`` (none for the default, so a plain
        ``answer(qs, k, mode)`` works)."""
        if self == Filters():
            return {}
        return {"docs": list(self.docs) if self.docs else None, "lang": self.lang, "parallel": self.parallel}


class CoalescerClosed(RuntimeError):
    """The coalescer is shut down (the server is stopping)."""


@dataclass
class _Job:
    query: str | QueryPlan
    k: int | None
    mode: str
    future: Future[Answer]
    filters: Filters = Filters()


@dataclass
class CoalescerStats:
    """What the coalescer has done so far.

    Attributes:
        calls: ``answer`` calls made (one per ``(k, mode, filters)`` group).
        questions: questions answered.
        largest: the most questions answered by one call.
    """

    calls: int = 0
    questions: int = 0
    largest: int = 0


class Coalescer:
    """Collects concurrent questions for a few milliseconds and answers them together (see the module).

    Args:
        answer: ``answer(queries, k, mode[, docs=, lang=, parallel=]) -> [Answer]``, one per query in order
            (``Retriever.search_many``); called from up to ``workers`` threads at once.
        window: seconds to keep collecting after the first question of a group arrives.
        max_batch: most questions taken into one group.
        workers: worker threads answering groups side by side.
    """

    def __init__(
        self, answer: AnswerMany, window: float = 0.004, max_batch: int = 32, workers: int = 1
    ) -> None:
        if window < 0 or max_batch < 1 or workers < 1:
            raise ValueError("window must be ≥ 0, max_batch and workers ≥ 1")
        self._answer = answer
        self.window = window
        self.max_batch = max_batch
        self.workers = workers
        self.stats = CoalescerStats()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(
        self,
        query: str | QueryPlan,
        k: int | None,
        mode: str,
        *,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
        parallel: bool = False,
    ) -> Future[Answer]:
        """Queue one question; the future resolves to its :class:`Answer` (``error`` set when it cannot be
        answered) or raises what answering its group raised. It is answered only together with questions
        of the same ``k``, ``mode``, ``docs``, ``lang`` and ``parallel``.

        Raises:
            CoalescerClosed: after :meth:`close`.
        """
        fut: Future[Answer] = Future()
        with self._lock:
            if self._closed:
                raise CoalescerClosed("the server is shutting down")
            if not self._threads:
                for i in range(self.workers):
                    t = threading.Thread(target=self._run, name=f"pipeline-coalescer-{i}", daemon=True)
                    t.start()
                    self._threads.append(t)
            self._queue.put(_Job(query, k, mode, fut, Filters.of(docs, lang, parallel)))
        return fut

    def close(self, timeout: float = 30.0) -> None:
        """Answer the groups in hand, fail the rest with :class:`CoalescerClosed` and stop the workers."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
            for _ in threads:
                self._queue.put(None)  # one stop sign per worker
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(CoalescerClosed("the server is shutting down"))

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def running(self) -> bool:
        """True while a worker thread runs (they start with the first question)."""
        return any(t.is_alive() for t in self._threads)

    # --- the worker --------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, stop = self._collect(first)
            if self._closed:  # closed while these waited: close() refuses everything not yet being answered
                for job in jobs:
                    if job.future.set_running_or_notify_cancel():
                        job.future.set_exception(CoalescerClosed("the server is shutting down"))
                return
            self._answer_jobs(jobs)
            if stop:
                return

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` and whatever arrives within the window (up to ``max_batch``); True when this worker's
        stop sign came."""
        jobs = [first]
        deadline = time.monotonic() + self.window
        while len(jobs) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def _answer_jobs(self, jobs: list[_Job]) -> None:
        groups: dict[tuple[int | None, str, Filters], list[_Job]] = {}
        for job in jobs:
            if job.future.set_running_or_notify_cancel():  # False: cancelled, its client is gone
                groups.setdefault((job.k, job.mode, job.filters), []).append(job)
        for (k, mode, filters), group in groups.items():
            try:
                self._answer_group(group, k, mode, filters)
            except BaseException as e:
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(e)
                if not isinstance(e, Exception):
                    raise

    def _answer_group(self, group: list[_Job], k: int | None, mode: str, filters: Filters) -> None:
        try:
            answers = self._call([j.query for j in group], k, mode, filters)
        except PipelineError as e:  # an index or settings problem: every question of the group meets it
            for job in group:
                job.future.set_exception(e)
            return
        except Exception:
            if len(group) == 1:
                raise
            log.warning("answering %d questions together failed; answering them one by one", len(group))
            for job in group:
                try:
                    job.future.set_result(self._call([job.query], k, mode, filters)[0])
                except Exception as e:  # noqa: BLE001 - handed to the request that asked
                    job.future.set_exception(e)
            return
        for job, ans in zip(group, answers, strict=True):
            job.future.set_result(ans)

    def _call(self, queries: list[str], k: int | None, mode: str, filters: Filters) -> list[Answer]:
        answers = self._answer(queries, k, mode, **filters.kwargs())
        if len(answers) != len(queries):
            raise RuntimeError(f"answer() returned {len(answers)} answers for {len(queries)} queries")
        with self._lock:
            self.stats.calls += 1
            self.stats.questions += len(queries)
            self.stats.largest = max(self.stats.largest, len(queries))
        return answers
