-- What the boards show instead of identifiers (issue 18 item 4): the masked display forms of
-- streams/pseudonyms.mask, computed here from what is stored, and views that carry them so the
-- board user (schemas/clickhouse/access/cx_boards.sql) never needs a raw identifier column.
-- tests/test_board_access.py checks these functions against pseudonyms.mask (hypothesis, chDB).

-- +<country code> ••• ••• <last 4 of the national number> (last 2 when it has fewer than 8 digits),
-- as phonenumbers parses an E.164 number: country codes are prefix-free, so the first 1-3 digits
-- that are one (phonenumbers.COUNTRY_CODE_TO_REGION_CODE, this list) are it; the national number
-- is an integer there (no leading zeros; 0 for all zeros), 2 to 17 digits. Anything else is •••.
CREATE FUNCTION IF NOT EXISTS cx_phone_country AS (digits) ->
    arrayFirst(c -> startsWith(digits, c), [
     '1', '7', '20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44', '45', '46',
     '47', '48', '49', '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63', '64',
     '65', '66', '81', '82', '84', '86', '90', '91', '92', '93', '94', '95', '98', '211', '212', '213',
     '216', '218', '220', '221', '222', '223', '224', '225', '226', '227', '228', '229', '230', '231',
     '232', '233', '234', '235', '236', '237', '238', '239', '240', '241', '242', '243', '244', '245',
     '246', '247', '248', '249', '250', '251', '252', '253', '254', '255', '256', '257', '258', '260',
     '261', '262', '263', '264', '265', '266', '267', '268', '269', '290', '291', '297', '298', '299',
     '350', '351', '352', '353', '354', '355', '356', '357', '358', '359', '370', '371', '372', '373',
     '374', '375', '376', '377', '378', '380', '381', '382', '383', '385', '386', '387', '389', '420',
     '421', '423', '500', '501', '502', '503', '504', '505', '506', '507', '508', '509', '590', '591',
     '592', '593', '594', '595', '596', '597', '598', '599', '670', '672', '673', '674', '675', '676',
     '677', '678', '679', '680', '681', '682', '683', '685', '686', '687', '688', '689', '690', '691',
     '692', '800', '808', '850', '852', '853', '855', '856', '870', '878', '880', '881', '882', '883',
     '886', '888', '960', '961', '962', '963', '964', '965', '966', '967', '968', '970', '971', '972',
     '973', '974', '975', '976', '977', '979', '992', '993', '994', '995', '996', '998'
    ]);
CREATE FUNCTION IF NOT EXISTS cx_phone_national AS (digits) ->
    toString(toUInt64OrZero(substring(digits, length(cx_phone_country(digits)) + 1)));
CREATE FUNCTION IF NOT EXISTS cx_mask_phone AS (value) ->
    if(match(value, '^\\+[0-9]+$') AND cx_phone_country(substring(value, 2)) != ''
           AND length(substring(value, 2 + length(cx_phone_country(substring(value, 2))))) BETWEEN 2 AND 17,
       concat('+', cx_phone_country(substring(value, 2)), ' ••• ••• ',
              right(cx_phone_national(substring(value, 2)),
                    if(length(cx_phone_national(substring(value, 2))) >= 8, 4, 2))),
       '•••');

-- First letter of the local part (before the last @) and of the domain, and the top-level domain.
CREATE FUNCTION IF NOT EXISTS cx_email_local AS (value) ->
    if(position(value, '@') > 0, substring(value, 1, length(value) - position(reverse(value), '@')), '');
CREATE FUNCTION IF NOT EXISTS cx_email_domain AS (value) ->
    if(position(value, '@') > 0, substring(value, length(value) - position(reverse(value), '@') + 2), '');
CREATE FUNCTION IF NOT EXISTS cx_email_tld AS (domain) ->
    if(position(domain, '.') > 0, substring(domain, length(domain) - position(reverse(domain), '.') + 2), '');
CREATE FUNCTION IF NOT EXISTS cx_mask_email AS (value) ->
    if(cx_email_local(value) != '' AND cx_email_domain(value) != '' AND cx_email_tld(cx_email_domain(value)) != '',
       concat(substringUTF8(cx_email_local(value), 1, 1), '•••@', substringUTF8(cx_email_domain(value), 1, 1), '•••.',
              cx_email_tld(cx_email_domain(value))),
       '•••');

-- network:, an @ when the handle has one, and the handle's first character.
CREATE FUNCTION IF NOT EXISTS cx_social_handle AS (value) ->
    if(position(value, ':') > 0, substring(value, position(value, ':') + 1), '');
