"""The public contract: every table the warehouse publishes, declared once.

Each is a table of the warehouse's DuckLake (created and extended from these declarations by
`warehouse.declare`); `arxiv-digests export` writes the same tables as plain Parquet.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import (
    ANNOUNCE_TYPES,
    DATE_SOURCES,
    ENRICHMENT_STATES,
    GENERATORS,
    LAYOUTS,
    REJECT_STAGES,
    TS,
    _arxiv_id,
    _http_url,
    _sha256,
)
from schemas.model import Column, Table
from schemas.search import SEARCH_TERMS, SEARCH_TEXTS

DIGESTS = Table(
    name="digests",
    doc="One row per distinct digest content (the same bytes at two paths are one digest).",
    key=("digest_id",),
    columns=(
        _sha256("digest_id", "sha256 of the file's bytes"),
        Column("source_path", pa.string(), "absolute path the content was first read from", True),
        Column("file_name", pa.string(), "file name of source_path", True),
        Column("size_bytes", pa.int64(), "file size in bytes", True),
        Column("encoding", pa.string(), "text encoding the bytes were decoded with", True),
        Column("entry_count", pa.int32(), "summary-table rows seen in the file", True),
        Column("layout_new", pa.int32(), "entries with an `Announce Type:` abstract (2024-)", True),
        Column(
            "layout_old", pa.int32(), "entries whose title ends `(arXiv:…v1 [cat])` (2023)", True
        ),
        Column(
            "layout_early", pa.int32(), "old entries without a Chinese summary (Mar 2023)", True
        ),
        Column("layout_plain", pa.int32(), "entries with neither marker (https link only)", True),
        Column(
            "layout_ai_jsonl", pa.int32(), "daily-arXiv-ai-enhanced JSONL records", True, filled="0"
        ),
        Column("layout_ai_markdown", pa.int32(), "its Markdown `### [N]` papers", True, filled="0"),
        Column(
            "digest_date",
            pa.date32(),
            "the digest's date: the date (YYYY-MM-DD) in its path; on a git history the "
            "date (UTC) of the first commit that had this version; or the one `ingest --date` "
            "gave; null when none of them says (never guessed)",
        ),
        Column("category", pa.string(), "arXiv category the file name names (`cs.AI.md`), if any"),
        Column("ingested_at", TS, "when this content was first loaded", True),
        Column("run_id", pa.string(), "the run that loaded it (`runs.run_id`)", True),
        Column(
            "date_source",
            pa.string(),
            "where digest_date came from: `path`, `commit` or `given` (null with no date)",
            enum=DATE_SOURCES,
            filled="CASE WHEN digest_date IS NOT NULL THEN 'path' END",  # the only one before
        ),
        Column(
            "generator",
            pa.string(),
            "the generator family that wrote it, told by its name and bytes (docs/families.md)",
            True,
            enum=GENERATORS,
            filled="'cn-chat-arxiv'",  # the only family before
        ),
    ),
)

DIGEST_BYTES = Table(
    name="digest_bytes",
    doc=(
        "The raw layer: every loaded digest's bytes as they were read, written in the load's "
        "transaction (zstd-compressed Parquet), so that the warehouse alone can parse them "
        "again (`arxiv-digests reparse`). Empty for digests loaded before release 0.4 until "
        "`reparse` finds them at their source_path."
    ),
    key=("digest_id",),
    columns=(
        _sha256("digest_id", "the digest (`digests.digest_id`): sha256 of `data`"),
        Column("data", pa.binary(), "the file's bytes, whole", True),
    ),
    compression="zstd",
    inlined=False,  # a day's few digests: in a file, not in the catalog (issue 38)
)

SEEN_FILES = Table(
    name="seen_files",
    doc=(
        "One row per file a run read whose content is in `digests` (loaded then or before). A "
        "later run skips a file with the same path, size and modification time unread."
    ),
    key=("source_path", "size_bytes", "modified_at"),
    columns=(
        Column("source_path", pa.string(), "absolute path of the file", True),
        Column("size_bytes", pa.int64(), "its size in bytes when read", True),
        Column(
            "modified_at",
            TS,
            "its modification time when read; a file modified less than 2 s before is not "
            "recorded (it may still have been being written)",
            True,
        ),
        _sha256("digest_id", "its content (`digests.digest_id`)"),
        Column("run_id", pa.string(), "the run that read it (`runs.run_id`)", True),
    ),
)

DIGEST_ENTRIES = Table(
    name="digest_entries",
    doc="One row per summary-table row of a digest, joined with its detail block.",
    key=("digest_id", "ref"),
    columns=(
        _sha256("digest_id", "the digest (`digests.digest_id`)"),
        Column(
            "ref",
            pa.int32(),
            "the entry within its digest: cn-chat-arxiv's footnote number `[^N]`; for "
            "daily-arXiv-ai-enhanced the line the record or the `### [N]` paper starts on",
            True,
        ),
        _arxiv_id("canonical arXiv ID, no version"),
        Column("arxiv_version", pa.int32(), "version the digest announced (`v2`), if it says"),
        Column("title", pa.string(), "English title as arXiv has it (TeX kept)", True),
        Column(
            "title_zh",
            pa.string(),
            "Chinese title from the detail block, and nothing else: the model's label (`标题：`), "
            "ASCII quotes around the whole of it and a `(arXiv:…v1[cs.CL])` leftover removed",
        ),
        Column(
            "summary_zh",
            pa.string(),
            "Chinese one-line summary (the table's, else the detail block's); ASCII quotes "
            "around the whole of it and a `(arXiv:…)` leftover removed",
        ),
        Column(
            "abstract_zh",
            pa.string(),
            "Chinese translation of the abstract, text only: the translated announcement "
            "(`arXiv:…v1 公告类型：交叉 摘要：` in its many wordings) or a bare `摘要：` "
            "label removed",
        ),
        Column(
            "abstract_excerpt",
            pa.string(),
            "English abstract as the digest had it, text only (`arXiv:…v1 Announce Type: cross "
            "Abstract: ` removed: the ID, version and type are columns of their own; an ID "
            "there that is not the row's paper or version rejects the row, "
            "`abstract_mismatch`)",
        ),
        Column(
            "announce_type",
            pa.string(),
            "arXiv announce type: the 2024 layout's `Announce Type:`; in the 2023 layout the "
            "title suffix's marker (none: `new`, `UPDATED`: `replace`, `CROSS LISTED`: `cross`); "
            "null where the digest says nothing",
            enum=ANNOUNCE_TYPES,
        ),
        Column(
            "listed_category",
            pa.string(),
            "the paper's category as the digest gives it: the old `[cs.RO]` title suffix; "
            "daily-arXiv-ai-enhanced's `Main category:` or first of `categories`",
        ),
        Column("layout", pa.string(), "layout of this entry", True, enum=LAYOUTS),
        _http_url(
            "url",
            "link as the digest gave it (a JSONL record without `abs`: its arXiv abstract page)",
            required=True,
        ),
        Column(
            "line",
            pa.int32(),
            "1-based line of the table row (or record, or paper) in the file",
            True,
        ),
        Column(
            "listed_authors",
            pa.list_(pa.string()),
            "authors as the digest lists them (daily-arXiv-ai-enhanced; `papers.authors` has "
            "the arXiv API's)",
        ),
        Column("listed_categories", pa.list_(pa.string()), "categories as the digest lists them"),
        Column(
            "ai_fields",
            pa.map_(pa.string(), pa.string()),
            "the model's other fields by their key, text only (daily-arXiv-ai-enhanced's "
            "`motivation`, `method`, `result`, `conclusion`, and any key a fork adds: "
            "`ai_fields['method']`); a list is joined with `; `, other JSON kept as JSON",
        ),
        Column(
            "record_fields",
            pa.map_(pa.string(), pa.string()),
            "the JSONL record's other keys by name (`comment`, `pdf`, `code_url`, …), as "
            "`ai_fields`",
        ),
    ),
)

PAPERS = Table(
    name="papers",
    doc="One row per arXiv paper, from the arXiv API.",
    key=("arxiv_id",),
    columns=(
        _arxiv_id("canonical arXiv ID"),
        Column("latest_version", pa.int32(), "latest version the API returned", True),
        Column("title", pa.string(), "title, whitespace collapsed", True),
        Column("abstract", pa.string(), "full abstract, whitespace collapsed", True),
        Column(
            "authors",
            pa.list_(pa.struct([("name", pa.string()), ("affiliations", pa.list_(pa.string()))])),
            "authors in order, each with affiliations",
            True,
        ),
        Column("primary_category", pa.string(), "primary arXiv category", True),
        Column("categories", pa.list_(pa.string()), "all categories, primary first", True),
        Column("published", TS, "submission time of v1", True, not_future=True),
        Column("updated", TS, "time of the latest version", True, not_future=True),
        Column("doi", pa.string(), "journal DOI, if any"),
        Column("journal_ref", pa.string(), "journal reference, if any"),
        Column("comment", pa.string(), "author comment, if any"),
        _http_url("pdf_url", "PDF link"),
        Column("fetched_at", TS, "when the API answered", True),
    ),
)

PAPER_AUTHORS = Table(
    name="paper_authors",
    doc="papers.authors, one row per author (for SQL and BI tools that dislike lists).",
    key=("arxiv_id", "position"),
    columns=(
        _arxiv_id("the paper"),
        Column("position", pa.int32(), "1-based author position", True),
        Column("name", pa.string(), "author name", True),
        Column("affiliations", pa.list_(pa.string()), "affiliations, possibly empty"),
    ),
)

PAPER_CATEGORIES = Table(
    name="paper_categories",
    doc="papers.categories, one row per category.",
    key=("arxiv_id", "category"),
    columns=(
        _arxiv_id("the paper"),
        Column("category", pa.string(), "arXiv category", True),
        Column("is_primary", pa.bool_(), "the paper's primary category", True),
    ),
)

ENRICHMENT = Table(
    name="enrichment",
    doc="The enrichment queue: one row per arXiv ID seen in any digest.",
    key=("arxiv_id",),
    columns=(
        _arxiv_id("the paper"),
        Column("state", pa.string(), "queue state", True, enum=ENRICHMENT_STATES),
        Column("attempts", pa.int32(), "API requests that asked for this ID", True),
        Column("wanted_version", pa.int32(), "newest version any digest announced"),
        Column("enriched_version", pa.int32(), "version of the paper held in `papers`, if any"),
        Column("last_error", pa.string(), "why the last attempt failed"),
        Column("last_attempt_at", TS, "when it was last asked for"),
        Column("next_attempt_at", TS, "not to be asked for before this time"),
    ),
)

REJECTS = Table(
    name="rejects",
    doc="Everything that could not be loaded, with the raw text to fix and replay it.",
    key=("reject_id",),
    columns=(
        _sha256("reject_id", "sha256 of source, stage, rule, line and raw"),
        _sha256("digest_id", "the digest, when its bytes could be read", required=False),
        Column("source", pa.string(), "file path (or arXiv ID for enrichment)", True),
        Column("line", pa.int32(), "1-based line in the file, when there is one"),
        Column("stage", pa.string(), "where it was rejected", True, enum=REJECT_STAGES),
        Column("rule", pa.string(), "the rule it broke (`required:title`, `binary_file`…)", True),
        Column("message", pa.string(), "what is wrong and what to do", True),
        Column("raw", pa.string(), "the raw text (cut at 10,000 characters)"),
        Column("rejected_at", TS, "when", True),
        Column("run_id", pa.string(), "the run (`runs.run_id`)", True),
        Column(
            "resolved_by",
            pa.string(),
            "the `rejects replay` run that loaded the row after all (`runs.run_id`); null while "
            "it is still rejected",
        ),
    ),
)

RUNS = Table(
    name="runs",
    doc=(
        "One row per flow run (ingest or enrich), committed in the same transaction as the "
        "rows it loaded; its enrich stage updates it in the transaction that stores the papers."
    ),
    key=("run_id",),
    columns=(
        Column("run_id", pa.string(), "sortable run id (UTC start time + random suffix)", True),
        Column("flow_run_id", pa.string(), "Prefect flow run id"),
        Column("started_at", TS, "start", True),
        Column("ended_at", TS, "end", True),
        Column(
            "status",
            pa.string(),
            "outcome: `running` while a later stage of the run is still to commit, "
            "`interrupted` once the next run finds it stopped there",
            True,
            enum=("ok", "failed", "running", "interrupted"),
        ),
        Column(
            "kind",
            pa.string(),
            "`ingest`, `enrich`, `replay` or `reparse` (null before 0.3)",
            enum=("ingest", "enrich", "replay", "reparse"),
        ),
        Column("files_seen", pa.int32(), "input files found", True),
        Column("files_new", pa.int32(), "files with content not loaded before", True),
        Column("files_skipped", pa.int32(), "files whose content was already loaded", True),
        Column("files_rejected", pa.int32(), "files that could not be read as digests", True),
        Column(
            "files_waiting",
            pa.int32(),
            "files left for the next run: still being written when read (null before 0.3)",
        ),
        Column("entries_seen", pa.int64(), "summary-table rows read from new files", True),
        Column(
            "entries_loaded",
            pa.int64(),
            "rows added to digest_entries (0 when the run failed)",
            True,
        ),
        Column("entries_rejected", pa.int64(), "rows sent to rejects", True),
        Column(
            "entries_updated",
            pa.int64(),
            "rows of digest_entries whose fields a `reparse` changed (null for other runs)",
        ),
        Column("rejects", pa.int64(), "rows added to rejects (entries, files, API answers)", True),
        Column("rejects_by_rule", pa.string(), "JSON object: rule -> count", True),
        Column("api_requests", pa.int32(), "requests made to the arXiv API", True),
        Column("papers_enriched", pa.int32(), "papers fetched in this run", True),
        Column("papers_pending", pa.int32(), "IDs still waiting for the API at the end", True),
        Column("discover_seconds", pa.float64(), "time spent finding files", True),
        Column("parse_seconds", pa.float64(), "time spent reading and parsing", True),
        Column("validate_seconds", pa.float64(), "time spent validating", True),
        Column("load_seconds", pa.float64(), "time spent writing Parquet", True),
        Column("enrich_seconds", pa.float64(), "time spent on the arXiv API", True),
        Column("message", pa.string(), "one line on a failed run"),
    ),
)

GIT_SOURCES = Table(
    name="git_sources",
    doc=(
        "One row per git history loaded (`ingest git+URL[@REV]`): the commit its last run "
        "walked to, committed with that run's rows. The next run reads only the commits after it."
    ),
    key=("source", "rev"),
    columns=(
        Column("source", pa.string(), "`git+URL`, as given without the revision", True),
        Column("rev", pa.string(), "the branch, tag or commit given; `HEAD` when none", True),
        Column(
            "head_commit",
            pa.string(),
            "the commit the run walked to",
            True,
            r"^[0-9a-f]{40,64}$",
            pattern_doc="a git commit id",
        ),
        Column("versions", pa.int64(), "digest file versions that run found on the history", True),
        Column("run_id", pa.string(), "the run that walked it (`runs.run_id`)", True),
        Column("walked_at", TS, "when", True),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (DIGESTS, DIGEST_BYTES, SEEN_FILES, DIGEST_ENTRIES, PAPERS, PAPER_AUTHORS,
              PAPER_CATEGORIES, ENRICHMENT, REJECTS, RUNS, GIT_SOURCES, SEARCH_TEXTS, SEARCH_TERMS)
}  # fmt: skip
