"""Ingestion: a merchant's data directory → ``raw`` and ``quarantine`` schemas."""

from winback.ingest.load import ContractError, LoadReport, StaleDataError, load_data_dir

__all__ = ["ContractError", "LoadReport", "StaleDataError", "load_data_dir"]
