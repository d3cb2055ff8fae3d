"""The domain: what cxpulse knows about contact centers, as pure logic with no Kafka and no I/O.

The event contract and its normalization, the channel registry, dedup's verdicts, the identity
graph, detection (customer state, rules, alert lifecycle, work items), outreach (actions, contact
policy, team capacity) and pseudonyms. Stages (`streams.stages`) run this on the runtime.
"""
