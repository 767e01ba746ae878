"""`python -m flows` and the `arxiv-digests` script: the command line.

The CLI is imported when `main` runs, not when this module is: a parse worker is `spawn`ed,
and a spawned process first imports the script that started its parent. Were that import
the CLI, every worker would load typer, pydantic and the commands' modules for nothing
(23 MB and 0.3 s of CPU a worker)."""


def main() -> None:
    """Run the command line."""
    from flows.lean import without_pandas

    without_pandas()
    from flows.cli import app
    from flows.cli.common import stop_on_signal

    stop_on_signal()
    app(prog_name="arxiv-digests")


# Guarded, as an entry point must be once parse workers are `spawn`ed.
if __name__ == "__main__":
    main()
