"""Writers as processes, as gunicorn's workers are.

A thread of one Python process runs Python only while it holds the interpreter's
lock, and the use cases spend about half of each unit in Python (SQLAlchemy, the
driver's parameter handling, the domain's own code). Writers that are threads of
one process therefore queue on that lock whatever rows they share, and a
benchmark of threads measures the lock, not the database. Production runs one
process per worker (gunicorn), so the benchmarks of several writers run one
process per writer.

`Writers` starts one process per maker. Each process calls its maker once (its
own engine, connection and caches) to get its acts by name; each act(i) does the
i-th unit of work and returns how many times the unit ran (more than once: a
retried conflict). `Writers.run` has the first `writers` processes run one act
together from a shared wall-clock start for `seconds`, and returns what they did.
The processes start with "spawn", so makers must be picklable: a
`functools.partial` of a module-level function.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

Acts = dict[str, Callable[[int], int]]
STARTUP_SECONDS = 120.0  # a process imports the project and warms its act in far less


@dataclass
class Phase:
    """What the writers of one phase did together: units done, wall-clock seconds from
    the shared start to the last writer's end, every unit's latency, retried runs."""

    units: int
    seconds: float
    latencies: list[float]
    retried: int

    @property
    def rate(self) -> float:
        return self.units / self.seconds


def _serve(make: Callable[[], Acts], commands: Any, results: Any) -> None:
    acts = make()
    results.put("ready")
    i = 0
    while (command := commands.get()) is not None:
        name, start, end = command
        act = acts[name]
        time.sleep(max(0.0, start - time.time()))
        latencies: list[float] = []
        retried = 0
        while time.time() < end:
            i += 1
            t = time.perf_counter()
            retried += act(i) - 1
            latencies.append(time.perf_counter() - t)
        results.put((len(latencies), time.time(), latencies, retried))


class Writers:
    """One process per maker, started on entry and stopped (and checked) on exit."""

    def __init__(self, makers: Sequence[Callable[[], Acts]]) -> None:
        context = multiprocessing.get_context("spawn")
        self.commands = [context.Queue() for _ in makers]
        self.results = context.Queue()
        self.processes = [
            context.Process(target=_serve, args=(make, commands, self.results), daemon=True)
            for make, commands in zip(makers, self.commands, strict=True)
        ]

    def __enter__(self) -> Writers:
        for process in self.processes:
            process.start()
        for _ in self.processes:
            if self._result(STARTUP_SECONDS) != "ready":
                raise RuntimeError("a writer process did not start")
        return self

    def _result(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.results.get(timeout=1.0)
            except queue.Empty as empty:  # is every writer still alive?
                dead = [p for p in self.processes if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{len(dead)} writer process(es) failed (exit codes "
                        f"{[p.exitcode for p in dead]}); their traceback is on stderr"
                    ) from empty

    def run(self, act: str, writers: int, seconds: float) -> Phase:
        """The first `writers` processes run `act` together for `seconds`."""
        start = time.time() + 0.05  # every writer is waiting on its queue by then
        for commands in self.commands[:writers]:
            commands.put((act, start, start + seconds))
        reports = [self._result(seconds + STARTUP_SECONDS) for _ in range(writers)]
        return Phase(
            units=sum(r[0] for r in reports),
            seconds=max(r[1] for r in reports) - start,
            latencies=[t for r in reports for t in r[2]],
            retried=sum(r[3] for r in reports),
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
        if kind is None and any(p.exitcode != 0 for p in self.processes):
            raise RuntimeError("a writer process failed on its way out")
