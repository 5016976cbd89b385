"""`python -m traitrl`: runs the CLI module as the program (the CLI layer's own entry point)."""

import runpy

runpy.run_module("traitrl.cli", run_name="__main__", alter_sys=False)
