"""Lab 1: train the iris classifier and publish it into the model registry."""
