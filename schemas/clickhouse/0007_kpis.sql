-- Contact-center KPIs, one definition for boards, CLI and tests (formulas and sources: README "KPIs").
-- SELECT * FROM cx.kpis(start = '2026-01-01 00:00:00', stop = '2026-01-02 00:00:00')
-- gives one row per channel and queue for contacts started in [start, stop), with the counts
-- behind every ratio so totals over several rows can be recomputed. Thresholds come from
-- cx.settings: kpi.service_level_seconds (per channel, default 20 s) and kpi.short_abandon_seconds.
CREATE VIEW IF NOT EXISTS cx.contact_kpis AS
WITH
    (SELECT ifNull(argMaxOrNull(value, updated_at), 5) FROM cx.settings
     WHERE name = 'short_abandon_seconds' AND channel = '') AS short_abandon,
    (SELECT ifNull(argMaxOrNull(value, updated_at), 20) FROM cx.settings
     WHERE name = 'service_level_seconds' AND channel = '') AS default_sl
SELECT c.*,
       if(s.threshold > 0, s.threshold, default_sl) AS sl_threshold_seconds,
       c.queued_at IS NOT NULL AND c.direction != 'outbound' AS inbound_queued,
       c.abandoned_at IS NOT NULL AND c.answered_at IS NULL AS was_abandoned,
       was_abandoned AND c.queue_wait_seconds < short_abandon AS short_abandoned,
       inbound_queued AND NOT short_abandoned AS offered,
       offered AND c.answered_at IS NOT NULL AS answered,
       answered AND c.queue_wait_seconds <= sl_threshold_seconds AS answered_within_sl,
       offered AND was_abandoned AND c.callback_requested_at IS NULL AS abandoned,
       c.handle_seconds IS NOT NULL AS handled
FROM cx.contacts AS c
LEFT JOIN (SELECT channel, argMax(value, updated_at) AS threshold FROM cx.settings
           WHERE name = 'service_level_seconds' AND channel != '' GROUP BY channel) AS s ON s.channel = c.channel;

CREATE VIEW IF NOT EXISTS cx.kpis AS
SELECT k.channel AS channel, k.queue AS queue,
       countIf(k.offered)                                          AS offered,
       countIf(k.answered)                                         AS answered,
       countIf(k.answered_within_sl)                               AS answered_within_sl,
       countIf(k.abandoned)                                        AS abandoned,
       countIf(k.short_abandoned)                                  AS short_abandons,
       countIf(k.was_abandoned AND k.callback_requested_at IS NOT NULL) AS callbacks_requested,
       countIf(k.handled)                                          AS handled,
       countIf(k.handled AND NOT k.repeated_later)                 AS resolved_first_contact,
       if(offered = 0, NULL, answered_within_sl / offered)         AS service_level,
       avgIf(k.queue_wait_seconds, k.answered)                     AS asa_seconds,
       if(offered = 0, NULL, abandoned / offered)                  AS abandonment_rate,
       avgIf(k.handle_seconds, k.handled)                          AS aht_seconds,
       if(handled = 0, NULL, resolved_first_contact / handled)     AS fcr,
       sum(s.csat_responses)                                       AS csat_responses,
       if(csat_responses = 0, NULL, sum(s.csat_satisfied) / csat_responses) AS csat,
       sum(s.nps_responses)                                        AS nps_responses,
       if(nps_responses = 0, NULL, 100 * (sum(s.promoters) - sum(s.detractors)) / nps_responses) AS nps
FROM cx.contact_kpis AS k
LEFT JOIN
(
    SELECT JSONExtractString(attributes, 'contact_id') AS contact_id,
           countIf(JSONHas(attributes, 'csat'))                                    AS csat_responses,
           countIf(JSONExtractInt(attributes, 'csat') >= 4)                        AS csat_satisfied,
           countIf(JSONHas(attributes, 'nps'))                                     AS nps_responses,
           countIf(JSONHas(attributes, 'nps') AND JSONExtractInt(attributes, 'nps') >= 9) AS promoters,
           countIf(JSONHas(attributes, 'nps') AND JSONExtractInt(attributes, 'nps') <= 6) AS detractors
    FROM cx.events FINAL
    WHERE type = 'cx.survey.responded'
    GROUP BY contact_id
) AS s ON s.contact_id = k.contact_id
WHERE k.started_at >= {start:DateTime64(3, 'UTC')} AND k.started_at < {stop:DateTime64(3, 'UTC')}
GROUP BY channel, queue
ORDER BY channel, queue;
