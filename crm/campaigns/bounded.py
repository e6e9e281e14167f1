"""Rendering a template in a child process, with time, memory and output bounds.

A template is staff-written code that runs once per customer. The sandbox
(rapport.crm.campaigns.templates) stops it reaching Python's internals, but
not from looping for hours, building a 400 MB string or writing a novel.
So every render runs in a worker process (`BoundedRenderer`), which:

- has a time limit per message (`RAPPORT_TEMPLATE_TIME_LIMIT_MS`, default
  100 ms): CPU time inside the worker, so a busy machine does not fail a
  good template, enforced by a timer signal that stops the render between
  two Python steps; and wall time in the parent, ten times that (at least
  1 s), after which the worker is killed, for what no signal interrupts;
- runs under an address-space limit (`RLIMIT_AS`, `MEMORY_BOUND` above what
  the worker needed to start), so a huge string fails with MemoryError in
  the worker, never in the dispatcher;
- counts the output while it is produced and stops at `MAX_OUTPUT_CHARS`.

Each failure is a `TemplateLimit` (a `TemplateProblem`) naming the bound; a
killed or crashed worker is replaced on the next render. Workers start with
`python -m`, never a fork of a process with threads, and only when a first
render needs one: importing this module starts nothing, so
the CLI stays quick (tests/bot/cli/test_cli_start.py).

One worker per process, used under a lock: renders are short and the
dispatcher renders one batch at a time; a template over its limit costs its
limit once per batch, because the dispatcher then pauses its campaign
(rapport.crm.dispatch.dispatcher).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Any

from rapport.crm.campaigns.templates import MAX_OUTPUT_CHARS, TemplateProblem

log = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = 0.1
"""Seconds of rendering one message may take (RAPPORT_TEMPLATE_TIME_LIMIT_MS)."""
MEMORY_BOUND = 256 * 1024 * 1024
"""Bytes of address space a render may add to what the worker needed to start."""
START_TIMEOUT = 60.0
"""Seconds a new worker may take to start (imports on a loaded machine)."""


class TemplateLimit(TemplateProblem):
    """A template went over a bound (time, memory or output) while rendering."""


def _hard_limit(time_limit: float) -> float:
    return max(1.0, time_limit * 10)


# --- in the worker ----------------------------------------------------------------------


class _OutOfTime(BaseException):
    """Raised by the timer signal; a BaseException, so no `except Exception` in Jinja's
    or the template's path swallows it."""


def _set_memory_bound() -> None:
    try:
        import resource

        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[0])
        now = pages * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (now + MEMORY_BOUND, now + MEMORY_BOUND))
    except (ImportError, OSError, ValueError) as exc:  # not Linux: the wall-time kill remains
        log.debug("no memory bound for template rendering: %s", exc)


def _render_bounded(source: str, context: Mapping[str, Any], time_limit: float) -> str:
    import signal

    from rapport.crm.campaigns.templates import compiled_template, explain

    def out_of_time(_signum: int, _frame: Any) -> None:
        raise _OutOfTime

    signal.signal(signal.SIGPROF, out_of_time)
    parts: list[str] = []
    size = 0
    try:
        template = compiled_template(source)
        signal.setitimer(signal.ITIMER_PROF, time_limit)
        try:
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateLimit(
                        f"the rendered message is longer than {MAX_OUTPUT_CHARS:,} characters"
                    )
                parts.append(chunk)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except _OutOfTime:
        raise TemplateLimit(
            f"the template took longer than {time_limit * 1000:.0f} ms to render one message"
        ) from None
    except MemoryError:
        parts.clear()
        raise TemplateLimit("the template used too much memory while rendering") from None
    except TemplateProblem:
        raise
    except Exception as exc:
        raise explain(exc) from None
    return "".join(parts)


def _read_frame(stream: IO[bytes]) -> Any:
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError
    size = int.from_bytes(head, "big")
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return json.loads(body)


def _write_frame(stream: IO[bytes], value: Any) -> None:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    stream.write(len(body).to_bytes(4, "big") + body)
    stream.flush()


