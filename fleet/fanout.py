"""One bounded fan-out over devices, one per-device result shape, one progress protocol.

Every fleet-wide action (deploy, enroll, cleanup, trust, the lab, the janitor)
runs its per-device work through `fan_out` (or, for work that arrives over
time, a `Background` pool, the one pool type both use): at most `parallel`
items at once, a result for every item in the order given, and an unexpected
exception in one item's work becomes that item's result through the caller's
`failed(item, error)`, so one board's surprise never costs the others theirs.

    results = fan_out(devices, deploy_one, parallel=4,
                      failed=lambda d, e: DeviceResult(d.id, False, unexpected(e)))
    code = 0 if all_ok(results) else 1

Results share one shape, `Outcome` (`device`, `ok`, `error`), and progress one
protocol, `Progress` (`stage`, `expect`, `sent`), whose no-op is `QUIET`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Outcome(Protocol):
    """What every per-device result says: which device, whether it went well, and if not why."""

    @property
    def device(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def error(self) -> str | None: ...


def all_ok(results: Iterable[Outcome]) -> bool:
    return all(r.ok for r in results)


def failures(results: Iterable[Outcome]) -> dict[str, str]:
    """Each failed device -> why (its error, or "failed" when it gave none)."""
    return {r.device: r.error or "failed" for r in results if not r.ok}


def unexpected(error: BaseException) -> str:
    """An exception no layer translated, as a per-device error: a bug's name and message."""
    return f"unexpected {type(error).__name__}: {error}"


class Progress(Protocol):
    """Told what each device is doing, for progress bars; every method may do nothing.

    `stage`: what the device does now ("done" and "failed" end it); `expect`:
    it will send `nbytes` in all; `sent`: `nbytes` more were sent. Called from
    worker threads.
    """

    def stage(self, device: str, text: str) -> None: ...

    def expect(self, device: str, nbytes: int) -> None: ...

    def sent(self, device: str, nbytes: int) -> None: ...


class Quiet:
    """No progress shown."""

    def stage(self, device: str, text: str) -> None:
        pass

    def expect(self, device: str, nbytes: int) -> None:
        pass

    def sent(self, device: str, nbytes: int) -> None:
        pass


QUIET = Quiet()


class Stages(Quiet):
    """Progress for a caller that shows only stages: `tell(device, text)`."""

    def __init__(self, tell: Callable[[str, str], None]) -> None:
        self._tell = tell

    def stage(self, device: str, text: str) -> None:
        self._tell(device, text)


class Background:
    """A bounded pool whose work never raises: each submission's future holds a result.

    For work that arrives over time (the janitor's); `fan_out` runs on one too.
    """

    def __init__(self, parallel: int, *, name: str = "fleet") -> None:
        self._pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix=name)

    def submit(self, item: T, work: Callable[[T], R],
               failed: Callable[[T, Exception], R]) -> Future[R]:
        """Start `work(item)`; an exception it raises becomes `failed(item, error)`."""
        return self._pool.submit(_guarded, item, work, failed)

    def close(self, *, wait: bool = True, cancel: bool = False) -> None:
        """Stop taking work; `cancel` drops what has not started (its future is cancelled)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _guarded(item: T, work: Callable[[T], R], failed: Callable[[T, Exception], R]) -> R:
    try:
        return work(item)
    except Exception as e:  # one item's surprise is its own result, never the others' loss
        return failed(item, e)


def fan_out(items: Iterable[T], work: Callable[[T], R], *, parallel: int,
            failed: Callable[[T, Exception], R], name: str = "fleet") -> list[R]:
    """`work` on every item, at most `parallel` at once; the results in the items' order.

    Every item runs whatever the others do; an exception from `work(item)` is
    turned into that item's result by `failed(item, error)`."""
    with Background(parallel, name=name) as pool:
        futures = [pool.submit(item, work, failed) for item in items]
    return [f.result() for f in futures]


def fan_out_or_raise(items: Iterable[T], work: Callable[[T], R], *, parallel: int,
                     name: str = "fleet") -> list[R]:
    """`fan_out` for all-or-nothing work (the lab's setup): every item runs, then the first
    failure in the items' order is raised, else the results are returned."""

    def attempt(item: T) -> tuple[R] | Exception:
        return (work(item),)

    def failed(_item: T, error: Exception) -> tuple[R] | Exception:
        return error

    results = fan_out(items, attempt, parallel=parallel, failed=failed, name=name)
    for r in results:
        if isinstance(r, Exception):
            raise r
    return [r[0] for r in results if not isinstance(r, Exception)]
