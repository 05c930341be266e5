"""Coverage-guided fuzzing of the wire parsers with atheris (``python -m fuzz``)."""
