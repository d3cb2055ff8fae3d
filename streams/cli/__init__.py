"""The command line (`cxpulse`, `streams.cli.main`) and what only it uses: the demo, the terminal
board, timelines, dead-letter replay, file replay and validation, the outreach actions, and the
embedded broker (`cxpulse broker`, the demo's; tests and benchmarks start it too)."""
