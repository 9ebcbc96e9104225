"""Explanations: Grad-CAM for image models, SHAP for clinical models, modality Shapley values."""
