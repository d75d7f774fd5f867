"""How a library error that reaches the command line becomes an error line and an exit status."""

from __future__ import annotations

from unittest import mock

import pytest
from click.testing import CliRunner

from vidclass.cli.main import main
from vidclass.cli.output import CliError
from vidclass.errors import EXIT_FAILED_INPUT, EXIT_USAGE, InputError, VidclassError


@pytest.mark.parametrize(("error", "status"), [(VidclassError, EXIT_USAGE), (InputError, EXIT_FAILED_INPUT)])
def test_a_vidclass_error_keeps_its_exit_status(error, status):
    converted = CliError.from_exception(error("two\nlines"))
    assert (converted.exit_code, converted.format_message()) == (status, "two lines")


def test_any_other_exception_is_a_usage_error():
    converted = CliError.from_exception(ValueError("no"), "--flag: no")
    assert (converted.exit_code, converted.format_message()) == (EXIT_USAGE, "--flag: no")


@pytest.mark.parametrize(("error", "status"), [(VidclassError, EXIT_USAGE), (InputError, EXIT_FAILED_INPUT)])
def test_a_vidclass_error_no_command_handles_is_one_line(error, status, tmp_path):
    with mock.patch("vidclass.evaluation.report", side_effect=error("bad  thing\nhere")):
        result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == status
    assert result.stderr == "error: bad thing here\n"
    assert result.stdout == ""
