"""The real system beside the model: the real Go toolchain and the real Linux kernel."""
