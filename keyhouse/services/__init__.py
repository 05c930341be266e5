"""Use-cases: authorize, load, apply the domain rule, persist, in one transaction.

The wire API, the CLI and (later) the console all call these, so quotas and permissions behave
the same on every surface.
"""
