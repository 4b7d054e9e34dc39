import pytest

from hepcourse.config import ConfigError
from hepcourse.roster import load_roster

ROSTER = """
instructors: [prof]
facilitators: [ta]
students: [alice, bob]
"""


def test_yaml_roster_roles_and_groups(write):
    roster = load_roster(write("roster.yaml", ROSTER))
    assert roster.users == {"prof", "ta", "alice", "bob"}
    assert tuple(roster.facilitators) == ("ta",) and "mallory" not in roster.users
    assert roster.groups("mlhep") == {
        "formgrade-mlhep": ["prof", "ta"],
        "nbgrader-mlhep": ["alice", "bob"],
        "instructors": ["prof"],
    }


def test_csv_roster_equals_yaml(write):
    csv = "username,role\nprof,instructor\nta,facilitator\nalice,student\nbob,Student\n"
    assert load_roster(write("roster.csv", csv)) == load_roster(write("roster.yaml", ROSTER))


def test_missing_roles_default_to_empty(write):
    roster = load_roster(write("roster.yaml", "instructors: [prof]\n"))
    assert roster.students == () and roster.facilitators == ()


def test_repo_roster_is_valid():
    from hepcourse.config import load_settings

    assert load_roster(load_settings(env={})["roster"]).instructors


@pytest.mark.parametrize(
    "text, expected",
    [
        ("instructors: [prof]\nstudents: [Alice Smith]\n", "students.0: 'Alice Smith' is not allowed: User name"),
        ("instructors: [prof]\nstudents: [a, a]\n", "has non-unique elements"),
        ("instructors: [prof]\nstudents: [prof]\n", "'prof' is listed as both instructor and student"),
        ("instructors: [prof]\nteachers: [x]\n", "Additional properties are not allowed ('teachers' was unexpected)"),
        ("students: [a]\n", "'instructors' is a required property"),
        ("instructors: []\nstudents: [a]\n", "instructors: [] should be non-empty"),
        ("instructors: prof\n", "instructors: 'prof' is not of type 'array'"),
        ("instructors: [prof\n", "not valid YAML"),
        ("just text\n", "expected a mapping"),
    ],
)
def test_malformed_roster_is_a_clear_error(write, text, expected):
    with pytest.raises(ConfigError) as err:
        load_roster(write("roster.yaml", text))
    assert expected in str(err.value)


def test_csv_errors(write):
    with pytest.raises(ConfigError, match="line 3: role 'teacher' is not one of"):
        load_roster(write("r.csv", "username,role\nprof,instructor\nx,teacher\n"))
    with pytest.raises(ConfigError, match="must name the columns"):
        load_roster(write("r2.csv", "name,kind\nprof,instructor\n"))
