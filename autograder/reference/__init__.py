"""Trusted reference implementations used by hidden checks.

`REFERENCES` maps a graded name to a self-contained function (its imports
inside its body) whose source the grader may send to the worker, to stand in
for a student's helper while a dependent exercise is checked."""
REFERENCES = {}
