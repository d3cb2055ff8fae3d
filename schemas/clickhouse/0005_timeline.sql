-- Settings the views read (journey gap, repeat window, service-level thresholds), written from
-- the [timeline] and [kpi] config sections by `cxpulse migrate` and at worker start. One place,
-- so the stream and the SQL agree. channel '' is the default for every channel.
CREATE TABLE IF NOT EXISTS cx.settings
(
    name       LowCardinality(String),
    channel    LowCardinality(String) DEFAULT '',
    value      Float64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (name, channel);

-- One customer's stitched timeline across channels: SELECT * FROM cx.timeline(customer = 'c_...').
-- customer_seq numbers the customer's events by event time; a journey ends after the configured
-- inactivity gap (timeline.journey_gap_seconds); channel_switch marks an event on another channel
-- than the customer's previous event. Computed here, from today's customer ids, so merges and late
-- events renumber correctly instead of leaving stale numbers in stored rows.
CREATE VIEW IF NOT EXISTS cx.timeline AS
SELECT *,
       sum(starts_journey) OVER (ORDER BY event_time, source, event_id ROWS UNBOUNDED PRECEDING) AS journey,
       concat(customer, '/', toString(journey)) AS journey_id
FROM
(
    SELECT *,
           row_number() OVER w AS customer_seq,
           lagInFrame(channel, 1, '') OVER w AS previous_channel,
           previous_channel != '' AND previous_channel != channel AS channel_switch,
           lagInFrame(event_time, 1, toDateTime64(0, 3, 'UTC')) OVER w AS previous_time,
           customer_seq = 1 OR dateDiff('millisecond', previous_time, event_time) >
               1000 * (SELECT ifNull(argMaxOrNull(value, updated_at), 1800) FROM cx.settings
                       WHERE name = 'journey_gap_seconds' AND channel = '') AS starts_journey
    FROM
    (
        SELECT e.* EXCEPT (customer), {customer:String} AS customer, e.customer AS customer_when_processed
        FROM cx.events AS e FINAL
        WHERE e.customer = {customer:String}
           OR e.customer IN (SELECT node_id FROM cx.identity_map WHERE customer_id = {customer:String})
    )
    WINDOW w AS (ORDER BY event_time, source, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
ORDER BY customer_seq;
