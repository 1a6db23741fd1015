"""The `bo-scheduler` command line: one module per command group, registered on
the click group in `main`; commands parse and print, `scheduler.ops.service`
decides."""
