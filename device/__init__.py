"""Pillbox: the smart pill dispenser daemon."""
