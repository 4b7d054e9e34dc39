"""Every environment variable the project reads, in one place (``hepcourse config docs`` prints
them after the settings; a test keeps the list complete)."""

from __future__ import annotations

ENVIRONMENT = {
    # Whoever runs the hub or a command.
    "HEPCOURSE_SETTINGS": "the settings file (default: hub/settings.yaml of the checkout)",
    "HEPCOURSE_MODE": "overrides the setting mode (local, docker, slurm, kubernetes)",
    "HEPCOURSE_PORT": "overrides the setting hub.port",
    "HEPCOURSE_STATE_DIR": "overrides the setting hub.state_dir (the systemd unit: /var/lib/hepcourse)",
    "HEPCOURSE_DATA_DIR": "the shared data folder (the hub sets it for every user from data.dir)",
    "HEPCOURSE_HELDOUT_DIR": "the grader-only held-out folder (default: heldout beside the data folder)",
    "HEPCOURSE_DATASETS": "a folder of dataset cards of your own instead of the packaged ones",
    "HEPCOURSE_SCALE": "the data scale that load() reads: ci, course or full",
    "HEPCOURSE_WORKERS": "processes that generate data (default: the CPU budget)",
    "HEPCOURSE_DEVICE": "the torch device course code uses (cpu, cuda, cuda:1; default: the best there is)",
    # Set by the hub in every user server.
    "HEPCOURSE_COURSE_ID": "the nbgrader course id (course.id)",
    "HEPCOURSE_EXCHANGE": "the nbgrader exchange folder",
    "HEPCOURSE_CONTENT": "the course folder that new homes get the modules from",
    "HEPCOURSE_CONTENT_EXCLUDE": "patterns (colon-separated) of files not copied into homes (content.exclude)",
    "HEPCOURSE_SOLUTIONS": "1: the home gets the seminars with their worked answers (the hub sets it for staff)",
    # Set by the autograder in a graded kernel.
    "HEPCOURSE_GRADING_INPUTS": "the folder of the held-out features a graded kernel may read",
}
