-- City-wide baselines of the prescribing detector, per drug group: the median unit price of
-- every drug line (amount / quantity, quantity > 0) and the amount of external prescriptions.
WITH dl AS ({{prescribing_lines}})
SELECT grp, median(CASE WHEN quantity > 0 THEN amount / quantity END) AS unit_median,
       sum(CASE WHEN ext THEN amount ELSE 0 END) AS ext_amount,
       count(CASE WHEN ext THEN 1 END) AS ext_lines
FROM dl GROUP BY grp
