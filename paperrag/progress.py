"""Progress reporting seam: the library reports steps, the CLI shows rich bars, the UI its own widget."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    def start(self, task: str, *, total: int | None, description: str = "") -> None: ...
    def update(self, task: str, *, description: str) -> None: ...
    def advance(self, task: str, n: int = 1) -> None: ...
    def stop(self, task: str) -> None: ...


class NullProgress:
    def start(self, task: str, *, total: int | None, description: str = "") -> None:
        pass

    def update(self, task: str, *, description: str) -> None:
        pass

    def advance(self, task: str, n: int = 1) -> None:
        pass

    def stop(self, task: str) -> None:
        pass


class RichProgress:
    """rich bars, one per task name; safe to start a task again (it is reset)."""

    def __init__(self, console=None):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=False,
        )
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc):
        self._progress.stop()

    def start(self, task: str, *, total: int | None, description: str = "") -> None:
        if task in self._tasks:
            self._progress.reset(self._tasks[task], total=total, description=description or task, visible=True)
        else:
            self._tasks[task] = self._progress.add_task(description or task, total=total)

    def update(self, task: str, *, description: str) -> None:
        if task in self._tasks:
            self._progress.update(self._tasks[task], description=description[:70])

    def advance(self, task: str, n: int = 1) -> None:
        if task in self._tasks:
            self._progress.advance(self._tasks[task], n)

    def stop(self, task: str) -> None:
        if task in self._tasks and task != "papers":
            self._progress.update(self._tasks[task], visible=False)
