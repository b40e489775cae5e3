"""How spotdiff's compute libraries wait for work, set before any of them loads.

PyTorch and scikit-learn run their parallel loops on GNU OpenMP, whose threads by default spin for a while
(hundreds of thousands of iterations) when they run out of work, waiting for the next loop. On a machine
with cores to spare that saves a wake-up; beside another busy process on a small machine it is ruinous:
a thread that spins holds a core the other process, or the one thread of its own loop still working,
needs, and a compare that should take twice as long took twenty times as long. With ``OMP_WAIT_POLICY=PASSIVE``
an idle thread sleeps at once instead.

OpenMP reads the variable once, when its library is loaded, so this module is imported by ``spotdiff``
before anything that loads torch, scikit-learn or faiss; a value the user set is kept. A program that
imported torch before spotdiff keeps the wait policy it started with; processes started after it (spotdiff's
workers among them) inherit the variable.
"""

from __future__ import annotations

import os
from typing import MutableMapping

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def set_defaults(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set each of :data:`DEFAULTS` in ``environ`` that is not set there yet.

    Parameters
    ----------
    environ : the environment to change (the process's own by default)

    Returns
    -------
    dict
        the variables this call set, with their values (empty when the user had set them all)
    """
    added = {name: value for name, value in DEFAULTS.items() if name not in environ}
    environ.update(added)
    return added


set_defaults()
