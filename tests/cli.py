"""Running `vidclass` in tests, in-process: in a work folder, with no bundled model in reach and
none of the caller's model or colour settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import vidclass.checkpoints.sources
from vidclass.cli.main import main

CLEAN_ENV = {"VIDCLASS_MODEL": None, "NO_COLOR": None, "FORCE_COLOR": None}


def cli_in(work: Path, monkeypatch: pytest.MonkeyPatch, **env: str | None) -> Callable[..., Result]:
    """``invoke(*args, input=None, env=None)`` runs ``vidclass ARGS`` in ``work``; ``env`` adds
    to the clean environment (``None`` unsets a variable)."""
    monkeypatch.chdir(work)
    monkeypatch.setattr(vidclass.checkpoints.sources, "weights_dir", lambda: work / "weights")
    runner = CliRunner()
    base = {**CLEAN_ENV, **env}

    def invoke(*args: str, input: str | None = None, env: dict | None = None) -> Result:
        return runner.invoke(main, list(args), input=input, env={**base, **(env or {})})

    return invoke
