-- How a resolved alert was served, carried by the alert itself: detection knows the events that
-- ended the incident (streams/domain/detect/state.py, `resolved_by`), so cx.alerts_per_minute no longer
-- joins every alerts insert with cx.events (0009). That join read cx.events on each insert, the
-- largest view cost of an alerts insert (4.5 µs per event in a backlog, 7.8 under live traffic:
-- docs/benchmarks.md), and said 'unknown' whenever the resolving event was stored after its alert.
-- Rows stored before this migration keep what the join said; an alert change without resolved_by
-- (made by a worker before it) counts as 'unknown'.
ALTER TABLE cx.alerts ADD COLUMN IF NOT EXISTS resolved_by LowCardinality(String) DEFAULT ''
    COMMENT 'resolved: outreach | self_service | agent | unknown when served, else the resolution' AFTER resolution;

ALTER TABLE cx.alerts_per_minute_mv MODIFY QUERY
SELECT toStartOfMinute(a.changed_at) AS minute, a.rule AS rule, a.state AS state, a.channel AS channel,
       multiIf(a.state != 'resolved', '', a.resolution != 'served', a.resolution,
               a.resolved_by IN ('outreach', 'self_service', 'agent'), a.resolved_by, 'unknown') AS resolved_by,
       count() AS changes,
       sumIf(dateDiff('millisecond', a.threshold_at, a.changed_at) / 1000, a.state = 'resolved') AS resolve_seconds_sum,
       quantilesStateIf(0.5, 0.9)(toFloat64(dateDiff('millisecond', a.threshold_at, a.changed_at) / 1000),
                                  a.state = 'resolved') AS resolve_quantiles
FROM cx.alerts AS a
GROUP BY minute, rule, state, channel, resolved_by;
