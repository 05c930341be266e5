"""Storage: the only package that imports SQLAlchemy. It returns domain objects, never rows."""
