import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    counter = df.EntityId("Counter", context.instance_id)
    yield context.call_entity(counter, "add", 3)
    yield context.call_entity(counter, "add", 4)
    return (yield context.call_entity(counter, "get"))


main = df.Orchestrator.create(orchestrator_function)
