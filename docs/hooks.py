"""MkDocs hook: the docstrings' Sphinx roles (``:func:`name```) shown as plain code in the API
pages, since mkdocstrings renders the role's text as it is."""

import re

ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):(?=<code>)")


def on_page_content(html: str, **kwargs: object) -> str:
    """Drop the role before each ``<code>`` it marks."""
    return ROLE.sub("", html)
