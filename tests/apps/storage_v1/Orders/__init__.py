import json

import azure.functions as func


def main(msg: func.QueueMessage, receipt: func.Out[str], context: func.Context) -> None:
    retry = context.retry_context
    if retry.retry_count == 0:
        raise RuntimeError("first attempt fails")
    receipt.set(json.dumps({
        "order": msg.get_json()["OrderId"],
        "dequeue_count": msg.dequeue_count,
        "retry_count": retry.retry_count,
        "max_retry_count": retry.max_retry_count,
    }))
