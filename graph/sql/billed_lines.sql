-- Billed per claim line named in the frame `want` (id): the ceiling of a rule hit on that line.
SELECT l.line_id, l.amount FROM claim_lines l JOIN want w ON l.line_id = w.id
