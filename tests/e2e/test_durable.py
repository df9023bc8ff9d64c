"""Durable Functions end to end: sample apps in both models under `funchost start`, driven over
HTTP only (the starter route, then the status URL it hands out), against the outputs and
statuses the real extension gives. One host per app for the module, to keep it fast."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    APPS,
    RunningHost,
    StartHost,
    free_port,
    launch,
    run_cli,
    write_app,
)

TERMINAL = {"Completed", "Failed", "Terminated"}


def _host(app: Path, tmp: Path, command: str = "start") -> RunningHost:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCTIONS_", "AzureWebJobs"))}
    env.update(
        XDG_DATA_HOME=str(tmp / "xdg-data"),
        FUNCHOST_STATE_DIR=str(tmp / "state"),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    port = free_port()
    cmd = [sys.executable, "-m", "funchost", command, str(app), "--port", str(port)]
    running = launch([*cmd, "--host", "127.0.0.1"], env, tmp / "host.log", port)
    running.wait_until_ready()
    return running


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = _host(APPS / "durable_v2", tmp_path_factory.mktemp("durable-v2"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    running = _host(APPS / "durable_v1", tmp_path_factory.mktemp("durable-v1"))
    yield running
    running.stop()


def start(host: RunningHost, name: str, body: str | None = None, **params: str) -> dict[str, Any]:
    response = host.client.post(f"/api/orchestrators/{name}", content=body, params=params)
    assert response.status_code == 202, response.text
    urls: dict[str, Any] = response.json()
    assert response.headers["location"] == urls["statusQueryGetUri"]
    return urls


def wait(urls: dict[str, Any], until: set[str] = TERMINAL) -> dict[str, Any]:
    """Poll the status URL with a plain HTTP client until the instance reaches `until`."""
    deadline = time.monotonic() + 15
    while True:
        response = httpx.get(urls["statusQueryGetUri"], timeout=5)
        status: dict[str, Any] = response.json()
        if status["runtimeStatus"] in until:
            expected = 200 if status["runtimeStatus"] in TERMINAL else 202
            assert response.status_code == expected
            return status
        assert response.status_code == 202
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_function_chaining_runs_activities_in_order_with_deterministic_replays(
    v2: RunningHost,
) -> None:
    status = wait(start(v2, "hello_sequence", '{"a": 1}'))
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["greetings"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert output["input"] == {"a": 1}
    # The last replay computes the same time and new_uuid() as the first episode did.
    assert output["replayed_start"] == output["first_start"]
    assert status["customStatus"] == "greeting"
    # Started through the library's client, the input is stored as JSON text (as in Azure).
    assert status["input"] == '{"a": 1}'
    assert status["name"] == "hello_sequence"
    assert status["createdTime"].endswith("Z") and len(status["createdTime"]) == 20


def test_fan_out_fan_in_gathers_every_activity_result(v2: RunningHost) -> None:
    status = wait(start(v2, "fan_out_fan_in", "10"))
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 285)


def test_activity_exception_reaches_the_orchestrator_with_reason_and_details(
    v2: RunningHost,
) -> None:
    caught = wait(start(v2, "failing_activity"))
    assert caught["runtimeStatus"] == "Completed"
    assert caught["output"].startswith("Activity function 'explode' failed: boom first \n ")
    failed = wait(start(v2, "failing_activity", '"rethrow"'))
    assert failed["runtimeStatus"] == "Failed"
    assert failed["output"].startswith(
        "Orchestrator function 'failing_activity' failed: Activity function 'explode' failed: "
        "boom second"
    )


def test_unhandled_orchestrator_exception_fails_with_the_extensions_output(
    v2: RunningHost,
) -> None:
    status = wait(start(v2, "broken"))
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == "Orchestrator function 'broken' failed: the orchestrator gave up"


def test_external_event_from_the_client_and_from_the_webhook_resumes_the_orchestrator(
    v2: RunningHost,
) -> None:
    urls = start(v2, "approval")
    waiting = wait(urls, {"Running"} | TERMINAL)
    assert waiting["customStatus"] == "waiting for approval"
    assert v2.client.post(f"/api/raise/{urls['id']}/Approval", json="yes").status_code == 202
    done = wait(urls)
    # The library's client encodes event data twice: the orchestrator gets JSON text, as in Azure.
    assert done["output"] == {"decision": '"yes"', "result": 'Hello "yes"!'}
    assert done["customStatus"] == "decided"

    urls = start(v2, "approval")
    wait(urls, {"Running"} | TERMINAL)
    send = urls["sendEventPostUri"].replace("{eventName}", "Approval")
    assert httpx.post(send, json=True).status_code == 202
    assert wait(urls)["output"] == {"decision": True, "result": "Hello True!"}
    # An ended instance takes no more events.
    assert httpx.post(send, json=True).status_code == 410


def test_terminate_ends_a_waiting_instance_with_the_reason_as_output(v2: RunningHost) -> None:
    urls = start(v2, "approval")
    wait(urls, {"Running"} | TERMINAL)
    assert v2.client.post(f"/api/terminate/{urls['id']}?reason=no+longer+needed").status_code == 202
    status = wait(urls)
    assert (status["runtimeStatus"], status["output"]) == ("Terminated", "no longer needed")
    terminate = urls["terminatePostUri"].replace("{text}", "again")
    assert httpx.post(terminate).status_code == 410


def test_start_with_an_instance_id_and_status_with_history_through_the_client(
    v2: RunningHost,
) -> None:
    urls = start(v2, "fan_out_fan_in", "2", instanceId="my-instance-1")
    assert urls["id"] == "my-instance-1"
    assert wait(urls)["output"] == 1
    status = v2.client.get("/api/status/my-instance-1").json()
    assert status["runtimeStatus"] == "Completed"
    events = status["historyEvents"]
    assert events[0]["EventType"] == "ExecutionStarted"
    assert events[0]["FunctionName"] == "fan_out_fan_in"
    completed = [e for e in events if e["EventType"] == "TaskCompleted"]
    assert sorted(e["Result"] for e in completed) == [0, 1]
    assert {e["FunctionName"] for e in completed} == {"square"}
    assert events[-1]["EventType"] == "ExecutionCompleted"
    assert events[-1]["Result"] == 1
    # Without showHistory the status has no events; an unknown instance is 404.
    plain = httpx.get(urls["statusQueryGetUri"]).json()
    assert "historyEvents" not in plain
    assert v2.client.get("/runtime/webhooks/durabletask/instances/nobody").status_code == 404


def test_durable_timer_fires_and_the_next_episode_sees_the_later_time(v2: RunningHost) -> None:
    urls = start(v2, "with_timer")
    assert wait(urls, {"Running"} | TERMINAL)["runtimeStatus"] == "Running"
    status = wait(urls)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", True)
    events = httpx.get(urls["statusQueryGetUri"] + "&showHistory=true").json()["historyEvents"]
    kinds = [e["EventType"] for e in events]
    assert kinds == ["ExecutionStarted", "TimerCreated", "TimerFired", "ExecutionCompleted"]
    assert events[1]["FireAt"] == events[2]["FireAt"]


def test_human_interaction_with_a_timeout_takes_the_event_or_the_timer(v2: RunningHost) -> None:
    approved = start(v2, "approval_with_timeout", "30")
    wait(approved, {"Running"} | TERMINAL)
    send = approved["sendEventPostUri"].replace("{eventName}", "Approval")
    assert httpx.post(send, json="ok").status_code == 202
    # The cancelled 30 s timer does not keep the instance running.
    assert wait(approved)["output"] == "approved: ok"
    timed_out = wait(start(v2, "approval_with_timeout", "1"))
    assert (timed_out["runtimeStatus"], timed_out["output"]) == ("Completed", "timed out")


def test_continue_as_new_starts_fresh_executions_until_the_orchestrator_returns(
    v2: RunningHost,
) -> None:
    urls = start(v2, "countdown", "3")
    status = wait(urls)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "lift-off")
    assert status["customStatus"] == "at 0"
    assert status["input"] == "0"  # the last execution's input
    # The history is the last execution's only.
    events = httpx.get(urls["statusQueryGetUri"] + "&showHistory=true").json()["historyEvents"]
    assert [e["EventType"] for e in events] == ["ExecutionStarted", "ExecutionCompleted"]


def test_sub_orchestrations_report_their_outputs_and_failures_to_the_parent(
    v2: RunningHost,
) -> None:
    urls = start(v2, "parent", '["Lima", "Quito"]', instanceId="family")
    status = wait(urls)
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["results"] == [
        {"greeting": "Hello Lima!", "parent": "family"},
        {"greeting": "Hello Quito!", "parent": "family"},
    ]
    assert output["named"] == {"greeting": "Hello Named!", "parent": "family"}
    assert output["failure"].startswith(
        "Orchestrator function 'broken' failed: the orchestrator gave up"
    )
    # Each child is an instance of its own, with the id it was given.
    base = "/runtime/webhooks/durabletask/instances"
    named = v2.client.get(f"{base}/family-named").json()
    assert (named["name"], named["runtimeStatus"]) == ("child_greeting", "Completed")
    events = httpx.get(urls["statusQueryGetUri"] + "&showHistory=true").json()["historyEvents"]
    kinds = [e["EventType"] for e in events]
    assert kinds.count("SubOrchestrationInstanceCompleted") == 3
    assert kinds.count("SubOrchestrationInstanceFailed") == 1


def test_retried_activities_run_again_after_their_interval_until_they_give_up(
    v2: RunningHost,
) -> None:
    urls = start(v2, "with_retry")
    status = wait(urls)
    assert status["runtimeStatus"] == "Completed", status
    output = status["output"]
    assert output["ok"] == 3
    assert output["both"] == [2, 3, "Hello between!"]
    assert output["gave_up"].startswith("Activity function 'flaky' failed: attempt 3 failed \n ")
    events = httpx.get(urls["statusQueryGetUri"] + "&showHistory=true").json()["historyEvents"]
    kinds = [e["EventType"] for e in events]
    # 3 + 2 + 3 + 3 attempts; a retry timer after every failure, the last ones included.
    assert kinds.count("TaskFailed") == 2 + 1 + 2 + 3
    assert kinds.count("TimerFired") == kinds.count("TaskFailed")
    assert kinds.count("TaskCompleted") == 1 + 1 + 1 + 1


def test_a_retried_sub_orchestration_starts_a_new_child_after_a_failure(
    v2: RunningHost,
) -> None:
    status = wait(start(v2, "child_with_retry"))
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 2)


def test_an_entity_runs_operations_from_orchestrations_and_clients_in_order(
    v2: RunningHost,
) -> None:
    status = wait(start(v2, "count_with_entity", '"orders"'))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["value"] == 7  # the signal (5), then the call (2)
    assert "the counter refuses" in status["output"]["error"]
    read = v2.client.get("/api/entity/orders").json()
    assert read == {"exists": True, "state": 7}
    for amount in (1, 2, 3):
        assert v2.client.post(f"/api/entity/orders?amount={amount}").status_code == 202
    deadline = time.monotonic() + 10
    while v2.client.get("/api/entity/orders").json()["state"] != 13:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The webhook: state, a signal with a JSON body, and delete.
    base = "/runtime/webhooks/durabletask/entities/counter"
    assert v2.client.get(f"{base}/orders").json() == 13
    assert v2.client.get(f"{base}/nobody").status_code == 404
    assert v2.client.delete(f"{base}/orders").status_code == 202
    while v2.client.get(f"{base}/orders").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert v2.client.get("/api/entity/orders").json() == {"exists": False, "state": None}


def test_call_http_polls_a_202_location_and_fails_the_task_for_an_unreachable_url(
    v2: RunningHost,
) -> None:
    urls = start(v2, "with_http", json.dumps(f"{v2.base_url}/api/polled/0"))
    status = wait(urls)
    assert status["runtimeStatus"] == "Completed", status
    response = status["output"]["response"]
    assert (response["statusCode"], json.loads(response["content"])) == (200, {"done": True})
    assert status["output"]["unreachable"] == "Activity function 'BuiltIn::HttpActivity'"
    events = httpx.get(urls["statusQueryGetUri"] + "&showHistory=true").json()["historyEvents"]
    calls = [e for e in events if e.get("FunctionName") == "BuiltIn::HttpActivity"]
    assert len(calls) == 2  # one task each, the polls inside it


def test_rewind_runs_a_failed_instances_failed_activities_again(v2: RunningHost) -> None:
    urls = start(v2, "rewindable")
    assert wait(urls)["runtimeStatus"] == "Failed"
    rewind = urls["rewindPostUri"].replace("{text}", "try+again")
    assert httpx.post(rewind).status_code == 202
    status = wait(urls)
    assert (status["runtimeStatus"], status["output"]) == (
        "Completed",
        {"greeting": "Hello first!", "attempt": 2},
    )
    assert httpx.post(rewind).status_code == 410
    unknown = "/runtime/webhooks/durabletask/instances/nobody/rewind"
    assert v2.client.post(unknown).status_code == 404


def test_a_durable_feature_not_built_fails_the_instance_naming_it(v2: RunningHost) -> None:
    status = wait(start(v2, "mixed"))
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Orchestrator function 'mixed' failed: funchost does not support Durable entity calls "
        "and retries in one orchestration yet"
    )


def test_instances_are_listed_filtered_paged_and_purged(v2: RunningHost) -> None:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for name in ("list-a", "list-b", "list-c"):
        wait(start(v2, "fan_out_fan_in", "2", instanceId=name))
    listed = v2.client.get("/api/instances").json()
    assert {"list-a", "list-b", "list-c"} <= set(listed["all"])
    assert {"list-a", "list-b", "list-c"} <= set(listed["completed"])
    base = "/runtime/webhooks/durabletask/instances"
    page = v2.client.get(f"{base}?instanceIdPrefix=list-&runtimeStatus=Completed&top=2")
    assert [s["instanceId"] for s in page.json()] == ["list-a", "list-b"]
    token = page.headers["x-ms-continuation-token"]
    rest = v2.client.get(
        f"{base}?instanceIdPrefix=list-&top=2", headers={"x-ms-continuation-token": token}
    )
    assert [s["instanceId"] for s in rest.json()] == ["list-c"]
    assert "x-ms-continuation-token" not in rest.headers
    # Purged through the client, then by the webhook's filter.
    assert v2.client.post("/api/purge/list-a").text == "1"
    assert v2.client.get(f"{base}/list-a").status_code == 404
    assert v2.client.delete(f"{base}/list-a").status_code == 404
    no_from = v2.client.delete(base)
    assert (no_from.status_code, no_from.json()) == (
        400,
        "Please provide value for 'createdTimeFrom' parameter.",
    )
    purged = v2.client.delete(f"{base}?createdTimeFrom={since}&runtimeStatus=Completed")
    assert purged.json() == {"instancesDeleted": 2}
    assert v2.client.get(f"{base}?instanceIdPrefix=list-").json() == []
    assert v2.client.delete(f"{base}?createdTimeFrom={since}").status_code == 404


def test_a_suspended_instance_keeps_its_events_until_it_is_resumed(v2: RunningHost) -> None:
    urls = start(v2, "approval")
    wait(urls, {"Running"} | TERMINAL)
    suspend = urls["suspendPostUri"].replace("{text}", "wait")
    assert httpx.post(suspend).status_code == 202
    assert wait(urls, {"Suspended"} | TERMINAL)["runtimeStatus"] == "Suspended"
    send = urls["sendEventPostUri"].replace("{eventName}", "Approval")
    assert httpx.post(send, json="later").status_code == 202
    time.sleep(0.3)
    assert httpx.get(urls["statusQueryGetUri"]).json()["runtimeStatus"] == "Suspended"
    assert v2.client.post(f"/api/lifecycle/resume/{urls['id']}").status_code == 202
    status = wait(urls)
    assert (status["runtimeStatus"], status["output"]["decision"]) == ("Completed", "later")
    history = httpx.get(urls["statusQueryGetUri"] + "&showHistory=true").json()["historyEvents"]
    kinds = [e["EventType"] for e in history]
    assert kinds.index("ExecutionSuspended") < kinds.index("ExecutionResumed")
    assert httpx.post(suspend).status_code == 410
    # Through the client too.
    urls = start(v2, "approval")
    wait(urls, {"Running"} | TERMINAL)
    assert v2.client.post(f"/api/lifecycle/suspend/{urls['id']}").status_code == 202
    assert httpx.get(urls["statusQueryGetUri"]).json()["runtimeStatus"] == "Suspended"
    assert httpx.post(urls["terminatePostUri"].replace("{text}", "x")).status_code == 202


def test_restart_runs_the_orchestrator_again_with_its_original_input(v2: RunningHost) -> None:
    urls = start(v2, "fan_out_fan_in", "3")
    assert wait(urls)["output"] == 5
    again = httpx.post(urls["restartPostUri"])
    assert again.status_code == 202
    restarted = again.json()
    assert restarted["id"] != urls["id"]
    assert wait(restarted)["output"] == 5
    same = v2.client.post(f"/api/lifecycle/restart/{urls['id']}").json()
    assert same["id"] == urls["id"]
    assert wait(urls)["output"] == 5
    unknown = v2.client.post("/runtime/webhooks/durabletask/instances/nobody/restart")
    assert unknown.status_code == 400
    assert unknown.json()["Message"] == "InstanceId does not match a valid orchestration instance."


def test_management_api_rejects_bad_requests_with_the_extensions_answers(
    v2: RunningHost,
) -> None:
    c = v2.client
    base = "/runtime/webhooks/durabletask"
    unknown = c.post(f"{base}/orchestrators/nope")
    assert unknown.status_code == 400
    assert unknown.json()["ExceptionMessage"].startswith(
        "The function 'nope' doesn't exist, is disabled, or is not an orchestrator function."
    )
    not_json = c.post(f"{base}/orchestrators/hello_sequence", content=b"{oops")
    assert (not_json.status_code, not_json.json()["Message"]) == (400, "Invalid JSON content")
    bad_id = c.post(f"{base}/orchestrators/fan_out_fan_in/@bad")
    assert bad_id.status_code == 400
    assert "invalid characters" in bad_id.json()["ExceptionMessage"]
    assert c.post(f"{base}/instances/nobody/raiseEvent/x", json=1).status_code == 404
    urls = start(v2, "approval")
    wait(urls, {"Running"} | TERMINAL)
    send = urls["sendEventPostUri"].replace("{eventName}", "Approval")
    text = httpx.post(send, content=b"yes", headers={"content-type": "text/plain"})
    assert text.json() == {"Message": "Only application/json request content is supported"}
    assert c.get(f"{base}/instances/x/rewind").status_code == 404  # a POST route
    # Rewinding a running instance changes nothing (202, as the extension).
    assert c.post(f"{base}/instances/{urls['id']}/rewind").status_code == 202
    bad_signal = c.post(
        f"{base}/entities/counter/k?op=add",
        content=b"{oops",
        headers={"content-type": "application/json"},
    )
    assert bad_signal.status_code == 400
    assert bad_signal.json()["Message"].startswith("Could not parse JSON content: ")
    # The host is still serving.
    assert httpx.post(send, json="ok").status_code == 202
    assert wait(urls)["runtimeStatus"] == "Completed"


def test_v1_app_with_orchestration_client_runs_a_sequence_and_a_fan_out(v1: RunningHost) -> None:
    status = wait(start(v1, "HelloSequence", '["Tokyo", "Seattle"]'))
    assert status["runtimeStatus"] == "Completed"
    hello = ["Hello Tokyo!", "Hello Seattle!"]
    assert status["output"] == {"sequence": hello, "fan_out": hello}
    failed = wait(start(v1, "HelloSequence", '["nowhere"]'))
    assert failed["runtimeStatus"] == "Failed"
    assert failed["output"].startswith(
        "Orchestrator function 'HelloSequence' failed: Activity function 'SayHello' failed: "
        "there is no nowhere"
    )


def test_serve_needs_a_key_for_the_management_api_and_hands_it_out_in_the_urls(
    start_host: StartHost,
) -> None:
    host = start_host(APPS / "durable_v2", "--verbose", command="serve")
    urls = start(host, "fan_out_fan_in", "3")
    assert "code=" in urls["statusQueryGetUri"]
    assert wait(urls)["output"] == 5
    bare = urls["statusQueryGetUri"].split("?")[0]
    assert httpx.get(bare).status_code == 401
    rpc = f"{host.base_url}/runtime/webhooks/durabletask/rpc/not-the-secret/instances/{urls['id']}"
    assert httpx.get(rpc).status_code == 401
    # The library's calls went to the RPC path; its secret never reaches the access log.
    log = host.output()
    assert "/runtime/webhooks/durabletask/rpc/[hidden]/orchestrators/fan_out_fan_in" in log
    assert re.search(r"/rpc/[0-9a-f]{64}", log) is None


def test_v1_entity_made_with_entity_create_keeps_its_state_between_calls(
    v1: RunningHost,
) -> None:
    status = wait(start(v1, "CountOnce", "null"))
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 7)


def test_an_orchestrator_answering_garbage_fails_its_instance_in_one_line(v1: RunningHost) -> None:
    status = wait(start(v1, "NotAnOrchestrator", "null"))
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == (
        "Orchestrator function 'NotAnOrchestrator' failed: its answer is not an orchestration "
        "state: 'just text' (is it made with df.Orchestrator.create or "
        "@app.orchestration_trigger?)"
    )
    # The host goes on: another instance completes.
    assert wait(start(v1, "HelloSequence", '["Oslo"]'))["runtimeStatus"] == "Completed"


def test_serve_workers_share_the_task_hub_and_run_each_activity_once(
    start_host: StartHost,
) -> None:
    host = start_host(APPS / "durable_v2", "--workers", "2", command="serve")
    every = [start(host, "fan_out_fan_in", "4") for _ in range(20)]
    assert [wait(urls)["output"] for urls in every] == [14] * 20
    assert host.output().count("Executing 'Functions.square'") == 80


def test_a_client_only_app_gets_the_extensions_error_for_an_unknown_orchestrator(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "client-only",
        {
            "function_app.py": (
                "import azure.durable_functions as df\n"
                "import azure.functions as func\n\n"
                "app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n\n"
                '@app.route(route="start")\n'
                '@app.durable_client_input(client_name="client")\n'
                "async def start(req: func.HttpRequest, client) -> func.HttpResponse:\n"
                "    try:\n"
                '        await client.start_new("elsewhere")\n'
                "    except Exception as exc:\n"
                "        return func.HttpResponse(str(exc), status_code=400)\n"
                '    return func.HttpResponse("started")\n'
            )
        },
    )
    response = start_host(app).client.get("/api/start")
    assert (response.status_code, response.text) == (
        400,
        "The function 'elsewhere' doesn't exist, is disabled, or is not an orchestrator "
        "function. Additional info: No orchestrator functions are currently registered!",
    )


def test_the_durable_command_lists_raises_to_and_purges_a_running_hosts_instances(
    start_host: StartHost, host_env: dict[str, str]
) -> None:
    host = start_host(APPS / "durable_v2")
    urls = start(host, "approval")
    wait(urls, {"Running"} | TERMINAL)
    app = ["--app", str(APPS / "durable_v2")]
    listed = run_cli("durable", "list", *app, env=host_env)
    assert listed.returncode == 0, listed.stderr
    assert f"{urls['id']}\tapproval\tRunning\t" in listed.stdout
    raised = run_cli(
        "durable", "raise", urls["id"], "Approval", '"from the cli"', *app, env=host_env
    )
    assert raised.returncode == 0, raised.stderr
    # The host picks the event up at its next look at the store.
    assert wait(urls)["output"]["decision"] == "from the cli"
    history = json.loads(run_cli("durable", "history", urls["id"], *app, env=host_env).stdout)
    assert "EventRaised" in [e["EventType"] for e in history]
    status = json.loads(run_cli("durable", "status", urls["id"], *app, env=host_env).stdout)
    assert status["runtimeStatus"] == "Completed"
    ended = run_cli("durable", "terminate", urls["id"], *app, env=host_env)
    assert (ended.returncode, ended.stderr.strip()) == (
        2,
        f"funchost: error: instance '{urls['id']}' has ended (Completed)",
    )
    assert run_cli("durable", "purge", urls["id"], *app, env=host_env).returncode == 0
    assert httpx.get(urls["statusQueryGetUri"]).status_code == 404
