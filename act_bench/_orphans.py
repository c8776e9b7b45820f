"""Worker processes that die with their driver and stay quiet on Ctrl-C: shared by the job engine's local workers
and the replay's process pools.

* :func:`exit_with_parent` (in a worker): end the worker as soon as the driver that spawned it is gone, whatever
  killed it (SIGKILL included), so no worker computes on for nobody.
* :func:`children_ignore` (in the driver, around the call that starts workers): the signals given (Ctrl-C's SIGINT,
  the SIGTERM a batch system sends to the whole group) are ignored by the new processes from their first
  instruction, so a stop that lands while a worker is still importing prints no traceback; the driver still sees
  every signal (they are held back, not lost, while the workers start).
* :func:`quiet_resource_tracker` and :func:`quiet_pool_teardown` (in the driver): what the standard library prints
  when a pool is ended on a stop (the resource tracker's shutdown warnings, the pool's manager thread meeting the
  queues the driver closed) is not the user's business; the stop is one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator

__all__ = ["PARENT_CHECK_SECONDS", "POOL_STATE", "children_ignore", "die_with_spawning_thread",
           "exit_with_parent", "init_pool_worker", "interrupt_message", "quiet_pool_teardown", "quiet_resource_tracker",
           "worker_signals"]

#: Seconds between two checks of a worker that its driver is still alive.
PARENT_CHECK_SECONDS = 0.5


def exit_with_parent(parent: int) -> None:
    """End this worker process as soon as ``parent`` (the driver that spawned it) is gone, whatever killed it.

    A daemon thread compares ``os.getppid()`` with the driver's pid every :data:`PARENT_CHECK_SECONDS`: an orphan
    is re-parented (to init or a subreaper), so a SIGKILLed driver leaves no worker computing on. Unlike a Linux
    parent-death signal this does not fire when merely the thread that spawned the worker ends, and it works on
    every POSIX system.
    """
    if os.getppid() != parent:  # the driver died before this worker started
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(1)  # no cleanup: the work's result has nowhere to go

    threading.Thread(target=watch, name="act-bench-parent-watch", daemon=True).start()


def die_with_spawning_thread() -> None:
    """Linux: the kernel sends this worker SIGKILL the moment the driver thread that started it ends (any signal,
    SIGKILL included), even when the machine is too busy, or the worker too deep in compiled code, to run the pid
    watch of :func:`exit_with_parent` promptly. Only for workers started from a thread that lives as long as they
    are needed (the driver's main thread, or the thread that drives an executor). Elsewhere it does nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


_PR_SET_PDEATHSIG = 1


def worker_signals(*, ignore: Iterable[signal.Signals] = (), default: Iterable[signal.Signals] = ()) -> None:
    """In a worker started under :func:`children_ignore`: ``ignore`` these signals, give ``default`` their default
    action (SIGINT: end at once, silently), and accept both again (the driver held them back while it started us)."""
    ignore, default = list(ignore), list(default)
    for s in ignore:
        signal.signal(s, signal.SIG_IGN)
    for s in default:
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, ignore + default)


@contextlib.contextmanager
def children_ignore(signals: Iterable[signal.Signals], *, hold: Iterable[signal.Signals] = ()) -> Iterator[None]:
    """While active, processes started from this thread ignore ``signals`` (a disposition they keep across
    ``exec``, so also a ``spawn`` worker before it has imported anything); this process's own handlers are back
    afterwards, and a signal that arrives meanwhile is held back and delivered to them (not lost). Signals in
    ``hold`` are held back too (the children keep their default action): e.g. a SIGTERM that would end this
    process while it still sends a new worker its start data (a worker that would then print a traceback).

    The new processes start with ``signals`` held back too: a worker calls :func:`worker_signals` once it is
    ready. Outside the main thread (where handlers cannot be changed) it does nothing.

    Examples
    --------
    >>> import signal, subprocess, sys
    >>> with children_ignore([signal.SIGINT]):
    ...     child = subprocess.run([sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT))"],
    ...                            capture_output=True, text=True)
    >>> child.stdout.strip()
    'Handlers.SIG_IGN'
    """
    signals = list(signals)
    if threading.current_thread() is not threading.main_thread() or not signals:
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals + list(hold))  # held back meanwhile
    # Setting SIG_IGN discards a signal that is already pending: one that arrived since the line above is
    # delivered now instead (its handler runs, e.g. KeyboardInterrupt, before any worker starts). A blocked signal
    # that arrives while SIG_IGN is set is kept pending (Linux never ignores a blocked signal) and is delivered to
    # the restored handler below. What remains is the instant between this check and signal() below.
    if set(signals) & signal.sigpending():
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.pthread_sigmask(signal.SIG_BLOCK, signals + list(hold))
    old = {s: signal.signal(s, signal.SIG_IGN) for s in signals}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


