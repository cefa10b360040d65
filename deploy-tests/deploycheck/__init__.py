"""Readers for AzuraForge's deployment files (compose, Dockerfiles, .dockerignore, workflows) that the
deployment tests check without a Docker engine."""
