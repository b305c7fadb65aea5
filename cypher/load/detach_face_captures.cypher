// Re-load of face captures: drop the institution, visit and claimed person a capture row names.
UNWIND $rows AS r
MATCH (c:FaceCapture {capture_id: r.capture_id})-[x:AT|DURING|CLAIMED]->()
DELETE x
