"""The Prefect layer: the flows and their tasks (`ingest`), each stage one lake transaction
(`stages`, plain functions), a run's figures (`run_stats`), the Dask runner (`distributed`),
`rejects replay` (`replay`) and the flow as `serve` runs it (`served`). Tasks call plain
functions of `flows.digests` and `flows.enrichment`, and the warehouse's named methods."""
