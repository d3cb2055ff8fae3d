"""The command line (`cxpulse`, `streams.cli.main`) and what only it uses: the demo, the terminal
board, timelines, dead-letter replay, file replay and validation, and the outreach actions."""
