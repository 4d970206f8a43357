"""Ecosystem hooks for a finished run: experiment trackers (MLflow, Weights & Biases) and the HF Hub.

Each hook is optional (an extra, imported lazily with an install hint) and only *reads* the run
directory: what is logged is exactly what the run wrote (summary.csv, the score tables, the manifest).
"""
