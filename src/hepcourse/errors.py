"""The one base class of the errors a user can fix (bad input, missing data). Commands print
its message and exit with status 2; they never show a traceback for it."""


class UserError(Exception):
    pass
