"""hepcourse: the ML-for-HEP course platform (hub configuration, course content, data, grading)."""

__version__ = "0.1.0"
