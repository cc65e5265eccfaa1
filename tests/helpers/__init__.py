"""Shared test helpers: FASTA generation and fault-injecting tasks.

``tests.helpers.tasks`` is loaded by spawned workers by name
(``--task tests.helpers.tasks:FlakyTask``): they inherit ``sys.path`` from a
main process started in the repository root.
"""
