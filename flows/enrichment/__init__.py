"""Metadata from the arXiv API: the client protocol and the live client (`api`), recorded
answers (`recorded`), the queue's policy (`queue`: which IDs are due, what an answer means)
and the batched work of one run (`enrich`). SQL for the queue lives in `warehouse.queue`."""