#: What :func:`init_pool_worker` received through its queue (in a pool worker): the pool's large shared state.
POOL_STATE: dict[str, object] = {}


def init_pool_worker(parent: int, main_thread: bool, queue=None,
                     ignore: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Initializer of a process pool whose workers die with their driver (``ProcessPoolExecutor(initializer=...)``).

    It lives in this light module on purpose: a spawned worker imports the initializer's module before running it,
    so its death watch is armed within milliseconds of its start, not after the seconds a heavy module (torch) can
    take to import on a busy machine. The worker ignores ``ignore`` (the driver decides: a stop reaches the whole
    group and the driver ends its workers), dies with the driver's thread that started it (``main_thread``: Linux
    parent-death signal) and with the driver's pid (``parent``), and then takes its state from ``queue`` (unpickling
    it may import heavy modules: the watch is already armed) into :data:`POOL_STATE` under ``"state"``.
    """
    worker_signals(ignore=ignore)
    if main_thread:
        die_with_spawning_thread()
    exit_with_parent(parent)
    if queue is not None:
        POOL_STATE["state"] = queue.get()


def quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (if it is not running) with its stderr on the null device.

    The tracker is a helper process that unlinks the named semaphores of processes that die without doing it. When
    a stop ends a pool while its workers start, it cleans up after them and then warns, at its own exit, about each
    semaphore it found ("leaked semaphore objects", "No such file or directory"): after the driver's one line. The
    cleanup is what matters and still happens; the warnings go nowhere. Called by the driver before it creates its
    first queue (the tracker starts once per process and inherits the stderr it has then).
    """
    from multiprocessing import resource_tracker

    with contextlib.suppress(AttributeError, ValueError, OSError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep quiet
        resource_tracker.ensure_running()
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_pool_teardown() -> None:
    """From now on, an exception in a thread of ``concurrent.futures.process`` or ``multiprocessing`` (a pool's
    manager thread, a queue's feeder thread) is not printed: the driver is ending the pool on a stop or an error,
    and these threads can meet the pipes it closed (``terminate_broken`` closing a reader already closed by
    ``shutdown``). Exceptions of every other thread are printed as before."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        module = type(args.thread).__module__ if args.thread is not None else ""
        if module.startswith(("concurrent.futures", "multiprocessing")):
            return
        previous(args)

    threading.excepthook = hook


def interrupt_message(message: str):
    """Decorator of a public API function: Ctrl-C inside it is re-raised from the API call itself as a plain
    :class:`KeyboardInterrupt` (a script still stops with status 130, ``except KeyboardInterrupt`` still catches it)
    whose message says what was stopped and how to go on (``message``, formatted with the call's arguments and
    ``self``), without the chain of internal frames the signal happened to land in. The function's own clean-up
    (``finally`` blocks, released jobs, closed journals) has run; a message already given by an inner API call is
    kept.

    Examples
    --------
    >>> @interrupt_message("counting stopped at {n}")
    ... def count(n):
    ...     raise KeyboardInterrupt
    >>> try:
    ...     count(n=3)
    ... except KeyboardInterrupt as exc:
    ...     print(type(exc).__name__, exc, exc.__suppress_context__)
    KeyboardInterrupt counting stopped at 3 True
    """
    import functools
    import inspect

    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except KeyboardInterrupt as exc:
                if exc.args and getattr(exc, "_act_bench_api", False):
                    raise
                try:
                    bound = signature.bind_partial(*args, **kwargs)
                    bound.apply_defaults()
                    text = message.format(**bound.arguments)
                except (TypeError, KeyError, IndexError, AttributeError, ValueError):
                    text = message
                stop = KeyboardInterrupt(text)
                stop._act_bench_api = True
                raise stop from None

        return wrapper

    return decorate
