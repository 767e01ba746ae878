"""Digest files, from where they lie to Arrow rows: find them (`discover`, `objects`), read
them whole and settled (`read`), decode and parse them (`text`, `parse`, `details`, `guard`,
in worker processes through `pool`), validate the rows (`parsed`), and name what could not be
loaded (`rejects`). Pure functions: no Prefect, no warehouse connection."""
