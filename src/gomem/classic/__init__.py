"""Textbook allocators on the simulated heap (CS:APP ch. 9, OSTEP ch. 17).

See docs/ARCHITECTURE.md.
"""
