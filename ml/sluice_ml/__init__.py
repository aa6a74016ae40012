"""The listing moderation model: training-set reading, a linear and a transformer model, ensembles, training and
batch prediction. Nothing here imports MLflow: the GPU training image does not carry it (registry.py alone does)."""
