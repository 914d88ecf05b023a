"""Talking to the daemon: the table of commands (table), their wire format (protocol),
the socket server (server, peer), what each command does (handlers), and the clients:
facewatchctl (ctl, client, show, sheet)."""
