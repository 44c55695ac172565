"""Trusted reference implementations used by hidden checks.

Each module here may list, in `STANDINS`, self-contained functions (their
imports inside their bodies) whose source the grader sends to the worker to
stand in for a student's helper while a dependent exercise is checked
(`@exercise(..., uses=("attention",))`). `REFERENCES` collects them by name;
no module needs registering by hand."""
import importlib
import pkgutil

REFERENCES = {}
for _module in pkgutil.iter_modules(__path__):
    for _function in getattr(importlib.import_module(f"{__name__}.{_module.name}"), "STANDINS", ()):
        REFERENCES[_function.__name__] = _function
