"""The manual cannot drift: every console example in README.md and docs/ runs and prints what
the page says, and every pycon block is a doctest. The rules for writing them are in
tests/doc_examples.py (and docs/development.md, for writers).

Pages run two at a time, each in its own folder; a page's commands run in order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import click
import pytest

from tests.doc_examples import blocks, console_steps, line_pattern, matches, run_doctests, run_steps, sh_commands

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SAMPLES = "vidclass synth samples --per-class 2 --seed 7 --max-seconds 4 -q"  # the quick start's
RUN_PAGES = [p for p in PAGES if any(b.kind in ("console", "pycon") for b in blocks(p.read_text(encoding="utf-8")))]


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


class Workshop:
    """The folders the pages run in, the shell environment, and the pages' runs (futures)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name, exe in (("vidclass", f'"{sys.executable}" -m vidclass'), ("python", f'"{sys.executable}"')):
            (bin_dir / name).write_text(f'#!/bin/sh\nexec {exe} "$@"\n')
            (bin_dir / name).chmod(0o755)
        home = root / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDCLASS_") and "COLOR" not in k}
        env.update(
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",  # stdout and stderr reach the one pipe in the order written
            HOME=str(home),
            VIDCLASS_CACHE=str(home / "cache"),
            NO_COLOR="1",
            LC_ALL="C.UTF-8",
            TZ="UTC",
            HF_HUB_OFFLINE="1",
            CUDA_VISIBLE_DEVICES="",  # the examples show CPU runs, on every machine
        )
        self.env = env
        self._lock = threading.Lock()
        self._samples: Path | None = None
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._runs: dict[Path, Future[list]] = {}

    def samples(self) -> Path:
        with self._lock:
            if self._samples is None:
                where = self.root / "samples-made-once"
                where.mkdir()
                subprocess.run(["bash", "-c", SAMPLES], cwd=where, env=self.env, check=True, timeout=300)
                self._samples = where / "samples"
        return self._samples

    def folder(self, page: Path) -> Path:
        """A short path: eval's table title holds the dataset's absolute path, wrapped when it
        is longer than the table."""
        return self.root / f"p{PAGES.index(page)}"

    def _run(self, page: Path) -> list:
        folder = self.folder(page)
        folder.mkdir()
        if page != README:
            shutil.copytree(self.samples(), folder / "samples")
        return run_steps(console_steps(page), folder, self.env)

    def start(self, pages: list[Path]) -> None:
        for page in pages:
            self._runs[page] = self._pool.submit(self._run, page)

    def outcomes(self, page: Path) -> list:
        if page not in self._runs:
            self.start([page])
        return self._runs[page].result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def workshop(request):
    root = Path(tempfile.mkdtemp(prefix="vc-docs-", dir="/tmp" if os.path.isdir("/tmp") else None))
    shop = Workshop(root)
    selected = [
        item.callspec.params["page"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_page_examples"
    ]
    shop.start(selected)
    yield shop
    shop.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("page", RUN_PAGES, ids=page_id)
def test_page_examples(page, workshop, monkeypatch):
    outcomes = workshop.outcomes(page)
    failed = [o for o in outcomes if o.problem]
    if failed:
        pytest.fail(failed[0].report(), pytrace=False)
    assert len(outcomes) == len(console_steps(page))
    monkeypatch.chdir(workshop.folder(page))
    failures = run_doctests(page)
    if failures:
        pytest.fail(failures, pytrace=False)


def parse_vidclass(args: list[str]) -> None:
    """Parses ``vidclass ARGS`` as the command line would, without running it or checking values
    (the files an ``sh`` example names are not there); a ``click.UsageError`` if it cannot."""
    from vidclass.cli.main import main

    name = args[0] if args else ""
    command = main.get_command(click.Context(main), name)
    if command is None:
        raise click.UsageError(f"no such command {name!r}")
    parser = command.make_parser(click.Context(command, info_name=name))
    parser.parse_args(list(args[1:]))  # option names and arity only: values are converted later


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_sh_examples_name_real_commands_and_options(page):
    """``sh`` blocks are not run (a download, hours of training), but each ``vidclass`` line in
    them must parse: a renamed command or option fails here."""
    for line, args in sh_commands(page.read_text(encoding="utf-8")):
        try:
            parse_vidclass(args)
        except click.UsageError as exc:
            pytest.fail(f"{page.name}:{line}: vidclass {' '.join(args)}: {exc.format_message()}", pytrace=False)


def test_sh_lines_are_read_as_a_shell_would():
    page = "```sh\nfind x | vidclass predict - > r.jsonl  # a comment\nvidclass eval d -o out && vidclass report out\n```\n"
    assert sh_commands(page) == [(2, ["predict", "-"]), (3, ["eval", "d", "-o", "out"]), (3, ["report", "out"])]
    parse_vidclass(["predict", "-", "--precision", "fp32"])
    with pytest.raises(click.UsageError):
        parse_vidclass(["predict", "--no-such-option", "x.mp4"])
    with pytest.raises(click.UsageError):
        parse_vidclass(["predicts", "x.mp4"])


def test_every_option_is_on_its_commands_page():
    from vidclass.cli.main import main

    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        page = ROOT / "docs" / "commands" / f"{name}.md"
        assert page.is_file(), f"no page for vidclass {name}"
        text = page.read_text(encoding="utf-8")
        for param in main.get_command(ctx, name).params:
            names = [o for o in (*param.opts, *getattr(param, "secondary_opts", ())) if o.startswith("--")]
            if names and param.name != "help":
                mentioned = any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text) for o in names)
                assert mentioned, f"{page.name} does not mention {names}"


