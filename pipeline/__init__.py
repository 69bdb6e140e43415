"""Bilingual (Chinese/English) retrieval of numbered paragraphs in UN reports.

Import what you need from the submodules; this package does no work at import time so that
``pipeline paragraphs`` and citation lookups start fast (torch and jieba load only on routes that need them).
"""

__version__ = "0.1.0"
