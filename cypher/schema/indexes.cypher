// Indexes for the investigators' questions: a time window, a month, a scheme, a status.
CREATE INDEX visit_start IF NOT EXISTS FOR (n:Visit) ON (n.start_time);
CREATE INDEX visit_month IF NOT EXISTS FOR (n:Visit) ON (n.month);
CREATE INDEX capture_time IF NOT EXISTS FOR (n:FaceCapture) ON (n.capture_time);
CREATE INDEX capture_verdict IF NOT EXISTS FOR (n:FaceCapture) ON (n.verdict);
CREATE INDEX rulehit_rule IF NOT EXISTS FOR (n:RuleHit) ON (n.rule_id);
CREATE INDEX lead_scheme IF NOT EXISTS FOR (n:Lead) ON (n.scheme);
CREATE INDEX lead_status IF NOT EXISTS FOR (n:Lead) ON (n.status);
CREATE INDEX lead_rank IF NOT EXISTS FOR (n:Lead) ON (n.rank);
CREATE INDEX institution_kind IF NOT EXISTS FOR (n:Institution) ON (n.kind);
CREATE INDEX person_risk IF NOT EXISTS FOR (n:Person) ON (n.risk_score);
CREATE INDEX access_at IF NOT EXISTS FOR (n:AccessLog) ON (n.at);
CREATE INDEX model_explanation_entity IF NOT EXISTS FOR (n:ModelExplanation) ON (n.entity_type, n.entity_id);
CREATE INDEX pack_settlements IF NOT EXISTS FOR (n:Pack) ON (n.n_settlements);
CREATE INDEX warning_entity IF NOT EXISTS FOR (n:Warning) ON (n.entity_type, n.entity_id);
CREATE INDEX warning_period IF NOT EXISTS FOR (n:Warning) ON (n.period);
CREATE INDEX indicator_series_entity IF NOT EXISTS FOR (n:IndicatorSeries) ON (n.entity_type, n.entity_id, n.indicator);
CREATE INDEX lead_version_lead IF NOT EXISTS FOR (n:LeadVersion) ON (n.lead_id);
