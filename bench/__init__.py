"""Fan-out benchmark: liveblog against Nchan. Run with `python -m bench` (or `make bench`)."""
