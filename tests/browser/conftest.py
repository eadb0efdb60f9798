"""Browser tests: the real web and worker processes, driven by headless Chromium through Playwright.

`live_server` starts `uvicorn app.main:create_app` and `saq tasks.worker.settings` as subprocesses
on the test database and Redis prefix that tests/conftest.py set up, so the browser talks to the
application exactly as a person would (sessions, CSRF, htmx, server-sent events, scheduled jobs).

The tests are synchronous (`def test_...`): Playwright's sync API refuses to run inside the
event loop that pytest-asyncio gives async tests. Async fixtures (`world`) still work for them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
STARTUP_TIMEOUT = 60.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed: sudo apt-get install -y chromium")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


@dataclass
class LiveServer:
    url: str
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def logs(self, tail: int = 20_000) -> str:
        parts = []
        for name in self.processes:
            path = self.log_path(name)
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            if len(text) > tail:
                text = "…" + text[-tail:]
            parts.append(f"===== {name} ({path}) =====\n{text}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}\n{self.logs()}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_until_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}: {exc.read()[:500]!r}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(
        f"{server.url}/health did not answer 200 within {STARTUP_TIMEOUT:.0f} s (last: {last_error})\n{server.logs()}"
    )


# Package scope (shared by every browser test, stopped when tests/browser is done): the subprocess
# worker consumes the same SAQ queue and runs the same cron sweeps on the same test database as the
# in-process `worker` fixture of the other tests, so it must not outlive this directory.
@pytest.fixture(scope="package")
def live_server(database: str) -> Iterator[LiveServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = Path(tempfile.mkdtemp(prefix="zavod-live-"))
    env = dict(os.environ, BASE_URL=url, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    commands = {
        "web": [
            str(VENV_BIN / "uvicorn"),
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        "worker": [str(VENV_BIN / "saq"), "tasks.worker.settings"],
    }
    server = LiveServer(url=url, log_dir=log_dir)
    try:
        for name, command in commands.items():
            log = open(server.log_path(name), "wb")  # noqa: SIM115 - the child keeps writing to it
            server.processes[name] = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            log.close()
        _wait_until_healthy(server)
        yield server
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
    server = getattr(item, "funcargs", {}).get("live_server")
    if report.failed and isinstance(server, LiveServer):
        report.sections.append(("live server logs", server.logs()))


@pytest.fixture
def browser_page(request: pytest.FixtureRequest, live_server: LiveServer):
    """A fresh Chromium page. Uncaught JavaScript errors are collected in `page.js_errors`, responses
    with a 5xx status in `page.server_errors` ("500 GET http://…")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.js_errors = []  # type: ignore[attr-defined]
        page.server_errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))  # type: ignore[attr-defined]
        page.on(
            "response",
            lambda response: (
                response.status >= 500
                and page.server_errors.append(  # type: ignore[attr-defined]
                    f"{response.status} {response.request.method} {response.url}"
                )
            ),
        )
        try:
            yield page
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                try:
                    page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
                except Exception:  # noqa: BLE001 - best effort, the failure itself matters
                    pass
            context.close()
            browser.close()


@pytest.fixture
def screenshot(browser_page) -> callable:
    """screenshot("inbox") saves test-artifacts/screenshots/inbox.png of the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        browser_page.screenshot(path=str(path), full_page=full_page)
        return path

    return take
