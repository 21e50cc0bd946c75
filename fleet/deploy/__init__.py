"""Deploying over SSH: connections, facts, operations, image pushes and the rollout itself."""
