"""What-if answers about GOGC and GOMEMLIMIT: Go's pacer driven by rates
(model.py), and the rates fitted from a real program's gctrace (gctrace.py).
See docs/ARCHITECTURE.md."""
