"""Builders of test fixtures (documents and messages) that read like the domain.

Import them as ``from builders.docx_forms import build_docx`` (pytest puts tests/ on sys.path).
"""
