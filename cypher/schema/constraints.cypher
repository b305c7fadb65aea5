// Unique keys of every node label (docs/graph-model.md). Idempotent.
CREATE CONSTRAINT person_id IF NOT EXISTS FOR (n:Person) REQUIRE n.person_id IS UNIQUE;
CREATE CONSTRAINT physician_id IF NOT EXISTS FOR (n:Physician) REQUIRE n.physician_id IS UNIQUE;
CREATE CONSTRAINT institution_id IF NOT EXISTS FOR (n:Institution) REQUIRE n.institution_id IS UNIQUE;
CREATE CONSTRAINT item_code IF NOT EXISTS FOR (n:Item) REQUIRE n.item_code IS UNIQUE;
CREATE CONSTRAINT visit_id IF NOT EXISTS FOR (n:Visit) REQUIRE n.visit_id IS UNIQUE;
CREATE CONSTRAINT line_id IF NOT EXISTS FOR (n:ClaimLine) REQUIRE n.line_id IS UNIQUE;
CREATE CONSTRAINT trace_code IF NOT EXISTS FOR (n:Pack) REQUIRE n.trace_code IS UNIQUE;
CREATE CONSTRAINT capture_id IF NOT EXISTS FOR (n:FaceCapture) REQUIRE n.capture_id IS UNIQUE;
CREATE CONSTRAINT face_id IF NOT EXISTS FOR (n:FaceIdentity) REQUIRE n.face_id IS UNIQUE;
CREATE CONSTRAINT case_id IF NOT EXISTS FOR (n:Case) REQUIRE n.case_id IS UNIQUE;
CREATE CONSTRAINT hit_id IF NOT EXISTS FOR (n:RuleHit) REQUIRE n.hit_id IS UNIQUE;
CREATE CONSTRAINT lead_id IF NOT EXISTS FOR (n:Lead) REQUIRE n.lead_id IS UNIQUE;
CREATE CONSTRAINT lead_event_id IF NOT EXISTS FOR (n:LeadEvent) REQUIRE n.event_id IS UNIQUE;
CREATE CONSTRAINT access_event_id IF NOT EXISTS FOR (n:AccessLog) REQUIRE n.event_id IS UNIQUE;
CREATE CONSTRAINT load_state_key IF NOT EXISTS FOR (n:LoadState) REQUIRE n.key IS UNIQUE;
CREATE CONSTRAINT model_explanation_key IF NOT EXISTS FOR (n:ModelExplanation) REQUIRE n.key IS UNIQUE;
