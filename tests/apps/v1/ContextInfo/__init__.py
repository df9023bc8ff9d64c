import json
import os
import threading

import azure.functions as func


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({
        "invocation_id": context.invocation_id,
        "function_name": context.function_name,
        "function_directory": context.function_directory,
        "trace_parent": context.trace_context.trace_parent,
        "trace_state": context.trace_context.trace_state,
        "Traceparent": context.trace_context.Traceparent,
        "attributes": context.trace_context.attributes,
        "retry_count": context.retry_context.retry_count,
        "max_retry_count": context.retry_context.max_retry_count,
        "thread_local_invocation_id": context.thread_local_storage.invocation_id,
        "thread": threading.current_thread().name,
        "env": {k: os.environ.get(k) for k in (
            "AzureWebJobsScriptRoot", "FUNCTIONS_WORKER_RUNTIME", "AZURE_FUNCTIONS_ENVIRONMENT",
            "WEBSITE_HOSTNAME", "FROM_LOCAL_SETTINGS", "OVERRIDDEN_BY_ENV")},
    }), mimetype="application/json")
