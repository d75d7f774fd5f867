"""``python -m vidclass``: the same as the ``vidclass`` command.

Ctrl-C and SIGTERM are handled (``vidclass.cli.signals``) before click and the command line
are imported, so that one that comes while they load is one line too.
"""

if __name__ == "__main__":
    from vidclass.cli.signals import handled

    with handled():
        from vidclass.cli.main import main

        main(prog_name="vidclass")
