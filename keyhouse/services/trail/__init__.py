"""The audit trail, one wing: what a request's event is while it is served (``draft``), how it
is written (``writer``: with a change in its own transaction, or handed to ``committer``, the
group commit that makes events, nonces and last-used notes durable before anyone is answered),
the events the console and the CLI open for what a person did (``surface``), and reading it
back (``lookup``: LookupEvents, the console's trail, verification, export)."""
