import azure.functions as func


def main(timer: func.TimerRequest) -> str:
    return f"past_due={timer.past_due}"
