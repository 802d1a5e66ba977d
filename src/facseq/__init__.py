"""Stage One of FacialMMT: find the real speaker's face sequence in MELD utterance clips."""

__version__ = "0.1.0"
