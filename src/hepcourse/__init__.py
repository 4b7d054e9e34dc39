"""hepcourse: the ML-for-HEP course platform (hub configuration, course content, data, grading)."""

__version__ = "0.1.0"

import sys

# jsonschema (through nbformat, or our own schemas) imports rfc3987_syntax, when installed, only
# to check the "iri" string format, which no schema here uses; that import compiles a grammar
# for 1-2 s in every process. The locks leave it out (requirements-excluded.txt); this covers
# hepcourse's processes in an environment that has it anyway (a pip install that resolved it).
sys.modules.setdefault("rfc3987_syntax", None)
