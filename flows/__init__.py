"""Prefect flows: orchestration only (which step, in what order, retries, artifacts)."""
