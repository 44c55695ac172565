"""The one call a notebook's last cell makes to check the learner's work."""
from .runtime import grading_mode


def check_my_work(path=None):
    """Grades this notebook with the course's hidden checks and shows a table,
    one row per exercise (see autograder/selfcheck.py). Does nothing while
    the notebook itself is being graded."""
    if grading_mode():
        print("Self-check skipped: this notebook is being graded.")
        return None
    from autograder.selfcheck import check_my_work as grade_this_notebook
    return grade_this_notebook(path)
