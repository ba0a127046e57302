"""Contracts shared by the AIOps API and worker: names, schemas and models, no business logic."""
