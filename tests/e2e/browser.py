"""Helpers for the browser tests: headless Debian Chromium driven by Playwright (no browser download), and the
real `pulumi login` run interactively in a pseudo-terminal, with a recording `xdg-open` that captures the URL the
CLI would open in a browser."""

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Flags from the machine notes: without the background-networking ones, Chromium's connections to Google's hosts
# are refused by this closed network, many at a time.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


class InteractiveLogin:
    """`pulumi login <url>` with no token, in a terminal, as a person would run it."""

    def __init__(self, server_url, workdir: Path):
        self.url_file = workdir / "opened-url"
        bin_dir = workdir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        opener = bin_dir / "xdg-open"
        opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{self.url_file}"\n')
        opener.chmod(0o755)
        host = server_url.removeprefix("http://")
        # A clean environment: the CLI is only interactive outside CI, and CI variables would say otherwise.
        self.env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HOME": str(workdir),
            "PULUMI_HOME": str(workdir / "pulumi-home"),
            "PULUMI_CONSOLE_DOMAIN": host,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "TERM": "xterm",
        }
        self.server_url = server_url
        self.output = ""
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe("pulumi", ["pulumi", "login", server_url], self.env)
        self.pid, self.fd = pid, fd

    def read_until(self, pattern, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, ANSI.sub("", self.output), re.I):
                return
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    break
        raise AssertionError(f"the CLI never printed {pattern!r}:\n{ANSI.sub('', self.output)}")

    def press_enter(self):
        os.write(self.fd, b"\r")

    def opened_url(self, timeout=30):
        deadline = time.time() + timeout
        nudge = time.time() + 5
        while time.time() < deadline:
            if self.url_file.exists() and self.url_file.read_text().strip():
                return self.url_file.read_text().strip()
            self.drain()
            if time.time() > nudge and "Waiting for login" not in self.output:
                # The prompt may not have been reading yet when Enter arrived: press it again.
                self.press_enter()
                nudge = time.time() + 5
            time.sleep(0.2)
        raise AssertionError(f"the CLI opened no browser:\n{ANSI.sub('', self.output)}")

    def drain(self):
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0)
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk.decode(errors="replace")

    def wait(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.drain()
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.drain()
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.2)
        os.kill(self.pid, 9)
        raise AssertionError(f"pulumi login did not finish:\n{ANSI.sub('', self.output)}")

    def whoami(self):
        p = subprocess.run(["pulumi", "whoami", "-v", "--non-interactive"], env=self.env, capture_output=True,
                           text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr
