"""The `gomem` command line. See `gomem --help` and README.md."""
