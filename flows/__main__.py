from flows.cli import app

# Guarded: parse worker processes (spawned) import the main module again.
if __name__ == "__main__":
    app(prog_name="arxiv-digests")
