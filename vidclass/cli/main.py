"""The ``vidclass`` command: ``predict``, ``models`` and ``info``."""

from __future__ import annotations

import click

from vidclass import __version__
from vidclass.cli.convert import convert_command
from vidclass.cli.eval import eval_command
from vidclass.cli.info import info_command
from vidclass.cli.models import models_command
from vidclass.cli.predict import predict_command
from vidclass.cli.report import report_command
from vidclass.cli.synth import synth_command
from vidclass.cli.train import train_command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="vidclass")
def main() -> None:
    """Label local video files with ViViT models.

    Results go to stdout, progress and errors to stderr. Exit status: 0 when every input
    worked, 1 when any input failed, 2 for usage errors.
    """


main.add_command(predict_command)
main.add_command(models_command)
main.add_command(info_command)
main.add_command(eval_command)
main.add_command(report_command)
main.add_command(convert_command)
main.add_command(synth_command)
main.add_command(train_command)


__all__ = ["main"]
