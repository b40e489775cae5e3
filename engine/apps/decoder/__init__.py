"""Training the decoder (spotdiff.analysis.decoder): episodes with known answers, and ``spotdiff train-decoder``."""
