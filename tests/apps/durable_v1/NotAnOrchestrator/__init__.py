# An orchestrator written without df.Orchestrator.create: its answer is no orchestration state.


def main(context):
    return "just text"
