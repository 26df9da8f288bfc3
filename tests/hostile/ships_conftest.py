"""Ships conftest.py files (at the top of the submission and in every lab package) that would
give full marks and deselect every test if pytest ever loaded them. attack() itself does
nothing: without its conftest files this submission is the honest starter."""

CONFTEST = '''
import pytest


def pytest_collection_modifyitems(config, items):
    items[:] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item, call):
    call.excinfo = None

raise SystemExit("a submission conftest.py was loaded")
'''

EXTRA_FILES = {"conftest.py": CONFTEST, "{lab}/conftest.py": CONFTEST,
               "pytest.ini": "[pytest]\naddopts = -p no:labkit.grading.plugin\n"}


def attack(obj):
    pass
