"""Tests of the CDK app (stacks/ and app.py)."""
