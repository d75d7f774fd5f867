"""The bundled model files.

In the repository this is the top-level ``weights/`` folder; ``pyproject.toml`` installs it as
the package ``vidclass.weights``, so that a wheel carries the files and an editable install
reads these very files. Code finds them with ``importlib.resources``, never by a path relative
to the checkout.
"""
