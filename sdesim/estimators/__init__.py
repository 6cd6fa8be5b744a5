"""Estimators: weak error and order fits, exact moments, one-step moment checks, scaling-rule formulas."""
