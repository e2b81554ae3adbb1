"""Helpers shared by the test tiers (never imported by the registrar or the benches)."""
