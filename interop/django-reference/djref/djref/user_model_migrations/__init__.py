"""Migrations of the custom user models REF_USER_MODEL picks (see settings.py)."""
