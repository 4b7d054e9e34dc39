"""Grading: the nbgrader course, its sandboxed parallel autograde and the facilitator CLI."""
