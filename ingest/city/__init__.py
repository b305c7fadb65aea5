"""Reference data and parts of the synthetic city generator (:mod:`ringscope.ingest.generator`)."""
