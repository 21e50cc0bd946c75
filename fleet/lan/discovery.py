"""Boards on the LAN, over mDNS: an async iterator of DeviceSeen, DeviceGone and Rejected.

Two kinds of board are found. Enrolled ones run fleet's agent, which
advertises `_fleet._tcp` with a TXT record (fleet.lan.advert). Bare ones have no
agent yet: they publish an SSH or workstation service (avahi's files), or,
like stock Raspberry Pi OS, nothing but their host name, which is found by
asking for `raspberrypi.local` and any other names given.

zeroconf's callbacks only put (type, name, change) on a queue; lookups run in
tasks on the same loop. What the records mean is decided in the pure
fleet.lan.sightings.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf._services.info import AddressResolverIPv4  # zeroconf's, left out of its __all__
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from fleet.errors import FleetError
from fleet.lan.advert import BARE_SERVICE_TYPES, SERVICE_TYPE
from fleet.lan.sightings import BY_NAME, DeviceGone, DeviceSeen, Event, Rejected, Sightings
from fleet.model import Device

log = logging.getLogger(__name__)

DEFAULT_NAMES = ("raspberrypi",)  # stock Raspberry Pi OS's host name


def names_to_resolve(devices: Iterable[Device], extra: Iterable[str] = ()) -> list[str]:
    """Host names to ask for over mDNS: the stock one, the inventory's .local hosts, the user's.

    A local board's host (`localhost ansible_connection=local`) names this machine, not a
    board on the LAN, so it is not asked for."""
    names = [*DEFAULT_NAMES, *(d.host.removesuffix(".") for d in devices if not d.ssh.local),
             *extra]
    return list(dict.fromkeys(n.removesuffix(".local") for n in names
                              if "." not in n.removesuffix(".local")))


class Browser:
    """Browse until closed: `async with Browser(...) as b: async for event in b: ...`.

    interfaces: addresses of this host's interfaces to browse on (default all).
    names: host names (without .local) to resolve every `rescan_s`, for boards
    that publish nothing else.
    """

    def __init__(self, *, interfaces: Sequence[str] = (), names: Iterable[str] = DEFAULT_NAMES,
                 bare: bool = True, resolve_timeout_s: float = 2.0,
                 rescan_s: float = 30.0) -> None:
        self._interfaces = list(interfaces)
        self._names = list(dict.fromkeys(n.removesuffix(".local") for n in names))
        self._types = [SERVICE_TYPE, *(BARE_SERVICE_TYPES if bare else ())]
        self._timeout_ms = int(resolve_timeout_s * 1000)
        self._rescan_s = rescan_s
        self._sightings = Sightings(_networks(self._interfaces))
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._bare_hosts: dict[tuple[str, str], str] = {}  # (type, instance) -> its host
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None

    async def __aenter__(self) -> Browser:
        try:
            zc = AsyncZeroconf(interfaces=self._interfaces or InterfaceChoice.All,
                               ip_version=IPVersion.V4Only)
        except OSError as e:
            raise FleetError(f"mDNS: cannot listen on {self._interfaces or 'any interface'}: "
                             f"{e}; pass --interface with an address of this host") from e
        self._zc = zc
        self._browser = AsyncServiceBrowser(zc.zeroconf, self._types, handlers=[self._on_change])
        if self._names:
            self._spawn(self._resolve_names())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            await self._zc.async_close()

    @property
    def _zeroconf(self) -> Zeroconf:
        assert self._zc is not None, "use Browser in `async with`"
        return self._zc.zeroconf

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._events.get()

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        """zeroconf's callback, on the loop: no lookups here, only a task to do them."""
        if state_change is ServiceStateChange.Removed:
            self._emit(self._sightings.removed(name) if service_type == SERVICE_TYPE
                       else self._removed_bare(name, service_type))
        else:
            self._spawn(self._resolve(service_type, name))

    def _removed_bare(self, name: str, service_type: str) -> list[Event]:
        # Bare services are keyed by host; their instance name is all a goodbye carries.
        host = self._bare_hosts.pop((service_type, name), None)
        return self._sightings.removed(host, service_type) if host else []

    async def _resolve(self, service_type: str, name: str) -> None:
        try:
            info = AsyncServiceInfo(service_type, name)
            if not await info.async_request(self._zeroconf, self._timeout_ms):
                log.debug("mDNS: %s did not resolve", name)
                return
        except Exception as e:  # zeroconf refusing a malformed name: skip it, keep browsing
            self._emit([Rejected(name, (), f"{type(e).__name__}: {e}")])
            return
        addresses = info.parsed_scoped_addresses(IPVersion.V4Only)
        if service_type == SERVICE_TYPE:
            self._emit(self._sightings.fleet_record(name, info.text or b"", addresses,
                                                    info.port or 22))
        elif info.server:
            self._bare_hosts[(service_type, name)] = info.server
            port = info.port if service_type != "_workstation._tcp.local." and info.port else 22
            self._emit(self._sightings.bare_record(info.server, addresses, port, service_type))

    async def _resolve_names(self) -> None:
        async def one(host: str) -> None:
            resolver = AddressResolverIPv4(f"{host}.local.")
            if await resolver.async_request(self._zeroconf, self._timeout_ms):
                self._emit(self._sightings.bare_record(
                    host, resolver.parsed_scoped_addresses(), 22, BY_NAME))
            else:  # says nothing unless it had answered before
                self._emit(self._sightings.removed(host, BY_NAME))

        while True:
            await asyncio.gather(*(one(h) for h in self._names))
            await asyncio.sleep(self._rescan_s)

    def _emit(self, events: Iterable[Event]) -> None:
        for event in events:
            if isinstance(event, Rejected):
                log.warning("mDNS: skipped %s at %s: %s", event.name,
                            ", ".join(event.addresses), event.reason)
            self._events.put_nowait(event)

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@dataclass(frozen=True, slots=True)
class Scan:
    """What one timed browse found: the boards present at its end, and what was skipped."""

    devices: tuple[DeviceSeen, ...]
    rejected: tuple[Rejected, ...]
    seconds: float


