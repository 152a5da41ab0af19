"""report.git_commit: the checkout's commit, or $SGGFT_COMMIT for a copy of the tree without .git."""

import subprocess

from sggft_meta.report import git_commit


def test_commit_of_a_checkout_wins_over_the_variable(monkeypatch):
    monkeypatch.setenv("SGGFT_COMMIT", "not-this")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if not head:  # the tests run from a copy without .git: nothing to compare against
        return
    assert git_commit() == head


def test_outside_a_checkout_the_variable_names_the_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # git must not find a repo above tmp_path
    monkeypatch.setenv("SGGFT_COMMIT", "abc1234")
    assert git_commit(tmp_path) == "abc1234"
    monkeypatch.delenv("SGGFT_COMMIT")
    assert git_commit(tmp_path) is None
