"""Running it: the daemon's main loop (daemon) and its stages (intake, pools, refresh,
tasks), the one-shot run (oneshot), the command line (cli), signals, systemd
notifications (notify) and logging (log)."""
