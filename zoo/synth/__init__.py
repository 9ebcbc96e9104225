"""The synthetic multimodal demo cohort: clinical table, marrow smears, IFE gels, ground truth."""
