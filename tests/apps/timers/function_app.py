"""Timer-triggered functions, recording each invocation in RECORD_DIR."""

import json
import os
import time

import azure.functions as func

app = func.FunctionApp()


def record(name: str, **data) -> None:
    data["pid"] = os.getpid()
    data["at"] = time.time()
    with open(os.path.join(os.environ["RECORD_DIR"], f"{name}.jsonl"), "a") as f:
        f.write(json.dumps(data) + "\n")


@app.timer_trigger(schedule="%TICK_SCHEDULE%", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    record("tick", past_due=timer.past_due)
    if os.environ.get("TICK_FAILS") == "1":
        raise RuntimeError("tick failed")
    time.sleep(float(os.environ.get("TICK_SECONDS", "0")))
    record("tick_end")


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
def yearly(timer: func.TimerRequest) -> None:
    record("yearly", past_due=timer.past_due, status=timer.schedule_status)
