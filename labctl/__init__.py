"""Helpers behind tasks.py: settings, the docker/compose command line, base image, locks."""
