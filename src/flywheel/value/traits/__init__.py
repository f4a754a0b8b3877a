"""Per-person traits (标签) computed in the warehouse as Ibis expressions; declared in the catalog."""

from flywheel.value.traits.build import compute_traits, default_as_of, trait_expression, trait_fields, units

__all__ = ["compute_traits", "default_as_of", "trait_expression", "trait_fields", "units"]
