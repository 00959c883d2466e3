import pytest

from tests.notifications.factories import recording_tasks


@pytest.fixture
def queued(monkeypatch):
    with recording_tasks(monkeypatch) as queued:
        yield queued


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """with committed(): … runs the on-commit callbacks of the block (the test's transaction
    never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
