"""Privacy: consent, erasure, masking and the tamper-evident audit log."""
