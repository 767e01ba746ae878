"""Long work shows how far it is: a bar on a terminal, one line a minute in a log."""

from __future__ import annotations

import time

from flows.cli import progress


def test_a_log_gets_a_line_a_period_with_the_rate_and_the_time_left(capsys, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    lines = progress._LogLines("papers", every=60)
    for done, now in [(10, 130), (20, 165), (30, 170), (40, 230), (100, 400)]:
        clock[0] = now
        lines(done, 100)
    out = capsys.readouterr().err.splitlines()
    # 30 s: too soon; 65 s: a line; 70 s: too soon; 130 s: a line; the end: no line (done).
    assert out == [
        "papers: 20 of 100 (0.3/s), about 4 min 20 s left",
        "papers: 40 of 100 (0.3/s), about 3 min 15 s left",
    ]


def test_not_a_terminal_means_lines_and_quiet_means_nothing(capsys, monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_PROGRESS_LOG_SECONDS", "0")
    with progress.shown("digests") as show:  # pytest's stderr is not a terminal
        show(1, 3)
        show(3, 3)
    with progress.shown("digests", quiet=True) as show:
        show(1, 3)
    err = capsys.readouterr().err
    assert err.startswith("digests: 1 of 3 (") and err.count("\n") == 1
