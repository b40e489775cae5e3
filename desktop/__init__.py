"""spotdiff desktop app (PySide6): drag two image sets in, watch the engine work, read and judge its findings.

Talks to the engine through its public API (``spotdiff.__all__``) only. The GUI thread never waits
on the engine: long work is a generator of Progress driven by :class:`spotdiff.gui.jobs.Job` on a worker
thread; cancel stops iterating and closes it.

    spotdiff-gui [SET_A SET_B]
"""
