"""The data sets that come with scaf-al; each module registers itself on import
(`trainers.datasets.registry.register_dataset`), as a plugin's module does."""

from trainers.datasets.builtin import folder, synthetic, w300, wflw

__all__ = ["folder", "synthetic", "w300", "wflw"]
