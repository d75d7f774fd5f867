"""``python -m vidclass``: the same as the ``vidclass`` command."""

from vidclass.cli.main import main

if __name__ == "__main__":
    main(prog_name="vidclass")
