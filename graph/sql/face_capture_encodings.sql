-- The encodings of the captures in the frame `want` (capture_id, ord), in `ord` order.
SELECT w.ord, c.encoding
FROM want w JOIN face_captures c USING (capture_id)
ORDER BY w.ord
