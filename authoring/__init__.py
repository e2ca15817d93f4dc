"""Authoring tools for the practicaltorch course: run from a checkout, never installed.

- :mod:`authoring.notebooks`: exercise and solution notebooks from one lesson source;
- :mod:`authoring.site`: the website and both slide decks as static files;
- :mod:`authoring.executed`: the site build's own cache of executed solutions.

Run them as ``python -m authoring notebooks build [--check] [--only NN]`` and
``python -m authoring site build``. They need the ``dev`` or ``site`` extra
(``pip install -e ".[dev,site]"``). They may import :mod:`practicaltorch`;
nothing in :mod:`practicaltorch` imports them.
"""