def _worker_main() -> None:
    """The worker's loop on stdin/stdout: [source, context, limit] in, [kind, text] out."""
    import signal

    import rapport.crm.campaigns.templates  # noqa: F401  (imported before the bound)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the replies
    _set_memory_bound()
    _write_frame(stdout, ["ready", ""])
    while True:
        try:
            source, context, time_limit = _read_frame(stdin)
        except (EOFError, OSError, ValueError):
            return
        try:
            reply = ["ok", _render_bounded(source, context, time_limit)]
        except TemplateLimit as exc:
            reply = ["limit", str(exc)]
        except TemplateProblem as exc:
            reply = ["problem", str(exc)]
        except MemoryError:
            reply = ["limit", MEMORY_REASON]
        except BaseException as exc:  # the worker must answer, whatever happened
            reply = ["problem", f"template error: {type(exc).__name__}"]
        try:
            _write_frame(stdout, reply)
        except MemoryError:
            _write_frame(stdout, ["limit", MEMORY_REASON])


MEMORY_REASON = "the template used too much memory while rendering"


# --- in the parent ----------------------------------------------------------------------


class BoundedRenderer:
    """One worker process and the lock that shares it between threads.

    The worker is a plain `python -m rapport.crm.campaigns.bounded` with pipes,
    not a multiprocessing child: it never re-imports the parent's main module
    (a script without a `__main__` guard would start again) and never forks a
    process that has threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.time_limit = DEFAULT_TIME_LIMIT

    def render(
        self, source: str, context: Mapping[str, Any], *, time_limit: float | None = None
    ) -> str:
        """The rendered text, or TemplateProblem (TemplateLimit for a bound) saying why not."""
        limit = self.time_limit if time_limit is None else time_limit
        too_slow = f"the template took longer than {limit * 1000:.0f} ms to render one message"
        with self._lock:
            process = self._worker()
            assert process.stdin is not None and process.stdout is not None
            try:
                _write_frame(process.stdin, [source, dict(context), limit])
            except (OSError, ValueError, TypeError) as exc:
                self._stop()
                raise TemplateProblem(f"template error: {type(exc).__name__}") from None
            ready, _, _ = select.select([process.stdout], [], [], _hard_limit(limit))
            if not ready:
                self._stop()
                log.warning("a template render was stopped after %.1f s", _hard_limit(limit))
                raise TemplateLimit(too_slow)
            try:
                kind, text = _read_frame(process.stdout)
            except (EOFError, OSError, ValueError):
                self._stop()
                raise TemplateLimit(f"{MEMORY_REASON} (its worker died)") from None
        if kind == "ok":
            return str(text)
        if kind == "limit":
            raise TemplateLimit(text)
        raise TemplateProblem(text)

    def _worker(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "rapport.crm.campaigns.bounded"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            start_new_session=False,
        )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        try:
            first = _read_frame(process.stdout) if ready else None
        except (EOFError, ValueError):
            first = None
        if first != ["ready", ""]:
            process.kill()
            process.wait(5)
            raise TemplateProblem("the template renderer did not start")
        log.debug("template worker started in %.2f s", time.monotonic() - started)
        self._process = process
        return process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(Exception):
            process.kill()
        with contextlib.suppress(Exception):
            process.wait(5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    def close(self) -> None:
        """Stop the worker (at exit, or when a process is done rendering)."""
        with self._lock:
            self._stop()


_renderer: BoundedRenderer | None = None
_renderer_lock = threading.Lock()


def renderer() -> BoundedRenderer:
    """The process's renderer, made on first use."""
    global _renderer
    with _renderer_lock:
        if _renderer is None:
            _renderer = BoundedRenderer()
            atexit.register(_renderer.close)
        return _renderer


def set_time_limit(seconds: float) -> None:
    """The per-message time limit from the settings (the composition root calls it)."""
    renderer().time_limit = seconds


if __name__ == "__main__":
    _worker_main()