CREATE FUNCTION IF NOT EXISTS cx_mask_social AS (value) ->
    if(cx_social_handle(value) != '',
       concat(substring(value, 1, position(value, ':') - 1), ':', if(startsWith(cx_social_handle(value), '@'), '@', ''),
              substringUTF8(if(startsWith(cx_social_handle(value), '@'), substring(cx_social_handle(value), 2),
                               cx_social_handle(value)), 1, 1),
              '•••'),
       '•••');

-- pseudonyms.mask(kind, value).
CREATE FUNCTION IF NOT EXISTS cx_mask AS (kind, value) ->
    multiIf(kind = 'phone', cx_mask_phone(value), kind = 'email', cx_mask_email(value),
            kind = 'social', cx_mask_social(value),
            lengthUTF8(value) > 6, concat('•••', rightUTF8(value, 2)), '•••');

-- A stored value as a person may see it: pseudonymized deployments store alerts' and work items'
-- identifiers already masked (they hold •••); a clear one is masked here.
CREATE FUNCTION IF NOT EXISTS cx_shown AS (kind, value) ->
    if(position(value, '•••') > 0, value, cx_mask(kind, value));

-- A JSON object kind -> value (alerts', work items' identifiers) with every value shown masked.
CREATE FUNCTION IF NOT EXISTS cx_shown_identifiers AS (identifiers) ->
    if(identifiers = '', '',
       toJSONString(mapApply((k, v) -> (k, cx_shown(k, v)), JSONExtract(identifiers, 'Map(String, String)'))));

-- The boards' own views: SQL SECURITY NONE, so reading one needs SELECT on it only, not on the raw
-- columns it is computed from (the board user has no grant on those).

-- The outreach effect (0012): identifier-free results, computed from events, work items and
-- cx.identity_map (which groups identity_links by identifier).
ALTER TABLE cx.outreach_effect_between MODIFY SQL SECURITY NONE;
ALTER TABLE cx.outreach_effect_by_rule_between MODIFY SQL SECURITY NONE;

-- The open alerts as the boards list them: identifiers masked.
CREATE VIEW IF NOT EXISTS cx.board_open_alerts SQL SECURITY NONE AS
SELECT * EXCEPT (identifiers), cx_shown_identifiers(identifiers) AS identifiers
FROM cx.alerts_open_now;

-- The journey board's lookup: today's customer of what a person typed (an email, a phone number in
-- any format, kind:value, a bare id, or a customer id c_...), matched on the stored identifier; the
-- identifier itself is not returned. SELECT customer_id FROM cx.board_customer(typed = '...').
CREATE VIEW IF NOT EXISTS cx.board_customer SQL SECURITY NONE AS
SELECT customer_id
FROM (SELECT identifier, argMax(customer_id, version) AS customer_id, argMax(status, version) AS status
      FROM cx.identity_links
      WHERE identifier IN ({typed:String}, concat('email:', lower({typed:String})),
                           concat('phone:+', replaceRegexpAll({typed:String}, '[^0-9]', '')),
                           concat('phone:+1', replaceRegexpAll({typed:String}, '[^0-9]', '')),
                           concat('customer_id:', {typed:String}), concat('account_id:', {typed:String}),
                           concat('visitor_id:', {typed:String}), concat('device_id:', {typed:String}),
                           concat('social:', {typed:String}))
         OR identifier IN (SELECT identifier FROM cx.identity_links WHERE node_id = {typed:String})
      GROUP BY identifier)
WHERE status != 'blocked' AND customer_id != ''
ORDER BY identifier
LIMIT 1;

-- One customer's timeline as the journey board shows it: the event's identifiers masked (a JSON
-- object kind -> mask), no identifier column, and the event attributes without the free-text survey
-- comment. SELECT * FROM cx.board_timeline(customer = 'c_...').
CREATE VIEW IF NOT EXISTS cx.board_timeline SQL SECURITY NONE AS
SELECT customer_seq, event_time, journey, channel, channel_switch, type, contact_id, queue, agent_id,
       toJSONString(mapApply((k, v) -> (k, cx_mask(k, v)),
                             mapFilter((k, v) -> v != '',
                                       map('customer_id', customer_id, 'account_id', account_id, 'email', email,
                                           'phone', phone, 'social', social, 'device_id', device_id,
                                           'visitor_id', visitor_id)))) AS identifiers,
       concat('{', arrayStringConcat(arrayMap(kv -> concat(toJSONString(kv.1), ':', kv.2),
                                              arrayFilter(kv -> kv.1 != 'comment', JSONExtractKeysAndValuesRaw(attributes))),
                                     ','), '}') AS attributes
FROM cx.timeline(customer = {customer:String});
