"""The web console, served under /console by the same process as the API."""
