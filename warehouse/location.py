"""Where a warehouse's data and catalog live: a local folder or an S3-compatible bucket for the
data, a SQLite file or a PostgreSQL database for DuckLake's catalog.

The object store is reached with the standard AWS variables (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`): DuckDB's
httpfs reads and writes the lake's files, pyarrow's S3 filesystem looks at them (`check`) and
lists an inbox. An `http://` endpoint (a local S3 server) is allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pyarrow import fs as pafs

REMOTE = ("s3://",)


def is_remote(location: str) -> bool:
    """Whether `location` names an object-store prefix rather than a local path."""
    return location.startswith(REMOTE)


def sql_literal(text: str) -> str:
    """`text` as an SQL string literal (for the statements DuckDB takes no parameters in:
    ATTACH, SET, CREATE SECRET…)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class S3Access:
    """The standard AWS variables, as both DuckDB and pyarrow need them."""

    key_id: str | None
    secret: str | None
    session_token: str | None
    region: str
    endpoint: str | None  # host:port, no scheme
    use_ssl: bool

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> S3Access:
        """From `AWS_*` variables (the process environment by default)."""
        env = dict(os.environ if environ is None else environ)
        url = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or ""
        parts = urlsplit(url if "://" in url else f"https://{url}") if url else None
        return cls(
            key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint=parts.netloc if parts else None,
            use_ssl=parts is None or parts.scheme != "http",
        )

    def secret_sql(self, from_shell: bool = False) -> str:
        """A DuckDB `CREATE SECRET` for these credentials (temporary: never written to disk).
        `from_shell`: the credentials are the shell's own `getenv(...)`, not printed values.
        A custom endpoint is addressed path-style, as local S3 servers expect."""
        options = ["TYPE s3", f"REGION {sql_literal(self.region)}"]
        for option, variable, value in (
            ("KEY_ID", "AWS_ACCESS_KEY_ID", self.key_id),
            ("SECRET", "AWS_SECRET_ACCESS_KEY", self.secret),
            ("SESSION_TOKEN", "AWS_SESSION_TOKEN", self.session_token),
        ):
            if value:
                given = f"getenv({sql_literal(variable)})" if from_shell else sql_literal(value)
                options.append(f"{option} {given}")
        if self.endpoint:
            options += [f"ENDPOINT {sql_literal(self.endpoint)}", "URL_STYLE 'path'"]
        options.append(f"USE_SSL {'true' if self.use_ssl else 'false'}")
        return f"CREATE OR REPLACE SECRET arxiv_digests_s3 ({', '.join(options)})"

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 filesystem with these credentials."""
        return pafs.S3FileSystem(
            access_key=self.key_id,
            secret_key=self.secret,
            session_token=self.session_token,
            region=self.region,
            endpoint_override=self.endpoint,
            scheme="https" if self.use_ssl else "http",
            # A region lookup would ask AWS itself, which a local S3 server is not.
            check_directory_existence_before_creation=False,
        )


def filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding `location` and the path of `location` in it."""
    if is_remote(location):
        return S3Access.from_env().filesystem(), object_key(location)
    return pafs.LocalFileSystem(), location


def object_key(location: str) -> str:
    """A path as its filesystem names it: an `s3://` URI's bucket/key, a local path as is."""
    return location.removeprefix("s3://")


def joined(location: str, *parts: str) -> str:
    """`location` with `parts` appended, '/'-separated (a URI or a POSIX path alike)."""
    return "/".join([location.rstrip("/"), *(p.strip("/") for p in parts)])


_URI_PASSWORD = re.compile(r"(://[^:/@]*):[^@]*@")
_KEY_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Catalog:
    """DuckLake's catalog: a SQLite file (one machine) or a PostgreSQL database (a team)."""

    kind: str  # "sqlite" | "postgres"
    target: str  # the file's absolute path, or a libpq connection string / URI

    @classmethod
    def parse(cls, text: str) -> Catalog:
        """`postgresql://…`, `postgres://…` or `postgres:dbname=…` -> PostgreSQL; anything else
        is a SQLite file path (`sqlite:` prefix optional)."""
        if text.startswith(("postgresql://", "postgres://")):
            return cls("postgres", text)
        if text.startswith("postgres:"):
            return cls("postgres", text.removeprefix("postgres:"))
        path = os.path.abspath(os.path.expanduser(text.removeprefix("sqlite:")))
        return cls("sqlite", path)

    @property
    def shared(self) -> bool:
        """Whether writers on other machines see this catalog (and its conflicts)."""
        return self.kind == "postgres"

    def ducklake_uri(self) -> str:
        """What DuckLake's ATTACH takes."""
        return f"ducklake:{self.kind}:{self.target}"

    def extension(self) -> str:
        """The wheel module of the DuckDB extension that reads this catalog."""
        return f"duckdb_extension_{self.kind}"

    def without_password(self) -> Catalog:
        """This catalog with no password in it: libpq takes it from PGPASSWORD or ~/.pgpass."""
        text = re.sub(r"(://[^:/@]*):[^@]*@", r"\1@", self.target)
        return Catalog(self.kind, re.sub(r"\s*password\s*=\s*\S+", "", text, flags=re.I))

    def has_password(self) -> bool:
        """Whether a password is written in the catalog's connection string."""
        return self.without_password().target != self.target

    def shown(self) -> str:
        """The catalog's name for messages: a password is never printed."""
        return hide_passwords(self.target)


def hide_passwords(text: str) -> str:
    """`text` (a connection string, or an error quoting one) with every password as `***`."""
    return _KEY_PASSWORD.sub(r"\1***", _URI_PASSWORD.sub(r"\1:***@", text))
