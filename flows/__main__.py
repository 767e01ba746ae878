"""`python -m flows` and the `arxiv-digests` script: the command line.

The CLI is imported when `main` runs, not when this module is: a parse worker is `spawn`ed,
and a spawned process first imports the script that started its parent. Were that import
the CLI, every worker would load typer, pydantic and the commands' modules for nothing
(23 MB and 0.3 s of CPU a worker)."""


def main() -> None:
    """Run the command line. A mistake in its words (an unknown option, a value out of range)
    is one line and exit 2, as every other error is one line."""
    import sys

    from flows.common.stopping import stop_on_signal

    stop_on_signal()  # first: a signal while the CLI imports is one line too
    from flows.common.lean import without_pandas

    without_pandas()
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
    from typer.exceptions import Abort

    from flows.cli import app

    try:
        code = app(prog_name="arxiv-digests", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # a command given no words: its help
        sys.stderr.write(exc.format_message() + "\n")
        sys.exit(exc.exit_code)
    except ClickException as exc:
        context = getattr(exc, "ctx", None)
        command = context.command_path if context is not None else "arxiv-digests"
        sys.stderr.write(f"arxiv-digests: {exc.format_message()} (`{command} --help`)\n")
        sys.exit(exc.exit_code)
    except Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


# Guarded, as an entry point must be once parse workers are `spawn`ed.
if __name__ == "__main__":
    main()
