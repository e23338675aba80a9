"""The check kit: what every check module uses, and no check module defines.

- ``registry``: checks, the Context a check runs in (its id, the worst-ratio tracker), and
  the hypothesis driver that turns a failing property into evidence.
- ``strategies``: the case model of cross-validation and the invariants (a record's space,
  gradient sequences, lr schedules) and its run on a target or a reference.
- ``harness``: driving a torch optimizer open-loop.
- ``kinds``: the parameter kinds real models hold and ``--shapes``, the words restricting them.
- ``evidence``: observations against a tolerance, and the standalone snippets for them.
- ``deltas``: what invariants observed through parameter deltas share (the record guard, g',
  the delta's snippet expression, ``require`` at a step and tensor).
- ``contract``: the generic contract's problems, driver, exact comparison and snippets.
- ``schedules``: schedulers as targets, schedule cases, their driver, round-off model and
  snippets.

Check modules (``*_checks.py``) import the kit and never each other (tests/test_layers.py).
"""
