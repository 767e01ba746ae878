"""`python -m flows`: the command line."""

from flows.cli import app

# Guarded, as an entry point must be once parse workers are `spawn`ed.
if __name__ == "__main__":
    app(prog_name="arxiv-digests")
