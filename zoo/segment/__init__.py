"""Plasma-cell segmentation of marrow smears: Segment Anything when a checkpoint is configured, a classical
stain-deconvolution + watershed segmenter otherwise. Every output says which segmenter produced it."""
