"""The examples in README.md and docs/: found, run and compared with what the page says.

The rules (docs/development.md#the-examples-are-tests says the same for writers):

- A fenced block whose info string is ``console`` is an example. A line starting with ``$ ``
  is a command; it goes on over the next lines while its quotes are open or it ends with a
  backslash. Every other line, up to the next command, is what the command prints: stdout
  and stderr together, in the order a terminal shows them.
- A page's examples run in order, as one shell session, in a fresh folder with a short path
  (eval's table title holds the dataset's absolute path). On every page but README.md that
  folder already holds ``samples/``: the quick start's 22 videos
  (``vidclass synth samples --per-class 2 --seed 7 --max-seconds 4``).
- Each command runs under ``bash -o pipefail``, with ``vidclass`` and ``python`` on PATH,
  stdout and stderr on one pipe (not a terminal: a table needs ``--format table``),
  ``NO_COLOR`` set, no ``$VIDCLASS_MODEL`` and no GPU (tests/test_docs.py sets this up). A command that exits non-zero must be followed
  by ``$ echo $?``, which shows the status.
- Output is compared exactly, line by line, after trailing blanks are stripped from every
  line and trailing empty lines are dropped. Two placeholders, and nothing else, stand for
  what changes from run to run or machine to machine:

  - ``[..]`` matches one run of non-blank characters (a time, a rate, an absolute path). On a
    line that holds one, every run of blanks matches any run of blanks (one at least), so a
    table row keeps its shape when the value is wider or narrower than written.
  - ``…`` right after a number's digits (``0.92314…``) matches a number that starts with
    those digits and goes on with more: the digits that differ in the last place between
    CPUs. ``…`` anywhere else is itself.

- A fenced ``pycon`` block is a doctest (``>>>`` and ``...`` prompts, output compared exactly,
  no option flags). A page's ``pycon`` blocks run after its console examples, in one
  namespace, in the same folder.
- Blocks of any other kind (``sh``, ``python``, ``json``, ``text``) are not run. In ``sh``
  blocks, each ``vidclass`` command is parsed (``sh_commands``): its command and option names
  must exist.
"""

from __future__ import annotations