def scan(timeout_s: float = 3.0, *, interfaces: Sequence[str] = (),
         names: Iterable[str] = DEFAULT_NAMES) -> Scan:
    """Browse for `timeout_s` seconds and return what is there at the end."""
    return asyncio.run(_scan(timeout_s, interfaces, names))


async def _scan(timeout_s: float, interfaces: Sequence[str], names: Iterable[str]) -> Scan:
    present: dict[str, DeviceSeen] = {}
    rejected: dict[str, Rejected] = {}
    started = time.monotonic()
    async with Browser(interfaces=interfaces, names=names,
                       resolve_timeout_s=min(2.0, timeout_s)) as browser:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                async for event in browser:
                    if isinstance(event, DeviceSeen):
                        present[event.id] = event
                    elif isinstance(event, DeviceGone):
                        present.pop(event.id, None)
                    else:
                        rejected[event.name] = event
    return Scan(tuple(present.values()), tuple(rejected.values()), time.monotonic() - started)


def _networks(interfaces: Sequence[str]) -> list[ipaddress.IPv4Network]:
    """The networks of this host's interfaces that have these addresses."""
    if not interfaces:
        return []
    wanted = set(interfaces)
    return [ipaddress.IPv4Network(f"{ip.ip}/{ip.network_prefix}", strict=False)
            for adapter in ifaddr.get_adapters() for ip in adapter.ips
            if isinstance(ip.ip, str) and ip.ip in wanted]


class BackgroundBrowser:
    """A Browser on its own thread and event loop, for a caller that is not async.

    `events()` hands over what has arrived without waiting; `start` raises
    what the browser raised opening its sockets.
    """

    def __init__(self, *, interfaces: Sequence[str] = (),
                 names: Iterable[str] = DEFAULT_NAMES) -> None:
        self._interfaces, self._names = interfaces, list(names)
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="mdns-browser", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        self._started.wait(timeout)
        if self._error is not None:
            raise self._error

    def events(self) -> list[Event]:
        found = []
        while not self._queue.empty():
            found.append(self._queue.get_nowait())
        return found

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._browse())

    async def _browse(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with Browser(interfaces=self._interfaces, names=self._names) as browser:
                self._started.set()
                reader = asyncio.ensure_future(self._pump(browser))
                await self._stop.wait()
                reader.cancel()
        except Exception as e:  # handed to start(); nothing else runs on this thread
            self._error = e
            self._started.set()

    async def _pump(self, browser: Browser) -> None:
        async for event in browser:
            self._queue.put(event)
