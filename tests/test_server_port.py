"""The managed server's port: free again the moment its last server died, and never taken
from another program."""

from __future__ import annotations

import os
import socket

import pytest

from flows.operations import server


def _a_port_whose_server_died() -> int:
    """A port whose server closed a connection first (as a killed server's kernel does): the
    connection waits in TIME_WAIT on that port for a minute."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server's side closes first: its end goes to TIME_WAIT
    listener.close()
    client.recv(1)  # the FIN arrived
    client.close()
    return int(port)


def test_a_port_in_time_wait_is_free_for_the_next_server():
    port = _a_port_whose_server_died()
    with socket.socket() as plain, pytest.raises(OSError):  # the scenario is real
        plain.bind(("127.0.0.1", port))
    assert server._bindable(port) == port
    assert server._free_port(port) == port


def test_a_port_another_program_listens_on_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))  # no managed server of the user's
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        assert server._bindable(port) is None
        with pytest.raises(server.ServerError, match=f"port {port} on 127.0.0.1 is in use"):
            server.start(port)


def test_stopping_a_server_that_died_says_none_was_running(tmp_path, monkeypatch):
    """A crash or a reboot leaves the pid file: `server stop` removes it and says no server
    was running, rather than "stopped" one it never stopped."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    record = server.home() / "server.pid"
    record.parent.mkdir(parents=True)
    record.write_text(f"{2**22 + 7} http://127.0.0.1:1/api\n")  # above Linux's pid_max
    assert server.stop() is None
    assert not record.exists()


def test_a_second_serve_of_one_deployment_is_refused(tmp_path, monkeypatch):
    """Two `serve`s of one deployment would run each scheduled run twice, and each would take
    the other's runs for a dead serve's: the second is one line naming the first."""
    from flows.pipeline.served import AlreadyServed, serving_alone

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    with serving_alone("daily"):
        with (
            pytest.raises(
                AlreadyServed, match=rf"ingest-digests/daily is already served .*pid {os.getppid()}"
            ),
            serving_alone("daily"),
        ):
            pass
        with serving_alone("hourly"):  # another deployment is served beside it
            pass
    with serving_alone("daily"):  # free again once the first stopped
        pass