import doctest
import io
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)\s*(?P<info>[^\s`]*)")
PLACEHOLDER = "[..]"
TRUNCATED = re.compile(r"(\d)…")
PROMPT = "$ "
STATUS_COMMAND = "echo $?"


@dataclass(frozen=True)
class Step:
    """One command of a console example and the lines it should print."""

    page: Path
    line: int  # of the command, 1-based
    command: str
    expected: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page.name}:{self.line}"


@dataclass(frozen=True)
class Block:
    kind: str  # the fence's info string
    line: int  # of the first line inside the fence, 1-based
    lines: tuple[str, ...]


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a markdown page, dedented by their fence's indent."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            line = lines[j]
            body.append(line[indent:] if line[:indent] == " " * indent else line.lstrip())
            j += 1
        found.append(Block(match["info"], i + 2, tuple(body)))
        i = j + 1
    return found


def _incomplete(command: str) -> bool:
    if command.endswith("\\"):
        return True
    try:
        shlex.split(command)
    except ValueError:  # a quote still open: the command goes on on the next line
        return True
    return False


def steps(page: Path, block: Block) -> list[Step]:
    """A console block's commands with their expected output."""
    found: list[Step] = []
    lines, i = block.lines, 0
    while i < len(lines):
        if not lines[i].startswith(PROMPT):
            raise ValueError(f"{page.name}:{block.line + i}: a console block starts with a `$ ` command")
        start, command = i, lines[i][len(PROMPT) :]
        i += 1
        while _incomplete(command):
            if i == len(lines):
                raise ValueError(f"{page.name}:{block.line + start}: the command never ends (an open quote?)")
            command += "\n" + lines[i]
            i += 1
        expected: list[str] = []
        while i < len(lines) and not lines[i].startswith(PROMPT):
            expected.append(lines[i])
            i += 1
        found.append(Step(page, block.line + start, command, tuple(expected)))
    return found


def console_steps(page: Path) -> list[Step]:
    return [s for b in blocks(page.read_text(encoding="utf-8")) if b.kind == "console" for s in steps(page, b)]


# --------------------------------------------------------------------------- comparing


def _normalised(lines: Sequence[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def _literal(text: str, stretch: bool) -> str:
    """``text`` as a regular expression: ``digits…`` matches more digits; with ``stretch``, a
    run of blanks matches any run of blanks."""
    pattern = ""
    for k, part in enumerate(TRUNCATED.split(text)):  # [before, digit, between, digit, ..., after]
        if k % 2:
            pattern += re.escape(part) + r"\d*"
        elif stretch:
            pattern += " +".join(re.escape(chunk) for chunk in re.split(r" +", part))
        else:
            pattern += re.escape(part)
    return pattern


def line_pattern(expected: str) -> re.Pattern[str]:
    """The regular expression an expected line stands for."""
    stretch = PLACEHOLDER in expected
    return re.compile(r"\S+".join(_literal(piece, stretch) for piece in expected.split(PLACEHOLDER)))


def matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    want, got = _normalised(expected), _normalised(actual)
    if len(want) != len(got):
        return False
    for w, g in zip(want, got, strict=True):
        if w == g:
            continue
        if (PLACEHOLDER in w or "…" in w) and line_pattern(w).fullmatch(g):
            continue
        return False
    return True


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    step: Step
    status: int
    output: tuple[str, ...]
    problem: str | None  # None when the step printed what the page says

    def report(self) -> str:
        lines = [f"{self.step.where}: {self.problem}", f"$ {self.step.command}", "--- the page says:"]
        lines += self.step.expected
        lines += [f"--- it printed (exit status {self.status}):", *self.output]
        return "\n".join(lines)


def run_steps(all_steps: Sequence[Step], folder: Path, env: Mapping[str, str], timeout: float = 300) -> list[Outcome]:
    """Runs the commands in order in ``folder``; stops at the first that goes wrong."""
    outcomes: list[Outcome] = []
    status = 0
    for k, step in enumerate(all_steps):
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", f"(exit {status}); {step.command}"],
            cwd=folder,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
        status = done.returncode
        output = tuple(done.stdout.decode("utf-8", "backslashreplace").splitlines())
        problem = None
        if not matches(step.expected, output):
            problem = "the output differs from the page"
        elif status != 0 and (k + 1 == len(all_steps) or all_steps[k + 1].command != STATUS_COMMAND):
            problem = f"exit status {status}, and the page does not show it with `$ {STATUS_COMMAND}`"
        outcomes.append(Outcome(step, status, output, problem))
        if problem:
            break
    return outcomes


def run_doctests(page: Path) -> str | None:
    """The page's ``pycon`` blocks as one doctest, in the current folder; the failures, or None."""
    text = page.read_text(encoding="utf-8")
    kept = [""] * len(text.splitlines())  # other lines blanked, so line numbers stay the page's
    for block in blocks(text):
        if block.kind == "pycon":
            for k, line in enumerate(block.lines):
                kept[block.line - 1 + k] = line
    test = doctest.DocTestParser().get_doctest("\n".join(kept), {}, page.name, str(page), 0)
    if not test.examples:
        return None
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.REPORT_UDIFF)
    result = runner.run(test, out=report.write, clear_globs=True)
    return report.getvalue() if result.failed else None


SHELL_OPERATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = {">", ">>", "<", "2>", "&>"}


def sh_commands(text: str) -> list[tuple[int, list[str]]]:
    """The ``vidclass`` command lines in a page's ``sh`` blocks: (line, arguments after
    ``vidclass``), with comments, pipes and redirections taken off."""
    found: list[tuple[int, list[str]]] = []
    for block in blocks(text):
        if block.kind != "sh":
            continue
        for k, line in enumerate(block.lines):
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words, command = list(lexer), []
            for i, word in enumerate([*words, ";"]):
                if word in SHELL_OPERATORS or (i and words[i - 1] in REDIRECTS):
                    if command[:1] == ["vidclass"]:
                        found.append((block.line + k, command[1:]))
                    command = []
                elif word not in REDIRECTS:
                    command.append(word)
    return found
