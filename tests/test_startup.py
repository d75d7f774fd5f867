"""Start-up: ``import vidclass`` and every ``--help`` run without importing torch or a decoder.

Each check runs in a fresh interpreter, since this one has imported torch long ago. No
timings are asserted; ``sys.modules`` says what was imported.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import vidclass
from vidclass.cli.main import COMMANDS, main

HEAVY = ("torch", "torchvision", "decord", "av")


def python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON document as its last line."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def imported_by(*args: str) -> set[str]:
    """The modules ``python -m vidclass ARGS`` imports, from ``-X importtime``; asserts exit 0."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vidclass", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "vidclass.cli.main" in lines  # the format was understood
    return set(lines)


LOADED = f"import json, sys; print(json.dumps([m for m in {HEAVY + ('numpy',)!r} if m in sys.modules]))"


def test_import_vidclass_imports_no_torch():
    assert python(f"import vidclass\n{LOADED}") == []


def test_help_pages_import_no_torch():
    code = f"""
import io, json, sys
from click.testing import CliRunner
from vidclass.cli.main import main

pages = {{}}
for args in [["--help"], ["--version"]] + [[name, "--help"] for name in {sorted(COMMANDS)!r}]:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (args, result.output)
    assert result.output, args
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
"""
    assert python(code) == []


@pytest.mark.parametrize("args", [["--help"], ["predict", "--help"], ["eval", "--help"], ["--version"]])
def test_python_m_vidclass_help_imports_no_torch(args):
    loaded = imported_by(*args)
    assert not loaded & {*HEAVY, "numpy"}, sorted(loaded & {*HEAVY, "numpy"})


def test_a_command_imports_no_other_command():
    commands = {m.rsplit(".", 1)[-1] for m in imported_by("predict", "--help") if m.startswith("vidclass.cli.")}
    assert not commands & (set(COMMANDS) - {"predict"})


def test_help_lists_the_commands_without_importing_them():
    code = f"""
import json, sys
import click
from click.testing import CliRunner
from vidclass.cli.main import COMMANDS, main

def listing():
    return [CliRunner().invoke(main, ["--help"], terminal_width=width).output for width in (40, 80, 200)]

lazy = listing()
imported = sorted(m for m in sys.modules if m.startswith("vidclass.cli.") and m.rsplit(".", 1)[-1] in COMMANDS)
heavy = [m for m in {(*HEAVY, "numpy")!r} if m in sys.modules]
for name in COMMANDS:
    main.get_command(click.Context(main), name)
print(json.dumps({{"imported": imported, "heavy": heavy, "same": listing() == lazy}}))
"""
    # the summaries in COMMANDS give the same page as the commands' own help
    assert python(code) == {"imported": [], "heavy": [], "same": True}


def test_create_model_imports_torch_on_first_use():
    code = f"""
import json, sys
import vidclass
before = [m for m in {HEAVY!r} if m in sys.modules]
clf = vidclass.create_model("vivit-micro", labels=["a", "b"], seed=0)
print(json.dumps({{"before": before, "torch": "torch" in sys.modules, "labels": list(clf.labels),
                  "module": type(clf.model).__module__}}))
"""
    assert python(code) == {"before": [], "torch": True, "labels": ["a", "b"], "module": "vidclass.models.vivit"}


# --------------------------------------------------------------------------- the lazy public API


def test_public_names_resolve_to_their_definitions():
    from vidclass.checkpoints import create_model, load_model
    from vidclass.evaluation import evaluate, report
    from vidclass.inference import Predictor, predict
    from vidclass.protocol import Aggregate
    from vidclass.training import train

    for name in vidclass.__all__:
        assert getattr(vidclass, name) is not None, name
        assert name in dir(vidclass)
    assert vidclass.create_model is create_model and vidclass.load_model is load_model
    assert vidclass.Predictor is Predictor and vidclass.predict is predict and callable(vidclass.predict)
    assert vidclass.Aggregate is Aggregate
    assert (vidclass.train, vidclass.evaluate, vidclass.report) == (train, evaluate, report)
    assert isinstance(vidclass.__version__, str) and vidclass.__version__
    assert not hasattr(vidclass, "no_such_name")
    with pytest.raises(AttributeError, match="no_such_name"):
        vidclass.no_such_name  # noqa: B018


def test_subpackages_are_attributes_after_a_plain_import():
    names = sorted(m.name for m in pkgutil.iter_modules(vidclass.__path__) if m.name != "__main__")
    code = f"""
import json
import vidclass
print(json.dumps({{n: getattr(vidclass, n).__name__ for n in {names!r}}}))
"""
    assert python(code) == {n: f"vidclass.{n}" for n in names}
    assert python("import json, vidclass\nprint(json.dumps(vidclass.checkpoints.sources.__name__))") == (
        "vidclass.checkpoints.sources"
    )


def test_cli_choices_and_defaults_match_the_library():
    """The options are declared from vidclass.defaults or literals; they must say what the library does."""
    import click

    from vidclass.checkpoints import MODEL_ENV
    from vidclass.data import LAYOUTS
    from vidclass.defaults import DEFAULT_BATCH_SIZE, DEFAULT_TOP_K, DEVICES
    from vidclass.inference.workers import DEFAULT_TIMEOUT
    from vidclass.precision import PRECISIONS
    from vidclass.protocol import Aggregate
    from vidclass.video.decoders import DECODERS

    ctx = click.Context(main)
    for name in ("predict", "eval"):
        params = {p.name: p for p in main.get_command(ctx, name).params}
        assert tuple(params["aggregate"].type.choices) == tuple(a.value for a in Aggregate)
        assert tuple(params["precision"].type.choices) == PRECISIONS
        assert tuple(params["device"].type.choices) == DEVICES
        assert params["batch_size"].default == DEFAULT_BATCH_SIZE
        assert params["timeout"].default == DEFAULT_TIMEOUT
        assert params["top_k"].default == DEFAULT_TOP_K
        assert MODEL_ENV in params["model"].help
    predict = {p.name: p for p in main.get_command(ctx, "predict").params}
    assert tuple(predict["decoder"].type.choices) == DECODERS
    eval_ = {p.name: p for p in main.get_command(ctx, "eval").params}
    assert tuple(eval_["layout"].type.choices) == LAYOUTS
