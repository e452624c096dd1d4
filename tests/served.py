"""Fresh web projects built from the README's own snippets, served as their own processes."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]


def readme_blocks(heading: str) -> list[str]:
    """The code blocks of one README section, as a newcomer would copy them."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index(f"{heading}\n") + 1
    section, fenced = [], False
    for line in lines[start:]:
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("#"):
            break
        section.append(line)
    return re.findall(r"```[a-z]*\n(.*?)```", "".join(section), re.S)


def django_project(tmp_path: Path) -> Path:
    """``django-admin startproject mysite .`` plus the README's settings and urls snippets."""
    project = tmp_path / "django-project"
    project.mkdir()
    admin = Path(sys.executable).with_name("django-admin")
    subprocess.run([str(admin), "startproject", "mysite", "."], cwd=project, check=True)
    settings_block, urls_block = readme_blocks("### Django")[:2]
    with open(project / "mysite" / "settings.py", "a", encoding="utf-8") as out:
        out.write("\n" + settings_block)
    with open(project / "mysite" / "urls.py", "a", encoding="utf-8") as out:
        out.write("\n" + urls_block)
    return project


def manage(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=project, env=env, capture_output=True, text=True
    )


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start ``argv`` in ``cwd`` and wait until ``url + probe`` answers."""
    started: list[Served] = []

    def start(
        argv: Sequence[str], *, cwd: Path, env: dict[str, str], url: str, probe: str = "/"
    ) -> Served:
        log = tmp_path / f"served-{len(started)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        served = Served(proc, url, log)
        started.append(served)

        def up() -> bool:
            try:
                httpx.get(url + probe, timeout=2)
            except httpx.TransportError:
                return False
            return True

        try:
            wait_until(up, 60, f"{argv[0]} to answer", alive=[proc])
        except Exception:
            raise AssertionError(f"it did not start:\n{served.output()[-3000:]}") from None
        return served

    yield start
    for served in started:
        served.proc.terminate()
        try:
            served.proc.wait(10)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait(10)
