"""Zavod: a multi-tenant content agency SaaS."""
