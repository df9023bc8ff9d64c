import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    cities = context.get_input()
    greetings = []
    for city in cities:
        greetings.append((yield context.call_activity("SayHello", city)))
    lengths = yield context.task_all([context.call_activity("SayHello", c) for c in cities])
    return {"sequence": greetings, "fan_out": lengths}


main = df.Orchestrator.create(orchestrator_function)
