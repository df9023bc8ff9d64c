"""Durable Functions: the host's half of the contract with `azure-functions-durable` 1.x.

`store` keeps task hubs in SQLite, `history` builds the events and status shapes the library and
the extension's HTTP API use, `episode` turns an orchestrator's answer into new history and
work, `hub` runs orchestrations and activities, `api` serves the management HTTP API, and
`bindings` registers the durable binding types with the host.
"""
