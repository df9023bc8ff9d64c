"""Keys: `serve` always enforces them, `start` only with --enable-auth; the key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.conftest import APPS, RunningHost, StartHost, run_cli


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    return tmp_path / "secrets"


@pytest.fixture
def served(start_host: StartHost, secrets: Path) -> RunningHost:
    return start_host(APPS / "v1", command="serve", env={"FUNCTIONS_SECRETS_PATH": str(secrets)})


def _keys(secrets: Path) -> tuple[str, str, str]:
    host = json.loads((secrets / "host.json").read_text())
    keyed = json.loads((secrets / "keyed.json").read_text())
    return (
        host["masterKey"]["value"],
        host["functionKeys"][0]["value"],
        keyed["keys"][0]["value"],
    )


def test_serve_creates_key_files_in_the_real_host_format(
    served: RunningHost, secrets: Path
) -> None:
    host = json.loads((secrets / "host.json").read_text())
    assert host["masterKey"]["name"] == "master"
    assert host["masterKey"]["encrypted"] is False
    assert host["functionKeys"][0]["name"] == "default"
    assert host["systemKeys"] == []
    keyed = json.loads((secrets / "keyed.json").read_text())
    assert keyed["keys"][0]["name"] == "default"
    assert stat.S_IMODE((secrets / "host.json").stat().st_mode) == 0o600
    master, host_key, fn_key = _keys(secrets)
    assert len({master, host_key, fn_key}) == 3
    assert len(master) >= 40


def test_function_level_needs_a_key(served: RunningHost, secrets: Path) -> None:
    master, host_key, fn_key = _keys(secrets)
    c = served.client
    assert c.get("/api/Keyed").status_code == 401
    assert c.get("/api/Keyed").content == b""
    assert c.get("/api/Keyed", params={"code": "wrong"}).status_code == 401
    assert c.get("/api/Keyed", params={"code": fn_key}).text == "keyed ok"
    assert c.get("/api/Keyed", params={"code": host_key}).text == "keyed ok"
    assert c.get("/api/Keyed", headers={"x-functions-key": master}).text == "keyed ok"
    assert c.get("/api/HttpHello?name=anon").status_code == 200


def test_the_code_parameter_is_found_whatever_its_case(served: RunningHost, secrets: Path) -> None:
    # ASP.NET's query collection ignores the case of names, so Azure accepts ?CODE= too.
    _, _, fn_key = _keys(secrets)
    for name in ("CODE", "Code", "cOdE"):
        assert served.client.get("/api/Keyed", params={name: fn_key}).text == "keyed ok"
    assert served.client.get("/api/Keyed", params={"CODE": "wrong"}).status_code == 401


def test_function_key_in_header_wins_over_query(served: RunningHost, secrets: Path) -> None:
    _, _, fn_key = _keys(secrets)
    c = served.client
    assert (
        c.get("/api/Keyed", params={"code": fn_key}, headers={"x-functions-key": "bad"}).status_code
        == 401
    )
    assert (
        c.get("/api/Keyed", params={"code": "bad"}, headers={"x-functions-key": fn_key}).status_code
        == 200
    )


def test_admin_level_needs_the_master_key(served: RunningHost, secrets: Path) -> None:
    master, host_key, fn_key = _keys(secrets)
    c = served.client
    assert c.get("/api/AdminOnly", params={"code": fn_key}).status_code == 401
    assert c.get("/api/AdminOnly", params={"code": host_key}).status_code == 401
    assert c.get("/api/AdminOnly", params={"code": master}).text == "admin ok"


def test_admin_api_needs_master_key_but_ping_is_anonymous(
    served: RunningHost, secrets: Path
) -> None:
    master, host_key, _ = _keys(secrets)
    c = served.client
    assert c.get("/admin/host/ping").status_code == 200
    assert c.post("/admin/host/ping").status_code == 200
    assert c.get("/admin/host/status").status_code == 401
    assert c.get("/admin/host/status", headers={"x-functions-key": host_key}).status_code == 401
    status = c.get("/admin/host/status", headers={"x-functions-key": master})
    assert status.json()["state"] == "Running"
    assert c.post("/admin/functions/TimerJob", json={"input": ""}).status_code == 401


def test_keys_never_appear_in_logs(served: RunningHost, secrets: Path) -> None:
    master, host_key, fn_key = _keys(secrets)
    served.client.get("/api/Keyed", params={"code": fn_key})
    served.client.get("/api/Boom", params={"code": master})
    served.wait_for_output("Executed 'Functions.Boom'")
    out = served.output()
    for key in (master, host_key, fn_key):
        assert key not in out


def test_serve_is_production_and_ignores_local_settings(served: RunningHost) -> None:
    env = served.client.get("/api/ContextInfo").json()["env"]
    assert env["AZURE_FUNCTIONS_ENVIRONMENT"] == "Production"
    assert env["FROM_LOCAL_SETTINGS"] is None


def test_start_with_enable_auth_uses_the_same_key_store(
    start_host: StartHost, secrets: Path
) -> None:
    host = start_host(APPS / "v1", "--enable-auth", env={"FUNCTIONS_SECRETS_PATH": str(secrets)})
    _, _, fn_key = _keys(secrets)
    assert host.client.get("/api/Keyed").status_code == 401
    assert host.client.get("/api/Keyed", params={"code": fn_key}).status_code == 200
    assert host.client.get("/admin/host/status").status_code == 401


def test_default_secrets_folder_is_outside_the_app(
    served: RunningHost, host_env: dict[str, str]
) -> None:
    env = {k: v for k, v in host_env.items() if k != "FUNCTIONS_SECRETS_PATH"}
    result = run_cli("keys", "list", str(APPS / "v1"), env=env)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("Keys in ") and str(APPS / "v1") not in first
    assert first.startswith(f"Keys in {host_env['XDG_DATA_HOME']}/funchost/secrets/v1-")
    assert "master\tmaster\t" in result.stdout


def test_keys_cli_set_and_new_are_used_by_the_running_host(
    start_host: StartHost, secrets: Path, host_env: dict[str, str]
) -> None:
    env = {**host_env, "FUNCTIONS_SECRETS_PATH": str(secrets)}
    result = run_cli(
        "keys", "set", "Keyed", "ci", "my-own-key-value-123456", "--app", str(APPS / "v1"), env=env
    )
    assert result.returncode == 0, result.stderr
    new = run_cli("keys", "new", "host", "rotated", "--app", str(APPS / "v1"), env=env)
    assert new.returncode == 0, new.stderr
    rotated = new.stdout.strip()
    host = start_host(APPS / "v1", command="serve", env={"FUNCTIONS_SECRETS_PATH": str(secrets)})
    assert (
        host.client.get("/api/Keyed", params={"code": "my-own-key-value-123456"}).status_code == 200
    )
    assert host.client.get("/api/Keyed", params={"code": rotated}).status_code == 200
    listing = run_cli("keys", "list", str(APPS / "v1"), env=env).stdout
    assert "Keyed\tci\tmy-own-key-value-123456" in listing.replace("keyed\t", "Keyed\t")


def test_keys_cli_rejects_bad_values_with_one_line(host_env: dict[str, str], secrets: Path) -> None:
    env = {**host_env, "FUNCTIONS_SECRETS_PATH": str(secrets)}
    result = run_cli(
        "keys", "set", "host", "bad name!", "short", "--app", str(APPS / "v1"), env=env
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("funchost: error:")


def test_verbose_access_log_hides_the_code_parameter(start_host: StartHost, secrets: Path) -> None:
    host = start_host(
        APPS / "v1", "--verbose", "--enable-auth", env={"FUNCTIONS_SECRETS_PATH": str(secrets)}
    )
    _, _, fn_key = _keys(secrets)
    assert host.client.get("/api/Keyed", params={"code": fn_key, "x": "1"}).status_code == 200
    out = host.wait_for_output('"GET /api/Keyed?code=[hidden]&x=1" 200')
    assert fn_key not in out


def test_a_key_set_with_the_cli_works_on_the_running_host(
    served: RunningHost, secrets: Path, host_env: dict[str, str]
) -> None:
    import time

    env = {**host_env, "FUNCTIONS_SECRETS_PATH": str(secrets)}
    assert (
        served.client.get("/api/Keyed", params={"code": "set-while-running-0123456789"}).status_code
        == 401
    )
    result = run_cli(
        "keys",
        "set",
        "Keyed",
        "late",
        "set-while-running-0123456789",
        "--app",
        str(APPS / "v1"),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while (
        served.client.get("/api/Keyed", params={"code": "set-while-running-0123456789"}).status_code
        != 200
    ):
        assert time.monotonic() < deadline, "the running host never saw the new key"
        time.sleep(0.2)


def test_admin_keys_api_lists_sets_generates_and_deletes(
    served: RunningHost, secrets: Path
) -> None:
    master, host_key, fn_key = _keys(secrets)
    c = served.client
    admin = {"x-functions-key": master}
    assert c.get("/admin/functions/Keyed/keys").status_code == 401
    listed = c.get("/admin/functions/Keyed/keys", headers=admin).json()
    assert listed["keys"] == [{"name": "default", "value": fn_key}]
    assert listed["links"][0]["href"].endswith("/admin/functions/Keyed/keys")
    put = c.put(
        "/admin/functions/Keyed/keys/partner",
        headers=admin,
        json={"name": "partner", "value": "partner-key-0123456789"},
    )
    assert put.status_code == 201 and put.json()["value"] == "partner-key-0123456789"
    assert c.get("/api/Keyed", params={"code": "partner-key-0123456789"}).status_code == 200
    again = c.put(
        "/admin/functions/Keyed/keys/partner",
        headers=admin,
        json={"value": "partner-key-9876543210"},
    )
    assert again.status_code == 200
    generated = c.post("/admin/host/keys/ci", headers=admin)
    assert generated.status_code == 201
    assert c.get("/api/Keyed", params={"code": generated.json()["value"]}).status_code == 200
    assert c.get("/admin/host/keys", headers=admin).json()["keys"][0] == {
        "name": "default",
        "value": host_key,
    }
    assert c.get("/admin/host/keys/_master", headers=admin).json()["value"] == master
    assert c.delete("/admin/functions/Keyed/keys/partner", headers=admin).status_code == 204
    assert c.delete("/admin/functions/Keyed/keys/partner", headers=admin).status_code == 404
    assert c.get("/api/Keyed", params={"code": "partner-key-9876543210"}).status_code == 401
    bad = c.put("/admin/host/keys/x", headers=admin, json={"value": "tiny$val"})
    assert bad.status_code == 400
    assert "tiny$val" not in bad.text  # a rejected value is not echoed back
    assert bad.json()["error"]
    assert c.get("/admin/functions/Nope/keys", headers=admin).status_code == 404


def test_regenerating_the_master_key_replaces_it(served: RunningHost, secrets: Path) -> None:
    master, _, _ = _keys(secrets)
    c = served.client
    new = c.post("/admin/host/keys/_master", headers={"x-functions-key": master}).json()["value"]
    assert new != master
    assert c.get("/admin/host/status", headers={"x-functions-key": master}).status_code == 401
    assert c.get("/admin/host/status", headers={"x-functions-key": new}).status_code == 200
