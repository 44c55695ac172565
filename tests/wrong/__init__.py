"""Deliberately wrong implementations of the graded exercises, one module per
notebook. Each module has `CORRECT` ({exercise: source}, a plain correct
implementation written apart from the solution notebook) and `WRONG`
({exercise: {what is wrong: source}}), each source a replacement for the
notebook's "<exercise>_code" cell. Most wrong ones are the correct one with a
single plausible mistake, so a test that grades both shows the hidden check
catches exactly that mistake."""


def mutate(source, replacements):
    """`source` with each key of `replacements`, which must occur exactly
    once, replaced by its value."""
    for old, new in replacements.items():
        if source.count(old) != 1:
            raise ValueError(f"expected exactly one {old!r} in the source")
        source = source.replace(old, new)
    return source
