"""The command-line interface (``vidclass``); output decisions live in ``vidclass.cli.output``."""
