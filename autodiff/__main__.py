"""``python -m autodiff``: the ``autodiff`` command (see :mod:`autodiff.cli`)."""

from autodiff.cli import main

raise SystemExit(main())
