"""Learned graph models: the supervised heterogeneous GNN and the few-label graph autoencoder."""
from ringscope.models.gnn.gae import GraphAEDetector
from ringscope.models.gnn.hetero_gnn import HeteroGNNDetector
from ringscope.models.gnn.nn import CONVS, FeatureScaler, HeteroGNN

__all__ = ["HeteroGNNDetector", "GraphAEDetector", "HeteroGNN", "FeatureScaler", "CONVS"]
