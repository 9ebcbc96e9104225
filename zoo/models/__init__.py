"""The model zoo: registry, CNN and clinical estimators, ensembles."""
from zoo.models.registry import ModelConfig, create_model, list_models, model_config, register_model

__all__ = ["ModelConfig", "create_model", "list_models", "model_config", "register_model"]
