-- KY's monthly extract for one kommune, run by the sender DAG against source_conn_id (written by
-- `sf1630 init sender`). FILL IN: your own tables and columns.
--
-- The result must have exactly the data spec's columns, named and ordered as the spec lists them
-- (`sf1630 dataspec show ky`); the sender checks every batch against the spec before anything is uploaded
-- and fails the delivery naming the column and the kommune otherwise. Rename your columns with AS.
--
-- Named parameters, filled in for each delivery:
--   :cvr           the kommune's CVR, 8 digits            :kommunekode   the kommunekode, 3 digits
--   :period        the month, YYYY-MM                     :period_start  the month's first day (a date)
--   :period_end    the first day of the next month (exclusive)
--
-- Try it before the first month: `sf1630 sender export KY --kommune 657 --period 2026-10 --out ky.csv`,
-- then `sf1630 dataspec check ky.csv --spec ky`; `sf1630 preflight` runs it for a sample kommune.
SELECT
    y.kommune_cvr          AS myndighed_cvr,
    :period                AS udtraeksperiode,
    y.sagsnummer           AS sag_id,
    y.linje_id             AS ydelse_id,
    y.borger_pseudonym     AS person_noegle,
    y.ydelse_type          AS ydelsestype,
    y.ydelse_kode          AS ydelseskode,
    y.status_kode          AS status,
    y.fra_dato             AS startdato,
    y.til_dato             AS slutdato,
    y.beloeb_kr            AS beloeb,
    y.dage                 AS antal_dage,
    y.er_tilbagebetaling   AS tilbagebetaling,
    y.enhed                AS sagsbehandler_enhed,
    y.oprettet_tid         AS registreret
FROM ydelse_linje AS y
WHERE y.kommune_cvr = :cvr
  AND y.udbetalt_dato >= :period_start
  AND y.udbetalt_dato < :period_end
ORDER BY y.sagsnummer, y.linje_id
