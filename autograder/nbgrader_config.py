# nbgrader configuration for a course that uses these notebooks: copy this
# file into the course folder (beside source/, submitted/, gradebook.db).
# nbgrader runs it with `c = get_config()` already defined; the course's
# Python environment (.venv) must be the one that runs nbgrader.
c = get_config()  # noqa: F821  (defined by nbgrader when it loads this file)

c.CourseDirectory.course_id = "lm-pretraining"

# `nbgrader autograde` runs our sandboxed grader in place of nbgrader's Execute
# step: the student's code runs in a sandboxed worker, the hidden checks in
# nbgrader's process, and each exercise's verdict scores its grade cell.
from autograder.nbgrader_plugin import AUTOGRADE_PREPROCESSORS  # noqa: E402

c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
# Where bubblewrap cannot start, grading stops with the cause and the fix; a
# weaker mode is chosen by name here ("unprivileged" as root in a container
# without user namespaces, "none" for no isolation), and recorded.
# c.SandboxedAutograde.sandbox_mode = "unprivileged"

# `nbgrader zip_collect` for files downloaded from an LMS: choose the pattern
# of yours, "blackboard" (Homework 1_j.doe-2_attempt_2026-11-20-10-00-00_01_tokenization.ipynb),
# "canvas" (smithjane_12345_678901_01_tokenization.ipynb) or "moodle"
# (Jane Doe_123456_assignsubmission_file_/01_tokenization.ipynb); autograder/lms.py
# says what each part is.
from autograder.lms import FILE_NAMES  # noqa: E402

c.ZipCollectApp.strict = True
c.FileNameCollectorPlugin.named_regexp = FILE_NAMES["blackboard"]
