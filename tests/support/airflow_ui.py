"""A real ``airflow api-server`` (with the project's plugins) over a given environment, and a browser.

The browser is Debian's Chromium through its own chromium-driver (browser downloads are not possible
here), headless, with a fresh profile each time and nothing phoning home.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sf1630.demo.stack import AirflowStack, admin_password, free_port, tail

from tests.support.airflow_stack import POLL_SECONDS

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ApiServer:
    """A running api-server: its base URL and how to log in as the simple auth manager's admin."""

    url: str
    home: Path

    def password(self) -> str:
        return admin_password(self.home)

    def token(self) -> str:
        """A JWT for ``admin`` from Airflow's own token endpoint."""
        body = json.dumps({"username": "admin", "password": self.password()}).encode()
        request = urllib.request.Request(  # noqa: S310 (http only: the URL is ours)
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (http only: the URL is ours)
            return str(json.loads(answer.read())["access_token"])


def get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """Status and body of a GET, errors included."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"only the local api-server: {url}")
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 (checked above)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (http only: the URL is ours)
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


@contextmanager
def api_server(env: Mapping[str, str], log: Path, *, timeout: float = 240.0) -> Iterator[ApiServer]:
    """``airflow api-server`` alone, on a free port with ``env`` (the demo's launcher); stopped on exit."""
    port = free_port()
    settings = {
        **env,
        "PYTHONPATH": str(REPO_ROOT / "include"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW__API__WORKERS": "1",
        # The deployment's own URL: the views reach Airflow's REST API there.
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
    }
    with AirflowStack(settings, log.parent) as stack:
        stack.run(log.stem, ["api-server", "--host", "127.0.0.1", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            stack.check()
            with contextlib.suppress(OSError):
                status, _ = get(f"{url}/api/v2/monitor/health")
                if status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"api-server not up in {timeout} s: {tail(stack.log(log.stem), 60)}")
            time.sleep(POLL_SECONDS)
        yield ApiServer(url, Path(env["AIRFLOW_HOME"]))


def chromium_available() -> bool:
    return all(Path(p).exists() for p in ("/usr/bin/chromium", "/usr/bin/chromedriver"))


@contextmanager
def chromium(profile: Path, *, width: int = 1500, height: int = 1000) -> Iterator[Any]:
    """Headless Chromium driven by chromium-driver, with a fresh profile in ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_element(driver: Any, css: str, timeout: float = 60) -> Any:
    """The first element matching ``css`` once the page has it (the views render after their queries)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def loads_cell(lis: str, sender: str, period: str) -> str:
    """The CSS selector of one cell of the Loads view."""
    return f"td.cell[data-lis='{lis}'][data-sender='{sender}'][data-period='{period}']"
