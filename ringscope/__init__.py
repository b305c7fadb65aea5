"""ringscope: finds collusion networks inside a public medical-insurance fund.

Data flows one way: ingest -> graph -> models -> findings -> app.

Sub-packages (each a top-level folder of the repository):

- ``ringscope.ingest``  the data contract: reader, validator, generator, faces
- ``ringscope.graph``   Neo4j (server, query runner, loader) and graph algorithms
- ``ringscope.models``  detectors (rules, graph, GNN, trees), fusion, evaluation
- ``ringscope.app``     the Streamlit investigation app
"""

__version__ = "0.1.0"
