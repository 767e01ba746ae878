"""arxiv-digests: Prefect flows that load arXiv digest files into Parquet tables."""
