"""Durable Functions in the decorator model, in the style of the library's samples."""

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"],
        req.params.get("instanceId"),
        json.loads(body) if body else None,
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="status/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(
        req.route_params["instanceId"], show_history=True, show_history_output=True
    )
    if not status:
        return func.HttpResponse("unknown", status_code=404)
    body = status.to_json()
    body["historyEvents"] = getattr(status, "historyEvents", None)
    return func.HttpResponse(json.dumps(body, default=str), mimetype="application/json")


@app.route(route="raise/{instanceId}/{eventName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_raise(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(
        req.route_params["instanceId"], req.route_params["eventName"], req.get_json()
    )
    return func.HttpResponse("raised", status_code=202)


@app.route(route="terminate/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_terminate(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.terminate(req.route_params["instanceId"], req.params.get("reason", "stop"))
    return func.HttpResponse("terminated", status_code=202)


@app.route(route="instances", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_list(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    every = await client.get_status_all()
    completed = await client.get_status_by(
        runtime_status=[df.OrchestrationRuntimeStatus.Completed]
    )
    body = {
        "all": sorted(s.instance_id for s in every),
        "completed": sorted(s.instance_id for s in completed),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="purge/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_purge(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["instanceId"])
    return func.HttpResponse(str(result.instances_deleted))


@app.route(route="lifecycle/{operation}/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_lifecycle(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    operation, instance_id = req.route_params["operation"], req.route_params["instanceId"]
    if operation == "suspend":
        await client.suspend(instance_id, "paused by a test")
    elif operation == "resume":
        await client.resume(instance_id, "resumed by a test")
    elif operation == "restart":
        body = await client.restart(instance_id, restart_with_new_instance_id=False)
        return func.HttpResponse(json.dumps(body), mimetype="application/json")
    return func.HttpResponse(operation, status_code=202)


# Function chaining
@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    # Replays see the time and ids of the first episode: the activity's input, made in the
    # first episode, equals what the last replay computes here.
    started = {"time": context.current_utc_datetime.isoformat(), "uuid": str(context.new_uuid())}
    context.set_custom_status("greeting")
    first = yield context.call_activity("echo", started)
    result1 = yield context.call_activity("say_hello", "Tokyo")
    result2 = yield context.call_activity("say_hello", "Seattle")
    result3 = yield context.call_activity("say_hello", "London")
    return {
        "greetings": [result1, result2, result3],
        "input": context.get_input(),
        "replayed_start": started,
        "first_start": first,
    }


@app.activity_trigger(input_name="value")
def echo(value):
    return value


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


# Fan-out/fan-in
@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    count = context.get_input() or 5
    tasks = [context.call_activity("square", n) for n in range(count)]
    results = yield context.task_all(tasks)
    return sum(results)


@app.activity_trigger(input_name="n")
def square(n: int) -> int:
    return n * n


# Human interaction: an approval raised as an external event
@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for approval")
    decision = yield context.wait_for_external_event("Approval")
    context.set_custom_status("decided")
    result = yield context.call_activity("say_hello", str(decision))
    return {"decision": decision, "result": result}


# A failing activity, caught by the orchestrator, then one that is not caught
@app.orchestration_trigger(context_name="context")
def failing_activity(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", "first")
    except Exception as exc:
        caught = str(exc)
    else:
        caught = None
    if context.get_input() == "rethrow":
        yield context.call_activity("explode", "second")
    return caught


@app.activity_trigger(input_name="label")
def explode(label: str) -> str:
    raise ValueError(f"boom {label}")


# An orchestrator that raises by itself
@app.orchestration_trigger(context_name="context")
def broken(context: df.DurableOrchestrationContext):
    yield context.call_activity("say_hello", "before")
    raise RuntimeError("the orchestrator gave up")


# A durable timer
@app.orchestration_trigger(context_name="context")
def with_timer(context: df.DurableOrchestrationContext):
    before = context.current_utc_datetime
    yield context.create_timer(before + timedelta(seconds=1))
    # The episode after the timer fired starts no earlier than the timer's time.
    return (context.current_utc_datetime - before).total_seconds() >= 1


# Human interaction with a timeout: the event or the timer, whichever comes first
@app.orchestration_trigger(context_name="context")
def approval_with_timeout(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    timeout = context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timeout])
    if winner == approval:
        timeout.cancel()
        return f"approved: {approval.result}"
    return "timed out"


# An eternal orchestration in miniature: each execution does one step, then continues as new
@app.orchestration_trigger(context_name="context")
def countdown(context: df.DurableOrchestrationContext):
    remaining = context.get_input()
    context.set_custom_status(f"at {remaining}")
    if remaining <= 0:
        return "lift-off"
    yield context.call_activity("square", remaining)
    context.continue_as_new(remaining - 1)


# Sub-orchestrations: fanned out, with an instance id, and one that fails
@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    cities = context.get_input()
    children = [context.call_sub_orchestrator("child_greeting", city) for city in cities]
    results = yield context.task_all(children)
    named = yield context.call_sub_orchestrator(
        "child_greeting", "Named", instance_id=f"{context.instance_id}-named"
    )
    try:
        yield context.call_sub_orchestrator("broken")
        failure = None
    except Exception as exc:
        failure = str(exc)
    return {"results": results, "named": named, "failure": failure}


@app.orchestration_trigger(context_name="context")
def child_greeting(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("say_hello", context.get_input())
    return {"greeting": greeting, "parent": context.parent_instance_id}


# Retries: alone, two in a fan-out beside a plain call, and one that gives up
@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
    key = context.instance_id
    ok = yield context.call_activity_with_retry("flaky", retry, {"key": key, "failures": 2})
    both = yield context.task_all(
        [
            context.call_activity_with_retry("flaky", retry, {"key": key + "-a", "failures": 1}),
            context.call_activity_with_retry("flaky", retry, {"key": key + "-b", "failures": 2}),
            context.call_activity("say_hello", "between"),
        ]
    )
    try:
        yield context.call_activity_with_retry("flaky", retry, {"key": key + "-c", "failures": 5})
        gave_up = None
    except Exception as exc:
        gave_up = str(exc)
    return {"ok": ok, "both": both, "gave_up": gave_up}


ATTEMPTS: dict = {}


@app.activity_trigger(input_name="work")
def flaky(work: dict) -> int:
    attempt = ATTEMPTS[work["key"]] = ATTEMPTS.get(work["key"], 0) + 1
    if attempt <= work["failures"]:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


# A retried sub-orchestration: the child fails once, then succeeds
@app.orchestration_trigger(context_name="context")
def child_with_retry(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=2)
    work = {"key": context.instance_id, "failures": 1}
    return (yield context.call_sub_orchestrator_with_retry("flaky_child", retry, work))


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("flaky", context.get_input()))


# Entities: a counter, called and signalled by an orchestration and by clients
@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "get":
        context.set_result(value)
    elif operation == "fail":
        raise ValueError("the counter refuses")
    elif operation == "delete":
        context.destruct_on_exit()
        return
    context.set_state(value)


@app.orchestration_trigger(context_name="context")
def count_with_entity(context: df.DurableOrchestrationContext):
    entity = df.EntityId("counter", context.get_input())
    context.signal_entity(entity, "add", 5)
    yield context.call_entity(entity, "add", 2)
    value = yield context.call_entity(entity, "get")
    try:
        yield context.call_entity(entity, "fail")
        error = None
    except Exception as exc:
        error = str(exc)
    return {"value": value, "error": error}


@app.route(route="entity/{key}", methods=["POST", "GET"])
@app.durable_client_input(client_name="client")
async def http_entity(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    entity = df.EntityId("counter", req.route_params["key"])
    if req.method == "POST":
        await client.signal_entity(entity, "add", int(req.params.get("amount", "1")))
        return func.HttpResponse("signalled", status_code=202)
    state = await client.read_entity_state(entity)
    body = {"exists": state.entity_exists, "state": state.entity_state}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


# Durable HTTP: a call to a route that answers 202 with a Location twice, then 200
@app.orchestration_trigger(context_name="context")
def with_http(context: df.DurableOrchestrationContext):
    response = yield context.call_http("POST", context.get_input(), {"steps": 2})
    try:
        yield context.call_http("GET", "http://127.0.0.1:9/unreachable")
        unreachable = None
    except Exception as exc:
        unreachable = str(exc).split(" failed: ")[0]
    return {"response": response, "unreachable": unreachable}


@app.route(route="polled/{steps:int}", methods=["GET", "POST"])
def polled(req: func.HttpRequest) -> func.HttpResponse:
    steps = int(req.route_params["steps"])
    if req.method == "POST":
        steps = req.get_json()["steps"]
    if steps > 0:
        location = req.url.split("/api/")[0] + f"/api/polled/{steps - 1}"
        return func.HttpResponse(
            status_code=202, headers={"Location": location, "Retry-After": "0"}
        )
    return func.HttpResponse('{"done": true}', mimetype="application/json")


# Rewind: fails the first time; rewound, the failed activity runs again and succeeds
@app.orchestration_trigger(context_name="context")
def rewindable(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("say_hello", "first")
    attempt = yield context.call_activity("flaky", {"key": context.instance_id, "failures": 1})
    return {"greeting": greeting, "attempt": attempt}


# Entity calls and retries in one orchestration are not built yet: the instance fails saying so
@app.orchestration_trigger(context_name="context")
def mixed(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=2)
    yield context.call_entity(df.EntityId("counter", "mixed"), "add", 1)
    return (yield context.call_activity_with_retry("say_hello", retry, "x"))
