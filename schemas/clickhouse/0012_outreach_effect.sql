-- Did outreach help? For every work item (its newest version, from cx.work_items): its rules, how
-- fast it was claimed and tried, how it ended, whether it was worked at all, and what the customer
-- did next within the window kpi.outreach_effect_window_seconds (cx.settings, default 24 h) after
-- the item OPENED — for worked and unworked items alike, so both groups are watched over the same
-- stretch of the customer's life (docs/outreach-effect.md says why not from the call).
--
-- SELECT * FROM cx.outreach_effect_between(start = '2026-01-01 00:00:00', stop = '2026-01-02 00:00:00')
-- gives the items opened in [start, stop) and reads only their customers' events of
-- [start - window, stop + window] (cx.events by type and time, the customer bloom filter), so a
-- board's range costs what its items cost; cx.outreach_effect is every item.
--
-- Customers are today's ids (cx.identity_map), on the items and on the events. What happened next,
-- each strictly after opened_at and at most window seconds later:
--   contacted_again: an inbound contact (cx.contact.* events, not outbound, not a survey) started;
--   abandoned: a contact of the customer was abandoned without being answered;
--   negative_survey: a survey with CSAT <= 2 or NPS <= 6 (the negative_survey rule's defaults);
--   finished_journey: a journey step the customer was stuck at when the item opened (its latest
--     status in the window before opening was entered or failed) was completed; NULL when no step
--     was stuck (stuck_steps is empty).
CREATE VIEW IF NOT EXISTS cx.outreach_effect_between AS
WITH
    (SELECT ifNull(argMaxOrNull(value, updated_at), 86400) FROM cx.settings
     WHERE name = 'outreach_effect_window_seconds' AND channel = '') AS window_seconds,
    toDateTime64({start:DateTime64(3, 'UTC')} - toIntervalMillisecond(toInt64(1000 * window_seconds)), 3, 'UTC') AS read_from,
    toDateTime64({stop:DateTime64(3, 'UTC')} + toIntervalMillisecond(toInt64(1000 * window_seconds)), 3, 'UTC') AS read_to,
    items AS
    (
        SELECT w.work_item_id AS work_item_id, w.latest_version AS version, w.latest.1 AS state,
               w.latest.2 AS item_customer, if(m.customer_id != '', m.customer_id, item_customer) AS customer,
               w.latest.3 AS first_claimed_at, w.latest.4 AS first_attempt_at, w.latest.5 AS attempts,
               w.latest.6 AS last_outcome, w.latest.7 AS closed_at, w.latest.8 AS resolution,
               w.latest.9 AS expired_claims, w.latest.10 AS escalated, w.latest.11 AS outreach,
               w.first_opened_at AS opened_at, w.all_rules AS rules, w.first_rule AS opening_rule,
               w.first_reached_at AS reached_at
        FROM
        (
            SELECT work_item_id,
                   max(version) AS latest_version,
                   argMax((state, customer_id, first_claimed_at, first_attempt_at, attempts, last_outcome,
                           closed_at, resolution, expired_claims, escalated, outreach), version) AS latest,
                   min(opened_at) AS first_opened_at,
                   -- rules of every version: a closed item's last version lists no open alert
                   arraySort(groupUniqArrayArray(JSONExtract(rules, 'Array(String)'))) AS all_rules,
                   argMin(JSONExtract(rules, 'Array(String)')[1], version) AS first_rule,
                   -- last_outcome is set by attempts only: its first 'reached' version is the first reached attempt
                   minIf(toNullable(changed_at), last_outcome = 'reached') AS first_reached_at
            FROM cx.work_items FINAL
            WHERE opened_at >= {start:DateTime64(3, 'UTC')} AND opened_at < {stop:DateTime64(3, 'UTC')}
            GROUP BY work_item_id
        ) AS w
        LEFT JOIN (SELECT node_id, customer_id FROM cx.identity_map WHERE status != 'blocked') AS m
            ON m.node_id = w.latest.2
    ),
    -- one row per thing the customer did in [start - window, stop + window]: ('contact', its start),
    -- ('abandon', its time), ('negative_survey', its time), ('entered' | 'completed' | 'failed', its time,
    -- 'journey/step'); a contact's facts come from its events together (start, direction, answer)
    facts AS
    (
        SELECT customer, f.1 AS kind, f.2 AS at, f.3 AS step
        FROM
        (
            SELECT if(m.customer_id != '', m.customer_id, e.customer) AS customer,
                   if(e.contact_id != '' AND startsWith(e.type, 'cx.contact.'), e.contact_id, '') AS contact,
                   if(contact = '', concat(e.source, '/', e.event_id), '') AS single,
                   groupArray((e.type, e.event_time, e.channel, e.direction, e.attributes)) AS evs,
                   arrayMin(x -> x.2, evs) AS started_at,
                   arrayFirstOrNull(x -> x.1 = 'cx.contact.abandoned', arraySort(x -> x.2, evs)) AS abandon,
                   contact != '' AND NOT has(evs.4, 'outbound') AND NOT has(evs.3, 'survey') AS inbound,
                   has(evs.1, 'cx.contact.answered') AS answered,
                   evs[1] AS one,
                   arrayFilter(x -> x.1 != '', [
                       if(inbound, ('contact', started_at, ''), ('', started_at, '')),
                       if(contact != '' AND abandon IS NOT NULL AND NOT answered,
                          ('abandon', assumeNotNull(abandon).2, ''), ('', started_at, '')),
                       if(contact = '' AND one.1 = 'cx.survey.responded'
                          AND ((JSONHas(one.5, 'csat') AND JSONExtractInt(one.5, 'csat') <= 2)
                               OR (JSONHas(one.5, 'nps') AND JSONExtractInt(one.5, 'nps') <= 6)),
                          ('negative_survey', one.2, ''), ('', started_at, '')),
                       if(contact = '' AND one.1 = 'cx.journey.step'
                          AND JSONExtractString(one.5, 'status') IN ('entered', 'completed', 'failed'),
                          (JSONExtractString(one.5, 'status'), one.2,
                           concat(JSONExtractString(one.5, 'journey'), '/', JSONExtractString(one.5, 'step'))),
                          ('', started_at, ''))]) AS made
            FROM cx.events AS e FINAL
            LEFT JOIN (SELECT node_id, customer_id FROM cx.identity_map WHERE status != 'blocked') AS m
                ON m.node_id = e.customer
            WHERE e.event_time >= read_from AND e.event_time <= read_to
              AND (startsWith(e.type, 'cx.contact.') OR e.type IN ('cx.survey.responded', 'cx.journey.step'))
              AND e.customer IN (SELECT arrayJoin([item_customer, customer]) FROM items
                                 UNION ALL
                                 SELECT node_id FROM cx.identity_map WHERE customer_id IN (SELECT customer FROM items))
            GROUP BY customer, contact, single
        )
        ARRAY JOIN made AS f
    ),
    -- per item and journey step (step '' for the other facts), then per item
    next_steps AS
    (
        SELECT work_item_id,
               arraySort(groupArrayIf(step, stuck)) AS stuck_steps,
               minIf(completed_at, stuck) AS finished_journey_at,
               min(contact_at) AS contacted_again_at, min(abandon_at) AS abandoned_at,
               min(survey_at) AS negative_survey_at
        FROM
        (
            SELECT work_item_id, step,
                   step != '' AND argMaxIf(kind, (at, kind = 'completed'), before) IN ('entered', 'failed') AS stuck,
                   minIf(toNullable(at), after AND kind = 'completed') AS completed_at,
                   minIf(toNullable(at), after AND kind = 'contact') AS contact_at,
                   minIf(toNullable(at), after AND kind = 'abandon') AS abandon_at,
                   minIf(toNullable(at), after AND kind = 'negative_survey') AS survey_at
            FROM
            (
                SELECT i.work_item_id AS work_item_id, f.step AS step, f.kind AS kind, f.at AS at,
                       toIntervalMillisecond(toInt64(1000 * window_seconds)) AS span,
                       f.at > i.opened_at AND f.at <= i.opened_at + span AS after,
                       f.at <= i.opened_at AND f.at >= i.opened_at - span AS before
                FROM items AS i
                INNER JOIN facts AS f ON f.customer = i.customer
            )
            GROUP BY work_item_id, step
        )
        GROUP BY work_item_id
    )
SELECT i.work_item_id AS work_item_id, i.version AS version, i.customer AS customer_id, i.rules AS rules,
       i.opening_rule AS opening_rule, i.state AS state, i.outreach AS outreach, i.escalated AS escalated,
       i.opened_at AS opened_at, i.first_claimed_at AS first_claimed_at, i.first_attempt_at AS first_attempt_at,
       i.reached_at AS reached_at, i.closed_at AS closed_at,
       dateDiff('millisecond', i.opened_at, i.first_claimed_at) / 1000 AS time_to_claim_seconds,
       dateDiff('millisecond', i.opened_at, i.first_attempt_at) / 1000 AS time_to_first_attempt_seconds,
       i.attempts AS attempts, i.last_outcome AS last_outcome, i.expired_claims AS expired_claims,
       i.resolution AS resolution,
       i.first_claimed_at IS NOT NULL OR i.first_attempt_at IS NOT NULL AS worked,
       i.reached_at IS NOT NULL AS reached,
       i.resolution = 'resolved' AS resolved_by_outreach,
       window_seconds,
       i.opened_at + toIntervalMillisecond(toInt64(1000 * window_seconds)) AS window_ends_at,
       window_ends_at <= now64(3) AS window_closed,
       n.contacted_again_at AS contacted_again_at, contacted_again_at IS NOT NULL AS contacted_again,
       n.abandoned_at AS abandoned_at, abandoned_at IS NOT NULL AS abandoned,
       n.negative_survey_at AS negative_survey_at, negative_survey_at IS NOT NULL AS negative_survey,
       n.stuck_steps AS stuck_steps,
       if(empty(stuck_steps), NULL, n.finished_journey_at) AS finished_journey_at,
       if(empty(stuck_steps), NULL, finished_journey_at IS NOT NULL) AS finished_journey
FROM items AS i
LEFT JOIN next_steps AS n ON n.work_item_id = i.work_item_id
ORDER BY opened_at, work_item_id;

CREATE VIEW IF NOT EXISTS cx.outreach_effect AS
SELECT * FROM cx.outreach_effect_between(start = '1970-01-01 00:00:00.000', stop = '2200-01-01 00:00:00.000');

-- Per rule (an item counts under every rule it held) and group: worked (claimed or attempted) or
-- unworked (cohort), the items opened in [start, stop). Rates are shares of the cohort's items; the journey
-- rate is a share of the items whose customer was stuck in a journey step. open_windows: items
-- whose window has not ended yet (what they did next is still being watched).
CREATE VIEW IF NOT EXISTS cx.outreach_effect_by_rule_between AS
SELECT rule, if(worked, 'worked', 'unworked') AS cohort,
       count() AS items,
       countIf(NOT window_closed) AS open_windows,
       countIf(reached) AS reached,
       countIf(resolved_by_outreach) AS resolved_by_outreach,
       if(countIf(worked) = 0, NULL, quantileExactIf(0.5)(time_to_claim_seconds, worked)) AS median_time_to_claim_seconds,
       countIf(contacted_again) AS contacted_again,
       countIf(abandoned) AS abandoned,
       countIf(negative_survey) AS negative_survey,
       countIf(notEmpty(stuck_steps)) AS stuck_in_journey,
       countIf(finished_journey = 1) AS finished_journey,
       contacted_again / items AS repeat_contact_rate,
       abandoned / items AS abandonment_rate,
       negative_survey / items AS negative_survey_rate,
       if(stuck_in_journey = 0, NULL, finished_journey / stuck_in_journey) AS journey_finish_rate
FROM cx.outreach_effect_between(start = {start:DateTime64(3, 'UTC')}, stop = {stop:DateTime64(3, 'UTC')})
ARRAY JOIN rules AS rule
GROUP BY rule, cohort
ORDER BY rule, cohort DESC;

CREATE VIEW IF NOT EXISTS cx.outreach_effect_by_rule AS
SELECT * FROM cx.outreach_effect_by_rule_between(start = '1970-01-01 00:00:00.000', stop = '2200-01-01 00:00:00.000');
