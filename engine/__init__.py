"""spotdiff engine: how do two sets of images differ? No Qt here."""
