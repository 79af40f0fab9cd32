"""`inv bench`: sizes, builds and serving speed, measured side by side in one run."""
