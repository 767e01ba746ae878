"""Text from a digest file's bytes: decoding (BOMs, UTF-8, GB18030, binary junk), cleaning a
field, the `Problem` every stage reports and its one printed line."""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

RAW_LIMIT = 10_000  # characters of raw text kept with a reject: enough to fix a row by hand


@dataclass(frozen=True)
class Problem:
    """Something wrong in a file. A `reject` loses a row (or the file) to `rejects`; a
    `warning` is reported but the data still loads."""

    rule: str
    message: str
    line: int | None = None
    raw: str | None = None
    severity: Literal["reject", "warning"] = "reject"


# A family's parser: text, a deadline -> (entries, problems, rows seen); docs/families.md.
TextParser = Callable[[str, float | None], tuple[list[dict[str, Any]], list[Problem], int]]

DIGEST_SUFFIXES = (".md", ".markdown", ".txt", ".jsonl")  # what a digest file's name ends with


@dataclass
class FileProblem:
    """A problem bound to a file, for printing as `path:line: rule: message`."""

    path: str
    problem: Problem

    def __str__(self) -> str:
        p = self.problem
        return problem_line(self.path, p.line, p.rule, p.message, p.severity == "warning")


def shown(text: str) -> str:
    """Text as printed on one line: characters that are not printable (a newline, a terminal
    escape sequence) as backslash escapes, so a file name cannot forge or hide output lines."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


def problem_line(
    source: str, line: int | None, rule: str, message: str, warning: bool = False
) -> str:
    """`path:line: rule: message`, the form editors and CI logs jump to."""
    where = f"{shown(source)}:{line}" if line else shown(source)
    return f"{where}: {'warning ' if warning else ''}{rule}: {shown(message)}"


# --- decoding ---------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Control characters other than tab, newline and carriage return: never meaningful in a digest.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not _CONTROL.match(chr(b)))
BINARY_THRESHOLD = 0.05  # share of control/undecodable characters above which a file is junk


def decode(data: bytes) -> tuple[str | None, str | None, Problem | None]:
    """Bytes -> (text, encoding, problem). Tries a BOM, then UTF-8, then GB18030 (a superset of
    GBK, the other encoding Chinese text arrives in), then UTF-8 with replacement characters."""
    if not data.strip():
        return None, None, Problem("empty_file", "file is empty: nothing to load (remove it)")
    text: str | None = None
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            with contextlib.suppress(UnicodeDecodeError):
                text, encoding = data.decode(name), name
            break
    if text is None:
        for name in ("utf-8", "gb18030"):
            try:
                text, encoding = data.decode(name), name
                break
            except UnicodeDecodeError:
                continue
    problem = None
    if text is None:
        text, encoding = data.decode("utf-8", errors="replace"), "utf-8-replace"
        problem = Problem(
            "encoding",
            "bytes that are neither UTF-8 nor GB18030 were replaced with U+FFFD; "
            "re-save the file as UTF-8 to keep them",
            severity="warning",
        )
    if encoding in ("utf-8", "gb18030"):
        # Both keep ASCII control bytes as themselves (multi-byte sequences never use bytes
        # below 0x30), so counting bytes in C equals counting characters with a regex.
        junk = len(data.translate(None, _NOT_CONTROL_BYTES)) + text.count("\ufffd")
    else:
        junk = len(_CONTROL.findall(text)) + text.count("\ufffd")
    if junk > BINARY_THRESHOLD * len(text):
        return (
            None,
            encoding,
            Problem(
                "binary_file",
                f"{junk} of {len(text)} characters are control or undecodable bytes: "
                "not a text digest (check the file)",
            ),
        )
    return text, encoding, problem


# --- text helpers -----------------------------------------------------------------------------


def clean(text: str | None) -> str | None:
    """Control characters dropped, whitespace collapsed; empty -> None."""
    if text is None:
        return None
    # This runs on every field of every entry: search before substituting (control characters
    # are rare), and split/join instead of a whitespace regex. (A shortcut for fields already
    # clean saved about 7% of parsing, but left text full of tabs 5x slower to parse than plain
    # words, the bound tests/test_parse_linear.py holds hostile input to: not kept.)
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    return " ".join(text.split()) or None


def tidy(text: str | None) -> str | None:
    """`clean`, with a short way for text that is clean already (printable, no double
    space, no space at its ends: three scans in C, no split): a JSONL record's names and
    fields mostly are."""
    if text and text.isprintable() and "  " not in text and text[0] != " " != text[-1]:
        return text
    return clean(text)


def cut(raw: str) -> str:
    """`raw` cut to the length a reject keeps."""
    return raw if len(raw) <= RAW_LIMIT else raw[:RAW_LIMIT]
