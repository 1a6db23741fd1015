"""Operations: what operators run around the loop — the `bo-scheduler` command
line (`cli/`), its application logic (`service`), experiment config files
(`config/`), the daemon and its Prometheus exporter."""
