"""Tree SHAP: exact values of tree ensembles from one node table, computed by a compiled core."""