# --------------------------------------------------------------------------- the rules themselves


def test_placeholders_stand_for_volatile_fields_only():
    assert matches(["note: wrote 22 videos to samples in [..] s"], ["note: wrote 22 videos to samples in 12.4 s"])
    assert not matches(["in [..] s"], ["in  s"])  # a placeholder stands for something
    assert not matches(["in [..] s"], ["in 2.4 s, and more"])  # one run of non-blanks, not the rest of a line
    assert matches(["│ 12 │ [..] │"], ["│ 12 │     0.11s │"])  # blanks stretch on its line: a table row
    assert matches(["│ [..] videos/s    │"], ["│ 12.34 videos/s   │"])
    assert not matches(["│ 12 │  2.7s │"], ["│ 12 │ 2.7s │"])  # only on a line with a placeholder
    assert matches(['{"score": 0.92314…}'], ['{"score": 0.92314213514328}'])
    assert matches(['{"score": 0.92314…}'], ['{"score": 0.92314}'])
    assert not matches(['{"score": 0.92314…}'], ['{"score": 0.92312878}'])
    assert not matches(["a … b"], ["a x b"])  # an ellipsis after no digit is itself
    assert matches(["a … b"], ["a … b"])
    assert matches(["x   ", "", ""], ["x"])  # trailing blanks and empty lines do not count
    assert not matches(["x"], ["x", "y"])
    assert line_pattern("[..]").fullmatch("/tmp/a b") is None


def test_console_blocks_parse(tmp_path):
    page = tmp_path / "p.md"
    page.write_text('Text\n\n```console\n$ python -c "\nprint(1)\n"\n1\n$ echo \\\n  2\n2\n```\n')
    steps = console_steps(page)
    assert [(s.line, s.command, s.expected) for s in steps] == [
        (4, 'python -c "\nprint(1)\n"', ("1",)),
        (8, "echo \\\n  2", ("2",)),
    ]
    page.write_text("```console\noutput without a command\n```\n")
    with pytest.raises(ValueError, match="starts with a `\\$ ` command"):
        console_steps(page)


def test_a_failing_command_must_show_its_status(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("```console\n$ false\n$ echo $?\n1\n$ false\n```\n")
    outcomes = run_steps(console_steps(page), tmp_path, dict(os.environ))
    assert [o.problem for o in outcomes][:2] == [None, None]
    assert "does not show it" in outcomes[2].problem


# --------------------------------------------------------------------------- the front door


def test_readme_is_a_front_door():
    assert README.stat().st_size <= 12 * 1024


LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def _slug(heading: str) -> str:
    """Python-Markdown's (and so mkdocs') anchor for a heading."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def test_readme_links_lead_somewhere():
    for match in LINK.finditer(README.read_text(encoding="utf-8")):
        target = match["target"]
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (ROOT / path) if path else README
        assert file.exists(), f"README.md links to {target}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, f"README.md links to {target}: no such heading"


def test_the_manual_builds_strictly(tmp_path):
    """What `make docs` runs: a broken link or anchor, or a page left out of the nav, fails."""
    pytest.importorskip("mkdocs")  # the dev extra installs it
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "commands" / "report" / "index.html").is_file()
