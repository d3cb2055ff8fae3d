"""The HTTP gateway: channel systems that cannot write to Kafka post events here.

`http_binding` turns a request into Kafka messages (CloudEvents HTTP binding → Kafka binding),
`auth` says which configured source sent it, `publisher` writes to the broker and answers only
once the broker acknowledged, `app` is the Starlette application that ties them to routes.
Vendors' own webhook payloads are mapped by `streams.adapters`.
"""
